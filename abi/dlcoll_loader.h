/*
 * dlcoll_loader.h -- header-only loader for dlcoll plugins.
 *
 *     dlcoll_loader_t ld;
 *     if (dlcoll_load(&ld, NULL) != 0) { fprintf(stderr, "%s\n", ld.error); exit(1); }
 *     const dlcoll_plugin_v1_t *p = ld.plugin;
 *     ... p->init(&cfg, &comm) ...
 *     dlcoll_unload(&ld);
 *
 * path NULL means $DLCOLL_PLUGIN, else "libdlcoll.so" (found by the dynamic
 * linker's search path).  The loader resolves DLCOLL_PLUGIN_SYMBOL and refuses a
 * plugin whose abi_major differs from DLCOLL_ABI_MAJOR, whose struct_size is too
 * small for the version 1.0 entries, or whose entries are NULL, with a message
 * that names the file and both versions.  Link the host with -ldl (glibc < 2.34).
 */
#ifndef DLCOLL_LOADER_H
#define DLCOLL_LOADER_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dlcoll.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlcoll_loader {
    void *handle;                       /* from dlopen, NULL when not loaded */
    const dlcoll_plugin_v1_t *plugin;   /* the resolved entry struct         */
    char path[1024];                    /* the file that was opened          */
    char error[1024];                   /* why loading failed                */
} dlcoll_loader_t;

/* Size of the 1.0 struct: every entry a 1.0 host may call. */
#define DLCOLL_PLUGIN_V1_0_SIZE (offsetof(dlcoll_plugin_v1_t, finalize) + sizeof(void (*)(void)))

static inline int dlcoll_loader_fail_(dlcoll_loader_t *ld, const char *why)
{
    snprintf(ld->error, sizeof ld->error, "dlcoll loader: %s: %s", ld->path, why);
    if (ld->handle)
        dlclose(ld->handle);
    ld->handle = NULL;
    ld->plugin = NULL;
    return -1;
}

/* Check an entry struct without loading anything (also used by tests). */
static inline int dlcoll_loader_check(dlcoll_loader_t *ld, const dlcoll_plugin_v1_t *p)
{
    char why[512];
    if (p->abi_major != DLCOLL_ABI_MAJOR) {
        snprintf(why, sizeof why,
                 "plugin \"%s\" implements ABI %u.%u, this host needs ABI major %d (%d.%d)",
                 p->name ? p->name : "?", (unsigned)p->abi_major, (unsigned)p->abi_minor,
                 DLCOLL_ABI_MAJOR, DLCOLL_ABI_MAJOR, DLCOLL_ABI_MINOR);
        return dlcoll_loader_fail_(ld, why);
    }
    if (p->struct_size < DLCOLL_PLUGIN_V1_0_SIZE) {
        snprintf(why, sizeof why, "plugin entry struct is %zu bytes, ABI 1.0 needs at least %zu",
                 p->struct_size, (size_t)DLCOLL_PLUGIN_V1_0_SIZE);
        return dlcoll_loader_fail_(ld, why);
    }
    if (!p->status_string || !p->last_error || !p->init || !p->comm_rank || !p->comm_size ||
        !p->group_create || !p->group_split || !p->group_destroy || !p->allgather ||
        !p->allgather_list || !p->barrier || !p->test || !p->wait || !p->request_free ||
        !p->request_error || !p->abort || !p->finalize)
        return dlcoll_loader_fail_(ld, "plugin entry struct has a NULL ABI 1.0 entry");
    ld->plugin = p;
    return 0;
}

static inline int dlcoll_load(dlcoll_loader_t *ld, const char *path)
{
    memset(ld, 0, sizeof *ld);
    if (!path || !*path)
        path = getenv("DLCOLL_PLUGIN");
    if (!path || !*path)
        path = "libdlcoll.so";
    snprintf(ld->path, sizeof ld->path, "%s", path);
    ld->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!ld->handle) {
        const char *e = dlerror();
        return dlcoll_loader_fail_(ld, e ? e : "dlopen failed");
    }
    dlerror();
    void *sym = dlsym(ld->handle, DLCOLL_PLUGIN_SYMBOL);
    if (!sym) {
        char why[512];
        snprintf(why, sizeof why, "no symbol %s (not a dlcoll ABI v%d plugin)",
                 DLCOLL_PLUGIN_SYMBOL, DLCOLL_ABI_MAJOR);
        return dlcoll_loader_fail_(ld, why);
    }
    return dlcoll_loader_check(ld, (const dlcoll_plugin_v1_t *)sym);
}

static inline void dlcoll_unload(dlcoll_loader_t *ld)
{
    if (ld->handle)
        dlclose(ld->handle);
    ld->handle = NULL;
    ld->plugin = NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* DLCOLL_LOADER_H */
