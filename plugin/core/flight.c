/*
 * flight.c -- each communicator's flight recorder: its last DLC_FLIGHT_OPS
 * operations (kind, sequence number, algorithm, bytes per rank, dtype,
 * members, state, status, and when each was submitted, started and ended),
 * printed when the communicator fails (DLCOLL_DEBUG=INFO or more) so that a
 * hang or a mismatch can be read back as "what was this rank doing".
 * Recording is a few stores per operation into a fixed ring in the
 * communicator: no allocation, no lock beyond the world's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"
#include "plugin/core/tag.h"
#include "plugin/util/tensor.h"

static dlc_flight_op *entry(dlcoll_comm *c, uint32_t seq)
{
    dlc_flight_op *e = &c->flight[seq % DLC_FLIGHT_OPS];
    return e->used && e->seq == seq ? e : NULL;
}

void dlc_flight_submit(dlcoll_request *r)
{
    dlcoll_comm *c = r->comm;
    dlc_flight_op *e = &c->flight[r->seq % DLC_FLIGHT_OPS];
    memset(e, 0, sizeof *e);
    e->used = 1;
    e->seq = r->seq;
    e->op_name = r->op_name;
    e->submit_ns = dlc_now_ns();
}

void dlc_flight_note(dlcoll_request *r, const char *algo, uint64_t cqdata)
{
    dlc_flight_op *e = r->comm ? entry(r->comm, r->seq) : NULL;
    if (!e)
        return;
    e->algo = algo;
    e->cqdata = cqdata;
}

void dlc_flight_start(dlcoll_request *r, uint64_t now)
{
    dlc_flight_op *e = r->comm ? entry(r->comm, r->seq) : NULL;
    if (e)
        e->start_ns = now;
}

void dlc_flight_finish(dlcoll_request *r)
{
    dlc_flight_op *e = r->comm ? entry(r->comm, r->seq) : NULL;
    if (!e)
        return;
    /* A success is stamped with the time of the progress pass that saw it
     * (one clock read less per operation); a failure reads the clock. */
    e->end_ns = r->status == DLCOLL_SUCCESS && r->w->pass_ns ? r->w->pass_ns : dlc_now_ns();
    e->done = 1;
    e->status = r->status;
}

static double ms_since(uint64_t t0, uint64_t t)
{
    return t && t >= t0 ? (double)(t - t0) / 1e6 : -1.0;
}

size_t dlc_flight_format(const dlcoll_comm *c, char *out, size_t cap)
{
    uint64_t now = dlc_now_ns();
    size_t at = 0;
    out[0] = '\0';
    uint32_t last = c->next_seq ? c->next_seq - 1 : 0;
    for (uint32_t k = 0; k < DLC_FLIGHT_OPS && at < cap; k++) {
        uint32_t seq = last - (DLC_FLIGHT_OPS - 1 - k);
        if (seq > last) /* wrapped below 0 */
            continue;
        const dlc_flight_op *e = &c->flight[seq % DLC_FLIGHT_OPS];
        if (!e->used || e->seq != seq)
            continue;
        char dt[32] = "-";
        if (e->cqdata) {
            DLDataType t = {dlc_cqdata_code(e->cqdata), dlc_cqdata_bits(e->cqdata), 1};
            dlc_dtype_name(t, dt, sizeof dt);
        }
        const char *state = e->done       ? (e->status == DLCOLL_SUCCESS ? "done" : "failed")
                            : e->start_ns ? "running"
                                          : "queued";
        at += (size_t)snprintf(
            out + at, cap - at,
            "  #%" PRIu32 " %s%s%s %" PRIu64 " B/rank %s x%d: %s%s%s, submitted %.3f ms ago, "
            "started %+.3f ms, %s %+.3f ms\n",
            e->seq, e->op_name ? e->op_name : "?", e->algo ? "/" : "", e->algo ? e->algo : "",
            dlc_cqdata_bytes(e->cqdata), dt, c->size, state, e->done && e->status ? " " : "",
            e->done && e->status ? dlc_status_string(e->status) : "",
            (double)(now - e->submit_ns) / 1e6, ms_since(e->submit_ns, e->start_ns),
            e->done ? "ended" : "now", ms_since(e->submit_ns, e->done ? e->end_ns : now));
    }
    return at;
}

void dlc_flight_log(const dlcoll_comm *c)
{
    dlc_world *w = c->w;
    if (w->lg.level < DLCOLL_LOG_INFO)
        return;
    char buf[DLC_FLIGHT_OPS * 200];
    dlc_flight_format(c, buf, sizeof buf);
    char who[256];
    DLC_INFO(&w->lg, "flight recorder of %s (last %d operations):\n%s",
             dlc_comm_who(c, who, sizeof who), DLC_FLIGHT_OPS, buf);
}
