"""The console scripts dlcoll-run, dlcoll-bench and dlcoll-info of the wheel.

The executables live in the package (dlcoll/bin, next to dlcoll/lib with the
plugin, which they find from their own place); these entry points replace
the Python process with them, so signals, exit status and output are the
tool's own.
"""
import os
import sys

_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


def _exec(name):
    path = os.path.join(_BIN, name)
    if not os.access(path, os.X_OK):
        sys.stderr.write(f"{name}: {path} is missing: this dlcoll was not installed from the wheel "
                         "(in a build tree the tools are in build/bin)\n")
        sys.exit(127)
    os.execv(path, [name] + sys.argv[1:])


def dlcoll_run():
    _exec("dlcoll-run")


def dlcoll_bench():
    _exec("dlcoll-bench")


def dlcoll_info():
    _exec("dlcoll-info")
