/*
 * abi_stub.c -- the exported surface of abi/dlcoll.h alone, for
 * scripts/check-abi.sh: a shared object that defines the plugin's one symbol
 * exactly as plugin/api/entry.c does, so that abidw / abidiff see every type
 * reachable from it (the struct of entries, their parameter types, DLPack's
 * types) as declared by the header the stub is compiled against (-I).
 */
#include "abi/dlcoll.h"

__attribute__((visibility("default"))) const dlcoll_plugin_v1_t dlcoll_plugin_v1 = {0};
