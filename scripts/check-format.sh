#!/usr/bin/env bash
# The plugin's C follows .clang-format (plugin/ and providers/).  Prints the
# files that do not, with the first lines clang-format would change, and
# exits 1; --fix rewrites them.  Needs clang-format (Debian: clang-format,
# installed by scripts/deps.sh).  CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null || { echo "check-format: $CF not found (apt-get install clang-format)" >&2; exit 2; }
mapfile -t files < <(find plugin providers -name '*.[ch]' | sort)
if [ "${1:-}" = "--fix" ]; then
    "$CF" -i "${files[@]}"
    echo "check-format: formatted ${#files[@]} files"
    exit 0
fi
bad=0
for f in "${files[@]}"; do
    if ! out=$("$CF" "$f" | diff -u "$f" - ); then
        echo "check-format: $f differs from .clang-format ($("$CF" --version | head -1)):"
        printf '%s\n' "$out" | sed -n '3,14p'
        bad=$((bad + 1))
    fi
done
if [ $bad -gt 0 ]; then
    echo "check-format: $bad of ${#files[@]} files need formatting: scripts/check-format.sh --fix"
    exit 1
fi
echo "check-format: ${#files[@]} files follow .clang-format"
