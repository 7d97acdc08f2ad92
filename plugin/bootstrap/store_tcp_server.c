/*
 * store_tcp_server.c -- the TCP store's server, run by rank 0.
 *
 * One thread, one poll() loop, non-blocking sockets.  Each connection is a
 * small state machine:
 *
 *   HELLO -> (hello reply) -> PROOF -> (verdict) -> HEADER -> BODY
 *        -> SET: store, reply, wake waiters
 *        -> GET: reply, or WAIT until the key is set or the deadline passes
 *   every reply goes through WRITE, then to the next state.
 *
 * A connection that breaks the protocol or fails the challenge-response
 * (store_auth.h) is closed with a logged reason naming its address.  The
 * server is bounded (docs/security.md, "The store"): keys and bytes held
 * (store_tcp_table.c), connections (the oldest unauthenticated one makes
 * room for a new one; past the cap a newcomer is closed), and time: a
 * handshake must end within idle_ms of the accept, and a partial request or
 * reply must progress at least once per idle_ms.  A reply holds a reference
 * to the stored value, never a copy.  The loop also watches a pipe: one
 * byte written to it by dlc_tcp_server_stop() ends the thread.
 */
#include "plugin/bootstrap/store_tcp_proto.h"
#include "plugin/bootstrap/store_tcp_table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_LISTEN 8
#define ACCEPT_PAUSE_MS 100 /* after EMFILE & co., so the loop does not spin */
#define BODY_FIRST 65536u   /* a SET body's first allocation; it grows as bytes arrive */
#define LOG_QUEUE 16        /* refusals kept for a host's log callback */

/* ------------------------------------------------------------------ connections */

typedef enum { C_HELLO, C_PROOF, C_HEADER, C_BODY, C_WAIT, C_WRITE } client_state;

static const char *const state_name[] = {"hello", "proof", "header", "body", "wait", "reply"};

typedef struct client {
    int fd;
    int dead; /* closed; removed at the end of the loop turn */
    int authed;
    client_state state, after_write;
    char peer[80];
    int64_t accepted_ms, progress_ms;
    unsigned char in[DLC_TCP_HELLO_LEN]; /* hello, proof or request header */
    size_t in_got;
    unsigned char cnonce[DLC_AUTH_NONCE_LEN], snonce[DLC_AUTH_NONCE_LEN];
    dlc_tcp_request req;
    char key[DLC_STORE_MAX_KEY + 1];
    size_t key_got;
    dlc_blob *body; /* SET: the value as it arrives; its length is reserved */
    size_t body_got;
    int64_t deadline; /* C_WAIT */
    unsigned char out[DLC_TCP_HELLO_REPLY_LEN];
    size_t out_len, out_off; /* out_off counts header and value bytes */
    dlc_blob *out_value;     /* a reference, or NULL */
    int close_after_write;
} client;

struct dlc_tcp_server {
    int listen_fd[MAX_LISTEN];
    int n_listen;
    int wake[2]; /* pipe: stop request */
    pthread_t thread;
    char addr[300];
    client **clients;
    size_t n_clients, cap_clients;
    size_t max_conns, max_unauthed;
    struct pollfd *pfds;
    client **pfd_client; /* parallel to pfds; NULL for wake/listen */
    size_t cap_pfds;
    int64_t accept_paused_until;
    dlc_kv_table kv;
    unsigned char key[256];
    size_t key_len;
    int idle_ms, timeout_ms;
    dlc_logger lg;
    /* Refusals, for rank 0's client (dlc_tcp_server_report). */
    pthread_mutex_t note_lock;
    unsigned long refused;
    char last[256];
    char queue[LOG_QUEUE][300];
    unsigned queued, dropped;
};

/* Log why peer was refused or closed; count it for the report. */
__attribute__((format(printf, 3, 4))) static void refuse(dlc_tcp_server *srv, const client *c,
                                                         const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&srv->note_lock);
    srv->refused++;
    snprintf(srv->last, sizeof srv->last, "%.79s: %.170s", c ? c->peer : "?", why);
    if (srv->lg.fn == NULL) {
        dlc_log(&srv->lg, DLCOLL_LOG_WARN, "store %s refused %s", srv->addr, srv->last);
    } else if (srv->queued < LOG_QUEUE) {
        snprintf(srv->queue[srv->queued++], sizeof srv->queue[0], "store %.40s refused %.240s",
                 srv->addr, srv->last);
    } else {
        srv->dropped++;
    }
    pthread_mutex_unlock(&srv->note_lock);
}

/* Close c.  What it sent and we did not read is read first, so that the
 * close is a clean end of stream, not a reset: a client closed before its
 * hello reply then knows the server made room and connects again. */
static void client_kill(client *c)
{
    if (!c->dead) {
        unsigned char sink[4096];
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
            ;
        close(c->fd);
        c->dead = 1;
    }
}

static void client_free(client *c)
{
    client_kill(c);
    dlc_blob_unref(c->body);
    dlc_blob_unref(c->out_value);
    free(c);
}

static void client_next_request(client *c)
{
    dlc_blob_unref(c->body);
    c->body = NULL;
    c->body_got = c->key_got = c->in_got = 0;
    c->state = C_HEADER;
}

/* Send as much of the pending output (header, then the value) as the socket takes. */
static void client_flush(client *c)
{
    size_t vlen = c->out_value ? c->out_value->len : 0;
    while (c->out_off < c->out_len + vlen) {
        struct iovec iov[2];
        int n_iov = 0;
        if (c->out_off < c->out_len)
            iov[n_iov++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
        size_t voff = c->out_off > c->out_len ? c->out_off - c->out_len : 0;
        if (vlen > voff)
            iov[n_iov++] = (struct iovec){c->out_value->data + voff, vlen - voff};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_kill(c);
            return; /* poll for POLLOUT */
        }
        c->out_off += (size_t)n;
        c->progress_ms = dlc_store_now_ms();
    }
    dlc_blob_unref(c->out_value);
    c->out_value = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after_write)
        client_kill(c);
    else if (c->after_write == C_HEADER)
        client_next_request(c);
    else
        c->state = c->after_write, c->in_got = 0;
}

/* Queue out[0..len) (+ a reference to value) and start sending it. */
static void client_send(client *c, size_t len, dlc_blob *value, client_state next)
{
    c->out_len = len;
    c->out_off = 0;
    c->out_value = value ? dlc_blob_ref(value) : NULL;
    c->after_write = next;
    c->state = C_WRITE;
    c->progress_ms = dlc_store_now_ms();
    client_flush(c);
}

static void client_reply(client *c, uint32_t status, uint32_t arg, dlc_blob *value)
{
    dlc_put_u32(c->out, DLC_TCP_REPLY_MAGIC);
    dlc_put_u32(c->out + 4, status);
    dlc_put_u32(c->out + 8, value ? value->len : arg);
    client_send(c, DLC_TCP_REPLY_HDR_LEN, value, C_HEADER);
}

/* Refuse c's request (a reason code on the wire, the cause in the log) and close it. */
static void refuse_request(dlc_tcp_server *srv, client *c, uint32_t why)
{
    refuse(srv, c, "set('%.200s'): %s", c->key, dlc_tcp_why(why));
    c->close_after_write = 1;
    client_reply(c, DLC_TCP_ST_REFUSED, why, NULL);
}

/* ------------------------------------------------------------------ handshake */

static void handle_hello(dlc_tcp_server *srv, client *c)
{
    uint32_t version = dlc_get_u32(c->in + 4);
    if (dlc_get_u32(c->in) != DLC_TCP_MAGIC) {
        refuse(srv, c, "not a dlcoll store client (hello 0x%08x)", dlc_get_u32(c->in));
        client_kill(c);
        return;
    }
    dlc_put_u32(c->out, DLC_TCP_MAGIC);
    dlc_put_u32(c->out + 4, DLC_TCP_VERSION);
    if (version != DLC_TCP_VERSION) {
        refuse(srv, c, "speaks store protocol version %u, this server %u", version,
               DLC_TCP_VERSION);
        c->close_after_write = 1;
        client_send(c, DLC_TCP_HELLO_HEAD_LEN, NULL, C_HEADER);
        return;
    }
    if (c->in_got < DLC_TCP_HELLO_LEN)
        return; /* the rest of a version 2 hello is on its way */
    memcpy(c->cnonce, c->in + 12, DLC_AUTH_NONCE_LEN);
    if (getrandom(c->snonce, sizeof c->snonce, GRND_NONBLOCK) != (ssize_t)sizeof c->snonce) {
        refuse(srv, c, "no random nonce: %s", strerror(errno));
        client_kill(c);
        return;
    }
    dlc_put_u32(c->out + 8, srv->key_len ? DLC_TCP_FLAG_KEY : 0);
    memcpy(c->out + 12, c->snonce, DLC_AUTH_NONCE_LEN);
    if (srv->key_len)
        dlc_auth_proof(srv->key, srv->key_len, DLC_AUTH_SERVER, c->cnonce, c->snonce,
                       c->out + 12 + DLC_AUTH_NONCE_LEN);
    else
        memset(c->out + 12 + DLC_AUTH_NONCE_LEN, 0, DLC_AUTH_PROOF_LEN);
    c->req.arg = dlc_get_u32(c->in + 8); /* the client's flags, until its proof */
    client_send(c, DLC_TCP_HELLO_REPLY_LEN, NULL, C_PROOF);
}

static void handle_proof(dlc_tcp_server *srv, client *c)
{
    int client_has_key = (c->req.arg & DLC_TCP_FLAG_KEY) != 0;
    uint32_t why = 0;
    if (srv->key_len && !client_has_key)
        why = DLC_TCP_WHY_NEED_KEY;
    else if (!srv->key_len && client_has_key)
        why = DLC_TCP_WHY_NO_KEY;
    else if (srv->key_len &&
             !dlc_auth_check(srv->key, srv->key_len, DLC_AUTH_CLIENT, c->cnonce, c->snonce, c->in))
        why = DLC_TCP_WHY_BAD_PROOF;
    dlc_put_u32(c->out, DLC_TCP_REPLY_MAGIC);
    dlc_put_u32(c->out + 4, why ? DLC_TCP_ST_REFUSED : DLC_TCP_ST_OK);
    dlc_put_u32(c->out + 8, why);
    if (why) {
        refuse(srv, c, "%s", dlc_tcp_why(why));
        c->close_after_write = 1;
    } else {
        c->authed = 1;
    }
    client_send(c, DLC_TCP_REPLY_HDR_LEN, NULL, C_HEADER);
}

/* ------------------------------------------------------------------ requests */

static void wake_waiters(dlc_tcp_server *srv, const char *key, dlc_blob *v)
{
    for (size_t i = 0; i < srv->n_clients; i++) {
        client *w = srv->clients[i];
        if (!w->dead && w->state == C_WAIT && strcmp(w->key, key) == 0)
            client_reply(w, DLC_TCP_ST_OK, 0, v);
    }
}

/* A complete SET or GET has arrived. */
static void handle_request(dlc_tcp_server *srv, client *c)
{
    c->key[c->req.key_len] = '\0';
    if (c->req.op == DLC_TCP_OP_GET) {
        dlc_blob *v = dlc_kv_get(&srv->kv, c->key);
        if (v != NULL)
            client_reply(c, DLC_TCP_ST_OK, 0, v);
        else if (c->req.arg == 0)
            client_reply(c, DLC_TCP_ST_TIMEOUT, 0, NULL);
        else {
            uint32_t wait =
                c->req.arg < (uint32_t)srv->timeout_ms ? c->req.arg : (uint32_t)srv->timeout_ms;
            c->state = C_WAIT;
            c->deadline = dlc_store_now_ms() + wait;
        }
        return;
    }
    dlc_blob *v = c->body;
    c->body = NULL;
    int write_once =
        strncmp(c->key, DLC_TCP_WRITE_ONCE_PREFIX, sizeof DLC_TCP_WRITE_ONCE_PREFIX - 1) == 0;
    dlc_blob_ref(v); /* for the waiters */
    int rc = dlc_kv_put(&srv->kv, c->key, c->req.key_len, v, write_once);
    if (rc == 0) {
        client_reply(c, DLC_TCP_ST_OK, 0, NULL);
        wake_waiters(srv, c->key, v);
    } else if (rc == DLC_KV_SAME) {
        client_reply(c, DLC_TCP_ST_OK, 0, NULL);
    } else if (rc == DLC_KV_CONFLICT || rc == DLC_KV_FULL) {
        refuse_request(srv, c, rc == DLC_KV_FULL ? DLC_TCP_WHY_FULL : DLC_TCP_WHY_WRITE_ONCE);
    } else {
        refuse(srv, c, "set('%.200s'): out of memory", c->key);
        client_kill(c);
    }
    dlc_blob_unref(v);
}

/* The request header is complete: check it and prepare for the body. */
static void handle_header(dlc_tcp_server *srv, client *c)
{
    const char *bad = dlc_tcp_parse_request(c->in, &c->req);
    if (bad) {
        refuse(srv, c, "bad request (%s)", bad);
        client_kill(c);
        return;
    }
    c->key_got = c->body_got = 0;
    c->state = C_BODY;
    if (c->req.op != DLC_TCP_OP_SET)
        return;
    if (dlc_kv_reserve(&srv->kv, c->req.arg) != 0) {
        /* Refused before a byte of the body is read or allocated. */
        snprintf(c->key, sizeof c->key, "(%u-byte value)", c->req.arg);
        refuse_request(srv, c, DLC_TCP_WHY_FULL);
        return;
    }
    c->body = dlc_blob_new(&srv->kv, c->req.arg, BODY_FIRST);
    if (c->body == NULL) {
        dlc_kv_unreserve(&srv->kv, c->req.arg);
        refuse(srv, c, "set: out of memory");
        client_kill(c);
    }
}

/* Where the next bytes of c's current frame go, and how many are wanted. */
static size_t next_dst(dlc_tcp_server *srv, client *c, unsigned char **dst)
{
    switch (c->state) {
    case C_HELLO: {
        size_t want =
            c->in_got < DLC_TCP_HELLO_HEAD_LEN ? DLC_TCP_HELLO_HEAD_LEN : DLC_TCP_HELLO_LEN;
        *dst = c->in + c->in_got;
        return want - c->in_got;
    }
    case C_PROOF: *dst = c->in + c->in_got; return DLC_TCP_PROOF_LEN - c->in_got;
    case C_HEADER: *dst = c->in + c->in_got; return DLC_TCP_REQ_HDR_LEN - c->in_got;
    case C_BODY:
        if (c->key_got < c->req.key_len) {
            *dst = (unsigned char *)c->key + c->key_got;
            return c->req.key_len - c->key_got;
        }
        if (c->body != NULL && c->body_got < c->body->len) {
            /* Grow the value only as its bytes arrive. */
            size_t chunk = c->body->len - c->body_got;
            if (chunk > BODY_FIRST)
                chunk = BODY_FIRST;
            dlc_blob *g = dlc_blob_grow(c->body, (uint32_t)(c->body_got + chunk));
            if (g == NULL) {
                refuse(srv, c, "set: out of memory");
                client_kill(c);
                return 0;
            }
            c->body = g;
            *dst = g->data + c->body_got;
            return chunk;
        }
        return 0;
    default: return 0;
    }
}

/* A frame of the current state is complete: act on it. */
static void frame_done(dlc_tcp_server *srv, client *c)
{
    switch (c->state) {
    case C_HELLO:
        if (c->in_got >= DLC_TCP_HELLO_HEAD_LEN)
            handle_hello(srv, c);
        break;
    case C_PROOF: handle_proof(srv, c); break;
    case C_HEADER: handle_header(srv, c); break;
    case C_BODY:
        if (c->key_got == c->req.key_len &&
            !dlc_tcp_key_ok((const unsigned char *)c->key, c->req.key_len)) {
            refuse(srv, c, "bad request (NUL in the key)");
            client_kill(c);
        } else if (c->key_got == c->req.key_len &&
                   (c->body == NULL || c->body_got == c->body->len)) {
            handle_request(srv, c);
        }
        break;
    default: break;
    }
}

/* Read what the socket has for the current state; handle complete frames. */
static void client_read(dlc_tcp_server *srv, client *c)
{
    while (!c->dead && c->state != C_WAIT && c->state != C_WRITE) {
        unsigned char *dst = NULL;
        size_t want = next_dst(srv, c, &dst);
        if (c->dead)
            return;
        if (want == 0) {
            frame_done(srv, c);
            continue;
        }
        ssize_t n = recv(c->fd, dst, want, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_kill(c);
            return;
        }
        if (n == 0) {
            if (c->state == C_PROOF)
                refuse(srv, c,
                       "closed instead of sending its proof (it did not accept this "
                       "store's: another job key?)");
            else if (!c->authed)
                refuse(srv, c, "closed during the %s", state_name[c->state]);
            client_kill(c); /* peer closed */
            return;
        }
        c->progress_ms = dlc_store_now_ms();
        if (c->state == C_BODY && c->key_got < c->req.key_len)
            c->key_got += (size_t)n;
        else if (c->state == C_BODY)
            c->body_got += (size_t)n;
        else
            c->in_got += (size_t)n;
        if ((size_t)n == want)
            frame_done(srv, c);
    }
}

/* ------------------------------------------------------------------ accept, deadlines */

static void format_peer(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?", port[16] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(buf, cap, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Tell a client still in its handshake that there is no room (it connects
 * again), and close it. */
static void send_busy_and_kill(client *c)
{
    if (!c->dead && (c->state == C_HELLO || c->state == C_PROOF)) {
        unsigned char busy[DLC_TCP_HELLO_HEAD_LEN];
        dlc_put_u32(busy, DLC_TCP_MAGIC);
        dlc_put_u32(busy + 4, DLC_TCP_BUSY);
        (void)!send(c->fd, busy, sizeof busy, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    client_kill(c);
}

/* Close the oldest connection that has not authenticated; 0 when there is none. */
static int evict_oldest_unauthed(dlc_tcp_server *srv, const char *why)
{
    client *old = NULL;
    for (size_t i = 0; i < srv->n_clients; i++) {
        client *c = srv->clients[i];
        if (!c->dead && !c->authed && (old == NULL || c->accepted_ms < old->accepted_ms))
            old = c;
    }
    if (old == NULL)
        return 0;
    refuse(srv, old, "closed before its handshake ended: %s", why);
    send_busy_and_kill(old);
    return 1;
}

static void accept_clients(dlc_tcp_server *srv, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) /* EMFILE, ENOBUFS, ... */
                srv->accept_paused_until = dlc_store_now_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        client probe = {.fd = fd, .state = C_HELLO};
        format_peer(fd, probe.peer, sizeof probe.peer);
        size_t live = 0, unauthed = 0;
        for (size_t i = 0; i < srv->n_clients; i++) {
            live += !srv->clients[i]->dead;
            unauthed += !srv->clients[i]->dead && !srv->clients[i]->authed;
        }
        if (unauthed >= srv->max_unauthed &&
            evict_oldest_unauthed(srv, "too many connections in their handshake"))
            live--;
        if (live >= srv->max_conns &&
            !evict_oldest_unauthed(srv, "DLCOLL_STORE_MAX_CONNS reached")) {
            refuse(srv, &probe, "DLCOLL_STORE_MAX_CONNS (%zu) connections are open",
                   srv->max_conns);
            send_busy_and_kill(&probe);
            continue;
        }
        if (srv->n_clients == srv->cap_clients) {
            size_t cap = srv->cap_clients ? srv->cap_clients * 2 : 16;
            client **grown = realloc(srv->clients, cap * sizeof *grown);
            if (grown == NULL) {
                close(fd);
                return;
            }
            srv->clients = grown;
            srv->cap_clients = cap;
        }
        client *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->state = C_HELLO;
        memcpy(c->peer, probe.peer, sizeof c->peer);
        c->accepted_ms = c->progress_ms = dlc_store_now_ms();
        srv->clients[srv->n_clients++] = c;
    }
}

/* When c must next make progress (INT64_MAX: no deadline), per its state. */
static int64_t client_deadline(const dlc_tcp_server *srv, const client *c)
{
    if (!c->authed)
        return c->accepted_ms + srv->idle_ms; /* the whole handshake */
    if (c->state == C_WAIT)
        return c->deadline;
    if (c->state == C_HEADER && c->in_got == 0)
        return INT64_MAX;                 /* an idle rank between requests */
    return c->progress_ms + srv->idle_ms; /* a partial request, or a reply being read */
}

/* Expire waits and stalled connections; returns the poll timeout until the next. */
static int expire(dlc_tcp_server *srv, int64_t now)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < srv->n_clients; i++) {
        client *c = srv->clients[i];
        if (c->dead)
            continue;
        int64_t d = client_deadline(srv, c);
        if (d <= now && c->state == C_WAIT && c->authed) {
            client_reply(c, DLC_TCP_ST_TIMEOUT, 0, NULL);
            d = c->dead ? INT64_MAX : client_deadline(srv, c);
        } else if (d <= now) {
            refuse(srv, c, "stalled in the %s for %d ms (DLCOLL_STORE_IDLE_MS)",
                   state_name[c->state], srv->idle_ms);
            client_kill(c);
            continue;
        }
        if (d < next)
            next = d;
    }
    if (next == INT64_MAX)
        return -1;
    return next - now > 60000 ? 60000 : next <= now ? 0 : (int)(next - now);
}

/* Make room for n pollfds. */
static int reserve_pfds(dlc_tcp_server *srv, size_t n)
{
    if (n <= srv->cap_pfds)
        return 0;
    size_t cap = n * 2;
    struct pollfd *p = realloc(srv->pfds, cap * sizeof *p);
    if (p == NULL)
        return -1;
    srv->pfds = p;
    client **pc = realloc(srv->pfd_client, cap * sizeof *pc);
    if (pc == NULL)
        return -1;
    srv->pfd_client = pc;
    srv->cap_pfds = cap;
    return 0;
}

static void *server_main(void *arg)
{
    dlc_tcp_server *srv = arg;
    for (;;) {
        int64_t now = dlc_store_now_ms();
        int timeout = expire(srv, now);
        size_t n = 0;
        if (reserve_pfds(srv, 1 + (size_t)srv->n_listen + srv->n_clients) != 0) {
            dlc_store_sleep_ms(10); /* out of memory: try again shortly */
            continue;
        }
        srv->pfds[n] = (struct pollfd){.fd = srv->wake[0], .events = POLLIN};
        srv->pfd_client[n++] = NULL;
        if (now >= srv->accept_paused_until) {
            for (int i = 0; i < srv->n_listen; i++) {
                srv->pfds[n] = (struct pollfd){.fd = srv->listen_fd[i], .events = POLLIN};
                srv->pfd_client[n++] = NULL;
            }
        } else {
            int t = (int)(srv->accept_paused_until - now);
            timeout = timeout < 0 || t < timeout ? t : timeout;
        }
        for (size_t i = 0; i < srv->n_clients; i++) {
            client *c = srv->clients[i];
            if (c->dead)
                continue;
            short ev = c->state == C_WRITE ? POLLOUT : c->state == C_WAIT ? POLLRDHUP : POLLIN;
            srv->pfds[n] = (struct pollfd){.fd = c->fd, .events = ev};
            srv->pfd_client[n++] = c;
        }

        int rc = poll(srv->pfds, (nfds_t)n, timeout);
        if (rc < 0 && errno != EINTR) {
            dlc_store_sleep_ms(10);
            continue;
        }
        if (rc > 0 && (srv->pfds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            break; /* stop requested */

        for (size_t i = 1; rc > 0 && i < n; i++) {
            short re = srv->pfds[i].revents;
            client *c = srv->pfd_client[i];
            if (re == 0)
                continue;
            if (c == NULL) {
                accept_clients(srv, srv->pfds[i].fd);
            } else if (c->dead) {
                continue;
            } else if (c->state == C_WAIT) {
                client_kill(c); /* the waiting client hung up */
            } else if (c->state == C_WRITE) {
                if (re & (POLLERR | POLLHUP | POLLNVAL))
                    client_kill(c);
                else
                    client_flush(c);
                if (!c->dead && c->state != C_WRITE)
                    client_read(srv, c);
            } else {
                client_read(srv, c);
            }
        }

        /* Drop closed connections. */
        size_t kept = 0;
        for (size_t i = 0; i < srv->n_clients; i++) {
            if (srv->clients[i]->dead)
                client_free(srv->clients[i]);
            else
                srv->clients[kept++] = srv->clients[i];
        }
        srv->n_clients = kept;
    }
    return NULL;
}

/* ------------------------------------------------------------------ start / stop */

static void server_free(dlc_tcp_server *srv)
{
    for (int i = 0; i < srv->n_listen; i++)
        close(srv->listen_fd[i]);
    for (size_t i = 0; i < srv->n_clients; i++)
        client_free(srv->clients[i]);
    free(srv->clients);
    free(srv->pfds);
    free(srv->pfd_client);
    dlc_kv_free(&srv->kv);
    if (srv->wake[0] >= 0)
        close(srv->wake[0]);
    if (srv->wake[1] >= 0)
        close(srv->wake[1]);
    pthread_mutex_destroy(&srv->note_lock);
    memset(srv->key, 0, sizeof srv->key);
    free(srv);
}

/* Bind + listen on every distinct address of host:port. */
static dlcoll_status_t server_listen(dlc_tcp_server *srv, const char *host, int port,
                                     const char *addr, dlc_err *err)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port_s, &hints, &res);
    if (gai != 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "cannot listen on %s: cannot resolve %s: %s",
                        addr, host, gai_strerror(gai));

    struct sockaddr_storage bound[MAX_LISTEN];
    socklen_t bound_len[MAX_LISTEN];
    int first_errno = 0;
    for (struct addrinfo *ai = res; ai && srv->n_listen < MAX_LISTEN; ai = ai->ai_next) {
        int dup = 0; /* getaddrinfo may list an address twice (/etc/hosts) */
        for (int i = 0; i < srv->n_listen; i++)
            dup |= bound_len[i] == ai->ai_addrlen &&
                   memcmp(&bound[i], ai->ai_addr, ai->ai_addrlen) == 0;
        if (dup)
            continue;
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            first_errno = first_errno ? first_errno : errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            int e = errno;
            close(fd);
            if (e == EADDRINUSE) { /* someone else has the port: never half-serve */
                first_errno = e;
                for (int i = 0; i < srv->n_listen; i++)
                    close(srv->listen_fd[i]);
                srv->n_listen = 0;
                break;
            }
            first_errno = first_errno ? first_errno : e;
            continue;
        }
        memcpy(&bound[srv->n_listen], ai->ai_addr, ai->ai_addrlen);
        bound_len[srv->n_listen] = ai->ai_addrlen;
        srv->listen_fd[srv->n_listen++] = fd;
    }
    freeaddrinfo(res);
    if (srv->n_listen == 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "cannot listen on %s: %s", addr,
                        strerror(first_errno ? first_errno : EADDRNOTAVAIL));
    return DLCOLL_SUCCESS;
}

/* The connection cap: the setting, at most half of this process's descriptors. */
static size_t conn_cap(int want)
{
    size_t cap = want > 0 ? (size_t)want : 4096;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && cap > rl.rlim_cur / 2)
        cap = rl.rlim_cur / 2 > 4 ? (size_t)(rl.rlim_cur / 2) : 4;
    return cap;
}

dlcoll_status_t dlc_tcp_server_start(const char *host, int port, const dlc_tcp_server_opts *opts,
                                     dlc_tcp_server **out, dlc_err *err)
{
    char addr[300];
    dlc_tcp_format_addr(addr, sizeof addr, host, port);
    *out = NULL;
    if (opts->key_len > sizeof((dlc_tcp_server *)0)->key)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "store server %s: job key too long",
                        addr);
    dlc_tcp_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store server %s: out of memory", addr);
    srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->note_lock, NULL);
    snprintf(srv->addr, sizeof srv->addr, "%s", addr);
    srv->lg = opts->lg;
    if (opts->key_len) {
        memcpy(srv->key, opts->key, opts->key_len);
        srv->key_len = opts->key_len;
    }
    srv->idle_ms = opts->idle_ms > 0 ? opts->idle_ms : 10000;
    srv->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DLCOLL_DEFAULT_TIMEOUT_MS;
    if (srv->idle_ms > srv->timeout_ms)
        srv->idle_ms = srv->timeout_ms;
    srv->max_conns = conn_cap(opts->max_conns);
    srv->max_unauthed = srv->max_conns / 4 > 4 ? srv->max_conns / 4 : 4;
    uint64_t seed = 0;
    int e = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed ||
        dlc_kv_init(&srv->kv, seed, opts->max_keys > 0 ? opts->max_keys : 262144,
                    opts->max_bytes > 0 ? opts->max_bytes : 256ll << 20) != 0 ||
        pipe2(srv->wake, O_CLOEXEC) != 0) {
        e = errno;
        server_free(srv);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store server %s: %s", addr, strerror(e));
    }
    dlcoll_status_t rc = server_listen(srv, host, port, addr, err);
    if (rc != DLCOLL_SUCCESS) {
        server_free(srv); /* server_listen left no socket open */
        return rc;
    }

    /* The thread takes no signals: they belong to the host's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        server_free(srv);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store server %s: cannot start thread: %s", addr,
                        strerror(e));
    }
    *out = srv;
    return DLCOLL_SUCCESS;
}

void dlc_tcp_server_report(dlc_tcp_server *srv, const dlc_logger *lg, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    if (srv == NULL)
        return;
    pthread_mutex_lock(&srv->note_lock);
    for (unsigned i = 0; i < srv->queued; i++)
        dlc_log(lg, DLCOLL_LOG_WARN, "%s", srv->queue[i]);
    if (srv->dropped)
        dlc_log(lg, DLCOLL_LOG_WARN, "store %s: %u more refusals not logged", srv->addr,
                srv->dropped);
    srv->queued = srv->dropped = 0;
    if (srv->refused && cap)
        snprintf(buf, cap, "the store refused %lu connection%s or request%s, the last %s",
                 srv->refused, srv->refused == 1 ? "" : "s", srv->refused == 1 ? "" : "s",
                 srv->last);
    pthread_mutex_unlock(&srv->note_lock);
}

void dlc_tcp_server_stop(dlc_tcp_server *srv)
{
    if (srv == NULL)
        return;
    char byte = 1;
    while (write(srv->wake[1], &byte, 1) < 0 && errno == EINTR)
        ;
    pthread_join(srv->thread, NULL);
    server_free(srv);
}
