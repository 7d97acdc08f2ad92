/*
 * mp_gather.c -- one checked allgather into a single output (see mp_gather.h).
 */
#include <stdio.h>
#include <string.h>

#include "mp_gather.h"

#define GUARD 64

const char *mp_dtype_name(DLDataType dt)
{
    for (int i = 0; i < mp_n_dtypes; i++)
        if (mp_dtypes[i].dt.code == dt.code && mp_dtypes[i].dt.bits == dt.bits &&
            mp_dtypes[i].dt.lanes == dt.lanes)
            return mp_dtypes[i].name;
    return "dtype?";
}

mp_ag_spec mp_spec(DLDataType dt, uint32_t seed, int ndim, const int64_t *shape)
{
    mp_ag_spec s;
    memset(&s, 0, sizeof s);
    s.dt = dt;
    s.seed = seed;
    s.ndim = ndim;
    for (int i = 0; i < ndim && i < MP_AG_MAXDIM; i++)
        s.shape[i] = shape[i];
    return s;
}

static void make_label(mp_ag *a)
{
    char shp[96] = "(";
    size_t at = 1;
    for (int i = 0; i < a->s.ndim; i++)
        at += (size_t)snprintf(shp + at, sizeof shp - at, "%s%lld", i ? "," : "",
                               (long long)a->s.shape[i]);
    snprintf(shp + at, sizeof shp - at, ")");
    snprintf(a->label, sizeof a->label,
             "allgather seed %u %s shape %s %s%s in_off %zu out_off %zu (N=%d, index %d)",
             a->s.seed, mp_dtype_name(a->s.dt), shp, a->s.stacked ? "stacked" : "concatenated",
             a->s.inplace ? " in-place" : "", a->s.in_off, a->s.out_off, a->n, a->me);
}

int mp_ag_prepare(mp_ctx *ctx, mp_ag *a, const mp_ag_spec *s, int me, int n, const int *ids)
{
    memset(a, 0, sizeof *a);
    a->s = *s;
    a->n = n;
    a->me = me;
    for (int i = 0; i < n; i++)
        a->ids[i] = ids ? ids[i] : i;
    make_label(a);

    size_t es = mp_dt_size(s->dt);
    size_t numel = mp_numel(s->ndim, s->shape);
    a->block = numel * es;
    memcpy(a->in_shape, s->shape, sizeof a->in_shape);
    int out_ndim;
    if (s->ndim == 0) {
        out_ndim = 1;
        a->out_shape[0] = n;
    } else if (s->stacked) {
        out_ndim = s->ndim + 1;
        a->out_shape[0] = n;
        memcpy(a->out_shape + 1, s->shape, (size_t)s->ndim * sizeof(int64_t));
    } else {
        out_ndim = s->ndim;
        memcpy(a->out_shape, s->shape, (size_t)s->ndim * sizeof(int64_t));
        a->out_shape[0] = s->shape[0] * n;
    }

    if (mp_buf_alloc(&a->out, s->out_off + (size_t)n * a->block, GUARD) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: out of memory", a->label);
        return 1;
    }
    mp_tensor(&a->tout, s->null_data ? NULL : a->out.data, s->null_data ? 0 : s->out_off, s->dt,
              out_ndim, a->out_shape, NULL);
    if (s->inplace) {
        uint8_t *mine = a->out.data + s->out_off + (size_t)me * a->block;
        mp_fill(mine, a->block, s->seed, a->ids[me], 0);
        mp_tensor(&a->tin, a->out.data, s->out_off + (size_t)me * a->block, s->dt, s->ndim,
                  a->in_shape, NULL);
    } else {
        if (mp_buf_alloc(&a->in, s->in_off + a->block, GUARD) != 0) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: out of memory", a->label);
            mp_buf_free(&a->out);
            return 1;
        }
        mp_fill(a->in.data + s->in_off, a->block, s->seed, a->ids[me], 0);
        mp_tensor(&a->tin, s->null_data ? NULL : a->in.data, s->null_data ? 0 : s->in_off, s->dt,
                  s->ndim, a->in_shape, NULL);
    }
    return 0;
}

int mp_ag_verify(mp_ctx *ctx, mp_ag *a)
{
    int bad = 0;
    char why[256], who[64];
    const uint8_t *base = a->out.data + a->s.out_off;

    size_t i = mp_find_bad(a->out.data, a->s.out_off, MP_SEED_UNTOUCHED, -1, 0);
    if (i != (size_t)-1) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: output byte %zu, before byte_offset %zu, was written",
                a->label, i, a->s.out_off);
        bad = 1;
    }
    for (int j = 0; j < a->n; j++) {
        const uint8_t *blk = base + (size_t)j * a->block;
        i = mp_find_bad(blk, a->block, a->s.seed, a->ids[j], 0);
        if (i != (size_t)-1) {
            size_t nbad = 0;
            for (size_t k = i; k < a->block; k++)
                nbad += blk[k] != mp_pat(a->s.seed, a->ids[j], k);
            mp_fail(ctx, __FILE__, __LINE__,
                    "%s: output block %d (rank %d's data), byte %zu of %zu is 0x%02x, expected "
                    "0x%02x (%s); %zu bytes of the block are wrong",
                    a->label, j, a->ids[j], i, a->block, blk[i],
                    mp_pat(a->s.seed, a->ids[j], i),
                    mp_guess_owner(blk[i], a->s.seed, MP_MAX_RANKS, i, who, sizeof who), nbad);
            bad = 1;
        }
    }
    if (!mp_buf_guards_ok(&a->out, why, sizeof why)) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: output: %s", a->label, why);
        bad = 1;
    }
    if (!a->s.inplace) {
        i = mp_find_bad(a->in.data + a->s.in_off, a->block, a->s.seed, a->ids[a->me], 0);
        if (i != (size_t)-1) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: the INPUT changed at byte %zu", a->label, i);
            bad = 1;
        }
        i = mp_find_bad(a->in.data, a->s.in_off, MP_SEED_UNTOUCHED, -1, 0);
        if (i != (size_t)-1) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: input byte %zu (before byte_offset) changed",
                    a->label, i);
            bad = 1;
        }
        if (!mp_buf_guards_ok(&a->in, why, sizeof why)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: input: %s", a->label, why);
            bad = 1;
        }
    }
    return bad;
}

void mp_ag_free(mp_ag *a)
{
    mp_buf_free(&a->in);
    mp_buf_free(&a->out);
}

int mp_check_allgather(mp_ctx *ctx, dlcoll_comm_t comm, const mp_ag_spec *s, int me, int n,
                       const int *ids)
{
    mp_ag a;
    if (mp_ag_prepare(ctx, &a, s, me, n, ids) != 0)
        return 1;
    mp_step(ctx, "%s", a.label);
    dlcoll_status_t st = ctx->p->allgather(comm, &a.tin, &a.tout, NULL);
    if (st != DLCOLL_SUCCESS) {
        const char *e = ctx->p->last_error(comm);
        mp_fail(ctx, __FILE__, __LINE__, "%s -> %s (%d): %s", a.label, ctx->p->status_string(st),
                (int)st, e ? e : "(null)");
        mp_ag_free(&a);
        return 2;
    }
    int bad = mp_ag_verify(ctx, &a);
    mp_ag_free(&a);
    return bad;
}
