"""The process-wide state a library loaded into a host must leave alone.

snapshot() records, in the calling process:
  * the disposition of every signal 1..SIGRTMAX, from libc's sigaction()
    (handler, sa_flags and sa_mask; glibc's own signals 32 and 33, which
    sigaction() refuses, are recorded as that refusal);
  * the calling thread's signal mask (pthread_sigmask);
  * libc's environ (the C-level environment: os.environ is a copy taken at
    start-up and does not see a library's setenv());
  * the working directory and the files under it;
  * the umask (from /proc/self/status, without changing it);
  * the threads of the process (/proc/self/task, with their names).

diff(before, after, keys) says, one line per difference, what changed, in
words a reader can act on (a handler is named by the shared object it lies
in, found with dladdr).  Used by tests/python/state_worker.py (PyTorch) and
tests/python_ms/ms_state_worker.py (MindSpore); needs nothing but the
standard library, on x86_64 Linux with glibc.
"""
import ctypes
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 glibc's struct sigaction (152 bytes): handler at 0, sa_mask
# (128 bytes) at 8, sa_flags (int) at 136, sa_restorer at 144.  Of sa_mask
# only the kernel's 64 signals (8 bytes) are meaningful: glibc copies the
# rest from its uninitialised stack.
_SIGACTION_SIZE = 152
_MASK_OFFSET, _MASK_SIZE = 8, 8
_FLAGS_OFFSET = 136

_FLAG_NAMES = {0x1: "SA_NOCLDSTOP", 0x2: "SA_NOCLDWAIT", 0x4: "SA_SIGINFO",
               0x08000000: "SA_ONSTACK", 0x10000000: "SA_RESTART",
               0x40000000: "SA_NODEFER", 0x80000000: "SA_RESETHAND",
               0x04000000: "SA_RESTORER"}

KEYS = ("dispositions", "mask", "environ", "cwd", "files", "umask", "threads")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


_libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
_libc.sigaction.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def signal_name(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        if signal.SIGRTMIN <= sig <= signal.SIGRTMAX:
            return f"SIGRTMIN+{sig - signal.SIGRTMIN}"
        return f"signal {sig}"


def _disposition(sig):
    buf = ctypes.create_string_buffer(256)  # more than the 152 bytes glibc writes
    if _libc.sigaction(sig, None, buf) != 0:
        return ("refused", ctypes.get_errno())
    handler = ctypes.c_size_t.from_buffer(buf, 0).value
    flags = ctypes.c_uint32.from_buffer(buf, _FLAGS_OFFSET).value
    mask = bytes(buf.raw[_MASK_OFFSET:_MASK_OFFSET + _MASK_SIZE])
    return (handler, flags, mask)


def _environ():
    ptr = ctypes.c_void_p.in_dll(_libc, "environ").value
    if not ptr:
        return ()
    env = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_char_p))
    out = []
    i = 0
    while env[i] is not None:
        out.append(env[i])
        i += 1
    return tuple(out)


def _files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        for name in sorted(dirs) + sorted(files):
            out.append(os.path.normpath(os.path.join(rel, name)))
    return tuple(sorted(out))


def _umask():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    raise RuntimeError("no Umask line in /proc/self/status")


def threads():
    """{tid: name} of the process's threads."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                out[int(tid)] = f.read().strip()
        except OSError:  # the thread has just exited
            pass
    return out


def snapshot():
    return {
        "dispositions": {s: _disposition(s) for s in range(1, signal.SIGRTMAX + 1)},
        "mask": tuple(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))),
        "environ": _environ(),
        "cwd": os.getcwd(),
        "files": _files(os.getcwd()),
        "umask": _umask(),
        "threads": threads(),
    }


# ------------------------------------------------------------------ describing

def _handler_name(handler):
    if handler == 0:
        return "SIG_DFL"
    if handler == 1:
        return "SIG_IGN"
    info = _DlInfo()
    if _libc.dladdr(ctypes.c_void_p(handler), ctypes.byref(info)) and info.dli_fname:
        where = os.path.basename(info.dli_fname.decode(errors="replace"))
        sym = info.dli_sname.decode(errors="replace") if info.dli_sname else "?"
        return f"{handler:#x} ({sym} in {where})"
    return f"{handler:#x} (in no loaded object)"


def _mask_signals(mask):
    bits = int.from_bytes(mask[:8], "little")
    return [signal_name(i + 1) for i in range(64) if bits >> i & 1]


def describe_disposition(d):
    if d[0] == "refused":
        return f"sigaction() refused ({os.strerror(d[1])})"
    handler, flags, mask = d
    names = [n for bit, n in _FLAG_NAMES.items() if flags & bit]
    return (f"handler {_handler_name(handler)}, flags {flags:#x} [{'|'.join(names)}], "
            f"mask {_mask_signals(mask)}")


def _env_dict(env):
    out = {}
    for entry in env:
        k, _, v = entry.partition(b"=")
        out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def diff(before, after, keys=KEYS):
    """Lines describing what differs between two snapshots, for keys."""
    lines = []
    if "dispositions" in keys:
        for sig, d in before["dispositions"].items():
            a = after["dispositions"][sig]
            if a != d:
                lines.append(f"{signal_name(sig)} ({sig}): was {describe_disposition(d)}; "
                             f"now {describe_disposition(a)}")
    if "mask" in keys and before["mask"] != after["mask"]:
        lines.append(f"signal mask: was {[signal_name(s) for s in before['mask']]}, "
                     f"now {[signal_name(s) for s in after['mask']]}")
    if "environ" in keys and before["environ"] != after["environ"]:
        b, a = _env_dict(before["environ"]), _env_dict(after["environ"])
        for k in sorted(set(b) | set(a)):
            if k not in a:
                lines.append(f"environ: {k} removed (was {b[k]!r})")
            elif k not in b:
                lines.append(f"environ: {k}={a[k]!r} added")
            elif a[k] != b[k]:
                lines.append(f"environ: {k} changed from {b[k]!r} to {a[k]!r}")
        if b == a:
            lines.append("environ: same entries, different order or duplicates: "
                         f"{len(before['environ'])} -> {len(after['environ'])} entries")
    if "cwd" in keys and before["cwd"] != after["cwd"]:
        lines.append(f"cwd: was {before['cwd']}, now {after['cwd']}")
    if "files" in keys and before["files"] != after["files"]:
        new = sorted(set(after["files"]) - set(before["files"]))
        gone = sorted(set(before["files"]) - set(after["files"]))
        lines.append(f"files in {before['cwd']}: added {new}, removed {gone}")
    if "umask" in keys and before["umask"] != after["umask"]:
        lines.append(f"umask: was {before['umask']:04o}, now {after['umask']:04o}")
    if "threads" in keys and len(before["threads"]) != len(after["threads"]):
        new = sorted(set(after["threads"].values()) - set(before["threads"].values()))
        lines.append(f"threads: {len(before['threads'])} before, {len(after['threads'])} now "
                     f"(before: {sorted(before['threads'].values())}; now: "
                     f"{sorted(after['threads'].values())}; new names: {new})")
    return lines


def step_changes(before, steps, last):
    """Every difference between before and the snapshot after each (what,
    snapshot) step, as "after WHAT: ..." lines; the thread count is compared
    only after the step named last (threads may still be winding down
    before it)."""
    failed = []
    for what, after in steps:
        keys = KEYS if what == last else tuple(k for k in KEYS if k != "threads")
        failed.extend(f"after {what}: {line}" for line in diff(before, after, keys))
    return failed


def free_port():
    """A free TCP port on 127.0.0.1 (for the tests that launch ranks)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_members(sids):
    """{pid: (sid, state, command)} of the live processes in the sessions sids
    (for the tests that check no rank process is left behind)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        state, sid = fields[0], int(fields[3])
        if sid in sids and state != "Z":
            out[int(name)] = (sid, state, cmd)
    return out


def wait_threads(count, limit_s):
    """Poll until the process has count threads again or limit_s passes (a
    joined thread's /proc/self/task entry can outlive the join by a moment).
    Returns the last snapshot's threads."""
    import time
    deadline = time.monotonic() + limit_s
    while True:
        now = threads()
        if len(now) == count or time.monotonic() >= deadline:
            return now
        time.sleep(0.05)
