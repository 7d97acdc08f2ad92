/*
 * coll/agree.c -- phase 0 of allreduce, reduce_scatter and broadcast: every
 * rank gathers every rank's description of the call (coll/phases.h) and
 * compares them, so ranks that disagree on the operation, the reduction,
 * the dtype, the count or the root all fail with the same MISMATCH, naming
 * the first rank that differs from the communicator's rank 0 and what each
 * of the two called.  The exchange is the allgather an allgather of 32
 * bytes would run here (DLCOLL_ALGO or the automatic choice), under one op
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

dlcoll_status_t dlc_agree_prepare(dlcoll_comm *c, dlc_agree *a, const dlc_agree_desc *desc,
                                  void **state, int *n_slots, dlc_err *err)
{
    *state = NULL;
    *n_slots = 0;
    a->mine = *desc;
    a->all = calloc((size_t)c->size, sizeof *a->all);
    if (!a->all)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the agreement");
    a->in_shape[0] = (int64_t)sizeof a->mine;
    a->out_shape[0] = (int64_t)(sizeof a->mine * (size_t)c->size);
    DLTensor *ti = &a->tin, *to = &a->tout;
    memset(ti, 0, sizeof *ti);
    memset(to, 0, sizeof *to);
    ti->data = &a->mine;
    to->data = a->all;
    ti->device.device_type = to->device.device_type = kDLCPU;
    ti->dtype.code = to->dtype.code = kDLUInt;
    ti->dtype.bits = to->dtype.bits = 8;
    ti->dtype.lanes = to->dtype.lanes = 1;
    ti->ndim = to->ndim = 1;
    ti->shape = a->in_shape;
    to->shape = a->out_shape;
    dlc_ag_plan plan;
    dlcoll_status_t st = dlc_ag_plan_single(c, ti, to, &plan, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    st = dlc_ag_select(c, &plan, &a->algo, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_ag_plan_free(&plan);
        return st;
    }
    plan.comm = c;
    return a->algo->prepare(&plan, state, n_slots, err); /* takes the plan over */
}

dlcoll_status_t dlc_agree_check(const dlcoll_comm *c, const dlc_agree *a, dlc_err *err)
{
    for (int i = 1; i < c->size; i++) {
        if (memcmp(&a->all[i], &a->all[0], sizeof a->all[0]) == 0)
            continue;
        char t0[160], ti[160];
        return dlc_fail(err, DLCOLL_ERR_MISMATCH, "rank %d called %s, rank %d called %s",
                        c->members[0], dlc_agree_text(&a->all[0], t0, sizeof t0), c->members[i],
                        dlc_agree_text(&a->all[i], ti, sizeof ti));
    }
    return DLCOLL_SUCCESS;
}

void dlc_agree_free(dlc_agree *a)
{
    free(a->all);
    a->all = NULL;
}
