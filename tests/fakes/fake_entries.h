/*
 * fake_entries.h -- entries for the fake plugins of the loader tests.
 *
 * Every entry fails with DLCOLL_ERR_UNSUPPORTED (or returns fixed text), so a
 * host that wrongly accepted a broken fake cannot do anything with it.
 * FAKE_PLUGIN_INIT(major, size) fills a complete dlcoll_plugin_v1_t named "fake".
 */
#ifndef DLCOLL_FAKE_ENTRIES_H
#define DLCOLL_FAKE_ENTRIES_H

#include "abi/dlcoll.h"

#define FAKE_EXPORT __attribute__((visibility("default")))
/* Not every fake uses every entry (fake_nullentry leaves one out). */
#define FAKE_FN static __attribute__((unused))

FAKE_FN const char *fake_status_string(dlcoll_status_t s)
{
    return s == DLCOLL_SUCCESS ? "fake success" : "fake error";
}
FAKE_FN const char *fake_last_error(dlcoll_comm_t c) { return "fake plugin: unsupported"; }
FAKE_FN dlcoll_status_t fake_init(const dlcoll_config_t *cfg, dlcoll_comm_t *c)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_rank(dlcoll_comm_t c, int *r) { return DLCOLL_ERR_UNSUPPORTED; }
FAKE_FN dlcoll_status_t fake_group_create(dlcoll_comm_t p, const int *r, int n, const char *name,
                                         dlcoll_comm_t *g)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_group_split(dlcoll_comm_t p, int color, int key, dlcoll_comm_t *g)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_comm(dlcoll_comm_t c) { return DLCOLL_ERR_UNSUPPORTED; }
FAKE_FN dlcoll_status_t fake_allgather(dlcoll_comm_t c, const DLTensor *in, DLTensor *out,
                                      dlcoll_request_t *r)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_allgather_list(dlcoll_comm_t c, const DLTensor *in,
                                           DLTensor *const *outs, int n, dlcoll_request_t *r)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_barrier(dlcoll_comm_t c, dlcoll_request_t *r)
{
    return DLCOLL_ERR_UNSUPPORTED;
}
FAKE_FN dlcoll_status_t fake_request(dlcoll_request_t r) { return DLCOLL_ERR_UNSUPPORTED; }
FAKE_FN dlcoll_status_t fake_wait(dlcoll_request_t r, int ms) { return DLCOLL_ERR_UNSUPPORTED; }
FAKE_FN const char *fake_request_error(dlcoll_request_t r) { return "fake plugin: unsupported"; }

#define FAKE_PLUGIN_INIT(major, size)                                                  \
    {                                                                                  \
        .abi_major = (major), .abi_minor = 0, .struct_size = (size), .name = "fake",   \
        .version = "0.0.0", .status_string = fake_status_string,                       \
        .last_error = fake_last_error, .init = fake_init, .comm_rank = fake_rank,      \
        .comm_size = fake_rank, .group_create = fake_group_create,                     \
        .group_split = fake_group_split, .group_destroy = fake_comm,                   \
        .allgather = fake_allgather, .allgather_list = fake_allgather_list,            \
        .barrier = fake_barrier, .test = fake_request, .wait = fake_wait,              \
        .request_free = fake_request, .request_error = fake_request_error,             \
        .abort = fake_comm, .finalize = fake_comm,                                     \
    }

#endif
