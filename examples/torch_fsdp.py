#!/usr/bin/env python3
"""FSDP2 (torch.distributed.fsdp.fully_shard) training on dlcoll, next to Gloo.

    ~/.cache/dlcoll/venv-torch2/bin/python examples/torch_fsdp.py [--ranks 4] [--steps 20] [--hidden 256]

Needs PyTorch 2.x (1.13 has no fully_shard).  Like examples/torch_ddp.py:
starts the same N-rank training once on "dlcoll" and once on "gloo", every
rank a process of this script with init_method="env://"; each Linear and
then the whole MLP is sharded with fully_shard (parameters all-gathered
before use, gradients reduce-scattered with ReduceOp.AVG); prints the loss
curves (mean over ranks) side by side and the median time per step.

Gloo's FSDP2 on CPU: in torch 2.15 its loss curve may differ from dlcoll's
(pytorch/pytorch#162338: Gloo can sum the gradients where it should average
them); the test for this example (tests/python test_examples) records which.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ddp as common  # noqa: E402  (launcher, model, data, report)


def worker(backend, steps, hidden):
    import torch
    from torch.distributed.fsdp import fully_shard
    rank, _ = common.init_rank(backend)
    model = common.make_model(hidden)
    numel = sum(p.numel() for p in model.parameters())
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=common.LR)
    losses, times = common.train(model, opt, steps, rank)
    common.report(losses, times, numel)


if __name__ == "__main__":
    import torch
    if int(torch.__version__.split(".")[0]) < 2:
        sys.exit(f"torch {torch.__version__} has no torch.distributed.fsdp.fully_shard (FSDP2): "
                 "run this with PyTorch 2.x, e.g. ~/.cache/dlcoll/venv-torch2/bin/python")
    common.main(os.path.abspath(__file__), worker, "FSDP2")
