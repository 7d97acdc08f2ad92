/* fake_good.c -- a minimal valid ABI 1.0 plugin named "fake"; every entry
 * fails with DLCOLL_ERR_UNSUPPORTED.  The loader must accept it. */
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v1 =
    FAKE_PLUGIN_INIT(DLCOLL_ABI_MAJOR, sizeof(dlcoll_plugin_v1_t));
