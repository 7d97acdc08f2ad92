/*
 * rollcall.c -- "who is missing" when an operation times out.
 *
 * When op #k on a communicator has made no progress for the communicator's
 * timeout, this rank asks every other member where it is (a QUERY notice)
 * and waits a short while (ROLLCALL_WINDOW: a tenth of the timeout, 20 ms to
 * 1 s) for the answers.  A member inside any dlcoll call answers from its
 * progress engine (an ANSWER notice): the op at the head of that
 * communicator there, and the last one it completed.  The timeout's message
 * then names the members that never started #k, with the last operation each
 * completed, and those that did not answer (not inside a dlcoll call: they
 * may not have reached #k at all, or are stopped).  The message travels to
 * the others with the failure's notice, so the members that did arrive learn
 * it from each other, with no central server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"

#define WINDOW_MIN_NS (20 * DLC_MS_NS)
#define WINDOW_MAX_NS (1000 * DLC_MS_NS)

enum { ANS_NONE = 0, ANS_HERE = 1, ANS_NO_GROUP = 2 };

void dlc_rollcall_free(dlcoll_comm *c)
{
    free(c->rc.answer);
    free(c->rc.at);
    free(c->rc.done);
    memset(&c->rc, 0, sizeof c->rc);
}

int dlc_rollcall_start(dlcoll_comm *c, uint32_t seq, uint64_t now)
{
    dlc_world *w = c->w;
    if (!c->rc.answer) {
        c->rc.answer = calloc((size_t)c->size, sizeof *c->rc.answer);
        c->rc.at = calloc((size_t)c->size, sizeof *c->rc.at);
        c->rc.done = calloc((size_t)c->size, sizeof *c->rc.done);
        if (!c->rc.answer || !c->rc.at || !c->rc.done) {
            dlc_rollcall_free(c);
            return -1; /* no roll call: the timeout names the blocker only */
        }
    }
    memset(c->rc.answer, 0, (size_t)c->size * sizeof *c->rc.answer);
    c->rc.active = 1;
    c->rc.seq = seq;
    uint64_t window = (uint64_t)c->timeout_ms * DLC_MS_NS / 10;
    window = window < WINDOW_MIN_NS   ? WINDOW_MIN_NS
             : window > WINDOW_MAX_NS ? WINDOW_MAX_NS
                                      : window;
    c->rc.deadline_ns = now + window;
    c->rc.answer[c->rank] = ANS_HERE;
    c->rc.at[c->rank] = seq;
    dlc_notice_msg q;
    memset(&q, 0, sizeof q);
    q.comm_id = c->id;
    q.seq = seq;
    q.origin = w->rank;
    q.kind = DLC_NOTICE_QUERY;
    for (int g = 0; g < c->size; g++) {
        int peer = c->members[g];
        if (peer != w->rank && !(w->dead_ns && w->dead_ns[peer]))
            dlc_notice_post(w, peer, &q);
    }
    DLC_INFO(&w->lg,
             "%s #%" PRIu32 ": no progress for %d ms; asking the %d other members where "
             "they are",
             c->name[0] ? c->name : "world", seq, c->timeout_ms, c->size - 1);
    return 0;
}

int dlc_rollcall_ready(const dlcoll_comm *c, uint64_t now)
{
    if (now >= c->rc.deadline_ns)
        return 1;
    for (int g = 0; g < c->size; g++)
        if (c->rc.answer[g] == ANS_NONE)
            return 0;
    return 1;
}

/* Group rank of world rank r in c, -1 when not a member. */
static int group_rank(const dlcoll_comm *c, int r)
{
    for (int g = 0; g < c->size; g++)
        if (c->members[g] == r)
            return g;
    return -1;
}

void dlc_rollcall_on_query(dlc_world *w, const dlc_notice_msg *q)
{
    dlc_notice_msg a;
    memset(&a, 0, sizeof a);
    a.comm_id = q->comm_id;
    a.seq = q->seq;
    a.origin = w->rank;
    a.kind = DLC_NOTICE_ANSWER;
    dlcoll_comm *c = dlc_comm_lookup(w, q->comm_id);
    if (!c) {
        a.status = ANS_NO_GROUP;
    } else {
        a.status = ANS_HERE;
        a.at_seq = c->head ? c->head->seq : c->next_seq; /* the op it is in, or its next */
        a.done_seq = c->last_done_seq;
        a.flags = c->head ? 1u : 0u; /* 1: inside an op (running or queued) */
    }
    if (q->origin >= 0 && q->origin < w->size)
        dlc_notice_post(w, q->origin, &a);
}

void dlc_rollcall_on_answer(dlc_world *w, const dlc_notice_msg *a)
{
    dlcoll_comm *c = dlc_comm_lookup(w, a->comm_id);
    if (!c || !c->rc.active || c->rc.seq != a->seq)
        return;
    int g = group_rank(c, a->origin);
    if (g < 0)
        return;
    c->rc.answer[g] = a->status == ANS_NO_GROUP ? ANS_NO_GROUP : ANS_HERE;
    c->rc.at[g] = a->flags ? a->at_seq : 0;
    c->rc.done[g] = a->done_seq;
}

/* Append ", R" (or "R" first) for world rank r to a list. */
static void list_add(char *buf, size_t cap, int *count, int r)
{
    size_t at = strlen(buf);
    if (at < cap)
        snprintf(buf + at, cap - at, "%s%d", *count ? ", " : "", r);
    (*count)++;
}

void dlc_rollcall_describe(const dlcoll_comm *c, char *out, size_t cap)
{
    uint32_t k = c->rc.seq;
    char never[256] = "", silent[256] = "", nogroup[256] = "", lasts[384] = "";
    int n_never = 0, n_silent = 0, n_nogroup = 0, n_arrived = 0;
    for (int g = 0; g < c->size; g++) {
        int r = c->members[g];
        if (c->rc.answer[g] == ANS_NONE) {
            list_add(silent, sizeof silent, &n_silent, r);
        } else if (c->rc.answer[g] == ANS_NO_GROUP) {
            list_add(nogroup, sizeof nogroup, &n_nogroup, r);
        } else if (c->rc.at[g] == k) {
            n_arrived++;
        } else {
            list_add(never, sizeof never, &n_never, r);
            size_t at = strlen(lasts);
            if (at < sizeof lasts)
                snprintf(lasts + at, sizeof lasts - at, "%srank %d: #%" PRIu32, at ? ", " : "", r,
                         c->rc.done[g]);
        }
    }
    size_t at = 0;
    out[0] = '\0';
    if (n_never)
        at += (size_t)snprintf(out + at, cap - at,
                               "; %s %s never started #%" PRIu32 " (last completed: %s)",
                               n_never > 1 ? "ranks" : "rank", never, k, lasts);
    if (n_nogroup && at < cap)
        at += (size_t)snprintf(out + at, cap - at, "; %s %s never created this group",
                               n_nogroup > 1 ? "ranks" : "rank", nogroup);
    if (n_silent && at < cap)
        at += (size_t)snprintf(out + at, cap - at,
                               "; %s %s did not answer (not inside a dlcoll call: not at #%" PRIu32
                               " yet, or stopped)",
                               n_silent > 1 ? "ranks" : "rank", silent, k);
    if (at < cap)
        snprintf(out + at, cap - at, "; %d of %d members are in #%" PRIu32, n_arrived, c->size, k);
}
