"""One rank of the MindSpore data-parallel training tests (test_ms_training.py).

The same small MLP (made here, from a fixed seed; no downloads) is trained for
STEPS steps of SGD on data that differ per rank, in one of these modes:

  mpirun-dropin   MindSpore's own data parallel (set_auto_parallel_context(
                  DATA_PARALLEL, gradients_mean=True, parameter_broadcast=True),
                  nn.TrainOneStepCell, Graph mode) under Open MPI's mpirun, with
                  dlcoll's drop-in libmpi_collective.so loaded before init.
  mccl            the same script on MindSpore's own CPU backend (init("mccl"),
                  MS_ROLE / MS_SCHED_* and a scheduler process, as msrun starts
                  it).  (The wheel's own libmpi_collective.so fails to
                  initialize on this machine: "Failed to initialize
                  communication library on device side".)
  cells           dlcoll.mindspore only (started by dlcoll-run): Broadcast(0)
                  of the initial parameters, then per step the gradients of
                  ms.value_and_grad averaged with AllReduce("avg"), and the
                  optimizer applied by hand (PyNative).
  reference       one process, no communication: every step sees the N ranks'
                  batches at once, so its gradient is the mean of theirs.

Each rank starts from weights of its own seed (rank + 1), so only a working
broadcast makes the ranks agree.  Rank r of a job writes OUT/<mode>-<r>.npz
with the flattened parameters after every step (params[step]) and the loss.
Usage: ms_train_worker.py MODE OUT [N]   (MODE: mpirun-dropin | mccl | cells | reference;
       N: the rank count, for reference)
"""
import ctypes
import os
import sys

import numpy as np

MODE, OUT = sys.argv[1], sys.argv[2]
STEPS, BATCH, IN, HIDDEN, OUT_DIM, LR = 20, 8, 12, 32, 4, 0.05

if MODE == "mpirun-dropin":
    # Before MindSpore dlopen()s "libmpi_collective.so" (see test_dropin.py).
    DROPIN = ctypes.CDLL(os.environ["DLCOLL_DROPIN_LIB"], mode=ctypes.RTLD_GLOBAL)
    DROPIN.dlcoll_ms_dropin_reduce_count.restype = ctypes.c_uint64
    DROPIN.dlcoll_ms_dropin_broadcast_count.restype = ctypes.c_uint64

import mindspore as ms  # noqa: E402
from mindspore import nn, ops  # noqa: E402


class MLP(nn.Cell):
    def __init__(self, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        w1 = (rng.standard_normal((HIDDEN, IN)) / np.sqrt(IN)).astype(np.float32)
        w2 = (rng.standard_normal((OUT_DIM, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
        self.fc1 = nn.Dense(IN, HIDDEN, weight_init=ms.Tensor(w1), bias_init="zeros")
        self.fc2 = nn.Dense(HIDDEN, OUT_DIM, weight_init=ms.Tensor(w2), bias_init="zeros")
        self.act = nn.Tanh()

    def construct(self, x):
        return self.fc2(self.act(self.fc1(x)))


def batch(step, rank):
    """Rank `rank`'s batch of step `step` (every process can compute any)."""
    rng = np.random.default_rng([1234, step, rank])
    x = rng.standard_normal((BATCH, IN)).astype(np.float32)
    y = np.stack([np.sin(x[:, :OUT_DIM].sum(1) + k) for k in range(OUT_DIM)], 1).astype(np.float32)
    return x, y


def flat(net):
    return np.concatenate([p.asnumpy().ravel() for p in net.trainable_params()])


def save(rank, params, losses):
    np.savez(os.path.join(OUT, f"{MODE}-{rank}.npz"), params=np.stack(params), loss=np.array(losses))


def run_data_parallel():
    from mindspore.communication import get_group_size, get_rank, init
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    init("mccl" if MODE == "mccl" else None)
    rank, size = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 parameter_broadcast=True, device_num=size)
    net = MLP(seed=rank + 1)
    step_cell = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()),
                                    nn.SGD(net.trainable_params(), learning_rate=LR))
    step_cell.set_train()
    params, losses = [], []
    for step in range(STEPS):
        x, y = batch(step, rank)
        losses.append(float(step_cell(ms.Tensor(x), ms.Tensor(y)).asnumpy()))
        params.append(flat(net))
    if MODE == "mpirun-dropin":
        reduces = DROPIN.dlcoll_ms_dropin_reduce_count()
        bcasts = DROPIN.dlcoll_ms_dropin_broadcast_count()
        # Every step's gradients went through dlcoll (fused or not: at least one
        # reduction per step), and so did the initial broadcast.
        assert reduces >= STEPS, f"rank {rank}: only {reduces} reductions went through dlcoll"
        print(f"rank {rank}: {reduces} allreduces and {bcasts} broadcasts through dlcoll", flush=True)
    save(rank, params, losses)
    print(f"train {MODE}: ok rank {rank} of {size}, loss {losses[0]:.5f} -> {losses[-1]:.5f}", flush=True)


def run_cells():
    from dlcoll import mindspore as comm
    ms.set_device("CPU")
    comm.init()
    rank, size = comm.get_rank(), comm.get_group_size()
    net = MLP(seed=rank + 1)
    bcast, avg = comm.Broadcast(0), comm.AllReduce("avg")
    for p in net.trainable_params():          # rank 0's initial weights everywhere
        p.set_data(bcast(p.value()))
    loss_fn = nn.MSELoss()
    opt = nn.SGD(net.trainable_params(), learning_rate=LR)
    grad_fn = ms.value_and_grad(lambda x, y: loss_fn(net(x), y), None, opt.parameters)
    params, losses = [], []
    for step in range(STEPS):
        x, y = batch(step, rank)
        loss, grads = grad_fn(ms.Tensor(x), ms.Tensor(y))
        opt(tuple(avg(g) for g in grads))
        losses.append(float(loss.asnumpy()))
        params.append(flat(net))
    save(rank, params, losses)
    comm.release()
    print(f"train {MODE}: ok rank {rank} of {size}, loss {losses[0]:.5f} -> {losses[-1]:.5f}", flush=True)


def run_reference(size):
    ms.set_device("CPU")
    net = MLP(seed=1)                          # rank 0's weights: what the broadcast gives
    loss_fn = nn.MSELoss()
    opt = nn.SGD(net.trainable_params(), learning_rate=LR)
    grad_fn = ms.value_and_grad(lambda x, y: loss_fn(net(x), y), None, opt.parameters)
    params, losses = [], []
    for step in range(STEPS):
        parts = [batch(step, r) for r in range(size)]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        loss, grads = grad_fn(ms.Tensor(x), ms.Tensor(y))
        opt(grads)
        losses.append(float(loss.asnumpy()))
        params.append(flat(net))
    save(0, params, losses)
    print(f"train reference: ok, {size} ranks' batches, loss {losses[0]:.5f} -> {losses[-1]:.5f}", flush=True)


if __name__ == "__main__":
    if os.environ.get("MS_ROLE") == "MS_SCHED":
        from mindspore.communication import init
        ms.set_device("CPU")
        init("mccl")   # MindSpore's scheduler: serves its cluster until the workers exit
    elif MODE in ("mpirun-dropin", "mccl"):
        run_data_parallel()
    elif MODE == "cells":
        run_cells()
    elif MODE == "reference":
        run_reference(int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {MODE}")
