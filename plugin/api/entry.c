/*
 * entry.c -- the one exported symbol: the ABI v1 entry struct (minor 1).
 *
 * The wrappers here only check NULL arguments (reporting them through the
 * thread's error, and the communicator's when there is one) and forward to
 * the implementations in api.h.  Everything else in the library is hidden
 * (-fvisibility=hidden), so `nm -D --defined-only libdlcoll.so` lists
 * dlcoll_plugin_v1 alone.
 */
#include <stdio.h>

#include "plugin/api/api.h"

#ifndef DLCOLL_VERSION_STRING
#define DLCOLL_VERSION_STRING "0.0.0-unknown"
#endif

/* A NULL argument: "<fn>: <what> is NULL" in the thread's error (and comm's). */
static dlcoll_status_t null_arg(dlcoll_comm *c, const char *fn, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s is NULL", fn, what);
    dlc_thread_error_set(msg);
    if (c) {
        pthread_mutex_lock(&c->w->lock);
        dlc_comm_set_error(c, msg);
        pthread_mutex_unlock(&c->w->lock);
    }
    return DLCOLL_ERR_INVALID_ARGUMENT;
}

static const char *e_status_string(dlcoll_status_t status)
{
    return dlc_status_string(status);
}

static const char *e_last_error(dlcoll_comm_t comm)
{
    return comm ? dlc_api_last_error(comm) : dlc_thread_error();
}

static dlcoll_status_t e_init(const dlcoll_config_t *config, dlcoll_comm_t *comm)
{
    if (!comm)
        return null_arg(NULL, "init", "comm");
    return dlc_api_init(config, comm);
}

static dlcoll_status_t e_comm_rank(dlcoll_comm_t comm, int *rank)
{
    if (!comm)
        return null_arg(NULL, "comm_rank", "comm");
    if (!rank)
        return null_arg(comm, "comm_rank", "rank");
    *rank = comm->rank;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t e_comm_size(dlcoll_comm_t comm, int *size)
{
    if (!comm)
        return null_arg(NULL, "comm_size", "comm");
    if (!size)
        return null_arg(comm, "comm_size", "size");
    *size = comm->size;
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t e_group_create(dlcoll_comm_t parent, const int *ranks, int n,
                                      const char *name, dlcoll_comm_t *group)
{
    if (!parent)
        return null_arg(NULL, "group_create", "parent");
    if (!group)
        return null_arg(parent, "group_create", "group");
    *group = NULL;
    return dlc_api_group_create(parent, ranks, n, name, group);
}

static dlcoll_status_t e_group_split(dlcoll_comm_t parent, int color, int key, dlcoll_comm_t *group)
{
    if (!parent)
        return null_arg(NULL, "group_split", "parent");
    if (!group)
        return null_arg(parent, "group_split", "group");
    *group = NULL;
    return dlc_api_group_split(parent, color, key, group);
}

static dlcoll_status_t e_group_destroy(dlcoll_comm_t group)
{
    if (!group)
        return null_arg(NULL, "group_destroy", "group");
    return dlc_api_group_destroy(group);
}

static dlcoll_status_t e_allgather(dlcoll_comm_t comm, const DLTensor *input, DLTensor *output,
                                   dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "allgather", "comm");
    return dlc_api_allgather(comm, input, output, request);
}

static dlcoll_status_t e_allgather_list(dlcoll_comm_t comm, const DLTensor *input,
                                        DLTensor *const *outputs, int n_outputs,
                                        dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "allgather_list", "comm");
    return dlc_api_allgather_list(comm, input, outputs, n_outputs, request);
}

static dlcoll_status_t e_barrier(dlcoll_comm_t comm, dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "barrier", "comm");
    return dlc_api_barrier(comm, request);
}

static dlcoll_status_t e_test(dlcoll_request_t request)
{
    if (!request)
        return null_arg(NULL, "test", "request");
    return dlc_api_test(request);
}

static dlcoll_status_t e_wait(dlcoll_request_t request, int timeout_ms)
{
    if (!request)
        return null_arg(NULL, "wait", "request");
    return dlc_api_wait(request, timeout_ms);
}

static dlcoll_status_t e_request_free(dlcoll_request_t request)
{
    if (!request)
        return null_arg(NULL, "request_free", "request");
    return dlc_api_request_free(request);
}

static const char *e_request_error(dlcoll_request_t request)
{
    if (!request)
        return "request_error: request is NULL";
    return dlc_api_request_error(request);
}

static dlcoll_status_t e_abort(dlcoll_comm_t comm)
{
    if (!comm)
        return null_arg(NULL, "abort", "comm");
    return dlc_api_abort(comm);
}

static dlcoll_status_t e_finalize(dlcoll_comm_t comm)
{
    if (!comm)
        return null_arg(NULL, "finalize", "comm");
    return dlc_api_finalize(comm);
}

/* ------------------------------------------------------------------ ABI 1.1 */

static dlcoll_status_t e_allreduce(dlcoll_comm_t comm, const DLTensor *input, DLTensor *output,
                                   const dlcoll_reduction_t *reduction, dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "allreduce", "comm");
    if (!input)
        return null_arg(comm, "allreduce", "input");
    if (!output)
        return null_arg(comm, "allreduce", "output");
    if (!reduction)
        return null_arg(comm, "allreduce", "reduction");
    return dlc_api_allreduce(comm, input, output, reduction, request);
}

static dlcoll_status_t e_reduce_scatter(dlcoll_comm_t comm, const DLTensor *input, DLTensor *output,
                                        const dlcoll_reduction_t *reduction,
                                        dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "reduce_scatter", "comm");
    if (!input)
        return null_arg(comm, "reduce_scatter", "input");
    if (!output)
        return null_arg(comm, "reduce_scatter", "output");
    if (!reduction)
        return null_arg(comm, "reduce_scatter", "reduction");
    return dlc_api_reduce_scatter(comm, input, output, reduction, request);
}

static dlcoll_status_t e_reduce_scatter_list(dlcoll_comm_t comm, const DLTensor *const *inputs,
                                             int n_inputs, DLTensor *output,
                                             const dlcoll_reduction_t *reduction,
                                             dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "reduce_scatter_list", "comm");
    if (!inputs)
        return null_arg(comm, "reduce_scatter_list", "inputs");
    if (!output)
        return null_arg(comm, "reduce_scatter_list", "output");
    if (!reduction)
        return null_arg(comm, "reduce_scatter_list", "reduction");
    return dlc_api_reduce_scatter_list(comm, inputs, n_inputs, output, reduction, request);
}

static dlcoll_status_t e_broadcast(dlcoll_comm_t comm, DLTensor *tensor, int root,
                                   dlcoll_request_t *request)
{
    if (request)
        *request = NULL;
    if (!comm)
        return null_arg(NULL, "broadcast", "comm");
    if (!tensor)
        return null_arg(comm, "broadcast", "tensor");
    return dlc_api_broadcast(comm, tensor, root, request);
}

__attribute__((visibility("default"))) const dlcoll_plugin_v1_t dlcoll_plugin_v1 = {
    .abi_major = DLCOLL_ABI_MAJOR,
    .abi_minor = DLCOLL_ABI_MINOR,
    .struct_size = sizeof(dlcoll_plugin_v1_t),
    .name = "dlcoll-ofi",
    .version = DLCOLL_VERSION_STRING,
    .status_string = e_status_string,
    .last_error = e_last_error,
    .init = e_init,
    .comm_rank = e_comm_rank,
    .comm_size = e_comm_size,
    .group_create = e_group_create,
    .group_split = e_group_split,
    .group_destroy = e_group_destroy,
    .allgather = e_allgather,
    .allgather_list = e_allgather_list,
    .barrier = e_barrier,
    .test = e_test,
    .wait = e_wait,
    .request_free = e_request_free,
    .request_error = e_request_error,
    .abort = e_abort,
    .finalize = e_finalize,
    .allreduce = e_allreduce,
    .reduce_scatter = e_reduce_scatter,
    .reduce_scatter_list = e_reduce_scatter_list,
    .broadcast = e_broadcast,
};
