/*
 * liveness.c -- notice that a peer on this host has exited.
 *
 * Shared-memory transports never report a dead peer: its messages simply stop
 * coming.  Every rank published its host name and pid at init, so while a
 * communicator has a running operation we check its members on this host
 * about every 100 ms through /proc/<pid>/stat (kept open from init: one
 * pread per check, and immune to pid reuse): a process that is reaped, a
 * zombie (a killed child its parent has not reaped yet), exiting, or has
 * SIGKILL pending is gone.  progress.c fails the operation once it also
 * stops moving.
 * Peers on other hosts are left to the transport's errors and the timeout.
 *
 * A process killed while it holds its shared-memory region's spinlock (the
 * shm provider takes it in every progress call) leaves the lock held for
 * ever, and libfabric 1.17's shm then spins for ever in fi_tsendmsg() to that
 * peer.  So with an intra-host provider every send is preceded by
 * dlc_liveness_safe_to_send().  Reading /proc/<pid>/stat costs ~3 us of
 * kernel time (it formats 52 fields), which at one check per send was half
 * of a small allgather, so the check is split in two:
 *   - every send polls the peer's pidfd (Linux >= 5.3, ~0.2 us): readable
 *     means the process has exited (zombie or reaped);
 *   - /proc/<pid>/stat, which also sees a process that is on its way out
 *     (SIGKILL pending, PF_EXITING) before it has exited, is read before a
 *     send when the last such read of that peer is older than
 *     SEND_STAT_PERIOD_NS.
 * A kill landing while the peer holds its lock wedges the sender only when
 * it falls in the short time between the last stat read and the send and
 * the peer has not finished exiting by then.  Without pidfds (older
 * kernels) every send reads /proc/<pid>/stat, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "plugin/core/comm.h"
#include "plugin/core/request.h"

#define PF_EXITING_FLAG 0x00000004u      /* the kernel's PF_EXITING: do_exit() has begun */
#define SEND_STAT_PERIOD_NS (200 * 1000) /* /proc/<pid>/stat before a send at most this often */

/* Parse a /proc/<pid>/stat line: "pid (comm) S ppid ..." where after the
 * last ')' field 3 is the state, field 9 the flags and field 31 the pending
 * signals.  Non-zero when the process is a zombie, exiting (PF_EXITING), or
 * has SIGKILL pending (killed, not scheduled yet). */
static int stat_says_gone(const char *line)
{
    const char *p = strrchr(line, ')'); /* comm may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X' || state == 'x')
        return 1;
    unsigned long long field[32] = {0};
    int i = 4; /* field 3 is the state; parse 4..31 */
    char *end = (char *)p + 1;
    for (; i <= 31; i++) {
        const char *start = end;
        field[i] = strtoull(start, &end, 10);
        if (end == start)
            break;
    }
    if (i <= 31)
        return 0; /* unexpected format */
    if (field[9] & PF_EXITING_FLAG)
        return 1;
    return (field[31] & (1ull << (SIGKILL - 1))) != 0;
}

/* Non-zero when world rank r's process has exited or is on its way out.
 * Uses the /proc/<pid>/stat descriptor kept open since init (one pread, and
 * immune to pid reuse), else kill() and a fresh open. */
static int rank_gone(const dlc_world *w, int r)
{
    char line[1024];
    ssize_t n;
    int fd = w->stat_fds ? w->stat_fds[r] : -1;
    if (fd >= 0) {
        n = pread(fd, line, sizeof line - 1, 0);
        if (n <= 0)
            return 1; /* ESRCH: reaped */
        line[n] = '\0';
        return stat_says_gone(line);
    }
    pid_t pid = (pid_t)w->hosts[r].pid;
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* no /proc: trust kill() */
    n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0)
        return 0;
    line[n] = '\0';
    return stat_says_gone(line);
}

/* A pidfd of pid, or -1 (kernel older than 5.3, or the process is gone). */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? (int)fd : -1;
#else
    (void)pid;
    return -1;
#endif
}

/* 1: world rank r has exited (its pidfd is readable), 0: it has not,
 * -1: no pidfd for it. */
static int pidfd_says_exited(const dlc_world *w, int r)
{
    int fd = w->pid_fds ? w->pid_fds[r] : -1;
    if (fd < 0)
        return -1;
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    int n = poll(&pfd, 1, 0);
    if (n < 0)
        return -1;
    return n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static int on_this_host(const dlc_world *w, int r)
{
    return dlc_hostmap_same(&w->hostmap, r, w->rank);
}

void dlc_liveness_open(dlc_world *w)
{
    w->stat_checked_ns = calloc((size_t)w->size, sizeof *w->stat_checked_ns);
    w->pid_fds = malloc((size_t)w->size * sizeof *w->pid_fds);
    w->stat_fds = malloc((size_t)w->size * sizeof *w->stat_fds);
    if (w->pid_fds)
        for (int r = 0; r < w->size; r++)
            w->pid_fds[r] = -1;
    if (!w->stat_fds)
        return; /* rank_gone() falls back to kill() and open() */
    for (int r = 0; r < w->size; r++) {
        w->stat_fds[r] = -1;
        if (r == w->rank || !on_this_host(w, r) || w->hosts[r].pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)w->hosts[r].pid);
        w->stat_fds[r] = open(path, O_RDONLY | O_CLOEXEC);
        /* The pidfd only where the stat descriptor is open: both then name
         * the process that was there at init, whatever reuses its pid. */
        if (w->pid_fds && w->stat_fds[r] >= 0)
            w->pid_fds[r] = open_pidfd((pid_t)w->hosts[r].pid); /* always close-on-exec */
    }
}

void dlc_liveness_close(dlc_world *w)
{
    free(w->stat_checked_ns);
    w->stat_checked_ns = NULL;
    if (w->pid_fds) {
        for (int r = 0; r < w->size; r++)
            if (w->pid_fds[r] >= 0)
                close(w->pid_fds[r]);
        free(w->pid_fds);
        w->pid_fds = NULL;
    }
    if (!w->stat_fds)
        return;
    for (int r = 0; r < w->size; r++)
        if (w->stat_fds[r] >= 0)
            close(w->stat_fds[r]);
    free(w->stat_fds);
    w->stat_fds = NULL;
}

/* Check the members of c on this host that are not known gone yet. */
static void scan_members(dlc_world *w, const dlcoll_comm *c, uint64_t now)
{
    for (int g = 0; g < c->size; g++) {
        int r = c->members[g];
        if (r == w->rank || w->dead_ns[r] || !on_this_host(w, r))
            continue;
        if (rank_gone(w, r)) {
            w->dead_ns[r] = now;
            char peer[256];
            DLC_INFO(&w->lg, "liveness: %s has exited", dlc_peer_desc(w, r, peer, sizeof peer));
        }
    }
}

void dlc_liveness_scan(dlc_world *w, uint64_t now)
{
    if (!w->hosts || !w->dead_ns)
        return;
    for (int i = 0; i < w->n_comms; i++) {
        const dlcoll_comm *c = w->comms[i];
        if (c->head && c->head->phase == DLC_REQ_RUNNING)
            scan_members(w, c, now);
    }
}

int dlc_liveness_peer_exit_cause(dlcoll_comm *c, int r, int wait_ms, char *cause, size_t cap)
{
    dlc_world *w = c->w;
    if (!dlc_liveness_peer_gone(w, r, wait_ms))
        return 0;
    /* The others are checked at the same moment, so that a rank that died
     * earlier (and was not scanned yet, this rank being busy in the transfer)
     * is named too: the peer that broke the transfer may have exited only
     * after it reported that earlier death. */
    scan_members(w, c, w->dead_ns[r]);
    return dlc_liveness_describe_dead(c, r, cause, cap);
}

int dlc_liveness_peer_gone(dlc_world *w, int r, int wait_ms)
{
    if (!w->hosts || !w->dead_ns || r < 0 || r >= w->size || r == w->rank)
        return 0;
    if (w->dead_ns[r])
        return 1;
    if (!on_this_host(w, r))
        return 0;
    /* A killed process closes its connections before it becomes a zombie:
     * give it a moment to finish exiting. */
    for (int waited = 0;; waited += 5) {
        if (rank_gone(w, r)) {
            w->dead_ns[r] = dlc_now_ns();
            return 1;
        }
        if (waited >= wait_ms)
            return 0;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int dlc_liveness_safe_to_send(dlc_world *w, int r)
{
    if (!w->prov || !w->prov->intra_host_only)
        return 1;
    if (!w->hosts || !w->dead_ns || r < 0 || r >= w->size || r == w->rank)
        return 1;
    if (w->dead_ns[r])
        return 0;
    int exited = pidfd_says_exited(w, r);
    if (exited == 1) {
        w->dead_ns[r] = dlc_now_ns();
        return 0;
    }
    if (exited == 0 && w->stat_checked_ns) {
        /* Exited peers are caught above on every send; the ones on their way
         * out by the stat read, at most every SEND_STAT_PERIOD_NS. */
        uint64_t now = dlc_now_ns();
        if (now - w->stat_checked_ns[r] < SEND_STAT_PERIOD_NS)
            return 1;
        w->stat_checked_ns[r] = now;
    }
    return !dlc_liveness_peer_gone(w, r, 0);
}

/* Does member a go before member b in the report: gone earlier, or at the same
 * scan and being the peer waited on. */
static int gone_before(const dlc_world *w, int a, int b, int prefer)
{
    if (w->dead_ns[a] != w->dead_ns[b])
        return w->dead_ns[a] < w->dead_ns[b];
    return a == prefer;
}

int dlc_liveness_describe_dead(const dlcoll_comm *c, int prefer, char *cause, size_t cap)
{
    const dlc_world *w = c->w;
    int n = 0, first = -1;
    if (!w->dead_ns)
        return 0;
    for (int g = 0; g < c->size; g++) {
        int r = c->members[g];
        if (!w->dead_ns[r])
            continue;
        n++;
        if (first < 0 || gone_before(w, r, first, prefer))
            first = r;
    }
    if (n == 0)
        return 0;
    char peer[256];
    size_t len =
        (size_t)snprintf(cause, cap, "%s exited", dlc_peer_desc(w, first, peer, sizeof peer));
    int listed = 0;
    for (int g = 0; g < c->size && len < cap; g++) {
        int r = c->members[g];
        if (r == first || !w->dead_ns[r])
            continue;
        len += (size_t)snprintf(cause + len, cap - len, "%s%s", listed++ ? ", " : "; also gone: ",
                                dlc_peer_desc(w, r, peer, sizeof peer));
    }
    return n;
}

const char *dlc_peer_desc(const dlc_world *w, int r, char *buf, size_t cap)
{
    if (r < 0 || r >= w->size || !w->hosts)
        snprintf(buf, cap, "rank %d", r);
    else
        snprintf(buf, cap, "rank %d (pid %d on host %.*s)", r, (int)w->hosts[r].pid,
                 DLC_HOSTNAME_MAX, w->hosts[r].host);
    return buf;
}
