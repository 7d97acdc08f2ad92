// backend.hpp -- the "dlcoll" c10d backend (ProcessGroup in 1.13, Backend in 2.x).
//
// A World is one dlcoll world communicator (one init() over PyTorch's store).
// The default process group creates it; new_group() maps to the plugin's
// group_create() on it, so a subgroup shares the world's endpoints.  A dlcoll
// group created while the default group uses another backend gets a World of
// its own.  Backends share their World (shared_ptr), so it is finalized after
// the last group that uses it is gone.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compat.hpp"
#include "store_bridge.hpp"
#include "work.hpp"

namespace dlcoll_torch {

class World {
 public:
  // Collective over all size ranks of the store; throws on failure.
  World(c10::intrusive_ptr<c10d::Store> store, int rank, int size, int timeout_ms);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  dlcoll_comm_t comm() const { return comm_; }
  int size() const { return size_; }
  int timeout_ms() const { return timeout_ms_; }

 private:
  std::unique_ptr<StoreBridge> bridge_;  // must outlive comm_
  dlcoll_comm_t comm_ = nullptr;
  int size_;
  int timeout_ms_;
};

class DlcollBackend : public BackendBase {
 public:
  // comm is world->comm() or a group of it (owned: destroyed with the backend).
  DlcollBackend(std::shared_ptr<World> world, dlcoll_comm_t comm, bool owns_comm, int rank,
                int size, int timeout_ms);
  ~DlcollBackend() override;

  const std::string getBackendName() const override { return "dlcoll"; }

  // ----- implemented
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_coalesced(
      std::vector<std::vector<at::Tensor>>& output_lists, std::vector<at::Tensor>& inputs,
      const c10d::AllgatherOptions& opts) override;
#if DLCOLL_TORCH_HAS_TENSOR_COALESCED
  c10::intrusive_ptr<c10d::Work> allgather_into_tensor_coalesced(
      std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
      const c10d::AllgatherOptions& opts) override;
#endif
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;

  // ----- reductions and broadcast (backend_reduce.cpp)
  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(
      std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors,
                                        const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                      const c10d::ReduceScatterOptions& opts) override;
#if DLCOLL_TORCH_HAS_TENSOR_COALESCED
  c10::intrusive_ptr<c10d::Work> reduce_scatter_tensor_coalesced(
      std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
      const c10d::ReduceScatterOptions& opts) override;
#endif

  // ----- not supported: each raises "<op> is not supported by dlcoll"
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>&,
                                        std::vector<at::Tensor>&,
                                        const c10d::GatherOptions&) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>&,
                                         std::vector<std::vector<at::Tensor>>&,
                                         const c10d::ScatterOptions&) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor&, at::Tensor&, std::vector<int64_t>&,
                                               std::vector<int64_t>&,
                                               const c10d::AllToAllOptions&) override;
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>&, std::vector<at::Tensor>&,
                                          const c10d::AllToAllOptions&) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>&, int, int) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>&, int, int) override;
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>&, int) override;
  void monitoredBarrier(const c10d::BarrierOptions&, bool) override;

 private:
  c10::intrusive_ptr<c10d::Work> submit(const c10::intrusive_ptr<DlcollWork>& work);
  [[noreturn]] void fail_issue(const char* op, dlcoll_status_t st);
  // A call that issued requests before one failed: queue work so that the
  // issued ones finish (their tensors stay borrowed until then), then throw.
  [[noreturn]] void fail_partly_issued(const c10::intrusive_ptr<DlcollWork>& work, const char* op,
                                       dlcoll_status_t st);
  // Issue one allreduce of in (in place when out is in) into work.
  void issue_allreduce(const c10::intrusive_ptr<DlcollWork>& work, const char* op,
                       const at::Tensor& in, const at::Tensor* out,
                       const dlcoll_reduction_t& reduction);
  void issue_reduce_scatter(const c10::intrusive_ptr<DlcollWork>& work, const char* op,
                            at::Tensor& output, at::Tensor& input,
                            const dlcoll_reduction_t& reduction);

  std::shared_ptr<World> world_;
  dlcoll_comm_t comm_;
  bool owns_comm_;
  std::unique_ptr<Progress> progress_;
};

// The backend creator dlcoll.torch registers.  global_ranks empty: the default
// group (creates a World); else a subgroup (group_create on the current World).
c10::intrusive_ptr<DlcollBackend> create_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                 int group_rank, int group_size,
                                                 int64_t timeout_ms,
                                                 const std::vector<int64_t>& global_ranks);

}  // namespace dlcoll_torch
