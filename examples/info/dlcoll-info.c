/*
 * dlcoll-info -- what dlcoll sees on this machine, like fi_info or ucx_info.
 *
 *   dlcoll-info [--json] [--check N]
 *
 * Prints the plugin (name, version, ABI, the file it was loaded from), the
 * libfabric it loads (version, file) and the providers that open here, the
 * hwloc topology (cores, NUMA nodes, NICs) and the interface dlcoll would
 * pick, and every setting with its value and source; with --check N, runs
 * an N-rank self-test through dlcoll-run (check.c).  Plain text, or JSON
 * with --json.  Exit status: 0 when everything reported works, 1 when
 * something is broken (the plugin does not load, no provider opens, a
 * setting is invalid, the check failed), 2 for bad usage.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/info/info.h"
#include "examples/tool_paths.h"

static void usage(FILE *f)
{
    fputs("usage: dlcoll-info [--json] [--check N]\n"
          "  What dlcoll sees here: plugin, libfabric and its providers, topology and\n"
          "  interface choice, every setting in effect with its source.\n"
          "  --json      machine-readable output\n"
          "  --check N   also run an N-rank self-test through dlcoll-run (1..64)\n",
          f);
}

int main(int argc, char **argv)
{
    int json = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 64) {
                fprintf(stderr, "dlcoll-info: --check '%s': a number of ranks 1..64\n", argv[i]);
                return 2;
            }
            check = (int)v;
        } else if (strcmp(argv[i], "--check-rank") == 0) { /* a rank of --check */
            char path[1024];
            return info_check_rank(dlcoll_tool_plugin(path, sizeof path, NULL));
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "dlcoll-info: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    info_out *o = info_out_new(json);
    if (o == NULL) {
        fputs("dlcoll-info: out of memory\n", stderr);
        return 1;
    }
    char plugin[1024];
    int broken = 0;
    broken |= info_plugin(o, plugin, sizeof plugin) != 0;
    broken |= info_fabric(o) != 0;
    broken |= info_topology(o) != 0;
    broken |= info_settings(o) != 0;
    if (check > 0)
        broken |= info_check(o, check, plugin) != 0;
    info_out_finish(o);
    return broken ? 1 : 0;
}
