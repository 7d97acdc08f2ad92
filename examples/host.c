/*
 * host.c -- dlcoll-example-host: a custom C runtime that uses a dlcoll plugin.
 *
 * It knows nothing of libfabric, hwloc or the plugin's internals: it loads the
 * plugin with dlopen() through abi/dlcoll_loader.h and calls the function
 * pointers of dlcoll_plugin_v1_t.  Start it with the launcher:
 *
 *     build/bin/dlcoll-run -n 4 -- build/bin/dlcoll-example-host
 *
 * Every rank fills its input with a pattern derived from (rank, element index),
 * runs a series of allgathers over different dtypes and layouts, and checks
 * every byte it receives against the pattern of the rank that sent it.  At the
 * end the ranks gather each other's verdicts; rank 0 prints a summary table.
 * Any failure makes every rank exit 1 with the plugin's error message.
 *
 * Plugin path: $DLCOLL_PLUGIN, else DLCOLL_DEFAULT_PLUGIN (the build tree's
 * lib/libdlcoll.so, compiled in by CMake) when that file exists, else
 * "libdlcoll.so" from the dynamic linker's search path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"

#ifndef DLCOLL_DEFAULT_PLUGIN
#define DLCOLL_DEFAULT_PLUGIN "libdlcoll.so"
#endif

/* ------------------------------------------------------------------ state */

static dlcoll_loader_t loader;
static const dlcoll_plugin_v1_t *P;  /* the plugin's entry struct */
static dlcoll_comm_t world;
static int my_rank = -1;
static int world_size;
static const char *current_case = "init";

/* One line of the summary table. */
#define MAX_CASES 16
typedef struct case_result {
    const char *name;
    const char *dtype;
    char shape[48];      /* of the gathered output            */
    size_t bytes;        /* gathered bytes (whole output)     */
    double ms;           /* this rank's time for the call(s)  */
    int ok;              /* this rank verified every byte     */
    int skipped;         /* this rank takes no part in it     */
} case_result;

static case_result results[MAX_CASES];
static int n_results;

/* ------------------------------------------------------------------ errors */

/* A dlcoll call failed: report the plugin's message and stop this rank.
 * Aborting the world first makes any request still pending fail fast. */
static void die(const char *call, dlcoll_status_t st, dlcoll_comm_t comm, dlcoll_request_t req)
{
    const char *msg = req ? P->request_error(req) : P->last_error(comm);
    /* "P->allgather(world, ...)" -> "allgather" */
    if (strncmp(call, "P->", 3) == 0)
        call += 3;
    int name_len = (int)strcspn(call, "(");
    fprintf(stderr, "dlcoll-example-host: rank %d: %s: %.*s failed: %s: %s\n", my_rank,
            current_case, name_len, call, P->status_string(st), msg && *msg ? msg : "(no message)");
    if (world) {
        P->abort(world);
        P->finalize(world);
    }
    dlcoll_unload(&loader);
    exit(1);
}

/* Call a plugin entry on comm; on anything but DLCOLL_SUCCESS, die. */
#define CHECK(comm, call)                                                      \
    do {                                                                       \
        dlcoll_status_t st_ = (call);                                          \
        if (st_ != DLCOLL_SUCCESS)                                             \
            die(#call, st_, (comm), NULL);                                     \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "dlcoll-example-host: rank %d: out of memory (%zu bytes)\n", my_rank, n);
        exit(1);
    }
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ dtypes and patterns */

typedef enum kind { K_F32, K_I64, K_U8, K_I32, K_BOOL, K_F16, K_C128, K_F64 } kind;

typedef struct dtype_info {
    const char *name;
    DLDataType dl;
    size_t size;         /* bytes per element */
} dtype_info;

static const dtype_info dtypes[] = {
    [K_F32] = {"float32", {kDLFloat, 32, 1}, 4},
    [K_I64] = {"int64", {kDLInt, 64, 1}, 8},
    [K_U8] = {"uint8", {kDLUInt, 8, 1}, 1},
    [K_I32] = {"int32", {kDLInt, 32, 1}, 4},
    [K_BOOL] = {"bool", {DLCOLL_DL_BOOL_CODE, 8, 1}, 1},
    [K_F16] = {"float16", {kDLFloat, 16, 1}, 2},
    [K_C128] = {"complex128", {kDLComplex, 128, 1}, 16},
    [K_F64] = {"float64", {kDLFloat, 64, 1}, 8},
};

/* Element i of rank r's input, written into dst (dtypes[k].size bytes).
 * Every rank's values differ from every other rank's, and every byte
 * position varies, so a misplaced or corrupted block is always noticed. */
static void pattern(kind k, int r, size_t i, void *dst)
{
    uint64_t u = (uint64_t)i;
    switch (k) {
    case K_F32: {
        float v = (float)((r + 1) * 1000 + (int)(i % 997)) + 0.25f;
        memcpy(dst, &v, 4);
        break;
    }
    case K_I64: {
        int64_t v = (int64_t)((((uint64_t)r + 1) << 40) ^ (u * UINT64_C(0x9E3779B97F4A7C15)));
        memcpy(dst, &v, 8);
        break;
    }
    case K_U8:
        *(uint8_t *)dst = (uint8_t)(u * 131u + (unsigned)r * 29u + (u >> 9) + 7u);
        break;
    case K_I32: {
        int32_t v = -(int32_t)(r * 100000 + (int)i) - 1;
        memcpy(dst, &v, 4);
        break;
    }
    case K_BOOL:
        *(uint8_t *)dst = (uint8_t)(((u * 7u + (unsigned)r) % 3u) == 0);
        break;
    case K_F16: {
        /* Raw IEEE half bits: sign, a normal exponent (1..30), mantissa. */
        uint16_t sign = (uint16_t)((u + (unsigned)r) & 1u);
        uint16_t expo = (uint16_t)(1u + (u + (unsigned)r * 3u) % 30u);
        uint16_t mant = (uint16_t)((u * 37u + (unsigned)r * 101u) & 0x3ffu);
        uint16_t bits = (uint16_t)(sign << 15 | expo << 10 | mant);
        memcpy(dst, &bits, 2);
        break;
    }
    case K_C128: {
        double v[2] = {(double)r + (double)i * 0.5, -(double)(r * 1000 + (int)i) - 0.125};
        memcpy(dst, v, 16);
        break;
    }
    case K_F64: {
        double v = (double)r * 1e6 + (double)i + 0.5;
        memcpy(dst, &v, 8);
        break;
    }
    }
}

/* Fill n contiguous elements with rank r's pattern. */
static void fill(kind k, int r, void *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pattern(k, r, i, (uint8_t *)buf + i * dtypes[k].size);
}

/* Compare n elements at got (element j at got + j * stride_elems * size)
 * with rank r's pattern.  Reports the first bad byte; returns 1 if all match. */
static int verify(const char *what, kind k, int r, const void *got, size_t n, size_t stride_elems)
{
    size_t es = dtypes[k].size;
    /* Zeroed: pattern() writes es bytes for every kind, but at -O3 gcc cannot
     * see that through its switch and warns (-Wmaybe-uninitialized). */
    uint8_t want[16] = {0};
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *g = (const uint8_t *)got + i * stride_elems * es;
        pattern(k, r, i, want);
        if (memcmp(g, want, es) == 0)
            continue;
        if (bad++ == 0) {
            size_t b = 0;
            while (g[b] == want[b])
                b++;
            fprintf(stderr,
                    "dlcoll-example-host: rank %d: %s: %s: element %zu from rank %d, "
                    "byte %zu is 0x%02x, expected 0x%02x\n",
                    my_rank, current_case, what, i, r, b, g[b], want[b]);
        }
    }
    if (bad)
        fprintf(stderr, "dlcoll-example-host: rank %d: %s: %s: %zu of %zu elements from rank %d wrong\n",
                my_rank, current_case, what, bad, n, r);
    return bad == 0;
}

/* Check that n bytes at p all equal `fill_byte` (memory the plugin must not touch). */
static int verify_untouched(const char *what, const uint8_t *p, size_t n, uint8_t fill_byte)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != fill_byte) {
            fprintf(stderr, "dlcoll-example-host: rank %d: %s: %s: byte %zu was overwritten "
                    "(0x%02x)\n", my_rank, current_case, what, i, p[i]);
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ tensors */

static DLTensor tensor(void *data, kind k, int ndim, int64_t *shape, int64_t *strides,
                       uint64_t byte_offset)
{
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.device.device_id = 0;
    t.ndim = ndim;
    t.dtype = dtypes[k].dl;
    t.shape = shape;
    t.strides = strides;
    t.byte_offset = byte_offset;
    return t;
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? "," : "",
                                 (long long)shape[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, ndim == 1 ? ",)" : ")");
}

static case_result *begin_case(const char *name, kind k)
{
    case_result *c = &results[n_results++];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->dtype = dtypes[k].name;
    current_case = name;
    return c;
}

/* ------------------------------------------------------------------ the cases */

/* The blocking allgather_list of case c: ti into outs[0..N), timed. */
static void gather_list(case_result *c, DLTensor *ti, DLTensor *outs)
{
    DLTensor **out_ptrs = xmalloc((size_t)world_size * sizeof *out_ptrs);
    for (int r = 0; r < world_size; r++)
        out_ptrs[r] = &outs[r];
    double t0 = now_ms();
    CHECK(world, P->allgather_list(world, ti, out_ptrs, world_size, NULL));
    c->ms = now_ms() - t0;
    free(out_ptrs);
}

/* uint8, 1 MiB per rank, into a list of N separate output tensors. */
static void case_list_1mib(void)
{
    case_result *c = begin_case("list 1MiB", K_U8);
    const size_t n = (size_t)1 << 20;
    int64_t shape[1] = {(int64_t)n};
    uint8_t *in = xmalloc(n);
    uint8_t **bufs = xmalloc((size_t)world_size * sizeof *bufs);
    DLTensor *outs = xmalloc((size_t)world_size * sizeof *outs);
    fill(K_U8, my_rank, in, n);
    for (int r = 0; r < world_size; r++) {
        bufs[r] = xmalloc(n);
        memset(bufs[r], 0xAB, n);
        outs[r] = tensor(bufs[r], K_U8, 1, shape, NULL, 0);
    }
    DLTensor ti = tensor(in, K_U8, 1, shape, NULL, 0);

    gather_list(c, &ti, outs);

    c->ok = 1;
    for (int r = 0; r < world_size; r++) {
        char what[32];
        snprintf(what, sizeof what, "outputs[%d]", r);
        c->ok &= verify(what, K_U8, r, bufs[r], n, 1);
        free(bufs[r]);
    }
    snprintf(c->shape, sizeof c->shape, "%d x (%zu,)", world_size, n);
    c->bytes = n * (size_t)world_size;
    free(in);
    free(bufs);
    free(outs);
}

/* int32 (3,4) into a list whose tensors are strided views of one bigger
 * buffer: output r uses every other element of its 24-element slice, and the
 * elements in between must stay untouched. */
static void case_list_strided(void)
{
    case_result *c = begin_case("list strided", K_I32);
    int64_t shape[2] = {3, 4};
    int64_t strides[2] = {8, 2};             /* in elements: every other one */
    const size_t n = 12, slice = 24;
    int32_t in[12];
    int32_t *big = xmalloc(slice * (size_t)world_size * sizeof *big);
    DLTensor *outs = xmalloc((size_t)world_size * sizeof *outs);
    fill(K_I32, my_rank, in, n);
    memset(big, 0x5A, slice * (size_t)world_size * sizeof *big);
    for (int r = 0; r < world_size; r++)
        outs[r] = tensor(big, K_I32, 2, shape, strides, (uint64_t)r * slice * sizeof *big);
    DLTensor ti = tensor(in, K_I32, 2, shape, NULL, 0);

    gather_list(c, &ti, outs);

    c->ok = 1;
    for (int r = 0; r < world_size; r++) {
        int32_t *s = big + (size_t)r * slice;
        c->ok &= verify("outputs (even elements)", K_I32, r, s, n, 2);
        for (size_t j = 1; j < slice; j += 2)
            c->ok &= verify_untouched("outputs (gap elements)", (const uint8_t *)(s + j),
                                      sizeof *s, 0x5A);
    }
    snprintf(c->shape, sizeof c->shape, "%d x (3,4) str (8,2)", world_size);
    c->bytes = n * (size_t)world_size * sizeof *big;
    free(big);
    free(outs);
}

/* The blocking allgather of case c: ti into to, whose block r (n elements of
 * kind k at out + r * n * size) must then hold rank r's pattern.  Records the
 * time, the verdict, the output's shape and the gathered bytes. */
static void gather_and_verify(case_result *c, kind k, DLTensor *ti, DLTensor *to, const void *out,
                              size_t n)
{
    size_t es = dtypes[k].size;
    double t0 = now_ms();
    CHECK(world, P->allgather(world, ti, to, NULL));
    c->ms = now_ms() - t0;

    c->ok = 1;
    for (int r = 0; r < world_size; r++)
        c->ok &= verify("output", k, r, (const uint8_t *)out + (size_t)r * n * es, n, 1);
    shape_text(c->shape, sizeof c->shape, to->ndim, to->shape);
    c->bytes = n * es * (size_t)world_size;
}

/* A single-output gather of `in_shape` into (N*in0, ...) or, stacked, (N, ...). */
static void case_single(const char *name, kind k, int ndim, const int64_t *in_shape, int stacked)
{
    case_result *c = begin_case(name, k);
    int64_t ishape[4], oshape[5];
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        ishape[d] = in_shape[d];
        n *= (size_t)in_shape[d];
    }
    int ondim = stacked ? ndim + 1 : ndim;
    if (stacked) {
        oshape[0] = world_size;
        for (int d = 0; d < ndim; d++)
            oshape[d + 1] = in_shape[d];
    } else {
        for (int d = 0; d < ndim; d++)
            oshape[d] = in_shape[d];
        oshape[0] *= world_size;
    }
    size_t es = dtypes[k].size;
    uint8_t *in = xmalloc(n * es);
    uint8_t *out = xmalloc(n * es * (size_t)world_size);
    fill(k, my_rank, in, n);
    memset(out, 0xAB, n * es * (size_t)world_size);
    DLTensor ti = tensor(in, k, ndim, ishape, NULL, 0);
    DLTensor to = tensor(out, k, ondim, oshape, NULL, 0);

    gather_and_verify(c, k, &ti, &to, out, n);
    /* The input must be left as it was. */
    c->ok &= verify("input", k, my_rank, in, n, 1);
    free(in);
    free(out);
}

/* In place: the input is this rank's own block of the output. */
static void case_in_place(void)
{
    case_result *c = begin_case("in-place", K_F32);
    const size_t n = 1000;
    int64_t in_shape[1] = {(int64_t)n}, out_shape[1] = {(int64_t)n * world_size};
    float *out = xmalloc(n * (size_t)world_size * sizeof *out);
    memset(out, 0xEE, n * (size_t)world_size * sizeof *out);
    fill(K_F32, my_rank, out + (size_t)my_rank * n, n);
    DLTensor ti = tensor(out, K_F32, 1, in_shape, NULL, (uint64_t)my_rank * n * sizeof *out);
    DLTensor to = tensor(out, K_F32, 1, out_shape, NULL, 0);

    gather_and_verify(c, K_F32, &ti, &to, out, n);
    free(out);
}

/* Two asynchronous allgathers in flight at once: the first is driven by
 * test() (as a runtime would between other work), the second by wait(). */
static void case_async(void)
{
    case_result *c = begin_case("async test/wait", K_F64);
    const size_t n = 4096;
    int64_t in_shape[1] = {(int64_t)n}, out_shape[2] = {world_size, (int64_t)n};
    double *in1 = xmalloc(n * sizeof(double)), *in2 = xmalloc(n * sizeof(double));
    double *out1 = xmalloc(n * (size_t)world_size * sizeof(double));
    double *out2 = xmalloc(n * (size_t)world_size * sizeof(double));
    fill(K_F64, my_rank, in1, n);
    fill(K_F64, my_rank + world_size, in2, n);   /* a different pattern per request */
    memset(out1, 0xAB, n * (size_t)world_size * sizeof(double));
    memset(out2, 0xAB, n * (size_t)world_size * sizeof(double));
    /* Tensors (and their shape arrays) are borrowed until the request completes. */
    DLTensor ti1 = tensor(in1, K_F64, 1, in_shape, NULL, 0);
    DLTensor to1 = tensor(out1, K_F64, 2, out_shape, NULL, 0);
    DLTensor ti2 = tensor(in2, K_F64, 1, in_shape, NULL, 0);
    DLTensor to2 = tensor(out2, K_F64, 2, out_shape, NULL, 0);
    dlcoll_request_t r1 = NULL, r2 = NULL;

    double t0 = now_ms();
    CHECK(world, P->allgather(world, &ti1, &to1, &r1));
    CHECK(world, P->allgather(world, &ti2, &to2, &r2));
    long polls = 0;
    dlcoll_status_t st;
    while ((st = P->test(r1)) == DLCOLL_IN_PROGRESS)
        polls++;                                  /* "other work" would go here */
    if (st != DLCOLL_SUCCESS)
        die("test(r1)", st, world, r1);
    st = P->wait(r2, DLCOLL_WAIT_COMM_TIMEOUT);
    if (st != DLCOLL_SUCCESS)
        die("wait(r2)", st, world, r2);
    c->ms = now_ms() - t0;
    CHECK(world, P->request_free(r1));
    CHECK(world, P->request_free(r2));

    c->ok = 1;
    for (int r = 0; r < world_size; r++) {
        c->ok &= verify("output 1", K_F64, r, out1 + (size_t)r * n, n, 1);
        c->ok &= verify("output 2", K_F64, r + world_size, out2 + (size_t)r * n, n, 1);
    }
    snprintf(c->shape, sizeof c->shape, "2 x (%d,%zu)", world_size, n);
    c->bytes = 2 * n * (size_t)world_size * sizeof(double);
    free(in1);
    free(in2);
    free(out1);
    free(out2);
}

/* A group of the even world ranks: group rank g is world rank 2g. */
static void case_group_even(void)
{
    case_result *c = begin_case("group even", K_I32);
    int n_even = (world_size + 1) / 2;
    int *evens = xmalloc((size_t)n_even * sizeof *evens);
    for (int g = 0; g < n_even; g++)
        evens[g] = 2 * g;
    snprintf(c->shape, sizeof c->shape, "(%d,6)", n_even);
    c->bytes = (size_t)n_even * 6 * sizeof(int32_t);

    dlcoll_comm_t group = NULL;
    double t0 = now_ms();
    CHECK(world, P->group_create(world, evens, n_even, "even", &group));
    free(evens);
    if ((my_rank % 2 == 0) != (group != NULL)) {
        fprintf(stderr, "dlcoll-example-host: rank %d: group even: group_create returned %s\n",
                my_rank, group ? "a group to an odd rank" : "no group to an even rank");
        c->ok = 0;
        return;
    }
    if (!group) {       /* odd ranks are not members and do not communicate */
        c->ok = 1;
        c->skipped = 1;
        return;
    }

    int grank = -1, gsize = -1;
    CHECK(group, P->comm_rank(group, &grank));
    CHECK(group, P->comm_size(group, &gsize));
    c->ok = grank == my_rank / 2 && gsize == n_even;
    if (!c->ok)
        fprintf(stderr, "dlcoll-example-host: rank %d: group even: group rank %d of %d, "
                "expected %d of %d\n", my_rank, grank, gsize, my_rank / 2, n_even);

    int64_t in_shape[1] = {6}, out_shape[2] = {n_even, 6};
    int32_t in[6];
    int32_t *out = xmalloc((size_t)n_even * 6 * sizeof *out);
    fill(K_I32, my_rank, in, 6);
    memset(out, 0xAB, (size_t)n_even * 6 * sizeof *out);
    DLTensor ti = tensor(in, K_I32, 1, in_shape, NULL, 0);
    DLTensor to = tensor(out, K_I32, 2, out_shape, NULL, 0);
    CHECK(group, P->allgather(group, &ti, &to, NULL));
    c->ms = now_ms() - t0;

    for (int g = 0; g < n_even; g++)
        c->ok &= verify("output", K_I32, 2 * g, out + (size_t)g * 6, 6, 1);
    CHECK(group, P->group_destroy(group));
    free(out);
}

/* A blocking barrier and an asynchronous one. */
static void case_barrier(void)
{
    case_result *c = begin_case("barrier", K_U8);
    c->dtype = "-";
    snprintf(c->shape, sizeof c->shape, "-");
    dlcoll_request_t req = NULL;
    double t0 = now_ms();
    CHECK(world, P->barrier(world, NULL));
    CHECK(world, P->barrier(world, &req));
    dlcoll_status_t st = P->wait(req, DLCOLL_WAIT_COMM_TIMEOUT);
    if (st != DLCOLL_SUCCESS)
        die("wait(barrier)", st, world, req);
    c->ms = now_ms() - t0;
    CHECK(world, P->request_free(req));
    c->ok = 1;
}

/* ------------------------------------------------------------------ summary */

/* Gather every rank's verdicts (one byte per case) and let rank 0 print the
 * table.  Returns 1 when every case passed on every rank. */
static int summarize(void)
{
    current_case = "summary";
    int64_t in_shape[1] = {n_results}, out_shape[2] = {world_size, n_results};
    uint8_t mine[MAX_CASES];
    uint8_t *all = xmalloc((size_t)world_size * (size_t)n_results);
    for (int i = 0; i < n_results; i++)
        mine[i] = (uint8_t)results[i].ok;
    DLTensor ti = tensor(mine, K_U8, 1, in_shape, NULL, 0);
    DLTensor to = tensor(all, K_U8, 2, out_shape, NULL, 0);
    CHECK(world, P->allgather(world, &ti, &to, NULL));

    int all_ok = 1, n_failed = 0;
    if (my_rank == 0) {
        printf("%-16s %-11s %-22s %10s %10s  %s\n", "case", "dtype", "output shape", "bytes",
               "time ms", "result");
    }
    for (int i = 0; i < n_results; i++) {
        int failed_on = -1;
        for (int r = 0; r < world_size; r++)
            if (all[(size_t)r * (size_t)n_results + (size_t)i] != 1 && failed_on < 0)
                failed_on = r;
        if (failed_on >= 0) {
            all_ok = 0;
            n_failed++;
        }
        if (my_rank == 0) {
            char verdict[32];
            if (failed_on >= 0)
                snprintf(verdict, sizeof verdict, "FAILED on rank %d", failed_on);
            else
                snprintf(verdict, sizeof verdict, "OK");
            printf("%-16s %-11s %-22s %10zu %10.3f  %s\n", results[i].name, results[i].dtype,
                   results[i].shape, results[i].bytes, results[i].ms, verdict);
        }
    }
    if (my_rank == 0) {
        if (all_ok)
            printf("PASSED: %d cases on %d ranks, every gathered byte checked\n", n_results,
                   world_size);
        else
            printf("FAILED: %d of %d cases on %d ranks\n", n_failed, n_results, world_size);
        fflush(stdout);
    }
    free(all);
    return all_ok;
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    /* 1. Load the plugin: $DLCOLL_PLUGIN, the build tree's copy, or the
     *    dynamic linker's search path. */
    const char *path = getenv("DLCOLL_PLUGIN");
    if (!path || !*path)
        path = access(DLCOLL_DEFAULT_PLUGIN, R_OK) == 0 ? DLCOLL_DEFAULT_PLUGIN : "libdlcoll.so";
    if (dlcoll_load(&loader, path) != 0) {
        fprintf(stderr, "dlcoll-example-host: %s\n", loader.error);
        return 1;
    }
    P = loader.plugin;

    /* 2. Configure everything from the environment (dlcoll-run sets
     *    DLCOLL_RANK, DLCOLL_WORLD_SIZE, DLCOLL_INIT_METHOD, ...). */
    char plugin_desc[1300];
    snprintf(plugin_desc, sizeof plugin_desc,
             "plugin %s %s (ABI %u.%u, entry struct %zu bytes; host built for ABI %d.%d) from %s",
             P->name, P->version, (unsigned)P->abi_major, (unsigned)P->abi_minor,
             P->struct_size, DLCOLL_ABI_MAJOR, DLCOLL_ABI_MINOR, loader.path);

    dlcoll_config_t cfg = dlcoll_config_init();
    dlcoll_status_t st = P->init(&cfg, &world);
    if (st != DLCOLL_SUCCESS) {
        fprintf(stderr, "dlcoll-example-host: %s\ndlcoll-example-host: init failed: %s: %s\n",
                plugin_desc, P->status_string(st), P->last_error(NULL));
        dlcoll_unload(&loader);
        return 1;
    }
    CHECK(world, P->comm_rank(world, &my_rank));
    CHECK(world, P->comm_size(world, &world_size));
    if (my_rank == 0) {
        const char *prov = getenv("DLCOLL_PROVIDER");
        printf("dlcoll-example-host: %s\n", plugin_desc);
        printf("dlcoll-example-host: %d ranks, provider %s\n", world_size,
               prov && *prov ? prov : "automatic");
        fflush(stdout);
    }

    /* 3. The cases.  Every rank runs the same sequence. */
    static const int64_t concat_shape[2] = {2, 3};   /* float32 (2,3) -> (N*2,3) */
    static const int64_t stacked_shape[1] = {4};     /* int64 (4,) -> (N,4) */
    static const int64_t bool_shape[1] = {7};
    static const int64_t f16_shape[2] = {3, 5};
    static const int64_t c128_shape[2] = {2, 2};
    case_single("concat", K_F32, 2, concat_shape, 0);
    case_single("stacked", K_I64, 1, stacked_shape, 1);
    case_list_1mib();
    case_list_strided();
    case_single("bool", K_BOOL, 1, bool_shape, 0);
    case_single("float16 bits", K_F16, 2, f16_shape, 1);
    case_single("complex128", K_C128, 2, c128_shape, 0);
    case_in_place();
    case_async();
    case_group_even();
    case_barrier();

    /* 4. Everyone learns everyone's verdicts; rank 0 prints the table. */
    int ok = summarize();

    /* 5. Tear down. */
    current_case = "finalize";
    CHECK(world, P->finalize(world));
    world = NULL;
    dlcoll_unload(&loader);
    if (!ok)
        fprintf(stderr, "dlcoll-example-host: rank %d: some gathered data was wrong (see above)\n",
                my_rank);
    return ok ? 0 : 1;
}
