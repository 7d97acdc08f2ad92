/*
 * shm_seg.h -- the shared-memory segment of a communicator whose members all
 * run on this host (the "shm" allgather, coll/allgather/shm.c).
 *
 * One POSIX shared-memory object per communicator, named after the world's
 * nonce (rank 0's random number, published at init) and the communicator id,
 * so no two jobs or communicators ever share one.  Every member opens (or
 * creates) it at its first shm operation; group rank 0 unlinks the name once
 * every member has published in it (each has mapped it then), and every
 * member unlinks it when the communicator is freed, so nothing is left in
 * /dev/shm when an operation never completed, nor when a member came after
 * the others had left (it made a fresh object, which it unlinks).
 *
 * The header also carries the communicator's failure, written by its first
 * member to fail (the failure rule's channel: dlc_comm_ext_set_channel):
 * a member reads it before it completes any operation, so it never
 * completes one with the blocks of a member that failed it.
 *
 * Layout: a header, then one control block per member (two cache lines of its
 * own, written only by that member), then two data slots per member.
 *
 * Blocks move in rounds: a block that fits a data slot in one, a larger one
 * in slot-sized chunks, one per round.  Every round of every shm operation on
 * the communicator takes the next token (1, 2, 3, ...; the same sequence on
 * every member, since they run the same operations in the same order), and
 * round T uses slot T & 1 (double buffering: a rank fills its next slot while
 * its peers still read the previous one; before reusing a slot for token T it
 * waits until every peer is done with T - 2).
 *
 *   ctl[r].slot[k].token   the token whose block (or chunk) rank r has
 *                          published in slot k; release-stored after
 *                          everything else
 *   ctl[r].slot[k].revoked set to the token when r failed while readers could
 *                          still copy from its memory (CMA)
 *   ctl[r].slot[k].cqdata  op kind, dtype and per-rank bytes of that op
 *   ctl[r].slot[k].mode    inline (the bytes are in r's data slot k) or CMA
 *                          (readers copy from r's memory with
 *                          process_vm_readv: up to DLC_SHM_CMA_RUNS runs)
 *   ctl[r].done            the last token whose blocks (chunks) r has
 *                          finished reading (monotonic)
 *   ctl[r].pid, cookie_addr: for CMA: r's pid and the address of a cookie
 *                          equal to ctl[r].cookie in r's memory, so a reader
 *                          can verify that the pid is really that rank (it
 *                          could be another process when hosts share a name
 *                          but not a pid namespace).
 *   ctl[r].cma_state       IDENT once pid and cookie are written (release);
 *                          then r's verdict on the automatic use of CMA:
 *                          YES when r wants it (a core for every local rank)
 *                          and could read every peer's cookie with
 *                          process_vm_readv, else NO.  The communicator uses
 *                          CMA automatically only when every verdict is YES,
 *                          so all members decide alike (dlc_shm_seg_cma_agree).
 */
#ifndef DLC_SHM_SEG_H
#define DLC_SHM_SEG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/core/comm.h"

#define DLC_SHM_CMA_RUNS 8 /* runs a CMA source may publish */
enum { DLC_SHM_INLINE = 1, DLC_SHM_CMA = 2 };
enum { DLC_SHM_CMA_IDENT = 1, DLC_SHM_CMA_YES = 2, DLC_SHM_CMA_NO = 3 };

typedef struct dlc_shm_slot_ctl {
    /* Token, mode and CQ data in one cache line: a reader of a small block
     * fetches this line and the data's. */
    _Alignas(64) _Atomic uint64_t token;
    _Atomic uint64_t revoked; /* = token: the owner failed, its memory is no longer valid */
    uint32_t mode;
    uint32_t pad0;
    uint64_t cqdata;
    uint32_t n_runs; /* CMA */
    uint32_t pad;
    uint64_t run_addr[DLC_SHM_CMA_RUNS];
    uint64_t run_len[DLC_SHM_CMA_RUNS];
} dlc_shm_slot_ctl;

typedef struct dlc_shm_ctl {
    _Alignas(128) _Atomic uint64_t done;
    int32_t pid;
    int32_t pad0;
    uint64_t cookie;
    uint64_t cookie_addr;
    _Atomic uint32_t cma_state; /* DLC_SHM_CMA_IDENT / _YES / _NO */
    uint32_t pad1;
    dlc_shm_slot_ctl slot[2];
} dlc_shm_ctl;

typedef struct dlc_shm_seg {
    char name[96];
    void *base;
    size_t size;
    int n, rank;       /* communicator size, this member */
    size_t slot_bytes; /* bytes of one data slot */
    dlc_shm_ctl *ctl;  /* [n] */
    uint8_t *data;     /* [n][2][slot_bytes] */
    int unlinked;
    uint64_t last_token;   /* the last token handed out (0: none yet; 64 bits never wrap) */
    uint64_t my_cookie;    /* the cookie ctl[rank].cookie_addr points at */
    uint8_t *cma_verified; /* [n]: the peer's pid was checked by its cookie */
    int cma_wanted;        /* this member's wish for automatic CMA */
    int cma_probed;        /* this member's verdict is published */
    int cma_agreed;        /* 0: not yet known, 1: every verdict YES, -1: not */
    int cma_logged;        /* the agreement was logged (DLCOLL_DEBUG=INFO) */
} dlc_shm_seg;

/* What a communicator keeps for the shared-memory exchange (its slot
 * DLC_COLL_EXT_SHM). */
typedef struct dlc_shm_comm {
    dlc_shm_seg *seg; /* mapped at the first shm op */
    int auto_use;     /* -1 not decided yet, else whether "auto" uses it (coll/select.c) */
    int name_tag;     /* >= 0: part of the segment's name (a host's local group) */
} dlc_shm_comm;

/* c's dlc_shm_comm, made at the first call; NULL when out of memory. */
dlc_shm_comm *dlc_shm_comm_get(dlcoll_comm *c);

/* The segment of c, mapping it at the first call.  Fails (with the system's
 * cause) when the object cannot be created, sized or mapped, or when an
 * object of that name has another layout. */
dlcoll_status_t dlc_shm_seg_get(dlcoll_comm *c, dlc_shm_seg **out, dlc_err *err);


/* Whether the members agree to use CMA automatically: 1 yes, 0 no, -1 not
 * known yet (a peer has not published its verdict; call again).  Publishes
 * this member's verdict first when every peer's identity is there (probing
 * each peer with a CMA read of its cookie).  *waiting_for: a member whose
 * identity or verdict is missing. */
int dlc_shm_seg_cma_agree(dlc_shm_seg *s, int *waiting_for);

/* Slots are this far apart beyond their size, so that slots of a power-of-two
 * size do not all start in the same cache sets. */
#define DLC_SHM_SLOT_STAGGER ((size_t)16448) /* 16 KiB + one cache line */

/* Data slot k of member r. */
static inline uint8_t *dlc_shm_slot_data(const dlc_shm_seg *s, int r, int k)
{
    return s->data + ((size_t)r * 2 + (size_t)k) * (s->slot_bytes + DLC_SHM_SLOT_STAGGER);
}

/* Unlink the name (once; every member has mapped it, or the communicator is freed). */
void dlc_shm_seg_unlink(dlc_shm_seg *s);


/* Per-rank bytes a data slot holds for a communicator of n members (larger
 * when the host has more ranks than CPUs: fewer rounds); `configured`
 * (DLCOLL_SHM_SLOT_BYTES, 0 = automatic) overrides it. */
size_t dlc_shm_slot_bytes_for(int n, int oversubscribed, size_t configured);

#endif
