/*
 * coll/allreduce/ring.c -- allreduce: small calls take the gathered path
 * (coll/gathered.c), the others run as reduce_scatter + allgather: the
 * agreement, a REDUCE ring phase over N balanced blocks of the tensor (block
 * b is elements floor-balanced: the first count % N blocks have one element
 * more), each rank finishing its own block into the output, then a GATHER
 * ring phase that moves every finished block to every rank
 * (coll/reduce_scatter/ring.c).  Every rank therefore holds the owner's
 * bytes of each block: the result is bit-identical on every rank.
 *
 * In place when input and output are the same tensor (same data, offset,
 * dtype, shape and strides); any other overlap is refused.  Tensors that are
 * not contiguous are staged (coll/phases.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

static int same_view(const dlc_tensor *a, const dlc_tensor *b)
{
    if (a->base != b->base || a->ndim != b->ndim || !dlc_dtype_equal(a->dtype, b->dtype))
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->strides[i] != b->strides[i]))
            return 0;
    return 1;
}

static dlcoll_status_t validate(dlc_phases *ph, const DLTensor *input, DLTensor *output,
                                dlc_err *err)
{
    char a[64], b[64];
    ph->ins = calloc(1, sizeof *ph->ins);
    if (!ph->ins)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    ph->n_ins = 1;
    dlcoll_status_t st = dlc_stage_init(&ph->ins[0], input, "input", err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_stage_init(&ph->out, output, "output", err);
    if (st != DLCOLL_SUCCESS)
        return st;
    const dlc_tensor *in = &ph->ins[0].t, *out = &ph->out.t;
    if (!dlc_dtype_equal(in->dtype, out->dtype))
        return dlc_fail(
            err, DLCOLL_ERR_INVALID_ARGUMENT, "output dtype %s differs from input dtype %s",
            dlc_dtype_name(out->dtype, a, sizeof a), dlc_dtype_name(in->dtype, b, sizeof b));
    if (in->numel != out->numel)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "output has %zu elements, input %zu: they must be equal", out->numel,
                        in->numel);
    if (dlc_tensors_overlap(in, out) && !same_view(in, out))
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "input overlaps output; in place, input and output must be the same "
                        "tensor (same data, offset, shape and strides)");
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_allreduce_submit(dlcoll_comm *c, const DLTensor *input, DLTensor *output,
                                     const dlcoll_reduction_t *reduction, dlcoll_request **out,
                                     dlc_err *err)
{
    *out = NULL;
    int n = c->size;
    if (n > DLC_PHASE_MAX_RANKS)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "allreduce supports at most %d ranks",
                        DLC_PHASE_MAX_RANKS);
    dlc_phases *ph = calloc(1, sizeof *ph);
    if (!ph)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    dlc_ring_phase *rd = &ph->ring[0], *ga = &ph->ring[1];
    dlcoll_status_t st = validate(ph, input, output, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_red_resolve(reduction, ph->out.t.dtype, n, &rd->red, err);
    if (st == DLCOLL_SUCCESS && ph->out.t.nbytes > DLC_BYTES_MAX)
        st = dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "tensor of %zu bytes is too large",
                      ph->out.t.nbytes);
    if (st == DLCOLL_SUCCESS && !(ph->off = calloc((size_t)n + 1, sizeof *ph->off)))
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    size_t count = ph->out.t.numel, base = count / (size_t)n, rem = count % (size_t)n;
    for (int b = 0; b <= n; b++)
        ph->off[b] = (size_t)b * base + ((size_t)b < rem ? (size_t)b : rem);
    ph->unpack_out = ph->out.buf != NULL;
    uint8_t *data_out = dlc_stage_data(&ph->out);
    size_t elem = ph->out.t.elem_size;
    DLDataType dt = ph->out.t.dtype;
    uint64_t cqdata = dlc_cqdata_make(DLC_OP_ALLREDUCE, dt.code, dt.bits, ph->out.t.nbytes);
    int gathered = 0;
    st = dlc_gathered_fits(c, ph->out.t.nbytes, &gathered, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    if (gathered) {
        dlc_gathered *g = &ph->gath;
        g->op_kind = DLC_OP_ALLREDUCE;
        g->bytes = ph->out.t.nbytes;
        g->mine = dlc_stage_data(&ph->ins[0]);
        g->red = rd->red;
        g->block = ph->off[1] - ph->off[0]; /* the largest block */
        g->out = data_out;
        dlc_phases_red_desc(ph, DLC_OP_ALLREDUCE, &g->red, count);
        return dlc_gathered_submit(c, "allreduce", ph, cqdata, out, err);
    }

    rd->mode = DLC_RING_REDUCE;
    rd->n = n;
    rd->rank = c->rank;
    rd->step0 = DLC_PHASE_STEP(1);
    rd->off = ph->off;
    rd->elem = elem;
    rd->in = dlc_stage_data(&ph->ins[0]);
    rd->own_out = data_out + ph->off[c->rank] * elem;
    rd->cqdata = cqdata;

    ga->mode = DLC_RING_GATHER;
    ga->n = n;
    ga->rank = c->rank;
    ga->step0 = DLC_PHASE_STEP(2);
    ga->off = ph->off;
    ga->elem = elem;
    ga->out = data_out;
    ga->cqdata = cqdata;
    st = dlc_ring_phase_alloc(rd, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    dlc_phases_red_desc(ph, DLC_OP_ALLREDUCE, &rd->red, count);
    ph->n = 3;
    ph->n_slots[1] = ph->n_slots[2] = dlc_ring_phase_slots(n);
    ph->what[1] = "reduce ring";
    ph->what[2] = "gather ring";
    dlc_sub_op_init(&ph->sub[1], NULL, c, &dlc_ring_phase_ops, rd);
    dlc_sub_op_init(&ph->sub[2], NULL, c, &dlc_ring_phase_ops, ga);
    return dlc_phases_submit(c, DLC_OP_ALLREDUCE, "allreduce", "ring", ph, cqdata, out, err);
}
