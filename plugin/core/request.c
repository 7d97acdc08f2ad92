/*
 * request.c -- request bookkeeping, transfer slots and the receive checks.
 *
 * Every data message carries, in its CQ data, the sender's op kind, dtype and
 * per-rank byte count; dlc_slot_check_recv() compares them with this rank's
 * own, so ranks that called different operations, or passed different sizes
 * or dtypes, get a MISMATCH naming the peer instead of a hang or garbage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/core/request.h"
#include "plugin/util/tensor.h"

const char *dlc_op_kind_name(unsigned kind)
{
    switch (kind) {
    case DLC_OP_ALLGATHER: return "allgather";
    case DLC_OP_BARRIER: return "barrier";
    case DLC_OP_SPLIT: return "group_split";
    case DLC_OP_ALLREDUCE: return "allreduce";
    case DLC_OP_REDUCE_SCATTER: return "reduce_scatter";
    case DLC_OP_BROADCAST: return "broadcast";
    case DLC_OP_AGREE: return "allreduce, reduce_scatter or broadcast";
    default: return "an unknown operation";
    }
}

/* ------------------------------------------------------------------ lifecycle */

dlcoll_status_t dlc_request_new(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                const dlc_op_ops *ops, void *state, int n_slots,
                                dlcoll_request **out, dlc_err *err)
{
    *out = NULL;
    /* Not zeroed: the error buffer is large and written only on failure
     * (this runs on every operation); the last freed request's memory is
     * reused. */
    dlc_world *w = c->w;
    dlcoll_request *r = w->spare_req;
    if (r)
        w->spare_req = NULL;
    else
        r = malloc(sizeof *r);
    dlc_slot *slots = n_slots > 0 ? calloc((size_t)n_slots, sizeof *slots) : NULL;
    if (!r || (n_slots > 0 && !slots)) {
        free(r);
        free(slots);
        if (ops->destroy)
            ops->destroy(state);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for a request");
    }
    r->w = w;
    r->comm = c;
    r->ops = ops;
    r->state = state;
    r->op_kind = op_kind;
    r->op_name = op_name;
    r->seq = c->next_seq++;
    r->phase = DLC_REQ_QUEUED;
    r->status = DLCOLL_IN_PROGRESS;
    r->error[0] = '\0';
    r->slots = slots;
    r->n_slots = n_slots;
    r->last_progress_ns = 0; /* set when the request starts (progress.c) */
    r->fifo_next = NULL;
    r->prev = NULL;
    dlc_flight_submit(r);

    if (c->tail)
        c->tail->fifo_next = r;
    else
        c->head = r;
    c->tail = r;

    r->next = w->reqs;
    if (w->reqs)
        w->reqs->prev = r;
    w->reqs = r;
    *out = r;
    return DLCOLL_SUCCESS;
}

void dlc_request_finish(dlcoll_request *r, dlcoll_status_t status, const char *msg)
{
    r->phase = DLC_REQ_DONE;
    r->status = status;
    if (msg)
        snprintf(r->error, sizeof r->error, "%s", msg);
    else
        r->error[0] = '\0';
    dlcoll_comm *c = r->comm;
    if (!c)
        return;
    if (status == DLCOLL_SUCCESS)
        c->last_done_seq = r->seq;
    dlc_flight_finish(r);
    /* Normally the head; a failure finishes queued ones too. */
    dlcoll_request **pp = &c->head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->fifo_next;
    }
    if (*pp) {
        *pp = r->fifo_next;
        if (c->tail == r)
            c->tail = prev;
    }
    r->fifo_next = NULL;
}

static void request_free(dlcoll_request *r)
{
    if (r->ops && r->ops->destroy)
        r->ops->destroy(r->state);
    free(r->slots);
    dlc_world *w = r->w;
    if (!w->spare_req)
        w->spare_req = r;
    else
        free(r);
}

void dlc_request_free_spare(dlc_world *w)
{
    free(w->spare_req);
    w->spare_req = NULL;
}

int dlc_request_busy(const dlcoll_request *r, int recvs_only)
{
    for (int i = 0; i < r->n_slots; i++) {
        const dlc_slot *s = &r->slots[i];
        if (s->posted && !s->x.done && (!recvs_only || s->x.is_recv))
            return 1;
    }
    return 0;
}

void dlc_request_release(dlcoll_request *r)
{
    dlc_world *w = r->w;
    if (r->prev)
        r->prev->next = r->next;
    else
        w->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    if (!dlc_request_busy(r, 0)) {
        request_free(r);
        return;
    }
    /* The provider still holds a slot (an uncancellable receive, or a send to
     * a peer that is gone): keep the memory until it lets go, or until the
     * transport is closed. */
    r->comm = NULL;
    r->next = w->zombies;
    w->zombies = r;
}

void dlc_request_reap(dlc_world *w, int force)
{
    dlcoll_request **pp = &w->zombies;
    while (*pp) {
        dlcoll_request *r = *pp;
        if (force || !dlc_request_busy(r, 0)) {
            *pp = r->next;
            request_free(r);
        } else {
            pp = &r->next;
        }
    }
}

void dlc_request_cancel_recvs(dlcoll_request *r)
{
    if (r->ops && r->ops->cancel && r->phase == DLC_REQ_RUNNING)
        r->ops->cancel(r);
    for (int i = 0; i < r->n_slots; i++) {
        dlc_slot *s = &r->slots[i];
        if (s->posted && !s->x.done && s->x.is_recv)
            dlc_transport_cancel(r->w->tp, &s->x);
    }
}

const char *dlc_request_prefix(const dlcoll_request *r, char *buf, size_t cap)
{
    char who[256];
    if (r->comm)
        dlc_comm_who(r->comm, who, sizeof who);
    else
        snprintf(who, sizeof who, "rank %d", r->w->rank);
    snprintf(buf, cap, "%s: %s #%" PRIu32, who, r->op_name, r->seq);
    return buf;
}

/* ------------------------------------------------------------------ slots */

dlcoll_status_t dlc_slot_recv(dlcoll_request *r, int i, int peer, const struct iovec *iov,
                              int iovcnt, uint32_t step, dlc_err *err)
{
    dlc_slot *s = &r->slots[i];
    uint64_t tag = dlc_tag_make(DLC_TAG_DATA, r->comm->id, r->seq, step);
    dlcoll_status_t st = dlc_transport_recv(r->w->tp, peer, iov, iovcnt, tag, 0, &s->x, err);
    if (st == DLCOLL_SUCCESS)
        s->posted = 1;
    return st;
}

dlcoll_status_t dlc_slot_send(dlcoll_request *r, int i, int peer, const struct iovec *iov,
                              int iovcnt, uint32_t step, uint64_t cqdata, dlc_err *err)
{
    dlc_slot *s = &r->slots[i];
    if (!dlc_liveness_safe_to_send(r->w, peer)) {
        char gone[512], desc[256];
        if (dlc_liveness_peer_exit_cause(r->comm, peer, 0, gone, sizeof gone) > 0)
            return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s", gone);
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s exited",
                        dlc_peer_desc(r->w, peer, desc, sizeof desc));
    }
    uint64_t tag = dlc_tag_make(DLC_TAG_DATA, r->comm->id, r->seq, step);
    dlcoll_status_t st = dlc_transport_send(r->w->tp, peer, iov, iovcnt, tag, cqdata, &s->x, err);
    if (st == DLCOLL_SUCCESS)
        s->posted = 1;
    return st;
}

/* A transfer that completed with an error other than truncation.  This
 * rank cancels transfers only after it stopped looking at them, so a
 * cancelled one was cancelled by the provider (rxm does so when a connection
 * breaks).  A peer on this host that has exited is named as such. */
static dlcoll_status_t transfer_failed(dlcoll_request *r, const dlc_xfer *x, dlc_err *err)
{
    char peer[256];
    dlc_peer_desc(r->w, x->peer, peer, sizeof peer);
    DLC_INFO(&r->w->lg, "%s #%" PRIu32 ": %s%s", r->op_name, r->seq,
             x->cancelled ? "cancelled by the provider: " : "", x->errtext);
    char gone[512];
    if (dlc_liveness_peer_exit_cause(r->comm, x->peer, 100, gone, sizeof gone) > 0)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s", gone);
    if (x->cancelled)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE,
                        "%s failed or disconnected: the provider "
                        "cancelled the %s",
                        peer, x->is_recv ? "receive" : "send");
    if (x->status == DLCOLL_ERR_PEER_FAILURE)
        return dlc_fail(err, DLCOLL_ERR_PEER_FAILURE, "%s failed or disconnected: %s", peer,
                        x->errtext);
    return dlc_fail(err, x->status == DLCOLL_SUCCESS ? DLCOLL_ERR_TRANSPORT : x->status,
                    "transfer with %s failed: %s", peer, x->errtext);
}

dlcoll_status_t dlc_slot_check_recv(dlcoll_request *r, dlc_slot *s, size_t expect, uint64_t mine,
                                    dlc_err *err)
{
    const dlc_xfer *x = &s->x;
    s->handled = 1;
    if (!x->truncated && x->status != DLCOLL_SUCCESS)
        return transfer_failed(r, x, err);

    int p = x->peer;
    uint64_t d = x->data;
    unsigned my_op = dlc_cqdata_op(mine);
    if (d != 0) {
        /* The op first: a barrier's empty message in an allgather is an
         * ordering problem, not a size problem. */
        if (dlc_cqdata_op(d) != my_op)
            return dlc_fail(err, DLCOLL_ERR_MISMATCH,
                            "rank %d is in %s #%" PRIu32 " while this rank is in %s #%" PRIu32
                            " (operations called in a different order)",
                            p, dlc_op_kind_name(dlc_cqdata_op(d)), r->seq, r->op_name, r->seq);
        if (dlc_cqdata_code(d) != dlc_cqdata_code(mine) ||
            dlc_cqdata_bits(d) != dlc_cqdata_bits(mine)) {
            char theirs[64], ours[64];
            DLDataType td = {dlc_cqdata_code(d), dlc_cqdata_bits(d), 1};
            DLDataType od = {dlc_cqdata_code(mine), dlc_cqdata_bits(mine), 1};
            return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d sent %s, expected %s", p,
                            dlc_dtype_name(td, theirs, sizeof theirs),
                            dlc_dtype_name(od, ours, sizeof ours));
        }
    }
    if (x->truncated && x->len <= expect) /* the provider did not say how long it was */
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d sent more than the %zu bytes expected",
                        p, expect);
    if (x->truncated || x->len != expect)
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d sent %zu bytes, expected %zu", p, x->len,
                        expect);
    if (d != 0 && dlc_cqdata_bytes(d) != dlc_cqdata_bytes(mine))
        return dlc_fail(err, DLCOLL_ERR_MISMATCH,
                        "rank %d passes %" PRIu64 " bytes per rank, this rank %" PRIu64, p,
                        dlc_cqdata_bytes(d), dlc_cqdata_bytes(mine));
    if (d == 0)
        return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                        "the message from rank %d arrived without its CQ data (provider %s)", p,
                        dlc_transport_provider(r->w->tp));
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_slot_check_send(dlcoll_request *r, dlc_slot *s, dlc_err *err)
{
    s->handled = 1;
    if (s->x.status != DLCOLL_SUCCESS)
        return transfer_failed(r, &s->x, err);
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_slots_check_sends(dlcoll_request *r, int first, int n, int *handled,
                                      int *progressed, dlc_err *err)
{
    for (int i = first; i < first + n; i++) {
        dlc_slot *sl = &r->slots[i];
        if (!dlc_slot_ready(sl))
            continue;
        dlcoll_status_t st = dlc_slot_check_send(r, sl, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        (*handled)++;
        *progressed = 1;
    }
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ sub-operations */

void dlc_sub_op_init(dlc_sub_op *so, const dlcoll_request *parent, dlcoll_comm *comm,
                     const dlc_op_ops *ops, void *state)
{
    memset(so, 0, sizeof *so);
    dlcoll_request *r = &so->req;
    r->w = comm->w;
    r->comm = comm;
    r->ops = ops;
    r->state = state;
    r->phase = DLC_REQ_RUNNING;
    r->status = DLCOLL_IN_PROGRESS;
    if (parent) {
        r->op_kind = parent->op_kind;
        r->op_name = parent->op_name;
        r->seq = parent->seq;
    }
}

dlcoll_status_t dlc_sub_op_step(dlc_sub_op *so, int *progressed, dlc_err *err)
{
    dlcoll_request *r = &so->req;
    dlcoll_status_t st = DLCOLL_SUCCESS;
    if (!so->started) {
        so->started = 1;
        *progressed = 1;
        st = r->ops->start(r, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
    }
    st = r->ops->advance(r, progressed, err);
    if (st == DLCOLL_SUCCESS) {
        so->done = 1;
        *progressed = 1;
    }
    return st;
}

void dlc_sub_op_destroy(dlc_sub_op *so)
{
    if (so->req.state && so->req.ops && so->req.ops->destroy)
        so->req.ops->destroy(so->req.state);
    so->req.state = NULL;
}
