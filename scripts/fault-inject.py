#!/usr/bin/env python3
"""Fault-injection statistics (issue 12): not a timed test, a measurement.

    scripts/fault-inject.py [--kill N] [--mismatch N] [--seed S] [--build DIR]
                            [--ranks 2-4] [--providers shm,tcp] [--timeout-ms T]
                            [--margin-s M] [--max-bytes B] [--algos auto,...]
                            [--log FILE] [--keep-going]

Each trial starts N ranks (2-4) of build/bin/dlcoll-fault-rank
(tests/stress/fault_rank.c) on this host, over a random provider (shm, or tcp
pinned to loopback with DLCOLL_IFACE=lo), running one random collective
(allgather single / list, or barrier; blocking or asynchronous) of a random
size in a loop.

 * kill trials: once every rank has finished init, after a random delay
   (0-300 ms) one random rank gets SIGKILL.  Every survivor must return an
   error whose message names the dead rank; the time from the kill to that
   error is its detection time (both ends read CLOCK_MONOTONIC).
 * mismatch trials: from a random iteration on, one random rank passes one
   element more (size), another dtype of the same width (dtype), or calls the
   other kind of operation (op).  Every rank must fail; the others' messages
   must name the mismatching rank.

A survivor that has not exited within timeout + margin after the fault is a
hang (killed, and counted).  /dev/shm: the script re-runs itself in a private
mount namespace with its own tmpfs on /dev/shm (unshare -m, root only), so
that what a trial leaves there is exactly the trial's, even while other
tests run on the machine; each trial starts with it empty and records what
is left once every rank has exited: dlc-<pid>-* (libfabric shm endpoints,
expected for the killed pid only, which could not unlink its own) and
dlcoll-* (dlcoll's shared segments: never expected).  Without root the
check falls back to names that hold the trial's pids (dlc-<pid>-*) and to
new dlcoll-* names (not attributable when other jobs run).

Prints counts and worst times; --log writes one JSON line per trial.
Exit status 0 when nothing went wrong (no hang, every error named the right
rank, nothing left but the killed rank's endpoint), 1 otherwise.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIVATE_ENV = "DLCOLL_FI_PRIVATE_SHM"

STATUS = {0: "SUCCESS", 2: "INVALID_ARGUMENT", 3: "UNSUPPORTED", 4: "MISMATCH", 5: "TIMEOUT",
          6: "PEER_FAILURE", 7: "ABORTED", 8: "BOOTSTRAP", 9: "TRANSPORT", 10: "SYSTEM",
          11: "VERSION", 12: "INTERNAL"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kill", type=int, default=50, help="kill trials (default 50)")
    ap.add_argument("--mismatch", type=int, default=50, help="mismatch trials (default 50)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from time)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--ranks", default="2-4", help="range of rank counts, e.g. 2-4 or 3")
    ap.add_argument("--providers", default="shm,tcp")
    ap.add_argument("--algos", default="auto",
                    help="DLCOLL_ALGO values to draw from (auto = unset), e.g. auto,ring,direct")
    ap.add_argument("--timeout-ms", type=int, default=5000, help="the communicators' timeout")
    ap.add_argument("--margin-s", type=float, default=10.0,
                    help="a rank not done this long after timeout is a hang")
    ap.add_argument("--max-bytes", type=int, default=8 << 20, help="largest size per rank")
    ap.add_argument("--log", help="write one JSON line per trial here")
    ap.add_argument("--keep-going", action="store_true", help="(default) run every trial")
    ap.add_argument("--no-private-shm", action="store_true",
                    help="do not re-run in a private mount namespace")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every trial")
    return ap.parse_args()


def maybe_reexec_private(args):
    """Re-run this script with its own /dev/shm (a tmpfs in a new mount namespace)."""
    if args.no_private_shm or os.environ.get(PRIVATE_ENV):
        return
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("fault-inject: not root or no unshare: /dev/shm is shared; leftovers are matched "
              "by the trial's pids (dlc-<pid>-*) and by new dlcoll-* names", file=sys.stderr)
        return
    inner = ("mount -t tmpfs -o size=512m,mode=1777 dlcoll-fault-inject /dev/shm && "
             "exec \"$@\"")
    env = dict(os.environ, **{PRIVATE_ENV: "1"})
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh",
           sys.executable] + sys.argv
    os.execvpe("unshare", cmd, env)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def shm_list():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


RANK_RE = re.compile(r"\brank (\d+)\b")


def names_rank(msg, me, who):
    """Does msg, past this rank's own prefix ("rank R: ..." or "rank R (group ...): "),
    name rank `who`?  Returns (named_who, other ranks named)."""
    body = msg
    m = re.match(r"rank %d( \([^)]*\))?: " % me, body)
    if m:
        body = body[m.end():]
    named = [int(x) for x in RANK_RE.findall(body)]
    return who in named, sorted(set(named) - {who, me})


class Rank:
    def __init__(self, r, proc):
        self.r = r
        self.proc = proc
        self.lines = []
        self.ready = threading.Event()
        self.pid = proc.pid
        self.err = None      # dict from the ERR line
        self.done = None     # DONE line
        self.fin = None
        self.exit_t = None
        self.t = threading.Thread(target=self.read, daemon=True)
        self.t.start()

    def read(self):
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            self.lines.append(line)
            if line.startswith("READY "):
                self.ready.set()
            elif line.startswith("ERR ") and self.err is None:
                f = {}
                head, _, msg = line.partition(" msg=")
                for kv in head.split()[1:]:
                    k, _, v = kv.partition("=")
                    f[k] = v
                f["msg"] = msg
                self.err = f
            elif line.startswith("DONE "):
                self.done = line
            elif line.startswith("FIN "):
                self.fin = line
        self.ready.set()  # EOF: whatever happened, stop waiting for READY


def run_trial(args, kind, rng, trial_no):
    n = rng.randint(args.rmin, args.rmax)
    prov = rng.choice(args.provider_list)
    algo = rng.choice(args.algo_list)
    op = rng.choice(["ag", "agl", "barrier"])
    dtype = rng.choice(["u8", "i32", "f32", "f64"])
    # Sizes spread over orders of magnitude: 8 B .. max-bytes.
    esz = {"u8": 1, "i32": 4, "f32": 4, "f64": 8}[dtype]
    nbytes = max(esz, int(10 ** rng.uniform(0.9, max(1.0, __import__("math").log10(args.max_bytes)))))
    nbytes -= nbytes % esz
    asyn = rng.randint(0, 1)
    rec = dict(trial=trial_no, kind=kind, n=n, provider=prov, algo=algo, op=op, dtype=dtype,
               bytes=nbytes, async_=asyn)
    fault_rank = rng.randrange(n)
    mkind = None
    if kind == "mismatch":
        kinds = ["op"] if op == "barrier" else ["size", "dtype", "op"]
        mkind = rng.choice(kinds)
        miter = rng.randint(0, 5)
        rec.update(mismatch_rank=fault_rank, mismatch_kind=mkind, mismatch_iter=miter)
    else:
        rec.update(victim=fault_rank)

    tmp = tempfile.mkdtemp(prefix="dlcoll-fi-")
    init = rng.choice(["tcp://127.0.0.1:%d" % free_port(), "file://" + tmp])
    env = dict(os.environ)
    for k in ("DLCOLL_ALGO", "DLCOLL_DEBUG"):
        env.pop(k, None)
    env.update(DLCOLL_WORLD_SIZE=str(n), DLCOLL_INIT_METHOD=init, DLCOLL_PROVIDER=prov,
               DLCOLL_TIMEOUT=str(args.timeout_ms), DLCOLL_IFACE="lo", FI_TCP_IFACE="lo",
               DLCOLL_PLUGIN=args.plugin)
    if algo != "auto":
        env["DLCOLL_ALGO"] = algo
    cmd = [args.rank_prog, "--op", op, "--bytes", str(nbytes), "--dtype", dtype,
           "--async", str(asyn), "--timeout-ms", str(args.timeout_ms), "--max-s", "30"]
    if kind == "mismatch":
        cmd += ["--mismatch-rank", str(fault_rank), "--mismatch-kind", mkind,
                "--mismatch-iter", str(miter), "--iters", str(miter + 50)]
    before = shm_list()
    ranks = []
    for r in range(n):
        e = dict(env, DLCOLL_RANK=str(r), DLCOLL_LOCAL_RANK=str(r))
        p = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, start_new_session=True)
        ranks.append(Rank(r, p))
    rec["pids"] = [k.pid for k in ranks]

    init_deadline = time.monotonic() + args.timeout_ms / 1e3 + 30
    for k in ranks:
        k.ready.wait(max(0.0, init_deadline - time.monotonic()))
    not_ready = [k.r for k in ranks if not any(l.startswith("READY ") for l in k.lines)]
    t_fault = time.monotonic_ns()
    if not_ready:
        rec["setup_failed"] = "ranks %s did not finish init: %s" % (
            not_ready, "; ".join(l for k in ranks for l in k.lines[-1:]))
    elif kind == "kill":
        delay = rng.uniform(0, 0.3)
        rec["kill_delay_ms"] = round(delay * 1e3, 2)
        time.sleep(delay)
        t_fault = time.monotonic_ns()
        try:
            os.kill(ranks[fault_rank].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # Wait for every rank, at most timeout + margin after the fault.
    deadline = t_fault / 1e9 + args.timeout_ms / 1e3 + args.margin_s
    if kind == "mismatch":
        deadline += 30  # the loop runs until the mismatch iteration first
    hung = []
    for k in ranks:
        left = deadline - time.monotonic()
        try:
            k.proc.wait(timeout=max(0.01, left))
        except subprocess.TimeoutExpired:
            hung.append(k.r)
    for r in hung:
        try:
            os.killpg(ranks[r].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for k in ranks:
        k.proc.wait()
        k.t.join(5)
    shutil.rmtree(tmp, ignore_errors=True)
    rec["hung"] = hung

    # Results per rank.
    per = []
    for k in ranks:
        d = dict(rank=k.r, exit=k.proc.returncode)
        if k.err:
            st = int(k.err.get("status", -1))
            d.update(status=STATUS.get(st, str(st)), msg=k.err["msg"],
                     iter=int(k.err.get("iter", -1)),
                     t_ms=(int(k.err["t"]) - t_fault) / 1e6,
                     op_ms=(int(k.err["t"]) - int(k.err["op_t"])) / 1e6)
        d["done"] = bool(k.done)
        d["fin"] = bool(k.fin)
        d["bad"] = [l for l in k.lines if l.startswith("BAD ")]
        if k.r in hung:
            d["last_line"] = k.lines[-1] if k.lines else ""
        per.append(d)
    rec["ranks"] = per

    # /dev/shm.
    after = shm_list()
    new = sorted(after - before) if not args.private else sorted(after)
    ours = []
    pids = set(rec["pids"])
    for name in new:
        m = re.match(r"dlc-(\d+)-", name)
        if m and int(m.group(1)) not in pids and not args.private:
            continue  # another job's endpoint
        ours.append(name)
    victim_pid = ranks[fault_rank].pid if kind == "kill" else None
    rec["shm_left"] = ours
    rec["shm_left_victim"] = [x for x in ours if victim_pid and x.startswith("dlc-%d-" % victim_pid)]
    rec["shm_left_other"] = [x for x in ours if x not in rec["shm_left_victim"]]
    if args.private:
        for name in after:
            try:
                os.unlink(os.path.join("/dev/shm", name))
            except OSError:
                pass

    judge(rec, kind, fault_rank)
    return rec


def judge(rec, kind, fault_rank):
    """Sets rec['problems'] to a list of short strings."""
    probs = []
    if rec.get("setup_failed"):
        rec["problems"] = ["setup: " + rec["setup_failed"]]
        return
    if rec["hung"]:
        probs.append("hang: ranks %s" % rec["hung"])
    for d in rec["ranks"]:
        r = d["rank"]
        if kind == "kill" and r == fault_rank:
            continue
        if d["bad"]:
            probs.append("rank %d: wrong data: %s" % (r, d["bad"][0]))
        if r in rec["hung"]:
            continue
        if "status" not in d:
            probs.append("rank %d: no error (%s)" % (
                r, "loop ended" if d["done"] else "exit %s" % d["exit"]))
            continue
        named, others = names_rank(d["msg"], r, fault_rank)
        d["named"] = named
        d["named_others"] = others
        if kind == "kill":
            if not named:
                probs.append("rank %d: error does not name rank %d: %s" % (r, fault_rank, d["msg"]))
        else:
            if r != fault_rank and not named:
                probs.append("rank %d: error does not name the mismatching rank %d: %s"
                             % (r, fault_rank, d["msg"]))
        if not d["fin"]:
            probs.append("rank %d: did not finish finalize (exit %s)" % (r, d["exit"]))
    if rec["shm_left_other"]:
        probs.append("left in /dev/shm: %s" % " ".join(rec["shm_left_other"]))
    rec["problems"] = probs


def summarize(kind, recs, timeout_ms):
    if not recs:
        return
    print("\n== %s trials: %d" % (kind, len(recs)))
    setup = [r for r in recs if r.get("setup_failed")]
    ok = [r for r in recs if not r.get("setup_failed")]
    hangs = [r for r in ok if r["hung"]]
    survivors = [d for r in ok for d in r["ranks"]
                 if not (kind == "kill" and d["rank"] == r["victim"])]
    errs = [d for d in survivors if "status" in d]
    if kind == "kill":
        expect = survivors
    else:
        expect = survivors
    no_err = [d for d in expect if "status" not in d and not d.get("last_line")]
    wrong = [d for d in errs if kind == "kill" and not d.get("named")]
    wrong += [d for r in ok for d in r["ranks"] if kind == "mismatch" and "status" in d
              and d["rank"] != r["mismatch_rank"] and not d.get("named")]
    statuses = {}
    for d in errs:
        statuses[d["status"]] = statuses.get(d["status"], 0) + 1
    print("  trials that could not start: %d" % len(setup))
    print("  trials with a hang (a rank not done %d ms + margin after the fault): %d"
          % (timeout_ms, len(hangs)))
    print("  %s returning an error: %d of %d" % (
        "survivors" if kind == "kill" else "ranks", len(errs), len(expect)))
    print("  ... returning no error at all: %d" % len(no_err))
    print("  errors that do not name the %s rank: %d" % (
        "dead" if kind == "kill" else "mismatching", len(wrong)))
    print("  statuses: %s" % ", ".join("%s %d" % kv for kv in sorted(statuses.items())))
    if kind == "kill":
        times = sorted(d["t_ms"] for d in errs)
        if times:
            print("  detection time (kill -> error) ms: median %.1f, p99 %.1f, worst %.1f "
                  "(timeout %d ms)" % (times[len(times) // 2], times[int(len(times) * 0.99)],
                                       times[-1], timeout_ms))
        for prov in sorted(set(r["provider"] for r in ok)):
            t = sorted(d["t_ms"] for r in ok if r["provider"] == prov for d in r["ranks"]
                       if "t_ms" in d and d["rank"] != r["victim"])
            if t:
                print("    %s: %d errors, median %.1f ms, worst %.1f ms" % (
                    prov, len(t), t[len(t) // 2], t[-1]))
    else:
        spans = []
        for r in ok:
            ts = [d["t_ms"] for d in r["ranks"] if "t_ms" in d]
            if ts and len(ts) == r["n"]:
                spans.append(max(ts) - min(ts))
        if spans:
            spans.sort()
            print("  spread of the ranks' errors (first to last) ms: median %.1f, worst %.1f"
                  % (spans[len(spans) // 2], spans[-1]))
        mis = [d for r in ok for d in r["ranks"] if d["rank"] == r["mismatch_rank"]]
        print("  mismatching rank itself got an error: %d of %d" % (
            sum(1 for d in mis if "status" in d), len(mis)))
    left_v = sum(len(r["shm_left_victim"]) for r in ok)
    left_o = [r for r in ok if r["shm_left_other"]]
    print("  /dev/shm: trials leaving something else than the killed rank's endpoint: %d "
          "(names: %d); the killed rank's own endpoints left: %d"
          % (len(left_o), sum(len(r["shm_left_other"]) for r in left_o), left_v))
    probs = [r for r in recs if r["problems"]]
    print("  trials with a problem: %d" % len(probs))
    shown = 0
    for r in probs:
        if shown >= 12:
            print("    ... (%d more; --log for all)" % (len(probs) - shown))
            break
        desc = "%s n=%d %s algo=%s %s %dB %s" % (r["kind"], r["n"], r["provider"], r["algo"],
                                                 r["op"], r["bytes"], r["dtype"])
        if r["kind"] == "kill":
            desc += " victim=%d delay=%sms" % (r["victim"], r.get("kill_delay_ms"))
        else:
            desc += " rank %d %s from iter %d" % (r["mismatch_rank"], r["mismatch_kind"],
                                                   r["mismatch_iter"])
        print("    #%d %s: %s" % (r["trial"], desc, "; ".join(r["problems"])[:600]))
        shown += 1


def main():
    args = parse_args()
    maybe_reexec_private(args)
    args.private = bool(os.environ.get(PRIVATE_ENV))
    if args.private:
        for name in shm_list():  # a fresh tmpfs: nothing, but be sure
            os.unlink(os.path.join("/dev/shm", name))
    lo, _, hi = args.ranks.partition("-")
    args.rmin, args.rmax = int(lo), int(hi or lo)
    args.provider_list = args.providers.split(",")
    args.algo_list = args.algos.split(",")
    args.rank_prog = os.path.join(args.build, "bin", "dlcoll-fault-rank")
    args.plugin = os.path.join(args.build, "lib", "libdlcoll.so")
    for f in (args.rank_prog, args.plugin):
        if not os.path.exists(f):
            sys.exit("fault-inject: %s is missing (build first: scripts/build.sh)" % f)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    print("fault-inject: seed %d, %d kill + %d mismatch trials, ranks %s, providers %s, "
          "algos %s, timeout %d ms, /dev/shm %s" % (
              seed, args.kill, args.mismatch, args.ranks, args.providers, args.algos,
              args.timeout_ms, "private" if args.private else "shared"))
    log = open(args.log, "w") if args.log else None
    results = {"kill": [], "mismatch": []}
    t0 = time.monotonic()
    plan = ["kill"] * args.kill + ["mismatch"] * args.mismatch
    rng.shuffle(plan)
    for i, kind in enumerate(plan):
        rec = run_trial(args, kind, rng, i)
        results[kind].append(rec)
        if log:
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if args.verbose or rec["problems"]:
            print("  trial %d %s: %s" % (i, kind, "; ".join(rec["problems"])[:300] or "ok"),
                  flush=True)
        if (i + 1) % 25 == 0:
            print("fault-inject: %d of %d trials, %.0f s" % (i + 1, len(plan),
                                                            time.monotonic() - t0), flush=True)
    secs = time.monotonic() - t0
    for kind in ("kill", "mismatch"):
        summarize(kind, results[kind], args.timeout_ms)
    print("\nfault-inject: %d trials in %.0f s (%.2f s per trial), seed %d"
          % (len(plan), secs, secs / max(1, len(plan)), seed))
    bad = sum(1 for k in results for r in results[k] if r["problems"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
