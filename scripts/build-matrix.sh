#!/usr/bin/env bash
# Compile-only check, with warnings as errors (-DDLCOLL_WERROR=ON), of the
# configurations the main build (scripts/build.sh: RelWithDebInfo, gcc) does
# not cover: the optimiser and the compiler change which warnings fire.
#
#   ./scripts/build-matrix.sh [CONFIG...]     default: all of
#       release-gcc           Release, gcc (-O3)
#       debug-gcc             Debug, gcc
#       relwithdebinfo-clang  RelWithDebInfo, clang/clang++ (with the PyTorch shim when a
#                             torch is found, as in a plain build; the gcc configurations
#                             skip it with -DDLCOLL_NO_PYTHON=ON: scripts/test-python.sh
#                             builds it with gcc)
#
# Builds (no tests) into build-matrix/CONFIG (DLCOLL_MATRIX_DIR to change),
# reused by the next run, which is then incremental; rm -rf build-matrix to
# reclaim the space.  Prints one line per configuration with its time; on a
# warning or an error, the end of that configuration's log, and exits 1 after
# trying the rest.  Run by .ci/run after scripts/test.sh; needs scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=${DLCOLL_MATRIX_DIR:-build-matrix}
JOBS=$(nproc)

# name  CMAKE_BUILD_TYPE  CC  CXX  extra cmake options
config() {
    case $1 in
        release-gcc) echo "Release gcc g++ -DDLCOLL_NO_PYTHON=ON" ;;
        debug-gcc) echo "Debug gcc g++ -DDLCOLL_NO_PYTHON=ON" ;;
        # The MindSpore drop-in follows the wheel's gcc build; not built here.
        relwithdebinfo-clang) echo "RelWithDebInfo clang clang++ -DDLCOLL_MS_PYTHON=" ;;
        *) return 1 ;;
    esac
}

[ $# -gt 0 ] || set -- release-gcc debug-gcc relwithdebinfo-clang
for name in "$@"; do
    config "$name" >/dev/null || { echo "build-matrix: unknown configuration '$name'" >&2; exit 2; }
done

failed=()
total_start=$SECONDS
for name in "$@"; do
    read -r type cc cxx extra <<<"$(config "$name")"
    dir=$TOP/$name
    start=$SECONDS
    for tool in "$cc" "$cxx"; do
        command -v "$tool" >/dev/null || { echo "build-matrix: $name: no $tool (run scripts/deps.sh)" >&2; exit 1; }
    done
    mkdir -p "$dir"
    rm -f "$dir/build.log"
    rc=0
    # shellcheck disable=SC2086  # $extra: zero or more options
    CC=$cc CXX=$cxx cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DDLCOLL_WERROR=ON $extra \
        >"$dir/configure.log" 2>&1 || rc=$?
    log=$dir/configure.log
    if [ $rc -eq 0 ]; then
        log=$dir/build.log
        cmake --build "$dir" -j"$JOBS" >"$log" 2>&1 || rc=$?
    fi
    # -Werror turns compiler warnings into errors; this also catches the linker's and CMake's.
    warnings=$(cat "$dir/configure.log" "$dir/build.log" 2>/dev/null | grep -ciE 'warning:|CMake Warning' || true)
    secs=$((SECONDS - start))
    if [ $rc -eq 0 ] && [ "$warnings" -eq 0 ]; then
        echo "build-matrix: $name ($type, $cc): ok, 0 warnings, ${secs} s"
    else
        errors=$(grep -ciE 'error:|CMake Error' "$log" || true)
        echo "build-matrix: $name ($type, $cc): FAILED (exit $rc, $errors errors, $warnings warnings)," \
             "${secs} s; $log:" >&2
        grep -iE -B2 -A4 'warning:|error:|CMake (Warning|Error)' "$log" | tail -60 >&2 || tail -40 "$log" >&2
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "build-matrix: FAILED: ${failed[*]} ($((SECONDS - total_start)) s in all)" >&2
    exit 1
fi
echo "build-matrix: all $# configurations built without warnings in $((SECONDS - total_start)) s"
