/*
 * test_reduce.c -- the ABI 1.1 collectives on real ranks: allreduce,
 * reduce_scatter, reduce_scatter_list and broadcast, over shm and tcp, N = 1..4.
 *
 *   - sweep: every dtype x every reduction (the supported ones checked
 *     against the exact / float64 reference of mp_reduce.h, NaN propagation
 *     included; the others refused with UNSUPPORTED, the communicator still
 *     usable), 0 to ~8 KiB per rank, in place and out of place, a strided
 *     tensor; the outputs' hash is the same on every rank (bit-identity);
 *   - large: 2 to 16 MiB (float32, bfloat16), run twice: the same bytes both
 *     times and on every rank;
 *   - reduce_scatter (single input, both shapes) and reduce_scatter_list
 *     (strided inputs, strided output), every dtype x reduction;
 *   - broadcast: every root, 0 B to 3 MiB, strided, complex: byte-exact;
 *   - agreement: ranks that disagree on the reduction, the dtype, the count,
 *     the root or the operation all get MISMATCH, the message naming both
 *     sides;
 *   - local errors: bad arguments give the right status on the calling rank
 *     only, and the communicator stays usable;
 *   - a rank SIGKILLed in the middle of a large allreduce: every survivor
 *     gets an error (not a hang) within the deadline;
 *   - a rank that never calls: TIMEOUT naming it;
 *   - operations in flight together: five on the world and a reversed
 *     group, waited in reverse; two disjoint groups' allreduces during a
 *     broadcast on the world.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_reduce.h"

static const char *const providers[] = {"shm", "tcp"};

typedef struct red_case {
    int prov;
    int n;
    int variant;
} red_case;

enum { R_HASH = 0, R_STATUS = 1 };

#define TIMEOUT_MS 20000
#define ERR_TIMEOUT_MS 3000

static mp_opts opts_for(const red_case *c, int timeout_ms, int deadline_ms)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = c->n;
    o.provider = providers[c->prov];
    o.init = c->n % 2 ? MP_INIT_TCP : MP_INIT_FILE;
    o.timeout_ms = timeout_ms;
    o.deadline_ms = deadline_ms;
    return o;
}

/* Every rank succeeded and published the same hash. */
static void run_same_hash(const red_case *c, mp_rank_fn fn, int deadline_ms)
{
    mp_opts o = opts_for(c, TIMEOUT_MS, deadline_ms);
    o.setup_arg = NULL;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, fn, (void *)c, res);
    mp_assert_all_ok(res);
    for (int i = 1; i < c->n; i++)
        cr_assert_eq(res->r[i].report[R_HASH], res->r[0].report[R_HASH],
                     "rank %d's results differ from rank 0's (hash %lx vs %lx)", i,
                     (unsigned long)res->r[i].report[R_HASH],
                     (unsigned long)res->r[0].report[R_HASH]);
    mp_result_free(res);
}

static int is_complex(DLDataType dt)
{
    return dt.code == kDLComplex;
}

static void *xmalloc(size_t n)
{
    return malloc(n ? n : 1);
}

/* ================================================================ allreduce */

/* One allreduce of n elements: fill, call, check; in place or not; strided
 * (every other element of a buffer twice as long) when `stride` is 2.
 * 0 right, 1 wrong data, 2 the call failed. */
static int one_allreduce(mp_ctx *ctx, DLDataType dt, int op, uint32_t seed, size_t n, int inplace,
                         int stride, uint64_t *hash)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    size_t es = mp_dt_size(dt);
    int nan = (dt.code == kDLFloat || dt.code == kDLBfloat) && n > 5 ? ctx->size : 0;
    uint8_t *in = xmalloc(n * es * (size_t)stride), *out = xmalloc(n * es * (size_t)stride);
    uint8_t *packed = xmalloc(n * es), *got = xmalloc(n * es);
    mp_red_fill(packed, dt, op, seed, ctx->rank, 0, n, nan);
    memset(in, 0xA5, n * es * (size_t)stride);
    memset(out, 0x5A, n * es * (size_t)stride);
    for (size_t i = 0; i < n; i++)
        memcpy(in + i * es * (size_t)stride, packed + i * es, es);
    int64_t shape[1] = {(int64_t)n}, strides[1] = {stride};
    DLTensor tin, tout;
    mp_tensor(&tin, in, 0, dt, 1, shape, stride > 1 ? strides : NULL);
    mp_tensor(&tout, inplace ? in : out, 0, dt, 1, shape, stride > 1 ? strides : NULL);
    dlcoll_reduction_t red = op == DLCOLL_RED_PREMUL_SUM
                                 ? dlcoll_reduction_premul_sum(mp_red_factor(ctx->rank))
                                 : dlcoll_reduction((dlcoll_red_op_t)op);
    char label[160];
    snprintf(label, sizeof label, "allreduce(%s) of %zu %s%s%s", mp_red_name(op), n,
             mp_dt_size(dt) ? "elements" : "?", inplace ? ", in place" : "",
             stride > 1 ? ", strided" : "");
    mp_step(ctx, "%s", label);
    int rc = 0;
    dlcoll_status_t st = p->allreduce(ctx->comm, &tin, inplace ? &tin : &tout, &red, NULL);
    if (!mp_red_supported(dt, op)) {
        const char *e = p->last_error(ctx->comm);
        if (st != DLCOLL_ERR_UNSUPPORTED) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: %s, expected UNSUPPORTED: %s", label,
                    p->status_string(st), e ? e : "");
            rc = 2;
        }
        goto done;
    }
    if (st != DLCOLL_SUCCESS) {
        const char *e = p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s: %s", label, p->status_string(st), e ? e : "");
        rc = 2;
        goto done;
    }
    uint8_t *res = inplace ? in : out;
    for (size_t i = 0; i < n; i++)
        memcpy(got + i * es, res + i * es * (size_t)stride, es);
    for (size_t i = 0; stride > 1 && i < n; i++)
        for (size_t b = es; b < es * (size_t)stride; b++)
            if (res[i * es * (size_t)stride + b] != (inplace ? 0xA5 : 0x5A)) {
                mp_fail(ctx, __FILE__, __LINE__, "%s: a byte between elements was written",
                        label);
                rc = 1;
                goto done;
            }
    if (!mp_red_check(ctx, got, dt, op, seed, ctx->size, 0, n, nan, label))
        rc = 1;
    *hash = mp_fnv(*hash, got, n * es);
done:
    free(in);
    free(out);
    free(packed);
    free(got);
    return rc;
}

static int allreduce_sweep(mp_ctx *ctx)
{
    static const size_t sizes[] = {0, 1, 6, 13, 1031};
    uint64_t hash = 14695981039346656037ull;
    int fails = 0;
    uint32_t seed = 100;
    for (int d = 0; d < mp_n_dtypes; d++) {
        DLDataType dt = mp_dtypes[d].dt;
        for (int op = 0; op < MP_N_RED_OPS; op++) {
            int nsz = mp_red_supported(dt, op) ? (int)(sizeof sizes / sizeof sizes[0]) : 1;
            for (int k = 0; k < nsz; k++) {
                size_t n = mp_red_supported(dt, op) ? sizes[k] : 4;
                int inplace = (k + op) % 2;
                MP_TALLY(one_allreduce(ctx, dt, op, seed++, n, inplace, 1, &hash), fails);
            }
        }
        if (!is_complex(dt)) /* strided, in place and not */
            for (int inplace = 0; inplace < 2; inplace++)
                MP_TALLY(one_allreduce(ctx, dt, DLCOLL_RED_SUM, seed++, 77, inplace, 2, &hash),
                         fails);
    }
    ctx->report[R_HASH] = (long)hash;
    return fails ? 1 : 0;
}

ParameterizedTestParameters(allreduce, sweep)
{
    static red_case cases[8];
    int k = 0;
    for (int prov = 0; prov < 2; prov++)
        for (int n = 1; n <= 4; n++)
            cases[k++] = (red_case){prov, n, 0};
    return cr_make_param_array(red_case, cases, (size_t)k);
}

ParameterizedTest(red_case *c, allreduce, sweep, .timeout = 300)
{
    cr_log_info("allreduce sweep, %s, N=%d", providers[c->prov], c->n);
    run_same_hash(c, allreduce_sweep, 240000);
}

/* A few MiB, twice with the same inputs: the same bytes both times. */
static int allreduce_large(mp_ctx *ctx)
{
    const red_case *c = ctx->arg;
    uint64_t hash = 14695981039346656037ull;
    DLDataType dt = c->variant == 1 ? mp_dt(kDLBfloat, 16) : mp_dt(kDLFloat, 32);
    /* 2 MiB of bfloat16, 4 MiB or (variant 2) 16 MiB of float32 */
    size_t n = c->variant == 1 ? (1u << 20) + 3 : c->variant == 2 ? (4u << 20) + 1 : (1u << 20) + 7;
    for (int rep = 0; rep < 2; rep++) {
        uint64_t h = 14695981039346656037ull;
        /* out of place, then in place: the same bytes */
        if (one_allreduce(ctx, dt, DLCOLL_RED_SUM, 7, n, rep, 1, &h))
            return 1;
        if (rep == 0)
            hash = h;
        else
            MP_REQUIRE(ctx, h == hash, "the second run's result differs from the first's");
    }
    if (one_allreduce(ctx, dt, DLCOLL_RED_AVG, 8, n, 0, 1, &hash))
        return 1;
    ctx->report[R_HASH] = (long)hash;
    return 0;
}

ParameterizedTestParameters(allreduce, large)
{
    static red_case cases[] = {{0, 2, 0}, {0, 4, 0}, {0, 3, 1}, {1, 3, 0}, {1, 2, 1}, {0, 3, 2}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, allreduce, large, .timeout = 300)
{
    cr_log_info("allreduce large, %s, N=%d, %s", providers[c->prov], c->n,
                c->variant == 1 ? "bfloat16" : c->variant == 2 ? "float32, 16 MiB" : "float32");
    run_same_hash(c, allreduce_large, 240000);
}

/* ================================================================ reduce_scatter */

/* cnt elements per rank; list: strided inputs (stride 2) and, when
 * `strided_out`, a strided output; stacked: input shape (N, cnt). */
static int one_reduce_scatter(mp_ctx *ctx, DLDataType dt, int op, uint32_t seed, size_t cnt,
                              int list, int stacked, int strided_out, uint64_t *hash)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int N = ctx->size, me = ctx->rank;
    size_t es = mp_dt_size(dt);
    int nan = (dt.code == kDLFloat || dt.code == kDLBfloat) && cnt * (size_t)N > 5 ? N : 0;
    uint8_t *packed = xmalloc((size_t)N * cnt * es);
    mp_red_fill(packed, dt, op, seed, me, 0, (size_t)N * cnt, nan);
    int os = strided_out ? 3 : 1;
    uint8_t *out = xmalloc(cnt * es * (size_t)os), *got = xmalloc(cnt * es);
    memset(out, 0x5A, cnt * es * (size_t)os);
    int64_t oshape[1] = {(int64_t)cnt}, ostr[1] = {os};
    DLTensor tout;
    mp_tensor(&tout, out, 0, dt, 1, oshape, os > 1 ? ostr : NULL);
    dlcoll_reduction_t red = op == DLCOLL_RED_PREMUL_SUM
                                 ? dlcoll_reduction_premul_sum(mp_red_factor(me))
                                 : dlcoll_reduction((dlcoll_red_op_t)op);
    char label[160];
    snprintf(label, sizeof label, "reduce_scatter%s(%s) of %zu elements per rank%s%s",
             list ? "_list" : "", mp_red_name(op), cnt, stacked ? ", stacked" : "",
             strided_out ? ", strided output" : "");
    mp_step(ctx, "%s", label);
    dlcoll_status_t st;
    uint8_t *ins_mem = NULL;
    DLTensor *tins = NULL;
    if (list) {
        ins_mem = xmalloc((size_t)N * cnt * es * 2);
        tins = calloc((size_t)N, sizeof *tins);
        const DLTensor **ptrs = calloc((size_t)N, sizeof *ptrs);
        static int64_t istr[1] = {2};
        for (int b = 0; b < N; b++) {
            uint8_t *base = ins_mem + (size_t)b * cnt * es * 2;
            for (size_t i = 0; i < cnt; i++)
                memcpy(base + i * es * 2, packed + ((size_t)b * cnt + i) * es, es);
            mp_tensor(&tins[b], base, 0, dt, 1, oshape, istr);
            ptrs[b] = &tins[b];
        }
        st = p->reduce_scatter_list(ctx->comm, ptrs, N, &tout, &red, NULL);
        free(ptrs);
    } else {
        int64_t ishape[2];
        DLTensor tin;
        if (stacked) {
            ishape[0] = N;
            ishape[1] = (int64_t)cnt;
            mp_tensor(&tin, packed, 0, dt, 2, ishape, NULL);
        } else {
            ishape[0] = (int64_t)cnt * N;
            mp_tensor(&tin, packed, 0, dt, 1, ishape, NULL);
        }
        st = p->reduce_scatter(ctx->comm, &tin, &tout, &red, NULL);
    }
    int rc = 0;
    const char *e = p->last_error(ctx->comm);
    if (!mp_red_supported(dt, op)) {
        if (st != DLCOLL_ERR_UNSUPPORTED) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: %s, expected UNSUPPORTED: %s", label,
                    p->status_string(st), e ? e : "");
            rc = 2;
        }
    } else if (st != DLCOLL_SUCCESS) {
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s: %s", label, p->status_string(st), e ? e : "");
        rc = 2;
    } else {
        for (size_t i = 0; i < cnt; i++)
            memcpy(got + i * es, out + i * es * (size_t)os, es);
        if (!mp_red_check(ctx, got, dt, op, seed, N, (size_t)me * cnt, cnt, nan, label))
            rc = 1;
        if (hash)
            *hash = mp_fnv(*hash, got, cnt * es);
        for (size_t i = 0; rc == 0 && os > 1 && i < cnt; i++)
            for (size_t b = es; b < es * (size_t)os; b++)
                if (out[i * es * (size_t)os + b] != 0x5A) {
                    mp_fail(ctx, __FILE__, __LINE__, "%s: a byte between elements was written",
                            label);
                    rc = 1;
                    break;
                }
    }
    free(ins_mem);
    free(tins);
    free(packed);
    free(out);
    free(got);
    return rc;
}

static int reduce_scatter_sweep(mp_ctx *ctx)
{
    static const size_t sizes[] = {0, 1, 7, 600};
    int fails = 0;
    uint32_t seed = 300;
    for (int d = 0; d < mp_n_dtypes; d++) {
        DLDataType dt = mp_dtypes[d].dt;
        for (int op = 0; op < MP_N_RED_OPS; op++) {
            int nsz = mp_red_supported(dt, op) ? (int)(sizeof sizes / sizeof sizes[0]) : 1;
            for (int k = 0; k < nsz; k++) {
                size_t cnt = mp_red_supported(dt, op) ? sizes[k] : 3;
                int form = (k + op + d) % 3; /* single, stacked, list */
                MP_TALLY(one_reduce_scatter(ctx, dt, op, seed++, cnt, form == 2, form == 1,
                                            form == 2 && k % 2, NULL),
                         fails);
            }
        }
    }
    return fails ? 1 : 0;
}

ParameterizedTestParameters(reduce_scatter, sweep)
{
    static red_case cases[] = {{0, 1, 0}, {0, 2, 0}, {0, 3, 0}, {0, 4, 0}, {1, 2, 0}, {1, 3, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, reduce_scatter, sweep, .timeout = 300)
{
    cr_log_info("reduce_scatter sweep, %s, N=%d", providers[c->prov], c->n);
    mp_opts o = opts_for(c, TIMEOUT_MS, 240000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, reduce_scatter_sweep, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

/* ================================================================ broadcast */

static int one_broadcast(mp_ctx *ctx, DLDataType dt, int root, size_t n, int stride, uint32_t seed,
                         uint64_t *hash)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    size_t es = mp_dt_size(dt), nb = n * es;
    uint8_t *buf = xmalloc(nb * (size_t)stride), *got = xmalloc(nb);
    memset(buf, 0x77, nb * (size_t)stride);
    if (ctx->rank == root)
        for (size_t i = 0; i < n; i++)
            for (size_t b = 0; b < es; b++)
                buf[i * es * (size_t)stride + b] = mp_pat(seed, root, i * es + b);
    int64_t shape[1] = {(int64_t)n}, strides[1] = {stride};
    DLTensor t;
    mp_tensor(&t, buf, 0, dt, 1, shape, stride > 1 ? strides : NULL);
    mp_step(ctx, "broadcast of %zu B from root %d%s", nb, root, stride > 1 ? ", strided" : "");
    dlcoll_status_t st = p->broadcast(ctx->comm, &t, root, NULL);
    int rc = 0;
    if (st != DLCOLL_SUCCESS) {
        const char *e = p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "broadcast of %zu B from root %d -> %s: %s", nb, root,
                p->status_string(st), e ? e : "");
        rc = 2;
    } else {
        for (size_t i = 0; i < n; i++)
            memcpy(got + i * es, buf + i * es * (size_t)stride, es);
        size_t bad = mp_find_bad(got, nb, seed, root, 0);
        if (bad != (size_t)-1) {
            mp_fail(ctx, __FILE__, __LINE__,
                    "broadcast of %zu B from root %d%s: byte %zu is %#x, expected %#x", nb, root,
                    stride > 1 ? ", strided" : "", bad, got[bad], mp_pat(seed, root, bad));
            rc = 1;
        }
        for (size_t i = 0; rc == 0 && stride > 1 && i < n; i++)
            for (size_t b = es; b < es * (size_t)stride; b++)
                if (buf[i * es * (size_t)stride + b] != 0x77) {
                    mp_fail(ctx, __FILE__, __LINE__, "broadcast: a byte between elements was "
                                                     "written");
                    rc = 1;
                    break;
                }
        *hash = mp_fnv(*hash, got, nb);
    }
    free(buf);
    free(got);
    return rc;
}

static int broadcast_sweep(mp_ctx *ctx)
{
    static const size_t sizes[] = {0, 1, 1000, 3u << 19};
    const DLDataType dts[] = {mp_dt(kDLUInt, 8), mp_dt(kDLFloat, 16), mp_dt(kDLComplex, 128)};
    uint64_t hash = 14695981039346656037ull;
    int fails = 0;
    uint32_t seed = 500;
    for (int root = 0; root < ctx->size; root++)
        for (int k = 0; k < 4; k++) {
            DLDataType dt = dts[(root + k) % 3];
            size_t n = sizes[k] / (k == 3 ? mp_dt_size(dt) : 1);
            MP_TALLY(one_broadcast(ctx, dt, root, n, 1, seed++, &hash), fails);
        }
    for (int root = 0; root < ctx->size; root++)
        MP_TALLY(one_broadcast(ctx, mp_dt(kDLInt, 32), root, 333, 2, seed++, &hash), fails);
    ctx->report[R_HASH] = (long)hash;
    return fails ? 1 : 0;
}

ParameterizedTestParameters(broadcast, sweep)
{
    static red_case cases[8];
    int k = 0;
    for (int prov = 0; prov < 2; prov++)
        for (int n = 1; n <= 4; n++)
            cases[k++] = (red_case){prov, n, 0};
    return cr_make_param_array(red_case, cases, (size_t)k);
}

ParameterizedTest(red_case *c, broadcast, sweep, .timeout = 300)
{
    cr_log_info("broadcast sweep, %s, N=%d", providers[c->prov], c->n);
    run_same_hash(c, broadcast_sweep, 240000);
}

/* ================================================================ agreement */

enum {
    MM_REDUCTION, /* allreduce(sum) vs allreduce(max) */
    MM_DTYPE,     /* float32 vs int32, same count */
    MM_COUNT,     /* 1000 vs 1001 elements */
    MM_ROOT,      /* broadcast(root 0) vs broadcast(root 1) */
    MM_OPERATION, /* allreduce vs broadcast, same dtype and count */
    MM_RS_COUNT,  /* reduce_scatter of 64 vs 65 elements per rank */
    MM_ALLGATHER, /* allreduce vs allgather */
    MM_COUNT_OF
};

static const char *const mm_names[] = {"reduction", "dtype",     "count",    "root",
                                       "operation", "rs_count", "allgather"};

/* The last rank is the odd one out; every rank must get MISMATCH, and for
 * the disagreements the agreement finds, a message with both calls. */
static int mismatch_body(mp_ctx *ctx)
{
    const red_case *c = ctx->arg;
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size, odd = me == n - 1;
    float buf[2048];
    memset(buf, 0, sizeof buf);
    int64_t shape[1] = {1000}, shape2[1] = {1001}, rs_in[1] = {64 * n}, rs_in2[1] = {65 * n};
    int64_t rs_out[1] = {64}, rs_out2[1] = {65};
    float rsbuf[65 * 4 + 65];
    DLTensor t, o;
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    dlcoll_reduction_t max = dlcoll_reduction(DLCOLL_RED_MAX);
    mp_tensor(&t, buf, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    /* A good operation first: the mismatch is not at the communicator's first. */
    MP_OK(ctx, p->allreduce(ctx->comm, &t, &t, &sum, NULL));
    dlcoll_status_t st;
    mp_step(ctx, "mismatch of the %s", mm_names[c->variant]);
    switch (c->variant) {
    case MM_REDUCTION: st = p->allreduce(ctx->comm, &t, &t, odd ? &max : &sum, NULL); break;
    case MM_DTYPE:
        if (odd)
            t.dtype = mp_dt(kDLInt, 32);
        st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
        break;
    case MM_COUNT:
        if (odd)
            t.shape = shape2;
        st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
        break;
    case MM_ROOT: st = p->broadcast(ctx->comm, &t, odd ? 1 % n : 0, NULL); break;
    case MM_OPERATION:
        st = odd ? p->broadcast(ctx->comm, &t, 0, NULL) : p->allreduce(ctx->comm, &t, &t, &sum, NULL);
        break;
    case MM_RS_COUNT:
        mp_tensor(&t, rsbuf, 0, mp_dt(kDLFloat, 32), 1, odd ? rs_in2 : rs_in, NULL);
        mp_tensor(&o, rsbuf + 65 * n, 0, mp_dt(kDLFloat, 32), 1, odd ? rs_out2 : rs_out, NULL);
        memset(rsbuf, 0, sizeof rsbuf);
        st = p->reduce_scatter(ctx->comm, &t, &o, &sum, NULL);
        break;
    default: {
        /* allgather of 256 bytes (the size of the agreement's own exchange) */
        int64_t gin[1] = {64}, gout[1] = {64 * n};
        static float g[64 * 5];
        DLTensor ti, to;
        mp_tensor(&ti, g, 0, mp_dt(kDLFloat, 32), 1, gin, NULL);
        mp_tensor(&to, g + 64, 0, mp_dt(kDLFloat, 32), 1, gout, NULL);
        st = odd ? p->allgather(ctx->comm, &ti, &to, NULL)
                 : p->allreduce(ctx->comm, &t, &t, &sum, NULL);
        break;
    }
    }
    const char *e = p->last_error(ctx->comm);
    ctx->report[R_STATUS] = st;
    fprintf(stderr, "[mp] rank %d: %s mismatch -> %s: %s\n", me, mm_names[c->variant],
            p->status_string(st), e ? e : "");
    MP_REQUIRE(ctx, st == DLCOLL_ERR_MISMATCH, "%s mismatch -> %s (%d), expected MISMATCH: %s",
               mm_names[c->variant], p->status_string(st), (int)st, e ? e : "(null)");
    static const char *const needles[][2] = {
        {"allreduce(sum, float32, 1000 elements)", "allreduce(max, float32, 1000 elements)"},
        {"allreduce(sum, float32, 1000 elements)", "allreduce(sum, int32, 1000 elements)"},
        {"allreduce(sum, float32, 1000 elements)", "allreduce(sum, float32, 1001 elements)"},
        {"broadcast(root 0, float32, 1000 elements)", "broadcast(root 1, float32, 1000 elements)"},
        {"allreduce(sum, float32, 1000 elements)", "broadcast(root 0, float32, 1000 elements)"},
        {"reduce_scatter(sum, float32, 64 elements per rank)",
         "reduce_scatter(sum, float32, 65 elements per rank)"},
        {"allgather", "allreduce"},
    };
    for (int k = 0; k < 2; k++)
        MP_EXPECT(ctx, e && strstr(e, needles[c->variant][k]),
                  "%s mismatch: the message does not say \"%s\": \"%s\"", mm_names[c->variant],
                  needles[c->variant][k], e ? e : "(null)");
    /* The communicator stays failed: the next operation fails at once. */
    st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
    MP_EXPECT(ctx, st != DLCOLL_SUCCESS, "an allreduce after the mismatch succeeded");
    return 0;
}

ParameterizedTestParameters(agreement, mismatch)
{
    static red_case cases[MM_COUNT_OF * 3];
    int k = 0;
    for (int v = 0; v < MM_COUNT_OF; v++) {
        cases[k++] = (red_case){0, 2, v};
        cases[k++] = (red_case){0, 3, v};
        cases[k++] = (red_case){1, 3, v};
    }
    return cr_make_param_array(red_case, cases, (size_t)k);
}

ParameterizedTest(red_case *c, agreement, mismatch, .timeout = 120)
{
    cr_log_info("%s mismatch, %s, N=%d", mm_names[c->variant], providers[c->prov], c->n);
    mp_opts o = opts_for(c, ERR_TIMEOUT_MS, 60000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, mismatch_body, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

/* ================================================================ local errors */

static int expect_local(mp_ctx *ctx, const char *what, dlcoll_status_t st, dlcoll_status_t want,
                        const char *needle)
{
    const char *e = ctx->p->last_error(ctx->comm);
    MP_REQUIRE(ctx, st == want, "%s -> %s, expected %s: %s", what, ctx->p->status_string(st),
               ctx->p->status_string(want), e ? e : "(null)");
    MP_REQUIRE(ctx, e && strstr(e, needle), "%s: the message lacks \"%s\": \"%s\"", what, needle,
               e ? e : "(null)");
    return 0;
}

#define LOCAL(what, call, want, needle)                                                           \
    do {                                                                                          \
        if (expect_local(ctx, what, (call), want, needle))                                        \
            return 1;                                                                             \
    } while (0)

/* Every rank makes the same bad calls (each refused locally, before any
 * communication), then a good allreduce and broadcast must still work. */
static int local_errors(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size;
    float f[64] = {0};
    double cplx[16] = {0};
    int64_t s8[1] = {8}, s9[1] = {9}, s4[1] = {4}, s8n[1] = {8 * n};
    DLTensor a, b, c16, bad;
    mp_tensor(&a, f, 0, mp_dt(kDLFloat, 32), 1, s8, NULL);
    mp_tensor(&b, f + 16, 0, mp_dt(kDLFloat, 32), 1, s8, NULL);
    mp_tensor(&c16, cplx, 0, mp_dt(kDLComplex, 128), 1, s4, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    dlcoll_reduction_t avg = dlcoll_reduction(DLCOLL_RED_AVG);
    dlcoll_reduction_t bogus = dlcoll_reduction((dlcoll_red_op_t)99);
    dlcoll_reduction_t small = sum;
    small.size = 4;
    LOCAL("allreduce with a NULL reduction", p->allreduce(ctx->comm, &a, &b, NULL, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "reduction is NULL");
    LOCAL("allreduce with op 99", p->allreduce(ctx->comm, &a, &b, &bogus, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "unknown op 99");
    LOCAL("allreduce with a short reduction struct", p->allreduce(ctx->comm, &a, &b, &small, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll_reduction_t");
    LOCAL("allreduce of complex128", p->allreduce(ctx->comm, &c16, &c16, &sum, NULL),
          DLCOLL_ERR_UNSUPPORTED, "complex");
    bad = a;
    bad.dtype = mp_dt(DLCOLL_DL_BOOL_CODE, 8);
    LOCAL("allreduce avg of bool", p->allreduce(ctx->comm, &bad, &bad, &avg, NULL),
          DLCOLL_ERR_UNSUPPORTED, "bool");
    bad = b;
    bad.dtype = mp_dt(kDLInt, 32);
    LOCAL("allreduce float32 into int32", p->allreduce(ctx->comm, &a, &bad, &sum, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "dtype");
    bad = b;
    bad.shape = s9;
    LOCAL("allreduce of 8 into 9 elements", p->allreduce(ctx->comm, &a, &bad, &sum, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "elements");
    bad = a;
    bad.data = f + 4; /* overlaps a, not the same view */
    LOCAL("allreduce into an overlapping output", p->allreduce(ctx->comm, &a, &bad, &sum, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "overlaps");
    LOCAL("broadcast from root -1", p->broadcast(ctx->comm, &a, -1, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "root -1");
    LOCAL("broadcast from root N", p->broadcast(ctx->comm, &a, n, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "is not a rank");
    DLTensor rin;
    mp_tensor(&rin, f, 0, mp_dt(kDLFloat, 32), 1, s9, NULL);
    LOCAL("reduce_scatter of 9 into N x 8", p->reduce_scatter(ctx->comm, &rin, &b, &sum, NULL),
          DLCOLL_ERR_INVALID_ARGUMENT, "input has shape");
    const DLTensor *list[1] = {&a};
    if (n != 1)
        LOCAL("reduce_scatter_list of 1 input", p->reduce_scatter_list(ctx->comm, list, 1, &b,
                                                                        &sum, NULL),
              DLCOLL_ERR_INVALID_ARGUMENT, "n_inputs");
    (void)s8n;
    /* Still usable. */
    for (int i = 0; i < 8; i++)
        f[i] = (float)(ctx->rank + i);
    MP_OK(ctx, p->allreduce(ctx->comm, &a, &b, &sum, NULL));
    for (int i = 0; i < 8; i++)
        MP_REQUIRE(ctx, f[16 + i] == (float)(n * (n - 1) / 2 + n * i),
                   "allreduce after the local errors: element %d is %g", i, f[16 + i]);
    MP_OK(ctx, p->broadcast(ctx->comm, &b, n - 1, NULL));
    return 0;
}

Test(local, errors_leave_the_communicator_usable, .timeout = 120)
{
    mp_run(3, "shm", local_errors, NULL, 60);
    mp_run(1, "tcp", local_errors, NULL, 60);
}

/* ================================================================ a rank dies */

static void *kill_me_soon(void *unused)
{
    (void)unused;
    usleep(20000);
    raise(SIGKILL);
    return NULL;
}

static int rank_dies(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size, victim = n - 1;
    size_t count = 4u << 20; /* 16 MiB of float32 */
    float *buf = calloc(count, sizeof *buf);
    MP_REQUIRE(ctx, buf, "out of memory");
    int64_t shape[1] = {(int64_t)count};
    DLTensor t;
    mp_tensor(&t, buf, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    MP_OK(ctx, p->barrier(ctx->comm, NULL));
    if (me == victim) {
        pthread_t th;
        MP_REQUIRE(ctx, pthread_create(&th, NULL, kill_me_soon, NULL) == 0, "pthread_create");
    }
    dlcoll_status_t st = DLCOLL_SUCCESS;
    const char *what = "allreduce";
    for (int rep = 0; rep < 50 && st == DLCOLL_SUCCESS; rep++) {
        mp_step(ctx, "allreduce %d of 16 MiB, rank %d dying", rep, victim);
        st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
    }
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: rank %d killed: %s -> %s: %s\n", me, victim, what,
            p->status_string(st), e ? e : "");
    free(buf);
    if (me == victim) {
        usleep(10 * 1000 * 1000);
        mp_fail(ctx, __FILE__, __LINE__, "the victim is still alive");
        return 1;
    }
    MP_EXPECT(ctx, st == DLCOLL_ERR_PEER_FAILURE || st == DLCOLL_ERR_TIMEOUT,
              "allreduce with rank %d killed -> %s (%d), expected PEER_FAILURE or TIMEOUT: %s",
              victim, p->status_string(st), (int)st, e ? e : "(null)");
    char rank_txt[32];
    snprintf(rank_txt, sizeof rank_txt, "rank %d", victim);
    MP_EXPECT(ctx, e && strstr(e, rank_txt), "the error does not name %s: \"%s\"", rank_txt,
              e ? e : "(null)");
    return 0;
}

ParameterizedTestParameters(killed, mid_allreduce)
{
    static red_case cases[] = {{0, 3, 0}, {1, 3, 0}, {0, 2, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, killed, mid_allreduce, .timeout = 120)
{
    cr_log_info("a rank killed in allreduce, %s, N=%d", providers[c->prov], c->n);
    mp_opts o = opts_for(c, ERR_TIMEOUT_MS, 60000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, rank_dies, c, res);
    char text[16384];
    mp_describe(res, text, sizeof text);
    cr_assert(!res->deadline_hit, "survivors did not finish within the deadline:\n%s", text);
    for (int i = 0; i < c->n; i++) {
        if (i == c->n - 1)
            cr_assert(res->r[i].signaled && res->r[i].signo == SIGKILL,
                      "rank %d should have died of SIGKILL:\n%s", i, text);
        else
            cr_assert(mp_rank_ok(res, i), "survivor rank %d failed:\n%s", i, text);
    }
    mp_result_free(res);
}

/* ================================================================ in flight */

/* An allreduce, a reduce_scatter_list, a broadcast and an allgather issued
 * asynchronously on the world, plus an allreduce on a group of the ranks in
 * reverse order, all in flight at once and waited for in reverse order:
 * every result right. */
static int in_flight(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, me = ctx->rank;
    enum { CNT = 3000 };
    static float ar[CNT], rs_in[4][CNT / 4 * 4], rs_out[CNT], bc[CNT], ag_in[8], ag_out[8 * 4],
        gr[CNT];
    for (int i = 0; i < CNT; i++) {
        ar[i] = (float)(me + 1) * (float)(i % 17);
        gr[i] = (float)(me * 1000 + i % 13);
        bc[i] = me == n - 1 ? (float)i * 0.5f : -1.0f;
        rs_out[i] = -7;
    }
    size_t cnt = CNT / 4;
    for (int b = 0; b < n; b++)
        for (size_t i = 0; i < cnt; i++)
            rs_in[b][i] = (float)(b * 10 + me + 1) + (float)i;
    for (int i = 0; i < 8; i++)
        ag_in[i] = (float)(me * 8 + i);
    int64_t s_ar[1] = {CNT}, s_rs[1] = {(int64_t)cnt}, s_ag[1] = {8}, s_ago[1] = {8 * n};
    DLTensor t_ar, t_rs[4], t_rso, t_bc, t_agi, t_ago, t_gr;
    const DLTensor *rs_list[4];
    mp_tensor(&t_ar, ar, 0, mp_dt(kDLFloat, 32), 1, s_ar, NULL);
    mp_tensor(&t_gr, gr, 0, mp_dt(kDLFloat, 32), 1, s_ar, NULL);
    for (int b = 0; b < n; b++) {
        mp_tensor(&t_rs[b], rs_in[b], 0, mp_dt(kDLFloat, 32), 1, s_rs, NULL);
        rs_list[b] = &t_rs[b];
    }
    mp_tensor(&t_rso, rs_out, 0, mp_dt(kDLFloat, 32), 1, s_rs, NULL);
    mp_tensor(&t_bc, bc, 0, mp_dt(kDLFloat, 32), 1, s_ar, NULL);
    mp_tensor(&t_agi, ag_in, 0, mp_dt(kDLFloat, 32), 1, s_ag, NULL);
    mp_tensor(&t_ago, ag_out, 0, mp_dt(kDLFloat, 32), 1, s_ago, NULL);
    int rev[4];
    for (int i = 0; i < n; i++)
        rev[i] = n - 1 - i;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, p->group_create(ctx->comm, rev, n, "reversed", &g));
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    dlcoll_reduction_t mx = dlcoll_reduction(DLCOLL_RED_MAX);
    dlcoll_request_t req[5] = {NULL};
    mp_step(ctx, "issuing 5 operations");
    MP_OK(ctx, p->allreduce(ctx->comm, &t_ar, &t_ar, &sum, &req[0]));
    MP_OK_ON(ctx, g, p->allreduce(g, &t_gr, &t_gr, &mx, &req[1]));
    MP_OK(ctx, p->reduce_scatter_list(ctx->comm, rs_list, n, &t_rso, &sum, &req[2]));
    MP_OK(ctx, p->broadcast(ctx->comm, &t_bc, n - 1, &req[3]));
    MP_OK(ctx, p->allgather(ctx->comm, &t_agi, &t_ago, &req[4]));
    for (int k = 4; k >= 0; k--) {
        mp_step(ctx, "waiting for operation %d", k);
        MP_WAIT_OK(ctx, req[k]);
    }
    MP_OK_ON(ctx, g, p->group_destroy(g));
    float tri = (float)(n * (n + 1) / 2);
    for (int i = 0; i < CNT; i++) {
        MP_REQUIRE(ctx, ar[i] == tri * (float)(i % 17), "allreduce element %d is %g", i, ar[i]);
        MP_REQUIRE(ctx, gr[i] == (float)((n - 1) * 1000 + i % 13), "group allreduce(max) "
                   "element %d is %g", i, gr[i]);
        MP_REQUIRE(ctx, bc[i] == (float)i * 0.5f, "broadcast element %d is %g", i, bc[i]);
    }
    for (size_t i = 0; i < cnt; i++) {
        float want = (float)n * ((float)(me * 10) + (float)i) + tri;
        MP_REQUIRE(ctx, rs_out[i] == want, "reduce_scatter_list element %zu is %g, expected %g",
                   i, rs_out[i], want);
    }
    for (int i = 0; i < 8 * n; i++)
        MP_REQUIRE(ctx, ag_out[i] == (float)i, "allgather element %d is %g", i, ag_out[i]);
    return 0;
}

ParameterizedTestParameters(async, in_flight)
{
    static red_case cases[] = {{0, 1, 0}, {0, 2, 0}, {0, 4, 0}, {1, 3, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, async, in_flight, .timeout = 120)
{
    cr_log_info("in flight, %s, N=%d", providers[c->prov], c->n);
    mp_opts o = opts_for(c, TIMEOUT_MS, 60000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, in_flight, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

/* ================================================================ a rank never comes */

/* The last rank never calls the allreduce (it waits, then finalizes): the
 * others fail with TIMEOUT within their timeout, naming it. */
static int never_comes(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (me == n - 1) {
        mp_step(ctx, "staying away from the allreduce");
        MP_REQUIRE(ctx, mp_flag_wait(ctx, 0, n - 1, 30000) == 0, "the others never finished");
        return 0;
    }
    float buf[4096] = {0};
    int64_t shape[1] = {4096};
    DLTensor t;
    mp_tensor(&t, buf, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    mp_step(ctx, "allreduce without rank %d", n - 1);
    double t0 = mp_now_ms();
    dlcoll_status_t st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
    double dt = mp_now_ms() - t0;
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] rank %d: allreduce without rank %d -> %s after %.0f ms: %s\n", me,
            n - 1, p->status_string(st), dt, e ? e : "");
    mp_flag_add(ctx, 0, 1);
    MP_REQUIRE(ctx, st == DLCOLL_ERR_TIMEOUT, "allreduce without rank %d -> %s, expected TIMEOUT: "
               "%s", n - 1, p->status_string(st), e ? e : "(null)");
    char who[32];
    snprintf(who, sizeof who, "rank %d", n - 1);
    MP_REQUIRE(ctx, e && strstr(e, who), "the timeout does not name %s: \"%s\"", who,
               e ? e : "(null)");
    return 0;
}

ParameterizedTestParameters(timeout, rank_never_comes)
{
    static red_case cases[] = {{0, 3, 0}, {1, 2, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, timeout, rank_never_comes, .timeout = 120)
{
    cr_log_info("a rank never comes, %s, N=%d", providers[c->prov], c->n);
    mp_opts o = opts_for(c, 1500, 60000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, never_comes, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

/* Two disjoint groups (even and odd ranks) each run an allreduce while the
 * world runs a broadcast, all in flight at once: the groups' operations do
 * not take each other's messages. */
static int two_groups(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    enum { CNT = 5000 };
    static float g[CNT], w[CNT];
    for (int i = 0; i < CNT; i++) {
        g[i] = (float)(me + 1) * (float)(i % 7);
        w[i] = me == 0 ? (float)(i % 101) : -1.0f;
    }
    dlcoll_comm_t grp = NULL;
    MP_OK(ctx, p->group_split(ctx->comm, me % 2, me, &grp));
    int64_t shape[1] = {CNT};
    DLTensor tg, tw;
    mp_tensor(&tg, g, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    mp_tensor(&tw, w, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    dlcoll_request_t rg = NULL, rw = NULL;
    MP_OK_ON(ctx, grp, p->allreduce(grp, &tg, &tg, &sum, &rg));
    MP_OK(ctx, p->broadcast(ctx->comm, &tw, 0, &rw));
    MP_WAIT_OK(ctx, rw);
    MP_WAIT_OK(ctx, rg);
    MP_OK_ON(ctx, grp, p->group_destroy(grp));
    float members = 0; /* sum of (r + 1) over my group's ranks */
    for (int r = me % 2; r < n; r += 2)
        members += (float)(r + 1);
    for (int i = 0; i < CNT; i++) {
        MP_REQUIRE(ctx, g[i] == members * (float)(i % 7), "group allreduce element %d is %g", i,
                   g[i]);
        MP_REQUIRE(ctx, w[i] == (float)(i % 101), "world broadcast element %d is %g", i, w[i]);
    }
    return 0;
}

ParameterizedTestParameters(async, two_groups)
{
    static red_case cases[] = {{0, 4, 0}, {1, 4, 0}, {0, 3, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, async, two_groups, .timeout = 120)
{
    cr_log_info("two groups, %s, N=%d", providers[c->prov], c->n);
    mp_opts o = opts_for(c, TIMEOUT_MS, 60000);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, two_groups, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

/* ================================================================ the paths */

/* The same calls on the inline / gathered paths (small contributions, the
 * default) and on the ring (DLCOLL_GATHERED_MAX=0) give the same bytes on
 * every rank: each rank's hash of its results is compared between the two
 * runs (and checked against the reference in each). */
static int paths_body(mp_ctx *ctx)
{
    static const size_t sizes[] = {0, 1, 6, 54, 55, 1031, 16384, 16385};
    uint64_t hash = 14695981039346656037ull;
    int fails = 0;
    uint32_t seed = 900;
    const DLDataType f32 = mp_dt(kDLFloat, 32);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        MP_TALLY(one_allreduce(ctx, f32, DLCOLL_RED_SUM, seed++, sizes[k], (int)k % 2, 1, &hash),
                 fails);
    MP_TALLY(one_allreduce(ctx, f32, DLCOLL_RED_PREMUL_SUM, seed++, 1031, 0, 1, &hash), fails);
    MP_TALLY(one_allreduce(ctx, f32, DLCOLL_RED_AVG, seed++, 40, 1, 2, &hash), fails);
    MP_TALLY(one_allreduce(ctx, mp_dt(kDLBfloat, 16), DLCOLL_RED_SUM, seed++, 1031, 1, 1, &hash),
             fails);
    MP_TALLY(one_allreduce(ctx, mp_dt(kDLFloat, 16), DLCOLL_RED_AVG, seed++, 100, 0, 1, &hash),
             fails);
    MP_TALLY(one_allreduce(ctx, mp_dt(kDLFloat, 64), DLCOLL_RED_PROD, seed++, 300, 0, 1, &hash),
             fails);
    MP_TALLY(one_allreduce(ctx, mp_dt(kDLInt, 32), DLCOLL_RED_MAX, seed++, 20, 0, 1, &hash),
             fails);
    MP_TALLY(one_reduce_scatter(ctx, f32, DLCOLL_RED_SUM, seed++, 10, 0, 0, 0, &hash), fails);
    MP_TALLY(one_reduce_scatter(ctx, f32, DLCOLL_RED_PREMUL_SUM, seed++, 600, 1, 0, 0, &hash),
             fails);
    MP_TALLY(one_reduce_scatter(ctx, mp_dt(kDLBfloat, 16), DLCOLL_RED_AVG, seed++, 3000, 0, 1, 0,
                                &hash),
             fails);
    MP_TALLY(one_broadcast(ctx, f32, ctx->size - 1, 50, 1, seed++, &hash), fails);
    MP_TALLY(one_broadcast(ctx, f32, 0, 5000, 2, seed++, &hash), fails);
    ctx->report[R_HASH] = (long)hash;
    return fails ? 1 : 0;
}

static void run_paths(const red_case *c, const char *env, long *hashes)
{
    mp_opts o = opts_for(c, TIMEOUT_MS, 120000);
    o.child_setup = env ? mp_setup_env : NULL;
    o.setup_arg = (void *)env;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, paths_body, (void *)c, res);
    mp_assert_all_ok(res);
    for (int i = 0; i < c->n; i++)
        hashes[i] = res->r[i].report[R_HASH];
    mp_result_free(res);
}

ParameterizedTestParameters(paths, same_bits_as_ring)
{
    static red_case cases[] = {{0, 1, 0}, {0, 2, 0}, {0, 3, 0}, {0, 4, 0}, {1, 3, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, paths, same_bits_as_ring, .timeout = 300)
{
    cr_log_info("gathered vs ring, %s, N=%d", providers[c->prov], c->n);
    long dflt[4], ring[4];
    run_paths(c, NULL, dflt);
    run_paths(c, "DLCOLL_GATHERED_MAX=0", ring);
    for (int i = 0; i < c->n; i++)
        cr_assert_eq(dflt[i], ring[i],
                     "rank %d: the results of the gathered paths differ from the ring's "
                     "(hash %lx vs %lx)",
                     i, (unsigned long)dflt[i], (unsigned long)ring[i]);
}

/* One rank with another DLCOLL_GATHERED_MAX: MISMATCH on every rank, saying
 * so, never a hang. */
static int odd_gathered_max(int rank, void *setup_arg, char *why, size_t cap)
{
    const red_case *c = setup_arg;
    if (rank == c->n - 1 && setenv("DLCOLL_GATHERED_MAX", "0", 1) != 0) {
        snprintf(why, cap, "setenv failed");
        return 1;
    }
    return 0;
}

static int path_mismatch_body(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    float buf[20];
    memset(buf, 0, sizeof buf);
    int64_t shape[1] = {20}; /* 80 bytes: inline on every communicator, by default */
    DLTensor t;
    mp_tensor(&t, buf, 0, mp_dt(kDLFloat, 32), 1, shape, NULL);
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    dlcoll_status_t st = p->allreduce(ctx->comm, &t, &t, &sum, NULL);
    const char *e = p->last_error(ctx->comm);
    MP_REQUIRE(ctx, st == DLCOLL_ERR_MISMATCH, "-> %s, expected MISMATCH: %s",
               p->status_string(st), e ? e : "(null)");
    MP_EXPECT(ctx, e && strstr(e, "DLCOLL_GATHERED_MAX"), "the message does not name the "
              "setting: \"%s\"", e ? e : "(null)");
    return 0;
}

ParameterizedTestParameters(paths, setting_mismatch)
{
    static red_case cases[] = {{0, 2, 0}, {0, 3, 0}, {1, 3, 0}};
    return cr_make_param_array(red_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(red_case *c, paths, setting_mismatch, .timeout = 120)
{
    mp_opts o = opts_for(c, ERR_TIMEOUT_MS, 60000);
    o.child_setup = odd_gathered_max;
    o.setup_arg = (void *)c;
    mp_result *res = mp_result_new();
    mp_run_opts(&o, path_mismatch_body, c, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}
