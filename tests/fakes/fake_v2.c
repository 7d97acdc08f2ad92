/* fake_v2.c -- exports dlcoll_plugin_v1 but claims ABI 2.0: refused. */
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v1 =
    FAKE_PLUGIN_INIT(2, sizeof(dlcoll_plugin_v1_t));
