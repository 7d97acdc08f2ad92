/*
 * allocfail.c -- the wrappers of allocfail.h, linked only into the test build
 * of the plugin (dlcoll_allocfail.so).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "allocfail.h"
#include "abi/dlcoll.h"

#define AF_EXPORT __attribute__((visibility("default")))

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

/* ------------------------------------------------------------------ remembered pointers */

/* Open addressing, linear probing, deletion by backward shift (no tombstones). */
#define AF_CAP (1u << 16)
typedef struct af_entry {
    void *p;
    unsigned long window;
} af_entry;
static af_entry table[AF_CAP];
static long n_live;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long next_window = 1;
static int overflow;

static size_t slot_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 7) & (AF_CAP - 1);
}

static void remember(void *p, unsigned long window)
{
    pthread_mutex_lock(&lock);
    if (n_live >= (long)(AF_CAP / 2)) {
        overflow = 1;
    } else {
        size_t i = slot_of(p);
        while (table[i].p && table[i].p != p)
            i = (i + 1) & (AF_CAP - 1);
        if (!table[i].p)
            n_live++;
        table[i].p = p;
        table[i].window = window;
    }
    pthread_mutex_unlock(&lock);
}

static void forget(void *p)
{
    pthread_mutex_lock(&lock);
    size_t i = slot_of(p);
    while (table[i].p && table[i].p != p)
        i = (i + 1) & (AF_CAP - 1);
    if (table[i].p) {
        table[i].p = NULL;
        n_live--;
        /* Backward shift: move later entries of the run up into the hole. */
        size_t hole = i, j = i;
        for (;;) {
            j = (j + 1) & (AF_CAP - 1);
            if (!table[j].p)
                break;
            size_t home = slot_of(table[j].p);
            /* Entry j may fill the hole unless its home lies cyclically in (hole, j]. */
            int stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
            if (!stays) {
                table[hole] = table[j];
                table[j].p = NULL;
                hole = j;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

static long count_window(unsigned long window)
{
    long n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < AF_CAP; i++)
        if (table[i].p && table[i].window == window)
            n++;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ------------------------------------------------------------------ the window */

typedef struct af_thread {
    unsigned long window; /* 0: no window on this thread */
    int suspended;        /* inside progress */
    long k;               /* the allocation to fail (1-based), 0: none */
    long allocs;
    int injected;
    long lookups, hits;
} af_thread;
static __thread af_thread me;

/* Count one allocation; 1 when it is the one to fail. */
static int counted_fails(void)
{
    if (!me.window || me.suspended)
        return 0;
    me.allocs++;
    if (me.k > 0 && me.allocs == me.k && !me.injected) {
        me.injected = 1;
        return 1;
    }
    return 0;
}

static void track(void *p)
{
    if (p && me.window && !me.suspended)
        remember(p, me.window);
}

void *__wrap_malloc(size_t n)
{
    if (counted_fails())
        return NULL;
    void *p = __real_malloc(n);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (counted_fails())
        return NULL;
    void *p = __real_calloc(n, m);
    track(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (counted_fails())
        return NULL;
    void *p = __real_realloc(old, n);
    if (p || n == 0) {
        if (old)
            forget(old);
        track(p);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p)
        forget(p);
    __real_free(p);
}

/* ------------------------------------------------------------------ wrapped plugin functions */

typedef struct dlc_world dlc_world;
typedef struct dlcoll_request dlcoll_request;
typedef struct dlcoll_comm dlcoll_comm;
int __real_dlc_progress_pass(dlc_world *w);
dlcoll_status_t __real_dlc_progress_wait(dlcoll_request *r, int timeout_ms);
int __real_dlc_plan_cache_lookup(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                                 DLTensor *const *outs, int n_outs, void *plan);

int __wrap_dlc_progress_pass(dlc_world *w)
{
    me.suspended++;
    int rc = __real_dlc_progress_pass(w);
    me.suspended--;
    return rc;
}

dlcoll_status_t __wrap_dlc_progress_wait(dlcoll_request *r, int timeout_ms)
{
    me.suspended++;
    dlcoll_status_t st = __real_dlc_progress_wait(r, timeout_ms);
    me.suspended--;
    return st;
}

int __wrap_dlc_plan_cache_lookup(dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                                 DLTensor *const *outs, int n_outs, void *plan)
{
    int hit = __real_dlc_plan_cache_lookup(c, in, out, outs, n_outs, plan);
    if (me.window && !me.suspended) {
        me.lookups++;
        me.hits += hit != 0;
    }
    return hit;
}

/* ------------------------------------------------------------------ control (allocfail.h) */

AF_EXPORT void dlc_af_arm(long k)
{
    pthread_mutex_lock(&lock);
    unsigned long w = next_window++;
    pthread_mutex_unlock(&lock);
    memset(&me, 0, sizeof me);
    me.k = k;
    me.window = w;
}

AF_EXPORT void dlc_af_disarm(af_report *out)
{
    unsigned long w = me.window;
    memset(out, 0, sizeof *out);
    out->allocs = me.allocs;
    out->injected = me.injected;
    out->lookups = me.lookups;
    out->hits = me.hits;
    out->live = w ? count_window(w) : 0;
    memset(&me, 0, sizeof me);
}

AF_EXPORT long dlc_af_live_total(void)
{
    pthread_mutex_lock(&lock);
    long n = overflow ? -1 : n_live;
    pthread_mutex_unlock(&lock);
    return n;
}
