"""One rank of the drop-in library tests (test_dropin.py), started by mpirun.

MindSpore's own API only: mindspore.communication.init() with no MS_ROLE (the
Open MPI route), ops.AllGather in PyNative and Graph mode, create_group +
mint.distributed.all_gather on subgroups.  Every result is compared byte for
byte with numpy.concatenate of what each rank sent (every rank computes every
other rank's input from a seed).  The drop-in library's counter of gathers
done through dlcoll must equal the number of gathers issued, so the test
cannot pass through MindSpore's own libmpi_collective.so.

Environment: DLCOLL_DROPIN_LIB (the drop-in .so), DLCOLL_DROPIN_LOAD
("ctypes": load it here before init; "preload": it came through LD_PRELOAD),
the plugin's (DLCOLL_PLUGIN, DLCOLL_INIT_METHOD) and Open MPI's.
Usage: ms_dropin_worker.py CASE   (gather | no_rendezvous)
"""
import ctypes
import os
import sys

import numpy as np

LIB_PATH = os.environ["DLCOLL_DROPIN_LIB"]
LOAD = os.environ.get("DLCOLL_DROPIN_LOAD", "ctypes")

if LOAD == "ctypes":
    # Before MindSpore dlopen()s "libmpi_collective.so": glibc then returns this
    # object, whose SONAME is that name, instead of the wheel's MPI library.
    DROPIN = ctypes.CDLL(LIB_PATH, mode=ctypes.RTLD_GLOBAL)
else:
    real = os.path.realpath(LIB_PATH)
    with open("/proc/self/maps") as maps:
        assert any(line.rstrip().endswith(real) for line in maps), f"{real} was not preloaded"
    # The library took itself out of LD_PRELOAD so that child processes do not load it.
    assert LIB_PATH not in os.environ.get("LD_PRELOAD", ""), os.environ.get("LD_PRELOAD")
    DROPIN = ctypes.CDLL(LIB_PATH)  # the preloaded copy
DROPIN.dlcoll_ms_dropin_allgather_count.restype = ctypes.c_uint64
DROPIN.dlcoll_ms_dropin_reduce_count.restype = ctypes.c_uint64
DROPIN.dlcoll_ms_dropin_broadcast_count.restype = ctypes.c_uint64

import mindspore as ms  # noqa: E402
from mindspore import nn, ops  # noqa: E402
from mindspore.communication import GlobalComm, create_group, get_group_size, get_rank, init  # noqa: E402
import mindspore.mint.distributed as mdist  # noqa: E402

# The dtypes MindSpore 2.10's CPU AllGather kernel takes as they are.  (It
# also accepts int64 and float64 tensors, but casts them to int32 / float32
# before the library sees them, so their results are lossy by MindSpore's
# design; int8, uint8, bool, ... fail in MindSpore's kernel selection.)
DTYPES = [np.float32, np.float16, np.int32]
SHAPES = [(2, 3), (5,), (1, 4, 3), (7, 1, 2), (1,)]


def rank_input(rank, dtype, shape, seed):
    """What rank sends for (dtype, shape, seed): every rank can compute it."""
    rng = np.random.default_rng([rank, seed, len(shape), int(np.prod(shape))])
    if np.issubdtype(dtype, np.floating):
        return (rng.standard_normal(shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def check_same(label, got, want):
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
        raise AssertionError(f"{label}: got {got.dtype}{got.shape} {got.ravel()[:8]}..., "
                             f"want {want.dtype}{want.shape} {want.ravel()[:8]}...")


class GatherTwice(nn.Cell):
    """Two gathers inside one compiled graph."""

    def __init__(self):
        super().__init__()
        self.gather = ops.AllGather()

    def construct(self, x, y):
        return self.gather(x), self.gather(y)


def case_gather(rank, size):
    issued = 0
    seed = 0
    # PyNative: MindSpore's own ops.AllGather on the world group.
    for dtype in DTYPES:
        for shape in SHAPES:
            seed += 1
            x = rank_input(rank, dtype, shape, seed)
            y = ops.AllGather()(ms.Tensor(x)).asnumpy()
            issued += 1
            want = np.concatenate([rank_input(r, dtype, shape, seed) for r in range(size)])
            check_same(f"PyNative {np.dtype(dtype).name}{shape}", y, want)

    # Graph mode: two gathers in one graph.
    ms.set_context(mode=ms.GRAPH_MODE)
    net = GatherTwice()
    for dtype in (np.float32, np.int32):
        seed += 1
        xa = rank_input(rank, dtype, (3, 2), seed)
        xb = rank_input(rank, dtype, (4,), seed + 1000)
        ya, yb = net(ms.Tensor(xa), ms.Tensor(xb))
        issued += 2
        check_same(f"Graph {np.dtype(dtype).name} a", ya.asnumpy(),
                   np.concatenate([rank_input(r, dtype, (3, 2), seed) for r in range(size)]))
        check_same(f"Graph {np.dtype(dtype).name} b", yb.asnumpy(),
                   np.concatenate([rank_input(r, dtype, (4,), seed + 1000) for r in range(size)]))
    ms.set_context(mode=ms.PYNATIVE_MODE)

    # Subgroups (MindSpore's CPU ops.AllGather takes only the world group;
    # mint.distributed.all_gather takes any).  Group rank i is ranks[i].
    groups = {"dropin_rev": [size - 1, 0]}
    if size >= 4:
        groups["dropin_three"] = [2, 3, 1]
    for name, ranks in groups.items():
        seed += 10  # the same on every rank, member or not
        if rank not in ranks:
            continue
        create_group(name, ranks)
        for k, dtype in enumerate((np.float32, np.int64)):
            x = rank_input(rank, dtype, (2, 3), seed + k)
            outs = [ms.Tensor(np.zeros((2, 3), dtype)) for _ in ranks]
            mdist.all_gather(outs, ms.Tensor(x), group=name)
            issued += 1
            for i, r in enumerate(ranks):
                check_same(f"group {name} {np.dtype(dtype).name} block {i}", outs[i].asnumpy(),
                           rank_input(r, dtype, (2, 3), seed + k))

    # MindSpore's own AllReduce (sum: what its CPU kernel takes) and Broadcast
    # (ops.Broadcast and mint.distributed.broadcast) go through dlcoll too.
    reduces = broadcasts = 0
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for shape in ((5,), (3, 4), (1,)):
        seed += 1
        x = rank_input(rank, np.float32, shape, seed)
        y = ops.AllReduce()(ms.Tensor(x)).asnumpy()
        reduces += 1
        ins = [rank_input(r, np.float32, shape, seed) for r in range(size)]
        # Within the documented bound of the float64 sum (docs/abi.md section 15;
        # ms_worker.py's reductions case checks the exact order bit for bit).
        ref = sum(a.astype(np.float64) for a in ins)
        bound = (size - 1) * 2.0 ** -24 * sum(np.abs(a.astype(np.float64)) for a in ins) + 2.0 ** -24 * np.abs(ref)
        assert np.all(np.abs(y.astype(np.float64) - ref) <= bound), f"AllReduce {shape}: beyond the bound"
        everyone = ops.AllGather()(ms.Tensor(y.view(np.int32).ravel())).asnumpy().reshape(size, -1)
        issued += 1
        assert all(np.array_equal(everyone[0], row) for row in everyone), f"AllReduce {shape}: ranks differ"
        root = seed % size
        b = ops.Broadcast(root)((ms.Tensor(x),))[0].asnumpy()
        broadcasts += 1
        check_same(f"Broadcast root {root} {shape}", b, rank_input(root, np.float32, shape, seed))
        t = ms.Tensor(np.full(shape, rank, np.int32))
        mdist.broadcast(t, (root + 1) % size)
        broadcasts += 1
        check_same(f"mint broadcast {shape}", t.asnumpy(), np.full(shape, (root + 1) % size, np.int32))

    # A collective the library does not implement: a clean error, and the
    # next gather still works.
    try:
        outs = [ms.Tensor(np.zeros((2,), np.float32)) for _ in range(size)]
        mdist.gather(ms.Tensor(np.ones((2,), np.float32)), outs, dst=0)
        _ = outs[0].asnumpy()
    except RuntimeError as e:
        print(f"Gather refused: {str(e).splitlines()[0]}", flush=True)
    else:
        raise AssertionError("Gather through the drop-in library did not fail")
    seed += 1
    x = rank_input(rank, np.float32, (3,), seed)
    y = ops.AllGather()(ms.Tensor(x)).asnumpy()
    issued += 1
    check_same("after the refused Gather", y,
               np.concatenate([rank_input(r, np.float32, (3,), seed) for r in range(size)]))

    assert DROPIN.dlcoll_ms_dropin_reduce_count() == reduces, "not every AllReduce went through dlcoll"
    assert DROPIN.dlcoll_ms_dropin_broadcast_count() == broadcasts, "not every Broadcast went through dlcoll"
    done = DROPIN.dlcoll_ms_dropin_allgather_count()
    assert done == issued, f"the drop-in library did {done} gathers, {issued} were issued"
    print(f"dropin gather: ok rank {rank} of {size} ({done} gathers through dlcoll)", flush=True)


def main():
    case = sys.argv[1]
    ms.set_device("CPU")
    if case == "no_rendezvous":
        try:
            init()
        except RuntimeError as e:
            print(f"no_rendezvous: init raised: {str(e).splitlines()[0]}", flush=True)
            return 0
        raise AssertionError("init() succeeded without a rendezvous")
    init()
    rank, size = get_rank(), get_group_size()
    assert rank == int(os.environ["OMPI_COMM_WORLD_RANK"]), (rank, os.environ["OMPI_COMM_WORLD_RANK"])
    assert size == int(os.environ["OMPI_COMM_WORLD_SIZE"]), (size, os.environ["OMPI_COMM_WORLD_SIZE"])
    assert GlobalComm.WORLD_COMM_GROUP == "mccl_world_group", GlobalComm.WORLD_COMM_GROUP
    if case == "gather":
        case_gather(rank, size)
    else:
        raise SystemExit(f"unknown case {case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
