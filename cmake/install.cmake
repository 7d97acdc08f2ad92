# `cmake --install build --prefix P`: what a C host, a packager or a user needs.
#
#   P/include/dlcoll/abi/dlcoll.h, dlcoll_loader.h   the ABI (hosts write #include "abi/dlcoll.h")
#   P/lib/libdlcoll.so -> .so.<ABI major> -> .so.<ABI major.minor.0>   the plugin
#   P/bin/dlcoll-run, dlcoll-bench, dlcoll-info       the tools (they find P/lib/libdlcoll.so
#                                                     from their own location)
#   P/lib/cmake/dlcoll/dlcollConfig.cmake (+Version)  find_package(dlcoll): dlcoll::abi, dlcoll_PLUGIN
#   P/lib/pkgconfig/dlcoll.pc                         pkg-config --cflags --libs dlcoll;
#                                                     pkg-config --variable=plugin dlcoll
#   P/share/doc/dlcoll/                               README.md and docs/
#
# Both package files are relocatable (paths relative to their own location) and
# carry no warning flags: DLCOLL_WERROR is the project's own business.
# The wheel (pyproject.toml, python/CMakeLists.txt) installs its own layout
# instead; with SKBUILD set these rules are skipped.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DLCOLL_INSTALL_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}/dlcoll")
set(DLCOLL_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/dlcoll")
set(DLCOLL_INSTALL_PLUGIN "${CMAKE_INSTALL_LIBDIR}/libdlcoll.so")

install(TARGETS dlcoll LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/abi/dlcoll.h ${CMAKE_SOURCE_DIR}/abi/dlcoll_loader.h
        DESTINATION ${DLCOLL_INSTALL_INCLUDEDIR}/abi)
install(TARGETS dlcoll-run dlcoll-bench dlcoll-info RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})

# dlpack/dlpack.h, which abi/dlcoll.h includes: the consumer's copy, searched
# first where this build found it.
find_path(DLCOLL_DLPACK_INCLUDE_DIR dlpack/dlpack.h)
if(NOT DLCOLL_DLPACK_INCLUDE_DIR)
  message(FATAL_ERROR "dlpack/dlpack.h not found (Debian: apt-get install libdlpack-dev)")
endif()

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/dlcollConfig.cmake.in
  ${CMAKE_BINARY_DIR}/package/dlcollConfig.cmake
  INSTALL_DESTINATION ${DLCOLL_INSTALL_CMAKEDIR}
  PATH_VARS DLCOLL_INSTALL_INCLUDEDIR DLCOLL_INSTALL_PLUGIN CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/package/dlcollConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/package/dlcollConfig.cmake
              ${CMAKE_BINARY_DIR}/package/dlcollConfigVersion.cmake
        DESTINATION ${DLCOLL_INSTALL_CMAKEDIR})

# dlcoll.pc: prefix is found from the file's own place (${pcfiledir}), so the
# prefix can be moved; an absolute CMAKE_INSTALL_LIBDIR keeps the configured one.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(DLCOLL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  set(DLCOLL_PC_PREFIX "\${pcfiledir}")
  string(REPLACE "/" ";" _dlc_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  foreach(_dlc_part IN LISTS _dlc_parts)
    string(APPEND DLCOLL_PC_PREFIX "/..")
  endforeach()
endif()
set(DLCOLL_PC_DLPACK_CFLAGS "")
if(NOT DLCOLL_DLPACK_INCLUDE_DIR STREQUAL "/usr/include")
  set(DLCOLL_PC_DLPACK_CFLAGS " -I${DLCOLL_DLPACK_INCLUDE_DIR}")
endif()
set(DLCOLL_PC_DL_LIBS "")
foreach(_dlc_lib IN LISTS CMAKE_DL_LIBS)
  string(APPEND DLCOLL_PC_DL_LIBS "-l${_dlc_lib}")
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/cmake/dlcoll.pc.in ${CMAKE_BINARY_DIR}/package/dlcoll.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/package/dlcoll.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
