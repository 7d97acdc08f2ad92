/*
 * transport.h -- one libfabric RDM endpoint with tagged messages.
 *
 * A transport belongs to one world communicator and is shared by its groups.
 * It owns fabric, domain, endpoint, address vector and completion queue; the
 * provider-specific choices (hints, address format, MR mode, interface) come
 * from providers/.  Nothing outside transport.c and providers/ sees libfabric.
 *
 * Threading: not thread-safe; comm.c serialises all calls with its lock.
 *
 * Transfers: the caller owns a dlc_xfer (inside its operation state) and keeps
 * it alive until x->done is set by dlc_transport_progress() (or a cancel
 * completes).  Peers are world ranks, indexes into the address vector.
 */
#ifndef DLC_TRANSPORT_H
#define DLC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include "plugin/util/error.h"
#include "plugin/util/log.h"

#define DLC_MAX_ADDR 128 /* bytes of an endpoint name (fi_getname) */

typedef struct dlc_transport dlc_transport;

typedef struct dlc_xfer {
    unsigned char fi_ctx[64]; /* libfabric's per-operation context; must stay first */
    int done;                 /* set when the completion (or error) is read */
    int is_recv;
    int peer;               /* world rank */
    dlcoll_status_t status; /* DLCOLL_SUCCESS or the error */
    int truncated;          /* recv: the sender's message was longer than the buffer */
    int cancelled;          /* the operation was cancelled */
    size_t len;             /* recv: bytes received; with truncated: bytes the sender sent */
    uint64_t tag;           /* recv: the matched tag */
    uint64_t data;          /* recv: the sender's CQ data word */
    void *mr_desc;          /* transport's memory registration (providers that need it) */
    void *mr;
    char errtext[128]; /* provider's error text when status != SUCCESS */
} dlc_xfer;

/* Bitmask of providers usable on this host, for agreement across ranks.
 * Bits are indexes into providers' dlc_provider_list(). */
uint32_t dlc_transport_probe(const dlc_logger *lg);

typedef struct dlc_transport_params {
    const char *provider; /* short provider name, from the agreed choice ("shm", "tcp", ...) */
    const char *iface;    /* interface for IP providers ("lo", "eth0"), or NULL/"" */
    int rank;             /* world rank, for messages */
    const dlc_logger *lg;
} dlc_transport_params;

dlcoll_status_t dlc_transport_open(const dlc_transport_params *p, dlc_transport **out,
                                   dlc_err *err);

/* This endpoint's name; *len in/out. */
dlcoll_status_t dlc_transport_getname(dlc_transport *t, void *addr, size_t *len, dlc_err *err);

/* Insert n peers' names (addrs + i*addr_stride, lens[i] bytes); peer i becomes world rank i. */
dlcoll_status_t dlc_transport_insert_peers(dlc_transport *t, const uint8_t *addrs,
                                           size_t addr_stride, const size_t *lens, int n,
                                           dlc_err *err);

/* Post a tagged send of iov[0..iovcnt) to peer with CQ data `data`.
 * Returns DLCOLL_IN_PROGRESS when the provider has no room now (nothing was
 * posted: progress and retry), DLCOLL_SUCCESS when posted, else an error. */
dlcoll_status_t dlc_transport_send(dlc_transport *t, int peer, const struct iovec *iov, int iovcnt,
                                   uint64_t tag, uint64_t data, dlc_xfer *x, dlc_err *err);

/* Post a tagged receive from peer (peer < 0: any source) matching tag under ignore. */
dlcoll_status_t dlc_transport_recv(dlc_transport *t, int peer, const struct iovec *iov, int iovcnt,
                                   uint64_t tag, uint64_t ignore, dlc_xfer *x, dlc_err *err);

/* Read completions and mark their xfers done.  Returns the number handled
 * (>= 0) or a negative value with err set on a fatal CQ error. */
int dlc_transport_progress(dlc_transport *t, dlc_err *err);

/* Block up to timeout_us in the provider's wait object (or sleep briefly where
 * the provider has none) until a completion may be ready. */
void dlc_transport_wait(dlc_transport *t, int timeout_us);

/* Cancel a posted receive; its xfer completes (done, cancelled) in a later progress call. */
void dlc_transport_cancel(dlc_transport *t, dlc_xfer *x);

/* Largest iov count one message may have (>= 1). */
int dlc_transport_iov_limit(const dlc_transport *t);

/* Short provider name in use ("shm") and libfabric's full one ("tcp;ofi_rxm"). */
const char *dlc_transport_provider(const dlc_transport *t);
const char *dlc_transport_fi_provider(const dlc_transport *t);

void dlc_transport_close(dlc_transport *t);

#endif
