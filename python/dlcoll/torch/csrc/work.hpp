// work.hpp -- the Work a dlcoll collective returns, and the thread that completes it.
//
// Every collective is issued to the plugin asynchronously (one or more
// dlcoll requests) and handed to the backend's Progress thread, which waits for
// the requests in issue order and then completes the Work: wait() wakes up,
// is_completed() turns true, exception() holds the error, and the future gets
// the output tensors (or the error), as Gloo's Work does.  The plugin has no
// progress thread of its own, so this thread is also what keeps an
// async_op=True collective moving while Python does something else.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <ATen/core/ivalue.h>

#include "compat.hpp"
#include "dltensor.hpp"

namespace dlcoll_torch {

class DlcollWork : public c10d::Work {
 public:
  // op: the PyTorch operation's name, for messages.  result: what get_future()
  // completes with and result() returns.
  DlcollWork(int rank, c10d::OpType type, const char* op, c10::IValue result,
             std::vector<at::Tensor> result_tensors);
  ~DlcollWork() override;

  const char* op() const { return op_; }

  // Everything the plugin borrows until the requests complete.
  std::vector<std::unique_ptr<TensorView>> views;
  std::vector<std::vector<DLTensor*>> output_lists;  // allgather_list's outputs arrays
  std::vector<dlcoll_request_t> requests;
  // Bound for each request's wait, from the operation's own timeout
  // (opts.timeout); 0: the backend's bound.
  int wait_ms = 0;
  // Run by the Progress thread after every request succeeded, before the
  // Work completes (broadcast's copies into a list's other tensors); an
  // exception it throws fails the Work.
  std::function<void()> on_success;

  // Called once by the Progress thread (or at issue, on failure).
  void complete(std::exception_ptr error);

  bool wait(std::chrono::milliseconds timeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;
  std::vector<at::Tensor> result() override;

 private:
  const char* op_;
  c10::IValue result_;
  std::vector<at::Tensor> result_tensors_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

// One thread per backend: completes that backend's Works in issue order.
class Progress {
 public:
  // wait_timeout_ms: bound for one request's wait(), or
  // DLCOLL_WAIT_COMM_TIMEOUT for the communicator's own timeout.
  explicit Progress(int wait_timeout_ms);
  ~Progress();  // finishes the queued Works, then joins the thread
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void enqueue(c10::intrusive_ptr<DlcollWork> work);

 private:
  void run();
  void finish(DlcollWork& work);

  int wait_timeout_ms_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<c10::intrusive_ptr<DlcollWork>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dlcoll_torch
