/*
 * test_alloc_failure.c -- every allocation of an allgather's or a barrier's
 * local part (validation, the plan cache, the algorithm's prepare, the
 * request) may fail: the call then returns DLCOLL_ERR_SYSTEM with a message,
 * writes nothing, takes no sequence number (the other ranks' matching call
 * pairs with this rank's next one), keeps nothing allocated, and leaves the
 * plan cache usable (the next call with the same tensors hits it).
 *
 * The ranks load dlcoll_allocfail.so (allocfail.h): the plugin's objects with
 * its malloc/calloc/realloc/free wrapped.  For each algorithm, on a fresh
 * group, each rank sweeps k = 1, 2, ...: the k-th allocation of the call
 * fails, until a call makes fewer than k allocations and succeeds (its output
 * is then checked byte by byte); the other ranks' calls meanwhile wait for
 * it.  The sweeps (see enum sweep_kind): uncacheable tensors on the fresh
 * group (the hosts' layout), the plan cache's creation (optional
 * allocations), cache hits (every call must hit: the failed calls must hand
 * their borrowed plan back), cache misses, a barrier.  After the world is
 * finalized, every allocation made in any swept call has been freed.
 *
 * Single host: provider shm, DLCOLL_ALGO ring, direct, shm, auto.  Two
 * "hosts" (2+2 ranks, each pair in a UTS namespace with its own host name,
 * provider tcp over lo): hier (small blocks: the direct exchange between
 * hosts; larger: the ring), auto (which is hier there), ring, direct.
 * The ABI 1.1 collectives (allreduce, reduce_scatter_list, broadcast) on one
 * host: the same rule for their local part (v1_1_collectives_shm_n3).
 */
#include <criterion/criterion.h>

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocfail/allocfail.h"
#include "mp_gather.h"

#define MAX_POINTS 400 /* a sweep that never ends is a bug of its own */

typedef struct run_arg {
    const char *const *algos; /* NULL-terminated; "auto" unsets DLCOLL_ALGO */
    int64_t elems[2];         /* float32 elements per rank of the swept allgathers (0: unused) */
} run_arg;

static int af_load(mp_ctx *ctx, af_api *af)
{
    void *h = dlopen(DLCOLL_PLUGIN_PATH, RTLD_NOW | RTLD_NOLOAD);
    if (!h) {
        mp_fail(ctx, __FILE__, __LINE__, "dlopen(%s, RTLD_NOLOAD): %s", DLCOLL_PLUGIN_PATH,
                dlerror());
        return 1;
    }
    af->arm = (void (*)(long))dlsym(h, AF_ARM_SYM);
    af->disarm = (void (*)(af_report *))dlsym(h, AF_DISARM_SYM);
    af->live_total = (long (*)(void))dlsym(h, AF_LIVE_SYM);
    dlclose(h);
    if (!af->arm || !af->disarm || !af->live_total) {
        mp_fail(ctx, __FILE__, __LINE__, "%s lacks the allocfail.h functions",
                DLCOLL_PLUGIN_PATH);
        return 1;
    }
    return 0;
}

/* The sweeps, in this order on a fresh group:
 *   UNCACHED: tensors the plan cache does not take (a 9-dim output), so no
 *             allocation is optional and the group's first calls fail in
 *             turn at each allocation of the hosts' layout (hier, auto);
 *   CACHE:    the plan cache is created and filled: its allocations are
 *             optional (their failure only skips caching: the call succeeds);
 *   HIT:      the same tensors again: every call must hit the cache (a failed
 *             call before handed its borrowed plan back);
 *   MISS:     three other tensor sets in turn: every call misses, validates
 *             and refills the cache;
 *   BARRIER.
 * Each failed call after the first two sweeps must leave nothing allocated;
 * the first two may leave what the group keeps (the layout, the cache),
 * which the check after finalize covers. */
enum sweep_kind { SWEEP_UNCACHED, SWEEP_CACHE, SWEEP_HIT, SWEEP_MISS, SWEEP_BARRIER };
static const char *const sweep_names[] = {"uncached allgather", "cache creation", "cache hit",
                                          "cache miss", "barrier"};

/* One sweep on comm: returns 0 (counting the failure points in *points), or 1
 * after mp_fail. */
static int sweep(mp_ctx *ctx, const af_api *af, dlcoll_comm_t comm, const char *algo,
                 enum sweep_kind kind, mp_ag *ags, int *points, int *optional)
{
    *points = *optional = 0;
    const dlcoll_plugin_v1_t *p = ctx->p;
    const char *what = sweep_names[kind];
    for (long k = 1; k <= MAX_POINTS; k++) {
        /* A miss every time: the cache holds the last call's tensors (or,
         * when that call failed before reaching it, the ones before). */
        mp_ag *a = kind == SWEEP_MISS ? &ags[1 + k % 3] : kind == SWEEP_UNCACHED ? &ags[4]
                                                                               : &ags[0];
        if (kind != SWEEP_BARRIER)
            mp_fill(a->out.data, a->out.size, MP_SEED_UNTOUCHED, -1, 0);
        mp_step(ctx, "DLCOLL_ALGO=%s, %s, %s, allocation %ld fails", algo, what, a->label, k);
        af->arm(k);
        dlcoll_status_t st = kind == SWEEP_BARRIER ? p->barrier(comm, NULL)
                                                   : p->allgather(comm, &a->tin, &a->tout, NULL);
        af_report rep;
        af->disarm(&rep);
        const char *e = p->last_error(comm);
        if (kind == SWEEP_HIT)
            MP_REQUIRE(ctx, rep.lookups == 1 && rep.hits == 1,
                       "DLCOLL_ALGO=%s, %s, allocation %ld fails: the plan cache was not hit "
                       "(%ld lookups, %ld hits): a failed call before kept its plan", algo, what,
                       k, rep.lookups, rep.hits);
        if (kind == SWEEP_MISS)
            MP_REQUIRE(ctx, rep.hits == 0, "DLCOLL_ALGO=%s, %s: a hit with other tensors", algo,
                       what);
        if (st == DLCOLL_SUCCESS) {
            /* Nothing injected (fewer than k allocations: the call ran for
             * real), or an allocation the call can do without (the plan
             * cache's own, whose failure only skips caching): a real
             * collective either way, on every rank alike. */
            if (kind != SWEEP_BARRIER && mp_ag_verify(ctx, a) != 0)
                return 1;
            if (rep.injected) {
                (*optional)++;
                continue;
            }
            *points = (int)(k - 1) - *optional;
            fprintf(stderr, "[allocfail] rank %d: DLCOLL_ALGO=%s, %s (%s): %d failure points "
                    "all clean, %d optional; %ld allocations in the last call\n", ctx->rank,
                    algo, what, a->label, *points, *optional, rep.allocs);
            return 0;
        }
        MP_REQUIRE(ctx, rep.injected, "DLCOLL_ALGO=%s, %s, nothing injected (%ld allocations) "
                   "-> %s (%d): %s", algo, what, rep.allocs, p->status_string(st), (int)st,
                   e ? e : "(null)");
        MP_REQUIRE(ctx, st == DLCOLL_ERR_SYSTEM,
                   "DLCOLL_ALGO=%s, %s, allocation %ld failed -> %s (%d), expected "
                   "DLCOLL_ERR_SYSTEM: %s", algo, what, k, p->status_string(st), (int)st,
                   e ? e : "(null)");
        MP_REQUIRE(ctx, e && strstr(e, "out of memory"),
                   "DLCOLL_ALGO=%s, %s, allocation %ld failed: the message does not say out of "
                   "memory: \"%s\"", algo, what, k, e ? e : "(null)");
        if (kind != SWEEP_BARRIER) {
            size_t bad = mp_find_bad(a->out.data, a->out.size, MP_SEED_UNTOUCHED, -1, 0);
            MP_REQUIRE(ctx, bad == (size_t)-1,
                       "DLCOLL_ALGO=%s, %s, allocation %ld failed, yet output byte %zu was "
                       "written", algo, what, k, bad);
        }
        /* The first call keeps what the group keeps for later calls (the
         * cache, the hosts' layout), freed with the group: checked after
         * finalize.  Any other failed call keeps nothing. */
        if (kind >= SWEEP_HIT)
            MP_REQUIRE(ctx, rep.live == 0,
                       "DLCOLL_ALGO=%s, %s, allocation %ld of %ld failed: %ld of the call's "
                       "allocations were not freed (\"%s\")", algo, what, k, rep.allocs,
                       rep.live, e ? e : "");
    }
    mp_fail(ctx, __FILE__, __LINE__, "DLCOLL_ALGO=%s, %s: still failing after %d allocations",
            algo, what, MAX_POINTS);
    return 1;
}

/* All sweeps for one algorithm and block size, on a fresh group of the whole world. */
static int sweep_algo(mp_ctx *ctx, const af_api *af, const char *algo, int64_t elems,
                      uint32_t seed, int *total)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (strcmp(algo, "auto") == 0)
        unsetenv("DLCOLL_ALGO");
    else
        setenv("DLCOLL_ALGO", algo, 1);
    int ranks[MP_MAX_RANKS];
    for (int i = 0; i < n; i++)
        ranks[i] = i;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, p->group_create(ctx->comm, ranks, n, algo, &g));
    /* [0]: cache creation and hits, [1..3]: misses, [4]: uncacheable (the
     * same bytes per rank, stacked into a 9-dim output). */
    enum { N_AGS = 5 };
    mp_ag ags[N_AGS];
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), seed, elems);
    mp_ag_spec u = MP_SPEC(mp_dt(kDLFloat, 32), seed, elems, 1, 1, 1, 1, 1, 1, 1);
    u.stacked = 1;
    for (int i = 0; i < N_AGS; i++, s.seed++, u.seed++) {
        if (mp_ag_prepare(ctx, &ags[i], i == 4 ? &u : &s, me, n, NULL)) {
            while (i--)
                mp_ag_free(&ags[i]);
            return 1;
        }
    }
    int rc = 0, pts = 0, opt = 0;
    for (int kind = SWEEP_UNCACHED; kind <= SWEEP_BARRIER && rc == 0; kind++) {
        if (kind == SWEEP_HIT) {
            /* Make sure the cache holds ags[0] (the last call of CACHE may
             * have skipped caching). */
            mp_step(ctx, "DLCOLL_ALGO=%s, filling the plan cache", algo);
            MP_OK_ON(ctx, g, p->allgather(g, &ags[0].tin, &ags[0].tout, NULL));
        }
        rc = sweep(ctx, af, g, algo, (enum sweep_kind)kind, ags, &pts, &opt);
        *total += pts;
        MP_EXPECT(ctx, rc != 0 || pts > 0, "DLCOLL_ALGO=%s, %s: no allocation to fail?", algo,
                  sweep_names[kind]);
    }
    /* And the cache still works for plain calls: the second of two calls
     * with the same tensors hits it. */
    for (int i = 0; i < 2 && rc == 0; i++) {
        mp_fill(ags[1].out.data, ags[1].out.size, MP_SEED_UNTOUCHED, -1, 0);
        af_report rep;
        af->arm(0);
        dlcoll_status_t st = p->allgather(g, &ags[1].tin, &ags[1].tout, NULL);
        af->disarm(&rep);
        MP_OK_ON(ctx, g, st);
        MP_EXPECT(ctx, i == 0 || rep.hits == 1,
                  "DLCOLL_ALGO=%s: a repeated plain call missed the plan cache", algo);
        rc = mp_ag_verify(ctx, &ags[1]);
    }
    for (int i = 0; i < N_AGS; i++)
        mp_ag_free(&ags[i]);
    MP_OK_ON(ctx, g, p->group_destroy(g));
    return rc;
}

static int body(mp_ctx *ctx)
{
    const run_arg *arg = ctx->arg;
    af_api af;
    if (af_load(ctx, &af))
        return 1;
    int total = 0;
    uint32_t seed = 9100;
    for (const char *const *algo = arg->algos; *algo; algo++)
        for (int i = 0; i < 2 && arg->elems[i]; i++, seed += 5)
            if (sweep_algo(ctx, &af, *algo, arg->elems[i], seed, &total))
                return 1;
    ctx->report[0] = total;
    MP_OK(ctx, ctx->p->finalize(ctx->comm));
    ctx->comm = NULL;
    long live = af.live_total();
    MP_REQUIRE(ctx, live == 0, "after finalize, %ld allocations of the swept calls were never "
               "freed", live);
    return 0;
}

static void run(const mp_opts *base, const run_arg *arg)
{
    mp_opts o = *base;
    o.no_finalize = 1;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, body, (void *)arg, res);
    mp_assert_all_ok(res);
    for (int r = 0; r < o.n; r++)
        cr_expect(res->r[r].report[0] > 20, "rank %d: only %ld failure points", r,
                  res->r[r].report[0]);
    mp_result_free(res);
}

Test(alloc_failure, single_host_shm_n3, .timeout = 300)
{
    static const char *const algos[] = {"ring", "direct", "shm", "auto", NULL};
    run_arg arg = {algos, {300, 0}}; /* 1200 bytes per rank */
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 3;
    o.provider = "shm";
    o.deadline_ms = 240000;
    run(&o, &arg);
}

/* ---------------------------------------------------------------- ABI 1.1 */

/* The ABI 1.1 collectives: allreduce (strided: staging buffers too),
 * reduce_scatter_list and broadcast.  After one good call of each (what the
 * communicator keeps, such as the shared segment, exists then), every
 * allocation of each call's local part fails in turn: DLCOLL_ERR_SYSTEM
 * saying "out of memory", nothing written, nothing left allocated, and the
 * next call (the other ranks wait for it) pairs with the others' call. */
enum { V11_ALLREDUCE, V11_RS_LIST, V11_BROADCAST, V11_COUNT };
static const char *const v11_names[] = {"allreduce (strided)", "reduce_scatter_list",
                                        "broadcast (strided)"};

static dlcoll_status_t v11_call(mp_ctx *ctx, int kind, float *buf, float *out)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size;
    static int64_t s100[1] = {100}, str2[1] = {2};
    DLTensor t, o, ins[8];
    const DLTensor *list[8];
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    switch (kind) {
    case V11_ALLREDUCE:
        mp_tensor(&t, buf, 0, mp_dt(kDLFloat, 32), 1, s100, str2);
        mp_tensor(&o, out, 0, mp_dt(kDLFloat, 32), 1, s100, str2);
        return p->allreduce(ctx->comm, &t, &o, &sum, NULL);
    case V11_RS_LIST:
        for (int i = 0; i < n; i++) {
            mp_tensor(&ins[i], buf + 100 * i, 0, mp_dt(kDLFloat, 32), 1, s100, NULL);
            list[i] = &ins[i];
        }
        mp_tensor(&o, out, 0, mp_dt(kDLFloat, 32), 1, s100, NULL);
        return p->reduce_scatter_list(ctx->comm, list, n, &o, &sum, NULL);
    default:
        mp_tensor(&t, ctx->rank == 0 ? buf : out, 0, mp_dt(kDLFloat, 32), 1, s100, str2);
        return p->broadcast(ctx->comm, &t, 0, NULL);
    }
}

/* 1 when the result of kind is right (inputs: buf[i] = rank + i). */
static int v11_right(mp_ctx *ctx, int kind, const float *buf, const float *out)
{
    if (kind == V11_BROADCAST && ctx->rank == 0)
        out = buf; /* the root's tensor, read only */
    int n = ctx->size;
    for (int i = 0; i < 100; i++) {
        float want;
        if (kind == V11_ALLREDUCE)
            want = (float)(n * (n - 1) / 2 + n * 2 * i); /* element i of the view is buf[2i] */
        else if (kind == V11_RS_LIST)
            want = (float)(n * (n - 1) / 2 + n * (100 * ctx->rank + i));
        else
            want = (float)(2 * i); /* rank 0's buf[2i] */
        if (out[kind == V11_RS_LIST ? i : 2 * i] != want)
            return 0;
    }
    return 1;
}

static int v11_body(mp_ctx *ctx)
{
    af_api af;
    if (af_load(ctx, &af))
        return 1;
    float *buf = calloc(800, sizeof *buf), *out = calloc(800, sizeof *out);
    MP_REQUIRE(ctx, buf && out, "out of memory");
    int total = 0;
    for (int kind = 0; kind < V11_COUNT; kind++) {
        for (int i = 0; i < 800; i++)
            buf[i] = (float)(ctx->rank + i);
        mp_step(ctx, "%s, warm-up", v11_names[kind]);
        MP_OK(ctx, v11_call(ctx, kind, buf, out));
        for (long k = 1; k <= MAX_POINTS; k++) {
            for (int i = 0; i < 800; i++)
                out[i] = -1.0f;
            mp_step(ctx, "%s, allocation %ld fails", v11_names[kind], k);
            af.arm(k);
            dlcoll_status_t st = v11_call(ctx, kind, buf, out);
            af_report rep;
            af.disarm(&rep);
            const char *e = ctx->p->last_error(ctx->comm);
            if (st == DLCOLL_SUCCESS) {
                MP_REQUIRE(ctx, !rep.injected, "%s: allocation %ld failed, yet the call "
                           "succeeded", v11_names[kind], k);
                MP_REQUIRE(ctx, v11_right(ctx, kind, buf, out), "%s: wrong result after the "
                           "failure sweep", v11_names[kind]);
                total += (int)(k - 1);
                fprintf(stderr, "[allocfail] rank %d: %s: %ld failure points all clean\n",
                        ctx->rank, v11_names[kind], k - 1);
                break;
            }
            MP_REQUIRE(ctx, rep.injected && st == DLCOLL_ERR_SYSTEM && e &&
                                strstr(e, "out of memory"),
                       "%s, allocation %ld fails -> %s (%d), injected %d: %s", v11_names[kind],
                       k, ctx->p->status_string(st), (int)st, rep.injected, e ? e : "(null)");
            MP_REQUIRE(ctx, rep.live == 0, "%s, allocation %ld of %ld failed: %ld allocations "
                       "not freed", v11_names[kind], k, rep.allocs, rep.live);
            for (int i = 0; i < 800; i++)
                MP_REQUIRE(ctx, out[i] == -1.0f || (kind == V11_BROADCAST && ctx->rank == 0),
                           "%s, allocation %ld failed, yet output element %d was written",
                           v11_names[kind], k, i);
            MP_REQUIRE(ctx, k < MAX_POINTS, "%s: still failing after %d allocations",
                       v11_names[kind], MAX_POINTS);
        }
    }
    free(buf);
    free(out);
    ctx->report[0] = total;
    MP_OK(ctx, ctx->p->finalize(ctx->comm));
    ctx->comm = NULL;
    long live = af.live_total();
    MP_REQUIRE(ctx, live == 0, "after finalize, %ld allocations of the swept calls were never "
               "freed", live);
    return 0;
}

Test(alloc_failure, v1_1_collectives_shm_n3, .timeout = 300)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 3;
    o.provider = "shm";
    o.no_finalize = 1;
    o.deadline_ms = 240000;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, v11_body, NULL, res);
    mp_assert_all_ok(res);
    for (int r = 0; r < o.n; r++)
        cr_expect(res->r[r].report[0] > 10, "rank %d: only %ld failure points", r,
                  res->r[r].report[0]);
    mp_result_free(res);
}

/* ---------------------------------------------------------------- two "hosts" */

#define N_HOSTS_RANKS 4

static int two_hosts(int rank, void *arg, char *why, size_t cap)
{
    const char *name = rank < N_HOSTS_RANKS / 2 ? "dlcaf-host-a" : "dlcaf-host-b";
    if (unshare(CLONE_NEWUTS) != 0 || sethostname(name, strlen(name)) != 0) {
        snprintf(why, cap, "unshare(CLONE_NEWUTS)/sethostname: %s", strerror(errno));
        return -1;
    }
    setenv("DLCOLL_IFACE", "lo", 1);
    setenv("FI_TCP_IFACE", "lo", 1);
    return 0;
}

/* May this process give a child its own host name? */
static int can_unshare_uts(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWUTS) == 0 && sethostname("dlcaf-probe", 11) == 0 ? 0 : 1);
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

Test(alloc_failure, two_hosts_tcp_n4, .timeout = 300)
{
    if (!can_unshare_uts())
        cr_skip_test("unshare(CLONE_NEWUTS) is not permitted here: two host names need it");
    static const char *const algos[] = {"hier", "auto", "ring", "direct", NULL};
    run_arg arg = {algos, {100, 3000}}; /* 400 B (direct between hosts), 12000 B (ring) */
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = N_HOSTS_RANKS;
    o.provider = "tcp";
    o.init = MP_INIT_TCP;
    o.deadline_ms = 240000;
    o.child_setup = two_hosts;
    run(&o, &arg);
}
