#!/usr/bin/env bash
# check-abi.sh -- the plugin ABI may only grow: compare abi/dlcoll.h and the
# built plugin against the committed ABI 1.0 baseline with abidiff
# (libabigail, Debian abigail-tools) and fail on anything but additions.
#
#   scripts/check-abi.sh                   # header stub + BUILD/lib/libdlcoll.so
#   scripts/check-abi.sh --build DIR       # plugin from DIR (default ./build)
#   scripts/check-abi.sh --update-baseline # rewrite the baseline from ABI 1.0's header
#
# The baseline, tests/abi/dlcoll-1.0.abixml, is `abidw` of tests/abi/abi_stub.c
# (the plugin's one exported symbol, defined as plugin/api/entry.c does)
# compiled against abi/dlcoll.h as of the last ABI 1.0 commit (BASE_REV).
# Checked, each with abidiff against it:
#   1. the same stub compiled against today's abi/dlcoll.h (the header);
#   2. BUILD/lib/libdlcoll.so (the plugin as built, with its debug info).
# scripts/abi_additions_only.py reads each report and passes only entries
# appended at the end of dlcoll_plugin_v1 / dlcoll_config, added enumerators
# and added symbols; a removed, moved or retyped entry fails.
# Installs abigail-tools with apt-get when abidiff is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
UPDATE=0
BASE_REV=e7ac493^      # the parent of "ABI 1.1 (issue 13)": ABI 1.0's last header
BASELINE=tests/abi/dlcoll-1.0.abixml
while [ $# -gt 0 ]; do
    case "$1" in
        --build) BUILD=$2; shift ;;
        --update-baseline) UPDATE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-abi: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v abidiff >/dev/null 2>&1; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    echo "check-abi: installing abigail-tools"
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends abigail-tools gcc </dev/null >/dev/null
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# stub INCLUDE_DIR OUT.so: the exported surface of INCLUDE_DIR/abi/dlcoll.h
stub() {
    gcc -std=c11 -g -O0 -shared -fPIC -fvisibility=hidden -Wl,-soname,libdlcoll.so.1 \
        -I "$1" tests/abi/abi_stub.c -o "$2"
}

if [ "$UPDATE" = 1 ]; then
    mkdir -p "$TMP/base/abi"
    git show "$BASE_REV:abi/dlcoll.h" >"$TMP/base/abi/dlcoll.h"
    stub "$TMP/base" "$TMP/base.so"
    abidw --no-corpus-path --no-comp-dir-path "$TMP/base.so" >"$BASELINE"
    echo "check-abi: wrote $BASELINE from abi/dlcoll.h at $BASE_REV"
    exit 0
fi

# compare TAG LABEL FILE: abidiff the baseline with FILE; additions only.
fail=0
compare() {
    local rc=0 tag=$1
    shift
    abidiff --no-show-locs "$BASELINE" "$2" >"$TMP/$tag.txt" 2>&1 || rc=$?
    # abidiff: bit 1 error, bit 2 usage, bit 4 ABI change, bit 8 incompatible change.
    if [ $((rc & 3)) -ne 0 ] || [ $((rc & 8)) -ne 0 ]; then
        echo "check-abi: $1: abidiff exit $rc (error or incompatible change):"
        sed 's/^/    /' "$TMP/$tag.txt"
        fail=1
    elif ! python3 scripts/abi_additions_only.py <"$TMP/$tag.txt"; then
        echo "check-abi: $1: the ABI changed other than by additions; abidiff says:"
        sed 's/^/    /' "$TMP/$tag.txt"
        fail=1
    else
        echo "check-abi: $1: ok (additions only$([ "$rc" -eq 0 ] && echo ', none'))"
    fi
}

stub . "$TMP/header.so"
compare header "header abi/dlcoll.h" "$TMP/header.so"
PLUGIN="$BUILD/lib/libdlcoll.so"
if [ ! -f "$PLUGIN" ]; then
    echo "check-abi: $PLUGIN not built (scripts/build.sh)" >&2
    exit 1
fi
if ! readelf -S "$PLUGIN" | grep -q '\.debug_info'; then
    echo "check-abi: $PLUGIN has no debug info (build it RelWithDebInfo: scripts/build.sh)" >&2
    exit 1
fi
compare plugin "plugin $PLUGIN" "$PLUGIN"
exit "$fail"
