"""pytest set-up for the dlcoll.torch tests.

The package is imported from the build tree: $DLCOLL_BUILD_DIR/python
(default: build/ at the repository root), where python/CMakeLists.txt puts
the Python files, the C++ shim built for each torch, and the path of the
plugin.  Rank processes get the same PYTHONPATH.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("DLCOLL_BUILD_DIR", os.path.join(REPO, "build")))
PACKAGE_DIR = os.path.join(BUILD, "python")

if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
