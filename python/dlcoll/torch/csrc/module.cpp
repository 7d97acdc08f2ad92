// module.cpp -- the Python extension dlcoll.torch._ext_<torch version>.
//
// Binds the backend class (so PyTorch can hold it as a ProcessGroup / Backend)
// and the two functions dlcoll/torch/__init__.py needs: load_plugin() and
// create_backend().  Both release the GIL while they block.
#include <torch/csrc/utils/pybind.h>

#include "backend.hpp"
#include "plugin.hpp"

#ifndef TORCH_EXTENSION_NAME
#error "build with -DTORCH_EXTENSION_NAME=<module name>"
#endif

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using dlcoll_torch::DlcollBackend;
  m.doc() = "dlcoll c10d backend (C++ shim over the dlcoll plugin ABI)";

  py::class_<DlcollBackend, dlcoll_torch::BackendBase, c10::intrusive_ptr<DlcollBackend>>(
      m, "DlcollBackend");

  m.def("load_plugin", &dlcoll_torch::load_plugin, py::arg("path"),
        py::call_guard<py::gil_scoped_release>(),
        "Load the dlcoll plugin (empty path: $DLCOLL_PLUGIN, else libdlcoll.so).");
  m.def("plugin_path", &dlcoll_torch::plugin_path, "The file the plugin was loaded from.");
  m.def("plugin_version", [] {
    const dlcoll_plugin_v1_t& p = dlcoll_torch::plugin();
    return std::string(p.name) + " " + p.version + " (ABI " + std::to_string(p.abi_major) + "." +
           std::to_string(p.abi_minor) + ")";
  });
  m.def("create_backend", &dlcoll_torch::create_backend, py::arg("store"), py::arg("group_rank"),
        py::arg("group_size"), py::arg("timeout_ms"), py::arg("global_ranks"),
        py::call_guard<py::gil_scoped_release>(),
        "Create the dlcoll backend of one process group (collective over its members).");
  m.attr("TORCH_VERSION_BUILT") = TORCH_VERSION;
}
