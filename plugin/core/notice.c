/*
 * notice.c -- tell the other members of a communicator that it failed.
 *
 * The rank that detects a failure (a mismatch, a timeout, a dead peer, an
 * abort) knows the precise cause; the others would otherwise wait for their
 * timeout.  So the detector sends a NOTICE (tag kind DLC_TAG_NOTICE) with the
 * comm id, the op's sequence number, its status and message to every other
 * member.  Each world keeps DLC_NOTICE_SLOTS receives for notices from any
 * source posted at all times; a received notice fails the communicator it
 * names with "rank P reported: <P's message>" (kept for a while when this rank
 * has not created that group yet), and the receive is posted again.  Ranks
 * failed by a notice do not send one.
 * A notice the provider has no room for yet is retried by later polls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"

#define NOTICE_POST_NS (2000 * DLC_MS_NS) /* keep retrying to post a notice this long */

static dlcoll_status_t post_in(dlc_world *w, dlc_notice_in *n, dlc_err *err)
{
    struct iovec iov = {&n->msg, sizeof n->msg};
    dlcoll_status_t st =
        dlc_transport_recv(w->tp, -1, &iov, 1, dlc_tag_make(DLC_TAG_NOTICE, 0, 0, 0),
                           DLC_TAG_IGNORE_ALL_BUT_KIND, &n->x, err);
    n->posted = st == DLCOLL_SUCCESS;
    return st;
}

dlcoll_status_t dlc_notice_start(dlc_world *w, dlc_err *err)
{
    for (int i = 0; i < DLC_NOTICE_SLOTS; i++) {
        dlcoll_status_t st = post_in(w, &w->notice_in[i], err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
    }
    return DLCOLL_SUCCESS;
}

static int valid_status(int32_t s)
{
    return s >= DLCOLL_ERR_INVALID_ARGUMENT && s <= DLCOLL_ERR_INTERNAL;
}

/*
 * A report of a failure of op #seq on c.  The reporter may be ahead of this
 * rank: ops before #seq it completed, so they can still complete here.  The
 * comm fails now when this rank is at #seq or later, else when it gets there.
 */
void dlc_notice_deliver(dlcoll_comm *c, const dlc_notice_msg *m)
{
    dlc_world *w = c->w;
    if (c->failed) {
        DLC_TRACE(&w->lg,
                  "notice: communicator %" PRIu32 " already failed; report from rank "
                  "%" PRId32 ": %s",
                  m->comm_id, m->origin, m->message);
        return;
    }
    dlcoll_status_t status =
        valid_status(m->status) ? (dlcoll_status_t)m->status : DLCOLL_ERR_INTERNAL;
    char cause[DLC_MSG_MAX];
    snprintf(cause, sizeof cause, "rank %" PRId32 " reported: %s", m->origin, m->message);
    uint32_t here = c->head ? c->head->seq : c->next_seq;
    if (here >= m->seq) {
        dlc_comm_fail(c, status, cause, 0);
        return;
    }
    if (!c->pending || m->seq < c->pending_seq) {
        c->pending = 1;
        c->pending_seq = m->seq;
        c->pending_status = status;
        memcpy(c->pending_cause, cause, sizeof cause);
        DLC_TRACE(&w->lg,
                  "notice: holding a report about op #%" PRIu32 " (this rank is at #%" PRIu32
                  "): %s",
                  m->seq, here, cause);
    }
}

/* A notice arrived.  A comm this rank does not have (yet: a member may be
 * still in group_create when another already failed the group's first op)
 * is kept among the last few orphans, which dlc_notice_adopt() applies. */
static void handle(dlc_world *w, dlc_notice_msg *m)
{
    m->message[sizeof m->message - 1] = '\0';
    if (m->kind == DLC_NOTICE_QUERY) {
        dlc_rollcall_on_query(w, m);
        return;
    }
    if (m->kind == DLC_NOTICE_ANSWER) {
        dlc_rollcall_on_answer(w, m);
        return;
    }

    dlcoll_comm *c = dlc_comm_lookup(w, m->comm_id);
    if (c) {
        dlc_notice_deliver(c, m);
        return;
    }
    DLC_INFO(&w->lg,
             "notice: keeping a report from rank %" PRId32 " about communicator %" PRIu32
             ", which this rank does not have (yet): %s",
             m->origin, m->comm_id, m->message);
    w->orphans[w->next_orphan] = *m;
    w->next_orphan = (w->next_orphan + 1) % DLC_NOTICE_ORPHANS;
    if (w->n_orphans < DLC_NOTICE_ORPHANS)
        w->n_orphans++;
}

void dlc_notice_adopt(dlcoll_comm *c)
{
    dlc_world *w = c->w;
    for (int i = 0; i < w->n_orphans; i++) {
        if (w->orphans[i].comm_id != c->id)
            continue;
        dlc_notice_deliver(c, &w->orphans[i]);
        w->orphans[i].comm_id = 0; /* used up (0 is no comm's id) */
    }
}

/* Try to post o; a hard error makes the next service_out() drop it. */
static void try_post_out(dlc_world *w, dlc_notice_out *o)
{
    struct iovec iov = {&o->msg, sizeof o->msg};
    dlc_err err;
    dlc_err_clear(&err);
    if (!dlc_liveness_safe_to_send(w, o->peer)) {
        DLC_INFO(&w->lg, "notice: not telling rank %d: it has exited", o->peer);
        o->dropped = 1; /* gone: nobody to tell */
        return;
    }
    dlcoll_status_t st = dlc_transport_send(w->tp, o->peer, &iov, 1, o->tag, 0, &o->x, &err);
    if (st == DLCOLL_SUCCESS) {
        o->posted = 1;
    } else if (st != DLCOLL_IN_PROGRESS) {
        DLC_WARN(&w->lg, "notice: could not tell rank %d: %s", o->peer, err.msg);
        o->dropped = 1; /* retire at the next poll */
    }
}

/* Retry unposted notices, drop the hopeless ones, free the completed ones. */
static void service_out(dlc_world *w)
{
    uint64_t now = dlc_now_ns();
    dlc_notice_out **pp = &w->notice_out;
    while (*pp) {
        dlc_notice_out *o = *pp;
        if (!o->posted && !o->dropped && now < o->give_up_ns)
            try_post_out(w, o);
        int retire = 0;
        if (o->posted && o->x.done) {
            if (o->x.status != DLCOLL_SUCCESS)
                DLC_INFO(&w->lg, "notice: could not tell rank %d: %s", o->peer, o->x.errtext);
            retire = 1;
        } else if (!o->posted && o->dropped) {
            retire = 1;
        } else if (!o->posted && now >= o->give_up_ns) {
            DLC_WARN(&w->lg, "notice: could not tell rank %d: the provider had no room", o->peer);
            retire = 1;
        }
        if (retire) {
            *pp = o->next;
            free(o);
        } else {
            pp = &o->next;
        }
    }
}

int dlc_notice_poll(dlc_world *w)
{
    int activity = 0;
    for (int i = 0; i < DLC_NOTICE_SLOTS; i++) {
        dlc_notice_in *n = &w->notice_in[i];
        if (n->posted && n->x.done) {
            n->posted = 0;
            if (n->x.status == DLCOLL_SUCCESS && n->x.len == sizeof n->msg) {
                dlc_notice_msg m = n->msg;
                /* Repost before handling: handling may poll the transport.
                 * A post that fails here is retried (and reported) below. */
                if (!w->notice_stopped) {
                    dlc_err err;
                    post_in(w, n, &err);
                }
                handle(w, &m);
                activity = 1;
            } else if (!n->x.cancelled) {
                DLC_WARN(&w->lg, "notice: ignoring a malformed notice (%zu bytes): %s", n->x.len,
                         n->x.errtext);
            }
        }
        if (!n->posted && !w->notice_stopped) {
            dlc_err err;
            dlcoll_status_t st = post_in(w, n, &err);
            if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
                DLC_WARN(&w->lg, "notice: %s", err.msg);
        }
    }
    if (w->notice_out)
        service_out(w);
    return activity;
}

void dlc_notice_post(dlc_world *w, int peer, const dlc_notice_msg *m)
{
    dlc_notice_out *o = calloc(1, sizeof *o);
    if (!o) {
        DLC_WARN(&w->lg, "notice: out of memory, rank %d is not told", peer);
        return;
    }
    o->peer = peer;
    o->tag = dlc_tag_make(DLC_TAG_NOTICE, m->comm_id, m->seq, 0);
    o->give_up_ns = dlc_now_ns() + NOTICE_POST_NS;
    o->msg = *m;
    o->next = w->notice_out;
    w->notice_out = o;
    try_post_out(w, o);
}

void dlc_notice_send(dlcoll_comm *c, uint32_t seq, dlcoll_status_t status, const char *msg)
{
    dlc_world *w = c->w;
    dlc_notice_msg m;
    memset(&m, 0, sizeof m);
    m.comm_id = c->id;
    m.seq = seq;
    m.origin = w->rank;
    m.status = (int32_t)status;
    m.kind = DLC_NOTICE_FAILURE;
    snprintf(m.message, sizeof m.message, "%.*s", (int)sizeof m.message - 1, msg);
    for (int g = 0; g < c->size; g++) {
        int peer = c->members[g];
        if (peer != w->rank && !(w->dead_ns && w->dead_ns[peer]))
            dlc_notice_post(w, peer, &m);
    }
}

void dlc_notice_flush(dlc_world *w, int timeout_ms)
{
    uint64_t end = dlc_now_ns() + (uint64_t)timeout_ms * DLC_MS_NS;
    while (w->notice_out && dlc_now_ns() < end) {
        dlc_err err;
        int n = dlc_transport_progress(w->tp, &err);
        if (n < 0)
            return;
        service_out(w);
        if (n == 0)
            dlc_transport_wait(w->tp, 100);
    }
}

dlcoll_status_t dlc_notice_connect_local(dlc_world *w, int timeout_ms, dlc_err *err)
{
    int peers = w->hostmap.local_ranks - 1;
    if (peers <= 0)
        return DLCOLL_SUCCESS;
    /* An empty CTRL message to and from every other rank on this host. */
    w->hello_x = calloc((size_t)peers * 2, sizeof *w->hello_x);
    if (!w->hello_x)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    w->n_hello_x = peers * 2;
    uint64_t tag = dlc_tag_make(DLC_TAG_CTRL, 0, 0, 0);
    int k = 0;
    for (int r = 0; r < w->size; r++) {
        if (r == w->rank || !dlc_hostmap_same(&w->hostmap, r, w->rank))
            continue;
        dlcoll_status_t st = dlc_transport_recv(w->tp, r, NULL, 0, tag, 0, &w->hello_x[k], err);
        if (st != DLCOLL_SUCCESS)
            return st == DLCOLL_IN_PROGRESS
                       ? dlc_fail(err, DLCOLL_ERR_TRANSPORT, "no room to post a receive")
                       : st;
        k++;
    }
    uint64_t end = dlc_now_ns() + (uint64_t)timeout_ms * DLC_MS_NS;
    for (int r = 0; r < w->size; r++) {
        if (r == w->rank || !dlc_hostmap_same(&w->hostmap, r, w->rank))
            continue;
        for (;;) {
            dlcoll_status_t st = dlc_transport_send(w->tp, r, NULL, 0, tag, 0, &w->hello_x[k], err);
            if (st == DLCOLL_SUCCESS)
                break;
            if (st != DLCOLL_IN_PROGRESS)
                return st;
            if (dlc_now_ns() >= end)
                return dlc_fail(err, DLCOLL_ERR_TIMEOUT,
                                "connecting to rank %d on this host: no answer within %d ms", r,
                                timeout_ms);
            if (dlc_transport_progress(w->tp, err) < 0)
                return err->status;
        }
        k++;
    }
    for (int i = 0; i < w->n_hello_x; i++) {
        while (!w->hello_x[i].done) {
            if (dlc_now_ns() >= end)
                return dlc_fail(err, DLCOLL_ERR_TIMEOUT,
                                "connecting to rank %d on this host: no answer within %d ms",
                                w->hello_x[i].peer, timeout_ms);
            int n = dlc_transport_progress(w->tp, err);
            if (n < 0)
                return err->status;
            if (n == 0)
                dlc_transport_wait(w->tp, 100);
        }
        if (w->hello_x[i].status != DLCOLL_SUCCESS)
            return dlc_fail(err, w->hello_x[i].status, "connecting to rank %d on this host: %s",
                            w->hello_x[i].peer, w->hello_x[i].errtext);
    }
    return DLCOLL_SUCCESS;
}

void dlc_notice_stop(dlc_world *w, int may_poll)
{
    w->notice_stopped = 1;
    for (int i = 0; i < DLC_NOTICE_SLOTS; i++)
        if (w->notice_in[i].posted && !w->notice_in[i].x.done)
            dlc_transport_cancel(w->tp, &w->notice_in[i].x);
    if (!may_poll)
        return;
    /* Wait (bounded) for the cancels, and give notices a moment to leave. */
    uint64_t end = dlc_now_ns() + 1000 * DLC_MS_NS;
    uint64_t sends_end = dlc_now_ns() + 200 * DLC_MS_NS;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < DLC_NOTICE_SLOTS; i++)
            if (w->notice_in[i].posted && !w->notice_in[i].x.done)
                busy = 1;
        service_out(w);
        uint64_t now = dlc_now_ns();
        if ((!busy || now >= end) && (!w->notice_out || now >= sends_end))
            break;
        dlc_err err;
        int n = dlc_transport_progress(w->tp, &err);
        if (n < 0)
            break;
        if (n == 0)
            dlc_transport_wait(w->tp, 100);
    }
}

void dlc_notice_free(dlc_world *w)
{
    free(w->hello_x);
    w->hello_x = NULL;
    while (w->notice_out) {
        dlc_notice_out *o = w->notice_out;
        w->notice_out = o->next;
        free(o);
    }
}
