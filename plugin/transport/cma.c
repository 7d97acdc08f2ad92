/*
 * cma.c -- process_vm_readv into a tensor's runs.
 *
 * The destination runs are the local iovec list when there are few of them
 * (LOCAL_RUNS_MAX), so the kernel copies straight into the user's tensor;
 * a block with more runs is read into a staging buffer and unpacked.  The
 * syscall may copy less than asked (it stops at the first unmapped page, or
 * after an internal limit), so both lists are advanced and the call repeated.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/transport/cma.h"

#define LOCAL_RUNS_MAX 64
#define CALL_IOV_MAX 1024 /* UIO_MAXIOV */

typedef struct run_list {
    struct iovec *iov;
    int n, cap;
} run_list;

static int collect_run(void *ctx, uint8_t *ptr, size_t n)
{
    run_list *l = ctx;
    if (l->n == l->cap)
        return 1;
    l->iov[l->n].iov_base = ptr;
    l->iov[l->n].iov_len = n;
    l->n++;
    return 0;
}

/* Drop `n` bytes from the front of iov[*i..cnt). */
static void advance(struct iovec *iov, int cnt, int *i, size_t n)
{
    while (n > 0 && *i < cnt) {
        if (n >= iov[*i].iov_len) {
            n -= iov[*i].iov_len;
            (*i)++;
        } else {
            iov[*i].iov_base = (uint8_t *)iov[*i].iov_base + n;
            iov[*i].iov_len -= n;
            n = 0;
        }
    }
}

static int read_runs(pid_t pid, struct iovec *local, int nl, struct iovec *remote, int nr,
                     size_t bytes)
{
    int li = 0, ri = 0;
    size_t left = bytes;
    while (left > 0) {
        if (li >= nl || ri >= nr)
            return EIO;
        int lc = nl - li < CALL_IOV_MAX ? nl - li : CALL_IOV_MAX;
        int rc = nr - ri < CALL_IOV_MAX ? nr - ri : CALL_IOV_MAX;
        ssize_t got =
            process_vm_readv(pid, local + li, (unsigned long)lc, remote + ri, (unsigned long)rc, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (got == 0)
            return EFAULT;
        if ((size_t)got > left)
            got = (ssize_t)left;
        left -= (size_t)got;
        advance(local, nl, &li, (size_t)got);
        advance(remote, nr, &ri, (size_t)got);
    }
    return 0;
}

int dlc_cma_read(pid_t pid, const struct iovec *remote, int nr, const dlc_tensor *dst, size_t off,
                 size_t bytes)
{
    if (bytes == 0)
        return 0;
    struct iovec rem[16];
    struct iovec *rcopy = nr <= 16 ? rem : malloc((size_t)nr * sizeof *rcopy);
    if (!rcopy)
        return ENOMEM;
    memcpy(rcopy, remote, (size_t)nr * sizeof *rcopy);

    struct iovec loc[LOCAL_RUNS_MAX];
    run_list l = {loc, 0, LOCAL_RUNS_MAX};
    int rc;
    if (dlc_tensor_for_runs(dst, off, bytes, collect_run, &l) == 0) {
        rc = read_runs(pid, loc, l.n, rcopy, nr, bytes);
    } else {
        /* Too many runs: stage. */
        uint8_t *tmp = malloc(bytes);
        if (!tmp) {
            rc = ENOMEM;
        } else {
            struct iovec one = {tmp, bytes};
            rc = read_runs(pid, &one, 1, rcopy, nr, bytes);
            if (rc == 0)
                dlc_tensor_unpack(dst, off, bytes, tmp);
            free(tmp);
        }
    }
    if (rcopy != rem)
        free(rcopy);
    return rc;
}

int dlc_cma_read_u64(pid_t pid, uint64_t addr, uint64_t *out)
{
    struct iovec l = {out, sizeof *out}, r = {(void *)(uintptr_t)addr, sizeof *out};
    ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (got < 0)
        return errno;
    return got == (ssize_t)sizeof *out ? 0 : EIO;
}
