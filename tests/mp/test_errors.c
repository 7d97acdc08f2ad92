/*
 * test_errors.c -- failures must be reported, on every rank, within the
 * timeout, with a message that says what went wrong; nothing may hang, crash
 * or write past a buffer.
 *
 *   - ranks disagree on the size, the dtype, or the order of operations;
 *   - a rank SIGKILLs itself right before a collective;
 *   - abort() from another thread wakes a blocked wait / blocking call;
 *   - wait() with a short timeout fails the communicator;
 *   - invalid arguments (NULL tensors, wrong output shape / dtype, CUDA device,
 *     wrong n_outputs, ...) give INVALID_ARGUMENT / UNSUPPORTED and a message
 *     naming the argument, and leave the communicator usable;
 *   - bad init_method, a rendezvous that never completes, a config with a wrong
 *     magic / a newer version.
 *
 * Communicator timeouts are 3 s; the harness deadline (timeout + margin) is
 * what proves "within the timeout": a rank still running then is killed and
 * the test fails.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mp_gather.h"

#define TIMEOUT_MS 3000
#define DEADLINE_MS (3 * TIMEOUT_MS + 12000)

/* report[] slots */
enum { R_STATUS = 0, R_ELAPSED_MS = 1, R_STATUS2 = 2 };

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

/* Does text mention world rank k as "rank k" / "peer k" (also "ranks", "rank=k",
 * "rank #k")?  Digits must not continue the number. */
static int names_rank(const char *text, int k)
{
    if (!text)
        return 0;
    for (const char *s = text; *s; s++) {
        size_t w = 0;
        if (strncasecmp(s, "rank", 4) == 0 || strncasecmp(s, "peer", 4) == 0)
            w = 4;
        else
            continue;
        const char *q = s + w;
        if (*q == 's')
            q++;
        while (*q == ' ' || *q == '=' || *q == ':' || *q == '#')
            q++;
        if (!isdigit((unsigned char)*q))
            continue;
        long v = strtol(q, NULL, 10);
        if (v == k)
            return 1;
    }
    return 0;
}

static const char *status_name(dlcoll_status_t st)
{
    static const char *names[] = {"SUCCESS", "IN_PROGRESS", "INVALID_ARGUMENT", "UNSUPPORTED",
                                  "MISMATCH", "TIMEOUT", "PEER_FAILURE", "ABORTED",
                                  "BOOTSTRAP", "TRANSPORT", "SYSTEM", "VERSION", "INTERNAL"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* Parent: build a message of every rank's report[R_STATUS]. */
static const char *statuses(const mp_result *res, char *buf, size_t cap)
{
    size_t at = 0;
    for (int i = 0; i < res->n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%srank %d: %s", i ? ", " : "", i,
                               status_name((dlcoll_status_t)res->r[i].report[R_STATUS]));
    return buf;
}

/* One warm-up allgather so connections exist before the faulty operation. */
static int warm_up(mp_ctx *ctx, uint32_t seed)
{
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), seed, 4096);
    return mp_check_allgather(ctx, ctx->comm, &s, ctx->rank, ctx->size, NULL) ? 1 : 0;
}

/* ================================================================ size mismatch */

static int size_mismatch(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx, 10))
        return 1;
    size_t mine = me == 1 ? 8192 : 4096;
    mp_buf in, out;
    MP_REQUIRE(ctx, mp_buf_alloc(&in, mine, 64) == 0 && mp_buf_alloc(&out, n * mine, 65536) == 0,
               "oom");
    mp_fill(in.data, mine, 11, me, 0);
    int64_t ishape[] = {(int64_t)mine}, oshape[] = {(int64_t)(n * mine)};
    DLTensor tin, tout;
    mp_tensor(&tin, in.data, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
    mp_tensor(&tout, out.data, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);
    mp_step(ctx, "allgather of %zu bytes (rank 1: 8 KiB, others 4 KiB)", mine);
    double t0 = mp_now_ms();
    dlcoll_status_t st = p->allgather(ctx->comm, &tin, &tout, NULL);
    ctx->report[R_STATUS] = st;
    ctx->report[R_ELAPSED_MS] = (long)(mp_now_ms() - t0);
    const char *e = p->last_error(ctx->comm);
    MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH || st == DLCOLL_ERR_PEER_FAILURE,
              "size mismatch: allgather -> %s (%d), expected MISMATCH (or a propagated "
              "PEER_FAILURE): %s", p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, e && *e, "size mismatch: last_error is empty");
    fprintf(stderr, "[mp] rank %d: size mismatch -> %s: %s\n", me, status_name(st), e ? e : "");
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&out, why, sizeof why), "size mismatch: output: %s", why);
    MP_EXPECT(ctx, mp_buf_guards_ok(&in, why, sizeof why), "size mismatch: input: %s", why);
    MP_EXPECT(ctx, mp_find_bad(in.data, mine, 11, me, 0) == (size_t)-1,
              "size mismatch: the input changed");
    mp_buf_free(&in);
    mp_buf_free(&out);
    return 0;
}

static void run_size_mismatch(int n, const char *prov, mp_init_kind init)
{
    mp_opts o = opts(n, prov, init);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, size_mismatch, NULL, res);
    mp_assert_all_ok(res);
    int mismatch = 0;
    for (int i = 0; i < n; i++)
        mismatch += res->r[i].report[R_STATUS] == DLCOLL_ERR_MISMATCH;
    char buf[256];
    cr_expect(mismatch > 0, "size mismatch: no rank reported MISMATCH (%s)",
              statuses(res, buf, sizeof buf));
    mp_result_free(res);
}

TestSuite(errors, .timeout = 300);

Test(errors, size_mismatch_shm_n2) { run_size_mismatch(2, "shm", MP_INIT_FILE); }
Test(errors, size_mismatch_tcp_n2) { run_size_mismatch(2, "tcp", MP_INIT_TCP); }
Test(errors, size_mismatch_shm_n4) { run_size_mismatch(4, "shm", MP_INIT_TCP); }
Test(errors, size_mismatch_tcp_n3) { run_size_mismatch(3, "tcp", MP_INIT_FILE); }

/* ================================================================ dtype mismatch */

static int dtype_mismatch(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx, 20))
        return 1;
    DLDataType dt = me == 1 ? mp_dt(kDLFloat, 32) : mp_dt(kDLInt, 32);
    mp_buf in, out;
    MP_REQUIRE(ctx, mp_buf_alloc(&in, 4096, 64) == 0 && mp_buf_alloc(&out, n * 4096, 4096) == 0,
               "oom");
    mp_fill(in.data, 4096, 21, me, 0);
    int64_t ishape[] = {1024}, oshape[] = {1024 * n};
    DLTensor tin, tout;
    mp_tensor(&tin, in.data, 0, dt, 1, ishape, NULL);
    mp_tensor(&tout, out.data, 0, dt, 1, oshape, NULL);
    mp_step(ctx, "allgather of 1024 x %s (rank 1 float32, others int32)", mp_dtype_name(dt));
    dlcoll_status_t st = p->allgather(ctx->comm, &tin, &tout, NULL);
    ctx->report[R_STATUS] = st;
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: dtype mismatch -> %s: %s\n", me, status_name(st), e ? e : "");
    MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH, "dtype mismatch: allgather -> %s (%d), expected "
              "MISMATCH: %s", p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, e && (strstr(e, "float32") || strstr(e, "int32")),
              "dtype mismatch: last_error does not name the dtype: \"%s\"", e ? e : "(null)");
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&out, why, sizeof why), "dtype mismatch: output: %s", why);
    mp_buf_free(&in);
    mp_buf_free(&out);
    return 0;
}

Test(errors, dtype_mismatch_shm_n2) { mp_opts o = opts(2, "shm", MP_INIT_TCP); mp_run_ok(&o, dtype_mismatch, NULL); }
Test(errors, dtype_mismatch_tcp_n3) { mp_opts o = opts(3, "tcp", MP_INIT_FILE); mp_run_ok(&o, dtype_mismatch, NULL); }
Test(errors, dtype_mismatch_shm_n4) { mp_opts o = opts(4, "shm", MP_INIT_FILE); mp_run_ok(&o, dtype_mismatch, NULL); }

/* ================================================================ op order */

static int op_order(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx, 30))
        return 1;
    mp_buf in, out;
    MP_REQUIRE(ctx, mp_buf_alloc(&in, 4096, 64) == 0 && mp_buf_alloc(&out, n * 4096, 4096) == 0,
               "oom");
    int64_t ishape[] = {4096}, oshape[] = {4096 * n};
    DLTensor tin, tout;
    mp_tensor(&tin, in.data, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
    mp_tensor(&tout, out.data, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);
    /* Even ranks: barrier first; odd ranks: allgather first. */
    dlcoll_status_t st;
    const char *first = me % 2 ? "allgather" : "barrier";
    mp_step(ctx, "%s first (even ranks barrier, odd ranks allgather)", first);
    if (me % 2)
        st = p->allgather(ctx->comm, &tin, &tout, NULL);
    else
        st = p->barrier(ctx->comm, NULL);
    ctx->report[R_STATUS] = st;
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: op order: %s -> %s: %s\n", me, first, status_name(st), e ? e : "");
    MP_EXPECT(ctx, st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS,
              "op order: %s while another rank ran the other collective -> %s", first,
              p->status_string(st));
    if (st != DLCOLL_SUCCESS)
        MP_EXPECT(ctx, e && *e, "op order: last_error is empty");
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&out, why, sizeof why), "op order: output: %s", why);
    mp_buf_free(&in);
    mp_buf_free(&out);
    return 0;
}

Test(errors, op_order_shm_n2) { mp_opts o = opts(2, "shm", MP_INIT_FILE); mp_run_ok(&o, op_order, NULL); }
Test(errors, op_order_tcp_n2) { mp_opts o = opts(2, "tcp", MP_INIT_TCP); mp_run_ok(&o, op_order, NULL); }
Test(errors, op_order_tcp_n4) { mp_opts o = opts(4, "tcp", MP_INIT_FILE); mp_run_ok(&o, op_order, NULL); }

/* ================================================================ a rank dies */

enum { DIE_BEFORE, DIE_DURING, STOPPED };

typedef struct kill_arg {
    int victim;
    int mode;          /* DIE_BEFORE: raise(SIGKILL) right before a collective;
                        * DIE_DURING: a thread SIGKILLs the process while it is inside a
                        *             32 MiB allgather;
                        * STOPPED:    raise(SIGSTOP) before the collective: alive but silent
                        *             (the last survivor SIGKILLs it when done) */
} kill_arg;

static void *kill_me_soon(void *unused)
{
    (void)unused;
    usleep(30000);
    raise(SIGKILL);
    return NULL;
}

/* A failed call on a rank that survived: status, message naming the victim. */
static void expect_victim_error(mp_ctx *ctx, const char *what, dlcoll_status_t st, const char *e,
                                int victim)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    MP_EXPECT(ctx, st == DLCOLL_ERR_PEER_FAILURE || st == DLCOLL_ERR_TIMEOUT,
              "%s with rank %d gone -> %s (%d), expected PEER_FAILURE or TIMEOUT: %s", what, victim,
              p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, names_rank(e, victim), "%s: the error message does not name rank %d: \"%s\"",
              what, victim, e ? e : "(null)");
}

static int rank_dies(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    const kill_arg *ka = ctx->arg;
    int me = ctx->rank, n = ctx->size;
    size_t nb = ka->mode == DIE_DURING ? (32u << 20) : 65536;
    if (warm_up(ctx, 40))
        return 1;
    mp_step(ctx, "barrier before the kill");
    MP_OK(ctx, p->barrier(ctx->comm, NULL));
    if (me == ka->victim && ka->mode == DIE_BEFORE) {
        mp_step(ctx, "raise(SIGKILL)");
        raise(SIGKILL);
    }
    if (me == ka->victim && ka->mode == STOPPED) {
        mp_flag_set(ctx, 1, (long)getpid());
        mp_step(ctx, "raise(SIGSTOP)");
        raise(SIGSTOP);
        /* Only SIGKILL ends this process; reaching here means SIGCONT. */
        mp_fail(ctx, __FILE__, __LINE__, "the stopped rank was continued");
        return 1;
    }
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 41, (int64_t)nb);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    if (me == ka->victim && ka->mode == DIE_DURING) {
        pthread_t th;
        MP_REQUIRE(ctx, pthread_create(&th, NULL, kill_me_soon, NULL) == 0, "pthread_create");
    }
    mp_step(ctx, "allgather of %zu bytes, rank %d %s", nb, ka->victim,
            ka->mode == STOPPED ? "stopped" : "dead or dying");
    double t0 = mp_now_ms();
    dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    ctx->report[R_STATUS] = st;
    ctx->report[R_ELAPSED_MS] = (long)(mp_now_ms() - t0);
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: rank %d %s: allgather -> %s after %ld ms: %s\n", me, ka->victim,
            ka->mode == STOPPED ? "stopped" : "killed", status_name(st), ctx->report[R_ELAPSED_MS],
            e ? e : "");
    if (me == ka->victim) {
        /* DIE_DURING and the allgather finished before the thread fired. */
        usleep(10 * 1000 * 1000);
        mp_fail(ctx, __FILE__, __LINE__, "the victim is still alive");
        return 1;
    }
    if (st == DLCOLL_SUCCESS && ka->mode == DIE_DURING) {
        /* The victim finished its part before dying: the data must be right, and
         * the next operation must fail. */
        if (mp_ag_verify(ctx, &a))
            return 1;
    } else {
        expect_victim_error(ctx, "allgather", st, e, ka->victim);
    }
    /* Later operations fail too, and must not hang past the harness deadline. */
    mp_step(ctx, "barrier after the failure");
    dlcoll_status_t st2 = p->barrier(ctx->comm, NULL);
    ctx->report[R_STATUS2] = st2;
    if (st == DLCOLL_SUCCESS)
        expect_victim_error(ctx, "the barrier after the victim died", st2,
                            p->last_error(ctx->comm), ka->victim);
    else
        MP_EXPECT(ctx, st2 != DLCOLL_SUCCESS, "a barrier with rank %d gone succeeded", ka->victim);
    mp_ag_free(&a);
    if (ka->mode == STOPPED && mp_flag_add(ctx, 2, 1) == n - 1) {
        /* The last survivor to finish ends the stopped rank. */
        pid_t victim = (pid_t)ctx->flags[1];
        if (victim > 0)
            kill(victim, SIGKILL);
    }
    return 0;
}

static void run_rank_dies(int n, const char *prov, mp_init_kind init, int victim, int mode)
{
    mp_opts o = opts(n, prov, init);
    kill_arg ka = {victim, mode};
    mp_result *res = mp_result_new();
    mp_run_opts(&o, rank_dies, &ka, res);
    char text[16384];
    mp_describe(res, text, sizeof text);
    cr_assert(!res->deadline_hit, "survivors did not finish within the deadline:\n%s", text);
    for (int i = 0; i < n; i++) {
        if (i == victim)
            cr_assert(res->r[i].signaled && res->r[i].signo == SIGKILL,
                      "rank %d should have died of SIGKILL:\n%s", i, text);
        else
            cr_assert(mp_rank_ok(res, i), "survivor rank %d failed:\n%s", i, text);
    }
    mp_result_free(res);
}

Test(errors, rank_dies_shm_n2) { run_rank_dies(2, "shm", MP_INIT_FILE, 1, DIE_BEFORE); }
Test(errors, rank_dies_tcp_n2) { run_rank_dies(2, "tcp", MP_INIT_TCP, 1, DIE_BEFORE); }
Test(errors, rank_dies_shm_n4) { run_rank_dies(4, "shm", MP_INIT_TCP, 3, DIE_BEFORE); }
Test(errors, rank_dies_tcp_n4) { run_rank_dies(4, "tcp", MP_INIT_FILE, 2, DIE_BEFORE); }
/* Rank 0 also serves the TCP store. */
Test(errors, rank0_dies_tcp_n3) { run_rank_dies(3, "tcp", MP_INIT_TCP, 0, DIE_BEFORE); }
Test(errors, rank_dies_mid_transfer_shm_n3) { run_rank_dies(3, "shm", MP_INIT_FILE, 1, DIE_DURING); }
Test(errors, rank_dies_mid_transfer_tcp_n3) { run_rank_dies(3, "tcp", MP_INIT_TCP, 2, DIE_DURING); }
Test(errors, rank_stopped_shm_n3) { run_rank_dies(3, "shm", MP_INIT_TCP, 2, STOPPED); }
Test(errors, rank_stopped_tcp_n3) { run_rank_dies(3, "tcp", MP_INIT_FILE, 1, STOPPED); }

/* ================================================================ abort */

typedef struct abort_thread_arg {
    const dlcoll_plugin_v1_t *p;
    dlcoll_comm_t comm;
    int delay_ms;
    dlcoll_status_t st;
} abort_thread_arg;

static void *abort_later(void *v)
{
    abort_thread_arg *a = v;
    usleep((useconds_t)a->delay_ms * 1000);
    a->st = a->p->abort(a->comm);
    return NULL;
}

/* Rank 0 blocks in an allgather that rank 1 never joins; a thread aborts. */
static int abort_body(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int blocking = ctx->arg != NULL;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx, 50))
        return 1;
    /* A group [0, 1] whose pending operation must be aborted with the world. */
    int both[] = {0, 1};
    dlcoll_comm_t g = NULL;
    MP_OK_ON(ctx, NULL, p->group_create(ctx->comm, both, 2, "pair", &g));
    if (me != 0) {
        /* Stay out of the operation until rank 0 is done, then leave. */
        mp_step(ctx, "waiting for rank 0 to finish");
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, 1, DEADLINE_MS) == 0, "rank 0 never finished");
        return 0;
    }
    mp_ag a, b;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 51, 100000);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL) || mp_ag_prepare(ctx, &b, &s, 0, 2, NULL))
        return 1;
    dlcoll_request_t rg = NULL;
    if (!blocking) {
        /* A pending group operation too. */
        MP_OK_ON(ctx, g, p->allgather(g, &b.tin, &b.tout, &rg));
    }
    abort_thread_arg ta = {p, ctx->comm, 300, DLCOLL_SUCCESS};
    pthread_t th;
    MP_REQUIRE(ctx, pthread_create(&th, NULL, abort_later, &ta) == 0, "pthread_create");
    dlcoll_status_t st;
    double t0 = mp_now_ms();
    if (blocking) {
        mp_step(ctx, "blocking allgather, abort() from a thread in 300 ms");
        st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    } else {
        dlcoll_request_t r = NULL;
        MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
        mp_step(ctx, "wait(), abort() from a thread in 300 ms");
        st = p->wait(r, DLCOLL_WAIT_COMM_TIMEOUT);
        p->request_free(r);
    }
    ctx->report[R_STATUS] = st;
    ctx->report[R_ELAPSED_MS] = (long)(mp_now_ms() - t0);
    pthread_join(th, NULL);
    MP_EXPECT(ctx, ta.st == DLCOLL_SUCCESS, "abort() -> %s", p->status_string(ta.st));
    MP_EXPECT(ctx, st == DLCOLL_ERR_ABORTED, "%s after abort() -> %s (%d), expected ABORTED",
              blocking ? "blocking allgather" : "wait", p->status_string(st), (int)st);
    if (!blocking) {
        mp_step(ctx, "wait on the group's request after abort(world)");
        dlcoll_status_t sg = p->wait(rg, DLCOLL_WAIT_COMM_TIMEOUT);
        MP_EXPECT(ctx, sg == DLCOLL_ERR_ABORTED,
                  "the group's pending request after abort(world) -> %s, expected ABORTED",
                  p->status_string(sg));
        p->request_free(rg);
    }
    /* Future operations fail with ABORTED, on the world and on the group. */
    mp_step(ctx, "operations after abort()");
    st = p->barrier(ctx->comm, NULL);
    MP_EXPECT(ctx, st == DLCOLL_ERR_ABORTED, "barrier after abort() -> %s, expected ABORTED",
              p->status_string(st));
    st = p->barrier(g, NULL);
    MP_EXPECT(ctx, st == DLCOLL_ERR_ABORTED, "group barrier after abort(world) -> %s, expected ABORTED",
              p->status_string(st));
    mp_ag_free(&a);
    mp_ag_free(&b);
    mp_flag_set(ctx, 0, 1);
    return 0;
}

Test(errors, abort_wakes_wait_shm_n2)
{
    mp_opts o = opts(2, "shm", MP_INIT_FILE);
    o.timeout_ms = 20000; /* abort, not the timeout, must end the wait */
    mp_run_ok(&o, abort_body, NULL);
}
Test(errors, abort_wakes_blocking_tcp_n2)
{
    mp_opts o = opts(2, "tcp", MP_INIT_TCP);
    o.timeout_ms = 20000;
    mp_run_ok(&o, abort_body, (void *)1);
}

/* ================================================================ wait timeout */

static int wait_timeout(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (warm_up(ctx, 60))
        return 1;
    if (me != 0) {
        mp_step(ctx, "waiting for rank 0 to finish");
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, 1, DEADLINE_MS) == 0, "rank 0 never finished");
        return 0;
    }
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 61, 1000);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    dlcoll_request_t r = NULL;
    MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
    mp_step(ctx, "wait(200 ms) on an allgather rank 1 never joins");
    dlcoll_status_t st = p->wait(r, 200);
    ctx->report[R_STATUS] = st;
    const char *e = p->request_error(r);
    MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "wait(200 ms) -> %s, expected TIMEOUT",
              p->status_string(st));
    MP_EXPECT(ctx, e && *e, "request_error after a timeout is empty");
    p->request_free(r);
    mp_step(ctx, "barrier on the failed communicator");
    st = p->barrier(ctx->comm, NULL);
    MP_EXPECT(ctx, st != DLCOLL_SUCCESS, "a barrier after a timed-out wait succeeded");
    mp_ag_free(&a);
    mp_flag_set(ctx, 0, 1);
    return 0;
}

Test(errors, wait_timeout_fails_comm_shm_n2)
{
    mp_opts o = opts(2, "shm", MP_INIT_FILE);
    o.timeout_ms = 20000;
    mp_run_ok(&o, wait_timeout, NULL);
}

/* ================================================================ invalid arguments */

/* Expect status want (or want2) and a last_error that contains word. */
#define BAD(call, want, want2, word)                                                       \
    do {                                                                                   \
        mp_step(ctx, "%s", #call);                                                         \
        dlcoll_status_t st_ = (call);                                                      \
        const char *e_ = p->last_error(ctx->comm);                                         \
        if (st_ != (want) && st_ != (want2))                                               \
            mp_fail(ctx, __FILE__, __LINE__, "%s -> %s (%d), expected %s: %s", #call,      \
                    p->status_string(st_), (int)st_, status_name(want), e_ ? e_ : "(null)"); \
        else if (!e_ || !strstr(e_, (word)))                                               \
            mp_fail(ctx, __FILE__, __LINE__, "%s: last_error does not name \"%s\": \"%s\"", \
                    #call, (word), e_ ? e_ : "(null)");                                    \
    } while (0)

static int invalid_args(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    dlcoll_comm_t w = ctx->comm;
    int me = ctx->rank, n = ctx->size;
    const dlcoll_status_t INV = DLCOLL_ERR_INVALID_ARGUMENT, UNS = DLCOLL_ERR_UNSUPPORTED;

    float inb[8], outb[8 * MP_MAX_RANKS + 8];
    int32_t outi[8 * MP_MAX_RANKS];
    memset(inb, 0, sizeof inb);
    int64_t ishape[] = {8}, oshape[] = {8 * n}, small[] = {8 * (n - 1)}, bigger[] = {8 * (n + 1)};
    int64_t negshape[] = {-1}, ostr[] = {2};
    DLTensor in, out, out_small, out_big, out_int, in_cuda, out_cuda, in_null, in_neg, in_lanes,
        in_opaque, out_strided;
    mp_tensor(&in, inb, 0, mp_dt(kDLFloat, 32), 1, ishape, NULL);
    mp_tensor(&out, outb, 0, mp_dt(kDLFloat, 32), 1, oshape, NULL);
    mp_tensor(&out_small, outb, 0, mp_dt(kDLFloat, 32), 1, small, NULL);
    mp_tensor(&out_big, outb, 0, mp_dt(kDLFloat, 32), 1, bigger, NULL);
    mp_tensor(&out_int, outi, 0, mp_dt(kDLInt, 32), 1, oshape, NULL);
    in_cuda = in;
    in_cuda.device.device_type = kDLCUDA;
    out_cuda = out;
    out_cuda.device.device_type = kDLCUDA;
    in_null = in;
    in_null.data = NULL;
    mp_tensor(&in_neg, inb, 0, mp_dt(kDLFloat, 32), 1, negshape, NULL);
    in_lanes = in;
    in_lanes.dtype.lanes = 2;
    in_opaque = in;
    in_opaque.dtype.code = kDLOpaqueHandle;
    in_opaque.dtype.bits = 64;
    /* 8n elements with stride 2: a valid tensor, but not contiguous. */
    static float big_store[2 * 8 * MP_MAX_RANKS];
    mp_tensor(&out_strided, big_store, 0, mp_dt(kDLFloat, 32), 1, oshape, ostr);

    /* allgather */
    BAD(p->allgather(w, NULL, &out, NULL), INV, INV, "input");
    BAD(p->allgather(w, &in, NULL, NULL), INV, INV, "output");
    BAD(p->allgather(w, &in, &out_small, NULL), INV, INV, "output");
    BAD(p->allgather(w, &in, &out_big, NULL), INV, INV, "output");
    BAD(p->allgather(w, &in, &out_int, NULL), INV, INV, "output");
    BAD(p->allgather(w, &in_cuda, &out, NULL), UNS, UNS, "input");
    BAD(p->allgather(w, &in, &out_cuda, NULL), UNS, UNS, "output");
    BAD(p->allgather(w, &in_null, &out, NULL), INV, INV, "input");
    BAD(p->allgather(w, &in_neg, &out, NULL), INV, INV, "input");
    BAD(p->allgather(w, &in_lanes, &out, NULL), UNS, INV, "input");
    BAD(p->allgather(w, &in_opaque, &out, NULL), UNS, INV, "input");
    BAD(p->allgather(w, &in, &out_strided, NULL), INV, INV, "output");
    {
        dlcoll_request_t r = NULL;
        BAD(p->allgather(w, NULL, &out, &r), INV, INV, "input");
    }

    /* allgather_list */
    DLTensor o[MP_MAX_RANKS + 1], *op[MP_MAX_RANKS + 1];
    float ob[MP_MAX_RANKS + 1][8];
    int32_t oi[8];
    for (int i = 0; i <= n; i++) {
        mp_tensor(&o[i], ob[i], 0, mp_dt(kDLFloat, 32), 1, ishape, NULL);
        op[i] = &o[i];
    }
    if (n > 1)
        BAD(p->allgather_list(w, &in, op, n - 1, NULL), INV, INV, "n_outputs");
    BAD(p->allgather_list(w, &in, op, n + 1, NULL), INV, INV, "n_outputs");
    BAD(p->allgather_list(w, &in, op, 0, NULL), INV, INV, "n_outputs");
    BAD(p->allgather_list(w, &in, NULL, n, NULL), INV, INV, "outputs");
    BAD(p->allgather_list(w, NULL, op, n, NULL), INV, INV, "input");
    {
        DLTensor *save = op[n - 1];
        op[n - 1] = NULL;
        char word[32];
        snprintf(word, sizeof word, "outputs[%d]", n - 1);
        BAD(p->allgather_list(w, &in, op, n, NULL), INV, INV, word);
        DLTensor wrong;
        mp_tensor(&wrong, oi, 0, mp_dt(kDLInt, 32), 1, ishape, NULL);
        op[n - 1] = &wrong;
        BAD(p->allgather_list(w, &in, op, n, NULL), INV, INV, word);
        int64_t s4[] = {4};
        mp_tensor(&wrong, ob[n - 1], 0, mp_dt(kDLFloat, 32), 1, s4, NULL);
        BAD(p->allgather_list(w, &in, op, n, NULL), INV, INV, word);
        wrong = o[n - 1];
        wrong.device.device_type = kDLCUDA;
        BAD(p->allgather_list(w, &in, op, n, NULL), UNS, UNS, word);
        /* Two elements at one address: stride 0. */
        int64_t zero_stride[] = {0};
        mp_tensor(&wrong, ob[n - 1], 0, mp_dt(kDLFloat, 32), 1, ishape, zero_stride);
        BAD(p->allgather_list(w, &in, op, n, NULL), INV, INV, word);
        op[n - 1] = save;
    }

    /* NULL handles: status only (there is no communicator to ask). */
    {
        dlcoll_status_t st = p->allgather(NULL, &in, &out, NULL);
        MP_EXPECT(ctx, st == INV, "allgather(NULL comm) -> %s", p->status_string(st));
        st = p->barrier(NULL, NULL);
        MP_EXPECT(ctx, st == INV, "barrier(NULL comm) -> %s", p->status_string(st));
        int x;
        st = p->comm_rank(NULL, &x);
        MP_EXPECT(ctx, st == INV, "comm_rank(NULL, &x) -> %s", p->status_string(st));
        st = p->comm_rank(w, NULL);
        MP_EXPECT(ctx, st == INV, "comm_rank(world, NULL) -> %s", p->status_string(st));
        st = p->comm_size(w, NULL);
        MP_EXPECT(ctx, st == INV, "comm_size(world, NULL) -> %s", p->status_string(st));
        st = p->test(NULL);
        MP_EXPECT(ctx, st == INV, "test(NULL) -> %s", p->status_string(st));
        st = p->wait(NULL, 0);
        MP_EXPECT(ctx, st == INV, "wait(NULL) -> %s", p->status_string(st));
        const char *s = p->status_string((dlcoll_status_t)12345);
        MP_EXPECT(ctx, s != NULL, "status_string(12345) is NULL");
    }

    /* The communicator is still healthy. */
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLFloat, 32), 70, 8);
    if (mp_check_allgather(ctx, w, &sp, me, n, NULL))
        return 1;
    mp_step(ctx, "barrier after the invalid calls");
    MP_OK(ctx, p->barrier(w, NULL));
    return 0;
}

Test(errors, invalid_args_shm_n2) { mp_opts o = opts(2, "shm", MP_INIT_FILE); mp_run_ok(&o, invalid_args, NULL); }
Test(errors, invalid_args_tcp_n3) { mp_opts o = opts(3, "tcp", MP_INIT_TCP); mp_run_ok(&o, invalid_args, NULL); }

/* ================================================================ init failures */

typedef struct init_case {
    const char *init_method;   /* NULL: the harness's */
    int rank, world_size;
    int timeout_ms;
    const char *provider;      /* NULL: the harness's */
    uint32_t magic, version;   /* 0: the right ones */
    dlcoll_status_t want, want2;
    const char *word;          /* last_error(NULL) must contain it; NULL: only non-empty */
} init_case;

static int init_fails(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    const init_case *ic = ctx->arg;
    dlcoll_config_t cfg = ctx->cfg;
    if (ic->init_method)
        cfg.init_method = ic->init_method;
    cfg.rank = ic->rank;
    cfg.world_size = ic->world_size;
    cfg.timeout_ms = ic->timeout_ms;
    if (ic->provider)
        cfg.provider = ic->provider;
    if (ic->magic)
        cfg.magic = ic->magic;
    if (ic->version)
        cfg.version = ic->version;
    dlcoll_comm_t comm = NULL;
    mp_step(ctx, "init(%s, rank %d of %d, timeout %d ms)", cfg.init_method, cfg.rank,
            cfg.world_size, cfg.timeout_ms);
    double t0 = mp_now_ms();
    dlcoll_status_t st = p->init(&cfg, &comm);
    ctx->report[R_STATUS] = st;
    ctx->report[R_ELAPSED_MS] = (long)(mp_now_ms() - t0);
    const char *e = p->last_error(NULL);
    fprintf(stderr, "[mp] init(%s, rank %d/%d) -> %s after %ld ms: %s\n", cfg.init_method,
            cfg.rank, cfg.world_size, status_name(st), ctx->report[R_ELAPSED_MS], e ? e : "");
    if (st == DLCOLL_SUCCESS) {
        mp_fail(ctx, __FILE__, __LINE__, "init(%s, rank %d of %d) succeeded", cfg.init_method,
                cfg.rank, cfg.world_size);
        p->finalize(comm);
        return 1;
    }
    MP_EXPECT(ctx, st == ic->want || st == ic->want2, "init -> %s (%d), expected %s or %s: %s",
              p->status_string(st), (int)st, status_name(ic->want), status_name(ic->want2),
              e ? e : "(null)");
    MP_EXPECT(ctx, e && *e, "last_error(NULL) after a failed init is empty");
    if (ic->word)
        MP_EXPECT(ctx, e && strstr(e, ic->word), "last_error(NULL) does not mention \"%s\": \"%s\"",
                  ic->word, e ? e : "(null)");
    return 0;
}

static void run_init_case(const init_case *ic, mp_init_kind kind)
{
    mp_opts o = opts(1, "shm", kind);
    o.world_size = ic->world_size;
    o.no_init = 1;
    mp_run_ok(&o, init_fails, (void *)ic);
}

Test(errors, init_bad_scheme)
{
    /* A long timeout: a parse error must not wait for it (the deadline is shorter). */
    init_case ic = {"foo://x", 0, 2, 60000, NULL, 0, 0, DLCOLL_ERR_INVALID_ARGUMENT,
                    DLCOLL_ERR_BOOTSTRAP, "foo"};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_bad_port)
{
    init_case ic = {"tcp://127.0.0.1:notaport", 0, 2, 60000, NULL, 0, 0,
                    DLCOLL_ERR_INVALID_ARGUMENT, DLCOLL_ERR_BOOTSTRAP, "notaport"};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_port_out_of_range)
{
    init_case ic = {"tcp://127.0.0.1:99999", 1, 2, 60000, NULL, 0, 0, DLCOLL_ERR_INVALID_ARGUMENT,
                    DLCOLL_ERR_BOOTSTRAP, "99999"};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_rank_out_of_range)
{
    init_case ic = {NULL, 5, 2, 60000, NULL, 0, 0, DLCOLL_ERR_INVALID_ARGUMENT,
                    DLCOLL_ERR_INVALID_ARGUMENT, "5"};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_wrong_magic)
{
    init_case ic = {NULL, 0, 1, 3000, NULL, 0x12345678u, 0, DLCOLL_ERR_VERSION,
                    DLCOLL_ERR_VERSION, NULL};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_newer_version)
{
    init_case ic = {NULL, 0, 1, 3000, NULL, 0, DLCOLL_CONFIG_VERSION + 1, DLCOLL_ERR_VERSION,
                    DLCOLL_ERR_VERSION, NULL};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_unknown_provider)
{
    init_case ic = {NULL, 0, 1, 3000, "nosuchprovider", 0, 0, DLCOLL_ERR_UNSUPPORTED,
                    DLCOLL_ERR_INVALID_ARGUMENT, "nosuchprovider"};
    run_init_case(&ic, MP_INIT_FILE);
}
/* world_size 2, only one rank started: the rendezvous never completes. */
Test(errors, init_alone_rank0_file)
{
    init_case ic = {NULL, 0, 2, 1500, NULL, 0, 0, DLCOLL_ERR_TIMEOUT, DLCOLL_ERR_BOOTSTRAP, NULL};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_alone_rank1_file)
{
    init_case ic = {NULL, 1, 2, 1500, NULL, 0, 0, DLCOLL_ERR_TIMEOUT, DLCOLL_ERR_BOOTSTRAP, NULL};
    run_init_case(&ic, MP_INIT_FILE);
}
Test(errors, init_alone_rank0_tcp)
{
    init_case ic = {NULL, 0, 2, 1500, NULL, 0, 0, DLCOLL_ERR_TIMEOUT, DLCOLL_ERR_BOOTSTRAP, NULL};
    run_init_case(&ic, MP_INIT_TCP);
}
Test(errors, init_alone_rank1_tcp_no_server)
{
    init_case ic = {NULL, 1, 2, 1500, NULL, 0, 0, DLCOLL_ERR_TIMEOUT, DLCOLL_ERR_BOOTSTRAP, NULL};
    run_init_case(&ic, MP_INIT_TCP);
}
