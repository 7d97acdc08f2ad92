#!/usr/bin/env bash
# The C install, checked as a user sees it (ctest: install_consumer).
#   tests/install/run.sh BUILD_DIR [WORK_DIR]
# 1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix; checks the layout
#    (headers, libdlcoll.so with its soname, tools, docs, the CMake and
#    pkg-config files) and that the package files carry no -Werror;
# 2. builds examples/host.c out of tree with find_package(dlcoll) and runs it
#    with 2 ranks under the installed dlcoll-run;
# 3. the same with pkg-config and cc;
# 4. the installed dlcoll-info --check 2 (it must find the prefix's plugin and
#    dlcoll-run from its own location).
# The hosts run with no DLCOLL_PLUGIN and the build tree moved out of reach of
# their search (they load the plugin path the package files give), and fail
# unless every rank's data checks out (host.c's own verdict).
set -euo pipefail
# Under scripts/test-sanitize.sh ctest runs with LD_PRELOAD=libasan: the
# build tools here (cmake, cc, objdump, python3) run without it, the hosts
# and the installed tools (which load the instrumented plugin) with it.
RUN_PRELOAD=${LD_PRELOAD:-}
unset LD_PRELOAD
with_preload() { if [ -n "$RUN_PRELOAD" ]; then LD_PRELOAD=$RUN_PRELOAD "$@"; else "$@"; fi; }
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [WORK_DIR]}" && pwd)
work=${2:-$(mktemp -d)}
rm -rf "$work/prefix" "$work/consumer-cmake" "$work/consumer-pc"
mkdir -p "$work"
prefix="$work/prefix"
fail() { echo "install test: FAILED: $*" >&2; exit 1; }
log() { echo "install test: $*"; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
log "installed into $prefix ($(find "$prefix" -type f | wc -l) files)"

# --- layout -------------------------------------------------------------------
for f in include/dlcoll/abi/dlcoll.h include/dlcoll/abi/dlcoll_loader.h \
         lib/libdlcoll.so lib/cmake/dlcoll/dlcollConfig.cmake \
         lib/cmake/dlcoll/dlcollConfigVersion.cmake lib/pkgconfig/dlcoll.pc \
         bin/dlcoll-run bin/dlcoll-bench bin/dlcoll-info \
         share/doc/dlcoll/README.md share/doc/dlcoll/install.md; do
    [ -e "$prefix/$f" ] || fail "$f is not installed"
done
soname=$(objdump -p "$prefix/lib/libdlcoll.so" | awk '/SONAME/ {print $2}')
[ -n "$soname" ] || fail "libdlcoll.so has no soname"
[ -e "$prefix/lib/$soname" ] || fail "lib/$soname (the soname's link) is not installed"
real=$(readlink -f "$prefix/lib/libdlcoll.so")
log "lib/libdlcoll.so -> $(basename "$real"), soname $soname"
case "$(basename "$real")" in "$soname".*) ;; *) fail "$(basename "$real") does not carry the soname $soname";; esac
exports=$(nm -D --defined-only "$real" | awk '{print $3}' | grep -v '^_' | sort -u | tr '\n' ' ')
[ "$exports" = "dlcoll_plugin_v1 " ] || fail "installed plugin exports '$exports', not only dlcoll_plugin_v1"
if grep -n -- '-Werror\|-Wall\|-Wextra' "$prefix/lib/cmake/dlcoll/"*.cmake "$prefix/lib/pkgconfig/dlcoll.pc"; then
    fail "the package files force warning flags on consumers"
fi

# --- run a host with 2 ranks, plugin only from the package files ------------------
run_host() {  # name binary plugin-path-it-must-load
    local out="$work/$1.out"
    if ! with_preload env -u DLCOLL_PLUGIN -u LD_LIBRARY_PATH "$prefix/bin/dlcoll-run" -n 2 --timeout-ms 60000 -- "$2" \
            >"$out" 2>&1; then
        cat "$out" >&2
        fail "$1: the 2-rank run failed"
    fi
    grep -qF "from $3" "$out" || { cat "$out" >&2; fail "$1 did not load $3"; }
    grep -q "2 ranks" "$out" || { cat "$out" >&2; fail "$1: no 2-rank run reported"; }
    log "$1: 2 ranks passed: $(grep -F "from $3" "$out" | sed 's/^.*dlcoll-example-host: //')"
    log "$1: $(tail -1 "$out")"
}

# --- find_package(dlcoll) ---------------------------------------------------------
cmake -S "$here" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
      -DHOST_SOURCE="$src/examples/host.c" -DCMAKE_BUILD_TYPE=Release >"$work/consumer-cmake.log" 2>&1 \
    || { cat "$work/consumer-cmake.log" >&2; fail "configuring the find_package(dlcoll) consumer"; }
grep "dlcoll .*plugin" "$work/consumer-cmake.log" | sed 's/^-- /install test: find_package: /'
cmake --build "$work/consumer-cmake" >"$work/consumer-cmake-build.log" 2>&1 \
    || { cat "$work/consumer-cmake-build.log" >&2; fail "building the find_package(dlcoll) consumer"; }
run_host find_package "$work/consumer-cmake/consumer-host" "$prefix/lib/libdlcoll.so"

# --- pkg-config ---------------------------------------------------------------------
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags dlcoll)
libs=$(pkg-config --libs dlcoll)
plugin=$(pkg-config --variable=plugin dlcoll)
log "pkg-config: version $(pkg-config --modversion dlcoll), cflags '$cflags', libs '$libs', plugin $plugin"
[ "$(readlink -f "$plugin")" = "$real" ] || fail "pkg-config's plugin $plugin is not the installed one"
mkdir -p "$work/consumer-pc"
# shellcheck disable=SC2086  # cflags and libs are word lists
cc -std=c11 -D_GNU_SOURCE $cflags "-DDLCOLL_DEFAULT_PLUGIN=\"$plugin\"" "$src/examples/host.c" \
   -o "$work/consumer-pc/consumer-host" $libs || fail "building the pkg-config consumer"
run_host pkg-config "$work/consumer-pc/consumer-host" "$plugin"
# --- the installed dlcoll-info finds the installed plugin and dlcoll-run --------------
with_preload env -u DLCOLL_PLUGIN -u LD_LIBRARY_PATH "$prefix/bin/dlcoll-info" --json --check 2 >"$work/info.json" \
    || { cat "$work/info.json" >&2; fail "dlcoll-info --check 2 failed"; }
python3 - "$work/info.json" "$real" "$prefix/bin/dlcoll-run" <<'PY' || fail "dlcoll-info's report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["plugin"]["file"] == sys.argv[2], d["plugin"]
assert d["check"]["passed"] and d["check"]["launcher"] == sys.argv[3], d["check"]
print(f"install test: dlcoll-info: plugin {d['plugin']['file']}, "
      f"{d['libfabric']['providers_open']} providers open, check 2 ranks passed in {d['check']['wall_ms']} ms")
PY
log "passed"
