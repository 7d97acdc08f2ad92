/*
 * rollcall.h -- who is missing when an operation times out (rollcall.c).
 *
 * Expects w->lock to be held unless a function says otherwise (world.h).
 */
#ifndef DLC_ROLLCALL_H
#define DLC_ROLLCALL_H

#include "plugin/core/world.h"

/* Op #seq of c timed out: ask every member where it is.  -1 (no roll call)
 * when out of memory. */
int dlc_rollcall_start(dlcoll_comm *c, uint32_t seq, uint64_t now);
/* Every member answered, or the window is over. */
int dlc_rollcall_ready(const dlcoll_comm *c, uint64_t now);
/* "; ranks 3, 5 never started #17 (last completed: ...); ..." */
void dlc_rollcall_describe(const dlcoll_comm *c, char *out, size_t cap);
void dlc_rollcall_on_query(dlc_world *w, const dlc_notice_msg *q);
void dlc_rollcall_on_answer(dlc_world *w, const dlc_notice_msg *a);
void dlc_rollcall_free(dlcoll_comm *c);

#endif
