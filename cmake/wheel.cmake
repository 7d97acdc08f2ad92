# The wheel's layout (pyproject.toml, scikit-build-core; SKBUILD is set): all
# inside the package directory dlcoll/ in site-packages, next to the Python
# files (python/dlcoll, copied by scikit-build-core):
#   dlcoll/lib/libdlcoll.so, libdlcoll_ms.so   the plugin (dlcoll.plugin_path() finds it
#                                              here) and the MindSpore kernel
#   dlcoll/bin/dlcoll-run, dlcoll-bench, dlcoll-info   the tools; they find ../lib/libdlcoll.so
#                                              from their own place; the console scripts of
#                                              the same names (dlcoll/_tools.py) exec them
#   dlcoll/torch/_ext_<torch>.so               the PyTorch shim (python/CMakeLists.txt)
#   dlcoll/mindspore/libmpi_collective.so      the MindSpore drop-in, when MindSpore 2.10.0
#                                              was found at build time
install(TARGETS dlcoll LIBRARY DESTINATION dlcoll/lib)
if(TARGET dlcoll_ms)
  install(TARGETS dlcoll_ms LIBRARY DESTINATION dlcoll/lib)
endif()
if(TARGET dlcoll_ms_dropin)
  install(TARGETS dlcoll_ms_dropin LIBRARY DESTINATION dlcoll/mindspore)
endif()
install(TARGETS dlcoll-run dlcoll-bench dlcoll-info RUNTIME DESTINATION dlcoll/bin)
