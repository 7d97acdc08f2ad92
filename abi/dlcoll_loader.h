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

/* Size of the 1.1 struct: every entry a 1.1 host may call. */
#define DLCOLL_PLUGIN_V1_1_SIZE (offsetof(dlcoll_plugin_v1_t, broadcast) + sizeof(void (*)(void)))

/* Append s to buf (capacity cap, *used bytes so far), truncating; keeps NUL. */
static inline void dlcoll_loader_append_(char *buf, size_t cap, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + 1 >= cap)
        return;
    if (n > cap - 1 - *used)
        n = cap - 1 - *used;
    memcpy(buf + *used, s, n);
    *used += n;
    buf[*used] = '\0';
}

static inline int dlcoll_loader_fail_(dlcoll_loader_t *ld, const char *why)
{
    /* "dlcoll loader: <path>: <why>", built by hand: snprintf of two bounded
     * arrays into one trips -Wformat-truncation in hosts built with -Werror. */
    size_t used = 0;
    ld->error[0] = '\0';
    dlcoll_loader_append_(ld->error, sizeof ld->error, &used, "dlcoll loader: ");
    dlcoll_loader_append_(ld->error, sizeof ld->error, &used, ld->path);
    dlcoll_loader_append_(ld->error, sizeof ld->error, &used, ": ");
    dlcoll_loader_append_(ld->error, sizeof ld->error, &used, why);
    if (ld->handle)
        dlclose(ld->handle);
    ld->handle = NULL;
    ld->plugin = NULL;
    return -1;
}

/* Check an entry struct without loading anything (also used by tests).  ld
 * must come from dlcoll_load() or be zeroed (memset) first. */
static inline int dlcoll_loader_check(dlcoll_loader_t *ld, const dlcoll_plugin_v1_t *p)
{
    char why[512];
    if (!p)
        return dlcoll_loader_fail_(ld, "plugin entry struct is NULL");
    /* The header fields never move, so they can be read in any version. */
    const char *name = p->name ? p->name : "?";
    if (p->abi_major != DLCOLL_ABI_MAJOR) {
        snprintf(why, sizeof why,
                 "plugin \"%s\" implements ABI %u.%u, this host needs ABI major %d (%d.%d)",
                 name, (unsigned)p->abi_major, (unsigned)p->abi_minor,
                 DLCOLL_ABI_MAJOR, DLCOLL_ABI_MAJOR, DLCOLL_ABI_MINOR);
        return dlcoll_loader_fail_(ld, why);
    }
    if (p->struct_size < DLCOLL_PLUGIN_V1_0_SIZE) {
        snprintf(why, sizeof why,
                 "plugin \"%s\" (ABI %u.%u) has a %zu-byte entry struct, this host (ABI %d.%d) "
                 "needs at least %zu bytes for the ABI 1.0 entries",
                 name, (unsigned)p->abi_major, (unsigned)p->abi_minor, p->struct_size,
                 DLCOLL_ABI_MAJOR, DLCOLL_ABI_MINOR, (size_t)DLCOLL_PLUGIN_V1_0_SIZE);
        return dlcoll_loader_fail_(ld, why);
    }
    /* Every 1.0 entry, by name, so the message can say which one is missing. */
    const struct { const char *name; int present; } entries[] = {
        {"status_string", p->status_string != NULL}, {"last_error", p->last_error != NULL},
        {"init", p->init != NULL},                   {"comm_rank", p->comm_rank != NULL},
        {"comm_size", p->comm_size != NULL},         {"group_create", p->group_create != NULL},
        {"group_split", p->group_split != NULL},     {"group_destroy", p->group_destroy != NULL},
        {"allgather", p->allgather != NULL},         {"allgather_list", p->allgather_list != NULL},
        {"barrier", p->barrier != NULL},             {"test", p->test != NULL},
        {"wait", p->wait != NULL},                   {"request_free", p->request_free != NULL},
        {"request_error", p->request_error != NULL}, {"abort", p->abort != NULL},
        {"finalize", p->finalize != NULL},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        if (!entries[i].present) {
            snprintf(why, sizeof why,
                     "plugin \"%s\" (ABI %u.%u) has a NULL ABI 1.0 entry: %s", name,
                     (unsigned)p->abi_major, (unsigned)p->abi_minor, entries[i].name);
            return dlcoll_loader_fail_(ld, why);
        }
    }
    ld->plugin = p;
    return 0;
}

/* For a host that needs an entry appended after 1.0: 0 when plugin p has
 * entry `member` (DLCOLL_PLUGIN_HAS), else -1 with a message in buf (cap
 * bytes) naming the entry, the plugin's version and the version that added
 * the entry (`minor`: 1 for allreduce, reduce_scatter, reduce_scatter_list
 * and broadcast), e.g.
 *   plugin "fake" implements ABI 1.0 (a 168-byte entry struct): allreduce
 *   needs ABI 1.1 */
#define DLCOLL_PLUGIN_REQUIRE(p, member, minor, buf, cap)                                         \
    dlcoll_plugin_require_((p), DLCOLL_PLUGIN_HAS(p, member), #member, (minor), (buf), (cap))

static inline int dlcoll_plugin_require_(const dlcoll_plugin_v1_t *p, int has, const char *entry,
                                         int minor, char *buf, size_t cap)
{
    if (has) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    snprintf(buf, cap,
             "plugin \"%s\" implements ABI %u.%u (a %zu-byte entry struct): %s needs ABI %d.%d",
             p->name ? p->name : "?", (unsigned)p->abi_major, (unsigned)p->abi_minor,
             p->struct_size, entry, DLCOLL_ABI_MAJOR, minor);
    return -1;
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
