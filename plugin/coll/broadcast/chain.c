/*
 * coll/broadcast/chain.c -- the broadcast chain (coll/phases.h).
 *
 * Position v = (rank - root) mod N: the root is v = 0 and sends the whole
 * tensor to v = 1, each v > 0 receives it from v - 1 into its tensor (or its
 * staging buffer) and, when v < N-1, forwards it to v + 1.  Tag step0.  A
 * receiver sends an empty "ready" message to its predecessor once its
 * receive is posted (step0 + DLC_PHASE_STEPS - 1); a tensor larger than
 * DLC_AG_EAGER_MAX is sent only after it (coll/reduce_scatter/ring.c says
 * why).  The bytes are copied, never combined, so every rank ends with the
 * root's bytes exactly.
 * A small tensor (at most DLCOLL_GATHERED_MAX bytes) takes the gathered
 * path instead (coll/gathered.c): the root's bytes ride in the agreement,
 * or in one allgather through the shared segment.
 * KNOWN LIMITATION: N-1 sequential hops of the whole tensor; a pipelined
 * chain (large tensors) is the next step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

enum { SL_RECV, SL_SEND, SL_HS_SEND, SL_HS_RECV };

int dlc_chain_phase_slots(int n)
{
    return n > 1 ? 4 : 0;
}

static int pos(const dlc_chain_phase *p)
{
    return dlc_mod(p->rank - p->root, p->n);
}

static dlcoll_status_t chain_start(dlcoll_request *r, dlc_err *err)
{
    dlc_chain_phase *p = r->state;
    p->eager = p->bytes <= DLC_AG_EAGER_MAX;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t chain_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    dlc_chain_phase *p = r->state;
    int n = p->n, v = pos(p);
    if (n == 1)
        return DLCOLL_SUCCESS;
    const int *members = r->comm->members;
    int prev = members[dlc_mod(p->rank - 1, n)], next = members[dlc_mod(p->rank + 1, n)];
    int has_prev = v > 0, has_next = v < n - 1;
    uint32_t hs_step = p->step0 + DLC_PHASE_STEPS - 1;
    struct iovec iov = {p->buf, p->bytes};
    int iovcnt = p->bytes ? 1 : 0;

    if (has_prev && !r->slots[SL_RECV].posted) {
        dlcoll_status_t st = dlc_slot_recv(r, SL_RECV, prev, &iov, iovcnt, p->step0, err);
        if (st == DLCOLL_IN_PROGRESS)
            return st;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    if (has_prev && !r->slots[SL_HS_SEND].posted) {
        dlcoll_status_t st = dlc_slot_send(r, SL_HS_SEND, prev, NULL, 0, hs_step, p->cqdata, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (has_next && !r->slots[SL_HS_RECV].posted) {
        dlcoll_status_t st = dlc_slot_recv(r, SL_HS_RECV, next, NULL, 0, hs_step, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        *progressed |= st == DLCOLL_SUCCESS;
    }
    if (dlc_slot_ready(&r->slots[SL_HS_RECV])) {
        dlcoll_status_t st = dlc_slot_check_recv(r, &r->slots[SL_HS_RECV], 0, p->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        p->hs_ok = 1;
        *progressed = 1;
    }
    if (dlc_slot_ready(&r->slots[SL_HS_SEND])) {
        dlcoll_status_t st = dlc_slot_check_send(r, &r->slots[SL_HS_SEND], err);
        if (st != DLCOLL_SUCCESS)
            return st;
        p->hs_sent = 1;
        *progressed = 1;
    }
    if (dlc_slot_ready(&r->slots[SL_RECV])) {
        dlcoll_status_t st = dlc_slot_check_recv(r, &r->slots[SL_RECV], p->bytes, p->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        p->recv_done = 1;
        *progressed = 1;
    }
    if (has_next && !p->send_posted && (!has_prev || p->recv_done) && (p->hs_ok || p->eager)) {
        dlcoll_status_t st =
            dlc_slot_send(r, SL_SEND, next, &iov, iovcnt, p->step0, p->cqdata, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
        if (st == DLCOLL_SUCCESS) {
            p->send_posted = 1;
            *progressed = 1;
        }
    }
    if (dlc_slot_ready(&r->slots[SL_SEND])) {
        dlcoll_status_t st = dlc_slot_check_send(r, &r->slots[SL_SEND], err);
        if (st != DLCOLL_SUCCESS)
            return st;
        p->send_done = 1;
        *progressed = 1;
    }
    int in_done = !has_prev || (p->recv_done && p->hs_sent);
    int out_done = !has_next || (p->send_done && p->hs_ok);
    return in_done && out_done ? DLCOLL_SUCCESS : DLCOLL_IN_PROGRESS;
}

static int chain_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const dlc_chain_phase *p = r->state;
    int n = p->n, v = pos(p);
    if (n == 1 || !r->comm)
        return -1;
    if (v > 0 && !p->recv_done) {
        snprintf(what, cap, "the tensor from its predecessor (root %d)", p->root);
        return r->comm->members[dlc_mod(p->rank - 1, n)];
    }
    if (v < n - 1) {
        snprintf(what, cap, "%s", p->hs_ok ? "sending" : "its ready message");
        return r->comm->members[dlc_mod(p->rank + 1, n)];
    }
    return -1;
}

static void chain_destroy(void *state)
{
    (void)state; /* lives in its dlc_phases */
}

const dlc_op_ops dlc_chain_phase_ops = {
    .start = chain_start,
    .advance = chain_advance,
    .blocker = chain_blocker,
    .destroy = chain_destroy,
};

/* ------------------------------------------------------------------ the entry */

dlcoll_status_t dlc_broadcast_submit(dlcoll_comm *c, DLTensor *t, int root, dlcoll_request **out,
                                     dlc_err *err)
{
    *out = NULL;
    if (root < 0 || root >= c->size)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "root %d is not a rank of the communicator (size %d)", root, c->size);
    if (c->size > DLC_PHASE_MAX_RANKS)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "broadcast supports at most %d ranks",
                        DLC_PHASE_MAX_RANKS);
    dlc_phases *ph = calloc(1, sizeof *ph);
    if (!ph)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    dlcoll_status_t st = dlc_stage_init(&ph->out, t, "tensor", err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    if (ph->out.t.nbytes > DLC_BYTES_MAX) {
        dlc_phases_free(ph);
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "tensor of %zu bytes is too large",
                        ph->out.t.nbytes);
    }
    int is_root = c->rank == root;
    /* The root's tensor is read (packed at start when staged), the others'
     * written (unpacked when done). */
    if (is_root && ph->out.buf) {
        ph->ins = calloc(1, sizeof *ph->ins);
        if (!ph->ins) {
            dlc_phases_free(ph);
            return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        }
        ph->ins[0] = ph->out;
        ph->ins[0].buf = NULL; /* packs into out.buf, through in_buf below */
        ph->n_ins = 1;
        ph->in_buf = ph->out.buf;
        ph->out.buf = NULL;
    }
    ph->unpack_out = !is_root;
    dlc_chain_phase *p = &ph->chain;
    p->n = c->size;
    p->rank = c->rank;
    p->root = root;
    p->step0 = DLC_PHASE_STEP(1);
    p->buf = ph->in_buf ? ph->in_buf : dlc_stage_data(&ph->out);
    p->bytes = ph->out.t.nbytes;
    DLDataType dt = ph->out.t.dtype;
    p->cqdata = dlc_cqdata_make(DLC_OP_BROADCAST, dt.code, dt.bits, p->bytes);

    dlc_agree_desc *d = &ph->agree.mine.desc;
    d->op_kind = DLC_OP_BROADCAST;
    d->red = -1;
    d->root = root;
    d->code = dt.code;
    d->bits = dt.bits;
    d->lanes = dt.lanes;
    d->count = ph->out.t.numel;
    int gathered = 0;
    st = dlc_gathered_fits(c, p->bytes, &gathered, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    if (gathered) {
        dlc_gathered *g = &ph->gath;
        g->op_kind = DLC_OP_BROADCAST;
        g->bytes = p->bytes;
        g->mine = p->buf;
        g->root = root;
        g->out = p->buf;
        return dlc_gathered_submit(c, "broadcast", ph, p->cqdata, out, err);
    }
    ph->n = 2;
    ph->n_slots[1] = dlc_chain_phase_slots(c->size);
    ph->what[1] = "broadcast chain";
    dlc_sub_op_init(&ph->sub[1], NULL, c, &dlc_chain_phase_ops, p);
    return dlc_phases_submit(c, DLC_OP_BROADCAST, "broadcast", "chain", ph, p->cqdata, out, err);
}
