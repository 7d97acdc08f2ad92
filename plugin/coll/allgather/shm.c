/*
 * coll/allgather/shm.c -- the allgather of a communicator whose members all run on
 * this host, through the communicator's shared segment (shm_seg.h) instead of
 * the transport.
 *
 * Inline mode (the default): the blocks move in rounds of at most one data
 * slot per rank; round j of an operation carries bytes [j*C, (j+1)*C) of every
 * rank's block (C = the slot size), and takes the communicator's next token T
 * (slot T & 1).  In a round, each rank
 *   1. publishes: once every peer is done with token T - 2 (the last round
 *      that used slot T & 1), copies its chunk into its data slot (and from
 *      there into its own block of the output: the input is read once),
 *      writes the op kind, dtype, per-rank bytes and mode, and
 *      release-stores T;
 *   2. reads: for every peer whose slot carries T, compares the peer's op
 *      kind, dtype, per-rank bytes and mode with its own (a MISMATCH naming
 *      the peer before a byte is copied), then copies the chunk into the
 *      output;
 *   3. sets its done to T.
 * A rank publishes round j+1 (the other slot) while it still reads round j,
 * so copying in and copying out overlap across ranks.  When the outputs of
 * all members outgrow the cache (copy_stream.h), the copies into the output
 * use streaming stores.
 *
 * CMA mode: one round; instead of the bytes, a rank publishes the addresses
 * of its input (or of its block in the output, or of a packed copy when both
 * have too many runs) and readers copy them with process_vm_readv (one copy);
 * a rank's operation then completes only when every peer's done has reached
 * T too.  Chosen for blocks from DLCOLL_SHM_CMA_MIN bytes when that is set,
 * else automatically for blocks from CMA_AUTO_MIN_BYTES below the streaming
 * size when every member agreed (shm_seg.h: such an op starts with mode 0 and
 * decides in advance(), once the verdicts are in).  When the operation fails
 * while its memory is published, cancel() revokes the slot before the
 * failure reaches the application, and a reader re-checks after copying, so
 * it never completes with bytes read from a buffer the application may
 * already reuse.
 *
 * Each rank reads the same published descriptions, so a size, dtype or
 * op-kind disagreement is found by every rank itself.  A peer that dies is
 * found by the progress engine's liveness checks (blocker() names whom this
 * rank waits for).  The barrier uses the same exchange with zero bytes
 * (coll/barrier/dissemination.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/allgather/wire.h"
#include "plugin/coll/coll.h"
#include "plugin/transport/cma.h"
#include "plugin/util/copy_stream.h"
#include "plugin/coll/shm_seg.h"

typedef struct shm_state {
    dlc_ag_plan plan;
    dlc_shm_seg *seg;
    uint64_t first;    /* token of round 0 */
    int rounds;        /* rounds of this op (1 in CMA mode and for small blocks) */
    size_t chunk;      /* bytes per rank per round */
    int mode;          /* DLC_SHM_INLINE / DLC_SHM_CMA */
    int published;     /* rounds published */
    int cur;           /* the round being read */
    int n_read;        /* peers whose chunk of round cur is copied */
    int stream;        /* copies into the output use streaming stores */
    uint8_t *cma_copy; /* packed own block for CMA (too many runs) */
    uint64_t cqdata;
    uint8_t read[]; /* [n]: peer's chunk of round cur copied */
} shm_state;

static inline int token_reached(uint64_t have, uint64_t want)
{
    return have >= want;
}

static void shm_destroy(void *state)
{
    shm_state *s = state;
    if (!s)
        return;
    free(s->cma_copy);
    dlc_ag_plan_free(&s->plan);
    free(s);
}

static dlcoll_status_t shm_prepare(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err)
{
    *state = NULL;
    *n_slots = 0;
    /* Zeroed after the plan only (the plan, with its input's description,
     * is most of the state and is copied in). */
    size_t size = sizeof(shm_state) + (size_t)(plan->n > 0 ? plan->n : 1);
    shm_state *s = malloc(size);
    if (!s) {
        dlc_ag_plan_free(plan);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    }
    size_t plan_end = offsetof(shm_state, plan) + sizeof s->plan;
    memset(s, 0, offsetof(shm_state, plan));
    memset((char *)s + plan_end, 0, size - plan_end);
    s->plan = *plan;
    plan->outs = NULL; /* taken over */
    plan->borrowed = NULL;
    plan->n_outs = 0;
    *state = s;
    return DLCOLL_SUCCESS;
}

/* Per-rank bytes from which the automatic choice copies through CMA (when
 * the members agree, and below the streaming size): measured on the
 * development machine (2 ranks, 2 cores) 0.94x the slots' time at 32 KiB,
 * 0.5-0.77x from 64 KiB to 8 MiB (docs/benchmarks.md). */
#define CMA_AUTO_MIN_BYTES (32u << 10)

/* Fix the op's mode, its rounds and their tokens; CMA puts the own block in
 * place now (inline does it round by round, in publish). */
static dlcoll_status_t set_mode(shm_state *s, int mode, dlc_err *err)
{
    dlc_ag_plan *p = &s->plan;
    s->mode = mode;
    if (mode == DLC_SHM_CMA) {
        s->rounds = 1;
        dlcoll_status_t st = dlc_ag_place_own_block(p, NULL, err);
        if (st != DLCOLL_SUCCESS)
            return st;
    } else {
        size_t rounds = p->bytes ? (p->bytes + s->chunk - 1) / s->chunk : 1;
        if (rounds > INT32_MAX / 2)
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "%zu bytes per rank is too large",
                            p->bytes);
        s->rounds = (int)rounds;
    }
    s->first = s->seg->last_token + 1u;
    s->seg->last_token += (uint64_t)s->rounds;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t shm_start(dlcoll_request *r, dlc_err *err)
{
    shm_state *s = r->state;
    dlc_ag_plan *p = &s->plan;
    s->cqdata = dlc_ag_cqdata(r->op_kind, p);
    if (p->n == 1)
        return dlc_ag_place_own_block(p, NULL, err);
    dlcoll_status_t st = dlc_shm_seg_get(r->comm, &s->seg, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    s->chunk = s->seg->slot_bytes;
    /* Stream when the outputs of all members (n * n * bytes) outgrow the cache. */
    const dlc_settings *set = &r->w->settings;
    size_t stream_min = dlc_stream_min_bytes(set->stream_min_bytes);
    size_t nn = (size_t)p->n * (size_t)p->n;
    s->stream = stream_min != SIZE_MAX && p->bytes >= (stream_min + nn - 1) / nn;
    long long cma_min = set->shm_cma_min;
    if (cma_min > 0 && p->bytes >= (unsigned long long)cma_min)
        return set_mode(s, DLC_SHM_CMA, err);
    if (cma_min < 0 && !s->stream && p->bytes >= CMA_AUTO_MIN_BYTES)
        return DLCOLL_SUCCESS; /* mode 0: decided in advance, once the members agree */
    return set_mode(s, DLC_SHM_INLINE, err);
}

/* Bytes of round j: [*off, *off + return) of every block. */
static size_t round_span(const shm_state *s, int j, size_t *off)
{
    if (s->mode == DLC_SHM_CMA) {
        *off = 0;
        return s->plan.bytes;
    }
    *off = (size_t)j * s->chunk;
    size_t left = s->plan.bytes - *off;
    return left < s->chunk ? left : s->chunk;
}

/* for_runs callback: record one run of a CMA source (stop after the limit). */
typedef struct src_runs {
    dlc_shm_slot_ctl *sc;
} src_runs;

static int add_src_run(void *ctx, uint8_t *ptr, size_t n)
{
    dlc_shm_slot_ctl *sc = ctx;
    if (sc->n_runs == DLC_SHM_CMA_RUNS)
        return 1;
    sc->run_addr[sc->n_runs] = (uint64_t)(uintptr_t)ptr;
    sc->run_len[sc->n_runs] = n;
    sc->n_runs++;
    return 0;
}

/* Describe this rank's block for CMA readers: the input's runs, else its
 * block in the output, else a packed copy. */
static dlcoll_status_t describe_cma_source(shm_state *s, dlc_shm_slot_ctl *sc, dlc_err *err)
{
    const dlc_ag_plan *p = &s->plan;
    sc->n_runs = 0;
    if (dlc_tensor_for_runs(&p->input, 0, p->bytes, add_src_run, sc) == 0)
        return DLCOLL_SUCCESS;
    size_t off;
    const dlc_tensor *t = dlc_ag_block(p, p->rank, &off);
    sc->n_runs = 0;
    if (dlc_tensor_for_runs(t, off, p->bytes, add_src_run, sc) == 0)
        return DLCOLL_SUCCESS;
    s->cma_copy = malloc(p->bytes);
    if (!s->cma_copy)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for a %zu-byte copy", p->bytes);
    dlc_tensor_pack(&p->input, 0, p->bytes, s->cma_copy);
    sc->n_runs = 1;
    sc->run_addr[0] = (uint64_t)(uintptr_t)s->cma_copy;
    sc->run_len[0] = p->bytes;
    return DLCOLL_SUCCESS;
}

/* Copy len bytes from src to bytes [off, off + len) of block i. */
static void copy_to_block(const shm_state *s, int i, size_t off, size_t len, const uint8_t *src)
{
    size_t boff;
    const dlc_tensor *t = dlc_ag_block(&s->plan, i, &boff);
    if (s->stream)
        dlc_tensor_unpack_stream(t, boff + off, len, src);
    else
        dlc_tensor_unpack(t, boff + off, len, src);
}

/* Publish round j (slot (first + j) & 1); inline, also copy the chunk into
 * this rank's own block. */
static dlcoll_status_t publish(shm_state *s, int j, dlc_err *err)
{
    const dlc_ag_plan *p = &s->plan;
    dlc_shm_seg *g = s->seg;
    uint64_t token = s->first + (uint64_t)j;
    dlc_shm_slot_ctl *sc = &g->ctl[g->rank].slot[token & 1u];
    sc->mode = (uint32_t)s->mode;
    sc->cqdata = s->cqdata;
    if (s->mode == DLC_SHM_INLINE) {
        size_t off, len = round_span(s, j, &off);
        uint8_t *slot = dlc_shm_slot_data(g, g->rank, (int)(token & 1u));
        if (len) {
            dlc_tensor_pack(&p->input, off, len, slot);
            if (!p->in_place)
                copy_to_block(s, p->rank, off, len, slot);
        }
    } else {
        dlcoll_status_t st = describe_cma_source(s, sc, err);
        if (st != DLCOLL_SUCCESS)
            return st;
    }
    atomic_store_explicit(&sc->token, token, memory_order_release);
    return DLCOLL_SUCCESS;
}

/* Compare a peer's op kind, dtype and per-rank bytes with this rank's. */
static dlcoll_status_t check_peer(const dlcoll_request *r, int peer_world, uint64_t theirs,
                                  uint64_t mine, dlc_err *err)
{
    if (theirs == mine)
        return DLCOLL_SUCCESS;
    if (dlc_cqdata_op(theirs) != dlc_cqdata_op(mine))
        return dlc_fail(err, DLCOLL_ERR_MISMATCH,
                        "rank %d is in %s #%" PRIu32 " while this rank is in %s #%" PRIu32
                        " (operations called in a different order)",
                        peer_world, dlc_op_kind_name(dlc_cqdata_op(theirs)), r->seq, r->op_name,
                        r->seq);
    if (dlc_cqdata_code(theirs) != dlc_cqdata_code(mine) ||
        dlc_cqdata_bits(theirs) != dlc_cqdata_bits(mine)) {
        char a[64], b[64];
        DLDataType td = {dlc_cqdata_code(theirs), dlc_cqdata_bits(theirs), 1};
        DLDataType od = {dlc_cqdata_code(mine), dlc_cqdata_bits(mine), 1};
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d sent %s, expected %s", peer_world,
                        dlc_dtype_name(td, a, sizeof a), dlc_dtype_name(od, b, sizeof b));
    }
    return dlc_fail(err, DLCOLL_ERR_MISMATCH,
                    "rank %d passes %" PRIu64 " bytes per rank, this rank %" PRIu64, peer_world,
                    dlc_cqdata_bytes(theirs), dlc_cqdata_bytes(mine));
}

/* Errors of a CMA read from world rank pw. */
static dlcoll_status_t cma_failed(const dlcoll_request *r, int pw, int e, const char *what,
                                  dlc_err *err)
{
    char desc[256];
    dlc_peer_desc(r->w, pw, desc, sizeof desc);
    char gone[512];
    if (dlc_liveness_peer_exit_cause(r->comm, pw, e == ESRCH ? 0 : 50, gone, sizeof gone) > 0)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s", gone);
    if (e == ESRCH)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s exited", desc);
    if (e == EPERM)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM,
                        "cannot read %s from %s: cross-memory attach (process_vm_readv) is not "
                        "permitted here (ptrace restrictions: kernel.yama.ptrace_scope or a "
                        "seccomp profile); set DLCOLL_ALGO=ring to use the transport instead",
                        what, desc);
    return dlc_fail(err, DLCOLL_ERR_TRANSPORT, "cannot read %s from %s: process_vm_readv: %s", what,
                    desc, strerror(e));
}

/* Copy peer p's chunk of round cur (its slot carries the round's token and
 * matching metadata). */
static dlcoll_status_t read_chunk(dlcoll_request *r, shm_state *s, int p, dlc_err *err)
{
    const dlc_ag_plan *pl = &s->plan;
    dlc_shm_seg *g = s->seg;
    uint64_t token = s->first + (uint64_t)s->cur;
    int k = (int)(token & 1u);
    const dlc_shm_slot_ctl *sc = &g->ctl[p].slot[k];
    int pw = r->comm->members[p];
    size_t boff, off, len = round_span(s, s->cur, &off);
    const dlc_tensor *t = dlc_ag_block(pl, p, &boff);
    if (len == 0)
        return DLCOLL_SUCCESS;
    if (s->mode == DLC_SHM_INLINE) {
        copy_to_block(s, p, off, len, dlc_shm_slot_data(g, p, k));
        return DLCOLL_SUCCESS;
    }
    const dlc_shm_ctl *pc = &g->ctl[p];
    if (!g->cma_verified[p]) {
        uint64_t cookie = 0;
        int e = dlc_cma_read_u64(pc->pid, pc->cookie_addr, &cookie);
        if (e)
            return cma_failed(r, pw, e, "its identity cookie", err);
        if (cookie != pc->cookie)
            return dlc_fail(err, DLCOLL_ERR_SYSTEM,
                            "pid %d is not rank %d (its memory does not hold the rank's cookie): "
                            "are the ranks in different pid namespaces with one host name? unset "
                            "DLCOLL_SHM_CMA_MIN",
                            (int)pc->pid, pw);
        g->cma_verified[p] = 1;
    }
    uint32_t n = sc->n_runs;
    if (n == 0 || n > DLC_SHM_CMA_RUNS)
        return dlc_fail(err, DLCOLL_ERR_TRANSPORT, "rank %d published %u memory runs", pw,
                        (unsigned)n);
    struct iovec rem[DLC_SHM_CMA_RUNS];
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        rem[i].iov_base = (void *)(uintptr_t)sc->run_addr[i];
        rem[i].iov_len = (size_t)sc->run_len[i];
        total += rem[i].iov_len;
    }
    if (total != pl->bytes)
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d published %zu bytes, expected %zu", pw,
                        total, pl->bytes);
    int e = dlc_cma_read(pc->pid, rem, (int)n, t, boff, pl->bytes);
    if (e)
        return cma_failed(r, pw, e, "its block", err);
    /* Still published: the peer did not give up (and hand its buffer back to
     * its application) while we copied. */
    if (atomic_load_explicit(&sc->revoked, memory_order_acquire) == token)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE,
                        "rank %d abandoned the operation while its block was being read", pw);
    return DLCOLL_SUCCESS;
}

/* Every peer's done has reached token. */
static int peers_done(const shm_state *s, uint64_t token, int *waiting_for)
{
    const dlc_shm_seg *g = s->seg;
    for (int i = 1; i < g->n; i++) {
        int q = (g->rank + i) % g->n;
        if (!token_reached(atomic_load_explicit(&g->ctl[q].done, memory_order_acquire), token)) {
            if (waiting_for)
                *waiting_for = q;
            return 0;
        }
    }
    return 1;
}

static dlcoll_status_t shm_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    shm_state *s = r->state;
    const dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank;
    if (n == 1)
        return DLCOLL_SUCCESS;
    dlc_shm_seg *g = s->seg;
    int q;
    /* Publish this member's CMA verdict as soon as it can (a peer may be
     * waiting for it), and decide an undecided mode. */
    if (!g->cma_probed)
        dlc_shm_seg_cma_agree(g, &q);
    if (s->mode == 0) {
        int agreed = dlc_shm_seg_cma_agree(g, &q);
        if (agreed < 0)
            return DLCOLL_IN_PROGRESS;
        if (!g->cma_logged) {
            g->cma_logged = 1;
            DLC_INFO(&r->w->lg, "shared segment %s: blocks of %u bytes or more %s", g->name,
                     CMA_AUTO_MIN_BYTES,
                     agreed ? "are copied once with process_vm_readv (every member agreed)"
                            : "go through the slots (a member cannot read its peers' memory, "
                              "or shares a core)");
        }
        dlcoll_status_t st = set_mode(s, agreed ? DLC_SHM_CMA : DLC_SHM_INLINE, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }

    for (;;) {
        int moved = 0;
        /* Publish the next round: at most two in flight (two slots), and the
         * slot's previous round read by every peer. */
        while (s->published < s->rounds && s->published <= s->cur + 1) {
            uint64_t token = s->first + (uint64_t)s->published;
            if (token > 2u && !peers_done(s, token - 2u, NULL))
                break;
            dlcoll_status_t st = publish(s, s->published, err);
            if (st != DLCOLL_SUCCESS)
                return st;
            s->published++;
            moved = 1;
        }
        if (s->cur == s->rounds)
            break;
        /* Read round cur from every peer that has published it. */
        uint64_t token = s->first + (uint64_t)s->cur;
        for (int i = 1; i < n && s->cur < s->published; i++) {
            int q = (me + i) % n;
            if (s->read[q])
                continue;
            const dlc_shm_slot_ctl *sc = &g->ctl[q].slot[token & 1u];
            if (atomic_load_explicit(&sc->token, memory_order_acquire) != token)
                continue;
            dlcoll_status_t st = check_peer(r, r->comm->members[q], sc->cqdata, s->cqdata, err);
            if (st == DLCOLL_SUCCESS && sc->mode != (uint32_t)s->mode)
                st = dlc_fail(err, DLCOLL_ERR_MISMATCH,
                              "rank %d %s while this rank %s (is DLCOLL_SHM_CMA_MIN set "
                              "differently on the ranks?)",
                              r->comm->members[q],
                              sc->mode == DLC_SHM_CMA ? "copies through cross-memory attach"
                                                      : "copies through the shared slots",
                              s->mode == DLC_SHM_CMA ? "copies through cross-memory attach"
                                                     : "copies through the shared slots");
            if (st == DLCOLL_SUCCESS)
                st = read_chunk(r, s, q, err);
            if (st != DLCOLL_SUCCESS)
                return st;
            s->read[q] = 1;
            s->n_read++;
            moved = 1;
        }
        if (s->n_read == n - 1) {
            atomic_store_explicit(&g->ctl[me].done, token, memory_order_release);
            /* Every member has mapped the segment (each published this round). */
            if (me == 0 && !g->unlinked)
                dlc_shm_seg_unlink(g);
            memset(s->read, 0, (size_t)n);
            s->n_read = 0;
            s->cur++;
            moved = 1;
        }
        if (!moved)
            break;
        *progressed = 1;
    }
    if (s->cur < s->rounds)
        return DLCOLL_IN_PROGRESS;
    /* CMA: the peers copy from this rank's memory until their done says so. */
    if (s->mode == DLC_SHM_CMA && !peers_done(s, s->first, NULL))
        return DLCOLL_IN_PROGRESS;
    return DLCOLL_SUCCESS;
}

static int shm_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const shm_state *s = r->state;
    const dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank, q = -1;
    if (n == 1 || !r->comm || !s->seg)
        return -1;
    if (s->mode == 0) {
        if (dlc_shm_seg_cma_agree(s->seg, &q) >= 0)
            return -1;
        snprintf(what, cap, "to agree on copying through cross-memory attach");
        return r->comm->members[q];
    }
    if (s->cur < s->rounds && s->published == s->cur) {
        uint64_t token = s->first + (uint64_t)s->cur;
        if (token <= 2u || peers_done(s, token - 2u, &q))
            return -1;
        snprintf(what, cap, "to finish reading this rank's previous shared-memory block");
        return r->comm->members[q];
    }
    if (s->cur < s->rounds) {
        for (int i = 1; i < n; i++) {
            q = (me + i) % n;
            if (!s->read[q]) {
                if (s->rounds > 1)
                    snprintf(what, cap, "its block, chunk %d of %d, through shared memory",
                             s->cur + 1, s->rounds);
                else
                    snprintf(what, cap, "its block, through shared memory");
                return r->comm->members[q];
            }
        }
        return -1;
    }
    if (s->mode == DLC_SHM_CMA && !peers_done(s, s->first, &q)) {
        snprintf(what, cap, "to finish copying this rank's block");
        return r->comm->members[q];
    }
    return -1;
}

static void shm_cancel(dlcoll_request *r)
{
    shm_state *s = r->state;
    if (s && s->seg && s->published && s->mode == DLC_SHM_CMA)
        atomic_store_explicit(&s->seg->ctl[s->seg->rank].slot[s->first & 1u].revoked, s->first,
                              memory_order_release);
}

static const dlc_op_ops shm_ops = {
    .start = shm_start,
    .advance = shm_advance,
    .blocker = shm_blocker,
    .destroy = shm_destroy,
    .cancel = shm_cancel,
    .polled = 1,
};

const dlc_ag_algo dlc_ag_shm = {
    .name = "shm",
    .prepare = shm_prepare,
    .ops = &shm_ops,
};
