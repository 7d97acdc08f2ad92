/*
 * test_plan_reuse.c -- repeated allgathers on the same tensor descriptors
 * reuse the validated plan (plugin/coll/plan_cache.h); every change to a
 * descriptor between calls must be seen.
 *
 * One communicator runs a scripted series of calls whose descriptors differ
 * from the previous call's in one field each (shape values written into the
 * same shape array, dtype, data pointer, strides, in place or not, one list
 * output's data pointer), valid and invalid ones in turn: every valid call's
 * output is checked byte for byte against what each rank sent, bytes outside
 * the output must keep their old contents, and every invalid call must be
 * refused on every rank (and leave the communicator usable).  Two
 * asynchronous calls in flight at once (one borrowing the cached plan, one
 * validated beside it) cover the cache's borrowing.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "mp_gather.h"

#define CAP 4096 /* bytes per rank the buffers hold */

typedef struct bufs {
    mp_buf in, out, out2, lst[MP_MAX_RANKS + 1];
} bufs;

/* Block j of a contiguous 1-d output of m elements per rank. */
static void block_view(const DLTensor *out, int j, int64_t m, int64_t *shape, DLTensor *v)
{
    *v = *out;
    shape[0] = m;
    v->ndim = 1;
    v->shape = shape;
    v->strides = NULL;
    v->byte_offset = out->byte_offset + (uint64_t)(j * m) * (uint64_t)(out->dtype.bits / 8);
}

/* Every block of a single output holds rank j's pattern `seed`. */
static int check_single(mp_ctx *ctx, const DLTensor *out, int64_t m, uint32_t seed,
                        const char *what)
{
    for (int j = 0; j < ctx->size; j++) {
        int64_t shape[1];
        DLTensor v;
        char why[200];
        block_view(out, j, m, shape, &v);
        if (!mp_tensor_matches(&v, seed, j, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: block %d: %s", what, j, why);
            return 1;
        }
    }
    return 0;
}

/* A blocking allgather that must succeed and fill out with `seed`. */
static int run_single(mp_ctx *ctx, DLTensor *in, DLTensor *out, int64_t m, uint32_t seed,
                      const char *what)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    mp_tensor_fill(in, seed, ctx->rank);
    mp_step(ctx, "%s", what);
    dlcoll_status_t st = p->allgather(ctx->comm, in, out, NULL);
    if (st != DLCOLL_SUCCESS) {
        const char *e = p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s: %s", what, p->status_string(st), e ? e : "");
        return 1;
    }
    return check_single(ctx, out, m, seed, what);
}

/* A call that every rank must refuse with INVALID_ARGUMENT, writing nothing. */
static int refused(mp_ctx *ctx, dlcoll_status_t st, const mp_buf *untouched, const uint8_t *before,
                   const char *what)
{
    const char *e = ctx->p->last_error(ctx->comm);
    if (st != DLCOLL_ERR_INVALID_ARGUMENT) {
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s, expected INVALID_ARGUMENT: %s", what,
                ctx->p->status_string(st), e ? e : "");
        return 1;
    }
    if (untouched && memcmp(untouched->data, before, untouched->size) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: refused, but the output changed", what);
        return 1;
    }
    return 0;
}

static int single_series(mp_ctx *ctx, bufs *b)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, me = ctx->rank;
    int64_t ishape[1] = {64}, oshape[1] = {64 * n}, ostr[1] = {1};
    DLTensor in, out;
    mp_tensor(&in, b->in.data, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
    mp_tensor(&out, b->out.data, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);

    /* The same descriptors three times: new bytes each time. */
    for (uint32_t k = 1; k <= 3; k++)
        if (run_single(ctx, &in, &out, 64, k, "uint8 (64) repeated"))
            return 1;

    /* The same arrays, smaller values: the bytes past N*32 keep seed 3's. */
    ishape[0] = 32;
    oshape[0] = 32 * n;
    uint8_t tail[CAP];
    memcpy(tail, b->out.data + 32 * n, (size_t)(32 * n));
    if (run_single(ctx, &in, &out, 32, 4, "shape values changed in place to (32)"))
        return 1;
    MP_REQUIRE(ctx, memcmp(tail, b->out.data + 32 * n, (size_t)(32 * n)) == 0,
               "shape (32): bytes past the output were written");

    /* Dtype changed: 64 bytes per rank again. */
    in.dtype = out.dtype = mp_dt(kDLUInt, 16);
    if (run_single(ctx, &in, &out, 32, 5, "dtype changed to uint16"))
        return 1;

    /* Invalid between valid ones: output one element short, then strided. */
    uint8_t before[CAP * (MP_MAX_RANKS + 1)];
    memcpy(before, b->out.data, b->out.size);
    oshape[0] = 32 * n - 1;
    mp_tensor_fill(&in, 6, me);
    if (refused(ctx, p->allgather(ctx->comm, &in, &out, NULL), &b->out, before,
                "output one element short"))
        return 1;
    oshape[0] = 32 * n;
    ostr[0] = 2;
    out.strides = ostr;
    if (refused(ctx, p->allgather(ctx->comm, &in, &out, NULL), &b->out, before,
                "strided single output"))
        return 1;
    out.strides = NULL;
    if (run_single(ctx, &in, &out, 32, 7, "valid again after two refused calls"))
        return 1;

    /* Another data pointer (and byte_offset) with the same shape. */
    out.data = b->out2.data;
    if (run_single(ctx, &in, &out, 32, 8, "output data pointer changed"))
        return 1;
    out.byte_offset = 2;
    if (run_single(ctx, &in, &out, 32, 9, "output byte_offset changed"))
        return 1;
    out.byte_offset = 0;

    /* In place, then not in place into the same output. */
    DLTensor inp = in;
    inp.data = out.data;
    inp.byte_offset = (uint64_t)me * 64;
    for (uint32_t k = 10; k <= 11; k++)
        if (run_single(ctx, &inp, &out, 32, k, "in place"))
            return 1;
    if (run_single(ctx, &in, &out, 32, 12, "not in place after in place"))
        return 1;
    /* The input overlapping the output without being this rank's block. */
    inp.byte_offset = (uint64_t)((me + 1) % n) * 64 + (n == 1 ? 2 : 0);
    memcpy(before, b->out2.data, b->out2.size);
    if (refused(ctx, p->allgather(ctx->comm, &inp, &out, NULL), NULL, NULL,
                "input overlapping another rank's block"))
        return 1;

    /* Two asynchronous calls at once: one on the cached descriptors, one on
     * others (validated while the first borrows the cache). */
    if (run_single(ctx, &in, &out, 32, 13, "before the asynchronous pair"))
        return 1;
    DLTensor out_b = out;
    out_b.data = b->out.data;
    mp_tensor_fill(&in, 14, me);
    dlcoll_request_t r1, r2;
    MP_OK(ctx, p->allgather(ctx->comm, &in, &out, &r1));
    MP_OK(ctx, p->allgather(ctx->comm, &in, &out_b, &r2));
    MP_WAIT_OK(ctx, r1);
    MP_WAIT_OK(ctx, r2);
    if (check_single(ctx, &out, 32, 14, "async on the cached descriptors") ||
        check_single(ctx, &out_b, 32, 14, "async beside it"))
        return 1;
    if (run_single(ctx, &in, &out_b, 32, 15, "after the asynchronous pair"))
        return 1;
    return 0;
}

/* outputs[j] holds rank j's pattern `seed`. */
static int check_list(mp_ctx *ctx, DLTensor *const *outs, uint32_t seed, const char *what)
{
    for (int j = 0; j < ctx->size; j++) {
        char why[200];
        if (!mp_tensor_matches(outs[j], seed, j, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: outputs[%d]: %s", what, j, why);
            return 1;
        }
    }
    return 0;
}

static int run_list(mp_ctx *ctx, DLTensor *in, DLTensor *const *outs, uint32_t seed,
                    const char *what)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    mp_tensor_fill(in, seed, ctx->rank);
    mp_step(ctx, "%s", what);
    dlcoll_status_t st = p->allgather_list(ctx->comm, in, outs, ctx->size, NULL);
    if (st != DLCOLL_SUCCESS) {
        const char *e = p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s: %s", what, p->status_string(st), e ? e : "");
        return 1;
    }
    return check_list(ctx, outs, seed, what);
}

static int list_series(mp_ctx *ctx, bufs *b)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, me = ctx->rank;
    int64_t shape[2] = {8, 6}, lshape[MP_MAX_RANKS][2], lstr[MP_MAX_RANKS][2];
    DLTensor in, o[MP_MAX_RANKS];
    DLTensor *outs[MP_MAX_RANKS];
    mp_tensor(&in, b->in.data, 0, mp_dt(kDLFloat, 32), 2, shape, NULL);
    for (int j = 0; j < n; j++) {
        lshape[j][0] = 8;
        lshape[j][1] = 6;
        mp_tensor(&o[j], b->lst[j].data, 0, mp_dt(kDLFloat, 32), 2, lshape[j], NULL);
        outs[j] = &o[j];
    }
    for (uint32_t k = 20; k <= 22; k++)
        if (run_list(ctx, &in, outs, k, "list float32 (8,6) repeated"))
            return 1;

    /* One output moved to the spare buffer (same DLTensor struct). */
    int moved = n - 1;
    o[moved].data = b->lst[n].data;
    if (run_list(ctx, &in, outs, 23, "one output's data pointer changed"))
        return 1;

    /* One output made strided: every other row of a (16,6) buffer. */
    lstr[0][0] = 12;
    lstr[0][1] = 1;
    o[0].strides = lstr[0];
    if (run_list(ctx, &in, outs, 24, "outputs[0] strided"))
        return 1;

    /* Two outputs on the same bytes: refused, then valid again. */
    void *keep = o[moved].data;
    if (n > 1) {
        o[moved].data = o[0].data;
        o[moved].strides = NULL;
        mp_tensor_fill(&in, 25, me);
        if (refused(ctx, p->allgather_list(ctx->comm, &in, outs, n, NULL), NULL, NULL,
                    "two outputs on the same bytes"))
            return 1;
        o[moved].data = keep;
    }
    o[0].strides = NULL;
    if (run_list(ctx, &in, outs, 26, "valid again"))
        return 1;

    /* Shape values changed in place in every descriptor. */
    shape[1] = 3;
    for (int j = 0; j < n; j++)
        lshape[j][1] = 3;
    if (run_list(ctx, &in, outs, 27, "list shape changed to (8,3)"))
        return 1;

    /* In place: the input is outputs[me]. */
    if (run_list(ctx, outs[me], outs, 28, "list in place"))
        return 1;
    if (run_list(ctx, &in, outs, 29, "list not in place again"))
        return 1;

    /* A single-output call between list calls, with the input the list used. */
    int64_t oshape[1] = {8 * 3 * n};
    DLTensor in1 = in, out;
    int64_t ishape1[1] = {8 * 3};
    in1.ndim = 1;
    in1.shape = ishape1;
    mp_tensor(&out, b->out.data, 0, mp_dt(kDLFloat, 32), 1, oshape, NULL);
    if (run_single(ctx, &in1, &out, 8 * 3, 30, "single between list calls"))
        return 1;
    return run_list(ctx, &in, outs, 31, "list after the single call");
}

static int plan_reuse(mp_ctx *ctx)
{
    int n = ctx->size;
    bufs b;
    memset(&b, 0, sizeof b);
    int ok = mp_buf_alloc(&b.in, CAP, 64) == 0 && mp_buf_alloc(&b.out, (size_t)n * CAP, 64) == 0 &&
             mp_buf_alloc(&b.out2, (size_t)n * CAP, 64) == 0;
    for (int j = 0; j <= n && ok; j++)
        ok = mp_buf_alloc(&b.lst[j], CAP, 64) == 0;
    MP_REQUIRE(ctx, ok, "out of memory");
    int rc = single_series(ctx, &b);
    if (!rc)
        rc = list_series(ctx, &b);
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&b.in, why, sizeof why), "input buffer: %s", why);
    MP_EXPECT(ctx, mp_buf_guards_ok(&b.out, why, sizeof why), "output buffer: %s", why);
    MP_EXPECT(ctx, mp_buf_guards_ok(&b.out2, why, sizeof why), "second output buffer: %s", why);
    for (int j = 0; j <= n; j++) {
        MP_EXPECT(ctx, mp_buf_guards_ok(&b.lst[j], why, sizeof why), "list buffer %d: %s", j, why);
        mp_buf_free(&b.lst[j]);
    }
    mp_buf_free(&b.in);
    mp_buf_free(&b.out);
    mp_buf_free(&b.out2);
    return rc;
}

TestSuite(plan_reuse, .timeout = 200);

Test(plan_reuse, shm_n1) { mp_run(1, "shm", plan_reuse, NULL, 60); }
Test(plan_reuse, shm_n2) { mp_run(2, "shm", plan_reuse, NULL, 60); }
Test(plan_reuse, shm_n3) { mp_run(3, "shm", plan_reuse, NULL, 60); }
Test(plan_reuse, tcp_n3) { mp_run(3, "tcp", plan_reuse, NULL, 60); }
Test(plan_reuse, shm_ring_n2) { mp_run_env(2, "shm", "DLCOLL_ALGO=ring", plan_reuse, NULL, 60); }
Test(plan_reuse, shm_cma_n2) { mp_run_env(2, "shm", "DLCOLL_SHM_CMA_MIN=1", plan_reuse, NULL, 60); }
