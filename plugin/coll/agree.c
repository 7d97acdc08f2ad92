/*
 * coll/agree.c -- phase 0 of allreduce, reduce_scatter and broadcast: every
 * rank gathers every rank's description of the call (coll/phases.h) and
 * compares them, so ranks that disagree on the operation, the reduction,
 * the dtype, the count or the root all fail with the same MISMATCH, naming
 * the first rank that differs from the communicator's rank 0 and what each
 * of the two called.  The exchange is the allgather an allgather of
 * DLC_AGREE_BLOCK bytes would run here (DLCOLL_ALGO or the automatic choice), under one op
 * kind for the three collectives (DLC_OP_AGREE), so ranks in different ones
 * of them are told apart here, with both calls named, and a rank that called
 * an allgather or a barrier instead is found by that allgather's own op-kind
 * check.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

const char *dlc_agree_text(const dlc_agree_desc *d, char *buf, size_t cap)
{
    char dn[64], on[32];
    DLDataType dt = {d->code, d->bits, d->lanes};
    dlc_dtype_name(dt, dn, sizeof dn);
    const char *op = dlc_op_kind_name(d->op_kind);
    if (d->op_kind == DLC_OP_BROADCAST)
        snprintf(buf, cap, "%s(root %d, %s, %" PRIu64 " elements)", op, (int)d->root, dn, d->count);
    else
        snprintf(buf, cap, "%s(%s, %s, %" PRIu64 " elements%s)", op,
                 dlc_red_op_name(d->red, on, sizeof on), dn, d->count,
                 d->op_kind == DLC_OP_REDUCE_SCATTER ? " per rank" : "");
    return buf;
}

dlcoll_status_t dlc_bytes_gather_prepare(dlcoll_comm *c, dlc_bytes_gather *t, const void *in,
                                         size_t bytes, void *out, void **state, int *n_slots,
                                         dlc_err *err)
{
    *state = NULL;
    *n_slots = 0;
    t->in_shape[0] = (int64_t)bytes;
    t->out_shape[0] = (int64_t)(bytes * (size_t)c->size);
    DLTensor *ti = &t->tin, *to = &t->tout;
    memset(ti, 0, sizeof *ti);
    memset(to, 0, sizeof *to);
    ti->data = (void *)in; /* only read */
    to->data = out;
    ti->device.device_type = to->device.device_type = kDLCPU;
    ti->dtype.code = to->dtype.code = kDLUInt;
    ti->dtype.bits = to->dtype.bits = 8;
    ti->dtype.lanes = to->dtype.lanes = 1;
    ti->ndim = to->ndim = 1;
    ti->shape = t->in_shape;
    to->shape = t->out_shape;
    dlc_ag_plan plan;
    dlcoll_status_t st = dlc_ag_plan_single(c, ti, to, &plan, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    st = dlc_ag_select(c, &plan, &t->algo, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_ag_plan_free(&plan);
        return st;
    }
    plan.comm = c;
    return t->algo->prepare(&plan, state, n_slots, err); /* takes the plan over */
}

dlcoll_status_t dlc_agree_prepare(dlcoll_comm *c, dlc_agree *a, void **state, int *n_slots,
                                  dlc_err *err)
{
    *state = NULL;
    *n_slots = 0;
    a->all = calloc((size_t)c->size, sizeof *a->all);
    if (!a->all)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the agreement");
    return dlc_bytes_gather_prepare(c, &a->g, &a->mine, sizeof a->mine, a->all, state, n_slots,
                                    err);
}

dlcoll_status_t dlc_agree_check(const dlcoll_comm *c, const dlc_agree *a, dlc_err *err)
{
    for (int i = 1; i < c->size; i++) {
        if (memcmp(&a->all[i].desc, &a->all[0].desc, sizeof a->all[0].desc) == 0)
            continue;
        char t0[160], ti[160];
        if (a->all[i].desc.path != a->all[0].desc.path) {
            static const char *const paths[] = {"ring", "inline", "gathered"};
            uint32_t p0 = a->all[0].desc.path, pi = a->all[i].desc.path;
            dlc_agree_desc d0 = a->all[0].desc, di = a->all[i].desc;
            d0.path = di.path = 0;
            if (memcmp(&d0, &di, sizeof d0) == 0)
                return dlc_fail(err, DLCOLL_ERR_MISMATCH,
                                "rank %d and rank %d both called %s, but rank %d takes the %s path "
                                "and rank %d the %s path: DLCOLL_GATHERED_MAX must be the same on "
                                "every rank",
                                c->members[0], c->members[i],
                                dlc_agree_text(&a->all[0].desc, t0, sizeof t0), c->members[0],
                                p0 < 3 ? paths[p0] : "?", c->members[i], pi < 3 ? paths[pi] : "?");
        }
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d called %s, rank %d called %s",
                        c->members[0], dlc_agree_text(&a->all[0].desc, t0, sizeof t0),
                        c->members[i], dlc_agree_text(&a->all[i].desc, ti, sizeof ti));
    }
    return DLCOLL_SUCCESS;
}

void dlc_agree_free(dlc_agree *a)
{
    free(a->all);
    a->all = NULL;
}
