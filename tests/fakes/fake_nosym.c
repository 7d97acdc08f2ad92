/* fake_nosym.c -- a valid-looking struct under another name only: the loader
 * finds no dlcoll_plugin_v1 and refuses the file. */
#include "fake_entries.h"

FAKE_EXPORT const dlcoll_plugin_v1_t dlcoll_plugin_v0 =
    FAKE_PLUGIN_INIT(DLCOLL_ABI_MAJOR, sizeof(dlcoll_plugin_v1_t));
