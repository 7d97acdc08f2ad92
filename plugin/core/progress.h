/*
 * progress.h -- the progress engine (progress.c): one pass, waiting, draining.
 *
 * Expects w->lock to be held unless a function says otherwise (world.h).
 */
#ifndef DLC_PROGRESS_H
#define DLC_PROGRESS_H

#include "plugin/core/world.h"

/* One pass: completions, notices, liveness, every comm's running request.
 * Returns non-zero when anything happened. */
int dlc_progress_pass(dlc_world *w);


/* Block until r completes (timeout_ms < 0: only the comm's timeout bounds it;
 * else a wait timeout fails the op and the comm).  Drops w->lock between polls. */
dlcoll_status_t dlc_progress_wait(dlcoll_request *r, int timeout_ms);

/* Poll the transport until no request in c's FIFO has a receive still
 * posted, nor a send to a peer not known to be gone, at most timeout_ms.
 * Only reads completions (advances nothing). */
void dlc_progress_drain(dlcoll_comm *c, int timeout_ms);

#endif
