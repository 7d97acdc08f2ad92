/*
 * flight.h -- each communicator's flight recorder (flight.c).
 *
 * Expects w->lock to be held unless a function says otherwise (world.h).
 */
#ifndef DLC_FLIGHT_H
#define DLC_FLIGHT_H

#include "plugin/core/world.h"

/* Record r (its comm set) at its submission, the algorithm and its CQ data
 * word (op kind, dtype, bytes per rank), its start and its end. */
void dlc_flight_submit(dlcoll_request *r);
void dlc_flight_note(dlcoll_request *r, const char *algo, uint64_t cqdata);
void dlc_flight_start(dlcoll_request *r, uint64_t now);
void dlc_flight_finish(dlcoll_request *r);
/* One line per recorded operation of c, oldest first; returns the length. */
size_t dlc_flight_format(const dlcoll_comm *c, char *out, size_t cap);
/* Log c's flight recorder at INFO (nothing below that level). */
void dlc_flight_log(const dlcoll_comm *c);

#endif
