/*
 * comm.c -- communicators: creation, the id registry, and failing one.
 *
 * Communicator ids are unique in the job without any agreement: rank r hands
 * out ((r + 1) << 10) | k for k = 1..1023, and the world is id 1.  Message
 * tags carry the id, so two communicators never match each other's messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"

uint64_t dlc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ registry */

dlcoll_status_t dlc_comm_new(dlc_world *w, uint32_t id, int rank, int size, const int *members,
                             const char *name, dlcoll_comm **out, dlc_err *err)
{
    *out = NULL;
    if (w->n_comms == w->cap_comms) {
        int cap = w->cap_comms ? 2 * w->cap_comms : 8;
        dlcoll_comm **grown = realloc(w->comms, (size_t)cap * sizeof *grown);
        if (!grown)
            return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the communicator registry");
        w->comms = grown;
        w->cap_comms = cap;
    }
    dlcoll_comm *c = calloc(1, sizeof *c);
    int *m = malloc((size_t)size * sizeof *m);
    if (!c || !m) {
        free(c);
        free(m);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for a communicator of %d ranks",
                        size);
    }
    memcpy(m, members, (size_t)size * sizeof *m);
    c->w = w;
    c->id = id;
    c->rank = rank;
    c->size = size;
    c->all_local = -1;
    c->members = m;
    c->timeout_ms = w->settings.timeout_ms;
    c->next_seq = 1;
    snprintf(c->name, sizeof c->name, "%s", name ? name : "");
    atomic_init(&c->aborted, 0);
    w->comms[w->n_comms++] = c;
    *out = c;
    return DLCOLL_SUCCESS;
}

void dlc_comm_free(dlcoll_comm *c)
{
    if (!c)
        return;
    dlc_world *w = c->w;
    for (int i = 0; i < w->n_comms; i++) {
        if (w->comms[i] == c) {
            w->comms[i] = w->comms[--w->n_comms];
            break;
        }
    }
    /* Completed requests the application still holds must not point here. */
    for (dlcoll_request *r = w->reqs; r; r = r->next)
        if (r->comm == c)
            r->comm = NULL;
    if (w->world == c)
        w->world = NULL;
    dlc_comm_ext_release_all(c);
    dlc_rollcall_free(c);
    dlc_comm_rankmap_free(c);
    free(c->members);
    free(c);
}

void dlc_comm_view_init(dlcoll_comm *v, const dlcoll_comm *parent, int rank, int size, int *members,
                        const char *suffix)
{
    memset(v, 0, sizeof *v);
    v->w = parent->w;
    v->id = parent->id;
    v->rank = rank;
    v->size = size;
    v->members = members;
    v->timeout_ms = parent->timeout_ms;
    v->all_local = -1;
    atomic_init(&v->aborted, 0);
    snprintf(v->name, sizeof v->name, "%.40s/%s", parent->name[0] ? parent->name : "world", suffix);
}

void dlc_comm_ext_release_all(dlcoll_comm *c)
{
    for (int i = 0; i < DLC_COMM_EXT_SLOTS; i++) {
        dlc_comm_ext e = c->ext[i];
        memset(&c->ext[i], 0, sizeof c->ext[i]);
        if (e.state && e.release)
            e.release(c, e.state);
    }
}

void dlc_comm_ext_publish_all(dlcoll_comm *c, const dlc_notice_msg *m)
{
    for (int i = 0; i < DLC_COMM_EXT_SLOTS; i++)
        if (c->ext[i].state && c->ext[i].publish)
            c->ext[i].publish(c, c->ext[i].state, m);
}

int dlc_comm_ext_read_any(dlcoll_comm *c, dlc_notice_msg *m)
{
    for (int i = 0; i < DLC_COMM_EXT_SLOTS; i++)
        if (c->ext[i].state && c->ext[i].read && c->ext[i].read(c, c->ext[i].state, m))
            return 1;
    return 0;
}

int dlc_comm_ext_read_all(dlcoll_comm *c)
{
    dlc_notice_msg m;
    if (!c->failed && dlc_comm_ext_read_any(c, &m))
        dlc_notice_deliver(c, &m);
    return c->failed;
}

int dlc_comm_all_local(dlcoll_comm *c)
{
    if (c->all_local < 0) {
        const dlc_world *w = c->w;
        c->all_local = 1;
        for (int i = 0; i < c->size && c->all_local; i++)
            c->all_local = dlc_hostmap_same(&w->hostmap, c->members[i], w->rank);
    }
    return c->all_local;
}

dlcoll_comm *dlc_comm_lookup(dlc_world *w, uint32_t id)
{
    for (int i = 0; i < w->n_comms; i++)
        if (w->comms[i]->id == id)
            return w->comms[i];
    return NULL;
}

dlcoll_status_t dlc_comm_alloc_id(dlc_world *w, uint32_t *id, dlc_err *err)
{
    uint64_t base = (uint64_t)(w->rank + 1) << 10;
    if (w->id_counter >= DLC_COMM_COUNTER_MAX)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "rank %d created %u communicators, the most one rank may create", w->rank,
                        DLC_COMM_COUNTER_MAX);
    uint64_t v = base | (uint64_t)(w->id_counter + 1);
    if (v > DLC_COMM_ID_MAX)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "communicator ids of rank %d do not fit in %d bits (groups are limited to "
                        "worlds of at most %u ranks)",
                        w->rank, DLC_COMM_ID_BITS, (DLC_COMM_ID_MAX >> 10) - 1);
    w->id_counter++;
    *id = (uint32_t)v;
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ messages */

const char *dlc_comm_who(const dlcoll_comm *c, char *buf, size_t cap)
{
    int wr = c->w->rank;
    if (dlc_comm_is_world(c))
        snprintf(buf, cap, "rank %d", wr);
    else
        snprintf(buf, cap, "rank %d (group '%s' rank %d/%d)", wr, c->name, c->rank, c->size);
    return buf;
}

int dlc_comm_is_aborted(const dlcoll_comm *c)
{
    return atomic_load(&c->aborted) || atomic_load(&c->w->aborted);
}

dlcoll_status_t dlc_comm_check_usable(dlcoll_comm *c, const char *op, char *msg)
{
    char who[256];
    if (dlc_comm_is_aborted(c)) {
        snprintf(msg, DLC_MSG_MAX, "%s: %s: aborted by the application",
                 dlc_comm_who(c, who, sizeof who), op);
        return DLCOLL_ERR_ABORTED;
    }
    if (c->failed) {
        snprintf(msg, DLC_MSG_MAX, "communicator failed earlier: %.990s", c->fail_msg);
        return c->fail_status;
    }
    return DLCOLL_SUCCESS;
}

void dlc_comm_set_error(dlcoll_comm *c, const char *msg)
{
    snprintf(c->last_error, sizeof c->last_error, "%s", msg ? msg : "");
}

/* ------------------------------------------------------------------ failure */

void dlc_comm_fail(dlcoll_comm *c, dlcoll_status_t status, const char *cause, int notify)
{
    if (c->failed)
        return;
    dlc_world *w = c->w;
    char prefix[512], msg[DLC_MSG_MAX];
    dlcoll_request *head = c->head;
    if (head)
        dlc_request_prefix(head, prefix, sizeof prefix);
    else
        dlc_comm_who(c, prefix, sizeof prefix);
    snprintf(msg, sizeof msg, "%s: %s", prefix, cause);

    c->failed = 1;
    c->fail_status = status;
    memcpy(c->fail_msg, msg, sizeof msg);
    dlc_comm_set_error(c, msg);
    if (status == DLCOLL_ERR_ABORTED)
        DLC_INFO(&w->lg, "%s", msg);
    else
        DLC_WARN(&w->lg, "%s", msg);

    /* Tell the others first: they learn of it sooner.  Through the slots'
     * own channels (a member that reads the shared segment sees it there
     * even before it polls the transport, or when this rank's notice cannot
     * reach it), then by a NOTICE, pushed out before this rank goes on. */
    uint32_t seq = head ? head->seq : c->next_seq - 1;
    if (notify && c->size > 1) {
        dlc_notice_msg m;
        memset(&m, 0, sizeof m);
        m.comm_id = c->id;
        m.seq = seq;
        m.origin = w->rank;
        m.status = (int32_t)status;
        m.kind = DLC_NOTICE_FAILURE;
        snprintf(m.message, sizeof m.message, "%.*s", (int)sizeof m.message - 1, msg);
        dlc_comm_ext_publish_all(c, &m);
        dlc_notice_send(c, seq, status, msg);
    }

    /* No transfer of these requests may touch the user's buffers after they
     * are reported done: receives are cancelled, and sends (which may be
     * reading the input or the output, and cannot be cancelled) are given
     * time to complete; both bounded. */
    for (dlcoll_request *r = c->head; r; r = r->fifo_next)
        dlc_request_cancel_recvs(r);
    dlc_progress_drain(c, 1000);
    if (notify && c->size > 1)
        dlc_notice_flush(w, 200);
    for (dlcoll_request *r = c->head; r; r = r->fifo_next) {
        if (dlc_request_busy(r, 1))
            DLC_WARN(&w->lg,
                     "%s #%u: a receive could not be cancelled within 1 s; the transport "
                     "may still write into the output",
                     r->op_name, (unsigned)r->seq);
        else if (dlc_request_busy(r, 0))
            DLC_WARN(&w->lg,
                     "%s #%u: a send from the application's buffer did not complete within "
                     "1 s; it is abandoned (finalize closes the transport without sending it)",
                     r->op_name, (unsigned)r->seq);
    }

    char later[DLC_MSG_MAX];
    snprintf(later, sizeof later, "communicator failed earlier: %.990s", msg);
    int first = 1;
    while (c->head) {
        dlcoll_request *r = c->head;
        dlc_request_finish(r, status, first ? msg : later);
        first = 0;
    }
    dlc_flight_log(c);
}

/* ------------------------------------------------------------------ rank map */

void dlc_comm_rankmap_free(dlcoll_comm *c)
{
    dlc_rankmap *m = c->rankmap;
    if (!m)
        return;
    free(m->host_of);
    free(m->index_of);
    free(m->count);
    free(m->member);
    free(m);
    c->rankmap = NULL;
}

const dlc_rankmap *dlc_comm_rankmap(dlcoll_comm *c)
{
    if (c->rankmap)
        return c->rankmap;
    const dlc_hostmap *hm = &c->w->hostmap;
    int n = c->size;
    dlc_rankmap *m = calloc(1, sizeof *m);
    int *world_host = calloc((size_t)n, sizeof *world_host); /* world host of each local host */
    if (m) {
        c->rankmap = m;
        m->host_of = calloc((size_t)n, sizeof *m->host_of);
        m->index_of = calloc((size_t)n, sizeof *m->index_of);
        m->count = calloc((size_t)n, sizeof *m->count);
    }
    if (!m || !world_host || !m->host_of || !m->index_of || !m->count) {
        free(world_host);
        dlc_comm_rankmap_free(c);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int wh = hm->host_of[c->members[i]];
        int h = 0;
        while (h < m->n_hosts && world_host[h] != wh)
            h++;
        if (h == m->n_hosts)
            world_host[m->n_hosts++] = wh;
        m->host_of[i] = h;
        m->index_of[i] = m->count[h]++;
    }
    free(world_host);
    m->my_host = m->host_of[c->rank];
    m->my_index = m->index_of[c->rank];
    m->per_host = m->count[0];
    m->balanced = 1;
    for (int h = 1; h < m->n_hosts; h++)
        if (m->count[h] != m->per_host)
            m->balanced = 0;
    if (m->balanced) {
        m->member = calloc((size_t)n, sizeof *m->member);
        if (!m->member) {
            dlc_comm_rankmap_free(c);
            return NULL;
        }
        for (int i = 0; i < n; i++)
            m->member[m->host_of[i] * m->per_host + m->index_of[i]] = i;
    }
    return m;
}
