/*
 * shm_seg_open.c -- create or open a shared segment, refusing any object
 * this user did not make private (shm_seg_open.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "plugin/coll/shm_seg_open.h"

int dlc_shm_seg_owner_ok(const struct stat *st, char *why, size_t why_cap)
{
    if (!S_ISREG(st->st_mode)) {
        snprintf(why, why_cap, "is not a regular object (mode %#o)", (unsigned)st->st_mode);
        return 0;
    }
    if (st->st_uid != geteuid()) {
        snprintf(why, why_cap, "belongs to uid %u, not to this user (uid %u), mode %04o",
                 (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)(st->st_mode & 07777));
        return 0;
    }
    if (st->st_mode & 077) {
        snprintf(why, why_cap,
                 "is open to other users (owner uid %u, mode %04o; dlcoll makes 0600)",
                 (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
        return 0;
    }
    return 1;
}

/* Allocate the object's pages before any is touched: on a full /dev/shm
 * this fails here instead of a SIGBUS later.  0, or an errno value. */
static int reserve(int fd, size_t size)
{
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == EOPNOTSUPP || e == EINVAL)
        return 0; /* not supported by the file system: sized by ftruncate only */
    return e;
}

/* The creator found the name taken: say whose object it is. */
static dlcoll_status_t exists_already(const char *name, dlc_err *err)
{
    struct stat sb;
    char whose[160] = "owner and mode unknown";
    int fd = shm_open(name, O_RDONLY | O_NOFOLLOW, 0);
    if (fd >= 0 && fstat(fd, &sb) == 0)
        snprintf(whose, sizeof whose, "owner uid %u, mode %04o", (unsigned)sb.st_uid,
                 (unsigned)(sb.st_mode & 07777));
    if (fd >= 0)
        close(fd);
    return dlc_fail(err, DLCOLL_ERR_SYSTEM,
                    "shared memory /dev/shm%s exists already (%s): refusing a segment this "
                    "communicator did not create (another process made it first; remove it if "
                    "it is a leftover, or set DLCOLL_ALGO=ring)",
                    name, whose);
}

dlcoll_status_t dlc_shm_seg_open(const char *name, size_t size, int creator, int *fd_out,
                                 dlc_err *err)
{
    *fd_out = -1;
    int fd = creator ? shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)
                     : shm_open(name, O_RDWR | O_NOFOLLOW, 0);
    if (fd < 0 && creator && errno == EEXIST)
        return exists_already(name, err);
    if (fd < 0 && !creator && errno == ENOENT)
        return DLCOLL_IN_PROGRESS; /* the creator has not made it yet */
    if (fd < 0)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory /dev/shm%s: shm_open: %s", name,
                        strerror(errno));
    struct stat sb;
    char why[200];
    dlcoll_status_t st = DLCOLL_SUCCESS;
    int e;
    if (fstat(fd, &sb) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "shared memory /dev/shm%s: fstat: %s", name,
                      strerror(errno));
    } else if (!dlc_shm_seg_owner_ok(&sb, why, sizeof why)) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory /dev/shm%s %s: refused (another process made it; remove it "
                      "if it is a leftover, or set DLCOLL_ALGO=ring)",
                      name, why);
    } else if (!creator && sb.st_size == 0) {
        st = DLCOLL_IN_PROGRESS; /* made, not sized yet */
    } else if (!creator && (size_t)sb.st_size != size) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory /dev/shm%s has %lld bytes, expected %zu", name,
                      (long long)sb.st_size, size);
    } else if (creator && ftruncate(fd, (off_t)size) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory /dev/shm%s: cannot size it to %zu bytes: %s (is /dev/shm "
                      "full?)",
                      name, size, strerror(errno));
    } else if ((e = reserve(fd, size)) != 0) {
        st = dlc_fail(err, DLCOLL_ERR_SYSTEM,
                      "shared memory /dev/shm%s: cannot allocate its %zu bytes: %s (is /dev/shm "
                      "full or too small? a container's default is 64 MiB; set "
                      "DLCOLL_SHM_SLOT_BYTES lower, or DLCOLL_ALGO=ring)",
                      name, size, strerror(e));
    }
    if (st != DLCOLL_SUCCESS) {
        close(fd);
        if (creator && st != DLCOLL_IN_PROGRESS)
            shm_unlink(name); /* ours: leave nothing behind */
        return st;
    }
    *fd_out = fd;
    return DLCOLL_SUCCESS;
}
