/*
 * coll/coll.h -- collective algorithms and the validated plans they execute.
 *
 * The allgather entry points validate their tensors into a dlc_ag_plan
 * (coll/allgather/plan.c): N destination blocks of `bytes` bytes each, block i
 * being logical bytes [off, off + bytes) of one output tensor.  An algorithm
 * from the table (coll/select.c) turns a plan into request state and dlc_op_ops.  The
 * algorithm is chosen per call (DLCOLL_ALGO, default "auto": see coll/select.c).
 */
#ifndef DLC_ALGO_H
#define DLC_ALGO_H

#include "plugin/core/request.h"
#include "plugin/util/tensor.h"

/* The collectives' per-communicator slots (core/comm.h's dlc_comm_ext): each
 * module keeps its state there and frees it in its own release hook. */
enum dlc_coll_ext {
    DLC_COLL_EXT_SHM,        /* coll/shm_seg.c: dlc_shm_comm (segment, automatic choice) */
    DLC_COLL_EXT_HIER,       /* coll/allgather/hier.c: the hosts' layout, the local group */
    DLC_COLL_EXT_PLAN_CACHE, /* coll/plan_cache.c: the last allgather's plan */
    DLC_COLL_EXT_COUNT
};
_Static_assert(DLC_COLL_EXT_COUNT <= DLC_COMM_EXT_SLOTS, "core/comm.h: too few slots");

typedef struct dlc_ag_plan {
    int n, rank;  /* communicator size and this rank */
    size_t bytes; /* per-rank bytes */
    DLDataType dtype;
    dlc_tensor input;
    dlc_tensor *outs; /* 1 (single output) or n (list), malloc'd */
    int n_outs;
    int in_place;                    /* the input is already block[rank] */
    const int *block_map;            /* NULL, or [n]: block i is output block block_map[i]
                             * (sub-plans of the hierarchical allgather; borrowed) */
    dlcoll_comm *comm;               /* the communicator (set by dlc_allgather_submit) */
    struct dlc_plan_cache *borrowed; /* non-NULL: outs belong to this cache (plan_cache.h) */
} dlc_ag_plan;

/* Where block i lives. */
static inline const dlc_tensor *dlc_ag_block(const dlc_ag_plan *p, int i, size_t *off)
{
    if (p->block_map)
        i = p->block_map[i];
    if (p->n_outs == 1) {
        *off = (size_t)i * p->bytes;
        return &p->outs[0];
    }
    *off = 0;
    return &p->outs[i];
}

void dlc_ag_plan_free(dlc_ag_plan *p);

/* a mod n in 0..n-1, also for negative a (ring and barrier neighbours). */
static inline int dlc_mod(int a, int n)
{
    return ((a % n) + n) % n;
}

/* The CQ data word this rank sends with every message of an allgather-like op. */
uint64_t dlc_ag_cqdata(unsigned op_kind, const dlc_ag_plan *p);

typedef struct dlc_ag_algo {
    const char *name;
    /* Build the state for plan and say how many transfer slots the request
     * needs.  Ownership, the same for every algorithm (and for the
     * sub-operations of the hierarchical one):
     *  - prepare takes the plan over in every case: its outs array, or its
     *    reference to the communicator's plan cache (plan->borrowed);
     *  - on success *state owns it all, and ops->destroy(*state) frees it
     *    (dlc_request_new calls destroy itself when it fails);
     *  - on failure prepare has freed the plan and everything it allocated,
     *    and *state is NULL: the caller frees nothing. */
    dlcoll_status_t (*prepare)(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err);
    const dlc_op_ops *ops;
} dlc_ag_algo;

/* The allgather algorithm named name (*out = NULL for NULL, "" or "auto":
 * the automatic choice), or an INVALID_ARGUMENT error listing the known ones. */
dlcoll_status_t dlc_ag_algo_find(const char *name, const dlc_ag_algo **out, dlc_err *err);

/* coll/allgather/ring.c */
extern const dlc_ag_algo dlc_ag_ring;
/* coll/allgather/direct.c */
extern const dlc_ag_algo dlc_ag_direct;
/* coll/allgather/shm.c (every member of c on this host: dlc_comm_all_local) */
extern const dlc_ag_algo dlc_ag_shm;

/* coll/allgather/hier.c: communicators spanning hosts, with the same number of
 * members on every host: partners exchange over the transport, then each
 * host shares through shared memory. */
extern const dlc_ag_algo dlc_ag_hier;
/* c's members are spread evenly over two or more hosts (1) or not (0); -1
 * when the layout of c's hosts could not be built (out of memory). */
int dlc_ag_hier_eligible(dlcoll_comm *c);
/* ... and at least two on each: the automatic choice takes it (same values). */
int dlc_ag_hier_auto(dlcoll_comm *c);

/* The automatic choice for plan on c; NULL when out of memory (every rank
 * must choose alike, so no fallback is guessed). */
const dlc_ag_algo *dlc_ag_choose(dlcoll_comm *c, const dlc_ag_plan *plan);

/* ------------------------------------------------------------------ thresholds
 * Every size and rank count that steers the allgathers, in one place
 * (coll/select.c prints them with the shared-segment settings at
 * DLCOLL_DEBUG=INFO).  Two meanings, kept apart:
 *
 * DLC_AG_EAGER_MAX: blocks up to this many bytes are sent before the
 * receiver's handshake (ring, direct).  Far below the size where libfabric
 * 1.17's shm provider stops completing unexpected messages, and a truncated
 * small message is harmless (coll/allgather/ring.c says why).
 *
 * DLC_AG_DIRECT_MAX_BYTES / _RANKS: the automatic choice between the flat
 * algorithms: the direct exchange (one round) up to this many bytes per
 * rank and ranks, the ring above.  Measured 0.54-0.75x the ring's time up to
 * 1 KiB on shm and tcp with 2-8 ranks, level or slower above
 * (docs/benchmarks.md).  Also hier's choice between the hosts. */
#define DLC_AG_EAGER_MAX 1024
#define DLC_AG_DIRECT_MAX_BYTES 1024
#define DLC_AG_DIRECT_MAX_RANKS 64

/* DLC_GATHERED_MAX: allreduce, reduce_scatter and broadcast whose per-rank
 * contribution is at most this many bytes take the gathered path on a
 * communicator whose allgathers go through the shared segment
 * (coll/gathered.c): every rank gathers every contribution and reduces
 * locally, in the ring's order.  Up to DLC_AGREE_INLINE bytes
 * (coll/phases.h) the contributions ride in the agreement itself, on any
 * communicator. */
#define DLC_GATHERED_MAX (64u * 1024u)

/* The flat algorithm for `bytes` per rank on n ranks (direct or ring). */
const dlc_ag_algo *dlc_ag_choose_flat(size_t bytes, int n);

/* One INFO line with the thresholds above and the shared-segment settings
 * in effect (from init). */
void dlc_coll_log_tuning(const dlc_logger *lg, const dlc_settings *s);

/* Whether c's barriers go through its shared segment (*shm 1 or 0): they
 * must when its allgathers (under the current DLCOLL_ALGO) do, so that an
 * op-order mismatch is still found by comparing the published op kinds.
 * An unknown DLCOLL_ALGO fails here as it fails an allgather: locally,
 * INVALID_ARGUMENT; DLCOLL_ERR_SYSTEM when out of memory. */
dlcoll_status_t dlc_barrier_uses_shm(dlcoll_comm *c, int *shm, dlc_err *err);

/* coll/barrier/dissemination.c: queue a dissemination barrier on c (the application's, and
 * init's barrier #0). */
dlcoll_status_t dlc_barrier_submit(dlcoll_comm *c, dlcoll_request **out, dlc_err *err);

/* coll/select.c: the allgather algorithm for plan on c, as an allgather
 * would choose it (DLCOLL_ALGO, else the automatic choice), checked against
 * c (shm on one host only, hier on evenly filled hosts); a local error
 * otherwise.  The plan is not touched. */
dlcoll_status_t dlc_ag_select(dlcoll_comm *c, const dlc_ag_plan *plan, const dlc_ag_algo **out,
                              dlc_err *err);

/* coll/select.c: queue an allgather-like op of kind op_kind on c with the algorithm
 * DLCOLL_ALGO names (used by group_split with DLC_OP_SPLIT); the plan is taken
 * over. */
dlcoll_status_t dlc_allgather_submit(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                     dlc_ag_plan *plan, dlcoll_request **out, dlc_err *err);

/* coll/allgather/plan.c: validate into a plan. */
dlcoll_status_t dlc_ag_plan_single(const dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                                   dlc_ag_plan *p, dlc_err *err);
dlcoll_status_t dlc_ag_plan_list(const dlcoll_comm *c, const DLTensor *in, DLTensor *const *outs,
                                 int n_outs, dlc_ag_plan *p, dlc_err *err);

#endif
