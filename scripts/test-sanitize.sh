#!/usr/bin/env bash
# The C suite under sanitizers, each in its own build directory
# (-DDLCOLL_SANITIZE, cmake/sanitize.cmake; warnings as errors):
#
#   ./scripts/test-sanitize.sh [asan] [tsan] [-- ctest arguments]   default: both
#
#   asan  build-asan, -fsanitize=address,undefined: builds everything but the
#         Python backends and runs every ctest test (the C suite: unit, mp,
#         example, the launcher), with leak detection.  mp_test_guest runs on its
#         own, without the LD_PRELOAD helper the others get (see below).
#         Arguments after -- go to ctest (e.g. -- -R algos); then only the
#         tests they select run.
#   tsan  build-tsan, -fsanitize=thread: Criterion cannot start under
#         ThreadSanitizer, so this builds the plugin, the launcher and
#         tests/stress/tsan_stress.c (3 threads per rank issuing asynchronous
#         allgathers and barriers on six communicators, a 4th calling
#         abort(world)) and runs it over shm and tcp with 2 and 3 ranks.
#
# Every sanitizer report fails the run: halt_on_error and abort_on_error (a
# rank that aborts fails its test; dlcoll-run passes the signal on), UBSan
# built with -fno-sanitize-recover, TSan's exitcode.  Suppression files live
# in tests/sanitize/ and may hold third-party code only (each entry says why).
#
# Leaks: detect_leaks=1.  libfabric, hwloc's plugins and the libraries they
# pull in keep heap blocks in their globals that their destructors never
# free; after those libraries are dlclosed (the plugin unloads libfabric at
# the finalize of its last world, hwloc its plugins with each topology) the
# blocks are unreachable, with stacks of "<unknown module>" that no
# suppression can tell from dlcoll's.  tests/sanitize/keep_loaded.c,
# preloaded, leaves exactly those third-party files mapped at dlclose, so
# their blocks stay reachable and every other leak is reported as usual.
# mp_test_guest checks that libfabric is unmapped after finalize, so it runs
# without the helper.  LSan looks only at processes that exit normally: the
# unit tests, the example host, the launcher's programs; the mp harness ends
# its ranks with _exit, so no mp test's rank is checked for leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc)

modes=()
ctest_args=()
while [ $# -gt 0 ]; do
    case $1 in
        asan | tsan) modes+=("$1") ;;
        --) shift; ctest_args=("$@"); break ;;
        *) echo "usage: $0 [asan] [tsan] [-- ctest arguments]" >&2; exit 2 ;;
    esac
    shift
done
[ ${#modes[@]} -gt 0 ] || modes=(asan tsan)

./scripts/deps.sh

# Sanitizer options shared by both runs.
COMMON=halt_on_error=1:abort_on_error=1:print_summary=1:handle_abort=1

configure() { # dir sanitizers
    mkdir -p "$1"
    cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON -DDLCOLL_NO_PYTHON=ON \
        -DDLCOLL_SANITIZE="$2" >"$1/configure.log" 2>&1 ||
        { tail -30 "$1/configure.log" >&2; echo "test-sanitize: configuring $1 failed" >&2; exit 1; }
}

run_asan() {
    local dir=build-asan
    echo "test-sanitize: asan: building $dir (address,undefined)"
    configure $dir address,undefined
    cmake --build $dir -j"$JOBS"
    local libasan
    libasan=$(gcc -print-file-name=libasan.so)
    [ -f "$libasan" ] || { echo "test-sanitize: no libasan.so from gcc ($libasan)" >&2; exit 1; }
    export ASAN_OPTIONS=$COMMON:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
    export UBSAN_OPTIONS=$COMMON:print_stacktrace=1
    export LSAN_OPTIONS=print_suppressions=0:suppressions=$ROOT/tests/sanitize/lsan.supp
    local preload="$libasan:$ROOT/$dir/lib/dlcoll_keep_loaded.so"
    local rc=0
    cd $dir
    if [ ${#ctest_args[@]} -gt 0 ]; then
        LD_PRELOAD=$preload ctest --output-on-failure "${ctest_args[@]}" || rc=$?
    else
        LD_PRELOAD=$preload ctest --output-on-failure -E '^mp_test_guest$' || rc=$?
        # Checks that libfabric is unmapped after finalize: no preload (see the top).
        ctest --output-on-failure -R '^mp_test_guest$' || rc=$?
    fi
    cd "$ROOT"
    [ $rc -eq 0 ] || { echo "test-sanitize: asan: FAILED" >&2; return 1; }
    echo "test-sanitize: asan: every test passed under ASan+UBSan"
}

run_tsan() {
    local dir=build-tsan
    echo "test-sanitize: tsan: building $dir (thread)"
    configure $dir thread
    cmake --build $dir -j"$JOBS" --target dlcoll dlcoll-run tsan_stress
    export TSAN_OPTIONS=$COMMON:exitcode=66:second_deadlock_stack=1:history_size=4:report_signal_unsafe=0:suppressions=$ROOT/tests/sanitize/tsan.supp
    local run=$dir/bin/dlcoll-run stress=$dir/bin/tsan_stress rc=0
    # name  dlcoll-run options  tsan_stress options
    local cases=(
        "shm-n2      -n 2 --provider shm | --iters 60"
        "shm-n3-abort -n 3 --provider shm | --iters 100000 --abort-ms 1500"
        "tcp-n2-abort -n 2 --provider tcp | --iters 100000 --abort-ms 1500 --abort-rank 1"
        "tcp-n3      -n 3 --provider tcp | --iters 30"
        "shm-n3-abort-all -n 3 --provider shm | --iters 100000 --abort-ms 800 --abort-rank -1"
    )
    for c in "${cases[@]}"; do
        local name=${c%% *} rest=${c#* }
        local lopts=${rest%%|*} sopts=${rest#*|}
        local start=$SECONDS
        # shellcheck disable=SC2086  # option lists
        if DLCOLL_IFACE=lo timeout 600 $run $lopts --timeout-ms 8000 -- $stress $sopts \
            >"$dir/tsan-$name.log" 2>&1; then
            echo "test-sanitize: tsan: $name: ok ($((SECONDS - start)) s)"
        else
            local st=$?
            echo "test-sanitize: tsan: $name: FAILED (exit $st, $((SECONDS - start)) s); $dir/tsan-$name.log:" >&2
            grep -E -A40 'WARNING: ThreadSanitizer|FAIL|HANG' "$dir/tsan-$name.log" | head -150 >&2 ||
                tail -40 "$dir/tsan-$name.log" >&2
            rc=1
        fi
    done
    [ $rc -eq 0 ] || { echo "test-sanitize: tsan: FAILED" >&2; return 1; }
    echo "test-sanitize: tsan: tsan_stress passed in every case, no ThreadSanitizer report"
}

failed=0
for m in "${modes[@]}"; do
    "run_$m" || failed=1
done
exit $failed
