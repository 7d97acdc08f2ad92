/*
 * plan_cache.c -- the per-communicator cache of the last allgather plan
 * (plan_cache.h says why and when it is used).
 */
#include <stdlib.h>
#include <string.h>

#include "plugin/core/comm.h"
#include "plugin/coll/plan_cache.h"

/* What a DLTensor descriptor says, copied: equal keys validate alike. */
typedef struct tensor_key {
    void *data;
    uint64_t byte_offset;
    DLDevice device;
    DLDataType dtype;
    int32_t ndim;
    int has_strides;
    int64_t shape[DLC_PLAN_CACHE_NDIM];
    int64_t strides[DLC_PLAN_CACHE_NDIM];
} tensor_key;

struct dlc_plan_cache {
    int refs; /* the communicator's, plus one per borrowing plan */
    int valid;
    int is_list;
    int n_keys;       /* 2 (input, output) or n_outs + 1 (input, outputs) */
    tensor_key *keys; /* [cap_keys] */
    int cap_keys;
    dlc_ag_plan plan; /* outs owned here */
    int cap_outs;
};

static int key_fits(const DLTensor *t)
{
    return t && t->ndim >= 0 && t->ndim <= DLC_PLAN_CACHE_NDIM && (t->ndim == 0 || t->shape);
}

static void key_make(const DLTensor *t, tensor_key *k)
{
    memset(k, 0, sizeof *k);
    k->data = t->data;
    k->byte_offset = t->byte_offset;
    k->device = t->device;
    k->dtype = t->dtype;
    k->ndim = t->ndim;
    k->has_strides = t->strides != NULL;
    for (int d = 0; d < t->ndim; d++) {
        k->shape[d] = t->shape[d];
        if (t->strides)
            k->strides[d] = t->strides[d];
    }
}

static int key_equal(const tensor_key *k, const DLTensor *t)
{
    if (!t || k->data != t->data || k->byte_offset != t->byte_offset || k->ndim != t->ndim ||
        k->has_strides != (t->strides != NULL) || k->device.device_type != t->device.device_type ||
        k->device.device_id != t->device.device_id || k->dtype.code != t->dtype.code ||
        k->dtype.bits != t->dtype.bits || k->dtype.lanes != t->dtype.lanes)
        return 0;
    for (int d = 0; d < k->ndim; d++)
        if (k->shape[d] != t->shape[d] || (t->strides && k->strides[d] != t->strides[d]))
            return 0;
    return 1;
}

/* The i-th tensor of a call: the input, then the output or the outputs. */
static const DLTensor *nth(const DLTensor *in, const DLTensor *out, DLTensor *const *outs, int i)
{
    if (i == 0)
        return in;
    return outs ? outs[i - 1] : out;
}

/* The slot's release hook: the communicator's reference goes (a request
 * still borrowing the plan keeps it alive until it is freed). */
static void cache_release(dlcoll_comm *c, void *state)
{
    (void)c;
    dlc_plan_cache_unref(state);
}

int dlc_plan_cache_lookup(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                          DLTensor *const *outs, int n_outs, dlc_ag_plan *plan)
{
    dlc_plan_cache *pc = dlc_comm_ext_get(c, DLC_COLL_EXT_PLAN_CACHE);
    int is_list = outs != NULL;
    if (!pc || !pc->valid || pc->refs != 1 || pc->is_list != is_list ||
        pc->n_keys != (is_list ? n_outs + 1 : 2))
        return 0;
    for (int i = 0; i < pc->n_keys; i++)
        if (!key_equal(&pc->keys[i], nth(in, out, outs, i)))
            return 0;
    *plan = pc->plan;
    plan->borrowed = pc;
    pc->refs++;
    return 1;
}

void dlc_plan_cache_store(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                          DLTensor *const *outs, int n_outs, const dlc_ag_plan *plan)
{
    int is_list = outs != NULL;
    int n_keys = is_list ? n_outs + 1 : 2;
    for (int i = 0; i < n_keys; i++)
        if (!key_fits(nth(in, out, outs, i)))
            return;
    dlc_plan_cache *pc = dlc_comm_ext_get(c, DLC_COLL_EXT_PLAN_CACHE);
    if (!pc) {
        pc = calloc(1, sizeof *pc);
        if (!pc)
            return;
        pc->refs = 1;
        dlc_comm_ext_set(c, DLC_COLL_EXT_PLAN_CACHE, pc, cache_release);
    }
    if (pc->refs != 1)
        return; /* a request still uses the cached outputs */
    pc->valid = 0;
    if (pc->cap_keys < n_keys) {
        tensor_key *k = realloc(pc->keys, (size_t)n_keys * sizeof *k);
        if (!k)
            return;
        pc->keys = k;
        pc->cap_keys = n_keys;
    }
    if (pc->cap_outs < plan->n_outs) {
        dlc_tensor *o = realloc(pc->plan.outs, (size_t)plan->n_outs * sizeof *o);
        if (!o)
            return;
        pc->plan.outs = o;
        pc->cap_outs = plan->n_outs;
    }
    for (int i = 0; i < n_keys; i++)
        key_make(nth(in, out, outs, i), &pc->keys[i]);
    dlc_tensor *keep = pc->plan.outs;
    memcpy(keep, plan->outs, (size_t)plan->n_outs * sizeof *keep);
    pc->plan = *plan;
    pc->plan.outs = keep;
    pc->plan.borrowed = NULL;
    pc->is_list = is_list;
    pc->n_keys = n_keys;
    pc->valid = 1;
}

void dlc_plan_cache_unref(dlc_plan_cache *pc)
{
    if (!pc || --pc->refs > 0)
        return;
    free(pc->keys);
    free(pc->plan.outs);
    free(pc);
}
