// compat.hpp -- the differences between the PyTorch generations, in one place.
//
// PyTorch 1.13 (Debian's python3-torch): a custom backend is a subclass of
// c10d::ProcessGroup, whose virtual collectives are called directly from
// Python.  PyTorch 2.x: a custom backend is a subclass of c10d::Backend, which
// the ProcessGroup reaches through the dispatcher.  The collectives have the
// same signatures in both, so the backend class only needs its base chosen
// here, plus a few entries that exist in 2.x only (DLCOLL_TORCH_HAS_*).
#pragma once

#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
namespace dlcoll_torch {
using BackendBase = c10d::Backend;
}
#define DLCOLL_TORCH_BACKEND_CLASS 1
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
namespace dlcoll_torch {
using BackendBase = c10d::ProcessGroup;
}
#define DLCOLL_TORCH_BACKEND_CLASS 0
#endif

#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

// allgather_into_tensor_coalesced / reduce_scatter_tensor_coalesced appeared
// in the ProcessGroup/Backend API with 2.0.
#define DLCOLL_TORCH_HAS_TENSOR_COALESCED (TORCH_VERSION_MAJOR >= 2)

// PREMUL_SUM's supplement: 1.13 keeps one factor tensor per device
// (tensor_factors), 2.x one tensor (tensor_factor); both also a double.
#define DLCOLL_TORCH_PREMUL_TENSOR_LIST (TORCH_VERSION_MAJOR < 2)
