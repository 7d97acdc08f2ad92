#!/usr/bin/env python3
"""abi_additions_only.py -- read an `abidiff --no-show-locs` report on stdin;
exit 0 when every change it lists is an addition that ABI 1.x allows, else
print the offending lines and exit 1.  Used by scripts/check-abi.sh.

Allowed (docs/abi.md: abi_minor grows when entries are appended at the end):
  - data members inserted at or after the old end of dlcoll_plugin_v1 or
    dlcoll_config (the two structs that carry their own size), and the type
    and symbol size growth that this implies;
  - enumerators added to an enum (existing values unchanged);
  - added functions or variables (nothing removed or changed).
Anything else -- a removed, moved, retyped or resized member, a changed
parameter, a removed symbol, a changed enumerator -- is a failure, as is any
line of the report this script does not recognise.
"""
import re
import sys

GROWABLE = ("dlcoll_plugin_v1", "dlcoll_config")

# Lines that only give context, or summaries checked separately.
CONTEXT = [
    r"Functions changes summary: 0 Removed, 0 Changed(?: \(\d+ filtered out\))?, \d+ Added functions?",
    r"Variables changes summary: 0 Removed, \d+ Changed(?: \(\d+ filtered out\))?, \d+ Added variables?",
    r"\d+ Changed variables?:",
    r"\d+ Added (?:variables?|functions?):",
    r"\[A\] .*",
    r"\[C\] '.*' was changed:",
    r"type of variable changed:",
    r"in unqualified underlying type '.*':",
    r"in pointed to type '.*':",
    r"underlying type '(?:struct|enum) .*' changed:",
    r"type size hasn't changed",
    r"\d+ enumerator insertions?:",
    r"'[A-Za-z_0-9]+' value '-?\d+'",
    r"no data member changes \(\d+ filtered\);",
]


def check(lines):
    bad = []
    struct = None      # name of the struct whose change is being read
    old_bits = None    # its old size in bits
    in_insertions = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        m = re.fullmatch(r"underlying type 'struct ([A-Za-z_0-9]+)' changed:", line)
        if m:
            struct, old_bits, in_insertions = m.group(1), None, False
            continue
        m = re.fullmatch(r"size of symbol changed from (\d+) to (\d+)", line)
        if m:
            if int(m.group(2)) < int(m.group(1)):
                bad.append(raw)
            continue
        m = re.fullmatch(r"type size changed from (\d+) to (\d+) \(in bits\)", line)
        if m:
            old_bits = int(m.group(1))
            if int(m.group(2)) < old_bits or struct not in GROWABLE:
                bad.append(raw)
            continue
        m = re.fullmatch(r"\d+ data member insertions?:", line)
        if m:
            in_insertions = True
            if struct not in GROWABLE:
                bad.append(raw)
            continue
        m = re.fullmatch(r"'.*', at offset (\d+) \(in bits\)", line)
        if m and in_insertions:
            if old_bits is None or int(m.group(1)) < old_bits:
                bad.append(raw)
            continue
        if any(re.fullmatch(p, line) for p in CONTEXT):
            continue
        in_insertions = False
        bad.append(raw)
    return bad


def main():
    bad = check(sys.stdin.read().splitlines())
    if bad:
        print("abi_additions_only: changes that are not additions:")
        for line in bad:
            print("  " + line.rstrip())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
