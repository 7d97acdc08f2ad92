// work.cpp -- DlcollWork and the Progress thread.
#include <Python.h>  // first, as Python asks: the GIL is released while joining

#include "work.hpp"

#include <string>

#include "plugin.hpp"

namespace dlcoll_torch {

namespace {

// The type of a future's value: a list of tensors, or a list of lists.
c10::TypePtr future_type(const c10::IValue& result) {
  if (result.isTensorList()) return c10::ListType::create(c10::TensorType::get());
  return c10::ListType::create(c10::ListType::create(c10::TensorType::get()));
}

}  // namespace

DlcollWork::DlcollWork(int rank, c10d::OpType type, const char* op, c10::IValue result,
                       std::vector<at::Tensor> result_tensors)
    : c10d::Work(rank, type),
      op_(op),
      result_(std::move(result)),
      result_tensors_(std::move(result_tensors)),
      future_(c10::make_intrusive<c10::ivalue::Future>(future_type(result_))) {}

DlcollWork::~DlcollWork() {
  // Requests are released by the Progress thread; this only covers a Work
  // that failed before it was queued.
  for (dlcoll_request_t r : requests)
    if (r) plugin().request_free(r);
}

void DlcollWork::complete(std::exception_ptr error) {
  // Release the tensors the plugin borrowed before anyone is woken up.
  views.clear();
  output_lists.clear();
  // The Work is complete (is_completed(), wait()) before its future: a
  // thread woken by get_future().wait() must find is_completed() true.
  finish(error);
  if (error)
    future_->setError(error);
  else
    future_->markCompleted(result_);
}

bool DlcollWork::wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (timeout.count() <= 0) {  // c10d's kNoTimeout (0 ms): no limit
    cv_.wait(lock, [&] { return completed_; });
  } else if (!cv_.wait_for(lock, timeout, [&] { return completed_; })) {
    throw Error(DLCOLL_ERR_TIMEOUT, std::string("dlcoll: ") + op_ + ": Work.wait() timed out after " +
                                        std::to_string(timeout.count()) +
                                        " ms; the operation is still pending");
  }
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> DlcollWork::getFuture() { return future_; }

std::vector<at::Tensor> DlcollWork::result() { return result_tensors_; }

Progress::Progress(int wait_timeout_ms)
    : wait_timeout_ms_(wait_timeout_ms), thread_([this] { run(); }) {}

Progress::~Progress() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  // The thread may be dropping the last reference to a Work (one that
  // Python no longer holds), whose tensors belong to Python objects:
  // freeing them takes the GIL.  A backend destroyed from Python
  // (destroy_process_group, garbage collection) holds the GIL here, so
  // joining with it held would deadlock; let it go for the join.
  if (Py_IsInitialized() && PyGILState_Check()) {
    PyThreadState* saved = PyEval_SaveThread();
    thread_.join();
    PyEval_RestoreThread(saved);
  } else {
    thread_.join();
  }
}

void Progress::enqueue(c10::intrusive_ptr<DlcollWork> work) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_all();
}

void Progress::run() {
  for (;;) {
    c10::intrusive_ptr<DlcollWork> work;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      work = queue_.front();
      queue_.pop_front();
    }
    finish(*work);
  }
}

// Wait for every request of work (in order), release them, complete work.
// The first failure is the one reported; the plugin fails the requests queued
// behind it with "communicator failed earlier", which adds nothing.
void Progress::finish(DlcollWork& work) {
  const dlcoll_plugin_v1_t& p = plugin();
  std::exception_ptr error;
  const int wait_ms = work.wait_ms > 0 ? work.wait_ms : wait_timeout_ms_;
  for (dlcoll_request_t& r : work.requests) {
    dlcoll_status_t st = p.wait(r, wait_ms);
    if (st != DLCOLL_SUCCESS && !error)
      error = std::make_exception_ptr(make_error(work.op(), st, p.request_error(r)));
    p.request_free(r);
    r = nullptr;
  }
  work.requests.clear();
  if (!error && work.on_success) {
    try {
      work.on_success();
    } catch (...) {
      error = std::current_exception();
    }
  }
  work.on_success = nullptr;
  work.complete(error);
}

}  // namespace dlcoll_torch
