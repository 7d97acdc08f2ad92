"""pytest set-up for the dlcoll.mindspore tests.

The package is imported from the source tree (python/), the plugin and the
helper library from the build tree: $DLCOLL_BUILD_DIR (default build/ at the
repository root) /lib/libdlcoll.so and /lib/libdlcoll_ms.so.  Rank processes
get the same environment.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("DLCOLL_BUILD_DIR", os.path.join(REPO, "build")))
PACKAGE_DIR = os.path.join(REPO, "python")
PLUGIN = os.path.join(BUILD, "lib", "libdlcoll.so")
HELPER = os.path.join(BUILD, "lib", "libdlcoll_ms.so")

if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
