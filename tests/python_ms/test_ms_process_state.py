"""What dlcoll.mindspore does to the process it is loaded into (project issue 10).

Loading the plugin used to install libinfinipath's handlers for SIGINT,
SIGTERM, SIGSEGV, SIGBUS, SIGILL and SIGABRT (each calls exit(1)), and the
tcp provider path setenv()ed FI_TCP_IFACE.  Two workers of ms_state_worker.py
and a MS_ROLE=MS_SCHED process, each in its own session and cwd, check that
every signal disposition, the signal mask, libc's environ, the cwd and its
files and the umask are the same after `from dlcoll import mindspore`,
init(), AllGather and release() as after `import mindspore` (and one
MindSpore op), and that the thread count is back after release(); with the
default provider (shm) and with DLCOLL_PROVIDER=tcp.  FI_TCP_IFACE is
removed from the workers' environment so that a library setting it shows.
"""
import os
import signal
import subprocess
import sys

import pytest

from conftest import HELPER, PACKAGE_DIR, PLUGIN, REPO

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ms_state_worker.py")
STATE_HELPERS = os.path.join(REPO, "tests", "python")  # process_state.py
sys.path.insert(0, STATE_HELPERS)
import process_state  # noqa: E402
CASE_LIMIT_S = 120  # the workers' own watchdog (STATE_TEST_LIMIT_S) fires at 100 s


@pytest.mark.parametrize("provider", [None, "tcp"], ids=["default", "tcp"])
def test_process_state_unchanged(tmp_path, provider):
    world = 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, HERE, STATE_HELPERS, env.get("PYTHONPATH", "")])
    env["DLCOLL_PLUGIN"] = PLUGIN
    env["DLCOLL_MS_HELPER"] = HELPER
    env.pop("FI_TCP_IFACE", None)          # a library that sets it must show
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("GLOG_v", "3")          # MindSpore: errors only
    env["STATE_TEST_LIMIT_S"] = str(CASE_LIMIT_S - 20)
    env.update({"MS_WORKER_NUM": str(world), "MS_SCHED_HOST": "127.0.0.1",
                "MS_SCHED_PORT": str(process_state.free_port())})
    if provider:
        env["DLCOLL_PROVIDER"] = provider
    roles = [("MS_WORKER", r) for r in range(world)] + [("MS_SCHED", -1)]
    procs, cwds = [], []
    for role, r in roles:
        e = dict(env, MS_ROLE=role)
        if r >= 0:
            e["MS_NODE_ID"] = str(r)
        cwd = tmp_path / (f"worker{r}" if r >= 0 else "scheduler")
        cwd.mkdir()
        cwds.append(str(cwd))
        procs.append(subprocess.Popen([sys.executable, WORKER], env=e, cwd=str(cwd),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    outputs, statuses = [], []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=CASE_LIMIT_S)
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    os.killpg(q.pid, signal.SIGKILL)
            out, _ = p.communicate()
            out += b"\n(killed: the case did not finish in time)"
        outputs.append(out.decode(errors="replace"))
        statuses.append(p.returncode)
    report = "\n".join(f"----- {roles[i][0]} {roles[i][1]} (exit {statuses[i]})\n{outputs[i]}"
                       for i in range(len(roles)))
    left = process_state.session_members({p.pid for p in procs})
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}\n{report}"
    assert statuses == [0] * len(roles), report
    for r in range(world):
        assert "state unchanged" in outputs[r], report
        assert os.listdir(cwds[r]) == [], (cwds[r], os.listdir(cwds[r]))
    print(report)
