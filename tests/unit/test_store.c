/*
 * test_store.c -- the key-value stores (plugin/store*.c): TCP (server +
 * clients, hostile peers), shared directory, host callbacks, the allgather on
 * top of them; and the status texts and dlc_err helpers of plugin/util/error.c.
 *
 * Ranks are threads of the test process; the TCP tests use 127.0.0.1 (and
 * ::1 when the machine has it) and ports found by binding port 0.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin/util/error.h"
#include "plugin/bootstrap/store.h"

#define NRANKS 4

/* ------------------------------------------------------------------ helpers */

/* A TCP port that was free a moment ago (bind port 0, read it, close). */
static int free_port(int family)
{
    int fd = socket(family, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    close(fd);
    return ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                    : ((struct sockaddr_in *)&ss)->sin_port);
}

/* A listening socket on 127.0.0.1:port (port 0: any); *port receives it. */
static int listen_on(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A raw client socket connected to 127.0.0.1:port, with a 10 s receive timeout. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Read until EOF (0), error (-1), or n bytes (n). */
static ssize_t read_n(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r == 0)
            return (ssize_t)got == 0 ? 0 : (ssize_t)got;
        if (r < 0)
            return -1;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* True when the server closed fd (EOF or reset), reading and discarding what comes first. */
static int closed_by_peer(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0)
            return 0; /* timeout: still open */
    }
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static dlc_settings tcp_settings(const char *host, int port, int rank, int timeout_ms)
{
    dlc_settings s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    s.world_size = NRANKS;
    s.timeout_ms = timeout_ms;
    s.rdv = DLC_RDV_TCP;
    snprintf(s.rdv_host, sizeof s.rdv_host, "%s", host);
    s.rdv_port = port;
    return s;
}

static dlc_store *must_open(const dlc_settings *s)
{
    dlc_store *st = NULL;
    dlc_err err = { 0 };
    dlcoll_status_t rc = dlc_store_open(s, &st, &err);
    cr_assert_eq(rc, DLCOLL_SUCCESS, "open: %s", err.msg);
    cr_assert_not_null(st);
    return st;
}

/* Rank 0's store, serving on a free loopback port (stored in *port). */
static dlc_store *must_serve(int *port)
{
    *port = free_port(AF_INET);
    dlc_settings s0 = tcp_settings("127.0.0.1", *port, 0, 10000);
    return must_open(&s0);
}

static void must_set(dlc_store *st, const char *key, const void *v, size_t len)
{
    dlc_err err = { 0 };
    dlcoll_status_t rc = dlc_store_set(st, key, v, len, &err);
    cr_assert_eq(rc, DLCOLL_SUCCESS, "set %s: %s", key, err.msg);
}

/* Get key and require exactly the string want (without its NUL). */
static void must_get_str(dlc_store *st, const char *key, const char *want)
{
    char buf[256];
    size_t len = 0;
    dlc_err err = { 0 };
    dlcoll_status_t rc = dlc_store_get(st, key, buf, sizeof buf, &len, 5000, &err);
    cr_assert_eq(rc, DLCOLL_SUCCESS, "get %s: %s", key, err.msg);
    cr_assert_eq(len, strlen(want), "get %s: %zu bytes", key, len);
    cr_assert_eq(memcmp(buf, want, len), 0, "get %s: wrong bytes", key);
}

static void assert_msg_has(const dlc_err *err, const char *substring)
{
    cr_assert(strstr(err->msg, substring) != NULL, "message '%s' lacks '%s'", err->msg, substring);
}

/* ------------------------------------------------------------------ a rank-per-thread harness */

typedef struct rank_job {
    dlc_settings settings;
    int rank;
    pthread_barrier_t *barrier;
    dlcoll_status_t rc;
    char msg[DLC_ERRMSG_MAX + 64];
    int bad_data;                 /* set when a value did not match */
    void (*body)(struct rank_job *job, dlc_store *st);
    int open_delay_ms;
} rank_job;

static void job_fail(rank_job *job, dlcoll_status_t rc, const dlc_err *err, const char *what)
{
    if (job->rc == DLCOLL_SUCCESS) {
        job->rc = rc;
        snprintf(job->msg, sizeof job->msg, "rank %d %s: %s", job->rank, what, err->msg);
    }
}

static void *rank_main(void *arg)
{
    rank_job *job = arg;
    dlc_store *st = NULL;
    dlc_err err = { 0 };
    if (job->open_delay_ms > 0) {
        struct timespec ts = { 0, job->open_delay_ms * 1000000L };
        nanosleep(&ts, NULL);
    }
    dlcoll_status_t rc = dlc_store_open(&job->settings, &st, &err);
    if (rc != DLCOLL_SUCCESS)
        job_fail(job, rc, &err, "open");
    if (st != NULL)
        job->body(job, st);
    /* Rank 0 serves the TCP store: it closes only after everyone is done. */
    pthread_barrier_wait(job->barrier);
    if (job->rank != 0)
        dlc_store_close(st);
    pthread_barrier_wait(job->barrier);
    if (job->rank == 0)
        dlc_store_close(st);
    return NULL;
}

/* Run body on NRANKS threads, each with settings[r]; assert they all succeeded. */
static void run_ranks(dlc_settings settings[NRANKS], void (*body)(rank_job *, dlc_store *), int rank0_delay_ms)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, NRANKS);
    rank_job jobs[NRANKS];
    pthread_t th[NRANKS];
    memset(jobs, 0, sizeof jobs);
    for (int r = 0; r < NRANKS; r++) {
        jobs[r].settings = settings[r];
        jobs[r].rank = r;
        jobs[r].barrier = &barrier;
        jobs[r].body = body;
        jobs[r].open_delay_ms = r == 0 ? rank0_delay_ms : 0;
        cr_assert_eq(pthread_create(&th[r], NULL, rank_main, &jobs[r]), 0);
    }
    for (int r = 0; r < NRANKS; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&barrier);
    for (int r = 0; r < NRANKS; r++) {
        cr_assert_eq(jobs[r].rc, DLCOLL_SUCCESS, "%s", jobs[r].msg);
        cr_assert_eq(jobs[r].bad_data, 0, "rank %d saw wrong data", r);
    }
}

#define BIG_LEN (3u * 1024u * 1024u + 17u)

static unsigned char pattern_byte(int rank, size_t i)
{
    return (unsigned char)(rank * 31 + i * 7 + (i >> 9));
}

/* allgather + cross set/get + one big value, on whatever store job opened. */
static void exchange_body(rank_job *job, dlc_store *st)
{
    dlc_err err = { 0 };
    int r = job->rank;

    /* 1. allgather 16 bytes per rank, twice (two prefixes). */
    for (int round = 0; round < 2; round++) {
        unsigned char mine[16], all[16 * NRANKS];
        for (int i = 0; i < 16; i++)
            mine[i] = pattern_byte(r + round, (size_t)i);
        const char *prefix = round ? "world/addr2" : "world/addr";
        dlcoll_status_t rc = dlc_store_allgather(st, prefix, r, NRANKS, mine, 16, all, 10000, &err);
        if (rc != DLCOLL_SUCCESS) {
            job_fail(job, rc, &err, "allgather");
            return;
        }
        for (int q = 0; q < NRANKS; q++)
            for (int i = 0; i < 16; i++)
                if (all[q * 16 + i] != pattern_byte(q + round, (size_t)i))
                    job->bad_data = 1;
    }

    /* 2. each rank sets "cross/<r>" and reads its right neighbour's. */
    char key[64], val[64], want[64], buf[64];
    snprintf(key, sizeof key, "cross/%d", r);
    snprintf(val, sizeof val, "value of rank %d%.*s", r, r, "xyzw");  /* lengths differ per rank */
    dlcoll_status_t rc = dlc_store_set(st, key, val, strlen(val), &err);
    if (rc != DLCOLL_SUCCESS) {
        job_fail(job, rc, &err, "set");
        return;
    }
    int q = (r + 1) % NRANKS;
    snprintf(key, sizeof key, "cross/%d", q);
    snprintf(want, sizeof want, "value of rank %d%.*s", q, q, "xyzw");
    size_t len = 0;
    rc = dlc_store_get(st, key, buf, sizeof buf, &len, 10000, &err);
    if (rc != DLCOLL_SUCCESS) {
        job_fail(job, rc, &err, "get");
        return;
    }
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        job->bad_data = 1;

    /* 3. rank 1 publishes a multi-megabyte value; everyone reads it. */
    unsigned char *big = malloc(BIG_LEN);
    if (r == 1) {
        for (size_t i = 0; i < BIG_LEN; i++)
            big[i] = pattern_byte(1, i);
        rc = dlc_store_set(st, "big", big, BIG_LEN, &err);
    } else {
        rc = dlc_store_get(st, "big", big, BIG_LEN, &len, 10000, &err);
        if (rc == DLCOLL_SUCCESS) {
            if (len != BIG_LEN)
                job->bad_data = 1;
            for (size_t i = 0; i < BIG_LEN && !job->bad_data; i++)
                if (big[i] != pattern_byte(1, i))
                    job->bad_data = 1;
        }
    }
    free(big);
    if (rc != DLCOLL_SUCCESS)
        job_fail(job, rc, &err, "big value");
}

/* ------------------------------------------------------------------ TCP store */

TestSuite(tcp_store, .timeout = 60);

Test(tcp_store, four_ranks_allgather_and_cross_set_get)
{
    int port = free_port(AF_INET);
    dlc_settings s[NRANKS];
    for (int r = 0; r < NRANKS; r++)
        s[r] = tcp_settings("127.0.0.1", port, r, 10000);
    run_ranks(s, exchange_body, 0);
}

Test(tcp_store, clients_wait_for_a_late_server)
{
    int port = free_port(AF_INET);
    dlc_settings s[NRANKS];
    for (int r = 0; r < NRANKS; r++)
        s[r] = tcp_settings("127.0.0.1", port, r, 20000);
    run_ranks(s, exchange_body, 300); /* rank 0 starts its server 300 ms late */
}

Test(tcp_store, ipv6_loopback)
{
    int port = free_port(AF_INET6);
    if (port < 0)
        cr_skip_test("no IPv6 loopback on this machine");
    dlc_settings s[NRANKS];
    for (int r = 0; r < NRANKS; r++)
        s[r] = tcp_settings("::1", port, r, 10000);
    run_ranks(s, exchange_body, 0);

    /* Messages write the address in brackets. */
    dlc_settings lone = tcp_settings("::1", port, 0, 10000);
    dlc_store *st = must_open(&lone);
    char buf[4];
    size_t len;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "nothing", buf, sizeof buf, &len, 50, &err), DLCOLL_ERR_TIMEOUT);
    char want[64];
    snprintf(want, sizeof want, "tcp://[::1]:%d", port);
    assert_msg_has(&err, want);
    dlc_store_close(st);
}

Test(tcp_store, get_times_out_and_the_connection_stays_usable)
{
    int port;
    dlc_store *st = must_serve(&port);
    char buf[16];
    size_t len = 0;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "never/set", buf, sizeof buf, &len, 200, &err), DLCOLL_ERR_TIMEOUT, "%s",
                 err.msg);
    assert_msg_has(&err, "never/set");
    assert_msg_has(&err, "200 ms");
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);
    assert_msg_has(&err, addr);
    /* timeout 0: answered at once */
    cr_assert_eq(dlc_store_get(st, "never/set", buf, sizeof buf, &len, 0, &err), DLCOLL_ERR_TIMEOUT);

    must_set(st, "k", "v1", 2);
    must_get_str(st, "k", "v1");
    must_set(st, "k", "second", 6); /* overwrite */
    must_get_str(st, "k", "second");
    must_set(st, "empty", "", 0);
    must_get_str(st, "empty", "");
    dlc_store_close(st);
}

Test(tcp_store, value_longer_than_the_buffer)
{
    int port;
    dlc_store *st = must_serve(&port);
    char value[100];
    memset(value, 'v', sizeof value);
    must_set(st, "long", value, sizeof value);
    char buf[10];
    size_t len = 0;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "long", buf, sizeof buf, &len, 1000, &err), DLCOLL_ERR_BOOTSTRAP);
    cr_assert_eq(len, 100);
    assert_msg_has(&err, "100 bytes");
    /* The rest of the value was drained: the next request still works. */
    must_set(st, "short", "ok", 2);
    must_get_str(st, "short", "ok");
    dlc_store_close(st);
}

Test(tcp_store, argument_limits)
{
    int port;
    dlc_store *st = must_serve(&port);
    dlc_err err = { 0 };
    char key[1100];
    memset(key, 'k', sizeof key);
    key[1024] = '\0';
    must_set(st, key, "max key", 7); /* exactly 1 KiB */
    must_get_str(st, key, "max key");
    key[1025] = '\0';
    key[1024] = 'k';
    cr_assert_eq(dlc_store_set(st, key, "x", 1, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert_eq(dlc_store_set(st, "", "x", 1, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert_eq(dlc_store_set(st, "big", "x", 16u * 1024u * 1024u + 1u, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    assert_msg_has(&err, "larger than");
    char buf[4];
    size_t len;
    cr_assert_eq(dlc_store_get(st, key, buf, sizeof buf, &len, 10, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert_eq(dlc_store_get(st, "k", NULL, 4, &len, 10, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    must_set(st, "still", "fine", 4);
    must_get_str(st, "still", "fine");
    dlc_store_close(st);
}

/* The version 2 handshake of a client without a key, on a store without one. */
static void raw_handshake(int fd, int which)
{
    unsigned char hello[44] = {0}, reply[76], proof[32] = {0}, verdict[12];
    put_u32(hello, 0x444c5354u);
    put_u32(hello + 4, 2);
    cr_assert_eq(send(fd, hello, sizeof hello, 0), (ssize_t)sizeof hello);
    cr_assert_eq(read_n(fd, reply, sizeof reply), (ssize_t)sizeof reply, "case %d: no hello reply",
                 which);
    cr_assert_eq(get_u32(reply), 0x444c5354u, "case %d", which);
    cr_assert_eq(get_u32(reply + 4), 2, "case %d", which);
    cr_assert_eq(get_u32(reply + 8), 0, "case %d: the store claims a key", which);
    cr_assert_eq(send(fd, proof, sizeof proof, 0), (ssize_t)sizeof proof);
    cr_assert_eq(read_n(fd, verdict, sizeof verdict), (ssize_t)sizeof verdict, "case %d", which);
    cr_assert_eq(get_u32(verdict + 4), 0, "case %d: refused (%u)", which, get_u32(verdict + 8));
}

Test(tcp_store, garbage_closes_only_that_connection)
{
    int port;
    dlc_store *st = must_serve(&port);
    must_set(st, "before", "1", 1);

    /* An idle client with half a request: must not block anyone. */
    int idle = raw_connect(port);
    unsigned char hello[8];
    put_u32(hello, 0x444c5354u);
    put_u32(hello + 4, 1);
    cr_assert_eq(send(idle, hello, 8, 0), 8);
    cr_assert_eq(send(idle, "\0\0", 2, 0), 2);

    /* 1. HTTP instead of a hello. */
    int fd = raw_connect(port);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(send(fd, http, strlen(http), 0), (ssize_t)strlen(http));
    cr_assert(closed_by_peer(fd), "server kept a connection that sent HTTP");
    close(fd);

    /* 2-5. a correct handshake (no key: this store has none), then a broken request. */
    unsigned char bad[5][16];
    put_u32(bad[0], 99), put_u32(bad[0] + 4, 1), put_u32(bad[0] + 8, 0);          /* unknown op   */
    put_u32(bad[1], 1), put_u32(bad[1] + 4, 5000), put_u32(bad[1] + 8, 1);        /* key > 1 KiB  */
    put_u32(bad[2], 1), put_u32(bad[2] + 4, 1), put_u32(bad[2] + 8, 0x7fffffff);  /* value > 16 MiB */
    put_u32(bad[3], 2), put_u32(bad[3] + 4, 0), put_u32(bad[3] + 8, 0);           /* empty key    */
    put_u32(bad[4], 2), put_u32(bad[4] + 4, 3), put_u32(bad[4] + 8, 0);           /* NUL in key   */
    memcpy(bad[4] + 12, "a\0b", 3);
    for (int i = 0; i < 5; i++) {
        fd = raw_connect(port);
        raw_handshake(fd, i);
        size_t n = i == 4 ? 15 : 12;
        cr_assert_eq(send(fd, bad[i], n, 0), (ssize_t)n);
        cr_assert(closed_by_peer(fd), "case %d: connection not closed", i);
        close(fd);
    }

    /* 6. a client of another protocol version gets the server's version, then EOF. */
    fd = raw_connect(port);
    unsigned char v1[8], reply[8];
    put_u32(v1, 0x444c5354u);
    put_u32(v1 + 4, 1);
    cr_assert_eq(send(fd, v1, 8, 0), 8);
    cr_assert_eq(read_n(fd, reply, 8), 8);
    cr_assert_eq(get_u32(reply), 0x444c5354u);
    cr_assert_eq(get_u32(reply + 4), 2);
    cr_assert(closed_by_peer(fd));
    close(fd);

    /* The store still serves its own client and new ones. */
    must_get_str(st, "before", "1");
    must_set(st, "after", "2", 1);
    dlc_settings s1 = tcp_settings("127.0.0.1", port, 1, 10000);
    dlc_store *st1 = must_open(&s1);
    must_get_str(st1, "after", "2");
    must_get_str(st1, "before", "1");
    dlc_store_close(st1);
    close(idle);
    dlc_store_close(st);
}

/* A server that answers every connection with junk (or silence + close). */
typedef struct junk_server {
    int lfd;
    const char *reply;   /* NULL: close at once */
} junk_server;

static void *junk_main(void *arg)
{
    junk_server *j = arg;
    int fd = accept(j->lfd, NULL, NULL);
    if (fd >= 0) {
        if (j->reply)
            send(fd, j->reply, strlen(j->reply), MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static void expect_bootstrap_from(const char *reply, const char *substring)
{
    int port = 0;
    junk_server j = { listen_on(&port), reply };
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, junk_main, &j), 0);
    dlc_settings s1 = tcp_settings("127.0.0.1", port, 1, 10000);
    dlc_store *st = NULL;
    dlc_err err = { 0 };
    dlcoll_status_t rc = dlc_store_open(&s1, &st, &err);
    pthread_join(th, NULL);
    close(j.lfd);
    cr_assert_eq(rc, DLCOLL_ERR_BOOTSTRAP, "status %d: %s", rc, err.msg);
    cr_assert_null(st);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);
    assert_msg_has(&err, addr);
    assert_msg_has(&err, substring);
}

Test(tcp_store, a_server_that_is_not_a_store_gives_a_bootstrap_error)
{
    expect_bootstrap_from("HTTP/1.0 400 Bad Request\r\n\r\n", "is not a dlcoll store");
    expect_bootstrap_from(NULL, "closed the connection");
}

Test(tcp_store, port_in_use)
{
    int port = 0;
    int lfd = listen_on(&port);
    dlc_settings s0 = tcp_settings("127.0.0.1", port, 0, 2000);
    dlc_store *st = NULL;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_open(&s0, &st, &err), DLCOLL_ERR_BOOTSTRAP, "%s", err.msg);
    cr_assert_null(st);
    char want[96];
    snprintf(want, sizeof want, "cannot listen on tcp://127.0.0.1:%d: %s", port, strerror(EADDRINUSE));
    assert_msg_has(&err, want);
    close(lfd);
}

Test(tcp_store, no_server_times_out)
{
    int port = free_port(AF_INET);
    dlc_settings s1 = tcp_settings("127.0.0.1", port, 1, 300);
    dlc_store *st = NULL;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_open(&s1, &st, &err), DLCOLL_ERR_TIMEOUT, "%s", err.msg);
    cr_assert_null(st);
    char want[64];
    snprintf(want, sizeof want, "tcp://127.0.0.1:%d within 300 ms", port);
    assert_msg_has(&err, want);
    assert_msg_has(&err, strerror(ECONNREFUSED));
}

Test(tcp_store, server_gone_gives_an_error_naming_it)
{
    int port = free_port(AF_INET);
    dlc_settings s0 = tcp_settings("127.0.0.1", port, 0, 300);
    dlc_settings s1 = tcp_settings("127.0.0.1", port, 1, 300);
    dlc_store *st0 = must_open(&s0);
    dlc_store *st1 = must_open(&s1);
    must_set(st1, "a", "b", 1);
    dlc_store_close(st0); /* stops the server */

    char buf[8];
    size_t len;
    dlc_err err = { 0 };
    dlcoll_status_t rc = dlc_store_get(st1, "a", buf, sizeof buf, &len, 100, &err);
    cr_assert_eq(rc, DLCOLL_ERR_BOOTSTRAP, "status %d: %s", rc, err.msg);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);
    assert_msg_has(&err, addr);
    /* The next call tries to reconnect and gives up after the timeout. */
    rc = dlc_store_set(st1, "a", "c", 1, &err);
    cr_assert_eq(rc, DLCOLL_ERR_TIMEOUT, "status %d: %s", rc, err.msg);
    assert_msg_has(&err, addr);
    dlc_store_close(st1);
}

typedef struct waiter {
    dlc_store *st;
    dlcoll_status_t rc;
    char buf[16];
    size_t len;
    dlc_err err;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->rc = dlc_store_get(w->st, "late", w->buf, sizeof w->buf, &w->len, 10000, &w->err);
    return NULL;
}

Test(tcp_store, a_waiting_get_is_answered_by_a_later_set)
{
    int port = free_port(AF_INET);
    dlc_settings s0 = tcp_settings("127.0.0.1", port, 0, 10000);
    dlc_settings s1 = tcp_settings("127.0.0.1", port, 1, 10000);
    dlc_store *st0 = must_open(&s0);
    dlc_store *st1 = must_open(&s1);
    /* Rank 1 waits in a thread while rank 0 sets the key 200 ms later. */
    waiter w = { .st = st1 };
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
    struct timespec ts = { 0, 200 * 1000000L };
    nanosleep(&ts, NULL);
    must_set(st0, "late", "here", 4);
    pthread_join(th, NULL);
    cr_assert_eq(w.rc, DLCOLL_SUCCESS, "%s", w.err.msg);
    cr_assert_eq(w.len, 4);
    cr_assert_eq(memcmp(w.buf, "here", 4), 0);
    dlc_store_close(st1);
    dlc_store_close(st0);
}

/* ------------------------------------------------------------------ file store */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dlcoll-test-store-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tree(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static dlc_settings file_settings(const char *dir, int rank, int timeout_ms)
{
    dlc_settings s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    s.world_size = NRANKS;
    s.timeout_ms = timeout_ms;
    s.rdv = DLC_RDV_FILE;
    snprintf(s.rdv_path, sizeof s.rdv_path, "%s", dir);
    return s;
}

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void remove_tmpdir(void)
{
    remove_tree(tmpdir);
}

TestSuite(file_store, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 60);

Test(file_store, set_get_overwrite_and_keys_with_slashes)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/made/by/open", tmpdir); /* mkdir -p */
    dlc_settings s = file_settings(dir, 0, 5000);
    dlc_store *st = must_open(&s);
    struct stat sb;
    cr_assert_eq(stat(dir, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));

    const char *keys[] = { "plain", "a/b/c", "../escape", ".hidden", "100%", "sp ace", "x/", "/",
                           "a%2Fb" /* must not collide with "a/b" */, "a/b", "\xc3\xa9t\xc3\xa9" };
    char val[64];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(val, sizeof val, "value %zu", i);
        must_set(st, keys[i], val, strlen(val));
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(val, sizeof val, "value %zu", i);
        must_get_str(st, keys[i], val);
    }
    /* One flat file per key (no subdirectories, no leftover temporary files). */
    cr_assert_eq(count_entries(dir), (int)(sizeof keys / sizeof keys[0]));
    char outside[300];
    snprintf(outside, sizeof outside, "%s/made/by/escape", tmpdir);
    cr_assert_neq(stat(outside, &sb), 0, "a key escaped the directory");

    must_set(st, "plain", "new", 3);
    must_get_str(st, "plain", "new");
    must_set(st, "empty", "", 0);
    must_get_str(st, "empty", "");
    dlc_store_close(st);
}

Test(file_store, long_keys_with_a_common_prefix_stay_distinct)
{
    dlc_settings s = file_settings(tmpdir, 0, 5000);
    dlc_store *st = must_open(&s);
    char k1[1025], k2[1025];
    memset(k1, '/', 1024);   /* escapes to 3 KiB: needs the hashed name */
    k1[1024] = '\0';
    memcpy(k2, k1, sizeof k1);
    k2[1023] = 'z';
    must_set(st, k1, "one", 3);
    must_set(st, k2, "two", 3);
    must_get_str(st, k1, "one");
    must_get_str(st, k2, "two");
    dlc_store_close(st);
}

Test(file_store, get_times_out)
{
    dlc_settings s = file_settings(tmpdir, 0, 5000);
    dlc_store *st = must_open(&s);
    char buf[8];
    size_t len;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "nope/never", buf, sizeof buf, &len, 100, &err), DLCOLL_ERR_TIMEOUT, "%s",
                 err.msg);
    assert_msg_has(&err, "nope/never");
    assert_msg_has(&err, tmpdir);
    dlc_store_close(st);
}

Test(file_store, foreign_file_and_bad_directory)
{
    dlc_settings s = file_settings(tmpdir, 0, 5000);
    dlc_store *st = must_open(&s);
    char path[400];
    snprintf(path, sizeof path, "%s/k", tmpdir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("not a store file at all", f);
    fclose(f);
    char buf[64];
    size_t len;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "k", buf, sizeof buf, &len, 100, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "foreign or damaged");
    dlc_store_close(st);

    /* A regular file where the directory should be. */
    dlc_settings bad = file_settings(path, 0, 5000);
    cr_assert_eq(dlc_store_open(&bad, &st, &err), DLCOLL_ERR_BOOTSTRAP);
    cr_assert_null(st);
    assert_msg_has(&err, path);
}

Test(file_store, four_ranks_allgather_and_cross_set_get)
{
    dlc_settings s[NRANKS];
    for (int r = 0; r < NRANKS; r++)
        s[r] = file_settings(tmpdir, r, 10000);
    run_ranks(s, exchange_body, 0);
}

/* ------------------------------------------------------------------ host store adapter */

/* A small in-test store: a table under a mutex, gets wait on a condition. */
typedef struct mini_store {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    char key[64][64];
    char val[64][64];
    size_t len[64];
    int fail_rc;       /* non-zero: every call fails with it */
} mini_store;

static int mini_set(void *ctx, const char *key, const void *value, size_t len)
{
    mini_store *m = ctx;
    if (m->fail_rc)
        return m->fail_rc;
    if (len > sizeof m->val[0] || strlen(key) >= sizeof m->key[0])
        return -1;
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n && strcmp(m->key[i], key) != 0)
        i++;
    if (i == m->n && m->n < 64)
        snprintf(m->key[m->n++], sizeof m->key[0], "%s", key);
    memcpy(m->val[i], value, len);
    m->len[i] = len;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int mini_get(void *ctx, const char *key, void *buf, size_t cap, size_t *len, int timeout_ms)
{
    mini_store *m = ctx;
    if (m->fail_rc)
        return m->fail_rc;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    for (;;) {
        for (int i = 0; i < m->n; i++) {
            if (strcmp(m->key[i], key) == 0) {
                *len = m->len[i];
                memcpy(buf, m->val[i], m->len[i] < cap ? m->len[i] : cap);
                pthread_mutex_unlock(&m->mu);
                return 0;
            }
        }
        if (timeout_ms >= 0 && pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&m->mu);
            return 1;
        }
        if (timeout_ms < 0)
            pthread_cond_wait(&m->cv, &m->mu);
    }
}

static mini_store mini = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, { { 0 } }, { { 0 } }, { 0 }, 0 };
static dlcoll_store_t mini_cb = { &mini, mini_set, mini_get };

static dlc_settings host_settings(int rank)
{
    dlc_settings s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    s.world_size = NRANKS;
    s.timeout_ms = 10000;
    s.rdv = DLC_RDV_STORE;
    s.store = &mini_cb;
    return s;
}

/* exchange_body without the multi-megabyte value (the mini store holds 64 bytes). */
static void small_exchange_body(rank_job *job, dlc_store *st)
{
    dlc_err err = { 0 };
    unsigned char mine[16], all[16 * NRANKS];
    for (int i = 0; i < 16; i++)
        mine[i] = pattern_byte(job->rank, (size_t)i);
    dlcoll_status_t rc = dlc_store_allgather(st, "host/ag", job->rank, NRANKS, mine, 16, all, 10000, &err);
    if (rc != DLCOLL_SUCCESS) {
        job_fail(job, rc, &err, "allgather");
        return;
    }
    for (int q = 0; q < NRANKS; q++)
        for (int i = 0; i < 16; i++)
            if (all[q * 16 + i] != pattern_byte(q, (size_t)i))
                job->bad_data = 1;
}

TestSuite(host_store, .timeout = 60);

Test(host_store, four_ranks_allgather)
{
    dlc_settings s[NRANKS];
    for (int r = 0; r < NRANKS; r++)
        s[r] = host_settings(r);
    run_ranks(s, small_exchange_body, 0);
}

Test(host_store, set_get_timeout_and_failures)
{
    dlc_settings s = host_settings(0);
    dlc_store *st = must_open(&s);
    must_set(st, "a/b", "xyz", 3);
    must_get_str(st, "a/b", "xyz");

    char buf[8];
    size_t len;
    dlc_err err = { 0 };
    cr_assert_eq(dlc_store_get(st, "missing", buf, sizeof buf, &len, 50, &err), DLCOLL_ERR_TIMEOUT);
    assert_msg_has(&err, "host store");
    assert_msg_has(&err, "missing");

    mini.fail_rc = 7;
    cr_assert_eq(dlc_store_get(st, "a/b", buf, sizeof buf, &len, 50, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "callback returned 7");
    cr_assert_eq(dlc_store_set(st, "a/b", "q", 1, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "set('a/b', 1 bytes)");
    mini.fail_rc = 0;
    dlc_store_close(st);
}

/* ------------------------------------------------------------------ allgather errors */

Test(allgather, missing_ranks_are_listed)
{
    dlc_settings s = host_settings(0);
    dlc_store *st = must_open(&s);
    dlc_err err = { 0 };
    int mine = 1, all[8];
    must_set(st, "p1/1", &mine, sizeof mine);
    cr_assert_eq(dlc_store_allgather(st, "p1", 0, 4, &mine, sizeof mine, all, 200, &err), DLCOLL_ERR_TIMEOUT);
    assert_msg_has(&err, "ranks 2,3 did not publish p1 within 200 ms");

    must_set(st, "p2/1", &mine, sizeof mine);
    must_set(st, "p2/2", &mine, sizeof mine);
    cr_assert_eq(dlc_store_allgather(st, "p2", 0, 4, &mine, sizeof mine, all, 100, &err), DLCOLL_ERR_TIMEOUT);
    assert_msg_has(&err, "rank 3 did not publish p2 within 100 ms");

    must_set(st, "p3/1", &mine, sizeof mine);
    must_set(st, "p3/7", &mine, sizeof mine);
    cr_assert_eq(dlc_store_allgather(st, "p3", 0, 8, &mine, sizeof mine, all, 100, &err), DLCOLL_ERR_TIMEOUT);
    assert_msg_has(&err, "ranks 2-6 did not publish p3");
    dlc_store_close(st);
}

Test(allgather, a_value_of_the_wrong_length_names_the_rank)
{
    dlc_settings s = host_settings(0);
    dlc_store *st = must_open(&s);
    dlc_err err = { 0 };
    char all[16];
    must_set(st, "w1/1", "abc", 3);
    cr_assert_eq(dlc_store_allgather(st, "w1", 0, 2, "wxyz", 4, all, 1000, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "rank 1 published 3 bytes under w1, expected 4");
    must_set(st, "w2/1", "abcde", 5);
    cr_assert_eq(dlc_store_allgather(st, "w2", 0, 2, "wxyz", 4, all, 1000, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "rank 1 published 5 bytes under w2, expected 4");

    must_set(st, "ok/0", "0000", 4);
    must_set(st, "ok/2", "2222", 4);
    cr_assert_eq(dlc_store_allgather(st, "ok", 1, 3, "1111", 4, all, 1000, &err), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(memcmp(all, "000011112222", 12), 0);

    cr_assert_eq(dlc_store_allgather(st, "bad", 3, 3, "1111", 4, all, 1000, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    dlc_store_close(st);
}

Test(allgather, tcp_missing_ranks)
{
    int port;
    dlc_store *st = must_serve(&port);
    dlc_err err = { 0 };
    int mine = 0, all[4];
    cr_assert_eq(dlc_store_allgather(st, "t", 0, 4, &mine, sizeof mine, all, 150, &err), DLCOLL_ERR_TIMEOUT);
    assert_msg_has(&err, "ranks 1-3 did not publish t within 150 ms");
    dlc_store_close(st);
}

/* ------------------------------------------------------------------ error.c */

Test(error, every_status_has_its_own_text)
{
    const char *seen[DLCOLL_ERR_INTERNAL + 1];
    for (int c = DLCOLL_SUCCESS; c <= DLCOLL_ERR_INTERNAL; c++) {
        const char *t = dlc_status_string((dlcoll_status_t)c);
        cr_assert_not_null(t);
        cr_assert(strlen(t) > 3, "code %d", c);
        cr_assert_null(strstr(t, "unknown"), "code %d: %s", c, t);
        for (int p = 0; p < c; p++)
            cr_assert_str_neq(seen[p], t, "codes %d and %d share a text", p, c);
        seen[c] = t;
    }
    cr_assert(strstr(dlc_status_string(DLCOLL_ERR_TIMEOUT), "timed out") != NULL);
    cr_assert(strstr(dlc_status_string(DLCOLL_ERR_BOOTSTRAP), "bootstrap") != NULL);
    cr_assert_str_eq(dlc_status_string((dlcoll_status_t)99), "unknown status 99");
    cr_assert_str_eq(dlc_status_string((dlcoll_status_t)-4), "unknown status -4");
}

Test(error, fail_prefix_clear)
{
    dlc_err err;
    dlc_err_clear(&err);
    cr_assert_eq(err.status, DLCOLL_SUCCESS);
    cr_assert_str_eq(err.msg, "");

    cr_assert_eq(dlc_fail(NULL, DLCOLL_ERR_SYSTEM, "ignored %d", 1), DLCOLL_ERR_SYSTEM);
    cr_assert_eq(dlc_fail(&err, DLCOLL_ERR_PEER_FAILURE, "peer %d died", 3), DLCOLL_ERR_PEER_FAILURE);
    cr_assert_eq(err.status, DLCOLL_ERR_PEER_FAILURE);
    cr_assert_str_eq(err.msg, "peer 3 died");

    dlc_err_prefix(&err, "rank %d: allgather #%d: ", 2, 17);
    cr_assert_str_eq(err.msg, "rank 2: allgather #17: peer 3 died");
    cr_assert_eq(err.status, DLCOLL_ERR_PEER_FAILURE);

    /* Re-wrapping a message that is an argument of its own format. */
    dlc_fail(&err, DLCOLL_ERR_BOOTSTRAP, "init: %s (retry)", err.msg);
    cr_assert_str_eq(err.msg, "init: rank 2: allgather #17: peer 3 died (retry)");

    /* Overlong: truncated, never overflowing, prefix kept. */
    char big[2000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    dlc_fail(&err, DLCOLL_ERR_INTERNAL, "%s", big);
    cr_assert_eq(strlen(err.msg), DLC_ERRMSG_MAX - 1);
    dlc_err_prefix(&err, "P: ");
    cr_assert_eq(strlen(err.msg), DLC_ERRMSG_MAX - 1);
    cr_assert_eq(strncmp(err.msg, "P: mmm", 6), 0);
    dlc_err_prefix(NULL, "x");
    dlc_err_clear(NULL);
}

static void *other_thread_error(void *arg)
{
    dlc_thread_error_set("from the other thread");
    snprintf(arg, 64, "%s", dlc_thread_error());
    return NULL;
}

Test(error, thread_error_is_per_thread)
{
    cr_assert_str_eq(dlc_thread_error(), "");
    dlc_thread_error_set("main thread error");
    char other[64];
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, other_thread_error, other), 0);
    pthread_join(th, NULL);
    cr_assert_str_eq(other, "from the other thread");
    cr_assert_str_eq(dlc_thread_error(), "main thread error");
    dlc_thread_error_set(NULL);
    cr_assert_str_eq(dlc_thread_error(), "");
}
