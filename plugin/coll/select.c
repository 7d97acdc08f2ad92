/*
 * coll/select.c -- the table of allgather algorithms and submitting one.
 *
 * DLCOLL_ALGO names the algorithm (read on every call, so it can change
 * between calls); unset, empty or "auto" means the automatic choice
 * (dlc_ag_choose).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/coll.h"
#include "plugin/coll/phases.h"
#include "plugin/coll/shm_seg.h"

static const dlc_ag_algo *const ag_algos[] = {
    &dlc_ag_ring,
    &dlc_ag_direct,
    &dlc_ag_shm,
    &dlc_ag_hier,
};
#define N_AG_ALGOS (sizeof ag_algos / sizeof ag_algos[0])

dlcoll_status_t dlc_ag_algo_find(const char *name, const dlc_ag_algo **out, dlc_err *err)
{
    if (!name || !*name || strcmp(name, "auto") == 0) {
        *out = NULL;
        return DLCOLL_SUCCESS;
    }
    for (size_t i = 0; i < N_AG_ALGOS; i++) {
        if (strcmp(ag_algos[i]->name, name) == 0) {
            *out = ag_algos[i];
            return DLCOLL_SUCCESS;
        }
    }
    char known[256] = "auto";
    size_t used = strlen(known);
    for (size_t i = 0; i < N_AG_ALGOS; i++) {
        int w = snprintf(known + used, sizeof known - used, ", %s", ag_algos[i]->name);
        if (w > 0 && (size_t)w < sizeof known - used)
            used += (size_t)w;
    }
    *out = NULL;
    return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                    "DLCOLL_ALGO=%s: unknown allgather algorithm (known: %s)", name, known);
}

/* The shared-memory exchange serves a communicator whose members are all on
 * this host, when the transport between them would be shared memory anyway:
 * the world's provider is shm, or the world spans hosts (so its provider is
 * an IP or RDMA one, chosen for the other hosts).  A world forced onto an IP
 * provider on one host keeps using it. */
static int auto_uses_shm(dlcoll_comm *c)
{
    if (c->size < 2)
        return 0;
    dlc_shm_comm *sc = dlc_shm_comm_get(c);
    if (!sc)
        return -1;
    if (sc->auto_use < 0) {
        dlc_world *w = c->w;
        int world_local = w->hostmap.local_ranks == w->size;
        sc->auto_use = dlc_comm_all_local(c) &&
                       (strcmp(dlc_transport_provider(w->tp), "shm") == 0 || !world_local);
    }
    return sc->auto_use;
}

const dlc_ag_algo *dlc_ag_choose_flat(size_t bytes, int n)
{
    if (bytes <= DLC_AG_DIRECT_MAX_BYTES && n <= DLC_AG_DIRECT_MAX_RANKS)
        return &dlc_ag_direct;
    return &dlc_ag_ring;
}

void dlc_coll_log_tuning(const dlc_logger *lg, const dlc_settings *s)
{
    DLC_INFO(lg,
             "allgather choice: shm when every member is on this host (and the world's "
             "transport is shm or spans hosts), hier across evenly filled hosts with 2+ ranks "
             "each, direct up to %d B per rank and %d ranks, else ring; eager blocks up to %d "
             "B; DLCOLL_ALGO=%s; shm slots %zu B (0 = automatic), CMA from %lld B (-1 = "
             "automatic), streaming stores from %lld B (-1 = automatic); allreduce, "
             "reduce_scatter and broadcast gathered up to %lld B per rank (-1 = %u B; "
             "inline up to %d B)",
             DLC_AG_DIRECT_MAX_BYTES, DLC_AG_DIRECT_MAX_RANKS, DLC_AG_EAGER_MAX,
             dlc_env_algo() ? dlc_env_algo() : "auto", s->shm_slot_bytes, s->shm_cma_min,
             s->stream_min_bytes, s->gathered_max, DLC_GATHERED_MAX, DLC_AGREE_INLINE);
}

/* The choice depends only on what every rank agrees on in a correct program
 * (the communicator, the provider, the per-rank bytes), so all ranks choose
 * alike.  Ranks that pass different sizes may choose differently; they still
 * fail with a MISMATCH: a direct rank's small block reaches some ring rank's
 * step-0 receive, whose size and CQ data check catch it, and a ring rank never
 * sends a large block to a rank that did not hand-shake. */
const dlc_ag_algo *dlc_ag_choose(dlcoll_comm *c, const dlc_ag_plan *plan)
{
    int shm = auto_uses_shm(c);
    if (shm < 0)
        return NULL;
    if (shm)
        return &dlc_ag_shm;
    int hier = dlc_ag_hier_auto(c);
    if (hier < 0)
        return NULL;
    if (hier)
        return &dlc_ag_hier;
    return dlc_ag_choose_flat(plan->bytes, c->size);
}

dlcoll_status_t dlc_barrier_uses_shm(dlcoll_comm *c, int *shm, dlc_err *err)
{
    const dlc_ag_algo *algo = NULL;
    *shm = 0;
    dlcoll_status_t st = dlc_ag_algo_find(dlc_env_algo(), &algo, err);
    if (st != DLCOLL_SUCCESS)
        return st; /* the same local failure as an allgather's */
    int use = algo ? algo == &dlc_ag_shm && c->size > 1 && dlc_comm_all_local(c) : auto_uses_shm(c);
    if (use < 0)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    *shm = use;
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_ag_select(dlcoll_comm *c, const dlc_ag_plan *plan, const dlc_ag_algo **out,
                              dlc_err *err)
{
    const dlc_ag_algo *algo;
    *out = NULL;
    dlcoll_status_t st = dlc_ag_algo_find(dlc_env_algo(), &algo, err);
    if (st == DLCOLL_SUCCESS && !algo && !(algo = dlc_ag_choose(c, plan)))
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "out of memory for what the automatic choice keeps on the communicator");
    if (st == DLCOLL_SUCCESS && algo == &dlc_ag_shm && !dlc_comm_all_local(c))
        st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                      "DLCOLL_ALGO=shm: the communicator has members on other hosts");
    if (st != DLCOLL_SUCCESS)
        return st;
    int hier_ok = algo == &dlc_ag_hier ? dlc_ag_hier_eligible(c) : 1;
    if (hier_ok < 0)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the layout of the hosts");
    if (hier_ok == 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "DLCOLL_ALGO=hier: the communicator's members are not spread evenly "
                        "over two or more hosts");
    *out = algo;
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_allgather_submit(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                     dlc_ag_plan *plan, dlcoll_request **out, dlc_err *err)
{
    const dlc_ag_algo *algo;
    *out = NULL;
    dlcoll_status_t st = dlc_ag_select(c, plan, &algo, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_ag_plan_free(plan);
        return st;
    }
    plan->comm = c;
    void *state = NULL;
    int n_slots = 0;
    /* A failed prepare has freed the plan and its own allocations (coll/coll.h);
     * a failed dlc_request_new destroys the state. */
    uint64_t cqdata = dlc_ag_cqdata(op_kind, plan);
    st = algo->prepare(plan, &state, &n_slots, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    st = dlc_request_new(c, op_kind, op_name, algo->ops, state, n_slots, out, err);
    if (st == DLCOLL_SUCCESS)
        dlc_flight_note(*out, algo->name, cqdata);
    return st;
}
