/*
 * test_guest.c -- dlcoll is a guest in its host's process (docs/abi.md,
 * "A guest in the host's process").
 *
 * Each rank records what the host owns -- the disposition of every signal
 * 1..SIGRTMAX, the thread's signal mask, the whole environment, the current
 * directory and the files in it, the umask, stdout's buffering, every
 * resource limit, the number of threads -- then dlopens the plugin, inits a
 * 2-rank world, runs a checked allgather and a barrier, finalizes, dlcloses
 * the plugin, and compares: everything must be as it was, and libfabric
 * (loaded by the plugin at init) must be gone from the process's mappings.
 * Run with the default provider (shm) and with tcp with no FI_TCP_IFACE set
 * (where the plugin used to setenv() it).  A third case checks that loading
 * the plugin alone, with no init, changes nothing and loads no libfabric.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "abi/dlcoll_loader.h"
#include "mp_gather.h"

extern char **environ;

#define MAX_SIG 65
#define MAX_LINES 512

/* Everything the host owns that the test can read back. */
typedef struct host_state {
    struct sigaction act[MAX_SIG];
    int have_act[MAX_SIG];
    sigset_t mask;
    char *env[MAX_LINES];
    int n_env;
    char cwd[1024];
    char *files[MAX_LINES];
    int n_files;
    char umask_line[64];
    int out_line_buffered;
    size_t out_buf_size;
    struct rlimit lim[RLIM_NLIMITS];
    int threads;
} host_state;

static int last_signal(void)
{
    return SIGRTMAX < MAX_SIG - 1 ? SIGRTMAX : MAX_SIG - 1;
}

static int count_dir(const char *path, char **names, int cap)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (names && n < cap)
            names[n] = strdup(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "Umask:\t0022" from /proc/self/status: reading umask() would set it. */
static void read_umask(char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Umask:", 6) == 0) {
            line[cap - 1 < sizeof line ? cap - 1 : sizeof line - 1] = '\0';
            memcpy(out, line, strlen(line) + 1);
        }
    fclose(f);
}

static void snapshot(host_state *h)
{
    memset(h, 0, sizeof *h);
    for (int s = 1; s <= last_signal(); s++)
        h->have_act[s] = sigaction(s, NULL, &h->act[s]) == 0;
    pthread_sigmask(SIG_SETMASK, NULL, &h->mask);
    for (char **e = environ; *e && h->n_env < MAX_LINES; e++)
        h->env[h->n_env++] = strdup(*e);
    if (!getcwd(h->cwd, sizeof h->cwd))
        h->cwd[0] = '\0';
    h->n_files = count_dir(".", h->files, MAX_LINES);
    if (h->n_files > MAX_LINES)
        h->n_files = MAX_LINES;
    if (h->n_files > 0)
        qsort(h->files, (size_t)h->n_files, sizeof h->files[0], cmp_str);
    read_umask(h->umask_line, sizeof h->umask_line);
    h->out_line_buffered = __flbf(stdout);
    h->out_buf_size = __fbufsize(stdout);
    for (int r = 0; r < RLIM_NLIMITS; r++)
        getrlimit((__rlimit_resource_t)r, &h->lim[r]);
    h->threads = count_dir("/proc/self/task", NULL, 0);
}

static void snapshot_free(host_state *h)
{
    for (int i = 0; i < h->n_env; i++)
        free(h->env[i]);
    for (int i = 0; i < h->n_files && i < MAX_LINES; i++)
        free(h->files[i]);
}

static int same_set(const sigset_t *a, const sigset_t *b)
{
    for (int s = 1; s <= last_signal(); s++)
        if (sigismember(a, s) != sigismember(b, s))
            return 0;
    return 1;
}

/* Report every difference between two snapshots; returns how many. */
static int compare(mp_ctx *ctx, const char *when, const host_state *a, const host_state *b)
{
    int diffs = 0;
#define DIFF(...)                                                                             \
    do {                                                                                      \
        mp_fail(ctx, __FILE__, __LINE__, __VA_ARGS__);                                        \
        diffs++;                                                                              \
    } while (0)
    for (int s = 1; s <= last_signal(); s++) {
        if (a->have_act[s] != b->have_act[s]) {
            DIFF("%s: signal %d (%s): readable before %d, after %d", when, s, strsignal(s),
                 a->have_act[s], b->have_act[s]);
            continue;
        }
        if (!a->have_act[s])
            continue;
        const struct sigaction *x = &a->act[s], *y = &b->act[s];
        if (memcmp(&x->sa_handler, &y->sa_handler, sizeof x->sa_handler) != 0 ||
            x->sa_flags != y->sa_flags || !same_set(&x->sa_mask, &y->sa_mask))
            DIFF("%s: signal %d (%s): disposition changed (handler %p -> %p, flags %#x -> %#x)",
                 when, s, strsignal(s), (void *)x->sa_handler, (void *)y->sa_handler,
                 (unsigned)x->sa_flags, (unsigned)y->sa_flags);
    }
    if (!same_set(&a->mask, &b->mask))
        DIFF("%s: the thread's signal mask changed", when);
    for (int i = 0; i < a->n_env || i < b->n_env; i++) {
        const char *x = i < a->n_env ? a->env[i] : "(none)";
        const char *y = i < b->n_env ? b->env[i] : "(none)";
        if (strcmp(x, y) != 0) {
            DIFF("%s: environment entry %d changed: '%s' -> '%s'", when, i, x, y);
            break;
        }
    }
    if (strcmp(a->cwd, b->cwd) != 0)
        DIFF("%s: current directory changed: %s -> %s", when, a->cwd, b->cwd);
    if (a->n_files != b->n_files)
        DIFF("%s: the current directory held %d files, now %d (first now: %s)", when, a->n_files,
             b->n_files, b->n_files > 0 ? b->files[0] : "-");
    for (int i = 0; i < a->n_files && i < b->n_files; i++)
        if (strcmp(a->files[i], b->files[i]) != 0) {
            DIFF("%s: file in the current directory: %s -> %s", when, a->files[i], b->files[i]);
            break;
        }
    if (strcmp(a->umask_line, b->umask_line) != 0)
        DIFF("%s: umask changed: %s -> %s", when, a->umask_line, b->umask_line);
    if (a->out_line_buffered != b->out_line_buffered || a->out_buf_size != b->out_buf_size)
        DIFF("%s: stdout buffering changed", when);
    for (int r = 0; r < RLIM_NLIMITS; r++)
        if (a->lim[r].rlim_cur != b->lim[r].rlim_cur || a->lim[r].rlim_max != b->lim[r].rlim_max)
            DIFF("%s: resource limit %d changed", when, r);
    if (a->threads != b->threads)
        DIFF("%s: %d threads before, %d now", when, a->threads, b->threads);
#undef DIFF
    return diffs;
}

/* Is a library whose path contains `name` mapped into this process? */
static int mapped(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

/* The rank's whole life as a host would live it, then the comparison. */
static int full_cycle(mp_ctx *ctx)
{
    /* The tcp case runs with no FI_TCP_IFACE: the plugin must pass the
     * interface through its hints, not through this environment. */
    unsetenv("FI_TCP_IFACE");
    /* A fresh, empty current directory: anything written there is seen. */
    char dir[] = "/tmp/dlcoll-guest-XXXXXX";
    MP_REQUIRE(ctx, mkdtemp(dir), "mkdtemp failed");
    MP_REQUIRE(ctx, chdir(dir) == 0, "chdir %s failed", dir);
    MP_REQUIRE(ctx, mapped("libfabric") == 0, "libfabric is mapped before the plugin is loaded");

    static host_state before, after;
    snapshot(&before);

    mp_step(ctx, "dlopen the plugin");
    dlcoll_loader_t ld;
    MP_REQUIRE(ctx, dlcoll_load(&ld, DLCOLL_PLUGIN_PATH) == 0, "%s", ld.error);
    const dlcoll_plugin_v1_t *p = ld.plugin;
    ctx->p = p;
    mp_step(ctx, "init");
    dlcoll_comm_t w = NULL;
    dlcoll_status_t st = p->init(&ctx->cfg, &w);
    MP_REQUIRE(ctx, st == DLCOLL_SUCCESS, "init -> %s: %s", p->status_string(st),
               p->last_error(NULL));
    MP_REQUIRE(ctx, mapped("libfabric") == 1, "libfabric is not mapped after init");
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLFloat, 32), 7, 3, 1000);
    if (mp_check_allgather(ctx, w, &sp, ctx->rank, ctx->size, NULL))
        return 1;
    MP_OK_ON(ctx, w, p->barrier(w, NULL));
    mp_step(ctx, "finalize");
    MP_OK_ON(ctx, NULL, p->finalize(w));
    mp_step(ctx, "dlclose");
    dlcoll_unload(&ld);
    ctx->p = NULL;

    snapshot(&after);
    int diffs = compare(ctx, "after dlopen+init+allgather+finalize+dlclose", &before, &after);
    MP_EXPECT(ctx, mapped("libfabric") == 0, "libfabric is still mapped after dlclose");
    MP_EXPECT(ctx, mapped("libdlcoll") == 0, "the plugin is still mapped after dlclose");
    snapshot_free(&before);
    snapshot_free(&after);
    if (chdir("/") == 0)
        rmdir(dir);
    return diffs ? 1 : 0;
}

static void run_cycle(const char *provider)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 2;
    o.provider = provider;
    o.init = MP_INIT_TCP;
    o.deadline_ms = 90000;
    o.no_load = 1;
    mp_run_ok(&o, full_cycle, NULL);
}

Test(guest, nothing_the_host_owns_changes_shm, .timeout = 120)
{
    run_cycle("shm");
}

Test(guest, nothing_the_host_owns_changes_tcp_without_fi_tcp_iface, .timeout = 120)
{
    run_cycle("tcp");
}

/* Loading alone (a host that never calls init): nothing changes, and
 * libfabric, with its PSM and verbs dependencies, is not even loaded. */
static int load_only(mp_ctx *ctx)
{
    static host_state before, after;
    snapshot(&before);
    dlcoll_loader_t ld;
    MP_REQUIRE(ctx, dlcoll_load(&ld, DLCOLL_PLUGIN_PATH) == 0, "%s", ld.error);
    MP_EXPECT(ctx, mapped("libfabric") == 0, "loading the plugin loaded libfabric");
    MP_EXPECT(ctx, mapped("libinfinipath") == 0, "loading the plugin loaded libinfinipath");
    MP_EXPECT(ctx, mapped("libibverbs") == 0, "loading the plugin loaded libibverbs");
    snapshot(&after);
    int diffs = compare(ctx, "after dlopen", &before, &after);
    dlcoll_unload(&ld);
    snapshot_free(&after);
    snapshot(&after);
    diffs += compare(ctx, "after dlopen+dlclose", &before, &after);
    snapshot_free(&before);
    snapshot_free(&after);
    return diffs ? 1 : 0;
}

Test(guest, loading_alone_changes_nothing, .timeout = 60)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 1;
    o.deadline_ms = 30000;
    o.no_load = 1;
    mp_run_ok(&o, load_only, NULL);
}
