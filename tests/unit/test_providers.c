/*
 * test_providers.c -- the provider registry and choice (providers/registry.c)
 * and the topology / interface choice (plugin/topology/topology.c).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/transport/fabric_lib.h"
#include "plugin/topology/topology.h"
#include "providers/provider.h"

/* Probe-mask bit of a provider, by short name. */
static uint32_t bit(const char *name)
{
    int n;
    const dlc_provider *const *list = dlc_provider_list(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(list[i]->name, name) == 0)
            return UINT32_C(1) << i;
    cr_assert_fail("provider %s is not in the list", name);
    return 0;
}

static const dlc_provider *choose_ok(const char *requested, uint32_t mask, int all_local)
{
    const dlc_provider *p = NULL;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_provider_choose(requested, mask, all_local, &p, &err);
    cr_assert_eq(st, DLCOLL_SUCCESS, "choose('%s', 0x%x, %d): %s", requested, mask, all_local, err.msg);
    cr_assert_not_null(p);
    return p;
}

static dlcoll_status_t choose_fail(const char *requested, uint32_t mask, int all_local, dlc_err *err)
{
    const dlc_provider *p = (const dlc_provider *)err; /* must be reset to NULL */
    dlc_err_clear(err);
    dlcoll_status_t st = dlc_provider_choose(requested, mask, all_local, &p, err);
    cr_assert_neq(st, DLCOLL_SUCCESS, "choose('%s', 0x%x, %d) succeeded", requested, mask, all_local);
    cr_expect_null(p);
    cr_expect(err->msg[0] != '\0', "no message");
    return st;
}

/* ------------------------------------------------------------------ registry */

Test(providers, list_is_complete_and_findable)
{
    static const char *const expected[][2] = {
        {"shm", "shm"}, {"tcp", "tcp;ofi_rxm"}, {"udp", "udp;ofi_rxd"},
        {"sockets", "sockets"}, {"verbs", "verbs;ofi_rxm"}, {"efa", "efa"},
    };
    int n = 0;
    const dlc_provider *const *list = dlc_provider_list(&n);
    cr_assert_eq(n, 6);
    cr_assert(n <= 32, "probe masks are 32 bits");
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const dlc_provider *p = dlc_provider_find(expected[i][0]);
        cr_assert_not_null(p, "%s not found", expected[i][0]);
        cr_expect_str_eq(p->fi_name, expected[i][1]);
        cr_expect_eq(dlc_provider_find(expected[i][1]), p, "lookup by libfabric name %s", expected[i][1]);
        cr_expect_not_null(p->tune_hints);
    }
    cr_expect_eq(dlc_provider_find("TCP"), dlc_provider_find("tcp"), "lookup ignores case");
    cr_expect_null(dlc_provider_find("psm9"));
    cr_expect_null(dlc_provider_find(NULL));
    cr_expect_null(dlc_provider_find(""));
    /* Only shm is limited to one host; only tcp, verbs, efa (and shm) are automatic. */
    for (int i = 0; i < n; i++) {
        cr_expect_eq(list[i]->intra_host_only, strcmp(list[i]->name, "shm") == 0, "%s", list[i]->name);
        int automatic = strcmp(list[i]->name, "udp") != 0 && strcmp(list[i]->name, "sockets") != 0;
        cr_expect_eq(list[i]->auto_rank > 0, automatic, "%s auto_rank %d", list[i]->name,
                     list[i]->auto_rank);
    }
}

Test(providers, auto_picks_shm_when_all_local)
{
    uint32_t all = bit("shm") | bit("tcp") | bit("udp") | bit("sockets");
    cr_expect_str_eq(choose_ok("", all, 1)->name, "shm");
    cr_expect_str_eq(choose_ok(NULL, all, 1)->name, "shm");
    cr_expect_str_eq(choose_ok("auto", all, 1)->name, "shm");
    /* Without shm on every rank, local jobs fall back to the network order. */
    cr_expect_str_eq(choose_ok("", bit("tcp") | bit("udp"), 1)->name, "tcp");
}

Test(providers, auto_order_across_hosts)
{
    uint32_t base = bit("shm") | bit("tcp") | bit("udp") | bit("sockets");
    cr_expect_str_eq(choose_ok("", base, 0)->name, "tcp");
    cr_expect_str_eq(choose_ok("", base | bit("verbs"), 0)->name, "verbs");
    cr_expect_str_eq(choose_ok("", base | bit("verbs") | bit("efa"), 0)->name, "efa");
    cr_expect_str_eq(choose_ok("", base | bit("efa"), 0)->name, "efa");
}

Test(providers, udp_and_sockets_never_automatic)
{
    dlc_err err;
    dlcoll_status_t st = choose_fail("", bit("udp") | bit("sockets") | bit("shm"), 0, &err);
    cr_expect_eq(st, DLCOLL_ERR_UNSUPPORTED);
    cr_expect(strstr(err.msg, "DLCOLL_PROVIDER") != NULL, "message: %s", err.msg);
    /* ... but fine when requested. */
    cr_expect_str_eq(choose_ok("udp", bit("udp"), 0)->name, "udp");
    cr_expect_str_eq(choose_ok("sockets", bit("sockets") | bit("tcp"), 0)->name, "sockets");
}

Test(providers, requested_provider_wins)
{
    uint32_t all = bit("shm") | bit("tcp") | bit("verbs");
    cr_expect_str_eq(choose_ok("tcp", all, 1)->name, "tcp");
    cr_expect_str_eq(choose_ok("tcp;ofi_rxm", all, 0)->name, "tcp");
    cr_expect_str_eq(choose_ok("shm", all, 1)->name, "shm");
}

Test(providers, requested_but_unavailable_is_an_error)
{
    dlc_err err;
    dlcoll_status_t st = choose_fail("verbs", bit("shm") | bit("tcp"), 0, &err);
    cr_expect_eq(st, DLCOLL_ERR_UNSUPPORTED);
    cr_expect(strstr(err.msg, "verbs") != NULL, "message: %s", err.msg);
    cr_expect(strstr(err.msg, "not available on every rank") != NULL, "message: %s", err.msg);
    /* The message lists what every rank could use. */
    cr_expect(strstr(err.msg, "tcp") != NULL, "message: %s", err.msg);
}

Test(providers, shm_across_hosts_is_an_error)
{
    dlc_err err;
    dlcoll_status_t st = choose_fail("shm", bit("shm") | bit("tcp"), 0, &err);
    cr_expect_eq(st, DLCOLL_ERR_UNSUPPORTED);
    cr_expect(strstr(err.msg, "shm") != NULL, "message: %s", err.msg);
    cr_expect(strstr(err.msg, "one host") != NULL, "message: %s", err.msg);
}

Test(providers, unknown_name_is_an_error)
{
    dlc_err err;
    dlcoll_status_t st = choose_fail("infiniband", ~UINT32_C(0), 0, &err);
    cr_expect_eq(st, DLCOLL_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.msg, "'infiniband'") != NULL, "message: %s", err.msg);
    cr_expect(strstr(err.msg, "tcp") != NULL, "message should list known names: %s", err.msg);
}

Test(providers, nothing_usable_is_an_error)
{
    dlc_err err;
    cr_expect_eq(choose_fail("", 0, 0, &err), DLCOLL_ERR_UNSUPPORTED);
    cr_expect_eq(choose_fail("", bit("shm"), 0, &err), DLCOLL_ERR_UNSUPPORTED);
}

/* The interface reaches libfabric as the hints' domain name, and the process
 * environment is left alone (dlcoll is a guest: no FI_*_IFACE is set). */
extern char **environ;

static size_t environ_count(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    return n;
}

Test(providers, iface_goes_into_hints_not_environment)
{
    dlc_err err;
    cr_assert_eq(dlc_fabric_acquire(NULL, &err), DLCOLL_SUCCESS, "%s", err.msg);
    unsetenv("FI_TCP_IFACE");
    unsetenv("FI_UDP_IFACE");
    unsetenv("FI_SOCKETS_IFACE");
    size_t env_before = environ_count();
    const char *ip_providers[] = {"tcp", "udp", "sockets"};
    for (int i = 0; i < 3; i++) {
        const dlc_provider *p = dlc_provider_find(ip_providers[i]);
        cr_assert_not_null(p);
        cr_expect(p->uses_ip_iface, "%s", p->name);
        struct fi_info *h = dlc_fi.dupinfo(NULL);
        cr_assert_not_null(h);
        p->tune_hints(h, "lo");
        cr_assert_not_null(h->domain_attr->name, "%s: no domain name in the hints", p->name);
        cr_expect_str_eq(h->domain_attr->name, "lo", "%s", p->name);
        p->tune_hints(h, "eth9"); /* a second choice replaces the first */
        cr_expect_str_eq(h->domain_attr->name, "eth9", "%s", p->name);
        dlc_fi.freeinfo(h);
        h = dlc_fi.dupinfo(NULL);
        p->tune_hints(h, NULL);
        cr_expect_null(h->domain_attr->name, "%s: no interface, no domain name", p->name);
        p->tune_hints(h, "");
        cr_expect_null(h->domain_attr->name, "%s: empty interface, no domain name", p->name);
        dlc_fi.freeinfo(h);
    }
    cr_expect_null(getenv("FI_TCP_IFACE"));
    cr_expect_null(getenv("FI_UDP_IFACE"));
    cr_expect_null(getenv("FI_SOCKETS_IFACE"));
    cr_expect_eq(environ_count(), env_before, "the environment changed");
    dlc_fabric_release(NULL);
}

Test(providers, missing_libfabric_is_a_clear_error)
{
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_fabric_acquire_from("libfabric-dlcoll-test-absent.so.1", NULL, &err);
    cr_expect_eq(st, DLCOLL_ERR_TRANSPORT);
    cr_expect(strstr(err.msg, "libfabric could not be loaded") != NULL, "message: %s", err.msg);
    cr_expect(strstr(err.msg, "libfabric-dlcoll-test-absent.so.1") != NULL, "message: %s", err.msg);
    /* The failure is remembered: the same answer again, no second attempt. */
    dlc_err again;
    cr_expect_eq(dlc_fabric_acquire(NULL, &again), DLCOLL_ERR_TRANSPORT);
    cr_expect_str_eq(again.msg, err.msg);
}

/* ------------------------------------------------------------------ topology */

static dlc_logger quiet_logger(void)
{
    dlc_logger lg;
    dlc_logger_init(&lg, NULL, NULL, -1, 0);
    return lg;
}

static void clear_iface_env(void)
{
    unsetenv("DLCOLL_IFACE");
    unsetenv("FI_TCP_IFACE");
}

Test(topology, load_counts_cpus)
{
    dlc_logger lg = quiet_logger();
    dlc_topology topo;
    memset(&topo, 0x7f, sizeof topo);
    dlc_topology_load(&topo, &lg);
    cr_expect(topo.pus >= 1, "pus %d", topo.pus);
    cr_expect(topo.cores >= 1, "cores %d", topo.cores);
    cr_expect(topo.pus >= topo.cores, "pus %d < cores %d", topo.pus, topo.cores);
    cr_expect(topo.numa_nodes >= 1, "numa nodes %d", topo.numa_nodes);
    cr_expect(topo.nics >= 0);
    for (int i = 0; i < topo.nics && i < 8; i++) {
        cr_expect(topo.nic_names[i][0] != '\0', "nic %d has no name", i);
        cr_expect_str_neq(topo.nic_names[i], "lo");
    }
}

static void pick(const char *remote, int all_local, char *iface, size_t cap)
{
    dlc_logger lg = quiet_logger();
    dlc_topology topo;
    dlc_topology_load(&topo, &lg);
    memset(iface, 'x', cap);
    dlc_topology_pick_iface(&topo, remote, all_local, iface, cap, &lg);
    cr_assert(memchr(iface, '\0', cap) != NULL, "iface not terminated");
}

Test(topology, loopback_remote_gives_lo)
{
    char iface[64];
    clear_iface_env();
    pick("127.0.0.1", 0, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
    pick("127.3.4.5", 0, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
    pick("::1", 0, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
    pick("localhost", 0, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
}

Test(topology, all_local_gives_lo)
{
    char iface[64];
    clear_iface_env();
    pick("192.0.2.200", 1, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
    pick(NULL, 1, iface, sizeof iface);
    cr_expect_str_eq(iface, "lo");
}

Test(topology, explicit_env_wins)
{
    char iface[64];
    clear_iface_env();
    setenv("DLCOLL_IFACE", "myeth7", 1);
    setenv("FI_TCP_IFACE", "other3", 1);
    pick("127.0.0.1", 1, iface, sizeof iface);
    cr_expect_str_eq(iface, "myeth7");
    unsetenv("DLCOLL_IFACE");
    pick("127.0.0.1", 1, iface, sizeof iface);
    cr_expect_str_eq(iface, "other3");
}

Test(topology, small_buffer_is_truncated_not_overflowed)
{
    char iface[3];
    clear_iface_env();
    setenv("DLCOLL_IFACE", "verylongname0", 1);
    pick("127.0.0.1", 0, iface, sizeof iface);
    cr_expect_str_eq(iface, "ve");
}

/* An up, non-loopback IPv4 interface of this host, with an address in its
 * subnet other than its own; 0 when the host has none. */
static int find_ipv4_iface(char *name, size_t cap, char *addr, size_t acap)
{
    struct ifaddrs *ifs = NULL;
    int found = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET ||
            !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
        uint32_t m = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
        if (m == 0 || m >= 0xfffffffcu)
            continue;
        uint32_t other = a ^ 1u;  /* a neighbour in the subnet, not network or broadcast */
        if ((other & ~m) == 0 || (other & ~m) == ~m)
            other = a ^ 2u;
        struct in_addr o = {.s_addr = htonl(other)};
        snprintf(name, cap, "%s", i->ifa_name);
        inet_ntop(AF_INET, &o, addr, (socklen_t)acap);
        found = 1;
    }
    freeifaddrs(ifs);
    return found;
}

Test(topology, subnet_match_picks_that_interface)
{
    char want[IF_NAMESIZE + 1], addr[INET_ADDRSTRLEN], iface[64];
    clear_iface_env();
    if (!find_ipv4_iface(want, sizeof want, addr, sizeof addr))
        cr_skip_test("no non-loopback IPv4 interface on this host");
    pick(addr, 0, iface, sizeof iface);
    cr_expect_str_eq(iface, want, "remote %s", addr);
}

Test(topology, remote_in_no_subnet_falls_back)
{
    char want[IF_NAMESIZE + 1], addr[INET_ADDRSTRLEN], iface[64];
    clear_iface_env();
    /* TEST-NET-3: numeric (no DNS), and on no interface's subnet here. */
    pick("203.0.113.9", 0, iface, sizeof iface);
    if (find_ipv4_iface(want, sizeof want, addr, sizeof addr)) {
        cr_expect(iface[0] != '\0', "no interface chosen");
        cr_expect_str_neq(iface, "lo");
    }
}
