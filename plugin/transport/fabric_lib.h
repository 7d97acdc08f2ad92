/*
 * fabric_lib.h -- libfabric, loaded with dlopen at the first init.
 *
 * The plugin does not link libfabric: loading libfabric runs the
 * constructors of everything it links (PSM, verbs, ...), and some of them
 * change the host's process (guest.h).  Linked, that would happen at the
 * host's dlopen of libdlcoll.so, before dlcoll runs a line; loaded here, it
 * happens inside dlc_fabric_acquire, bracketed by dlc_guest_save/restore,
 * and only for hosts that call init; the last dlc_fabric_release unloads it.
 *
 * The few exported libfabric functions dlcoll calls go through dlc_fi; every
 * other libfabric call (fi_domain, fi_cq_read, fi_tsendmsg, ...) is an inline
 * wrapper in the rdma/ headers that calls through the objects' operation tables and
 * needs no symbol.  Each symbol is looked up at the version the build's
 * libfabric binds by default (found by CMake), so the structures agree with
 * the headers the plugin was compiled with.
 */
#ifndef DLC_FABRIC_LIB_H
#define DLC_FABRIC_LIB_H

#include <stdint.h>
#include <rdma/fabric.h>

#include "plugin/util/error.h"
#include "plugin/util/log.h"

typedef struct dlc_fabric_api {
    int (*getinfo)(uint32_t version, const char *node, const char *service, uint64_t flags,
                   const struct fi_info *hints, struct fi_info **info);
    void (*freeinfo)(struct fi_info *info);
    struct fi_info *(*dupinfo)(const struct fi_info *info); /* NULL: a fresh, empty fi_info */
    int (*fabric)(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context);
    const char *(*strerror)(int errnum);
    char *(*tostr)(const void *data, enum fi_type datatype);
    uint32_t (*version)(void);
} dlc_fabric_api;

/* Filled when libfabric is loaded; valid while a reference is held. */
extern dlc_fabric_api dlc_fi;

/* Take a reference on libfabric, loading it if no one holds one.  Fails
 * with DLCOLL_ERR_TRANSPORT naming the library and dlerror()'s reason when
 * it cannot be loaded or lacks a symbol; such a failure is remembered and
 * repeated (the library will not appear by itself).  Thread-safe. */
dlcoll_status_t dlc_fabric_acquire(const dlc_logger *lg, dlc_err *err);

/* Drop a reference; the last one unloads libfabric, inside a guest bracket,
 * so that its dependencies' destructors (PSM's puts back the handlers it
 * saved at load time) leave the host's signal handlers as they are now.
 * Each world and each transport hold one, so finalize of the last world
 * leaves no libfabric in the process. */
void dlc_fabric_release(const dlc_logger *lg);

/* For tests: acquire from `soname` instead of the build's libfabric. */
dlcoll_status_t dlc_fabric_acquire_from(const char *soname, const dlc_logger *lg, dlc_err *err);

#endif
