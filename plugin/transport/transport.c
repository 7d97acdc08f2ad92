/*
 * transport.c -- one libfabric RDM endpoint with tagged messages.
 *
 * Life of a transport:
 *   open:  libfabric loaded (fabric_lib.c) -> fi_getinfo -> fabric -> domain -> AV (table)
 *          -> CQ (tagged format, fd wait object when offered) -> endpoint
 *          -> bind AV and CQ -> enable
 *   use:   getname, insert_peers (peer i = fi_addr i = world rank i),
 *          send / recv (fi_tsendmsg / fi_trecvmsg with the dlc_xfer as the
 *          operation context), progress (fi_cq_read), wait, cancel
 *   close: endpoint first (drops pending operations), then the memory
 *          registrations still held, CQ, AV, domain, fabric.
 *
 * Memory registration: providers whose mr_mode asks for it (verbs, efa) get
 * each transfer's buffers registered at post time; the registrations hang off
 * the xfer (x->mr, x->mr_desc) and are released when its completion is read.
 * Outstanding ones are also kept on a list so close() can release them.
 *
 * Truncation: providers disagree on it (libfabric 1.17's shm reports FI_EIO
 * for short messages and never completes long ones; tcp;ofi_rxm reports len 0
 * for eager messages).  So where no registration is needed, every receive
 * gets one more iov entry: a large, lazily backed "overflow sink" mapping.  A
 * message longer than the caller's buffer then completes normally with its
 * full length, the excess lands in the sink (never past the caller's buffer),
 * and the transport reports truncated / DLCOLL_ERR_MISMATCH itself, then
 * gives the touched sink pages back.  Providers that need registration cannot
 * use the sink and rely on the provider's FI_ETRUNC.
 *
 * Guest: probe and open run libfabric's provider start-up code, which may
 * change the host's signal dispositions; both are bracketed by
 * dlc_guest_save/restore (guest.h).
 *
 * Not thread-safe: the caller serialises every call (FI_THREAD_DOMAIN).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>

#include "plugin/transport/fabric_lib.h"
#include "plugin/util/guest.h"
#include "plugin/transport/transport.h"
#include "providers/provider.h"

/* The xfer itself is the libfabric context: FI_CONTEXT / FI_CONTEXT2 mode
 * lets the provider use the first bytes of it. */
_Static_assert(sizeof(((dlc_xfer *)0)->fi_ctx) >= sizeof(struct fi_context2),
               "dlc_xfer.fi_ctx must hold a struct fi_context2");
_Static_assert(offsetof(dlc_xfer, fi_ctx) == 0, "dlc_xfer.fi_ctx must be the first member");
_Static_assert(_Alignof(dlc_xfer) >= _Alignof(struct fi_context2),
               "dlc_xfer must be aligned for struct fi_context2");

#define DLC_FI_VERSION FI_VERSION(1, 9) /* FI_CONTEXT2, tagged CQ data, FI_MR_* bits */
#define DLC_IOV_CAP 16                  /* most iov entries one message may carry */
#define DLC_CQ_BATCH 16                 /* completions read per fi_cq_read */
#define DLC_CQ_ROUNDS 64                /* most batches one progress call reads */
#define DLC_IDLE_SLEEP_US 100           /* longest nap of wait() when it cannot block on an fd */

/* Registrations of one transfer's buffers (providers needing FI_MR_LOCAL etc.). */
typedef struct mr_set {
    struct mr_set *prev, *next; /* on the transport's list of outstanding sets */
    int count;
    struct fid_mr *mr[DLC_IOV_CAP];
    void *desc[DLC_IOV_CAP];
} mr_set;

struct dlc_transport {
    const dlc_provider *prov;
    const dlc_logger *lg; /* the caller's; outlives the transport */
    int rank;
    char iface[64]; /* requested interface, "" if none */
    struct fi_info *info;
    struct fid_fabric *fabric;
    struct fid_domain *domain;
    struct fid_av *av;
    struct fid_cq *cq;
    struct fid_ep *ep;
    int wait_fd; /* CQ's file descriptor, -1 when it has none */
    int npeers;  /* addresses inserted into the AV */
    int iov_limit;
    int need_mr; /* register buffers per transfer */
    void *sink;  /* overflow sink (see the top of the file), or NULL */
    size_t sink_len;
    uint64_t next_key; /* requested keys for fi_mr_reg (unused with FI_MR_PROV_KEY) */
    mr_set mr_list;    /* sentinel of outstanding registrations */
};

/* ------------------------------------------------------------------ hints */

/* The hints shared by probe and open, adjusted by the provider's file. */
static struct fi_info *make_hints(const dlc_provider *prov, const char *iface)
{
    struct fi_info *h = dlc_fi.dupinfo(NULL);
    if (!h)
        return NULL;
    h->caps = FI_TAGGED | FI_DIRECTED_RECV;
    h->mode = FI_CONTEXT | FI_CONTEXT2;
    h->ep_attr->type = FI_EP_RDM;
    h->domain_attr->threading = FI_THREAD_DOMAIN;
    h->domain_attr->av_type = FI_AV_TABLE;
    /* cq_data_size is not a hint: pick_info() checks it, so a provider with
     * less than 8 bytes gets a clear refusal rather than "no data". */
    h->fabric_attr->prov_name = strdup(prov->fi_name);
    if (!h->fabric_attr->prov_name) {
        dlc_fi.freeinfo(h);
        return NULL;
    }
    if (prov->tune_hints)
        prov->tune_hints(h, iface);
    return h;
}

/* First entry with 8 bytes of CQ data; for IP providers, the one whose domain
 * is the requested interface when there is one. */
static struct fi_info *pick_info(struct fi_info *list, const dlc_provider *prov, const char *iface)
{
    struct fi_info *first = NULL;
    for (struct fi_info *i = list; i; i = i->next) {
        if (i->domain_attr->cq_data_size < sizeof(uint64_t))
            continue;
        if (!first)
            first = i;
        if (prov->uses_ip_iface && iface && i->domain_attr->name &&
            strcmp(i->domain_attr->name, iface) == 0)
            return i;
    }
    return first;
}

/* ------------------------------------------------------------------ probe */

uint32_t dlc_transport_probe(const dlc_logger *lg)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int probed;
    static uint32_t mask;

    pthread_mutex_lock(&lock);
    dlc_err err;
    if (!probed && dlc_fabric_acquire(lg, &err) != DLCOLL_SUCCESS) {
        /* Not remembered as probed: the mask stays 0 and init says why. */
        DLC_INFO(lg, "transport: no provider usable: %s", err.msg);
    } else if (!probed) {
        dlc_guest_state g;
        dlc_guest_save(&g);
        int n;
        const dlc_provider *const *list = dlc_provider_list(&n);
        char usable[256] = "";
        size_t used = 0;
        for (int i = 0; i < n && i < 32; i++) {
            struct fi_info *hints = make_hints(list[i], NULL), *info = NULL;
            if (!hints)
                continue;
            int ret = dlc_fi.getinfo(DLC_FI_VERSION, NULL, NULL, 0, hints, &info);
            dlc_fi.freeinfo(hints);
            if (ret == 0 && pick_info(info, list[i], NULL)) {
                mask |= UINT32_C(1) << i;
                int w = snprintf(usable + used, sizeof usable - used, "%s%s", used ? ", " : "",
                                 list[i]->name);
                if (w > 0 && (size_t)w < sizeof usable - used)
                    used += (size_t)w;
            } else {
                DLC_TRACE(lg, "transport: provider %s (%s) not usable here: %s", list[i]->name,
                          list[i]->fi_name,
                          ret ? dlc_fi.strerror(-ret) : "no 8-byte remote CQ data");
            }
            dlc_fi.freeinfo(info);
        }
        probed = 1;
        dlc_guest_restore(&g, lg, "probing the libfabric providers");
        dlc_fabric_release(lg);
        DLC_INFO(lg, "transport: providers usable on this host: %s (mask 0x%" PRIx32 ")",
                 used ? usable : "none", mask);
    }
    uint32_t result = mask;
    pthread_mutex_unlock(&lock);
    return result;
}

/* ------------------------------------------------------------------ open / close */

/* Record a failed libfabric call during open. */
static dlcoll_status_t open_failed(dlc_err *err, const dlc_transport *t, const char *call, int ret)
{
    return dlc_fail(err, DLCOLL_ERR_TRANSPORT, "provider %s (%s): %s failed: %s", t->prov->name,
                    t->prov->fi_name, call, dlc_fi.strerror(ret < 0 ? -ret : ret));
}

/* Open the CQ with an fd wait object when the provider has one, else none. */
static int open_cq(dlc_transport *t, const char **wait_name)
{
    struct fi_cq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.format = FI_CQ_FORMAT_TAGGED;
    attr.wait_obj = FI_WAIT_FD;
    int ret = fi_cq_open(t->domain, &attr, &t->cq, NULL);
    if (ret == 0) {
        int fd = -1;
        if (fi_control(&t->cq->fid, FI_GETWAIT, &fd) == 0 && fd >= 0) {
            t->wait_fd = fd;
            *wait_name = "fd";
            return 0;
        }
        /* An fd we cannot get is no use: reopen without a wait object. */
        fi_close(&t->cq->fid);
        t->cq = NULL;
    }
    /* FI_WAIT_UNSPEC is not tried: its object's type is unknown, so it could
     * not be polled; wait() sleeps briefly instead. */
    attr.wait_obj = FI_WAIT_NONE;
    *wait_name = "none (sleep)";
    return fi_cq_open(t->domain, &attr, &t->cq, NULL);
}

/* Reserve the overflow sink: address space only, backed by memory when a
 * too-long message actually writes into it.  Returns 1 when reserved. */
static int open_sink(dlc_transport *t)
{
    static const size_t sizes[] = {(size_t)1 << 40, (size_t)1 << 36, (size_t)1 << 32,
                                   (size_t)1 << 28};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            continue;
        (void)madvise(p, sizes[i], MADV_DONTDUMP); /* keep core dumps small */
        t->sink = p;
        t->sink_len = sizes[i];
        return 1;
    }
    DLC_INFO(t->lg, "transport: no address space for the overflow sink; relying on the "
                    "provider to report truncation");
    return 0;
}

/* Give back the sink pages a too-long message touched. */
static void sink_release(dlc_transport *t, size_t used)
{
    (void)madvise(t->sink, used < t->sink_len ? used : t->sink_len, MADV_DONTNEED);
}

static dlcoll_status_t open_guarded(const dlc_transport_params *p, const dlc_provider *prov,
                                    dlc_transport **out, dlc_err *err);

dlcoll_status_t dlc_transport_open(const dlc_transport_params *p, dlc_transport **out, dlc_err *err)
{
    *out = NULL;
    const dlc_provider *prov = dlc_provider_find(p->provider);
    if (!prov)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "transport: unknown provider '%s'",
                        p->provider ? p->provider : "(null)");
    dlcoll_status_t st = dlc_fabric_acquire(p->lg, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    dlc_guest_state g;
    dlc_guest_save(&g);
    st = open_guarded(p, prov, out, err); /* on failure, its close released the reference */
    dlc_guest_restore(&g, p->lg, "starting the libfabric provider");
    return st;
}

/* dlc_transport_open once libfabric is loaded, inside the guest bracket. */
static dlcoll_status_t open_guarded(const dlc_transport_params *p, const dlc_provider *prov,
                                    dlc_transport **out, dlc_err *err)
{
    dlc_transport *t = calloc(1, sizeof *t);
    if (!t) {
        dlc_fabric_release(p->lg);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "transport: out of memory");
    }
    t->prov = prov;
    t->lg = p->lg;
    t->rank = p->rank;
    t->wait_fd = -1;
    t->next_key = 1;
    t->mr_list.prev = t->mr_list.next = &t->mr_list;
    if (p->iface)
        snprintf(t->iface, sizeof t->iface, "%s", p->iface);
    const char *iface = t->iface[0] ? t->iface : NULL;

    dlcoll_status_t st;
    struct fi_info *hints = make_hints(prov, iface), *list = NULL;
    if (!hints) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "transport: out of memory");
        goto fail;
    }
    int ret = dlc_fi.getinfo(DLC_FI_VERSION, NULL, NULL, 0, hints, &list);
    dlc_fi.freeinfo(hints);
    if (ret != 0) {
        st = dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                      "provider %s (%s) is not usable on this host%s%s: fi_getinfo: %s", prov->name,
                      prov->fi_name, iface ? " with interface " : "", iface ? iface : "",
                      dlc_fi.strerror(-ret));
        goto fail;
    }
    struct fi_info *chosen = pick_info(list, prov, iface);
    if (!chosen) {
        st = dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                      "provider %s (%s) offers only %zu bytes of remote CQ data; dlcoll needs 8",
                      prov->name, prov->fi_name, list->domain_attr->cq_data_size);
        dlc_fi.freeinfo(list);
        goto fail;
    }
    t->info = dlc_fi.dupinfo(chosen);
    dlc_fi.freeinfo(list);
    if (!t->info) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "transport: out of memory");
        goto fail;
    }
    int mr_mode = t->info->domain_attr->mr_mode;
    size_t sink_slots = 0;
    t->need_mr = (mr_mode & (FI_MR_LOCAL | FI_MR_HMEM | FI_MR_PROV_KEY)) != 0;

    if ((ret = dlc_fi.fabric(t->info->fabric_attr, &t->fabric, NULL)) != 0) {
        st = open_failed(err, t, "fi_fabric", ret);
        goto fail;
    }
    if ((ret = fi_domain(t->fabric, t->info, &t->domain, NULL)) != 0) {
        st = open_failed(err, t, "fi_domain", ret);
        goto fail;
    }
    struct fi_av_attr av_attr;
    memset(&av_attr, 0, sizeof av_attr);
    av_attr.type = FI_AV_TABLE;
    if ((ret = fi_av_open(t->domain, &av_attr, &t->av, NULL)) != 0) {
        st = open_failed(err, t, "fi_av_open", ret);
        goto fail;
    }
    const char *wait_name = "none";
    if ((ret = open_cq(t, &wait_name)) != 0) {
        st = open_failed(err, t, "fi_cq_open", ret);
        goto fail;
    }
    if ((ret = fi_endpoint(t->domain, t->info, &t->ep, NULL)) != 0) {
        st = open_failed(err, t, "fi_endpoint", ret);
        goto fail;
    }
    if ((ret = fi_ep_bind(t->ep, &t->av->fid, 0)) != 0) {
        st = open_failed(err, t, "binding the address vector", ret);
        goto fail;
    }
    if ((ret = fi_ep_bind(t->ep, &t->cq->fid, FI_TRANSMIT | FI_RECV)) != 0) {
        st = open_failed(err, t, "binding the completion queue", ret);
        goto fail;
    }
    if ((ret = fi_enable(t->ep)) != 0) {
        st = open_failed(err, t, "fi_enable", ret);
        goto fail;
    }

    size_t lim = t->info->tx_attr->iov_limit;
    if (t->info->rx_attr->iov_limit < lim)
        lim = t->info->rx_attr->iov_limit;
    if (!t->need_mr && lim >= 2 && open_sink(t))
        sink_slots = 1; /* the sink takes one receive iov entry */
    lim -= sink_slots;
    if (lim > DLC_IOV_CAP)
        lim = DLC_IOV_CAP;
    t->iov_limit = lim < 1 ? 1 : (int)lim;

    DLC_INFO(t->lg,
             "transport: provider %s (%s), fabric %s, domain %s, iface %s, mr_mode [%s]%s, "
             "inject %zu B, iov_limit %d, cq wait %s, truncation %s",
             prov->name, t->info->fabric_attr->prov_name ? t->info->fabric_attr->prov_name : "?",
             t->info->fabric_attr->name ? t->info->fabric_attr->name : "?",
             t->info->domain_attr->name ? t->info->domain_attr->name : "?",
             iface ? iface : "(provider default)", dlc_fi.tostr(&mr_mode, FI_TYPE_MR_MODE),
             t->need_mr ? " (registering each transfer)" : "", t->info->tx_attr->inject_size,
             t->iov_limit, wait_name,
             t->sink ? "detected by dlcoll (overflow sink)" : "by provider");
    *out = t;
    return DLCOLL_SUCCESS;

fail:
    dlc_transport_close(t);
    return st;
}

static void release_mr(dlc_transport *t, dlc_xfer *x);

void dlc_transport_close(dlc_transport *t)
{
    if (!t)
        return;
    /* The endpoint goes first so nothing refers to buffers or registrations. */
    if (t->ep)
        fi_close(&t->ep->fid);
    while (t->mr_list.next != &t->mr_list) {
        mr_set *s = t->mr_list.next;
        dlc_xfer fake;
        memset(&fake, 0, sizeof fake);
        fake.mr = s;
        release_mr(t, &fake);
    }
    if (t->cq)
        fi_close(&t->cq->fid);
    if (t->av)
        fi_close(&t->av->fid);
    if (t->domain)
        fi_close(&t->domain->fid);
    if (t->fabric)
        fi_close(&t->fabric->fid);
    if (t->info)
        dlc_fi.freeinfo(t->info);
    if (t->sink)
        munmap(t->sink, t->sink_len);
    const dlc_logger *lg = t->lg;
    free(t);
    dlc_fabric_release(lg); /* the reference dlc_transport_open took */
}

/* ------------------------------------------------------------------ addresses */

dlcoll_status_t dlc_transport_getname(dlc_transport *t, void *addr, size_t *len, dlc_err *err)
{
    size_t cap = *len;
    int ret = fi_getname(&t->ep->fid, addr, len);
    if (ret == -FI_ETOOSMALL)
        return dlc_fail(err, DLCOLL_ERR_INTERNAL,
                        "transport: endpoint name needs %zu bytes, buffer has %zu", *len, cap);
    if (ret != 0)
        return dlc_fail(err, DLCOLL_ERR_TRANSPORT, "transport: fi_getname failed: %s",
                        dlc_fi.strerror(-ret));
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_transport_insert_peers(dlc_transport *t, const uint8_t *addrs,
                                           size_t addr_stride, const size_t *lens, int n,
                                           dlc_err *err)
{
    if (t->npeers != 0)
        return dlc_fail(err, DLCOLL_ERR_INTERNAL, "transport: peers were already inserted");
    for (int i = 0; i < n; i++) {
        /* Copy into a zeroed buffer so string formats (shm) are terminated. */
        unsigned char name[DLC_MAX_ADDR + 1];
        if (lens[i] == 0 || lens[i] > DLC_MAX_ADDR)
            return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                            "transport: rank %d's endpoint name has %zu bytes (expected 1..%d)", i,
                            lens[i], DLC_MAX_ADDR);
        memset(name, 0, sizeof name);
        memcpy(name, addrs + (size_t)i * addr_stride, lens[i]);
        fi_addr_t fa = FI_ADDR_NOTAVAIL;
        int ret = fi_av_insert(t->av, name, 1, &fa, 0, NULL);
        if (ret != 1)
            return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                            "transport: adding rank %d's address to the address vector failed: %s",
                            i, ret < 0 ? dlc_fi.strerror(-ret) : "address not accepted");
        if (fa != (fi_addr_t)i)
            return dlc_fail(err, DLCOLL_ERR_INTERNAL,
                            "transport: rank %d got fabric address %" PRIu64 ", expected %d", i,
                            (uint64_t)fa, i);
        t->npeers++;
    }
    DLC_TRACE(t->lg, "transport: inserted %d peer addresses", n);
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ memory registration */

static void release_mr(dlc_transport *t, dlc_xfer *x)
{
    mr_set *s = x->mr;
    if (!s)
        return;
    for (int i = 0; i < s->count; i++)
        if (s->mr[i])
            fi_close(&s->mr[i]->fid);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    free(s);
    x->mr = NULL;
    x->mr_desc = NULL;
}

/* Register each non-empty iov entry; descriptors go to x->mr_desc. */
static dlcoll_status_t register_iov(dlc_transport *t, const struct iovec *iov, int iovcnt,
                                    uint64_t access, dlc_xfer *x, dlc_err *err)
{
    mr_set *s = calloc(1, sizeof *s);
    if (!s)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "transport: out of memory");
    s->next = t->mr_list.next;
    s->prev = &t->mr_list;
    s->next->prev = s;
    t->mr_list.next = s;
    x->mr = s;
    x->mr_desc = s->desc;
    for (int i = 0; i < iovcnt; i++) {
        s->count = i + 1;
        if (iov[i].iov_len == 0)
            continue;
        int ret = fi_mr_reg(t->domain, iov[i].iov_base, iov[i].iov_len, access, 0, t->next_key++, 0,
                            &s->mr[i], NULL);
        if (ret != 0) {
            release_mr(t, x);
            return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                            "transport: registering %zu bytes for rank %d failed: %s",
                            iov[i].iov_len, x->peer, dlc_fi.strerror(-ret));
        }
        s->desc[i] = fi_mr_desc(s->mr[i]);
    }
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ posting */

static size_t iov_bytes(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* Shared checks and setup of send and recv. */
static dlcoll_status_t prepare(dlc_transport *t, const char *what, int peer,
                               const struct iovec *iov, int iovcnt, uint64_t tag, int is_recv,
                               dlc_xfer *x, dlc_err *err)
{
    if (iovcnt < 0 || iovcnt > t->iov_limit || (iovcnt > 0 && !iov))
        return dlc_fail(err, DLCOLL_ERR_INTERNAL, "transport: %s with %d iov entries (limit %d)",
                        what, iovcnt, t->iov_limit);
    if (peer >= t->npeers || (peer < 0 && !is_recv))
        return dlc_fail(err, DLCOLL_ERR_INTERNAL,
                        "transport: %s for rank %d, which is not a peer "
                        "(%d known)",
                        what, peer, t->npeers);
    memset(x, 0, sizeof *x);
    x->is_recv = is_recv;
    x->peer = peer;
    x->tag = tag;
    x->status = DLCOLL_SUCCESS;
    x->len = iov_bytes(iov, iovcnt);
    if (t->need_mr && iovcnt > 0)
        return register_iov(t, iov, iovcnt, is_recv ? FI_RECV : FI_SEND, x, err);
    return DLCOLL_SUCCESS;
}

/* Map the result of a post; undo registrations when nothing was posted. */
static dlcoll_status_t posted(dlc_transport *t, const char *what, ssize_t ret, dlc_xfer *x,
                              dlc_err *err)
{
    if (ret == 0)
        return DLCOLL_SUCCESS;
    release_mr(t, x);
    if (ret == -FI_EAGAIN)
        return DLCOLL_IN_PROGRESS;
    if (x->peer >= 0)
        return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                        "transport: posting a %s of %zu bytes %s rank %d "
                        "failed: %s",
                        what, x->len, x->is_recv ? "from" : "to", x->peer,
                        dlc_fi.strerror((int)-ret));
    return dlc_fail(err, DLCOLL_ERR_TRANSPORT,
                    "transport: posting a %s of %zu bytes from any rank "
                    "failed: %s",
                    what, x->len, dlc_fi.strerror((int)-ret));
}

/* One empty entry for a zero-byte message, and its descriptor. */
typedef struct empty_entry {
    struct iovec iov;
    void *desc[1];
} empty_entry;

/* The fields a send and a receive describe alike.  Zero entries become one
 * empty entry (not every provider takes a NULL iov); it needs no
 * registration, so where registration is needed its descriptor is NULL. */
static void fill_msg(const dlc_transport *t, dlc_xfer *x, const struct iovec *iov, int iovcnt,
                     fi_addr_t addr, uint64_t tag, empty_entry *empty, struct fi_msg_tagged *msg)
{
    static char empty_byte;
    memset(msg, 0, sizeof *msg);
    empty->desc[0] = NULL;
    if (iovcnt == 0) {
        empty->iov.iov_base = &empty_byte;
        empty->iov.iov_len = 0;
        iov = &empty->iov;
        iovcnt = 1;
    }
    msg->msg_iov = iov;
    msg->desc = x->mr_desc ? x->mr_desc : (t->need_mr ? empty->desc : NULL);
    msg->iov_count = (size_t)iovcnt;
    msg->addr = addr;
    msg->tag = tag;
    msg->context = x;
}

dlcoll_status_t dlc_transport_send(dlc_transport *t, int peer, const struct iovec *iov, int iovcnt,
                                   uint64_t tag, uint64_t data, dlc_xfer *x, dlc_err *err)
{
    dlcoll_status_t st = prepare(t, "send", peer, iov, iovcnt, tag, 0, x, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    empty_entry empty;
    struct fi_msg_tagged msg;
    fill_msg(t, x, iov, iovcnt, (fi_addr_t)peer, tag, &empty, &msg);
    msg.data = data;
    ssize_t ret = fi_tsendmsg(t->ep, &msg, FI_REMOTE_CQ_DATA | FI_COMPLETION);
    if (ret != -FI_EAGAIN) /* retries are not worth a line each */
        DLC_TRACE(t->lg,
                  "transport: send to rank %d tag 0x%016" PRIx64 " data 0x%016" PRIx64
                  " %zu B in %d iov: %s",
                  peer, tag, data, x->len, iovcnt,
                  ret == 0 ? "posted" : dlc_fi.strerror((int)-ret));
    return posted(t, "send", ret, x, err);
}

dlcoll_status_t dlc_transport_recv(dlc_transport *t, int peer, const struct iovec *iov, int iovcnt,
                                   uint64_t tag, uint64_t ignore, dlc_xfer *x, dlc_err *err)
{
    dlcoll_status_t st = prepare(t, "receive", peer, iov, iovcnt, tag, 1, x, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    struct iovec with_sink[DLC_IOV_CAP + 1];
    int user_iovcnt = iovcnt;
    if (t->sink) {
        /* Caller's entries, then the sink for whatever does not fit. */
        if (iovcnt > 0)
            memcpy(with_sink, iov, sizeof *iov * (size_t)iovcnt);
        with_sink[iovcnt].iov_base = t->sink;
        with_sink[iovcnt].iov_len = t->sink_len;
        iov = with_sink;
        iovcnt++;
    }
    empty_entry empty;
    struct fi_msg_tagged msg;
    fill_msg(t, x, iov, iovcnt, peer < 0 ? FI_ADDR_UNSPEC : (fi_addr_t)peer, tag, &empty, &msg);
    msg.ignore = ignore;
    ssize_t ret = fi_trecvmsg(t->ep, &msg, FI_COMPLETION);
    if (ret != -FI_EAGAIN)
        DLC_TRACE(t->lg,
                  "transport: recv from rank %d tag 0x%016" PRIx64 " ignore 0x%016" PRIx64
                  " %zu B in %d iov: %s",
                  peer, tag, ignore, x->len, user_iovcnt,
                  ret == 0 ? "posted" : dlc_fi.strerror((int)-ret));
    return posted(t, "receive", ret, x, err);
}

void dlc_transport_cancel(dlc_transport *t, dlc_xfer *x)
{
    if (!x || x->done)
        return;
    int ret = fi_cancel(&t->ep->fid, x);
    DLC_TRACE(t->lg, "transport: cancel %s rank %d tag 0x%016" PRIx64 ": %s",
              x->is_recv ? "recv from" : "send to", x->peer, x->tag,
              ret == 0 ? "requested" : dlc_fi.strerror(-ret));
}

/* ------------------------------------------------------------------ completions */

/* Errors that mean the peer went away or cannot be reached. */
static int is_connection_error(int e)
{
    switch (e) {
    case ECONNRESET:
    case ECONNABORTED:
    case ECONNREFUSED:
    case EPIPE:
    case ENOTCONN:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ENETUNREACH:
    case ENETDOWN:
    case ETIMEDOUT: return 1;
    default: return 0;
    }
}

static void complete_ok(dlc_transport *t, const struct fi_cq_tagged_entry *e)
{
    dlc_xfer *x = e->op_context;
    if (!x)
        return;
    release_mr(t, x);
    x->status = DLCOLL_SUCCESS;
    if (e->flags & FI_RECV) {
        x->tag = e->tag;
        if (e->flags & FI_REMOTE_CQ_DATA)
            x->data = e->data;
        if (e->len > x->len) {
            /* Only possible through the sink: the message was longer than
             * the caller's buffer (x->len still holds its size). */
            sink_release(t, e->len - x->len);
            x->truncated = 1;
            x->status = DLCOLL_ERR_MISMATCH;
            snprintf(
                x->errtext, sizeof x->errtext,
                "receive from rank %d: message of %zu bytes is longer than the %zu-byte buffer",
                x->peer, e->len, x->len);
            DLC_TRACE(t->lg, "transport: %s", x->errtext);
        }
        x->len = e->len;
    }
    x->done = 1;
}

/* Read one error entry.  Returns 1 when an xfer completed, 0 when there was
 * none after all, -1 on a fatal error (err set). */
static int complete_error(dlc_transport *t, dlc_err *err)
{
    struct fi_cq_err_entry e;
    memset(&e, 0, sizeof e);
    ssize_t r = fi_cq_readerr(t->cq, &e, 0);
    if (r == -FI_EAGAIN || r == 0)
        return 0;
    if (r < 0) {
        dlc_fail(err, DLCOLL_ERR_TRANSPORT, "transport: reading a completion error failed: %s",
                 dlc_fi.strerror((int)-r));
        return -1;
    }
    const char *text = fi_cq_strerror(t->cq, e.prov_errno, e.err_data, NULL, 0);
    if (!text)
        text = "";
    int code = e.err ? e.err : FI_EOTHER;
    DLC_TRACE(t->lg, "transport: completion error %d (%s), len %zu, olen %zu, flags 0x%" PRIx64,
              code, dlc_fi.strerror(code), e.len, e.olen, (uint64_t)e.flags);
    dlc_xfer *x = e.op_context;
    if (!x) {
        dlc_fail(err, is_connection_error(code) ? DLCOLL_ERR_PEER_FAILURE : DLCOLL_ERR_TRANSPORT,
                 "transport: completion error without an operation: %s (%s)", dlc_fi.strerror(code),
                 text);
        return -1;
    }
    release_mr(t, x);
    if (code == FI_ETRUNC) {
        /* By the definition, len is what was placed and olen what did not
         * fit; some providers put the whole message size in len instead, and
         * some report neither (then the sender's size is unknown: 0). */
        size_t posted = x->len;
        x->truncated = 1;
        x->status = DLCOLL_ERR_MISMATCH;
        if (e.len > posted)
            x->len = e.len;
        else if (e.olen > 0)
            x->len = posted + e.olen;
        else
            x->len = 0;
        x->tag = e.tag;
        if (e.flags & FI_REMOTE_CQ_DATA)
            x->data = e.data;
    } else if (code == FI_ECANCELED) {
        x->cancelled = 1;
        x->status = DLCOLL_ERR_ABORTED;
    } else {
        x->status = is_connection_error(code) ? DLCOLL_ERR_PEER_FAILURE : DLCOLL_ERR_TRANSPORT;
    }
    if (x->peer >= 0)
        snprintf(x->errtext, sizeof x->errtext, "%s rank %d: %s (%s)",
                 x->is_recv ? "receive from" : "send to", x->peer, dlc_fi.strerror(code), text);
    else
        snprintf(x->errtext, sizeof x->errtext, "receive from any rank: %s (%s)",
                 dlc_fi.strerror(code), text);
    if (code == FI_ETRUNC || code == FI_ECANCELED)
        DLC_TRACE(t->lg, "transport: %s", x->errtext);
    else
        DLC_INFO(t->lg, "transport: completion error: %s", x->errtext);
    x->done = 1;
    return 1;
}

int dlc_transport_progress(dlc_transport *t, dlc_err *err)
{
    struct fi_cq_tagged_entry entries[DLC_CQ_BATCH];
    int handled = 0;
    for (int round = 0; round < DLC_CQ_ROUNDS; round++) {
        ssize_t n = fi_cq_read(t->cq, entries, DLC_CQ_BATCH);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                complete_ok(t, &entries[i]);
            handled += (int)n;
            continue;
        }
        if (n == -FI_EAGAIN || n == 0)
            break;
        if (n == -FI_EAVAIL) {
            int r = complete_error(t, err);
            if (r < 0)
                return -1;
            handled += r;
            continue;
        }
        dlc_fail(err, DLCOLL_ERR_TRANSPORT, "transport: reading the completion queue failed: %s",
                 dlc_fi.strerror((int)-n));
        return -1;
    }
    return handled;
}

void dlc_transport_wait(dlc_transport *t, int timeout_us)
{
    if (timeout_us <= 0) {
        sched_yield();
        return;
    }
    if (t->wait_fd >= 0) {
        struct fid *fids[1] = {&t->cq->fid};
        int ret = fi_trywait(t->fabric, fids, 1);
        int us = timeout_us;
        /* -FI_EAGAIN: completions may be ready or the provider wants
         * progress.  tcp;ofi_rxm answers so for a while after every event,
         * so rather than return at once (and have the caller spin), watch
         * the fd for a short time; it wakes us if something arrives. */
        if (ret == -FI_EAGAIN && us > DLC_IDLE_SLEEP_US)
            us = DLC_IDLE_SLEEP_US;
        if (ret == FI_SUCCESS || ret == -FI_EAGAIN) {
            struct pollfd pfd = {.fd = t->wait_fd, .events = POLLIN, .revents = 0};
            struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
            (void)ppoll(&pfd, 1, &ts, NULL);
            return;
        }
        /* trywait not supported: fall through to a short sleep. */
    }
    int us = timeout_us < DLC_IDLE_SLEEP_US ? timeout_us : DLC_IDLE_SLEEP_US;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ accessors */

int dlc_transport_iov_limit(const dlc_transport *t)
{
    return t->iov_limit;
}

const char *dlc_transport_provider(const dlc_transport *t)
{
    return t->prov->name;
}

const char *dlc_transport_fi_provider(const dlc_transport *t)
{
    return t->prov->fi_name;
}
