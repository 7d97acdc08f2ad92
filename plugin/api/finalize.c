/*
 * finalize.c -- take a world apart.
 *
 * finalize() is local: pending requests fail with DLCOLL_ERR_ABORTED (their
 * receives cancelled first), the NOTICE receives are cancelled, then the
 * transport is closed -- only after that is memory the provider may still
 * refer to (requests with uncancellable transfers, notices in flight) freed.
 * Every request, group and the world itself are freed; the application must
 * not use any handle of this world afterwards.
 */
#include <stdio.h>
#include <stdlib.h>

#include "plugin/api/api.h"
#include "plugin/transport/fabric_lib.h"
#include "plugin/core/request.h"

/* A send of a failed operation the transport still holds: it may read the
 * application's buffer, which the application may have freed since. */
static int sends_abandoned(const dlc_world *w)
{
    for (const dlcoll_request *r = w->reqs; r; r = r->next)
        if (dlc_request_busy(r, 0) && !dlc_request_busy(r, 1))
            return 1;
    for (const dlcoll_request *r = w->zombies; r; r = r->next)
        if (dlc_request_busy(r, 0) && !dlc_request_busy(r, 1))
            return 1;
    return 0;
}

void dlc_world_destroy(dlc_world *w)
{
    if (!w)
        return;
    /* With such a send, the transport is closed without being polled again
     * (polling would let it go on reading that buffer). */
    if (w->tp)
        dlc_notice_stop(w, !sends_abandoned(w));
    while (w->reqs)
        dlc_request_release(w->reqs); /* parks the busy ones as zombies */
    while (w->n_comms > 0)
        dlc_comm_free(w->comms[w->n_comms - 1]);
    if (w->tp)
        dlc_transport_close(w->tp);
    w->tp = NULL;
    dlc_request_reap(w, 1);
    dlc_request_free_spare(w);
    dlc_notice_free(w);
    if (w->store)
        dlc_store_close(w->store);
    while (w->grp_counts) {
        dlc_grp_count *g = w->grp_counts;
        w->grp_counts = g->next;
        free(g);
    }
    free(w->comms);
    dlc_liveness_close(w);
    free(w->hosts);
    dlc_hostmap_free(&w->hostmap);
    free(w->dead_ns);
    if (w->fabric_held)
        dlc_fabric_release(&w->lg); /* the last world's unloads libfabric */
    if (w->lock_ready)
        pthread_mutex_destroy(&w->lock);
    if (w->store_lock_ready)
        pthread_mutex_destroy(&w->store_lock);
    free(w);
}

dlcoll_status_t dlc_api_finalize(dlcoll_comm *c)
{
    dlc_world *w = c->w;
    if (!dlc_comm_is_world(c)) {
        char who[256], msg[DLC_MSG_MAX];
        pthread_mutex_lock(&w->lock);
        snprintf(msg, sizeof msg,
                 "%s: finalize: needs the world communicator (free groups with "
                 "group_destroy)",
                 dlc_comm_who(c, who, sizeof who));
        dlc_comm_set_error(c, msg);
        pthread_mutex_unlock(&w->lock);
        dlc_thread_error_set(msg);
        return DLCOLL_ERR_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->aborted, 1);
    for (int i = 0; i < w->n_comms; i++)
        if (w->comms[i]->head)
            dlc_comm_fail(w->comms[i], DLCOLL_ERR_ABORTED,
                          "aborted: finalize was called while the operation was pending", 0);
    DLC_INFO(&w->lg, "finalize: rank %d of %d", w->rank, w->size);
    pthread_mutex_unlock(&w->lock);
    dlc_world_destroy(w);
    return DLCOLL_SUCCESS;
}
