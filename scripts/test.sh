#!/usr/bin/env bash
# The tests: install dependencies, build, run every test with ctest.
# Extra arguments go to ctest, e.g.  ./scripts/test.sh -R launcher
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
cd build
ctest --output-on-failure "$@"; [ $# -gt 0 ] || ../scripts/test-python.sh  # PyTorch backend (1.13 + 2.x)
[ $# -gt 0 ] || ../scripts/test-mindspore.sh  # MindSpore backend (2.10.0 CPU wheel from PyPI, venv)
