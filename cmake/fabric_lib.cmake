# libfabric is compiled against but not linked: plugin/transport/fabric_lib.c loads it
# with dlopen at the first init (loading it runs its dependencies'
# constructors, and PSM's installs signal handlers; see plugin/util/guest.h).
#
# This file gives
#   dlcoll_fabric_headers   an interface target with libfabric's include
#                           directories and flags, and no library;
#   DLCOLL_FABRIC_DEFINES   DLC_FABRIC_SONAME (the library to dlopen) and
#                           DLC_FI_VER_<symbol> (the version the linker would
#                           bind each symbol plugin/transport/fabric_lib.c looks up to),
#                           read off the libfabric found by pkg-config.
# Without nm/objdump, or when a symbol has no version, fabric_lib.c falls back
# to "libfabric.so.1" and the default version of each symbol.

add_library(dlcoll_fabric_headers INTERFACE)
target_include_directories(dlcoll_fabric_headers INTERFACE ${FABRIC_INCLUDE_DIRS})
target_compile_options(dlcoll_fabric_headers INTERFACE ${FABRIC_CFLAGS_OTHER})

set(DLCOLL_FABRIC_DEFINES "")
find_library(DLCOLL_FABRIC_LIBRARY NAMES fabric HINTS ${FABRIC_LIBRARY_DIRS})
find_program(DLCOLL_NM NAMES nm)
find_program(DLCOLL_OBJDUMP NAMES objdump)
if(DLCOLL_FABRIC_LIBRARY AND DLCOLL_OBJDUMP)
  execute_process(COMMAND ${DLCOLL_OBJDUMP} -p ${DLCOLL_FABRIC_LIBRARY}
                  OUTPUT_VARIABLE _dlc_dump ERROR_QUIET)
  if(_dlc_dump MATCHES "SONAME +([^ \n]+)")
    list(APPEND DLCOLL_FABRIC_DEFINES "DLC_FABRIC_SONAME=\"${CMAKE_MATCH_1}\"")
  endif()
endif()
if(DLCOLL_FABRIC_LIBRARY AND DLCOLL_NM)
  execute_process(COMMAND ${DLCOLL_NM} -D --defined-only ${DLCOLL_FABRIC_LIBRARY}
                  OUTPUT_VARIABLE _dlc_syms ERROR_QUIET)
  foreach(_sym fi_getinfo fi_freeinfo fi_dupinfo fi_fabric fi_strerror fi_tostr fi_version)
    if(_dlc_syms MATCHES " ${_sym}@@([A-Za-z0-9_.]+)")
      list(APPEND DLCOLL_FABRIC_DEFINES "DLC_FI_VER_${_sym}=\"${CMAKE_MATCH_1}\"")
    endif()
  endforeach()
endif()
message(STATUS "libfabric (loaded at run time): ${DLCOLL_FABRIC_LIBRARY}; ${DLCOLL_FABRIC_DEFINES}")
