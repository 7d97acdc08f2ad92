/*
 * test_verdict.c -- one verdict on every rank (docs/abi.md section 12, "the
 * failure rule"): no rank completes an operation that another rank failed,
 * on every algorithm and provider; abort() wakes every waiter; a local
 * failure is local on every rank; nothing is left in /dev/shm.
 *
 *   - late arrival: rank 1's wait(300 ms) times out (or another thread
 *     aborts it) before rank 0 calls the same allgather; rank 0 must fail,
 *     naming rank 1, not gather rank 1's block from the shared segment;
 *   - 3 ranks: rank 2 is already blocked in the operation that rank 1 fails,
 *     rank 0 arrives later: both must fail;
 *   - abort() from another thread wakes a thread blocked in group_create;
 *   - an unknown DLCOLL_ALGO fails barrier as it fails allgather: locally,
 *     at once, on every rank;
 *   - a size mismatch under the ring algorithm over shm, repeated on fresh
 *     groups, each rank out of dlcoll once it has its error: every rank fails
 *     within a second, never by the timeout (the notice must not need the
 *     detector's later polls);
 *   - the names of the shared segments: none is left after finalize when a
 *     group's first operation never completed.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_gather.h"

#define TIMEOUT_MS 20000
#define DEADLINE_MS 90000

enum { R_STATUS = 0, R_ELAPSED_MS = 1, R_FAILS = 2 };

static mp_opts opts(int n, const char *provider, mp_init_kind init)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = provider;
    o.init = init;
    o.timeout_ms = TIMEOUT_MS;
    o.deadline_ms = DEADLINE_MS;
    return o;
}

static int warm_up(mp_ctx *ctx)
{
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 5, 4096);
    return mp_check_allgather(ctx, ctx->comm, &s, ctx->rank, ctx->size, NULL) ? 1 : 0;
}

/* ================================================================ late arrival */

typedef enum late_how { LATE_WAIT_TIMEOUT = 0, LATE_ABORT = 1 } late_how;

typedef struct late_case {
    late_how how;
    int blocked; /* n = 3: rank 2 is blocked in the operation before rank 1 fails it */
} late_case;

typedef struct abort_arg {
    const dlcoll_plugin_v1_t *p;
    dlcoll_comm_t comm;
    int delay_ms;
} abort_arg;

static void *abort_after(void *v)
{
    abort_arg *a = v;
    usleep((useconds_t)a->delay_ms * 1000);
    a->p->abort(a->comm);
    return NULL;
}

/* Flags: 0 = rank 1 failed the operation; 1 = rank 2 is inside it; 2 = done. */
static int late_body(mp_ctx *ctx)
{
    const late_case *lc = ctx->arg;
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx))
        return 1;
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 7, 4096);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    dlcoll_status_t st;
    double t0 = mp_now_ms();
    if (me == 1) {
        if (lc->blocked)
            MP_REQUIRE(ctx, mp_flag_wait(ctx, 1, 1, DEADLINE_MS) == 0, "rank 2 never started");
        if (lc->how == LATE_WAIT_TIMEOUT) {
            dlcoll_request_t r = NULL;
            MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
            mp_step(ctx, "wait(300 ms): the others are late");
            st = p->wait(r, 300);
            p->request_free(r);
            MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "wait(300) -> %s, expected TIMEOUT",
                      p->status_string(st));
        } else {
            abort_arg aa = {p, ctx->comm, 300};
            pthread_t th;
            MP_REQUIRE(ctx, pthread_create(&th, NULL, abort_after, &aa) == 0, "pthread_create");
            mp_step(ctx, "blocking allgather, abort() from a thread in 300 ms");
            st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
            pthread_join(th, NULL);
            MP_EXPECT(ctx, st == DLCOLL_ERR_ABORTED, "allgather -> %s, expected ABORTED",
                      p->status_string(st));
        }
        mp_flag_set(ctx, 0, 1);
    } else {
        if (me == 2 && lc->blocked) {
            mp_flag_set(ctx, 1, 1);
        } else {
            MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, 1, DEADLINE_MS) == 0, "rank 1 never failed");
            usleep(me == 0 && lc->blocked ? 800000 : 500000); /* its notice has arrived */
        }
        mp_step(ctx, "allgather that rank 1 has failed");
        t0 = mp_now_ms();
        st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
        const char *e = p->last_error(ctx->comm);
        fprintf(stderr, "[mp] rank %d: allgather after rank 1 failed it -> %s: %s\n", me,
                p->status_string(st), e ? e : "");
        MP_EXPECT(ctx, st != DLCOLL_SUCCESS,
                  "allgather succeeded on rank %d although rank 1 had failed it", me);
        MP_EXPECT(ctx, e && strstr(e, "rank 1"), "the error does not name rank 1: %s",
                  e ? e : "(null)");
    }
    ctx->report[R_STATUS] = st;
    ctx->report[R_ELAPSED_MS] = (long)(mp_now_ms() - t0);
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&a.out, why, sizeof why), "output: %s", why);
    mp_ag_free(&a);
    mp_flag_add(ctx, 2, 1);
    /* Keep the endpoint open until every rank has its verdict. */
    MP_REQUIRE(ctx, mp_flag_wait(ctx, 2, n, DEADLINE_MS) == 0, "the others never finished");
    return 0;
}

static void run_late(int n, const char *prov, const char *env, late_how how, int blocked)
{
    late_case lc = {how, blocked};
    mp_opts o = opts(n, prov, n % 2 ? MP_INIT_FILE : MP_INIT_TCP);
    if (env) {
        o.child_setup = mp_setup_env;
        o.setup_arg = (void *)env;
    }
    mp_run_ok(&o, late_body, &lc);
}

TestSuite(verdict, .timeout = 300);

Test(verdict, late_after_wait_timeout_shm_n2) { run_late(2, "shm", NULL, LATE_WAIT_TIMEOUT, 0); }
Test(verdict, late_after_abort_shm_n2) { run_late(2, "shm", NULL, LATE_ABORT, 0); }
Test(verdict, blocked_and_late_shm_n3) { run_late(3, "shm", NULL, LATE_WAIT_TIMEOUT, 1); }
Test(verdict, late_after_wait_timeout_tcp_n2) { run_late(2, "tcp", NULL, LATE_WAIT_TIMEOUT, 0); }
Test(verdict, blocked_and_late_tcp_n3) { run_late(3, "tcp", NULL, LATE_WAIT_TIMEOUT, 1); }
Test(verdict, late_after_abort_direct_shm_n2)
{
    run_late(2, "shm", "DLCOLL_ALGO=direct", LATE_ABORT, 0);
}
Test(verdict, blocked_and_late_ring_shm_n3)
{
    run_late(3, "shm", "DLCOLL_ALGO=ring", LATE_WAIT_TIMEOUT, 1);
}

/* ================================================================ abort wakes group_create */

static int abort_group_create(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    if (warm_up(ctx))
        return 1;
    if (ctx->rank == 0) {
        abort_arg aa = {p, ctx->comm, 300};
        pthread_t th;
        MP_REQUIRE(ctx, pthread_create(&th, NULL, abort_after, &aa) == 0, "pthread_create");
        int both[] = {1, 0}; /* rank 1 publishes the id: rank 0 waits for it */
        dlcoll_comm_t g = NULL;
        mp_step(ctx, "group_create that rank 1 never joins; abort() in 300 ms");
        double t0 = mp_now_ms();
        dlcoll_status_t st = p->group_create(ctx->comm, both, 2, "never", &g);
        double ms = mp_now_ms() - t0;
        pthread_join(th, NULL);
        ctx->report[R_STATUS] = st;
        ctx->report[R_ELAPSED_MS] = (long)ms;
        MP_EXPECT(ctx, st == DLCOLL_ERR_ABORTED, "group_create after abort() -> %s after %.0f ms",
                  p->status_string(st), ms);
        MP_EXPECT(ctx, ms < TIMEOUT_MS / 2, "group_create returned after %.0f ms", ms);
    }
    mp_flag_add(ctx, 0, 1);
    MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, ctx->size, DEADLINE_MS) == 0, "rank 0 never finished");
    return 0;
}

Test(verdict, abort_wakes_group_create_shm_n2)
{
    mp_opts o = opts(2, "shm", MP_INIT_FILE);
    mp_run_ok(&o, abort_group_create, NULL);
}
Test(verdict, abort_wakes_group_create_tcp_n2)
{
    mp_opts o = opts(2, "tcp", MP_INIT_TCP);
    mp_run_ok(&o, abort_group_create, NULL);
}

/* ================================================================ unknown DLCOLL_ALGO */

static int unknown_algo(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    if (warm_up(ctx))
        return 1;
    /* Read at init (which fails on it) and at every call: set it after init. */
    setenv("DLCOLL_ALGO", "bogus", 1);
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 9, 64);
    if (mp_ag_prepare(ctx, &a, &s, ctx->rank, ctx->size, NULL))
        return 1;
    double t0 = mp_now_ms();
    dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    MP_EXPECT(ctx, st == DLCOLL_ERR_INVALID_ARGUMENT, "allgather with DLCOLL_ALGO=bogus -> %s",
              p->status_string(st));
    st = p->barrier(ctx->comm, NULL);
    const char *e = p->last_error(ctx->comm);
    MP_EXPECT(ctx, st == DLCOLL_ERR_INVALID_ARGUMENT, "barrier with DLCOLL_ALGO=bogus -> %s",
              p->status_string(st));
    MP_EXPECT(ctx, e && strstr(e, "DLCOLL_ALGO"), "the error does not name DLCOLL_ALGO: %s",
              e ? e : "(null)");
    double ms = mp_now_ms() - t0;
    MP_EXPECT(ctx, ms < 2000, "the local failures took %.0f ms", ms);
    mp_ag_free(&a);
    return 0;
}

Test(verdict, unknown_algo_fails_barrier_locally)
{
    mp_opts o = opts(2, "shm", MP_INIT_FILE);
    mp_run_ok(&o, unknown_algo, NULL);
}

/* ================================================================ ring mismatch */

#define RING_ROUNDS 12

static int ring_mismatch(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx))
        return 1;
    int ranks[MP_MAX_RANKS];
    for (int i = 0; i < n; i++)
        ranks[i] = i;
    int slow = 0;
    for (int round = 0; round < RING_ROUNDS; round++) {
        dlcoll_comm_t g = NULL;
        char name[32];
        snprintf(name, sizeof name, "round%d", round);
        mp_step(ctx, "round %d: group_create", round);
        MP_OK(ctx, p->group_create(ctx->comm, ranks, n, name, &g));
        int odd = round % n; /* the rank with the other size this round */
        size_t mine = me == odd ? 8192 : 4096;
        mp_buf in, out;
        MP_REQUIRE(ctx, mp_buf_alloc(&in, mine, 64) == 0 && mp_buf_alloc(&out, n * mine, 64) == 0,
                   "oom");
        int64_t ishape[] = {(int64_t)mine}, oshape[] = {(int64_t)(n * mine)};
        DLTensor tin, tout;
        mp_tensor(&tin, in.data, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
        mp_tensor(&tout, out.data, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);
        mp_step(ctx, "round %d: allgather, rank %d passes 8 KiB", round, odd);
        double t0 = mp_now_ms();
        dlcoll_status_t st = p->allgather(g, &tin, &tout, NULL);
        double ms = mp_now_ms() - t0;
        const char *e = p->last_error(g);
        MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH || st == DLCOLL_ERR_PEER_FAILURE,
                  "round %d: allgather -> %s after %.0f ms: %s", round, p->status_string(st), ms,
                  e ? e : "(null)");
        if (ms > 1000)
            slow++;
        MP_EXPECT(ctx, ms < 1000, "round %d: the mismatch took %.0f ms to reach this rank: %s",
                  round, ms, e ? e : "");
        mp_buf_free(&in);
        mp_buf_free(&out);
        /* Out of dlcoll until every rank has its verdict: a rank that learns
         * the failure only from a notice must get it although the detector
         * has returned and polls no more. */
        mp_flag_add(ctx, 2 + round, 1);
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 2 + round, n, DEADLINE_MS) == 0, "round %d: the others "
                   "never returned", round);
        MP_OK(ctx, p->group_destroy(g));
    }
    ctx->report[R_FAILS] = slow;
    return 0;
}

static void run_ring_mismatch(int n)
{
    mp_opts o = opts(n, "shm", MP_INIT_FILE);
    o.timeout_ms = 5000;
    o.child_setup = mp_setup_env;
    o.setup_arg = (void *)"DLCOLL_ALGO=ring";
    mp_run_ok(&o, ring_mismatch, NULL);
}

Test(verdict, ring_mismatch_shm_n3) { run_ring_mismatch(3); }
Test(verdict, ring_mismatch_shm_n4) { run_ring_mismatch(4); }

/* ================================================================ /dev/shm */

/* The number of /dev/shm names starting with "dlcoll-" (the plugin's). */
static int count_segments(char *names, size_t cap)
{
    DIR *d = opendir("/dev/shm");
    int k = 0;
    size_t at = 0;
    if (names && cap)
        names[0] = '\0';
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "dlcoll-", 7) != 0)
            continue;
        k++;
        if (names && at < cap)
            at += (size_t)snprintf(names + at, cap - at, " %s", de->d_name);
    }
    closedir(d);
    return k;
}

/* A group whose first operation never completes on every member: rank 0 of
 * the group is absent, or fails it before the others come; then finalize. */
static int first_op_never_completes(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    int ranks[MP_MAX_RANKS];
    for (int i = 0; i < n; i++)
        ranks[i] = i;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, p->group_create(ctx->comm, ranks, n, "unfinished", &g));
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 11, 256);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    /* Round 1: group rank 0 never comes; the others time out. */
    if (me != 0) {
        dlcoll_request_t r = NULL;
        MP_OK(ctx, p->allgather(g, &a.tin, &a.tout, &r));
        dlcoll_status_t st = p->wait(r, 300);
        p->request_free(r);
        MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "wait -> %s", p->status_string(st));
    }
    MP_OK(ctx, p->group_destroy(g));
    /* Round 2: group rank 0 fails the first operation alone, then the
     * others come (after rank 0 has released the group). */
    g = NULL;
    MP_OK(ctx, p->group_create(ctx->comm, ranks, n, "late", &g));
    if (me == 0) {
        dlcoll_request_t r = NULL;
        MP_OK(ctx, p->allgather(g, &a.tin, &a.tout, &r));
        dlcoll_status_t st = p->wait(r, 300);
        p->request_free(r);
        MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "wait -> %s", p->status_string(st));
        MP_OK(ctx, p->group_destroy(g));
        mp_flag_set(ctx, 0, 1);
    } else {
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, 1, DEADLINE_MS) == 0, "rank 0 never finished");
        dlcoll_status_t st = p->allgather(g, &a.tin, &a.tout, NULL);
        MP_EXPECT(ctx, st != DLCOLL_SUCCESS, "allgather of a group rank 0 failed -> SUCCESS");
        MP_OK(ctx, p->group_destroy(g));
    }
    mp_ag_free(&a);
    mp_flag_add(ctx, 1, 1);
    MP_REQUIRE(ctx, mp_flag_wait(ctx, 1, n, DEADLINE_MS) == 0, "the others never finished");
    return 0;
}

Test(verdict, no_segment_left_shm_n3)
{
    char before[2048], after[2048];
    int k0 = count_segments(before, sizeof before);
    mp_opts o = opts(3, "shm", MP_INIT_FILE);
    mp_run_ok(&o, first_op_never_completes, NULL);
    int k1 = count_segments(after, sizeof after);
    cr_expect(k1 <= k0, "%d shared segments left in /dev/shm (before the run: %d):%s", k1 - k0, k0,
              after);
}

/* ================================================================ who is missing */

/* 4 ranks, communicator timeout 1.5 s.  Ranks 0 and 2 call allgather #2 on
 * the world; rank 3 is inside a dlcoll call elsewhere (a barrier on the
 * group {1, 3}); rank 1 is not inside dlcoll at all.  The timeout's message,
 * on both ranks that arrived, names rank 3 as never started #2 with its last
 * completed op, and rank 1 as not answering.  Flags: 0 = ranks in the
 * allgather; 1 = done. */
static int who_is_missing(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx))
        return 1;
    int pair[] = {1, 3};
    dlcoll_comm_t g = NULL;
    if (me == 1 || me == 3)
        MP_OK(ctx, p->group_create(ctx->comm, pair, 2, "pair", &g));
    if (me == 0 || me == 2) {
        mp_ag a;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 13, 64);
        if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
            return 1;
        mp_flag_add(ctx, 0, 1);
        mp_step(ctx, "allgather #2 that ranks 1 and 3 never join");
        dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
        const char *e = p->last_error(ctx->comm);
        fprintf(stderr, "[mp] rank %d: -> %s: %s\n", me, p->status_string(st), e ? e : "");
        MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "allgather -> %s, expected TIMEOUT",
                  p->status_string(st));
        MP_EXPECT(ctx, e && strstr(e, "rank 3 never started #2 (last completed: rank 3: #1)"),
                  "the timeout does not say that rank 3 never started #2: %s", e ? e : "(null)");
        MP_EXPECT(ctx, e && strstr(e, "rank 1 did not answer"),
                  "the timeout does not say that rank 1 did not answer: %s", e ? e : "(null)");
        MP_EXPECT(ctx, e && strstr(e, "2 of 4 members are in #2"),
                  "the timeout does not count the members that arrived: %s", e ? e : "(null)");
        mp_ag_free(&a);
    } else if (me == 3) {
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, 2, DEADLINE_MS) == 0, "ranks 0, 2 never started");
        usleep(300000);
        mp_step(ctx, "barrier on the group {1, 3} (rank 1 never comes)");
        dlcoll_status_t st = p->barrier(g, NULL);
        MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "the group's barrier -> %s",
                  p->status_string(st));
    }
    mp_flag_add(ctx, 1, 1);
    if (me != 1)
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 1, n, DEADLINE_MS) == 0, "the others never finished");
    else
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 1, n, DEADLINE_MS) == 0, "the others never finished");
    if (g)
        p->group_destroy(g);
    return 0;
}

static void run_who_is_missing(const char *prov)
{
    mp_opts o = opts(4, prov, MP_INIT_FILE);
    o.timeout_ms = 1500;
    mp_run_ok(&o, who_is_missing, NULL);
}

Test(verdict, timeout_names_who_is_missing_shm_n4) { run_who_is_missing("shm"); }
Test(verdict, timeout_names_who_is_missing_tcp_n4) { run_who_is_missing("tcp"); }

/* ================================================================ flight recorder */

typedef struct log_capture {
    char text[16384];
    size_t len;
} log_capture;

static void capture_line(void *ctx, dlcoll_log_level_t level, const char *line)
{
    log_capture *lc = ctx;
    (void)level;
    size_t n = strlen(line);
    if (lc->len + n + 2 < sizeof lc->text) {
        memcpy(lc->text + lc->len, line, n);
        lc->len += n;
        lc->text[lc->len++] = '\n';
        lc->text[lc->len] = '\0';
    }
}

/* A size mismatch at op #4 after three good operations: with DLCOLL_DEBUG
 * at INFO, each rank's failure prints the communicator's last operations,
 * the failed one with its algorithm, size and dtype. */
static int flight_recorder(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    static log_capture lc;
    ctx->cfg.log_fn = capture_line;
    ctx->cfg.log_ctx = &lc;
    ctx->cfg.log_level = DLCOLL_LOG_INFO;
    dlcoll_comm_t w = NULL;
    MP_REQUIRE(ctx, p->init(&ctx->cfg, &w) == DLCOLL_SUCCESS, "init failed");
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), 17, 256);
    MP_REQUIRE(ctx, mp_check_allgather(ctx, w, &s, me, n, NULL) == 0, "allgather #1");
    MP_REQUIRE(ctx, p->barrier(w, NULL) == DLCOLL_SUCCESS, "barrier #2");
    MP_REQUIRE(ctx, mp_check_allgather(ctx, w, &s, me, n, NULL) == 0, "allgather #3");
    mp_ag_spec bad = MP_SPEC(mp_dt(kDLFloat, 32), 17, me == 1 ? 512 : 256);
    mp_ag a;
    if (mp_ag_prepare(ctx, &a, &bad, me, n, NULL))
        return 1;
    dlcoll_status_t st = p->allgather(w, &a.tin, &a.tout, NULL);
    MP_EXPECT(ctx, st != DLCOLL_SUCCESS, "allgather #4 (rank 1: another size) succeeded");
    mp_ag_free(&a);
    MP_EXPECT(ctx, strstr(lc.text, "flight recorder of rank"), "no flight recorder in the log:\n%s",
              lc.text);
    MP_EXPECT(ctx, strstr(lc.text, "#1 allgather/") && strstr(lc.text, "#2 barrier/") &&
                       strstr(lc.text, "#3 allgather/"),
              "the flight recorder lacks the completed ops:\n%s", lc.text);
    char want[64];
    snprintf(want, sizeof want, "#4 allgather/");
    const char *f = strstr(lc.text, want);
    MP_EXPECT(ctx, f && strstr(f, "float32") && strstr(f, "failed"),
              "the flight recorder lacks the failed op #4 (float32, failed):\n%s", lc.text);
    p->finalize(w);
    return 0;
}

Test(verdict, flight_recorder_on_failure_shm_n3)
{
    mp_opts o = opts(3, "shm", MP_INIT_FILE);
    o.no_init = 1;
    mp_run_ok(&o, flight_recorder, NULL);
}
Test(verdict, flight_recorder_on_failure_tcp_n2)
{
    mp_opts o = opts(2, "tcp", MP_INIT_TCP);
    o.no_init = 1;
    mp_run_ok(&o, flight_recorder, NULL);
}
