#!/usr/bin/env python3
"""DistributedDataParallel training on dlcoll, next to Gloo.

    python3 examples/torch_ddp.py [--ranks 4] [--steps 20] [--hidden 256]

(from the repository root, after ./scripts/build.sh; or with dlcoll
installed).  Starts the same N-rank training twice, each rank a process of
this script with init_method="env://" (MASTER_ADDR/MASTER_PORT, RANK,
WORLD_SIZE): once with the "dlcoll" backend, once with "gloo".  Every rank
trains the same MLP (same seed) on its own batches; DDP averages the
gradients.  Prints the loss curve (the mean over ranks of each step's loss)
for both backends and the median time per step (steps 1.., the slowest
rank's), and the ratio dlcoll/gloo (below 1: dlcoll is faster).

--json prints the results as one JSON line instead (used by the tests and
python/benchmarks/bench_training.py).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("DLCOLL_BUILD_DIR", os.path.join(REPO, "build"))
IN, OUT, BATCH, LR = 64, 8, 32, 0.05


def make_model(hidden):
    import torch
    torch.manual_seed(1234)
    return torch.nn.Sequential(torch.nn.Linear(IN, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, OUT))


def batch(step, rank):
    import torch
    g = torch.Generator().manual_seed(1000003 * rank + step)
    x = torch.randn(BATCH, IN, generator=g)
    y = torch.sin(x[:, :OUT] + x[:, OUT:2 * OUT])
    return x, y


def init_rank(backend):
    """The rank's side of the launch: env:// with this script's variables."""
    import datetime
    import torch.distributed as dist
    if backend == "dlcoll":
        sys.path.insert(0, os.path.join(BUILD, "python"))
        import dlcoll.torch  # noqa: F401  (registers the backend)
    dist.init_process_group(backend, init_method="env://",
                            timeout=datetime.timedelta(seconds=120))
    return dist.get_rank(), dist.get_world_size()


def train(model, opt, steps, rank):
    """steps of SGD on this rank's batches: (losses, seconds per step)."""
    import torch
    losses, times = [], []
    for step in range(steps):
        x, y = batch(step, rank)
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    return losses, times


def report(losses, times, params):
    """Rank 0 prints the mean loss over ranks and the slowest rank's step times."""
    import torch
    import torch.distributed as dist
    lt = torch.tensor(losses, dtype=torch.float64)
    dist.all_reduce(lt)
    tt = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(tt, op=dist.ReduceOp.MAX)
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps({"loss": (lt / dist.get_world_size()).tolist(),
                                      "times": tt.tolist(), "params": params}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


def worker(backend, steps, hidden):
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP
    rank, _ = init_rank(backend)
    model = DDP(make_model(hidden))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    losses, times = train(model, opt, steps, rank)
    report(losses, times, sum(p.numel() for p in model.parameters()))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(script, backend, n, steps, hidden):
    """Start n ranks of script --worker backend; rank 0's RESULT line."""
    port = free_port()
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(n),
               OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", FI_TCP_IFACE="lo")
    cmd = [sys.executable, script, "--worker", backend, "--steps", str(steps), "--hidden", str(hidden)]
    procs = [subprocess.Popen(cmd, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(n)]
    deadline = time.monotonic() + 600
    while any(p.poll() is None for p in procs):  # one rank failing ends the others
        if any(p.poll() for p in procs) or time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        time.sleep(0.05)
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        sys.exit(f"{backend}: a rank failed:\n" + "\n".join(outs))
    line = next(l for l in outs[0].splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main(script=os.path.abspath(__file__), worker_fn=worker, what="DDP"):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--backends", default="dlcoll,gloo")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker_fn(a.worker, a.steps, a.hidden)
    runs = {b: launch(script, b, a.ranks, a.steps, a.hidden) for b in a.backends.split(",")}
    for r in runs.values():
        r["median_step_s"] = statistics.median(r["times"][1:] or r["times"])  # step 0 warms up
    if a.json:
        print(json.dumps(runs))
        return
    names = list(runs)
    params = next(iter(runs.values()))["params"]
    print(f"{what}, {a.ranks} ranks, MLP {IN}-{a.hidden}-{a.hidden}-{OUT} ({params} parameters), "
          f"batch {BATCH}/rank; loss = mean over ranks")
    print("step  " + "  ".join(f"{b + ' loss':>14}" for b in names))
    for s in range(a.steps):
        print(f"{s:4d}  " + "  ".join(f"{runs[b]['loss'][s]:14.6f}" for b in names))
    med = {b: runs[b]["median_step_s"] * 1e3 for b in names}
    line = "median step time (ms, steps 1..): " + ", ".join(f"{b} {med[b]:.2f}" for b in names)
    if "dlcoll" in med and "gloo" in med:
        line += f"; dlcoll/gloo {med['dlcoll'] / med['gloo']:.2f}"
    print(line)


if __name__ == "__main__":
    main()
