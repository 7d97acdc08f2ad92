/*
 * topology.c -- what hwloc tells us about this host, and the choice of the
 * network interface for IP providers.
 *
 * The interface choice, in order:
 *   1. DLCOLL_IFACE, then FI_TCP_IFACE, when set (the user knows best);
 *   2. loopback when every rank is on this host or the rendezvous host is a
 *      loopback address;
 *   3. the interface whose subnet contains the rendezvous host's address
 *      (the network the job already uses to reach rank 0);
 *   4. the first network device hwloc lists, else the first interface that is
 *      up, else none (the provider's default).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <hwloc.h>

#include "plugin/util/config.h"
#include "plugin/util/guest.h"
#include "plugin/topology/topology.h"

/* ------------------------------------------------------------------ load */

static void load_guarded(dlc_topology *topo, const dlc_logger *lg);

/* hwloc dlopens its plugins (PCI, OpenCL, GL, ...) and runs their libraries'
 * start-up code: a guest bracket keeps the host's signal handlers (guest.h). */
void dlc_topology_load(dlc_topology *topo, const dlc_logger *lg)
{
    dlc_guest_state g;
    dlc_guest_save(&g);
    load_guarded(topo, lg);
    dlc_guest_restore(&g, lg, "loading the hwloc topology");
}

static void load_guarded(dlc_topology *topo, const dlc_logger *lg)
{
    memset(topo, 0, sizeof *topo);
    hwloc_topology_t h;
    if (hwloc_topology_init(&h) != 0) {
        DLC_WARN(lg, "topology: hwloc_topology_init failed; topology unknown");
        return;
    }
    /* Keep the I/O devices that matter (network and accelerator OS devices). */
    hwloc_topology_set_io_types_filter(h, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(h) != 0) {
        DLC_WARN(lg, "topology: hwloc_topology_load failed; topology unknown");
        hwloc_topology_destroy(h);
        return;
    }
    int n = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_CORE);
    topo->cores = n > 0 ? n : 0;
    n = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU);
    topo->pus = n > 0 ? n : 0;
    n = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE);
    topo->numa_nodes = n > 0 ? n : 0;

    char names[256] = "";
    size_t used = 0;
    for (hwloc_obj_t o = hwloc_get_next_osdev(h, NULL); o; o = hwloc_get_next_osdev(h, o)) {
        if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_NETWORK || !o->name ||
            strcmp(o->name, "lo") == 0)
            continue;
        if (topo->nics < 8) {
            snprintf(topo->nic_names[topo->nics], sizeof topo->nic_names[0], "%s", o->name);
            int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", o->name);
            if (w > 0 && (size_t)w < sizeof names - used)
                used += (size_t)w;
        }
        topo->nics++;
    }
    hwloc_topology_destroy(h);
    DLC_INFO(lg, "topology: %d cores, %d hardware threads, %d NUMA nodes, %d network devices%s%s%s",
             topo->cores, topo->pus, topo->numa_nodes, topo->nics, used ? " (" : "", names,
             used ? ")" : "");
}

/* ------------------------------------------------------------------ addresses */

static int is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

/* addr and ifaddr (same family) agree on every bit the netmask sets. */
static int in_subnet(const struct sockaddr *addr, const struct sockaddr *ifaddr,
                     const struct sockaddr *mask)
{
    const unsigned char *a, *b, *m;
    size_t len;
    /* The netmask's own family is not checked: some systems leave it unset. */
    if (addr->sa_family != ifaddr->sa_family)
        return 0;
    if (addr->sa_family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
        b = (const unsigned char *)&((const struct sockaddr_in *)ifaddr)->sin_addr;
        m = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
        len = 4;
    } else if (addr->sa_family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        b = ((const struct sockaddr_in6 *)ifaddr)->sin6_addr.s6_addr;
        m = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
        len = 16;
    } else {
        return 0;
    }
    int any_mask = 0;
    for (size_t i = 0; i < len; i++) {
        if ((a[i] & m[i]) != (b[i] & m[i]))
            return 0;
        any_mask |= m[i];
    }
    return any_mask != 0; /* a zero mask would match everything */
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    const void *src = sa->sa_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, src, buf, (socklen_t)cap))
        snprintf(buf, cap, "?");
}

/* The loopback interface's name ("lo" on Linux). */
static void loopback_name(struct ifaddrs *ifs, char *out, size_t cap)
{
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (i->ifa_name && (i->ifa_flags & IFF_LOOPBACK)) {
            snprintf(out, cap, "%s", i->ifa_name);
            return;
        }
    }
    snprintf(out, cap, "lo");
}

/* ------------------------------------------------------------------ pick */

void dlc_topology_pick_iface(const dlc_topology *topo, const char *remote_host, int all_local,
                             char *iface, size_t cap, const dlc_logger *lg)
{
    char reason[256];
    const char *env;
    struct ifaddrs *ifs = NULL;

    if (cap == 0)
        return;
    iface[0] = '\0';
    const char *from;
    if ((env = dlc_env_iface(&from))) {
        snprintf(iface, cap, "%s", env);
        snprintf(reason, sizeof reason, "%s is set", from);
        goto done;
    }
    if (getifaddrs(&ifs) != 0)
        ifs = NULL;
    if (all_local) {
        loopback_name(ifs, iface, cap);
        snprintf(reason, sizeof reason, "all ranks are on this host");
        goto done;
    }

    if (remote_host && remote_host[0]) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int gai = getaddrinfo(remote_host, NULL, &hints, &res);
        if (gai != 0) {
            DLC_INFO(lg, "topology: cannot resolve rendezvous host '%s': %s", remote_host,
                     gai_strerror(gai));
        }
        for (struct addrinfo *r = res; r && !iface[0]; r = r->ai_next) {
            char rtext[INET6_ADDRSTRLEN];
            addr_text(r->ai_addr, rtext, sizeof rtext);
            if (is_loopback_addr(r->ai_addr)) {
                loopback_name(ifs, iface, cap);
                snprintf(reason, sizeof reason, "rendezvous host %s (%s) is a loopback address",
                         remote_host, rtext);
                break;
            }
            for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
                if (!i->ifa_name || !i->ifa_addr || !i->ifa_netmask || !(i->ifa_flags & IFF_UP))
                    continue;
                if (in_subnet(r->ai_addr, i->ifa_addr, i->ifa_netmask)) {
                    char itext[INET6_ADDRSTRLEN];
                    addr_text(i->ifa_addr, itext, sizeof itext);
                    snprintf(iface, cap, "%s", i->ifa_name);
                    snprintf(reason, sizeof reason,
                             "its subnet (address %s) contains rendezvous host %s (%s)", itext,
                             remote_host, rtext);
                    break;
                }
            }
        }
        if (res)
            freeaddrinfo(res);
        if (iface[0])
            goto done;
    }

    if (topo && topo->nics > 0) {
        snprintf(iface, cap, "%s", topo->nic_names[0]);
        snprintf(reason, sizeof reason, "first network device hwloc lists%s",
                 remote_host && remote_host[0]
                     ? " (no interface's subnet holds the rendezvous host)"
                     : "");
        goto done;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_name || !i->ifa_addr || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6)
            continue;
        snprintf(iface, cap, "%s", i->ifa_name);
        snprintf(reason, sizeof reason,
                 "first interface that is up (hwloc lists no network device)");
        goto done;
    }
    snprintf(reason, sizeof reason, "no interface found; the provider chooses");

done:
    if (ifs)
        freeifaddrs(ifs);
    DLC_INFO(lg, "topology: interface %s: %s", iface[0] ? iface : "(provider default)", reason);
}
