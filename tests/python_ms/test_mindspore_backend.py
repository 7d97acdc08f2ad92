"""Multi-process tests of dlcoll.mindspore against the installed MindSpore.

Each test starts the ranks of ms_worker.py (one case each) with the MindSpore
launcher environment (MS_ROLE, MS_NODE_ID, MS_WORKER_NUM, MS_SCHED_HOST,
MS_SCHED_PORT on a free loopback port) and checks every rank's exit status;
the checks themselves (byte-exact results, the errors raised) run inside the
ranks.
"""
import os
import signal
import socket
import subprocess
import sys

import pytest

from conftest import HELPER, PACKAGE_DIR, PLUGIN

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ms_worker.py")
CASE_LIMIT_S = 240  # a rank still running after this has hung: the test fails


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_case(case, world, expect_status=None, scheduler=True, extra_env=None, role="MS_WORKER"):
    """Run case on world ranks (plus, with scheduler, a MS_SCHED process).

    expect_status maps rank -> exit status (the scheduler is rank -1).  role
    None starts the ranks without MS_ROLE (dlcoll's own resolution of the
    same variables: rank 0 serves the store on MS_SCHED_HOST:MS_SCHED_PORT)."""
    expect_status = expect_status or {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, HERE, env.get("PYTHONPATH", "")])
    env["DLCOLL_PLUGIN"] = PLUGIN
    env["DLCOLL_MS_HELPER"] = HELPER
    env.setdefault("FI_TCP_IFACE", "lo")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("GLOG_v", "3")           # MindSpore: errors only
    env.update({"MS_WORKER_NUM": str(world), "MS_SCHED_HOST": "127.0.0.1",
                "MS_SCHED_PORT": str(free_port())})
    env.update(extra_env or {})
    roles = [(role, r) for r in range(world)]
    if scheduler:
        roles.append(("MS_SCHED", -1))
    procs = []
    for role, r in roles:
        e = dict(env)
        if role:
            e["MS_ROLE"] = role
        if r >= 0:
            e["MS_NODE_ID"] = str(r)
        procs.append(subprocess.Popen([sys.executable, WORKER, case], env=e,
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
    for i, (role, r) in enumerate(roles):
        assert statuses[i] == expect_status.get(r, 0), report
    return outputs


@pytest.mark.parametrize("world", [2, 3])
def test_environment_with_scheduler(world):
    """MS_ROLE=MS_WORKER ranks and a MS_ROLE=MS_SCHED process that serves the rendezvous."""
    run_case("env", world)


def test_environment_without_ms_role():
    """No MS_ROLE (e.g. under dlcoll-run): rank 0 serves the store, no scheduler."""
    run_case("env", 2, scheduler=False, role=None)


def test_msrun(tmp_path):
    """MindSpore's own launcher: msrun starts the scheduler and the workers."""
    bindir = os.path.dirname(sys.executable)
    msrun = os.path.join(bindir, "msrun")
    if not os.path.exists(msrun):
        pytest.fail(f"no msrun next to {sys.executable}")
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")   # msrun runs "python"
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR, HERE, env.get("PYTHONPATH", "")])
    env.update({"DLCOLL_PLUGIN": PLUGIN, "DLCOLL_MS_HELPER": HELPER, "GLOG_v": "3",
                "OMP_NUM_THREADS": "1"})
    logs = tmp_path / "logs"
    r = subprocess.run([msrun, "--worker_num=2", "--local_worker_num=2", "--master_addr=127.0.0.1",
                        f"--master_port={free_port()}", f"--log_dir={logs}", "--join=True",
                        WORKER, "subgroups_2"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=CASE_LIMIT_S)
    texts = {f.name: f.read_text(errors="replace") for f in logs.glob("*.log")}
    report = r.stdout.decode(errors="replace") + "".join(f"\n----- {n}\n{t}" for n, t in texts.items())
    assert r.returncode == 0, report
    for w in ("worker_0.log", "worker_1.log"):
        assert "subgroups_2: ok" in texts.get(w, ""), report


def test_no_scheduler_is_an_error():
    outputs = run_case("no_scheduler", 2, scheduler=False, extra_env={"DLCOLL_TIMEOUT": "2000"})
    assert "no_scheduler: error after" in outputs[0], outputs[0]


@pytest.mark.parametrize("world", [2, 4])
def test_every_dtype_pynative(world):
    run_case("dtypes_pynative", world)


def test_graph_mode():
    run_case("graph", 3)


def test_helper_built_at_first_use(tmp_path):
    """No libdlcoll_ms.so next to the plugin: dlcoll.mindspore compiles csrc/ with cc."""
    import shutil
    plugin_dir = tmp_path / "lib"
    plugin_dir.mkdir()
    shutil.copy(PLUGIN, plugin_dir / "libdlcoll.so")
    outputs = run_case("env", 2, extra_env={"DLCOLL_PLUGIN": str(plugin_dir / "libdlcoll.so"),
                                            "DLCOLL_MS_HELPER": "",
                                            "XDG_CACHE_HOME": str(tmp_path / "cache")})
    built = list((tmp_path / "cache" / "dlcoll").glob("ms-helper-*/libdlcoll_ms.so"))
    assert len(built) == 1, (built, outputs)


def test_subgroups():
    run_case("subgroups", 4)


def test_errors():
    run_case("errors", 2)


@pytest.mark.parametrize("provider", ["shm", "tcp"])
def test_killed_rank(provider):
    outputs = run_case("killed_rank", 3, expect_status={2: -signal.SIGKILL},
                       extra_env={"DLCOLL_TIMEOUT": "10000", "DLCOLL_PROVIDER": provider})
    for r in (0, 1):
        assert "got the error" in outputs[r], outputs[r]
        print(outputs[r].strip().splitlines()[-2])


def test_same_result_as_mindspore_mccl():
    """MindSpore's own CPU AllGather (mccl, with its scheduler) vs dlcoll, same run."""
    outputs = run_case("compare_mccl", 3,
                       extra_env={"DLCOLL_INIT_METHOD": f"tcp://127.0.0.1:{free_port()}"})
    assert "compare_mccl: ok" in outputs[0], outputs[0]


@pytest.mark.parametrize("world", [1, 3, 4])
def test_reductions(world):
    """AllReduce / ReduceScatter: every dtype x op, the documented order emulated
    in numpy (bit-exact; bfloat16 within one rounding), bit-identical on every
    rank; Broadcast from every root; a subgroup; bad op and root refused."""
    run_case("reductions", world)


def test_reductions_graph():
    run_case("reductions_graph", 2)
