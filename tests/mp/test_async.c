/*
 * test_async.c -- requests: test() polling, wait(), several outstanding
 * requests on one communicator, request_error / request_free, and barriers
 * (blocking and asynchronous) that really synchronise.
 */
#include <criterion/criterion.h>

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mp_gather.h"

#define NREQ 8

/* request_error of a successful request: NULL, empty, or a benign text. */
static int benign(const char *e)
{
    return e == NULL || *e == 0 || strcasestr(e, "success") || strcasestr(e, "no error");
}

/* Poll test() until it leaves IN_PROGRESS; returns the final status. */
static dlcoll_status_t poll_until_done(mp_ctx *ctx, dlcoll_request_t r, long *polls)
{
    dlcoll_status_t st;
    *polls = 0;
    while ((st = ctx->p->test(r)) == DLCOLL_IN_PROGRESS) {
        (*polls)++;
        if ((*polls & 63) == 0)
            sched_yield();
    }
    return st;
}

static mp_ag_spec spec_i(int i, uint32_t seed)
{
    static const size_t sizes[] = {1, 17, 4096, 100003, 1 << 20, 3, 65536, 262147};
    DLDataType dt = mp_dtypes[i % mp_n_dtypes].dt;
    mp_ag_spec s = MP_SPEC(dt, seed, (int64_t)sizes[i % 8]);
    s.stacked = i & 1;
    s.inplace = (i % 3) == 1;
    s.out_off = (i % 4) * mp_dt_size(dt);
    return s;
}

/* Post NREQ allgathers, then complete them in one of three orders. */
enum { IN_ORDER, REVERSE, ROUND_ROBIN_TEST };

static int many(mp_ctx *ctx, int order, uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    static const char *names[] = {"in order", "in reverse", "by test() round-robin"};
    mp_ag ag[NREQ];
    dlcoll_request_t req[NREQ];
    int done[NREQ] = {0}, bad = 0;
    for (int i = 0; i < NREQ; i++) {
        mp_ag_spec s = spec_i(i, seed + (uint32_t)i);
        if (mp_ag_prepare(ctx, &ag[i], &s, ctx->rank, ctx->size, NULL) != 0)
            return 1;
        mp_step(ctx, "post %d/%d (%s): %s", i, NREQ, names[order], ag[i].label);
        req[i] = NULL;
        dlcoll_status_t st = p->allgather(ctx->comm, &ag[i].tin, &ag[i].tout, &req[i]);
        MP_REQUIRE(ctx, st == DLCOLL_SUCCESS && req[i] != NULL,
                   "async %s -> %s, request %p: %s", ag[i].label, p->status_string(st),
                   (void *)req[i], p->last_error(ctx->comm));
    }
    int left = NREQ;
    while (left > 0) {
        for (int k = 0; k < NREQ; k++) {
            int i = order == REVERSE ? NREQ - 1 - k : k;
            if (done[i])
                continue;
            dlcoll_status_t st;
            if (order == ROUND_ROBIN_TEST) {
                st = p->test(req[i]);
                if (st == DLCOLL_IN_PROGRESS)
                    continue;
            } else {
                mp_step(ctx, "wait %d (%s): %s", i, names[order], ag[i].label);
                st = p->wait(req[i], DLCOLL_WAIT_COMM_TIMEOUT);
            }
            done[i] = 1;
            left--;
            if (st != DLCOLL_SUCCESS) {
                const char *e = p->request_error(req[i]);
                mp_fail(ctx, __FILE__, __LINE__, "request %d (%s) %s -> %s: %s", i, names[order],
                        ag[i].label, p->status_string(st), e ? e : "(null)");
                bad = 1;
            } else {
                bad |= mp_ag_verify(ctx, &ag[i]);
                const char *e = p->request_error(req[i]);
                MP_EXPECT(ctx, benign(e), "request_error of a successful request is \"%s\"", e);
            }
            MP_EXPECT(ctx, p->request_free(req[i]) == DLCOLL_SUCCESS, "request_free(%d) failed", i);
        }
    }
    for (int i = 0; i < NREQ; i++)
        mp_ag_free(&ag[i]);
    return bad;
}

/* Barrier round `round`: everyone announces arrival, enters the barrier (one
 * rank late), and on return every rank must have arrived. */
static int barrier_round(mp_ctx *ctx, int round, int async)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    if (round % ctx->size == ctx->rank)
        usleep(20000);
    mp_flag_set(ctx, 8 + ctx->rank, round);
    mp_step(ctx, "%s barrier round %d", async ? "async" : "blocking", round);
    if (async) {
        dlcoll_request_t r = NULL;
        MP_OK(ctx, p->barrier(ctx->comm, &r));
        MP_REQUIRE(ctx, r != NULL, "barrier with a request pointer returned no request");
        if (round & 1) {
            MP_WAIT_OK(ctx, r);
        } else {
            long polls;
            dlcoll_status_t st = poll_until_done(ctx, r, &polls);
            MP_REQUIRE(ctx, st == DLCOLL_SUCCESS, "async barrier test() -> %s: %s",
                       p->status_string(st), p->request_error(r));
            MP_REQUIRE(ctx, p->request_free(r) == DLCOLL_SUCCESS, "request_free failed");
        }
    } else {
        MP_OK(ctx, p->barrier(ctx->comm, NULL));
    }
    for (int r = 0; r < ctx->size; r++) {
        long v = __atomic_load_n(&ctx->flags[8 + r], __ATOMIC_SEQ_CST);
        MP_REQUIRE(ctx, v >= round,
                   "%s barrier round %d returned before rank %d arrived (it is at round %ld)",
                   async ? "async" : "blocking", round, r, v);
    }
    return 0;
}

static int async_body(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;

    /* 1. test() polling until success, then test/wait/free on the completed request. */
    {
        mp_ag a;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), 7000, 512 * 1024); /* 2 MiB */
        if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
            return 1;
        dlcoll_request_t r = NULL;
        mp_step(ctx, "test() polling: %s", a.label);
        MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
        MP_REQUIRE(ctx, r != NULL, "allgather with a request pointer returned no request");
        long polls;
        dlcoll_status_t st = poll_until_done(ctx, r, &polls);
        MP_REQUIRE(ctx, st == DLCOLL_SUCCESS, "test() -> %s after %ld polls: %s",
                   p->status_string(st), polls, p->request_error(r));
        if (mp_ag_verify(ctx, &a))
            return 1;
        st = p->test(r);
        MP_EXPECT(ctx, st == DLCOLL_SUCCESS, "test() again on a completed request -> %s",
                  p->status_string(st));
        st = p->wait(r, DLCOLL_WAIT_COMM_TIMEOUT);
        MP_EXPECT(ctx, st == DLCOLL_SUCCESS, "wait() on a completed request -> %s",
                  p->status_string(st));
        st = p->wait(r, 0);
        MP_EXPECT(ctx, st == DLCOLL_SUCCESS, "wait(0 ms) on a completed request -> %s",
                  p->status_string(st));
        const char *e = p->request_error(r);
        MP_EXPECT(ctx, benign(e), "request_error of a successful request is \"%s\"", e);
        MP_REQUIRE(ctx, p->request_free(r) == DLCOLL_SUCCESS, "request_free of a completed request");
        mp_ag_free(&a);
    }

    /* 2. wait() on a fresh request. */
    {
        mp_ag a;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLInt, 64), 7100, 1000, 3);
        s.stacked = 1;
        if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
            return 1;
        dlcoll_request_t r = NULL;
        mp_step(ctx, "wait(): %s", a.label);
        MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
        MP_WAIT_OK(ctx, r);
        if (mp_ag_verify(ctx, &a))
            return 1;
        mp_ag_free(&a);
    }

    /* 3. Several outstanding requests on one comm. */
    if (many(ctx, IN_ORDER, 7200) || many(ctx, REVERSE, 7300) || many(ctx, ROUND_ROBIN_TEST, 7400))
        return 1;

    /* 4. request_free of an incomplete request waits for it. */
    {
        mp_ag a;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 7500, 3 << 20);
        if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
            return 1;
        dlcoll_request_t r = NULL;
        mp_step(ctx, "request_free right after posting: %s", a.label);
        MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
        MP_REQUIRE(ctx, p->request_free(r) == DLCOLL_SUCCESS, "request_free of a posted request");
        if (mp_ag_verify(ctx, &a))
            return 1;
        mp_ag_free(&a);
    }

    /* 5. An outstanding request across a blocking barrier and a blocking allgather. */
    {
        mp_ag a;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 64), 7600, 70000);
        if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
            return 1;
        dlcoll_request_t r = NULL;
        mp_step(ctx, "async + blocking mix: %s", a.label);
        MP_OK(ctx, p->allgather(ctx->comm, &a.tin, &a.tout, &r));
        MP_OK(ctx, p->barrier(ctx->comm, NULL));
        mp_ag_spec s2 = MP_SPEC(mp_dt(kDLInt, 8), 7601, 333);
        if (mp_check_allgather(ctx, ctx->comm, &s2, me, n, NULL))
            return 1;
        MP_WAIT_OK(ctx, r);
        if (mp_ag_verify(ctx, &a))
            return 1;
        mp_ag_free(&a);
    }

    /* 6. async allgather_list. */
    {
        mp_buf in, out[MP_MAX_RANKS];
        DLTensor tin, tout[MP_MAX_RANKS], *tp[MP_MAX_RANKS];
        int64_t shape[] = {12345};
        DLDataType dt = mp_dt(kDLInt, 16);
        size_t nb = 12345 * 2;
        MP_REQUIRE(ctx, mp_buf_alloc(&in, nb, 64) == 0, "oom");
        mp_fill(in.data, nb, 7700, me, 0);
        mp_tensor(&tin, in.data, 0, dt, 1, shape, NULL);
        for (int i = 0; i < n; i++) {
            MP_REQUIRE(ctx, mp_buf_alloc(&out[i], nb, 64) == 0, "oom");
            mp_tensor(&tout[i], out[i].data, 0, dt, 1, shape, NULL);
            tp[i] = &tout[i];
        }
        dlcoll_request_t r = NULL;
        mp_step(ctx, "async allgather_list");
        MP_OK(ctx, p->allgather_list(ctx->comm, &tin, tp, n, &r));
        long polls;
        dlcoll_status_t st = poll_until_done(ctx, r, &polls);
        MP_REQUIRE(ctx, st == DLCOLL_SUCCESS, "allgather_list test() -> %s: %s",
                   p->status_string(st), p->request_error(r));
        p->request_free(r);
        char why[128];
        for (int i = 0; i < n; i++) {
            size_t k = mp_find_bad(out[i].data, nb, 7700, i, 0);
            MP_EXPECT(ctx, k == (size_t)-1, "async allgather_list: outputs[%d] byte %zu wrong", i, k);
            MP_EXPECT(ctx, mp_buf_guards_ok(&out[i], why, sizeof why), "outputs[%d]: %s", i, why);
            mp_buf_free(&out[i]);
        }
        mp_buf_free(&in);
    }

    /* 7. Barriers that synchronise, blocking and async. */
    for (int round = 1; round <= 2 * n + 2; round++)
        if (barrier_round(ctx, round, round > n + 1))
            return 1;
    return 0;
}

TestSuite(async, .timeout = 300);

Test(async, shm_n2) { mp_run(2, "shm", async_body, NULL, 120); }
Test(async, shm_n3) { mp_run(3, "shm", async_body, NULL, 120); }
Test(async, shm_n4) { mp_run(4, "shm", async_body, NULL, 120); }
Test(async, tcp_n2) { mp_run(2, "tcp", async_body, NULL, 120); }
Test(async, tcp_n4) { mp_run(4, "tcp", async_body, NULL, 120); }
Test(async, shm_n1) { mp_run(1, "shm", async_body, NULL, 60); }
