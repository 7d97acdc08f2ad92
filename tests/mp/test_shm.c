/*
 * test_shm.c -- the shared-segment allgather's life cycle (allgather_shm.c,
 * shm_seg.c): which communicators use it, and that its segment is gone from
 * /dev/shm once every member has mapped it.
 *
 * The plugin logs "shared segment /dlcoll-<nonce>-<comm id>: ..." at INFO when
 * a rank maps a segment, and once more when the members have agreed whether
 * blocks of 32 KiB or more are copied with process_vm_readv (CMA); these
 * tests read those lines through the log callback.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_gather.h"

#define LOG_CAP 65536

static char log_buf[LOG_CAP];
static size_t log_len;

static void capture(void *ctx, dlcoll_log_level_t level, const char *line)
{
    (void)ctx;
    (void)level;
    size_t n = strlen(line);
    if (log_len + n + 2 < LOG_CAP) {
        memcpy(log_buf + log_len, line, n);
        log_len += n;
        log_buf[log_len++] = '\n';
        log_buf[log_len] = '\0';
    }
}

/* The i-th segment name logged ("/dlcoll-..."), into name; 0 when there is none. */
static int logged_segment(int i, char *name, size_t cap)
{
    const char *p = log_buf;
    for (;;) {
        p = strstr(p, "shared segment /dlcoll-");
        if (!p)
            return 0;
        p += strlen("shared segment ");
        size_t len = strcspn(p, ":\n ");
        /* Mapping lines only ("<name>: <size> bytes, ..."), not the CMA one. */
        if (p[len] != ':' || p[len + 1] != ' ' || p[len + 2] < '0' || p[len + 2] > '9')
            continue;
        if (i-- == 0) {
            snprintf(name, cap, "%.*s", (int)len, p);
            return 1;
        }
    }
}

static int init_logged(mp_ctx *ctx)
{
    dlcoll_config_t cfg = ctx->cfg;
    cfg.log_fn = capture;
    cfg.log_ctx = NULL;
    cfg.log_level = DLCOLL_LOG_INFO;
    mp_step(ctx, "init");
    MP_OK_ON(ctx, NULL, ctx->p->init(&cfg, &ctx->comm));
    return 0;
}

static int gather_twice(mp_ctx *ctx, dlcoll_comm_t comm, int me, int n, const int *ids)
{
    DLDataType f32 = {kDLFloat, 32, 1};
    mp_ag_spec small = MP_SPEC(f32, 7, 5, 3);
    mp_ag_spec big = MP_SPEC(f32, 8, 300, 1000); /* 1.2 MB: several rounds */
    int rc = mp_check_allgather(ctx, comm, &small, me, n, ids);
    if (rc == 0)
        rc = mp_check_allgather(ctx, comm, &big, me, n, ids);
    return rc;
}

/* shm provider: the world and a group use segments, and both names are gone
 * after their first operations (each member has mapped them by then). */
static int segments_unlinked(mp_ctx *ctx)
{
    if (init_logged(ctx))
        return 1;
    if (gather_twice(ctx, ctx->comm, ctx->rank, ctx->size, NULL))
        return 1;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    char name[256], path[300];
    MP_REQUIRE(ctx, logged_segment(0, name, sizeof name),
               "no 'shared segment' line at INFO: the world did not use the shm exchange; log:\n%s",
               log_buf);
    snprintf(path, sizeof path, "/dev/shm%s", name);
    errno = 0;
    MP_EXPECT(ctx, access(path, F_OK) != 0 && errno == ENOENT,
              "%s still exists after the first operations (errno %d)", path, errno);

    /* A group of ranks 1..n-1 gets its own segment, also unlinked. */
    int ranks[MP_MAX_RANKS], k = 0;
    for (int r = 1; r < ctx->size; r++)
        ranks[k++] = r;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, ctx->p->group_create(ctx->comm, ranks, k, "tail", &g));
    if (g) {
        if (gather_twice(ctx, g, ctx->rank - 1, k, ranks))
            return 1;
        MP_OK_ON(ctx, g, ctx->p->barrier(g, NULL));
        char gname[256];
        MP_REQUIRE(ctx, logged_segment(1, gname, sizeof gname),
                   "no second 'shared segment' line for the group; log:\n%s", log_buf);
        MP_EXPECT(ctx, strcmp(gname, name) != 0, "the group reused the world's segment %s", name);
        snprintf(path, sizeof path, "/dev/shm%s", gname);
        errno = 0;
        MP_EXPECT(ctx, access(path, F_OK) != 0 && errno == ENOENT,
                  "%s still exists after the group's first operations (errno %d)", path, errno);
        MP_OK_ON(ctx, g, ctx->p->group_destroy(g));
    }
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    return 0;
}

/* tcp provider on one host: the automatic choice keeps the transport (the
 * user asked for tcp), so no segment is mapped. */
static int no_segment_on_tcp(mp_ctx *ctx)
{
    if (init_logged(ctx))
        return 1;
    if (gather_twice(ctx, ctx->comm, ctx->rank, ctx->size, NULL))
        return 1;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    char name[256];
    MP_EXPECT(ctx, !logged_segment(0, name, sizeof name),
              "a shared segment (%s) was mapped although the provider is tcp", name);
    return 0;
}

#define CMA_ON "are copied once with process_vm_readv"
#define CMA_OFF "go through the slots"

/* Whether this host has a core (of those this process may run on) for each
 * of n ranks: the condition under which the members want CMA. */
static int core_per_rank(int n)
{
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (cpus <= 0)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= n;
}

/* Gathers of 64 KiB and 1.2 MB per rank (several layouts checked byte by
 * byte by mp_check_allgather), then the agreement logged by every rank:
 * expect_on decides which. */
static int cma_agreement(mp_ctx *ctx, int expect_on)
{
    if (init_logged(ctx))
        return 1;
    DLDataType u8 = {kDLUInt, 8, 1};
    mp_ag_spec mid = MP_SPEC(u8, 21, 64, 1024);
    int rc = mp_check_allgather(ctx, ctx->comm, &mid, ctx->rank, ctx->size, NULL);
    if (rc == 0)
        rc = gather_twice(ctx, ctx->comm, ctx->rank, ctx->size, NULL);
    if (rc)
        return rc;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    const char *want = expect_on ? CMA_ON : CMA_OFF, *other = expect_on ? CMA_OFF : CMA_ON;
    if (getenv("DLCOLL_SHM_CMA_MIN")) /* the rank that decides for itself logs no agreement */
        MP_EXPECT(ctx, !strstr(log_buf, CMA_ON) && !strstr(log_buf, CMA_OFF),
                  "a rank with DLCOLL_SHM_CMA_MIN set logged an agreement:\n%s", log_buf);
    else
        MP_EXPECT(ctx, strstr(log_buf, want) && !strstr(log_buf, other),
                  "expected the agreement '%s' in the log:\n%s", want, log_buf);
    return 0;
}

/* Default settings: CMA exactly when every rank has a core of its own. */
static int cma_auto(mp_ctx *ctx)
{
    return cma_agreement(ctx, core_per_rank(ctx->size));
}

/* One rank refuses CMA (DLCOLL_SHM_CMA_MIN=0 there only): every rank uses
 * the slots, and the results are exact. */
static int cma_refused_by_last_rank(mp_ctx *ctx)
{
    return cma_agreement(ctx, 0);
}

static int env_on_last_rank(int rank, void *setup_arg, char *why, size_t cap)
{
    mp_opts *o = setup_arg;
    return rank == o->n - 1 ? mp_setup_env(rank, "DLCOLL_SHM_CMA_MIN=0", why, cap) : 0;
}

/* Rank 0 forces CMA for every size, rank 1 forbids it: both fail with a
 * MISMATCH naming the other, instead of reading the wrong kind of slot. */
static int env_cma_split(int rank, void *setup_arg, char *why, size_t cap)
{
    (void)setup_arg;
    return mp_setup_env(rank, rank == 0 ? "DLCOLL_SHM_CMA_MIN=1" : "DLCOLL_SHM_CMA_MIN=0", why,
                        cap);
}

static int cma_split_fails(mp_ctx *ctx)
{
    if (init_logged(ctx))
        return 1;
    enum { COUNT = 4096 };
    static uint8_t in[COUNT], out[2 * COUNT];
    memset(in, 0x5a, sizeof in);
    int64_t ish[1] = {COUNT}, osh[1] = {2 * COUNT};
    DLTensor ti = {in, {kDLCPU, 0}, 1, {kDLUInt, 8, 1}, ish, NULL, 0};
    DLTensor to = {out, {kDLCPU, 0}, 1, {kDLUInt, 8, 1}, osh, NULL, 0};
    mp_step(ctx, "allgather with the CMA setting split");
    dlcoll_status_t st = ctx->p->allgather(ctx->comm, &ti, &to, NULL);
    const char *msg = ctx->p->last_error(ctx->comm);
    char peer[32];
    snprintf(peer, sizeof peer, "rank %d", 1 - ctx->rank);
    MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH && strstr(msg, peer) && strstr(msg, "DLCOLL_SHM_CMA_MIN"),
              "expected a MISMATCH naming %s and DLCOLL_SHM_CMA_MIN, got status %d: %s", peer,
              (int)st, msg);
    return 0;
}

static void run_setup(int n, mp_rank_fn fn, int (*setup)(int, void *, char *, size_t))
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = "shm";
    o.init = MP_INIT_FILE;
    o.timeout_ms = 20000;
    o.deadline_ms = 90000;
    o.no_init = 1;
    o.child_setup = setup;
    o.setup_arg = &o;
    mp_run_ok(&o, fn, NULL);
}

/* The segment cannot be allocated (see dev_shm_too_small below): init, whose
 * barrier #0 already goes through the segment, fails on every rank with
 * SYSTEM and a message naming /dev/shm and what to do, and nothing crashes. */
static int shm_too_small(mp_ctx *ctx)
{
    dlcoll_config_t cfg = ctx->cfg;
    mp_step(ctx, "init with /dev/shm too small for the segment");
    dlcoll_status_t st = ctx->p->init(&cfg, &ctx->comm);
    const char *msg = ctx->p->last_error(ctx->comm);
    MP_REQUIRE(ctx, st == DLCOLL_ERR_SYSTEM && ctx->comm == NULL,
               "expected init to fail with SYSTEM, got status %d: %s", (int)st, msg ? msg : "");
    MP_EXPECT(ctx, msg && strstr(msg, "/dev/shm") && strstr(msg, "cannot allocate") &&
                       strstr(msg, "DLCOLL_SHM_SLOT_BYTES"),
              "the message does not name /dev/shm and the remedy: %s", msg ? msg : "(null)");
    MP_EXPECT(ctx, msg && !strstr(msg, "connectivity check over"),
              "a local shared-memory failure is worded as a fabric failure: %s", msg ? msg : "(null)");
    fprintf(stderr, "[mp] rank %d: /dev/shm too small -> %d: %s\n", ctx->rank, (int)st, msg);
    return 0;
}

static void run(int n, const char *provider, mp_rank_fn fn)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = provider;
    o.init = MP_INIT_FILE;
    o.timeout_ms = 20000;
    o.deadline_ms = 90000;
    o.no_init = 1;
    mp_run_ok(&o, fn, NULL);
}

TestSuite(shm, .timeout = 200);

Test(shm, segments_unlinked_n3) { run(3, "shm", segments_unlinked); }
Test(shm, segments_unlinked_n4) { run(4, "shm", segments_unlinked); }
Test(shm, no_segment_on_tcp_n2) { run(2, "tcp", no_segment_on_tcp); }
Test(shm, cma_auto_n2) { run(2, "shm", cma_auto); }
Test(shm, cma_auto_n4) { run(4, "shm", cma_auto); }
Test(shm, cma_refused_by_one_rank_n2) { run_setup(2, cma_refused_by_last_rank, env_on_last_rank); }
Test(shm, cma_refused_by_one_rank_n3) { run_setup(3, cma_refused_by_last_rank, env_on_last_rank); }
Test(shm, cma_setting_split_n2) { run_setup(2, cma_split_fails, env_cma_split); }

/* /dev/shm smaller than the segment (2 ranks: 4 slots of 64 KiB or more;
 * here a 64 KiB tmpfs, like a full container's): the segment's pages are allocated before
 * any is touched, so the ranks get an error instead of a SIGBUS (init's
 * barrier is the first exchange).  The test
 * process (Criterion forks one per test) takes a mount namespace of its own
 * and mounts the small tmpfs there; the ranks inherit it.  tcp provider (its
 * endpoints need no /dev/shm), DLCOLL_ALGO=shm. */
Test(shm, dev_shm_too_small_n2)
{
    cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare(CLONE_NEWNS): %s (the test needs root)",
                 strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0,
                 "making / private: %s", strerror(errno));
    cr_assert_eq(mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=64k"), 0,
                 "mounting a 64 KiB tmpfs on /dev/shm: %s", strerror(errno));
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 2;
    o.provider = "tcp";
    o.init = MP_INIT_TCP;
    o.timeout_ms = 20000;
    o.deadline_ms = 60000;
    o.no_init = 1;
    o.no_finalize = 1;
    o.child_setup = mp_setup_env;
    o.setup_arg = (void *)"DLCOLL_ALGO=shm";
    mp_run_ok(&o, shm_too_small, NULL);
}
