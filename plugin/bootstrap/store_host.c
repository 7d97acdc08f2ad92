/*
 * store_host.c -- adapts the host's dlcoll_store_t callbacks (e.g. a wrapper
 * around PyTorch's c10d Store) to the internal store interface.
 *
 * The host's get returns 0 on success, 1 on timeout, anything else on failure.
 */
#include "plugin/bootstrap/store_impl.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct host_store {
    dlc_store base;
    dlcoll_store_t cb; /* copied: the host's struct need not stay put */
} host_store;

static dlcoll_status_t host_set(dlc_store *base, const char *key, const void *value, size_t len,
                                dlc_err *err)
{
    host_store *hs = (host_store *)base;
    int rc = hs->cb.set(hs->cb.ctx, key, value, len);
    if (rc != 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s: set('%s', %zu bytes) failed (callback returned %d)", base->name, key,
                        len, rc);
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t host_get(dlc_store *base, const char *key, void *buf, size_t cap,
                                size_t *len, int timeout_ms, dlc_err *err)
{
    host_store *hs = (host_store *)base;
    size_t full = (size_t)-1;
    int rc = hs->cb.get(hs->cb.ctx, key, buf, cap, &full, timeout_ms);
    if (rc == 1)
        return dlc_fail(err, DLCOLL_ERR_TIMEOUT, "%s: key '%s' did not appear within %d ms",
                        base->name, key, timeout_ms);
    if (rc != 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: get('%s') failed (callback returned %d)",
                        base->name, key, rc);
    if (full == (size_t)-1)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s: get('%s') succeeded but did not set the value length", base->name,
                        key);
    *len = full;
    return DLCOLL_SUCCESS;
}

static void host_close(dlc_store *base)
{
    free(base); /* the host owns its store */
}

static const dlc_store_ops host_ops = {host_set, host_get, host_close, NULL};

dlcoll_status_t dlc_store_host_open(const dlcoll_store_t *host, int timeout_ms, dlc_store **out,
                                    dlc_err *err)
{
    *out = NULL;
    host_store *hs = calloc(1, sizeof *hs);
    if (hs == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "host store: out of memory");
    hs->base.ops = &host_ops;
    hs->base.timeout_ms = timeout_ms;
    snprintf(hs->base.name, sizeof hs->base.name, "host store");
    hs->cb = *host;
    *out = &hs->base;
    return DLCOLL_SUCCESS;
}
