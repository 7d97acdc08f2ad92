/*
 * test_transport.c -- plugin/transport/transport.c over real providers (shm and
 * "tcp;ofi_rxm" on loopback).
 *
 * Also the udp and sockets providers (requested-only) for sizes and truncation.
 *
 * Each test forks its ranks: rank 0 is the test process, ranks 1.. are
 * children connected to it by socketpairs, over which endpoint names are
 * exchanged and simple "go" signals are passed.  Scenario code runs in every
 * rank; a failed CHECK records a message and makes the rank report failure
 * (a child through its exit status, which rank 0 asserts).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugin/core/tag.h"
#include "plugin/transport/transport.h"
#include "providers/provider.h"

#define MAX_RANKS 3
#define STEP_TIMEOUT_MS 20000   /* generous bound on any one step (no test relies on it) */

typedef struct rank_ctx {
    int rank, n;
    int ctl[MAX_RANKS];     /* rank 0: ctl[i] talks to rank i; rank i: ctl[0] talks to rank 0 */
    dlc_transport *t;
    dlc_logger lg;
    char failure[768];
} rank_ctx;

typedef int (*scenario_fn)(rank_ctx *c);

static int failf(rank_ctx *c, int line, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->failure, sizeof c->failure, "rank %d, line %d: %s", c->rank, line, msg);
    return 0;
}

#define CHECK(c, cond, ...)                                      \
    do {                                                         \
        if (!(cond))                                             \
            return failf((c), __LINE__, "check '%s' failed: %s", \
                         #cond, fmt_msg(__VA_ARGS__));           \
    } while (0)

static const char *fmt_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt_msg(const char *fmt, ...)
{
    static char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ------------------------------------------------------------------ control channel */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        len -= (size_t)w;
    }
    return 1;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    long deadline = now_ms() + STEP_TIMEOUT_MS;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        len -= (size_t)r;
    }
    return 1;
}

/* Signals between rank 0 and rank `other` (children talk only to rank 0). */
static int ctl_fd(rank_ctx *c, int other)
{
    return c->rank == 0 ? c->ctl[other] : c->ctl[0];
}

static int signal_rank(rank_ctx *c, int other)
{
    char b = 'g';
    return write_all(ctl_fd(c, other), &b, 1);
}

static int await_rank(rank_ctx *c, int other)
{
    char b;
    return read_all(ctl_fd(c, other), &b, 1) && b == 'g';
}

/* All ranks meet: children signal rank 0, which answers each. */
static int barrier(rank_ctx *c)
{
    if (c->rank != 0)
        return signal_rank(c, 0) && await_rank(c, 0);
    for (int i = 1; i < c->n; i++)
        if (!await_rank(c, i))
            return 0;
    for (int i = 1; i < c->n; i++)
        if (!signal_rank(c, i))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ transport helpers */

/* Progress until x is done; 0 (with c->failure) on error or timeout. */
static int wait_xfer(rank_ctx *c, dlc_xfer *x, int line)
{
    long deadline = now_ms() + STEP_TIMEOUT_MS;
    while (!x->done) {
        dlc_err err;
        dlc_err_clear(&err);
        if (dlc_transport_progress(c->t, &err) < 0)
            return failf(c, line, "progress failed: %s", err.msg);
        if (x->done)
            break;
        if (now_ms() > deadline)
            return failf(c, line, "transfer with rank %d (tag 0x%llx) did not complete", x->peer,
                         (unsigned long long)x->tag);
        dlc_transport_wait(c->t, 1000);
    }
    return 1;
}

static int post_send(rank_ctx *c, int peer, const struct iovec *iov, int iovcnt, uint64_t tag,
                     uint64_t data, dlc_xfer *x, int line)
{
    long deadline = now_ms() + STEP_TIMEOUT_MS;
    for (;;) {
        dlc_err err;
        dlc_err_clear(&err);
        dlcoll_status_t st = dlc_transport_send(c->t, peer, iov, iovcnt, tag, data, x, &err);
        if (st == DLCOLL_SUCCESS)
            return 1;
        if (st != DLCOLL_IN_PROGRESS)
            return failf(c, line, "send to %d failed: %s", peer, err.msg);
        if (now_ms() > deadline || dlc_transport_progress(c->t, &err) < 0)
            return failf(c, line, "send to %d could not be posted", peer);
    }
}

static int post_recv(rank_ctx *c, int peer, const struct iovec *iov, int iovcnt, uint64_t tag,
                     uint64_t ignore, dlc_xfer *x, int line)
{
    long deadline = now_ms() + STEP_TIMEOUT_MS;
    for (;;) {
        dlc_err err;
        dlc_err_clear(&err);
        dlcoll_status_t st = dlc_transport_recv(c->t, peer, iov, iovcnt, tag, ignore, x, &err);
        if (st == DLCOLL_SUCCESS)
            return 1;
        if (st != DLCOLL_IN_PROGRESS)
            return failf(c, line, "recv from %d failed: %s", peer, err.msg);
        if (now_ms() > deadline || dlc_transport_progress(c->t, &err) < 0)
            return failf(c, line, "recv from %d could not be posted", peer);
    }
}

#define SEND(c, peer, iov, cnt, tag, data, x) \
    do { if (!post_send((c), (peer), (iov), (cnt), (tag), (data), (x), __LINE__)) return 0; } while (0)
#define RECV(c, peer, iov, cnt, tag, ignore, x) \
    do { if (!post_recv((c), (peer), (iov), (cnt), (tag), (ignore), (x), __LINE__)) return 0; } while (0)
#define WAIT(c, x) \
    do { if (!wait_xfer((c), (x), __LINE__)) return 0; } while (0)
#define SYNC(c, cond) \
    do { if (!(cond)) return failf((c), __LINE__, "control channel failed: %s", #cond); } while (0)

/* Deterministic payload byte i of message `seed`. */
static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u + seed * 29u + (i >> 8) * 7u + 1u) & 0xffu);
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(i, seed);
}

/* Index of the first wrong byte, or len when all match. */
static size_t first_bad(const unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(i, seed))
            return i;
    return len;
}

/* ------------------------------------------------------------------ harness */

/* Open, exchange names, insert peers, run, meet, close.  Returns 1 on success. */
static int member_main(rank_ctx *c, const char *provider, const char *iface, scenario_fn fn)
{
    dlc_err err;
    dlc_err_clear(&err);
    dlc_logger_init(&c->lg, NULL, NULL, -1, c->rank);
    dlc_transport_params p = {.provider = provider, .iface = iface, .rank = c->rank, .lg = &c->lg};
    if (dlc_transport_open(&p, &c->t, &err) != DLCOLL_SUCCESS)
        return failf(c, __LINE__, "open %s failed: %s", provider, err.msg);

    uint8_t names[MAX_RANKS][DLC_MAX_ADDR];
    size_t lens[MAX_RANKS];
    memset(names, 0, sizeof names);
    lens[c->rank] = DLC_MAX_ADDR;
    int ok = dlc_transport_getname(c->t, names[c->rank], &lens[c->rank], &err) == DLCOLL_SUCCESS;
    if (!ok) {
        failf(c, __LINE__, "getname failed: %s", err.msg);
        goto out;
    }
    if (c->rank == 0) {
        for (int i = 1; i < c->n && ok; i++)
            ok = read_all(c->ctl[i], &lens[i], sizeof lens[i]) && lens[i] <= DLC_MAX_ADDR &&
                 read_all(c->ctl[i], names[i], lens[i]);
        for (int i = 1; i < c->n && ok; i++)
            ok = write_all(c->ctl[i], lens, sizeof lens) && write_all(c->ctl[i], names, sizeof names);
    } else {
        ok = write_all(c->ctl[0], &lens[c->rank], sizeof lens[0]) &&
             write_all(c->ctl[0], names[c->rank], lens[c->rank]) &&
             read_all(c->ctl[0], lens, sizeof lens) && read_all(c->ctl[0], names, sizeof names);
    }
    if (!ok) {
        failf(c, __LINE__, "exchanging endpoint names failed");
        goto out;
    }
    if (dlc_transport_insert_peers(c->t, &names[0][0], DLC_MAX_ADDR, lens, c->n, &err) !=
        DLCOLL_SUCCESS) {
        ok = failf(c, __LINE__, "insert_peers failed: %s", err.msg);
        goto out;
    }
    ok = fn(c);
    /* Meet before closing so no rank tears down while a peer still needs it;
     * a rank that failed still meets (its peers would otherwise wait). */
    if (!barrier(c) && ok)
        ok = failf(c, __LINE__, "final barrier failed");
out:
    dlc_transport_close(c->t);
    c->t = NULL;
    return ok;
}

static void run_group(const char *provider, const char *iface, int n, scenario_fn fn)
{
    rank_ctx c;
    pid_t pids[MAX_RANKS] = {0};
    memset(&c, 0, sizeof c);
    c.n = n;
    for (int i = 1; i < n; i++) {
        int sv[2];
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        fflush(NULL);
        pids[i] = fork();
        cr_assert(pids[i] >= 0, "fork failed");
        if (pids[i] == 0) {
            for (int j = 1; j < i; j++)
                close(c.ctl[j]);
            close(sv[0]);
            memset(c.ctl, -1, sizeof c.ctl);
            c.ctl[0] = sv[1];
            c.rank = i;
            int ok = member_main(&c, provider, iface, fn);
            if (!ok)
                fprintf(stderr, "%s\n", c.failure);
            _exit(ok ? 0 : 1);
        }
        close(sv[1]);
        c.ctl[i] = sv[0];
    }
    c.rank = 0;
    int ok = member_main(&c, provider, iface, fn);
    for (int i = 1; i < n; i++)
        close(c.ctl[i]);

    /* Reap the children, killing any that hang. */
    int child_ok = 1;
    long deadline = now_ms() + STEP_TIMEOUT_MS;
    for (int i = 1; i < n; i++) {
        int status = 0;
        pid_t r;
        while ((r = waitpid(pids[i], &status, WNOHANG)) == 0 && now_ms() < deadline)
            usleep(2000);
        if (r == 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &status, 0);
            child_ok = 0;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            child_ok = 0;
        }
    }
    cr_assert(ok, "%s", c.failure);
    cr_assert(child_ok, "a child rank failed (its message is on stderr)");
}

/* ------------------------------------------------------------------ scenarios */

static const size_t sizes[] = {0, 8, 64 * 1024, 4 * 1024 * 1024};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* Rank 1 sends each size to rank 0: first into pre-posted receives, then as
 * unexpected messages (sent before the receives exist).  Zero bytes go both
 * as iovcnt 0 and as one empty iov entry. */
static int scenario_sizes(rank_ctx *c)
{
    for (int round = 0; round < 2; round++) {
        int unexpected = round == 1;
        unsigned char *bufs[NSIZES + 1];
        struct iovec iov[NSIZES + 1];
        dlc_xfer xs[NSIZES + 1];
        for (size_t k = 0; k <= NSIZES; k++) {
            size_t len = k < NSIZES ? sizes[k] : 0; /* last: zero bytes with iovcnt 0 */
            bufs[k] = malloc(len + 1);
            CHECK(c, bufs[k] != NULL, "malloc");
            if (c->rank == 1)
                fill(bufs[k], len, (unsigned)(k + 10 * round));
            else
                memset(bufs[k], 0, len + 1);
            iov[k].iov_base = bufs[k];
            iov[k].iov_len = len;
        }
        uint64_t tag0 = dlc_tag_make(DLC_TAG_DATA, 1, (uint32_t)round, 0);
        if (c->rank == 0) {
            if (unexpected)
                SYNC(c, await_rank(c, 1)); /* rank 1's sends are posted */
            for (size_t k = 0; k <= NSIZES; k++)
                RECV(c, 1, &iov[k], k < NSIZES ? 1 : 0, tag0 + k, 0, &xs[k]);
            if (!unexpected)
                SYNC(c, signal_rank(c, 1));
            for (size_t k = 0; k <= NSIZES; k++) {
                WAIT(c, &xs[k]);
                size_t len = iov[k].iov_len;
                CHECK(c, xs[k].status == DLCOLL_SUCCESS, "size %zu: status %d (%s)", len,
                      xs[k].status, xs[k].errtext);
                CHECK(c, !xs[k].truncated && !xs[k].cancelled, "size %zu", len);
                CHECK(c, xs[k].len == len, "size %zu: got len %zu", len, xs[k].len);
                CHECK(c, xs[k].tag == tag0 + k, "size %zu: tag 0x%llx", len,
                      (unsigned long long)xs[k].tag);
                CHECK(c, xs[k].data == (0xC0DE000000000000ull | len), "size %zu (%s): data 0x%llx",
                      len, k < NSIZES ? "one iov entry" : "no iov entries",
                      (unsigned long long)xs[k].data);
                size_t bad = first_bad(bufs[k], len, (unsigned)(k + 10 * round));
                CHECK(c, bad == len, "size %zu: byte %zu differs", len, bad);
            }
        } else {
            if (!unexpected)
                SYNC(c, await_rank(c, 0)); /* rank 0's receives are posted */
            for (size_t k = 0; k <= NSIZES; k++)
                SEND(c, 0, &iov[k], k < NSIZES ? 1 : 0, tag0 + k,
                     0xC0DE000000000000ull | iov[k].iov_len, &xs[k]);
            if (unexpected)
                SYNC(c, signal_rank(c, 0));
            for (size_t k = 0; k <= NSIZES; k++) {
                WAIT(c, &xs[k]);
                CHECK(c, xs[k].status == DLCOLL_SUCCESS, "send %zu: status %d (%s)", k,
                      xs[k].status, xs[k].errtext);
            }
        }
        for (size_t k = 0; k <= NSIZES; k++)
            free(bufs[k]);
    }
    return 1;
}

/* Three segments on each side, split differently. */
static int scenario_iov(rank_ctx *c)
{
    enum { TOTAL = 75100 };
    static const size_t send_split[3] = {100, 5000, TOTAL - 5100};
    static const size_t recv_split[3] = {3000, 1, TOTAL - 3001};
    CHECK(c, dlc_transport_iov_limit(c->t) >= 3, "iov_limit %d", dlc_transport_iov_limit(c->t));
    unsigned char *whole = malloc(TOTAL);
    unsigned char *seg[3];
    struct iovec iov[3];
    const size_t *split = c->rank == 1 ? send_split : recv_split;
    CHECK(c, whole != NULL, "malloc");
    fill(whole, TOTAL, 77);
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        seg[i] = malloc(split[i]);   /* separate allocations: really scattered */
        CHECK(c, seg[i] != NULL, "malloc");
        if (c->rank == 1)
            memcpy(seg[i], whole + off, split[i]);
        else
            memset(seg[i], 0, split[i]);
        iov[i].iov_base = seg[i];
        iov[i].iov_len = split[i];
        off += split[i];
    }
    dlc_xfer x;
    uint64_t tag = dlc_tag_make(DLC_TAG_DATA, 2, 1, 1);
    if (c->rank == 0) {
        RECV(c, 1, iov, 3, tag, 0, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
        CHECK(c, x.len == TOTAL, "len %zu", x.len);
        off = 0;
        for (int i = 0; i < 3; i++) {
            CHECK(c, memcmp(seg[i], whole + off, split[i]) == 0, "segment %d differs", i);
            off += split[i];
        }
    } else {
        SEND(c, 0, iov, 3, tag, 42, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
    }
    for (int i = 0; i < 3; i++)
        free(seg[i]);
    free(whole);
    return 1;
}

/* CQ data goes 1 -> 0 and comes back changed 0 -> 1. */
static int scenario_cq_data(rank_ctx *c)
{
    const uint64_t d1 = dlc_cqdata_make(DLC_OP_ALLGATHER, 2, 32, 123456789);
    const uint64_t d2 = ~d1;  /* every bit flipped, top bit set */
    uint64_t payload = 0;
    struct iovec iov = {.iov_base = &payload, .iov_len = sizeof payload};
    uint64_t tag = dlc_tag_make(DLC_TAG_CTRL, 3, 0, 0);
    dlc_xfer x;
    if (c->rank == 0) {
        RECV(c, 1, &iov, 1, tag, 0, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
        CHECK(c, x.data == d1, "data 0x%llx", (unsigned long long)x.data);
        CHECK(c, payload == 0x1122334455667788ull, "payload 0x%llx", (unsigned long long)payload);
        payload = ~payload;
        SEND(c, 1, &iov, 1, tag + 1, x.data ^ ~0ull, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
    } else {
        payload = 0x1122334455667788ull;
        SEND(c, 0, &iov, 1, tag, d1, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
        RECV(c, 0, &iov, 1, tag + 1, 0, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
        CHECK(c, x.data == d2, "data 0x%llx", (unsigned long long)x.data);
        CHECK(c, payload == ~0x1122334455667788ull, "payload 0x%llx", (unsigned long long)payload);
    }
    return 1;
}

/* Receives with ignore bits: each of three messages must match exactly one. */
static int scenario_tag_ignore(rank_ctx *c)
{
    const uint64_t t1 = dlc_tag_make(DLC_TAG_DATA, 5, 7, 3);
    const uint64_t t2 = dlc_tag_make(DLC_TAG_DATA, 5, 7, 4);
    const uint64_t t3 = dlc_tag_make(DLC_TAG_NOTICE, 2, 3, 4);
    uint32_t got[3] = {0, 0, 0};
    if (c->rank == 0) {
        /* A: any NOTICE; C: exactly t2; B: any DATA.  Posted in this order, so
         * t1 must skip A (kind) and C (step) to reach B. */
        struct iovec ia = {&got[0], 4}, ib = {&got[1], 4}, ic = {&got[2], 4};
        dlc_xfer a, b, cx;
        RECV(c, 1, &ia, 1, dlc_tag_make(DLC_TAG_NOTICE, 0, 0, 0), DLC_TAG_IGNORE_ALL_BUT_KIND, &a);
        RECV(c, 1, &ic, 1, t2, 0, &cx);
        RECV(c, 1, &ib, 1, dlc_tag_make(DLC_TAG_DATA, 0, 0, 0), DLC_TAG_IGNORE_ALL_BUT_KIND, &b);
        SYNC(c, signal_rank(c, 1));
        WAIT(c, &a);
        WAIT(c, &b);
        WAIT(c, &cx);
        CHECK(c, a.status == 0 && b.status == 0 && cx.status == 0, "statuses %d %d %d", a.status,
              b.status, cx.status);
        CHECK(c, b.tag == t1 && got[1] == 1, "B got tag 0x%llx payload %u",
              (unsigned long long)b.tag, got[1]);
        CHECK(c, cx.tag == t2 && got[2] == 2, "C got tag 0x%llx payload %u",
              (unsigned long long)cx.tag, got[2]);
        CHECK(c, a.tag == t3 && got[0] == 3, "A got tag 0x%llx payload %u",
              (unsigned long long)a.tag, got[0]);
    } else {
        uint32_t p[3] = {1, 2, 3};
        const uint64_t tags[3] = {t1, t2, t3};
        struct iovec iov[3] = {{&p[0], 4}, {&p[1], 4}, {&p[2], 4}};
        dlc_xfer xs[3];
        SYNC(c, await_rank(c, 0));
        for (int i = 0; i < 3; i++)
            SEND(c, 0, &iov[i], 1, tags[i], 0, &xs[i]);
        for (int i = 0; i < 3; i++) {
            WAIT(c, &xs[i]);
            CHECK(c, xs[i].status == DLCOLL_SUCCESS, "send %d status %d", i, xs[i].status);
        }
    }
    return 1;
}

/* Directed receive: rank 0 posts a receive from rank 1 and then one from
 * rank 2 with the same tag; rank 2 sends first.  Its message must complete
 * the second receive while the first stays pending. */
static int scenario_directed(rank_ctx *c)
{
    const uint64_t tag = dlc_tag_make(DLC_TAG_DATA, 6, 1, 0);
    if (c->rank == 0) {
        unsigned char b1[256], b2[256];
        memset(b1, 0, sizeof b1);
        memset(b2, 0, sizeof b2);
        struct iovec i1 = {b1, sizeof b1}, i2 = {b2, sizeof b2};
        dlc_xfer x1, x2;
        RECV(c, 1, &i1, 1, tag, 0, &x1);
        RECV(c, 2, &i2, 1, tag, 0, &x2);
        SYNC(c, signal_rank(c, 2));
        WAIT(c, &x2);
        dlc_err err;
        dlc_err_clear(&err);
        CHECK(c, dlc_transport_progress(c->t, &err) >= 0, "%s", err.msg);
        CHECK(c, !x1.done, "the receive from rank 1 completed with rank 2's message");
        CHECK(c, x2.status == DLCOLL_SUCCESS && x2.len == 256, "x2 status %d len %zu", x2.status,
              x2.len);
        CHECK(c, first_bad(b2, 256, 2) == 256, "rank 2's payload differs");
        SYNC(c, signal_rank(c, 1));
        WAIT(c, &x1);
        CHECK(c, x1.status == DLCOLL_SUCCESS && x1.len == 256, "x1 status %d len %zu", x1.status,
              x1.len);
        CHECK(c, first_bad(b1, 256, 1) == 256, "rank 1's payload differs");
    } else {
        unsigned char b[256];
        fill(b, sizeof b, (unsigned)c->rank);
        struct iovec iov = {b, sizeof b};
        dlc_xfer x;
        SYNC(c, await_rank(c, 0));
        SEND(c, 0, &iov, 1, tag, (uint64_t)c->rank, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
    }
    return 1;
}

/* An 8 KiB message into a 4 KiB receive: truncated, MISMATCH, len 8192, and
 * the guard bytes after the buffer untouched.  The endpoint still works after. */
static int scenario_truncation(rank_ctx *c)
{
    enum { SENT = 8192, ROOM = 4096, GUARD = 4096 };
    const uint64_t tag = dlc_tag_make(DLC_TAG_DATA, 7, 1, 0);
    unsigned char *buf = malloc(SENT + GUARD);
    CHECK(c, buf != NULL, "malloc");
    dlc_xfer x;
    if (c->rank == 0) {
        memset(buf, 0xA5, SENT + GUARD);
        struct iovec iov = {buf, ROOM};
        RECV(c, 1, &iov, 1, tag, 0, &x);
        SYNC(c, signal_rank(c, 1));
        WAIT(c, &x);
        CHECK(c, x.truncated == 1, "truncated %d status %d", x.truncated, x.status);
        CHECK(c, x.status == DLCOLL_ERR_MISMATCH, "status %d", x.status);
        CHECK(c, x.len == SENT, "len %zu", x.len);
        CHECK(c, x.errtext[0] != '\0', "no error text");
        for (size_t i = ROOM; i < SENT + GUARD; i++)
            CHECK(c, buf[i] == 0xA5, "guard byte %zu overwritten", i);
        CHECK(c, first_bad(buf, ROOM, 9) == ROOM, "the part that fit differs");
        /* A normal message still arrives intact. */
        struct iovec small = {buf, 64};
        RECV(c, 1, &small, 1, tag + 1, 0, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS && x.len == 64, "status %d len %zu", x.status, x.len);
        CHECK(c, first_bad(buf, 64, 10) == 64, "follow-up payload differs");
    } else {
        fill(buf, SENT, 9);
        struct iovec iov = {buf, SENT};
        SYNC(c, await_rank(c, 0));
        SEND(c, 0, &iov, 1, tag, 0, &x);
        WAIT(c, &x);
        /* The sender may or may not learn of the truncation; either is fine. */
        unsigned char small[64];
        fill(small, sizeof small, 10);
        struct iovec is = {small, sizeof small};
        SEND(c, 0, &is, 1, tag + 1, 0, &x);
        WAIT(c, &x);
        CHECK(c, x.status == DLCOLL_SUCCESS, "status %d (%s)", x.status, x.errtext);
    }
    free(buf);
    return 1;
}

/* A posted receive that is cancelled completes as cancelled. */
static int scenario_cancel(rank_ctx *c)
{
    unsigned char b[128];
    struct iovec iov = {b, sizeof b};
    dlc_xfer x;
    RECV(c, 0, &iov, 1, dlc_tag_make(DLC_TAG_DATA, 8, 1, 0), 0, &x);
    CHECK(c, !x.done, "receive done before anything was sent");
    dlc_transport_cancel(c->t, &x);
    WAIT(c, &x);
    CHECK(c, x.cancelled == 1, "cancelled %d", x.cancelled);
    CHECK(c, x.status == DLCOLL_ERR_ABORTED, "status %d", x.status);
    /* Any-source receive, too. */
    RECV(c, -1, &iov, 1, 0, ~0ull, &x);
    dlc_transport_cancel(c->t, &x);
    WAIT(c, &x);
    CHECK(c, x.cancelled == 1 && x.status == DLCOLL_ERR_ABORTED, "any-source: cancelled %d status %d",
          x.cancelled, x.status);
    return 1;
}

/* Closing with receives still posted must be clean. */
static int scenario_close_pending(rank_ctx *c)
{
    static unsigned char b[4][64];
    static dlc_xfer xs[4];
    for (int i = 0; i < 4; i++) {
        struct iovec iov = {b[i], sizeof b[i]};
        RECV(c, c->n - 1 - c->rank, &iov, 1, dlc_tag_make(DLC_TAG_DATA, 9, (uint32_t)i, 0), 0, &xs[i]);
    }
    return 1; /* member_main closes the transport with the receives pending */
}

#define BOTH_PROVIDERS(name, nranks, fn)                                              \
    Test(transport_shm, name, .timeout = 120) { run_group("shm", NULL, nranks, fn); }    \
    Test(transport_tcp, name, .timeout = 120) { run_group("tcp", "lo", nranks, fn); }

BOTH_PROVIDERS(sizes, 2, scenario_sizes)
BOTH_PROVIDERS(iov_three_segments, 2, scenario_iov)
BOTH_PROVIDERS(cq_data_round_trip, 2, scenario_cq_data)
BOTH_PROVIDERS(tag_ignore_bits, 2, scenario_tag_ignore)
BOTH_PROVIDERS(directed_receive, 3, scenario_directed)
BOTH_PROVIDERS(truncation, 2, scenario_truncation)
BOTH_PROVIDERS(cancel_posted_receive, 1, scenario_cancel)
BOTH_PROVIDERS(close_with_pending_receives, 2, scenario_close_pending)

/* udp and sockets are never chosen automatically but may be requested.
 * (libfabric 1.17's sockets provider sometimes drops the CQ data of an
 * unexpected message, so it does not run the sizes scenario.) */
#define REQUESTED_PROVIDER(prov, name, nranks, fn) \
    Test(transport_##prov, name, .timeout = 120) { run_group(#prov, "lo", nranks, fn); }

REQUESTED_PROVIDER(udp, sizes, 2, scenario_sizes)
REQUESTED_PROVIDER(udp, truncation, 2, scenario_truncation)
REQUESTED_PROVIDER(sockets, iov_three_segments, 2, scenario_iov)
REQUESTED_PROVIDER(sockets, truncation, 2, scenario_truncation)

/* ------------------------------------------------------------------ single-process checks */

static int provider_bit(const char *name)
{
    int n;
    const dlc_provider *const *list = dlc_provider_list(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(list[i]->name, name) == 0)
            return i;
    return -1;
}

Test(transport, probe_finds_shm_and_tcp)
{
    dlc_logger lg;
    dlc_logger_init(&lg, NULL, NULL, -1, 0);
    uint32_t mask = dlc_transport_probe(&lg);
    int shm = provider_bit("shm"), tcp = provider_bit("tcp"), verbs = provider_bit("verbs");
    cr_assert(shm >= 0 && tcp >= 0 && verbs >= 0);
    cr_expect(mask & (1u << shm), "mask 0x%x lacks shm", mask);
    cr_expect(mask & (1u << tcp), "mask 0x%x lacks tcp", mask);
    /* This machine has no RDMA device. */
    cr_expect(!(mask & (1u << verbs)), "mask 0x%x claims verbs", mask);
    cr_expect_eq(dlc_transport_probe(&lg), mask, "cached result differs");
}

Test(transport, open_unknown_provider_fails)
{
    dlc_logger lg;
    dlc_logger_init(&lg, NULL, NULL, -1, 0);
    dlc_transport_params p = {.provider = "carrier-pigeon", .iface = NULL, .rank = 0, .lg = &lg};
    dlc_transport *t = (dlc_transport *)&lg; /* must be reset to NULL */
    dlc_err err;
    dlc_err_clear(&err);
    cr_assert_eq(dlc_transport_open(&p, &t, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_expect_null(t);
    cr_expect(strstr(err.msg, "carrier-pigeon") != NULL, "message: %s", err.msg);
}

Test(transport, open_reports_names_and_limits)
{
    dlc_logger lg;
    dlc_logger_init(&lg, NULL, NULL, -1, 0);
    dlc_transport_params p = {.provider = "tcp", .iface = "lo", .rank = 0, .lg = &lg};
    dlc_transport *t = NULL;
    dlc_err err;
    dlc_err_clear(&err);
    cr_assert_eq(dlc_transport_open(&p, &t, &err), DLCOLL_SUCCESS, "%s", err.msg);
    cr_expect_str_eq(dlc_transport_provider(t), "tcp");
    cr_expect_str_eq(dlc_transport_fi_provider(t), "tcp;ofi_rxm");
    int lim = dlc_transport_iov_limit(t);
    cr_expect(lim >= 1 && lim <= 16, "iov_limit %d", lim);
    unsigned char name[DLC_MAX_ADDR];
    size_t len = sizeof name;
    cr_expect_eq(dlc_transport_getname(t, name, &len, &err), DLCOLL_SUCCESS, "%s", err.msg);
    cr_expect(len > 0 && len <= DLC_MAX_ADDR, "name length %zu", len);
    /* A buffer too small is an error, not an overflow. */
    size_t small = 2;
    cr_expect_neq(dlc_transport_getname(t, name, &small, &err), DLCOLL_SUCCESS);
    /* Sending to a rank that was never inserted is refused. */
    dlc_xfer x;
    cr_expect_neq(dlc_transport_send(t, 3, NULL, 0, 0, 0, &x, &err), DLCOLL_SUCCESS);
    cr_expect(strstr(err.msg, "rank 3") != NULL, "message: %s", err.msg);
    dlc_transport_close(t);
}
