/*
 * tsan_stress.c -- a multi-threaded host for ThreadSanitizer (Criterion cannot
 * start under TSan, so this is a plain program run under dlcoll-run).
 *
 *   dlcoll-run -n 3 -- tsan_stress [--iters N] [--abort-ms MS] [--abort-rank R]
 *                                  [--timeout-ms T] [--deadline-s S] [--plugin PATH]
 *
 * Per rank: the main thread initialises the world; three worker threads each
 * own two communicators (thread 0 the world, threads 1 and 2 a group_create()
 * of every rank in a rotated order, created by the three threads at the same
 * time; then each splits its own into two by parity) and run, per iteration,
 * several asynchronous operations on both at once -- allgathers (single,
 * in place, list) and barriers -- waited in an order that differs from the
 * issue order, and check every byte they gathered.  With --abort-ms, a fourth
 * thread on rank --abort-rank (default 0; -1: every rank) calls abort(world)
 * that long after the workers started.
 *
 * Every call must return DLCOLL_SUCCESS or a clean failure: ABORTED, or, on
 * the ranks that did not abort, what the spec allows them to see of it
 * (ABORTED from a notice, PEER_FAILURE once the aborting rank has gone,
 * TIMEOUT on a communicator that was idle on that rank when it aborted).
 * Anything else (MISMATCH, INTERNAL, a wrong byte, an empty message) is a
 * failure, and a watchdog turns a hang into one (exit 3, with every thread's
 * current step).  Exit 0 when every check held.  Without --abort-ms every
 * operation must succeed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"

#define NTHREADS 3
#define NOPS 5 /* operations in flight per thread per iteration */

static const dlcoll_plugin_v1_t *P;
static dlcoll_comm_t world;
static int my_rank, world_size;
static int opt_iters = 40, opt_abort_ms = -1, opt_abort_rank = 0, opt_timeout_ms = 4000;
static int opt_deadline_s = 240;
static atomic_int failures;
static atomic_int aborted_seen; /* some call returned a failure status */
static atomic_int workers_done;

static char steps[NTHREADS + 1][160]; /* what each thread does now (for the watchdog) */
static pthread_mutex_t step_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_step(int t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_step(int t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&step_lock);
    vsnprintf(steps[t], sizeof steps[t], fmt, ap);
    pthread_mutex_unlock(&step_lock);
    va_end(ap);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tsan_stress: rank %d: FAIL: %s\n", my_rank, buf);
    atomic_fetch_add(&failures, 1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Byte i of the block of group rank g in operation `seed`. */
static uint8_t pat(uint32_t seed, int g, size_t i)
{
    uint32_t x = (uint32_t)i * 0x9E3779B1u + (uint32_t)(g + 1) * 0x85EBCA77u + seed * 0xC2B2AE3Du;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return (uint8_t)(x ^ (x >> 24));
}

/* A failure status is acceptable only once something has been aborted:
 * ABORTED itself, and what the other ranks may see of it. */
static int status_clean(dlcoll_status_t st)
{
    if (opt_abort_ms < 0)
        return st == DLCOLL_SUCCESS;
    return st == DLCOLL_SUCCESS || st == DLCOLL_ERR_ABORTED || st == DLCOLL_ERR_PEER_FAILURE ||
           st == DLCOLL_ERR_TIMEOUT;
}

/* Checks a failed call's status and message; returns 1 when it failed. */
static int check_status(int t, const char *what, dlcoll_status_t st, const char *msg)
{
    if (st == DLCOLL_SUCCESS)
        return 0;
    atomic_store(&aborted_seen, 1);
    if (!status_clean(st))
        fail("thread %d: %s -> %s (%d): %s", t, what, P->status_string(st), (int)st,
             msg ? msg : "(null)");
    else if (!msg || !msg[0])
        fail("thread %d: %s -> %s with an empty message", t, what, P->status_string(st));
    return 1;
}

typedef struct op {
    int kind;              /* 0 allgather, 1 allgather in place, 2 allgather_list, 3 barrier */
    dlcoll_comm_t comm;
    int size, grank;       /* of comm */
    size_t bytes;          /* per rank */
    uint32_t seed;
    uint8_t *in, *out;     /* out: size*bytes */
    DLTensor tin, tout;
    DLTensor touts[16], *toutp[16];
    int64_t shape_in[1], shape_out[1];
    dlcoll_request_t req;
} op;

static void op_free(op *o)
{
    free(o->in);
    free(o->out);
    o->in = o->out = NULL;
}

static void tensor1(DLTensor *t, void *data, int64_t *shape, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->device.device_type = kDLCPU;
    t->ndim = 1;
    t->dtype.code = kDLUInt;
    t->dtype.bits = 8;
    t->dtype.lanes = 1;
    shape[0] = n;
    t->shape = shape;
    t->strides = NULL;
    t->byte_offset = 0;
}

/* Issues o asynchronously; returns the status of the issuing call. */
static dlcoll_status_t op_issue(op *o)
{
    o->req = NULL;
    if (o->kind == 3)
        return P->barrier(o->comm, &o->req);
    o->out = malloc(o->size * o->bytes + 1);
    o->in = malloc(o->bytes + 1);
    if (!o->out || !o->in) {
        fail("out of memory");
        return DLCOLL_ERR_SYSTEM;
    }
    memset(o->out, 0xA5, o->size * o->bytes);
    uint8_t *mine = o->kind == 1 ? o->out + (size_t)o->grank * o->bytes : o->in;
    for (size_t i = 0; i < o->bytes; i++)
        mine[i] = pat(o->seed, o->grank, i);
    tensor1(&o->tin, mine, o->shape_in, (int64_t)o->bytes);
    if (o->kind == 2) {
        for (int g = 0; g < o->size; g++) {
            tensor1(&o->touts[g], o->out + (size_t)g * o->bytes, o->shape_in, (int64_t)o->bytes);
            o->toutp[g] = &o->touts[g];
        }
        return P->allgather_list(o->comm, &o->tin, o->toutp, o->size, &o->req);
    }
    tensor1(&o->tout, o->out, o->shape_out, (int64_t)(o->size * o->bytes));
    return P->allgather(o->comm, &o->tin, &o->tout, &o->req);
}

static void op_check(int t, int it, const op *o)
{
    if (o->kind == 3)
        return;
    for (int g = 0; g < o->size; g++)
        for (size_t i = 0; i < o->bytes; i++) {
            uint8_t want = pat(o->seed, g, i);
            uint8_t got = o->out[(size_t)g * o->bytes + i];
            if (got != want) {
                fail("thread %d iter %d: op kind %d on a comm of %d: block %d byte %zu of %zu is "
                     "0x%02x, want 0x%02x",
                     t, it, o->kind, o->size, g, i, o->bytes, got, want);
                return;
            }
        }
}

typedef struct worker {
    int t;
    dlcoll_comm_t a, b; /* b may be NULL */
    int ok_iters;
} worker;

static const size_t sizes[] = {1, 3, 64, 1000, 4096, 33333, 131072};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *worker_main(void *arg)
{
    worker *w = arg;
    int t = w->t;
    op ops[NOPS];
    for (int it = 0; it < opt_iters; it++) {
        /* Same plan on every rank: kinds and sizes depend on (t, it) only. */
        memset(ops, 0, sizeof ops);
        for (int k = 0; k < NOPS; k++) {
            op *o = &ops[k];
            o->comm = (k % 2 == 0 || !w->b) ? w->a : w->b;
            o->kind = (k + it + t) % 4;
            o->bytes = sizes[(size_t)(it * 3 + k + t) % NSIZES];
            o->seed = (uint32_t)(t * 100000 + it * 10 + k);
            P->comm_size(o->comm, &o->size);
            P->comm_rank(o->comm, &o->grank);
            if (o->size > 16)
                o->kind = 3;
        }
        int issued = 0, failed = 0;
        for (int k = 0; k < NOPS; k++) {
            set_step(t, "iter %d: issuing op %d (kind %d, %zu bytes)", it, k, ops[k].kind,
                     ops[k].bytes);
            dlcoll_status_t st = op_issue(&ops[k]);
            if (st != DLCOLL_SUCCESS) {
                check_status(t, "issue", st, P->last_error(ops[k].comm));
                failed = 1;
                break;
            }
            issued++;
        }
        /* Wait in a different order: the last first, then test() the rest until done. */
        int done[NOPS] = {0};
        if (issued > 0) {
            op *o = &ops[issued - 1];
            set_step(t, "iter %d: wait op %d", it, issued - 1);
            dlcoll_status_t st = P->wait(o->req, DLCOLL_WAIT_COMM_TIMEOUT);
            failed |= check_status(t, "wait", st, P->request_error(o->req));
            if (st == DLCOLL_SUCCESS)
                op_check(t, it, o);
            done[issued - 1] = 1;
        }
        for (int left = issued - 1; left > 0;) {
            for (int k = 0; k < issued - 1; k++) {
                if (done[k])
                    continue;
                set_step(t, "iter %d: test op %d", it, k);
                dlcoll_status_t st = P->test(ops[k].req);
                if (st == DLCOLL_IN_PROGRESS)
                    continue;
                failed |= check_status(t, "test", st, P->request_error(ops[k].req));
                if (st == DLCOLL_SUCCESS)
                    op_check(t, it, &ops[k]);
                done[k] = 1;
                left--;
            }
        }
        for (int k = 0; k < issued; k++)
            P->request_free(ops[k].req);
        for (int k = 0; k < NOPS; k++)
            op_free(&ops[k]);
        if (failed)
            break;
        w->ok_iters++;
    }
    set_step(t, "done after %d iterations", w->ok_iters);
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

static void *aborter_main(void *arg)
{
    double start = now_ms();
    while (now_ms() - start < opt_abort_ms && atomic_load(&workers_done) < NTHREADS)
        usleep(1000);
    if (atomic_load(&workers_done) == NTHREADS) {
        set_step(NTHREADS, "workers finished before the abort");
        return NULL;
    }
    set_step(NTHREADS, "abort(world)");
    dlcoll_status_t st = P->abort(world);
    if (st != DLCOLL_SUCCESS)
        fail("abort(world) -> %s", P->status_string(st));
    set_step(NTHREADS, "aborted");
    return NULL;
}

static void *watchdog_main(void *arg)
{
    double start = now_ms();
    while (atomic_load(&workers_done) < NTHREADS) {
        if (now_ms() - start > opt_deadline_s * 1e3) {
            pthread_mutex_lock(&step_lock);
            fprintf(stderr, "tsan_stress: rank %d: HANG: not done after %d s\n", my_rank,
                    opt_deadline_s);
            for (int t = 0; t <= NTHREADS; t++)
                fprintf(stderr, "  thread %d: %s\n", t, steps[t]);
            pthread_mutex_unlock(&step_lock);
            _exit(3);
        }
        usleep(20000);
    }
    return NULL;
}

/* group_create of every world rank rotated by the thread number. */
static void *creator_main(void *arg)
{
    worker *w = arg;
    int ranks[16];
    char name[32];
    for (int i = 0; i < world_size; i++)
        ranks[i] = (i + w->t) % world_size;
    snprintf(name, sizeof name, "stress-%d", w->t);
    dlcoll_comm_t g = NULL;
    dlcoll_status_t st = P->group_create(world, ranks, world_size, name, &g);
    if (st != DLCOLL_SUCCESS || !g)
        fprintf(stderr, "tsan_stress: rank %d: group_create('%s') -> %s: %s\n", my_rank, name,
                P->status_string(st), P->last_error(NULL));
    else
        w->a = g;
    return NULL;
}

static int parse_int(const char *s, int *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *v = (int)x;
    return 0;
}

int main(int argc, char **argv)
{
    const char *plugin = getenv("DLCOLL_PLUGIN");
#ifdef DLCOLL_PLUGIN_PATH
    if (!plugin)
        plugin = DLCOLL_PLUGIN_PATH;
#endif
    for (int i = 1; i < argc; i++) {
        int *dst = NULL;
        if (!strcmp(argv[i], "--iters"))
            dst = &opt_iters;
        else if (!strcmp(argv[i], "--abort-ms"))
            dst = &opt_abort_ms;
        else if (!strcmp(argv[i], "--abort-rank"))
            dst = &opt_abort_rank;
        else if (!strcmp(argv[i], "--timeout-ms"))
            dst = &opt_timeout_ms;
        else if (!strcmp(argv[i], "--deadline-s"))
            dst = &opt_deadline_s;
        else if (!strcmp(argv[i], "--plugin") && i + 1 < argc) {
            plugin = argv[++i];
            continue;
        }
        if (!dst || i + 1 >= argc || parse_int(argv[++i], dst) != 0) {
            fprintf(stderr,
                    "usage: tsan_stress [--iters N] [--abort-ms MS] [--abort-rank R|-1] "
                    "[--timeout-ms T] [--deadline-s S] [--plugin PATH]\n");
            return 2;
        }
    }
    dlcoll_loader_t ld;
    if (dlcoll_load(&ld, plugin) != 0) {
        fprintf(stderr, "tsan_stress: %s\n", ld.error);
        return 2;
    }
    P = ld.plugin;
    dlcoll_config_t cfg = dlcoll_config_init();
    cfg.timeout_ms = opt_timeout_ms;
    dlcoll_status_t st = P->init(&cfg, &world);
    if (st != DLCOLL_SUCCESS) {
        fprintf(stderr, "tsan_stress: init -> %s: %s\n", P->status_string(st), P->last_error(NULL));
        return 2;
    }
    P->comm_rank(world, &my_rank);
    P->comm_size(world, &world_size);
    if (world_size > 16) {
        fprintf(stderr, "tsan_stress: at most 16 ranks\n");
        return 2;
    }

    /* Communicators: thread 0 the world; threads 1 and 2 create their own
     * (every rank, rotated by t), at the same time from two threads; then each
     * thread splits its own by parity of (rank + t), ordered backwards.  All of
     * it happens before the aborter starts. */
    worker ws[NTHREADS];
    pthread_t th[NTHREADS];
    memset(ws, 0, sizeof ws);
    for (int t = 0; t < NTHREADS; t++) {
        ws[t].t = t;
        ws[t].a = t == 0 ? world : NULL;
    }
    for (int t = 1; t < NTHREADS; t++)
        if (pthread_create(&th[t], NULL, creator_main, &ws[t]) != 0) {
            fprintf(stderr, "tsan_stress: pthread_create failed\n");
            return 2;
        }
    for (int t = 1; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < NTHREADS; t++) {
        if (!ws[t].a)
            return 2; /* reported by creator_main */
        dlcoll_comm_t g = NULL;
        st = P->group_split(ws[t].a, (my_rank + t) % 2, world_size - my_rank, &g);
        if (st != DLCOLL_SUCCESS || !g) {
            fprintf(stderr, "tsan_stress: rank %d: group_split for thread %d -> %s: %s\n",
                    my_rank, t, P->status_string(st), P->last_error(ws[t].a));
            return 2;
        }
        ws[t].b = g;
    }

    double start = now_ms();
    pthread_t ab, wd;
    pthread_create(&wd, NULL, watchdog_main, NULL);
    for (int t = 0; t < NTHREADS; t++)
        pthread_create(&th[t], NULL, worker_main, &ws[t]);
    int aborter = opt_abort_ms >= 0 && (opt_abort_rank < 0 || opt_abort_rank == my_rank);
    if (aborter)
        pthread_create(&ab, NULL, aborter_main, NULL);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    if (aborter)
        pthread_join(ab, NULL);
    pthread_join(wd, NULL);
    double secs = (now_ms() - start) / 1e3;

    if (opt_abort_ms < 0)
        for (int t = 0; t < NTHREADS; t++)
            if (ws[t].ok_iters != opt_iters)
                fail("thread %d completed %d of %d iterations with no abort", t, ws[t].ok_iters,
                     opt_iters);
    for (int t = 0; t < NTHREADS; t++) {
        st = P->group_destroy(ws[t].b);
        if (st != DLCOLL_SUCCESS)
            fail("group_destroy(split of thread %d) -> %s", t, P->status_string(st));
        if (t > 0 && (st = P->group_destroy(ws[t].a)) != DLCOLL_SUCCESS)
            fail("group_destroy(group of thread %d) -> %s", t, P->status_string(st));
    }
    st = P->finalize(world);
    if (st != DLCOLL_SUCCESS)
        fail("finalize -> %s", P->status_string(st));
    dlcoll_unload(&ld);
    printf("tsan_stress: rank %d: %s; iterations per thread %d %d %d of %d in %.2f s%s; "
           "%d failures\n",
           my_rank, aborter ? "aborted the world" : "did not abort", ws[0].ok_iters,
           ws[1].ok_iters, ws[2].ok_iters, opt_iters, secs,
           atomic_load(&aborted_seen) ? " (stopped by the abort)" : "",
           atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
