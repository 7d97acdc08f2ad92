/*
 * store_tcp.c -- the TCP store's client (every rank), and rank 0's server
 * start (store_tcp_server.c has the server).  Protocol: store_tcp_proto.h.
 *
 * The client connects with retries until the timeout (a refused connection
 * just means rank 0 has not started its server yet), says hello, and then
 * sends one request at a time.  Every read and write is bounded by a deadline.
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
    char host[256];
    int port;
    char addr[300];         /* "tcp://host:port" */
    int fd;                 /* -1 while not connected */
    dlc_tcp_server *server; /* rank 0 only */
} tcp_store;

/* ------------------------------------------------------------------ bounded I/O */

enum { IO_OK = 0, IO_CLOSED = -1, IO_ERROR = -2, IO_TIMEOUT = -3 };

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

/* Exchange hellos on a fresh connection. */
static dlcoll_status_t say_hello(tcp_store *ts, int fd, int64_t deadline, int timeout_ms,
                                 dlc_err *err)
{
    unsigned char hello[DLC_TCP_HELLO_LEN], reply[DLC_TCP_HELLO_LEN];
    dlc_put_u32(hello, DLC_TCP_MAGIC);
    dlc_put_u32(hello + 4, DLC_TCP_VERSION);
    int rc = io_full(fd, hello, sizeof hello, 0, deadline);
    if (rc == IO_OK)
        rc = io_full(fd, reply, sizeof reply, 1, deadline);
    if (rc == IO_TIMEOUT)
        return dlc_fail(
            err, DLCOLL_ERR_TIMEOUT,
            "%s accepted the connection but sent no store hello within %d ms (is it a dlcoll "
            "store?)",
            ts->addr, timeout_ms);
    if (rc == IO_CLOSED)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s closed the connection during the store hello (is it a dlcoll store?)",
                        ts->addr);
    if (rc != IO_OK)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store hello with %s failed: %s", ts->addr,
                        strerror(errno));
    if (dlc_get_u32(reply) != DLC_TCP_MAGIC)
        return dlc_fail(
            err, DLCOLL_ERR_BOOTSTRAP,
            "%s is not a dlcoll store: its hello reply starts with 0x%08x instead of 0x%08x",
            ts->addr, dlc_get_u32(reply), DLC_TCP_MAGIC);
    if (dlc_get_u32(reply + 4) != DLC_TCP_VERSION)
        return dlc_fail(err, DLCOLL_ERR_VERSION,
                        "the store at %s speaks protocol version %u, this plugin speaks version %u",
                        ts->addr, dlc_get_u32(reply + 4), DLC_TCP_VERSION);
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
            freeaddrinfo(res);
            dlcoll_status_t rc = say_hello(ts, fd, deadline, timeout_ms, err);
            if (rc != DLCOLL_SUCCESS) {
                close(fd);
                return rc; /* something answered, and it is not our store: retrying won't help */
            }
            ts->fd = fd;
            return DLCOLL_SUCCESS;
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
    if (rc == IO_CLOSED)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store %s closed the connection during %s('%s')",
                        ts->addr, op, key);
    return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "store %s: %s('%s') failed: %s", ts->addr, op, key,
                    strerror(e));
}

static dlcoll_status_t bad_reply(tcp_store *ts, const char *op, const char *key,
                                 const unsigned char *hdr, dlc_err *err)
{
    drop_connection(ts);
    return dlc_fail(
        err, DLCOLL_ERR_BOOTSTRAP,
        "store %s sent a malformed reply to %s('%s') (magic 0x%08x, status %u, length %u)",
        ts->addr, op, key, dlc_get_u32(hdr), dlc_get_u32(hdr + 4), dlc_get_u32(hdr + 8));
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
    if (ts->fd < 0 && (st = store_connect(ts, base->timeout_ms, err)) != DLCOLL_SUCCESS)
        return st;
    int64_t deadline = dlc_store_now_ms() + base->timeout_ms;
    int rc = send_request(ts, DLC_TCP_OP_SET, key, (uint32_t)len, value, len, deadline);
    unsigned char hdr[DLC_TCP_REPLY_HDR_LEN];
    if (rc == IO_OK)
        rc = io_full(ts->fd, hdr, sizeof hdr, 1, deadline);
    if (rc != IO_OK)
        return io_failure(ts, rc, "set", key, base->timeout_ms, err);
    if (dlc_get_u32(hdr) != DLC_TCP_REPLY_MAGIC || dlc_get_u32(hdr + 4) != DLC_TCP_ST_OK ||
        dlc_get_u32(hdr + 8) != 0)
        return bad_reply(ts, "set", key, hdr, err);
    return DLCOLL_SUCCESS;
}

static dlcoll_status_t tcp_get(dlc_store *base, const char *key, void *buf, size_t cap, size_t *len,
                               int timeout_ms, dlc_err *err)
{
    tcp_store *ts = (tcp_store *)base;
    dlcoll_status_t st;
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
    uint32_t status = dlc_get_u32(hdr + 4), vlen = dlc_get_u32(hdr + 8);
    if (dlc_get_u32(hdr) != DLC_TCP_REPLY_MAGIC || vlen > DLC_STORE_MAX_VALUE ||
        (status != DLC_TCP_ST_OK && status != DLC_TCP_ST_TIMEOUT) ||
        (status == DLC_TCP_ST_TIMEOUT && vlen))
        return bad_reply(ts, "get", key, hdr, err);
    if (status == DLC_TCP_ST_TIMEOUT)
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
    dlc_tcp_server_stop(ts->server);
    free(ts);
}

static const dlc_store_ops tcp_ops = {tcp_set, tcp_get, tcp_close};

dlcoll_status_t dlc_store_tcp_open(const char *host, int port, int rank, int timeout_ms,
                                   dlc_store **out, dlc_err *err)
{
    *out = NULL;
    if (host == NULL || host[0] == '\0' || strlen(host) >= sizeof((tcp_store *)0)->host ||
        port < 1 || port > 65535)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "tcp store: bad address '%s' port %d",
                        host ? host : "(null)", port);
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

    dlcoll_status_t rc = DLCOLL_SUCCESS;
    if (rank == 0)
        rc = dlc_tcp_server_start(host, port, &ts->server, err);
    if (rc == DLCOLL_SUCCESS)
        rc = store_connect(ts, timeout_ms, err);
    if (rc != DLCOLL_SUCCESS) {
        tcp_close(&ts->base);
        return rc;
    }
    *out = &ts->base;
    return DLCOLL_SUCCESS;
}
