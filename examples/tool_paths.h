/*
 * tool_paths.h -- where an installed tool finds the plugin and its sibling tools.
 *
 * The tools (dlcoll-bench, dlcoll-info) live in a bin/ directory with the
 * plugin in the lib/ beside it: the build tree (build/bin, build/lib), an
 * install prefix (P/bin, P/lib) and the wheel (dlcoll/bin, dlcoll/lib inside
 * the Python package) all have that shape.  So a tool finds everything from
 * its own location (/proc/self/exe), and needs no DLCOLL_PLUGIN, no
 * LD_LIBRARY_PATH and no compiled-in build path.
 */
#ifndef DLCOLL_TOOL_PATHS_H
#define DLCOLL_TOOL_PATHS_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DLCOLL_DEFAULT_PLUGIN
#define DLCOLL_DEFAULT_PLUGIN "libdlcoll.so"
#endif

/* The directory of the running executable, without the trailing '/'; 0 on
 * success, -1 (buf = "") when /proc/self/exe cannot be read. */
static inline int dlcoll_tool_dir(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    buf[0] = '\0';
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL || (size_t)(slash - exe) >= cap)
        return -1;
    *slash = '\0';
    snprintf(buf, cap, "%s", exe);
    return 0;
}

/* The plugin a tool loads, written into buf: $DLCOLL_PLUGIN; else
 * <tool dir>/../lib/libdlcoll.so when it exists; else DLCOLL_DEFAULT_PLUGIN
 * when it exists; else "libdlcoll.so" (the dynamic linker's search).  *from
 * (may be NULL) says which: "DLCOLL_PLUGIN", "next to the tool", "built-in
 * path" or "library search path". */
static inline const char *dlcoll_tool_plugin(char *buf, size_t cap, const char **from)
{
    const char *src;
    const char *env = getenv("DLCOLL_PLUGIN");
    char dir[PATH_MAX];
    if (env != NULL && env[0] != '\0') {
        snprintf(buf, cap, "%s", env);
        src = "DLCOLL_PLUGIN";
    } else if (dlcoll_tool_dir(dir, sizeof dir) == 0 &&
               snprintf(buf, cap, "%s/../lib/libdlcoll.so", dir) < (int)cap &&
               access(buf, R_OK) == 0) {
        char *real = realpath(buf, NULL);
        if (real != NULL) {
            snprintf(buf, cap, "%s", real);
            free(real);
        }
        src = "next to the tool";
    } else if (access(DLCOLL_DEFAULT_PLUGIN, R_OK) == 0) {
        snprintf(buf, cap, "%s", DLCOLL_DEFAULT_PLUGIN);
        src = "built-in path";
    } else {
        snprintf(buf, cap, "%s", "libdlcoll.so");
        src = "library search path";
    }
    if (from != NULL)
        *from = src;
    return buf;
}

#endif
