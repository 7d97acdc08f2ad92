"""dlcoll.mindspore: dlcoll as a MindSpore communication backend.

Mirrors ``mindspore.communication``::

    import mindspore as ms
    from dlcoll import mindspore as comm
    comm.init()                              # same environment as mindspore.communication.init
    y = comm.AllGather()(x)                  # (N*x0, x1, ...), like ops.AllGather
    s = comm.AllReduce("sum")(x)             # like ops.AllReduce; also prod/min/max/avg/band/bor/bxor
    b = comm.ReduceScatter("avg")(y)         # (N*x0, ...) -> (x0, ...), like ops.ReduceScatter
    w = comm.Broadcast(0)(x)                 # root 0's x on every rank, like ops.Broadcast
    g = comm.create_group("pair", [0, 1]); y = comm.AllGather(g)(x)

Each collective is a MindSpore AOT custom op (``ops.Custom(func_type="aot")``)
whose kernel, e.g. ``dlcoll_ms_allgather`` in the C helper library
``libdlcoll_ms.so`` (csrc/dlcoll_ms.c), hands MindSpore's input and output
buffers to the plugin as DLPack tensors: the plugin receives straight into
MindSpore's output.  Python reaches the same library through ctypes for
init / groups / finalize; the communicators are process-global.

Environment (read by init(), like MindSpore's own init):
  MS_ROLE        MS_SCHED: init() serves the rendezvous store on
                 MS_SCHED_HOST:MS_SCHED_PORT until MS_WORKER_NUM workers have
                 come and gone, then ends the process (as MindSpore's does).
                 MS_WORKER: the workers bootstrap through that scheduler
                 (unless DLCOLL_INIT_METHOD is set).  Unset (e.g. under
                 dlcoll-run): the plugin's own resolution, where rank 0 serves
                 the store (on MS_SCHED_HOST:MS_SCHED_PORT if nothing else).
  RANK_ID / MS_NODE_ID (numeric), RANK_SIZE / MS_WORKER_NUM, MS_SCHED_HOST,
  MS_SCHED_PORT; the DLCOLL_* variables (docs/abi.md) take precedence.
  DLCOLL_MS_HELPER  path of libdlcoll_ms.so (default: next to the plugin of
                 the build tree, else built from csrc/ with cc at first use).
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile
import threading

import numpy as np
import mindspore as ms
from mindspore import nn, ops
from mindspore.common.api import _pynative_executor

from .. import plugin_path
from . import _sched_store

__all__ = ["init", "release", "is_initialized", "is_scheduler", "get_rank", "get_group_size",
           "get_world_group", "create_group", "destroy_group", "get_group_ranks",
           "AllGather", "AllReduce", "ReduceScatter", "Broadcast", "DlcollError",
           "SUPPORTED_DTYPES", "REDUCE_OPS", "helper_path"]

WORLD_GROUP = "dlcoll_world_group"
# Names MindSpore uses for its world group: all mean the world here.
_WORLD_ALIASES = {WORLD_GROUP, "hccl_world_group", "nccl_world_group", "mccl_world_group"}

# Every dtype MindSpore's own AllGather accepts (check_collective_target_dtype
# in mindspore/ops/operations/comm_ops.py, 2.10: the CPU/Ascend list plus the
# GPU list).  Anything else is refused with a TypeError before any kernel runs.
SUPPORTED_DTYPES = (ms.bool_, ms.int8, ms.int32, ms.int64, ms.uint32, ms.uint64,
                    ms.float16, ms.float32, ms.float64, ms.bfloat16)


class DlcollError(RuntimeError):
    """A dlcoll operation failed; the message names the group, the rank and the cause."""


# ------------------------------------------------------------------ the helper library

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.path.join(_HERE, "csrc", "dlcoll_ms.c")
_lib = None
_lib_path = None
_lock = threading.Lock()


def _build_helper():
    """Compile csrc/dlcoll_ms.c with the system C compiler into ~/.cache/dlcoll."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))  # python/dlcoll/mindspore -> repo
    header = os.path.join(repo, "abi", "dlcoll.h")
    if not (os.path.exists(_SOURCE) and os.path.exists(header)):
        raise DlcollError("dlcoll.mindspore: libdlcoll_ms.so not found and no source to build it "
                          f"from ({_SOURCE}); build the project with CMake or set DLCOLL_MS_HELPER")
    h = hashlib.sha256()
    for path in (_SOURCE, header, os.path.join(repo, "abi", "dlcoll_loader.h")):
        with open(path, "rb") as f:
            h.update(f.read())
    digest = h.hexdigest()[:16]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                         "dlcoll", "ms-helper-" + digest)
    target = os.path.join(cache, "libdlcoll_ms.so")
    if os.path.exists(target):
        return target
    os.makedirs(cache, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so")
    os.close(fd)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
           "-I" + repo, "-o", tmp, _SOURCE, "-ldl", "-lpthread"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        os.unlink(tmp)
        raise DlcollError(f"dlcoll.mindspore: building the helper failed: {' '.join(cmd)}\n{r.stderr}")
    os.replace(tmp, target)  # atomic: concurrent ranks may build at once
    return target


def helper_path():
    """The libdlcoll_ms.so this process uses (see the module docstring)."""
    env = os.environ.get("DLCOLL_MS_HELPER")
    if env:
        return env
    for d in (_HERE, os.path.dirname(plugin_path())):
        p = os.path.join(d, "libdlcoll_ms.so")
        if os.path.exists(p):
            return os.path.abspath(p)
    return _build_helper()


def _load():
    global _lib, _lib_path
    if _lib is None:
        path = helper_path()
        lib = ctypes.CDLL(path)
        lib.dlcoll_ms_last_error.restype = ctypes.c_char_p
        lib.dlcoll_ms_status_string.restype = ctypes.c_char_p
        lib.dlcoll_ms_init.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                       ctypes.c_char_p, ctypes.c_void_p]
        lib.dlcoll_ms_group_create.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                                               ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                               ctypes.POINTER(ctypes.c_int)]
        _lib, _lib_path = lib, os.path.realpath(path)
    return _lib


def _check(rc):
    if rc != 0:
        raise DlcollError(_lib.dlcoll_ms_last_error().decode(errors="replace"))


# ------------------------------------------------------------------ state

class _Group:
    def __init__(self, name, ranks, slot, generation, rank, size):
        self.name, self.ranks = name, list(ranks)
        self.slot, self.generation = slot, generation   # -1: this rank is not a member
        self.rank, self.size = rank, size


_groups = {}           # name -> _Group
_scheduler = False
_store = None          # the connection to the MS_SCHED process's store, when used


def _sched_env():
    try:
        return (os.environ["MS_SCHED_HOST"], int(os.environ["MS_SCHED_PORT"]),
                int(os.environ["MS_WORKER_NUM"]))
    except (KeyError, ValueError) as e:
        raise DlcollError("dlcoll.mindspore.init: MS_ROLE is set, so MS_SCHED_HOST, MS_SCHED_PORT "
                          f"and MS_WORKER_NUM must be too (numeric port and count): {e}") from e


def is_scheduler():
    """True in a MS_ROLE=MS_SCHED process (whose init() does not return)."""
    return _scheduler


def is_initialized():
    return _lib is not None and bool(_lib.dlcoll_ms_is_initialized())


def init(backend_name=None):
    """Create the world communicator from the environment (like mindspore.communication.init).

    backend_name is accepted for symmetry with MindSpore and must be None or
    "dlcoll".  Blocks until every rank has called init() (or the timeout,
    DLCOLL_TIMEOUT ms, passes).  Raises DlcollError on failure.
    """
    global _scheduler, _store
    if backend_name not in (None, "dlcoll"):
        raise ValueError(f"dlcoll.mindspore.init: backend_name must be None or 'dlcoll', got {backend_name!r}")
    role = os.environ.get("MS_ROLE")
    timeout_s = int(os.environ.get("DLCOLL_TIMEOUT", "300000")) / 1e3
    if role == "MS_SCHED":
        # Like MindSpore's scheduler: serve the rendezvous until every worker is
        # gone, then end the process (init() does not return in a scheduler).
        _scheduler = True
        host, port, workers = _sched_env()
        rc = _sched_store.serve(host, port, workers, timeout_s)
        if rc != 0:
            print(f"dlcoll.mindspore scheduler: not all {workers} workers connected to "
                  f"{host}:{port} within {timeout_s:.0f} s", flush=True)
        os._exit(rc)
    if role not in (None, "MS_WORKER"):
        raise ValueError(f"dlcoll.mindspore.init: MS_ROLE={role!r}: expected MS_WORKER or MS_SCHED")
    with _lock:
        lib = _load()
        if lib.dlcoll_ms_is_initialized():
            raise DlcollError("dlcoll.mindspore.init: already initialized (call release() first)")
        store = None
        if role == "MS_WORKER" and not os.environ.get("DLCOLL_INIT_METHOD"):
            # MindSpore's contract: a scheduler process serves the rendezvous.
            host, port, _ = _sched_env()
            try:
                _store = _sched_store.SchedulerStore(host, port, timeout_s)
            except ConnectionError as e:
                raise DlcollError(f"dlcoll.mindspore.init: {e}") from e
            store = _store.as_parameter
        rc = lib.dlcoll_ms_init(plugin_path().encode(), -1, -1, 0, None, store)
        if rc != 0 and _store is not None:
            _store.close()
            _store = None
        _check(rc)
        rank, size = ctypes.c_int(), ctypes.c_int()
        _check(lib.dlcoll_ms_comm_info(0, ctypes.byref(rank), ctypes.byref(size)))
        _groups.clear()
        _groups[WORLD_GROUP] = _Group(WORLD_GROUP, range(size.value), 0,
                                      lib.dlcoll_ms_generation(0), rank.value, size.value)


def release():
    """Free every communicator (like mindspore.communication.release)."""
    global _store
    with _lock:
        try:
            if _lib is not None:
                _check(_lib.dlcoll_ms_finalize())
        finally:
            _groups.clear()
            if _store is not None:       # the scheduler counts this worker as gone
                _store.close()
                _store = None


def _group(name):
    if not is_initialized():
        raise DlcollError("dlcoll.mindspore: call init() first")
    if name is None or name in _WORLD_ALIASES:
        name = WORLD_GROUP
    g = _groups.get(name)
    if g is None:
        raise ValueError(f"dlcoll.mindspore: unknown group {name!r} (create_group() it first)")
    return g


def _member(name):
    g = _group(name)
    if g.slot < 0:
        raise ValueError(f"dlcoll.mindspore: this rank is not a member of group {g.name!r} (ranks {g.ranks})")
    return g


def get_world_group():
    return WORLD_GROUP


def get_rank(group=WORLD_GROUP):
    """This process's rank in group (its index in the group's rank_ids)."""
    return _member(group).rank


def get_group_size(group=WORLD_GROUP):
    return _group(group).size


def get_group_ranks(group=WORLD_GROUP):
    """The world ranks of group, in group-rank order."""
    return list(_group(group).ranks)


def create_group(group, rank_ids):
    """Create group named group of world ranks rank_ids (group rank i = rank_ids[i]).

    Collective over the members, which must pass the same list.  A rank not in
    rank_ids returns at once (the group is known but unusable there).
    Returns the group name, so that ``AllGather(create_group(...))`` works.
    """
    if not isinstance(group, str) or not group:
        raise TypeError(f"create_group: group must be a non-empty str, got {group!r}")
    if group in _WORLD_ALIASES:
        raise ValueError(f"create_group: {group!r} is the world group's name")
    ranks = [int(r) for r in rank_ids]
    if not ranks or len(set(ranks)) != len(ranks):
        raise ValueError(f"create_group({group!r}): rank_ids must be distinct and non-empty, got {ranks}")
    world = _group(WORLD_GROUP)
    if any(r < 0 or r >= world.size for r in ranks):
        raise ValueError(f"create_group({group!r}): rank_ids {ranks} outside the world (size {world.size})")
    with _lock:
        if group in _groups:
            raise ValueError(f"create_group: group {group!r} already exists")
        arr = (ctypes.c_int * len(ranks))(*ranks)
        slot, gen = ctypes.c_int(-1), ctypes.c_int(-1)
        _check(_lib.dlcoll_ms_group_create(arr, len(ranks), group.encode(),
                                           ctypes.byref(slot), ctypes.byref(gen)))
        rank = ranks.index(world.rank) if world.rank in ranks else -1
        _groups[group] = _Group(group, ranks, slot.value, gen.value, rank, len(ranks))
    return group


def destroy_group(group):
    """Free group (local, not collective).  AllGathers built on it then fail clearly."""
    if group is None or group in _WORLD_ALIASES:
        raise ValueError("destroy_group: the world group cannot be destroyed (use release())")
    with _lock:
        g = _group(group)
        if g.slot > 0:
            _check(_lib.dlcoll_ms_group_destroy(g.slot))
        del _groups[group]


# ------------------------------------------------------------------ the ops

# Reductions by name (MindSpore's ops.ReduceOp values are these strings too)
# -> dlcoll_red_op_t (abi/dlcoll.h).  "avg" / "mean" divide once by the group
# size (docs/abi.md section 15).
REDUCE_OPS = {"sum": 0, "prod": 1, "min": 2, "max": 3, "avg": 4, "mean": 4,
              "band": 6, "bor": 7, "bxor": 8}


class _Collective(nn.Cell):
    """A dlcoll collective as a MindSpore AOT custom op on group's communicator.

    kernel: the symbol in libdlcoll_ms.so; shape_of(x_shape) -> output shape;
    arg: None (the group input is int32[2]) or an int appended to it (the
    reduction or the root).  Works in PyNative and Graph mode.
    """

    def __init__(self, op_name, kernel, group, shape_of, arg=None):
        super().__init__()
        g = _member(group)
        self.group = g.name
        self.rank, self.rank_size = g.rank, g.size
        self._op_name = op_name
        name = g.name

        def out_shape(x_shape, _gid_shape):
            if len(x_shape) < 1:
                raise ValueError(f"dlcoll {op_name} (group {name!r}): input must have at least "
                                 f"one dimension, got shape {tuple(x_shape)}")
            return shape_of(list(x_shape))

        def out_dtype(x_dtype, _gid_dtype):
            elem = x_dtype.element_type() if hasattr(x_dtype, "element_type") else x_dtype
            if elem not in SUPPORTED_DTYPES:
                raise TypeError(f"dlcoll {op_name} (group {name!r}): dtype {elem} is not supported; "
                                f"supported: {', '.join(str(d) for d in SUPPORTED_DTYPES)}")
            return x_dtype

        _load()
        self._op = ops.Custom(_lib_path + ":" + kernel, out_shape=out_shape,
                              out_dtype=out_dtype, func_type="aot")
        self._op.add_prim_attr("side_effect_io", True)   # never folded, reordered or dropped
        # MindSpore caches inferred shapes per primitive name + attributes, not per
        # out_shape function: name the group, its size and the argument so that
        # ops on other groups never share a cached shape.
        self._op.add_prim_attr("group", name)
        self._op.add_prim_attr("rank_size", g.size)
        self._op.add_prim_attr("group_slot", g.slot)
        self._op.add_prim_attr("group_generation", g.generation)
        self._op.add_prim_attr("dlcoll_arg", -1 if arg is None else int(arg))
        self._id = (g.slot, g.generation)
        ids = self._id if arg is None else self._id + (int(arg),)
        self._gid = ms.Tensor(np.array(ids, np.int32))

    def construct(self, x):
        return self._op(x, self._gid)

    def __call__(self, *args, **kwargs):
        g = _groups.get(self.group)
        if g is None or (g.slot, g.generation) != self._id:
            raise DlcollError(f"dlcoll {self._op_name}: group {self.group!r} was destroyed "
                              f"(or release() was called) after this {self._op_name} was made")
        try:
            out = super().__call__(*args, **kwargs)
            if ms.get_context("mode") == ms.PYNATIVE_MODE:
                # PyNative runs kernels asynchronously: wait here, so that a failed
                # op raises at this call (with dlcoll's message), not at a
                # later, unrelated one.
                _pynative_executor.sync()
            return out
        except RuntimeError as e:
            if isinstance(e, DlcollError):
                raise
            why = _lib.dlcoll_ms_last_error().decode(errors="replace") if _lib is not None else ""
            if why.startswith("dlcoll "):   # our kernel failed: say why
                raise DlcollError(why) from e
            raise


class AllGather(_Collective):
    """Gather x of every rank of group along dim 0: (x0, ...) -> (N*x0, ...).

    Like ``mindspore.ops.AllGather(group)``; works in PyNative and Graph mode.
    The kernel is an AOT custom op in libdlcoll_ms.so.  Dtypes: SUPPORTED_DTYPES
    (TypeError for others); x must have at least one dimension.
    """

    def __init__(self, group=WORLD_GROUP):
        size = _member(group).size
        super().__init__("AllGather", "dlcoll_ms_allgather", group,
                         lambda s: [s[0] * size] + s[1:])


def _reduce_code(op, who):
    key = str(op).lower()
    if key.startswith("reduceop."):
        key = key[len("reduceop."):]
    if key not in REDUCE_OPS:
        raise ValueError(f"dlcoll {who}: unknown reduction {op!r}; one of {', '.join(REDUCE_OPS)}")
    return REDUCE_OPS[key]


class AllReduce(_Collective):
    """Reduce x elementwise over every rank of group; every rank gets the result.

    Like ``mindspore.ops.AllReduce(op, group)``.  op: "sum" (ops.ReduceOp.SUM),
    "prod", "min", "max", "avg" (the sum divided once by the group size), and
    "band" / "bor" / "bxor" for integers and bool.  The result is
    bit-identical on every rank (docs/abi.md section 15 gives the order and
    the numerics); float16 / bfloat16 accumulate in float32.
    """

    def __init__(self, op="sum", group=WORLD_GROUP):
        super().__init__("AllReduce", "dlcoll_ms_allreduce", group, lambda s: s,
                         arg=_reduce_code(op, "AllReduce"))


class ReduceScatter(_Collective):
    """Reduce x over every rank of group, then split along dim 0: (N*x0, ...) -> (x0, ...).

    Like ``mindspore.ops.ReduceScatter(op, group)``: rank r gets block r of
    the reduction.  x's dim 0 must be a multiple of the group size.  op: as
    AllReduce.
    """

    def __init__(self, op="sum", group=WORLD_GROUP):
        size, name = _member(group).size, _member(group).name

        def shape_of(s):
            if s[0] % size != 0:
                raise ValueError(f"dlcoll ReduceScatter (group {name!r}): dim 0 of the input ({s[0]}) "
                                 f"is not a multiple of the group size {size}")
            return [s[0] // size] + s[1:]

        super().__init__("ReduceScatter", "dlcoll_ms_reduce_scatter", group, shape_of,
                         arg=_reduce_code(op, "ReduceScatter"))


class Broadcast(_Collective):
    """Every rank of group gets root's x (root: a rank of group, 0..N-1).

    Like ``mindspore.ops.Broadcast(root_rank, group)``, which takes and returns
    a tuple: this cell takes a tensor and returns one, or a tuple and returns a
    tuple (one broadcast per tensor, in order).  Every rank passes a tensor of
    the root's shape and dtype (its values are ignored off the root).
    """

    def __init__(self, root=0, group=WORLD_GROUP):
        g = _member(group)
        if not 0 <= int(root) < g.size:
            raise ValueError(f"dlcoll Broadcast (group {g.name!r}): root {root} is not a rank of the "
                             f"group (0..{g.size - 1})")
        super().__init__("Broadcast", "dlcoll_ms_broadcast", group, lambda s: s, arg=int(root))
        self.root = int(root)

    def construct(self, x):
        if isinstance(x, (tuple, list)):
            return tuple(self._op(t, self._gid) for t in x)
        return self._op(x, self._gid)
