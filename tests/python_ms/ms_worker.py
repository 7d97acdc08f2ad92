"""One rank of a multi-process dlcoll.mindspore test.

    python ms_worker.py CASE

The rank, world size and rendezvous come from the MindSpore environment the
test sets (MS_ROLE, MS_NODE_ID, MS_WORKER_NUM, MS_SCHED_HOST, MS_SCHED_PORT),
exactly as a MindSpore launcher would.  Every rank runs the same CASE
function; inputs are a deterministic function of (rank, dtype, shape), so each
rank computes what every other rank sent and checks the gathered result
byte for byte against numpy.concatenate of those inputs, in group-rank order.
A rank exits 0 when all its checks passed; a failed check raises (exit 1).
"""
import os
import sys
import time

import numpy as np
import mindspore as ms

from dlcoll import mindspore as comm

CASE = sys.argv[1]
DTYPES = list(comm.SUPPORTED_DTYPES)
SHAPES = [(2, 3), (1,), (5, 7, 2), (0,), (0, 4), (3, 0, 2), (64, 33)]


def make_input(rank, dtype, shape):
    """Rank rank's input as numpy: random bits (finite floats) from a fixed seed."""
    seed = 1000003 * (rank + 1) + 31 * len(shape) + sum(shape) + DTYPES.index(dtype)
    rng = np.random.default_rng(seed)
    if dtype == ms.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype == ms.bfloat16:
        # float32 values whose low 16 bits are zero convert to bfloat16 exactly.
        bits = rng.integers(0, 2 ** 31, shape, dtype=np.uint32) & 0xBF7F0000
        return bits.view(np.float32)
    np_dtype = ms.dtype_to_nptype(dtype)
    if np.issubdtype(np_dtype, np.floating):
        return rng.uniform(-1e3, 1e3, shape).astype(np_dtype)
    info = np.iinfo(np_dtype)
    return rng.integers(info.min, info.max, shape, dtype=np_dtype, endpoint=True)


def as_tensor(a, dtype):
    return ms.Tensor(a, dtype)


def as_bits(t, dtype):
    """The result's bytes as integers, for exact comparison."""
    a = t.astype(ms.float32).asnumpy() if dtype == ms.bfloat16 else t.asnumpy()
    a = np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return a.view(np.uint8)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize])


def check_gather(gather, ranks, dtype, shape):
    """Run gather on this rank's input; compare with the concatenation over ranks."""
    me = comm.get_rank()  # world rank
    x = as_tensor(make_input(me, dtype, shape), dtype)
    y = gather(x)
    want_shape = (len(ranks) * shape[0],) + tuple(shape[1:])
    assert tuple(y.shape) == want_shape, (dtype, shape, y.shape, want_shape)
    assert y.dtype == dtype, (y.dtype, dtype)
    expect = np.concatenate([make_input(r, dtype, shape) for r in ranks], axis=0)
    want = as_bits(as_tensor(expect, dtype), dtype)
    got = as_bits(y, dtype)
    assert got.shape == want.shape and np.array_equal(got, want), \
        f"{dtype} {shape}: gathered data differs from numpy.concatenate of the ranks' inputs"


# ------------------------------------------------------------------ cases


def case_env():
    comm.init()
    world = int(os.environ["MS_WORKER_NUM"])
    assert comm.get_rank() == int(os.environ["MS_NODE_ID"])
    assert comm.get_group_size() == world
    assert comm.get_world_group() == "dlcoll_world_group"
    assert comm.get_group_size("nccl_world_group") == world   # MindSpore's names mean the world
    assert comm.get_group_ranks() == list(range(world))
    comm.release()


def case_dtypes_pynative():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    comm.init()
    world = comm.get_group_size()
    gather = comm.AllGather()
    for dtype in DTYPES:
        for shape in SHAPES:
            check_gather(gather, list(range(world)), dtype, shape)
    comm.release()


def case_graph():
    ms.set_context(mode=ms.GRAPH_MODE)
    comm.init()
    world = comm.get_group_size()

    class Net(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.gather = comm.AllGather()

        def construct(self, x):
            return self.gather(x)

    net = Net()
    for dtype in (ms.float32, ms.int64, ms.bfloat16, ms.bool_):
        for shape in ((4, 3), (1,), (0, 2)):
            check_gather(net, list(range(world)), dtype, shape)

    class Twice(ms.nn.Cell):
        """Two gathers and arithmetic in one graph: (x gathered) then gathered again."""
        def __init__(self):
            super().__init__()
            self.gather = comm.AllGather()

        def construct(self, x):
            return self.gather(self.gather(x) * 2)

    x = np.full((2, 3), comm.get_rank(), np.float32)
    y = Twice()(ms.Tensor(x)).asnumpy()
    once = np.concatenate([np.full((2, 3), r, np.float32) for r in range(world)]) * 2
    assert np.array_equal(y, np.concatenate([once] * world)), y

    # A subgroup in a graph, in a rank order that is not the world's.
    members = [2, 0]
    comm.create_group("pair", members)
    if comm.get_rank() in members:
        pair = Net.__new__(Net)
        ms.nn.Cell.__init__(pair)
        pair.gather = comm.AllGather("pair")
        for dtype in (ms.float64, ms.uint32):
            check_gather(pair, members, dtype, (3, 2))

    # A failing gather in Graph mode raises (sizes differ between ranks).
    rows = 2 if comm.get_rank() == 0 else 1
    try:
        net(ms.Tensor(np.zeros((rows, 3), np.float32))).asnumpy()
    except RuntimeError as e:
        assert "dlcoll AllGather" in str(e) or "AOT kernel" in str(e), e
        print("graph-mode mismatch error:", type(e).__name__, str(e).splitlines()[0])
    else:
        raise AssertionError("a size mismatch must raise in Graph mode too")
    os._exit(0)  # the world is failed after the mismatch: skip release


def case_subgroups():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    comm.init()
    me, world = comm.get_rank(), comm.get_group_size()
    assert world == 4
    pair = [2, 0]        # group rank 0 is world rank 2: order is rank_ids' order
    odd = [1, 3]
    trio = [3, 1, 2]
    assert comm.create_group("pair", pair) == "pair"
    comm.create_group("odd", odd)
    comm.create_group("trio", trio)
    for name, ranks in (("pair", pair), ("odd", odd), ("trio", trio)):
        assert comm.get_group_size(name) == len(ranks)
        assert comm.get_group_ranks(name) == ranks
        if me in ranks:
            assert comm.get_rank(name) == ranks.index(me)
            gather = comm.AllGather(name)
            for dtype in (ms.float32, ms.int8, ms.uint64, ms.bfloat16):
                for shape in ((3, 2), (0, 5), (1,)):
                    check_gather(gather, ranks, dtype, shape)
        else:
            try:
                comm.AllGather(name)
            except ValueError as e:
                assert "not a member" in str(e), e
            else:
                raise AssertionError("AllGather on a group this rank is not in must raise")
    # The world still works between group operations.
    check_gather(comm.AllGather(), list(range(world)), ms.int32, (2, 2))
    # A gather built on a destroyed group fails clearly, locally.
    if me in pair:
        stale = comm.AllGather("pair")
        comm.destroy_group("pair")
        try:
            stale(ms.Tensor(np.ones((1,), np.float32)))
        except comm.DlcollError as e:
            assert "destroyed" in str(e), e
        else:
            raise AssertionError("a gather on a destroyed group must raise")
    else:
        comm.destroy_group("pair")
    comm.destroy_group("odd")
    comm.destroy_group("trio")
    comm.release()


def case_subgroups_2():
    """Two ranks: the world and a reversed pair, every dtype, in PyNative."""
    comm.init()
    assert comm.get_group_size() == 2
    comm.create_group("reversed", [1, 0])
    assert comm.get_rank("reversed") == 1 - comm.get_rank()
    for dtype in DTYPES:
        check_gather(comm.AllGather(), [0, 1], dtype, (3, 2))
        check_gather(comm.AllGather("reversed"), [1, 0], dtype, (2, 5))
    comm.release()


def case_errors():
    comm.init()
    gather = comm.AllGather()
    for bad in (ms.int16, ms.uint8, ms.uint16, ms.complex64):
        try:
            gather(ms.Tensor(np.zeros((2,), ms.dtype_to_nptype(bad)), bad))
        except TypeError as e:
            assert "not supported" in str(e) and str(bad) in str(e), e
        else:
            raise AssertionError(f"{bad} must be refused")
    try:
        gather(ms.Tensor(np.float32(1.0)))
    except ValueError as e:
        assert "at least one dimension" in str(e), e
    else:
        raise AssertionError("a 0-d input must be refused")
    for bad_group in ("no-such-group",):
        try:
            comm.AllGather(bad_group)
        except ValueError as e:
            assert "unknown group" in str(e), e
        else:
            raise AssertionError("unknown group must raise")
    # Mismatched sizes: rank 0 sends 2 rows, the others 1: every rank gets an error.
    rows = 2 if comm.get_rank() == 0 else 1
    try:
        gather(ms.Tensor(np.zeros((rows, 3), np.float32)))
    except comm.DlcollError as e:
        print("mismatch error:", e)
        assert "dlcoll AllGather" in str(e), e
    else:
        raise AssertionError("a size mismatch must raise")
    comm.release()


def case_killed_rank():
    """The last rank dies (SIGKILL) after init; the others get an exception."""
    comm.init()
    me, world = comm.get_rank(), comm.get_group_size()
    gather = comm.AllGather()
    check_gather(gather, list(range(world)), ms.float32, (4, 4))
    if me == world - 1:
        os.kill(os.getpid(), 9)
    start = time.monotonic()
    try:
        for _ in range(50):
            gather(ms.Tensor(np.ones((1024,), np.float32)))
    except comm.DlcollError as e:
        print(f"rank {me}: got the error after {time.monotonic() - start:.1f} s: {e}")
        assert "rank" in str(e), e
    else:
        raise AssertionError("gathering with a dead rank must raise")
    os._exit(0)  # skip finalize: the world is broken


def _median_ms(fn, x, iters):
    for _ in range(3):
        fn(x).asnumpy()                     # warm-up (and connection set-up)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn(x).asnumpy()                     # asnumpy: wait for the result
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def case_compare_mccl():
    """MindSpore's own CPU AllGather (init("mccl"), scheduler process) and dlcoll's
    in the same processes: byte-identical results; with DLCOLL_MS_BENCH=1 also
    the median time of a 1 MiB-per-rank gather through each."""
    from mindspore import communication as mscomm, ops
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_device("CPU")
    mscomm.init("mccl")
    comm.init()          # rendezvous: DLCOLL_INIT_METHOD (the scheduler holds MS_SCHED_PORT)
    me, world = comm.get_rank(), comm.get_group_size()
    assert mscomm.get_rank() == me and mscomm.get_group_size() == world
    theirs, ours = ops.AllGather(), comm.AllGather()
    for dtype in (ms.int32, ms.float16, ms.float32):  # what the CPU AllGather kernel takes
        for shape in ((2, 3), (1,), (64, 33)):
            x = as_tensor(make_input(me, dtype, shape), dtype)
            a, b = as_bits(theirs(x), dtype), as_bits(ours(x), dtype)
            assert a.shape == b.shape and np.array_equal(a, b), (dtype, shape)
            check_gather(ours, list(range(world)), dtype, shape)
    if os.environ.get("DLCOLL_MS_BENCH") == "1":
        x = ms.Tensor(np.full((1 << 18,), me, np.float32))   # 1 MiB per rank
        iters = int(os.environ.get("DLCOLL_MS_BENCH_ITERS", "30"))
        t_ours = _median_ms(ours, x, iters)
        t_theirs = _median_ms(theirs, x, iters)
        print(f"bench: {world} ranks, 1 MiB/rank float32, median of {iters}: "
              f"dlcoll {t_ours:.3f} ms, mindspore mccl {t_theirs:.3f} ms")
    comm.release()


def case_scheduler():
    """MS_ROLE=MS_SCHED: init() serves the rendezvous, then ends the process (status 0)."""
    comm.init()
    raise AssertionError("init() returned in a scheduler process")


def case_no_scheduler():
    """MS_ROLE=MS_WORKER but no scheduler runs: init() fails clearly within the timeout."""
    start = time.monotonic()
    try:
        comm.init()
    except comm.DlcollError as e:
        assert "no MindSpore scheduler" in str(e), e
        print(f"no_scheduler: error after {time.monotonic() - start:.1f} s: {e}")
    else:
        raise AssertionError("init() without a scheduler must fail")



# ------------------------------------------------------------------ reductions and broadcast

RED_DTYPES = [ms.float32, ms.float64, ms.float16, ms.bfloat16, ms.int32, ms.int64, ms.int8,
              ms.uint32, ms.bool_]
RED_SHAPES = [(4, 3), (1,), (7,), (0,), (33, 5)]


def red_input(rank, dtype, shape, salt):
    """Small values, so that products of 4 ranks stay finite in float16."""
    rng = np.random.default_rng([rank, salt, DTYPES.index(dtype), int(np.prod(shape))])
    if dtype == ms.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if dtype in (ms.float16, ms.bfloat16, ms.float32, ms.float64):
        a = rng.uniform(-2, 2, shape)
        if dtype == ms.bfloat16:   # exactly representable in bfloat16
            a = (a.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)
        return a.astype(np.float32 if dtype == ms.bfloat16 else ms.dtype_to_nptype(dtype))
    info = np.iinfo(ms.dtype_to_nptype(dtype))
    return rng.integers(info.min, info.max, shape, dtype=ms.dtype_to_nptype(dtype), endpoint=True)


def ops_for(dtype):
    if dtype == ms.bool_:
        return ["sum", "prod", "min", "max", "band", "bor", "bxor"]
    if dtype in (ms.float16, ms.bfloat16, ms.float32, ms.float64):
        return ["sum", "prod", "min", "max", "avg"]
    return ["sum", "prod", "min", "max", "avg", "band", "bor", "bxor"]


def block_starts(count, n):
    """docs/abi.md section 15: allreduce block b starts at b*floor(count/n) + min(b, count mod n)."""
    return [b * (count // n) + min(b, count % n) for b in range(n + 1)]


def reduce_exact(inputs, op, dtype, owner_of):
    """The documented order, computed in numpy: element i (owned by rank b =
    owner_of[i]) is ((x_{b+1} op x_{b+2}) op ...) op x_b, accumulated in float32
    for float16 / bfloat16 and rounded once.  Integers wrap (numpy does)."""
    n = len(inputs)
    flat = [np.ascontiguousarray(x).ravel() for x in inputs]
    count = flat[0].size
    if dtype == ms.bool_:
        acc_t = np.bool_
    elif dtype in (ms.float16, ms.bfloat16):
        acc_t = np.float32
    else:
        acc_t = flat[0].dtype.type
    out = np.empty(count, acc_t)
    with np.errstate(over="ignore"):
        _reduce_elements(flat, op, n, acc_t, owner_of, out)
    return out


def _reduce_elements(flat, op, n, acc_t, owner_of, out):
    for i in range(out.size):
        b = owner_of[i]
        order = [(b + 1 + k) % n for k in range(n)]
        acc = acc_t(flat[order[0]][i])
        for r in order[1:]:
            v = acc_t(flat[r][i])
            if op in ("sum", "avg"):
                acc = (acc | v) if acc_t == np.bool_ else acc + v
            elif op == "prod":
                acc = (acc & v) if acc_t == np.bool_ else acc * v
            elif op == "min":
                acc = min(acc, v)
            elif op == "max":
                acc = max(acc, v)
            elif op == "band":
                acc = acc & v
            elif op == "bor":
                acc = acc | v
            elif op == "bxor":
                acc = acc ^ v
        if op == "avg" and np.issubdtype(acc_t, np.floating):
            acc = acc / acc_t(n)
        elif op == "avg":   # C division of the wrapped sum: truncates toward zero
            q = int(acc)
            acc = acc_t((abs(q) // n) * (1 if q >= 0 else -1))
        out[i] = acc


def to_ms(a, dtype):
    return ms.Tensor(a.astype(np.float32), ms.bfloat16) if dtype == ms.bfloat16 else ms.Tensor(a, dtype)


def same_on_every_rank(label, t, dtype):
    """Gather the result's bytes from every rank: they must be identical."""
    bits = as_bits(t, dtype).ravel()
    if bits.size == 0:
        return
    everyone = comm.AllGather()(ms.Tensor(bits.astype(np.int64))).asnumpy().reshape(comm.get_group_size(), -1)
    assert all(np.array_equal(everyone[0], row) for row in everyone), f"{label}: results differ across ranks"


def check_reduction(kind, dtype, op, shape, salt):
    world, me = comm.get_group_size(), comm.get_rank()
    if kind == "allreduce":
        ins = [red_input(r, dtype, shape, salt) for r in range(world)]
        starts = block_starts(int(np.prod(shape)), world)
        owner = [next(b for b in range(world) if starts[b] <= i < starts[b + 1])
                 for i in range(int(np.prod(shape)))]
        y = comm.AllReduce(op)(to_ms(ins[me], dtype))
        want = reduce_exact(ins, op, dtype, owner).reshape(shape)
    else:   # reduce_scatter: input (N*s0, ...), rank me gets block me
        full = (world * shape[0],) + tuple(shape[1:])
        ins = [red_input(r, dtype, full, salt) for r in range(world)]
        mine = [x.reshape(world, -1)[me] for x in ins]
        y = comm.ReduceScatter(op)(to_ms(ins[me], dtype))
        want = reduce_exact(mine, op, dtype, [me] * mine[0].size).reshape(shape)
    label = f"{kind} {op} {dtype} {shape}"
    assert tuple(y.shape) == tuple(shape) and y.dtype == dtype, (label, y.shape, y.dtype)
    got = as_bits(y, dtype)
    exp = as_bits(to_ms(want, dtype), dtype)     # float16/bfloat16: rounded once, by MindSpore's cast
    if dtype == ms.bfloat16 or (dtype == ms.float16 and op == "avg"):
        # want is the documented float32 accumulation, emulated exactly; the one
        # rounding to the dtype may differ from MindSpore's cast by one unit of
        # the dtype's precision (u_out = 2^-8 bfloat16, 2^-11 float16).
        u_out = 2.0 ** -8 if dtype == ms.bfloat16 else 2.0 ** -11
        ref = np.asarray(want, np.float64)
        gotv = y.astype(ms.float32).asnumpy().astype(np.float64)
        assert np.all(np.abs(gotv - ref) <= 2 * u_out * np.abs(ref)), f"{label}: more than one rounding off"
    else:
        assert np.array_equal(got, exp), f"{label}: differs from the documented reduction order"
    if kind == "allreduce":   # (reduce_scatter: each rank has its own block)
        same_on_every_rank(label, y, dtype)
    if dtype in (ms.float32, ms.float64) and op in ("sum", "avg") and kind == "allreduce":
        # And against a float64 reference with the documented bound.
        ref = sum(np.asarray(x, np.float64) for x in ins) / (world if op == "avg" else 1)
        u = 2.0 ** -24 if dtype == ms.float32 else 2.0 ** -53
        bound = (world - 1) * u * sum(np.abs(np.asarray(x, np.float64)) for x in ins) + 2 * u * np.abs(ref)
        assert np.all(np.abs(y.asnumpy().astype(np.float64) - ref) <= bound), f"{label}: beyond the bound"


def case_reductions():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    comm.init()
    salt = 0
    for dtype in RED_DTYPES:
        for op in ops_for(dtype):
            for shape in RED_SHAPES:
                salt += 1
                check_reduction("allreduce", dtype, op, shape, salt)
            salt += 1
            check_reduction("reduce_scatter", dtype, op, (3, 2), salt)
    # Broadcast from every root, tensors and tuples.
    world, me = comm.get_group_size(), comm.get_rank()
    for root in range(world):
        for dtype in (ms.float32, ms.int64, ms.bfloat16, ms.bool_):
            x = red_input(me, dtype, (5, 3), 900 + root)
            y = comm.Broadcast(root)(to_ms(x, dtype))
            want = as_bits(to_ms(red_input(root, dtype, (5, 3), 900 + root), dtype), dtype)
            assert np.array_equal(as_bits(y, dtype), want), f"broadcast root {root} {dtype}"
        a, b = comm.Broadcast(root)((ms.Tensor(np.full(3, me, np.int32)), ms.Tensor(np.full(2, me * 0.5))))
        assert (a.asnumpy() == root).all() and (b.asnumpy() == root * 0.5).all(), ("tuple", root)
    # A subgroup: group rank i is ranks[i]; root 1 of the group is world rank ranks[1].
    if world >= 3:
        ranks = [world - 1, 0, 1]
        comm.create_group("red3", ranks)
        if me in ranks:
            x = ms.Tensor(np.arange(6, dtype=np.float32) * (me + 1))
            y = comm.AllReduce("sum", "red3")(x).asnumpy()
            assert np.array_equal(y, np.arange(6, dtype=np.float32) * float(sum(r + 1 for r in ranks))), y
            z = comm.Broadcast(1, "red3")(ms.Tensor(np.full(4, me, np.int32))).asnumpy()
            assert (z == ranks[1]).all(), z
        comm.destroy_group("red3")
    # Errors: a bad op name and a bad root, on this rank, before anything is sent.
    for bad in (lambda: comm.AllReduce("xor"), lambda: comm.Broadcast(world)):
        try:
            bad()
        except ValueError as e:
            print(f"refused: {e}", flush=True)
        else:
            raise AssertionError("a bad reduction or root was accepted")
    comm.release()


class ReduceNet(ms.nn.Cell):
    """Graph mode: allreduce, reduce-scatter and broadcast in one compiled graph."""

    def __init__(self):
        super().__init__()
        self.ar = comm.AllReduce("sum")
        self.rs = comm.ReduceScatter("max")
        self.bc = comm.Broadcast(0)

    def construct(self, x, y):
        return self.ar(x), self.rs(y), self.bc(x)


def case_reductions_graph():
    ms.set_context(mode=ms.GRAPH_MODE)
    comm.init()
    world, me = comm.get_group_size(), comm.get_rank()
    net = ReduceNet()
    for step in range(3):
        x = np.arange(8, dtype=np.float32) + 10 * me + step
        y = (np.arange(world * 2, dtype=np.int32) * (me + 1)).reshape(world * 2, 1)
        a, b, c = net(ms.Tensor(x), ms.Tensor(y))
        want_a = sum(np.arange(8, dtype=np.float32) + 10 * r + step for r in range(world))
        assert np.array_equal(a.asnumpy(), want_a), (a, want_a)
        want_b = (np.arange(world * 2, dtype=np.int32) * world).reshape(world, 2, 1)[me]
        assert np.array_equal(b.asnumpy(), want_b), (b, want_b)
        assert np.array_equal(c.asnumpy(), np.arange(8, dtype=np.float32) + step), c
    comm.release()

if __name__ == "__main__":
    if os.environ.get("MS_ROLE") == "MS_SCHED" and CASE == "compare_mccl":
        from mindspore import communication as mscomm
        ms.set_device("CPU")
        mscomm.init("mccl")   # MindSpore's scheduler: serves its cluster until the workers exit
    elif os.environ.get("MS_ROLE") == "MS_SCHED":
        case_scheduler()
    else:
        globals()["case_" + CASE]()
    print(f"{CASE}: ok")
