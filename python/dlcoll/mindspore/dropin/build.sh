#!/usr/bin/env bash
# Build the dlcoll drop-in collective library for MindSpore without CMake.
#
#   python/dlcoll/mindspore/dropin/build.sh OUT_DIR [MINDSPORE_DIR]
#
# MINDSPORE_DIR is the installed wheel's package directory (the one holding
# include/ and lib/); default: asked from $DLCOLL_MS_PYTHON (default
# ~/.cache/dlcoll/venv-mindspore/bin/python).  Writes OUT_DIR/libmpi_collective.so
# (SONAME libmpi_collective.so).  The same flags as CMakeLists.txt here.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
OUT=${1:?usage: build.sh OUT_DIR [MINDSPORE_DIR]}
MS=${2:-}
if [ -z "$MS" ]; then
    PY=${DLCOLL_MS_PYTHON:-$HOME/.cache/dlcoll/venv-mindspore/bin/python}
    MS=$("$PY" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("mindspore").origin))')
fi
VERSION=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$MS/version.py")
if [ "$VERSION" != "2.10.0" ]; then
    echo "build.sh: $MS is MindSpore '$VERSION'; the drop-in is written against 2.10.0's class layout" >&2
    exit 1
fi
mkdir -p "$OUT"
${CXX:-g++} -std=c++17 -O2 -g -fPIC -shared -fvisibility=hidden -fvisibility-inlines-hidden \
    -D_GLIBCXX_USE_CXX11_ABI=0 -Wall -Wextra -Werror \
    -I"$ROOT" -isystem "$MS/include/mindspore/ccsrc" -isystem "$MS/include/mindspore/core/include" \
    -isystem "$MS/include" \
    -o "$OUT/libmpi_collective.so" "$HERE/dlcoll_ms_dropin.cc" \
    -Wl,-soname,libmpi_collective.so -Wl,--no-undefined -Wl,-rpath,"$MS/lib" \
    -L"$MS/lib" -lmindspore_hardware_abstract -ldl -lpthread
echo "$OUT/libmpi_collective.so"
