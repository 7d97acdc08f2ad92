/*
 * comm.h -- communicators: creation, views, slots, failure (comm.c), and the
 * engine's other headers, which most of the plugin needs together.
 *
 * The data (struct dlc_world, struct dlcoll_comm, locking) is in world.h.
 */
#ifndef DLC_COMM_H
#define DLC_COMM_H

#include "plugin/core/world.h"
#include "plugin/core/flight.h"
#include "plugin/core/liveness.h"
#include "plugin/core/notice.h"
#include "plugin/core/progress.h"
#include "plugin/core/rollcall.h"

/* Allocate a communicator and register it with the world. */
dlcoll_status_t dlc_comm_new(dlc_world *w, uint32_t id, int rank, int size, const int *members,
                             const char *name, dlcoll_comm **out, dlc_err *err);

/* The world communicator (id DLC_WORLD_COMM_ID), not a group. */
static inline int dlc_comm_is_world(const dlcoll_comm *c)
{
    return c->id == DLC_WORLD_COMM_ID;
}

/* Unregister and free (no pending requests). */
void dlc_comm_free(dlcoll_comm *c);

/* Every member of c runs on this host (computed once per communicator). */
int dlc_comm_all_local(dlcoll_comm *c);

/* c's view of the host map (rankmap.h), made at the first call; NULL when
 * out of memory. */
const dlc_rankmap *dlc_comm_rankmap(dlcoll_comm *c);
void dlc_comm_rankmap_free(dlcoll_comm *c);

/* The state in slot `slot` of c, NULL when none. */
static inline void *dlc_comm_ext_get(const dlcoll_comm *c, int slot)
{
    return c->ext[slot].state;
}

/* Put state (freed by release when c is freed) into slot `slot` of c. */
static inline void dlc_comm_ext_set(dlcoll_comm *c, int slot, void *state,
                                    dlc_comm_ext_release_fn release)
{
    c->ext[slot].state = state;
    c->ext[slot].release = release;
    c->ext[slot].publish = NULL;
    c->ext[slot].read = NULL;
}

/* Give slot `slot` of c (already set) a failure channel of its own. */
static inline void dlc_comm_ext_set_channel(dlcoll_comm *c, int slot, dlc_comm_ext_publish_fn pub,
                                            dlc_comm_ext_read_fn read)
{
    c->ext[slot].publish = pub;
    c->ext[slot].read = read;
}

/* Write m into every slot's failure channel of c (dlc_comm_fail does). */
void dlc_comm_ext_publish_all(dlcoll_comm *c, const dlc_notice_msg *m);

/* Read every slot's failure channel of c and apply what a member wrote
 * there as a notice (dlc_notice_deliver).  Returns non-zero when c failed. */
int dlc_comm_ext_read_all(dlcoll_comm *c);

/* The first failure written into one of c's slots' channels: 1 and *m, else
 * 0 (for a composite operation forwarding its views' channels). */
int dlc_comm_ext_read_any(dlcoll_comm *c, dlc_notice_msg *m);

/* Make *v a view of parent: an unregistered communicator of `size` of the
 * world's ranks (members: world ranks, owned by the caller) in which this
 * rank is `rank`, with parent's world, id and timeout, named
 * "<parent>/<suffix>".  The sub-operations of a composite operation run on
 * views (hier: the partners on the other hosts, this host's members).  Its
 * owner frees its slots with dlc_comm_ext_release_all, then its memory. */
void dlc_comm_view_init(dlcoll_comm *v, const dlcoll_comm *parent, int rank, int size, int *members,
                        const char *suffix);

/* Call every slot's release hook and empty the slots (dlc_comm_free does;
 * so do owners of communicators that are not registered, like hier's). */
void dlc_comm_ext_release_all(dlcoll_comm *c);

dlcoll_comm *dlc_comm_lookup(dlc_world *w, uint32_t id);

/* A new id: ((world rank + 1) << 10) | counter. */
dlcoll_status_t dlc_comm_alloc_id(dlc_world *w, uint32_t *id, dlc_err *err);

/* "rank R" in the world, "rank R (group 'name' rank g/n)" in a group. */
const char *dlc_comm_who(const dlcoll_comm *c, char *buf, size_t cap);

int dlc_comm_is_aborted(const dlcoll_comm *c);

/* Before a new operation: the comm's earlier failure or abort, as a message in
 * msg (DLC_MSG_MAX), else DLCOLL_SUCCESS. */
dlcoll_status_t dlc_comm_check_usable(dlcoll_comm *c, const char *op, char *msg);

/* Record msg as the comm's last error (and nothing else). */
void dlc_comm_set_error(dlcoll_comm *c, const char *msg);

/*
 * Fail communicator c: its running request fails with "<prefix>: <cause>",
 * the queued ones with "communicator failed earlier: ...", their posted
 * transfers are cancelled or completed (waiting up to about a second), every
 * later op fails at once.  With notify, the other members are told: the
 * failure is written into the slots' own channels (the shared segment) and
 * a NOTICE carrying the message goes to each member, pushed out (bounded)
 * before the failure is reported here.  Nothing happens when c already
 * failed.  This is the one failure rule of every operation: docs/abi.md
 * section 12.
 */
void dlc_comm_fail(dlcoll_comm *c, dlcoll_status_t status, const char *cause, int notify);


/* ------------------------------------------------------------------ api/finalize.c */

/* Tear down everything a (possibly partly built) world holds and free it.
 * Called with w->lock NOT held. */
void dlc_world_destroy(dlc_world *w);

#endif
