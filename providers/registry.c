/*
 * registry.c -- the list of known providers and the choice every rank agrees on.
 *
 * Bit i of a probe mask stands for list[i]; the order below is therefore part
 * of what ranks exchange and must be the same in every build of one job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <rdma/fabric.h>
#include "providers/provider.h"
#include "providers/provider_hints.h"

extern const dlc_provider dlc_provider_shm;
extern const dlc_provider dlc_provider_efa;
extern const dlc_provider dlc_provider_verbs;
extern const dlc_provider dlc_provider_tcp;
extern const dlc_provider dlc_provider_udp;
extern const dlc_provider dlc_provider_sockets;

/* In order of preference (shm only when every rank is local). */
static const dlc_provider *const all_providers[] = {
    &dlc_provider_shm, &dlc_provider_efa, &dlc_provider_verbs,
    &dlc_provider_tcp, &dlc_provider_udp, &dlc_provider_sockets,
};
#define N_PROVIDERS ((int)(sizeof(all_providers) / sizeof(all_providers[0])))

const dlc_provider *const *dlc_provider_list(int *n)
{
    if (n)
        *n = N_PROVIDERS;
    return all_providers;
}

const dlc_provider *dlc_provider_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < N_PROVIDERS; i++) {
        if (strcasecmp(name, all_providers[i]->name) == 0 ||
            strcasecmp(name, all_providers[i]->fi_name) == 0)
            return all_providers[i];
    }
    return NULL;
}

/* "shm, efa, ..." for the providers in mask (all when mask is ~0). */
static void names_in_mask(uint32_t mask, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_PROVIDERS && used < cap; i++) {
        if (!(mask & (UINT32_C(1) << i)))
            continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", all_providers[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (buf[0] == '\0')
        snprintf(buf, cap, "none");
}

static int index_of(const dlc_provider *p)
{
    for (int i = 0; i < N_PROVIDERS; i++)
        if (all_providers[i] == p)
            return i;
    return -1;
}

dlcoll_status_t dlc_provider_choose(const char *requested, uint32_t common_mask, int all_local,
                                    const dlc_provider **out, dlc_err *err)
{
    char names[256];
    *out = NULL;

    if (requested && requested[0] && strcasecmp(requested, "auto") != 0) {
        const dlc_provider *p = dlc_provider_find(requested);
        if (!p) {
            names_in_mask(~UINT32_C(0), names, sizeof names);
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "unknown provider '%s' (known: %s)",
                            requested, names);
        }
        if (p->intra_host_only && !all_local)
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                            "provider '%s' was requested but works only when all ranks are on one "
                            "host, and this job spans several hosts",
                            p->name);
        if (!(common_mask & (UINT32_C(1) << index_of(p)))) {
            names_in_mask(common_mask, names, sizeof names);
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                            "provider '%s' (%s) was requested but is not available on every rank "
                            "(available on all ranks: %s)",
                            p->name, p->fi_name, names);
        }
        *out = p;
        return DLCOLL_SUCCESS;
    }

    const dlc_provider *best = NULL;
    for (int i = 0; i < N_PROVIDERS; i++) {
        const dlc_provider *p = all_providers[i];
        if (p->auto_rank <= 0 || !(common_mask & (UINT32_C(1) << i)))
            continue;
        if (p->intra_host_only && !all_local)
            continue;
        if (!best || p->auto_rank > best->auto_rank)
            best = p;
    }
    if (!best) {
        names_in_mask(common_mask, names, sizeof names);
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "no provider usable by every rank was found automatically (%s; available "
                        "on all ranks: %s); set DLCOLL_PROVIDER to choose one",
                        all_local ? "all ranks on one host" : "ranks on several hosts", names);
    }
    *out = best;
    return DLCOLL_SUCCESS;
}

void dlc_provider_hint_iface(struct fi_info *hints, const char *iface)
{
    if (!iface || !iface[0] || !hints->domain_attr)
        return;
    char *copy = strdup(iface);
    if (!copy)
        return; /* any interface: pick_info() still prefers iface */
    free(hints->domain_attr->name);
    hints->domain_attr->name = copy;
}
