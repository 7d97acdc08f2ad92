/*
 * signals.c -- turn asynchronous signals into bytes on a pipe.
 *
 * The event loop polls the read end of this "self-pipe" together with the
 * ranks' output pipes, so a child exiting or the user pressing Ctrl-C wakes it
 * up without any work being done inside a signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"

static int self_pipe[2] = {-1, -1};

static const int caught[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP};
#define N_CAUGHT ((int)(sizeof caught / sizeof caught[0]))

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    /* The pipe is non-blocking: when it is full the loop is awake anyway,
     * and SIGCHLD is also handled by a reap on every iteration. */
    if (write(self_pipe[1], &b, 1) < 0) {
        /* nothing to do */
    }
    errno = saved;
}

int dlr_signals_install(void)
{
    if (pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "dlcoll-run: pipe: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    for (int i = 0; i < N_CAUGHT; i++) {
        if (sigaction(caught[i], &sa, NULL) != 0) {
            fprintf(stderr, "dlcoll-run: sigaction: %s\n", strerror(errno));
            return -1;
        }
    }
    /* A closed stdout (dlcoll-run ... | head) must not kill the launcher
     * while ranks are still running; writes then fail with EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    return self_pipe[0];
}

void dlr_signals_reset_child(void)
{
    for (int i = 0; i < N_CAUGHT; i++)
        signal(caught[i], SIG_DFL);
    /* An ignored disposition would survive exec: give the program the default. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int dlr_signals_next(int fd)
{
    unsigned char b;
    ssize_t n = read(fd, &b, 1);
    return n == 1 ? (int)b : 0;
}

const char *dlr_signal_name(int sig, char *buf, size_t cap)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
        {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
        {SIGTTOU, "SIGTTOU"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGSYS, "SIGSYS"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].sig == sig) {
            snprintf(buf, cap, "%s", names[i].name);
            return buf;
        }
    }
    snprintf(buf, cap, "signal %d", sig);
    return buf;
}
