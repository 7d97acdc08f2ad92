/*
 * memcpy_bound.c -- dlcoll-memcpy-bound: the copy bound for an allgather.
 *
 *     build/bin/dlcoll-memcpy-bound -N 2 -b 8 -e 64M -f 2 -c memcpy.csv
 *
 * One process, one core: for each per-rank size it copies N * size bytes (the
 * whole allgather output) with memcpy() from one buffer into another, timed
 * and counted exactly like the allgather drivers (bench_common.h), and
 * reports algbw = N * size / time.  An allgather on one host cannot deliver
 * its output faster than one core can write it, unless several cores copy at
 * once; it is the "copy bound" of docs/benchmarks.md.
 *
 * Rows have system "memcpy" and convention "copy"; the check compares the
 * destination with the source's pattern after timing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define PROG "dlcoll-memcpy-bound"

typedef struct copy_ctx {
    uint8_t *src, *dst;
    size_t bytes;          /* N * size of the current step */
} copy_ctx;

static int copy_call(void *ctx)
{
    copy_ctx *c = ctx;
    memcpy(c->dst, c->src, c->bytes);
    return 0;
}

/* One process: nothing to synchronize or reduce. */
static int copy_barrier(void *ctx)
{
    (void)ctx;
    return 0;
}

static int copy_max_reduce(void *ctx, double *vals, int n)
{
    (void)ctx;
    (void)vals;
    (void)n;
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o, "memcpy");
    long n = 2;
    int opt;
    while ((opt = getopt(argc, argv, BENCH_COMMON_OPTSTRING "N:")) != -1) {
        if (opt == 'h') {
            printf("usage: " PROG " [-N ranks] [options]\n"
                   "Single-core memcpy of N * size bytes: the copy bound of an allgather.\n"
                   "  -N RANKS   the allgather's number of ranks (default 2)\n");
            bench_common_usage(stdout);
            return 0;
        }
        if (opt == 'N') {
            char *end = NULL;
            n = strtol(optarg, &end, 10);
            if (!end || *end || n < 1 || n > 4096) {
                fprintf(stderr, PROG ": -N %s: expected 1..4096\n", optarg);
                return 2;
            }
            continue;
        }
        int h = bench_common_opt(&o, opt, optarg, PROG);
        if (h <= 0)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (bench_opts_check(&o, PROG) != 0)
        return 2;

    size_t cap = o.max_size * (size_t)n;
    copy_ctx c;
    c.src = bench_xmalloc(cap, PROG, 0);
    c.dst = bench_xmalloc(cap, PROG, 0);
    memset(c.src, 0, cap);   /* touch every page before timing */
    memset(c.dst, 0, cap);

    FILE *csv = bench_csv_open(o.csv_path, PROG);
    if (o.csv_path && !csv)
        return 1;
    if (!o.quiet) {
        printf("# " PROG ": memcpy of N*size bytes on one core, N = %ld\n", n);
        bench_print_header(stdout);
    }

    bench_ops ops = {&c, copy_call, copy_barrier, copy_max_reduce};
    int all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size; size = bench_next_size(&o, size)) {
        uint32_t seed = bench_seed(size, 0);
        c.bytes = size * (size_t)n;
        for (long r = 0; r < n; r++) {
            bench_fill(c.src + (size_t)r * size, size, (int)r, seed, 0);
            bench_fill(c.dst + (size_t)r * size, size, (int)r, seed, 1);
        }
        bench_result res;
        bench_measure(&ops, &o, size, (int)n, &res);
        res.ok = 1;
        for (long r = 0; r < n; r++) {
            size_t bad = bench_find_bad(c.dst + (size_t)r * size, size, (int)r, seed);
            if (bad != (size_t)-1) {
                fprintf(stderr, PROG ": size %zu: block %ld byte %zu wrong after memcpy\n", size,
                        r, bad);
                res.ok = all_ok = 0;
            }
        }
        if (!o.quiet)
            bench_print_row(stdout, &res, "copy");
        bench_csv_row(csv, o.system, "-", "memcpy", &res, "copy");
    }
    if (csv)
        fclose(csv);
    free(c.src);
    free(c.dst);
    return all_ok ? 0 : 1;
}
