"""One rank of the FSDP2 training test (torch >= 2.x: torch.distributed.fsdp.fully_shard).

    python fsdp_worker.py fsdp RANK WORLD_SIZE PORT

Every rank builds the same MLP from the same seed, shards it with
fully_shard (each Linear, then the root) over the dlcoll world, and trains
STEPS steps of SGD on its own batches.  After every step:

  - the full parameters (DTensor.full_tensor(), i.e. dlcoll's all_gather of
    the shards) are bit-identical on all ranks (compared as bytes through a
    Gloo group, so the check does not rely on the backend under test);
  - they are within TOL of a single-process reference that every rank
    computes: the same model trained on the global batch (all ranks'
    batches concatenated), which is what averaged gradients give.

The same training also runs on a Gloo mesh in the same process, when Gloo's
FSDP2 works on CPU; its outcome (averages, sums, fails) is printed, never
asserted (pytorch/pytorch#162338).

Tolerance: FSDP2 reduce-scatters float32 gradients with ReduceOp.AVG.  A
gradient element is the mean of 32 per-sample terms t_k: the reference sums
them in its matmul's order; under FSDP2 each rank sums its 8 and dlcoll sums
the 4 ranks' means in a fixed order and divides by 4.  Both are float32 sums
of the same terms, so they differ by at most about 2 * 31 * 2^-24 * mean|t_k|
(both sums' error bounds), i.e. < 2e-7 per step and element with lr = 0.05
and |t_k| < 1 in the worst case, and by a few ulps in practice (rounding
errors of either sign add like a random walk).  TOL = 2e-6 absolute plus
2e-6 relative over 20 steps (as in ddp_worker.py): measured, the largest
difference is 1.49e-8 (torch 2.15), ~130 x below it.
A sum instead of the average (the bug class of #162338) multiplies the first
step's update by 4: the case computes that model too (the reference with
the gradients summed) and checks it is more than 1000 x TOL away, so the
tolerance cannot hide it (measured: 0.0197 after step 0; forcing the sum
with set_gradient_divide_factor(1.0) on every FSDP module fails the case at
step 0 by 0.0197).
"""
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import fully_shard

import dlcoll_worker as w
from dlcoll_worker import RANK, WORLD, as_bits, init

STEPS = 20
LR = 0.05
BATCH = 8
TOL_ABS = 2e-6
TOL_REL = 2e-6


def make_model():
    torch.manual_seed(1234)
    # 30 and 18 rows: not multiples of 4, so FSDP2 pads the last shards.
    return torch.nn.Sequential(torch.nn.Linear(16, 30), torch.nn.Tanh(),
                               torch.nn.Linear(30, 18), torch.nn.Tanh(),
                               torch.nn.Linear(18, 4))


def batch(step, rank):
    g = torch.Generator().manual_seed(10007 * rank + step)
    return torch.randn(BATCH, 16, generator=g), torch.randn(BATCH, 4, generator=g)


def sharded(group):
    model = make_model()
    mesh = DeviceMesh.from_group(group, "cpu")
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model, torch.optim.SGD(model.parameters(), lr=LR)


def full_params(model):
    return [p.full_tensor().detach().clone() for p in model.parameters()]


def train_step(model, opt, x, y, grad_scale=1.0):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    if grad_scale != 1.0:
        for p in model.parameters():
            p.grad.mul_(grad_scale)
    opt.step()
    return float(loss)


def max_diff(params, ref):
    return max(float((p - q).abs().max()) for p, q in zip(params, ref))


def within_tol(params, ref):
    return all(bool(((p - q).abs() <= TOL_ABS + TOL_REL * q.abs()).all())
               for p, q in zip(params, ref))


def identical_everywhere(params, gloo, step):
    bits = as_bits(torch.cat([p.reshape(-1) for p in params]))
    outs = [torch.empty_like(bits) for _ in range(WORLD)]
    dist.all_gather(outs, bits, group=gloo)
    for r in range(WORLD):
        assert torch.equal(outs[r], outs[0]), f"step {step}: rank {r}'s full parameters differ"


def case_fsdp():
    init()
    gloo = w.gloo_group()
    model, opt = sharded(dist.group.WORLD)
    assert dist.get_backend(model[0].weight.device_mesh.get_group()) == "dlcoll"
    ref = make_model()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=LR)
    ref_sum = make_model()  # what a sum of the gradients instead of their average gives
    ref_sum_opt = torch.optim.SGD(ref_sum.parameters(), lr=LR)
    try:
        gmodel, gopt = sharded(gloo)
        gloo_state = "running"
    except Exception as exc:  # noqa: BLE001  (recorded, not asserted)
        gmodel, gloo_state = None, f"fully_shard failed: {exc!r}"
    worst = worst_sum_gap = worst_gloo = 0.0
    first_sum_gap = None
    for step in range(STEPS):
        x, y = batch(step, RANK)
        loss = train_step(model, opt, x, y)
        xs, ys = zip(*(batch(step, r) for r in range(WORLD)))
        gx, gy = torch.cat(xs), torch.cat(ys)
        ref_loss = train_step(ref, ref_opt, gx, gy)
        train_step(ref_sum, ref_sum_opt, gx, gy, grad_scale=float(WORLD))
        params = full_params(model)
        refp = [p.detach() for p in ref.parameters()]
        sump = [p.detach() for p in ref_sum.parameters()]
        identical_everywhere(params, gloo, step)
        d = max_diff(params, refp)
        assert within_tol(params, refp), \
            f"step {step}: dlcoll FSDP2 differs from the reference by {d:.3g}"
        gap = max_diff(sump, refp)
        if first_sum_gap is None:
            first_sum_gap = gap
            assert gap > 1000 * (TOL_ABS + TOL_REL), f"a sum would only be {gap:.3g} off"
        worst, worst_sum_gap = max(worst, d), max(worst_sum_gap, gap)
        if gmodel is not None and gloo_state == "running":
            try:
                train_step(gmodel, gopt, x, y)
                gp = full_params(gmodel)
                worst_gloo = max(worst_gloo, max_diff(gp, refp))
                if step == 0:
                    gloo_step0 = (max_diff(gp, refp), max_diff(gp, sump))
            except Exception as exc:  # noqa: BLE001
                gloo_state = f"step {step} failed: {str(exc).splitlines()[0]!r}"
        if RANK == 0:
            print(f"step {step}: loss dlcoll {loss:.6f} reference(global batch) {ref_loss:.6f}"
                  f" |dlcoll-ref| {d:.3g}")
    if gloo_state == "running":
        avg_d, sum_d = gloo_step0
        verdict = ("averages (within TOL of the reference)" if within_tol(gp, refp) else
                   "sums (step 0 matches the summed-gradient model)" if sum_d < avg_d else
                   "differs from both")
        gloo_state = (f"{verdict}; step 0 |gloo-ref| {avg_d:.3g}, |gloo-sum| {sum_d:.3g};"
                      f" after {STEPS} steps |gloo-ref| {worst_gloo:.3g}")
    print(f"rank {RANK}: {STEPS} steps, largest |dlcoll - reference| {worst:.3g}"
          f" (tolerance {TOL_ABS:g} + {TOL_REL:g} |ref|); a sum instead of the average:"
          f" {first_sum_gap:.3g} off after step 0, up to {worst_sum_gap:.3g}")
    print(f"rank {RANK}: gloo FSDP2: {gloo_state}")


if __name__ == "__main__":
    w.__dict__["case_fsdp"] = case_fsdp
    w.main()
