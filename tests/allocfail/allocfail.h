/*
 * allocfail.h -- allocation-failure injection for the test build of the plugin
 * (tests only: nothing of this is in libdlcoll.so).
 *
 * tests/CMakeLists.txt links the plugin's objects a second time, into
 * dlcoll_allocfail.so, with -Wl,--wrap for malloc, calloc, realloc and free
 * (so only the plugin's own calls go through allocfail.c: not libfabric's,
 * hwloc's or libc's) and for dlc_progress_wait, dlc_progress_pass and
 * dlc_plan_cache_lookup (called from collective.c and group.c).
 *
 * A window, on the calling thread: af_arm(k) opens one; in it the k-th
 * allocation (malloc, calloc or realloc) fails, once (k = 0: none fails), and
 * every allocation made is remembered until it is freed; inside
 * dlc_progress_wait / dlc_progress_pass nothing is counted, failed or
 * remembered (what the progress engine does is not the call's local part).
 * af_disarm() closes it and says what happened.  A test finds the functions
 * with dlsym on the loaded plugin (af_load).
 */
#ifndef DLCOLL_ALLOCFAIL_H
#define DLCOLL_ALLOCFAIL_H

typedef struct af_report {
    long allocs;        /* allocations counted in the window */
    int injected;       /* the armed one failed */
    long live;          /* allocations of this window not freed yet */
    long lookups, hits; /* dlc_plan_cache_lookup calls in the window, and hits */
} af_report;

typedef struct af_api {
    void (*arm)(long k);
    void (*disarm)(af_report *out);
    long (*live_total)(void); /* remembered allocations of all windows not freed yet */
} af_api;

#define AF_ARM_SYM "dlc_af_arm"
#define AF_DISARM_SYM "dlc_af_disarm"
#define AF_LIVE_SYM "dlc_af_live_total"

#endif
