/*
 * dlcoll.h -- the dlcoll plugin ABI, version 1.1.
 *
 * A dlcoll plugin is a shared object that exports exactly one symbol:
 *
 *     const dlcoll_plugin_v1_t dlcoll_plugin_v1;
 *
 * A host (a framework shim or a custom runtime) dlopen()s the plugin, resolves
 * that symbol (see dlcoll_loader.h), checks abi_major / struct_size, and then
 * calls everything through the function pointers in the struct.  Nothing else
 * is exported, so two plugins (or two versions of one) can live in a process.
 *
 * Versioning rules (full text in docs/abi.md):
 *   - abi_major changes only when an existing entry changes meaning or layout;
 *     the symbol name changes with it (dlcoll_plugin_v2, ...).
 *   - abi_minor grows when entries are appended at the end of the struct.  A host
 *     built against minor M may use an entry only if the plugin's struct_size
 *     covers it (DLCOLL_PLUGIN_HAS()).
 *   - dlcoll_config_t is versioned the same way by its leading size/magic/version.
 *
 * Tensors are DLPack DLTensors, borrowed: the plugin never frees them and never
 * keeps a pointer past the completion of the request that uses them.
 *
 * The header is C99-clean and also compiles as C++.
 */
#ifndef DLCOLL_H
#define DLCOLL_H

#include <stddef.h>
#include <stdint.h>
#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLCOLL_ABI_MAJOR 1
#define DLCOLL_ABI_MINOR 1

/* Name of the one exported symbol, for dlsym(). */
#define DLCOLL_PLUGIN_SYMBOL "dlcoll_plugin_v1"

/* DLPack < 0.8 has no kDLBool; dlcoll accepts code 6 (kDLBool in DLPack >= 0.8)
 * with bits == 8 as bool, and treats it as one opaque byte per element. */
#define DLCOLL_DL_BOOL_CODE 6

/* ------------------------------------------------------------------ status */

typedef enum dlcoll_status {
    DLCOLL_SUCCESS = 0,
    DLCOLL_IN_PROGRESS = 1,        /* test(): the request has not completed yet   */
    DLCOLL_ERR_INVALID_ARGUMENT = 2,/* bad pointer, shape, stride, rank list, ...  */
    DLCOLL_ERR_UNSUPPORTED = 3,    /* valid but not supported (device, dtype, ...)*/
    DLCOLL_ERR_MISMATCH = 4,       /* ranks disagree: size, dtype or op order      */
    DLCOLL_ERR_TIMEOUT = 5,        /* a step did not finish within the timeout     */
    DLCOLL_ERR_PEER_FAILURE = 6,   /* a peer died or its connection broke          */
    DLCOLL_ERR_ABORTED = 7,        /* abort() was called on this communicator      */
    DLCOLL_ERR_BOOTSTRAP = 8,      /* rendezvous / store / init_method failure     */
    DLCOLL_ERR_TRANSPORT = 9,      /* libfabric reported an error                  */
    DLCOLL_ERR_SYSTEM = 10,        /* out of memory, thread/socket creation, ...   */
    DLCOLL_ERR_VERSION = 11,       /* ABI or config version not understood         */
    DLCOLL_ERR_INTERNAL = 12       /* a bug in dlcoll: please report it            */
} dlcoll_status_t;

/* ------------------------------------------------------------------ handles */

typedef struct dlcoll_comm *dlcoll_comm_t;       /* communicator (world or group) */
typedef struct dlcoll_request *dlcoll_request_t; /* an asynchronous operation     */

/* ------------------------------------------------------------------ host callbacks */

/* Log levels, for DLCOLL_DEBUG and the log callback. */
typedef enum dlcoll_log_level {
    DLCOLL_LOG_NONE = 0,
    DLCOLL_LOG_WARN = 1,
    DLCOLL_LOG_INFO = 2,
    DLCOLL_LOG_TRACE = 3
} dlcoll_log_level_t;

/* Receives one formatted line (no trailing newline), already prefixed with
 * host, pid and rank.  May be called from any thread that is inside a dlcoll
 * call; must not call back into dlcoll. */
typedef void (*dlcoll_log_fn)(void *ctx, dlcoll_log_level_t level, const char *line);

/*
 * A key-value store supplied by the host (UCC's OOB idea): this is how a
 * framework's own store (e.g. PyTorch's c10d Store) bootstraps the plugin.
 * Keys are NUL-terminated strings; values are opaque bytes.  All ranks of the
 * world must see the same store.  The store must outlive the world
 * communicator (group_create uses it too).
 *
 * set: store value under key (overwrite allowed).  Return 0 on success,
 *      non-zero on failure.
 * get: block until key exists or timeout_ms passes (timeout_ms < 0: wait
 *      forever).  Copy at most cap bytes into buf and store the full value length
 *      in *len (so a caller can retry with a larger buffer when *len > cap).
 *      Return 0 on success, 1 on timeout, any other value on failure.
 */
typedef struct dlcoll_store {
    void *ctx;
    int (*set)(void *ctx, const char *key, const void *value, size_t len);
    int (*get)(void *ctx, const char *key, void *buf, size_t cap, size_t *len,
               int timeout_ms);
} dlcoll_store_t;

/* ------------------------------------------------------------------ configuration */

#define DLCOLL_CONFIG_MAGIC 0xd1c011c0u
#define DLCOLL_CONFIG_VERSION 1u
#define DLCOLL_FROM_ENV (-1)           /* rank / world_size: read the environment  */
#define DLCOLL_DEFAULT_TIMEOUT_MS 300000 /* when timeout_ms == 0 and no env value   */

/*
 * Configuration for init().  Start from DLCOLL_CONFIG_INIT (or
 * dlcoll_config_init()) and set the fields you need; every field left at its
 * initial value means "from the environment, else the default" (see docs/abi.md
 * for the precedence of environment variables).
 */
typedef struct dlcoll_config {
    size_t size;                 /* sizeof(dlcoll_config_t) of the host's header */
    uint32_t magic;              /* DLCOLL_CONFIG_MAGIC                           */
    uint32_t version;            /* DLCOLL_CONFIG_VERSION                         */

    int rank;                    /* 0..world_size-1, or DLCOLL_FROM_ENV           */
    int world_size;              /* >= 1, or DLCOLL_FROM_ENV                      */
    int timeout_ms;              /* > 0; 0 = DLCOLL_TIMEOUT or the default        */

    /* Rendezvous: either init_method or store (store wins when both are set).
     *   "tcp://host:port"  rank 0 serves a store on host:port, others connect
     *   "file:///path"     a directory shared by all ranks (created if missing)
     *   "env://"           MASTER_ADDR / MASTER_PORT (or MS_SCHED_HOST/PORT)
     *   NULL               DLCOLL_INIT_METHOD, then the launcher variables    */
    const char *init_method;
    const dlcoll_store_t *store; /* host-provided store, or NULL                   */

    const char *provider;        /* libfabric provider ("shm", "tcp", ...) or NULL */
                                 /* = DLCOLL_PROVIDER, else chosen automatically  */
    dlcoll_log_fn log_fn;        /* NULL: log to stderr                           */
    void *log_ctx;
    int log_level;               /* -1: DLCOLL_DEBUG (default WARN)                */
} dlcoll_config_t;

#define DLCOLL_CONFIG_INIT                                                     \
    { sizeof(dlcoll_config_t), DLCOLL_CONFIG_MAGIC, DLCOLL_CONFIG_VERSION,     \
      DLCOLL_FROM_ENV, DLCOLL_FROM_ENV, 0, NULL, NULL, NULL, NULL, NULL, -1 }

static inline dlcoll_config_t dlcoll_config_init(void)
{
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    return c;
}

/* group_split(): pass as color to take no part in any new group. */
#define DLCOLL_SPLIT_NOCOLOR (-1)

/* wait(): no limit other than the communicator's own timeout. */
#define DLCOLL_WAIT_COMM_TIMEOUT (-1)

/* ------------------------------------------------------------------ reductions (ABI 1.1) */

/* The reduction of allreduce / reduce_scatter / reduce_scatter_list.  Numerics
 * (docs/abi.md section 15): a fixed reduction order, the same on every rank
 * and every run; float16 / bfloat16 accumulate in float32 and round once per
 * output element; integers wrap as C unsigned arithmetic; NaN propagates
 * (min / max included).
 *   SUM, PROD, MIN, MAX: every numeric dtype (bool: see below).
 *   AVG:        the sum divided once by the number of ranks (integers: C
 *               division of the wrapped sum, truncating toward zero).
 *               Floating-point dtypes and integers; not bool.
 *   PREMUL_SUM: each rank multiplies its own input by its own `factor`
 *               before the sum (NCCL's ncclRedOpCreatePreMulSum).  Floating
 *               point only.
 *   BAND, BOR, BXOR: integer dtypes and bool.
 * bool (any non-zero byte is true; results are 0 or 1): SUM, MAX and BOR are
 * logical or, PROD, MIN and BAND logical and, BXOR logical xor.
 * complex64 / complex128: refused (DLCOLL_ERR_UNSUPPORTED); broadcast moves them. */
typedef enum dlcoll_red_op {
    DLCOLL_RED_SUM = 0,
    DLCOLL_RED_PROD = 1,
    DLCOLL_RED_MIN = 2,
    DLCOLL_RED_MAX = 3,
    DLCOLL_RED_AVG = 4,
    DLCOLL_RED_PREMUL_SUM = 5,
    DLCOLL_RED_BAND = 6,
    DLCOLL_RED_BOR = 7,
    DLCOLL_RED_BXOR = 8
} dlcoll_red_op_t;

/* Passed by pointer, borrowed for the call only.  `size` is
 * sizeof(dlcoll_reduction_t) as the host compiled it (fields are appended
 * only, as in dlcoll_config_t). */
typedef struct dlcoll_reduction {
    size_t size;
    dlcoll_red_op_t op;
    double factor; /* PREMUL_SUM: this rank's factor; ignored otherwise */
} dlcoll_reduction_t;

static inline dlcoll_reduction_t dlcoll_reduction(dlcoll_red_op_t op)
{
    dlcoll_reduction_t r = {sizeof(dlcoll_reduction_t), op, 1.0};
    return r;
}

static inline dlcoll_reduction_t dlcoll_reduction_premul_sum(double factor)
{
    dlcoll_reduction_t r = {sizeof(dlcoll_reduction_t), DLCOLL_RED_PREMUL_SUM, factor};
    return r;
}

/* ------------------------------------------------------------------ the entry struct */

typedef struct dlcoll_plugin_v1 {
    /* Header: never moves, in any version. */
    uint32_t abi_major;          /* == DLCOLL_ABI_MAJOR for this struct          */
    uint32_t abi_minor;          /* entries appended since 1.0                    */
    size_t struct_size;          /* sizeof the plugin's dlcoll_plugin_v1_t        */
    const char *name;            /* "dlcoll-ofi"                                  */
    const char *version;         /* plugin release, e.g. "0.1.0"                  */

    /* Static text for a status code; never NULL. */
    const char *(*status_string)(dlcoll_status_t status);

    /* Last error message of comm, or (comm == NULL) of the last failed init()
     * or group call in the calling thread.  Names the rank, the operation,
     * the peer and the cause.  Valid until the next call on the same comm. */
    const char *(*last_error)(dlcoll_comm_t comm);

    /* Create the world communicator.  Collective over all world_size ranks. */
    dlcoll_status_t (*init)(const dlcoll_config_t *config, dlcoll_comm_t *comm);

    dlcoll_status_t (*comm_rank)(dlcoll_comm_t comm, int *rank);
    dlcoll_status_t (*comm_size)(dlcoll_comm_t comm, int *size);

    /* Create a group of parent's ranks ranks[0..n-1] (parent ranks, distinct);
     * the new group's rank i is ranks[i].  Collective over the members only,
     * which must all pass the same list and name.  A caller not in ranks gets
     * DLCOLL_SUCCESS and *group == NULL without communicating. */
    dlcoll_status_t (*group_create)(dlcoll_comm_t parent, const int *ranks, int n,
                                    const char *name, dlcoll_comm_t *group);

    /* MPI_Comm_split: collective over all of parent.  Ranks with the same color
     * form a group ordered by (key, parent rank).  color DLCOLL_SPLIT_NOCOLOR
     * gives *group == NULL. */
    dlcoll_status_t (*group_split)(dlcoll_comm_t parent, int color, int key,
                                   dlcoll_comm_t *group);

    /* Free a group (not the world: use finalize).  Local, not collective. */
    dlcoll_status_t (*group_destroy)(dlcoll_comm_t group);

    /* Gather every rank's input into one output tensor: the ranks' blocks in
     * rank order along dim 0.  output has input's dtype, is contiguous, and
     * has shape (N, *in) or (N*in0, *in[1:]).  In-place when input is the
     * caller's block of output.  request NULL: blocking. */
    dlcoll_status_t (*allgather)(dlcoll_comm_t comm, const DLTensor *input,
                                 DLTensor *output, dlcoll_request_t *request);

    /* Gather into n_outputs == N tensors, each shaped and typed like input and
     * possibly strided; outputs[i] receives rank i's input. */
    dlcoll_status_t (*allgather_list)(dlcoll_comm_t comm, const DLTensor *input,
                                      DLTensor *const *outputs, int n_outputs,
                                      dlcoll_request_t *request);

    dlcoll_status_t (*barrier)(dlcoll_comm_t comm, dlcoll_request_t *request);

    /* DLCOLL_SUCCESS when complete, DLCOLL_IN_PROGRESS when not, else the
     * operation's error.  Drives progress. */
    dlcoll_status_t (*test)(dlcoll_request_t request);

    /* Block until the request completes, fails, or timeout_ms passes
     * (DLCOLL_WAIT_COMM_TIMEOUT: the communicator's timeout).  A wait that
     * returns DLCOLL_ERR_TIMEOUT fails the operation and the communicator. */
    dlcoll_status_t (*wait)(dlcoll_request_t request, int timeout_ms);

    /* Release a request.  Freeing an incomplete request waits for it first. */
    dlcoll_status_t (*request_free)(dlcoll_request_t request);

    /* Error text of a failed request (valid until request_free). */
    const char *(*request_error)(dlcoll_request_t request);

    /* Fail every pending and future operation on comm (and its groups when comm
     * is the world) with DLCOLL_ERR_ABORTED; wakes every waiter.  Thread-safe,
     * may be called from any thread (not from a signal handler). */
    dlcoll_status_t (*abort)(dlcoll_comm_t comm);

    /* Free the world communicator and everything it owns (groups included).
     * Not collective; pending requests fail with DLCOLL_ERR_ABORTED. */
    dlcoll_status_t (*finalize)(dlcoll_comm_t comm);

    /* ---- ABI 1.1 (check with DLCOLL_PLUGIN_HAS before calling) ---- */

    /* Reduce every rank's input elementwise into every rank's output.  input
     * and output have the same dtype and number of elements (any shapes and
     * strides).  In place when input == output (the same DLTensor, or the
     * same data, offset, shape and strides); any other overlap is refused.
     * request NULL: blocking. */
    dlcoll_status_t (*allreduce)(dlcoll_comm_t comm, const DLTensor *input, DLTensor *output,
                                 const dlcoll_reduction_t *reduction, dlcoll_request_t *request);

    /* Reduce, then scatter: input holds N blocks along dim 0, shape (N, *out)
     * or (N*out0, *out[1:]) (contiguous); this rank's output (any strides)
     * receives the reduction of every rank's block `rank`. */
    dlcoll_status_t (*reduce_scatter)(dlcoll_comm_t comm, const DLTensor *input,
                                      DLTensor *output, const dlcoll_reduction_t *reduction,
                                      dlcoll_request_t *request);

    /* As reduce_scatter with n_inputs == N tensors, each shaped and typed like
     * output and possibly strided: inputs[i] is this rank's contribution to
     * rank i's output. */
    dlcoll_status_t (*reduce_scatter_list)(dlcoll_comm_t comm, const DLTensor *const *inputs,
                                           int n_inputs, DLTensor *output,
                                           const dlcoll_reduction_t *reduction,
                                           dlcoll_request_t *request);

    /* Copy root's tensor into every other rank's tensor (same dtype and
     * number of elements on every rank; any shapes and strides).  root is a
     * rank of comm. */
    dlcoll_status_t (*broadcast)(dlcoll_comm_t comm, DLTensor *tensor, int root,
                                 dlcoll_request_t *request);
} dlcoll_plugin_v1_t;

/* True when plugin p's struct is large enough to contain entry `member`. */
#define DLCOLL_PLUGIN_HAS(p, member)                                            \
    ((p)->struct_size >= offsetof(dlcoll_plugin_v1_t, member) + sizeof((p)->member))

#ifdef __cplusplus
}
#endif

#endif /* DLCOLL_H */
