/*
 * hostmap.h -- which rank runs on which host, computed once at init.
 *
 * Built from the world's host records ("dlcoll/host", init.c) right after
 * they are exchanged; every "is rank a on the same host as rank b", "how many
 * ranks share this host" and "does each of them have a core" question is
 * answered from here, not by a loop over host names of its own.  Hosts are
 * numbered in the order of their first rank, so every rank numbers them
 * alike.
 */
#ifndef DLC_HOSTMAP_H
#define DLC_HOSTMAP_H

#include "plugin/util/error.h"

#define DLC_HOSTNAME_MAX 64

typedef struct dlc_hostmap {
    int n_hosts;
    int *host_of;    /* [world size]: host index of each world rank */
    int *ranks_on;   /* [n_hosts]: world ranks on each host */
    int my_host;     /* this rank's host */
    int local_ranks; /* world ranks on this host, this one included */
    /* Facts of this host, as init saw them: */
    int core_per_local_rank; /* this process may run on at least local_ranks CPUs (its affinity) */
    int oversubscribed;      /* more local ranks than online CPUs: the same answer on every
                                rank of the host (affinity may differ between them) */
} dlc_hostmap;

/* Build m for rank me of n from their host names: rank i's is at
 * names + i * stride (the host records' field), at most DLC_HOSTNAME_MAX
 * bytes.  Fails only for lack of memory. */
dlcoll_status_t dlc_hostmap_build(dlc_hostmap *m, int n, int me, const char *names, size_t stride,
                                  dlc_err *err);

void dlc_hostmap_free(dlc_hostmap *m);

/* World ranks a and b run on the same host. */
static inline int dlc_hostmap_same(const dlc_hostmap *m, int a, int b)
{
    return m->host_of[a] == m->host_of[b];
}

#endif
