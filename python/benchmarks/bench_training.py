"""Time per training step, dlcoll vs Gloo, same run: DDP (every torch) and
FSDP2 (torch >= 2), 2 and 4 ranks, two model sizes.

    python3 python/benchmarks/bench_training.py [--steps 30] [--ranks 2,4] [--hidden 256,1024]

(from the repository root, after ./scripts/build.sh; the interpreter's torch
is the one measured).  Each configuration runs examples/torch_ddp.py or
examples/torch_fsdp.py (which start their own ranks, env://) once per
backend, one right after the other, and reports the median time per step
(steps 1..; each step's time is the slowest rank's) and dlcoll/gloo (< 1:
dlcoll is faster).  The MLP is 64-H-H-8 with a batch of 32 per rank.  Not a
test: it asserts nothing about time.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(example, ranks, hidden, steps):
    done = subprocess.run([sys.executable, os.path.join(REPO, "examples", example), "--json",
                           "--ranks", str(ranks), "--hidden", str(hidden), "--steps", str(steps)],
                          capture_output=True, text=True)
    if done.returncode:  # reported, and the other configurations still run
        print(f"{example} --ranks {ranks} --hidden {hidden} failed:\n{done.stderr[-3000:]}",
              file=sys.stderr, flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--ranks", default="2,4")
    ap.add_argument("--hidden", default="256,1024")
    a = ap.parse_args()
    kinds = [("DDP", "torch_ddp.py")]
    if int(torch.__version__.split(".")[0]) >= 2:
        kinds.append(("FSDP2", "torch_fsdp.py"))
    print(f"training step time, dlcoll vs Gloo, torch {torch.__version__}, {a.steps} steps "
          f"(median of steps 1..)")
    print("| training | ranks | parameters | dlcoll (ms/step) | gloo (ms/step) | dlcoll/gloo "
          "| final loss dlcoll | final loss gloo |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for what, example in kinds:
        for ranks in (int(r) for r in a.ranks.split(",")):
            for hidden in (int(h) for h in a.hidden.split(",")):
                r = run(example, ranks, hidden, a.steps)
                if r is None:
                    print(f"| {what} | {ranks} | (hidden {hidden}) | failed | | | | |", flush=True)
                    continue
                d, g = r["dlcoll"], r["gloo"]
                print(f"| {what} | {ranks} | {d['params']} | {d['median_step_s'] * 1e3:.2f} "
                      f"| {g['median_step_s'] * 1e3:.2f} "
                      f"| {d['median_step_s'] / g['median_step_s']:.2f} "
                      f"| {d['loss'][-1]:.6f} | {g['loss'][-1]:.6f} |", flush=True)


if __name__ == "__main__":
    main()
