#!/usr/bin/env bash
# bench-ab.sh -- same-run A/B of two dlcoll plugin builds (docs/benchmarks.md).
#
#   scripts/bench-ab.sh [options] OLD_PLUGIN NEW_PLUGIN
#
# Alternates the two plugins (DLCOLL_PLUGIN) round by round, running
#   dlcoll-run -n NP -- dlcoll-bench -o CONV -b MIN -e MAX -f F -T BUDGET
# with this tree's launcher and benchmark, and prints per size and convention
# the median over rounds of each plugin's per-call median, and new / old
# (< 1: the new plugin is faster). On this kind of machine absolute times move
# 20-40% within minutes, so plugin versions are compared only this way.
#
# Options:
#   --np N            ranks (default 2)
#   --conv C          single, list or both (default single)
#   --sizes MIN:MAX:F per-rank sizes (default 8:4K:8)
#   --rounds R        rounds, each runs both plugins (default 5)
#   --budget SECS     dlcoll-bench -T (default 1)
#   --build DIR       where dlcoll-run and dlcoll-bench are (default ./build)
# Extra environment (DLCOLL_PROVIDER, FI_TCP_IFACE, DLCOLL_ALGO, ...) is passed on.
#
# To build an older plugin beside this tree:
#   git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build \
#     -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build /tmp/old/build --target dlcoll
#   scripts/bench-ab.sh /tmp/old/build/lib/libdlcoll.so build/lib/libdlcoll.so
set -euo pipefail

NP=2 CONV=single SIZES=8:4K:8 ROUNDS=5 BUDGET=1 BUILD=build
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --np) NP=$2; shift 2 ;;
    --conv) CONV=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "bench-ab: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) break ;;
    esac
done
if [ $# -ne 2 ]; then usage >&2; exit 2; fi
OLD=$(realpath "$1") NEW=$(realpath "$2")
for f in "$OLD" "$NEW" "$BUILD/bin/dlcoll-run" "$BUILD/bin/dlcoll-bench"; do
    [ -e "$f" ] || { echo "bench-ab: $f does not exist" >&2; exit 1; }
done
IFS=: read -r MIN MAX F <<<"$SIZES"

echo "# bench-ab: np $NP, $CONV, sizes $MIN..$MAX x$F, $ROUNDS rounds, budget $BUDGET s"
echo "# old: $OLD"
echo "# new: $NEW"
for r in $(seq 1 "$ROUNDS"); do
    for which in old new; do
        plugin=$OLD
        [ "$which" = new ] && plugin=$NEW
        # Table rows: "size count conv iters avg median ...": keep size, conv, median.
        DLCOLL_PLUGIN=$plugin "$BUILD/bin/dlcoll-run" -n "$NP" --no-prefix -- \
            "$BUILD/bin/dlcoll-bench" -o "$CONV" -b "$MIN" -e "$MAX" -f "$F" -T "$BUDGET" |
            awk -v w="$which" '!/^#/ && NF >= 11 { print w, $1, $3, $6 }'
    done
done | python3 -c '
import collections, statistics, sys
t = collections.defaultdict(list)
for line in sys.stdin:
    which, size, conv, med = line.split()
    t[(int(size), conv, which)].append(float(med))
print("%10s %6s %10s %10s %8s" % ("size", "conv", "old us", "new us", "new/old"))
for size, conv in sorted({(s, c) for s, c, _ in t}):
    old, new = t.get((size, conv, "old")), t.get((size, conv, "new"))
    if not old or not new:
        continue
    o, n = statistics.median(old), statistics.median(new)
    print(f"{size:>10} {conv:>6} {o:>10.2f} {n:>10.2f} {n / o:>8.2f}")
'
