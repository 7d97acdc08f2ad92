/*
 * mp_harness.h -- run a test body on N real ranks (forked processes).
 *
 * The parent (a Criterion test) calls mp_run() / mp_run_opts().  The harness
 * forks n children; each child loads the plugin from DLCOLL_PLUGIN_PATH with
 * the ABI loader, builds a dlcoll_config_t (rank, world size, timeout, a fresh
 * init_method, the provider), calls init(), runs the rank function, calls
 * finalize() and _exit()s with a status.  Children never use Criterion's
 * asserts: they report failures with MP_EXPECT / MP_REQUIRE / mp_fail(), which
 * write the text through a pipe to the parent.  The parent reaps children as
 * they exit, enforces an overall deadline (SIGKILL to every child, then the test
 * fails) and turns the outcome of every rank into one assertion message.
 *
 * Besides the pipe, the ranks share one anonymous MAP_SHARED page per run:
 *   - step[r]:   what rank r is doing now (mp_step), printed when it fails or
 *                is killed at the deadline;
 *   - report[r]: integers a rank publishes for the parent (statuses it saw),
 *                so a test can assert properties across ranks;
 *   - flags:     out-of-band integers for coordinating ranks without the plugin
 *                (e.g. "rank 0 has finished, you may finalize now").
 */
#ifndef MP_HARNESS_H
#define MP_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "abi/dlcoll.h"

#define MP_MAX_RANKS 16
#define MP_MSG_MAX 6144      /* failure text kept per rank in the parent */
#define MP_STEP_MAX 200      /* bytes of one rank's current-step text */
#define MP_REPORT_MAX 32     /* integers a rank may publish */
#define MP_FLAGS_MAX 64      /* shared coordination integers */

/* How the world rendezvous: a fresh mkdtemp() directory or a TCP store on a free port. */
typedef enum mp_init_kind { MP_INIT_FILE = 0, MP_INIT_TCP = 1 } mp_init_kind;

/* Exit codes of a rank process. */
enum {
    MP_EXIT_OK = 0,
    MP_EXIT_CHECK = 1,     /* the rank function reported a failure */
    MP_EXIT_LOAD = 2,      /* the plugin could not be loaded */
    MP_EXIT_INIT = 3,      /* init() failed */
    MP_EXIT_FINALIZE = 4,  /* finalize() failed */
    MP_EXIT_SETUP = 5      /* opts.child_setup failed */
};

/* What the rank function sees. */
typedef struct mp_ctx {
    const dlcoll_plugin_v1_t *p;  /* the loaded plugin */
    dlcoll_comm_t comm;           /* the world (NULL when opts.no_init) */
    int rank;                     /* this process's rank (config.rank) */
    int size;                     /* number of forked ranks */
    int world_size;               /* config.world_size */
    const char *provider;         /* "shm", "tcp" (may be NULL: automatic) */
    const char *init_method;      /* "file:///tmp/..." or "tcp://127.0.0.1:port" */
    int timeout_ms;               /* config.timeout_ms */
    dlcoll_config_t cfg;          /* the config used for init (or prepared, for no_init) */
    void *arg;                    /* the test's argument */
    int failures;                 /* number of mp_fail() calls */
    /* Shared page: see the comment at the top. */
    long *report;                 /* this rank's report[MP_REPORT_MAX] */
    volatile long *flags;         /* flags[MP_FLAGS_MAX], shared by all ranks */
} mp_ctx;

/* Returns 0 on success; any failure must also have been reported with mp_fail. */
typedef int (*mp_rank_fn)(mp_ctx *ctx);

typedef struct mp_opts {
    int n;                   /* processes to fork (1..MP_MAX_RANKS) */
    int world_size;          /* config.world_size; 0 = n */
    const char *provider;    /* "shm", "tcp", or NULL (automatic) */
    mp_init_kind init;       /* rendezvous kind */
    int timeout_ms;          /* config.timeout_ms; 0 = 20000 */
    int deadline_ms;         /* whole run; 0 = 120000 */
    int no_init;             /* the rank function calls init itself (ctx->cfg is prepared) */
    int no_load;             /* nor is the plugin loaded: ctx->p is NULL (implies no_init) */
    int no_finalize;         /* do not finalize ctx->comm after the rank function */
    const char *init_method; /* non-NULL: use this instead of a fresh file/tcp rendezvous */
    /* Called in each child before the plugin is loaded (e.g. to enter a network
     * namespace or set the environment); non-zero fails the rank with `why`. */
    int (*child_setup)(int rank, void *setup_arg, char *why, size_t cap);
    void *setup_arg;
} mp_opts;

typedef struct mp_rank_result {
    pid_t pid;
    int reaped;              /* waitpid returned it */
    int exited, exit_code;   /* WIFEXITED / WEXITSTATUS */
    int signaled, signo;     /* WIFSIGNALED / WTERMSIG */
    int killed_at_deadline;  /* the harness sent SIGKILL because the deadline passed */
    double seconds;          /* from fork to reaping */
    char step[MP_STEP_MAX];  /* last mp_step() text */
    long report[MP_REPORT_MAX];
    char msg[MP_MSG_MAX];    /* failure text received through the pipe */
} mp_rank_result;

typedef struct mp_result {
    int n;
    int deadline_hit;
    double seconds;          /* whole run */
    char init_method[1100];
    mp_rank_result r[MP_MAX_RANKS];
} mp_result;

/* ------------------------------------------------------------------ parent side */

/* Fork, run, reap; fills *res (heap-allocate it: it is large).  Never asserts. */
void mp_run_opts(const mp_opts *opts, mp_rank_fn fn, void *arg, mp_result *res);

/* The common case: n ranks, provider, file rendezvous when n is odd and TCP when
 * even (both get used), comm timeout 20 s, whole-run deadline deadline_s
 * seconds; asserts that every rank succeeded. */
void mp_run(int n, const char *provider, mp_rank_fn fn, void *arg, int deadline_s);

/* Like mp_run with explicit options; asserts that every rank succeeded. */
void mp_run_ok(const mp_opts *opts, mp_rank_fn fn, void *arg);

/* A child_setup that sets environment variables in every rank: setup_arg is a
 * string "NAME=VALUE NAME=VALUE ..." (values without spaces). */
int mp_setup_env(int rank, void *setup_arg, char *why, size_t cap);

/* mp_run with the variables of mp_setup_env set in every rank. */
void mp_run_env(int n, const char *provider, const char *env, mp_rank_fn fn, void *arg,
                int deadline_s);

/* Criterion assertion: every rank exited 0 and the deadline was not hit. */
void mp_assert_all_ok(const mp_result *res);

/* Rank r exited 0 (for tests where some other rank is expected to die). */
int mp_rank_ok(const mp_result *res, int r);

/* Multi-line description of every rank's outcome (for assertion messages). */
const char *mp_describe(const mp_result *res, char *buf, size_t cap);

/* Heap helpers for mp_result. */
mp_result *mp_result_new(void);
void mp_result_free(mp_result *res);

/* ------------------------------------------------------------------ rank side */

/* Record a failure: "rank R: file:line: text" goes to the parent (and stderr). */
void mp_fail(mp_ctx *ctx, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Set the text of what this rank is doing now. */
void mp_step(mp_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Wait until flags[i] >= value or timeout_ms passes; 0 when reached, -1 on timeout. */
int mp_flag_wait(mp_ctx *ctx, int i, long value, int timeout_ms);
void mp_flag_set(mp_ctx *ctx, int i, long value);
/* Atomically add v to flags[i]; returns the new value. */
long mp_flag_add(mp_ctx *ctx, int i, long v);

/* Monotonic milliseconds. */
double mp_now_ms(void);

/* A check that records a failure and goes on. */
#define MP_EXPECT(ctx, cond, ...)                                              \
    do {                                                                       \
        if (!(cond))                                                           \
            mp_fail((ctx), __FILE__, __LINE__, __VA_ARGS__);                   \
    } while (0)

/* A check that records a failure and returns 1 from the rank function. */
#define MP_REQUIRE(ctx, cond, ...)                                             \
    do {                                                                       \
        if (!(cond)) {                                                         \
            mp_fail((ctx), __FILE__, __LINE__, __VA_ARGS__);                   \
            return 1;                                                          \
        }                                                                      \
    } while (0)

/* For rank functions that run a series of checked cases, each returning 0
 * (right), 1 (wrong data, reported) or 2 (the call failed: the comm may be
 * broken): count the failed ones in `fails`, and return 1 from the rank
 * function after a failed call or the 6th failed case. */
#define MP_TALLY(rc, fails)                                                    \
    do {                                                                       \
        int tally_rc_ = (rc);                                                  \
        if (tally_rc_) {                                                       \
            (fails)++;                                                         \
            if (tally_rc_ == 2 || (fails) >= 6)                                \
                return 1;                                                      \
        }                                                                      \
    } while (0)

/* Call a plugin entry that must succeed; on failure report the status and the
 * communicator's last_error and return 1 from the rank function. */
#define MP_OK_ON(ctx, comm_, call)                                             \
    do {                                                                       \
        dlcoll_status_t st_ = (call);                                          \
        if (st_ != DLCOLL_SUCCESS) {                                           \
            const char *le_ = (ctx)->p->last_error(comm_);                     \
            mp_fail((ctx), __FILE__, __LINE__, "%s -> %s (%d): %s", #call,     \
                    (ctx)->p->status_string(st_), (int)st_, le_ ? le_ : "(null)"); \
            return 1;                                                          \
        }                                                                      \
    } while (0)
#define MP_OK(ctx, call) MP_OK_ON(ctx, (ctx)->comm, call)

/* Wait for a request that must succeed, then free it. */
#define MP_WAIT_OK(ctx, req)                                                   \
    do {                                                                       \
        dlcoll_status_t st_ = (ctx)->p->wait((req), DLCOLL_WAIT_COMM_TIMEOUT); \
        if (st_ != DLCOLL_SUCCESS) {                                           \
            const char *re_ = (ctx)->p->request_error(req);                    \
            mp_fail((ctx), __FILE__, __LINE__, "wait(%s) -> %s (%d): %s", #req, \
                    (ctx)->p->status_string(st_), (int)st_, re_ ? re_ : "(null)"); \
            (ctx)->p->request_free(req);                                       \
            return 1;                                                          \
        }                                                                      \
        (ctx)->p->request_free(req);                                           \
    } while (0)

/* ------------------------------------------------------------------ data helpers */

/* Byte i of rank r's block in case `seed`: a hash, so a block moved to the wrong
 * place, a stale buffer or a shifted copy all show up. */
static inline uint8_t mp_pat(uint32_t seed, int r, size_t i)
{
    uint32_t x = (uint32_t)i * 0x9E3779B1u ^ (uint32_t)(i >> 32) * 0x7FEB352Du;
    x += (uint32_t)(r + 1) * 0x85EBCA77u + seed * 0xC2B2AE3Du;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    return (uint8_t)(x ^ (x >> 24));
}

/* Seeds for bytes nobody may write. */
#define MP_SEED_UNTOUCHED 0xFEEDu /* used with r = -1: output bytes before the op */
#define MP_SEED_GUARD 0xBEEFu     /* used with r = -2: guard bytes around buffers  */

void mp_fill(void *p, size_t n, uint32_t seed, int r, size_t first_index);
/* Index of the first byte that differs from the pattern, or (size_t)-1. */
size_t mp_find_bad(const void *p, size_t n, uint32_t seed, int r, size_t first_index);

/* A buffer with `guard` bytes on each side. */
typedef struct mp_buf {
    uint8_t *raw;
    uint8_t *data;
    size_t size;
    size_t guard;
} mp_buf;

/* Allocate; guards get the guard pattern, data the untouched pattern.  0 on success. */
int mp_buf_alloc(mp_buf *b, size_t size, size_t guard);
void mp_buf_free(mp_buf *b);
/* 1 when both guards still hold the guard pattern; describes the damage in why. */
int mp_buf_guards_ok(const mp_buf *b, char *why, size_t cap);

/* Dtypes the plugin must support. */
typedef struct mp_dtype {
    const char *name;
    DLDataType dt;
} mp_dtype;
extern const mp_dtype mp_dtypes[];
extern const int mp_n_dtypes;
DLDataType mp_dt(uint8_t code, uint8_t bits);
size_t mp_dt_size(DLDataType dt);

/* Fill a DLTensor on the CPU.  shape/strides are borrowed (keep them alive). */
void mp_tensor(DLTensor *t, void *data, uint64_t byte_offset, DLDataType dt, int ndim,
               int64_t *shape, int64_t *strides);
/* Number of elements. */
size_t mp_numel(int ndim, const int64_t *shape);
/* Byte address of the element with logical (row-major) index `li` of t. */
uint8_t *mp_elem_ptr(const DLTensor *t, size_t li);

/* Compare logical bytes of t (numel*esize bytes in row-major order) with the
 * pattern (seed, r); describes the first difference in why.  1 when equal. */
int mp_tensor_matches(const DLTensor *t, uint32_t seed, int r, char *why, size_t cap);
/* Write the pattern into t's logical bytes. */
void mp_tensor_fill(const DLTensor *t, uint32_t seed, int r);

/* Describe which (seed, rank) a wrong byte belongs to, if any: for messages. */
const char *mp_guess_owner(uint8_t got, uint32_t seed, int nranks, size_t i, char *buf,
                           size_t cap);

#endif
