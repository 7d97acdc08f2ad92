/*
 * coll/barrier/dissemination.c -- the dissemination barrier.
 *
 * ceil(log2 N) rounds; in round k rank r sends an empty message to
 * r + 2^k and receives one from r - 2^k (mod N), and may send round k only
 * after round k-1's message arrived.  After the last round every rank has
 * heard, directly or through others, from every rank.  The messages carry
 * DLC_OP_BARRIER in their CQ data, so a peer that called another operation
 * is reported as an ordering mismatch.
 * A communicator whose allgathers go through shared memory (coll/select.c) has its
 * barriers go there too, as a zero-byte exchange (coll/allgather/shm.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/coll.h"

typedef struct barrier_state {
    int n, rank, rounds;
    int next_send; /* next round whose send is not yet posted */
    int recvs_handled, sends_handled;
    uint64_t cqdata;
} barrier_state;

static dlcoll_status_t barrier_prepare(dlcoll_comm *c, void **state, int *n_slots, dlc_err *err)
{
    barrier_state *s = calloc(1, sizeof *s);
    if (!s)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    s->n = c->size;
    s->rank = c->rank;
    while ((1 << s->rounds) < s->n)
        s->rounds++;
    if (s->rounds > (int)DLC_STEP_MAX) {
        free(s);
        return dlc_fail(err, DLCOLL_ERR_INTERNAL, "barrier: too many rounds");
    }
    s->cqdata = dlc_cqdata_make(DLC_OP_BARRIER, 0, 0, 0);
    *state = s;
    *n_slots = 2 * s->rounds; /* receives of rounds 0..K-1, then their sends */
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t barrier_start(dlcoll_request *r, dlc_err *err)
{
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t barrier_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    barrier_state *s = r->state;
    int k_max = s->rounds;
    const int *members = r->comm->members;

    /* Receives not yet posted (the provider had no room before). */
    for (int k = 0; k < k_max; k++) {
        dlc_slot *sl = &r->slots[k];
        if (sl->posted)
            continue;
        int from = members[dlc_mod(s->rank - (1 << k), s->n)];
        dlcoll_status_t st = dlc_slot_recv(r, k, from, NULL, 0, (uint32_t)k, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        *progressed = 1;
    }
    /* Completed receives, in any order. */
    for (int k = 0; k < k_max; k++) {
        dlc_slot *sl = &r->slots[k];
        if (!dlc_slot_ready(sl))
            continue;
        dlcoll_status_t st = dlc_slot_check_recv(r, sl, 0, s->cqdata, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        s->recvs_handled++;
        *progressed = 1;
    }
    /* Sends in round order, each once the previous round's message arrived. */
    while (s->next_send < k_max) {
        int k = s->next_send;
        if (k > 0 && !r->slots[k - 1].handled)
            break;
        int to = members[dlc_mod(s->rank + (1 << k), s->n)];
        dlcoll_status_t st = dlc_slot_send(r, k_max + k, to, NULL, 0, (uint32_t)k, s->cqdata, err);
        if (st == DLCOLL_IN_PROGRESS)
            break;
        if (st != DLCOLL_SUCCESS)
            return st;
        s->next_send++;
        *progressed = 1;
    }
    dlcoll_status_t st =
        dlc_slots_check_sends(r, k_max, s->next_send, &s->sends_handled, progressed, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if (s->recvs_handled == k_max && s->sends_handled == k_max)
        return DLCOLL_SUCCESS;
    return DLCOLL_IN_PROGRESS;
}

static int barrier_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const barrier_state *s = r->state;
    if (!r->comm)
        return -1;
    for (int k = 0; k < s->rounds; k++) {
        if (!r->slots[k].handled) {
            snprintf(what, cap, "barrier round %d of %d", k + 1, s->rounds);
            return r->comm->members[dlc_mod(s->rank - (1 << k), s->n)];
        }
    }
    for (int k = 0; k < s->rounds; k++) {
        if (!r->slots[s->rounds + k].handled) {
            snprintf(what, cap, "barrier round %d of %d, sending", k + 1, s->rounds);
            return r->comm->members[dlc_mod(s->rank + (1 << k), s->n)];
        }
    }
    return -1;
}

static void barrier_destroy(void *state)
{
    free(state);
}

static const dlc_op_ops barrier_ops = {
    .start = barrier_start,
    .advance = barrier_advance,
    .blocker = barrier_blocker,
    .destroy = barrier_destroy,
};

dlcoll_status_t dlc_barrier_submit(dlcoll_comm *c, dlcoll_request **out, dlc_err *err)
{
    void *state = NULL;
    int n_slots = 0;
    *out = NULL;
    int shm;
    dlcoll_status_t st = dlc_barrier_uses_shm(c, &shm, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if (shm) {
        /* Through the shared segment, like the allgathers: an exchange of
         * zero bytes whose published op kind is "barrier". */
        dlc_ag_plan plan;
        memset(&plan, 0, sizeof plan);
        plan.n = c->size;
        plan.rank = c->rank;
        return dlc_allgather_submit(c, DLC_OP_BARRIER, "barrier", &plan, out, err);
    }
    st = barrier_prepare(c, &state, &n_slots, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    st = dlc_request_new(c, DLC_OP_BARRIER, "barrier", &barrier_ops, state, n_slots, out, err);
    if (st == DLCOLL_SUCCESS)
        dlc_flight_note(*out, "dissemination", dlc_cqdata_make(DLC_OP_BARRIER, 0, 0, 0));
    return st;
}
