/*
 * algo.c -- the table of allgather algorithms and submitting one.
 *
 * DLCOLL_ALGO names the algorithm (read on every call, so it can change
 * between calls); unset or empty means the default, the first entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo.h"

static const dlc_ag_algo *const ag_algos[] = {
    &dlc_ag_ring,
};
#define N_AG_ALGOS (sizeof ag_algos / sizeof ag_algos[0])

dlcoll_status_t dlc_ag_algo_find(const char *name, const dlc_ag_algo **out, dlc_err *err)
{
    if (!name || !*name) {
        *out = ag_algos[0];
        return DLCOLL_SUCCESS;
    }
    char known[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_AG_ALGOS; i++) {
        if (strcmp(ag_algos[i]->name, name) == 0) {
            *out = ag_algos[i];
            return DLCOLL_SUCCESS;
        }
        int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                         ag_algos[i]->name);
        if (w > 0 && (size_t)w < sizeof known - used)
            used += (size_t)w;
    }
    *out = NULL;
    return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                    "DLCOLL_ALGO=%s: unknown allgather algorithm (known: %s)", name, known);
}

dlcoll_status_t dlc_allgather_submit(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                     dlc_ag_plan *plan, dlcoll_request **out, dlc_err *err)
{
    const dlc_ag_algo *algo;
    *out = NULL;
    dlcoll_status_t st = dlc_ag_algo_find(getenv("DLCOLL_ALGO"), &algo, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_ag_plan_free(plan);
        return st;
    }
    void *state = NULL;
    int n_slots = 0;
    st = algo->prepare(plan, &state, &n_slots, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    return dlc_request_new(c, op_kind, op_name, algo->ops, state, n_slots, out, err);
}
