/*
 * mpi_allgather_bench.c -- the MPI peer of dlcoll-bench: MPI_Allgather of
 * MPI_BYTE, measured exactly like dlcoll-bench's "single" convention
 * (bench_common.h: same sizes, iteration counts, timing, data check, table
 * and CSV).
 *
 * Built by scripts/bench-compare.sh, once per MPI library, e.g.
 *
 *     mpicc.openmpi -O2 -std=c11 -I examples/bench examples/bench/mpi_allgather_bench.c
 *     mpicc.mpich   -O2 -std=c11 -I examples/bench examples/bench/mpi_allgather_bench.c
 *
 * and started with that library's mpirun (-s openmpi / -s mpich labels the
 * rows).  Not built by CMake, so that the project builds without MPI.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define PROG "mpi_allgather_bench"

typedef struct mpi_ctx {
    uint8_t *in, *out;
    int count;            /* bytes per rank in the current step */
} mpi_ctx;

static int my_rank, nranks;

/* MPI's default error handler aborts the job with its own message, which
 * names the failing rank; these wrappers only add ours before that. */
static int check(int rc, const char *call)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fprintf(stderr, PROG ": rank %d: %s failed: %s\n", my_rank, call, text);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

static int mpi_call(void *ctx)
{
    mpi_ctx *c = ctx;
    return check(MPI_Allgather(c->in, c->count, MPI_BYTE, c->out, c->count, MPI_BYTE,
                               MPI_COMM_WORLD), "MPI_Allgather");
}

static int mpi_barrier(void *ctx)
{
    (void)ctx;
    return check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

static int mpi_max_reduce(void *ctx, double *vals, int n)
{
    (void)ctx;
    return check(MPI_Allreduce(MPI_IN_PLACE, vals, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD),
                 "MPI_Allreduce");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);

    bench_opts o;
    bench_opts_default(&o, "mpi");
    const char *transport = "shm";
    int opt;
    while ((opt = getopt(argc, argv, BENCH_COMMON_OPTSTRING "P:")) != -1) {
        if (opt == 'P') {
            transport = optarg;   /* only a label: the mpirun options choose it */
            continue;
        }
        if (opt == 'h') {
            if (my_rank == 0) {
                printf("usage: mpirun -n N " PROG " [options]\n"
                       "  -P LABEL   transport label for the CSV (default shm)\n");
                bench_common_usage(stdout);
            }
            MPI_Finalize();
            return 0;
        }
        if (bench_common_opt(&o, opt, optarg, PROG) <= 0) {
            MPI_Finalize();
            return 2;
        }
    }
    if (bench_opts_check(&o, PROG) != 0 || o.max_size > (size_t)INT32_MAX) {
        MPI_Finalize();
        return 2;
    }

    mpi_ctx c;
    c.in = bench_xmalloc(o.max_size, PROG, my_rank);
    c.out = bench_xmalloc(o.max_size * (size_t)nranks, PROG, my_rank);
    memset(c.in, 0, o.max_size);
    memset(c.out, 0, o.max_size * (size_t)nranks);

    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int vlen = 0;
    MPI_Get_library_version(version, &vlen);
    version[strcspn(version, "\n,")] = '\0';

    FILE *csv = NULL;
    if (my_rank == 0) {
        csv = bench_csv_open(o.csv_path, PROG);
        if (o.csv_path && !csv)
            MPI_Abort(MPI_COMM_WORLD, 1);
        if (!o.quiet) {
            printf("# " PROG ": %s, %d ranks, MPI_Allgather of MPI_BYTE\n", version, nranks);
            bench_print_header(stdout);
        }
    }

    bench_ops ops = {&c, mpi_call, mpi_barrier, mpi_max_reduce};
    int all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size && all_ok; size = bench_next_size(&o, size)) {
        uint32_t seed = bench_seed(size, 0);
        c.count = (int)size;
        bench_fill(c.in, size, my_rank, seed, 0);
        for (int r = 0; r < nranks; r++)
            bench_fill(c.out + (size_t)r * size, size, r, seed, 1);

        bench_result res;
        bench_measure(&ops, &o, size, nranks, &res);

        double bad = 0.0;
        for (int r = 0; r < nranks; r++) {
            size_t off = bench_find_bad(c.out + (size_t)r * size, size, r, seed);
            if (off != (size_t)-1) {
                fprintf(stderr, PROG ": rank %d: size %zu: block from rank %d wrong at byte %zu\n",
                        my_rank, size, r, off);
                bad = 1.0;
            }
        }
        mpi_max_reduce(NULL, &bad, 1);
        res.ok = all_ok = bad == 0.0;
        if (my_rank == 0) {
            if (!o.quiet)
                bench_print_row(stdout, &res, "single");
            bench_csv_row(csv, o.system, transport, "MPI_Allgather", &res, "single");
        }
    }
    if (csv)
        fclose(csv);
    free(c.in);
    free(c.out);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
