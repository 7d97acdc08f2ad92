/*
 * mp_capture.c -- see mp_capture.h.  Failures are Criterion assertions: these
 * helpers run in the test's own process, never in a rank.
 */
#include "mp_capture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mp_capture_tmpfile(const char *tag)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/dlcoll-%s-XXXXXX", tag);
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    return fd;
}

char *mp_capture_read(int fd)
{
    size_t cap = 8192, used = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (used + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    return buf;
}
