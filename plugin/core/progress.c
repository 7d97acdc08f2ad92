/*
 * progress.c -- the progress engine: one pass advances everything.
 *
 * Any call that makes progress (test, wait, a blocking collective) runs
 * passes over the whole world: read completions, handle notices, check the
 * local peers' liveness, and advance the running request of every
 * communicator.  So a thread waiting on one group's request also moves the
 * others', and requests waited for out of order never deadlock.
 *
 * Waiting is gentle on the CPU (several ranks may share a core): a waiter
 * spins on the completion queue while the wait is short, then yields, then
 * sleeps in the transport's wait object for a short while (holding the lock,
 * which the transport needs; when other threads wait too it sleeps briefly
 * without the lock instead).  How long it spins depends on the host: with a
 * core for every local rank, spinning for tens of microseconds catches the
 * answer of a peer that is running right now (a yield or a sleep would add
 * its own latency); with more local ranks than cores the peer needs this
 * core, so the waiter yields after a few passes.  The spin also adapts to
 * how the last waits went (adapt_spin).  The world lock is dropped between
 * passes so other threads can get in.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"

#define SPIN_PASSES 16                /* idle passes before yielding, at least */
#define SPIN_MAX_NS (50 * 1000)       /* longest spin, with a core for every local rank */
#define SPIN_MIN_NS (4 * 1000)        /* shortest spin */
#define YIELD_PASSES 128              /* idle passes before sleeping in the transport ... */
#define YIELD_NS (1000 * 1000)        /* ... and idle this long, with a core for every local rank */
#define IDLE_WAIT_US 250              /* one sleep in the transport's wait object */
#define IDLE_SLEEP_NS 50000           /* one sleep without the lock (other threads wait too) */
#define LONG_IDLE_NS (50 * DLC_MS_NS) /* idle this long (a slow peer): nap longer, lock dropped */
#define LONG_IDLE_SLEEP_NS 500000
#define FULL_PASS_EVERY 16              /* polled ops: one full pass in this many */
#define CLOCK_EVERY 4                   /* polled ops: read the clock in light passes this often */
#define POLLED_YIELD_NS (2 * DLC_MS_NS) /* shm ops: yield, not sleep, while idle less than this */
#define POLLED_SLEEP_NS 20000
#define POLLED_OVERSUB_SPINS 2
#define LIVENESS_PERIOD_NS (100 * DLC_MS_NS)
#define DEAD_GRACE_NS (200 * DLC_MS_NS) /* no progress this long with a member gone: fail */

/* Describe what r waits for: "rank P (what)" or just "(what)". */
static void describe_blocker(const dlcoll_request *r, char *buf, size_t cap)
{
    char what[160] = "";
    int p = -1;
    if (r->phase == DLC_REQ_RUNNING && r->ops->blocker)
        p = r->ops->blocker(r, what, sizeof what);
    else if (r->phase == DLC_REQ_QUEUED)
        snprintf(what, sizeof what, "an earlier operation on the communicator");
    if (p >= 0)
        snprintf(buf, cap, "rank %d (%s)", p, what);
    else
        snprintf(buf, cap, "%s", what[0] ? what : "the other ranks");
}

/* Advance c's FIFO: start the head when it is queued, advance it, and go on
 * to the next when it completes.  Returns non-zero when anything happened. */
static int advance_comm(dlcoll_comm *c, uint64_t now)
{
    int activity = 0;
    c->w->pass_ns = now;
    while (c->head) {
        dlcoll_request *r = c->head;
        if (dlc_comm_is_aborted(c)) {
            dlc_comm_fail(c, DLCOLL_ERR_ABORTED, "aborted by the application", 1);
            return 1;
        }
        if (c->pending && r->seq >= c->pending_seq) {
            dlc_comm_fail(c, c->pending_status, c->pending_cause, 0);
            return 1;
        }
        dlc_err err;
        dlc_err_clear(&err);
        int progressed = 0;
        dlcoll_status_t st = DLCOLL_SUCCESS;
        if (r->phase == DLC_REQ_QUEUED) {
            r->phase = DLC_REQ_RUNNING;
            r->last_progress_ns = now;
            progressed = 1;
            dlc_flight_start(r, now);
            st = r->ops->start(r, &err);
        }
        if (st == DLCOLL_SUCCESS || st == DLCOLL_IN_PROGRESS)
            st = r->ops->advance(r, &progressed, &err);
        if (progressed) {
            r->last_progress_ns = now;
            activity = 1;
        }
        if (st == DLCOLL_SUCCESS) {
            /* The failure rule: no completion of an op another member has
             * failed, as far as this rank can know: a failure written into
             * the communicator's channels fails it instead. */
            activity = 1;
            if (dlc_comm_ext_read_all(c) || (c->pending && r->seq >= c->pending_seq)) {
                if (!c->failed)
                    dlc_comm_fail(c, c->pending_status, c->pending_cause, 0);
                return 1;
            }
            dlc_request_finish(r, DLCOLL_SUCCESS, NULL);
            continue;
        }
        if (st != DLCOLL_IN_PROGRESS) {
            dlc_comm_fail(c, st, err.msg[0] ? err.msg : dlc_status_string(st), 1);
            return 1;
        }

        /* Stalled: time out, or find the peer that is gone. */
        uint64_t idle = now > r->last_progress_ns ? now - r->last_progress_ns : 0;
        if (idle < (uint64_t)c->timeout_ms * DLC_MS_NS) {
            c->rc.active = 0; /* it moved since: a later timeout asks again */
        } else {
            /* Who is missing: ask the members (rollcall.c), then fail. */
            if (!c->rc.active || c->rc.seq != r->seq) {
                if (c->size > 1 && dlc_rollcall_start(c, r->seq, now) == 0)
                    break;
            } else if (!dlc_rollcall_ready(c, now)) {
                break;
            }
            char what[256], missing[700] = "", cause[DLC_MSG_MAX];
            describe_blocker(r, what, sizeof what);
            if (c->rc.active)
                dlc_rollcall_describe(c, missing, sizeof missing);
            c->rc.active = 0;
            snprintf(cause, sizeof cause, "timed out after %d ms waiting for %s%s", c->timeout_ms,
                     what, missing);
            dlc_comm_fail(c, DLCOLL_ERR_TIMEOUT, cause, 1);
            return 1;
        }
        if (idle >= DEAD_GRACE_NS) {
            char what[160];
            int p = r->ops->blocker ? r->ops->blocker(r, what, sizeof what) : -1;
            char cause[512];
            if (dlc_liveness_describe_dead(c, p, cause, sizeof cause) > 0) {
                dlc_comm_fail(c, DLCOLL_ERR_PEER_FAILURE, cause, 1);
                return 1;
            }
        }
        break;
    }
    return activity;
}

int dlc_progress_pass(dlc_world *w)
{
    int activity = 0;
    dlc_err err;
    dlc_err_clear(&err);
    int n = dlc_transport_progress(w->tp, &err);
    if (n < 0) {
        /* The completion queue itself broke: nothing can complete any more. */
        for (int i = 0; i < w->n_comms; i++)
            if (w->comms[i]->head)
                dlc_comm_fail(w->comms[i], err.status, err.msg, 0);
        activity = 1;
    } else if (n > 0) {
        activity = 1;
    }
    if (dlc_notice_poll(w))
        activity = 1;

    uint64_t now = dlc_now_ns();
    if (now >= w->next_liveness_ns) {
        w->next_liveness_ns = now + LIVENESS_PERIOD_NS;
        dlc_liveness_scan(w, now);
    }
    for (int i = 0; i < w->n_comms; i++) {
        dlcoll_comm *c = w->comms[i];
        /* A failure a member wrote where this rank reads without the
         * transport (its notice may be still on its way, or unsendable). */
        if (c->head && !c->failed && dlc_comm_ext_read_all(c))
            activity = 1;
        activity |= advance_comm(c, now);
    }
    if (w->zombies)
        dlc_request_reap(w, 0);
    return activity;
}

/* The longest a waiter spins before yielding: SPIN_MAX_NS when this host
 * has a core for every rank of the world on it, else SPIN_MIN_NS. */
static int choose_spin_max_ns(const dlc_world *w)
{
    return w->hostmap.core_per_local_rank ? SPIN_MAX_NS : SPIN_MIN_NS;
}

/* Adapt the spin to how long the waits turn out to be: a wait that ended
 * within its spin doubles it (up to spin_max_ns); one that outlasted it
 * drops it to SPIN_MIN_NS (a failed spin wastes its whole length, and on a
 * loaded host the next one is likely to fail too).  So ranks that answer
 * each other within microseconds keep spinning, and ranks that share a core
 * (more ranks than cores, or other load) stop burning the time slice their
 * peer needs.  Two ranks that both yield answer each other slowly, which
 * would keep both at the shortest spin even when each has a core; so every
 * SPIN_PROBE_EVERY-th wait at the shortest spin spins the longest instead,
 * and one answered in time goes back to the longest spin (when the ranks do
 * share a core this costs one long spin in SPIN_PROBE_EVERY waits). */
#define SPIN_PROBE_EVERY 64

static int spin_budget(dlc_world *w)
{
    if (w->spin_ns <= SPIN_MIN_NS && w->spin_max_ns > SPIN_MIN_NS &&
        ++w->spin_probes % SPIN_PROBE_EVERY == 0)
        return w->spin_max_ns;
    return w->spin_ns;
}

static void adapt_spin(dlc_world *w, uint64_t waited_ns, int budget)
{
    if (waited_ns <= (uint64_t)budget) {
        int more = budget > w->spin_ns ? budget : w->spin_ns * 2;
        w->spin_ns = more < w->spin_max_ns ? more : w->spin_max_ns;
    } else {
        w->spin_ns = SPIN_MIN_NS;
    }
}

static dlcoll_status_t wait_loop(dlcoll_request *r, int timeout_ms)
{
    dlc_world *w = r->w;
    if (w->spin_max_ns == 0) {
        w->spin_max_ns = choose_spin_max_ns(w);
        w->spin_ns = SPIN_MIN_NS;
    }
    int budget = spin_budget(w);
    uint64_t now = dlc_now_ns();
    uint64_t deadline = now + (timeout_ms > 0 ? (uint64_t)timeout_ms * DLC_MS_NS : 0);
    unsigned idle = 0;
    uint64_t last_activity = now;
    for (unsigned pass = 0;; pass++) {
        /* An operation polled in shared memory is advanced on its own
         * between full passes (which also read the transport's completions,
         * notices and liveness), and the clock is read less often. */
        dlcoll_comm *rc = r->comm;
        int light = rc && rc->head && rc->head->ops->polled &&
                    pass % FULL_PASS_EVERY != FULL_PASS_EVERY - 1;
        int activity = light ? advance_comm(rc, now) : dlc_progress_pass(w);
        if (r->phase == DLC_REQ_DONE)
            return r->status;
        if (!light || (activity && idle > 0) || pass % CLOCK_EVERY == CLOCK_EVERY - 1)
            now = dlc_now_ns();
        if (timeout_ms >= 0 && now >= deadline) {
            /* The ABI: a wait that times out fails the operation and the comm. */
            dlcoll_comm *c = r->comm;
            char what[256], cause[512];
            describe_blocker(c->head ? c->head : r, what, sizeof what);
            snprintf(cause, sizeof cause, "wait timed out after %d ms waiting for %s", timeout_ms,
                     what);
            dlc_comm_fail(c, DLCOLL_ERR_TIMEOUT, cause, 1);
            return r->status;
        }
        if (activity) {
            if (idle > 0)
                adapt_spin(w, now - last_activity, budget);
            idle = 0;
            last_activity = now;
        } else {
            idle++;
        }
        /* Spin, then yield, then sleep: in the transport's wait object (it
         * needs the lock) when this is the only waiting thread, else, or once
         * idle for long, without the lock. */
        uint64_t idle_ns = now - last_activity;
        int long_idle = idle_ns > LONG_IDLE_NS;
        /* More ranks than cores: sleep after YIELD_PASSES alone, so the
         * ranks that are copying get the cores. */
        int sleeping = idle > YIELD_PASSES && (w->spin_max_ns <= SPIN_MIN_NS || idle_ns > YIELD_NS);
        int yielding = idle > SPIN_PASSES && idle_ns >= (uint64_t)budget;
        /* An operation polled in shared memory has no completion to wake a
         * sleeper: it yields (a peer that shares this core runs at once)
         * and sleeps only briefly, once idle for long. */
        const dlcoll_request *running = r->comm && r->comm->head ? r->comm->head : r;
        int polled = running->ops && running->ops->polled;
        if (polled && sleeping && idle_ns < POLLED_YIELD_NS) {
            sleeping = 0;
            yielding = 1;
        }
        /* A transfer in flight moves only while this rank polls (the IP
         * providers progress in the caller, and a large message's
         * rendezvous needs both ends): with a core for every local rank,
         * yield rather than sleep until idle for long. */
        if (sleeping && !long_idle && w->spin_max_ns > SPIN_MIN_NS &&
            dlc_request_busy(running, 0)) {
            sleeping = 0;
            yielding = 1;
        }
        /* More local ranks than cores: the peer this rank waits for may need
         * this very core, so give it up almost at once. */
        if (polled && w->spin_max_ns <= SPIN_MIN_NS && idle > POLLED_OVERSUB_SPINS)
            yielding = 1;
        int sleep_locked = sleeping && !long_idle && w->waiters == 1 && !polled;
        if (sleep_locked)
            dlc_transport_wait(w->tp, IDLE_WAIT_US);
        /* Spinning alone (a polled op, nobody else waiting): keep the lock
         * for a few passes; another thread gets in at the next drop. */
        if (light && !sleeping && !yielding && w->waiters == 1 && pass % 8 != 7)
            continue;
        pthread_mutex_unlock(&w->lock);
        if (sleeping && !sleep_locked) {
            struct timespec ts = {0, long_idle ? LONG_IDLE_SLEEP_NS
                                     : polled  ? POLLED_SLEEP_NS
                                               : IDLE_SLEEP_NS};
            nanosleep(&ts, NULL);
        } else if (yielding) {
            sched_yield();
        }
        pthread_mutex_lock(&w->lock);
    }
}

dlcoll_status_t dlc_progress_wait(dlcoll_request *r, int timeout_ms)
{
    dlc_world *w = r->w;
    w->waiters++;
    dlcoll_status_t st = wait_loop(r, timeout_ms);
    w->waiters--;
    return st;
}

/* r still has a receive posted, or a send to a peer not known to be gone. */
static int drain_busy(const dlc_world *w, const dlcoll_request *r)
{
    for (int i = 0; i < r->n_slots; i++) {
        const dlc_xfer *x = &r->slots[i].x;
        if (!r->slots[i].posted || x->done)
            continue;
        if (x->is_recv || x->peer < 0 || !w->dead_ns || !w->dead_ns[x->peer])
            return 1;
    }
    return 0;
}

void dlc_progress_drain(dlcoll_comm *c, int timeout_ms)
{
    dlc_world *w = c->w;
    uint64_t end = dlc_now_ns() + (uint64_t)timeout_ms * DLC_MS_NS;
    for (;;) {
        int busy = 0;
        for (dlcoll_request *r = c->head; r && !busy; r = r->fifo_next)
            busy = drain_busy(w, r);
        if (!busy || dlc_now_ns() >= end)
            return;
        dlc_err err;
        int n = dlc_transport_progress(w->tp, &err);
        if (n < 0)
            return;
        if (n == 0)
            dlc_transport_wait(w->tp, 100);
    }
}
