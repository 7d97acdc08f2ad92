/*
 * cma_check.c -- the checks of a CMA peer's runs and identity (cma_check.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plugin/transport/cma_check.h"

int dlc_cma_check_runs(const uint64_t *addr, const uint64_t *len, uint32_t n, uint32_t max_runs,
                       size_t bytes, struct iovec *out, char *why, size_t why_cap)
{
    if (n == 0 || n > max_runs) {
        snprintf(why, why_cap, "%" PRIu32 " memory runs (1 to %" PRIu32 " allowed)", n, max_runs);
        return EINVAL;
    }
    uint64_t total = 0, end;
    for (uint32_t i = 0; i < n; i++) {
        if (__builtin_add_overflow(addr[i], len[i], &end) || end > DLC_CMA_ADDR_END) {
            snprintf(why, why_cap,
                     "memory run %" PRIu32 " {%#" PRIx64 ", %" PRIu64
                     "} is not a user address range",
                     i, addr[i], len[i]);
            return EINVAL;
        }
        if (__builtin_add_overflow(total, len[i], &total)) {
            snprintf(why, why_cap, "memory runs whose lengths overflow (run %" PRIu32 ")", i);
            return EINVAL;
        }
        out[i].iov_base = (void *)(uintptr_t)addr[i];
        out[i].iov_len = (size_t)len[i];
    }
    if (total != (uint64_t)bytes) {
        snprintf(why, why_cap, "memory runs of %" PRIu64 " bytes, expected %zu", total, bytes);
        return EMSGSIZE;
    }
    return 0;
}

/* Field 22 of /proc/<pid>/stat (after the command's closing parenthesis). */
static int start_time(pid_t pid, unsigned long long *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? ESRCH : errno;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return ESRCH;
    buf[got] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return EIO;
    /* Fields 3..21 after ") ", then the start time. */
    p++;
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p, " %llu", out) != 1)
        return EIO;
    return 0;
}

int dlc_cma_pin_open(dlc_cma_pin *p, pid_t pid)
{
    p->pid = pid;
    p->pidfd = -1;
    p->start = 0;
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, (int)pid, 0);
    if (fd >= 0) {
        p->pidfd = (int)fd;
        return 0;
    }
    if (errno == ESRCH)
        return ESRCH;
#endif
    return start_time(pid, &p->start);
}

int dlc_cma_pin_check(const dlc_cma_pin *p)
{
    if (p->pid <= 0)
        return ESRCH;
#if defined(SYS_pidfd_send_signal)
    if (p->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, p->pidfd, 0, NULL, 0) == 0 || errno == EPERM)
            return 0;
        return ESRCH;
    }
#endif
    unsigned long long now = 0;
    int e = start_time(p->pid, &now);
    if (e)
        return e;
    return now == p->start ? 0 : ESRCH;
}

void dlc_cma_pin_close(dlc_cma_pin *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    p->pid = 0;
}
