/*
 * dlcoll_ms.c -- the C side of dlcoll.mindspore.
 *
 * One shared object, libdlcoll_ms.so, used two ways in the same process:
 *
 *   1. Python (ctypes) calls dlcoll_ms_init / _group_create / _group_destroy /
 *      _finalize / _abort to manage a process-global world communicator and a
 *      small table of group communicators ("slots"; slot 0 is the world).
 *   2. MindSpore's AOT custom ops (ops.Custom(func="libdlcoll_ms.so:
 *      dlcoll_ms_allgather", func_type="aot"), and _allreduce,
 *      _reduce_scatter, _broadcast) dlopen() the same file and call the
 *      kernel with the op's buffers.  dlopen of a path that
 *      is already loaded returns the same copy, so both see the same state.
 *
 * Each AOT op has two inputs and one output:
 *     params[0]  x       the tensor to gather / reduce / broadcast
 *     params[1]  group   int32[2] (AllGather): { slot, generation } of the
 *                        communicator; int32[3] (the others): the same and
 *                        the reduction (dlcoll_red_op_t) or the root
 *     params[2]  out     MindSpore's own buffer, same dtype
 * The plugin receives straight into out (no copy on our side, except the
 * broadcast root's copy of x into out).
 *
 * The plugin is reached only through the ABI (abi/dlcoll.h) and loaded with
 * abi/dlcoll_loader.h; nothing of MindSpore's C++ is used, so this file does
 * not depend on a MindSpore version (only on the documented AOT signature).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_SLOTS 256
#define ERR_CAP 2048

typedef struct group_slot {
    dlcoll_comm_t comm;     /* NULL: free (or this rank is not a member)  */
    int reserved;           /* taken by a group_create still in progress  */
    int generation;         /* bumped on every reuse, so stale ops fail   */
    char name[128];         /* MindSpore group name, for messages         */
} group_slot;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dlcoll_loader_t g_loader;
static const dlcoll_plugin_v1_t *g_plugin;   /* NULL until init succeeded */
static group_slot g_slots[MAX_SLOTS];        /* [0] is the world          */
static char g_error[ERR_CAP];                /* last error, any thread    */

/* Record the last error (and return status, for tail calls). */
static int set_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return status;
}

EXPORT const char *dlcoll_ms_last_error(void)
{
    return g_error;
}

EXPORT const char *dlcoll_ms_status_string(int status)
{
    return g_plugin ? g_plugin->status_string((dlcoll_status_t)status) : "dlcoll plugin not loaded";
}

/* Generation of slot (bumped each time the slot gets a new communicator). */
EXPORT int dlcoll_ms_generation(int slot)
{
    return (slot >= 0 && slot < MAX_SLOTS) ? g_slots[slot].generation : -1;
}

EXPORT int dlcoll_ms_is_initialized(void)
{
    return g_plugin != NULL && g_slots[0].comm != NULL;
}

/*
 * Load the plugin (path NULL or "": $DLCOLL_PLUGIN, else libdlcoll.so) and
 * create the world communicator.  rank / world_size / init_method may be
 * DLCOLL_FROM_ENV / NULL to let the plugin read the environment (RANK_ID,
 * MS_NODE_ID, MS_WORKER_NUM, MS_SCHED_HOST/PORT, ...); store, when not NULL,
 * is the host store that the scheduler process serves.
 */
EXPORT int dlcoll_ms_init(const char *plugin_path, int rank, int world_size, int timeout_ms,
                          const char *init_method, const dlcoll_store_t *store)
{
    pthread_mutex_lock(&g_lock);
    int rc = DLCOLL_SUCCESS;
    if (g_slots[0].comm) {
        rc = set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll.mindspore: init() was already called");
        goto out;
    }
    if (!g_plugin) {
        if (dlcoll_load(&g_loader, plugin_path) != 0) {
            rc = set_error(DLCOLL_ERR_VERSION, "%s", g_loader.error);
            goto out;
        }
        g_plugin = g_loader.plugin;
    }
    dlcoll_config_t cfg = dlcoll_config_init();
    cfg.rank = rank;
    cfg.world_size = world_size;
    cfg.timeout_ms = timeout_ms;
    cfg.init_method = (init_method && *init_method) ? init_method : NULL;
    cfg.store = store;
    dlcoll_comm_t world = NULL;
    rc = g_plugin->init(&cfg, &world);
    if (rc != DLCOLL_SUCCESS) {
        set_error(rc, "dlcoll.mindspore: init failed (%s): %s", g_plugin->status_string(rc),
                  g_plugin->last_error(NULL));
        goto out;
    }
    g_slots[0].comm = world;
    g_slots[0].generation++;
    snprintf(g_slots[0].name, sizeof g_slots[0].name, "world");
out:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* Rank and size of the communicator in slot. */
EXPORT int dlcoll_ms_comm_info(int slot, int *rank, int *size)
{
    if (slot < 0 || slot >= MAX_SLOTS || !g_plugin || !g_slots[slot].comm)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll.mindspore: no communicator in slot %d", slot);
    int rc = g_plugin->comm_rank(g_slots[slot].comm, rank);
    if (rc == DLCOLL_SUCCESS)
        rc = g_plugin->comm_size(g_slots[slot].comm, size);
    if (rc != DLCOLL_SUCCESS)
        return set_error(rc, "dlcoll.mindspore: %s", g_plugin->last_error(g_slots[slot].comm));
    return rc;
}

/*
 * Create a group of world ranks ranks[0..n-1] named name.  Collective over
 * the members.  *slot gets the group's slot and *generation its generation,
 * or -1 when this rank is not a member.
 */
EXPORT int dlcoll_ms_group_create(const int *ranks, int n, const char *name, int *slot,
                                  int *generation)
{
    *slot = -1;
    *generation = -1;
    if (!g_plugin || !g_slots[0].comm)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll.mindspore: call init() before create_group()");
    pthread_mutex_lock(&g_lock);
    int free_slot = -1;
    for (int i = 1; i < MAX_SLOTS && free_slot < 0; i++)
        if (!g_slots[i].comm && !g_slots[i].reserved)
            free_slot = i;
    if (free_slot >= 0)
        g_slots[free_slot].reserved = 1; /* ours while the collective call runs */
    pthread_mutex_unlock(&g_lock);
    if (free_slot < 0)
        return set_error(DLCOLL_ERR_SYSTEM, "dlcoll.mindspore: more than %d groups", MAX_SLOTS - 1);

    dlcoll_comm_t group = NULL;
    int rc = g_plugin->group_create(g_slots[0].comm, ranks, n, name, &group);
    if (rc != DLCOLL_SUCCESS || !group) { /* failed, or not a member */
        pthread_mutex_lock(&g_lock);
        g_slots[free_slot].reserved = 0;
        pthread_mutex_unlock(&g_lock);
        if (rc != DLCOLL_SUCCESS)
            return set_error(rc, "dlcoll.mindspore: create_group('%s') failed (%s): %s", name,
                             g_plugin->status_string(rc), g_plugin->last_error(NULL));
        return DLCOLL_SUCCESS;
    }
    pthread_mutex_lock(&g_lock);
    g_slots[free_slot].reserved = 0;
    g_slots[free_slot].comm = group;
    g_slots[free_slot].generation++;
    snprintf(g_slots[free_slot].name, sizeof g_slots[free_slot].name, "%s", name);
    *slot = free_slot;
    *generation = g_slots[free_slot].generation;
    pthread_mutex_unlock(&g_lock);
    return DLCOLL_SUCCESS;
}

EXPORT int dlcoll_ms_group_destroy(int slot)
{
    if (slot <= 0 || slot >= MAX_SLOTS || !g_plugin)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll.mindspore: bad group slot %d", slot);
    pthread_mutex_lock(&g_lock);
    dlcoll_comm_t group = g_slots[slot].comm;
    g_slots[slot].comm = NULL;
    pthread_mutex_unlock(&g_lock);
    if (!group)
        return DLCOLL_SUCCESS;
    int rc = g_plugin->group_destroy(group);
    if (rc != DLCOLL_SUCCESS)
        return set_error(rc, "dlcoll.mindspore: destroy_group: %s", g_plugin->last_error(NULL));
    return rc;
}

/* Free every communicator (not collective).  The plugin stays loaded. */
EXPORT int dlcoll_ms_finalize(void)
{
    if (!g_plugin || !g_slots[0].comm)
        return DLCOLL_SUCCESS;
    pthread_mutex_lock(&g_lock);
    dlcoll_comm_t world = g_slots[0].comm;
    for (int i = 0; i < MAX_SLOTS; i++)
        g_slots[i].comm = NULL; /* finalize frees the groups too */
    pthread_mutex_unlock(&g_lock);
    int rc = g_plugin->finalize(world);
    if (rc != DLCOLL_SUCCESS)
        return set_error(rc, "dlcoll.mindspore: finalize: %s", g_plugin->last_error(NULL));
    return rc;
}

/* Fail every pending and future operation (any thread). */
EXPORT int dlcoll_ms_abort(void)
{
    if (!g_plugin || !g_slots[0].comm)
        return DLCOLL_SUCCESS;
    return g_plugin->abort(g_slots[0].comm);
}

/* ------------------------------------------------------------------ the AOT op */

/* MindSpore's AOT dtype names (the type's string form) -> DLPack. */
static const struct {
    const char *name;
    uint8_t code, bits;
} k_dtypes[] = {
    {"bool", DLCOLL_DL_BOOL_CODE, 8}, {"int8", kDLInt, 8},       {"int16", kDLInt, 16},
    {"int32", kDLInt, 32},            {"int", kDLInt, 32},       {"int64", kDLInt, 64},
    {"uint8", kDLUInt, 8},            {"uint16", kDLUInt, 16},   {"uint32", kDLUInt, 32},
    {"uint", kDLUInt, 32},            {"uint64", kDLUInt, 64},   {"float16", kDLFloat, 16},
    {"float32", kDLFloat, 32},        {"float", kDLFloat, 32},   {"float64", kDLFloat, 64},
    {"double", kDLFloat, 64},         {"bfloat16", kDLBfloat, 16},
};

static int dtype_of(const char *name, DLDataType *out)
{
    for (size_t i = 0; name && i < sizeof k_dtypes / sizeof k_dtypes[0]; i++) {
        if (strcmp(name, k_dtypes[i].name) == 0) {
            out->code = k_dtypes[i].code;
            out->bits = k_dtypes[i].bits;
            out->lanes = 1;
            return 1;
        }
    }
    return 0;
}

/* Non-NULL address for empty buffers (the plugin rejects NULL data). */
static char g_empty_buffer[8];

/*
 * The group input of every AOT op: int32[k] = { slot, generation, arg... }.
 * Finds the communicator (NULL when the group was destroyed) and copies the
 * group's name for messages.  Returns 0, or a status with g_error set.
 */
static int lookup_group(const char *op, int nparam, int want_params, int *ndims, int64_t **shapes,
                        const char **dtypes, void **params, int n_ints, dlcoll_comm_t *comm,
                        char *group_name, size_t name_cap, int32_t *arg)
{
    if (nparam != want_params)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll %s: expected %d inputs and 1 output, got %d buffers",
                         op, want_params - 1, nparam);
    if (ndims[1] != 1 || shapes[1][0] != n_ints || !dtypes[1] || strcmp(dtypes[1], "int32") != 0)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll %s: the group input is not int32[%d]", op, n_ints);
    const int32_t *group_id = (const int32_t *)params[1];
    int slot = group_id[0], generation = group_id[1];
    *arg = n_ints > 2 ? group_id[2] : 0;
    pthread_mutex_lock(&g_lock);
    *comm = (slot >= 0 && slot < MAX_SLOTS && g_slots[slot].generation == generation) ? g_slots[slot].comm : NULL;
    snprintf(group_name, name_cap, "%s", (slot >= 0 && slot < MAX_SLOTS) ? g_slots[slot].name : "?");
    pthread_mutex_unlock(&g_lock);
    if (!g_plugin || !*comm)
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT,
                         "dlcoll %s: group (slot %d) was destroyed or dlcoll.mindspore is not "
                         "initialized (call dlcoll.mindspore.init() and create_group() first)",
                         op, slot);
    return DLCOLL_SUCCESS;
}

/* params[0] and params[out] as DLPack tensors of MindSpore's buffers (same
 * dtype; the output's shape is MindSpore's, already inferred by the op). */
static int tensors_of(const char *op, const char *group_name, int out, void **params, int *ndims,
                      int64_t **shapes, const char **dtypes, DLTensor *in_t, DLTensor *out_t)
{
    DLDataType dt;
    if (!dtypes[0] || !dtype_of(dtypes[0], &dt))
        return set_error(DLCOLL_ERR_UNSUPPORTED, "dlcoll %s (group '%s'): unsupported dtype %s", op,
                         group_name, dtypes[0] ? dtypes[0] : "(null)");
    if (!dtypes[out] || strcmp(dtypes[0], dtypes[out]) != 0 || ndims[0] < 1 || ndims[out] != ndims[0])
        return set_error(DLCOLL_ERR_INVALID_ARGUMENT,
                         "dlcoll %s (group '%s'): output must have the input's dtype and rank "
                         "(input %s/%d dims, output %s/%d dims)",
                         op, group_name, dtypes[0], ndims[0], dtypes[out] ? dtypes[out] : "(null)",
                         ndims[out]);
    int64_t in_elems = 1, out_elems = 1;
    for (int d = 0; d < ndims[0]; d++) {
        in_elems *= shapes[0][d];
        out_elems *= shapes[out][d];
    }
    memset(in_t, 0, sizeof *in_t);
    in_t->data = (params[0] && in_elems) ? params[0] : g_empty_buffer;
    in_t->device.device_type = kDLCPU;
    in_t->ndim = ndims[0];
    in_t->dtype = dt;
    in_t->shape = shapes[0];
    *out_t = *in_t;
    out_t->data = (params[out] && out_elems) ? params[out] : g_empty_buffer;
    out_t->shape = shapes[out];
    return DLCOLL_SUCCESS;
}

/* The ABI 1.1 entries need a 1.1 plugin: say which one this is. */
static int need_1_1(const char *op, const char *group_name)
{
    if (DLCOLL_PLUGIN_HAS(g_plugin, broadcast))
        return DLCOLL_SUCCESS;
    return set_error(DLCOLL_ERR_UNSUPPORTED, "dlcoll %s (group '%s'): the plugin %s has ABI %u.%u; %s needs 1.1",
                     op, group_name, g_loader.path, g_plugin->abi_major, g_plugin->abi_minor, op);
}

/* Print the recorded error; the AOT kernel's non-zero result. */
static int kernel_failed(int rc)
{
    fprintf(stderr, "%s\n", g_error);
    fflush(stderr);
    return rc ? rc : 1;
}

/* What every kernel starts from: the group's communicator and name, the
 * group input's argument, and the two tensors. */
typedef struct kernel_call {
    dlcoll_comm_t comm;
    char name[128];
    int32_t arg;
    DLTensor in, out;
} kernel_call;

/* The common start of every kernel: the group (int32[n_ints]), the ABI 1.1
 * check when the op needs it, and the tensors.  Returns 0 or a status with
 * g_error set. */
static int begin_kernel(const char *op, int n_ints, int needs_1_1, int nparam, void **params, int *ndims,
                        int64_t **shapes, const char **dtypes, kernel_call *k)
{
    g_error[0] = '\0';
    int rc = lookup_group(op, nparam, 3, ndims, shapes, dtypes, params, n_ints, &k->comm, k->name,
                          sizeof k->name, &k->arg);
    if (rc == DLCOLL_SUCCESS && needs_1_1)
        rc = need_1_1(op, k->name);
    if (rc == DLCOLL_SUCCESS)
        rc = tensors_of(op, k->name, 2, params, ndims, shapes, dtypes, &k->in, &k->out);
    return rc;
}

/* Record the plugin's failure of op; returns the AOT kernel's result. */
static int kernel_result(const char *op, const char *group_name, dlcoll_comm_t comm, int rc)
{
    if (rc != DLCOLL_SUCCESS) {
        set_error(rc, "dlcoll %s (group '%s') failed (%s): %s", op, group_name, g_plugin->status_string(rc),
                  g_plugin->last_error(comm));
        return kernel_failed(rc);
    }
    return 0;
}

/*
 * The AOT kernel: gather params[0] of every rank of the group named by
 * params[1] into params[2].  Returns 0 on success; anything else makes
 * MindSpore raise, and the reason is in dlcoll_ms_last_error() and on stderr.
 */
EXPORT int dlcoll_ms_allgather(int nparam, void **params, int *ndims, int64_t **shapes,
                               const char **dtypes, void *stream, void *extra)
{
    (void)stream;
    (void)extra;
    kernel_call k;
    int rc = begin_kernel("AllGather", 2, 0, nparam, params, ndims, shapes, dtypes, &k);
    if (rc != DLCOLL_SUCCESS)
        return kernel_failed(rc);
    return kernel_result("AllGather", k.name, k.comm, g_plugin->allgather(k.comm, &k.in, &k.out, NULL));
}

/*
 * AllReduce / ReduceScatter: params[1] is int32[3] { slot, generation, op }
 * with op a dlcoll_red_op_t (sum, prod, min, max, avg; band, bor, bxor for
 * integers).  AllReduce: out has x's shape.  ReduceScatter: x is
 * (N*out0, ...), out is (out0, ...), this rank's block of the reduction.
 */
static int reduce_kernel(const char *op, int scatter, int nparam, void **params, int *ndims, int64_t **shapes,
                         const char **dtypes)
{
    kernel_call k;
    int rc = begin_kernel(op, 3, 1, nparam, params, ndims, shapes, dtypes, &k);
    int32_t red_op = k.arg;
    if (rc == DLCOLL_SUCCESS && (red_op < DLCOLL_RED_SUM || red_op > DLCOLL_RED_BXOR ||
                                 red_op == DLCOLL_RED_PREMUL_SUM))
        rc = set_error(DLCOLL_ERR_INVALID_ARGUMENT, "dlcoll %s (group '%s'): bad reduction %d", op, k.name,
                       (int)red_op);
    if (rc != DLCOLL_SUCCESS)
        return kernel_failed(rc);
    dlcoll_reduction_t red = dlcoll_reduction((dlcoll_red_op_t)red_op);
    rc = scatter ? g_plugin->reduce_scatter(k.comm, &k.in, &k.out, &red, NULL)
                 : g_plugin->allreduce(k.comm, &k.in, &k.out, &red, NULL);
    return kernel_result(op, k.name, k.comm, rc);
}

EXPORT int dlcoll_ms_allreduce(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                               void *stream, void *extra)
{
    (void)stream;
    (void)extra;
    return reduce_kernel("AllReduce", 0, nparam, params, ndims, shapes, dtypes);
}

EXPORT int dlcoll_ms_reduce_scatter(int nparam, void **params, int *ndims, int64_t **shapes,
                                    const char **dtypes, void *stream, void *extra)
{
    (void)stream;
    (void)extra;
    return reduce_kernel("ReduceScatter", 1, nparam, params, ndims, shapes, dtypes);
}

/*
 * Broadcast: params[1] is int32[3] { slot, generation, root } (root a rank
 * of the group).  The root copies x into out; then out is broadcast.  Every
 * rank passes an x of out's shape (MindSpore allocates out from it).
 */
EXPORT int dlcoll_ms_broadcast(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                               void *stream, void *extra)
{
    (void)stream;
    (void)extra;
    kernel_call k;
    int rc = begin_kernel("Broadcast", 3, 1, nparam, params, ndims, shapes, dtypes, &k);
    int me = -1;
    if (rc == DLCOLL_SUCCESS && (rc = g_plugin->comm_rank(k.comm, &me)) != DLCOLL_SUCCESS)
        set_error(rc, "dlcoll Broadcast (group '%s'): %s", k.name, g_plugin->last_error(k.comm));
    if (rc != DLCOLL_SUCCESS)
        return kernel_failed(rc);
    if (me == k.arg) {
        size_t bytes = (size_t)(k.in.dtype.bits / 8);
        for (int d = 0; d < k.in.ndim; d++)
            bytes *= (size_t)k.in.shape[d];
        if (bytes && k.in.data != k.out.data)
            memcpy(k.out.data, k.in.data, bytes);
    }
    return kernel_result("Broadcast", k.name, k.comm, g_plugin->broadcast(k.comm, &k.out, k.arg, NULL));
}
