"""One rank of a test of what dlcoll.mindspore does to its host process.

    python ms_state_worker.py

Started by test_ms_process_state.py with the MindSpore launcher environment
(MS_ROLE=MS_WORKER, MS_NODE_ID, MS_WORKER_NUM, MS_SCHED_HOST/PORT; the
MS_ROLE=MS_SCHED process runs this file too and only serves the rendezvous).
A worker snapshots the process-wide state (tests/python/process_state.py)
after `import mindspore` and one MindSpore op, then imports dlcoll.mindspore,
calls init(), one AllGather (checked byte for byte against
numpy.concatenate of every rank's input) and release(), and compares the
state after each step with the first snapshot: every signal disposition,
the signal mask, libc's environ, the cwd and its files and the umask must
never change; the thread count must be back after release().  Nothing is
excluded from the comparison.  Exit 0 when all checks passed, 1 otherwise; a
worker still running after STATE_TEST_LIMIT_S dumps its threads' stacks and
exits 1 (faulthandler).

Why one MindSpore op before the snapshot: MindSpore 2.10 itself, when it
runs its first op (not at import), replaces Python's SIGINT handler with its
own (in libmindspore_runtime_pipeline.so, SA_SIGINFO|SA_RESTART) and starts
four threads (ActorThread_0, KernelThread_0, backend_queue, frontend_queue).
Taken right after `import mindspore`, the snapshot would charge those to
dlcoll's AllGather, the first op these workers run.
"""
import faulthandler
import os
import sys
import traceback

LIMIT_S = float(os.environ.get("STATE_TEST_LIMIT_S", "100"))
faulthandler.dump_traceback_later(LIMIT_S, exit=True)  # its thread is in every snapshot

import numpy as np  # noqa: E402
import mindspore as ms  # noqa: E402

import process_state  # noqa: E402  (tests/python, on PYTHONPATH)


def say(*args):
    print(f"worker {os.environ.get('MS_NODE_ID')}:", *args, flush=True)


def make_input(rank, shape=(64, 33)):
    rng = np.random.default_rng(1000003 * (rank + 1))
    return rng.integers(-2 ** 31, 2 ** 31 - 1, shape, dtype=np.int32, endpoint=True)


def main():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.ones((4,), np.float32))
    (x + x).asnumpy()  # MindSpore's own first-op set-up (SIGINT handler, 4 threads): see above
    before = process_state.snapshot()
    assert before["files"] == (), f"the worker's cwd is not empty: {before['files']}"
    say(f"before: {len(before['threads'])} threads, {len(before['environ'])} environ entries")
    steps = []
    from dlcoll import mindspore as comm
    steps.append(("import dlcoll.mindspore", process_state.snapshot()))
    comm.init()
    steps.append(("init()", process_state.snapshot()))
    me, world = comm.get_rank(), comm.get_group_size()
    assert me == int(os.environ["MS_NODE_ID"]) and world == int(os.environ["MS_WORKER_NUM"])
    y = comm.AllGather()(ms.Tensor(make_input(me))).asnumpy()
    want = np.concatenate([make_input(r) for r in range(world)])
    assert y.dtype == want.dtype and y.shape == want.shape and np.array_equal(
        y.view(np.uint32), want.view(np.uint32)), "AllGather: gathered bytes differ"
    steps.append(("AllGather", process_state.snapshot()))
    comm.release()
    process_state.wait_threads(len(before["threads"]), 20)
    steps.append(("release()", process_state.snapshot()))
    failed = process_state.step_changes(before, steps, last="release()")
    for line in failed:
        say("CHANGED", line)
    assert not failed, f"{len(failed)} changes to the process state (listed above)"
    say(f"state unchanged after {', '.join(w for w, _ in steps)}")


if __name__ == "__main__":
    if os.environ.get("MS_ROLE") == "MS_SCHED":
        from dlcoll import mindspore as comm
        comm.init()  # serves the rendezvous, then ends the process
        raise SystemExit("init() returned in the scheduler")
    try:
        main()
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    say("ok")
