/*
 * mp_harness.c -- fork ranks, run them, reap them, report (see mp_harness.h).
 *
 * Parent: create the rendezvous (mkdtemp directory or a free TCP port), a
 * shared page and one pipe per rank; fork; then loop: poll the pipes for
 * failure text, waitpid(WNOHANG) every live child, and SIGKILL everybody when
 * the deadline passes.  Child: load the plugin, init, run, finalize, _exit.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/dlcoll_loader.h"
#include "mp_harness.h"

#ifndef DLCOLL_PLUGIN_PATH
#error "DLCOLL_PLUGIN_PATH must be defined by the build"
#endif

/* The page shared by the parent and all ranks of one run. */
typedef struct mp_shared {
    char step[MP_MAX_RANKS][MP_STEP_MAX];
    long report[MP_MAX_RANKS][MP_REPORT_MAX];
    long flags[MP_FLAGS_MAX];
} mp_shared;

/* Child-only state: where mp_fail writes and where mp_step writes. */
static int child_wfd = -1;
static mp_shared *child_shared;

double mp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ rank side */

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

void mp_fail(mp_ctx *ctx, const char *file, int line, const char *fmt, ...)
{
    char text[1024];
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int k = snprintf(text, sizeof text, "rank %d: %s:%d: ", ctx->rank, base, line);
    if (k < 0 || (size_t)k >= sizeof text)
        k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + k, sizeof text - (size_t)k - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(text);
    text[len++] = '\n';
    ctx->failures++;
    fprintf(stderr, "[mp] %.*s", (int)len, text);
    if (child_wfd >= 0)
        write_all(child_wfd, text, len);
}

void mp_step(mp_ctx *ctx, const char *fmt, ...)
{
    if (!child_shared)
        return;
    char *dst = child_shared->step[ctx->rank % MP_MAX_RANKS];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, MP_STEP_MAX, fmt, ap);
    va_end(ap);
}

void mp_flag_set(mp_ctx *ctx, int i, long value)
{
    __atomic_store_n(&ctx->flags[i], value, __ATOMIC_SEQ_CST);
}

long mp_flag_add(mp_ctx *ctx, int i, long v)
{
    return __atomic_add_fetch(&ctx->flags[i], v, __ATOMIC_SEQ_CST);
}

int mp_flag_wait(mp_ctx *ctx, int i, long value, int timeout_ms)
{
    double end = mp_now_ms() + timeout_ms;
    while (__atomic_load_n(&ctx->flags[i], __ATOMIC_SEQ_CST) < value) {
        if (mp_now_ms() > end)
            return -1;
        usleep(1000);
    }
    return 0;
}

/* The job key of the current run's ranks (tcp:// rendezvous). */
static char mp_job_key[65];

/* Everything a child does; never returns. */
static void child_main(const mp_opts *o, int rank, pid_t parent, int wfd, mp_shared *sh,
                       const char *init_method, mp_rank_fn fn, void *arg)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(99);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    child_wfd = wfd;
    child_shared = sh;
    setenv("FI_TCP_IFACE", "lo", 1);
    /* Like dlcoll-run: the ranks of one run share a fresh job key (a test's
     * child_setup may change or unset it). */
    if (strncmp(init_method, "tcp://", 6) == 0)
        setenv("DLCOLL_JOB_KEY", mp_job_key, 0);

    mp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rank = rank;
    ctx.size = o->n;
    ctx.world_size = o->world_size > 0 ? o->world_size : o->n;
    ctx.provider = o->provider;
    ctx.init_method = init_method;
    ctx.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 20000;
    ctx.arg = arg;
    ctx.report = sh->report[rank];
    ctx.flags = sh->flags;

    if (o->child_setup) {
        char why[512] = "";
        mp_step(&ctx, "child_setup");
        if (o->child_setup(rank, o->setup_arg, why, sizeof why) != 0) {
            mp_fail(&ctx, __FILE__, __LINE__, "child_setup: %s", why);
            _exit(MP_EXIT_SETUP);
        }
    }
    dlcoll_loader_t ld;
    if (!o->no_load) {
        mp_step(&ctx, "loading %s", DLCOLL_PLUGIN_PATH);
        if (dlcoll_load(&ld, DLCOLL_PLUGIN_PATH) != 0) {
            mp_fail(&ctx, __FILE__, __LINE__, "%s", ld.error);
            _exit(MP_EXIT_LOAD);
        }
        ctx.p = ld.plugin;
    }

    ctx.cfg = dlcoll_config_init();
    ctx.cfg.rank = rank;
    ctx.cfg.world_size = ctx.world_size;
    ctx.cfg.timeout_ms = ctx.timeout_ms;
    ctx.cfg.init_method = init_method;
    ctx.cfg.provider = o->provider;

    if (!o->no_init && !o->no_load) {
        mp_step(&ctx, "init(%s, provider %s)", init_method, o->provider ? o->provider : "auto");
        dlcoll_status_t st = ctx.p->init(&ctx.cfg, &ctx.comm);
        if (st != DLCOLL_SUCCESS) {
            const char *e = ctx.p->last_error(NULL);
            mp_fail(&ctx, __FILE__, __LINE__, "init(%s, provider %s) -> %s (%d): %s", init_method,
                    o->provider ? o->provider : "auto", ctx.p->status_string(st), (int)st,
                    e ? e : "(null)");
            _exit(MP_EXIT_INIT);
        }
        if (!ctx.comm) {
            mp_fail(&ctx, __FILE__, __LINE__, "init returned SUCCESS and a NULL comm");
            _exit(MP_EXIT_INIT);
        }
    }

    mp_step(&ctx, "rank function");
    int rc = fn(&ctx);
    if (rc != 0 && ctx.failures == 0)
        mp_fail(&ctx, __FILE__, __LINE__, "rank function returned %d without a message", rc);

    if (ctx.comm && !o->no_finalize) {
        mp_step(&ctx, "finalize");
        dlcoll_status_t st = ctx.p->finalize(ctx.comm);
        if (st != DLCOLL_SUCCESS) {
            mp_fail(&ctx, __FILE__, __LINE__, "finalize -> %s (%d)", ctx.p->status_string(st),
                    (int)st);
            _exit(MP_EXIT_FINALIZE);
        }
    }
    mp_step(&ctx, "done");
    /* No dlclose: a plugin's threads may still be winding down; _exit ends all. */
    _exit(ctx.failures ? MP_EXIT_CHECK : MP_EXIT_OK);
}

/* ------------------------------------------------------------------ parent side */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Append up to what fits of text to a rank's message buffer. */
static void msg_append(mp_rank_result *rr, const char *text, size_t n)
{
    size_t have = strlen(rr->msg);
    size_t room = sizeof rr->msg - 1 - have;
    if (n > room) {
        n = room;
        if (room >= 16) {
            memcpy(rr->msg + have, text, room - 16);
            memcpy(rr->msg + have + room - 16, "...(truncated)\n", 16);
            return;
        }
    }
    memcpy(rr->msg + have, text, n);
    rr->msg[have + n] = 0;
}

/* Read what is there; returns 0 at EOF (and closes), 1 otherwise. */
static int drain_pipe(int *fd, mp_rank_result *rr)
{
    char buf[4096];
    for (;;) {
        ssize_t k = read(*fd, buf, sizeof buf);
        if (k > 0) {
            msg_append(rr, buf, (size_t)k);
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return 1;
        close(*fd);
        *fd = -1;
        return 0;
    }
}

/* A rank killed by a signal cannot run libfabric's shm cleanup: remove the
 * shared-memory regions it left in /dev/shm (named "<pid>:...").  Only our own
 * children's pids are touched, after they have been reaped. */
static void remove_shm_leftovers(pid_t pid)
{
    char pattern[64];
    glob_t g;
    snprintf(pattern, sizeof pattern, "/dev/shm/%d:*", (int)pid);
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
}

static void record_status(mp_rank_result *rr, int st, double t0)
{
    rr->reaped = 1;
    rr->seconds = (mp_now_ms() - t0) / 1e3;
    if (WIFEXITED(st)) {
        rr->exited = 1;
        rr->exit_code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        rr->signaled = 1;
        rr->signo = WTERMSIG(st);
        remove_shm_leftovers(rr->pid);
    }
}

void mp_run_opts(const mp_opts *opts, mp_rank_fn fn, void *arg, mp_result *res)
{
    unsigned char raw[32];
    cr_assert_eq(getrandom(raw, sizeof raw, 0), (ssize_t)sizeof raw, "getrandom: %s",
                 strerror(errno));
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(mp_job_key + 2 * i, 3, "%02x", raw[i]);
    mp_opts o = *opts;
    if (o.n < 1)
        o.n = 1;
    if (o.n > MP_MAX_RANKS)
        o.n = MP_MAX_RANKS;
    if (o.deadline_ms <= 0)
        o.deadline_ms = 120000;
    memset(res, 0, sizeof *res);
    res->n = o.n;

    /* Rendezvous. */
    char dir[64] = "";
    if (o.init_method) {
        snprintf(res->init_method, sizeof res->init_method, "%s", o.init_method);
    } else if (o.init == MP_INIT_FILE) {
        strcpy(dir, "/tmp/dlcoll-test-XXXXXX");
        if (!mkdtemp(dir))
            cr_assert_fail("mkdtemp: %s", strerror(errno));
        snprintf(res->init_method, sizeof res->init_method, "file://%s", dir);
    } else {
        int port = free_tcp_port();
        cr_assert(port > 0, "no free TCP port on 127.0.0.1: %s", strerror(errno));
        snprintf(res->init_method, sizeof res->init_method, "tcp://127.0.0.1:%d", port);
    }

    mp_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(sh != MAP_FAILED, "mmap: %s", strerror(errno));
    memset(sh, 0, sizeof *sh);

    int rfd[MP_MAX_RANKS], wfd[MP_MAX_RANKS];
    for (int i = 0; i < o.n; i++) {
        int fds[2];
        cr_assert(pipe2(fds, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
        rfd[i] = fds[0];
        wfd[i] = fds[1];
    }

    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    double t0 = mp_now_ms();
    for (int i = 0; i < o.n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int j = 0; j < o.n; j++) {
                close(rfd[j]);
                if (j != i)
                    close(wfd[j]);
            }
            child_main(&o, i, parent, wfd[i], sh, res->init_method, fn, arg);
        }
        if (pid < 0) {
            /* Kill what was started, then fail. */
            int e = errno;
            for (int j = 0; j < i; j++) {
                kill(res->r[j].pid, SIGKILL);
                waitpid(res->r[j].pid, NULL, 0);
            }
            cr_assert_fail("fork: %s", strerror(e));
        }
        res->r[i].pid = pid;
    }
    for (int i = 0; i < o.n; i++) {
        close(wfd[i]);
        fcntl(rfd[i], F_SETFL, fcntl(rfd[i], F_GETFL) | O_NONBLOCK);
    }

    /* Reap loop. */
    double deadline = t0 + o.deadline_ms;
    double give_up = 0;
    int alive = o.n;
    while (alive > 0) {
        struct pollfd pf[MP_MAX_RANKS];
        int who[MP_MAX_RANKS], k = 0;
        for (int i = 0; i < o.n; i++)
            if (rfd[i] >= 0) {
                pf[k].fd = rfd[i];
                pf[k].events = POLLIN;
                who[k++] = i;
            }
        poll(pf, (nfds_t)k, 10);
        for (int j = 0; j < k; j++)
            if (pf[j].revents)
                drain_pipe(&rfd[who[j]], &res->r[who[j]]);

        for (int i = 0; i < o.n; i++) {
            mp_rank_result *rr = &res->r[i];
            if (rr->reaped)
                continue;
            int st;
            pid_t w = waitpid(rr->pid, &st, WNOHANG);
            if (w == rr->pid) {
                record_status(rr, st, t0);
                alive--;
            } else if (w < 0 && errno == ECHILD) {
                /* Reaped by someone else: the status is lost. */
                rr->reaped = 1;
                rr->seconds = (mp_now_ms() - t0) / 1e3;
                msg_append(rr, "(harness: status lost, ECHILD)\n", 31);
                alive--;
            }
            if (rr->reaped && rfd[i] >= 0) {
                /* Everything it wrote is in the pipe now (unless it forked). */
                drain_pipe(&rfd[i], rr);
                if (rfd[i] >= 0) {
                    close(rfd[i]);
                    rfd[i] = -1;
                }
            }
        }

        double now = mp_now_ms();
        if (alive > 0 && !res->deadline_hit && now > deadline) {
            res->deadline_hit = 1;
            give_up = now + 15000;
            for (int i = 0; i < o.n; i++)
                if (!res->r[i].reaped) {
                    res->r[i].killed_at_deadline = 1;
                    kill(res->r[i].pid, SIGKILL);
                }
        }
        if (alive > 0 && res->deadline_hit && now > give_up) {
            for (int i = 0; i < o.n; i++)
                if (!res->r[i].reaped)
                    msg_append(&res->r[i], "(harness: not reaped 15 s after SIGKILL)\n", 41);
            break;
        }
    }
    res->seconds = (mp_now_ms() - t0) / 1e3;
    for (int i = 0; i < o.n; i++) {
        if (rfd[i] >= 0)
            close(rfd[i]);
        memcpy(res->r[i].step, sh->step[i], MP_STEP_MAX);
        res->r[i].step[MP_STEP_MAX - 1] = 0;
        memcpy(res->r[i].report, sh->report[i], sizeof res->r[i].report);
    }
    munmap(sh, sizeof *sh);
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int mp_rank_ok(const mp_result *res, int r)
{
    const mp_rank_result *rr = &res->r[r];
    return rr->reaped && rr->exited && rr->exit_code == 0 && !rr->killed_at_deadline;
}

static const char *exit_meaning(int code)
{
    switch (code) {
    case MP_EXIT_OK: return "ok";
    case MP_EXIT_CHECK: return "a check failed";
    case MP_EXIT_LOAD: return "plugin load failed";
    case MP_EXIT_INIT: return "init failed";
    case MP_EXIT_FINALIZE: return "finalize failed";
    case MP_EXIT_SETUP: return "child setup failed";
    default: return "?";
    }
}

const char *mp_describe(const mp_result *res, char *buf, size_t cap)
{
    size_t at = 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        if (at < cap) {                                                            \
            int k_ = snprintf(buf + at, cap - at, __VA_ARGS__);                    \
            if (k_ > 0)                                                            \
                at += (size_t)k_;                                                  \
        }                                                                          \
    } while (0)
    ADD("%d rank(s), %s, %.2f s%s\n", res->n, res->init_method, res->seconds,
        res->deadline_hit ? ", DEADLINE EXCEEDED: survivors were SIGKILLed" : "");
    for (int i = 0; i < res->n; i++) {
        const mp_rank_result *rr = &res->r[i];
        ADD("  rank %d (pid %d): ", i, (int)rr->pid);
        if (!rr->reaped)
            ADD("not reaped");
        else if (rr->exited)
            ADD("exit %d (%s)", rr->exit_code, exit_meaning(rr->exit_code));
        else if (rr->signaled)
            ADD("killed by signal %d (%s)%s", rr->signo, strsignal(rr->signo),
                rr->killed_at_deadline ? " at the deadline" : "");
        else
            ADD("status unknown");
        ADD(" after %.2f s; last step: %s\n", rr->seconds, rr->step[0] ? rr->step : "-");
        /* The rank's messages, indented under its line. */
        for (const char *line = rr->msg; *line;) {
            const char *nl = strchr(line, '\n');
            int len = nl ? (int)(nl - line) : (int)strlen(line);
            ADD("    %.*s\n", len, line);
            line += len + (nl ? 1 : 0);
        }
    }
#undef ADD
    if (cap > 0)
        buf[cap - 1] = 0;
    return buf;
}

void mp_assert_all_ok(const mp_result *res)
{
    int ok = !res->deadline_hit;
    for (int i = 0; i < res->n; i++)
        ok = ok && mp_rank_ok(res, i);
    if (!ok) {
        static char text[24576];
        mp_describe(res, text, sizeof text);
        fprintf(stderr, "[mp] FAILED: %s", text);
        cr_assert_fail("%s", text);
    }
}

mp_result *mp_result_new(void)
{
    mp_result *r = calloc(1, sizeof *r);
    cr_assert(r != NULL, "out of memory");
    return r;
}

void mp_result_free(mp_result *res)
{
    free(res);
}

void mp_run_ok(const mp_opts *opts, mp_rank_fn fn, void *arg)
{
    mp_result *res = mp_result_new();
    mp_run_opts(opts, fn, arg, res);
    mp_assert_all_ok(res);
    mp_result_free(res);
}

void mp_run(int n, const char *provider, mp_rank_fn fn, void *arg, int deadline_s)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = provider;
    o.init = (n % 2) ? MP_INIT_FILE : MP_INIT_TCP;
    o.timeout_ms = 20000;
    o.deadline_ms = deadline_s * 1000;
    mp_run_ok(&o, fn, arg);
}

int mp_setup_env(int rank, void *setup_arg, char *why, size_t cap)
{
    (void)rank;
    const char *p = setup_arg;
    while (p && *p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        char item[512];
        if (len >= sizeof item) {
            snprintf(why, cap, "environment item too long");
            return 1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(why, cap, "'%s' is not NAME=VALUE", item);
            return 1;
        }
        *eq = '\0';
        if (setenv(item, eq + 1, 1) != 0) {
            snprintf(why, cap, "setenv %s failed", item);
            return 1;
        }
        p += len;
    }
    return 0;
}

void mp_run_env(int n, const char *provider, const char *env, mp_rank_fn fn, void *arg,
                int deadline_s)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = provider;
    o.init = (n % 2) ? MP_INIT_FILE : MP_INIT_TCP;
    o.timeout_ms = 20000;
    o.deadline_ms = deadline_s * 1000;
    o.child_setup = mp_setup_env;
    o.setup_arg = (void *)env;
    mp_run_ok(&o, fn, arg);
}
