"""dist.all_gather and dist.all_gather_into_tensor: dlcoll vs Gloo, same run.

    build/bin/dlcoll-run -n 2 -- env PYTHONPATH=build/python \
        python3 python/benchmarks/bench_allgather.py [--max-bytes N] [--seconds S]

(any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT works, e.g.
torchrun).  The default group is dlcoll; a Gloo group over the same ranks
runs the same calls on the same tensors.  For each size per rank (8 B to
16 MiB) every rank times a loop of calls; the slowest rank's mean time per
call is reported.  Rank 0 prints a table; "dlcoll/gloo" < 1 means dlcoll is
faster.  Not a test: it asserts nothing about time (it does check the data).
"""
import argparse
import datetime
import os
import time

os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep Gloo on loopback

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import dlcoll.torch  # noqa: E402,F401


def timed(fn, iters):
    """Mean seconds per call; NaN when the backend does not have the call
    (Gloo in torch 1.13 has no all_gather_into_tensor)."""
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

    rows = []
    size = args.min_bytes
    while size <= args.max_bytes:
        t = torch.full((size,), rank % 251, dtype=torch.uint8)
        outs = [torch.empty(size, dtype=torch.uint8) for _ in range(world)]
        single = torch.empty(world * size, dtype=torch.uint8)
        # Same iteration count on every rank: a function of the size only.
        iters = int(max(3, min(2000, args.seconds * 2e9 / (world * size + 2e5))))
        row = {"bytes": size, "iters": iters}
        for name, g in groups.items():
            row[f"list_{name}"] = timed(lambda: dist.all_gather(outs, t, group=g), iters)
            assert all(int(outs[r][0]) == r % 251 for r in range(world))
            row[f"single_{name}"] = timed(
                lambda: dist.all_gather_into_tensor(single, t, group=g), iters)
            if row[f"single_{name}"] == row[f"single_{name}"]:  # not NaN
                assert int(single[(world - 1) * size]) == (world - 1) % 251
        # The slowest rank's time counts.
        times = torch.tensor([row[k] for k in sorted(row) if k.startswith(("list", "single"))],
                             dtype=torch.float64)
        dist.all_reduce(times, op=dist.ReduceOp.MAX, group=gloo)
        for k, v in zip(sorted(k for k in row if k.startswith(("list", "single"))), times.tolist()):
            row[k] = v
        rows.append(row)
        size *= 8

    if rank == 0:
        def human(n):
            if n < 1024:
                return f"{n} B"
            return f"{n >> 10} KiB" if n < (1 << 20) else f"{n >> 20} MiB"
        print(f"\nall_gather through dlcoll vs Gloo, {world} ranks, torch {torch.__version__}, "
              f"plugin {dlcoll.torch.plugin_version()}")
        print("| bytes/rank | all_gather dlcoll (us) | all_gather gloo (us) | dlcoll/gloo "
              "| into_tensor dlcoll (us) | into_tensor gloo (us) | dlcoll/gloo |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        def us(x):
            return "n/a" if x != x else f"{x * 1e6:.1f}"

        def ratio(a, b):
            return "n/a" if a != a or b != b else f"{a / b:.2f}"

        for r in rows:
            print(f"| {human(r['bytes'])} | {us(r['list_dlcoll'])} | {us(r['list_gloo'])} "
                  f"| {ratio(r['list_dlcoll'], r['list_gloo'])} "
                  f"| {us(r['single_dlcoll'])} | {us(r['single_gloo'])} "
                  f"| {ratio(r['single_dlcoll'], r['single_gloo'])} |")
    dist.barrier(group=gloo)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
