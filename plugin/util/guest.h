/*
 * guest.h -- leaving what the host owns as the host left it.
 *
 * dlcoll runs inside someone else's process.  The libraries it loads run code
 * of their own at load time and at start-up, and some of it changes state
 * that belongs to the whole process: PSM's libinfinipath.so.4 (linked by
 * libfabric) installs handlers for SIGINT, SIGTERM, SIGSEGV, SIGBUS, SIGILL
 * and SIGABRT from its constructor, each calling exit(1).  So every call into
 * such code -- dlopen of libfabric, fi_getinfo and a provider's start-up,
 * hwloc's topology load (it dlopens its plugins), dlclose of libfabric -- is
 * bracketed:
 *
 *     dlc_guest_state g;
 *     dlc_guest_save(&g);
 *     ... library code ...
 *     dlc_guest_restore(&g, lg, "loading libfabric");
 *
 * dlc_guest_restore puts back every signal disposition (handler, flags,
 * mask) and the calling thread's signal mask that changed in between, and
 * says so at INFO.  Only what changed is written, so a handler the host
 * installs from another thread in that window is lost only if a library also
 * replaced the same signal's handler there (docs/abi.md, "A guest in the
 * host's process").
 */
#ifndef DLC_GUEST_H
#define DLC_GUEST_H

#include <signal.h>
#include "plugin/util/log.h"

#define DLC_GUEST_NSIG 65 /* signals 1..64 (SIGRTMAX on Linux) */

typedef struct dlc_guest_state {
    struct sigaction act[DLC_GUEST_NSIG];
    int have[DLC_GUEST_NSIG]; /* act[s] was read */
    sigset_t mask;            /* the calling thread's signal mask */
} dlc_guest_state;

/* Record the dispositions of every signal and the thread's signal mask. */
void dlc_guest_save(dlc_guest_state *g);

/* Put back what changed since dlc_guest_save; what is "what ran in between"
 * for the log line (lg may be NULL: no log).  Returns how many signal
 * dispositions it restored. */
int dlc_guest_restore(const dlc_guest_state *g, const dlc_logger *lg, const char *what);

#endif
