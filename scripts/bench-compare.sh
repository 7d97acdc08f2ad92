#!/usr/bin/env bash
# bench-compare.sh -- allgather, allreduce, reduce_scatter and broadcast of
# dlcoll against Open MPI, MPICH, Gloo and the copy / memory bound, all
# measured in the same run on this host (docs/benchmarks.md).
#
#   scripts/bench-compare.sh            # full run: 8 B .. 64 MiB x2, np 2 and 4, 3 rounds (7-9 min)
#   scripts/bench-compare.sh --quick    # 8 B .. 16 MiB x2, np 2 and 4, 1 round (~1 min)
#   scripts/bench-compare.sh --two-host # two network-namespace "hosts" over tcp:
#                                       # dlcoll, Open MPI, link bound (scripts/bench-two-host.sh,
#                                       # which takes the other options; see its --help)
#
# What it does:
#   1. installs missing Debian packages (openmpi-bin libopenmpi-dev mpich
#      libmpich-dev libgloo-dev g++ gnuplot-nox, and the project's own via
#      scripts/deps.sh) with apt-get -- only when some are missing;
#   2. builds the project (dlcoll, dlcoll-run, dlcoll-bench,
#      dlcoll-memcpy-bound) into --build (default ./build) and compiles the
#      peer drivers of examples/bench/ with mpicc.openmpi, mpicc.mpich, g++;
#   3. for each round and each np: the copy bound (dlcoll-memcpy-bound), dlcoll
#      (dlcoll-bench, both output conventions, shm provider), Open MPI
#      (btl self,vader), MPICH (ch4, UCX shared memory only), Gloo (TCP on
#      127.0.0.1); every driver uses the same method (examples/bench/bench_common.h)
#      and writes a CSV;
#   4. scripts/bench/report.py merges the CSVs (best round per row), prints
#      the tables of dlcoll/peer ratios and the targets of issue 5 (allgather)
#      and issue 13 (the other ops, scripts/bench/coll_report.py), and writes
#      a gnuplot script; gnuplot draws the PNG;
#   5. copies reports, CSV and PNG to docs/bench/ (unless --no-docs):
#      latest.md (allgather), coll.md (the ABI 1.1 collectives).
#
# Options:
#   --quick            short run (see above)
#   --np "LIST"        rank counts (default "2 4")
#   --rounds R         repeat the whole matrix R times; rows keep the best round
#   --systems "LIST"   subset of: memcpy dlcoll openmpi mpich gloo (default: all;
#                      memcpy is the bound: dlcoll-memcpy-bound for allgather,
#                      dlcoll-coll-bound for the other ops)
#   --ops "LIST"       subset of: allgather allreduce reduce_scatter broadcast
#                      (default: all).  allreduce and reduce_scatter are float32
#                      sums (MPI_Allreduce, MPI_Reduce_scatter_block,
#                      gloo::allreduce, gloo::ReduceScatterHalvingDoubling),
#                      broadcast is uint8 from rank 0 (MPI_Bcast, gloo::broadcast);
#                      size is the per-rank output (examples/bench/bench_coll.h)
#   --sizes MIN:MAX:F  per-rank sizes (default 8:64M:2, quick 8:16M:2)
#   --budget SECS      time budget of the timed calls per size and system (-T)
#   --metric M         median (default) or avg: the per-call time the report uses
#   --build DIR        build directory (default ./build)
#   --out DIR          results directory (default BUILD/bench-results/DATE)
#   --no-docs          do not write docs/bench/
#   --no-install       never call apt-get (fail when something is missing)
# Environment: DLCOLL_ALGO is passed to dlcoll-bench; BENCH_RUN_TIMEOUT (s,
# default 300) bounds every single run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# --two-host: a different matrix with its own runner (namespaces, tcp).
for arg in "$@"; do
    [ "$arg" = --two-host ] && BENCH_CMDLINE="scripts/bench-compare.sh $*" exec scripts/bench-two-host.sh "$@"
done

QUICK=0
NPS="2 4"
ROUNDS=""
SYSTEMS="memcpy dlcoll openmpi mpich gloo"
OPS="allgather allreduce reduce_scatter broadcast"
SIZES=""
BUDGET=""
METRIC=median
BUILD=build
OUT=""
DOCS=1
INSTALL=1
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
CMDLINE="scripts/bench-compare.sh $*"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --np) NPS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --systems) SYSTEMS=$2; shift ;;
        --ops) OPS=$2; shift ;;
        --sizes) SIZES=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --metric) METRIC=$2; shift ;;
        --build) BUILD=$2; shift ;;
        --out) OUT=$2; shift ;;
        --no-docs) DOCS=0 ;;
        --no-install) INSTALL=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench-compare: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    : "${SIZES:=8:16M:2}" "${BUDGET:=0.1}" "${ROUNDS:=1}"
else
    : "${SIZES:=8:64M:2}" "${BUDGET:=0.4}" "${ROUNDS:=3}"
fi
IFS=: read -r SMIN SMAX SFACTOR <<<"$SIZES"
COMMON=(-b "$SMIN" -e "$SMAX" -f "${SFACTOR:-2}" -T "$BUDGET")
STAMP=$(date +%Y%m%d-%H%M%S)
: "${OUT:=$BUILD/bench-results/$STAMP}"
mkdir -p "$OUT/raw" "$OUT/logs" "$OUT/tmp"
OUT=$(cd "$OUT" && pwd)
BUILD_ABS=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
say() { printf 'bench-compare: %s\n' "$*"; }
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
has_op() { case " $OPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for op in $OPS; do
    case "$op" in allgather|allreduce|reduce_scatter|broadcast) ;;
        *) echo "bench-compare: --ops: unknown op $op" >&2; exit 2 ;;
    esac
done

# ------------------------------------------------------------------ 1. packages
pkgs=()
has openmpi && pkgs+=(openmpi-bin libopenmpi-dev)
has mpich && pkgs+=(mpich libmpich-dev)
has gloo && pkgs+=(libgloo-dev g++)
pkgs+=(gnuplot-nox)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)
missing=()
for p in "${pkgs[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$INSTALL" = 0 ]; then
        echo "bench-compare: missing packages: ${missing[*]} (--no-install given)" >&2
        exit 1
    fi
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    say "installing ${missing[*]}"
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
if [ "$INSTALL" = 1 ]; then
    ./scripts/deps.sh
fi

# ------------------------------------------------------------------ 2. build
say "building into $BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON >"$OUT/logs/cmake.txt"
fi
cmake --build "$BUILD" -j"$(nproc)" --target dlcoll dlcoll-run dlcoll-bench dlcoll-memcpy-bound dlcoll-coll-bound \
    >"$OUT/logs/build.txt" 2>&1 || { tail -30 "$OUT/logs/build.txt" >&2; exit 1; }
RUN="$BUILD_ABS/bin/dlcoll-run"
PEERS="$BUILD_ABS/bench-peers"
mkdir -p "$PEERS"
CFLAGS_PEER=(-O2 -g -Wall -Wextra -I"$ROOT/examples/bench")
if has openmpi; then
    mpicc.openmpi -std=c11 "${CFLAGS_PEER[@]}" examples/bench/mpi_allgather_bench.c \
        -o "$PEERS/mpi_allgather_bench.openmpi"
fi
if has mpich; then
    mpicc.mpich -std=c11 "${CFLAGS_PEER[@]}" examples/bench/mpi_allgather_bench.c \
        -o "$PEERS/mpi_allgather_bench.mpich"
fi
if has gloo; then
    g++ -std=c++17 "${CFLAGS_PEER[@]}" examples/bench/gloo_allgather_bench.cc \
        -o "$PEERS/gloo_allgather_bench" -lgloo -lpthread
fi

# ------------------------------------------------------------------ 3. runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export FI_TCP_IFACE=lo
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# Percentage of all cores busy during 0.5 s while none of our runs is going:
# what the other users of the machine take.
others_busy() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
    echo "$a $b" | awk '{busy=$3-$1; idle=$4-$2; printf "%.0f", (busy+idle) ? 100*busy/(busy+idle) : 0}'
}

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command: $CMDLINE"
    echo "host: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- plugin providers 2>/dev/null || echo ' (plugin/ or providers/ modified)')"
    echo "plugin: $BUILD/lib/libdlcoll.so, built $(date -u -r "$BUILD/lib/libdlcoll.so" '+%Y-%m-%d %H:%M UTC')"
    echo "libfabric: $(fi_info --version 2>/dev/null | sed -n 's/^libfabric: *//p' | head -1)"
    has openmpi && echo "openmpi: $(dpkg-query -W -f='${Version}' openmpi-bin)"
    has mpich && echo "mpich: $(dpkg-query -W -f='${Version}' mpich)"
    has gloo && echo "gloo: $(dpkg-query -W -f='${Version}' libgloo-dev)"
    echo "sizes: $SMIN..$SMAX x${SFACTOR:-2}, budget ${BUDGET}s per size, rounds $ROUNDS, np $NPS, metric $METRIC"
    echo "ops: $OPS"
    echo "DLCOLL_ALGO: ${DLCOLL_ALGO:-(default)}"
} >"$OUT/meta.txt"
: >"$OUT/load.txt"

FAILED=()
# run LABEL NP ROUND CMD... : run one driver, bounded in time, CSV to raw/.
run() {
    local label=$1 np=$2 round=$3
    shift 3
    local csv="$OUT/raw/$label-np$np-r$round.csv" log="$OUT/logs/$label-np$np-r$round.txt"
    local l0 t0 busy rc=0
    busy=$(others_busy)
    l0=$(loadavg)
    t0=$(date +%s%N)
    printf 'bench-compare: round %s np %s %-8s ... ' "$round" "$np" "$label"
    timeout --kill-after=10 "$RUN_TIMEOUT" "$@" -c "$csv" "${COMMON[@]}" >"$log" 2>&1 || rc=$?
    local secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
    echo "$label np$np r$round others-busy $busy load-before $l0 load-after $(loadavg) seconds $secs rc $rc" >>"$OUT/load.txt"
    if [ "$rc" -ne 0 ]; then
        echo "FAILED (exit $rc, log $log)"
        tail -5 "$log" | sed 's/^/    /'
        FAILED+=("$label np$np r$round")
        rm -f "$csv"
    else
        printf 'ok (%s s; before it, other processes kept %s%% of the CPUs busy)\n' "$secs" "$busy"
    fi
}

T_START=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
    for np in $NPS; do
      for op in $OPS; do
        if [ "$op" = allgather ]; then
            sfx="" ; oarg=() ; dlo=both
        else
            sfx="-$op" ; oarg=(-o "$op") ; dlo=$op
        fi
        if has memcpy; then
            if [ "$op" = allgather ]; then
                run memcpy "$np" "$round" "$BUILD_ABS/bin/dlcoll-memcpy-bound" -N "$np"
            else
                run "bound$sfx" "$np" "$round" "$BUILD_ABS/bin/dlcoll-coll-bound" -N "$np" "${oarg[@]}"
            fi
        fi
        has dlcoll && run "dlcoll$sfx" "$np" "$round" "$RUN" -n "$np" --provider shm --timeout-ms 120000 \
            --no-prefix -- "$BUILD_ABS/bin/dlcoll-bench" -o "$dlo"
        has openmpi && run "openmpi$sfx" "$np" "$round" mpirun.openmpi -np "$np" --oversubscribe \
            --bind-to none --mca btl self,vader --mca pml ob1 --mca oob_tcp_if_include lo \
            "$PEERS/mpi_allgather_bench.openmpi" -s openmpi -P shm "${oarg[@]}"
        has mpich && run "mpich$sfx" "$np" "$round" env UCX_TLS=self,sm mpiexec.mpich -launcher fork \
            -iface lo -n "$np" "$PEERS/mpi_allgather_bench.mpich" -s mpich -P shm "${oarg[@]}"
        if has gloo; then
            rm -rf "$OUT/tmp/gloo$sfx-np$np-r$round"
            run "gloo$sfx" "$np" "$round" "$RUN" -n "$np" --timeout-ms 120000 --no-prefix -- \
                "$PEERS/gloo_allgather_bench" -r "$OUT/tmp/gloo$sfx-np$np-r$round" "${oarg[@]}"
        fi
      done
    done
done
echo "elapsed: $(( $(date +%s) - T_START )) s for the runs" >>"$OUT/meta.txt"
rm -rf "$OUT/tmp"

# ------------------------------------------------------------------ 4. report and plot
python3 scripts/bench/report.py --metric "$METRIC" --out "$OUT" "$OUT"/raw/*.csv
if [ -f "$OUT/plot.gp" ]; then
    (cd "$OUT" && gnuplot plot.gp) || say "gnuplot failed (see above)"
fi
[ -f "$OUT/report.md" ] && cat "$OUT/report.md"
[ -f "$OUT/report-coll.md" ] && cat "$OUT/report-coll.md"

# ------------------------------------------------------------------ 5. docs
if [ "$DOCS" = 1 ]; then
    mkdir -p docs/bench
    [ -f "$OUT/report.md" ] && cp "$OUT/report.md" docs/bench/latest.md
    [ -f "$OUT/results.csv" ] && cp "$OUT/results.csv" docs/bench/latest.csv
    [ -f "$OUT/allgather-shm.png" ] && cp "$OUT/allgather-shm.png" docs/bench/allgather-shm.png
    [ -f "$OUT/report-coll.md" ] && cp "$OUT/report-coll.md" docs/bench/coll.md
    [ -f "$OUT/results-coll.csv" ] && cp "$OUT/results-coll.csv" docs/bench/coll.csv
    say "wrote docs/bench/ (latest.md, latest.csv, allgather-shm.png; coll.md, coll.csv)"
fi
say "results in $OUT"
if [ ${#FAILED[@]} -gt 0 ]; then
    say "runs that failed: ${FAILED[*]}"
    exit 1
fi
