// backend.cpp -- the dlcoll c10d backend: worlds, groups and the collectives.
#include "backend.hpp"

#include <climits>
#include <mutex>
#include <string>

#include "args.hpp"
#include "plugin.hpp"

namespace dlcoll_torch {

namespace {

std::mutex g_world_mutex;
std::weak_ptr<World> g_world;  // the World of the current dlcoll default group

int clamp_ms(int64_t ms) {
  if (ms <= 0) return 0;  // the plugin's default ($DLCOLL_TIMEOUT, else 300 s)
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

[[noreturn]] void unsupported(const char* op) {
  throw Error(DLCOLL_ERR_UNSUPPORTED,
              std::string("dlcoll: ") + op +
                  " is not supported by dlcoll (the dlcoll backend implements all_reduce, "
                  "all_reduce_coalesced, reduce (through all_reduce), reduce_scatter, "
                  "reduce_scatter_tensor, broadcast, all_gather, all_gather_into_tensor, "
                  "all_gather_coalesced, all_gather_object and barrier; use a gloo group for "
                  "point-to-point, scatter, gather and all_to_all)");
}

}  // namespace

// ------------------------------------------------------------------ World

World::World(c10::intrusive_ptr<c10d::Store> store, int rank, int size, int timeout_ms)
    : bridge_(std::make_unique<StoreBridge>(std::move(store))), size_(size), timeout_ms_(timeout_ms) {
  const dlcoll_plugin_v1_t& p = plugin();
  dlcoll_config_t cfg = dlcoll_config_init();
  cfg.rank = rank;
  cfg.world_size = size;
  cfg.timeout_ms = timeout_ms;
  cfg.store = bridge_->abi();  // never init_method: PyTorch's store owns MASTER_PORT
  dlcoll_status_t st = p.init(&cfg, &comm_);
  if (st != DLCOLL_SUCCESS) throw make_error("init", st, p.last_error(nullptr));
}

World::~World() {
  if (comm_) plugin().finalize(comm_);
}

// ------------------------------------------------------------------ backend

DlcollBackend::DlcollBackend(std::shared_ptr<World> world, dlcoll_comm_t comm, bool owns_comm,
                             int rank, int size, int timeout_ms)
    : BackendBase(rank, size), world_(std::move(world)), comm_(comm), owns_comm_(owns_comm) {
  // A group asked for a shorter timeout than its world's: bound each wait by it.
  int wait_ms = DLCOLL_WAIT_COMM_TIMEOUT;
  if (timeout_ms > 0 && (world_->timeout_ms() <= 0 || timeout_ms < world_->timeout_ms()))
    wait_ms = timeout_ms;
  progress_ = std::make_unique<Progress>(wait_ms);
}

DlcollBackend::~DlcollBackend() {
  progress_.reset();  // completes every queued Work first
  if (owns_comm_) plugin().group_destroy(comm_);
}

void DlcollBackend::fail_issue(const char* op, dlcoll_status_t st) {
  throw make_error(op, st, plugin().last_error(comm_));
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::submit(const c10::intrusive_ptr<DlcollWork>& work) {
  progress_->enqueue(work);
  return work;
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::allgather(
    std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  const char* op = "all_gather";
  if (inputs.size() != 1 || outputs.size() != 1)
    bad_argument(op, "expects one input tensor and one output list (got " +
                         std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()) + ")");
  auto& out = outputs[0];
  if (out.size() != static_cast<size_t>(getSize()))
    bad_argument(op, "the output list has " + std::to_string(out.size()) +
                         " tensors, the group has " + std::to_string(getSize()) + " ranks");
  for (size_t i = 0; i < out.size(); i++) check_like(op, inputs[0], out[i], i);

  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::ALLGATHER, op,
                                              c10::IValue(outputs), out);
  work->wait_ms = op_timeout_ms(opts.timeout);
  TensorView* in = add_view(*work, inputs[0], op, "the input tensor");
  std::vector<DLTensor*> dl_outs;
  for (const at::Tensor& t : out) dl_outs.push_back(&add_view(*work, t, op, "an output tensor")->dl);
  work->output_lists.push_back(std::move(dl_outs));
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().allgather_list(comm_, &in->dl, work->output_lists[0].data(),
                                               static_cast<int>(out.size()), &req);
  if (st != DLCOLL_SUCCESS) fail_issue(op, st);
  work->requests.push_back(req);
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::_allgather_base(
    at::Tensor& output, at::Tensor& input, const c10d::AllgatherOptions& opts) {
  const char* op = "all_gather_into_tensor";
  if (output.scalar_type() != input.scalar_type())
    bad_argument(op, std::string("the output has dtype ") + c10::toString(output.scalar_type()) +
                         ", the input has " + c10::toString(input.scalar_type()));
  if (!output.is_contiguous())
    bad_argument(op, "the output tensor must be contiguous");
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::_ALLGATHER_BASE, op,
                                              c10::IValue(std::vector<at::Tensor>{output}),
                                              std::vector<at::Tensor>{output});
  work->wait_ms = op_timeout_ms(opts.timeout);
  TensorView* in = add_view(*work, input, op, "the input tensor");
  TensorView* out = add_view(*work, output, op, "the output tensor");
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().allgather(comm_, &in->dl, &out->dl, &req);
  if (st != DLCOLL_SUCCESS) fail_issue(op, st);
  work->requests.push_back(req);
  return submit(work);
}

c10::intrusive_ptr<c10d::Work> DlcollBackend::allgather_coalesced(
    std::vector<std::vector<at::Tensor>>& output_lists, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  // output_lists[r][i] receives rank r's inputs[i]: one allgather_list per input.
  const char* op = "all_gather_coalesced";
  const size_t n = static_cast<size_t>(getSize());
  if (output_lists.size() != n)
    bad_argument(op, "there are " + std::to_string(output_lists.size()) +
                         " output lists, the group has " + std::to_string(n) + " ranks");
  for (size_t r = 0; r < n; r++) {
    if (output_lists[r].size() != inputs.size())
      bad_argument(op, "output list " + std::to_string(r) + " has " +
                           std::to_string(output_lists[r].size()) + " tensors, there are " +
                           std::to_string(inputs.size()) + " inputs");
    for (size_t i = 0; i < inputs.size(); i++) check_like(op, inputs[i], output_lists[r][i], i);
  }
  std::vector<at::Tensor> flat;
  for (auto& l : output_lists) flat.insert(flat.end(), l.begin(), l.end());
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::ALLGATHER_COALESCED, op,
                                              c10::IValue(output_lists), flat);
  work->wait_ms = op_timeout_ms(opts.timeout);
  std::vector<TensorView*> ins;
  for (const at::Tensor& t : inputs) ins.push_back(add_view(*work, t, op, "an input tensor"));
  for (size_t i = 0; i < inputs.size(); i++) {
    std::vector<DLTensor*> dl_outs;
    for (size_t r = 0; r < n; r++)
      dl_outs.push_back(&add_view(*work, output_lists[r][i], op, "an output tensor")->dl);
    work->output_lists.push_back(std::move(dl_outs));
  }
  for (size_t i = 0; i < inputs.size(); i++) {
    dlcoll_request_t req = nullptr;
    dlcoll_status_t st = plugin().allgather_list(comm_, &ins[i]->dl, work->output_lists[i].data(),
                                                 static_cast<int>(n), &req);
    if (st != DLCOLL_SUCCESS) {
      if (!work->requests.empty()) progress_->enqueue(work);  // let the issued ones finish
      fail_issue(op, st);
    }
    work->requests.push_back(req);
  }
  return submit(work);
}

#if DLCOLL_TORCH_HAS_TENSOR_COALESCED
c10::intrusive_ptr<c10d::Work> DlcollBackend::allgather_into_tensor_coalesced(
    std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  const char* op = "all_gather_into_tensor (coalesced)";
  if (outputs.size() != inputs.size())
    bad_argument(op, std::to_string(outputs.size()) + " outputs for " +
                         std::to_string(inputs.size()) + " inputs");
  for (size_t i = 0; i < outputs.size(); i++) {
    if (!outputs[i].is_contiguous()) bad_argument(op, "the output tensors must be contiguous");
    if (outputs[i].scalar_type() != inputs[i].scalar_type())
      bad_argument(op, "output " + std::to_string(i) + " and its input differ in dtype");
  }
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::COALESCED, op,
                                              c10::IValue(outputs), outputs);
  work->wait_ms = op_timeout_ms(opts.timeout);
  std::vector<std::pair<TensorView*, TensorView*>> pairs;
  for (size_t i = 0; i < inputs.size(); i++)
    pairs.emplace_back(add_view(*work, inputs[i], op, "an input tensor"),
                       add_view(*work, outputs[i], op, "an output tensor"));
  for (auto& io : pairs) {
    dlcoll_request_t req = nullptr;
    dlcoll_status_t st = plugin().allgather(comm_, &io.first->dl, &io.second->dl, &req);
    if (st != DLCOLL_SUCCESS) {
      if (!work->requests.empty()) progress_->enqueue(work);
      fail_issue(op, st);
    }
    work->requests.push_back(req);
  }
  return submit(work);
}
#endif

c10::intrusive_ptr<c10d::Work> DlcollBackend::barrier(const c10d::BarrierOptions& opts) {
  const char* op = "barrier";
  auto work = c10::make_intrusive<DlcollWork>(getRank(), c10d::OpType::BARRIER, op,
                                              c10::IValue(std::vector<at::Tensor>{}),
                                              std::vector<at::Tensor>{});
  work->wait_ms = op_timeout_ms(opts.timeout);
  dlcoll_request_t req = nullptr;
  dlcoll_status_t st = plugin().barrier(comm_, &req);
  if (st != DLCOLL_SUCCESS) fail_issue(op, st);
  work->requests.push_back(req);
  return submit(work);
}

// ------------------------------------------------------------------ not supported

c10::intrusive_ptr<c10d::Work> DlcollBackend::gather(std::vector<std::vector<at::Tensor>>&,
                                                     std::vector<at::Tensor>&,
                                                     const c10d::GatherOptions&) {
  unsupported("gather");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::scatter(std::vector<at::Tensor>&,
                                                      std::vector<std::vector<at::Tensor>>&,
                                                      const c10d::ScatterOptions&) {
  unsupported("scatter");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::alltoall_base(at::Tensor&, at::Tensor&,
                                                            std::vector<int64_t>&,
                                                            std::vector<int64_t>&,
                                                            const c10d::AllToAllOptions&) {
  unsupported("all_to_all_single");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::alltoall(std::vector<at::Tensor>&,
                                                       std::vector<at::Tensor>&,
                                                       const c10d::AllToAllOptions&) {
  unsupported("all_to_all");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::send(std::vector<at::Tensor>&, int, int) {
  unsupported("send");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::recv(std::vector<at::Tensor>&, int, int) {
  unsupported("recv");
}
c10::intrusive_ptr<c10d::Work> DlcollBackend::recvAnysource(std::vector<at::Tensor>&, int) {
  unsupported("recv (any source)");
}
void DlcollBackend::monitoredBarrier(const c10d::BarrierOptions&, bool) {
  unsupported("monitored_barrier");
}

// ------------------------------------------------------------------ creator

c10::intrusive_ptr<DlcollBackend> create_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                 int group_rank, int group_size,
                                                 int64_t timeout_ms,
                                                 const std::vector<int64_t>& global_ranks) {
  const int ms = clamp_ms(timeout_ms);
  if (global_ranks.empty()) {  // the default group
    auto world = std::make_shared<World>(store, group_rank, group_size, ms);
    {
      std::lock_guard<std::mutex> lock(g_world_mutex);
      g_world = world;
    }
    return c10::make_intrusive<DlcollBackend>(world, world->comm(), false, group_rank, group_size, ms);
  }
  std::shared_ptr<World> world;
  {
    std::lock_guard<std::mutex> lock(g_world_mutex);
    world = g_world.lock();
  }
  bool fits = world != nullptr;
  for (int64_t r : global_ranks)
    if (!world || r < 0 || r >= world->size()) fits = false;
  if (fits) {  // a subgroup of the dlcoll default group: the plugin's group_create
    std::vector<int> ranks(global_ranks.begin(), global_ranks.end());
    dlcoll_comm_t group = nullptr;
    const dlcoll_plugin_v1_t& p = plugin();
    dlcoll_status_t st = p.group_create(world->comm(), ranks.data(), static_cast<int>(ranks.size()),
                                        "torch", &group);
    if (st != DLCOLL_SUCCESS) throw make_error("new_group", st, p.last_error(nullptr));
    if (!group)
      throw Error(DLCOLL_ERR_INTERNAL,
                  "dlcoll: new_group: the plugin says this rank is not a member of the group");
    return c10::make_intrusive<DlcollBackend>(world, group, true, group_rank, group_size, ms);
  }
  // The default group uses another backend: this group is a dlcoll world of its own.
  auto own = std::make_shared<World>(store, group_rank, group_size, ms);
  return c10::make_intrusive<DlcollBackend>(own, own->comm(), false, group_rank, group_size, ms);
}

}  // namespace dlcoll_torch
