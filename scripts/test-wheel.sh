#!/usr/bin/env bash
# The wheel (pyproject.toml, docs/install.md), as a user gets it:
#   1. a fresh venv with PyPI's torch 2.15: `pip wheel .` builds the wheel
#      there (timed), `pip install` installs it;
#   2. 2 ranks under the venv's dlcoll-run run dist.init_process_group("dlcoll")
#      with no `import dlcoll` and an environment holding only PATH and the
#      launcher's variables (tests/wheel/init_no_import.py checks the data and
#      that the plugin came from the installed package);
#   3. a fresh venv without torch: the same wheel installs, its dlcoll-info
#      --check 2 passes, and `import dlcoll.torch` fails with the message that
#      says torch is missing.
# torch is not downloaded again: the fresh venv sees the torch that
# scripts/test-python.sh installed ($DLCOLL_TORCH2_VENV, default
# ~/.cache/dlcoll/venv-torch2) through a .pth file; dlcoll goes into the fresh
# venv only.  Work files: $DLCOLL_WHEEL_WORK (default build-wheel-test/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${DLCOLL_WHEEL_WORK:-$ROOT/build-wheel-test}
TORCH_VENV=${DLCOLL_TORCH2_VENV:-$HOME/.cache/dlcoll/venv-torch2}
log() { echo "test-wheel: $*"; }
fail() { echo "test-wheel: FAILED: $*" >&2; exit 1; }

[ -x "$TORCH_VENV/bin/python" ] && "$TORCH_VENV/bin/python" -c "import torch" 2>/dev/null \
    || fail "no torch in $TORCH_VENV: run scripts/test-python.sh first (it installs torch 2.15 there) or set DLCOLL_TORCH2_VENV"
torch_site=$("$TORCH_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

rm -rf "$WORK"
mkdir -p "$WORK/dist"
python3 -m venv "$WORK/venv"
site=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$torch_site" >"$site/dlcoll-test-torch.pth"
log "fresh venv $WORK/venv with torch $("$WORK/venv/bin/python" -c 'import torch; print(torch.__version__)')"

# --- 1. build and install -------------------------------------------------------------
start=$SECONDS
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$WORK/venv/bin/pip" wheel -q --disable-pip-version-check --no-deps \
    -w "$WORK/dist" "$ROOT" >"$WORK/wheel.log" 2>&1 || { cat "$WORK/wheel.log" >&2; fail "pip wheel ."; }
wheel=$(ls "$WORK"/dist/dlcoll-*.whl)
log "built $(basename "$wheel") in $((SECONDS - start)) s, $(du -k "$wheel" | cut -f1) KiB"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$wheel"
# (the listing goes to a file: grep -q in a pipe would end it early, and pipefail
# would count the lister's broken pipe as a failure)
"$WORK/venv/bin/python" -m zipfile -l "$wheel" >"$WORK/wheel-files.txt" || fail "listing the wheel"
grep -q "dlcoll/torch/_ext_2_15" "$WORK/wheel-files.txt" \
    || fail "the wheel has no PyTorch shim for torch 2.15"

# --- 2. init_process_group("dlcoll") with no import and no environment ---------------------
out="$WORK/init_no_import.out"
( cd "$WORK" && env -i PATH=/usr/bin:/bin "$WORK/venv/bin/dlcoll-run" -n 2 --timeout-ms 120000 -- \
      "$WORK/venv/bin/python" "$ROOT/tests/wheel/init_no_import.py" ) >"$out" 2>&1 \
    || { cat "$out" >&2; fail "2-rank init_process_group(\"dlcoll\") from the wheel"; }
[ "$(grep -c "init_process_group('dlcoll') with no import" "$out")" = 2 ] || { cat "$out" >&2; fail "not both ranks passed"; }
sed 's/^/test-wheel: /' "$out"

# --- 3. a venv without torch --------------------------------------------------------------
python3 -m venv "$WORK/venv-notorch"
"$WORK/venv-notorch/bin/pip" install -q --disable-pip-version-check --no-deps "$wheel"
env -i PATH=/usr/bin:/bin "$WORK/venv-notorch/bin/dlcoll-info" --json --check 2 >"$WORK/info.json" \
    || { cat "$WORK/info.json" >&2; fail "dlcoll-info --check 2 in a venv without torch"; }
"$WORK/venv-notorch/bin/python" - "$WORK/info.json" <<'PY' || fail "dlcoll-info's report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["check"]["passed"], d["check"]
assert "/site-packages/dlcoll/lib/libdlcoll.so" in d["plugin"]["file"], d["plugin"]
print(f"test-wheel: no torch: dlcoll-info --check 2 passed in {d['check']['wall_ms']} ms, plugin {d['plugin']['file']}")
PY
if msg=$("$WORK/venv-notorch/bin/python" -c "import dlcoll.torch" 2>&1); then
    fail "import dlcoll.torch succeeded without torch"
fi
grep -q "dlcoll.torch needs PyTorch" <<<"$msg" || { echo "$msg" >&2; fail "import dlcoll.torch without torch: unclear message"; }
log "no torch: import dlcoll.torch says: $(echo "$msg" | tail -1 | cut -c1-120)..."
log "passed"
