/*
 * test_security.c -- what other processes can do to a rank (issue 15,
 * docs/security.md): a stranger's forged NOTICE is dropped and fails
 * nothing; an oversized message to a NOTICE receive costs no memory; a
 * pre-created shared segment refuses the communicator on every rank.
 *
 * The stranger is tests/rogue/rogue_notice.c: a plain libfabric program that
 * reads rank 0's endpoint name from the file store's directory.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mp_capture.h"
#include "mp_gather.h"
#include "plugin/core/world.h"

#define ROGUE DLCOLL_BUILD_DIR "/tests/rogue_notice"

enum { F_CHECKED = 1 };
enum { R_RSS_DELTA_KB = 0 };

static int log_fd = -1; /* this rank's stderr, captured */

typedef struct forged_case {
    const char *bytes; /* the message's size */
    int target;        /* the rank it goes to; the other rank starts the stranger */
} forged_case;

static int capture_rank0(int rank, void *arg, char *why, size_t cap)
{
    (void)arg;
    setenv("DLCOLL_DEBUG", "WARN", 1);
    log_fd = mp_capture_tmpfile("sec");
    if (log_fd < 0 || dup2(log_fd, 2) < 0) {
        snprintf(why, cap, "cannot capture stderr: %s", strerror(errno));
        return 1;
    }
    return 0;
}

typedef struct rogue {
    pid_t pid;
    int in; /* its stdin: closed to let it go */
} rogue;

/* Start the stranger against rank 0 and wait until it has sent. */
static int rogue_start(mp_ctx *ctx, rogue *rg, int target, const char *seq, const char *origin,
                       const char *bytes)
{
    char addr[1200];
    snprintf(addr, sizeof addr, "%s/dlcoll%%2Faddr%%2F%d", ctx->init_method + strlen("file://"),
             target);
    int to[2], from[2];
    MP_REQUIRE(ctx, pipe(to) == 0 && pipe(from) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        execl(ROGUE, ROGUE, ctx->provider, addr, "1", seq, origin, bytes, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    char line[256] = "";
    ssize_t got = read(from[0], line, sizeof line - 1);
    close(from[0]);
    rg->pid = pid;
    rg->in = to[1];
    MP_REQUIRE(ctx, got > 0 && strstr(line, "rogue: sent"), "the stranger did not send (%zd)",
               got);
    return 0;
}

static void rogue_stop(rogue *rg)
{
    close(rg->in);
    kill(rg->pid, SIGKILL);
    waitpid(rg->pid, NULL, 0);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Rank 1 starts the stranger (claiming to be rank 1, reporting that op #2
 * of the world failed) while rank 0 waits in op #2; then both ranks gather,
 * three times, and must succeed. */
static int forged_notice(mp_ctx *ctx)
{
    const forged_case *fc = ctx->arg;
    const char *bytes = fc->bytes;
    int target = fc->target, other = 1 - target;
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLFloat, 32), 1, 64);
    MP_REQUIRE(ctx, mp_check_allgather(ctx, ctx->comm, &sp, ctx->rank, ctx->size, NULL) == 0,
               "warm-up allgather");
    long before = max_rss_kb();
    rogue rg = {-1, -1};
    if (ctx->rank == other) {
        /* The target waits in allgather #2 meanwhile: its progress lets the
         * stranger connect (shm and rxm need the receiver to take part). */
        char claim[16];
        snprintf(claim, sizeof claim, "%d", other);
        if (rogue_start(ctx, &rg, target, "2", claim, bytes))
            return 1;
    }
    for (int i = 0; i < 3; i++) {
        sp = MP_SPEC(mp_dt(kDLFloat, 32), 2 + i, 64);
        MP_REQUIRE(ctx, mp_check_allgather(ctx, ctx->comm, &sp, ctx->rank, ctx->size, NULL) == 0,
                   "allgather #%d after the stranger's notice", 2 + i);
    }
    ctx->report[R_RSS_DELTA_KB] = max_rss_kb() - before;
    if (ctx->rank == target && strcmp(bytes, "448") == 0) {
        char *log = mp_capture_read(log_fd);
        MP_EXPECT(ctx, log && strstr(log, "notice: dropped") &&
                           strstr(log, "claiming to be from rank") &&
                           strstr(log, "stranger"),
                  "rank %d did not log the dropped notice:\n%s", target, log ? log : "(none)");
        free(log);
    }
    if (ctx->rank == target)
        ctx->flags[F_CHECKED] = 1;
    while (!ctx->flags[F_CHECKED])
        usleep(1000);
    if (ctx->rank == other)
        rogue_stop(&rg);
    return 0;
}

static void run_forged(const char *provider, const char *bytes, int target)
{
    forged_case fc = {bytes, target};
    mp_opts o = {.n = 2, .provider = provider, .init = MP_INIT_FILE, .timeout_ms = 10000,
                 .deadline_ms = 60000, .child_setup = capture_rank0};
    mp_result *res = mp_result_new();
    mp_run_opts(&o, forged_notice, &fc, res);
    mp_assert_all_ok(res);
    /* Oversized: rank 0's peak RSS grew by less than a few notices' worth
     * plus the allocator's slack (the old 1 TiB sink took the whole message). */
    if (strcmp(bytes, "448") != 0)
        cr_expect(res->r[target].report[R_RSS_DELTA_KB] < 4 * 1024,
                  "rank %d's peak RSS grew by %ld KiB for a %s-byte message", target,
                  res->r[target].report[R_RSS_DELTA_KB], bytes);
    mp_result_free(res);
}

Test(security, stranger_notice_dropped_shm_rank0) { run_forged("shm", "448", 0); }
Test(security, stranger_notice_dropped_shm_rank1) { run_forged("shm", "448", 1); }
Test(security, stranger_notice_dropped_tcp_rank0) { run_forged("tcp", "448", 0); }
Test(security, stranger_notice_dropped_tcp_rank1) { run_forged("tcp", "448", 1); }
Test(security, oversized_notice_bounded_tcp) { run_forged("tcp", "268435456", 0); }

/* ------------------------------------------------------------------ segments */

/* The segment name of the group the test splits off next, computed as a
 * stranger could: from rank 0's host record in the store and the group's
 * id (rank 0's first proposal: (0 + 1) << 10 | 1). */
static int segment_path(mp_ctx *ctx, char *path, size_t cap)
{
    char file[1200];
    snprintf(file, sizeof file, "%s/dlcoll%%2Fhost%%2F0", ctx->init_method + strlen("file://"));
    unsigned char buf[4096];
    FILE *f = fopen(file, "rb");
    MP_REQUIRE(ctx, f, "%s: %s", file, strerror(errno));
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t klen = strlen("dlcoll/host/0");
    MP_REQUIRE(ctx, got >= 8 + klen + sizeof(dlc_host_rec), "%s: %zu bytes", file, got);
    dlc_host_rec rec;
    memcpy(&rec, buf + 8 + klen, sizeof rec);
    snprintf(path, cap, "/dev/shm/dlcoll-%016llx-%u", (unsigned long long)rec.nonce, (1u << 10) | 1u);
    return 0;
}

enum { F_PLANTED = 2 };
enum { R_SEG_STATUS = 1 };

/* Rank 0 plants /dev/shm/<a new group's segment> with mode 0666 before the
 * group's first operation: every rank must refuse it, nobody writes to it. */
static int planted_segment(mp_ctx *ctx)
{
    char path[256];
    if (ctx->rank == 0) {
        if (segment_path(ctx, path, sizeof path))
            return 1;
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
        MP_REQUIRE(ctx, fd >= 0, "planting %s: %s", path, strerror(errno));
        fchmod(fd, 0666);
        close(fd);
        ctx->flags[F_PLANTED] = 1;
    }
    while (!ctx->flags[F_PLANTED])
        usleep(1000);
    dlcoll_comm_t g = NULL;
    MP_OK_ON(ctx, ctx->comm, ctx->p->group_split(ctx->comm, 0, ctx->rank, &g));
    mp_ag_spec sp = MP_SPEC(mp_dt(kDLFloat, 32), 1, 64);
    mp_ag a;
    if (mp_ag_prepare(ctx, &a, &sp, ctx->rank, ctx->size, NULL))
        return 1;
    dlcoll_status_t st = ctx->p->allgather(g, &a.tin, &a.tout, NULL);
    const char *e = ctx->p->last_error(g);
    ctx->report[R_SEG_STATUS] = st;
    MP_EXPECT(ctx, st != DLCOLL_SUCCESS, "allgather through a planted segment succeeded");
    MP_EXPECT(ctx, e && strstr(e, "/dev/shm/dlcoll-") && strstr(e, "0666"),
              "the error does not name the planted object and its mode: %s", e ? e : "(null)");
    mp_ag_free(&a);
    ctx->p->group_destroy(g);
    __atomic_fetch_add(&ctx->flags[F_CHECKED], 1, __ATOMIC_SEQ_CST);
    if (ctx->rank == 0) {
        while (ctx->flags[F_CHECKED] < ctx->size)
            usleep(1000);
        struct stat sb;
        MP_EXPECT(ctx, stat(path, &sb) == 0 && sb.st_size == 0 && (sb.st_mode & 0777) == 0666,
                  "the planted object was used: %lld bytes, mode %o", (long long)sb.st_size,
                  (unsigned)sb.st_mode);
        unlink(path);
    }
    return 0;
}

Test(security, planted_segment_refused)
{
    mp_opts o = {.n = 2, .provider = "shm", .init = MP_INIT_FILE, .timeout_ms = 5000,
                 .deadline_ms = 60000, .no_finalize = 0, .child_setup = mp_setup_env,
                 .setup_arg = "DLCOLL_ALGO=shm"};
    mp_result *res = mp_result_new();
    mp_run_opts(&o, planted_segment, NULL, res);
    mp_assert_all_ok(res);
    cr_expect(res->r[0].report[R_SEG_STATUS] == res->r[1].report[R_SEG_STATUS],
              "the ranks' verdicts differ: %ld and %ld", res->r[0].report[R_SEG_STATUS],
              res->r[1].report[R_SEG_STATUS]);
    mp_result_free(res);
}
