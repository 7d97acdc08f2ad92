/*
 * job_key.c -- check and copy the job secret (job_key.h).
 */
#include "plugin/util/job_key.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dlcoll_status_t dlc_job_key_from_text(const char *var, const char *text, unsigned char *out,
                                      size_t cap, size_t *len, int *insecure, dlc_err *err)
{
    size_t n = strlen(text);
    *len = 0;
    *insecure = 0;
    if (strcmp(text, DLC_JOB_KEY_INSECURE) == 0) {
        *insecure = 1;
        return DLCOLL_SUCCESS;
    }
    if (n < DLC_JOB_KEY_MIN || n > DLC_JOB_KEY_MAX || n > cap)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s holds %zu characters; a job key has %d..%d (dlcoll-run makes one; "
                        "'%s' turns authentication off)",
                        var, n, DLC_JOB_KEY_MIN, DLC_JOB_KEY_MAX, DLC_JOB_KEY_INSECURE);
    memcpy(out, text, n);
    *len = n;
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_job_key_from_file(const char *var, const char *path, unsigned char *out,
                                      size_t cap, size_t *len, int *insecure, dlc_err *err)
{
    /* O_NONBLOCK: a FIFO put there cannot block init; fstat refuses it below. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s=%s: cannot open: %s", var, path,
                        strerror(errno));
    struct stat sb;
    dlcoll_status_t st = DLCOLL_SUCCESS;
    if (fstat(fd, &sb) != 0)
        st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s=%s: cannot stat: %s", var, path,
                      strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s=%s is not a regular file", var, path);
    else if (sb.st_uid != geteuid())
        st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                      "%s=%s belongs to uid %u, not to this user (uid %u); refused", var, path,
                      (unsigned)sb.st_uid, (unsigned)geteuid());
    else if ((sb.st_mode & 077) != 0)
        st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                      "%s=%s has mode %04o: group or others may access it; refused (chmod 600)",
                      var, path, (unsigned)(sb.st_mode & 07777));
    char text[DLC_JOB_KEY_MAX + 3];
    size_t got = 0;
    while (st == DLCOLL_SUCCESS && got < sizeof text - 1) {
        ssize_t n = read(fd, text + got, sizeof text - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s=%s: cannot read: %s", var, path,
                          strerror(errno));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (st != DLCOLL_SUCCESS)
        return st;
    text[got] = '\0';
    if (got > 0 && text[got - 1] == '\n')
        text[--got] = '\0';
    if (strlen(text) != got)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s=%s holds a NUL byte", var, path);
    st = dlc_job_key_from_text(var, text, out, cap, len, insecure, err);
    memset(text, 0, sizeof text);
    return st;
}
