/*
 * coll/allgather/direct.c -- the direct-exchange allgather (one round).
 *
 * Every rank receives every other member's block straight from that member
 * and sends its own block to every other member: N-1 receives and N-1 sends,
 * all posted at the start, nothing forwarded.  For small blocks this beats
 * the ring, whose N-1 steps form a chain: there a rank's last block arrives
 * only after every rank on the way has been scheduled, which with more ranks
 * than cores (or other load) costs a scheduling delay per step.  Here a rank
 * waits only for each peer's own, first action.  For larger blocks the
 * ring catches up (each rank sends N-1 blocks either way, and the ring's
 * transfers overlap in a pipeline instead of all competing at once;
 * measured on 2 cores: as fast or faster from about 8-16 KiB per rank); the
 * choice between them belongs to coll/select.c.
 *
 * Messages: every data message uses step 0 of the op's tag; the receives are
 * source-directed (FI_DIRECTED_RECV), so the peers' blocks are told apart by
 * their source.  Each receive is posted with exactly the block's size into
 * that member's output block: directly over the block's runs when there are
 * at most dlc_transport_iov_limit() of them, else into a bounce buffer that is
 * unpacked once the message is in (the own block, when staged, is packed into
 * its bounce buffer once and sent from there to every peer).
 *
 * Posting order spreads the load: rank r sends to r+1, r+2, ... (mod N) and
 * receives from r-1, r-2, ..., so at any moment the members' first sends go
 * to N different receivers.
 *
 * Every message carries this rank's op kind, dtype and per-rank byte count
 * (CQ data) and every receive is checked against this rank's own, so ranks
 * that disagree get a MISMATCH naming the peer.
 *
 * Handshakes, as in the ring (see coll/allgather/ring.c for why: libfabric 1.17's
 * shm spins for ever on a truncated large message): with blocks larger than
 * DLC_AG_EAGER_MAX bytes, each rank sends every peer an empty message at
 * start (step DLC_STEP_MAX, same CQ data word) saying "I am in this op with
 * this dtype and size", and sends its block to peer p only once p's
 * handshake arrived and matched, so a large message only ever goes to a rank
 * that expects exactly that many bytes.  Small blocks are sent at once and
 * no handshakes are exchanged: every rank sends its block to every peer, so
 * the data messages themselves carry the CQ data word to everyone (unlike
 * the ring, where a rank hears only from its left).  Mixed sizes stay safe:
 * a small (eager) rank never sends a handshake, so a large rank never sends
 * it anything; the large rank's exact-size receive gets the small block and
 * reports the MISMATCH, which reaches the others as a notice.  A truncated
 * small message is harmless (the exact-size receive reports it).  Skipping
 * the N-1 handshakes each way halves the messages of a small allgather
 * (measured: 0.65-0.75x the ring's latency at 4 ranks over tcp, where they
 * made direct 1.0-1.4x slower than the ring).
 *
 * Slots (d = 1 .. N-1 is the distance to the peer):
 *   [0 .. N-1)           data receive from member r-d
 *   [N-1 .. 2(N-1))      data send to member r+d
 *   [2(N-1) .. 3(N-1))   handshake receive from member r+d (whom we send to)
 *   [3(N-1) .. 4(N-1))   handshake send to member r-d (who sends to us)
 * (the handshake slots stay unused for small blocks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/allgather/wire.h"
#include "plugin/coll/coll.h"


typedef dlc_wire_block direct_block;

typedef struct direct_state {
    dlc_ag_plan plan;
    direct_block *blocks; /* [n], indexed by group rank */
    struct iovec *iovs;   /* every block's iov entries, one allocation */
    int eager;            /* small blocks: send without waiting for the handshake */
    int handshakes;       /* exchange handshakes: large blocks (!eager) */
    int recvs_handled;    /* data receives checked */
    int sends_handled;    /* data sends checked */
    int hs_recvs_handled; /* handshakes received and matched */
    int hs_sends_handled;
    uint64_t cqdata;
} direct_state;

/* Slot indexes for distance d (1 .. n-1). */
static int slot_recv(int n, int d)
{
    (void)n;
    return d - 1;
}
static int slot_send(int n, int d)
{
    return (n - 1) + d - 1;
}
static int slot_hs_recv(int n, int d)
{
    return 2 * (n - 1) + d - 1;
}
static int slot_hs_send(int n, int d)
{
    return 3 * (n - 1) + d - 1;
}

static void direct_destroy(void *state)
{
    direct_state *s = state;
    if (!s)
        return;
    dlc_wire_blocks_free(s->blocks, s->iovs, s->plan.n);
    dlc_ag_plan_free(&s->plan);
    free(s);
}

static dlcoll_status_t direct_prepare(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err)
{
    *state = NULL;
    *n_slots = plan->n > 1 ? 4 * (plan->n - 1) : 0;
    direct_state *s = calloc(1, sizeof *s);
    if (!s) {
        dlc_ag_plan_free(plan);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    }
    s->plan = *plan;
    memset(plan, 0, sizeof *plan);
    *state = s;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t direct_start(dlcoll_request *r, dlc_err *err)
{
    direct_state *s = r->state;
    dlc_ag_plan *p = &s->plan;
    s->cqdata = dlc_ag_cqdata(r->op_kind, p);
    dlcoll_status_t st =
        dlc_wire_blocks_new(p, dlc_transport_iov_limit(r->w->tp), &s->blocks, &s->iovs, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_ag_place_own_block(p, s->blocks[p->rank].bounce, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    s->eager = p->bytes <= DLC_AG_EAGER_MAX;
    s->handshakes = !s->eager;
    return DLCOLL_SUCCESS;
}

/* Post what is not posted yet: the data receives and the handshakes (both
 * ways).  DLCOLL_IN_PROGRESS from the transport (no room) stops that kind of
 * posting until the next call; anything else fails. */
static dlcoll_status_t post_receives_and_handshakes(dlcoll_request *r, int *progressed,
                                                    dlc_err *err)
{
    direct_state *s = r->state;
    const dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank;
    const int *members = r->comm->members;

    /* Receives first (a block may arrive at once), then our handshakes (they
     * release the peers' large sends), then the handshake receives. */
    for (int d = 1; d < n; d++) {
        int i = slot_recv(n, d);
        if (r->slots[i].posted)
            continue;
        direct_block *b = &s->blocks[dlc_mod(me - d, n)];
        dlcoll_status_t st =
            dlc_slot_recv(r, i, members[dlc_mod(me - d, n)], b->iov, b->iovcnt, 0, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    for (int d = 1; d < n && s->handshakes; d++) {
        int i = slot_hs_send(n, d);
        if (r->slots[i].posted)
            continue;
        dlcoll_status_t st =
            dlc_slot_send(r, i, members[dlc_mod(me - d, n)], NULL, 0, DLC_STEP_MAX, s->cqdata, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    for (int d = 1; d < n && s->handshakes; d++) {
        int i = slot_hs_recv(n, d);
        if (r->slots[i].posted)
            continue;
        dlcoll_status_t st =
            dlc_slot_recv(r, i, members[dlc_mod(me + d, n)], NULL, 0, DLC_STEP_MAX, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t direct_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    direct_state *s = r->state;
    dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank, peers = n - 1;
    if (peers == 0)
        return DLCOLL_SUCCESS;
    const int *members = r->comm->members;

    dlcoll_status_t st = post_receives_and_handshakes(r, progressed, err);
    if (st != DLCOLL_SUCCESS)
        return st;

    /* Completed data receives, in any order. */
    for (int d = 1; d < n; d++) {
        dlc_slot *sl = &r->slots[slot_recv(n, d)];
        if (!dlc_slot_ready(sl))
            continue;
        st = dlc_slot_check_recv(r, sl, p->bytes, s->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        int bi = dlc_mod(me - d, n);
        direct_block *b = &s->blocks[bi];
        if (b->bounce) {
            size_t off;
            const dlc_tensor *t = dlc_ag_block(p, bi, &off);
            dlc_tensor_unpack(t, off, p->bytes, b->bounce);
        }
        s->recvs_handled++;
        *progressed = 1;
    }

    /* Arrived handshakes: the peer agrees on op, dtype and size. */
    for (int d = 1; d < n; d++) {
        dlc_slot *sl = &r->slots[slot_hs_recv(n, d)];
        if (!dlc_slot_ready(sl))
            continue;
        st = dlc_slot_check_recv(r, sl, 0, s->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        s->hs_recvs_handled++;
        *progressed = 1;
    }

    /* Our block to every peer, nearest first: at once when small, else once
     * that peer's handshake matched. */
    direct_block *own = &s->blocks[me];
    for (int d = 1; d < n; d++) {
        int i = slot_send(n, d);
        if (r->slots[i].posted)
            continue;
        if (!s->eager && !r->slots[slot_hs_recv(n, d)].handled)
            continue;
        st = dlc_slot_send(r, i, members[dlc_mod(me + d, n)], own->iov, own->iovcnt, 0, s->cqdata,
                           err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }

    /* Completed sends, data and handshakes. */
    st = dlc_slots_check_sends(r, slot_send(n, 1), peers, &s->sends_handled, progressed, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_slots_check_sends(r, slot_hs_send(n, 1), peers, &s->hs_sends_handled, progressed,
                                   err);
    if (st != DLCOLL_SUCCESS)
        return st;

    int hs_want = s->handshakes ? peers : 0;
    if (s->recvs_handled == peers && s->sends_handled == peers && s->hs_recvs_handled == hs_want &&
        s->hs_sends_handled == hs_want)
        return DLCOLL_SUCCESS;
    return DLCOLL_IN_PROGRESS;
}

/* The first member (in receive order) whose block or handshake is missing,
 * then the first one a send to has not completed. */
static int direct_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const direct_state *s = r->state;
    const dlc_ag_plan *p = &s->plan;
    int n = p->n, me = p->rank;
    if (n == 1 || !r->comm)
        return -1;
    const int *members = r->comm->members;
    for (int d = 1; d < n; d++) {
        if (!r->slots[slot_recv(n, d)].handled) {
            snprintf(what, cap, "direct exchange: its block; %d of %d blocks in", s->recvs_handled,
                     n - 1);
            return members[dlc_mod(me - d, n)];
        }
    }
    for (int d = 1; d < n && s->handshakes; d++) {
        if (!r->slots[slot_hs_recv(n, d)].handled) {
            snprintf(what, cap, "direct exchange: its handshake");
            return members[dlc_mod(me + d, n)];
        }
    }
    for (int d = 1; d < n; d++) {
        if (!r->slots[slot_send(n, d)].handled) {
            snprintf(what, cap, "direct exchange: sending this rank's block to it");
            return members[dlc_mod(me + d, n)];
        }
    }
    for (int d = 1; d < n && s->handshakes; d++) {
        if (!r->slots[slot_hs_send(n, d)].handled) {
            snprintf(what, cap, "direct exchange: sending the handshake to it");
            return members[dlc_mod(me - d, n)];
        }
    }
    return -1;
}

static const dlc_op_ops direct_ops = {
    .start = direct_start,
    .advance = direct_advance,
    .blocker = direct_blocker,
    .destroy = direct_destroy,
};

const dlc_ag_algo dlc_ag_direct = {
    .name = "direct",
    .prepare = direct_prepare,
    .ops = &direct_ops,
};
