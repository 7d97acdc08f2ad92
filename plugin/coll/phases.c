/*
 * coll/phases.c -- running the phases of an ABI 1.1 collective
 * (coll/phases.h): staging, the agreement, then each data phase in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

dlcoll_status_t dlc_stage_init(dlc_stage *s, const DLTensor *t, const char *what, dlc_err *err)
{
    s->buf = NULL;
    dlcoll_status_t st = dlc_tensor_describe(t, what, &s->t, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if (!s->t.contiguous && s->t.nbytes > 0) {
        s->buf = malloc(s->t.nbytes);
        if (!s->buf)
            return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory staging %s (%zu bytes)", what,
                            s->t.nbytes);
    }
    return DLCOLL_SUCCESS;
}

void dlc_phases_free(dlc_phases *ph)
{
    if (!ph)
        return;
    for (int k = 0; k < ph->n; k++)
        dlc_sub_op_destroy(&ph->sub[k]);
    dlc_agree_free(&ph->agree);
    for (int i = 0; i < ph->n_ins; i++)
        free(ph->ins[i].buf);
    free(ph->ins);
    free(ph->in_buf);
    free(ph->out.buf);
    free(ph->off);
    free(ph->ring[0].acc);
    free(ph->ring[1].acc);
    free(ph->gath.all);
    free(ph->gath.acc);
    free(ph);
}

static void phases_destroy(void *state)
{
    dlc_phases_free(state);
}

static const dlc_op_ops phases_ops_plain, phases_ops_polled;

/* Pack the inputs that need it (into in_buf, in order, or into their own
 * staging buffers). */
static void stage_inputs(dlc_phases *ph)
{
    size_t at = 0;
    for (int i = 0; i < ph->n_ins; i++) {
        dlc_stage *s = &ph->ins[i];
        if (ph->in_buf)
            dlc_tensor_pack(&s->t, 0, s->t.nbytes, ph->in_buf + at);
        else if (s->buf)
            dlc_tensor_pack(&s->t, 0, s->t.nbytes, s->buf);
        at += s->t.nbytes;
    }
}

static dlcoll_status_t phases_start(dlcoll_request *r, dlc_err *err)
{
    dlc_phases *ph = r->state;
    for (int k = 0; k < ph->n; k++) {
        dlcoll_request *sr = &ph->sub[k].req;
        /* The agreement's exchange is one kind for all three collectives,
         * so that ranks in different ones reach the comparison of their
         * descriptions (which names both calls). */
        sr->op_kind = k == 0 ? DLC_OP_AGREE : r->op_kind;
        sr->op_name = r->op_name;
        sr->seq = r->seq;
        sr->slots = r->slots + ph->slot0[k];
        sr->n_slots = ph->n_slots[k];
    }
    stage_inputs(ph);
    if (ph->gathered && ph->gath.inline_data && ph->gath.bytes > 0)
        memcpy(ph->agree.mine.data, ph->gath.mine, ph->gath.bytes);
    r->ops = ph->polled[0] ? &phases_ops_polled : &phases_ops_plain;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t phases_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    dlc_phases *ph = r->state;
    while (ph->cur < ph->n) {
        dlcoll_status_t st = dlc_sub_op_step(&ph->sub[ph->cur], progressed, err);
        if (st != DLCOLL_SUCCESS) {
            if (st != DLCOLL_IN_PROGRESS)
                dlc_err_prefix(err, "%s: ", ph->what[ph->cur]);
            return st;
        }
        if (ph->cur == 0) {
            st = dlc_agree_check(r->comm, &ph->agree, err);
            if (st != DLCOLL_SUCCESS)
                return st;
        }
        ph->cur++;
        /* A phase that completes through the transport lets a waiter sleep
         * in its wait object again; one through shared memory does not. */
        r->ops = ph->cur < ph->n && ph->polled[ph->cur] ? &phases_ops_polled : &phases_ops_plain;
        *progressed = 1;
    }
    if (ph->gathered)
        dlc_gathered_finish(ph, r->comm);
    if (ph->unpack_out && ph->out.buf)
        dlc_tensor_unpack(&ph->out.t, 0, ph->out.t.nbytes, ph->out.buf);
    return DLCOLL_SUCCESS;
}

static int phases_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const dlc_phases *ph = r->state;
    if (ph->cur >= ph->n)
        return -1;
    const dlc_sub_op *so = &ph->sub[ph->cur];
    if (!so->started || !so->req.ops->blocker)
        return -1;
    char sub[160] = "";
    int p = so->req.ops->blocker(&so->req, sub, sizeof sub);
    if (p >= 0)
        snprintf(what, cap, "%s, %s", sub, ph->what[ph->cur]);
    return p;
}

static void phases_cancel(dlcoll_request *r)
{
    dlc_phases *ph = r->state;
    if (!ph || ph->cur >= ph->n)
        return;
    dlc_sub_op *so = &ph->sub[ph->cur];
    if (so->started && !so->done && so->req.ops->cancel)
        so->req.ops->cancel(&so->req);
}

static const dlc_op_ops phases_ops_plain = {
    .start = phases_start,
    .advance = phases_advance,
    .blocker = phases_blocker,
    .destroy = phases_destroy,
    .cancel = phases_cancel,
};

/* The same while the agreement runs through shared memory (nothing in the
 * completion queue wakes a sleeper); phases_start and phases_advance switch
 * r->ops between the two. */
static const dlc_op_ops phases_ops_polled = {
    .start = phases_start,
    .advance = phases_advance,
    .blocker = phases_blocker,
    .destroy = phases_destroy,
    .cancel = phases_cancel,
    .polled = 1,
};

dlcoll_status_t dlc_phases_submit(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                  const char *algo_name, dlc_phases *ph, uint64_t cqdata,
                                  dlcoll_request **out, dlc_err *err)
{
    *out = NULL;
    void *astate = NULL;
    int an = 0;
    dlcoll_status_t st = dlc_agree_prepare(c, &ph->agree, &astate, &an, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    dlc_sub_op_init(&ph->sub[0], NULL, c, ph->agree.g.algo->ops, astate);
    ph->what[0] = "agreement";
    ph->n_slots[0] = an;
    ph->polled[0] = ph->agree.g.algo->ops->polled;
    int total = 0;
    for (int k = 0; k < ph->n; k++) {
        ph->slot0[k] = total;
        total += ph->n_slots[k];
    }
    st =
        dlc_request_new(c, op_kind, op_name, ph->polled[0] ? &phases_ops_polled : &phases_ops_plain,
                        ph, total, out, err);
    if (st == DLCOLL_SUCCESS)
        dlc_flight_note(*out, algo_name, cqdata);
    return st;
}

int dlc_tensors_overlap(const dlc_tensor *a, const dlc_tensor *b)
{
    uintptr_t alo, ahi, blo, bhi;
    const dlc_tensor *t[2] = {a, b};
    uintptr_t *lo[2] = {&alo, &blo}, *hi[2] = {&ahi, &bhi};
    for (int k = 0; k < 2; k++) {
        *lo[k] = *hi[k] = (uintptr_t)t[k]->base;
        if (t[k]->numel == 0)
            continue;
        size_t last = 0;
        for (int d = 0; d < t[k]->ndim; d++)
            last += (size_t)(t[k]->shape[d] - 1) * (size_t)t[k]->strides[d];
        *hi[k] = *lo[k] + (last + 1) * t[k]->elem_size;
    }
    return alo < ahi && blo < bhi && alo < bhi && blo < ahi;
}

void dlc_phases_red_desc(dlc_phases *ph, unsigned op_kind, const dlc_red *red, size_t count)
{
    dlc_agree_desc *d = &ph->agree.mine.desc;
    d->op_kind = op_kind;
    d->red = (int32_t)red->op;
    d->root = -1;
    d->code = red->dtype.code;
    d->bits = red->dtype.bits;
    d->lanes = red->dtype.lanes;
    d->count = count;
}
