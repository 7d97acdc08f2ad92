/*
 * coll/allgather/wire.c -- blocks over iov entries or bounce buffers, and the own block
 * (coll/allgather/wire.h).
 */
#include <stdlib.h>

#include "plugin/coll/allgather/wire.h"

/* for_runs callback: append one run to an iov array. */
typedef struct iov_fill {
    struct iovec *iov;
    int n;
} iov_fill;

static int add_run(void *ctx, uint8_t *ptr, size_t n)
{
    iov_fill *f = ctx;
    f->iov[f->n].iov_base = ptr;
    f->iov[f->n].iov_len = n;
    f->n++;
    return 0;
}

dlcoll_status_t dlc_wire_blocks_new(const dlc_ag_plan *p, int iov_limit, dlc_wire_block **blocks,
                                    struct iovec **iovs, dlc_err *err)
{
    *iovs = NULL;
    dlc_wire_block *bs = *blocks = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *bs);
    if (!bs)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    size_t off, bytes = p->bytes, total = 0;
    for (int i = 0; i < p->n; i++) {
        dlc_wire_block *b = &bs[i];
        const dlc_tensor *t = dlc_ag_block(p, i, &off);
        size_t runs = bytes ? dlc_tensor_run_count(t, off, bytes) : 0;
        if (runs <= (size_t)iov_limit) {
            b->iovcnt = (int)runs;
        } else {
            b->iovcnt = 1;
            b->bounce = malloc(bytes);
            if (!b->bounce)
                return dlc_fail(err, DLCOLL_ERR_SYSTEM,
                                "out of memory for a %zu-byte staging buffer", bytes);
        }
        total += (size_t)b->iovcnt;
    }
    struct iovec *next = *iovs = malloc((total ? total : 1) * sizeof **iovs);
    if (!next)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    for (int i = 0; i < p->n; i++) {
        dlc_wire_block *b = &bs[i];
        b->iov = next;
        next += b->iovcnt;
        if (b->bounce) {
            b->iov[0].iov_base = b->bounce;
            b->iov[0].iov_len = bytes;
        } else if (b->iovcnt > 0) {
            iov_fill f = {b->iov, 0};
            const dlc_tensor *t = dlc_ag_block(p, i, &off);
            dlc_tensor_for_runs(t, off, bytes, add_run, &f);
        }
    }
    return DLCOLL_SUCCESS;
}

void dlc_wire_blocks_free(dlc_wire_block *blocks, struct iovec *iovs, int n)
{
    if (blocks)
        for (int i = 0; i < n; i++)
            free(blocks[i].bounce);
    free(blocks);
    free(iovs);
}

dlcoll_status_t dlc_ag_place_own_block(const dlc_ag_plan *p, uint8_t *bounce, dlc_err *err)
{
    size_t off, bytes = p->bytes;
    const dlc_tensor *t = dlc_ag_block(p, p->rank, &off);
    if (bytes == 0)
        return DLCOLL_SUCCESS;
    if (!p->in_place) {
        if (p->input.contiguous) {
            dlc_tensor_unpack(t, off, bytes, p->input.base);
        } else if (t->contiguous) {
            dlc_tensor_pack(&p->input, 0, bytes, t->base + off);
        } else {
            /* Both strided: through the bounce buffer (or a temporary). */
            uint8_t *tmp = bounce ? bounce : malloc(bytes);
            if (!tmp)
                return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for a %zu-byte copy", bytes);
            dlc_tensor_pack(&p->input, 0, bytes, tmp);
            dlc_tensor_unpack(t, off, bytes, tmp);
            if (tmp != bounce)
                free(tmp);
        }
    }
    if (bounce)
        dlc_tensor_pack(t, off, bytes, bounce);
    return DLCOLL_SUCCESS;
}
