/*
 * group.c -- sub-communicators: group_create, group_split, group_destroy.
 *
 * A group's members must agree on its communicator id (message tags carry
 * it).  group_create agrees through the store: group rank 0 allocates an id
 * and publishes it under
 *     dlcoll/grp/<parent id>/<name>/<hash of ranks>/<k>
 * where k counts how many times this rank created the same (parent, name,
 * ranks) before, and the others read it.  group_split agrees through an
 * allgather on the parent (op kind DLC_OP_SPLIT) of {color, key, proposed
 * id}: every member of a color takes the proposal of the first member in
 * (key, parent rank) order.
 *
 * Store calls may block for a long time, so they are made with the world lock
 * dropped (the store has its own lock), and a waiting member keeps the
 * fabric progressing between short polls: a peer may be waiting on an
 * operation that needs this rank before it gets to group_create.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/coll.h"
#include "plugin/api/api.h"

#define STORE_POLL_MS 20

/* The failure of a group call: c's last error and the thread's error. */
static dlcoll_status_t group_error(dlcoll_comm *parent, const char *op, const dlc_err *err)
{
    char who[256], msg[DLC_MSG_MAX];
    snprintf(msg, sizeof msg, "%s: %s: %s", dlc_comm_who(parent, who, sizeof who), op, err->msg);
    dlc_comm_set_error(parent, msg);
    dlc_thread_error_set(msg);
    return err->status;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}
#define FNV_BASIS UINT64_C(14695981039346656037)

/* ------------------------------------------------------------------ store helpers */

static dlcoll_status_t store_set(dlc_world *w, const char *key, const void *v, size_t len,
                                 dlc_err *err)
{
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_lock(&w->store_lock);
    dlcoll_status_t st = dlc_store_set(w->store, key, v, len, err);
    pthread_mutex_unlock(&w->store_lock);
    pthread_mutex_lock(&w->lock);
    return st;
}

/* dlc_store_get in short slices, progressing the fabric in between; an
 * abort() (or a failure) of parent ends the wait at the next slice, as it
 * ends every other wait. */
static dlcoll_status_t store_get(dlcoll_comm *parent, const char *key, void *buf, size_t cap,
                                 size_t *len, int timeout_ms, dlc_err *err)
{
    dlc_world *w = parent->w;
    uint64_t end = dlc_now_ns() + (uint64_t)timeout_ms * DLC_MS_NS;
    for (;;) {
        uint64_t now = dlc_now_ns();
        int slice = 0;
        if (now < end) {
            uint64_t left_ms = (end - now) / DLC_MS_NS;
            slice = left_ms < STORE_POLL_MS ? (int)left_ms : STORE_POLL_MS;
        }
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_lock(&w->store_lock);
        dlcoll_status_t st = dlc_store_get(w->store, key, buf, cap, len, slice, err);
        pthread_mutex_unlock(&w->store_lock);
        pthread_mutex_lock(&w->lock);
        if (st != DLCOLL_ERR_TIMEOUT || dlc_now_ns() >= end)
            return st;
        dlc_progress_pass(w);
        char msg[DLC_MSG_MAX];
        if ((st = dlc_comm_check_usable(parent, "group_create", msg)) != DLCOLL_SUCCESS)
            return dlc_fail(err, st, "%s", msg);
    }
}

/* k: how many times this rank created the group under `base` before. */
static int next_creation(dlc_world *w, const char *base, int *k)
{
    for (dlc_grp_count *g = w->grp_counts; g; g = g->next) {
        if (strcmp(g->key, base) == 0) {
            *k = g->count++;
            return 0;
        }
    }
    size_t n = strlen(base) + 1;
    dlc_grp_count *g = malloc(sizeof *g + n);
    if (!g)
        return -1;
    memcpy(g->key, base, n);
    g->count = 1;
    g->next = w->grp_counts;
    w->grp_counts = g;
    *k = 0;
    return 0;
}

/* Register the group both paths agreed on: id, this rank's index me, and its
 * members given as parent ranks; then apply notices that arrived for it
 * before it existed here. */
static dlcoll_status_t new_group(dlcoll_comm *parent, uint32_t id, int me, const int *pranks, int n,
                                 const char *name, dlcoll_comm **out, dlc_err *err)
{
    dlc_world *w = parent->w;
    int *members = malloc((size_t)n * sizeof *members);
    if (!members)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    for (int i = 0; i < n; i++)
        members[i] = parent->members[pranks[i]];
    dlcoll_comm *g = NULL;
    dlcoll_status_t st = dlc_comm_new(w, id, me, n, members, name, &g, err);
    free(members);
    if (st != DLCOLL_SUCCESS)
        return st;
    g->timeout_ms = parent->timeout_ms;
    dlc_notice_adopt(g);
    DLC_INFO(&w->lg, "group '%s' (id %" PRIu32 "): rank %d of %d", name, id, me, n);
    *out = g;
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ group_create */

static dlcoll_status_t check_ranks(const dlcoll_comm *parent, const int *ranks, int n,
                                   const char *name, dlc_err *err)
{
    if (!ranks)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "ranks is NULL");
    if (n < 1 || n > parent->size)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "n is %d; a group has 1 to %d ranks (the parent's size)", n, parent->size);
    if (!*name)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "the group name is empty");
    if (strlen(name) >= DLC_COMM_NAME_MAX)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "the group name is longer than %d bytes",
                        DLC_COMM_NAME_MAX - 1);
    unsigned char *seen = calloc((size_t)parent->size, 1);
    if (!seen)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    dlcoll_status_t st = DLCOLL_SUCCESS;
    for (int i = 0; i < n && st == DLCOLL_SUCCESS; i++) {
        if (ranks[i] < 0 || ranks[i] >= parent->size)
            st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                          "ranks[%d] = %d is not a rank of the parent (0..%d)", i, ranks[i],
                          parent->size - 1);
        else if (seen[ranks[i]])
            st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "rank %d appears twice in ranks",
                          ranks[i]);
        else
            seen[ranks[i]] = 1;
    }
    free(seen);
    return st;
}

/* "dlcoll/grp/<parent id>/<name>/<hash of ranks>"; the name is reduced to
 * [A-Za-z0-9_.-] plus a hash of the original, so any name makes a safe key. */
static void group_key_base(const dlcoll_comm *parent, const int *ranks, int n, const char *name,
                           char *buf, size_t cap)
{
    char clean[DLC_COMM_NAME_MAX];
    size_t i = 0;
    for (; name[i] && i < sizeof clean - 1; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        clean[i] = ok ? ch : '_';
    }
    clean[i] = '\0';
    uint64_t hn = fnv1a(FNV_BASIS, name, strlen(name));
    uint64_t hr = fnv1a(FNV_BASIS, &n, sizeof n);
    for (int j = 0; j < n; j++) {
        int32_t v = ranks[j];
        hr = fnv1a(hr, &v, sizeof v);
    }
    snprintf(buf, cap, "dlcoll/grp/%" PRIu32 "/%s-%08" PRIx32 "/%016" PRIx64, parent->id, clean,
             (uint32_t)hn, hr);
}

dlcoll_status_t dlc_api_group_create(dlcoll_comm *parent, const int *ranks, int n, const char *name,
                                     dlcoll_comm **out)
{
    *out = NULL;
    dlc_world *w = parent->w;
    if (!name)
        name = "group";
    pthread_mutex_lock(&w->lock);
    dlc_err err;
    dlc_err_clear(&err);
    char msg[DLC_MSG_MAX];
    dlcoll_status_t st = check_ranks(parent, ranks, n, name, &err);
    if (st == DLCOLL_SUCCESS && (st = dlc_comm_check_usable(parent, "group_create", msg)) != 0) {
        dlc_comm_set_error(parent, msg);
        dlc_thread_error_set(msg);
        pthread_mutex_unlock(&w->lock);
        return st;
    }
    if (st != DLCOLL_SUCCESS)
        goto fail;

    int me = -1;
    for (int i = 0; i < n; i++)
        if (ranks[i] == parent->rank)
            me = i;
    if (me < 0) {
        pthread_mutex_unlock(&w->lock);
        return DLCOLL_SUCCESS; /* not a member: nothing to do */
    }

    char base[512], key[600];
    group_key_base(parent, ranks, n, name, base, sizeof base);
    int k;
    if (next_creation(w, base, &k) != 0) {
        st = dlc_fail(&err, DLCOLL_ERR_SYSTEM, "out of memory");
        goto fail;
    }
    snprintf(key, sizeof key, "%s/%d", base, k);

    uint32_t id = 0;
    if (me == 0) {
        if ((st = dlc_comm_alloc_id(w, &id, &err)) != DLCOLL_SUCCESS)
            goto fail;
        if ((st = store_set(w, key, &id, sizeof id, &err)) != DLCOLL_SUCCESS)
            goto fail;
    } else {
        size_t len = 0;
        st = store_get(parent, key, &id, sizeof id, &len, parent->timeout_ms, &err);
        if (st == DLCOLL_ERR_TIMEOUT)
            dlc_fail(&err, DLCOLL_ERR_TIMEOUT,
                     "group '%s': timed out after %d ms waiting for "
                     "its rank 0 (world rank %d) to publish the group id (did every member call "
                     "group_create with the same ranks and name?)",
                     name, parent->timeout_ms, parent->members[ranks[0]]);
        if (st != DLCOLL_SUCCESS)
            goto fail;
        if (len != sizeof id || id == 0 || id > DLC_COMM_ID_MAX)
            st = dlc_fail(&err, DLCOLL_ERR_BOOTSTRAP,
                          "group '%s': store key %s holds a bad id "
                          "(%zu bytes)",
                          name, key, len);
        else if (dlc_comm_lookup(w, id))
            st = dlc_fail(&err, DLCOLL_ERR_INTERNAL,
                          "group '%s': id %" PRIu32 " is already in "
                          "use here",
                          name, id);
        if (st != DLCOLL_SUCCESS)
            goto fail;
    }

    if ((st = new_group(parent, id, me, ranks, n, name, out, &err)) != DLCOLL_SUCCESS)
        goto fail;
    pthread_mutex_unlock(&w->lock);
    return DLCOLL_SUCCESS;

fail:
    st = group_error(parent, "group_create", &err);
    pthread_mutex_unlock(&w->lock);
    return st;
}

/* ------------------------------------------------------------------ group_split */

/* A member of this rank's color: its key, proposed id and parent rank. */
typedef struct split_entry {
    int32_t key, id;
    int prank;
} split_entry;

static int by_key_rank(const void *a, const void *b)
{
    const split_entry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->prank > y->prank) - (x->prank < y->prank);
}

/* A 1-D int32 DLTensor over data[0..n). */
static DLTensor int32_vector(int32_t *data, int64_t *shape)
{
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 1;
    t.dtype.code = kDLInt;
    t.dtype.bits = 32;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

dlcoll_status_t dlc_api_group_split(dlcoll_comm *parent, int color, int key, dlcoll_comm **out)
{
    *out = NULL;
    dlc_world *w = parent->w;
    pthread_mutex_lock(&w->lock);
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st;
    int32_t *all = NULL;
    split_entry *mine = NULL;
    int *pranks = NULL; /* the new group's parent ranks, in group rank order */
    char msg[DLC_MSG_MAX];
    if (color < 0 && color != DLCOLL_SPLIT_NOCOLOR) {
        st = dlc_fail(&err, DLCOLL_ERR_INVALID_ARGUMENT,
                      "color %d is negative (and not DLCOLL_SPLIT_NOCOLOR)", color);
        goto fail;
    }
    if ((st = dlc_comm_check_usable(parent, "group_split", msg)) != DLCOLL_SUCCESS) {
        dlc_comm_set_error(parent, msg);
        dlc_thread_error_set(msg);
        pthread_mutex_unlock(&w->lock);
        return st;
    }

    /* Propose an id; 0 when this rank has none left (the group then fails
     * on every member that would take this rank's proposal). */
    uint32_t id = 0;
    if (color != DLCOLL_SPLIT_NOCOLOR) {
        dlc_err idle;
        if (dlc_comm_alloc_id(w, &id, &idle) != DLCOLL_SUCCESS)
            id = 0;
    }
    int n = parent->size;
    int32_t in[3] = {color, key, (int32_t)id};
    all = calloc((size_t)n * 3, sizeof *all);
    mine = calloc((size_t)n, sizeof *mine);
    pranks = calloc((size_t)n, sizeof *pranks);
    if (!all || !mine || !pranks) {
        st = dlc_fail(&err, DLCOLL_ERR_SYSTEM, "out of memory");
        goto fail;
    }
    int64_t in_shape[1] = {3}, out_shape[1] = {(int64_t)n * 3};
    DLTensor tin = int32_vector(in, in_shape), tout = int32_vector(all, out_shape);
    dlc_ag_plan plan;
    dlcoll_request *r = NULL;
    st = dlc_ag_plan_single(parent, &tin, &tout, &plan, &err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_allgather_submit(parent, DLC_OP_SPLIT, "group_split", &plan, &r, &err);
    if (st != DLCOLL_SUCCESS)
        goto fail;
    st = dlc_progress_wait(r, -1);
    if (st != DLCOLL_SUCCESS) {
        /* The message already names the rank and the op. */
        dlc_comm_set_error(parent, r->error);
        dlc_thread_error_set(r->error);
        dlc_request_release(r);
        goto out;
    }
    dlc_request_release(r);

    if (color == DLCOLL_SPLIT_NOCOLOR)
        goto out;
    int m = 0, my_index = -1;
    for (int i = 0; i < n; i++) {
        if (all[3 * i] != color)
            continue;
        mine[m].key = all[3 * i + 1];
        mine[m].id = all[3 * i + 2];
        mine[m].prank = i;
        m++;
    }
    qsort(mine, (size_t)m, sizeof *mine, by_key_rank);
    for (int i = 0; i < m; i++)
        if (mine[i].prank == parent->rank)
            my_index = i;
    uint32_t gid = (uint32_t)mine[0].id;
    if (my_index < 0 || gid == 0 || gid > DLC_COMM_ID_MAX) {
        st = dlc_fail(&err, my_index < 0 ? DLCOLL_ERR_INTERNAL : DLCOLL_ERR_UNSUPPORTED,
                      "color %d: parent rank %d could not allocate a communicator id", color,
                      mine[0].prank);
        goto fail;
    }
    for (int i = 0; i < m; i++)
        pranks[i] = mine[i].prank;
    char name[DLC_COMM_NAME_MAX];
    snprintf(name, sizeof name, "split(color=%d)", color);
    if ((st = new_group(parent, gid, my_index, pranks, m, name, out, &err)) != DLCOLL_SUCCESS)
        goto fail;
    goto out;

fail:
    st = group_error(parent, "group_split", &err);
out:
    free(all);
    free(mine);
    free(pranks);
    pthread_mutex_unlock(&w->lock);
    return st;
}

/* ------------------------------------------------------------------ group_destroy */

dlcoll_status_t dlc_api_group_destroy(dlcoll_comm *g)
{
    dlc_world *w = g->w;
    char who[256], msg[DLC_MSG_MAX];
    pthread_mutex_lock(&w->lock);
    dlc_comm_who(g, who, sizeof who);
    if (dlc_comm_is_world(g)) {
        snprintf(msg, sizeof msg,
                 "%s: group_destroy: this is the world communicator; use "
                 "finalize",
                 who);
    } else if (g->head) {
        snprintf(msg, sizeof msg,
                 "%s: group_destroy: the group has pending requests; wait for "
                 "them first",
                 who);
    } else {
        dlc_comm_free(g);
        pthread_mutex_unlock(&w->lock);
        return DLCOLL_SUCCESS;
    }
    dlc_comm_set_error(g, msg);
    dlc_thread_error_set(msg);
    pthread_mutex_unlock(&w->lock);
    return DLCOLL_ERR_INVALID_ARGUMENT;
}
