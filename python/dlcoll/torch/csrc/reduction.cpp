// reduction.cpp -- c10d::ReduceOp -> dlcoll_reduction_t.
#include "reduction.hpp"

#include <string>

#include "plugin.hpp"

namespace dlcoll_torch {

namespace {

// The factor of a PREMUL_SUM (torch.distributed._make_nccl_premul_sum).
double premul_factor(const c10d::ReduceOp& reduce_op, const char* op) {
  auto* sup = dynamic_cast<c10d::NCCLPreMulSumSupplement*>(reduce_op.supplement_.get());
  if (!sup)
    throw Error(DLCOLL_ERR_INVALID_ARGUMENT,
                std::string("dlcoll: ") + op + ": PREMUL_SUM without a factor");
#if DLCOLL_TORCH_PREMUL_TENSOR_LIST
  if (!sup->tensor_factors.empty()) return sup->tensor_factors[0].item<double>();
#else
  if (sup->tensor_factor.defined()) return sup->tensor_factor.item<double>();
#endif
  return sup->double_factor;
}

}  // namespace

const char* reduce_op_name(const c10d::ReduceOp& reduce_op) {
  switch (reduce_op.op_) {
    case c10d::ReduceOp::SUM: return "SUM";
    case c10d::ReduceOp::AVG: return "AVG";
    case c10d::ReduceOp::PRODUCT: return "PRODUCT";
    case c10d::ReduceOp::MIN: return "MIN";
    case c10d::ReduceOp::MAX: return "MAX";
    case c10d::ReduceOp::BAND: return "BAND";
    case c10d::ReduceOp::BOR: return "BOR";
    case c10d::ReduceOp::BXOR: return "BXOR";
    case c10d::ReduceOp::PREMUL_SUM: return "PREMUL_SUM";
    default: return "UNUSED";
  }
}

dlcoll_reduction_t to_reduction(const c10d::ReduceOp& reduce_op, const char* op) {
  switch (reduce_op.op_) {
    case c10d::ReduceOp::SUM: return dlcoll_reduction(DLCOLL_RED_SUM);
    case c10d::ReduceOp::AVG: return dlcoll_reduction(DLCOLL_RED_AVG);
    case c10d::ReduceOp::PRODUCT: return dlcoll_reduction(DLCOLL_RED_PROD);
    case c10d::ReduceOp::MIN: return dlcoll_reduction(DLCOLL_RED_MIN);
    case c10d::ReduceOp::MAX: return dlcoll_reduction(DLCOLL_RED_MAX);
    case c10d::ReduceOp::BAND: return dlcoll_reduction(DLCOLL_RED_BAND);
    case c10d::ReduceOp::BOR: return dlcoll_reduction(DLCOLL_RED_BOR);
    case c10d::ReduceOp::BXOR: return dlcoll_reduction(DLCOLL_RED_BXOR);
    case c10d::ReduceOp::PREMUL_SUM:
      return dlcoll_reduction_premul_sum(premul_factor(reduce_op, op));
    default:
      break;
  }
  throw Error(DLCOLL_ERR_INVALID_ARGUMENT,
              std::string("dlcoll: ") + op + ": reduce op " +
                  std::to_string(static_cast<int>(reduce_op.op_)) + " is not a reduction");
}

at::Tensor as_reducible(const at::Tensor& t, const dlcoll_reduction_t& reduction) {
  const bool linear = reduction.op == DLCOLL_RED_SUM || reduction.op == DLCOLL_RED_AVG ||
                      reduction.op == DLCOLL_RED_PREMUL_SUM;
  if (t.defined() && t.is_complex() && linear && !t.is_conj()) return at::view_as_real(t);
  return t;
}

}  // namespace dlcoll_torch
