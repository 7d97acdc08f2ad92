#!/usr/bin/env bash
# Configure and build dlcoll into ./build (plugin, examples, tests), with
# warnings as errors (-DDLCOLL_WERROR=ON; a plain `cmake` leaves it OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON && cmake --build build -j"$(nproc)"
