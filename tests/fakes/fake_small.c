/* fake_small.c -- ABI 1 but struct_size ends before the last 1.0 entry
 * (finalize): refused. */
#include <stddef.h>
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v1 =
    FAKE_PLUGIN_INIT(DLCOLL_ABI_MAJOR, offsetof(dlcoll_plugin_v1_t, finalize));
