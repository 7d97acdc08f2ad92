/*
 * output.c -- forward a rank's output line by line with a "[rank i] " prefix.
 *
 * Each rank's stdout and stderr arrive on their own pipe.  Bytes are kept
 * until a newline completes the line; then prefix + line go out with one
 * write(), so lines of different ranks never interleave mid-line.  A line
 * longer than the buffer (64 KiB) is split into several prefixed lines; a
 * partial last line is written, with a newline added, when the pipe closes.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"

/* Set once a destination reports EPIPE (e.g. "dlcoll-run ... | head"): its
 * output is then dropped, while ranks keep being drained. */
static int dest_closed[3];

static void write_all(int fd, const char *p, size_t n)
{
    if (fd < 0 || fd > 2 || dest_closed[fd])
        return;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 100);
        } else {
            dest_closed[fd] = 1;   /* EPIPE or worse: stop writing there */
            return;
        }
    }
}

/* Staging area for prefixed lines, written out when full or at the end of a
 * pump so a burst of short lines costs one write(). */
typedef struct out_batch {
    int fd;
    size_t used;
    char buf[sizeof(((dlr_stream *)0)->buf) + 64];
} out_batch;

static void batch_flush(out_batch *b)
{
    write_all(b->fd, b->buf, b->used);
    b->used = 0;
}

static void batch_line(out_batch *b, int rank, const char *line, size_t len, int add_newline)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "[rank %d] ", rank);
    size_t need = (size_t)plen + len + (add_newline ? 1 : 0);
    if (b->used + need > sizeof b->buf)
        batch_flush(b);
    memcpy(b->buf + b->used, prefix, (size_t)plen);
    memcpy(b->buf + b->used + plen, line, len);
    b->used += (size_t)plen + len;
    if (add_newline)
        b->buf[b->used++] = '\n';
}

void dlr_stream_init(dlr_stream *s, int fd, int to_fd, int rank)
{
    s->fd = fd;
    s->to_fd = to_fd;
    s->rank = rank;
    s->used = 0;
}

/* Move every complete line of s->buf into the batch; keep the rest.  With
 * `all`, the remainder is emitted too (end of stream or full buffer). */
static void emit_lines(dlr_stream *s, out_batch *b, int all)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(s->buf + start, '\n', s->used - start);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (s->buf + start)) + 1;
        batch_line(b, s->rank, s->buf + start, len, 0);
        start += len;
    }
    if (all && start < s->used) {
        batch_line(b, s->rank, s->buf + start, s->used - start, 1);
        start = s->used;
    }
    memmove(s->buf, s->buf + start, s->used - start);
    s->used -= start;
}

void dlr_stream_close(dlr_stream *s)
{
    static out_batch b;
    if (s->fd < 0)
        return;
    b.fd = s->to_fd;
    b.used = 0;
    emit_lines(s, &b, 1);
    batch_flush(&b);
    close(s->fd);
    s->fd = -1;
}

int dlr_stream_pump(dlr_stream *s)
{
    static out_batch b;
    if (s->fd < 0)
        return 0;
    b.fd = s->to_fd;
    b.used = 0;

    /* A bounded number of reads per call keeps one chatty rank from starving
     * the others; poll() brings us back for the rest. */
    for (int round = 0; round < 16; round++) {
        ssize_t n = read(s->fd, s->buf + s->used, sizeof s->buf - s->used);
        if (n > 0) {
            s->used += (size_t)n;
            emit_lines(s, &b, 0);
            if (s->used == sizeof s->buf)   /* one line fills the buffer: split it */
                emit_lines(s, &b, 1);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            batch_flush(&b);
            return 1;
        }
        /* EOF or a read error: the rank closed its end. */
        batch_flush(&b);
        dlr_stream_close(s);
        return 0;
    }
    batch_flush(&b);
    return 2;
}
