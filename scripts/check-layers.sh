#!/usr/bin/env bash
# The plugin's layering rule (plugin/README.md): an #include goes down a layer
# or sideways within a folder, never up.  Prints every include that points up
# and exits 1; exits 0 when there is none.  Run from anywhere; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Layer of each folder: a file may include from its own folder and from any
# folder of a lower number.
declare -A rank=(
  [plugin/api]=6
  [plugin/coll]=5
  [plugin/core]=4
  [plugin/transport]=3 [plugin/topology]=3 [plugin/bootstrap]=3
  [providers]=2
  [plugin/util]=1
  [abi]=0
)
# Known exceptions: none.  An entry reads "plugin/x/a.c -> plugin/y/b.h", with
# a comment saying which change removes it.
known=()

folder_of() {  # the folder a path belongs to (longest key of rank that prefixes it)
  local p=$1 best="" k
  for k in "${!rank[@]}"; do
    if [[ $p == "$k"/* && ${#k} -gt ${#best} ]]; then best=$k; fi
  done
  printf '%s' "$best"
}

bad=0; checked=0
while IFS= read -r file; do
  from=$(folder_of "$file")
  [ -n "$from" ] || continue
  while IFS= read -r inc; do
    checked=$((checked + 1))
    to=$(folder_of "$inc")
    if [ -z "$to" ]; then
      echo "check-layers: $file includes \"$inc\", which is in no layer (write includes from the repository root)"
      bad=$((bad + 1)); continue
    fi
    [ "$to" = "$from" ] && continue
    if [ "${rank[$to]}" -ge "${rank[$from]}" ]; then
      edge="$file -> $inc"
      skip=0
      for k in "${known[@]+"${known[@]}"}"; do [ "$k" = "$edge" ] && skip=1; done
      [ $skip = 1 ] && continue
      echo "check-layers: $file (${from}, layer ${rank[$from]}) includes $inc (${to}, layer ${rank[$to]}): points up"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find plugin providers -name '*.[ch]' | sort)

# A known exception that no longer occurs must leave the list.
for k in "${known[@]+"${known[@]}"}"; do
  f=${k%% -> *}; i=${k##* -> }
  grep -q "#include \"$i\"" "$f" 2>/dev/null || { echo "check-layers: known exception '$k' no longer occurs: remove it from scripts/check-layers.sh"; bad=$((bad + 1)); }
done

# One home for the environment: plugin code reads it only through
# plugin/util/config.c (docs/abi.md section 6 lists every variable).
while IFS= read -r hit; do
  echo "check-layers: $hit: reads the environment outside plugin/util/config.c"
  bad=$((bad + 1))
done < <(grep -rn --include='*.c' --include='*.h' -E '\b(getenv|secure_getenv|setenv|putenv|unsetenv)[[:space:]]*\(' plugin providers | grep -v '^plugin/util/config.c:' || true)

if [ $bad -gt 0 ]; then
  echo "check-layers: $bad problem(s) with the layering rule (plugin/README.md)"
  exit 1
fi
echo "check-layers: $checked includes checked, none points up a layer (${#known[@]} known exceptions); the environment is read only in plugin/util/config.c"
