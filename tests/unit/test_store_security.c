/*
 * test_store_security.c -- issue 15, findings 1, 3, 4 and 8: the stores
 * refuse strangers and stay bounded (docs/security.md, "The store").
 *
 * The server runs in this process (rank 0's store), the attackers are raw
 * sockets; memory is measured as this process's resident set and asserted
 * against the configured DLCOLL_STORE_MAX_BYTES.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "plugin/bootstrap/store.h"
#include "plugin/bootstrap/store_auth.h"
#include "plugin/util/config.h"

#define KEY "a-test-job-key-of-some-length-0123"

/* ------------------------------------------------------------------ helpers */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static dlc_settings settings(int port, int rank, const char *key)
{
    dlc_settings s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    s.world_size = 2;
    s.timeout_ms = 10000;
    s.rdv = DLC_RDV_TCP;
    snprintf(s.rdv_host, sizeof s.rdv_host, "127.0.0.1");
    s.rdv_port = port;
    if (key) {
        s.job_key_len = strlen(key);
        memcpy(s.job_key, key, s.job_key_len);
    }
    return s;
}

static dlc_store *must_open(const dlc_settings *s)
{
    dlc_store *st = NULL;
    dlc_err err = {0};
    dlcoll_status_t rc = dlc_store_open(s, &st, &err);
    cr_assert_eq(rc, DLCOLL_SUCCESS, "open (rank %d): %s", s->rank, err.msg);
    return st;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static ssize_t read_n(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return r < 0 && got == 0 ? -1 : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int closed_by_peer(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0)
            return 0;
    }
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The handshake of a raw client holding key (NULL: none, or a proof of zeros
 * when claim_key); returns the verdict's reason (0: accepted). */
static uint32_t raw_handshake(int fd, const char *key, int claim_key)
{
    unsigned char hello[44] = {0}, reply[76], proof[32] = {0}, verdict[12];
    put_u32(hello, 0x444c5354u);
    put_u32(hello + 4, 2);
    put_u32(hello + 8, key || claim_key ? 1 : 0);
    memset(hello + 12, 0x5a, 32);
    cr_assert_eq(send(fd, hello, sizeof hello, MSG_NOSIGNAL), (ssize_t)sizeof hello);
    cr_assert_eq(read_n(fd, reply, sizeof reply), (ssize_t)sizeof reply, "no hello reply");
    if (key)
        dlc_auth_proof((const unsigned char *)key, strlen(key), DLC_AUTH_CLIENT, hello + 12,
                       reply + 12, proof);
    cr_assert_eq(send(fd, proof, sizeof proof, MSG_NOSIGNAL), (ssize_t)sizeof proof);
    cr_assert_eq(read_n(fd, verdict, sizeof verdict), (ssize_t)sizeof verdict, "no verdict");
    return get_u32(verdict + 4) == 0 ? 0 : get_u32(verdict + 8);
}

/* A request header (+ key) on a raw connection. */
static void raw_request(int fd, uint32_t op, const char *key, uint32_t arg)
{
    unsigned char buf[12 + 64];
    size_t klen = strlen(key);
    put_u32(buf, op), put_u32(buf + 4, (uint32_t)klen), put_u32(buf + 8, arg);
    memcpy(buf + 12, key, klen);
    cr_assert_eq(send(fd, buf, 12 + klen, MSG_NOSIGNAL), (ssize_t)(12 + klen));
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert(f != NULL);
    cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void assert_msg_has(const dlc_err *err, const char *s)
{
    cr_assert(strstr(err->msg, s) != NULL, "message lacks \"%s\": %s", s, err->msg);
}

/* ------------------------------------------------------------------ the key */

Test(store_security, strangers_cannot_read_or_write)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, KEY);
    dlc_store *st = must_open(&s0);
    const char rec[] = "rank 0's endpoint";
    cr_assert_eq(dlc_store_set(st, "dlcoll/addr/0", rec, sizeof rec, NULL), DLCOLL_SUCCESS);

    /* No key, another key: refused at open, before any request. */
    dlc_err err = {0};
    dlc_store *bad = NULL;
    dlc_settings s1 = settings(port, 1, NULL);
    cr_assert_eq(dlc_store_open(&s1, &bad, &err), DLCOLL_ERR_BOOTSTRAP, "%s", err.msg);
    assert_msg_has(&err, "requires the job key");
    s1 = settings(port, 1, "another-key-of-enough-length");
    cr_assert_eq(dlc_store_open(&s1, &bad, &err), DLCOLL_ERR_BOOTSTRAP, "%s", err.msg);
    assert_msg_has(&err, "failed to prove it holds the job key");
    cr_assert_null(bad);

    /* A raw client that claims a key and sends a forged proof: refused and closed. */
    int fd = raw_connect(port);
    cr_assert_eq(raw_handshake(fd, NULL, 1), 1 /* DLC_TCP_WHY_BAD_PROOF */);
    cr_assert(closed_by_peer(fd));
    close(fd);
    /* One that skips the handshake and asks for the key: closed, nothing read. */
    fd = raw_connect(port);
    raw_request(fd, 2, "dlcoll/addr/0", 0);
    unsigned char junk[128];
    ssize_t n = read_n(fd, junk, sizeof junk);
    cr_assert(n < (ssize_t)sizeof rec, "a stranger read %zd bytes", n);
    cr_assert(memmem(junk, n > 0 ? (size_t)n : 0, rec, sizeof rec) == NULL);
    close(fd);
    /* One that overwrites a record without the handshake: the record stands. */
    fd = raw_connect(port);
    raw_request(fd, 1, "dlcoll/addr/0", 4);
    send(fd, "evil", 4, MSG_NOSIGNAL);
    close(fd);

    /* The job's own rank still gets in, and sees the record unchanged. */
    s1 = settings(port, 1, KEY);
    dlc_store *good = must_open(&s1);
    char buf[64];
    size_t len = 0;
    cr_assert_eq(dlc_store_get(good, "dlcoll/addr/0", buf, sizeof buf, &len, 1000, &err),
                 DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(len, sizeof rec);
    cr_assert_str_eq(buf, rec);
    /* And rank 0's store names the refusals (what a timeout message appends). */
    dlc_store_close(good);
    dlc_store_close(st);
}

Test(store_security, no_key_off_loopback_is_refused)
{
    dlc_settings s = settings(free_port(), 0, NULL);
    snprintf(s.rdv_host, sizeof s.rdv_host, "0.0.0.0");
    dlc_store *st = NULL;
    dlc_err err = {0};
    cr_assert_eq(dlc_store_open(&s, &st, &err), DLCOLL_ERR_INVALID_ARGUMENT, "%s", err.msg);
    assert_msg_has(&err, "not on loopback");
    assert_msg_has(&err, "DLCOLL_JOB_KEY");
    cr_assert_null(st);
}

Test(store_security, dlcoll_keys_are_write_once)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, KEY), s1 = settings(port, 1, KEY);
    dlc_store *st = must_open(&s0), *other = must_open(&s1);
    dlc_err err = {0};
    cr_assert_eq(dlc_store_set(st, "dlcoll/host/1", "real", 4, &err), DLCOLL_SUCCESS, "%s",
                 err.msg);
    cr_assert_eq(dlc_store_set(other, "dlcoll/host/1", "real", 4, &err), DLCOLL_SUCCESS,
                 "the same value again: %s", err.msg);
    cr_assert_eq(dlc_store_set(other, "dlcoll/host/1", "fake", 4, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "write-once");
    assert_msg_has(&err, "dlcoll/host/1");
    char buf[8] = {0};
    size_t len = 0;
    cr_assert_eq(dlc_store_get(st, "dlcoll/host/1", buf, sizeof buf, &len, 1000, &err),
                 DLCOLL_SUCCESS);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(buf, "real", 4), 0);
    /* A key outside dlcoll/ may change. */
    cr_assert_eq(dlc_store_set(other, "user/x", "1", 1, &err), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(dlc_store_set(other, "user/x", "2", 1, &err), DLCOLL_SUCCESS, "%s", err.msg);
    dlc_store_close(other);
    dlc_store_close(st);
}

/* ------------------------------------------------------------------ bounds */

#define BIG (16u << 20)
#define CAP (48ll << 20)
#define ATTACKERS 24

Test(store_security, unread_gets_of_a_big_value_share_it, .timeout = 120)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, NULL);
    s0.store_max_bytes = CAP;
    dlc_store *st = must_open(&s0);
    char *big = malloc(BIG);
    memset(big, 'v', BIG);
    dlc_err err = {0};
    cr_assert_eq(dlc_store_set(st, "big", big, BIG, &err), DLCOLL_SUCCESS, "%s", err.msg);
    free(big);
    long before = rss_bytes();

    int fds[ATTACKERS];
    for (int i = 0; i < ATTACKERS; i++) {
        fds[i] = raw_connect(port);
        cr_assert_eq(raw_handshake(fds[i], NULL, 0), 0);
        raw_request(fds[i], 2, "big", 0); /* and never read the reply */
    }
    /* A round trip on each attacker's connection order: the server has
     * taken every GET once our own later request is answered. */
    char one;
    size_t len;
    cr_assert_eq(dlc_store_get(st, "big", &one, 1, &len, 1000, &err), DLCOLL_ERR_BOOTSTRAP);
    long grown = rss_bytes() - before;
    fprintf(stderr, "%d unread GETs of a %u-byte value: RSS grew by %ld bytes (cap %lld)\n",
            ATTACKERS, BIG, grown, CAP);
    cr_assert(grown < CAP, "RSS grew by %ld bytes, more than the %lld-byte cap", grown, CAP);
    for (int i = 0; i < ATTACKERS; i++)
        close(fds[i]);
    dlc_store_close(st);
}

Test(store_security, set_headers_declaring_huge_values_are_refused_within_the_cap, .timeout = 120)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, NULL);
    s0.store_max_bytes = CAP;
    dlc_store *st = must_open(&s0);
    long before = rss_bytes();
    int fds[ATTACKERS], refused = 0;
    for (int i = 0; i < ATTACKERS; i++) {
        fds[i] = raw_connect(port);
        cr_assert_eq(raw_handshake(fds[i], NULL, 0), 0);
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        raw_request(fds[i], 1, key, BIG); /* the header only; the body never comes */
    }
    for (int i = 0; i < ATTACKERS; i++) {
        struct timeval tv = {0, 200000};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        unsigned char r[12];
        if (read_n(fds[i], r, sizeof r) == (ssize_t)sizeof r) {
            cr_assert_eq(get_u32(r + 4), 2, "status %u", get_u32(r + 4));
            cr_assert_eq(get_u32(r + 8), 5, "reason %u (not 'full')", get_u32(r + 8));
            refused++;
        }
    }
    long grown = rss_bytes() - before;
    fprintf(stderr, "%d SET headers of %u bytes: %d refused, RSS grew by %ld bytes (cap %lld)\n",
            ATTACKERS, BIG, refused, grown, CAP);
    cr_assert_geq(refused, ATTACKERS - (int)(CAP / BIG), "only %d refused", refused);
    cr_assert(grown < CAP, "RSS grew by %ld bytes, more than the %lld-byte cap", grown, CAP);
    /* The store still works for the job. */
    dlc_err err = {0};
    cr_assert_eq(dlc_store_set(st, "small", "x", 1, &err), DLCOLL_ERR_BOOTSTRAP);
    assert_msg_has(&err, "full");
    for (int i = 0; i < ATTACKERS; i++)
        close(fds[i]);
    dlc_store_close(st);
}

Test(store_security, half_open_connections_do_not_lock_out_a_rank, .timeout = 120)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, KEY);
    s0.store_max_conns = 16;
    s0.store_idle_ms = 500;
    dlc_store *st = must_open(&s0);
    enum { HALF_OPEN = 64 };
    int fds[HALF_OPEN];
    for (int i = 0; i < HALF_OPEN; i++) {
        fds[i] = raw_connect(port);
        if (i % 2)
            send(fds[i], "DLST", 4, MSG_NOSIGNAL); /* half a hello */
    }
    dlc_settings s1 = settings(port, 1, KEY);
    dlc_store *rank1 = must_open(&s1);
    dlc_err err = {0};
    cr_assert_eq(dlc_store_set(rank1, "dlcoll/host/1", "h", 1, &err), DLCOLL_SUCCESS, "%s",
                 err.msg);
    /* Every half-open connection is closed: evicted, refused, or past its deadline. */
    for (int i = 0; i < HALF_OPEN; i++) {
        cr_assert(closed_by_peer(fds[i]), "half-open connection %d still open", i);
        close(fds[i]);
    }
    /* The authenticated, idle rank is not. */
    char b;
    size_t len;
    cr_assert_eq(dlc_store_get(rank1, "dlcoll/host/1", &b, 1, &len, 1000, &err), DLCOLL_SUCCESS,
                 "%s", err.msg);
    dlc_store_close(rank1);
    dlc_store_close(st);
}

Test(store_security, a_get_waits_no_longer_than_the_store_timeout, .timeout = 60)
{
    int port = free_port();
    dlc_settings s0 = settings(port, 0, NULL);
    s0.timeout_ms = 300;
    dlc_store *st = must_open(&s0);
    int fd = raw_connect(port); /* SO_RCVTIMEO 10 s, far below 0xffffffff ms */
    cr_assert_eq(raw_handshake(fd, NULL, 0), 0);
    raw_request(fd, 2, "never", 0xffffffffu);
    unsigned char r[12];
    cr_assert_eq(read_n(fd, r, sizeof r), (ssize_t)sizeof r, "no answer to a 49-day GET");
    cr_assert_eq(get_u32(r + 4), 1, "status %u, not a timeout", get_u32(r + 4));
    close(fd);
    dlc_store_close(st);
}

/* ------------------------------------------------------------------ file store */

static dlc_settings file_settings(const char *dir)
{
    dlc_settings s;
    memset(&s, 0, sizeof s);
    s.world_size = 1;
    s.timeout_ms = 1000;
    s.rdv = DLC_RDV_FILE;
    snprintf(s.rdv_path, sizeof s.rdv_path, "%s", dir);
    return s;
}

Test(store_security, a_fifo_at_a_key_fails_within_the_timeout, .timeout = 30)
{
    char dir[] = "/tmp/dlcoll-sec-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/k", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    dlc_settings s = file_settings(dir);
    dlc_store *st = must_open(&s);
    char buf[8];
    size_t len;
    dlc_err err = {0};
    cr_assert_eq(dlc_store_get(st, "k", buf, sizeof buf, &len, 1000, &err), DLCOLL_ERR_BOOTSTRAP,
                 "%s", err.msg);
    assert_msg_has(&err, "not a regular file");
    dlc_store_close(st);
    unlink(path);
    snprintf(path, sizeof path, "%s/l", dir);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    st = must_open(&s);
    cr_assert_eq(dlc_store_get(st, "l", buf, sizeof buf, &len, 1000, &err), DLCOLL_ERR_BOOTSTRAP,
                 "%s", err.msg);
    assert_msg_has(&err, "symbolic link");
    dlc_store_close(st);
    unlink(path);
    rmdir(dir);
}

Test(store_security, a_directory_others_may_write_is_refused)
{
    char dir[] = "/tmp/dlcoll-sec-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0777), 0);
    dlc_settings s = file_settings(dir);
    dlc_store *st = NULL;
    dlc_err err = {0};
    cr_assert_eq(dlc_store_open(&s, &st, &err), DLCOLL_ERR_BOOTSTRAP, "%s", err.msg);
    assert_msg_has(&err, "group or others may write");
    /* A directory the store creates is 0700. */
    char sub[96];
    snprintf(sub, sizeof sub, "%s/new/store", dir);
    cr_assert_eq(chmod(dir, 0700), 0);
    s = file_settings(sub);
    st = must_open(&s);
    struct stat sb;
    cr_assert_eq(stat(sub, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700, "mode %o", sb.st_mode & 0777);
    dlc_store_close(st);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/new", dir);
    rmdir(sub);
    rmdir(dir);
}

/* ------------------------------------------------------------------ key file */

typedef struct fake_env {
    const char *file;
} fake_env;

static const char *fake_getenv(void *ctx, const char *name)
{
    const fake_env *fe = ctx;
    if (strcmp(name, "DLCOLL_RANK") == 0)
        return "0";
    if (strcmp(name, "DLCOLL_WORLD_SIZE") == 0)
        return "1";
    if (strcmp(name, "DLCOLL_INIT_METHOD") == 0)
        return "tcp://127.0.0.1:1";
    if (strcmp(name, "DLCOLL_JOB_KEY_FILE") == 0)
        return fe->file;
    return NULL;
}

static dlcoll_status_t resolve_with_file(const char *path, dlc_settings *s, dlc_err *err)
{
    fake_env fe = {path};
    return dlc_settings_resolve(NULL, fake_getenv, &fe, s, err);
}

Test(store_security, the_key_file_must_be_private, .timeout = 30)
{
    char dir[] = "/tmp/dlcoll-key-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/key", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, KEY "\n", sizeof KEY), (ssize_t)sizeof KEY);
    close(fd);
    cr_assert_eq(chmod(path, 0644), 0);
    dlc_settings s;
    dlc_err err = {0};
    cr_assert_eq(resolve_with_file(path, &s, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    assert_msg_has(&err, "mode 0644");
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(resolve_with_file(path, &s, &err), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(s.job_key_len, strlen(KEY));
    cr_assert_eq(memcmp(s.job_key, KEY, strlen(KEY)), 0);
    unlink(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    cr_assert_eq(resolve_with_file(path, &s, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    assert_msg_has(&err, "not a regular file");
    unlink(path);
    rmdir(dir);
}
