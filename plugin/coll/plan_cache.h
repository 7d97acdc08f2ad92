/*
 * plan_cache.h -- reuse the validated plan of a communicator's last allgather.
 *
 * Training loops call allgather with the same tensors (same descriptors:
 * data pointer, offset, device, dtype, shape, strides) step after step.
 * Validating them (dlc_tensor_describe of the input and of every output, the
 * overlap checks) and allocating the plan's outputs is most of the cost of a
 * small allgather, and the list convention pays it N+1 times.  So each
 * communicator keeps the plan of its last successfully validated allgather,
 * keyed by the exact descriptor fields it was made from; a call whose
 * descriptors are equal field by field borrows it instead of validating
 * again (validation depends on nothing else: not on the bytes, and the
 * communicator's size and rank never change).
 *
 * A borrowed plan points at the cache's outputs (plan->borrowed); the cache is
 * reference-counted, so a request that outlives its communicator (a zombie
 * waiting for cancellations) still holds valid outputs, and the cache is
 * refilled only while no request borrows it.  Tensors with more than
 * DLC_PLAN_CACHE_NDIM dims are never cached.
 */
#ifndef DLCOLL_PLAN_CACHE_H
#define DLCOLL_PLAN_CACHE_H

#include "plugin/coll/coll.h"

#define DLC_PLAN_CACHE_NDIM 8

typedef struct dlc_plan_cache dlc_plan_cache;

/* A hit fills *plan (borrowing the cache's outputs) and returns 1; else 0. */
int dlc_plan_cache_lookup(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                          DLTensor *const *outs, int n_outs, dlc_ag_plan *plan);

/* Remember a plan just validated from these tensors (when the tensors can be
 * keyed and no request borrows the cache; out of memory only skips it). */
void dlc_plan_cache_store(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                          DLTensor *const *outs, int n_outs, const dlc_ag_plan *plan);

/* Drop one reference: a plan's borrow (dlc_ag_plan_free) or the
 * communicator's own (dlc_comm_free). */
void dlc_plan_cache_unref(dlc_plan_cache *pc);

#endif
