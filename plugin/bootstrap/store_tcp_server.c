/*
 * store_tcp_server.c -- the TCP store's server, run by rank 0.
 *
 * One thread, one poll() loop, non-blocking sockets.  Each connection is a
 * small state machine:
 *
 *   HELLO -> (reply) -> HEADER -> BODY -> SET: store, reply, wake waiters
 *                                       -> GET: reply, or WAIT until the key is
 *                                               set or the deadline passes
 *   every reply goes through WRITE, then back to HEADER.
 *
 * A connection that breaks the protocol (bad magic, unknown op, key or value
 * too long, NUL in a key) is closed; nothing one client does can block or
 * crash the server for the others.  The loop also watches a pipe: one byte
 * written to it by dlc_tcp_server_stop() ends the thread.
 *
 * The key-value table is a chained hash table.  An entry owns the request
 * buffer it arrived in (key, NUL, value), so a SET copies nothing.
 */
#include "plugin/bootstrap/store_tcp_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 8
#define ACCEPT_PAUSE_MS 100 /* after EMFILE & co., so the loop does not spin */

/* ------------------------------------------------------------------ key-value table */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    char *key; /* points into buf, NUL-terminated */
    const unsigned char *value;
    uint32_t value_len;
    unsigned char *buf; /* owned */
} entry;

typedef struct table {
    entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
} table;

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static entry *table_find(const table *t, const char *key)
{
    uint64_t h = hash_key(key);
    for (entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void table_grow(table *t)
{
    size_t n = t->nbuckets * 2;
    entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < t->nbuckets; i++) {
        entry *e = t->buckets[i];
        while (e) {
            entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

/* Store key -> value, taking ownership of buf (which holds both); returns
 * -1 (buf not taken) when out of memory. */
static int table_put(table *t, unsigned char *buf, char *key, const unsigned char *value,
                     uint32_t len)
{
    entry *e = table_find(t, key);
    if (e != NULL) {
        free(e->buf);
    } else {
        e = calloc(1, sizeof *e);
        if (e == NULL)
            return -1;
        e->hash = hash_key(key);
        e->next = t->buckets[e->hash & (t->nbuckets - 1)];
        t->buckets[e->hash & (t->nbuckets - 1)] = e;
        if (++t->count > t->nbuckets)
            table_grow(t);
    }
    e->buf = buf;
    e->key = key;
    e->value = value;
    e->value_len = len;
    return 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
        entry *e = t->buckets[i];
        while (e) {
            entry *next = e->next;
            free(e->buf);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
}

/* ------------------------------------------------------------------ connections */

typedef enum { C_HELLO, C_HEADER, C_BODY, C_WAIT, C_WRITE } client_state;

typedef struct client {
    int fd;
    int dead; /* closed; removed at the end of the loop turn */
    client_state state;
    unsigned char hdr[DLC_TCP_REQ_HDR_LEN];
    size_t hdr_got;
    uint32_t op, key_len, arg;
    unsigned char *body;       /* key, NUL, value */
    size_t body_len, body_got; /* bytes expected / received (without the NUL) */
    int64_t deadline;          /* C_WAIT */
    unsigned char *out;        /* C_WRITE */
    size_t out_len, out_off;
    int close_after_write;
} client;

struct dlc_tcp_server {
    int listen_fd[MAX_LISTEN];
    int n_listen;
    int wake[2]; /* pipe: stop request */
    pthread_t thread;
    client **clients;
    size_t n_clients, cap_clients;
    struct pollfd *pfds;
    client **pfd_client; /* parallel to pfds; NULL for wake/listen */
    size_t cap_pfds;
    int64_t accept_paused_until;
    table kv;
};

static void client_kill(client *c)
{
    if (!c->dead) {
        close(c->fd);
        c->dead = 1;
    }
}

static void client_free(client *c)
{
    client_kill(c);
    free(c->body);
    free(c->out);
    free(c);
}

static void client_reset_request(client *c)
{
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_got = 0;
    c->hdr_got = 0;
    c->state = C_HEADER;
}

/* Send as much of the pending output as the socket takes now. */
static void client_flush(client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_kill(c);
            return; /* poll for POLLOUT */
        }
        c->out_off += (size_t)n;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->close_after_write)
        client_kill(c);
    else
        client_reset_request(c);
}

/* Queue header (+ value) and start sending it. */
static void client_reply(client *c, uint32_t status, const unsigned char *value, uint32_t len)
{
    c->out = malloc(DLC_TCP_REPLY_HDR_LEN + (size_t)len);
    if (c->out == NULL) {
        client_kill(c);
        return;
    }
    dlc_put_u32(c->out, DLC_TCP_REPLY_MAGIC);
    dlc_put_u32(c->out + 4, status);
    dlc_put_u32(c->out + 8, len);
    if (len > 0)
        memcpy(c->out + DLC_TCP_REPLY_HDR_LEN, value, len);
    c->out_len = DLC_TCP_REPLY_HDR_LEN + (size_t)len;
    c->out_off = 0;
    c->state = C_WRITE;
    client_flush(c);
}

/* A complete SET or GET has arrived in c->body. */
static void handle_request(dlc_tcp_server *srv, client *c)
{
    char *key = (char *)c->body;
    key[c->key_len] = '\0';
    if (memchr(key, '\0', c->key_len) != NULL) {
        client_kill(c); /* a NUL inside the key: not one of ours */
        return;
    }
    if (c->op == DLC_TCP_OP_GET) {
        entry *e = table_find(&srv->kv, key);
        if (e != NULL)
            client_reply(c, DLC_TCP_ST_OK, e->value, e->value_len);
        else if (c->arg == 0)
            client_reply(c, DLC_TCP_ST_TIMEOUT, NULL, 0);
        else {
            c->state = C_WAIT;
            c->deadline = dlc_store_now_ms() + c->arg;
        }
        return;
    }
    /* SET: the table takes the buffer. */
    unsigned char *buf = c->body;
    if (table_put(&srv->kv, buf, key, buf + c->key_len + 1, c->arg) != 0) {
        client_kill(c);
        return;
    }
    c->body = NULL;
    entry *e = table_find(&srv->kv, key);
    client_reply(c, DLC_TCP_ST_OK, NULL, 0);
    for (size_t i = 0; i < srv->n_clients; i++) {
        client *w = srv->clients[i];
        if (!w->dead && w->state == C_WAIT && strcmp((char *)w->body, e->key) == 0)
            client_reply(w, DLC_TCP_ST_OK, e->value, e->value_len);
    }
}

/* The request header is complete: check it and prepare for the body. */
static void handle_header(client *c)
{
    c->op = dlc_get_u32(c->hdr);
    c->key_len = dlc_get_u32(c->hdr + 4);
    c->arg = dlc_get_u32(c->hdr + 8);
    if ((c->op != DLC_TCP_OP_SET && c->op != DLC_TCP_OP_GET) || c->key_len == 0 ||
        c->key_len > DLC_STORE_MAX_KEY ||
        (c->op == DLC_TCP_OP_SET && c->arg > DLC_STORE_MAX_VALUE)) {
        client_kill(c);
        return;
    }
    c->body_len = c->key_len + (c->op == DLC_TCP_OP_SET ? c->arg : 0);
    c->body_got = 0;
    c->body = malloc(c->body_len + 1);
    if (c->body == NULL) {
        client_kill(c);
        return;
    }
    c->state = C_BODY;
}

static void handle_hello(client *c)
{
    if (dlc_get_u32(c->hdr) != DLC_TCP_MAGIC) {
        client_kill(c); /* not a dlcoll store client */
        return;
    }
    unsigned char *reply = malloc(DLC_TCP_HELLO_LEN);
    if (reply == NULL) {
        client_kill(c);
        return;
    }
    dlc_put_u32(reply, DLC_TCP_MAGIC);
    dlc_put_u32(reply + 4, DLC_TCP_VERSION);
    c->close_after_write = dlc_get_u32(c->hdr + 4) != DLC_TCP_VERSION;
    c->out = reply;
    c->out_len = DLC_TCP_HELLO_LEN;
    c->out_off = 0;
    c->state = C_WRITE;
    client_flush(c);
}

/* Read what the socket has for the current state; handle complete frames. */
static void client_read(dlc_tcp_server *srv, client *c)
{
    while (!c->dead && (c->state == C_HELLO || c->state == C_HEADER || c->state == C_BODY)) {
        unsigned char *dst;
        size_t want;
        if (c->state == C_HELLO) {
            dst = c->hdr + c->hdr_got;
            want = DLC_TCP_HELLO_LEN - c->hdr_got;
        } else if (c->state == C_HEADER) {
            dst = c->hdr + c->hdr_got;
            want = DLC_TCP_REQ_HDR_LEN - c->hdr_got;
        } else if (c->body_got < c->key_len) { /* key, then (after the NUL slot) value */
            dst = c->body + c->body_got;
            want = c->key_len - c->body_got;
        } else {
            dst = c->body + c->body_got + 1;
            want = c->body_len - c->body_got;
        }
        ssize_t n = want ? recv(c->fd, dst, want, 0) : 0;
        if (want > 0 && n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_kill(c);
            return;
        }
        if (want > 0 && n == 0) {
            client_kill(c); /* peer closed */
            return;
        }
        if (c->state == C_BODY) {
            c->body_got += (size_t)n;
            if (c->body_got == c->body_len)
                handle_request(srv, c);
        } else {
            c->hdr_got += (size_t)n;
            if (c->state == C_HELLO && c->hdr_got == DLC_TCP_HELLO_LEN)
                handle_hello(c);
            else if (c->state == C_HEADER && c->hdr_got == DLC_TCP_REQ_HDR_LEN)
                handle_header(c);
        }
    }
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
        srv->clients[srv->n_clients++] = c;
    }
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
        int timeout = -1;
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
            timeout = (int)(srv->accept_paused_until - now);
        }
        for (size_t i = 0; i < srv->n_clients; i++) {
            client *c = srv->clients[i];
            short ev = c->state == C_WRITE ? POLLOUT : c->state == C_WAIT ? POLLRDHUP : POLLIN;
            if (c->state == C_WAIT) {
                int64_t left = c->deadline - now;
                int t = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
                if (timeout < 0 || t < timeout)
                    timeout = t;
            }
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

        /* Expire waits whose deadline passed. */
        now = dlc_store_now_ms();
        for (size_t i = 0; i < srv->n_clients; i++) {
            client *c = srv->clients[i];
            if (!c->dead && c->state == C_WAIT && c->deadline <= now)
                client_reply(c, DLC_TCP_ST_TIMEOUT, NULL, 0);
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
    table_free(&srv->kv);
    if (srv->wake[0] >= 0)
        close(srv->wake[0]);
    if (srv->wake[1] >= 0)
        close(srv->wake[1]);
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

dlcoll_status_t dlc_tcp_server_start(const char *host, int port, dlc_tcp_server **out, dlc_err *err)
{
    char addr[300];
    dlc_tcp_format_addr(addr, sizeof addr, host, port);
    *out = NULL;
    dlc_tcp_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store server %s: out of memory", addr);
    srv->wake[0] = srv->wake[1] = -1;
    srv->kv.nbuckets = 64;
    srv->kv.buckets = calloc(srv->kv.nbuckets, sizeof *srv->kv.buckets);
    if (srv->kv.buckets == NULL || pipe2(srv->wake, O_CLOEXEC) != 0) {
        int e = errno;
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
    int e = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        server_free(srv);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store server %s: cannot start thread: %s", addr,
                        strerror(e));
    }
    *out = srv;
    return DLCOLL_SUCCESS;
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
