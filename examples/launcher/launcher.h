/*
 * launcher.h -- the pieces of dlcoll-run, the local multi-process launcher.
 *
 * dlcoll-run starts N copies of a program on this host (one per rank), gives
 * each the rendezvous environment dlcoll and torchrun-style programs read,
 * forwards their output line by line with a "[rank i] " prefix, and stops the
 * whole job as soon as one rank fails.  See docs/launcher.md.
 *
 *   options.c  command line -> dlr_options
 *   spawn.c    free port, per-rank environment, fork/exec of one rank
 *   output.c   line splitting and prefixing of a rank's stdout / stderr
 *   signals.c  self-pipe for SIGCHLD / SIGINT / SIGTERM / SIGHUP, signal names
 *   dlcoll-run.c  the event loop that ties them together
 */
#ifndef DLR_LAUNCHER_H
#define DLR_LAUNCHER_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define DLR_MAX_RANKS 4096
#define DLR_DEFAULT_GRACE_MS 3000

/* ------------------------------------------------------------ options.c */

typedef struct dlr_options {
    int nranks;               /* -n N                                        */
    const char *provider;     /* --provider P, or NULL                       */
    long timeout_ms;          /* --timeout-ms T, or 0 (not given)            */
    const char *init_method;  /* --init-method URL, or NULL (pick a port)    */
    int prefix;               /* 1 unless --no-prefix                        */
    long grace_ms;            /* --grace-ms G: SIGTERM -> SIGKILL delay      */
    char **argv;              /* the program and its arguments (NULL-ended)  */
} dlr_options;

/* Parse argv.  Returns 0 on success, 1 when --help was asked for (usage already
 * printed to stdout), 2 on a usage error (message and usage printed to stderr). */
int dlr_parse_options(int argc, char **argv, dlr_options *opt);

void dlr_print_usage(FILE *to);

/* ------------------------------------------------------------ spawn.c */

/* The environment shared by every rank (the per-rank values are added by
 * dlr_spawn_rank). */
typedef struct dlr_job_env {
    char init_method[1024];   /* DLCOLL_INIT_METHOD                          */
    char master_addr[64];     /* MASTER_ADDR                                 */
    int master_port;          /* MASTER_PORT                                 */
    char job_key[65];         /* DLCOLL_JOB_KEY: 32 random bytes in hex, or
                                 "" when the user set DLCOLL_JOB_KEY or
                                 DLCOLL_JOB_KEY_FILE (theirs is passed on)  */
} dlr_job_env;

/* A fresh job key (getrandom) into env->job_key, unless the launcher's own
 * environment names one.  0, or -1 with a message on stderr. */
int dlr_make_job_key(dlr_job_env *env);

/* Ask the kernel for a free TCP port on 127.0.0.1 that differs from `avoid`
 * (0: any).  Returns the port, or -1 with a message on stderr. */
int dlr_pick_free_port(int avoid);

/* The pipes a rank writes its stdout / stderr into (-1 when not captured). */
typedef struct dlr_rank_io {
    int out_fd;               /* read end of the rank's stdout pipe          */
    int err_fd;               /* read end of the rank's stderr pipe          */
} dlr_rank_io;

/* Fork and exec rank `rank` in its own process group.  With opt->prefix the
 * rank's stdout and stderr go to new pipes whose read ends are returned in
 * *io; otherwise they are the launcher's own.  Returns the pid, or -1 with a
 * message on stderr. */
pid_t dlr_spawn_rank(const dlr_options *opt, const dlr_job_env *env, int rank, dlr_rank_io *io);

/* ------------------------------------------------------------ output.c */

/* One captured stream of one rank: bytes read but not yet written because
 * the line is not complete. */
typedef struct dlr_stream {
    int fd;                   /* read end, -1 once closed                    */
    int to_fd;                /* 1 (stdout) or 2 (stderr)                    */
    int rank;
    size_t used;
    char buf[65536];
} dlr_stream;

void dlr_stream_init(dlr_stream *s, int fd, int to_fd, int rank);

/* Read what is available (the fd is non-blocking) and write out every complete
 * line with its prefix.  A line longer than the buffer is split.  On EOF or a
 * read error the partial last line is written (with a newline) and the fd is
 * closed.  Returns 0 once closed, 1 when the pipe is empty for now, 2 when it
 * stopped early (more may be waiting: call again to drain it). */
int dlr_stream_pump(dlr_stream *s);

/* Write out a pending partial line and close the fd. */
void dlr_stream_close(dlr_stream *s);

/* ------------------------------------------------------------ signals.c */

/* Install handlers for SIGCHLD, SIGINT, SIGTERM, SIGHUP that write the signal
 * number into a non-blocking self-pipe; ignore SIGPIPE.  Returns the read end
 * of the pipe, or -1. */
int dlr_signals_install(void);

/* Restore default dispositions in a freshly forked child (before exec). */
void dlr_signals_reset_child(void);

/* Read one pending signal number from the self-pipe; 0 when none. */
int dlr_signals_next(int fd);

/* "SIGSEGV", ... or "signal 42" written into buf. */
const char *dlr_signal_name(int sig, char *buf, size_t cap);

#endif
