/*
 * cma_check.h -- what a CMA reader checks before it believes a peer's
 * published memory runs and its pid (docs/security.md "Shared segments and
 * CMA"): the runs' addresses and lengths without overflow, and the peer's
 * identity pinned once (pidfd, or the start time where pidfds are missing).
 */
#ifndef DLC_CMA_CHECK_H
#define DLC_CMA_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Highest user address plus one that any Linux process may have (x86-64
 * with 5-level paging; arm64 with 52 bits is below it). */
#define DLC_CMA_ADDR_END (UINT64_C(1) << 57)

/* Validate n runs (addr[i], len[i]) published by a peer, which must total
 * exactly `bytes`: 1 <= n <= max_runs, no run wraps or ends above
 * DLC_CMA_ADDR_END, and the sum does not overflow.  0 with out[0..n)
 * filled; EINVAL (a forged or broken run), or EMSGSIZE (valid runs of
 * another total), with the reason in why. */
int dlc_cma_check_runs(const uint64_t *addr, const uint64_t *len, uint32_t n, uint32_t max_runs,
                       size_t bytes, struct iovec *out, char *why, size_t why_cap);

/* A peer process, pinned at the first check of its identity. */
typedef struct dlc_cma_pin {
    pid_t pid;                /* 0: not pinned */
    int pidfd;                /* -1 when the kernel has no pidfd_open */
    unsigned long long start; /* its start time (/proc/<pid>/stat field 22), without a pidfd */
} dlc_cma_pin;

/* Pin pid: 0, or an errno value (ESRCH: it is gone). */
int dlc_cma_pin_open(dlc_cma_pin *p, pid_t pid);
/* 0 while the pinned process is still the one pinned, ESRCH once it exited
 * (its pid may then name another process). */
int dlc_cma_pin_check(const dlc_cma_pin *p);
void dlc_cma_pin_close(dlc_cma_pin *p);

#endif
