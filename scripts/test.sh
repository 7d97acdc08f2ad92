#!/usr/bin/env bash
# The tests: install dependencies, build, run every test with ctest.
# Extra arguments go to ctest, e.g.  ./scripts/test.sh -R launcher
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
cd build
exec ctest --output-on-failure "$@"
