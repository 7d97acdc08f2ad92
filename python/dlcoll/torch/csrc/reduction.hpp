// reduction.hpp -- c10d::ReduceOp -> dlcoll_reduction_t, and complex tensors.
//
//   SUM -> DLCOLL_RED_SUM        AVG -> DLCOLL_RED_AVG      PRODUCT -> DLCOLL_RED_PROD
//   MIN -> DLCOLL_RED_MIN        MAX -> DLCOLL_RED_MAX
//   BAND / BOR / BXOR -> DLCOLL_RED_BAND / _BOR / _BXOR
//   PREMUL_SUM -> DLCOLL_RED_PREMUL_SUM with the op's factor (the double, or
//                 the one-element tensor's value, whichever the op carries)
// The plugin decides which dtype/op pairs it computes and refuses the others
// (DLCOLL_ERR_UNSUPPORTED, naming both); the shim never substitutes an op.
#pragma once

#include <ATen/ATen.h>

#include "abi/dlcoll.h"
#include "compat.hpp"

namespace dlcoll_torch {

// Throws Error (naming op) for UNUSED or an unknown value, and for a
// PREMUL_SUM without a factor.
dlcoll_reduction_t to_reduction(const c10d::ReduceOp& reduce_op, const char* op);

// The name PyTorch users know ("SUM", "PREMUL_SUM", ...).
const char* reduce_op_name(const c10d::ReduceOp& reduce_op);

// Complex tensors: SUM, AVG and PREMUL_SUM act on the real and imaginary
// parts independently, so they run on at::view_as_real(t) (the plugin
// refuses complex reductions).  Other ops keep t, and the plugin refuses it.
at::Tensor as_reducible(const at::Tensor& t, const dlcoll_reduction_t& reduction);

}  // namespace dlcoll_torch
