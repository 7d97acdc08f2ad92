// backend_reduce.cpp -- the dlcoll backend's ABI 1.1 collectives: all_reduce
// (and its coalesced form and reduce, through it), reduce_scatter (list and
// tensor forms, and the tensor form's coalesced variant) and broadcast.
//
// Each is issued to the plugin at once (asynchronously) and completed by the
// backend's Progress thread, like the gathers in backend.cpp.  Tensors are
// passed to the plugin as they are (strided ones included; the plugin stages
// them); complex ones go through as_reducible() (reduction.hpp).
#include <string>

#include "args.hpp"
#include "backend.hpp"
#include "plugin.hpp"
#include "reduction.hpp"

namespace dlcoll_torch {

namespace {

// The plugin must be ABI 1.1 or later for these entries.
void need_abi_1_1(const char* op) {
  const dlcoll_plugin_v1_t& p = plugin();
  if (!DLCOLL_PLUGIN_HAS(&p, broadcast))
    throw Error(DLCOLL_ERR_UNSUPPORTED,
                std::string("dlcoll: ") + op + ": the plugin " + plugin_path() + " (" + p.name +
                    " " + p.version + ", ABI " + std::to_string(p.abi_major) + "." +
                    std::to_string(p.abi_minor) + ") lacks this collective; it needs ABI 1.1");
}

void check_root(const char* op, int64_t root, int size) {
  if (root < 0 || root >= size)
    bad_argument(op, "root rank " + std::to_string(root) + " is not a rank of this group (size " +
                         std::to_string(size) + ")");
}

void expect_one(const char* op, size_t n) {
  if (n != 1)
    bad_argument(op, "expects one tensor per process (got " + std::to_string(n) +
                         "; the multi-device forms are not supported)");
}

}  // namespace

void DlcollBackend::fail_partly_issued(const c10::intrusive_ptr<DlcollWork>& work, const char* op,
                                       dlcoll_status_t st) {
  std::string msg = plugin().last_error(comm_);  // before the queue can touch comm_
  if (!work->requests.empty()) progress_->enqueue(work);
  throw make_error(op, st, msg.c_str());
}

void DlcollBackend::issue_allreduce(const c10::intrusive_ptr<DlcollWork>& work, const char* op,
                                    const at::Tensor& in, const at::Tensor* out,
                                    const dlcoll_reduction_t& reduction) {
  TensorView* vin = add_view(*work, as_reducible(in, reduction), op, "the input tensor");
  TensorView* vout = out ? add_view(*work, as_reducible(*out, reduction), op, "the output tensor")
                         : vin;  // in place: the same DLTensor twice
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().allreduce(comm_, &vin->dl, &vout->dl, &reduction, &req);
  if (st != DLCOLL_SUCCESS) fail_partly_issued(work, op, st);
  work->requests.push_back(req);
}

void DlcollBackend::issue_reduce_scatter(const c10::intrusive_ptr<DlcollWork>& work,
                                         const char* op, at::Tensor& output, at::Tensor& input,
                                         const dlcoll_reduction_t& reduction) {
  const int64_t n = getSize();
  if (output.scalar_type() != input.scalar_type())
    bad_argument(op, std::string("the output has dtype ") + c10::toString(output.scalar_type()) +
                         ", the input has " + c10::toString(input.scalar_type()));
  if (input.numel() != n * output.numel())
    bad_argument(op, "the input has " + std::to_string(input.numel()) +
                         " elements, the group's " + std::to_string(n) + " ranks times the output's " +
                         std::to_string(output.numel()) + " need " +
                         std::to_string(n * output.numel()));
  if (!input.is_contiguous()) bad_argument(op, "the input tensor must be contiguous");
  // (N, *out): block r is rank r's, whatever shape the caller gave the input.
  std::vector<int64_t> blocks{n};
  blocks.insert(blocks.end(), output.sizes().begin(), output.sizes().end());
  TensorView* vin =
      add_view(*work, as_reducible(input.view(blocks), reduction), op, "the input tensor");
  TensorView* vout = add_view(*work, as_reducible(output, reduction), op, "the output tensor");
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().reduce_scatter(comm_, &vin->dl, &vout->dl, &reduction, &req);
  if (st != DLCOLL_SUCCESS) fail_partly_issued(work, op, st);
  work->requests.push_back(req);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::allreduce(std::vector<at::Tensor>& tensors,
                                                        const c10d::AllreduceOptions& opts) {
  const char* op = "all_reduce";
  need_abi_1_1(op);
  expect_one(op, tensors.size());
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::ALLREDUCE, op,
                                              c10::IValue(tensors), tensors);
  work->wait_ms = op_timeout_ms(opts.timeout);
  issue_allreduce(work, op, tensors[0], nullptr, reduction);
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::allreduce_coalesced(
    std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) {
  // One allreduce per tensor, in list order (each with its own fixed order).
  const char* op = "all_reduce_coalesced";
  need_abi_1_1(op);
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::ALLREDUCE_COALESCED, op,
                                              c10::IValue(tensors), tensors);
  work->wait_ms = op_timeout_ms(opts.timeout);
  for (const at::Tensor& t : tensors) issue_allreduce(work, op, t, nullptr, reduction);
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::reduce(std::vector<at::Tensor>& tensors,
                                                     const c10d::ReduceOptions& opts) {
  // Through allreduce: the root reduces in place; every other rank reduces
  // into a scratch tensor, so its own tensor is left unchanged (as NCCL's
  // reduce leaves it).  Costs an allreduce's traffic, not a reduce's.
  const char* op = "reduce";
  need_abi_1_1(op);
  expect_one(op, tensors.size());
  check_root(op, opts.rootRank, getSize());
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::REDUCE, op,
                                              c10::IValue(tensors), tensors);
  work->wait_ms = op_timeout_ms(opts.timeout);
  if (getRank() == opts.rootRank) {
    issue_allreduce(work, op, tensors[0], nullptr, reduction);
  } else {
    at::Tensor scratch = at::empty_like(tensors[0]);
    issue_allreduce(work, op, tensors[0], &scratch, reduction);
  }
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::reduce_scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  const char* op = "reduce_scatter";
  need_abi_1_1(op);
  expect_one(op, outputs.size());
  if (inputs.size() != 1)
    bad_argument(op, "expects one input list (got " + std::to_string(inputs.size()) + ")");
  auto& in = inputs[0];
  if (in.size() != static_cast<size_t>(getSize()))
    bad_argument(op, "the input list has " + std::to_string(in.size()) +
                         " tensors, the group has " + std::to_string(getSize()) + " ranks");
  for (size_t i = 0; i < in.size(); i++) check_like(op, outputs[0], in[i], i);
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::REDUCE_SCATTER, op,
                                              c10::IValue(outputs), outputs);
  work->wait_ms = op_timeout_ms(opts.timeout);
  std::vector<const DLTensor*> dl_ins;  // read during the call only
  for (const at::Tensor& t : in)
    dl_ins.push_back(&add_view(*work, as_reducible(t, reduction), op, "an input tensor")->dl);
  TensorView* vout = add_view(*work, as_reducible(outputs[0], reduction), op, "the output tensor");
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().reduce_scatter_list(comm_, dl_ins.data(),
                                                    static_cast<int>(dl_ins.size()), &vout->dl,
                                                    &reduction, &req);
  if (st != DLCOLL_SUCCESS) fail_issue(op, st);
  work->requests.push_back(req);
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::_reduce_scatter_base(
    at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) {
  const char* op = "reduce_scatter_tensor";
  need_abi_1_1(op);
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::_REDUCE_SCATTER_BASE, op,
                                              c10::IValue(std::vector<at::Tensor>{output}),
                                              std::vector<at::Tensor>{output});
  work->wait_ms = op_timeout_ms(opts.timeout);
  issue_reduce_scatter(work, op, output, input, reduction);
  return submit(work);
}

#if DLCOLL_TORCH_HAS_TENSOR_COALESCED
c10::intrusive_ptr<c10d::Work> DlcollBackend::reduce_scatter_tensor_coalesced(
    std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  const char* op = "reduce_scatter_tensor (coalesced)";
  need_abi_1_1(op);
  if (outputs.size() != inputs.size())
    bad_argument(op, std::to_string(outputs.size()) + " outputs for " +
                         std::to_string(inputs.size()) + " inputs");
  const dlcoll_reduction_t reduction = to_reduction(opts.reduceOp, op);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::COALESCED, op,
                                              c10::IValue(outputs), outputs);
  work->wait_ms = op_timeout_ms(opts.timeout);
  for (size_t i = 0; i < outputs.size(); i++)
    issue_reduce_scatter(work, op, outputs[i], inputs[i], reduction);
  return submit(work);
}
#endif

c10::intrusive_ptr<c10d::Work> DlcollBackend::broadcast(std::vector<at::Tensor>& tensors,
                                                        const c10d::BroadcastOptions& opts) {
  // tensors[rootTensor] of rank rootRank goes to tensors[rootTensor] of every
  // rank; with several tensors, each rank then copies it into the others
  // (Gloo's rule).
  const char* op = "broadcast";
  need_abi_1_1(op);
  if (tensors.empty()) bad_argument(op, "no tensor given");
  check_root(op, opts.rootRank, getSize());
  if (opts.rootTensor < 0 || opts.rootTensor >= static_cast<int64_t>(tensors.size()))
    bad_argument(op, "root tensor " + std::to_string(opts.rootTensor) + " of a list of " +
                         std::to_string(tensors.size()));
  const at::Tensor& main = tensors[opts.rootTensor];
  for (size_t i = 0; i < tensors.size(); i++) check_like(op, main, tensors[i], i);
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::BROADCAST, op,
                                              c10::IValue(tensors), tensors);
  work->wait_ms = op_timeout_ms(opts.timeout);
  TensorView* v = add_view(*work, main, op, "the tensor");
  if (tensors.size() > 1) {
    std::vector<at::Tensor> all = tensors;
    const size_t root_tensor = static_cast<size_t>(opts.rootTensor);
    work->on_success = [all, root_tensor] {
      for (size_t i = 0; i < all.size(); i++)
        if (i != root_tensor) all[i].copy_(all[root_tensor]);
    };
  }
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st =
      plugin().broadcast(comm_, &v->dl, static_cast<int>(opts.rootRank), &req);
  if (st != DLCOLL_SUCCESS) fail_issue(op, st);
  work->requests.push_back(req);
  return submit(work);
}

}  // namespace dlcoll_torch
