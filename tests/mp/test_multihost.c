/*
 * test_multihost.c -- ranks on two "hosts": two network namespaces joined by a
 * veth pair (10.213.0.1/24 and 10.213.0.2/24), 2+2 ranks (also 3+3 and 2+1),
 * provider tcp, the TCP store on the first namespace's address.  With a host
 * name per namespace, an even split takes the hierarchical allgather
 * (allgather_hier.c).  Traffic stays between
 * the namespaces this test creates.  Skipped (with a message) only when `ip
 * netns add` is not permitted; the namespaces (and with them the veth pair) are
 * deleted afterwards, also when the test fails.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp_gather.h"
#include "mp_reduce.h"

#define ADDR_A "10.213.0.1"
#define ADDR_B "10.213.0.2"

/* Names of what this test creates (include our pid: runs do not collide). */
static char ns_a[32], ns_b[32], veth_a[16], veth_b[16];
static int created;
/* Ranks below this are on host a, the others on host b (set before forking). */
static int n_on_a = 2;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void cleanup(void)
{
    if (!created)
        return;
    /* Deleting a namespace deletes the veth end inside it, and with it the pair. */
    sh("ip netns del %s >/dev/null 2>&1", ns_a);
    sh("ip netns del %s >/dev/null 2>&1", ns_b);
    sh("ip link del %s >/dev/null 2>&1", veth_a);
    created = 0;
}

/* Returns 0, or -1 with a message in why. */
static int setup(char *why, size_t cap)
{
    int id = (int)getpid() % 100000;
    snprintf(ns_a, sizeof ns_a, "dlcmpt-a-%d", id);
    snprintf(ns_b, sizeof ns_b, "dlcmpt-b-%d", id);
    snprintf(veth_a, sizeof veth_a, "dmA%d", id);
    snprintf(veth_b, sizeof veth_b, "dmB%d", id);
    if (sh("ip netns add %s 2>/dev/null", ns_a) != 0) {
        snprintf(why, cap, "skip");
        return -1;
    }
    created = 1;
    if (sh("ip netns add %s", ns_b) || sh("ip link add %s type veth peer name %s", veth_a, veth_b) ||
        sh("ip link set %s netns %s", veth_a, ns_a) || sh("ip link set %s netns %s", veth_b, ns_b) ||
        sh("ip -n %s addr add " ADDR_A "/24 dev %s", ns_a, veth_a) ||
        sh("ip -n %s addr add " ADDR_B "/24 dev %s", ns_b, veth_b) ||
        sh("ip -n %s link set lo up", ns_a) || sh("ip -n %s link set lo up", ns_b) ||
        sh("ip -n %s link set %s up", ns_a, veth_a) || sh("ip -n %s link set %s up", ns_b, veth_b)) {
        snprintf(why, cap, "setting up the namespaces / veth pair failed (see stderr)");
        return -1;
    }
    /* Wait until both ends are up (veth comes up asynchronously). */
    for (int i = 0; i < 50; i++) {
        if (sh("ip -n %s -br link show dev %s | grep -q ' UP '", ns_a, veth_a) == 0 &&
            sh("ip -n %s -br link show dev %s | grep -q ' UP '", ns_b, veth_b) == 0)
            return 0;
        usleep(100000);
    }
    snprintf(why, cap, "the veth pair %s/%s did not come up", veth_a, veth_b);
    return -1;
}

/* In the child: ranks 0 .. n_on_a-1 enter namespace A, the others namespace B. */
static int enter_ns(int rank, void *arg, char *why, size_t cap)
{
    const char *ns = rank < n_on_a ? ns_a : ns_b;
    const char *dev = rank < n_on_a ? veth_a : veth_b;
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
        snprintf(why, cap, "setns(%s): %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    setenv("FI_TCP_IFACE", dev, 1);
    setenv("DLCOLL_IFACE", dev, 1);
    return 0;
}

/* As enter_ns, plus a UTS namespace with its own host name per "host", so the
 * plugin sees two hosts (ranks on the other one are remote to it). */
static int enter_ns_and_host(int rank, void *arg, char *why, size_t cap)
{
    if (enter_ns(rank, arg, why, cap) != 0)
        return -1;
    const char *name = rank < n_on_a ? "dlcmpt-host-a" : "dlcmpt-host-b";
    if (unshare(CLONE_NEWUTS) != 0 || sethostname(name, strlen(name)) != 0) {
        snprintf(why, cap, "unshare(CLONE_NEWUTS)/sethostname: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int body(mp_ctx *ctx)
{
    int me = ctx->rank, n = ctx->size;
    uint32_t seed = 8000;
    mp_ag_spec specs[] = {
        MP_SPEC(mp_dt(kDLFloat, 32), seed + 0, 7, 3),
        MP_SPEC(mp_dt(kDLUInt, 8), seed + 1, 1),
        MP_SPEC(mp_dt(kDLComplex, 128), seed + 2, 3001),
        MP_SPEC(mp_dt(kDLInt, 64), seed + 3, 1 << 19), /* 4 MiB per rank */
    };
    specs[1].stacked = 1;
    specs[2].inplace = 1;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (mp_check_allgather(ctx, ctx->comm, &specs[i], me, n, NULL) != 0)
            return 1;
    /* One group per "host" and one across them. */
    dlcoll_comm_t host = NULL, across = NULL;
    MP_OK_ON(ctx, NULL, ctx->p->group_split(ctx->comm, me / 2, 0, &host));
    MP_OK_ON(ctx, NULL, ctx->p->group_split(ctx->comm, me % 2, 0, &across));
    int host_list[] = {(me / 2) * 2, (me / 2) * 2 + 1}, across_list[] = {me % 2, me % 2 + 2};
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 64), seed + 4, 100000);
    if (mp_check_allgather(ctx, host, &s, me % 2, 2, host_list) ||
        mp_check_allgather(ctx, across, &s, me / 2, 2, across_list))
        return 1;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    return 0;
}

/* Does text mention rank k as "rank k" or "peer k"? */
static int names_rank(const char *text, int k)
{
    char a[32], b[32];
    snprintf(a, sizeof a, "rank %d", k);
    snprintf(b, sizeof b, "peer %d", k);
    for (const char *s = text; s && *s; s++)
        if ((strncmp(s, a, strlen(a)) == 0 && (s[strlen(a)] < '0' || s[strlen(a)] > '9')) ||
            (strncmp(s, b, strlen(b)) == 0 && (s[strlen(b)] < '0' || s[strlen(b)] > '9')))
            return 1;
    return 0;
}

/* Rank 3 (on host b) dies; ranks 0 and 1 (host a) only have the network to tell. */
static int remote_dies(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), 8100, 50000);
    if (mp_check_allgather(ctx, ctx->comm, &s, me, n, NULL))
        return 1;
    MP_OK(ctx, p->barrier(ctx->comm, NULL));
    if (me == 3)
        raise(SIGKILL);
    mp_ag_spec s2 = MP_SPEC(mp_dt(kDLFloat, 32), 8101, 50000);
    mp_ag a;
    if (mp_ag_prepare(ctx, &a, &s2, me, n, NULL))
        return 1;
    mp_step(ctx, "allgather with rank 3 dead");
    dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: remote rank 3 died: allgather -> %s: %s\n", me,
            p->status_string(st), e ? e : "");
    MP_EXPECT(ctx, st == DLCOLL_ERR_PEER_FAILURE || st == DLCOLL_ERR_TIMEOUT,
              "allgather with rank 3 dead -> %s (%d), expected PEER_FAILURE or TIMEOUT: %s",
              p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, names_rank(e, 3), "the message does not name rank 3: \"%s\"", e ? e : "(null)");
    mp_ag_free(&a);
    return 0;
}

static void fini(void)
{
    cleanup();
}

/* Set up the namespaces, run fn on n ranks (the first on_a of them on host a)
 * entering them with enter, clean up, then assert: rank `victim` (if >= 0)
 * died of SIGKILL, all others succeeded. */
static void run_hosts(int n, int on_a, mp_rank_fn fn, int victim,
                      int (*enter)(int, void *, char *, size_t))
{
    n_on_a = on_a;
    char why[256] = "";
    if (setup(why, sizeof why) != 0) {
        int skip = strcmp(why, "skip") == 0;
        cleanup();
        if (skip)
            cr_skip_test("`ip netns add` failed (not permitted here, or no iproute2); "
                         "the two-namespace test needs it");
        cr_assert_fail("%s", why);
    }
    char init_method[64];
    snprintf(init_method, sizeof init_method, "tcp://" ADDR_A ":%d", 20000 + (int)getpid() % 20000);
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = "tcp";
    o.timeout_ms = 5000;
    o.deadline_ms = 60000;
    o.init_method = init_method;
    o.child_setup = enter;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, fn, NULL, res);
    cleanup();
    char text[16384];
    mp_describe(res, text, sizeof text);
    cr_assert(!res->deadline_hit, "deadline exceeded:\n%s", text);
    for (int i = 0; i < n; i++) {
        if (i == victim)
            cr_assert(res->r[i].signaled && res->r[i].signo == SIGKILL,
                      "rank %d should have died of SIGKILL:\n%s", i, text);
        else
            cr_assert(mp_rank_ok(res, i), "rank %d failed:\n%s", i, text);
    }
    mp_result_free(res);
}

static void run_two_hosts(mp_rank_fn fn, int victim, int (*enter)(int, void *, char *, size_t))
{
    run_hosts(4, 2, fn, victim, enter);
}

/* Two network namespaces, one host name. */
Test(multihost, two_namespaces_tcp_n4, .fini = fini, .timeout = 180)
{
    run_two_hosts(body, -1, enter_ns);
}

/* Two host names too: the plugin sees two hosts. */
Test(multihost, two_hosts_tcp_n4, .fini = fini, .timeout = 180)
{
    run_two_hosts(body, -1, enter_ns_and_host);
}

/* A rank on the other host dies before a collective. */
Test(multihost, two_hosts_remote_rank_dies_tcp_n4, .fini = fini, .timeout = 180)
{
    run_two_hosts(remote_dies, 3, enter_ns_and_host);
}

/* ---------------------------------------------------------------- hierarchical */

/* The world on several "hosts" (hierarchical allgather when they hold the same
 * number of ranks, else the transport's): sizes that take the direct exchange
 * and the ring between hosts and one or many shared-memory rounds within,
 * in-place, stacked and offset outputs, several dtypes; then groups. */
static int world_shapes(mp_ctx *ctx)
{
    int me = ctx->rank, n = ctx->size;
    uint32_t seed = 8200;
    mp_ag_spec specs[] = {
        MP_SPEC(mp_dt(kDLFloat, 32), seed + 0, 7, 3),
        MP_SPEC(mp_dt(kDLUInt, 8), seed + 1, 1),
        MP_SPEC(mp_dt(kDLInt, 16), seed + 2, 512),       /* exactly 1 KiB */
        MP_SPEC(mp_dt(kDLInt, 16), seed + 3, 513),       /* just above */
        MP_SPEC(mp_dt(kDLFloat, 64), seed + 4, 9000, 3), /* 216000 B: 4 rounds */
        MP_SPEC(mp_dt(kDLBfloat, 16), seed + 5, 0, 5),   /* empty */
        MP_SPEC(mp_dt(kDLInt, 8), seed + 6, 3 << 20),    /* 3 MiB */
    };
    specs[1].stacked = 1;
    specs[3].inplace = 1;
    specs[4].in_off = 16;
    specs[4].out_off = 24;
    specs[6].inplace = 1;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (mp_check_allgather(ctx, ctx->comm, &specs[i], me, n, NULL) != 0)
            return 1;
    /* The world in reverse order, as a group: hosts numbered the other way. */
    int rev[MP_MAX_RANKS];
    for (int i = 0; i < n; i++)
        rev[i] = n - 1 - i;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, ctx->p->group_create(ctx->comm, rev, n, "reversed", &g));
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), seed + 7, 70000);
    if (mp_check_allgather(ctx, g, &s, n - 1 - me, n, rev))
        return 1;
    MP_OK_ON(ctx, g, ctx->p->group_destroy(g));
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    return 0;
}

/* The last rank passes a bigger block: every rank gets an error (no hang, no
 * write past a buffer: mp_ag_verify checks the guards of what was written). */
static int world_mismatch(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), 8300, me == n - 1 ? 3000 : 2000);
    mp_ag a;
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    mp_step(ctx, "allgather with a size mismatch");
    dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    const char *e = p->last_error(ctx->comm);
    MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH || st == DLCOLL_ERR_PEER_FAILURE,
              "allgather with mismatched sizes -> %s (%d), expected MISMATCH or PEER_FAILURE: %s",
              p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, e && (strstr(e, "bytes") || strstr(e, "reported")),
              "the message does not say what differed: \"%s\"", e ? e : "(null)");
    mp_ag_free(&a);
    return 0;
}


/* ---------------------------------------------------------------- ABI 1.1 across hosts */

/* allreduce (the agreement runs through the hierarchical allgather on even
 * hosts), reduce_scatter and broadcast over the hosts: results against the
 * references of mp_reduce.h. */
static int world_reductions(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    const struct {
        DLDataType dt;
        int op;
        size_t count;
    } cases[] = {
        {mp_dt(kDLFloat, 32), DLCOLL_RED_SUM, 1000003}, /* 4 MiB */
        {mp_dt(kDLBfloat, 16), DLCOLL_RED_AVG, 4099},
        {mp_dt(kDLInt, 64), DLCOLL_RED_PROD, 77},
        {mp_dt(kDLFloat, 16), DLCOLL_RED_PREMUL_SUM, 5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t es = mp_dt_size(cases[k].dt), cnt = cases[k].count;
        uint8_t *buf = malloc(cnt * es);
        MP_REQUIRE(ctx, buf, "out of memory");
        mp_red_fill(buf, cases[k].dt, cases[k].op, 9000 + (uint32_t)k, me, 0, cnt, 0);
        int64_t shape[1] = {(int64_t)cnt};
        DLTensor t;
        mp_tensor(&t, buf, 0, cases[k].dt, 1, shape, NULL);
        dlcoll_reduction_t red = cases[k].op == DLCOLL_RED_PREMUL_SUM
                                     ? dlcoll_reduction_premul_sum(mp_red_factor(me))
                                     : dlcoll_reduction((dlcoll_red_op_t)cases[k].op);
        mp_step(ctx, "allreduce(%s) of %zu elements across hosts", mp_red_name(cases[k].op), cnt);
        dlcoll_status_t st = p->allreduce(ctx->comm, &t, &t, &red, NULL);
        if (st != DLCOLL_SUCCESS) {
            free(buf);
            MP_OK(ctx, st);
        }
        int ok = mp_red_check(ctx, buf, cases[k].dt, cases[k].op, 9000 + (uint32_t)k, n, 0, cnt,
                              0, "allreduce across hosts");
        free(buf);
        if (!ok)
            return 1;
    }
    /* reduce_scatter of 1000 float32 per rank, sum. */
    size_t cnt = 1000;
    float *in = malloc((size_t)n * cnt * sizeof *in), out[1000];
    MP_REQUIRE(ctx, in, "out of memory");
    mp_red_fill(in, mp_dt(kDLFloat, 32), DLCOLL_RED_SUM, 9100, me, 0, (size_t)n * cnt, 0);
    int64_t ishape[2] = {n, (int64_t)cnt}, oshape[1] = {(int64_t)cnt};
    DLTensor ti, to;
    mp_tensor(&ti, in, 0, mp_dt(kDLFloat, 32), 2, ishape, NULL);
    mp_tensor(&to, out, 0, mp_dt(kDLFloat, 32), 1, oshape, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    mp_step(ctx, "reduce_scatter across hosts");
    dlcoll_status_t st = p->reduce_scatter(ctx->comm, &ti, &to, &sum, NULL);
    free(in);
    MP_OK(ctx, st);
    if (!mp_red_check(ctx, out, mp_dt(kDLFloat, 32), DLCOLL_RED_SUM, 9100, n, (size_t)me * cnt,
                      cnt, 0, "reduce_scatter across hosts"))
        return 1;
    /* broadcast of 1 MiB from the last rank (on the other host from rank 0). */
    size_t nb = 1u << 20;
    uint8_t *b = malloc(nb);
    MP_REQUIRE(ctx, b, "out of memory");
    if (me == n - 1)
        mp_fill(b, nb, 9200, n - 1, 0);
    else
        memset(b, 0, nb);
    int64_t bshape[1] = {(int64_t)nb};
    DLTensor tb;
    mp_tensor(&tb, b, 0, mp_dt(kDLUInt, 8), 1, bshape, NULL);
    mp_step(ctx, "broadcast across hosts");
    st = p->broadcast(ctx->comm, &tb, n - 1, NULL);
    size_t bad = st == DLCOLL_SUCCESS ? mp_find_bad(b, nb, 9200, n - 1, 0) : 0;
    free(b);
    MP_OK(ctx, st);
    MP_REQUIRE(ctx, bad == (size_t)-1, "broadcast across hosts: byte %zu differs", bad);
    return 0;
}

Test(multihost, hier_3_plus_3_tcp_n6, .fini = fini, .timeout = 180)
{
    run_hosts(6, 3, world_shapes, -1, enter_ns_and_host);
}

Test(multihost, hier_2_plus_2_tcp_n4, .fini = fini, .timeout = 180)
{
    run_hosts(4, 2, world_shapes, -1, enter_ns_and_host);
}

/* Uneven hosts (2 + 1): not hierarchical, the transport's algorithms. */
Test(multihost, uneven_2_plus_1_tcp_n3, .fini = fini, .timeout = 180)
{
    run_hosts(3, 2, world_shapes, -1, enter_ns_and_host);
}

Test(multihost, hier_mismatch_tcp_n4, .fini = fini, .timeout = 180)
{
    run_hosts(4, 2, world_mismatch, -1, enter_ns_and_host);
}

/* ABI 1.1 across hosts: hierarchical (2 + 2) and uneven (2 + 1). */
Test(multihost, reductions_2_plus_2_tcp_n4, .fini = fini, .timeout = 180)
{
    run_hosts(4, 2, world_reductions, -1, enter_ns_and_host);
}

Test(multihost, reductions_2_plus_1_tcp_n3, .fini = fini, .timeout = 180)
{
    run_hosts(3, 2, world_reductions, -1, enter_ns_and_host);
}
