/*
 * keep_loaded.c -- LD_PRELOAD helper for the AddressSanitizer run
 * (scripts/test-sanitize.sh): dlclose() of libfabric or one of its provider
 * libraries (.../libfabric/lib*-fi.so), or of one of hwloc's plugins
 * (.../hwloc/hwloc_*.so), leaves that library mapped.
 *
 * Why: LeakSanitizer looks for leaks at exit.  The plugin unloads libfabric
 * when its last world is finalized (docs/abi.md section 14), and hwloc
 * unloads its plugins when a topology is destroyed.  Those libraries and the
 * ones they pull in keep some heap blocks in their globals that their
 * destructors do not free (an 8 KiB calloc in libfabric's shm endpoint
 * set-up, strings and tables from the constructors of its dependencies,
 * 136-byte blocks of a hwloc plugin's dependency during hwloc_topology_load).
 * Once the libraries are unmapped the blocks are unreachable and LSan reports
 * them -- with stack frames of "<unknown module>", because the code that
 * allocated them is gone too, so no suppression entry can single out their
 * frames from dlcoll's (libdlcoll.so is dlclosed by the hosts as well).  Left
 * mapped, their globals still point at their blocks, and every remaining
 * report is one whose frames are still named.
 *
 * Only those third-party files are kept: libdlcoll.so and everything else are
 * closed as usual, so a block that dlcoll leaves behind at unload is still
 * reported.  Not used for mp_test_guest, which checks that libfabric is
 * unmapped after finalize (scripts/test-sanitize.sh runs it on its own).
 *
 * Built only with -DDLCOLL_SANITIZE containing address or leak, without
 * instrumentation; preload it after the ASan runtime:
 *     LD_PRELOAD="$(gcc -print-file-name=libasan.so):build-asan/lib/dlcoll_keep_loaded.so"
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

static int keep(const char *path)
{
    if (!path)
        return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "libfabric.so", 12) == 0 || strstr(path, "/libfabric/") != NULL ||
           (strstr(path, "/hwloc/") != NULL && strncmp(base, "hwloc_", 6) == 0);
}

int dlclose(void *handle)
{
    static int (*real_dlclose)(void *);
    if (!real_dlclose)
        real_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    struct link_map *lm = NULL;
    void *volatile h = handle; /* glibc declares the argument nonnull; a host may still pass NULL */
    if (h && dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && keep(lm->l_name))
        return 0; /* left mapped on purpose; see the comment at the top */
    return real_dlclose(handle);
}
