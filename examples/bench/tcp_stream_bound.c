/*
 * tcp_stream_bound.c -- the link bound of the two-host benchmark
 * (scripts/bench-two-host.sh, docs/benchmarks.md): one plain TCP connection
 * between two network namespaces, both directions streaming at once for a
 * fixed time, as an allgather across the link does.
 *
 *   tcp_stream_bound -l ADDR:PORT [-t SECS]      # "host" A: listen, accept one
 *   tcp_stream_bound -c ADDR:PORT [-t SECS]      # "host" B: connect
 *   -u on both sides: one direction only (B sends, A receives)
 *
 * Each side sends 1 MiB writes from a thread and receives on the main thread
 * for -t seconds (default 3; the first 0.5 s are not counted), then prints
 *   tcp-stream: rx GB/s X  tx GB/s Y
 * where X is what this side received per second (1e9 B/s). Every step has a
 * timeout (accept/connect 20 s, socket I/O 10 s). Exit 0 on success, 1 on error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct stream_side {
    int fd;
    double t_start, t_count, t_end; /* start, start of counting, end       */
    uint64_t bytes;                 /* bytes moved while counting           */
    int failed;
    int send_only, recv_only;       /* -u: one direction (listener receives) */
} stream_side;

/* Sender thread: write CHUNK-sized buffers until t_end. */
static void *send_loop(void *arg)
{
    stream_side *s = arg;
    char *buf = malloc(CHUNK);
    if (!buf) {
        s->failed = 1;
        return NULL;
    }
    memset(buf, 0x5a, CHUNK);
    for (; !s->recv_only;) {
        double t = now_s();
        if (t >= s->t_end)
            break;
        ssize_t n = send(s->fd, buf, CHUNK, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tcp_stream_bound: send: %s\n", strerror(errno));
            s->failed = 1;
            break;
        }
        if (t >= s->t_count)
            s->bytes += (uint64_t)n;
    }
    /* Tell the peer we are done sending; it keeps receiving until EOF. */
    shutdown(s->fd, SHUT_WR);
    free(buf);
    return NULL;
}

static int parse_addr(const char *arg, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(arg, ':');
    if (!colon || (size_t)(colon - arg) >= sizeof host)
        return -1;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* Wait up to ms for fd to be readable (accept) or writable (connect). */
static int wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ms);
    return r == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL, *connect_to = NULL;
    double secs = 3.0;
    int opt, one_way = 0;
    while ((opt = getopt(argc, argv, "l:c:t:u")) != -1) {
        switch (opt) {
        case 'u': one_way = 1; break;
        case 'l': listen_at = optarg; break;
        case 'c': connect_to = optarg; break;
        case 't': secs = atof(optarg); break;
        default:
            fprintf(stderr, "usage: %s -l ADDR:PORT | -c ADDR:PORT [-t SECS]\n", argv[0]);
            return 1;
        }
    }
    struct sockaddr_in sa;
    if ((!listen_at) == (!connect_to) || parse_addr(listen_at ? listen_at : connect_to, &sa) ||
        secs <= 0.5) {
        fprintf(stderr, "usage: %s -l ADDR:PORT | -c ADDR:PORT [-t SECS > 0.5]\n", argv[0]);
        return 1;
    }

    int fd = -1;
    if (listen_at) {
        int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1) ||
            wait_fd(lfd, POLLIN, 20000)) {
            fprintf(stderr, "tcp_stream_bound: listen/accept on %s failed or timed out: %s\n",
                    listen_at, strerror(errno));
            return 1;
        }
        fd = accept(lfd, NULL, NULL);
        close(lfd);
    } else {
        /* The listener may not be up yet: retry for up to 20 s. */
        double give_up = now_s() + 20.0;
        for (;;) {
            fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
                break;
            if (fd >= 0)
                close(fd);
            fd = -1;
            if (now_s() > give_up)
                break;
            usleep(50000);
        }
    }
    if (fd < 0) {
        fprintf(stderr, "tcp_stream_bound: no connection (%s): %s\n",
                listen_at ? listen_at : connect_to, strerror(errno));
        return 1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    stream_side s = {.fd = fd, .recv_only = one_way && listen_at, .send_only = one_way && connect_to};
    s.t_start = now_s();
    s.t_count = s.t_start + 0.5;
    s.t_end = s.t_start + secs;
    pthread_t th;
    if (pthread_create(&th, NULL, send_loop, &s) != 0) {
        fprintf(stderr, "tcp_stream_bound: pthread_create failed\n");
        return 1;
    }
    char *buf = malloc(CHUNK);
    uint64_t rx = 0;
    int failed = buf == NULL;
    double t_last = s.t_count;
    while (!failed && !s.send_only) {
        ssize_t n = recv(fd, buf, CHUNK, 0);
        if (n == 0)
            break; /* peer finished */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "tcp_stream_bound: recv: %s\n", strerror(errno));
            failed = 1;
            break;
        }
        double t = now_s();
        if (t >= s.t_count && t <= s.t_end) {
            rx += (uint64_t)n;
            t_last = t;
        }
    }
    if (s.send_only) { /* wait for the receiver to close after our SHUT_WR */
        pthread_join(th, NULL);
        while (recv(fd, buf, CHUNK, 0) > 0)
            ;
    } else {
        pthread_join(th, NULL);
    }
    close(fd);
    free(buf);
    if (failed || s.failed)
        return 1;
    double span_tx = s.t_end - s.t_count, span_rx = t_last - s.t_count;
    printf("tcp-stream: rx GB/s %.3f  tx GB/s %.3f\n", span_rx > 0 ? rx / span_rx / 1e9 : 0.0,
           s.bytes / span_tx / 1e9);
    return 0;
}
