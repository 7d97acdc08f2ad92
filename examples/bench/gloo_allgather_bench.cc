/*
 * gloo_allgather_bench.cc -- the Gloo peer of dlcoll-bench: gloo::allgather
 * over Gloo's TCP transport on 127.0.0.1, measured exactly like dlcoll-bench's
 * "single" convention (bench_common.h).
 *
 * Built by scripts/bench-compare.sh (Debian libgloo-dev):
 *
 *     g++ -O2 -std=c++17 -I examples/bench examples/bench/gloo_allgather_bench.cc -lgloo -lpthread
 *
 * and started by the project's launcher, which gives every rank DLCOLL_RANK
 * and DLCOLL_WORLD_SIZE (RANK / WORLD_SIZE are read too):
 *
 *     dlcoll-run -n 2 --no-prefix -- gloo_allgather_bench -r /tmp/store-dir [options]
 *
 * The ranks rendezvous through Gloo's FileStore in the directory given with
 * -r (it must be empty or new, and the same for all ranks), then connect a
 * full mesh of TCP pairs.  Each timed call builds its AllgatherOptions anew,
 * as a framework's process group does for every collective.
 *
 * -o allreduce | reduce_scatter | broadcast measures gloo::allreduce (sum,
 * out of place), a reduce-scatter made of gloo::allreduce over the N blocks
 * into a scratch buffer plus a copy of this rank's block (Gloo's own
 * ReduceScatterHalvingDoubling, tried first, now and then returned wrong
 * sums near the end of a block when run repeatedly, so it is not used) or
 * gloo::broadcast (in place, root 0), on the data of bench_coll.h (the same
 * as dlcoll-bench -o).
 */
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/barrier.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <getopt.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bench_coll.h"
#include "bench_common.h"

#define PROG "gloo_allgather_bench"

namespace {

int my_rank = -1;
int nranks = 0;

struct GlooBench {
    std::shared_ptr<gloo::Context> context;
    uint8_t *in = nullptr;
    uint8_t *out = nullptr;
    size_t count = 0;          // bytes per rank in the current step
    int op = BENCH_OP_ALLGATHER;
    std::vector<float> scratch;   // -o reduce_scatter: the N reduced blocks
};

// bench_ops callbacks.  Gloo reports failures (timeouts, closed pairs) with
// exceptions; main() catches them and names the rank.
int gloo_call(void *ctx)
{
    GlooBench *b = static_cast<GlooBench *>(ctx);
    size_t floats = b->count / sizeof(float);
    if (b->op == BENCH_OP_ALLREDUCE) {
        gloo::AllreduceOptions opts(b->context);
        opts.setInput(reinterpret_cast<float *>(b->in), floats);
        opts.setOutput(reinterpret_cast<float *>(b->out), floats);
        opts.setReduceFunction(
            static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<float>));
        gloo::allreduce(opts);
        return 0;
    }
    if (b->op == BENCH_OP_RS) {
        size_t all = floats * static_cast<size_t>(nranks);
        gloo::AllreduceOptions opts(b->context);
        opts.setInput(reinterpret_cast<float *>(b->in), all);
        opts.setOutput(b->scratch.data(), all);
        opts.setReduceFunction(
            static_cast<void (*)(void *, const void *, const void *, size_t)>(&gloo::sum<float>));
        gloo::allreduce(opts);
        memcpy(b->out, b->scratch.data() + static_cast<size_t>(my_rank) * floats,
               floats * sizeof(float));
        return 0;
    }
    if (b->op == BENCH_OP_BCAST) {
        gloo::BroadcastOptions opts(b->context);
        opts.setOutput(b->in, b->count);
        opts.setRoot(0);
        gloo::broadcast(opts);
        return 0;
    }
    gloo::AllgatherOptions opts(b->context);
    opts.setInput(b->in, b->count);
    opts.setOutput(b->out, b->count * static_cast<size_t>(nranks));
    gloo::allgather(opts);
    return 0;
}

int gloo_barrier(void *ctx)
{
    GlooBench *b = static_cast<GlooBench *>(ctx);
    gloo::BarrierOptions opts(b->context);
    gloo::barrier(opts);
    return 0;
}

int gloo_max_reduce(void *ctx, double *vals, int n)
{
    GlooBench *b = static_cast<GlooBench *>(ctx);
    std::vector<double> all(static_cast<size_t>(n) * static_cast<size_t>(nranks));
    gloo::AllgatherOptions opts(b->context);
    opts.setInput(vals, static_cast<size_t>(n));
    opts.setOutput(all.data(), all.size());
    gloo::allgather(opts);
    for (int r = 0; r < nranks; r++)
        for (int i = 0; i < n; i++)
            if (all[static_cast<size_t>(r * n + i)] > vals[i])
                vals[i] = all[static_cast<size_t>(r * n + i)];
    return 0;
}

int env_int(const char *a, const char *b, int fallback)
{
    const char *v = getenv(a);
    if (!v || !*v)
        v = getenv(b);
    return v && *v ? atoi(v) : fallback;
}

const char *const gloo_names[BENCH_N_OPS] = {"gloo::allgather", "gloo::allreduce",
                                             "gloo::allreduce+copy",
                                             "gloo::broadcast"};

// -o allreduce | reduce_scatter | broadcast: the sizes loop on bench_coll.h's
// data.  Returns 0 when every size was right on every rank.
int run_coll(GlooBench &b, const bench_opts &o)
{
    size_t in_bytes = bench_coll_in_count(b.op, o.max_size, nranks) * sizeof(float);
    if (in_bytes < o.max_size)
        in_bytes = o.max_size;
    std::vector<uint8_t> in(in_bytes), out(o.max_size);
    if (b.op == BENCH_OP_RS)
        b.scratch.resize(in_bytes / sizeof(float));
    b.in = in.data();
    b.out = out.data();
    FILE *csv = nullptr;
    if (my_rank == 0) {
        csv = bench_csv_open(o.csv_path, PROG);
        if (o.csv_path && !csv)
            return 1;
        if (!o.quiet) {
            printf("# " PROG ": %s, TCP transport on 127.0.0.1, %d ranks\n", gloo_names[b.op],
                   nranks);
            bench_print_header(stdout);
        }
    }
    bench_ops ops = {&b, gloo_call, gloo_barrier, gloo_max_reduce};
    int all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size && all_ok; size = bench_next_size(&o, size)) {
        uint32_t seed = bench_seed(size, b.op);
        b.count = size;
        bench_coll_prepare(b.op, b.in, b.out, size, my_rank, nranks, seed);
        bench_result res;
        bench_measure(&ops, &o, size, nranks, &res);
        double bad =
            bench_coll_verify(b.op, b.in, b.out, size, my_rank, nranks, seed, PROG) ? 0.0 : 1.0;
        gloo_max_reduce(&b, &bad, 1);
        res.ok = all_ok = bad == 0.0;
        if (my_rank == 0) {
            if (!o.quiet)
                bench_print_row(stdout, &res, bench_op_names[b.op]);
            bench_csv_row(csv, o.system, "tcp", gloo_names[b.op], &res, bench_op_names[b.op]);
        }
    }
    if (csv)
        fclose(csv);
    gloo_barrier(&b);
    b.in = b.out = nullptr;
    return all_ok ? 0 : 1;
}

int run(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o, "gloo");
    const char *store_dir = nullptr;
    int op = BENCH_OP_ALLGATHER;
    int opt;
    while ((opt = getopt(argc, argv, BENCH_COMMON_OPTSTRING "r:o:")) != -1) {
        if (opt == 'o') {
            if ((op = bench_op_parse(optarg, PROG)) < 0)
                return 2;
            continue;
        }
        if (opt == 'h') {
            printf("usage: dlcoll-run -n N --no-prefix -- " PROG " -r STORE_DIR [options]\n"
                   "  -r DIR     directory for Gloo's FileStore rendezvous (required)\n"
                   "  -o OP      allgather (default), allreduce, reduce_scatter, broadcast\n");
            bench_common_usage(stdout);
            return 0;
        }
        if (opt == 'r') {
            store_dir = optarg;
            continue;
        }
        if (bench_common_opt(&o, opt, optarg, PROG) <= 0)
            return 2;
    }
    if (!store_dir || bench_opts_check(&o, PROG) != 0) {
        if (!store_dir)
            fprintf(stderr, PROG ": -r STORE_DIR is required\n");
        return 2;
    }
    my_rank = env_int("DLCOLL_RANK", "RANK", -1);
    nranks = env_int("DLCOLL_WORLD_SIZE", "WORLD_SIZE", -1);
    if (my_rank < 0 || nranks < 1 || my_rank >= nranks) {
        fprintf(stderr, PROG ": rank %d of %d: start me with dlcoll-run (DLCOLL_RANK, "
                "DLCOLL_WORLD_SIZE)\n", my_rank, nranks);
        return 2;
    }
    mkdir(store_dir, 0700);   // every rank tries; EEXIST is fine

    // Rendezvous and a full mesh of TCP pairs on loopback.
    gloo::transport::tcp::attr attr;
    attr.hostname = "127.0.0.1";
    std::shared_ptr<gloo::transport::Device> dev = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(store_dir);
    auto context = std::make_shared<gloo::rendezvous::Context>(my_rank, nranks);
    context->setTimeout(std::chrono::milliseconds(120000));
    context->connectFullMesh(store, dev);

    GlooBench b;
    b.context = context;
    b.op = op;
    if (op != BENCH_OP_ALLGATHER)
        return run_coll(b, o);
    b.in = static_cast<uint8_t *>(bench_xmalloc(o.max_size, PROG, my_rank));
    b.out = static_cast<uint8_t *>(bench_xmalloc(o.max_size * static_cast<size_t>(nranks), PROG,
                                                 my_rank));
    memset(b.in, 0, o.max_size);
    memset(b.out, 0, o.max_size * static_cast<size_t>(nranks));

    FILE *csv = nullptr;
    if (my_rank == 0) {
        csv = bench_csv_open(o.csv_path, PROG);
        if (o.csv_path && !csv)
            return 1;
        if (!o.quiet) {
            printf("# " PROG ": gloo::allgather, TCP transport on 127.0.0.1, %d ranks\n", nranks);
            bench_print_header(stdout);
        }
    }

    bench_ops ops = {&b, gloo_call, gloo_barrier, gloo_max_reduce};
    int all_ok = 1;
    for (size_t size = o.min_size; size <= o.max_size && all_ok; size = bench_next_size(&o, size)) {
        uint32_t seed = bench_seed(size, 0);
        b.count = size;
        bench_fill(b.in, size, my_rank, seed, 0);
        for (int r = 0; r < nranks; r++)
            bench_fill(b.out + static_cast<size_t>(r) * size, size, r, seed, 1);

        bench_result res;
        bench_measure(&ops, &o, size, nranks, &res);

        double bad = 0.0;
        for (int r = 0; r < nranks; r++) {
            size_t off = bench_find_bad(b.out + static_cast<size_t>(r) * size, size, r, seed);
            if (off != static_cast<size_t>(-1)) {
                fprintf(stderr, PROG ": rank %d: size %zu: block from rank %d wrong at byte %zu\n",
                        my_rank, size, r, off);
                bad = 1.0;
            }
        }
        gloo_max_reduce(&b, &bad, 1);
        res.ok = all_ok = bad == 0.0;
        if (my_rank == 0) {
            if (!o.quiet)
                bench_print_row(stdout, &res, "single");
            bench_csv_row(csv, o.system, "tcp", "gloo::allgather", &res, "single");
        }
    }
    if (csv)
        fclose(csv);
    // Everyone leaves together, so no rank closes its pairs while a peer
    // still reads from them.
    gloo_barrier(&b);
    free(b.in);
    free(b.out);
    return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        fprintf(stderr, PROG ": rank %d: %s\n", my_rank, e.what());
        return 1;
    }
}
