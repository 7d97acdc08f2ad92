/*
 * test_allgather.c -- allgather into one output tensor, on 1..4 real ranks,
 * over the shm and tcp providers.
 *
 * One init per (provider, N); inside it every dtype, shapes with 0 elements,
 * 1 element, a 0-dim scalar, (7,3) and a 4-dim shape, concatenated (N*x0, ...)
 * and stacked (N, ...) outputs, byte_offset on input and output, in-place
 * (input = this rank's block of the output), and sizes up to 16 MiB per rank.
 * Every output byte, the bytes before byte_offset, the guards around every
 * buffer and the unchanged input are checked (mp_gather.c).
 * With the shm provider the automatic algorithm is the shared-segment exchange
 * (allgather_shm.c); the *_ring, *_chunked, *_cma cases cover the other paths.
 */
#include <criterion/criterion.h>

#include "mp_gather.h"

typedef struct ag_arg {
    size_t big_bytes;   /* largest per-rank size to try (0: 1 MiB at most) */
} ag_arg;

/* Run one spec; stop the rank function after a failed call (the comm may be
 * broken) or after 6 reported problems. */
#define RUN(spec_)                                                             \
    do {                                                                       \
        mp_ag_spec sp_ = (spec_);                                              \
        int rc_ = mp_check_allgather(ctx, ctx->comm, &sp_, ctx->rank, ctx->size, NULL); \
        MP_TALLY(rc_, fails);                                                  \
    } while (0)

static mp_ag_spec with(mp_ag_spec s, int stacked, int inplace, size_t in_off, size_t out_off)
{
    s.stacked = stacked;
    s.inplace = inplace;
    s.in_off = in_off;
    s.out_off = out_off;
    return s;
}

static int all_shapes(mp_ctx *ctx)
{
    const ag_arg *arg = ctx->arg;
    int fails = 0;
    uint32_t seed = 100;

    /* Every dtype through every layout variant. */
    for (int d = 0; d < mp_n_dtypes; d++) {
        DLDataType dt = mp_dtypes[d].dt;
        size_t es = mp_dt_size(dt);
        RUN(MP_SPEC(dt, seed++, 7, 3));                                   /* (N*7,3)        */
        RUN(with(MP_SPEC(dt, seed++, 7, 3), 1, 0, 0, 0));                 /* (N,7,3)        */
        RUN(with(MP_SPEC(dt, seed++, 7, 3), 0, 0, 3 * es, 5 * es));       /* offsets        */
        RUN(with(MP_SPEC(dt, seed++, 7, 3), 1, 0, 8 * es, 1 * es));       /* stacked+offset */
        RUN(with(MP_SPEC(dt, seed++, 7, 3), 0, 1, 0, 2 * es));            /* in-place       */
        RUN(with(MP_SPEC(dt, seed++, 7, 3), 1, 1, 0, 0));                 /* in-place stack */
        RUN(mp_spec(dt, seed++, 0, NULL));                                /* 0-dim -> (N)   */
        RUN(with(mp_spec(dt, seed++, 0, NULL), 0, 1, 0, 4 * es));         /* scalar in-place */
        RUN(MP_SPEC(dt, seed++, 1));                                      /* 1 element      */
        RUN(with(MP_SPEC(dt, seed++, 1), 1, 0, es, 0));                   /* (N,1)          */
        RUN(MP_SPEC(dt, seed++, 0));                                      /* 0 elements     */
        RUN(with(MP_SPEC(dt, seed++, 0, 3), 1, 0, 0, 0));                 /* (N,0,3)        */
        RUN(MP_SPEC(dt, seed++, 2, 3, 1, 5));                             /* 4-dim          */
        RUN(with(MP_SPEC(dt, seed++, 2, 3, 1, 5), 1, 0, 0, 0));           /* (N,2,3,1,5)    */
    }

    /* Layout choices are local: ranks mix in-place / out-of-place, stacked /
     * concatenated outputs and different byte offsets in one allgather. */
    for (int k = 0; k < 4; k++) {
        DLDataType dt = mp_dtypes[(5 * k + 1) % mp_n_dtypes].dt;
        size_t es = mp_dt_size(dt);
        int r = ctx->rank + k;
        RUN(with(MP_SPEC(dt, seed++, 33, 5), r % 3 == 0, r % 2, es * (size_t)(r % 4),
                 es * (size_t)((r + 1) % 5)));
    }

    /* Odd byte offsets for one-byte dtypes. */
    RUN(with(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 1001), 0, 0, 1, 3));
    RUN(with(MP_SPEC(mp_dt(kDLInt, 8), seed++, 33, 3), 1, 1, 0, 7));
    /* Zero elements with NULL data pointers. */
    {
        mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), seed++, 0, 4);
        s.null_data = 1;
        RUN(s);
    }

    /* Growing sizes (eager and rendezvous protocols, several chunks). */
    RUN(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 4097));
    RUN(with(MP_SPEC(mp_dt(kDLFloat, 32), seed++, 65539), 0, 0, 12, 20));          /* ~256 KiB */
    RUN(with(MP_SPEC(mp_dt(kDLInt, 16), seed++, 1024, 513), 1, 1, 0, 2));           /* ~1 MiB, in-place */
    RUN(with(MP_SPEC(mp_dt(kDLComplex, 128), seed++, 65536 + 7), 0, 0, 16, 32));   /* ~1 MiB  */
    if (arg && arg->big_bytes >= (4u << 20))
        RUN(with(MP_SPEC(mp_dt(kDLFloat, 64), seed++, 512 * 1024 + 1), 1, 0, 8, 0)); /* 4 MiB+8 */
    if (arg && arg->big_bytes >= (16u << 20)) {
        /* 16 MiB per rank, concatenated, and again in-place with an offset. */
        RUN(MP_SPEC(mp_dt(kDLFloat, 32), seed++, 4096, 1024));
        RUN(with(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 16 << 20), 0, 1, 0, 5));
    }
    return fails ? 1 : 0;
}

static void run(int n, const char *provider, size_t big)
{
    ag_arg arg = {big};
    mp_run(n, provider, all_shapes, &arg, 150);
}

TestSuite(allgather, .timeout = 400);

Test(allgather, shm_n1) { run(1, "shm", 16u << 20); }
Test(allgather, shm_n2) { run(2, "shm", 16u << 20); }
Test(allgather, shm_n3) { run(3, "shm", 4u << 20); }
Test(allgather, shm_n4) { run(4, "shm", 16u << 20); }
Test(allgather, tcp_n1) { run(1, "tcp", 4u << 20); }
Test(allgather, tcp_n2) { run(2, "tcp", 16u << 20); }
Test(allgather, tcp_n3) { run(3, "tcp", 4u << 20); }
Test(allgather, tcp_n4) { run(4, "tcp", 16u << 20); }
/* Oversubscribed (8 ranks on 2 cores): more ring steps, 1 MiB at most. */
Test(allgather, shm_n8) { run(8, "shm", 0); }

/* The other paths on one host: the ring over libfabric's shm (the automatic
 * choice there is the shared-segment exchange), the segment exchange in many
 * small rounds (4 KiB slots: blocks split at every 4096th byte, across runs of
 * strided layouts), its single-copy CMA mode for every size, and the segment
 * exchange forced under the tcp provider. */
static void run_env(int n, const char *provider, const char *env, size_t big)
{
    ag_arg arg = {big};
    mp_run_env(n, provider, env, all_shapes, &arg, 150);
}
Test(allgather, shm_ring_n3) { run_env(3, "shm", "DLCOLL_ALGO=ring", 4u << 20); }
Test(allgather, shm_chunked_n3) { run_env(3, "shm", "DLCOLL_SHM_SLOT_BYTES=4096", 4u << 20); }
Test(allgather, shm_chunked_n4) { run_env(4, "shm", "DLCOLL_SHM_SLOT_BYTES=4096", 1u << 20); }
Test(allgather, shm_cma_n2) { run_env(2, "shm", "DLCOLL_SHM_CMA_MIN=1", 16u << 20); }
Test(allgather, shm_cma_n3) { run_env(3, "shm", "DLCOLL_SHM_CMA_MIN=1", 4u << 20); }
/* Two ranks with a core each copy mid-size blocks through CMA by default:
 * the slots for every size, and streaming stores into the output for every
 * size (odd chunk boundaries: 4 KiB slots, strided layouts). */
Test(allgather, shm_slots_n2) { run_env(2, "shm", "DLCOLL_SHM_CMA_MIN=0", 16u << 20); }
Test(allgather, shm_stream_chunked_n3)
{
    run_env(3, "shm", "DLCOLL_STREAM_MIN_BYTES=1 DLCOLL_SHM_SLOT_BYTES=4096", 4u << 20);
}
Test(allgather, tcp_algo_shm_n3) { run_env(3, "tcp", "DLCOLL_ALGO=shm", 4u << 20); }
Test(allgather, tcp_n8) { run(8, "tcp", 0); }
