/*
 * coll/allgather/wire.h -- how an allgather's blocks meet the transport (ring, direct):
 * each block either directly over its contiguous runs (one iov entry per
 * run, when there are at most the provider's iov limit of them) or staged in
 * a block-sized bounce buffer; and putting this rank's input in place.
 */
#ifndef DLC_AG_WIRE_H
#define DLC_AG_WIRE_H

#include <sys/uio.h>

#include "plugin/coll/coll.h"

typedef struct dlc_wire_block {
    struct iovec *iov; /* the block's runs, or one entry over bounce (in the shared iov array) */
    int iovcnt;        /* 0 for an empty block */
    uint8_t *bounce;   /* staged block, NULL when direct */
    int present;       /* the block's bytes are in place (algorithms' own use) */
} dlc_wire_block;

/* Decide how each of p's n blocks travels and allocate *blocks [n] and the
 * iov entries of all of them (*iovs, one array).  On failure what was
 * allocated is left in *blocks / *iovs for dlc_wire_blocks_free. */
dlcoll_status_t dlc_wire_blocks_new(const dlc_ag_plan *p, int iov_limit, dlc_wire_block **blocks,
                                    struct iovec **iovs, dlc_err *err);
void dlc_wire_blocks_free(dlc_wire_block *blocks, struct iovec *iovs, int n);

/* Copy p's input into this rank's block of the output (unless in place), and
 * the block into bounce when that is not NULL (a staged own block). */
dlcoll_status_t dlc_ag_place_own_block(const dlc_ag_plan *p, uint8_t *bounce, dlc_err *err);

#endif
