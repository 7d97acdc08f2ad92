/*
 * test_allgather_list.c -- allgather_list into N separate, possibly strided,
 * output tensors.
 *
 * Layouts of the outputs: contiguous separate buffers (with a byte_offset),
 * every other element of a bigger buffer, a transposed view (strides (1, ld))
 * into a bigger matrix, columns of one shared matrix, N transposed blocks of one
 * shared buffer, and a mix.  Checks: every logical byte of outputs[i] holds rank
 * i's pattern, every byte of the storage outside the views and the guards are
 * untouched, the (possibly strided) input is unchanged, and the list result is
 * byte-identical to a single-output allgather of the same input.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_gather.h"

#define GUARD 64

typedef enum layout {
    L_CONTIG,           /* own buffer, byte_offset i*es */
    L_EVERY_OTHER,      /* own buffer twice as big, strides doubled */
    L_TRANSPOSED,       /* 2-D (R,C): own (C, R+3) matrix, strides (1, R+3) */
    L_COLUMN,           /* 1-D (R): column i of one shared (R, N+2) matrix */
    L_TRANSPOSED_SHARED,/* 2-D (R,C): block i of one shared (N, C, R+3) buffer */
    L_MIXED,            /* output i: contig / every other / transposed by i % 3 */
    L_PADDED_ROWS       /* 2-D (R,C): own (R, C+2) matrix, strides (C+2, 1): R runs */
} layout;

static const char *layout_name[] = {"contiguous", "every-other", "transposed", "column",
                                    "transposed-shared", "mixed", "padded-rows"};

/* The outputs of one allgather_list and the storage behind them. */
typedef struct lst {
    int n;
    DLDataType dt;
    size_t es;
    int ndim;
    int64_t shape[4];
    int nstore;
    mp_buf store[MP_MAX_RANKS];
    DLTensor t[MP_MAX_RANKS];
    DLTensor *tp[MP_MAX_RANKS];
    int64_t str[MP_MAX_RANKS][4];
    int store_of[MP_MAX_RANKS];
} lst;

static void compact_strides(int ndim, const int64_t *shape, int64_t *st, int64_t mult)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = s * mult;
        s *= shape[d];
    }
}

/* Build output i with layout lay (not L_MIXED); returns 0 or -1 (no memory). */
static int build_one(lst *L, int i, layout lay)
{
    size_t numel = mp_numel(L->ndim, L->shape), es = L->es;
    DLTensor *t = &L->t[i];
    int64_t *st = L->str[i];
    L->tp[i] = t;
    switch (lay) {
    case L_CONTIG: {
        int s = L->nstore++;
        if (mp_buf_alloc(&L->store[s], numel * es + (size_t)i * es, GUARD))
            return -1;
        L->store_of[i] = s;
        mp_tensor(t, L->store[s].data, (size_t)i * es, L->dt, L->ndim, L->shape, NULL);
        return 0;
    }
    case L_EVERY_OTHER: {
        int s = L->nstore++;
        if (mp_buf_alloc(&L->store[s], 2 * numel * es, GUARD))
            return -1;
        L->store_of[i] = s;
        compact_strides(L->ndim, L->shape, st, 2);
        mp_tensor(t, L->store[s].data, 0, L->dt, L->ndim, L->shape, st);
        return 0;
    }
    case L_TRANSPOSED: {
        int64_t R = L->shape[0], C = L->shape[1], ld = R + 3;
        int s = L->nstore++;
        if (mp_buf_alloc(&L->store[s], (size_t)(C * ld) * es, GUARD))
            return -1;
        L->store_of[i] = s;
        st[0] = 1;
        st[1] = ld;
        mp_tensor(t, L->store[s].data, 0, L->dt, 2, L->shape, st);
        return 0;
    }
    case L_COLUMN: {
        int64_t R = L->shape[0], cols = L->n + 2;
        if (i == 0) {
            if (mp_buf_alloc(&L->store[L->nstore++], (size_t)(R * cols) * es, GUARD))
                return -1;
        }
        L->store_of[i] = 0;
        st[0] = cols;
        mp_tensor(t, L->store[0].data, (size_t)i * es, L->dt, 1, L->shape, st);
        return 0;
    }
    case L_TRANSPOSED_SHARED: {
        int64_t R = L->shape[0], C = L->shape[1], ld = R + 3;
        if (i == 0) {
            if (mp_buf_alloc(&L->store[L->nstore++], (size_t)(L->n * C * ld) * es, GUARD))
                return -1;
        }
        L->store_of[i] = 0;
        st[0] = 1;
        st[1] = ld;
        mp_tensor(t, L->store[0].data, (size_t)(i * C * ld) * es, L->dt, 2, L->shape, st);
        return 0;
    }
    case L_PADDED_ROWS: {
        int64_t R = L->shape[0], C = L->shape[1], ld = C + 2;
        int s = L->nstore++;
        if (mp_buf_alloc(&L->store[s], (size_t)(R * ld) * es, GUARD))
            return -1;
        L->store_of[i] = s;
        st[0] = ld;
        st[1] = 1;
        mp_tensor(t, L->store[s].data, 0, L->dt, 2, L->shape, st);
        return 0;
    }
    default:
        return -1;
    }
}

static int build(lst *L, int n, DLDataType dt, int ndim, const int64_t *shape, layout lay)
{
    memset(L, 0, sizeof *L);
    L->n = n;
    L->dt = dt;
    L->es = mp_dt_size(dt);
    L->ndim = ndim;
    memcpy(L->shape, shape, (size_t)ndim * sizeof *shape);
    for (int i = 0; i < n; i++) {
        layout l = lay;
        if (lay == L_MIXED)
            l = (layout)(i % 3);
        if (build_one(L, i, l) != 0)
            return -1;
    }
    return 0;
}

static void destroy(lst *L)
{
    for (int s = 0; s < L->nstore; s++)
        mp_buf_free(&L->store[s]);
}

/* Check the outputs hold ranks' patterns and nothing else in their storage moved. */
static int verify(mp_ctx *ctx, lst *L, uint32_t seed, const char *label)
{
    int bad = 0;
    char why[256];
    for (int i = 0; i < L->n; i++)
        if (!mp_tensor_matches(&L->t[i], seed, i, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: outputs[%d] (rank %d's data): %s", label, i, i,
                    why);
            bad = 1;
        }
    size_t numel = mp_numel(L->ndim, L->shape);
    for (int s = 0; s < L->nstore; s++) {
        mp_buf *b = &L->store[s];
        uint8_t *covered = calloc(b->size + 1, 1);
        if (!covered) {
            mp_fail(ctx, __FILE__, __LINE__, "out of memory");
            return 1;
        }
        for (int i = 0; i < L->n; i++) {
            if (L->store_of[i] != s)
                continue;
            for (size_t e = 0; e < numel; e++) {
                size_t off = (size_t)(mp_elem_ptr(&L->t[i], e) - b->data);
                memset(covered + off, 1, L->es);
            }
        }
        for (size_t k = 0; k < b->size; k++)
            if (!covered[k] && b->data[k] != mp_pat(MP_SEED_UNTOUCHED, -1, k)) {
                mp_fail(ctx, __FILE__, __LINE__,
                        "%s: storage %d byte %zu, outside every output view, was overwritten",
                        label, s, k);
                bad = 1;
                break;
            }
        free(covered);
        if (!mp_buf_guards_ok(b, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: storage %d: %s", label, s, why);
            bad = 1;
        }
    }
    return bad;
}

/*
 * One case: allgather_list of this rank's pattern (from a contiguous or an
 * every-other-element input) into outputs of layout lay; then the same input
 * through allgather into a single output, compared byte for byte.
 * Returns 0 ok, 1 wrong data, 2 a call failed.
 */
enum { IN_CONTIG = 0, IN_EVERY_OTHER = 1, IN_PADDED_ROWS = 2 };

static int list_case(mp_ctx *ctx, DLDataType dt, int ndim, const int64_t *shape, layout lay,
                     int strided_input, uint32_t seed)
{
    char label[200], why[256];
    int n = ctx->size, me = ctx->rank, bad = 0;
    size_t es = mp_dt_size(dt), numel = mp_numel(ndim, shape);
    snprintf(label, sizeof label, "allgather_list seed %u %s numel %zu ndim %d %s outputs%s", seed,
             mp_dtype_name(dt), numel, ndim, layout_name[lay],
             strided_input == IN_EVERY_OTHER ? ", every-other-element input"
             : strided_input == IN_PADDED_ROWS ? ", padded-rows input" : "");
    mp_step(ctx, "%s", label);

    /* Input. */
    mp_buf in;
    int64_t in_str[4];
    DLTensor tin;
    size_t in_bytes = numel * es;
    if (strided_input == IN_EVERY_OTHER) {
        compact_strides(ndim, shape, in_str, 2);
        in_bytes = 2 * numel * es;
    } else if (strided_input == IN_PADDED_ROWS) {
        in_str[0] = shape[1] + 2; /* 2-D only */
        in_str[1] = 1;
        in_bytes = (size_t)(shape[0] * (shape[1] + 2)) * es;
    }
    if (mp_buf_alloc(&in, in_bytes, GUARD) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "out of memory");
        return 2;
    }
    mp_tensor(&tin, in.data, 0, dt, ndim, (int64_t *)shape, strided_input ? in_str : NULL);
    mp_tensor_fill(&tin, seed, me);

    lst L;
    if (build(&L, n, dt, ndim, shape, lay) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: out of memory", label);
        destroy(&L);
        mp_buf_free(&in);
        return 2;
    }
    dlcoll_status_t st = ctx->p->allgather_list(ctx->comm, &tin, L.tp, n, NULL);
    if (st != DLCOLL_SUCCESS) {
        const char *e = ctx->p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s (%d): %s", label, ctx->p->status_string(st),
                (int)st, e ? e : "(null)");
        destroy(&L);
        mp_buf_free(&in);
        return 2;
    }
    bad |= verify(ctx, &L, seed, label);
    if (!mp_tensor_matches(&tin, seed, me, why, sizeof why)) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: the input changed: %s", label, why);
        bad = 1;
    }

    /* Same input through the single-output allgather: identical bytes. */
    mp_buf one;
    int64_t oshape[5];
    DLTensor tone;
    oshape[0] = n;
    memcpy(oshape + 1, shape, (size_t)ndim * sizeof *shape);
    if (mp_buf_alloc(&one, (size_t)n * numel * es, GUARD) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "out of memory");
        destroy(&L);
        mp_buf_free(&in);
        return 2;
    }
    mp_tensor(&tone, one.data, 0, dt, ndim + 1, oshape, NULL);
    mp_step(ctx, "%s: single-output allgather of the same input", label);
    st = ctx->p->allgather(ctx->comm, &tin, &tone, NULL);
    if (st != DLCOLL_SUCCESS) {
        const char *e = ctx->p->last_error(ctx->comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s: the single-output allgather -> %s (%d): %s", label,
                ctx->p->status_string(st), (int)st, e ? e : "(null)");
        bad = 2;
    } else {
        for (int i = 0; i < n && !bad; i++)
            for (size_t e = 0; e < numel; e++) {
                const uint8_t *a = mp_elem_ptr(L.tp[i], e);
                const uint8_t *b = one.data + ((size_t)i * numel + e) * es;
                if (memcmp(a, b, es) != 0) {
                    mp_fail(ctx, __FILE__, __LINE__,
                            "%s: outputs[%d] element %zu differs from the single output's", label,
                            i, e);
                    bad = 1;
                    break;
                }
            }
        for (int i = 0; i < n; i++) {
            size_t k = mp_find_bad(one.data + (size_t)i * numel * es, numel * es, seed, i, 0);
            if (k != (size_t)-1) {
                mp_fail(ctx, __FILE__, __LINE__,
                        "%s: single output block %d byte %zu is wrong", label, i, k);
                bad = 1;
            }
        }
        if (!mp_buf_guards_ok(&one, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: single output: %s", label, why);
            bad = 1;
        }
    }
    mp_buf_free(&one);
    destroy(&L);
    mp_buf_free(&in);
    return bad;
}

#define CASE(...) MP_TALLY(list_case(ctx, __VA_ARGS__), fails)

static int all_lists(mp_ctx *ctx)
{
    int fails = 0;
    uint32_t seed = 500;
    const int64_t s73[] = {7, 3}, s9[] = {9}, s53[] = {5, 3}, s0[] = {0}, s1[] = {1};
    for (int d = 0; d < mp_n_dtypes; d++) {
        DLDataType dt = mp_dtypes[d].dt;
        CASE(dt, 2, s73, L_CONTIG, 0, seed++);
        CASE(dt, 2, s73, L_EVERY_OTHER, 0, seed++);
        CASE(dt, 2, s53, L_TRANSPOSED, 0, seed++);
        CASE(dt, 2, s53, L_TRANSPOSED_SHARED, 0, seed++);
        CASE(dt, 1, s9, L_COLUMN, 0, seed++);
        CASE(dt, 2, s73, L_MIXED, 0, seed++);
        CASE(dt, 2, s73, L_CONTIG, 1, seed++);
        CASE(dt, 2, s53, L_TRANSPOSED, 1, seed++);
    }
    /* Few runs per block (1..5): direct multi-entry iovs where the provider's
     * iov limit allows, a bounce buffer beyond it. */
    const int64_t s15[] = {1, 5}, s25[] = {2, 5}, s35[] = {3, 5}, s45[] = {4, 5}, s55[] = {5, 5};
    const int64_t *few[] = {s15, s25, s35, s45, s55};
    for (int k = 0; k < 5; k++) {
        CASE(mp_dt(kDLFloat, 32), 2, few[k], L_PADDED_ROWS, IN_CONTIG, seed++);
        CASE(mp_dt(kDLInt, 8), 2, few[k], L_CONTIG, IN_PADDED_ROWS, seed++);
        CASE(mp_dt(kDLComplex, 128), 2, few[k], L_PADDED_ROWS, IN_PADDED_ROWS, seed++);
    }
    const int64_t s3big[] = {3, 100000};
    CASE(mp_dt(kDLFloat, 64), 2, s3big, L_PADDED_ROWS, IN_PADDED_ROWS, seed++); /* 3 runs of 800 KB */
    CASE(mp_dt(kDLFloat, 32), 0, s1, L_CONTIG, 0, seed++);   /* 0-dim scalars */
    CASE(mp_dt(kDLInt, 64), 1, s1, L_COLUMN, 0, seed++);
    CASE(mp_dt(kDLUInt, 8), 1, s0, L_CONTIG, 0, seed++);     /* zero elements */
    CASE(mp_dt(kDLUInt, 8), 1, s0, L_EVERY_OTHER, 0, seed++);

    /* Bigger: many runs per output, and a few MiB contiguous. */
    const int64_t s64k[] = {65536}, s512x256[] = {512, 256}, s4m[] = {4 << 20};
    CASE(mp_dt(kDLFloat, 32), 1, s64k, L_EVERY_OTHER, 0, seed++);
    CASE(mp_dt(kDLFloat, 32), 1, s64k, L_COLUMN, 1, seed++);
    CASE(mp_dt(kDLFloat, 64), 2, s512x256, L_TRANSPOSED, 0, seed++);
    CASE(mp_dt(kDLUInt, 8), 1, s4m, L_CONTIG, 0, seed++);
    return fails ? 1 : 0;
}

TestSuite(allgather_list, .timeout = 400);

Test(allgather_list, shm_n1) { mp_run(1, "shm", all_lists, NULL, 150); }
Test(allgather_list, shm_n2) { mp_run(2, "shm", all_lists, NULL, 150); }
Test(allgather_list, shm_n3) { mp_run(3, "shm", all_lists, NULL, 150); }
Test(allgather_list, shm_n4) { mp_run(4, "shm", all_lists, NULL, 150); }
Test(allgather_list, tcp_n2) { mp_run(2, "tcp", all_lists, NULL, 150); }
Test(allgather_list, tcp_n3) { mp_run(3, "tcp", all_lists, NULL, 150); }
Test(allgather_list, tcp_n4) { mp_run(4, "tcp", all_lists, NULL, 150); }
/* Other paths on one host (see test_allgather.c). */
Test(allgather_list, shm_ring_n3) { mp_run_env(3, "shm", "DLCOLL_ALGO=ring", all_lists, NULL, 150); }
Test(allgather_list, shm_chunked_n3)
{
    mp_run_env(3, "shm", "DLCOLL_SHM_SLOT_BYTES=4096", all_lists, NULL, 150);
}
Test(allgather_list, shm_cma_n3) { mp_run_env(3, "shm", "DLCOLL_SHM_CMA_MIN=1", all_lists, NULL, 150); }
Test(allgather_list, shm_stream_n2)
{
    mp_run_env(2, "shm", "DLCOLL_STREAM_MIN_BYTES=1 DLCOLL_SHM_CMA_MIN=0", all_lists, NULL, 150);
}
