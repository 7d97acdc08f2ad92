// store_bridge.hpp -- PyTorch's c10d::Store as the ABI's dlcoll_store_t.
//
// The plugin bootstraps (init and group_create) through the callbacks of a
// dlcoll_store_t.  StoreBridge fills one in over a c10d::Store, so every
// init_method PyTorch supports (tcp://, env://, file://, a user-made store)
// also bootstraps dlcoll, and dlcoll never binds a port of its own.  Keys get
// the prefix "dlcoll/" so they cannot collide with other users of the store.
//
// get() waits by polling check() rather than Store::wait(): a Store::wait()
// that times out leaves some TCPStore clients (1.13) with an unread reply on
// the socket, and the plugin calls get() with short timeouts in a loop.
#pragma once

#include <string>

#include "abi/dlcoll.h"
#include "compat.hpp"

namespace dlcoll_torch {

class StoreBridge {
 public:
  explicit StoreBridge(c10::intrusive_ptr<c10d::Store> store);
  StoreBridge(const StoreBridge&) = delete;
  StoreBridge& operator=(const StoreBridge&) = delete;

  // The callbacks; valid as long as this object lives.
  const dlcoll_store_t* abi() const { return &abi_; }

 private:
  static int set_cb(void* ctx, const char* key, const void* value, size_t len);
  static int get_cb(void* ctx, const char* key, void* buf, size_t cap, size_t* len,
                    int timeout_ms);

  c10::intrusive_ptr<c10d::Store> store_;
  dlcoll_store_t abi_;
};

}  // namespace dlcoll_torch
