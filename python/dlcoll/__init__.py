"""dlcoll: a collective-communication plugin loaded through a stable C ABI.

This package holds the framework bindings; the plugin itself is the shared
object libdlcoll.so.  ``import dlcoll.torch`` registers the PyTorch backend
"dlcoll".
"""
import os

__all__ = ["plugin_path"]


def plugin_path():
    """The libdlcoll.so this process should load.

    In order: $DLCOLL_PLUGIN; the plugin of the build tree this package was
    built in (when the file exists); lib/libdlcoll.so inside this package (an
    installed copy); else "libdlcoll.so", found by the dynamic linker.
    """
    env = os.environ.get("DLCOLL_PLUGIN")
    if env:
        return env
    try:
        from ._build_paths import PLUGIN  # written by python/CMakeLists.txt
    except ImportError:
        PLUGIN = None
    if PLUGIN and os.path.exists(PLUGIN):
        return PLUGIN
    bundled = os.path.join(os.path.dirname(__file__), "lib", "libdlcoll.so")
    if os.path.exists(bundled):
        return bundled
    return "libdlcoll.so"
