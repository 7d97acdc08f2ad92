/*
 * topology.h -- what hwloc tells us about this host, recorded at init.
 *
 * Used to pick the network interface for IP providers and logged at INFO.
 */
#ifndef DLC_TOPOLOGY_H
#define DLC_TOPOLOGY_H

#include <stddef.h>
#include "plugin/util/error.h"
#include "plugin/util/log.h"

typedef struct dlc_topology {
    int cores; /* physical cores */
    int pus;   /* hardware threads */
    int numa_nodes;
    int nics;              /* OS network devices hwloc found (lo excluded) */
    char nic_names[8][32]; /* first 8 of them */
} dlc_topology;

/* Load the topology (hwloc with I/O devices).  Never fatal: on hwloc failure the
 * counts are 0 and a WARN is logged. */
void dlc_topology_load(dlc_topology *topo, const dlc_logger *lg);

/* Choose the interface an IP provider should use to reach `remote_host` (the
 * rendezvous host, may be NULL/empty): DLCOLL_IFACE or FI_TCP_IFACE if set; "lo"
 * when remote_host is a loopback address or all ranks are on this host; else the
 * interface whose subnet contains remote_host's address; else the first NIC
 * hwloc lists.  Writes the name into iface and logs the choice and reason at INFO. */
void dlc_topology_pick_iface(const dlc_topology *topo, const char *remote_host, int all_local,
                             char *iface, size_t cap, const dlc_logger *lg);

#endif
