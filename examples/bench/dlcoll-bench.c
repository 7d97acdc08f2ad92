/*
 * dlcoll-bench.c -- allgather benchmark of a dlcoll plugin, in the manner of
 * nccl-tests and the OSU micro-benchmarks.
 *
 *     build/bin/dlcoll-run -n 2 --provider shm -- build/bin/dlcoll-bench -b 8 -e 64M -f 2
 *
 * Every rank loads the plugin through the ABI loader (like examples/host.c),
 * initializes from the launcher's environment, and for each per-rank size
 * from -b to -e (times -f) and each output convention (-o):
 *   single  allgather into one contiguous tensor of N * size bytes;
 *   list    allgather_list into N separate tensors of size bytes each;
 * and, asked for by name with -o (ABI 1.1, the plugin must have the entry):
 *   allreduce       allreduce(sum) of size bytes of float32, out of place;
 *   reduce_scatter  reduce_scatter(sum) of N * size bytes of float32 into
 *                   size bytes per rank;
 *   broadcast       broadcast of size bytes of uint8 from rank 0;
 * (sizes are rounded down to whole float32 elements), whose algbw / busbw
 * follow nccl-tests: allreduce size/t and 2(N-1)/N of it, reduce_scatter
 * N*size/t and (N-1)/N of it, broadcast size/t for both;
 * runs a warm-up and a timed series of blocking calls (bench_common.h has the
 * method), then verifies every output byte.  Rank 0 prints one table row per
 * (size, convention) and, with -c FILE, writes the same as CSV.
 *
 * Provider: the launcher's --provider or DLCOLL_PROVIDER (else automatic).
 * Algorithm: DLCOLL_ALGO (else the plugin's default).  Plugin: $DLCOLL_PLUGIN,
 * else ../lib/libdlcoll.so beside the tool (examples/tool_paths.h), else the
 * build tree's lib/libdlcoll.so, else "libdlcoll.so".
 *
 * Exit status: 0 when every call succeeded and every byte matched; 1 when a
 * call failed or data was wrong (the failing rank says which size, which
 * sending rank and which byte offset); 2 for bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"
#include "bench_common.h"
#include "examples/tool_paths.h"

#define PROG "dlcoll-bench"

enum { CONV_SINGLE = 0, CONV_LIST = 1, CONV_ALLREDUCE, CONV_RS, CONV_BCAST, N_CONVS };
static const char *const conv_names[N_CONVS] = {"single", "list", "allreduce", "reduce_scatter",
                                                "broadcast"};

/* ------------------------------------------------------------------ state */

static dlcoll_loader_t loader;
static const dlcoll_plugin_v1_t *P;
static dlcoll_comm_t world;
static int my_rank = -1;
static int nranks;
static char what[96] = "init";   /* the step in progress, for messages */

/* The tensors of one (size, convention). */
typedef struct bench_dlc {
    int conv;
    int64_t in_shape[1];
    int64_t single_shape[1];
    DLTensor in;
    DLTensor single;       /* CONV_SINGLE: N * size bytes                */
    DLTensor *outs;        /* CONV_LIST: N tensors of size bytes         */
    DLTensor **out_ptrs;
    uint8_t *in_buf, *single_buf;
    uint8_t **list_bufs;
    /* ABI 1.1 conventions: float32 tensors over in_buf / single_buf. */
    int64_t red_in_shape[1], red_out_shape[1];
    DLTensor red_in, red_out;
} bench_dlc;

/* ------------------------------------------------------------------ errors */

/* A plugin call failed: print the plugin's message, abort the world (so peers
 * blocked in a collective fail fast instead of waiting for the timeout) and
 * exit 1. */
static void die(const char *call, dlcoll_status_t st, dlcoll_request_t req)
{
    const char *msg = req ? P->request_error(req) : P->last_error(world);
    fprintf(stderr, PROG ": rank %d: %s: %s failed: %s: %s\n", my_rank, what, call,
            P->status_string(st), msg && *msg ? msg : "(no message)");
    fflush(stderr);
    if (world) {
        P->abort(world);
        P->finalize(world);
    }
    dlcoll_unload(&loader);
    exit(1);
}

#define CHECK(name, call)                                                      \
    do {                                                                       \
        dlcoll_status_t st_ = (call);                                          \
        if (st_ != DLCOLL_SUCCESS)                                             \
            die((name), st_, NULL);                                            \
    } while (0)

static DLTensor u8_tensor(void *data, int64_t *shape)
{
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 1;
    t.dtype.code = kDLUInt;
    t.dtype.bits = 8;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

/* ------------------------------------------------------------------ bench_ops */

static int op_call(void *ctx)
{
    bench_dlc *b = ctx;
    dlcoll_reduction_t sum = dlcoll_reduction(DLCOLL_RED_SUM);
    if (b->conv == CONV_ALLREDUCE)
        CHECK("allreduce", P->allreduce(world, &b->red_in, &b->red_out, &sum, NULL));
    else if (b->conv == CONV_RS)
        CHECK("reduce_scatter", P->reduce_scatter(world, &b->red_in, &b->red_out, &sum, NULL));
    else if (b->conv == CONV_BCAST)
        CHECK("broadcast", P->broadcast(world, &b->red_in, 0, NULL));
    else if (b->conv == CONV_SINGLE)
        CHECK("allgather", P->allgather(world, &b->in, &b->single, NULL));
    else
        CHECK("allgather_list", P->allgather_list(world, &b->in, b->out_ptrs, nranks, NULL));
    return 0;
}

static int op_barrier(void *ctx)
{
    (void)ctx;
    CHECK("barrier", P->barrier(world, NULL));
    return 0;
}

/* Maximum over ranks of n doubles, through the plugin's own allgather. */
static int op_max_reduce(void *ctx, double *vals, int n)
{
    (void)ctx;
    double *all = bench_xmalloc((size_t)n * (size_t)nranks * sizeof *all, PROG, my_rank);
    int64_t in_shape[1] = {n}, out_shape[2] = {nranks, n};
    DLTensor in = u8_tensor(vals, in_shape), out = u8_tensor(all, out_shape);
    in.dtype.code = out.dtype.code = kDLFloat;
    in.dtype.bits = out.dtype.bits = 64;
    out.ndim = 2;
    CHECK("allgather (statistics)", P->allgather(world, &in, &out, NULL));
    for (int r = 0; r < nranks; r++)
        for (int i = 0; i < n; i++)
            if (all[r * n + i] > vals[i])
                vals[i] = all[r * n + i];
    free(all);
    return 0;
}

/* ------------------------------------------------------------------ one size */

/* Point b's tensors at its buffers for `size` bytes per rank, fill the input
 * with this rank's pattern and poison the outputs. */
/* Element i of rank r's float32 input: small integers, so that every sum is
 * exact and the check is ==. */
static float red_value(int r, uint32_t seed, size_t i)
{
    return (float)((r + 1) * (int)((i + seed) % 1021u));
}

/* The ABI 1.1 conventions' tensors. */
static void prepare_v11(bench_dlc *b, size_t size, uint32_t seed)
{
    size_t cnt = size / sizeof(float);
    float *in = (float *)b->in_buf, *out = (float *)b->single_buf;
    if (b->conv == CONV_BCAST) {
        b->red_in_shape[0] = (int64_t)size;
        b->red_in = u8_tensor(my_rank == 0 ? b->in_buf : b->single_buf, b->red_in_shape);
        bench_fill(b->in_buf, size, 0, seed, 0);
        bench_fill(b->single_buf, size, 0, seed, 1);
        return;
    }
    size_t in_cnt = b->conv == CONV_RS ? cnt * (size_t)nranks : cnt;
    b->red_in_shape[0] = (int64_t)in_cnt;
    b->red_out_shape[0] = (int64_t)cnt;
    b->red_in = u8_tensor(in, b->red_in_shape);
    b->red_out = u8_tensor(out, b->red_out_shape);
    b->red_in.dtype.code = b->red_out.dtype.code = kDLFloat;
    b->red_in.dtype.bits = b->red_out.dtype.bits = 32;
    for (size_t i = 0; i < in_cnt; i++)
        in[i] = red_value(my_rank, seed, i);
    for (size_t i = 0; i < cnt; i++)
        out[i] = -1.0f;
}

/* 1 when the ABI 1.1 convention's output is right. */
static int verify_v11(const bench_dlc *b, size_t size, uint32_t seed)
{
    if (b->conv == CONV_BCAST) {
        const uint8_t *t = my_rank == 0 ? b->in_buf : b->single_buf;
        size_t bad = bench_find_bad(t, size, 0, seed);
        if (bad == (size_t)-1)
            return 1;
        fprintf(stderr, PROG ": rank %d: verification failed: broadcast, size %zu: byte %zu is "
                "0x%02x, expected 0x%02x\n", my_rank, size, bad, t[bad], bench_byte(0, seed, bad));
        return 0;
    }
    size_t cnt = size / sizeof(float), first = b->conv == CONV_RS ? cnt * (size_t)my_rank : 0;
    const float *out = (const float *)b->single_buf;
    float tri = (float)(nranks * (nranks + 1) / 2);
    for (size_t i = 0; i < cnt; i++) {
        float want = tri * red_value(0, seed, first + i);
        if (out[i] != want) {
            fprintf(stderr, PROG ": rank %d: verification failed: %s, size %zu: element %zu is "
                    "%g, expected %g\n", my_rank, conv_names[b->conv], size, i, (double)out[i],
                    (double)want);
            return 0;
        }
    }
    return 1;
}

static void prepare(bench_dlc *b, size_t size, uint32_t seed)
{
    if (b->conv >= CONV_ALLREDUCE) {
        prepare_v11(b, size, seed);
        return;
    }
    b->in_shape[0] = (int64_t)size;
    b->single_shape[0] = (int64_t)size * nranks;
    b->in = u8_tensor(b->in_buf, b->in_shape);
    bench_fill(b->in_buf, size, my_rank, seed, 0);
    if (b->conv == CONV_SINGLE) {
        b->single = u8_tensor(b->single_buf, b->single_shape);
        for (int r = 0; r < nranks; r++)
            bench_fill(b->single_buf + (size_t)r * size, size, r, seed, 1);
    } else {
        for (int r = 0; r < nranks; r++) {
            b->outs[r] = u8_tensor(b->list_bufs[r], b->in_shape);
            b->out_ptrs[r] = &b->outs[r];
            bench_fill(b->list_bufs[r], size, r, seed, 1);
        }
    }
}

/* Flip one output byte on rank inject_rank (testing aid for the check). */
static void inject(bench_dlc *b, size_t size, size_t offset)
{
    if (b->conv >= CONV_ALLREDUCE) {
        uint8_t *t = b->conv == CONV_BCAST && my_rank == 0 ? b->in_buf : b->single_buf;
        if (offset < size)
            t[offset] ^= 0x5A;
        return;
    }
    if (offset >= size * (size_t)nranks)
        return;
    uint8_t *p = b->conv == CONV_SINGLE ? b->single_buf + offset
                                        : b->list_bufs[offset / size] + offset % size;
    *p ^= 0x5A;
}

/* Check every output byte and the untouched input; 1 when all is right.
 * Describes the first wrong byte of each bad block on stderr. */
static int verify(const bench_dlc *b, size_t size, uint32_t seed)
{
    if (b->conv >= CONV_ALLREDUCE)
        return verify_v11(b, size, seed);
    int ok = 1;
    for (int r = 0; r < nranks; r++) {
        const uint8_t *blk = b->conv == CONV_SINGLE ? b->single_buf + (size_t)r * size
                                                    : b->list_bufs[r];
        size_t bad = bench_find_bad(blk, size, r, seed);
        if (bad == (size_t)-1)
            continue;
        ok = 0;
        char where[64];
        if (b->conv == CONV_SINGLE)
            snprintf(where, sizeof where, "output byte offset %zu", (size_t)r * size + bad);
        else
            snprintf(where, sizeof where, "outputs[%d] byte offset %zu", r, bad);
        fprintf(stderr,
                PROG ": rank %d: verification failed: %s, size %zu: block from rank %d, "
                "byte %zu (%s) is 0x%02x, expected 0x%02x\n",
                my_rank, conv_names[b->conv], size, r, bad, where, blk[bad],
                bench_byte(r, seed, bad));
    }
    size_t bad = bench_find_bad(b->in_buf, size, my_rank, seed);
    if (bad != (size_t)-1) {
        ok = 0;
        fprintf(stderr, PROG ": rank %d: verification failed: %s, size %zu: the input was "
                "modified at byte %zu\n", my_rank, conv_names[b->conv], size, bad);
    }
    fflush(stderr);
    return ok;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dlcoll-run -n N [--provider P] -- " PROG " [options]\n"
            "Allgather benchmark of the dlcoll plugin; rank 0 prints the table.\n"
            "  -o CONV    output convention: single, list or both (default both), or one\n"
            "             of the ABI 1.1 collectives: allreduce, reduce_scatter, broadcast\n");
    bench_common_usage(f);
    fprintf(f,
            "  --inject-error R:OFF  testing aid: rank R flips output byte OFF after\n"
            "             the timed calls, so the check must fail\n"
            "Environment: DLCOLL_PROVIDER (or the launcher's --provider), DLCOLL_ALGO,\n"
            "DLCOLL_PLUGIN (plugin path), DLCOLL_TIMEOUT, DLCOLL_DEBUG.\n");
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o, "dlcoll");
    int convs[N_CONVS] = {1, 1, 0, 0, 0};
    long inject_rank = -1;
    size_t inject_off = 0;

    static const struct option longopts[] = {
        {"inject-error", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, BENCH_COMMON_OPTSTRING "o:", longopts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt == 'o') {
            int any = 0;
            convs[CONV_SINGLE] = strcmp(optarg, "single") == 0 || strcmp(optarg, "both") == 0;
            convs[CONV_LIST] = strcmp(optarg, "list") == 0 || strcmp(optarg, "both") == 0;
            for (int c = CONV_ALLREDUCE; c < N_CONVS; c++)
                convs[c] = strcmp(optarg, conv_names[c]) == 0;
            for (int c = 0; c < N_CONVS; c++)
                any |= convs[c];
            if (!any) {
                fprintf(stderr, PROG ": -o %s: expected single, list, both, allreduce, "
                        "reduce_scatter or broadcast\n", optarg);
                return 2;
            }
            continue;
        }
        if (opt == 'I') {
            char *end = NULL;
            inject_rank = strtol(optarg, &end, 10);
            if (!end || *end != ':' || inject_rank < 0 ||
                bench_parse_size(end + 1, &inject_off) != 0) {
                fprintf(stderr, PROG ": --inject-error %s: expected RANK:OFFSET\n", optarg);
                return 2;
            }
            continue;
        }
        int h = bench_common_opt(&o, opt, optarg, PROG);
        if (h < 0)
            return 2;
        if (h == 0) {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (bench_opts_check(&o, PROG) != 0)
        return 2;

    /* 1. Load the plugin and create the world from the environment. */
    char path[sizeof loader.path];
    if (dlcoll_load(&loader, dlcoll_tool_plugin(path, sizeof path, NULL)) != 0) {
        fprintf(stderr, PROG ": %s\n", loader.error);
        return 1;
    }
    P = loader.plugin;
    dlcoll_config_t cfg = dlcoll_config_init();
    dlcoll_status_t st = P->init(&cfg, &world);
    if (st != DLCOLL_SUCCESS) {
        fprintf(stderr, PROG ": init failed: %s: %s\n", P->status_string(st), P->last_error(NULL));
        dlcoll_unload(&loader);
        return 1;
    }
    for (int c = CONV_ALLREDUCE; c < N_CONVS; c++) {
        char why[256];
        int has = c == CONV_ALLREDUCE ? DLCOLL_PLUGIN_REQUIRE(P, allreduce, 1, why, sizeof why)
                  : c == CONV_RS      ? DLCOLL_PLUGIN_REQUIRE(P, reduce_scatter, 1, why, sizeof why)
                                      : DLCOLL_PLUGIN_REQUIRE(P, broadcast, 1, why, sizeof why);
        if (convs[c] && has != 0) {
            fprintf(stderr, PROG ": -o %s: %s\n", conv_names[c], why);
            P->finalize(world);
            dlcoll_unload(&loader);
            return 1;
        }
    }
    CHECK("comm_rank", P->comm_rank(world, &my_rank));
    CHECK("comm_size", P->comm_size(world, &nranks));

    const char *provider = getenv("DLCOLL_PROVIDER");
    const char *algo = getenv("DLCOLL_ALGO");
    provider = provider && *provider ? provider : "auto";
    algo = algo && *algo ? algo : "default";

    /* 2. Buffers for the largest size, touched once so that no page fault
     *    lands in a timed call of the first sizes. */
    bench_dlc b;
    memset(&b, 0, sizeof b);
    size_t max = o.max_size;
    b.in_buf = bench_xmalloc(max, PROG, my_rank);
    memset(b.in_buf, 0, max);
    int v11 = convs[CONV_ALLREDUCE] || convs[CONV_RS] || convs[CONV_BCAST];
    if (v11) { /* reduce_scatter's input is N * size */
        free(b.in_buf);
        b.in_buf = bench_xmalloc(max * (size_t)nranks, PROG, my_rank);
        memset(b.in_buf, 0, max * (size_t)nranks);
    }
    if (convs[CONV_SINGLE] || v11) {
        b.single_buf = bench_xmalloc(max * (size_t)nranks, PROG, my_rank);
        memset(b.single_buf, 0, max * (size_t)nranks);
    }
    if (convs[CONV_LIST]) {
        b.list_bufs = bench_xmalloc((size_t)nranks * sizeof *b.list_bufs, PROG, my_rank);
        b.outs = bench_xmalloc((size_t)nranks * sizeof *b.outs, PROG, my_rank);
        b.out_ptrs = bench_xmalloc((size_t)nranks * sizeof *b.out_ptrs, PROG, my_rank);
        for (int r = 0; r < nranks; r++) {
            b.list_bufs[r] = bench_xmalloc(max, PROG, my_rank);
            memset(b.list_bufs[r], 0, max);
        }
    }

    FILE *csv = NULL;
    if (my_rank == 0) {
        csv = bench_csv_open(o.csv_path, PROG);
        if (o.csv_path && !csv) {
            P->abort(world);
            P->finalize(world);
            return 1;
        }
        if (!o.quiet) {
            char lo[32], hi[32];
            printf("# " PROG ": plugin %s %s (ABI %u.%u) from %s\n", P->name, P->version,
                   (unsigned)P->abi_major, (unsigned)P->abi_minor, loader.path);
            const char *v11_name = convs[CONV_ALLREDUCE] ? "allreduce"
                                   : convs[CONV_RS]      ? "reduce_scatter"
                                   : convs[CONV_BCAST]   ? "broadcast"
                                                         : "";
            printf("# ranks %d, provider %s, algorithm %s, dtype %s, sizes %s..%s x%g, "
                   "conventions %s%s%s%s\n", nranks, provider, algo,
                   v11 && !convs[CONV_BCAST] ? "float32 (sum)" : "uint8",
                   bench_size_text(o.min_size, lo, sizeof lo),
                   bench_size_text(o.max_size, hi, sizeof hi), o.factor,
                   convs[CONV_SINGLE] ? "single" : "", convs[0] && convs[1] ? "," : "",
                   convs[CONV_LIST] ? "list" : "", v11_name);
            printf("# time per call in us: avg/median/min/max over the timed calls, each the maximum "
                   "over ranks; algbw = N*size/avg, busbw = (N-1)/N*algbw (GB/s = 1e9 B/s)\n");
            bench_print_header(stdout);
        }
    }

    /* 3. Sizes, outer; conventions, inner (so both see the same moment). */
    bench_ops ops = {&b, op_call, op_barrier, op_max_reduce};
    int rows = 0, all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size && all_ok; size = bench_next_size(&o, size)) {
        for (int conv = 0; conv < N_CONVS && all_ok; conv++) {
            if (!convs[conv])
                continue;
            uint32_t seed = bench_seed(size, conv);
            b.conv = conv;
            snprintf(what, sizeof what, "%s, size %zu", conv_names[conv], size);
            prepare(&b, size, seed);

            bench_result res;
            bench_measure(&ops, &o, size, nranks, &res);   /* failures exit in die() */
            if (conv >= CONV_ALLREDUCE && res.avg_us > 0) { /* nccl-tests' bandwidths */
                double t = res.avg_us * 1e-6, bytes = (double)size;
                res.algbw = (conv == CONV_RS ? bytes * nranks : bytes) / t / 1e9;
                res.busbw = conv == CONV_ALLREDUCE ? res.algbw * 2 * (nranks - 1) / nranks
                            : conv == CONV_RS      ? res.algbw * (nranks - 1) / nranks
                                                   : res.algbw;
            }

            if (inject_rank == my_rank)
                inject(&b, size, inject_off);
            double bad = verify(&b, size, seed) ? 0.0 : 1.0;
            op_max_reduce(NULL, &bad, 1);
            res.ok = bad == 0.0;
            all_ok = res.ok;
            rows++;
            if (my_rank == 0) {
                if (!o.quiet)
                    bench_print_row(stdout, &res, conv_names[conv]);
                bench_csv_row(csv, o.system, provider, algo, &res, conv_names[conv]);
            }
        }
    }

    if (my_rank == 0) {
        if (!o.quiet) {
            if (all_ok)
                printf("# PASSED: %d rows, every output byte verified on every rank\n", rows);
            else
                printf("# FAILED: wrong data (the failing ranks' messages are on stderr)\n");
            fflush(stdout);
        }
        if (csv)
            fclose(csv);
    }

    /* 4. Tear down.  The barrier keeps every rank alive until rank 0 has printed
     * and flushed its verdict: a rank that exits 1 on wrong data makes dlcoll-run
     * stop the others, which must not cut rank 0's "# FAILED" line. */
    snprintf(what, sizeof what, "final barrier");
    CHECK("barrier", P->barrier(world, NULL));
    snprintf(what, sizeof what, "finalize");
    CHECK("finalize", P->finalize(world));
    world = NULL;
    dlcoll_unload(&loader);
    free(b.in_buf);
    free(b.single_buf);
    if (b.list_bufs)
        for (int r = 0; r < nranks; r++)
            free(b.list_bufs[r]);
    free(b.list_bufs);
    free(b.outs);
    free(b.out_ptrs);
    return all_ok ? 0 : 1;
}
