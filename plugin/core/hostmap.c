/*
 * hostmap.c -- the host of every rank and this host's facts (hostmap.h).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/core/hostmap.h"

/* CPUs this process may run on (its affinity), else the online ones. */
static int usable_cpus(void)
{
    cpu_set_t set;
    int cpus = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cpus = CPU_COUNT(&set);
    if (cpus <= 0)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return cpus;
}

dlcoll_status_t dlc_hostmap_build(dlc_hostmap *m, int n, int me, const char *names, size_t stride,
                                  dlc_err *err)
{
    memset(m, 0, sizeof *m);
    int *first = malloc((size_t)n * sizeof *first); /* first rank of each host */
    m->host_of = malloc((size_t)n * sizeof *m->host_of);
    m->ranks_on = calloc((size_t)n, sizeof *m->ranks_on);
    if (!first || !m->host_of || !m->ranks_on) {
        free(first);
        dlc_hostmap_free(m);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the map of %d ranks' hosts", n);
    }
    for (int i = 0; i < n; i++) {
        const char *name = names + (size_t)i * stride;
        int h = 0;
        while (h < m->n_hosts &&
               strncmp(names + (size_t)first[h] * stride, name, DLC_HOSTNAME_MAX) != 0)
            h++;
        if (h == m->n_hosts)
            first[m->n_hosts++] = i;
        m->host_of[i] = h;
        m->ranks_on[h]++;
    }
    free(first);
    m->my_host = m->host_of[me];
    m->local_ranks = m->ranks_on[m->my_host];
    int cpus = usable_cpus();
    m->core_per_local_rank = cpus > 0 && m->local_ranks <= cpus;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    m->oversubscribed = online > 0 && m->local_ranks > online;
    return DLCOLL_SUCCESS;
}

void dlc_hostmap_free(dlc_hostmap *m)
{
    free(m->host_of);
    free(m->ranks_on);
    m->host_of = m->ranks_on = NULL;
}
