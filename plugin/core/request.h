/*
 * request.h -- one collective operation in flight (the ABI's dlcoll_request_t).
 *
 * A request is a small state machine driven by progress.c:
 *
 *     QUEUED  --(earlier requests of its comm are done)-->  RUNNING
 *     RUNNING --(ops->advance says SUCCESS, or a failure)-->  DONE
 *
 * It sits in its communicator's FIFO while QUEUED or RUNNING (only the head
 * runs) and in the world's list of requests until the application releases
 * it.  The algorithm (coll/coll.h) keeps its transfers in r->slots so that
 * cancelling receives, and knowing whether the transport still refers to the
 * request's memory, can be done here for every algorithm alike.
 */
#ifndef DLC_REQUEST_H
#define DLC_REQUEST_H

#include <sys/uio.h>
#include "plugin/core/comm.h"

enum { DLC_REQ_QUEUED = 0, DLC_REQ_RUNNING = 1, DLC_REQ_DONE = 2 };

typedef struct dlc_slot {
    dlc_xfer x;  /* the transport's handle: must live until x.done */
    int posted;  /* handed to the transport */
    int handled; /* its completion was consumed by the algorithm */
} dlc_slot;

/* An operation's behaviour; the state (r->state) is the algorithm's own. */
typedef struct dlc_op_ops {
    /* Post the first receives and sends. */
    dlcoll_status_t (*start)(dlcoll_request *r, dlc_err *err);
    /* Consume completions and post what they allow.  DLCOLL_SUCCESS when the
     * operation is complete, DLCOLL_IN_PROGRESS when not, else the failure
     * (err names the peer).  *progressed is set when anything moved. */
    dlcoll_status_t (*advance)(dlcoll_request *r, int *progressed, dlc_err *err);
    /* The world rank the operation waits for and what for ("ring step 2 of 3");
     * -1 when it waits for nobody in particular. */
    int (*blocker)(const dlcoll_request *r, char *what, size_t cap);
    void (*destroy)(void *state);
    /* Optional: the operation is failing (called with its receives'
     * cancellation, before the application can see the failure): stop
     * letting peers read this rank's memory. */
    void (*cancel)(dlcoll_request *r);
    /* Non-zero when the operation completes through shared memory, not
     * through the transport's completion queue: a waiter must not sleep in
     * the transport's wait object (nothing would wake it). */
    int polled;
} dlc_op_ops;

struct dlcoll_request {
    dlc_world *w;
    dlcoll_comm *comm; /* NULL once a completed request's group is destroyed */
    const dlc_op_ops *ops;
    void *state;
    unsigned op_kind;    /* DLC_OP_* (sent in the CQ data) */
    const char *op_name; /* "allgather", "barrier", "group_split" */
    uint32_t seq;
    int phase;               /* DLC_REQ_* */
    dlcoll_status_t status;  /* when DONE */
    char error[DLC_MSG_MAX]; /* when DONE with an error */
    dlc_slot *slots;
    int n_slots;
    uint64_t last_progress_ns;   /* for the no-progress timeout */
    dlcoll_request *fifo_next;   /* comm's FIFO */
    dlcoll_request *prev, *next; /* world's list (or zombie list) */
};

/* Make a request on c for the operation: takes a sequence number, allocates
 * n_slots transfer slots, appends it to c's FIFO and the world's list.  On
 * failure, state is destroyed with ops->destroy. */
dlcoll_status_t dlc_request_new(dlcoll_comm *c, unsigned op_kind, const char *op_name,
                                const dlc_op_ops *ops, void *state, int n_slots,
                                dlcoll_request **out, dlc_err *err);

/* Finish r (DONE) with status and message (NULL for success) and take it off
 * its comm's FIFO.  Does not cancel anything (see dlc_comm_fail). */
void dlc_request_finish(dlcoll_request *r, dlcoll_status_t status, const char *msg);

/* The application releases r: freed now, or parked as a zombie while the
 * transport still refers to one of its slots. */
void dlc_request_release(dlcoll_request *r);

/* Free zombies the transport no longer refers to (all of them with force,
 * after the transport was closed). */
void dlc_request_reap(dlc_world *w, int force);

/* Free the kept memory of the last freed request (world teardown). */
void dlc_request_free_spare(dlc_world *w);

/* Cancel r's posted, incomplete receives. */
void dlc_request_cancel_recvs(dlcoll_request *r);

/* Non-zero while a receive (recvs_only) or any transfer of r is posted and incomplete. */
int dlc_request_busy(const dlcoll_request *r, int recvs_only);

/* "rank R: allgather #S" (or the group form) into buf. */
const char *dlc_request_prefix(const dlcoll_request *r, char *buf, size_t cap);

/* ------------------------------------------------------------------ slots */

/* Post slot i as a receive from / send to world rank peer, tag (DATA, comm,
 * seq, step).  DLCOLL_IN_PROGRESS: nothing posted, retry later. */
dlcoll_status_t dlc_slot_recv(dlcoll_request *r, int i, int peer, const struct iovec *iov,
                              int iovcnt, uint32_t step, dlc_err *err);
dlcoll_status_t dlc_slot_send(dlcoll_request *r, int i, int peer, const struct iovec *iov,
                              int iovcnt, uint32_t step, uint64_t cqdata, dlc_err *err);

/* Posted, completed, not yet handled. */
static inline int dlc_slot_ready(const dlc_slot *s)
{
    return s->posted && s->x.done && !s->handled;
}

/* Check a completed receive against what this rank expects: `expect` bytes and
 * the CQ data this rank would have sent (`mine`: op kind, dtype, per-rank bytes).
 * Marks the slot handled.  On a difference: DLCOLL_ERR_MISMATCH naming the sender. */
dlcoll_status_t dlc_slot_check_recv(dlcoll_request *r, dlc_slot *s, size_t expect, uint64_t mine,
                                    dlc_err *err);

/* Check a completed send; marks it handled. */
dlcoll_status_t dlc_slot_check_send(dlcoll_request *r, dlc_slot *s, dlc_err *err);

/* Check every completed, not yet handled send among slots [first, first + n):
 * adds how many were handled to *handled and sets *progressed when any was.
 * Stops at the first failed one and returns its error. */
dlcoll_status_t dlc_slots_check_sends(dlcoll_request *r, int first, int n, int *handled,
                                      int *progressed, dlc_err *err);

/* Name of an op kind for messages ("allgather"). */
const char *dlc_op_kind_name(unsigned kind);

/* ------------------------------------------------------------------ sub-operations */

/* A sub-operation of a composite operation (hier's phases; allreduce's
 * reduce_scatter and allgather next): a request driven by hand from its
 * parent's advance, never queued, that shares the parent's sequence number
 * and runs on a view (dlc_comm_view_init).  The parent's state holds it and
 * destroys it with its own state. */
typedef struct dlc_sub_op {
    dlcoll_request req;
    int started, done;
} dlc_sub_op;

/* Make so run ops with its state (taken over) on comm, as part of parent
 * (NULL: before the parent has a sequence number; the op kind and sequence
 * number then stay 0). */
void dlc_sub_op_init(dlc_sub_op *so, const dlcoll_request *parent, dlcoll_comm *comm,
                     const dlc_op_ops *ops, void *state);

/* Start (once) and advance so: DLCOLL_SUCCESS when done, DLCOLL_IN_PROGRESS,
 * or the error (err names the peer). */
dlcoll_status_t dlc_sub_op_step(dlc_sub_op *so, int *progressed, dlc_err *err);

/* Destroy so's state (a no-op when it has none). */
void dlc_sub_op_destroy(dlc_sub_op *so);

#endif
