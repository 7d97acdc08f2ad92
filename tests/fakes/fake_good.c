/* fake_good.c -- a minimal valid ABI 1.0 plugin named "fake": its
 * struct_size stops at 1.0's last entry (finalize), so a 1.1 host finds
 * none of the 1.1 entries (DLCOLL_PLUGIN_HAS false).  Every entry fails with
 * DLCOLL_ERR_UNSUPPORTED.  The loader must accept it. */
#include <stddef.h>
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v1 = FAKE_PLUGIN_INIT(
    DLCOLL_ABI_MAJOR, offsetof(dlcoll_plugin_v1_t, finalize) + sizeof(void (*)(void)));
