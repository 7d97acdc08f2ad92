#!/usr/bin/env bash
# Configure and build dlcoll into ./build (plugin, examples, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j"$(nproc)"
