/*
 * coll/gathered.c -- the gathered path of allreduce, reduce_scatter and
 * broadcast for small calls (coll/phases.h).
 *
 * The ring path costs 2 (N-1) messages in sequence, each a round trip
 * through the transport.  For a small call it is cheaper for every rank to
 * receive every rank's whole contribution and compute the result itself:
 *   - up to DLC_AGREE_INLINE bytes the contributions ride in the agreement's
 *     blocks, so the whole call is one exchange, on any communicator;
 *   - up to DLC_GATHERED_MAX bytes, on a communicator whose allgathers go
 *     through the shared segment, one more allgather phase moves them.
 * Either way the exchange happens after (or with) the agreement, and the
 * result is computed only once the descriptions matched.
 *
 * The result is the same bits as the ring path's: block b of the elements
 * (the ring's blocks, ph->off) is reduced in the ring's order
 *     ((x_{b+1} (op) x_{b+2}) (op) ...) (op) x_b
 * with the same kernels (first by rank b+1's factor, accum by each next
 * rank's, final by b's), so it does not depend on the path, the timing, or
 * which rank computes it (docs/abi.md section 15).
 */
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/phases.h"

dlcoll_status_t dlc_gathered_fits(dlcoll_comm *c, size_t bytes, int *fits, dlc_err *err)
{
    long long set = c->w->settings.gathered_max;
    size_t max = set < 0 ? DLC_GATHERED_MAX : (size_t)set;
    *fits = 0;
    if (bytes > max)
        return DLCOLL_SUCCESS;
    if (bytes <= DLC_AGREE_INLINE) {
        *fits = 1;
        return DLCOLL_SUCCESS;
    }
    if (c->size < 2)
        return DLCOLL_SUCCESS;
    return dlc_barrier_uses_shm(c, fits, err);
}

dlcoll_status_t dlc_gathered_submit(dlcoll_comm *c, const char *op_name, dlc_phases *ph,
                                    uint64_t cqdata, dlcoll_request **out, dlc_err *err)
{
    dlc_gathered *g = &ph->gath;
    ph->gathered = 1;
    ph->n = 1;
    g->inline_data = g->bytes <= DLC_AGREE_INLINE;
    dlcoll_status_t st = DLCOLL_SUCCESS;
    if (g->op_kind != DLC_OP_BROADCAST && g->block > 0 &&
        !(g->acc = malloc(g->block * g->red.acc_size)))
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the partial results (%zu bytes)",
                      g->block * g->red.acc_size);
    if (st == DLCOLL_SUCCESS && !g->inline_data) {
        size_t total = (size_t)c->size * g->bytes;
        void *gstate = NULL;
        int gn = 0;
        if (!(g->all = malloc(total)))
            st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for the contributions (%zu bytes)",
                          total);
        else
            st = dlc_bytes_gather_prepare(c, &g->g, g->mine, g->bytes, g->all, &gstate, &gn, err);
        if (st == DLCOLL_SUCCESS) {
            dlc_sub_op_init(&ph->sub[1], NULL, c, g->g.algo->ops, gstate);
            ph->n_slots[1] = gn;
            ph->polled[1] = g->g.algo->ops->polled;
            ph->what[1] = "gather of the contributions";
            ph->n = 2;
        }
    }
    if (st != DLCOLL_SUCCESS) {
        dlc_phases_free(ph);
        return st;
    }
    ph->agree.mine.factor = g->red.factor;
    ph->agree.mine.desc.path = g->inline_data ? DLC_PATH_INLINE : DLC_PATH_GATHERED;
    return dlc_phases_submit(c, g->op_kind, op_name, g->inline_data ? "inline" : "gathered", ph,
                             cqdata, out, err);
}

static const uint8_t *contribution(const dlc_phases *ph, int j)
{
    const dlc_gathered *g = &ph->gath;
    return g->inline_data ? ph->agree.all[j].data : g->all + (size_t)j * g->bytes;
}

/* Block b of the reduction into dst, in the ring's order. */
static void reduce_block(const dlc_phases *ph, int n, int b, uint8_t *dst)
{
    const dlc_gathered *g = &ph->gath;
    size_t cnt = ph->off[b + 1] - ph->off[b], at = ph->off[b] * g->red.elem_size;
    if (cnt == 0)
        return;
    dlc_red r = g->red;
    if (n == 1) {
        r.factor = ph->agree.all[0].factor;
        r.k->final(&r, dst, NULL, contribution(ph, 0) + at, cnt);
        return;
    }
    int j = dlc_mod(b + 1, n);
    r.factor = ph->agree.all[j].factor;
    r.k->first(&r, g->acc, contribution(ph, j) + at, cnt);
    for (int k = 2; k < n; k++) {
        j = dlc_mod(b + k, n);
        r.factor = ph->agree.all[j].factor;
        r.k->accum(&r, g->acc, contribution(ph, j) + at, cnt);
    }
    r.factor = ph->agree.all[b].factor;
    r.k->final(&r, dst, g->acc, contribution(ph, b) + at, cnt);
}

void dlc_gathered_finish(dlc_phases *ph, const dlcoll_comm *c)
{
    const dlc_gathered *g = &ph->gath;
    int n = c->size;
    switch (g->op_kind) {
    case DLC_OP_BROADCAST:
        if (c->rank != g->root && g->bytes > 0)
            memcpy(g->out, contribution(ph, g->root), g->bytes);
        break;
    case DLC_OP_REDUCE_SCATTER: reduce_block(ph, n, c->rank, g->out); break;
    default: /* allreduce: every block, into its place in the tensor */
        for (int b = 0; b < n; b++)
            reduce_block(ph, n, b, g->out + ph->off[b] * g->red.elem_size);
        break;
    }
}
