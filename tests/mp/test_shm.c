/*
 * test_shm.c -- the shared-segment allgather's life cycle (allgather_shm.c,
 * shm_seg.c): which communicators use it, and that its segment is gone from
 * /dev/shm once every member has mapped it.
 *
 * The plugin logs "shared segment /dlcoll-<nonce>-<comm id>: ..." at INFO when
 * a rank maps a segment; these tests read that line through the log callback.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mp_gather.h"

#define LOG_CAP 65536

static char log_buf[LOG_CAP];
static size_t log_len;

static void capture(void *ctx, dlcoll_log_level_t level, const char *line)
{
    (void)ctx;
    (void)level;
    size_t n = strlen(line);
    if (log_len + n + 2 < LOG_CAP) {
        memcpy(log_buf + log_len, line, n);
        log_len += n;
        log_buf[log_len++] = '\n';
        log_buf[log_len] = '\0';
    }
}

/* The i-th segment name logged ("/dlcoll-..."), into name; 0 when there is none. */
static int logged_segment(int i, char *name, size_t cap)
{
    const char *p = log_buf;
    for (;;) {
        p = strstr(p, "shared segment /dlcoll-");
        if (!p)
            return 0;
        p += strlen("shared segment ");
        if (i-- == 0) {
            size_t len = strcspn(p, ":\n ");
            snprintf(name, cap, "%.*s", (int)len, p);
            return 1;
        }
    }
}

static int init_logged(mp_ctx *ctx)
{
    dlcoll_config_t cfg = ctx->cfg;
    cfg.log_fn = capture;
    cfg.log_ctx = NULL;
    cfg.log_level = DLCOLL_LOG_INFO;
    mp_step(ctx, "init");
    MP_OK_ON(ctx, NULL, ctx->p->init(&cfg, &ctx->comm));
    return 0;
}

static int gather_twice(mp_ctx *ctx, dlcoll_comm_t comm, int me, int n, const int *ids)
{
    DLDataType f32 = {kDLFloat, 32, 1};
    mp_ag_spec small = MP_SPEC(f32, 7, 5, 3);
    mp_ag_spec big = MP_SPEC(f32, 8, 300, 1000); /* 1.2 MB: several rounds */
    int rc = mp_check_allgather(ctx, comm, &small, me, n, ids);
    if (rc == 0)
        rc = mp_check_allgather(ctx, comm, &big, me, n, ids);
    return rc;
}

/* shm provider: the world and a group use segments, and both names are gone
 * after their first operations (each member has mapped them by then). */
static int segments_unlinked(mp_ctx *ctx)
{
    if (init_logged(ctx))
        return 1;
    if (gather_twice(ctx, ctx->comm, ctx->rank, ctx->size, NULL))
        return 1;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    char name[256], path[300];
    MP_REQUIRE(ctx, logged_segment(0, name, sizeof name),
               "no 'shared segment' line at INFO: the world did not use the shm exchange; log:\n%s",
               log_buf);
    snprintf(path, sizeof path, "/dev/shm%s", name);
    errno = 0;
    MP_EXPECT(ctx, access(path, F_OK) != 0 && errno == ENOENT,
              "%s still exists after the first operations (errno %d)", path, errno);

    /* A group of ranks 1..n-1 gets its own segment, also unlinked. */
    int ranks[MP_MAX_RANKS], k = 0;
    for (int r = 1; r < ctx->size; r++)
        ranks[k++] = r;
    dlcoll_comm_t g = NULL;
    MP_OK(ctx, ctx->p->group_create(ctx->comm, ranks, k, "tail", &g));
    if (g) {
        if (gather_twice(ctx, g, ctx->rank - 1, k, ranks))
            return 1;
        MP_OK_ON(ctx, g, ctx->p->barrier(g, NULL));
        char gname[256];
        MP_REQUIRE(ctx, logged_segment(1, gname, sizeof gname),
                   "no second 'shared segment' line for the group; log:\n%s", log_buf);
        MP_EXPECT(ctx, strcmp(gname, name) != 0, "the group reused the world's segment %s", name);
        snprintf(path, sizeof path, "/dev/shm%s", gname);
        errno = 0;
        MP_EXPECT(ctx, access(path, F_OK) != 0 && errno == ENOENT,
                  "%s still exists after the group's first operations (errno %d)", path, errno);
        MP_OK_ON(ctx, g, ctx->p->group_destroy(g));
    }
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    return 0;
}

/* tcp provider on one host: the automatic choice keeps the transport (the
 * user asked for tcp), so no segment is mapped. */
static int no_segment_on_tcp(mp_ctx *ctx)
{
    if (init_logged(ctx))
        return 1;
    if (gather_twice(ctx, ctx->comm, ctx->rank, ctx->size, NULL))
        return 1;
    MP_OK(ctx, ctx->p->barrier(ctx->comm, NULL));
    char name[256];
    MP_EXPECT(ctx, !logged_segment(0, name, sizeof name),
              "a shared segment (%s) was mapped although the provider is tcp", name);
    return 0;
}

static void run(int n, const char *provider, mp_rank_fn fn)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.provider = provider;
    o.init = MP_INIT_FILE;
    o.timeout_ms = 20000;
    o.deadline_ms = 90000;
    o.no_init = 1;
    mp_run_ok(&o, fn, NULL);
}

TestSuite(shm, .timeout = 200);

Test(shm, segments_unlinked_n3) { run(3, "shm", segments_unlinked); }
Test(shm, segments_unlinked_n4) { run(4, "shm", segments_unlinked); }
Test(shm, no_segment_on_tcp_n2) { run(2, "tcp", no_segment_on_tcp); }
