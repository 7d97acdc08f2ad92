// plugin.hpp -- the one dlcoll plugin this process uses, and its errors.
//
// The plugin is loaded once (dlopen through abi/dlcoll_loader.h) by
// load_plugin(), which dlcoll.torch calls at import with the path it chose.
// Everything else reaches the entry struct through plugin().
#pragma once

#include <stdexcept>
#include <string>

#include "abi/dlcoll.h"

namespace dlcoll_torch {

// Load the plugin at path (empty: the loader's default, $DLCOLL_PLUGIN then
// "libdlcoll.so").  A second call with the plugin already loaded is a no-op.
// Throws std::runtime_error with the loader's message on failure.
void load_plugin(const std::string& path);

// The loaded entry struct; throws when load_plugin() has not succeeded.
const dlcoll_plugin_v1_t& plugin();

// The file the plugin was loaded from ("" when not loaded).
std::string plugin_path();

// The error every failed dlcoll call turns into: Python sees a RuntimeError
// whose text is "dlcoll: <op>: <STATUS>: <plugin message>".
class Error : public std::runtime_error {
 public:
  Error(dlcoll_status_t status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  dlcoll_status_t status() const { return status_; }

 private:
  dlcoll_status_t status_;
};

// Build the Error for a failed call: op names the PyTorch operation,
// message is the plugin's text (last_error / request_error).
Error make_error(const char* op, dlcoll_status_t status, const char* message);

}  // namespace dlcoll_torch
