#!/usr/bin/env bash
# libFuzzer harnesses (tests/fuzz/), built with clang -fsanitize=fuzzer,address,undefined
# and run for a fixed number of inputs from the seed corpus in the repository
# (CI: .ci/run runs this).  A longer run, by hand:
#   FUZZ_RUNS=-1 FUZZ_SECONDS=600 ./scripts/test-fuzz.sh    (-1: until the time is up)
# New inputs go to build/fuzz/corpus-<name>/, never into the seed corpus;
# a crash leaves its input in build/fuzz/ (crash-*), to be added to the seeds once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${FUZZ_RUNS:-20000}
SECONDS_MAX=${FUZZ_SECONDS:-0}
OUT=build/fuzz
mkdir -p "$OUT"
CC=${FUZZ_CC:-clang}
FLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Wno-unused-parameter -I.)

build_one() { # name sources...
    local name=$1; shift
    "$CC" "${FLAGS[@]}" "tests/fuzz/$name.c" "$@" -o "$OUT/$name"
}

build_one fuzz_store_proto plugin/bootstrap/store_tcp_proto.c plugin/bootstrap/store_tcp_table.c

for name in fuzz_store_proto; do
    seeds=tests/fuzz/corpus/${name#fuzz_}
    work=$OUT/corpus-${name#fuzz_}
    mkdir -p "$work"
    args=(-runs="$RUNS" -max_len=8192 -artifact_prefix="$OUT/")
    [ "$SECONDS_MAX" -gt 0 ] && args+=(-max_total_time="$SECONDS_MAX")
    echo "fuzz: $name (${RUNS} runs, seeds $seeds)"
    "$OUT/$name" "${args[@]}" "$work" "$seeds"
done
echo "fuzz: all harnesses passed"
