#!/usr/bin/env bash
# The MindSpore backend's tests (tests/python_ms) against the real CPU
# MindSpore from PyPI, in a virtual environment ($DLCOLL_MS_VENV, default
# ~/.cache/dlcoll/venv-mindspore; ~2.8 GB, ~1 min to install).  Builds the
# plugin and libdlcoll_ms.so into the build directory ($DLCOLL_BUILD_DIR,
# default build/) and runs pytest.  Fails when a test fails, or when pytest
# finds no tests (exit 5).
#   DLCOLL_MS_SPEC=...   the pip requirement (default mindspore==2.10.0)
# Extra arguments go to pytest, e.g.  ./scripts/test-mindspore.sh -k subgroups
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${DLCOLL_BUILD_DIR:-$ROOT/build}
VENV=${DLCOLL_MS_VENV:-$HOME/.cache/dlcoll/venv-mindspore}
MS_SPEC=${DLCOLL_MS_SPEC:-mindspore==2.10.0}
# mindspore 2.10.0's compiled modules are built against NumPy 1.x: with NumPy 2
# `import mindspore` works but tensor operations fail ("compiled using NumPy 1.x").
NUMPY_SPEC="numpy<2"

log() { echo "test-mindspore: $*"; }

# --- MindSpore from PyPI ------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mindspore, numpy, pytest" 2>/dev/null; then
    log "MindSpore $("$VENV/bin/python" -c 'import mindspore; print(mindspore.__version__)' 2>/dev/null) already installed in $VENV"
else
    start=$SECONDS
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$MS_SPEC" "$NUMPY_SPEC" pytest
    log "installed MindSpore $("$VENV/bin/python" -c 'import mindspore; print(mindspore.__version__)' 2>/dev/null)" \
        "in $((SECONDS - start)) s ($(du -sh "$VENV" | cut -f1))"
fi

# --- the plugin and the helper ---------------------------------------------------------
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON >/dev/null
# The drop-in libmpi_collective.so is built against this venv's MindSpore.
cmake -S . -B "$BUILD" -DDLCOLL_MS_PYTHON="$VENV/bin/python" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target dlcoll dlcoll_ms dlcoll_ms_dropin

# --- pytest -------------------------------------------------------------------------------
rc=0
DLCOLL_BUILD_DIR="$BUILD" "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$ROOT/tests/python_ms" "$@" || rc=$?
if [ $rc -eq 5 ]; then
    log "pytest collected no tests"
    exit 1
elif [ $rc -ne 0 ]; then
    log "FAILED (pytest exit $rc)"
    exit 1
fi
log "passed"
