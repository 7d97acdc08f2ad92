/*
 * spawn.c -- start one rank: environment, process group, output pipes, exec.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "launcher.h"

int dlr_pick_free_port(int avoid)
{
    /* Binding port 0 makes the kernel choose a port that is free right now.
     * Another process could take it before rank 0 binds it; that window is
     * short and the resulting error (address in use) names the port. */
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "dlcoll-run: socket: %s\n", strerror(errno));
            return -1;
        }
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = 0;
        socklen_t len = sizeof sa;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
            fprintf(stderr, "dlcoll-run: cannot find a free port on 127.0.0.1: %s\n",
                    strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        int port = ntohs(sa.sin_port);
        if (port != avoid)
            return port;
    }
    fprintf(stderr, "dlcoll-run: cannot find a second free port on 127.0.0.1\n");
    return -1;
}

int dlr_make_job_key(dlr_job_env *env)
{
    const char *k = getenv("DLCOLL_JOB_KEY"), *f = getenv("DLCOLL_JOB_KEY_FILE");
    env->job_key[0] = '\0';
    if ((k && k[0]) || (f && f[0]))
        return 0; /* the user's key reaches the ranks through the environment */
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "dlcoll-run: cannot make a job key: getrandom: %s\n",
                    strerror(errno));
            return -1;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(env->job_key + 2 * i, 3, "%02x", raw[i]);
    memset(raw, 0, sizeof raw);
    return 0;
}

static void set_int_env(const char *name, long value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", value);
    setenv(name, buf, 1);
}

/* Runs in the child between fork and exec; never returns. */
static void become_rank(const dlr_options *opt, const dlr_job_env *env, int rank,
                        const int out_pipe[2], const int err_pipe[2], pid_t launcher)
{
    dlr_signals_reset_child();

    /* Own process group: the launcher can signal the rank together with
     * anything it starts (kill(-pid)), and Ctrl-C reaches ranks only through
     * the launcher, which forwards it once to every group. */
    setpgid(0, 0);
#ifdef __linux__
    /* If the launcher is killed outright, do not leave the rank behind. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != launcher)
        _exit(128 + SIGTERM);
#else
    (void)launcher;
#endif

    if (out_pipe[1] >= 0 && dup2(out_pipe[1], STDOUT_FILENO) < 0)
        _exit(127);
    if (err_pipe[1] >= 0 && dup2(err_pipe[1], STDERR_FILENO) < 0)
        _exit(127);

    /* stdin: rank 0 reads the launcher's stdin when it is a file or a pipe.
     * A terminal is not passed on: a background process group reading it
     * would be stopped (SIGTTIN). */
    if (rank != 0 || isatty(STDIN_FILENO)) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            if (fd != STDIN_FILENO)
                close(fd);
        }
    }

    set_int_env("DLCOLL_RANK", rank);
    set_int_env("DLCOLL_WORLD_SIZE", opt->nranks);
    set_int_env("DLCOLL_LOCAL_RANK", rank);
    setenv("DLCOLL_INIT_METHOD", env->init_method, 1);
    set_int_env("RANK", rank);
    set_int_env("WORLD_SIZE", opt->nranks);
    set_int_env("LOCAL_RANK", rank);
    set_int_env("LOCAL_WORLD_SIZE", opt->nranks);
    setenv("MASTER_ADDR", env->master_addr, 1);
    set_int_env("MASTER_PORT", env->master_port);
    if (opt->provider)
        setenv("DLCOLL_PROVIDER", opt->provider, 1);
    if (opt->timeout_ms > 0)
        set_int_env("DLCOLL_TIMEOUT", opt->timeout_ms);
    /* The job secret (docs/security.md): only the ranks have it.  The
     * environment of a process is readable by its user only. */
    if (env->job_key[0])
        setenv("DLCOLL_JOB_KEY", env->job_key, 1);
    /* All ranks are on this host: keep IP providers on loopback unless the
     * user chose an interface. */
    setenv("FI_TCP_IFACE", "lo", 0);

    execvp(opt->argv[0], opt->argv);
    int e = errno;
    fprintf(stderr, "dlcoll-run: rank %d: cannot execute '%s': %s\n", rank, opt->argv[0],
            strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

pid_t dlr_spawn_rank(const dlr_options *opt, const dlr_job_env *env, int rank, dlr_rank_io *io)
{
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    io->out_fd = io->err_fd = -1;

    if (opt->prefix) {
        if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
            fprintf(stderr, "dlcoll-run: rank %d: pipe: %s\n", rank, strerror(errno));
            goto fail;
        }
    }

    fflush(stdout);
    fflush(stderr);
    pid_t launcher = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "dlcoll-run: rank %d: fork: %s\n", rank, strerror(errno));
        goto fail;
    }
    if (pid == 0)
        become_rank(opt, env, rank, out_pipe, err_pipe, launcher);

    /* Also from the parent, so the group exists before we might signal it. */
    setpgid(pid, pid);
    if (opt->prefix) {
        close(out_pipe[1]);
        close(err_pipe[1]);
        fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
        fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
        io->out_fd = out_pipe[0];
        io->err_fd = err_pipe[0];
    }
    return pid;

fail:
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (err_pipe[i] >= 0)
            close(err_pipe[i]);
    }
    return -1;
}
