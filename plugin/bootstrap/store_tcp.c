/*
 * store_tcp.c -- the TCP store's client (every rank), and rank 0's server
 * start (store_tcp_server.c has the server).  Protocol: store_tcp_proto.h.
 *
 * The client connects with retries until the timeout (a refused connection
 * just means rank 0 has not started its server yet, and a "busy" answer
 * that its server has no room now), runs the
 * challenge-response of store_auth.h, and then sends one request at a time.  Every read and write is bounded by a deadline.
 * After a broken or timed-out exchange the connection is dropped (its byte
 * stream can no longer be trusted) and the next call connects again.
 */
#include "plugin/bootstrap/store_tcp_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_ATTEMPT_MAX_MS 2000 /* per address, so that others get a turn */
#define RETRY_FIRST_MS 5
#define RETRY_MAX_MS 100
#define REPLY_GRACE_MS 2000 /* how long past a GET's timeout we wait for the answer */

/* timeout_ms + REPLY_GRACE_MS without int overflow, for messages. */
static int with_grace(int timeout_ms)
{
    return timeout_ms > 0x7fffffff - REPLY_GRACE_MS ? 0x7fffffff : timeout_ms + REPLY_GRACE_MS;
}

typedef struct tcp_store {
    dlc_store base;
    unsigned char key[256]; /* the job key */
    size_t key_len;         /* 0: none */
    dlc_logger lg;
    char host[256];
    int port;
    char addr[300];         /* "tcp://host:port" */
    int fd;                 /* -1 while not connected */
    dlc_tcp_server *server; /* rank 0 only */
} tcp_store;

/* ------------------------------------------------------------------ bounded I/O */

/* IO_RESET: the peer reset the connection while we received (a peer that
 * closes with our bytes unread); IO_CLOSED: a clean end of stream. */
enum { IO_OK = 0, IO_CLOSED = -1, IO_ERROR = -2, IO_TIMEOUT = -3, IO_RESET = -4 };

/* Wait until fd is ready for events or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - dlc_store_now_ms();
        if (left <= 0)
            return IO_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return IO_OK;
        if (rc < 0 && errno != EINTR)
            return IO_ERROR;
    }
}

/* Send or receive exactly len bytes before the deadline.  recv_mode: 1 to
 * receive.  buf NULL while receiving: discard the bytes. */
static int io_full_flags(int fd, void *buf, size_t len, int recv_mode, int send_flags,
                         int64_t deadline)
{
    unsigned char scratch[4096];
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n;
        if (recv_mode)
            n = recv(fd, p ? (void *)p : scratch,
                     p ? len : (len < sizeof scratch ? len : sizeof scratch), 0);
        else
            n = send(fd, p, len, MSG_NOSIGNAL | send_flags);
        if (n > 0) {
            if (p)
                p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0 && recv_mode)
            return IO_CLOSED;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == ECONNRESET && recv_mode)
            return IO_RESET;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return (errno == EPIPE || errno == ECONNRESET) ? IO_CLOSED : IO_ERROR;
        int rc = wait_fd(fd, recv_mode ? POLLIN : POLLOUT, deadline);
        if (rc != IO_OK)
            return rc;
    }
    return IO_OK;
}

static int io_full(int fd, void *buf, size_t len, int recv_mode, int64_t deadline)
{
    return io_full_flags(fd, buf, len, recv_mode, 0, deadline);
}

/* ------------------------------------------------------------------ connect */

/* One non-blocking connect attempt; returns the fd or -1 with errno set. */
static int connect_once(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1; /* small requests and replies: no Nagle delay */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        ok = rc == IO_OK && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
        if (!ok)
            errno = rc == IO_TIMEOUT ? ETIMEDOUT : (soerr ? soerr : errno);
    }
    if (ok) {
        /* While nobody listens on a local port in the ephemeral range, the
         * kernel may pick that very port as our source port and connect the
         * socket to itself (TCP simultaneous open).  Treat it as refused. */
        struct sockaddr_storage me, peer;
        socklen_t ml = sizeof me, pl = sizeof peer;
        if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0 &&
            getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 && ml == pl &&
            memcmp(&me, &peer, ml) == 0)
            errno = ECONNREFUSED;
        else
            return fd;
    }
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* An I/O failure during the handshake. */
static dlcoll_status_t hello_io(tcp_store *ts, int rc, int timeout_ms, dlc_err *err)
{
    if (rc == IO_TIMEOUT)
        return dlc_fail(
            err, DLCOLL_ERR_TIMEOUT,
            "%s accepted the connection but did not finish the store handshake within %d ms "
            "(is it a dlcoll store?)",
            ts->addr, timeout_ms);
    if (rc == IO_CLOSED || rc == IO_RESET)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s closed the connection during the store handshake%s: it is not a "
                        "dlcoll store of this version, or it failed",
                        ts->addr, rc == IO_RESET ? " (reset)" : "");
    return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store handshake with %s failed: %s", ts->addr,
                    strerror(errno));
}

/* The server had no room for this connection now (DLC_TCP_BUSY): connect again. */
static dlcoll_status_t busy(tcp_store *ts, int *retry, dlc_err *err)
{
    *retry = 1;
    return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                    "the store at %s had no room for this connection (DLCOLL_STORE_MAX_CONNS)",
                    ts->addr);
}

/* The hello and the challenge-response on a fresh connection (store_tcp_proto.h).
 * *retry: the server said it has no room now (DLC_TCP_BUSY). */
static dlcoll_status_t say_hello(tcp_store *ts, int fd, int64_t deadline, int timeout_ms,
                                 int *retry, dlc_err *err)
{
    unsigned char hello[DLC_TCP_HELLO_LEN], reply[DLC_TCP_HELLO_REPLY_LEN];
    unsigned char *cnonce = hello + 12, *snonce = reply + 12, *sproof = reply + 12 + 32;
    *retry = 0;
    dlc_put_u32(hello, DLC_TCP_MAGIC);
    dlc_put_u32(hello + 4, DLC_TCP_VERSION);
    dlc_put_u32(hello + 8, ts->key_len ? DLC_TCP_FLAG_KEY : 0);
    dlcoll_status_t st = dlc_auth_nonce(cnonce, ts->base.name, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    int rc = io_full(fd, hello, sizeof hello, 0, deadline);
    if (rc == IO_OK)
        rc = io_full(fd, reply, DLC_TCP_HELLO_HEAD_LEN, 1, deadline);
    if (rc == IO_OK && dlc_get_u32(reply) == DLC_TCP_MAGIC &&
        dlc_get_u32(reply + 4) == DLC_TCP_BUSY)
        return busy(ts, retry, err);
    if (rc != IO_OK)
        return hello_io(ts, rc, timeout_ms, err);
    if (dlc_get_u32(reply) != DLC_TCP_MAGIC)
        return dlc_fail(
            err, DLCOLL_ERR_BOOTSTRAP,
            "%s is not a dlcoll store: its hello reply starts with 0x%08x instead of 0x%08x",
            ts->addr, dlc_get_u32(reply), DLC_TCP_MAGIC);
    if (dlc_get_u32(reply + 4) != DLC_TCP_VERSION)
        return dlc_fail(err, DLCOLL_ERR_VERSION,
                        "the store at %s speaks protocol version %u, this plugin speaks version %u",
                        ts->addr, dlc_get_u32(reply + 4), DLC_TCP_VERSION);
    rc = io_full(fd, reply + DLC_TCP_HELLO_HEAD_LEN, sizeof reply - DLC_TCP_HELLO_HEAD_LEN, 1,
                 deadline);
    if (rc != IO_OK)
        return hello_io(ts, rc, timeout_ms, err);
    int server_key = (dlc_get_u32(reply + 8) & DLC_TCP_FLAG_KEY) != 0;
    if (ts->key_len && !server_key)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "the store at %s runs without a job key, but this rank has one (%s): "
                        "the ranks disagree on DLCOLL_JOB_KEY, or another process holds the port",
                        ts->addr, "DLCOLL_JOB_KEY / DLCOLL_JOB_KEY_FILE");
    if (ts->key_len &&
        !dlc_auth_check(ts->key, ts->key_len, DLC_AUTH_SERVER, cnonce, snonce, sproof))
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "the process at %s failed to prove it holds the job key: it is not this "
                        "job's store (another process may hold the port, or the ranks have "
                        "different keys)",
                        ts->addr);
    unsigned char proof[DLC_TCP_PROOF_LEN] = {0}, verdict[DLC_TCP_REPLY_HDR_LEN];
    if (ts->key_len)
        dlc_auth_proof(ts->key, ts->key_len, DLC_AUTH_CLIENT, cnonce, snonce, proof);
    rc = io_full(fd, proof, sizeof proof, 0, deadline);
    if (rc == IO_OK)
        rc = io_full(fd, verdict, DLC_TCP_HELLO_HEAD_LEN, 1, deadline);
    if (rc == IO_OK && dlc_get_u32(verdict) == DLC_TCP_MAGIC &&
        dlc_get_u32(verdict + 4) == DLC_TCP_BUSY)
        return busy(ts, retry, err);
    if (rc == IO_OK)
        rc = io_full(fd, verdict + DLC_TCP_HELLO_HEAD_LEN, sizeof verdict - DLC_TCP_HELLO_HEAD_LEN,
                     1, deadline);
    if (rc != IO_OK)
        return hello_io(ts, rc, timeout_ms, err);
    uint32_t why = 0;
    const char *bad = dlc_tcp_parse_verdict(verdict, &why);
    if (bad)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "the store at %s sent a malformed verdict (%s)",
                        ts->addr, bad);
    if (why == DLC_TCP_WHY_NEED_KEY)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "the store at %s refused this rank: it requires the job key and this "
                        "rank has none (set DLCOLL_JOB_KEY or DLCOLL_JOB_KEY_FILE, or launch "
                        "with dlcoll-run)",
                        ts->addr);
    if (why)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "the store at %s refused this rank: %s",
                        ts->addr, dlc_tcp_why(why));
    return DLCOLL_SUCCESS;
}

/* Connect to the store (retrying until timeout_ms passes) and say hello. */
static dlcoll_status_t store_connect(tcp_store *ts, int timeout_ms, dlc_err *err)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", ts->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int64_t deadline = dlc_store_now_ms() + timeout_ms;
    int backoff = RETRY_FIRST_MS;
    char last[160] = "no attempt made";

    for (;;) {
        struct addrinfo *res = NULL;
        int gai = getaddrinfo(ts->host, port_s, &hints, &res);
        if (gai != 0) {
            snprintf(last, sizeof last, "cannot resolve %.100s: %s", ts->host,
                     gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            int64_t now = dlc_store_now_ms();
            if (now >= deadline)
                break;
            int64_t attempt_end =
                now + CONNECT_ATTEMPT_MAX_MS < deadline ? now + CONNECT_ATTEMPT_MAX_MS : deadline;
            int fd = connect_once(ai, attempt_end);
            if (fd < 0) {
                snprintf(last, sizeof last, "%s", strerror(errno));
                continue;
            }
            int retry = 0;
            dlcoll_status_t rc = say_hello(ts, fd, deadline, timeout_ms, &retry, err);
            if (rc == DLCOLL_SUCCESS) {
                freeaddrinfo(res);
                ts->fd = fd;
                return DLCOLL_SUCCESS;
            }
            close(fd);
            if (!retry) {
                freeaddrinfo(res);
                return rc; /* something answered, and it is not our store: retrying won't help */
            }
            snprintf(last, sizeof last, "%.150s", err ? err->msg : "closed before its hello");
            break;
        }
        if (res)
            freeaddrinfo(res);
        int64_t left = deadline - dlc_store_now_ms();
        if (left <= 0)
            return dlc_fail(err, DLCOLL_ERR_TIMEOUT,
                            "cannot connect to the store at %s within %d ms: %s", ts->addr,
                            timeout_ms, last);
        dlc_store_sleep_ms(backoff < left ? backoff : (int)left);
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
}

static void drop_connection(tcp_store *ts)
{
    if (ts->fd >= 0)
        close(ts->fd);
    ts->fd = -1;
}

/* Turn an I/O failure during op on key into an error, dropping the connection. */
static dlcoll_status_t io_failure(tcp_store *ts, int rc, const char *op, const char *key,
                                  int waited_ms, dlc_err *err)
{
    int e = errno;
    drop_connection(ts);
    if (rc == IO_TIMEOUT)
        return dlc_fail(err, DLCOLL_ERR_TIMEOUT, "store %s did not answer %s('%s') within %d ms",
                        ts->addr, op, key, waited_ms);
    if (rc == IO_CLOSED || rc == IO_RESET)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store %s closed the connection during %s('%s')",
                        ts->addr, op, key);
    return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store %s: %s('%s') failed: %s", ts->addr, op, key,
                    strerror(e));
}

static dlcoll_status_t bad_reply(tcp_store *ts, const char *op, const char *key,
                                 const unsigned char *hdr, const char *why, dlc_err *err)
{
    drop_connection(ts);
    return dlc_fail(
        err, DLCOLL_ERR_BOOTSTRAP,
        "store %s sent a malformed reply to %s('%s'): %s (magic 0x%08x, status %u, length %u)",
        ts->addr, op, key, why, dlc_get_u32(hdr), dlc_get_u32(hdr + 4), dlc_get_u32(hdr + 8));
}

/* Rank 0: log what its server refused since the last call. */
static void server_news(tcp_store *ts)
{
    if (ts->server) {
        char note[8];
        dlc_tcp_server_report(ts->server, &ts->lg, note, sizeof note);
    }
}

/* Send header + key (+ value) of one request. */
static int send_request(tcp_store *ts, uint32_t op, const char *key, uint32_t arg,
                        const void *value, size_t len, int64_t deadline)
{
    size_t klen = strlen(key);
    unsigned char head[DLC_TCP_REQ_HDR_LEN + DLC_STORE_MAX_KEY];
    dlc_put_u32(head, op);
    dlc_put_u32(head + 4, (uint32_t)klen);
    dlc_put_u32(head + 8, arg);
    memcpy(head + DLC_TCP_REQ_HDR_LEN, key, klen);
    /* MSG_MORE: header and value leave together (TCP_NODELAY is on). */
    int rc = io_full_flags(ts->fd, head, DLC_TCP_REQ_HDR_LEN + klen, 0, len > 0 ? MSG_MORE : 0,
                           deadline);
    if (rc == IO_OK && len > 0)
        rc = io_full(ts->fd, (void *)value, len, 0, deadline);
    return rc;
}

static dlcoll_status_t tcp_set(dlc_store *base, const char *key, const void *value, size_t len,
                               dlc_err *err)
{
    tcp_store *ts = (tcp_store *)base;
    dlcoll_status_t st;
    server_news(ts);
    if (ts->fd < 0 && (st = store_connect(ts, base->timeout_ms, err)) != DLCOLL_SUCCESS)
        return st;
    int64_t deadline = dlc_store_now_ms() + base->timeout_ms;
    int rc = send_request(ts, DLC_TCP_OP_SET, key, (uint32_t)len, value, len, deadline);
    unsigned char hdr[DLC_TCP_REPLY_HDR_LEN];
    if (rc == IO_OK)
        rc = io_full(ts->fd, hdr, sizeof hdr, 1, deadline);
    if (rc != IO_OK)
        return io_failure(ts, rc, "set", key, base->timeout_ms, err);
    dlc_tcp_reply r;
    const char *bad = dlc_tcp_parse_reply(hdr, DLC_TCP_OP_SET, &r);
    if (bad)
        return bad_reply(ts, "set", key, hdr, bad, err);
    if (r.status == DLC_TCP_ST_REFUSED) {
        drop_connection(ts); /* the server closes it */
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store %s refused set('%s'): %s", ts->addr, key,
                        dlc_tcp_why(r.len));
    }
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t tcp_get(dlc_store *base, const char *key, void *buf, size_t cap, size_t *len,
                               int timeout_ms, dlc_err *err)
{
    tcp_store *ts = (tcp_store *)base;
    dlcoll_status_t st;
    server_news(ts);
    if (ts->fd < 0 && (st = store_connect(ts, base->timeout_ms, err)) != DLCOLL_SUCCESS)
        return st;
    /* The server answers by timeout_ms; allow some slack before giving up on it. */
    int64_t deadline = dlc_store_now_ms() + timeout_ms + REPLY_GRACE_MS;
    int rc = send_request(ts, DLC_TCP_OP_GET, key, (uint32_t)timeout_ms, NULL, 0, deadline);
    unsigned char hdr[DLC_TCP_REPLY_HDR_LEN];
    if (rc == IO_OK)
        rc = io_full(ts->fd, hdr, sizeof hdr, 1, deadline);
    if (rc != IO_OK)
        return io_failure(ts, rc, "get", key, with_grace(timeout_ms), err);
    dlc_tcp_reply r;
    const char *bad = dlc_tcp_parse_reply(hdr, DLC_TCP_OP_GET, &r);
    if (bad)
        return bad_reply(ts, "get", key, hdr, bad, err);
    uint32_t vlen = r.len;
    if (r.status == DLC_TCP_ST_TIMEOUT)
        return dlc_fail(err, DLCOLL_ERR_TIMEOUT, "key '%s' did not appear in store %s within %d ms",
                        key, ts->addr, timeout_ms);
    size_t take = vlen < cap ? vlen : cap;
    rc = io_full(ts->fd, buf, take, 1, deadline);
    if (rc == IO_OK && vlen > take)
        rc = io_full(ts->fd, NULL, vlen - take, 1, deadline); /* keep the stream in step */
    if (rc != IO_OK)
        return io_failure(ts, rc, "get", key, with_grace(timeout_ms), err);
    *len = vlen;
    return DLCOLL_SUCCESS;
}

static void tcp_close(dlc_store *base)
{
    tcp_store *ts = (tcp_store *)base;
    drop_connection(ts);
    server_news(ts);
    dlc_tcp_server_stop(ts->server);
    memset(ts->key, 0, sizeof ts->key);
    free(ts);
}

static void tcp_note(dlc_store *base, char *buf, size_t cap)
{
    tcp_store *ts = (tcp_store *)base;
    dlc_tcp_server_report(ts->server, &ts->lg, buf, cap);
}

static const dlc_store_ops tcp_ops = {tcp_set, tcp_get, tcp_close, tcp_note};

/* Without a key: refused off loopback unless DLCOLL_JOB_KEY=insecure, and
 * loudly warned about everywhere (docs/security.md, "The job secret"). */
static dlcoll_status_t check_keyless(const dlc_settings *s, const char *addr, const dlc_logger *lg,
                                     dlc_err *err)
{
    if (s->job_key_len)
        return DLCOLL_SUCCESS;
    int loop = dlc_auth_host_is_loopback(s->rdv_host);
    if (!loop && !s->job_key_insecure)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "the store %s is not on loopback and there is no job key: any process "
                        "that reaches it could read the job's records and join as a rank. Set "
                        "DLCOLL_JOB_KEY or DLCOLL_JOB_KEY_FILE (dlcoll-run does), or "
                        "DLCOLL_JOB_KEY=insecure to run unauthenticated (docs/security.md)",
                        addr);
    if (s->rank == 0)
        DLC_WARN(lg,
                 "store %s runs WITHOUT authentication (%s): any process that can connect to "
                 "it, e.g. another user's on this host, can read the job's records and join as "
                 "a rank; set DLCOLL_JOB_KEY or DLCOLL_JOB_KEY_FILE, or launch with dlcoll-run "
                 "(docs/security.md)",
                 addr, s->job_key_insecure ? "DLCOLL_JOB_KEY=insecure" : "no job key");
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_store_tcp_open(const dlc_settings *s, int timeout_ms, dlc_store **out,
                                   dlc_err *err)
{
    *out = NULL;
    const char *host = s->rdv_host;
    int port = s->rdv_port;
    if (host[0] == '\0' || strnlen(host, sizeof s->rdv_host) >= sizeof((tcp_store *)0)->host ||
        port < 1 || port > 65535 || s->job_key_len > sizeof((tcp_store *)0)->key)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "tcp store: bad address '%s' port %d",
                        host, port);
    tcp_store *ts = calloc(1, sizeof *ts);
    if (ts == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "tcp store: out of memory");
    ts->base.ops = &tcp_ops;
    ts->base.timeout_ms = timeout_ms;
    ts->fd = -1;
    ts->port = port;
    snprintf(ts->host, sizeof ts->host, "%s", host);
    dlc_tcp_format_addr(ts->addr, sizeof ts->addr, host, port);
    snprintf(ts->base.name, sizeof ts->base.name, "store %.290s", ts->addr);
    dlc_logger_init(&ts->lg, s->log_fn, s->log_ctx, s->log_level, s->rank);
    memcpy(ts->key, s->job_key, s->job_key_len);
    ts->key_len = s->job_key_len;

    dlcoll_status_t rc = check_keyless(s, ts->addr, &ts->lg, err);
    if (rc == DLCOLL_SUCCESS && s->rank == 0) {
        dlc_tcp_server_opts o = {
            .key = ts->key_len ? ts->key : NULL,
            .key_len = ts->key_len,
            .max_keys = s->store_max_keys,
            .max_bytes = s->store_max_bytes,
            .max_conns = s->store_max_conns,
            .idle_ms = s->store_idle_ms,
            .timeout_ms = timeout_ms,
            .lg = ts->lg,
        };
        rc = dlc_tcp_server_start(host, port, &o, &ts->server, err);
    }
    if (rc == DLCOLL_SUCCESS)
        rc = store_connect(ts, timeout_ms, err);
    if (rc != DLCOLL_SUCCESS) {
        tcp_close(&ts->base);
        return rc;
    }
    *out = &ts->base;
    return DLCOLL_SUCCESS;
}
