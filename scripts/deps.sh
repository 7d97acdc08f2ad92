#!/usr/bin/env bash
# Install what dlcoll needs to build and test on Debian 12 (bookworm).
# Does nothing when every package is already installed; uses sudo only when
# not run as root.  Safe to run with no terminal (CI).
set -euo pipefail

PACKAGES=(build-essential cmake pkg-config libfabric-dev libfabric-bin libhwloc-dev
          libcriterion-dev libdlpack-dev iproute2 binutils
          libsodium-dev # the tcp:// store's challenge-response (HMAC-SHA256, randombytes)
          clang        # scripts/build-matrix.sh: the clang build
          clang-format # scripts/check-format.sh (.clang-format)
          openmpi-bin)  # mpirun: the MindSpore drop-in library is tested under it

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
