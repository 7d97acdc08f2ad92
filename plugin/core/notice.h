/*
 * notice.h -- the NOTICE messages ranks send about failures (notice.c).
 *
 * Expects w->lock to be held unless a function says otherwise (world.h).
 */
#ifndef DLC_NOTICE_H
#define DLC_NOTICE_H

#include "plugin/core/world.h"

dlcoll_status_t dlc_notice_start(dlc_world *w, dlc_err *err);
/* Handle received notices (and retire sent ones). Returns non-zero when any arrived. */
int dlc_notice_poll(dlc_world *w);
void dlc_notice_send(dlcoll_comm *c, uint32_t seq, dlcoll_status_t status, const char *msg);
/* Send notice m to world rank peer (retried while the provider has no room). */
void dlc_notice_post(dlc_world *w, int peer, const dlc_notice_msg *m);
/* Progress until every notice sent is delivered or given up, at most timeout_ms. */
void dlc_notice_flush(dlc_world *w, int timeout_ms);
/* Apply a failure report m about communicator c (from a NOTICE or a
 * slot's channel): c fails now when this rank is at op #m->seq or later,
 * else when it gets there. */
void dlc_notice_deliver(dlcoll_comm *c, const dlc_notice_msg *m);
/* Init: an empty message to every other rank on this host and one from
 * each, so that a later notice between them never waits for a connection
 * (the shm provider connects a pair only while the receiver polls). */
dlcoll_status_t dlc_notice_connect_local(dlc_world *w, int timeout_ms, dlc_err *err);
/* A group was just created here: apply notices that arrived for it before. */
void dlc_notice_adopt(dlcoll_comm *c);
/* Cancel the receives and wait (bounded) for them, and for the notices
 * still going out, unless !may_poll; before closing the transport. */
void dlc_notice_stop(dlc_world *w, int may_poll);
/* Free what is left; after the transport is closed. */
void dlc_notice_free(dlc_world *w);

#endif
