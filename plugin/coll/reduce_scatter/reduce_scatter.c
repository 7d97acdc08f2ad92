/*
 * coll/reduce_scatter/reduce_scatter.c -- reduce_scatter and
 * reduce_scatter_list: validation into the phases (coll/phases.h), the
 * agreement then one REDUCE ring phase, or for a small input (all N blocks
 * at most DLCOLL_GATHERED_MAX bytes) the gathered path (coll/gathered.c).
 *
 * Single input: contiguous, N blocks along dim 0, shape (N, *out) or
 * (N*out0, *out[1:]); block b is elements b*count .. (b+1)*count.  List:
 * N inputs shaped and typed like the output, any strides, packed into one
 * contiguous buffer at start.  The output may be strided (staged).  No input
 * may share a byte with the output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

static int same_shape(const dlc_tensor *a, const dlc_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

/* Shape (n, *out) or (n*out0, *out[1:]), n * out.numel elements. */
static dlcoll_status_t check_blocks(const dlc_tensor *in, const dlc_tensor *out, int n,
                                    dlc_err *err)
{
    int stacked = in->ndim == out->ndim + 1 && in->shape[0] == n;
    for (int i = 0; stacked && i < out->ndim; i++)
        stacked = in->shape[i + 1] == out->shape[i];
    int concat = out->ndim > 0 && in->ndim == out->ndim && in->shape[0] == n * out->shape[0];
    for (int i = 1; concat && i < out->ndim; i++)
        concat = in->shape[i] == out->shape[i];
    if ((stacked || concat) && in->numel == (size_t)n * out->numel)
        return DLCOLL_SUCCESS;
    char have[DLC_MAX_NDIM * 24 + 4], ob[DLC_MAX_NDIM * 24 + 4];
    dlc_shape_text(in->shape, in->ndim, have, sizeof have);
    dlc_shape_text(out->shape, out->ndim, ob, sizeof ob);
    return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                    "input has shape %s but %d rank%s x output %s needs (%d, *output) or "
                    "(%d*output[0], *output[1:])",
                    have, n, n == 1 ? "" : "s", ob, n, n);
}

static dlcoll_status_t validate(dlcoll_comm *c, dlc_phases *ph, const DLTensor *input,
                                const DLTensor *const *inputs, int n_inputs, dlc_err *err)
{
    int n = c->size;
    char a[64], b[64];
    if (!inputs) {
        ph->ins = calloc(1, sizeof *ph->ins);
        if (!ph->ins)
            return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        ph->n_ins = 1;
        dlc_stage *s = &ph->ins[0];
        dlcoll_status_t st = dlc_tensor_describe(input, "input", &s->t, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (!dlc_dtype_equal(s->t.dtype, ph->out.t.dtype))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "input dtype %s differs from output dtype %s",
                            dlc_dtype_name(s->t.dtype, a, sizeof a),
                            dlc_dtype_name(ph->out.t.dtype, b, sizeof b));
        if (!s->t.contiguous && s->t.numel > 0)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "input must be contiguous");
        st = check_blocks(&s->t, &ph->out.t, n, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (dlc_tensors_overlap(&s->t, &ph->out.t))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "input overlaps output");
        return DLCOLL_SUCCESS;
    }
    if (n_inputs != n)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "n_inputs is %d, the communicator has %d ranks", n_inputs, n);
    ph->ins = calloc((size_t)n, sizeof *ph->ins);
    if (!ph->ins)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    ph->n_ins = n;
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "inputs[%d]", i);
        if (!inputs[i])
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s is NULL", what);
        dlc_stage *s = &ph->ins[i];
        dlcoll_status_t st = dlc_tensor_describe(inputs[i], what, &s->t, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (!dlc_dtype_equal(s->t.dtype, ph->out.t.dtype) || !same_shape(&s->t, &ph->out.t)) {
            char sa[DLC_MAX_NDIM * 24 + 4], sb[DLC_MAX_NDIM * 24 + 4];
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s is %s %s, the output %s %s: every input must be shaped and "
                            "typed like the output",
                            what, dlc_dtype_name(s->t.dtype, a, sizeof a),
                            dlc_shape_text(s->t.shape, s->t.ndim, sa, sizeof sa),
                            dlc_dtype_name(ph->out.t.dtype, b, sizeof b),
                            dlc_shape_text(ph->out.t.shape, ph->out.t.ndim, sb, sizeof sb));
        }
        if (dlc_tensors_overlap(&s->t, &ph->out.t))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s overlaps output", what);
    }
    size_t total = (size_t)n * ph->out.t.nbytes;
    ph->in_buf = malloc(total ? total : 1);
    if (!ph->in_buf)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the inputs (%zu bytes)", total);
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_reduce_scatter_submit(dlcoll_comm *c, const DLTensor *input,
                                          const DLTensor *const *inputs, int n_inputs,
                                          DLTensor *output, const dlcoll_reduction_t *reduction,
                                          dlcoll_request **out, dlc_err *err)
{
    *out = NULL;
    int n = c->size;
    if (n > DLC_PHASE_MAX_RANKS)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "reduce_scatter supports at most %d ranks",
                        DLC_PHASE_MAX_RANKS);
    dlc_phases *ph = calloc(1, sizeof *ph);
    if (!ph)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    dlc_ring_phase *p = &ph->ring[0];
    dlcoll_status_t st = dlc_stage_init(&ph->out, output, "output", err);
    if (st == DLCOLL_SUCCESS)
        st = validate(c, ph, input, inputs, n_inputs, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_red_resolve(reduction, ph->out.t.dtype, n, &p->red, err);
    size_t count = ph->out.t.numel;
    if (st == DLCOLL_SUCCESS && (size_t)n * ph->out.t.nbytes > DLC_BYTES_MAX)
        st = dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "input of %zu bytes is too large",
                      (size_t)n * ph->out.t.nbytes);
    if (st == DLCOLL_SUCCESS && !(ph->off = calloc((size_t)n + 1, sizeof *ph->off)))
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    for (int b = 0; b <= n; b++)
        ph->off[b] = (size_t)b * count;
    ph->unpack_out = ph->out.buf != NULL;
    int gathered = 0;
    st = dlc_gathered_fits(c, (size_t)n * ph->out.t.nbytes, &gathered, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    if (gathered) {
        dlc_gathered *g = &ph->gath;
        DLDataType gdt = ph->out.t.dtype;
        g->op_kind = DLC_OP_REDUCE_SCATTER;
        g->bytes = (size_t)n * ph->out.t.nbytes;
        g->mine = ph->in_buf ? ph->in_buf : ph->ins[0].t.base;
        g->red = p->red;
        g->block = count;
        g->out = dlc_stage_data(&ph->out);
        dlc_phases_red_desc(ph, DLC_OP_REDUCE_SCATTER, &g->red, count);
        return dlc_gathered_submit(
            c, inputs ? "reduce_scatter_list" : "reduce_scatter", ph,
            dlc_cqdata_make(DLC_OP_REDUCE_SCATTER, gdt.code, gdt.bits, ph->out.t.nbytes), out, err);
    }
    p->mode = DLC_RING_REDUCE;
    p->n = n;
    p->rank = c->rank;
    p->step0 = DLC_PHASE_STEP(1);
    p->off = ph->off;
    p->elem = ph->out.t.elem_size;
    p->in = ph->in_buf ? ph->in_buf : ph->ins[0].t.base;
    p->own_out = dlc_stage_data(&ph->out);
    DLDataType dt = ph->out.t.dtype;
    p->cqdata = dlc_cqdata_make(DLC_OP_REDUCE_SCATTER, dt.code, dt.bits, ph->out.t.nbytes);
    st = dlc_ring_phase_alloc(p, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    dlc_phases_red_desc(ph, DLC_OP_REDUCE_SCATTER, &p->red, count);
    ph->n = 2;
    ph->n_slots[1] = dlc_ring_phase_slots(n);
    ph->what[1] = "reduce ring";
    dlc_sub_op_init(&ph->sub[1], NULL, c, &dlc_ring_phase_ops, p);
    return dlc_phases_submit(c, DLC_OP_REDUCE_SCATTER,
                             inputs ? "reduce_scatter_list" : "reduce_scatter", "ring", ph,
                             p->cqdata, out, err);
}
