#!/usr/bin/env python3
"""MindSpore data-parallel training on dlcoll, next to MindSpore's own CPU backend.

    <venv>/bin/python examples/mindspore_data_parallel.py [--ranks 4] [--steps 20]

(from the repository root, after ./scripts/build.sh and scripts/test-mindspore.sh
made the MindSpore venv and the drop-in) starts the same 4-rank training three
ways and prints rank 0's loss curve and time per step for each:

  dropin  MindSpore's own DATA_PARALLEL (gradients_mean, parameter_broadcast,
          nn.TrainOneStepCell, Graph mode) under mpirun, on dlcoll's drop-in
          libmpi_collective.so;
  cells   dlcoll.mindspore: Broadcast(0) of the initial weights, then
          AllReduce("avg") of every gradient (PyNative), under dlcoll-run;
  mccl    MindSpore's own CPU backend (its scheduler + workers), the baseline.

Each rank trains a small MLP on its own batches; the loss printed is rank 0's.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("DLCOLL_BUILD_DIR", os.path.join(REPO, "build"))
IN, HIDDEN, OUT, BATCH, LR = 64, 256, 8, 32, 0.05


def batch(step, rank):
    rng = np.random.default_rng([7, step, rank])
    x = rng.standard_normal((BATCH, IN)).astype(np.float32)
    y = np.stack([np.sin(x[:, :8].sum(1) + k) for k in range(OUT)], 1).astype(np.float32)
    return x, y


def model(seed):
    import mindspore as ms
    from mindspore import nn
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((HIDDEN, IN)) / np.sqrt(IN)).astype(np.float32)
    w2 = (rng.standard_normal((OUT, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    return nn.SequentialCell(nn.Dense(IN, HIDDEN, weight_init=ms.Tensor(w1), bias_init="zeros"), nn.Tanh(),
                             nn.Dense(HIDDEN, OUT, weight_init=ms.Tensor(w2), bias_init="zeros"))


def report(rank, losses, times):
    if rank == 0:
        print("RESULT " + " ".join(f"{l:.6f}" for l in losses), flush=True)
        print("TIMES " + " ".join(f"{t:.6f}" for t in times), flush=True)


def worker(mode, steps):
    import ctypes
    if mode == "dropin":   # before MindSpore loads "libmpi_collective.so"
        ctypes.CDLL(os.path.join(BUILD, "python", "dlcoll", "mindspore", "libmpi_collective.so"),
                    mode=ctypes.RTLD_GLOBAL)
    import mindspore as ms
    from mindspore import nn
    ms.set_device("CPU")
    if os.environ.get("MS_ROLE") == "MS_SCHED":
        from mindspore.communication import init
        init("mccl")
        return
    losses, times = [], []
    if mode in ("dropin", "mccl"):
        from mindspore.communication import get_rank, init
        ms.set_context(mode=ms.GRAPH_MODE)
        init("mccl" if mode == "mccl" else None)
        rank = get_rank()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                     parameter_broadcast=True)
        net = model(rank + 1)
        step_fn = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()),
                                      nn.SGD(net.trainable_params(), learning_rate=LR))
        for step in range(steps):
            x, y = batch(step, rank)
            t0 = time.perf_counter()
            losses.append(float(step_fn(ms.Tensor(x), ms.Tensor(y)).asnumpy()))
            times.append(time.perf_counter() - t0)
    else:
        sys.path.insert(0, os.path.join(REPO, "python"))
        from dlcoll import mindspore as comm
        comm.init()
        rank = comm.get_rank()
        net = model(rank + 1)
        bcast, avg = comm.Broadcast(0), comm.AllReduce("avg")
        for p in net.trainable_params():
            p.set_data(bcast(p.value()))
        loss_fn, opt = nn.MSELoss(), nn.SGD(net.trainable_params(), learning_rate=LR)
        grad_fn = ms.value_and_grad(lambda x, y: loss_fn(net(x), y), None, opt.parameters)
        for step in range(steps):
            x, y = batch(step, rank)
            t0 = time.perf_counter()
            loss, grads = grad_fn(ms.Tensor(x), ms.Tensor(y))
            opt(tuple(avg(g) for g in grads))
            losses.append(float(loss.asnumpy()))
            times.append(time.perf_counter() - t0)
        comm.release()
    report(rank, losses, times)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode, n, steps):
    env = dict(os.environ, GLOG_v="3", OMP_NUM_THREADS="1", FI_TCP_IFACE="lo",
               DLCOLL_PLUGIN=os.path.join(BUILD, "lib", "libdlcoll.so"),
               DLCOLL_MS_HELPER=os.path.join(BUILD, "lib", "libdlcoll_ms.so"),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    me = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--steps", str(steps)]
    if mode == "dropin":
        mpirun = shutil.which("mpirun") or sys.exit("mpirun not found (apt-get install openmpi-bin)")
        cmd = [mpirun, "-n", str(n), "--oversubscribe", "--mca", "btl", "self,vader",
               "--mca", "oob_tcp_if_include", "lo", "-x", "DLCOLL_PLUGIN",
               "-x", f"DLCOLL_INIT_METHOD=tcp://127.0.0.1:{free_port()}", "-x", "GLOG_v",
               "-x", "OMP_NUM_THREADS"] + me
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)]
    elif mode == "cells":
        procs = [subprocess.Popen([os.path.join(BUILD, "bin", "dlcoll-run"), "-n", str(n), "--"] + me,
                                  env=env, stdout=subprocess.PIPE, text=True)]
    else:
        port, procs = free_port(), []
        for r in list(range(n)) + [-1]:
            e = dict(env, MS_WORKER_NUM=str(n), MS_SCHED_HOST="127.0.0.1", MS_SCHED_PORT=str(port),
                     MS_ROLE="MS_SCHED" if r < 0 else "MS_WORKER")
            if r >= 0:
                e["MS_NODE_ID"] = str(r)
            procs.append(subprocess.Popen(me, env=e, stdout=subprocess.PIPE, text=True))
    out = "".join(p.communicate()[0] for p in procs)
    if any(p.returncode for p in procs):
        sys.exit(f"{mode}: a rank failed:\n{out}")
    line = lambda tag: [float(v) for l in out.splitlines() if tag in l for v in l.split(tag, 1)[1].split()]
    return line("RESULT "), line("TIMES ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.steps)
    runs = {m: launch(m, a.ranks, a.steps) for m in ("dropin", "cells", "mccl")}
    print(f"{a.ranks} ranks, MLP {IN}-{HIDDEN}-{OUT}, batch {BATCH}/rank, rank 0's loss and step time")
    print("step  " + "  ".join(f"{m:>10} loss" for m in runs))
    for s in range(a.steps):
        print(f"{s:4d}  " + "  ".join(f"{runs[m][0][s]:15.6f}" for m in runs))
    med = {m: float(np.median(runs[m][1][1:])) * 1e3 for m in runs}   # step 0 compiles
    print("median step time (ms, steps 1..): " + ", ".join(f"{m} {med[m]:.2f}" for m in runs)
          + f"; dlcoll/mccl: drop-in {med['dropin'] / med['mccl']:.2f}x, cells {med['cells'] / med['mccl']:.2f}x")


if __name__ == "__main__":
    main()
