/*
 * test_lifecycle.c -- the ways a world comes to be and goes away:
 *   - init, finalize, init again in the same process;
 *   - two worlds alive at the same time, used concurrently;
 *   - rank / world size / rendezvous from the environment (RANK, WORLD_SIZE,
 *     MASTER_ADDR, MASTER_PORT) with a default config;
 *   - a host-provided store (dlcoll_store_t callbacks), which must win over an
 *     init_method that is also set, and is used again by group_create;
 *   - the host's log callback receives prefixed lines.
 * Every world is checked with a byte-exact allgather.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mp_gather.h"

/* Directory of a file:// init_method. */
static const char *file_dir(const mp_ctx *ctx)
{
    return strncmp(ctx->init_method, "file://", 7) == 0 ? ctx->init_method + 7 : NULL;
}

static int check_world(mp_ctx *ctx, dlcoll_comm_t w, uint32_t seed)
{
    int r = -1, s = -1;
    MP_OK_ON(ctx, w, ctx->p->comm_rank(w, &r));
    MP_OK_ON(ctx, w, ctx->p->comm_size(w, &s));
    MP_REQUIRE(ctx, r == ctx->rank && s == ctx->size, "comm_rank %d comm_size %d, expected %d %d",
               r, s, ctx->rank, ctx->size);
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLFloat, 32), seed, 1000, 3);
    return mp_check_allgather(ctx, w, &sp, ctx->rank, ctx->size, NULL) ? 1 : 0;
}

/* ================================================================ re-init, two worlds */

static int reinit_and_two_worlds(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    const char *dir = file_dir(ctx);
    MP_REQUIRE(ctx, dir, "needs a file:// rendezvous");
    if (check_world(ctx, ctx->comm, 1))
        return 1;

    /* Finalize the harness's world and init a new one in the same process. */
    mp_step(ctx, "finalize the first world");
    MP_OK(ctx, p->finalize(ctx->comm));
    ctx->comm = NULL;
    char url2[1200], url3[1200];
    snprintf(url2, sizeof url2, "file://%s/second", dir);
    snprintf(url3, sizeof url3, "file://%s/third", dir);
    dlcoll_config_t cfg = ctx->cfg;
    cfg.init_method = url2;
    dlcoll_comm_t w2 = NULL, w3 = NULL;
    mp_step(ctx, "init again (%s)", url2);
    MP_OK_ON(ctx, NULL, p->init(&cfg, &w2));
    if (check_world(ctx, w2, 2))
        return 1;

    /* A third world alive at the same time as the second. */
    cfg.init_method = url3;
    mp_step(ctx, "init a concurrent world (%s)", url3);
    MP_OK_ON(ctx, NULL, p->init(&cfg, &w3));
    if (check_world(ctx, w3, 3))
        return 1;

    /* Both at once, asynchronously; waited in the opposite order. */
    for (int round = 0; round < 3; round++) {
        mp_ag a, b;
        mp_ag_spec sa = MP_SPEC(mp_dt(kDLUInt, 8), 10 + round, 300001);
        mp_ag_spec sb = MP_SPEC(mp_dt(kDLInt, 16), 20 + round, 4097);
        if (mp_ag_prepare(ctx, &a, &sa, ctx->rank, ctx->size, NULL) ||
            mp_ag_prepare(ctx, &b, &sb, ctx->rank, ctx->size, NULL))
            return 1;
        dlcoll_request_t ra = NULL, rb = NULL;
        mp_step(ctx, "two worlds at once, round %d", round);
        MP_OK_ON(ctx, w2, p->allgather(w2, &a.tin, &a.tout, &ra));
        MP_OK_ON(ctx, w3, p->allgather(w3, &b.tin, &b.tout, &rb));
        MP_WAIT_OK(ctx, rb);
        MP_WAIT_OK(ctx, ra);
        if (mp_ag_verify(ctx, &a) || mp_ag_verify(ctx, &b))
            return 1;
        mp_ag_free(&a);
        mp_ag_free(&b);
    }
    MP_OK_ON(ctx, w2, p->finalize(w2));
    /* The third world still works after the second is gone. */
    if (check_world(ctx, w3, 4))
        return 1;
    MP_OK_ON(ctx, w3, p->finalize(w3));
    return 0;
}

Test(lifecycle, reinit_and_two_worlds_shm_n3)
{
    mp_opts o = {.n = 3, .provider = "shm", .init = MP_INIT_FILE, .timeout_ms = 20000,
                 .deadline_ms = 60000};
    mp_run_ok(&o, reinit_and_two_worlds, NULL);
}
Test(lifecycle, reinit_and_two_worlds_tcp_n2)
{
    mp_opts o = {.n = 2, .provider = "tcp", .init = MP_INIT_FILE, .timeout_ms = 20000,
                 .deadline_ms = 60000};
    mp_run_ok(&o, reinit_and_two_worlds, NULL);
}

/* ================================================================ environment */

static int from_env(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    const char *port = strrchr(ctx->init_method, ':');
    MP_REQUIRE(ctx, port && strncmp(ctx->init_method, "tcp://", 6) == 0, "needs a tcp:// rendezvous");
    /* Only the generic launcher variables; nothing dlcoll-specific. */
    static const char *clear[] = {"DLCOLL_RANK", "DLCOLL_WORLD_SIZE", "DLCOLL_INIT_METHOD",
                                  "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK",
                                  "PMI_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "RANK_ID",
                                  "RANK_SIZE", "MS_NODE_ID", "MS_WORKER_NUM", "MS_SCHED_HOST",
                                  "MS_SCHED_PORT", "DLCOLL_TIMEOUT"};
    for (size_t i = 0; i < sizeof clear / sizeof clear[0]; i++)
        unsetenv(clear[i]);
    char v[32];
    snprintf(v, sizeof v, "%d", ctx->rank);
    setenv("RANK", v, 1);
    snprintf(v, sizeof v, "%d", ctx->size);
    setenv("WORLD_SIZE", v, 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", port + 1, 1);
    dlcoll_config_t cfg = dlcoll_config_init();
    cfg.provider = ctx->provider;
    cfg.timeout_ms = ctx->timeout_ms;
    mp_step(ctx, "init from RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT");
    MP_OK_ON(ctx, NULL, p->init(&cfg, &ctx->comm));
    return check_world(ctx, ctx->comm, 30);
}

Test(lifecycle, config_from_env_tcp_n3)
{
    mp_opts o = {.n = 3, .provider = "tcp", .init = MP_INIT_TCP, .timeout_ms = 20000,
                 .deadline_ms = 60000, .no_init = 1};
    mp_run_ok(&o, from_env, NULL);
}

/* ================================================================ host store */

/* A store kept in a directory: one file per key, written then renamed. */
typedef struct dir_store {
    char dir[1100];
    int sets, gets;
} dir_store;

static void key_path(const dir_store *s, const char *key, char *path, size_t cap)
{
    size_t at = (size_t)snprintf(path, cap, "%s/", s->dir);
    for (const char *k = key; *k && at + 4 < cap; k++) {
        unsigned char ch = (unsigned char)*k;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            path[at++] = (char)ch;
        else
            at += (size_t)snprintf(path + at, cap - at, "%%%02x", ch);
    }
    path[at] = 0;
}

static int ds_set(void *ctx, const char *key, const void *value, size_t len)
{
    dir_store *s = ctx;
    char path[1400], tmp[1500];
    key_path(s, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = len ? write(fd, value, len) : 0;
    close(fd);
    if (w != (ssize_t)len || rename(tmp, path) != 0)
        return -1;
    s->sets++;
    return 0;
}

static int ds_get(void *ctx, const char *key, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    dir_store *s = ctx;
    char path[1400];
    key_path(s, key, path, sizeof path);
    double end = mp_now_ms() + timeout_ms;
    for (;;) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) != 0) {
                close(fd);
                return -1;
            }
            *len = (size_t)st.st_size;
            size_t want = *len < cap ? *len : cap;
            ssize_t r = want ? read(fd, buf, want) : 0;
            close(fd);
            s->gets++;
            return r == (ssize_t)want ? 0 : -1;
        }
        if (errno != ENOENT)
            return -1;
        if (timeout_ms >= 0 && mp_now_ms() > end)
            return 1;
        usleep(1000);
    }
}

static int host_store(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    const char *dir = file_dir(ctx);
    MP_REQUIRE(ctx, dir, "needs a file:// rendezvous");
    static dir_store ds;
    snprintf(ds.dir, sizeof ds.dir, "%s/hoststore", dir);
    MP_REQUIRE(ctx, mkdir(ds.dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", ds.dir,
               strerror(errno));
    dlcoll_store_t store = {&ds, ds_set, ds_get};
    dlcoll_config_t cfg = ctx->cfg;
    cfg.store = &store;
    cfg.init_method = "foo://the-store-must-win"; /* store wins when both are set */
    mp_step(ctx, "init with a host store");
    MP_OK_ON(ctx, NULL, p->init(&cfg, &ctx->comm));
    MP_EXPECT(ctx, ds.sets > 0 && ds.gets > 0, "init did not use the host store (%d sets, %d gets)",
              ds.sets, ds.gets);
    if (check_world(ctx, ctx->comm, 40))
        return 1;
    /* group_create goes through the store too. */
    int before = ds.sets + ds.gets;
    int all[MP_MAX_RANKS];
    for (int i = 0; i < ctx->size; i++)
        all[i] = ctx->size - 1 - i;
    dlcoll_comm_t g = NULL;
    mp_step(ctx, "group_create with a host store");
    MP_OK_ON(ctx, NULL, p->group_create(ctx->comm, all, ctx->size, "host-store-group", &g));
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLInt, 32), 41, 77);
    if (mp_check_allgather(ctx, g, &sp, ctx->size - 1 - ctx->rank, ctx->size, all))
        return 1;
    MP_OK_ON(ctx, g, p->group_destroy(g));
    fprintf(stderr, "[mp] rank %d: host store: %d sets, %d gets (%d during group_create)\n",
            ctx->rank, ds.sets, ds.gets, ds.sets + ds.gets - before);
    return 0;
}

Test(lifecycle, host_store_shm_n3)
{
    mp_opts o = {.n = 3, .provider = "shm", .init = MP_INIT_FILE, .timeout_ms = 20000,
                 .deadline_ms = 60000, .no_init = 1};
    mp_run_ok(&o, host_store, NULL);
}

/* ================================================================ log callback */

typedef struct log_sink {
    int lines, bad;
    char first_bad[300];
    char want[32];
} log_sink;

static void sink(void *ctx, dlcoll_log_level_t level, const char *line)
{
    log_sink *s = ctx;
    s->lines++;
    if (!line || !strstr(line, s->want) || strchr(line, '\n') || level < DLCOLL_LOG_WARN ||
        level > DLCOLL_LOG_TRACE) {
        if (!s->bad++)
            snprintf(s->first_bad, sizeof s->first_bad, "level %d: %s", (int)level,
                     line ? line : "(null)");
    }
}

static int log_callback(mp_ctx *ctx)
{
    static log_sink ls;
    snprintf(ls.want, sizeof ls.want, "rank %d", ctx->rank);
    dlcoll_config_t cfg = ctx->cfg;
    cfg.log_fn = sink;
    cfg.log_ctx = &ls;
    cfg.log_level = DLCOLL_LOG_INFO;
    mp_step(ctx, "init with a log callback at INFO");
    MP_OK_ON(ctx, NULL, ctx->p->init(&cfg, &ctx->comm));
    if (check_world(ctx, ctx->comm, 50))
        return 1;
    MP_EXPECT(ctx, ls.lines > 0, "the log callback got no line at INFO level");
    MP_EXPECT(ctx, ls.bad == 0, "%d of %d log lines lack \"%s\", have a newline or a bad level; "
              "first: %s", ls.bad, ls.lines, ls.want, ls.first_bad);
    return 0;
}

Test(lifecycle, log_callback_tcp_n2)
{
    mp_opts o = {.n = 2, .provider = "tcp", .init = MP_INIT_TCP, .timeout_ms = 20000,
                 .deadline_ms = 60000, .no_init = 1};
    mp_run_ok(&o, log_callback, NULL);
}
