/* fake_nullentry.c -- a complete ABI 1.0 struct except one NULL entry
 * (barrier): refused. */
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v1 = {
    .abi_major = DLCOLL_ABI_MAJOR, .abi_minor = 0, .struct_size = sizeof(dlcoll_plugin_v1_t),
    .name = "fake", .version = "0.0.0", .status_string = fake_status_string,
    .last_error = fake_last_error, .init = fake_init, .comm_rank = fake_rank,
    .comm_size = fake_rank, .group_create = fake_group_create, .group_split = fake_group_split,
    .group_destroy = fake_comm, .allgather = fake_allgather,
    .allgather_list = fake_allgather_list, .barrier = NULL, .test = fake_request,
    .wait = fake_wait, .request_free = fake_request, .request_error = fake_request_error,
    .abort = fake_comm, .finalize = fake_comm,
};
