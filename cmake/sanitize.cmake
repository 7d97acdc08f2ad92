# DLCOLL_SANITIZE: build everything (plugin, tests, examples) with the given
# sanitizers, a comma-separated list passed to -fsanitize=, e.g.
#     cmake -S . -B build-asan -DDLCOLL_SANITIZE=address,undefined
#     cmake -S . -B build-tsan -DDLCOLL_SANITIZE=thread
# Empty (the default): no sanitizer.  scripts/test-sanitize.sh builds and runs
# both.  The flags go on every target of the build (compile and link), so the
# executables carry the sanitizer runtime and the shared objects they dlopen
# (libdlcoll.so, the fake plugins) resolve it from there.
set(DLCOLL_SANITIZE "" CACHE STRING
    "Sanitizers for -fsanitize= (e.g. address,undefined or thread); empty: none")

if(DLCOLL_SANITIZE)
  string(REPLACE "," ";" dlcoll_san_list "${DLCOLL_SANITIZE}")
  foreach(s IN LISTS dlcoll_san_list)
    if(NOT s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "DLCOLL_SANITIZE: '${s}' is not one of address, undefined, thread, leak")
    endif()
  endforeach()
  if("thread" IN_LIST dlcoll_san_list AND ("address" IN_LIST dlcoll_san_list OR
                                          "leak" IN_LIST dlcoll_san_list))
    message(FATAL_ERROR "DLCOLL_SANITIZE: thread cannot be combined with address or leak")
  endif()
  set(dlcoll_san_flags -fsanitize=${DLCOLL_SANITIZE} -fno-omit-frame-pointer -g)
  if("undefined" IN_LIST dlcoll_san_list)
    # A UBSan report is an error, whatever UBSAN_OPTIONS says.
    list(APPEND dlcoll_san_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${dlcoll_san_flags})
  add_link_options(-fsanitize=${DLCOLL_SANITIZE})
  # Tells the tests which sanitizer runtime shows up in the plugin (test_exports.c).
  add_compile_definitions(DLCOLL_SANITIZE="${DLCOLL_SANITIZE}")
  message(STATUS "dlcoll: built with -fsanitize=${DLCOLL_SANITIZE}")
endif()

