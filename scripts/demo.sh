#!/usr/bin/env bash
# The demo: install dependencies, build, and run a 4-rank allgather job on this
# host (shm over loopback by default).  Extra arguments go to dlcoll-run, e.g.
#   ./scripts/demo.sh --provider tcp
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh
echo "+ build/bin/dlcoll-run -n 4 ${*:+$* }-- build/bin/dlcoll-example-host"
exec build/bin/dlcoll-run -n 4 "$@" -- build/bin/dlcoll-example-host
