"""coll_report.py -- the ABI 1.1 collectives' part of scripts/bench/report.py.

Rows whose convention (CSV column conv) is allreduce, reduce_scatter or
broadcast, from dlcoll-bench -o, mpi_allgather_bench -o (Open MPI, MPICH),
gloo_allgather_bench -o and dlcoll-coll-bound.  For every (op, system, np,
size) the best round is kept (smallest per-call time).  Writes, in the
output directory:

  report-coll.md    per op and np: time per call, peer time / dlcoll time
                    (> 1: dlcoll is faster), the bound's time / dlcoll time
                    (the fraction of the bound dlcoll reaches), and the
                    targets of issue 13 with their verdicts;
  results-coll.csv  the merged best rows.
Standard library only.
"""
import csv
import os
from collections import defaultdict

OPS = ("allreduce", "reduce_scatter", "broadcast")
PEERS = [("openmpi", "Open MPI"), ("mpich", "MPICH"), ("gloo", "Gloo"), ("bound", "bound")]
TITLES = dict([("dlcoll", "dlcoll")] + PEERS)
BOUND_SIZE = 16 << 20


def size_text(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%dK" % (n >> 10)
    return str(n)


def load(paths, metric):
    """{(op, system, np, size): best time}, {same: rounds}, [failed rows]."""
    best, rounds, failed = {}, defaultdict(int), []
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row["conv"] not in OPS:
                    continue
                key = (row["conv"], row["system"], int(row["np"]), int(row["size"]))
                if row["check"] != "ok":
                    failed.append(key)
                    continue
                t = float(row["med_us" if metric == "median" else "avg_us"])
                rounds[key] += 1
                best[key] = min(t, best.get(key, t))
    return best, rounds, failed


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def speedups(best, op, np, peer):
    """[(peer time / dlcoll time, size)] over the sizes both have."""
    out = []
    for (o, sysname, n, s), t in best.items():
        if o == op and sysname == "dlcoll" and n == np and (op, peer, np, s) in best:
            out.append((best[(op, peer, np, s)] / t, s))
    return sorted(out, key=lambda x: x[1])


def targets(best, ops, nps):
    rows = []

    def add(name, vals, goal, pick_min=True):
        if not vals:
            rows.append([name, "-", "not measured", ""])
            return
        worst = min(vals) if pick_min else vals[0]
        rows.append([name, "%.2fx (at %s)" % (worst[0], size_text(worst[1])),
                     "met" if worst[0] >= goal else "NOT met",
                     "range %.2fx..%.2fx" % (min(vals)[0], max(vals)[0])])

    for op in ops:
        for np in nps:
            add("%s np=%d: >= 1.0x Open MPI at every size" % (op, np),
                speedups(best, op, np, "openmpi"), 1.0)
            add("%s np=%d: >= 3x Gloo at every size" % (op, np), speedups(best, op, np, "gloo"), 3.0)
    for np in nps:
        v = [x for x in speedups(best, "allreduce", np, "bound") if x[1] == BOUND_SIZE]
        add("allreduce np=%d: 16M within 80%% of the bound (bound time / dlcoll time >= 0.8)" % np,
            v, 0.8, pick_min=False)
    return md_table(["target (issue 13)", "worst measured", "verdict", "detail"], rows)


def tables(best, ops, nps):
    out = []
    for op in ops:
        for np in nps:
            sizes = sorted({s for (o, _, n, s) in best if o == op and n == np})
            if not sizes:
                continue
            systems = [x for x in ["dlcoll"] + [p for p, _ in PEERS]
                       if any((op, x, np, s) in best for s in sizes)]
            peers = [x for x in systems if x != "dlcoll"]
            head = ["size"] + ["%s us" % TITLES[x] for x in systems] + \
                   ["%s / dlcoll" % TITLES[p] for p in peers]
            rows = []
            for s in sizes:
                dl = best.get((op, "dlcoll", np, s))
                row = [size_text(s)]
                row += ["%.2f" % best[(op, x, np, s)] if (op, x, np, s) in best else "-"
                        for x in systems]
                row += ["%.2f" % (best[(op, p, np, s)] / dl) if dl and (op, p, np, s) in best
                        else "-" for p in peers]
                rows.append(row)
            out.append("### %s, np=%d\n" % (op, np))
            out.append(md_table(head, rows))
            out.append("")
    return "\n".join(out)


def write(paths, metric, out_dir, meta):
    """Write report-coll.md and results-coll.csv; False when there are no rows."""
    best, rounds, failed = load(paths, metric)
    if not best:
        return False
    ops = [o for o in OPS if any(k[0] == o for k in best)]
    nps = sorted({k[2] for k in best})
    with open(os.path.join(out_dir, "results-coll.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["op", "system", "np", "size", "time_us_" + metric, "rounds"])
        for k in sorted(best):
            w.writerow(list(k) + ["%.3f" % best[k], rounds[k]])
    doc = ["# allreduce, reduce_scatter, broadcast: dlcoll vs Open MPI, MPICH, Gloo and the "
           "memory bound (one host)\n",
           "```", meta.rstrip("\n"), "```\n",
           "Times are the %s per-call time (the slowest rank's), best of the rounds.  "
           "`X / dlcoll` is X's time / dlcoll's time: above 1 dlcoll is faster; for the "
           "bound it is the fraction of the bound dlcoll reaches.  size: bytes of each "
           "rank's output (float32 sums; broadcast uint8 from rank 0).  The bound "
           "(dlcoll-coll-bound): N threads at once, each reading the N inputs and "
           "writing one output (broadcast: N - 1 threads each copying size bytes).\n" % metric,
           "## Targets\n", targets(best, ops, nps), "", "## Tables\n", tables(best, ops, nps)]
    if failed:
        doc.append("\n**Rows whose data check FAILED (left out):** " +
                   ", ".join("%s %s np=%d %s" % (k[0], k[1], k[2], size_text(k[3])) for k in failed))
    with open(os.path.join(out_dir, "report-coll.md"), "w") as f:
        f.write("\n".join(doc) + "\n")
    return True
