/*
 * shm_seg.c -- create, map and release a communicator's shared segment
 * (layout and rules in shm_seg.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/transport/cma.h"
#include "plugin/coll/coll.h"
#include "plugin/coll/shm_seg.h"

#define SEG_MAGIC UINT64_C(0x444c434f4c4c5348) /* "DLCOLLSH" */
/* Data slot of small communicators.  With a core for every rank of the host,
 * 64 KiB slots keep the chunks copied in and out in cache and the segment
 * small (1 MiB for 8 ranks).  Every round of an exchange needs every member
 * to run once: with more ranks than cores each round costs scheduling
 * delays, so fewer, larger rounds win there (4 MindSpore ranks on 2 cores
 * gathering 1 MiB each: 80 ms per call with 64 KiB slots, 32 ms with 256 KiB,
 * 12 ms with 1 MiB; docs/mindspore.md). */
#define SLOT_MAX (64u << 10)
#define SLOT_MAX_OVERSUBSCRIBED (1u << 20)
#define SLOT_MIN DLC_SHM_SLOT_MIN
#define DATA_BUDGET (16u << 20) /* all slots together, for large n */

typedef struct seg_hdr {
    _Alignas(128) _Atomic uint64_t magic; /* set once by whoever maps it first */
    uint64_t n;
    uint64_t slot_bytes;
    /* The communicator's failure, as its first member to fail wrote it (the
     * failure rule's channel through shared memory, docs/abi.md section 12):
     * fail_claim is taken once, fail_ready release-stored after fail. */
    _Alignas(64) _Atomic uint32_t fail_claim;
    _Atomic uint32_t fail_ready;
    dlc_notice_msg fail;
} seg_hdr;

size_t dlc_shm_slot_bytes_for(int n, int oversubscribed, size_t configured)
{
    if (configured >= SLOT_MIN)
        return configured & ~(size_t)127;
    size_t per = DATA_BUDGET / (2u * (size_t)(n > 0 ? n : 1));
    size_t max = oversubscribed ? SLOT_MAX_OVERSUBSCRIBED : SLOT_MAX;
    if (per > max)
        per = max;
    if (per < SLOT_MIN)
        per = SLOT_MIN;
    return per & ~(size_t)127;
}

static size_t seg_size(int n, size_t slot_bytes, size_t *ctl_off, size_t *data_off)
{
    *ctl_off = sizeof(seg_hdr);
    *data_off = *ctl_off + (size_t)n * sizeof(dlc_shm_ctl);
    *data_off = (*data_off + 4095) & ~(size_t)4095;
    return *data_off + (size_t)n * 2 * (slot_bytes + DLC_SHM_SLOT_STAGGER);
}

/* Allocate the object's pages (those not allocated yet) before touching
 * any: on a full /dev/shm (a container's small default) this fails here,
 * with a message, instead of a SIGBUS at the first touch of a page later.
 * Every member calls it (on pages already there it allocates nothing), so a
 * member that maps the object never touches a page it did not see
 * allocated.  0, or an errno value. */
static int reserve(int fd, size_t size)
{
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == EOPNOTSUPP || e == EINVAL)
        return 0; /* not supported by the file system: sized by ftruncate only */
    return e;
}

static dlcoll_status_t map_segment(dlc_shm_seg *s, dlc_err *err)
{
    size_t ctl_off, data_off;
    s->size = seg_size(s->n, s->slot_bytes, &ctl_off, &data_off);
    int fd = shm_open(s->name, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory %s: shm_open: %s", s->name,
                        strerror(errno));
    struct stat sb;
    dlcoll_status_t st = DLCOLL_SUCCESS;
    int e;
    if (fstat(fd, &sb) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory %s: fstat: %s", s->name,
                      strerror(errno));
    } else if ((size_t)sb.st_size != s->size && sb.st_size != 0) {
        /* Every member sizes it alike: another size is a name clash. */
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory %s has %lld bytes, expected %zu",
                      s->name, (long long)sb.st_size, s->size);
    } else if (sb.st_size == 0 && ftruncate(fd, (off_t)s->size) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory %s: cannot size it to %zu bytes: %s (is /dev/shm full?)",
                      s->name, s->size, strerror(errno));
    } else if ((e = reserve(fd, s->size)) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory %s: cannot allocate its %zu bytes: %s (is /dev/shm full or "
                      "too small? a container's default is 64 MiB; set DLCOLL_SHM_SLOT_BYTES "
                      "lower, or DLCOLL_ALGO=ring)",
                      s->name, s->size, strerror(e));
    }
    if (st == DLCOLL_SUCCESS) {
        s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (s->base == MAP_FAILED) {
            s->base = NULL;
            st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory %s: mmap of %zu bytes: %s",
                          s->name, s->size, strerror(errno));
        }
    }
    close(fd);
    if (st != DLCOLL_SUCCESS)
        return st;

    /* Whoever comes first stamps the header; everyone checks it. */
    seg_hdr *h = s->base;
    uint64_t expect = 0;
    if (atomic_compare_exchange_strong(&h->magic, &expect, SEG_MAGIC ^ (uint64_t)s->n)) {
        h->n = (uint64_t)s->n;
        h->slot_bytes = s->slot_bytes;
    } else if (expect != (SEG_MAGIC ^ (uint64_t)s->n)) {
        return dlc_fail(err, DLCOLL_ERR_SYSTEM,
                        "shared memory %s belongs to something else "
                        "(header %#" PRIx64 ")",
                        s->name, expect);
    }
    s->ctl = (dlc_shm_ctl *)((uint8_t *)s->base + ctl_off);
    s->data = (uint8_t *)s->base + data_off;
    return DLCOLL_SUCCESS;
}

static void seg_free(dlc_shm_seg *s)
{
    if (s->base)
        munmap(s->base, s->size);
    free(s->cma_verified);
    free(s);
}

/* The slot's release hook: unlink the name (every member does, so nothing
 * is left when some member never came or came after the others had left;
 * one that comes later makes a fresh object and unlinks it in turn) and
 * unmap the segment. */
static void shm_comm_release(dlcoll_comm *c, void *state)
{
    dlc_shm_comm *sc = state;
    dlc_shm_seg *s = sc->seg;
    (void)c;
    if (s) {
        dlc_shm_seg_unlink(s);
        seg_free(s);
    }
    free(sc);
}

/* The failure channel: the first member to fail writes its report into the
 * header; the others read it at every completion and full progress pass. */
static void shm_publish_failure(dlcoll_comm *c, void *state, const dlc_notice_msg *m)
{
    dlc_shm_comm *sc = state;
    (void)c;
    if (!sc->seg)
        return; /* not mapped: no member can have completed an op with this rank */
    seg_hdr *h = sc->seg->base;
    uint32_t free_claim = 0;
    if (!atomic_compare_exchange_strong(&h->fail_claim, &free_claim, 1u))
        return; /* another member's failure is there already */
    h->fail = *m;
    atomic_store_explicit(&h->fail_ready, 1u, memory_order_release);
}

static int shm_read_failure(dlcoll_comm *c, void *state, dlc_notice_msg *m)
{
    dlc_shm_comm *sc = state;
    if (!sc->seg)
        return 0;
    seg_hdr *h = sc->seg->base;
    if (!atomic_load_explicit(&h->fail_ready, memory_order_acquire))
        return 0;
    *m = h->fail;
    m->message[sizeof m->message - 1] = '\0';
    return m->origin != c->w->rank; /* this rank's own failure is known here */
}

dlc_shm_comm *dlc_shm_comm_get(dlcoll_comm *c)
{
    dlc_shm_comm *sc = dlc_comm_ext_get(c, DLC_COLL_EXT_SHM);
    if (sc)
        return sc;
    if (!(sc = calloc(1, sizeof *sc)))
        return NULL;
    sc->auto_use = -1;
    sc->name_tag = -1;
    dlc_comm_ext_set(c, DLC_COLL_EXT_SHM, sc, shm_comm_release);
    dlc_comm_ext_set_channel(c, DLC_COLL_EXT_SHM, shm_publish_failure, shm_read_failure);
    return sc;
}

dlcoll_status_t dlc_shm_seg_get(dlcoll_comm *c, dlc_shm_seg **out, dlc_err *err)
{
    *out = NULL;
    dlc_shm_comm *sc = dlc_shm_comm_get(c);
    if (!sc)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    if (sc->seg) {
        *out = sc->seg;
        return DLCOLL_SUCCESS;
    }
    dlc_world *w = c->w;
    dlc_shm_seg *s = calloc(1, sizeof *s);
    if (!s || !(s->cma_verified = calloc((size_t)c->size, 1))) {
        free(s);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    }
    s->n = c->size;
    s->rank = c->rank;
    s->slot_bytes =
        dlc_shm_slot_bytes_for(c->size, w->hostmap.oversubscribed, w->settings.shm_slot_bytes);
    if (sc->name_tag >= 0)
        snprintf(s->name, sizeof s->name, "/dlcoll-%016" PRIx64 "-%u-h%d", w->hosts[0].nonce,
                 (unsigned)c->id, sc->name_tag);
    else
        snprintf(s->name, sizeof s->name, "/dlcoll-%016" PRIx64 "-%u", w->hosts[0].nonce,
                 (unsigned)c->id);
    dlcoll_status_t st = map_segment(s, err);
    if (st != DLCOLL_SUCCESS) {
        seg_free(s);
        return st;
    }
    DLC_INFO(&w->lg, "shared segment %s: %zu bytes, %d members x 2 slots of %zu bytes", s->name,
             s->size, s->n, s->slot_bytes);
    dlc_shm_ctl *me = &s->ctl[s->rank];
    s->my_cookie = w->hosts[w->rank].nonce ^ ((uint64_t)c->id << 32) ^ (uint64_t)s->rank;
    me->pid = (int32_t)getpid();
    me->cookie = s->my_cookie;
    me->cookie_addr = (uint64_t)(uintptr_t)&s->my_cookie;
    /* Automatic CMA only with a core for every local rank (measured: with
     * more ranks than cores the slots are as fast or faster), and not when
     * DLCOLL_SHM_CMA_MIN decides for this rank. */
    s->cma_wanted = w->settings.shm_cma_min < 0 && w->hostmap.core_per_local_rank;
    atomic_store_explicit(&me->cma_state, s->cma_wanted ? DLC_SHM_CMA_IDENT : DLC_SHM_CMA_NO,
                          memory_order_release);
    s->cma_probed = !s->cma_wanted;
    sc->seg = s;
    *out = s;
    return DLCOLL_SUCCESS;
}

/* Probe every peer (their identities are published): 1 when each one's
 * cookie reads back through process_vm_readv. */
static int cma_probe_peers(dlc_shm_seg *s)
{
    for (int q = 0; q < s->n; q++) {
        if (q == s->rank)
            continue;
        const dlc_shm_ctl *pc = &s->ctl[q];
        uint64_t cookie = 0;
        if (dlc_cma_read_u64(pc->pid, pc->cookie_addr, &cookie) != 0 || cookie != pc->cookie)
            return 0;
        s->cma_verified[q] = 1;
    }
    return 1;
}

int dlc_shm_seg_cma_agree(dlc_shm_seg *s, int *waiting_for)
{
    if (s->cma_agreed)
        return s->cma_agreed > 0;
    if (!s->cma_probed) {
        for (int q = 0; q < s->n; q++) {
            if (atomic_load_explicit(&s->ctl[q].cma_state, memory_order_acquire) == 0) {
                *waiting_for = q;
                return -1;
            }
        }
        int ok = cma_probe_peers(s);
        atomic_store_explicit(&s->ctl[s->rank].cma_state, ok ? DLC_SHM_CMA_YES : DLC_SHM_CMA_NO,
                              memory_order_release);
        s->cma_probed = 1;
    }
    int all_yes = 1;
    for (int q = 0; q < s->n; q++) {
        uint32_t v = atomic_load_explicit(&s->ctl[q].cma_state, memory_order_acquire);
        if (v == 0 || v == DLC_SHM_CMA_IDENT) {
            *waiting_for = q;
            return -1;
        }
        all_yes &= v == DLC_SHM_CMA_YES;
    }
    s->cma_agreed = all_yes ? 1 : -1;
    return all_yes;
}

void dlc_shm_seg_unlink(dlc_shm_seg *s)
{
    if (s->unlinked)
        return;
    s->unlinked = 1;
    shm_unlink(s->name);
}
