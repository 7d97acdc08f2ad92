// dltensor.cpp -- at::Tensor -> DLTensor.
#include "dltensor.hpp"

#include <stdexcept>
#include <string>

#include "plugin.hpp"

namespace dlcoll_torch {

namespace {

std::string prefix(const char* op) { return std::string("dlcoll: ") + op + ": "; }

}  // namespace

DLDataType dl_dtype(at::ScalarType type, const char* op) {
  DLDataType d;
  d.lanes = 1;
  switch (type) {
    case at::kBool: d.code = DLCOLL_DL_BOOL_CODE; d.bits = 8; return d;
    case at::kByte: d.code = kDLUInt; d.bits = 8; return d;
    case at::kChar: d.code = kDLInt; d.bits = 8; return d;
    case at::kShort: d.code = kDLInt; d.bits = 16; return d;
    case at::kInt: d.code = kDLInt; d.bits = 32; return d;
    case at::kLong: d.code = kDLInt; d.bits = 64; return d;
    case at::kHalf: d.code = kDLFloat; d.bits = 16; return d;
    case at::kFloat: d.code = kDLFloat; d.bits = 32; return d;
    case at::kDouble: d.code = kDLFloat; d.bits = 64; return d;
    case at::kBFloat16: d.code = kDLBfloat; d.bits = 16; return d;
    case at::kComplexFloat: d.code = kDLComplex; d.bits = 64; return d;
    case at::kComplexDouble: d.code = kDLComplex; d.bits = 128; return d;
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 3)
    case at::kUInt16: d.code = kDLUInt; d.bits = 16; return d;
    case at::kUInt32: d.code = kDLUInt; d.bits = 32; return d;
    case at::kUInt64: d.code = kDLUInt; d.bits = 64; return d;
#endif
    default:
      break;
  }
  throw Error(DLCOLL_ERR_UNSUPPORTED,
              prefix(op) + "dtype " + std::string(c10::toString(type)) +
                  " is not supported by dlcoll (it moves bool, [u]int8-64, float16/32/64, "
                  "bfloat16, complex64/128)");
}

void make_view(const at::Tensor& t, const char* op, const char* role, TensorView& view) {
  if (!t.defined())
    throw Error(DLCOLL_ERR_INVALID_ARGUMENT, prefix(op) + role + " is an undefined tensor");
  if (t.device().type() != at::kCPU)
    throw Error(DLCOLL_ERR_UNSUPPORTED, prefix(op) + role + " is on device " + t.device().str() +
                                            "; dlcoll moves CPU tensors only");
  if (t.layout() != at::kStrided)
    throw Error(DLCOLL_ERR_UNSUPPORTED,
                prefix(op) + role + " is not a strided (dense) tensor; dlcoll moves dense tensors only");
  if (t.is_conj() || t.is_neg())
    throw Error(DLCOLL_ERR_INVALID_ARGUMENT,
                prefix(op) + role + " has a lazy conjugate/negative bit; call resolve_conj() / "
                                    "resolve_neg() first");
  view.tensor = t;
  view.shape.assign(t.sizes().begin(), t.sizes().end());
  view.strides.assign(t.strides().begin(), t.strides().end());
  view.dl.data = t.numel() > 0 ? t.data_ptr() : nullptr;
  view.dl.device.device_type = kDLCPU;
  view.dl.device.device_id = 0;
  view.dl.ndim = static_cast<int>(t.dim());
  view.dl.dtype = dl_dtype(t.scalar_type(), op);
  view.dl.shape = view.shape.empty() ? nullptr : view.shape.data();
  view.dl.strides = view.strides.empty() ? nullptr : view.strides.data();
  view.dl.byte_offset = 0;
}

}  // namespace dlcoll_torch
