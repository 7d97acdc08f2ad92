/*
 * allgather_direct.c -- direct exchange (every rank sends its block to every
 * other rank in one round).  Not implemented in this revision: selecting it
 * (DLCOLL_ALGO=direct) fails the call with DLCOLL_ERR_UNSUPPORTED.
 */
#include "algo.h"

static dlcoll_status_t direct_prepare(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err)
{
    (void)state;
    (void)n_slots;
    dlc_ag_plan_free(plan);
    return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                    "DLCOLL_ALGO=direct is not implemented in this build (use auto, ring or shm)");
}

const dlc_ag_algo dlc_ag_direct = {.name = "direct", .prepare = direct_prepare, .ops = NULL};
