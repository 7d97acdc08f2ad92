/*
 * dlcoll-run -- start N ranks of a program on this host, mpirun / torchrun style.
 *
 *   dlcoll-run -n 4 -- build/bin/dlcoll-example-host
 *
 * The launcher is one single-threaded event loop over poll(): the ranks'
 * output pipes plus a self-pipe fed by the signal handlers (see launcher/).
 *
 * Failure policy: the first rank that exits non-zero or is killed by a signal
 * stops the job.  Every other rank's process group gets SIGTERM, and SIGKILL
 * after the grace period; the launcher then exits with that rank's status
 * (128 + signal number for a signal).  SIGINT / SIGTERM / SIGHUP sent to the
 * launcher are forwarded to every rank the same way; a second one kills at
 * once.  See docs/launcher.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launcher/launcher.h"

typedef struct rank_state {
    pid_t pid;           /* 0 when it was never started */
    int alive;           /* started and not yet reaped  */
    dlr_stream out;      /* its stdout -> our stdout    */
    dlr_stream err;      /* its stderr -> our stderr    */
} rank_state;

/* The whole launcher state: one job. */
static dlr_options opt;
static rank_state *ranks;
static int n_alive;
static int stopping;          /* the job is being torn down                  */
static int killed_hard;       /* SIGKILL already sent                        */
static long long kill_at_ms;  /* when stopping: when to send SIGKILL         */
static int exit_code;         /* the launcher's exit status                  */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send sig to every live rank's process group (the rank and whatever it
 * started). */
static void signal_ranks(int sig)
{
    for (int i = 0; i < opt.nranks; i++) {
        if (!ranks[i].alive)
            continue;
        if (kill(-ranks[i].pid, sig) != 0 && errno == ESRCH)
            kill(ranks[i].pid, sig);
    }
}

/* Begin tearing the job down with SIGTERM; SIGKILL follows after the grace
 * period.  `code` becomes the exit status unless one is already set. */
static void stop_job(int code)
{
    if (exit_code == 0)
        exit_code = code;
    if (stopping)
        return;
    stopping = 1;
    signal_ranks(SIGTERM);
    kill_at_ms = now_ms() + opt.grace_ms;
}

static void drain(dlr_stream *s)
{
    while (dlr_stream_pump(s) == 2) {
    }
}

/* Reap every rank that has exited; the first failure stops the job. */
static void reap_ranks(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int r = -1;
        for (int i = 0; i < opt.nranks; i++)
            if (ranks[i].alive && ranks[i].pid == pid)
                r = i;
        if (r < 0)
            continue;
        ranks[r].alive = 0;
        n_alive--;
        /* Its last words come out before anything we say about it. */
        drain(&ranks[r].out);
        drain(&ranks[r].err);

        int failed_code = 0;
        char what[64];
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            failed_code = WEXITSTATUS(status);
            snprintf(what, sizeof what, "status %d", failed_code);
        } else if (WIFSIGNALED(status)) {
            char name[32];
            failed_code = 128 + WTERMSIG(status);
            snprintf(what, sizeof what, "signal %s",
                     dlr_signal_name(WTERMSIG(status), name, sizeof name));
        }
        if (failed_code && !stopping) {
            fprintf(stderr, "dlcoll-run: rank %d exited with %s%s\n", r, what,
                    n_alive > 0 ? "; stopping the other ranks" : "");
            stop_job(failed_code);
        }
    }
}

/* SIGINT / SIGTERM / SIGHUP to the launcher: pass it on to every rank. */
static void forward_signal(int sig)
{
    char name[32];
    dlr_signal_name(sig, name, sizeof name);
    if (stopping) {
        if (!killed_hard && n_alive > 0) {
            fprintf(stderr, "dlcoll-run: got %s again; killing the ranks\n", name);
            signal_ranks(SIGKILL);
            killed_hard = 1;
        }
        return;
    }
    fprintf(stderr, "dlcoll-run: got %s; forwarding it to the ranks\n", name);
    signal_ranks(sig);
    stopping = 1;
    exit_code = 128 + sig;
    kill_at_ms = now_ms() + opt.grace_ms;
}

/* Add every rank's still-open output pipe to pfds[n..] (owner[] says whose);
 * returns the new count. */
static int watch_open_streams(struct pollfd *pfds, dlr_stream **owner, int n)
{
    for (int i = 0; i < opt.nranks; i++) {
        dlr_stream *ss[2] = {&ranks[i].out, &ranks[i].err};
        for (int k = 0; k < 2; k++) {
            if (ss[k]->fd < 0)
                continue;
            pfds[n].fd = ss[k]->fd;
            pfds[n].events = POLLIN;
            owner[n++] = ss[k];
        }
    }
    return n;
}

/* Wait for output, signals or the SIGKILL deadline, and handle them. */
static void event_loop(int sig_fd)
{
    struct pollfd *pfds = calloc((size_t)opt.nranks * 2 + 1, sizeof *pfds);
    dlr_stream **owner = calloc((size_t)opt.nranks * 2 + 1, sizeof *owner);
    if (!pfds || !owner) {
        fprintf(stderr, "dlcoll-run: out of memory\n");
        stop_job(1);
        signal_ranks(SIGKILL);
        killed_hard = 1;
    }

    for (;;) {
        reap_ranks();
        if (n_alive == 0)
            break;
        if (stopping && !killed_hard && now_ms() >= kill_at_ms) {
            fprintf(stderr, "dlcoll-run: ranks still running after %ld ms; sending SIGKILL\n",
                    opt.grace_ms);
            signal_ranks(SIGKILL);
            killed_hard = 1;
        }

        int timeout = -1;
        if (stopping && !killed_hard) {
            long long left = kill_at_ms - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        if (!pfds || !owner) {        /* degraded: just wait for the children */
            poll(NULL, 0, 50);
            continue;
        }

        pfds[0].fd = sig_fd;
        pfds[0].events = POLLIN;
        owner[0] = NULL;
        int n = watch_open_streams(pfds, owner, 1);

        int ready = poll(pfds, (nfds_t)n, timeout);
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "dlcoll-run: poll: %s\n", strerror(errno));
            stop_job(1);
            continue;
        }
        if (ready <= 0)
            continue;

        if (pfds[0].revents) {
            int sig;
            while ((sig = dlr_signals_next(sig_fd)) != 0)
                if (sig != SIGCHLD)
                    forward_signal(sig);
        }
        for (int j = 1; j < n; j++)
            if (pfds[j].revents)
                dlr_stream_pump(owner[j]);
    }

    /* Every rank has exited.  Their pipes normally reach EOF at once; a
     * process they left behind may hold them open, so stop listening after a
     * short quiet period. */
    if (pfds && owner) {
        for (;;) {
            int n = watch_open_streams(pfds, owner, 0);
            if (n == 0 || poll(pfds, (nfds_t)n, 250) <= 0)
                break;
            for (int j = 0; j < n; j++)
                if (pfds[j].revents)
                    dlr_stream_pump(owner[j]);
        }
    }
    for (int i = 0; i < opt.nranks; i++) {
        dlr_stream_close(&ranks[i].out);
        dlr_stream_close(&ranks[i].err);
    }
    free(pfds);
    free(owner);
}

/* A launcher started with stdin, stdout or stderr closed would hand those
 * numbers to its pipes, and then write output into them: point any closed
 * one at /dev/null first. */
static void ensure_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
    }
}

int main(int argc, char **argv)
{
    ensure_std_fds();
    int rc = dlr_parse_options(argc, argv, &opt);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return 2;

    int sig_fd = dlr_signals_install();
    if (sig_fd < 0)
        return 1;

    /* The rendezvous: dlcoll's own store on one port, and a second free port
     * for MASTER_PORT, so a program that runs its own torchrun-style store
     * there does not collide with dlcoll's. */
    dlr_job_env env;
    memset(&env, 0, sizeof env);
    snprintf(env.master_addr, sizeof env.master_addr, "127.0.0.1");
    int dlcoll_port = 0;
    if (opt.init_method) {
        snprintf(env.init_method, sizeof env.init_method, "%s", opt.init_method);
    } else {
        dlcoll_port = dlr_pick_free_port(0);
        if (dlcoll_port < 0)
            return 1;
        snprintf(env.init_method, sizeof env.init_method, "tcp://127.0.0.1:%d", dlcoll_port);
    }
    env.master_port = dlr_pick_free_port(dlcoll_port);
    if (env.master_port < 0 || dlr_make_job_key(&env) != 0)
        return 1;

    ranks = calloc((size_t)opt.nranks, sizeof *ranks);
    if (!ranks) {
        fprintf(stderr, "dlcoll-run: out of memory\n");
        return 1;
    }
    for (int i = 0; i < opt.nranks; i++) {
        dlr_stream_init(&ranks[i].out, -1, STDOUT_FILENO, i);
        dlr_stream_init(&ranks[i].err, -1, STDERR_FILENO, i);
    }

    for (int i = 0; i < opt.nranks && !stopping; i++) {
        dlr_rank_io io;
        pid_t pid = dlr_spawn_rank(&opt, &env, i, &io);
        if (pid < 0) {
            fprintf(stderr, "dlcoll-run: could not start rank %d; stopping the other ranks\n", i);
            stop_job(1);
            break;
        }
        ranks[i].pid = pid;
        ranks[i].alive = 1;
        n_alive++;
        dlr_stream_init(&ranks[i].out, io.out_fd, STDOUT_FILENO, i);
        dlr_stream_init(&ranks[i].err, io.err_fd, STDERR_FILENO, i);
    }

    event_loop(sig_fd);
    free(ranks);
    return exit_code;
}
