"""One rank of a multi-process dlcoll.torch test.

    python dlcoll_worker.py CASE RANK WORLD_SIZE PORT

Every rank runs the same CASE function.  The default process group uses the
"dlcoll" backend (bootstrapped through PyTorch's TCPStore on 127.0.0.1:PORT);
most cases also make a Gloo group over the same ranks and check that dlcoll's
results are byte-identical to Gloo's for the same inputs, and to the values
every rank can compute for every other rank (inputs are a deterministic
function of rank, dtype and shape).  A rank exits 0 when all its checks
passed; any failed check raises, prints a traceback and exits 1.
"""
import datetime
import os
import sys
import time
import traceback
import warnings

import torch
import torch.distributed as dist

import dlcoll.torch  # noqa: F401  (registers the backend)

warnings.filterwarnings("ignore", message=".*all_gather_coalesced.*")

RANK = int(sys.argv[2])
WORLD = int(sys.argv[3])
PORT = int(sys.argv[4])
TIMEOUT_S = float(os.environ.get("DLCOLL_TEST_TIMEOUT_S", "60"))

# ------------------------------------------------------------------ inputs


def dtypes():
    """Every dtype dlcoll moves in this torch version."""
    out = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
           torch.float16, torch.bfloat16, torch.float32, torch.float64,
           torch.complex64, torch.complex128]
    for name in ("uint16", "uint32", "uint64"):
        if hasattr(torch, name):
            out.append(getattr(torch, name))
    return out


_SAME_SIZE_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def make_input(rank, dtype, shape, salt=0):
    """Rank rank's input: random bytes (NaN payloads included) from a fixed seed."""
    g = torch.Generator().manual_seed(1000003 * (rank + 1) + 7919 * salt + 31 * len(shape)
                                      + sum(shape) + dtypes().index(dtype))
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g, dtype=torch.uint8).bool()
    if dtype.is_complex:
        part = torch.float32 if dtype == torch.complex64 else torch.float64
        bits = make_bits(g, part, tuple(shape) + (2,))
        return torch.view_as_complex(bits.view(part))
    return make_bits(g, dtype, shape).view(dtype)


def make_bits(g, dtype, shape):
    size = element_size(dtype)
    itype = _SAME_SIZE_INT[size]
    lo, hi = -(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1
    return torch.randint(lo, hi, shape, generator=g, dtype=itype)


def as_bits(t):
    """t's bytes as a same-size integer tensor, for exact comparison."""
    t = t.contiguous()
    if t.is_complex():
        t = torch.view_as_real(t)
    if t.dtype == torch.bool:
        return t.to(torch.int8)
    return t.view(_SAME_SIZE_INT[t.element_size()])


def assert_same(actual, expected, what):
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert tuple(actual.shape) == tuple(expected.shape), \
        f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.equal(as_bits(actual), as_bits(expected)), f"{what}: values differ"


def gather_into(out, t, group=None, async_op=False):
    fn = getattr(dist, "all_gather_into_tensor", None) or dist._all_gather_base
    return fn(out, t, group=group, async_op=async_op)


def try_gloo(fn):
    """Run a Gloo call; None when Gloo does not support it (e.g. int16)."""
    try:
        fn()
        return True
    except RuntimeError as exc:
        if "dlcoll" in str(exc):
            raise
        return None


# ------------------------------------------------------------------ set-up


def init(timeout_s=None):
    dist.init_process_group("dlcoll", init_method=f"tcp://127.0.0.1:{PORT}", rank=RANK,
                            world_size=WORLD,
                            timeout=datetime.timedelta(seconds=timeout_s or TIMEOUT_S))
    assert dist.get_backend() == "dlcoll", dist.get_backend()
    assert dist.get_rank() == RANK and dist.get_world_size() == WORLD


def gloo_group(ranks=None):
    return dist.new_group(ranks=ranks, backend="gloo")


# ------------------------------------------------------------------ cases


def case_dtypes():
    """all_gather (list) and all_gather_into_tensor (both shapes), every dtype."""
    init()
    gloo = gloo_group()
    compared_with_gloo = []
    for dtype in dtypes():
        for shape in [(5,), (2, 3), ()]:
            what = f"{dtype} {shape}"
            t = make_input(RANK, dtype, shape)
            expected = [make_input(r, dtype, shape) for r in range(WORLD)]
            # list form
            out = [torch.empty(shape, dtype=dtype) for _ in range(WORLD)]
            dist.all_gather(out, t)
            for r in range(WORLD):
                assert_same(out[r], expected[r], f"all_gather {what} block {r}")
            ref = [torch.empty(shape, dtype=dtype) for _ in range(WORLD)]
            if try_gloo(lambda: dist.all_gather(ref, t, group=gloo)):
                compared_with_gloo.append(str(dtype))
                for r in range(WORLD):
                    assert_same(out[r], ref[r], f"all_gather {what} vs gloo, block {r}")
            # concatenated and stacked single-tensor forms
            cat_shape = (WORLD * shape[0],) + shape[1:] if shape else (WORLD,)
            for out_shape in {cat_shape, (WORLD,) + shape}:
                single = torch.empty(out_shape, dtype=dtype)
                gather_into(single, t)
                assert_same(single.reshape(WORLD, -1),
                            torch.stack(expected).reshape(WORLD, -1),
                            f"all_gather_into_tensor {what} -> {out_shape}")
    for needed in ("torch.float32", "torch.int64", "torch.uint8"):
        assert needed in compared_with_gloo, f"gloo comparison missing for {needed}"
    print(f"rank {RANK}: compared with gloo: {sorted(set(compared_with_gloo))}")


def case_layouts():
    """Empty tensors, strided outputs and inputs, in-place, coalesced, objects."""
    init()
    gloo = gloo_group()
    # empty tensors: list and single forms synchronise and produce empty blocks
    for shape in [(0,), (3, 0)]:
        t = torch.empty(shape, dtype=torch.float32)
        out = [torch.empty(shape) for _ in range(WORLD)]
        dist.all_gather(out, t)
        assert all(tuple(o.shape) == shape for o in out)
        single = torch.empty((WORLD * shape[0],) + shape[1:])
        gather_into(single, t)
    # non-contiguous outputs: every other element of a sentinel-filled buffer
    t = make_input(RANK, torch.float64, (4, 3))
    buf = torch.full((WORLD, 4, 6), -7.0, dtype=torch.float64)
    outs = [buf[r, :, ::2] for r in range(WORLD)]
    assert not outs[0].is_contiguous()
    dist.all_gather(outs, t)
    ref = [torch.empty(4, 3, dtype=torch.float64) for _ in range(WORLD)]
    dist.all_gather(ref, t, group=gloo)
    for r in range(WORLD):
        assert_same(outs[r], ref[r], f"strided output {r} vs gloo")
        assert_same(outs[r], make_input(r, torch.float64, (4, 3)), f"strided output {r}")
    assert bool((buf[:, :, 1::2] == -7.0).all()), "gaps of strided outputs were written"
    # transposed outputs and a transposed (strided) input
    tt = make_input(RANK, torch.int32, (3, 5)).t()
    outs = [torch.empty(3, 5, dtype=torch.int32).t() for _ in range(WORLD)]
    dist.all_gather(outs, tt)
    for r in range(WORLD):
        assert_same(outs[r], make_input(r, torch.int32, (3, 5)).t(), f"transposed {r}")
    # in place: the input is this rank's block of the output
    single = torch.zeros(WORLD, 6, dtype=torch.int64)
    single[RANK] = make_input(RANK, torch.int64, (6,))
    gather_into(single, single[RANK])
    for r in range(WORLD):
        assert_same(single[r], make_input(r, torch.int64, (6,)), f"in-place block {r}")
    # all_gather_coalesced: two inputs of different shapes (PyTorch wants one dtype)
    if hasattr(dist, "all_gather_coalesced"):
        ins = [make_input(RANK, torch.float32, (2, 3)), make_input(RANK, torch.float32, (4,), salt=1)]
        outs = [[torch.empty_like(x) for x in ins] for _ in range(WORLD)]
        refs = [[torch.empty_like(x) for x in ins] for _ in range(WORLD)]
        dist.all_gather_coalesced(outs, ins)
        dist.all_gather_coalesced(refs, ins, group=gloo)
        for r in range(WORLD):
            for i, x in enumerate(ins):
                assert_same(outs[r][i], refs[r][i], f"coalesced rank {r} input {i} vs gloo")
                assert_same(outs[r][i], make_input(r, x.dtype, tuple(x.shape), salt=i), f"coalesced {r}/{i}")
    # all_gather_object (through all_gather of sizes and bytes)
    objs = [None] * WORLD
    dist.all_gather_object(objs, {"rank": RANK, "text": "x" * (RANK * 100)})
    assert objs == [{"rank": r, "text": "x" * (r * 100)} for r in range(WORLD)], objs
    dist.barrier()


def exception_of(work):
    try:
        return ("value", work.exception())
    except TypeError:
        return ("TypeError", None)


def case_async():
    """async_op=True: Work.wait/is_completed/exception/get_future, like Gloo's."""
    init()
    gloo = gloo_group()
    t = make_input(RANK, torch.float32, (1000,))
    outs = [torch.empty(1000) for _ in range(WORLD)]
    refs = [torch.empty(1000) for _ in range(WORLD)]
    work = dist.all_gather(outs, t, async_op=True)
    gwork = dist.all_gather(refs, t, group=gloo, async_op=True)
    fut = work.get_future()
    assert work.wait() is True
    gwork.wait()
    assert work.is_completed() and work.is_success()
    # Work.exception() as Gloo's: None on success (torch 1.13 cannot convert
    # the C++ exception_ptr at all and raises TypeError, for Gloo's Work too).
    assert exception_of(work) == exception_of(gwork) and exception_of(work)[1] is None
    value = fut.wait()
    assert len(value) == 1 and len(value[0]) == WORLD
    for r in range(WORLD):
        assert_same(outs[r], refs[r], f"async all_gather {r} vs gloo")
        assert value[0][r].data_ptr() == outs[r].data_ptr(), "future does not hold the outputs"
    # several in flight at once, waited in reverse order; then a chained future
    single = [torch.empty(WORLD, 1000) for _ in range(4)]
    works = [gather_into(single[i], t + i, async_op=True) for i in range(4)]
    for w in reversed(works):
        w.wait()
    for i in range(4):
        for r in range(WORLD):
            assert_same(single[i][r], make_input(r, torch.float32, (1000,)) + i, f"async #{i} {r}")
    single2 = torch.empty(WORLD, 1000)
    small = torch.arange(1000, dtype=torch.float32) + RANK  # no NaN: sums compare
    chained = gather_into(single2, small, async_op=True).get_future().then(
        lambda f: f.value()[0].sum())
    total = chained.wait()
    assert float(total) == float(sum((torch.arange(1000.0) + r).sum() for r in range(WORLD)))
    bw = dist.barrier(async_op=True)
    bw.wait()
    assert bw.is_completed()


def case_subgroups():
    """new_group -> group_create: several groups, overlapping, interleaved, async."""
    init()
    if WORLD == 4:
        specs = [[0, 1, 2], [1, 2, 3], [0, 3], [2]]
    else:
        specs = [[0, 1], [1, 2], [0, 2]]
    groups = [dist.new_group(s) for s in specs]  # every rank calls new_group, in order
    glgroups = [gloo_group(s) for s in specs]
    for round_ in range(2):
        pending = []
        for s, g, gl in zip(specs, groups, glgroups):
            if RANK not in s:
                continue
            t = make_input(RANK, torch.float32, (7,), salt=round_)
            outs = [torch.empty(7) for _ in s]
            refs = [torch.empty(7) for _ in s]
            w = dist.all_gather(outs, t, group=g, async_op=True)
            dist.all_gather(refs, t, group=gl)
            pending.append((w, outs, refs, s))
        world_out = [torch.empty(3, dtype=torch.int64) for _ in range(WORLD)]
        dist.all_gather(world_out, torch.full((3,), RANK, dtype=torch.int64))
        assert [int(o[0]) for o in world_out] == list(range(WORLD))
        for w, outs, refs, s in pending:
            w.wait()
            for i, r in enumerate(s):
                assert_same(outs[i], refs[i], f"group {s} block {i} vs gloo")
                assert_same(outs[i], make_input(r, torch.float32, (7,), salt=round_),
                            f"group {s} block {i}")
    # a group's rank order and into-tensor form
    g = groups[0]
    if RANK in specs[0]:
        out = torch.empty(len(specs[0]) * 2, dtype=torch.int16)
        gather_into(out, torch.full((2,), RANK, dtype=torch.int16), group=g)
        assert out.tolist() == [r for r in specs[0] for _ in range(2)], out.tolist()
        dist.barrier(group=g)
    dist.barrier()


def case_unsupported():
    init()
    t = torch.ones(3)
    calls = {
        "all_to_all_single": lambda: dist.all_to_all_single(torch.ones(WORLD), torch.ones(WORLD)),
        "all_to_all": lambda: dist.all_to_all([torch.ones(1) for _ in range(WORLD)],
                                              [torch.ones(1) for _ in range(WORLD)]),
        "send": lambda: dist.send(t, (RANK + 1) % WORLD),
        "recv": lambda: dist.recv(t, (RANK + 1) % WORLD),
        "scatter": lambda: dist.scatter(t, [torch.ones(3) for _ in range(WORLD)] if RANK == 0
                                        else None, src=0),
        "gather": lambda: dist.gather(t, [torch.ones(3) for _ in range(WORLD)] if RANK == 0
                                      else None, dst=0),
    }
    for name, call in calls.items():
        try:
            call()
        except RuntimeError as exc:
            msg = str(exc)
            assert "not supported by dlcoll" in msg and name in msg, f"{name}: {msg}"
        else:
            raise AssertionError(f"{name} did not raise")
    # the backend still works afterwards
    out = [torch.empty(3) for _ in range(WORLD)]
    dist.all_gather(out, t)
    # local argument errors: wrong list length, wrong dtype, CUDA-less device checks
    for bad in ([torch.empty(3)] * (WORLD + 1), [torch.empty(3, dtype=torch.int32)] * WORLD):
        try:
            dist.all_gather(bad, t)
        except (RuntimeError, ValueError) as exc:
            assert "dlcoll" in str(exc) or "size" in str(exc) or "dtype" in str(exc), str(exc)
        else:
            raise AssertionError("bad output list did not raise")
    dist.all_gather(out, t)
    dist.barrier()


def expect_failure(call, words, limit_s):
    """call must raise RuntimeError mentioning one of words, within limit_s."""
    start = time.monotonic()
    try:
        call()
    except RuntimeError as exc:
        took = time.monotonic() - start
        msg = str(exc)
        print(f"rank {RANK}: raised after {took:.1f} s: {msg}")
        assert "dlcoll" in msg, msg
        assert any(w in msg for w in words), f"expected one of {words} in: {msg}"
        assert took < limit_s, f"took {took:.1f} s, the timeout is {limit_s} s"
        return
    raise AssertionError("the collective did not fail")


def case_mismatch():
    """Rank 0 sends a different size: every rank gets an exception."""
    init(timeout_s=30)
    n = 8 if RANK == 0 else 4
    outs = [torch.empty(n) for _ in range(WORLD)]
    expect_failure(lambda: dist.all_gather(outs, torch.ones(n)), ["MISMATCH", "bytes", "expected"], 30)


def case_killed():
    """The last rank dies before the collective: the others get an exception."""
    init(timeout_s=30)
    dist.all_gather([torch.empty(2) for _ in range(WORLD)], torch.ones(2))  # all alive here
    if RANK == WORLD - 1:
        os._exit(17)  # the parent expects exactly this status
    out = [torch.empty(1000) for _ in range(WORLD)]
    expect_failure(lambda: dist.all_gather(out, torch.ones(1000)),
                   ["PEER", "exited", "died", "TIMEOUT", "timed out"], 30)


def case_group_timeout():
    """A group's own (shorter) timeout bounds its collectives."""
    init(timeout_s=120)
    g = dist.new_group([0, 1], timeout=datetime.timedelta(seconds=3))
    if RANK == 0:  # rank 1 never joins this collective; it waits in leave_together()
        expect_failure(lambda: dist.all_gather([torch.empty(2), torch.empty(2)], torch.ones(2), group=g),
                       ["TIMEOUT", "timed out"], 60)


def case_teardown():
    """destroy_process_group while the backend's progress thread still
    finishes Works that Python dropped at once (freeing their tensors takes
    the GIL, which the destroying thread holds), then a normal interpreter
    exit: no hang (faulthandler ends a hung rank), and results stay right."""
    import faulthandler
    faulthandler.dump_traceback_later(TIMEOUT_S, exit=True)
    init()
    group = dist.new_group(list(range(WORLD)))  # a second dlcoll backend
    t = make_input(RANK, torch.float32, (64,))
    for i in range(400):
        gather_into(torch.empty(WORLD * 64), t, async_op=True)  # Work dropped
        if i % 4 == 0:
            dist.all_gather([torch.empty(64) for _ in range(WORLD)], t, group=group,
                            async_op=True)
    out = torch.empty(WORLD * 64)
    gather_into(out, t)
    for r in range(WORLD):
        assert_same(out[r * 64:(r + 1) * 64], make_input(r, torch.float32, (64,)),
                    f"teardown: block {r}")
    for i in range(200):  # more in flight while the groups are destroyed
        gather_into(torch.empty(WORLD * 64), t, async_op=True)
    dist.destroy_process_group(group)
    dist.destroy_process_group()
    faulthandler.cancel_dump_traceback_later()


def leave_together(ranks_alive):
    """Wait (through the store, not dlcoll) until every live rank is done, so
    no rank exits while another still has a collective in flight; rank 0,
    which serves the TCPStore, leaves last."""
    store = dist.distributed_c10d._get_default_store()
    deadline = time.monotonic() + TIMEOUT_S

    def wait_count(key, n):
        while store.add(key, 0) < n:
            assert time.monotonic() < deadline, f"store barrier {key}: timed out"
            time.sleep(0.01)

    store.add("test/finished", 1)
    wait_count("test/finished", ranks_alive)
    if RANK != 0:
        store.add("test/left", 1)
    else:
        wait_count("test/left", ranks_alive - 1)


def main():
    case = sys.argv[1]
    if case == "teardown":
        # The groups are destroyed by the case, and the interpreter exits the
        # normal way (atexit, module teardown): that is what it tests.
        globals()["case_" + case]()
        print(f"rank {RANK}: {case} ok")
        return
    try:
        globals()["case_" + case]()
        leave_together(WORLD - 1 if case == "killed" else WORLD)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(f"rank {RANK}: {case} ok")
    sys.stdout.flush()
    # Leave without tearing the groups down one by one: a failed communicator's
    # teardown is not what these cases test, and rank processes must not hang.
    os._exit(0)


if __name__ == "__main__":
    main()
