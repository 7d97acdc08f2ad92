#!/usr/bin/env bash
# The PyTorch backend's tests (tests/python) against every PyTorch we can install:
#   - 1.13 from Debian (python3-torch, libtorch-dev, pybind11-dev), for /usr/bin/python3;
#   - 2.x from PyPI, in a virtual environment ($DLCOLL_TORCH2_VENV, default
#     ~/.cache/dlcoll/venv-torch2; torch pulls its CUDA libraries: ~5 GB, ~2.5 min).
# Builds dlcoll.torch for each into the build directory ($DLCOLL_BUILD_DIR,
# default build/) and runs pytest with each interpreter.  Fails when any
# version fails, or when pytest finds no tests.
#   DLCOLL_TORCH2=0          skip PyTorch 2.x (only Debian's 1.13)
#   DLCOLL_TORCH2_SPEC=...   the pip requirement for 2.x (default torch==2.15.0)
# Extra arguments go to pytest, e.g.  ./scripts/test-python.sh -k subgroups
# (pytest -rs: every skip prints its reason, e.g. the FSDP2 tests on torch 1.13)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${DLCOLL_BUILD_DIR:-$ROOT/build}
VENV=${DLCOLL_TORCH2_VENV:-$HOME/.cache/dlcoll/venv-torch2}
TORCH2_SPEC=${DLCOLL_TORCH2_SPEC:-torch==2.15.0}
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)

log() { echo "test-python: $*"; }

# --- PyTorch 2.x from PyPI (in the background while apt works) -----------------
torch2_install() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, numpy, pytest" 2>/dev/null; then
        echo "already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
        return 0
    fi
    local start=$SECONDS
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$TORCH2_SPEC" numpy pytest
    echo "installed $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') in $((SECONDS - start)) s ($(du -sh "$VENV" | cut -f1))"
}
torch2_pid=""
# PyPI's torch needs ~5.5 GB in the venv (plus pip's cache): with less free disk
# than that, say so loudly and test Debian's 1.13 only, rather than fail midway.
mkdir -p "$(dirname "$VENV")"
free_gb=$(df -Pk "$(dirname "$VENV")" 2>/dev/null | awk 'NR==2 {print int($4 / 1048576)}' || echo 0)
if [ "${DLCOLL_TORCH2:-1}" != 0 ] && [ ! -x "$VENV/bin/python" ] && [ "${free_gb:-0}" -lt 12 ]; then
    log "WARNING: only ${free_gb} GB free for $VENV; NOT testing PyTorch 2.x (needs ~12 GB during install)"
    DLCOLL_TORCH2=0
fi
if [ "${DLCOLL_TORCH2:-1}" != 0 ]; then
    torch2_log=$(mktemp)
    torch2_install >"$torch2_log" 2>&1 &
    torch2_pid=$!
fi

# --- PyTorch 1.13 from Debian ------------------------------------------------------
PACKAGES=(python3-torch libtorch-dev pybind11-dev python3-pytest)
missing=()
for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    start=$SECONDS
    log "apt-get install ${missing[*]}"
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    log "Debian packages installed in $((SECONDS - start)) s"
fi

PYTHONS=(/usr/bin/python3)
if [ -n "$torch2_pid" ]; then
    if wait "$torch2_pid"; then
        log "PyTorch 2.x: $(tail -1 "$torch2_log")"
        PYTHONS+=("$VENV/bin/python")
    else
        cat "$torch2_log" >&2
        log "FAILED to install $TORCH2_SPEC (set DLCOLL_TORCH2=0 to test 1.13 only)"
        exit 1
    fi
fi

# --- build the shim for each ------------------------------------------------------------
pythons_list=$(IFS=';'; echo "${PYTHONS[*]}")
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLCOLL_WERROR=ON "-DDLCOLL_TORCH_PYTHONS=$pythons_list" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

# --- run pytest with each interpreter ---------------------------------------------------
failed=0
for py in "${PYTHONS[@]}"; do
    version=$("$py" -c 'import torch; print(torch.__version__)')
    log "pytest with $py (torch $version)"
    rc=0
    DLCOLL_BUILD_DIR="$BUILD" "$py" -m pytest -p no:cacheprovider -q -rs "$ROOT/tests/python" "$@" || rc=$?
    if [ $rc -eq 5 ]; then
        log "torch $version: pytest collected no tests"
        failed=1
    elif [ $rc -ne 0 ]; then
        log "torch $version: FAILED (pytest exit $rc)"
        failed=1
    else
        log "torch $version: passed"
    fi
done
exit $failed
