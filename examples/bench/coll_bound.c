/*
 * coll_bound.c -- dlcoll-coll-bound: the memory bound of the ABI 1.1
 * collectives on one host (docs/benchmarks.md).
 *
 *     build/bin/dlcoll-coll-bound -o allreduce -N 4 -b 8 -e 64M -f 2 -c bound.csv
 *
 * N threads (one per rank) run at once, each on its own core when there are
 * enough, started and stopped together by a barrier around every timed call:
 *
 *   allreduce, reduce_scatter   every thread reads N float32 inputs of size
 *       bytes (the same N buffers for all threads, as the ranks' inputs in a
 *       shared segment) and writes their sum to its own size-byte output:
 *       what each rank must at least read and write when it reduces on one
 *       host (for reduce_scatter, size is the per-rank output, as in
 *       dlcoll-bench -o reduce_scatter);
 *   broadcast   the N - 1 non-root threads each copy size bytes from one
 *       source (memcpy) into their own output.
 *
 * Timed and counted like every driver (bench_common.h); rows have system
 * "bound" and convention the op.  The check compares one output with the
 * expected sum (exact: small integers) after timing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_coll.h"
#include "bench_common.h"

#define PROG "dlcoll-coll-bound"

typedef struct bound_ctx {
    int op, n;
    size_t size;              /* bytes per input/output in the current step */
    float **in;               /* n inputs (broadcast: in[0] is the source) */
    float **out;              /* n outputs, one per thread */
    pthread_barrier_t start, done;
    int stop;
} bound_ctx;

typedef struct worker {
    bound_ctx *c;
    int id;
} worker;

/* Thread id's share of one call. */
static void work(bound_ctx *c, int id)
{
    if (c->op == BENCH_OP_BCAST) {
        if (id != 0)
            memcpy(c->out[id], c->in[0], c->size);
        return;
    }
    size_t cnt = c->size / sizeof(float);
    float *restrict o = c->out[id];
    const float *restrict a = c->in[0];
    for (size_t i = 0; i < cnt; i++)
        o[i] = a[i];
    for (int k = 1; k < c->n; k++) {
        const float *restrict b = c->in[k];
        for (size_t i = 0; i < cnt; i++)
            o[i] += b[i];
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_barrier_wait(&w->c->start);
        if (w->c->stop)
            return NULL;
        work(w->c, w->id);
        pthread_barrier_wait(&w->c->done);
    }
}

static int bound_call(void *ctx)
{
    bound_ctx *c = ctx;
    pthread_barrier_wait(&c->start);
    work(c, 0);
    pthread_barrier_wait(&c->done);
    return 0;
}

/* The threads meet at every call: nothing else to synchronize or reduce. */
static int bound_barrier(void *ctx)
{
    (void)ctx;
    return 0;
}

static int bound_max_reduce(void *ctx, double *vals, int n)
{
    (void)ctx;
    (void)vals;
    (void)n;
    return 0;
}

/* 1 when thread id's output is right after the last call. */
static int bound_verify(const bound_ctx *c, int id, uint32_t seed)
{
    if (c->op == BENCH_OP_BCAST)
        return id == 0 || bench_find_bad(c->out[id], c->size, 0, seed) == (size_t)-1;
    /* bench_coll.h's expected allreduce result for n ranks. */
    return bench_coll_verify(BENCH_OP_ALLREDUCE, NULL, c->out[id], c->size, id, c->n, seed, PROG);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o, "bound");
    long n = 2;
    int op = BENCH_OP_ALLREDUCE, opt;
    while ((opt = getopt(argc, argv, BENCH_COMMON_OPTSTRING "N:o:")) != -1) {
        if (opt == 'h') {
            printf("usage: " PROG " [-o OP] [-N ranks] [options]\n"
                   "N threads at once: the memory bound of an ABI 1.1 collective on one host.\n"
                   "  -o OP      allreduce (default), reduce_scatter or broadcast\n"
                   "  -N RANKS   the collective's number of ranks (default 2)\n");
            bench_common_usage(stdout);
            return 0;
        }
        if (opt == 'o') {
            op = bench_op_parse(optarg, PROG);
            if (op < 0 || op == BENCH_OP_ALLGATHER) {
                fprintf(stderr, PROG ": -o %s: allgather's bound is dlcoll-memcpy-bound\n", optarg);
                return 2;
            }
            continue;
        }
        if (opt == 'N') {
            char *end = NULL;
            n = strtol(optarg, &end, 10);
            if (!end || *end || n < 1 || n > 256) {
                fprintf(stderr, PROG ": -N %s: expected 1..256\n", optarg);
                return 2;
            }
            continue;
        }
        if (bench_common_opt(&o, opt, optarg, PROG) <= 0)
            return 2;
    }
    if (optind < argc || bench_opts_check(&o, PROG) != 0) {
        if (optind < argc)
            fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    bound_ctx c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.n = (int)n;
    c.in = bench_xmalloc(sizeof(float *) * (size_t)n, PROG, 0);
    c.out = bench_xmalloc(sizeof(float *) * (size_t)n, PROG, 0);
    for (long i = 0; i < n; i++) {
        c.in[i] = bench_xmalloc(o.max_size, PROG, 0);
        c.out[i] = bench_xmalloc(o.max_size, PROG, 0);
        memset(c.in[i], 0, o.max_size);   /* touch every page before timing */
        memset(c.out[i], 0, o.max_size);
    }
    pthread_barrier_init(&c.start, NULL, (unsigned)n);
    pthread_barrier_init(&c.done, NULL, (unsigned)n);
    pthread_t *tids = bench_xmalloc(sizeof(pthread_t) * (size_t)n, PROG, 0);
    worker *ws = bench_xmalloc(sizeof(worker) * (size_t)n, PROG, 0);
    for (long i = 1; i < n; i++) {
        ws[i].c = &c;
        ws[i].id = (int)i;
        if (pthread_create(&tids[i], NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, PROG ": cannot start thread %ld\n", i);
            return 1;
        }
    }

    FILE *csv = bench_csv_open(o.csv_path, PROG);
    if (!o.quiet) {
        printf("# " PROG ": %s bound, %ld threads at once\n", bench_op_names[op], n);
        bench_print_header(stdout);
    }
    bench_ops ops = {&c, bound_call, bound_barrier, bound_max_reduce};
    int all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size; size = bench_next_size(&o, size)) {
        uint32_t seed = bench_seed(size, op);
        c.size = size;
        for (long r = 0; r < n; r++) {
            if (op == BENCH_OP_BCAST) {
                bench_fill(c.in[r], size, 0, seed, 0);
                bench_fill(c.out[r], size, 0, seed, 1);
            } else {
                bench_coll_prepare(BENCH_OP_ALLREDUCE, c.in[r], c.out[r], size, (int)r, c.n,
                                   seed);
            }
        }
        bench_result res;
        bench_measure(&ops, &o, size, c.n, &res);
        res.ok = 1;
        for (long r = 0; r < n; r++)
            if (!bound_verify(&c, (int)r, seed)) {
                fprintf(stderr, PROG ": size %zu: thread %ld's output is wrong\n", size, r);
                res.ok = all_ok = 0;
            }
        if (!o.quiet)
            bench_print_row(stdout, &res, bench_op_names[op]);
        bench_csv_row(csv, o.system, "-", "threads", &res, bench_op_names[op]);
    }
    c.stop = 1;
    pthread_barrier_wait(&c.start);
    for (long i = 1; i < n; i++)
        pthread_join(tids[i], NULL);
    if (csv)
        fclose(csv);
    for (long i = 0; i < n; i++) {
        free(c.in[i]);
        free(c.out[i]);
    }
    free(c.in);
    free(c.out);
    free(tids);
    free(ws);
    pthread_barrier_destroy(&c.start);
    pthread_barrier_destroy(&c.done);
    return all_ok ? 0 : 1;
}
