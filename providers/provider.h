/*
 * provider.h -- what dlcoll needs to know about each libfabric provider.
 *
 * One file per provider (shm.c, tcp.c, udp.c, sockets.c, verbs.c, efa.c)
 * defines a dlc_provider; registry.c lists them in order of preference and
 * chooses one that every rank can use.
 */
#ifndef DLC_PROVIDER_H
#define DLC_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include "plugin/util/error.h"

struct fi_info;

typedef struct dlc_provider {
    const char *name;    /* dlcoll's short name: "shm", "tcp", "verbs", ... */
    const char *fi_name; /* libfabric's prov_name: "shm", "tcp;ofi_rxm", "verbs;ofi_rxm", "efa" */
    int intra_host_only; /* usable only when every rank is on one host */
    int uses_ip_iface;   /* honours an interface choice (domain name = interface name) */
    int auto_rank;       /* preference when chosen automatically; 0 = never automatic */
    /* Adjust hints before fi_getinfo (mr_mode, addr_format, caps, the
     * interface as domain name ...).  iface may be NULL.  Never touches the
     * process environment: dlcoll is a guest in its host's process. */
    void (*tune_hints)(struct fi_info *hints, const char *iface);
} dlc_provider;

/* All known providers; *n receives the count.  Bit i of a probe mask is list[i]. */
const dlc_provider *const *dlc_provider_list(int *n);

/* Look a provider up by short name (or libfabric name); NULL if unknown. */
const dlc_provider *dlc_provider_find(const char *name);

/* Choose the provider every rank will use.
 *   requested: config/DLCOLL_PROVIDER value, "" for automatic
 *   common_mask: AND of every rank's dlc_transport_probe() mask
 *   all_local: every rank is on this host
 * Automatic: shm when all_local, else the usable provider with the highest
 * auto_rank that is not intra_host_only.  A requested provider that some rank
 * cannot use, or shm across hosts, is an error naming the provider. */
dlcoll_status_t dlc_provider_choose(const char *requested, uint32_t common_mask, int all_local,
                                    const dlc_provider **out, dlc_err *err);

#endif
