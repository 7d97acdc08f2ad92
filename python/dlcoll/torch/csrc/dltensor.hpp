// dltensor.hpp -- at::Tensor as a borrowed DLTensor, without copies.
//
// A TensorView holds the DLTensor the plugin reads plus the shape and stride
// arrays it points to, and a reference to the at::Tensor so the memory stays
// alive until the request that uses it completes.  data is the tensor's
// data_ptr() (storage offset included), byte_offset 0, strides in elements.
#pragma once

#include <vector>

#include <ATen/ATen.h>
#include <torch/version.h>

#include "abi/dlcoll.h"

namespace dlcoll_torch {

struct TensorView {
  at::Tensor tensor;          // keeps the memory alive
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  DLTensor dl;
};

// The DLPack dtype of a PyTorch dtype; throws (naming op and the dtype) for
// dtypes dlcoll cannot move (quantized, complex32, float8, ...).
DLDataType dl_dtype(at::ScalarType type, const char* op);

// Fill view for tensor t.  Checks what the plugin cannot check: the device
// (CPU only), the layout (strided only) and lazy conjugate/negative bits.
// view must not move afterwards (dl points into its vectors).
void make_view(const at::Tensor& t, const char* op, const char* role, TensorView& view);

}  // namespace dlcoll_torch
