"""dist.all_reduce and dist.reduce_scatter_tensor: dlcoll vs Gloo, same run.

    build/bin/dlcoll-run -n 2 -- env PYTHONPATH=build/python \
        python3 python/benchmarks/bench_reduce.py [--max-bytes N] [--seconds S]

(any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT works, e.g.
torchrun).  As bench_allgather.py: the default group is dlcoll, a Gloo group
over the same ranks runs the same calls on the same float32 tensors, and the
slowest rank's mean time per call is reported.  Sizes, 8 B to 16 MiB: the
all_reduce tensor; reduce_scatter_tensor's output per rank (its input is
world x that).  The timed calls are ReduceOp.SUM on zeros (so repeated
in-place sums stay finite); after each size one call on known values is
checked.  "dlcoll/gloo" < 1 means dlcoll is faster.  Not a test: it asserts
nothing about time.
"""
import argparse
import datetime
import os
import time

os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep Gloo on loopback

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import dlcoll.torch  # noqa: E402,F401


def reduce_scatter_tensor(out, inp, group):
    fn = getattr(dist, "reduce_scatter_tensor", None) or dist._reduce_scatter_base
    return fn(out, inp, group=group)


def timed(fn, iters):
    """Mean seconds per call; NaN when the backend does not have the call."""
    try:
        fn()  # warm-up (connections, allocations)
    except RuntimeError as exc:
        if "dlcoll" in str(exc):
            raise
        return float("nan")
    fn()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - start) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-bytes", type=int, default=8)
    ap.add_argument("--max-bytes", type=int, default=16 << 20)
    ap.add_argument("--seconds", type=float, default=0.2, help="target time per measurement")
    args = ap.parse_args()

    dist.init_process_group("dlcoll", init_method="env://",
                            timeout=datetime.timedelta(seconds=120))
    rank, world = dist.get_rank(), dist.get_world_size()
    gloo = dist.new_group(backend="gloo")
    groups = {"dlcoll": None, "gloo": gloo}
    want = world * (world + 1) / 2  # sum over ranks of rank + 1

    rows = []
    size = args.min_bytes
    while size <= args.max_bytes:
        n = size // 4
        t = torch.zeros(n)
        out = torch.zeros(n)
        inp = torch.zeros(world * n)
        iters = int(max(3, min(2000, args.seconds * 2e9 / (world * size + 2e5))))
        row = {"bytes": size, "iters": iters}
        for name, g in groups.items():
            t.zero_()
            row[f"ar_{name}"] = timed(lambda: dist.all_reduce(t, group=g), iters)
            t.fill_(rank + 1)
            dist.all_reduce(t, group=g)
            assert bool((t == want).all()), f"{name} all_reduce: wrong sum"
            inp.zero_()
            row[f"rs_{name}"] = timed(lambda: reduce_scatter_tensor(out, inp, g), iters)
            if row[f"rs_{name}"] == row[f"rs_{name}"]:  # not NaN
                inp.copy_(torch.arange(world * n, dtype=torch.float32) % 7 + rank)
                reduce_scatter_tensor(out, inp, g)
                exp = (torch.arange(rank * n, (rank + 1) * n, dtype=torch.float32) % 7) * world \
                    + (world - 1) * world / 2
                assert torch.equal(out, exp), f"{name} reduce_scatter_tensor: wrong result"
        keys = sorted(k for k in row if k.startswith(("ar_", "rs_")))
        times = torch.tensor([row[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(times, op=dist.ReduceOp.MAX, group=gloo)  # the slowest rank's time counts
        row.update(zip(keys, times.tolist()))
        rows.append(row)
        size *= 8

    if rank == 0:
        def human(n):
            if n < 1024:
                return f"{n} B"
            return f"{n >> 10} KiB" if n < (1 << 20) else f"{n >> 20} MiB"

        def us(x):
            return "n/a" if x != x else f"{x * 1e6:.1f}"

        def ratio(a, b):
            return "n/a" if a != a or b != b else f"{a / b:.2f}"

        print(f"\nall_reduce and reduce_scatter_tensor (float32, SUM) through dlcoll vs Gloo, "
              f"{world} ranks, torch {torch.__version__}, plugin {dlcoll.torch.plugin_version()}")
        print("| bytes | all_reduce dlcoll (us) | all_reduce gloo (us) | dlcoll/gloo "
              "| reduce_scatter_tensor dlcoll (us) | gloo (us) | dlcoll/gloo |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {human(r['bytes'])} | {us(r['ar_dlcoll'])} | {us(r['ar_gloo'])} "
                  f"| {ratio(r['ar_dlcoll'], r['ar_gloo'])} "
                  f"| {us(r['rs_dlcoll'])} | {us(r['rs_gloo'])} "
                  f"| {ratio(r['rs_dlcoll'], r['rs_gloo'])} |")
    dist.barrier(group=gloo)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
