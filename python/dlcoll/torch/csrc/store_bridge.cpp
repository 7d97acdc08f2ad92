// store_bridge.cpp -- dlcoll_store_t callbacks over a c10d::Store.
#include "store_bridge.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace dlcoll_torch {

namespace {
const char kPrefix[] = "dlcoll/";
}

StoreBridge::StoreBridge(c10::intrusive_ptr<c10d::Store> store) : store_(std::move(store)) {
  abi_.ctx = this;
  abi_.set = &StoreBridge::set_cb;
  abi_.get = &StoreBridge::get_cb;
}

// Returns 0 on success, 2 when the store threw.
int StoreBridge::set_cb(void* ctx, const char* key, const void* value, size_t len) {
  auto* self = static_cast<StoreBridge*>(ctx);
  try {
    const auto* bytes = static_cast<const uint8_t*>(value);
    std::vector<uint8_t> data(bytes, bytes + len);
    self->store_->set(std::string(kPrefix) + key, data);
    return 0;
  } catch (const std::exception&) {
    return 2;
  }
}

// Returns 0 with the value, 1 when the key did not appear within timeout_ms
// (< 0: no limit), 2 when the store threw.
int StoreBridge::get_cb(void* ctx, const char* key, void* buf, size_t cap, size_t* len,
                        int timeout_ms) {
  auto* self = static_cast<StoreBridge*>(ctx);
  using clock = std::chrono::steady_clock;
  try {
    const std::vector<std::string> keys{std::string(kPrefix) + key};
    const auto deadline = clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    // Poll: 0.1 ms at first (a peer usually answers quickly), backing off to
    // 10 ms so a long wait does not flood the store's server.
    auto pause = std::chrono::microseconds(100);
    while (!self->store_->check(keys)) {
      auto now = clock::now();
      if (timeout_ms >= 0 && now >= deadline) return 1;
      auto nap = pause;
      if (timeout_ms >= 0)
        nap = std::min<std::chrono::microseconds>(
            nap, std::chrono::duration_cast<std::chrono::microseconds>(deadline - now));
      std::this_thread::sleep_for(nap);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
    }
    std::vector<uint8_t> value = self->store_->get(keys[0]);
    *len = value.size();
    if (!value.empty() && cap > 0) std::memcpy(buf, value.data(), std::min(cap, value.size()));
    return 0;
  } catch (const std::exception&) {
    return 2;
  }
}

}  // namespace dlcoll_torch
