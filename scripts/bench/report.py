#!/usr/bin/env python3
"""report.py -- turn the CSVs of scripts/bench-compare.sh into tables and a plot.

    python3 scripts/bench/report.py [--metric median|avg] --out DIR raw/*.csv

Input: CSV files written by the drivers of examples/bench/ (one header line,
columns of bench_common.h's BENCH_CSV_HEADER), named LABEL-npN-rR.csv by the
runner (R = round).  For every (system, np, size) the report keeps the best
round: the smallest per-call time (median over calls by default, --metric avg
for the average).  Bandwidth is always N * size / that time.

Output, in DIR:
  report.md     tables (time, algbw, dlcoll/peer ratios) per np, the targets of
                issue 5 with their measured ratios, and how noisy the run was;
  results.csv   the merged best rows (one line per system, np, size);
  plot.gp       a gnuplot script drawing allgather-shm.png from plot/*.dat;
  report-coll.md, results-coll.csv  the same for the ABI 1.1 collectives'
                rows (conv allreduce, reduce_scatter, broadcast: coll_report.py).
Standard library only.
"""
import argparse
import csv
import os
import re
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coll_report  # noqa: E402

# (label, title, gnuplot style)
SYSTEMS = [
    ("dlcoll-single", "dlcoll (single)", "lw 3 lc rgb '#d62728' pt 7 ps 0.8"),
    ("dlcoll-list", "dlcoll (list)", "lw 2 dt 2 lc rgb '#ff7f0e' pt 6 ps 0.8"),
    ("openmpi", "Open MPI", "lw 2 lc rgb '#1f77b4' pt 5 ps 0.8"),
    ("mpich", "MPICH", "lw 2 lc rgb '#2ca02c' pt 9 ps 0.8"),
    ("gloo", "Gloo", "lw 2 lc rgb '#9467bd' pt 11 ps 0.8"),
    ("memcpy", "copy bound (memcpy)", "lw 2 dt 3 lc rgb '#555555' pt 1 ps 0.8"),
]
TITLES = {label: title for label, title, _ in SYSTEMS}
SMALL = 64 * 1024          # below: time ratios; from here on: bandwidth ratios
DL = "dlcoll-single"


def size_text(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%dM" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%dK" % (n >> 10)
    return str(n)


def load(paths, metric):
    """{(label, np, size): [time per round]}, {(label,np,size): iters}, failures."""
    times = defaultdict(list)
    failed = []
    for path in paths:
        m = re.search(r"-r(\d+)\.csv$", path)
        rnd = int(m.group(1)) if m else 1
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row["conv"] in coll_report.OPS:
                    continue
                label = row["system"]
                if label == "dlcoll":
                    label = "dlcoll-" + row["conv"]
                key = (label, int(row["np"]), int(row["size"]))
                if row["check"] != "ok":
                    failed.append((key, rnd))
                    continue
                t = float(row["med_us" if metric == "median" else "avg_us"])
                times[key].append((rnd, t))
    return times, failed


class Data:
    def __init__(self, times):
        self.times = times
        self.best = {k: min(t for _, t in v) for k, v in times.items()}
        self.nps = sorted({np for _, np, _ in self.best})
        self.sizes = sorted({s for _, _, s in self.best})
        self.labels = [l for l, _, _ in SYSTEMS if any(k[0] == l for k in self.best)]

    def t(self, label, np, size):
        return self.best.get((label, np, size))

    def bw(self, label, np, size):
        t = self.t(label, np, size)
        return np * size / t / 1e3 if t else None      # bytes/us -> GB/s


def ratio(v):
    """Three significant digits: 0.00213, 0.44, 1.55, 475."""
    return "%.3g" % v if v < 1000 else "%.0f" % v


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def md_table(head, rows, left=1):
    """A Markdown table; the first `left` columns are left-aligned."""
    align = [":---" if i < left else "---:" for i in range(len(head))]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def ratio_cell(d, np, size, peer):
    """dlcoll vs peer: 't X' = dlcoll time / peer time below 64 KiB (lower is
    better), 'bw X' = dlcoll bandwidth / peer bandwidth from 64 KiB on
    (higher is better)."""
    a, b = d.t(DL, np, size), d.t(peer, np, size)
    if a is None or b is None:
        return "-"
    if size < SMALL:
        return "t %s" % ratio(a / b)
    return "bw %s" % ratio(b / a)


def tables(d):
    out = []
    for np in d.nps:
        sizes = [s for s in d.sizes if any(d.t(l, np, s) for l in d.labels)]
        head = ["size"] + [TITLES[l] for l in d.labels]
        out.append("### np=%d: time per call (us)\n" % np)
        out.append(md_table(head, [[size_text(s)] + [fmt(d.t(l, np, s), ".2f") for l in d.labels]
                                   for s in sizes]))
        out.append("\n### np=%d: algbw (GB/s) = %d x size / time\n" % (np, np))
        out.append(md_table(head, [[size_text(s)] + [fmt(d.bw(l, np, s), ".3f") for l in d.labels]
                                   for s in sizes]))
        peers = [l for l in ("openmpi", "mpich", "gloo", "memcpy") if l in d.labels]
        head = ["size"] + ["vs " + TITLES[p] for p in peers] + ["list / single (time)"]
        rows = []
        for s in sizes:
            row = [size_text(s)] + [ratio_cell(d, np, s, p) for p in peers]
            a, b = d.t("dlcoll-list", np, s), d.t(DL, np, s)
            row.append(fmt(a / b if a and b else None, ".2f"))
            rows.append(row)
        out.append("\n### np=%d: dlcoll (single) / peer\n" % np)
        out.append("`t X`: dlcoll's time / the peer's time (below 64 KiB; < 1 means dlcoll is "
                   "faster). `bw X`: dlcoll's bandwidth / the peer's (from 64 KiB; > 1 means "
                   "dlcoll is faster).\n")
        out.append(md_table(head, rows))
        out.append("")
    return "\n".join(out)


def targets(d):
    """The targets of issue 5, each with its measured value and verdict."""
    res = []

    def add(name, value, ok, detail):
        verdict = "not measured" if ok is None else ("met" if ok else "NOT met")
        res.append([name, value, verdict, detail])

    def over(np, lo, hi, fn):
        vals = []
        for s in d.sizes:
            if lo <= s <= hi:
                v = fn(np, s)
                if v is not None:
                    vals.append((v, s))
        return vals

    def t_ratio(peer):
        return lambda np, s: (d.t(DL, np, s) / d.t(peer, np, s)
                              if d.t(DL, np, s) and d.t(peer, np, s) else None)

    def speedup(peer):
        return lambda np, s: (d.t(peer, np, s) / d.t(DL, np, s)
                              if d.t(DL, np, s) and d.t(peer, np, s) else None)

    # np=2, 8 B latency <= 1.0x Open MPI
    v = over(2, 8, 8, t_ratio("openmpi"))
    if v:
        add("np=2 shm: 8 B time <= 1.0x Open MPI", "%.2fx" % v[0][0], v[0][0] <= 1.0,
            "dlcoll %.2f us, Open MPI %.2f us" % (d.t(DL, 2, 8), d.t("openmpi", 2, 8)))
    else:
        add("np=2 shm: 8 B time <= 1.0x Open MPI", "-", None, "no data")
    # np=2, 64K..16M algbw >= 1.2x Open MPI
    v = over(2, 64 << 10, 16 << 20, speedup("openmpi"))
    if v:
        worst = min(v)
        add("np=2 shm: algbw >= 1.2x Open MPI at every size 64K..16M",
            "min %.2fx (at %s)" % (worst[0], size_text(worst[1])), worst[0] >= 1.2,
            "range %.2fx..%.2fx" % (worst[0], max(v)[0]))
    else:
        add("np=2 shm: algbw >= 1.2x Open MPI at every size 64K..16M", "-", None, "no data")
    # np=2, 16 MiB >= 90% of the copy bound
    v = over(2, 16 << 20, 16 << 20, speedup("memcpy"))
    if v:
        add("np=2 shm: 16M algbw >= 0.9x copy bound", "%.2fx" % v[0][0], v[0][0] >= 0.9,
            "dlcoll %.2f GB/s, memcpy %.2f GB/s" % (d.bw(DL, 2, 16 << 20), d.bw("memcpy", 2, 16 << 20)))
    else:
        add("np=2 shm: 16M algbw >= 0.9x copy bound", "-", None, "no data")
    # np=4 >= 1.0x Open MPI at every size
    v = over(4, 0, 1 << 62, speedup("openmpi"))
    if v:
        worst = min(v)
        add("np=4 shm: >= 1.0x Open MPI at every size",
            "min %.2fx (at %s)" % (worst[0], size_text(worst[1])), worst[0] >= 1.0,
            "Open MPI time / dlcoll time; range %.2fx..%.2fx" % (worst[0], max(v)[0]))
    else:
        add("np=4 shm: >= 1.0x Open MPI at every size", "-", None, "no data")
    # np=4 time per byte received <= 2x np=2's
    v = []
    for s in d.sizes:
        t4, t2 = d.t(DL, 4, s), d.t(DL, 2, s)
        if t4 and t2:
            v.append(((t4 / (3 * s)) / (t2 / (1 * s)), s))
    if v:
        worst = max(v)
        add("np=4 shm: time per byte received <= 2x np=2's, every size",
            "max %.2fx (at %s)" % (worst[0], size_text(worst[1])), worst[0] <= 2.0,
            "(t4 / 3 size) / (t2 / size)")
    else:
        add("np=4 shm: time per byte received <= 2x np=2's, every size", "-", None, "no data")
    # two hosts
    add("two namespace hosts, tcp: >= 0.9x link bound at >= 1M", "-", None,
        "measured by scripts/bench-compare.sh --two-host (its own report)")
    add("two namespace hosts, tcp: >= 1.5x Open MPI", "-", None,
        "measured by scripts/bench-compare.sh --two-host (its own report)")
    # Gloo >= 3x everywhere
    for np in (2, 4):
        v = over(np, 0, 1 << 62, speedup("gloo"))
        name = "np=%d: >= 3x Gloo at every size" % np
        if v:
            worst = min(v)
            add(name, "min %.2fx (at %s)" % (worst[0], size_text(worst[1])), worst[0] >= 3.0,
                "Gloo time / dlcoll time; range %.2fx..%.2fx" % (worst[0], max(v)[0]))
        else:
            add(name, "-", None, "no data")
    # list vs single within 5%
    for np in d.nps:
        v = []
        for s in d.sizes:
            a, b = d.t("dlcoll-list", np, s), d.t(DL, np, s)
            if a and b:
                v.append((a / b, s))
        name = "np=%d: list time within 5%% of single, every size" % np
        if v:
            worst = max(v, key=lambda x: abs(x[0] - 1))
            add(name, "worst %.2fx (at %s)" % (worst[0], size_text(worst[1])),
                abs(worst[0] - 1) <= 0.05,
                "list time / single time; range %.2fx..%.2fx" % (min(v)[0], max(v)[0]))
        else:
            add(name, "-", None, "no data")
    return md_table(["target (issue 5)", "measured", "verdict", "detail"], res, left=4)


def noise(d, out_dir):
    """How much the rounds disagree, and the machine's load while measuring."""
    lines = []
    spreads = defaultdict(list)
    for (label, np, size), v in d.times.items():
        ts = [t for _, t in v]
        if len(ts) >= 2:
            spreads[(label, np)].append(max(ts) / min(ts))
    if spreads:
        rows = []
        for (label, np) in sorted(spreads, key=lambda k: (k[1], [l for l, _, _ in SYSTEMS].index(k[0]))):
            s = spreads[(label, np)]
            rows.append([TITLES[label], str(np), "%.2f" % statistics.median(s), "%.2f" % max(s)])
        lines.append("Round-to-round spread (slowest round / fastest round of the same row):\n")
        lines.append(md_table(["system", "np", "median spread", "worst spread"], rows))
    else:
        lines.append("One round only: no round-to-round spread available.")
    path = os.path.join(out_dir, "load.txt")
    if os.path.exists(path):
        loads, busy = [], []
        with open(path) as f:
            for line in f:
                w = line.split()
                if "load-before" in w:
                    i = w.index("load-before")
                    loads += [float(w[i + 1]), float(w[w.index("load-after") + 1])]
                if "others-busy" in w:
                    busy.append(float(w[w.index("others-busy") + 1]))
        ncpu = os.cpu_count() or 1
        if busy:
            lines.append("\nOther processes' CPU use in the 0.5 s before each run (%% of all %d "
                         "cores, none of the benchmark's processes running): min %.0f%%, median "
                         "%.0f%%, max %.0f%% over %d runs." % (ncpu, min(busy), statistics.median(busy),
                                                             max(busy), len(busy)))
        if loads:
            lines.append("\n1-minute load average before and after each run (%d cores; it "
                         "includes the benchmark's own ranks): min %.2f, median %.2f, max %.2f."
                         % (ncpu, min(loads), statistics.median(loads), max(loads)))
    return "\n".join(lines)


def write_plot(d, out_dir, metric):
    pdir = os.path.join(out_dir, "plot")
    os.makedirs(pdir, exist_ok=True)
    files = {}
    for label in d.labels:
        for np in d.nps:
            rows = [(s, d.t(label, np, s), d.bw(label, np, s)) for s in d.sizes if d.t(label, np, s)]
            if not rows:
                continue
            name = "plot/np%d-%s.dat" % (np, label)
            with open(os.path.join(out_dir, name), "w") as f:
                f.write("# size_bytes time_us algbw_GBps\n")
                for s, t, bw in rows:
                    f.write("%d %.4f %.5f\n" % (s, t, bw))
            files[(label, np)] = name
    tics = ", ".join('"%s" %d' % (size_text(s), s) for s in d.sizes if (s.bit_length() - 1) % 3 == 0)
    lo, hi = d.sizes[0], d.sizes[-1]
    gp = ["set terminal pngcairo size 1600,%d font 'Sans,11'" % (560 * len(d.nps) + 80),
          "set output 'allgather-shm.png'",
          "set multiplot layout %d,2 title \"allgather on one host (shm): %s time per call, "
          "best of the rounds\" font 'Sans,14'" % (len(d.nps), metric),
          "set logscale x 2", "set xrange [%g:%g]" % (lo / 1.4, hi * 1.4),
          "set xtics (%s)" % tics, "set grid", "set logscale y 10", "set format y '%g'",
          "set key bottom right opaque box", "set xlabel 'bytes per rank'"]
    for np in d.nps:
        for kind in ("time", "bw"):
            plots = []
            for label, title, style in SYSTEMS:
                if (label, np) in files:
                    col = 2 if kind == "time" else 3
                    plots.append("'%s' using 1:%d with linespoints %s title '%s'"
                                 % (files[(label, np)], col, style, title))
            if kind == "time":
                gp += ["set ylabel 'us per call (log)'",
                       "set title 'np=%d: time per allgather (lower is better)'" % np]
            else:
                gp += ["set ylabel 'GB/s (log)'",
                       "set title 'np=%d: algbw = %d x size / time (higher is better)'" % (np, np)]
            gp.append("plot " + ", \\\n     ".join(plots) if plots else "plot 0 notitle")
    gp.append("unset multiplot")
    with open(os.path.join(out_dir, "plot.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metric", choices=("median", "avg"), default="median")
    ap.add_argument("--out", required=True)
    ap.add_argument("csv", nargs="+")
    a = ap.parse_args()
    times, failed = load(a.csv, a.metric)
    meta = ""
    mpath = os.path.join(a.out, "meta.txt")
    if os.path.exists(mpath):
        with open(mpath) as f:
            meta = f.read()
    has_coll = coll_report.write(a.csv, a.metric, a.out, meta)
    if not times:
        if has_coll:
            return 0
        print("report.py: no rows in %s" % " ".join(a.csv), file=sys.stderr)
        return 1
    d = Data(times)

    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["system", "np", "size", "time_us_" + a.metric, "algbw_GBps", "rounds"])
        for (label, np, size), t in sorted(d.best.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            w.writerow([label, np, size, "%.3f" % t, "%.4f" % d.bw(label, np, size),
                        len(d.times[(label, np, size)])])

    doc = ["# allgather: dlcoll vs Open MPI, MPICH, Gloo and the copy bound (one host)\n",
           "```", meta.rstrip("\n"), "```\n",
           "Times are the %s per-call time (the slowest rank's), best of the rounds; "
           "algbw = N x size / time.\n" % a.metric,
           "## Targets\n", targets(d), "", "## Tables\n", tables(d), "## Noise\n", noise(d, a.out), ""]
    if failed:
        doc.append("\n**Rows whose data check FAILED (left out):** " +
                   ", ".join("%s np=%d %s (round %d)" % (k[0], k[1], size_text(k[2]), r)
                             for k, r in failed))
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(doc) + "\n")
    write_plot(d, a.out, a.metric)
    return 0


if __name__ == "__main__":
    sys.exit(main())
