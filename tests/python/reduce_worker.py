"""One rank of the dlcoll.torch reduction tests (all_reduce, reduce,
reduce_scatter, reduce_scatter_tensor, broadcast).

    python reduce_worker.py CASE RANK WORLD_SIZE PORT

Every rank computes every rank's input (a deterministic function of rank,
dtype, shape and op), so each checks its result against a float64 reference:
exactly for integers, bool, MIN/MAX and broadcast, and for floating point
within the bound docs/abi.md section 15 derives from the plugin's fixed
reduction order (see tolerance()).  Every result is also gathered and must be
bit-identical on all ranks.
"""
import datetime
import sys
import time

import torch
import torch.distributed as dist

import dlcoll_worker as w
from dlcoll_worker import RANK, WORLD, as_bits, assert_same, expect_failure, init

R = dist.ReduceOp
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INTS = [torch.int32, torch.int64]
# unit roundoff of the accumulator and of the output, per dtype (docs/abi.md 15)
U_ACC = {torch.float16: 2.0 ** -24, torch.bfloat16: 2.0 ** -24, torch.float32: 2.0 ** -24,
         torch.float64: 2.0 ** -53}
U_OUT = {torch.float16: 2.0 ** -11, torch.bfloat16: 2.0 ** -8, torch.float32: 2.0 ** -24,
         torch.float64: 2.0 ** -53}


def premul(factor):
    if factor is None:
        return None
    return dist._make_nccl_premul_sum(factor)


def factor_of(rank):
    return 0.5 + 0.25 * rank  # each rank its own factor, as NCCL allows


def ops_for(dtype):
    """(name, op for this rank or None) the ABI defines for dtype."""
    names = ["SUM", "PRODUCT", "MIN", "MAX"]
    if dtype != torch.bool:
        names.append("AVG")
    if dtype.is_floating_point:
        names.append("PREMUL_SUM")
    else:
        names += ["BAND", "BOR", "BXOR"]
    return names


def red_op(name, rank=RANK, tensor_factor=False):
    if name != "PREMUL_SUM":
        return getattr(R, name)
    f = factor_of(rank)
    if tensor_factor:  # the tensor form: one tensor (2.x) or one per device (1.13)
        t = torch.tensor([f], dtype=torch.float64)
        return premul(t if torch.__version__ >= "2" else [t])
    return premul(f)


def make(rank, dtype, shape, name, salt=0):
    g = torch.Generator().manual_seed(7 + 1009 * rank + 37 * salt + 3 * len(shape) + sum(shape))
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype in INTS:
        if name in ("BAND", "BOR", "BXOR"):
            info = torch.iinfo(dtype)
            return torch.randint(info.min, info.max, shape, generator=g, dtype=dtype)
        lo, hi = (-9, 10) if name == "PRODUCT" else (-1000, 1000)
        return torch.randint(lo, hi, shape, generator=g, dtype=dtype)
    if name == "PRODUCT":  # near 1: no overflow of float16 products
        x = 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)
    else:
        x = torch.randn(shape, generator=g, dtype=torch.float64) * 10
    return x.to(dtype)


def reference(inputs, name, dtype):
    """(value in float64 or the int dtype, bound on the error) of the reduction."""
    if dtype == torch.bool:
        s = torch.stack([x.to(torch.int64) for x in inputs])
        if name in ("SUM", "MAX", "BOR"):
            return s.amax(0).bool(), None
        if name in ("PRODUCT", "MIN", "BAND"):
            return s.amin(0).bool(), None
        return (s.sum(0) % 2).bool(), None
    if dtype in INTS:
        s = torch.stack(inputs)
        if name == "SUM":
            return s.sum(0).to(dtype), None
        if name == "AVG":
            return torch.div(s.sum(0), WORLD, rounding_mode="trunc").to(dtype), None
        if name == "PRODUCT":
            return s.prod(0).to(dtype), None
        if name == "MIN":
            return s.amin(0), None
        if name == "MAX":
            return s.amax(0), None
        out = s[0].clone()
        for x in s[1:]:
            out = {"BAND": out & x, "BOR": out | x, "BXOR": out ^ x}[name]
        return out, None
    terms = [x.to(torch.float64) for x in inputs]
    if name == "PREMUL_SUM":
        terms = [t * factor_of(r) for r, t in enumerate(terms)]
    s = torch.stack(terms)
    if name in ("MIN", "MAX"):
        m = s.amin(0) if name == "MIN" else s.amax(0)
        return m, torch.zeros_like(m)  # exact
    ua, uo = U_ACC[dtype], U_OUT[dtype]
    if name == "PRODUCT":
        ref = s.prod(0)
        # N-1 multiplications in the accumulator, one rounding to the output
        return ref, ((WORLD - 1) * ua + uo) * ref.abs() * 1.0001
    ref = s.sum(0)
    absum = s.abs().sum(0)
    # (N-1) u_acc sum|t_i| + u_out |result|; PREMUL_SUM: one more rounding per
    # term (its product) and one for the factor's conversion; AVG: the division.
    bound = (WORLD - 1) * ua * absum
    if name == "PREMUL_SUM":
        bound = bound + 2 * ua * absum
    if name == "AVG":
        ref = ref / WORLD
        bound = bound / WORLD + ua * ref.abs()
    return ref, (bound + uo * ref.abs()) * 1.0001  # 1.0001: second-order terms


def check_result(out, ref, bound, what):
    if bound is None:
        assert_same(out, ref, what)
        return
    err = (out.to(torch.float64) - ref).abs()
    assert bool((err <= bound).all()), \
        f"{what}: max error {float((err - bound).max()):.3g} over the bound; " \
        f"worst element {int((err - bound).argmax())}"


def check_identical(t, what):
    """t's bytes are the same on every rank (gathered through dlcoll)."""
    bits = as_bits(t).reshape(-1)
    outs = [torch.empty_like(bits) for _ in range(WORLD)]
    dist.all_gather(outs, bits)
    for r in range(WORLD):
        assert torch.equal(outs[r], outs[0]), f"{what}: rank {r} differs from rank 0"


def expect_refused(call, words, what):
    try:
        call()
    except RuntimeError as exc:
        msg = str(exc)
        assert "dlcoll" in msg and all(x in msg for x in words), f"{what}: {msg}"
        return msg
    raise AssertionError(f"{what}: did not raise")


# ------------------------------------------------------------------ cases


def case_allreduce():
    """all_reduce: every ReduceOp x float32/64, float16, bfloat16, int32/64, bool."""
    init()
    count = 0
    for dtype in FLOATS + INTS + [torch.bool]:
        for name in ops_for(dtype):
            for shape in [(37,), (3, 0), (4, 5)]:
                what = f"all_reduce {name} {dtype} {shape}"
                inputs = [make(r, dtype, shape, name) for r in range(WORLD)]
                t = inputs[RANK].clone()
                ptr = t.data_ptr()
                dist.all_reduce(t, op=red_op(name, tensor_factor=shape == (4, 5)))
                assert t.data_ptr() == ptr, f"{what}: not in place"
                ref, bound = reference(inputs, name, dtype)
                check_result(t, ref, bound, what)
                check_identical(t, what)
                count += 1
    # strided (a transposed view and every other column): in place, gaps untouched
    base = torch.full((6, 8), -3.0, dtype=torch.float64)
    view = base[:, ::2]
    view.copy_(make(RANK, torch.float64, (6, 4), "SUM"))
    dist.all_reduce(view)
    ref, bound = reference([make(r, torch.float64, (6, 4), "SUM") for r in range(WORLD)],
                           "SUM", torch.float64)
    check_result(view, ref, bound, "strided all_reduce")
    assert bool((base[:, 1::2] == -3.0).all()), "strided all_reduce wrote the gaps"
    tt = make(RANK, torch.float32, (5, 3), "MAX").t()
    dist.all_reduce(tt, op=R.MAX)
    assert_same(tt, torch.stack([make(r, torch.float32, (5, 3), "MAX") for r in range(WORLD)])
                .amax(0).t(), "transposed MAX")
    # complex: SUM and AVG on the real and imaginary parts
    for name in ("SUM", "AVG"):
        parts = [make(r, torch.float64, (9, 2), name, salt=5) for r in range(WORLD)]
        z = torch.view_as_complex(parts[RANK].clone())
        dist.all_reduce(z, op=getattr(R, name))
        ref, bound = reference(parts, name, torch.float64)
        check_result(torch.view_as_real(z), ref, bound, f"complex {name}")
    print(f"rank {RANK}: {count} all_reduce cases checked")


def case_reduce_scatter():
    """reduce_scatter (list) and reduce_scatter_tensor (both input shapes)."""
    init()
    rs_tensor = getattr(dist, "reduce_scatter_tensor", None) or dist._reduce_scatter_base
    for dtype in FLOATS + INTS + [torch.bool]:
        for name in ops_for(dtype):
            k = 6
            inputs = [make(r, dtype, (WORLD * k,), name, salt=1) for r in range(WORLD)]
            ref, bound = reference(inputs, name, dtype)
            mine = slice(RANK * k, (RANK + 1) * k)
            ref = ref[mine]
            bound = None if bound is None else bound[mine]
            what = f"reduce_scatter_tensor {name} {dtype}"
            out = torch.empty(k, dtype=dtype)
            rs_tensor(out, inputs[RANK].clone(), op=red_op(name))
            check_result(out, ref, bound, what)
            # stacked input (N, k) into a strided output
            buf = torch.zeros(2 * k, dtype=dtype)
            rs_tensor(buf[::2], inputs[RANK].clone().view(WORLD, k), op=red_op(name))
            assert_same(buf[::2], out, what + " stacked, strided output")
            # the list form
            out2 = torch.empty(k, dtype=dtype)
            dist.reduce_scatter(out2, list(inputs[RANK].clone().split(k)), op=red_op(name))
            assert_same(out2, out, f"reduce_scatter {name} {dtype}")
            # every rank's block, gathered: the allreduce of the same inputs
            gathered = torch.empty(WORLD * k, dtype=dtype)
            w.gather_into(gathered, out)
            check_identical(gathered, what)
            full = inputs[RANK].clone()
            dist.all_reduce(full, op=red_op(name))
            assert_same(gathered, full, f"{what}: blocks vs all_reduce")
    print(f"rank {RANK}: reduce_scatter ok")


def case_broadcast_reduce():
    """broadcast from every root (every dtype, strided); reduce to every root."""
    init()
    for root in range(WORLD):
        for dtype in w.dtypes():
            for shape in [(11,), (0,), (3, 4)]:
                expected = w.make_input(root, dtype, shape)
                t = w.make_input(RANK, dtype, shape)
                dist.broadcast(t, src=root)
                assert_same(t, expected, f"broadcast root {root} {dtype} {shape}")
        buf = torch.full((4, 6), -1, dtype=torch.int64)
        view = buf[:, 1::2]
        view.copy_(torch.full((4, 3), RANK, dtype=torch.int64))
        dist.broadcast(view, src=root)
        assert bool((view == root).all()) and bool((buf[:, ::2] == -1).all()), "strided broadcast"
        # reduce: the root gets the sum, the others keep their input
        x = make(RANK, torch.float64, (13,), "SUM", salt=root)
        before = x.clone()
        dist.reduce(x, dst=root)
        if RANK == root:
            ref, bound = reference([make(r, torch.float64, (13,), "SUM", salt=root)
                                    for r in range(WORLD)], "SUM", torch.float64)
            check_result(x, ref, bound, f"reduce to {root}")
        else:
            assert_same(x, before, f"reduce to {root}: non-root input changed")
        y = torch.tensor([RANK + 1], dtype=torch.int64)
        dist.reduce(y, dst=root, op=R.MAX)
        if RANK == root:
            assert int(y) == WORLD, int(y)


def case_futures():
    """async Works and get_future(): the value is the output list, in place."""
    init()
    gloo = w.gloo_group()
    t = torch.arange(1000, dtype=torch.float32) + RANK
    work = dist.all_reduce(t, async_op=True)
    value = work.get_future().wait()
    assert work.is_completed() and work.is_success()
    assert len(value) == 1 and value[0].data_ptr() == t.data_ptr(), "future value"
    g = torch.arange(1000, dtype=torch.float32) + RANK
    dist.all_reduce(g, group=gloo)
    assert torch.equal(t, g), "integers in float32: exact, equal to gloo's"
    # several in flight of different kinds, waited in reverse; chained futures
    xs = [torch.full((100,), float(RANK + i)) for i in range(3)]
    works = [dist.all_reduce(xs[0], async_op=True),
             dist.broadcast(xs[1], src=WORLD - 1, async_op=True),
             dist.all_reduce(xs[2], op=R.MAX, async_op=True)]
    rs_out = torch.empty(10)
    rs_tensor = getattr(dist, "reduce_scatter_tensor", None) or dist._reduce_scatter_base
    works.append(rs_tensor(rs_out, torch.ones(WORLD * 10), async_op=True))
    chained = works[0].get_future().then(lambda f: f.value()[0].sum())
    for wk in reversed(works):
        wk.wait()
    n = WORLD
    assert bool((xs[0] == sum(range(n))).all())
    assert bool((xs[1] == n - 1 + 1).all())
    assert bool((xs[2] == n - 1 + 2).all())
    assert bool((rs_out == n).all())
    assert float(chained.wait()) == 100.0 * sum(range(n))


def pg_allreduce(tensor, op):
    """The backend's allreduce itself (dist.all_reduce refuses complex MIN/MAX
    in Python before the backend sees it)."""
    opts = dist.AllreduceOptions()
    opts.reduceOp = op
    return dist.distributed_c10d._get_default_group().allreduce([tensor], opts).wait()


def case_reduce_errors():
    """Clear errors for pairs the ABI refuses; the backend stays usable."""
    init()
    t = torch.ones(4)
    for name, tensor in [("BAND", torch.ones(3)), ("BXOR", torch.ones(3, dtype=torch.float64)),
                         ("AVG", torch.ones(3, dtype=torch.bool)),
                         ("MAX", torch.ones(3, dtype=torch.complex64)),
                         ("PRODUCT", torch.ones(3, dtype=torch.complex128))]:
        msg = expect_refused(lambda: pg_allreduce(tensor, getattr(R, name)),
                             ["unsupported"], f"{name} {tensor.dtype}")
        print(f"rank {RANK}: {name} {tensor.dtype}: {msg}")
    expect_refused(lambda: dist.all_reduce(torch.ones(3, dtype=torch.int32), op=premul(0.5)),
                   ["unsupported"], "PREMUL_SUM int32")
    expect_refused(lambda: dist.broadcast(t, src=WORLD), ["root"], "broadcast root out of range")
    rs_tensor = getattr(dist, "reduce_scatter_tensor", None) or dist._reduce_scatter_base
    expect_refused(lambda: rs_tensor(torch.empty(3), torch.ones(WORLD * 3 + 1)), ["elements"],
                   "reduce_scatter_tensor sizes")
    expect_refused(lambda: rs_tensor(torch.empty(3), torch.ones(3, WORLD).t()), ["contiguous"],
                   "reduce_scatter_tensor strided input")
    dist.all_reduce(t)
    assert bool((t == WORLD).all())


def case_op_timeout():
    """A per-operation timeout (AllreduceOptions.timeout) bounds that all_reduce."""
    init(timeout_s=120)
    pg = dist.distributed_c10d._get_default_group()
    if RANK == 0:  # the others never join it; they wait in leave_together()
        opts = dist.AllreduceOptions()
        opts.timeout = datetime.timedelta(seconds=2)
        expect_failure(lambda: pg.allreduce([torch.ones(4)], opts).wait(),
                       ["TIMEOUT", "timed out"], 60)


def main():
    w.__dict__.update({k: v for k, v in globals().items() if k.startswith("case_")})
    w.main()


if __name__ == "__main__":
    main()
