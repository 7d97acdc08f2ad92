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
 * rows).  -o allreduce | reduce_scatter | broadcast measures MPI_Allreduce,
 * MPI_Reduce_scatter_block or MPI_Bcast instead, on the data of
 * bench_coll.h (the same as dlcoll-bench -o).  Not built by CMake, so that the project builds without MPI.
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

#include "bench_coll.h"
#include "bench_common.h"

#define PROG "mpi_allgather_bench"

typedef struct mpi_ctx {
    uint8_t *in, *out;
    int count;            /* bytes per rank in the current step */
    int op;               /* BENCH_OP_* */
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
    int floats = c->count / (int)sizeof(float);
    if (c->op == BENCH_OP_ALLREDUCE)
        return check(MPI_Allreduce(c->in, c->out, floats, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                     "MPI_Allreduce");
    if (c->op == BENCH_OP_RS)
        return check(MPI_Reduce_scatter_block(c->in, c->out, floats, MPI_FLOAT, MPI_SUM,
                                              MPI_COMM_WORLD), "MPI_Reduce_scatter_block");
    if (c->op == BENCH_OP_BCAST)
        return check(MPI_Bcast(c->in, c->count, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
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

static const char *const mpi_names[BENCH_N_OPS] = {"MPI_Allgather", "MPI_Allreduce",
                                                   "MPI_Reduce_scatter_block", "MPI_Bcast"};

/* -o allreduce | reduce_scatter | broadcast: the sizes loop on bench_coll.h's
 * data (rows labelled with the op, like dlcoll-bench's).  Returns 0 when
 * every size was right on every rank. */
static int run_coll(mpi_ctx *c, const bench_opts *o, const char *transport)
{
    size_t in_bytes = bench_coll_in_count(c->op, o->max_size, nranks) * sizeof(float);
    if (in_bytes < o->max_size)
        in_bytes = o->max_size;
    c->in = bench_xmalloc(in_bytes, PROG, my_rank);
    c->out = bench_xmalloc(o->max_size, PROG, my_rank);
    memset(c->in, 0, in_bytes);
    memset(c->out, 0, o->max_size);
    FILE *csv = NULL;
    if (my_rank == 0) {
        csv = bench_csv_open(o->csv_path, PROG);
        if (o->csv_path && !csv)
            MPI_Abort(MPI_COMM_WORLD, 1);
        if (!o->quiet) {
            printf("# " PROG ": %d ranks, %s\n", nranks, mpi_names[c->op]);
            bench_print_header(stdout);
        }
    }
    bench_ops ops = {c, mpi_call, mpi_barrier, mpi_max_reduce};
    int all_ok = 1;
    for (size_t size = o->min_size; size <= o->max_size && all_ok;
         size = bench_next_size(o, size)) {
        uint32_t seed = bench_seed(size, c->op);
        c->count = (int)size;
        bench_coll_prepare(c->op, c->in, c->out, size, my_rank, nranks, seed);
        bench_result res;
        bench_measure(&ops, o, size, nranks, &res);
        double bad = bench_coll_verify(c->op, c->in, c->out, size, my_rank, nranks, seed, PROG)
                         ? 0.0
                         : 1.0;
        mpi_max_reduce(NULL, &bad, 1);
        res.ok = all_ok = bad == 0.0;
        if (my_rank == 0) {
            if (!o->quiet)
                bench_print_row(stdout, &res, bench_op_names[c->op]);
            bench_csv_row(csv, o->system, transport, mpi_names[c->op], &res, bench_op_names[c->op]);
        }
    }
    if (csv)
        fclose(csv);
    free(c->in);
    free(c->out);
    return all_ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);

    bench_opts o;
    bench_opts_default(&o, "mpi");
    const char *transport = "shm";
    int op = BENCH_OP_ALLGATHER;
    int opt;
    while ((opt = getopt(argc, argv, BENCH_COMMON_OPTSTRING "P:o:")) != -1) {
        if (opt == 'o') {
            if ((op = bench_op_parse(optarg, PROG)) < 0) {
                MPI_Finalize();
                return 2;
            }
            continue;
        }
        if (opt == 'P') {
            transport = optarg;   /* only a label: the mpirun options choose it */
            continue;
        }
        if (opt == 'h') {
            if (my_rank == 0) {
                printf("usage: mpirun -n N " PROG " [options]\n"
                       "  -P LABEL   transport label for the CSV (default shm)\n"
                       "  -o OP      allgather (default), allreduce, reduce_scatter, broadcast\n");
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
    c.op = op;
    if (op != BENCH_OP_ALLGATHER) {
        int rc = run_coll(&c, &o, transport);
        MPI_Finalize();
        return rc == 0 ? 0 : 1;
    }
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
