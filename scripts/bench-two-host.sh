#!/usr/bin/env bash
# bench-two-host.sh -- allgather across two "hosts" (network namespaces joined
# by a veth pair) of dlcoll (tcp provider) against Open MPI (btl tcp) and the
# link's own bandwidth, all in the same run (docs/benchmarks.md, "Two hosts").
#
#   scripts/bench-two-host.sh                 # np 2 (1+1) and 4 (2+2), 16 B .. 16 MiB x4 (3 rounds, ~2 min)
#   scripts/bench-compare.sh --two-host ...   # the same
#
# Needs root (ip netns). Creates namespaces dlbA<pid>/dlbB<pid> with a veth
# pair 10.213.7.1/24 <-> 10.213.7.2/24; all traffic stays between them. The
# namespaces are deleted on exit (trap), whatever happens.
#   1. link bound: tcp_stream_bound (examples/bench/), one TCP connection,
#      both directions at once for 3 s; bound algbw = 2 x per-direction rate
#      (at np=2 each rank receives one block over the link, at np=4 (2+2)
#      each host receives two blocks: either way N x size / (N/2 x size / B)).
#   2. dlcoll: dlcoll-bench -o single, DLCOLL_PROVIDER=tcp, FI_TCP_IFACE=the
#      veth of the rank's namespace, DLCOLL_INIT_METHOD=tcp://10.213.7.1:PORT,
#      each namespace with its own host name (unshare --uts).
#   3. Open MPI: mpirun in namespace A with a hostfile of the two addresses;
#      the rsh launch agent is scripts/bench/netns-agent.sh, which runs orted
#      in namespace B; btl tcp,self over the veth (btl_tcp_if_include 10.213.7.0/24:
#      the veth of each namespace, and no other interface exists there).
# Options: --np "2 4"  --sizes MIN:MAX:F (16:16M:4)  --budget SECS (0.5)
#          --build DIR (./build)  --out DIR  --systems "link dlcoll openmpi"
#          --rounds R (3; --quick: 1): repeat link, dlcoll, Open MPI R times; the report
#          keeps the best round per row and the best link measurement
#          --metric avg|median (avg: the per-call time the ratios use; across
#          the link a few calls stall for milliseconds, so the median flatters)
# Every run is bounded by BENCH_RUN_TIMEOUT (s, default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NPS="2 4"; SIZES=16:16M:4; BUDGET=0.5; BUILD=build; OUT=""; SYSTEMS="link dlcoll openmpi"; METRIC=avg; ROUNDS=3
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-90}
CMDLINE=${BENCH_CMDLINE:-"scripts/bench-two-host.sh $*"}
while [ $# -gt 0 ]; do
    case "$1" in
        --two-host|--no-docs|--no-install) ;;
        --quick) ROUNDS=1 ;;
        --np) NPS=$2; shift ;;
        --sizes) SIZES=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --build) BUILD=$2; shift ;;
        --out) OUT=$2; shift ;;
        --systems) SYSTEMS=$2; shift ;;
        --metric) METRIC=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-two-host: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { printf 'bench-two-host: %s\n' "$*"; }
IFS=: read -r SMIN SMAX SFACTOR <<<"$SIZES"
COMMON=(-b "$SMIN" -e "$SMAX" -f "${SFACTOR:-4}" -T "$BUDGET")
: "${OUT:=$BUILD/bench-results/two-host-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT/raw" "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
BUILD_ABS=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
T_START=$(date +%s)

# ------------------------------------------------------------------ build
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON >"$OUT/logs/cmake.txt"
fi
cmake --build "$BUILD" -j"$(nproc)" --target dlcoll dlcoll-bench >"$OUT/logs/build.txt" 2>&1 ||
    { tail -30 "$OUT/logs/build.txt" >&2; exit 1; }
PEERS="$BUILD_ABS/bench-peers"; mkdir -p "$PEERS"
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror examples/bench/tcp_stream_bound.c \
    -o "$PEERS/tcp_stream_bound" -lpthread
if has openmpi; then
    mpicc.openmpi -std=c11 -O2 -g -Wall -Wextra -I"$ROOT/examples/bench" \
        examples/bench/mpi_allgather_bench.c -o "$PEERS/mpi_allgather_bench.openmpi"
fi

# ------------------------------------------------------------------ namespaces
NSA=dlbA$$; NSB=dlbB$$; VA=dbA$$; VB=dbB$$
ADDR_A=10.213.7.1; ADDR_B=10.213.7.2
cleanup() {
    # Kill what is still running inside our namespaces, then delete them
    # (which deletes the veth pair).
    for ns in "$NSA" "$NSB"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "$VA" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NSA"; ip netns add "$NSB"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$NSA"; ip link set "$VB" netns "$NSB"
ip -n "$NSA" addr add "$ADDR_A/24" dev "$VA"; ip -n "$NSB" addr add "$ADDR_B/24" dev "$VB"
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip -n "$NSA" link set "$VA" up; ip -n "$NSB" link set "$VB" up
for _ in $(seq 50); do
    ip -n "$NSA" -br link show dev "$VA" | grep -q ' UP ' &&
        ip -n "$NSB" -br link show dev "$VB" | grep -q ' UP ' && break
    sleep 0.1
done
say "namespaces $NSA ($ADDR_A, $VA) and $NSB ($ADDR_B, $VB) up"

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command: $CMDLINE"
    echo "host: $(uname -srm), $(nproc) cores"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "link: veth $VA/$VB, mtu $(ip netns exec "$NSA" cat /sys/class/net/$VA/mtu)"
    echo "sizes: $SMIN..$SMAX x${SFACTOR:-4}, budget ${BUDGET}s, np $NPS, rounds $ROUNDS, metric $METRIC (best round per row)"
} >"$OUT/meta.txt"

FAILED=()
for round in $(seq 1 "$ROUNDS"); do
# ------------------------------------------------------------------ 1. link bound
if has link; then
    PORT=$((20000 + ($$ + round) % 20000))
    ip netns exec "$NSA" timeout 40 "$PEERS/tcp_stream_bound" -l "$ADDR_A:$PORT" -t 3 >"$OUT/logs/link-a-r$round.txt" 2>&1 &
    pa=$!
    ip netns exec "$NSB" timeout 40 "$PEERS/tcp_stream_bound" -c "$ADDR_A:$PORT" -t 3 >"$OUT/logs/link-b-r$round.txt" 2>&1 || FAILED+=("link r$round")
    wait "$pa" || FAILED+=("link r$round")
    cat "$OUT/logs/link-a-r$round.txt" "$OUT/logs/link-b-r$round.txt" | sed "s/^/bench-two-host: round $round link /"
fi

# ------------------------------------------------------------------ 2. dlcoll
# dlcoll_rank NP RANK PORT: start one rank in its namespace (first half in A).
dlcoll_rank() {
    local np=$1 r=$2 port=$3 ns dev host lr
    if [ "$r" -lt $((np / 2)) ]; then ns=$NSA; dev=$VA; host=dlbench-host-a; lr=$r
    else ns=$NSB; dev=$VB; host=dlbench-host-b; lr=$((r - np / 2)); fi
    ip netns exec "$ns" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$host" \
        env DLCOLL_RANK="$r" DLCOLL_WORLD_SIZE="$np" DLCOLL_LOCAL_RANK="$lr" \
        RANK="$r" WORLD_SIZE="$np" LOCAL_RANK="$lr" LOCAL_WORLD_SIZE=$((np / 2)) \
        DLCOLL_INIT_METHOD="tcp://$ADDR_A:$port" DLCOLL_PROVIDER=tcp DLCOLL_TIMEOUT=60000 \
        FI_TCP_IFACE="$dev" DLCOLL_IFACE="$dev" \
        timeout --kill-after=5 "$RUN_TIMEOUT" "$BUILD_ABS/bin/dlcoll-bench" -o single \
        "${COMMON[@]}" -c "$OUT/raw/dlcoll-np$np-r$round.csv"
}
if has dlcoll; then
    for np in $NPS; do
        port=$((30000 + ($$ + 10 * round + np) % 20000)); pids=(); rc=0
        printf 'bench-two-host: round %s np %s dlcoll ... ' "$round" "$np"
        for r in $(seq 0 $((np - 1))); do
            dlcoll_rank "$np" "$r" "$port" >"$OUT/logs/dlcoll-np$np-r$round-rank$r.txt" 2>&1 &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || rc=$?; done
        if [ "$rc" -ne 0 ]; then echo "FAILED ($rc)"; tail -5 "$OUT/logs/dlcoll-np$np-r$round-rank0.txt"; FAILED+=("dlcoll np$np r$round")
        else echo ok; fi
    done
fi

# ------------------------------------------------------------------ 3. Open MPI
if has openmpi; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    for np in $NPS; do
        printf '%s slots=%d\n%s slots=%d\n' "$ADDR_A" $((np / 2)) "$ADDR_B" $((np / 2)) >"$OUT/logs/hostfile-np$np"
        printf 'bench-two-host: round %s np %s openmpi ... ' "$round" "$np"
        rc=0
        ip netns exec "$NSA" unshare --uts sh -c 'hostname dlbench-host-a; exec "$@"' sh \
            env BENCH_NETNS_B="$NSB" timeout --kill-after=5 "$RUN_TIMEOUT" mpirun.openmpi -np "$np" --hostfile "$OUT/logs/hostfile-np$np" --map-by slot \
            --bind-to none --mca plm_rsh_agent "$ROOT/scripts/bench/netns-agent.sh" \
            --mca btl tcp,self --mca pml ob1 --mca btl_tcp_if_include 10.213.7.0/24 \
            --mca oob_tcp_if_include 10.213.7.0/24 \
            "$PEERS/mpi_allgather_bench.openmpi" -s openmpi -P tcp "${COMMON[@]}" \
            -c "$OUT/raw/openmpi-np$np-r$round.csv" >"$OUT/logs/openmpi-np$np-r$round.txt" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then echo "FAILED ($rc)"; tail -5 "$OUT/logs/openmpi-np$np-r$round.txt"; FAILED+=("openmpi np$np r$round")
        else echo ok; fi
    done
fi
done
echo "elapsed: $(( $(date +%s) - T_START )) s" >>"$OUT/meta.txt"

# ------------------------------------------------------------------ 4. report
python3 scripts/bench/two_host_report.py "$OUT" "$METRIC" | tee "$OUT/report.md"
say "results in $OUT"
if [ ${#FAILED[@]} -gt 0 ]; then say "runs that failed: ${FAILED[*]}"; exit 1; fi
