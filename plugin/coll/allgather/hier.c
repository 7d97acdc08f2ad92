/*
 * coll/allgather/hier.c -- the hierarchical allgather, for a communicator whose
 * members are spread evenly over H >= 2 hosts (L members on each).
 *
 * Member (h, j) is the j-th member (in communicator rank order) on host h, the
 * hosts numbered by their first member.  The members with the same j on the
 * different hosts are "partners".  An operation runs in two phases:
 *
 *   A. over the transport, among partners only: member (h, j) sends its own
 *      block to (h', j) for every other host h' and receives theirs (the ring
 *      or the direct exchange over those H ranks, by size, exactly as on a
 *      communicator of H ranks).  Each block crosses between two hosts once
 *      per host that needs it, and the members of one host use the links in
 *      parallel.
 *   B. on each host, through shared memory (coll/allgather/shm.c): H exchanges
 *      among the host's L members, one per host h': in exchange h' member
 *      (h, j) contributes block (h', j) (its own for h' = h, else the one it
 *      received in phase A) and receives the other (h', q).
 *
 * The exchange of the own host's blocks (h' = h) does not depend on phase A
 * and runs alongside it; the others follow it, in host order (the same order
 * on every member of the host, as the shared segment's tokens require).
 *
 * The phases run as sub-requests: the ring / direct / shm state machines
 * driven with a request of their own, over a partner view of the
 * communicator (its H partners' world ranks; tags are the communicator's,
 * which is safe because receives are source-directed and a peer is a
 * partner in one view only) or over the host's local view (a hidden
 * communicator with its own shared segment, kept on the communicator).  Phase
 * A's transfers live in the request's own slots, so cancellation and the
 * zombie bookkeeping of request.c cover them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/allgather/wire.h"
#include "plugin/coll/coll.h"
#include "plugin/coll/shm_seg.h"

typedef struct dlc_hier_layout {
    int ok; /* every host has the same number of members, H >= 2 */
    int H, L;
    int my_host, my_local;
    const dlc_rankmap *map; /* the communicator's (freed with it) */
    dlcoll_comm *local;     /* this host's members (phase B), made at first use */
} dlc_hier_layout;

/* ------------------------------------------------------------------ layout */

/* The layout is the communicator's rank map (core/rankmap.h): its NODE
 * view is phase B's group, its NET view phase A's. */
static dlc_hier_layout *layout_build(dlcoll_comm *c)
{
    const dlc_rankmap *m = dlc_comm_rankmap(c);
    dlc_hier_layout *lay = m ? calloc(1, sizeof *lay) : NULL;
    if (!lay)
        return NULL;
    lay->H = m->n_hosts;
    lay->L = m->per_host;
    lay->ok = m->balanced && m->n_hosts >= 2;
    lay->my_host = m->my_host;
    lay->my_local = m->my_index;
    lay->map = m;
    return lay;
}

static void hier_release(dlcoll_comm *c, void *state);

/* The failure channel of c is that of its host's view (the shared segment
 * of this host's members), made at its first use. */
static void hier_publish_failure(dlcoll_comm *c, void *state, const dlc_notice_msg *m)
{
    dlc_hier_layout *lay = state;
    (void)c;
    if (lay->local)
        dlc_comm_ext_publish_all(lay->local, m);
}

static int hier_read_failure(dlcoll_comm *c, void *state, dlc_notice_msg *m)
{
    dlc_hier_layout *lay = state;
    return lay->local && dlc_comm_ext_read_any(lay->local, m) && m->origin != c->w->rank;
}

/* c's layout, built at the first call and kept in c's slot DLC_COLL_EXT_HIER;
 * NULL when out of memory. */
static dlc_hier_layout *layout_get(dlcoll_comm *c)
{
    dlc_hier_layout *lay = dlc_comm_ext_get(c, DLC_COLL_EXT_HIER);
    if (!lay && (lay = layout_build(c))) {
        dlc_comm_ext_set(c, DLC_COLL_EXT_HIER, lay, hier_release);
        dlc_comm_ext_set_channel(c, DLC_COLL_EXT_HIER, hier_publish_failure, hier_read_failure);
    }
    return lay;
}

int dlc_ag_hier_eligible(dlcoll_comm *c)
{
    dlc_hier_layout *lay = layout_get(c);
    return lay ? lay->ok : -1;
}

int dlc_ag_hier_auto(dlcoll_comm *c)
{
    dlc_hier_layout *lay = layout_get(c);
    return lay ? lay->ok && lay->L >= 2 : -1;
}

/* The hidden communicator of this host's members. */
static dlcoll_comm *local_get(dlcoll_comm *c, dlc_hier_layout *lay, dlc_err *err)
{
    if (lay->local)
        return lay->local;
    dlcoll_comm *lc = calloc(1, sizeof *lc);
    int *members = calloc((size_t)lay->L, sizeof *members);
    if (!lc || !members) {
        free(lc);
        free(members);
        dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    for (int j = 0; j < lay->L; j++)
        members[j] = c->members[dlc_rankmap_node(lay->map, j)];
    char suffix[24];
    snprintf(suffix, sizeof suffix, "host%d", lay->my_host);
    dlc_comm_view_init(lc, c, lay->my_local, lay->L, members, suffix);
    lc->all_local = 1; /* its members are this host's by construction */
    dlc_shm_comm *sc = dlc_shm_comm_get(lc);
    if (!sc) {
        free(lc);
        free(members);
        dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        return NULL;
    }
    sc->auto_use = 0;
    sc->name_tag = lay->my_host;
    lay->local = lc;
    return lc;
}

/* The slot's release hook: the layout and the hidden local communicator
 * (with what the shared-memory exchange keeps on it). */
static void hier_release(dlcoll_comm *c, void *state)
{
    dlc_hier_layout *lay = state;
    (void)c;
    if (lay->local) {
        dlc_comm_ext_release_all(lay->local);
        free(lay->local->members);
        free(lay->local);
    }
    free(lay);
}

/* ------------------------------------------------------------------ sub-requests */

typedef struct hier_state {
    dlc_ag_plan plan;
    dlc_hier_layout *lay;
    dlcoll_comm partners; /* the partner view (phase A); members = partners_w */
    int *partners_w;      /* [H] world ranks of (h', my_local) */
    int *a_map;           /* [H] output block of (h', my_local) */
    int *b_maps;          /* [H][L] output block of (h', q) */
    dlc_sub_op a;
    dlc_sub_op b;       /* the running phase-B exchange */
    int b_next;         /* phase-B exchanges finished (index into b_order of the next) */
    int b_ready;        /* b is prepared for exchange b_next */
    int *b_order;       /* [H]: my host first, then the others in order */
    dlc_tensor b_input; /* input of the running phase-B exchange */
} hier_state;

static void hier_destroy(void *state)
{
    hier_state *s = state;
    if (!s)
        return;
    dlc_sub_op_destroy(&s->a);
    dlc_sub_op_destroy(&s->b);
    dlc_comm_ext_release_all(&s->partners);
    free(s->partners_w);
    free(s->a_map);
    free(s->b_maps);
    free(s->b_order);
    dlc_ag_plan_free(&s->plan);
    free(s);
}

/* A copy of plan p for a sub-operation (its own outs array). */
static dlcoll_status_t sub_plan(const dlc_ag_plan *p, int n, int rank, const int *map,
                                dlc_ag_plan *out, dlc_err *err)
{
    *out = *p;
    out->n = n;
    out->rank = rank;
    out->block_map = map;
    out->borrowed = NULL; /* the copy owns its outs */
    out->outs = malloc((size_t)p->n_outs * sizeof *out->outs);
    if (!out->outs)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    memcpy(out->outs, p->outs, (size_t)p->n_outs * sizeof *out->outs);
    return DLCOLL_SUCCESS;
}

/* Prepare sub-operation so: algo over comm with plan (taken over). */
static dlcoll_status_t sub_prepare(dlcoll_request *parent, dlc_sub_op *so, const dlc_ag_algo *algo,
                                   dlc_ag_plan *plan, dlcoll_comm *comm, int *n_slots, dlc_err *err)
{
    void *state = NULL;
    int ns = 0;
    dlcoll_status_t st = algo->prepare(plan, &state, &ns, err);
    dlc_sub_op_init(so, parent, comm, algo->ops, state);
    if (n_slots)
        *n_slots = ns;
    return st;
}

/* ------------------------------------------------------------------ the algorithm */

static dlcoll_status_t hier_prepare(dlc_ag_plan *plan, void **state, int *n_slots, dlc_err *err)
{
    *state = NULL;
    *n_slots = 0;
    dlcoll_comm *c = plan->comm;
    dlc_hier_layout *lay = c ? layout_get(c) : NULL;
    hier_state *s = calloc(1, sizeof *s);
    if (!s || !lay || !lay->ok) {
        free(s);
        dlc_ag_plan_free(plan);
        return dlc_fail(err, lay && !lay->ok ? DLCOLL_ERR_INVALID_ARGUMENT : DLCOLL_ERR_SYSTEM,
                        lay && !lay->ok ? "hierarchical allgather: uneven hosts" : "out of memory");
    }
    s->plan = *plan;
    memset(plan, 0, sizeof *plan);
    *state = s;
    s->lay = lay;
    int H = lay->H, L = lay->L, me_h = lay->my_host;
    s->partners_w = calloc((size_t)H, sizeof *s->partners_w);
    s->a_map = calloc((size_t)H, sizeof *s->a_map);
    s->b_maps = calloc((size_t)H * (size_t)L, sizeof *s->b_maps);
    s->b_order = calloc((size_t)H, sizeof *s->b_order);
    dlcoll_status_t st = DLCOLL_SUCCESS;
    if (!s->partners_w || !s->a_map || !s->b_maps || !s->b_order) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        goto fail;
    }
    for (int h = 0; h < H; h++) {
        s->a_map[h] = dlc_rankmap_net(lay->map, h);
        s->partners_w[h] = c->members[s->a_map[h]];
        for (int q = 0; q < L; q++)
            s->b_maps[h * L + q] = lay->map->member[h * L + q];
    }
    s->b_order[0] = me_h;
    for (int h = 0, k = 1; h < H; h++)
        if (h != me_h)
            s->b_order[k++] = h;

    /* Phase A's view and sub-plan: H ranks, this rank is index me_h; its own
     * block is put in place by phase B's first exchange, so in place here. */
    dlcoll_comm *pc = &s->partners;
    dlc_comm_view_init(pc, c, me_h, H, s->partners_w, "partners");
    dlc_ag_plan ap;
    st = sub_plan(&s->plan, H, me_h, s->a_map, &ap, err);
    if (st != DLCOLL_SUCCESS)
        goto fail;
    ap.in_place = 1;
    ap.comm = pc;
    const dlc_ag_algo *aalgo = dlc_ag_choose_flat(s->plan.bytes, H);
    st = sub_prepare(NULL, &s->a, aalgo, &ap, pc, n_slots, err); /* takes ap over */
    if (st == DLCOLL_SUCCESS)
        return st;
fail:
    /* Nothing stays allocated (coll/coll.h): the state, its maps and the plan
     * (its outs, or its reference to the plan cache). */
    hier_destroy(s);
    *state = NULL;
    *n_slots = 0;
    return st;
}

/* Prepare phase-B exchange number k (host b_order[k]). */
static dlcoll_status_t start_b(dlcoll_request *r, hier_state *s, int k, dlc_err *err)
{
    dlc_hier_layout *lay = s->lay;
    int h = s->b_order[k];
    dlcoll_comm *lc = local_get(r->comm, lay, err);
    if (!lc)
        return err->status;
    dlc_ag_plan bp;
    dlcoll_status_t st =
        sub_plan(&s->plan, lay->L, lay->my_local, s->b_maps + h * lay->L, &bp, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    bp.comm = lc;
    if (h != lay->my_host) {
        /* The block received from the partner on host h, where it lies in the output. */
        size_t off;
        const dlc_tensor *t = dlc_ag_block(&bp, lay->my_local, &off);
        s->b_input = *t;
        if (s->plan.n_outs == 1) {
            s->b_input.base = t->base + off;
            s->b_input.nbytes = s->plan.bytes;
            s->b_input.numel = t->elem_size ? s->plan.bytes / t->elem_size : 0;
            s->b_input.ndim = 1;
            s->b_input.shape[0] = (int64_t)s->b_input.numel;
            s->b_input.strides[0] = 1;
            s->b_input.contiguous = 1;
        }
        bp.input = s->b_input;
    }
    bp.in_place = 1; /* the own block was placed by hier_start */
    dlc_sub_op_destroy(&s->b);
    return sub_prepare(r, &s->b, &dlc_ag_shm, &bp, lc, NULL, err);
}

/* Run the phase-B exchanges in order as far as they go: the first (this
 * host's own blocks) at once, the others once phase A is done. */
static dlcoll_status_t step_b(dlcoll_request *r, hier_state *s, int *progressed, dlc_err *err)
{
    while (s->b_next < s->lay->H) {
        if (!s->b_ready) {
            if (s->b_next > 0 && !s->a.done)
                return DLCOLL_IN_PROGRESS;
            dlcoll_status_t st = start_b(r, s, s->b_next, err);
            if (st != DLCOLL_SUCCESS)
                return st;
            s->b_ready = 1;
        }
        dlcoll_status_t st = dlc_sub_op_step(&s->b, progressed, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        s->b_ready = 0;
        s->b_next++;
    }
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t hier_start(dlcoll_request *r, dlc_err *err)
{
    hier_state *s = r->state;
    s->a.req.op_kind = r->op_kind;
    s->a.req.op_name = r->op_name;
    s->a.req.seq = r->seq;
    s->a.req.slots = r->slots;
    s->a.req.n_slots = r->n_slots;
    /* This rank's block in place first: phase A sends it from there while
     * the own host's exchange (which therefore runs in place) goes on. */
    dlcoll_status_t st = dlc_ag_place_own_block(&s->plan, NULL, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    int progressed = 0;
    st = step_b(r, s, &progressed, err);
    if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
        return st;
    st = dlc_sub_op_step(&s->a, &progressed, err);
    return st == DLCOLL_IN_PROGRESS ? DLCOLL_SUCCESS : st;
}

static dlcoll_status_t hier_advance(dlcoll_request *r, int *progressed, dlc_err *err)
{
    hier_state *s = r->state;
    if (!s->a.done) {
        dlcoll_status_t st = dlc_sub_op_step(&s->a, progressed, err);
        if (st != DLCOLL_SUCCESS && st != DLCOLL_IN_PROGRESS)
            return st;
    }
    dlcoll_status_t st = step_b(r, s, progressed, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    return s->a.done ? DLCOLL_SUCCESS : DLCOLL_IN_PROGRESS;
}

static int hier_blocker(const dlcoll_request *r, char *what, size_t cap)
{
    const hier_state *s = r->state;
    char sub[120] = "";
    int p = -1;
    const char *phase = "";
    if (s->a.started && !s->a.done && s->a.req.ops->blocker) {
        p = s->a.req.ops->blocker(&s->a.req, sub, sizeof sub);
        phase = "between hosts";
    }
    if (p < 0 && s->b_ready && s->b.started && !s->b.done && s->b.req.ops->blocker) {
        p = s->b.req.ops->blocker(&s->b.req, sub, sizeof sub);
        phase = "within the host";
    }
    if (p >= 0)
        snprintf(what, cap, "%s, %s", sub, phase);
    return p;
}

static void hier_cancel(dlcoll_request *r)
{
    hier_state *s = r->state;
    if (s && s->b_ready && s->b.started && !s->b.done && s->b.req.ops->cancel)
        s->b.req.ops->cancel(&s->b.req);
}

static const dlc_op_ops hier_ops = {
    .start = hier_start,
    .advance = hier_advance,
    .blocker = hier_blocker,
    .destroy = hier_destroy,
    .cancel = hier_cancel,
    .polled = 1,
};

const dlc_ag_algo dlc_ag_hier = {
    .name = "hier",
    .prepare = hier_prepare,
    .ops = &hier_ops,
};
