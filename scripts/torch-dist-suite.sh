#!/usr/bin/env bash
# PyTorch's own distributed tests (DistributedTest._DistTestBase, world size 3)
# over dlcoll or Gloo, through tests/python/dist_suite/run_dist_suite.py.
#
#   scripts/torch-dist-suite.sh PYTHON BACKEND [OUTDIR] [pytest args, e.g. -k all_reduce]
#     PYTHON   an interpreter with torch, pytest and expecttest (torch's test
#              utilities import it; Debian has no package: use a venv with
#              --system-site-packages over /usr/bin/python3 and pip install
#              expecttest, see docs/pytorch.md)
#     BACKEND  dlcoll or gloo
#     OUTDIR   default build/dist-suite/<backend>-<torch version>
# Writes OUTDIR/junit.xml, OUTDIR/results.tsv (test, pass|skip|fail, first
# error line) and OUTDIR/summary.txt, and prints the summary.  Exit status 0
# when the run completed (failing tests are results, not errors), 1 when
# pytest did not run.
#   DIST_SUITE_TESTS    a file of test names, one a line: run only those
#                       (e.g. tests/python/dist_suite/subset.txt); default all
#   DIST_SUITE_TIMEOUT  seconds per test (default 300), torch's own limit
#   DLCOLL_BUILD_DIR    where the shim is built (default build/; ./scripts/test-python.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
[ $# -ge 2 ] || { sed -n '2,19p' "$0"; exit 2; }
PY=$1 BACKEND=$2
shift 2
BUILD=${DLCOLL_BUILD_DIR:-$ROOT/build}
version=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
OUT=$BUILD/dist-suite/$BACKEND-$version
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    OUT=$1
    shift
fi
mkdir -p "$OUT"
"$PY" -c 'import expecttest, pytest' || {
    echo "torch-dist-suite: $PY lacks expecttest or pytest (pip install expecttest pytest)" >&2
    exit 1
}

SUITE=$ROOT/tests/python/dist_suite/run_dist_suite.py
targets=("$SUITE")
if [ -n "${DIST_SUITE_TESTS:-}" ]; then
    targets=()
    while read -r name; do
        [ -n "$name" ] && targets+=("$SUITE::TestDistBackendWithSpawn::$name")
    done <"$DIST_SUITE_TESTS"
fi

start=$SECONDS
rc=0
env BACKEND="$BACKEND" WORLD_SIZE=3 PYTHONPATH="$BUILD/python${PYTHONPATH:+:$PYTHONPATH}" \
    DLCOLL_BUILD_DIR="$BUILD" \
    "$PY" -m pytest -p no:cacheprovider -q -rN --junitxml="$OUT/junit.xml" \
    "${targets[@]}" "$@" >"$OUT/pytest.log" 2>&1 || rc=$?
elapsed=$((SECONDS - start))
if [ ! -s "$OUT/junit.xml" ]; then
    tail -20 "$OUT/pytest.log" >&2
    echo "torch-dist-suite: pytest wrote no results (exit $rc)" >&2
    exit 1
fi
"$PY" "$ROOT/tests/python/dist_suite/results.py" "$OUT/junit.xml" "$OUT/results.tsv" \
    "$BACKEND" "$version" "$elapsed" | tee "$OUT/summary.txt"
