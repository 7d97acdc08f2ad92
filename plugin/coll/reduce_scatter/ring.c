/*
 * coll/reduce_scatter/ring.c -- the ring phase (coll/phases.h): reduce_scatter's
 * algorithm, and both halves of allreduce's (REDUCE, then GATHER).
 *
 * N ranks, rank r sends to right = r+1 and receives from left = r-1 (mod N),
 * steps s = 0 .. N-2 (tags step0 + s).
 *
 * REDUCE: in step s rank r sends the partial result of block (r-1-s) and
 * receives that of block (r-2-s).  Step 0 sends pre(x_r) of block r-1; a
 * receive of step s < N-2 gets this rank's contribution added and is sent in
 * step s+1; the receive of step N-2 is this rank's own block, which it
 * finishes into own_out.  So block b is reduced in the fixed order
 *     ((x_{b+1} (op) x_{b+2}) (op) ...) (op) x_b       (indices mod N)
 * on every run, whatever the timing (docs/abi.md section 15).  Partial
 * results travel in the accumulator type; the receive buffer of each step is
 * that block's place in acc (block r-1, sent at step 0, is the only one not
 * received), so acc is count accumulator elements.
 *
 * GATHER: in step s rank r sends block (r-s) of out and receives block
 * (r-s-1) into out, forwarding it in step s+1.
 *
 * Every receive is posted at start with its block's exact size.  Handshake
 * as in the ring allgather (coll/allgather/ring.c): each rank sends an
 * empty "ready" message to its left once its receives are posted (tag step0
 * + DLC_PHASE_STEPS - 1), and sends a block larger than DLC_AG_EAGER_MAX to
 * its right only after the right's ready arrived, so the shm provider never
 * sees a large unexpected or truncated message.  Every message carries the
 * op kind, dtype and byte count of the call (CQ data), checked on arrival.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

int dlc_ring_phase_slots(int n)
{
    return n > 1 ? 2 * (n - 1) + 2 : 0; /* receives, sends, ready send, ready receive */
}

dlcoll_status_t dlc_ring_phase_alloc(dlc_ring_phase *p, dlc_err *err)
{
    p->acc = NULL;
    if (p->mode != DLC_RING_REDUCE || p->n < 2)
        return DLCOLL_SUCCESS;
    size_t count = p->off[p->n];
    p->acc = malloc(count ? count * p->red.acc_size : 1);
    if (!p->acc)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the partial results (%zu bytes)",
                        count * p->red.acc_size);
    return DLCOLL_SUCCESS;
}

static size_t blk_count(const dlc_ring_phase *p, int b)
{
    return p->off[b + 1] - p->off[b];
}

/* The bytes a message of block b carries, and where they are. */
static size_t blk_bytes(const dlc_ring_phase *p, int b)
{
    return blk_count(p, b) * (p->mode == DLC_RING_REDUCE ? p->red.acc_size : p->elem);
}

static uint8_t *blk_wire(const dlc_ring_phase *p, int b)
{
    if (p->mode == DLC_RING_REDUCE)
        return p->acc + p->off[b] * p->red.acc_size;
    return p->out + p->off[b] * p->elem;
}

static const uint8_t *blk_in(const dlc_ring_phase *p, int b)
{
    return p->in + p->off[b] * p->elem;
}

/* Block received in step s, sent in step s. */
static int recv_block(const dlc_ring_phase *p, int s)
{
    return dlc_mod(p->rank - s - (p->mode == DLC_RING_REDUCE ? 2 : 1), p->n);
}

static int send_block(const dlc_ring_phase *p, int s)
{
    return dlc_mod(p->rank - s - (p->mode == DLC_RING_REDUCE ? 1 : 0), p->n);
}

static dlcoll_status_t ring_start(dlcoll_request *r, dlc_err *err)
{
    dlc_ring_phase *p = r->state;
    size_t max = 0;
    for (int b = 0; b < p->n; b++)
        if (blk_bytes(p, b) > max)
            max = blk_bytes(p, b);
    p->eager = max <= DLC_AG_EAGER_MAX;
    if (p->n == 1) {
        if (p->mode == DLC_RING_REDUCE)
            p->red.k->final(&p->red, p->own_out, NULL, p->in, blk_count(p, 0));
        return DLCOLL_SUCCESS;
    }
    if (p->mode == DLC_RING_REDUCE) {
        int b = send_block(p, 0);
        p->red.k->first(&p->red, blk_wire(p, b), blk_in(p, b), blk_count(p, b));
    }
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t ring_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    dlc_ring_phase *p = r->state;
    int n = p->n, steps = n - 1;
    if (steps == 0)
        return DLCOLL_SUCCESS;
    const int *members = r->comm->members;
    int left = members[dlc_mod(p->rank - 1, n)], right = members[dlc_mod(p->rank + 1, n)];
    uint32_t hs_step = p->step0 + DLC_PHASE_STEPS - 1;
    dlc_slot *hs_send = &r->slots[2 * steps], *hs_recv = &r->slots[2 * steps + 1];

    for (int s = 0; s < steps; s++) {
        if (r->slots[s].posted)
            continue;
        int b = recv_block(p, s);
        struct iovec iov = {blk_wire(p, b), blk_bytes(p, b)};
        dlcoll_status_t st =
            dlc_slot_recv(r, s, left, &iov, iov.iov_len ? 1 : 0, p->step0 + (uint32_t)s, err);
        if (st == DLCOLL_IN_PROGRESS)
            return DLCOLL_IN_PROGRESS; /* every receive before the ready message */
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    if (!hs_recv->posted) {
        dlcoll_status_t st = dlc_slot_recv(r, 2 * steps + 1, right, NULL, 0, hs_step, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (!hs_send->posted) {
        dlcoll_status_t st = dlc_slot_send(r, 2 * steps, left, NULL, 0, hs_step, p->cqdata, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (dlc_slot_ready(hs_recv)) {
        dlcoll_status_t st = dlc_slot_check_recv(r, hs_recv, 0, p->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        p->hs_ok = 1;
        *progressed = 1;
    }
    if (dlc_slot_ready(hs_send)) {
        dlcoll_status_t st = dlc_slot_check_send(r, hs_send, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }

    /* Receives in step order: each one's block is combined (REDUCE) before
     * it is forwarded. */
    while (p->recvs_handled < steps) {
        int s = p->recvs_handled;
        dlc_slot *sl = &r->slots[s];
        if (!dlc_slot_ready(sl))
            break;
        int b = recv_block(p, s);
        dlcoll_status_t st = dlc_slot_check_recv(r, sl, blk_bytes(p, b), p->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (p->mode == DLC_RING_REDUCE) {
            if (s < steps - 1)
                p->red.k->accum(&p->red, blk_wire(p, b), blk_in(p, b), blk_count(p, b));
            else
                p->red.k->final(&p->red, p->own_out, blk_wire(p, b), blk_in(p, b), blk_count(p, b));
        }
        p->recvs_handled++;
        *progressed = 1;
    }

    /* Sends in step order, each once its block is ready, after the right's
     * ready message (small blocks at once). */
    while ((p->hs_ok || p->eager) && p->next_send < steps) {
        int s = p->next_send;
        if (s > 0 && p->recvs_handled < s)
            break;
        int b = send_block(p, s);
        struct iovec iov = {blk_wire(p, b), blk_bytes(p, b)};
        dlcoll_status_t st = dlc_slot_send(r, steps + s, right, &iov, iov.iov_len ? 1 : 0,
                                           p->step0 + (uint32_t)s, p->cqdata, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        p->next_send++;
        *progressed = 1;
    }
    dlcoll_status_t st =
        dlc_slots_check_sends(r, steps, p->next_send, &p->sends_handled, progressed, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if (p->recvs_handled == steps && p->sends_handled == steps && hs_send->handled && p->hs_ok)
        return DLCOLL_SUCCESS;
    return DLCOLL_IN_PROGRESS;
}

static int ring_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const dlc_ring_phase *p = r->state;
    int n = p->n, steps = n - 1;
    if (steps == 0 || !r->comm)
        return -1;
    /* The phase's name ("reduce ring") is added by coll/phases.c. */
    if (p->recvs_handled < steps) {
        snprintf(what, cap, "step %d of %d", p->recvs_handled + 1, steps);
        return r->comm->members[dlc_mod(p->rank - 1, n)];
    }
    if (!p->hs_ok) {
        snprintf(what, cap, "its ready message");
        return r->comm->members[dlc_mod(p->rank + 1, n)];
    }
    snprintf(what, cap, "sending");
    return r->comm->members[dlc_mod(p->rank + 1, n)];
}

static void ring_destroy(void *state)
{
    (void)state; /* the phase lives in its dlc_phases, which frees it */
}

const dlc_op_ops dlc_ring_phase_ops = {
    .start = ring_start,
    .advance = ring_advance,
    .blocker = ring_blocker,
    .destroy = ring_destroy,
};
