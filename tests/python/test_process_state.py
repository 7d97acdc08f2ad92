"""What dlcoll.torch does to the process it is loaded into (project issue 10).

Loading libdlcoll.so used to load libfabric and with it libinfinipath, whose
constructor installs handlers for SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGILL
and SIGABRT that call exit(1): Ctrl-C no longer raised KeyboardInterrupt and
SIGTERM left ranks deadlocked in exit handlers; and the tcp provider path
setenv()ed FI_TCP_IFACE.  These tests start real rank processes of
state_worker.py (each in its own session) and check:

  * test_process_state_unchanged: every signal disposition, the signal mask,
    libc's environ, the cwd and its files and the umask are the same after
    `import dlcoll.torch`, init_process_group, all_gather and
    destroy_process_group as before the import, and the thread count is
    back after destroy_process_group (shm and tcp; Gloo without dlcoll as
    the control);
  * test_sigint_raises_keyboard_interrupt: SIGINT to one rank of a running
    all_gather loop raises KeyboardInterrupt there (its finally block runs,
    then the normal interpreter exit, status 0); the other rank gets a
    dlcoll error (the peer is gone) and exits 0;
  * test_sigterm_kills_one_rank: 20 times, SIGTERM to one rank of 3 (each
    rank in turn) while the others wait in an all_gather: it dies from the
    signal (status -SIGTERM), the others get a dlcoll error and exit 0, and
    no process of the job (nor a child of a rank) is left.

The ranks inherit this process's environment except FI_TCP_IFACE, which is
removed so that a library setting it would show.  Every wait is bounded:
a rank still running after JOB_LIMIT_S is killed and the test fails.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import PACKAGE_DIR
import process_state

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "state_worker.py")
JOB_LIMIT_S = 120    # the ranks' own watchdog (STATE_TEST_LIMIT_S) fires at 100 s
MARKER_LIMIT_S = 90  # a rank must say it is in position within this


def children_of(pids):
    """Live processes whose parent is one of pids."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in pids:
            out.append(int(name))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Job:
    """The ranks of one case, each in its own session, output read line by line."""

    def __init__(self, case, world, extra_env=None, cwds=None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, HERE, env.get("PYTHONPATH", "")])
        env.pop("FI_TCP_IFACE", None)  # a library that sets it must show
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
        env.setdefault("OMP_NUM_THREADS", "1")
        env["STATE_TEST_LIMIT_S"] = str(JOB_LIMIT_S - 20)
        env.update(extra_env or {})
        port = process_state.free_port()
        self.world = world
        self.lines = [[] for _ in range(world)]
        self.procs, self.readers = [], []
        for r in range(world):
            p = subprocess.Popen([sys.executable, WORKER, case, str(r), str(world), str(port)],
                                 env=env, cwd=cwds[r] if cwds else None,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            t = threading.Thread(target=self._read, args=(p, self.lines[r]), daemon=True)
            t.start()
            self.procs.append(p)
            self.readers.append(t)
        self.sids = {p.pid for p in self.procs}  # session leaders: sid == pid
        self.deadline = time.monotonic() + JOB_LIMIT_S
        self.statuses = None

    @staticmethod
    def _read(p, lines):
        for raw in p.stdout:
            lines.append(raw.decode(errors="replace").rstrip("\n"))

    def output(self, r):
        return "\n".join(self.lines[r])

    def report(self):
        st = self.statuses or [p.poll() for p in self.procs]
        return "\n".join(f"----- rank {r} (exit {st[r]})\n{self.output(r)}" for r in range(self.world))

    def wait_for(self, r, marker):
        """Until rank r has printed a line containing marker (bounded)."""
        limit = min(self.deadline, time.monotonic() + MARKER_LIMIT_S)
        while not any(marker in line for line in list(self.lines[r])):
            if self.procs[r].poll() is not None or time.monotonic() > limit:
                self.kill()
                raise AssertionError(f"rank {r} never printed {marker!r}\n{self.report()}")
            time.sleep(0.02)

    def kill(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait()

    def finish(self):
        """Wait for every rank (bounded); then no process of the job may be left."""
        timed_out = False
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
        if timed_out:
            self.kill()
        self.statuses = [p.returncode for p in self.procs]
        for t in self.readers:
            t.join(timeout=10)
        assert not timed_out, f"the job did not finish in {JOB_LIMIT_S} s (killed)\n{self.report()}"
        # Anything a rank started (and left behind) is still in its session.
        left = process_state.session_members(self.sids)
        limit = time.monotonic() + 5
        while left and time.monotonic() < limit:
            time.sleep(0.1)
            left = process_state.session_members(self.sids)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not left, f"processes of the job left behind: {left}\n{self.report()}"
        return self.statuses


def check_statuses(job, expected):
    assert job.statuses == expected, job.report()


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("backend,provider", [("dlcoll", None), ("dlcoll", "tcp"), ("gloo", None)],
                         ids=["dlcoll-default", "dlcoll-tcp", "gloo-control"])
def test_process_state_unchanged(tmp_path, backend, provider):
    world = 2
    cwds = []
    for r in range(world):
        d = tmp_path / f"rank{r}"
        d.mkdir()
        cwds.append(str(d))
    extra = {"STATE_TEST_BACKEND": backend}
    if provider:
        extra["DLCOLL_PROVIDER"] = provider
    job = Job("state", world, extra_env=extra, cwds=cwds)
    job.finish()
    check_statuses(job, [0] * world)
    for r in range(world):
        assert "state unchanged" in job.output(r), job.report()
        assert os.listdir(cwds[r]) == [], (cwds[r], os.listdir(cwds[r]))
    print(job.report())


def test_sigint_raises_keyboard_interrupt():
    job = Job("sigint", 2, extra_env={"STATE_TEST_VICTIM": "1"})
    for r in range(2):
        job.wait_for(r, "in the loop")
    os.kill(job.procs[1].pid, signal.SIGINT)  # that rank only, as a terminal's Ctrl-C would
    job.finish()
    check_statuses(job, [0, 0])
    victim, other = job.output(1), job.output(0)
    assert "KeyboardInterrupt after" in victim, job.report()
    assert "finally block ran" in victim, job.report()
    assert "sigint ok" in victim, job.report()
    assert victim.index("KeyboardInterrupt after") < victim.index("finally block ran"), job.report()
    assert "raised after" in other and "sigint ok" in other, job.report()
    print(job.report())


SIGTERM_RUNS = 20
SIGTERM_STOP_AFTER = 3  # failed runs: enough to see the pattern without waiting out every one


def sigterm_run(run, world, victim):
    """One job: SIGTERM to victim while the others wait in an all_gather.
    Returns None when all went as expected, else what went wrong."""
    job = Job("sigterm", world, extra_env={"STATE_TEST_VICTIM": str(victim)})
    survivors = [r for r in range(world) if r != victim]
    job.wait_for(victim, "ready, sleeping")
    for r in survivors:
        job.wait_for(r, "waiting in all_gather")
    kids = children_of({p.pid for p in job.procs})
    os.kill(job.procs[victim].pid, signal.SIGTERM)
    try:
        job.finish()
    except AssertionError as exc:  # timed out (killed) or left processes behind
        return str(exc)
    expected = [0] * world
    expected[victim] = -signal.SIGTERM
    problems = []
    if job.statuses != expected:
        problems.append(f"exit statuses {job.statuses}, expected {expected}")
    for r in survivors:
        if not ("raised:" in job.output(r) and "sigterm ok" in job.output(r)):
            problems.append(f"rank {r} did not get the dlcoll error")
    if "still alive" in job.output(victim):
        problems.append(f"rank {victim} outlived SIGTERM")
    left = [k for k in kids if alive(k)]  # also those that left the session
    if left:
        problems.append(f"children of the ranks left: {left}")
    if problems:
        return "; ".join(problems) + "\n" + job.report()
    print(f"run {run}: rank {victim} killed by SIGTERM; "
          + "; ".join(job.output(r).splitlines()[-2] for r in survivors))
    return None


def test_sigterm_kills_one_rank():
    """SIGTERM_RUNS jobs of 3 ranks; the victim is each rank in turn (rank 0
    serves PyTorch's TCPStore: the survivors must not need it to fail)."""
    world = 3
    failed = []
    for run in range(SIGTERM_RUNS):
        victim = run % world
        why = sigterm_run(run, world, victim)
        if why:
            failed.append(f"run {run} (SIGTERM to rank {victim}): {why}")
            print(failed[-1].splitlines()[0])
            if len(failed) == SIGTERM_STOP_AFTER:
                break
    assert not failed, (f"{len(failed)} of {run + 1} runs failed (stopping after "
                        f"{SIGTERM_STOP_AFTER} failures)\n" + "\n".join(failed))
