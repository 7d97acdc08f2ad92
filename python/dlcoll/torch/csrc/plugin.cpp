// plugin.cpp -- loading the dlcoll plugin and turning its errors into exceptions.
#include "plugin.hpp"

#include <mutex>

#include "abi/dlcoll_loader.h"

namespace dlcoll_torch {

namespace {
std::mutex g_mutex;
dlcoll_loader_t g_loader;  // zero-initialised; plugin != NULL once loaded
}  // namespace

void load_plugin(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loader.plugin) return;  // the first successful load wins
  dlcoll_loader_t ld;
  if (dlcoll_load(&ld, path.empty() ? nullptr : path.c_str()) != 0)
    throw std::runtime_error(std::string(ld.error) +
                             " (set DLCOLL_PLUGIN to the path of libdlcoll.so)");
  g_loader = ld;
}

const dlcoll_plugin_v1_t& plugin() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_loader.plugin)
    throw std::runtime_error("dlcoll: the plugin is not loaded (import dlcoll.torch first)");
  return *g_loader.plugin;
}

std::string plugin_path() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_loader.plugin ? std::string(g_loader.path) : std::string();
}

Error make_error(const char* op, dlcoll_status_t status, const char* message) {
  std::string text = "dlcoll: ";
  text += op;
  text += ": ";
  const char* name = g_loader.plugin ? g_loader.plugin->status_string(status) : "error";
  text += name ? name : "error";
  if (message && *message) {
    text += ": ";
    text += message;
  }
  return Error(status, text);
}

}  // namespace dlcoll_torch
