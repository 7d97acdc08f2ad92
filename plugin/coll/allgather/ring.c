/*
 * coll/allgather/ring.c -- the ring allgather.
 *
 * With N ranks, rank r sends to right = r + 1 and receives from left = r - 1
 * (mod N).  In step s = 0 .. N-2 it sends block (r - s) mod N and receives
 * block (r - s - 1) mod N.  All N-1 receives are posted at the start, each
 * with its own step tag and exactly the block's size (the provider truncates
 * anything longer, so nothing is ever written past a block); the send of step
 * s is posted as soon as its block is present: the own block at once, the
 * others when the receive of step s-1 completed.
 *
 * Blocks move directly between the user's tensors and the wire: a block made
 * of at most dlc_transport_iov_limit() contiguous runs is one message over
 * those runs (a contiguous block is one iov entry).  A strided block with
 * more runs goes through a bounce buffer (packed before a send, unpacked
 * after a receive and forwarded from the bounce buffer).
 * KNOWN LIMITATION: that staging costs a copy and block-sized memory for
 * every such block; chunking or registering larger iov lists would avoid it.
 *
 * Every message carries this rank's op kind, dtype and per-rank byte count
 * (CQ data); the receiver compares them with its own, so any disagreement
 * anywhere in the ring surfaces at some adjacent pair.
 *
 * Handshake: before its first data send, a rank waits for an empty message
 * from its right neighbour (step DLC_STEP_MAX, same CQ data word) saying
 * "I am in this op with this dtype and size"; each rank sends one to its
 * left at start.  So a block is only ever sent to a rank that expects exactly
 * that many bytes.  Receives are still posted with the exact size (truncation
 * is still checked), but a truncated large message must never happen: the
 * shm provider of libfabric 1.17 spins forever inside fi_cq_read (its CMA copy
 * loop) when a large message is truncated, also blocking the sender.  The
 * cost is one small message latency at the start of the op.
 * Small blocks (at most DLC_AG_EAGER_MAX bytes, far below the size where shm
 * leaves its inline/inject buffers for CMA) do not wait for the handshake:
 * a truncated small message is harmless (the receive is exact-size, so the
 * provider reports the truncation and writes nothing past the block), and
 * the receiver's checks catch any disagreement from the data itself.  The
 * handshakes are still exchanged and checked before the op completes, so a
 * rank whose own blocks are large still never sends them unasked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/allgather/wire.h"
#include "plugin/coll/coll.h"


typedef dlc_wire_block ring_block;

typedef struct ring_state {
    dlc_ag_plan plan;
    ring_block *blocks; /* [n] */
    struct iovec *iovs; /* every block's iov entries, one allocation */
    int next_send;      /* next step whose send is not yet posted */
    int hs_ok;          /* the right neighbour's handshake arrived and matched */
    int eager;          /* small blocks: send without waiting for hs_ok */
    int recvs_handled;
    int sends_handled;
    uint64_t cqdata;
} ring_state;

static void ring_destroy(void *state)
{
    ring_state *s = state;
    if (!s)
        return;
    dlc_wire_blocks_free(s->blocks, s->iovs, s->plan.n);
    dlc_ag_plan_free(&s->plan);
    free(s);
}

static dlcoll_status_t ring_prepare(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err)
{
    *state = NULL;
    /* receives of steps 0..N-2, their sends, then the handshake receive and send */
    *n_slots = plan->n > 1 ? 2 * (plan->n - 1) + 2 : 0;
    if (plan->n - 1 > (int)DLC_STEP_MAX) {
        dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                 "the ring allgather supports at most %u ranks, "
                 "the communicator has %d",
                 DLC_STEP_MAX + 1, plan->n);
        dlc_ag_plan_free(plan);
        return DLCOLL_ERR_UNSUPPORTED;
    }
    ring_state *s = calloc(1, sizeof *s);
    if (!s) {
        dlc_ag_plan_free(plan);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    }
    s->plan = *plan;
    memset(plan, 0, sizeof *plan);
    *state = s;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t ring_start(dlcoll_request *r, dlc_err *err)
{
    ring_state *s = r->state;
    dlc_ag_plan *p = &s->plan;
    s->cqdata = dlc_ag_cqdata(r->op_kind, p);
    dlcoll_status_t st =
        dlc_wire_blocks_new(p, dlc_transport_iov_limit(r->w->tp), &s->blocks, &s->iovs, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_ag_place_own_block(p, s->blocks[p->rank].bounce, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    s->blocks[p->rank].present = 1;
    s->eager = p->bytes <= DLC_AG_EAGER_MAX;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t ring_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    ring_state *s = r->state;
    dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank, steps = n - 1;
    if (steps == 0)
        return DLCOLL_SUCCESS;
    const int *members = r->comm->members;
    int left = members[dlc_mod(me - 1, n)], right = members[dlc_mod(me + 1, n)];

    /* Receives not yet posted (the provider had no room at start). */
    for (int st_i = 0; st_i < steps; st_i++) {
        dlc_slot *sl = &r->slots[st_i];
        if (sl->posted)
            continue;
        ring_block *b = &s->blocks[dlc_mod(me - st_i - 1, n)];
        dlcoll_status_t st = dlc_slot_recv(r, st_i, left, b->iov, b->iovcnt, (uint32_t)st_i, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }

    /* Completed receives, in any order. */
    for (int st_i = 0; st_i < steps; st_i++) {
        dlc_slot *sl = &r->slots[st_i];
        if (!dlc_slot_ready(sl))
            continue;
        int bi = dlc_mod(me - st_i - 1, n);
        dlcoll_status_t st = dlc_slot_check_recv(r, sl, p->bytes, s->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        ring_block *b = &s->blocks[bi];
        if (b->bounce) {
            size_t off;
            const dlc_tensor *t = dlc_ag_block(p, bi, &off);
            dlc_tensor_unpack(t, off, p->bytes, b->bounce);
        }
        b->present = 1;
        s->recvs_handled++;
        *progressed = 1;
    }

    /* The handshakes: ours to the left, the right neighbour's to us. */
    dlc_slot *hs_send = &r->slots[2 * steps], *hs_recv = &r->slots[2 * steps + 1];
    if (!hs_recv->posted) {
        dlcoll_status_t st = dlc_slot_recv(r, 2 * steps + 1, right, NULL, 0, DLC_STEP_MAX, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (!hs_send->posted) {
        dlcoll_status_t st =
            dlc_slot_send(r, 2 * steps, left, NULL, 0, DLC_STEP_MAX, s->cqdata, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (dlc_slot_ready(hs_recv)) {
        dlcoll_status_t st = dlc_slot_check_recv(r, hs_recv, 0, s->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        s->hs_ok = 1;
        *progressed = 1;
    }
    if (dlc_slot_ready(hs_send)) {
        dlcoll_status_t st = dlc_slot_check_send(r, hs_send, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }

    /* Sends whose block is present, in step order, once the right agreed
     * (small blocks at once). */
    while ((s->hs_ok || s->eager) && s->next_send < steps) {
        int step = s->next_send;
        ring_block *b = &s->blocks[dlc_mod(me - step, n)];
        if (!b->present)
            break;
        dlcoll_status_t st = dlc_slot_send(r, steps + step, right, b->iov, b->iovcnt,
                                           (uint32_t)step, s->cqdata, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        s->next_send++;
        *progressed = 1;
    }

    /* Completed sends. */
    dlcoll_status_t st =
        dlc_slots_check_sends(r, steps, s->next_send, &s->sends_handled, progressed, err);
    if (st != DLCOLL_SUCCESS)
        return st;

    if (s->recvs_handled == steps && s->sends_handled == steps && hs_send->handled && s->hs_ok)
        return DLCOLL_SUCCESS;
    return DLCOLL_IN_PROGRESS;
}

static int ring_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const ring_state *s = r->state;
    const dlc_ag_plan *p = &s->plan;
    int n = p->n, steps = n - 1;
    if (steps == 0 || !r->comm)
        return -1;
    if (!s->hs_ok) {
        snprintf(what, cap, "handshake before ring step 1 of %d", steps);
        return r->comm->members[dlc_mod(p->rank + 1, n)];
    }
    for (int i = 0; i < steps; i++) {
        if (!r->slots[i].handled) {
            snprintf(what, cap, "ring step %d of %d", i + 1, steps);
            return r->comm->members[dlc_mod(p->rank - 1, n)];
        }
    }
    for (int i = 0; i < steps; i++) {
        if (!r->slots[steps + i].handled) {
            snprintf(what, cap, "ring step %d of %d, sending", i + 1, steps);
            return r->comm->members[dlc_mod(p->rank + 1, n)];
        }
    }
    return -1;
}

static const dlc_op_ops ring_ops = {
    .start = ring_start,
    .advance = ring_advance,
    .blocker = ring_blocker,
    .destroy = ring_destroy,
};

const dlc_ag_algo dlc_ag_ring = {
    .name = "ring",
    .prepare = ring_prepare,
    .ops = &ring_ops,
};
