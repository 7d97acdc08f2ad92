/*
 * shm.c -- libfabric's shared-memory provider, for ranks on one host.
 *
 * shm needs no memory registration for host buffers and no interface; it is
 * chosen automatically whenever every rank runs on this host.
 *
 * Naming: by default shm names its region after the process id, so a region
 * left in /dev/shm by a process that died makes fi_enable fail with EBUSY for
 * a later process that happens to get the same pid.  We give every endpoint a
 * name that also holds the time and a counter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"

static void shm_tune_hints(struct fi_info *hints, const char *iface)
{
    static unsigned counter;
    (void)iface;
    /* Both bits concern RMA only, which dlcoll does not use; accepting them
     * widens the match without requiring registration of local buffers. */
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char name[96];
    int n = snprintf(name, sizeof name, "fi_shm://dlc-%ld-%llx-%u", (long)getpid(),
                     (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
                     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    char *copy = (n > 0 && (size_t)n < sizeof name) ? strdup(name) : NULL;
    if (!copy)
        return; /* shm falls back to its own name */
    hints->addr_format = FI_ADDR_STR;
    hints->src_addr = copy; /* freed with the hints by fi_freeinfo */
    hints->src_addrlen = strlen(copy) + 1;
}

const dlc_provider dlc_provider_shm = {
    .name = "shm",
    .fi_name = "shm",
    .intra_host_only = 1,
    .uses_ip_iface = 0,
    .auto_rank = 100, /* preferred whenever it is allowed (all ranks local) */
    .tune_hints = shm_tune_hints,
};
