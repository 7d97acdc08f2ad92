"""The drop-in library: MindSpore's own collectives (mindspore.communication,
ops.AllGather) on dlcoll, through libmpi_collective.so loaded in place of the
wheel's Open MPI library.

Ranks are started by Open MPI's mpirun (the route MindSpore takes the library
on), and once without it, by setting the variables mpirun sets.  The checks
run inside the ranks (ms_dropin_worker.py): byte-exact results, and the
library's own count of gathers equal to the number issued.

The library is ${DLCOLL_BUILD_DIR}/python/dlcoll/mindspore/libmpi_collective.so
(CMake target dlcoll_ms_dropin); when it is not built, the tests build it
with python/dlcoll/mindspore/dropin/build.sh into a temporary directory.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from conftest import BUILD, PLUGIN, REPO

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ms_dropin_worker.py")
BUILD_SCRIPT = os.path.join(REPO, "python", "dlcoll", "mindspore", "dropin", "build.sh")
BUILT_LIB = os.path.join(BUILD, "python", "dlcoll", "mindspore", "libmpi_collective.so")
MPIRUN = shutil.which("mpirun")
CASE_LIMIT_S = 180  # a job still running after this has hung: the test fails

# Variables that would give dlcoll or MindSpore another rank, size or role than
# Open MPI's (dlcoll reads DLCOLL_RANK and RANK before OMPI_COMM_WORLD_RANK).
FOREIGN = ("MS_ROLE", "MS_NODE_ID", "MS_WORKER_NUM", "MS_SCHED_HOST", "MS_SCHED_PORT", "RANK",
           "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "DLCOLL_RANK",
           "DLCOLL_WORLD_SIZE", "RANK_ID", "RANK_SIZE", "DLCOLL_INIT_METHOD", "LD_PRELOAD",
           "PMI_RANK", "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS")


@pytest.fixture(scope="module")
def dropin_lib(tmp_path_factory):
    if os.path.exists(BUILT_LIB):
        return BUILT_LIB
    out = tmp_path_factory.mktemp("dropin")
    r = subprocess.run(["bash", BUILD_SCRIPT, str(out)], env=dict(os.environ, DLCOLL_MS_PYTHON=sys.executable),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    return str(out / "libmpi_collective.so")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_env(lib, load, rendezvous=True):
    """The variables every rank gets (besides Open MPI's own)."""
    env = {"DLCOLL_DROPIN_LIB": lib, "DLCOLL_DROPIN_LOAD": load, "DLCOLL_PLUGIN": PLUGIN,
           "DLCOLL_DEBUG": "INFO", "DLCOLL_TIMEOUT": "60000", "FI_TCP_IFACE": "lo",
           "GLOG_v": "3", "OMP_NUM_THREADS": "1"}
    if rendezvous:
        env["DLCOLL_INIT_METHOD"] = f"tcp://127.0.0.1:{free_port()}"
    if load == "preload":
        env["LD_PRELOAD"] = lib
    return env


def finish(procs):
    """Wait for every process; kill the lot on a hang.  Returns (statuses, text)."""
    texts, statuses = [], []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=CASE_LIMIT_S)
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    os.killpg(q.pid, signal.SIGKILL)
            out, _ = p.communicate()
            out += b"\n(killed: the job did not finish in time)"
        texts.append(out.decode(errors="replace"))
        statuses.append(p.returncode)
    return statuses, "\n".join(texts)


def base_env():
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")          # mpirun refuses root without both
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def run_mpirun(n, case, extra):
    if not MPIRUN:
        pytest.fail("Open MPI's mpirun is not installed (scripts/deps.sh installs openmpi-bin; "
                    "the drop-in serves mpirun launches)")
    cmd = [MPIRUN, "-n", str(n), "--oversubscribe", "--mca", "btl", "self,vader",
           "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"]
    for k, v in extra.items():      # -x NAME=VALUE: for the ranks only, not for mpirun itself
        cmd += ["-x", f"{k}={v}"]
    cmd += [sys.executable, WORKER, case]
    p = subprocess.Popen(cmd, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    statuses, text = finish([p])
    return statuses[0], text


def run_without_mpirun(n, case, extra):
    """The variables MindSpore's UseMPI() and dlcoll read, set by hand."""
    procs = []
    for r in range(n):
        env = base_env()
        env.update(extra)
        env.update({"OMPI_COMMAND": os.path.basename(sys.executable), "PMIX_RANK": str(r),
                    "OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_SIZE": str(n),
                    "OMPI_COMM_WORLD_LOCAL_RANK": str(r), "OMPI_COMM_WORLD_LOCAL_SIZE": str(n)})
        procs.append(subprocess.Popen([sys.executable, WORKER, case], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True))
    statuses, text = finish(procs)
    return max(statuses, key=abs), text


def check_gather_job(status, text, n):
    assert status == 0, text
    for r in range(n):
        assert f"dropin gather: ok rank {r} of {n}" in text, text
        # The library's INFO line: MindSpore really initialized through it.
        assert f"[dlcoll-ms-dropin] rank {r} pid" in text, text
    assert text.count("MindSpore collectives go through dlcoll: world of %d ranks" % n) == n, text
    # The unimplemented collective was refused with the library's message.
    assert "Gather (group 'mccl_world_group') is not supported by the dlcoll drop-in library" in text, text


def test_mpirun_2_ranks_loaded_with_ctypes(dropin_lib):
    """ctypes.CDLL(lib) before mindspore.communication.init(), 2 ranks."""
    status, text = run_mpirun(2, "gather", job_env(dropin_lib, "ctypes"))
    check_gather_job(status, text, 2)


def test_mpirun_4_ranks_ld_preload(dropin_lib):
    """mpirun -x LD_PRELOAD=lib: the script itself is unchanged, 4 ranks, subgroups [3, 0] and [2, 3, 1]."""
    status, text = run_mpirun(4, "gather", job_env(dropin_lib, "preload"))
    check_gather_job(status, text, 4)


def test_without_mpirun(dropin_lib):
    """MindSpore needs only Open MPI's variables, not Open MPI: the same job by hand."""
    status, text = run_without_mpirun(2, "gather", job_env(dropin_lib, "ctypes"))
    check_gather_job(status, text, 2)


def test_no_rendezvous_is_a_clear_error(dropin_lib):
    """No DLCOLL_INIT_METHOD: init() raises, the library says what is missing; no crash, no hang."""
    status, text = run_mpirun(2, "no_rendezvous", job_env(dropin_lib, "ctypes", rendezvous=False))
    assert status == 0, text
    assert text.count("no_rendezvous: init raised") == 2, text
    assert "dlcoll init failed" in text and "no rendezvous configured" in text, text
