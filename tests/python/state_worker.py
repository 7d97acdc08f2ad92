"""One rank of a test of what dlcoll.torch does to its host process.

    python state_worker.py CASE RANK WORLD_SIZE PORT

Cases (test_process_state.py starts the ranks and sends the signals):
  state    snapshot the process-wide state (process_state.py) after
           `import torch` and `torch.distributed`, then import dlcoll.torch,
           init_process_group, all_gather (checked byte for byte),
           destroy_process_group, and compare the state after each step with
           the first snapshot: every signal disposition, the signal mask,
           libc's environ, the cwd and its files and the umask must never
           change; the thread count must be back after destroy_process_group.
           STATE_TEST_BACKEND=gloo runs the same steps on Gloo without
           importing dlcoll (the control: what torch itself changes).
  sigint   every rank runs all_gather in a loop (up to 60 s); the test sends
           SIGINT to rank STATE_TEST_VICTIM, which must get KeyboardInterrupt
           as usual: it prints a marker, its finally block runs
           (destroy_process_group), and it leaves through the normal
           interpreter exit (status 0).  The others must get a dlcoll error
           (the peer is gone), destroy the process group and exit 0.
  sigterm  after one checked all_gather, rank STATE_TEST_VICTIM says it is
           ready and sleeps; the others wait in an all_gather.  The test
           sends SIGTERM to the victim, which must die from it (no handler);
           the others must get a dlcoll error, destroy the process group and
           exit 0.
Every rank prints what it did; a failed check prints a traceback and exits 1;
a rank still running after STATE_TEST_LIMIT_S dumps its threads' stacks and
exits 1 (faulthandler), so that no case can hang.
"""
import datetime
import faulthandler
import os
import sys
import time
import traceback

CASE = sys.argv[1]
RANK = int(sys.argv[2])
WORLD = int(sys.argv[3])
PORT = int(sys.argv[4])
LIMIT_S = float(os.environ.get("STATE_TEST_LIMIT_S", "100"))
TIMEOUT = datetime.timedelta(seconds=30)  # dlcoll's per-step timeout (from PyTorch)

# Started first, so that its watchdog thread is in every snapshot.
faulthandler.dump_traceback_later(LIMIT_S, exit=True)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import process_state  # noqa: E402


def say(*args):
    print(f"rank {RANK}:", *args, flush=True)


def make_input(rank, i, n=4096):
    """Rank rank's input for gather i: n pseudo-random bytes."""
    g = torch.Generator().manual_seed(1000003 * (rank + 1) + 7919 * i)
    return torch.randint(0, 256, (n,), generator=g, dtype=torch.uint8)


def gather_checked(i, n=4096):
    """One all_gather; every block must equal what its rank sent, bit for bit."""
    out = [torch.full((n,), 0xA5, dtype=torch.uint8) for _ in range(WORLD)]
    dist.all_gather(out, make_input(RANK, i, n))
    for r in range(WORLD):
        assert torch.equal(out[r], make_input(r, i, n)), f"gather {i}: block of rank {r} differs"


def init():
    import dlcoll.torch  # noqa: F401  (registers the backend)
    dist.init_process_group("dlcoll", init_method=f"tcp://127.0.0.1:{PORT}", rank=RANK,
                            world_size=WORLD, timeout=TIMEOUT)


def leave():
    """What a script does on its way out: destroy the process group (its
    backend's progress thread is joined here), then the interpreter exits
    the normal way (main returns).  Without destroy_process_group, a rank
    whose collective failed aborts at exit in about 1 run of 3 on torch
    2.15 ("terminate called without an active exception"): the progress
    thread frees the failed Work, whose tensors' Python objects need the
    GIL, while Py_FinalizeEx runs, and Python 3.11 ends a thread that asks
    for the GIL then with pthread_exit, whose unwinding meets a noexcept
    destructor.  That is the shim's teardown, not what these cases test."""
    dist.destroy_process_group()
    say("destroyed the process group")


def dlcoll_error(exc):
    msg = str(exc)
    return "dlcoll" in msg or "peer" in msg.lower()


# ------------------------------------------------------------------ cases


def case_state():
    backend = os.environ.get("STATE_TEST_BACKEND", "dlcoll")
    # The store exists before the first snapshot: its threads (rank 0 serves
    # it) are PyTorch's, not the backend's.
    store = dist.TCPStore("127.0.0.1", PORT, WORLD, RANK == 0, timeout=TIMEOUT)
    torch.equal(torch.ones(8).add_(1), torch.full((8,), 2.0))  # torch's own lazy set-up
    before = process_state.snapshot()
    assert before["files"] == (), f"the rank's cwd is not empty: {before['files']}"
    say(f"before: {len(before['threads'])} threads, {len(before['environ'])} environ entries, "
        f"handlers on {sum(1 for d in before['dispositions'].values() if d[0] not in (0, 'refused'))} signals")
    steps = []
    if backend == "dlcoll":
        import dlcoll.torch  # noqa: F401
        steps.append(("import dlcoll.torch", process_state.snapshot()))
    dist.init_process_group(backend, store=store, rank=RANK, world_size=WORLD, timeout=TIMEOUT)
    assert dist.get_backend() == backend, dist.get_backend()
    steps.append((f"init_process_group({backend!r})", process_state.snapshot()))
    for i in range(3):
        gather_checked(i)
    steps.append(("all_gather", process_state.snapshot()))
    dist.destroy_process_group()
    process_state.wait_threads(len(before["threads"]), 20)
    steps.append(("destroy_process_group", process_state.snapshot()))
    failed = process_state.step_changes(before, steps, last="destroy_process_group")
    for line in failed:
        say("CHANGED", line)
    assert not failed, f"{len(failed)} changes to the process state (listed above)"
    say(f"state unchanged after {', '.join(w for w, _ in steps)}")


def case_sigint():
    victim = int(os.environ["STATE_TEST_VICTIM"])
    init()
    deadline = time.monotonic() + 60
    i = 0
    if RANK == victim:
        try:
            try:
                while time.monotonic() < deadline:
                    gather_checked(i)
                    i += 1
                    if i == 1:
                        say("in the loop")
                raise AssertionError(f"no KeyboardInterrupt in 60 s ({i} gathers)")
            except KeyboardInterrupt:
                say(f"KeyboardInterrupt after {i} gathers")
        finally:
            say("finally block ran")
            leave()
        return
    try:
        while time.monotonic() < deadline:
            gather_checked(i)
            i += 1
            if i == 1:
                say("in the loop")
    except RuntimeError as exc:
        say(f"raised after {i} gathers: {exc}")
        assert dlcoll_error(exc), f"not a dlcoll error: {exc}"
        leave()
        return
    raise AssertionError(f"the loop ended after {i} gathers without an error")


def case_sigterm():
    victim = int(os.environ["STATE_TEST_VICTIM"])
    init()
    gather_checked(0)  # every rank is up
    if RANK == victim:
        say("ready, sleeping")
        time.sleep(LIMIT_S)
        say("still alive: SIGTERM did not end this process")
        os._exit(3)
    out = [torch.empty(4096, dtype=torch.uint8) for _ in range(WORLD)]
    say("waiting in all_gather")
    try:
        dist.all_gather(out, make_input(RANK, 1))
    except RuntimeError as exc:
        say(f"raised: {exc}")
        assert dlcoll_error(exc), f"not a dlcoll error: {exc}"
        leave()
        return
    raise AssertionError("the all_gather with a dead rank did not fail")


def main():
    try:
        globals()["case_" + CASE]()
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    say(f"{CASE} ok")


if __name__ == "__main__":
    main()
