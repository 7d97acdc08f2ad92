/*
 * liveness.h -- finding dead peers on this host (liveness.c).
 *
 * Expects w->lock to be held unless a function says otherwise (world.h).
 */
#ifndef DLC_LIVENESS_H
#define DLC_LIVENESS_H

#include "plugin/core/world.h"

/* Open (close) /proc/<pid>/stat of every peer on this host. */
void dlc_liveness_open(dlc_world *w);
void dlc_liveness_close(dlc_world *w);

/* Check the local peers of every communicator with a running request (every
 * ~100 ms); records the time a peer was found gone in w->dead_ns. */
void dlc_liveness_scan(dlc_world *w, uint64_t now);

/* Check now whether world rank r (on this host) has exited, waiting up to
 * wait_ms for a dying process; records it.  0 for ranks on other hosts. */
int dlc_liveness_peer_gone(dlc_world *w, int r, int wait_ms);

/* Check now (as dlc_liveness_peer_gone) whether world rank r, a member of c,
 * has exited; when it has, check c's other members on this host at the same
 * moment and describe every one gone into cause (dlc_liveness_describe_dead,
 * r preferred).  Returns how many are gone, 0 when r is not. */
int dlc_liveness_peer_exit_cause(dlcoll_comm *c, int r, int wait_ms, char *cause, size_t cap);

/* Before a send to world rank r: 0 when the provider is shared-memory and r
 * has exited or is exiting (see liveness.c for why). */
int dlc_liveness_safe_to_send(dlc_world *w, int r);

/* Describe the members of c found gone, into cause: "rank P (pid X on host H)
 * exited", the first to go named first (ties: `prefer`, the peer being waited
 * on), then "; also gone: ..." for the others, so a survivor names the rank that
 * was killed even when a neighbour exited after it.  Returns how many are gone. */
int dlc_liveness_describe_dead(const dlcoll_comm *c, int prefer, char *cause, size_t cap);

/* "rank P (pid X on host H)" */
const char *dlc_peer_desc(const dlc_world *w, int world_rank, char *buf, size_t cap);

#endif
