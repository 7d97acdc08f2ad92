"""dlcoll as a torch.distributed backend.

    import torch.distributed as dist
    import dlcoll.torch                    # registers the backend "dlcoll"
    dist.init_process_group("dlcoll", init_method="env://")
    dist.all_gather(tensor_list, t)

Installed from the wheel (`pip install .`), torch 2.x needs no import: the
wheel's `torch.distributed.backends` entry point names register(), which
torch calls from Backend._ensure_backend_registered the first time
init_process_group (or new_group) sees the name "dlcoll".

Importing this module loads the C++ shim built for the running torch version
(dlcoll/torch/_ext_<version>*.so) and the plugin (see dlcoll.plugin_path()),
and registers "dlcoll" with torch.distributed.Backend.register_backend.  The
backend bootstraps through PyTorch's own store, so every init_method works.
It implements all_gather, all_gather_into_tensor (concatenated or stacked),
all_gather_coalesced, all_gather_object, barrier, all_reduce (every ReduceOp),
all_reduce_coalesced, reduce (through allreduce), reduce_scatter,
reduce_scatter_tensor and broadcast on CPU tensors (docs/pytorch.md); all_to_all,
send, recv, scatter and gather raise RuntimeError "... is not supported by dlcoll".
"""
import importlib
import inspect
import re

try:
    import torch
    import torch.distributed as dist
except ImportError as _exc:
    raise ImportError(
        f"dlcoll.torch needs PyTorch, which this Python ({__import__('sys').executable}) cannot "
        f"import: {_exc}. Install torch into this environment and then dlcoll again "
        "(pip install . builds the shim for the torch it finds); the plugin and the tools "
        "(dlcoll-info, dlcoll-run) work without torch."
    ) from _exc

from .. import plugin_path

__all__ = ["BACKEND_NAME", "register", "plugin_file", "plugin_version", "torch_version_built"]

BACKEND_NAME = "dlcoll"


def _load_extension():
    version = torch.__version__.split("+")[0]
    tag = re.sub(r"[^0-9A-Za-z]", "_", version)
    name = f"{__name__}._ext_{tag}"
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"dlcoll.torch has no extension built for torch {version} ({name}): {exc}. "
            "Reinstall dlcoll into this environment (pip install . builds the shim for the torch "
            "it finds), or rebuild with this interpreter in DLCOLL_TORCH_PYTHONS "
            "(cmake -DDLCOLL_TORCH_PYTHONS=/path/to/python ...), see docs/install.md."
        ) from exc


if not dist.is_available():
    raise ImportError("dlcoll.torch needs torch.distributed, which this torch build lacks")

_C = _load_extension()
_C.load_plugin(plugin_path())


def _timeout_ms(timeout):
    if timeout is None:
        return 0
    return max(1, int(timeout.total_seconds() * 1000))


def _create_backend(opts, pg_options=None):
    """Backend creator (extended API): opts carries store, ranks and timeout."""
    del pg_options  # dlcoll takes its options from the environment (DLCOLL_*)
    return _C.create_backend(
        opts.store,
        opts.group_rank,
        opts.group_size,
        _timeout_ms(opts.timeout),
        list(opts.global_ranks_in_group),
    )


def register():
    """Register "dlcoll" with torch.distributed (done at import; safe to repeat).

    The wheel's torch.distributed.backends entry point."""
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return
    kwargs = {"extended_api": True}
    if "devices" in inspect.signature(dist.Backend.register_backend).parameters:
        kwargs["devices"] = ["cpu"]
    dist.Backend.register_backend(BACKEND_NAME, _create_backend, **kwargs)


register()


def plugin_file():
    """The path the plugin was loaded from."""
    return _C.plugin_path()


def plugin_version():
    """The plugin's name, version and ABI."""
    return _C.plugin_version()


def torch_version_built():
    """The torch version the C++ shim was compiled against."""
    return _C.TORCH_VERSION_BUILT
