/*
 * bench_coll.h -- the data of the ABI 1.1 collectives' benchmarks, shared by
 * the peer drivers (mpi_allgather_bench -o, gloo_allgather_bench -o) so that
 * they move and check exactly what dlcoll-bench -o moves and checks:
 *
 *   allreduce       sum of size bytes of float32 per rank, out of place;
 *   reduce_scatter  sum of N * size bytes of float32 per rank, each rank
 *                   keeping its size-byte block (MPI_Reduce_scatter_block);
 *   broadcast       size bytes of uint8 from rank 0, in place.
 *
 * Sizes are rounded down to whole float32 elements.  Element i of rank r's
 * input is (r + 1) * ((i + seed) % 1021): small integers, so every sum is
 * exact in any order and the check is ==.  Header-only, C11 and C++11 clean.
 */
#ifndef BENCH_COLL_H
#define BENCH_COLL_H

#include <stdio.h>
#include <string.h>

#include "bench_common.h"

enum { BENCH_OP_ALLGATHER, BENCH_OP_ALLREDUCE, BENCH_OP_RS, BENCH_OP_BCAST, BENCH_N_OPS };

static const char *const bench_op_names[BENCH_N_OPS] = {"allgather", "allreduce",
                                                        "reduce_scatter", "broadcast"};

/* The op named s, or -1 (message printed). */
static inline int bench_op_parse(const char *s, const char *prog)
{
    for (int i = 0; i < BENCH_N_OPS; i++)
        if (strcmp(s, bench_op_names[i]) == 0)
            return i;
    fprintf(stderr, "%s: -o %s: expected allgather, allreduce, reduce_scatter or broadcast\n",
            prog, s);
    return -1;
}

static inline float bench_red_value(int r, uint32_t seed, size_t i)
{
    return (float)((r + 1) * (int)((i + seed) % 1021u));
}

/* Elements of the input and of the output for (op, size). */
static inline size_t bench_coll_in_count(int op, size_t size, int nranks)
{
    size_t cnt = size / sizeof(float);
    return op == BENCH_OP_RS ? cnt * (size_t)nranks : cnt;
}

/* Fill rank's input and poison its output.  broadcast: buf is the one
 * buffer (rank 0 gets the pattern, the others its complement). */
static inline void bench_coll_prepare(int op, void *in, void *out, size_t size, int rank,
                                      int nranks, uint32_t seed)
{
    if (op == BENCH_OP_BCAST) {
        bench_fill(in, size, 0, seed, rank != 0);
        return;
    }
    float *fi = (float *)in, *fo = (float *)out;
    size_t in_cnt = bench_coll_in_count(op, size, nranks), cnt = size / sizeof(float);
    for (size_t i = 0; i < in_cnt; i++)
        fi[i] = bench_red_value(rank, seed, i);
    for (size_t i = 0; i < cnt; i++)
        fo[i] = -1.0f;
}

/* 1 when rank's result is right; else 0 and a message naming the rank. */
static inline int bench_coll_verify(int op, const void *in, const void *out, size_t size,
                                    int rank, int nranks, uint32_t seed, const char *prog)
{
    if (op == BENCH_OP_BCAST) {
        size_t bad = bench_find_bad(in, size, 0, seed);
        if (bad == (size_t)-1)
            return 1;
        fprintf(stderr, "%s: rank %d: broadcast, size %zu: byte %zu is wrong\n", prog, rank, size,
                bad);
        return 0;
    }
    size_t cnt = size / sizeof(float), first = op == BENCH_OP_RS ? cnt * (size_t)rank : 0;
    const float *fo = (const float *)out;
    float tri = (float)(nranks * (nranks + 1) / 2);
    for (size_t i = 0; i < cnt; i++) {
        float want = tri * bench_red_value(0, seed, first + i);
        if (fo[i] != want) {
            fprintf(stderr, "%s: rank %d: %s, size %zu: element %zu is %g, expected %g\n", prog,
                    rank, bench_op_names[op], size, i, (double)fo[i], (double)want);
            return 0;
        }
    }
    return 1;
}

#endif /* BENCH_COLL_H */
