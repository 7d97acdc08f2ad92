/*
 * cma.h -- copy from another process's memory (Linux cross-memory attach,
 * process_vm_readv): one copy from a peer's buffer into this rank's tensor.
 */
#ifndef DLC_CMA_H
#define DLC_CMA_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "plugin/util/tensor.h"

/* Copy `bytes` bytes from the runs `remote` (nr entries, in process pid) into
 * logical bytes [off, off + bytes) of dst.  Returns 0, or an errno value:
 * ESRCH (the process is gone), EPERM (not allowed: ptrace restrictions),
 * EFAULT (an address is not mapped there), EIO (fewer bytes than published),
 * ENOMEM. */
int dlc_cma_read(pid_t pid, const struct iovec *remote, int nr, const dlc_tensor *dst, size_t off,
                 size_t bytes);

/* Read 8 bytes at addr in pid into *out; 0 or an errno value. */
int dlc_cma_read_u64(pid_t pid, uint64_t addr, uint64_t *out);

#endif
