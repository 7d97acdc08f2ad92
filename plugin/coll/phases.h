/*
 * coll/phases.h -- the collectives of ABI 1.1 (allreduce, reduce_scatter,
 * broadcast) as a sequence of phases, each a sub-operation (core/request.h
 * dlc_sub_op) that shares the request's sequence number and a range of its
 * transfer slots:
 *
 *   phase 0, the agreement (coll/agree.c): every rank's description of the
 *     call (operation, reduction, dtype, count, root) in a block of
 *     DLC_AGREE_BLOCK bytes, gathered by the allgather an allgather of that
 *     many bytes would use on this communicator; every rank then compares
 *     all of them and fails with MISMATCH naming both sides when they
 *     differ.  An operation-order mismatch with an allgather or a barrier is
 *     found there by the allgather's own checks.  The block also carries the
 *     rank's PREMUL_SUM factor and, when it fits, its whole contribution
 *     (the gathered path below).
 *   phases 1..: the data movement, either
 *     - the ring path: over the transport's tagged messages, the reduction
 *       ring (coll/reduce_scatter/ring.c: reduce, or gather the reduced
 *       blocks) and the broadcast chain (coll/broadcast/chain.c); or
 *     - the gathered path for small calls (coll/gathered.c): every rank's
 *       contribution reaches every rank, inline in the agreement block or
 *       by one allgather phase through the shared segment, and each rank
 *       then reduces them itself in exactly the ring's order, so the result
 *       is the same bits as the ring path's, on every rank.
 *
 * Caller tensors that are not contiguous are staged: packed into a
 * contiguous buffer when the operation starts, unpacked from it when the
 * last phase is done.  Every failure is returned to the engine, which fails
 * the operation through dlc_comm_fail (the one failure rule).
 */
#ifndef DLC_PHASES_H
#define DLC_PHASES_H

#include "plugin/coll/coll.h"
#include "plugin/coll/reduce/reduce.h"

#define DLC_PHASES_MAX 3

/* Step tags: the agreement's allgather uses 0..N-2 and DLC_STEP_MAX; data
 * phase k (1, 2) uses DLC_PHASE_STEP(k) + 0 .. + N-2 and its ready message
 * DLC_PHASE_STEP(k) + DLC_PHASE_STEPS - 1. */
#define DLC_PHASE_STEPS 1024u
#define DLC_PHASE_STEP(k) ((uint32_t)(k)*DLC_PHASE_STEPS)
#define DLC_PHASE_MAX_RANKS ((int)DLC_PHASE_STEPS - 1)

/* coll/agree.c: the description each rank gathers from every other. */
typedef struct dlc_agree_desc {
    uint32_t op_kind; /* DLC_OP_* */
    int32_t red;      /* dlcoll_red_op_t, -1 for broadcast */
    int32_t root;     /* broadcast's root (comm rank), -1 otherwise */
    uint8_t code, bits;
    uint16_t lanes;
    uint64_t
        count; /* elements: of the tensor (allreduce, broadcast), of the output (reduce_scatter) */
    uint32_t path; /* DLC_PATH_*: the data phases this rank chose */
    uint32_t zero;
} dlc_agree_desc;

/* The data phases of a call (dlc_agree_desc.path), compared like the rest:
 * ranks whose DLCOLL_GATHERED_MAX differ get MISMATCH, not a hang. */
enum { DLC_PATH_RING = 0, DLC_PATH_INLINE = 1, DLC_PATH_GATHERED = 2 };
_Static_assert(sizeof(dlc_agree_desc) == 32, "dlc_agree_desc is 32 bytes on every rank");

/* What each rank sends in the agreement: the description (compared), its
 * PREMUL_SUM factor (not compared: it is the rank's own) and, on the
 * gathered path, its contribution when it is at most DLC_AGREE_INLINE
 * bytes. */
#define DLC_AGREE_BLOCK 256
#define DLC_AGREE_INLINE (DLC_AGREE_BLOCK - 40)
typedef struct dlc_agree_block {
    dlc_agree_desc desc;
    double factor;
    uint8_t data[DLC_AGREE_INLINE];
} dlc_agree_block;
_Static_assert(sizeof(dlc_agree_block) == DLC_AGREE_BLOCK, "dlc_agree_block has no padding");

/* The tensors and algorithm of an allgather of bytes (dlc_bytes_gather_prepare). */
typedef struct dlc_bytes_gather {
    int64_t in_shape[1], out_shape[1];
    DLTensor tin, tout;
    const dlc_ag_algo *algo;
} dlc_bytes_gather;

typedef struct dlc_agree {
    dlc_agree_block mine;
    dlc_agree_block *all; /* [n] */
    dlc_bytes_gather g;
} dlc_agree;

/* Prepare the agreement of c on a->mine: *state and *n_slots for the
 * sub-op running a->algo.  a stays owned by the caller (and must not move). */
dlcoll_status_t dlc_agree_prepare(dlcoll_comm *c, dlc_agree *a, void **state, int *n_slots,
                                  dlc_err *err);

/* An allgather of `bytes` bytes from in into out (n * bytes) on c, as an
 * allgather of bytes would run here: *algo, and *state and *n_slots for the
 * sub-op running it.  t holds the two tensors (and their shapes) and must
 * stay in place until the sub-op is destroyed. */
dlcoll_status_t dlc_bytes_gather_prepare(dlcoll_comm *c, dlc_bytes_gather *t, const void *in,
                                         size_t bytes, void *out, void **state, int *n_slots,
                                         dlc_err *err);
/* After the exchange: MISMATCH naming two ranks that disagree, or SUCCESS. */
dlcoll_status_t dlc_agree_check(const dlcoll_comm *c, const dlc_agree *a, dlc_err *err);
/* "allreduce(sum, float32, 4096 elements)" into buf. */
const char *dlc_agree_text(const dlc_agree_desc *d, char *buf, size_t cap);
void dlc_agree_free(dlc_agree *a);

/* ------------------------------------------------------------------ the ring phase */

enum { DLC_RING_REDUCE = 0, DLC_RING_GATHER = 1 };

/* One ring over N blocks of elements (block b is elements off[b] .. off[b+1]).
 * REDUCE: block b's partial result starts at rank b+1 and travels b+1, b+2,
 *   ..., b (its owner), each rank adding its contribution (in + off[b]);
 *   the owner writes the result to own_out.  Partial results travel in the
 *   accumulator type (acc, count * red.acc_size bytes).
 * GATHER: every rank's block b == rank is in out; the others arrive there. */
typedef struct dlc_ring_phase {
    int mode, n, rank;
    uint32_t step0;
    const size_t *off; /* [n+1], borrowed from the owner of the phases */
    size_t elem;       /* bytes of one element */
    dlc_red red;       /* REDUCE */
    const uint8_t *in; /* REDUCE: this rank's contributions (count elements) */
    uint8_t *own_out;  /* REDUCE: this rank's block of the result */
    uint8_t *acc;      /* REDUCE: the partial results (owned) */
    uint8_t *out;      /* GATHER: count elements */
    uint64_t cqdata;
    int eager, hs_ok, next_send, recvs_handled, sends_handled;
} dlc_ring_phase;

extern const dlc_op_ops dlc_ring_phase_ops;
/* The slots a ring phase of n ranks needs. */
int dlc_ring_phase_slots(int n);
/* Allocate acc (REDUCE); DLCOLL_ERR_SYSTEM when out of memory. */
dlcoll_status_t dlc_ring_phase_alloc(dlc_ring_phase *p, dlc_err *err);

/* ------------------------------------------------------------------ the broadcast chain */

/* Ranks in the order root, root+1, ..., root-1 (mod N); each receives the
 * whole tensor from its predecessor and forwards it to its successor. */
typedef struct dlc_chain_phase {
    int n, rank, root;
    uint32_t step0;
    uint8_t *buf; /* the tensor's bytes (contiguous or staged) */
    size_t bytes;
    uint64_t cqdata;
    int eager, hs_ok, recv_done, send_posted, send_done, hs_sent;
} dlc_chain_phase;

extern const dlc_op_ops dlc_chain_phase_ops;
int dlc_chain_phase_slots(int n);

/* ------------------------------------------------------------------ the gathered path */

/* coll/gathered.c: every rank's contribution (`bytes` each) gathered to
 * every rank, inline in the agreement blocks or by an allgather phase into
 * all, then reduced (or, for broadcast, copied from the root) locally. */
typedef struct dlc_gathered {
    unsigned op_kind;
    int inline_data;     /* the contributions travel in the agreement blocks */
    size_t bytes;        /* one rank's contribution */
    const uint8_t *mine; /* this rank's contribution (staged when that applies) */
    uint8_t *all;        /* [n * bytes] (owned), when not inline */
    dlc_bytes_gather g;
    dlc_red red;  /* reductions: this rank's; the factor is each rank's own */
    int root;     /* broadcast */
    size_t block; /* reductions: the elements of each block off[b] .. off[b+1] */
    uint8_t *out; /* allreduce, broadcast: the tensor; reduce_scatter: this rank's block */
    uint8_t *acc; /* reductions: one block of accumulators (owned) */
} dlc_gathered;

/* ------------------------------------------------------------------ the composite */

/* A caller tensor and its contiguous view (the tensor itself, or staging). */
typedef struct dlc_stage {
    dlc_tensor t;
    uint8_t *buf; /* staging buffer when t is not contiguous (owned), else NULL */
} dlc_stage;

/* The bytes the phases read and write for t: its own or a staging buffer. */
static inline uint8_t *dlc_stage_data(const dlc_stage *s)
{
    return s->buf ? s->buf : s->t.base;
}

typedef struct dlc_phases {
    dlc_agree agree;
    dlc_sub_op sub[DLC_PHASES_MAX];
    int slot0[DLC_PHASES_MAX], n_slots[DLC_PHASES_MAX];
    const char *what[DLC_PHASES_MAX]; /* "agreement", "reduce ring", ... */
    int n, cur;
    int polled[DLC_PHASES_MAX]; /* phase k goes through shared memory */
    int gathered;               /* the gathered path (gath) instead of ring or chain */
    dlc_gathered gath;
    /* Staging: inputs packed at start (n_ins of them, in order into in_buf),
     * the output unpacked when done. */
    dlc_stage *ins;
    int n_ins;
    uint8_t *in_buf; /* NULL: no packing */
    dlc_stage out;
    int unpack_out;
    size_t *off; /* [N+1] block offsets of the ring phases (owned) */
    dlc_ring_phase ring[2];
    dlc_chain_phase chain;
} dlc_phases;

/* Queue ph on c as op_kind: ph and everything in it are taken over (freed
 * on failure too).  ph->sub[1..] must be initialised (dlc_sub_op_init with a
 * NULL parent), ph->agree.mine filled; this prepares the agreement. */
dlcoll_status_t dlc_phases_submit(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                  const char *algo_name, dlc_phases *ph, uint64_t cqdata,
                                  dlcoll_request **out, dlc_err *err);
void dlc_phases_free(dlc_phases *ph);

/* Describe t into s; stage it (allocate s->buf) when it is not contiguous. */
dlcoll_status_t dlc_stage_init(dlc_stage *s, const DLTensor *t, const char *what, dlc_err *err);

/* The bytes of a and b intersect (their bounding ranges). */
int dlc_tensors_overlap(const dlc_tensor *a, const dlc_tensor *b);

/* Whether a call whose rank contributions are `bytes` each takes the
 * gathered path on c, up to DLCOLL_GATHERED_MAX bytes (default
 * DLC_GATHERED_MAX; 0: never): inline up to DLC_AGREE_INLINE bytes on any
 * communicator, through the shared segment above that when c's allgathers
 * go there.  The same answer on every rank that agrees on the call and the
 * setting; a rank that does not is told at the agreement.  Errors are
 * DLCOLL_ALGO's, as an allgather's. */
dlcoll_status_t dlc_gathered_fits(dlcoll_comm *c, size_t bytes, int *fits, dlc_err *err);

/* Queue ph as the gathered form of op_kind: ph->gath filled (op_kind, bytes,
 * mine, red / root, out, and block for the reductions), ph->off the blocks
 * (reductions), ph->agree.mine the description; ph is taken over. */
dlcoll_status_t dlc_gathered_submit(dlcoll_comm *c, const char *op_name, dlc_phases *ph,
                                    uint64_t cqdata, dlcoll_request **out, dlc_err *err);
/* After the last phase: compute this rank's result. */
void dlc_gathered_finish(dlc_phases *ph, const dlcoll_comm *c);

/* Fill ph->agree.mine for a reduction of count elements. */
void dlc_phases_red_desc(dlc_phases *ph, unsigned op_kind, const dlc_red *red, size_t count);

/* ------------------------------------------------------------------ the entries (coll/<op>/) */

dlcoll_status_t dlc_allreduce_submit(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                     const dlcoll_reduction_t *red, dlcoll_request **r,
                                     dlc_err *err);
/* inputs NULL: the single-input form (input); else n_inputs tensors. */
dlcoll_status_t dlc_reduce_scatter_submit(dlcoll_comm *c, const DLTensor *input,
                                          const DLTensor *const *inputs, int n_inputs,
                                          DLTensor *out, const dlcoll_reduction_t *red,
                                          dlcoll_request **r, dlc_err *err);
dlcoll_status_t dlc_broadcast_submit(dlcoll_comm *c, DLTensor *t, int root, dlcoll_request **r,
                                     dlc_err *err);

#endif
