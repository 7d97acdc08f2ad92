/*
 * fabric_lib.c -- load libfabric at the first init, as a guest (see
 * fabric_lib.h and guest.h), and unload it when the last world is gone.
 *
 * DLC_FABRIC_SONAME and DLC_FI_VER_* come from CMake, which reads them off
 * the libfabric the plugin is built against; without them the library is
 * "libfabric.so.1" and each symbol is taken at its default version.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "plugin/transport/fabric_lib.h"
#include "plugin/util/guest.h"

#ifndef DLC_FABRIC_SONAME
#define DLC_FABRIC_SONAME "libfabric.so.1"
#endif
#ifndef DLC_FI_VER_fi_getinfo
#define DLC_FI_VER_fi_getinfo ""
#endif
#ifndef DLC_FI_VER_fi_freeinfo
#define DLC_FI_VER_fi_freeinfo ""
#endif
#ifndef DLC_FI_VER_fi_dupinfo
#define DLC_FI_VER_fi_dupinfo ""
#endif
#ifndef DLC_FI_VER_fi_fabric
#define DLC_FI_VER_fi_fabric ""
#endif
#ifndef DLC_FI_VER_fi_strerror
#define DLC_FI_VER_fi_strerror ""
#endif
#ifndef DLC_FI_VER_fi_tostr
#define DLC_FI_VER_fi_tostr ""
#endif
#ifndef DLC_FI_VER_fi_version
#define DLC_FI_VER_fi_version ""
#endif

dlc_fabric_api dlc_fi;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle;       /* NULL while not loaded */
static int refs;           /* references held (worlds, transports, probes) */
static dlc_err load_error; /* status != SUCCESS once a load has failed */

/* The symbol at its build-time version ("" = the default one). */
static void *lookup(const char *name, const char *version)
{
    return version[0] ? dlvsym(handle, name, version) : dlsym(handle, name);
}

#define LOOKUP(field, sym)                                                                         \
    do {                                                                                           \
        void *p_ = lookup(#sym, DLC_FI_VER_##sym);                                                 \
        if (!p_)                                                                                   \
            return dlc_fail(err, DLCOLL_ERR_TRANSPORT,                                             \
                            "%s has no %s%s%s (built against a newer libfabric?)", soname, #sym,   \
                            DLC_FI_VER_##sym[0] ? "@" : "", DLC_FI_VER_##sym);                     \
        memcpy(&api.field, &p_, sizeof p_);                                                        \
    } while (0)

static dlcoll_status_t resolve(const char *soname, dlc_err *err)
{
    dlc_fabric_api api;
    LOOKUP(getinfo, fi_getinfo);
    LOOKUP(freeinfo, fi_freeinfo);
    LOOKUP(dupinfo, fi_dupinfo);
    LOOKUP(fabric, fi_fabric);
    LOOKUP(strerror, fi_strerror);
    LOOKUP(tostr, fi_tostr);
    LOOKUP(version, fi_version);
    dlc_fi = api;
    return DLCOLL_SUCCESS;
}

static void unload_locked(const dlc_logger *lg);

static dlcoll_status_t load_locked(const char *soname, const dlc_logger *lg, dlc_err *err)
{
    dlc_guest_state g;
    dlc_guest_save(&g);
    dlerror();
    handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    const char *why = handle ? NULL : dlerror();
    dlc_guest_restore(&g, lg, "loading libfabric");
    if (!handle)
        return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                        "libfabric could not be loaded (%s): %s; install it (Debian/Ubuntu: "
                        "libfabric1) or put its directory on LD_LIBRARY_PATH",
                        soname, why ? why : "unknown reason");
    dlcoll_status_t st = resolve(soname, err);
    if (st != DLCOLL_SUCCESS) {
        unload_locked(lg);
        return st;
    }
    uint32_t v = dlc_fi.version();
    DLC_INFO(lg, "transport: loaded %s (libfabric %u.%u)", soname, FI_MAJOR(v), FI_MINOR(v));
    return DLCOLL_SUCCESS;
}

/* dlclose inside a guest bracket (lock held). */
static void unload_locked(const dlc_logger *lg)
{
    dlc_guest_state g;
    dlc_guest_save(&g);
    dlclose(handle);
    dlc_guest_restore(&g, lg, "unloading libfabric");
    handle = NULL;
    memset(&dlc_fi, 0, sizeof dlc_fi);
}

dlcoll_status_t dlc_fabric_acquire_from(const char *soname, const dlc_logger *lg, dlc_err *err)
{
    pthread_mutex_lock(&lock);
    dlcoll_status_t st = DLCOLL_SUCCESS;
    if (!handle && load_error.status != DLCOLL_SUCCESS)
        st = dlc_fail(err, load_error.status, "%s", load_error.msg);
    else if (!handle && (st = load_locked(soname, lg, &load_error)) != DLCOLL_SUCCESS)
        dlc_fail(err, st, "%s", load_error.msg);
    if (st == DLCOLL_SUCCESS)
        refs++;
    pthread_mutex_unlock(&lock);
    return st;
}

dlcoll_status_t dlc_fabric_acquire(const dlc_logger *lg, dlc_err *err)
{
    return dlc_fabric_acquire_from(DLC_FABRIC_SONAME, lg, err);
}

void dlc_fabric_release(const dlc_logger *lg)
{
    pthread_mutex_lock(&lock);
    if (refs > 0 && --refs == 0 && handle) {
        DLC_INFO(lg, "transport: unloading libfabric (no world left)");
        unload_locked(lg);
    }
    pthread_mutex_unlock(&lock);
}
