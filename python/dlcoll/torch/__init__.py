"""dlcoll as a torch.distributed backend.

    import torch.distributed as dist
    import dlcoll.torch                    # registers the backend "dlcoll"
    dist.init_process_group("dlcoll", init_method="env://")
    dist.all_gather(tensor_list, t)

Importing this module loads the C++ shim built for the running torch version
(dlcoll/torch/_ext_<version>*.so) and the plugin (see dlcoll.plugin_path()),
and registers "dlcoll" with torch.distributed.Backend.register_backend.  The
backend bootstraps through PyTorch's own store, so every init_method works.
It implements all_gather, all_gather_into_tensor (concatenated or stacked),
all_gather_coalesced, all_gather_object and barrier on CPU tensors; any other
collective raises RuntimeError "... is not supported by dlcoll".
"""
import importlib
import inspect
import re

import torch
import torch.distributed as dist

from .. import plugin_path

__all__ = ["BACKEND_NAME", "plugin_file", "plugin_version", "torch_version_built"]

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
            "Rebuild with this interpreter in DLCOLL_TORCH_PYTHONS "
            "(cmake -DDLCOLL_TORCH_PYTHONS=/path/to/python ...), see docs/pytorch.md."
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


def _register():
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return
    kwargs = {"extended_api": True}
    if "devices" in inspect.signature(dist.Backend.register_backend).parameters:
        kwargs["devices"] = ["cpu"]
    dist.Backend.register_backend(BACKEND_NAME, _create_backend, **kwargs)


_register()


def plugin_file():
    """The path the plugin was loaded from."""
    return _C.plugin_path()


def plugin_version():
    """The plugin's name, version and ABI."""
    return _C.plugin_version()


def torch_version_built():
    """The torch version the C++ shim was compiled against."""
    return _C.TORCH_VERSION_BUILT
