/*
 * collective.c -- the collective and request entry points.
 *
 * A collective validates its arguments (a local error: no sequence number is
 * taken and the communicator stays usable), makes a request and either hands
 * it out (asynchronous) or waits for it and releases it (blocking: request
 * argument NULL).  Requests advance only inside progress calls (progress.c).
 */
#include <stdio.h>
#include <string.h>

#include "plugin/coll/coll.h"
#include "plugin/api/api.h"
#include "plugin/coll/phases.h"
#include "plugin/coll/plan_cache.h"

/* Record "<who>: <op>: <cause>" as c's last error; return status. */
static dlcoll_status_t local_error(dlcoll_comm *c, const char *op, const dlc_err *err)
{
    char who[256], msg[DLC_MSG_MAX];
    snprintf(msg, sizeof msg, "%s: %s: %s", dlc_comm_who(c, who, sizeof who), op, err->msg);
    dlc_comm_set_error(c, msg);
    return err->status;
}

/* The request exists: hand it out, or run it to completion.  Lock held. */
static dlcoll_status_t run_or_hand_out(dlcoll_comm *c, dlcoll_request *r, dlcoll_request **out)
{
    if (out) {
        *out = r;
        dlc_progress_pass(c->w); /* start it now if the comm is idle */
        return DLCOLL_SUCCESS;
    }
    dlcoll_status_t st = dlc_progress_wait(r, -1);
    if (st != DLCOLL_SUCCESS)
        dlc_comm_set_error(c, r->error);
    dlc_request_release(r);
    return st;
}

/* Refuse a new op on a failed or aborted comm.  Lock held. */
/* Every collective's entry: clears *req, takes the world's lock and checks
 * that c can take an operation.  On success the lock is held; on failure it
 * is released and the reason is c's last error. */
static dlcoll_status_t enter(dlcoll_comm *c, const char *op, dlcoll_request **req)
{
    if (req)
        *req = NULL;
    pthread_mutex_lock(&c->w->lock);
    char msg[DLC_MSG_MAX];
    dlcoll_status_t st = dlc_comm_check_usable(c, op, msg);
    if (st != DLCOLL_SUCCESS) {
        dlc_comm_set_error(c, msg);
        pthread_mutex_unlock(&c->w->lock);
    }
    return st;
}

static dlcoll_status_t allgather_common(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                        DLTensor *const *outs, int n_outs, int is_list,
                                        dlcoll_request **req)
{
    const char *op = is_list ? "allgather_list" : "allgather";
    dlc_world *w = c->w;
    dlcoll_status_t st = enter(c, op, req);
    if (st != DLCOLL_SUCCESS)
        return st;
    dlc_err err;
    dlc_err_clear(&err);
    dlc_ag_plan plan;
    /* A list call without its list is refused by the validation, never cached. */
    int cacheable = !is_list || outs;
    if (!cacheable || !dlc_plan_cache_lookup(c, in, out, is_list ? outs : NULL, n_outs, &plan)) {
        if (is_list)
            st = dlc_ag_plan_list(c, in, outs, n_outs, &plan, &err);
        else
            st = dlc_ag_plan_single(c, in, out, &plan, &err);
        if (st == DLCOLL_SUCCESS && cacheable)
            dlc_plan_cache_store(c, in, out, is_list ? outs : NULL, n_outs, &plan);
    }
    dlcoll_request *r = NULL;
    if (st == DLCOLL_SUCCESS)
        st = dlc_allgather_submit(c, DLC_OP_ALLGATHER, "allgather", &plan, &r, &err);
    if (st != DLCOLL_SUCCESS)
        st = local_error(c, op, &err);
    else
        st = run_or_hand_out(c, r, req);
    pthread_mutex_unlock(&w->lock);
    return st;
}

dlcoll_status_t dlc_api_allgather(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                  dlcoll_request **req)
{
    return allgather_common(c, in, out, NULL, 0, 0, req);
}

dlcoll_status_t dlc_api_allgather_list(dlcoll_comm *c, const DLTensor *in, DLTensor *const *outs,
                                       int n_outs, dlcoll_request **req)
{
    return allgather_common(c, in, NULL, outs, n_outs, 1, req);
}

dlcoll_status_t dlc_api_barrier(dlcoll_comm *c, dlcoll_request **req)
{
    dlc_world *w = c->w;
    dlcoll_status_t st = enter(c, "barrier", req);
    if (st != DLCOLL_SUCCESS)
        return st;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_request *r = NULL;
    st = dlc_barrier_submit(c, &r, &err);
    if (st != DLCOLL_SUCCESS)
        st = local_error(c, "barrier", &err);
    else
        st = run_or_hand_out(c, r, req);
    pthread_mutex_unlock(&w->lock);
    return st;
}

/* The ABI 1.1 collectives: what they submit, behind the same lock, usability
 * check, local errors and blocking / asynchronous hand-out as allgather. */
typedef struct v11_call {
    int kind; /* DLC_OP_* */
    const DLTensor *in;
    const DLTensor *const *ins;
    int n_ins;
    DLTensor *out;
    const dlcoll_reduction_t *red;
    int root;
} v11_call;

static dlcoll_status_t v11_common(dlcoll_comm *c, const char *op, const v11_call *k,
                                  dlcoll_request **req)
{
    dlc_world *w = c->w;
    dlcoll_status_t st = enter(c, op, req);
    if (st != DLCOLL_SUCCESS)
        return st;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_request *r = NULL;
    switch (k->kind) {
    case DLC_OP_ALLREDUCE: st = dlc_allreduce_submit(c, k->in, k->out, k->red, &r, &err); break;
    case DLC_OP_REDUCE_SCATTER:
        st = dlc_reduce_scatter_submit(c, k->in, k->ins, k->n_ins, k->out, k->red, &r, &err);
        break;
    default: st = dlc_broadcast_submit(c, k->out, k->root, &r, &err); break;
    }
    if (st != DLCOLL_SUCCESS)
        st = local_error(c, op, &err);
    else
        st = run_or_hand_out(c, r, req);
    pthread_mutex_unlock(&w->lock);
    return st;
}

dlcoll_status_t dlc_api_allreduce(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                  const dlcoll_reduction_t *red, dlcoll_request **req)
{
    v11_call k = {DLC_OP_ALLREDUCE, in, NULL, 0, out, red, -1};
    return v11_common(c, "allreduce", &k, req);
}

dlcoll_status_t dlc_api_reduce_scatter(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                       const dlcoll_reduction_t *red, dlcoll_request **req)
{
    v11_call k = {DLC_OP_REDUCE_SCATTER, in, NULL, 0, out, red, -1};
    return v11_common(c, "reduce_scatter", &k, req);
}

dlcoll_status_t dlc_api_reduce_scatter_list(dlcoll_comm *c, const DLTensor *const *ins, int n_ins,
                                            DLTensor *out, const dlcoll_reduction_t *red,
                                            dlcoll_request **req)
{
    v11_call k = {DLC_OP_REDUCE_SCATTER, NULL, ins, n_ins, out, red, -1};
    return v11_common(c, "reduce_scatter_list", &k, req);
}

dlcoll_status_t dlc_api_broadcast(dlcoll_comm *c, DLTensor *t, int root, dlcoll_request **req)
{
    v11_call k = {DLC_OP_BROADCAST, NULL, NULL, 0, t, NULL, root};
    return v11_common(c, "broadcast", &k, req);
}

dlcoll_status_t dlc_api_abort(dlcoll_comm *c)
{
    /* Flags only: no lock, callable from any thread; the next progress pass
     * (every waiter runs one at least every few hundred microseconds) fails
     * the pending requests. */
    atomic_store(&c->aborted, 1);
    if (dlc_comm_is_world(c))
        atomic_store(&c->w->aborted, 1);
    return DLCOLL_SUCCESS;
}

const char *dlc_api_last_error(dlcoll_comm *c)
{
    return c->last_error;
}

/* ------------------------------------------------------------------ requests */

dlcoll_status_t dlc_api_test(dlcoll_request *r)
{
    dlc_world *w = r->w;
    pthread_mutex_lock(&w->lock);
    if (r->phase != DLC_REQ_DONE)
        dlc_progress_pass(w);
    dlcoll_status_t st = r->phase == DLC_REQ_DONE ? r->status : DLCOLL_IN_PROGRESS;
    if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS && r->comm)
        dlc_comm_set_error(r->comm, r->error);
    pthread_mutex_unlock(&w->lock);
    return st;
}

dlcoll_status_t dlc_api_wait(dlcoll_request *r, int timeout_ms)
{
    dlc_world *w = r->w;
    pthread_mutex_lock(&w->lock);
    dlcoll_status_t st = r->phase == DLC_REQ_DONE
                             ? r->status
                             : dlc_progress_wait(r, timeout_ms < 0 ? -1 : timeout_ms);
    if (st != DLCOLL_SUCCESS && r->comm)
        dlc_comm_set_error(r->comm, r->error);
    pthread_mutex_unlock(&w->lock);
    return st;
}

dlcoll_status_t dlc_api_request_free(dlcoll_request *r)
{
    dlc_world *w = r->w;
    pthread_mutex_lock(&w->lock);
    if (r->phase != DLC_REQ_DONE) {
        dlc_progress_wait(r, -1);
        if (r->status != DLCOLL_SUCCESS && r->comm)
            dlc_comm_set_error(r->comm, r->error);
    }
    dlc_request_release(r);
    pthread_mutex_unlock(&w->lock);
    return DLCOLL_SUCCESS;
}

const char *dlc_api_request_error(dlcoll_request *r)
{
    dlc_world *w = r->w;
    pthread_mutex_lock(&w->lock);
    const char *e = r->phase == DLC_REQ_DONE ? r->error : "";
    pthread_mutex_unlock(&w->lock);
    return e;
}
