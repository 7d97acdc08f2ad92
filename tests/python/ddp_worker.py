"""One rank of the DDP training test: the same MLP, the same seed and data,
trained for STEPS steps under DistributedDataParallel on dlcoll and on Gloo
in the same run.

    python ddp_worker.py ddp RANK WORLD_SIZE PORT

After every step: the dlcoll model's parameters are bit-identical on all
ranks (gathered and compared as bytes), and within TOL of the Gloo model's.

Tolerance: the two backends average the same float32 gradients (DDP divides
each by N, then all_reduce SUM) in different orders, so one step's gradient
element differs by at most about 2 (N-1) 2^-24 sum_i |g_i| (both sums' error
bounds, docs/abi.md section 15).  Here |g_i| < 1, N = 4, lr = 0.05: below
0.05 * 6 * 4 * 6e-8 = 7e-8 per step and element; over 20 steps, with the
drift that a step's difference adds to the next gradients, TOL = 2e-6
absolute plus 2e-6 relative (measured: the largest difference is 1.5e-8,
torch 1.13 and 2.15).
A wrong reduction (a sum instead of the average, or a lost rank) moves the
parameters by ~1e-2 in the first step and fails it.
"""
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import dlcoll_worker as w
from dlcoll_worker import RANK, WORLD, as_bits, init

STEPS = 20
TOL_ABS = 2e-6
TOL_REL = 2e-6


def make_model():
    torch.manual_seed(1234)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 32), torch.nn.Tanh(),
                               torch.nn.Linear(32, 4))


def batch(step):
    g = torch.Generator().manual_seed(10007 * RANK + step)
    x = torch.randn(8, 16, generator=g)
    y = torch.randn(8, 4, generator=g)
    return x, y


def params_identical_everywhere(model, step):
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    bits = as_bits(flat)
    outs = [torch.empty_like(bits) for _ in range(WORLD)]
    dist.all_gather(outs, bits)
    for r in range(WORLD):
        assert torch.equal(outs[r], outs[0]), f"step {step}: rank {r}'s parameters differ"


def case_ddp():
    init()
    gloo = w.gloo_group()
    models = {"dlcoll": DDP(make_model()), "gloo": DDP(make_model(), process_group=gloo)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.05) for k, m in models.items()}
    worst = 0.0
    for step in range(STEPS):
        x, y = batch(step)
        losses = {}
        for k, m in models.items():
            opts[k].zero_grad()
            loss = torch.nn.functional.mse_loss(m(x), y)
            loss.backward()
            opts[k].step()
            losses[k] = float(loss)
        params_identical_everywhere(models["dlcoll"], step)
        for (name, p), q in zip(models["dlcoll"].module.named_parameters(),
                                models["gloo"].module.parameters()):
            diff = (p - q).abs()
            bound = TOL_ABS + TOL_REL * q.abs()
            assert bool((diff <= bound).all()), \
                f"step {step} {name}: dlcoll and gloo differ by {float(diff.max()):.3g}"
            worst = max(worst, float(diff.max()))
        if RANK == 0:
            print(f"step {step}: loss dlcoll {losses['dlcoll']:.6f} gloo {losses['gloo']:.6f}")
    print(f"rank {RANK}: {STEPS} steps, largest |dlcoll - gloo| {worst:.3g}")


if __name__ == "__main__":
    w.__dict__["case_ddp"] = case_ddp
    w.main()
