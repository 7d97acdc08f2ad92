/*
 * store_file.c -- a store in a directory shared by all ranks (file:///dir).
 *
 * Each key is one file.  set writes a temporary file and rename()s it over
 * the key's file, so a reader sees either no file or a complete value.  get
 * polls with short sleeps until the file exists or the timeout passes.
 *
 * File names: bytes outside [A-Za-z0-9_.-] (and a leading '.') are escaped
 * as %XX, so keys may contain '/'.  A name that would be too long is cut and
 * given a hash suffix; every file starts with its full key, which get checks,
 * so a hash collision is detected instead of returning a wrong value.
 *
 * File layout: "DLCF", key length (4 bytes, little-endian), key, value.
 *
 * The directory must belong to this user and be writable by nobody else
 * (one it creates is 0700; files are 0600).  Key files are opened with
 * O_NOFOLLOW | O_NONBLOCK and must be regular files, so a symbolic link or a
 * FIFO put at a key's path is an error, never a wait past the timeout
 * (docs/security.md, "The store").
 */
#include "plugin/bootstrap/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "DLCF"
#define HEADER_LEN 8
#define NAME_MAX_ESCAPED 200 /* well under NAME_MAX (255) */
#define NAME_CUT 160

typedef struct file_store {
    dlc_store base;
    char dir[1024];
} file_store;

static atomic_ulong tmp_counter;

/* Escape key into a file name (see the top of the file). */
static void key_to_name(const char *key, char *name, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && used + 4 < cap; p++) {
        unsigned char c = *p;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || (c == '.' && p != (const unsigned char *)key);
        if (plain) {
            name[used++] = (char)c;
        } else {
            name[used++] = '%';
            name[used++] = hex[c >> 4];
            name[used++] = hex[c & 15];
        }
    }
    name[used] = '\0';
    if (used > NAME_MAX_ESCAPED) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a over the whole key */
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        snprintf(name + NAME_CUT, cap - NAME_CUT, "~%016llx", (unsigned long long)h);
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static dlcoll_status_t file_set(dlc_store *base, const char *key, const void *value, size_t len,
                                dlc_err *err)
{
    file_store *fs = (file_store *)base;
    char name[NAME_MAX_ESCAPED * 2], path[sizeof fs->dir + sizeof name + 2];
    char tmp[sizeof fs->dir + 128], host[64] = "host";
    key_to_name(key, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", fs->dir, name);
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    /* Unique across hosts sharing the directory, processes and threads. */
    snprintf(tmp, sizeof tmp, "%s/.tmp.%.40s.%ld.%lu", fs->dir, host, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: set '%s': cannot create %s: %s", base->name,
                        key, tmp, strerror(errno));
    uint32_t klen = (uint32_t)strlen(key);
    unsigned char header[HEADER_LEN];
    memcpy(header, FILE_MAGIC, 4);
    for (int i = 0; i < 4; i++)
        header[4 + i] = (unsigned char)(klen >> (8 * i));
    int bad = write_all(fd, header, sizeof header) != 0 || write_all(fd, key, klen) != 0 ||
              write_all(fd, value, len) != 0;
    int saved = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        unlink(tmp);
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: set '%s': cannot write %s: %s", base->name,
                        key, path, strerror(saved));
    }
    return DLCOLL_SUCCESS;
}

/* Read an open key file: check the header and key, copy the value. */
static dlcoll_status_t read_value(file_store *fs, int fd, const char *path, const char *key,
                                  void *buf, size_t cap, size_t *len, dlc_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: cannot stat %s: %s", fs->base.name, path,
                        strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s: %s is not a regular file (mode %06o): refused", fs->base.name, path,
                        (unsigned)sb.st_mode);
    size_t klen = strlen(key);
    size_t size = (size_t)sb.st_size;
    if (size < HEADER_LEN + klen || size - HEADER_LEN - klen > DLC_STORE_MAX_VALUE)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: %s is not a dlcoll store file (size %zu)",
                        fs->base.name, path, size);
    char *data = malloc(size);
    if (data == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "%s: out of memory reading %s", fs->base.name,
                        path);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EAGAIN too: a regular file never gives it */
        got += (size_t)n;
    }
    uint32_t stored_klen = 0;
    for (int i = 0; i < 4 && got >= HEADER_LEN; i++)
        stored_klen |= (uint32_t)(unsigned char)data[4 + i] << (8 * i);
    dlcoll_status_t rc = DLCOLL_SUCCESS;
    if (got != size || memcmp(data, FILE_MAGIC, 4) != 0 || stored_klen != klen ||
        memcmp(data + HEADER_LEN, key, klen) != 0) {
        rc = dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                      "%s: %s does not hold key '%s' (foreign or damaged file)", fs->base.name,
                      path, key);
    } else {
        *len = size - HEADER_LEN - klen;
        if (*len > 0 && cap > 0)
            memcpy(buf, data + HEADER_LEN + klen, *len < cap ? *len : cap);
    }
    free(data);
    return rc;
}

static dlcoll_status_t file_get(dlc_store *base, const char *key, void *buf, size_t cap,
                                size_t *len, int timeout_ms, dlc_err *err)
{
    file_store *fs = (file_store *)base;
    char name[NAME_MAX_ESCAPED * 2], path[sizeof fs->dir + sizeof name + 2];
    key_to_name(key, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", fs->dir, name);

    int64_t deadline = dlc_store_now_ms() + timeout_ms;
    int nap_ms = 1;
    for (;;) {
        /* O_NONBLOCK: opening a FIFO does not wait for a writer (read_value refuses it). */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 && errno == ELOOP)
            return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                            "%s: get '%s': %s is a symbolic link: refused", base->name, key, path);
        if (fd >= 0) {
            dlcoll_status_t rc = read_value(fs, fd, path, key, buf, cap, len, err);
            close(fd);
            return rc;
        }
        if (errno != ENOENT)
            return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: get '%s': cannot open %s: %s",
                            base->name, key, path, strerror(errno));
        int64_t left = deadline - dlc_store_now_ms();
        if (left <= 0)
            return dlc_fail(err, DLCOLL_ERR_TIMEOUT, "%s: key '%s' did not appear within %d ms",
                            base->name, key, timeout_ms);
        dlc_store_sleep_ms(nap_ms < left ? nap_ms : (int)left);
        if (nap_ms < 20)
            nap_ms *= 2;
    }
}

static void file_close(dlc_store *base)
{
    free(base);
}

static const dlc_store_ops file_ops = {file_set, file_get, file_close, NULL};

/* mkdir -p: create every missing component of path. */
static int make_dirs(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int rc = mkdir(path, 0700);
        int e = errno;
        *p = saved;
        if (rc != 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
        if (saved == '\0')
            return 0;
    }
}

dlcoll_status_t dlc_store_file_open(const char *dir, int timeout_ms, dlc_store **out, dlc_err *err)
{
    *out = NULL;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    if (dir[0] != '/' || dlen >= sizeof((file_store *)0)->dir)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "file store: '%s' is not an absolute path of "
                        "at most 1023 characters",
                        dir);
    file_store *fs = calloc(1, sizeof *fs);
    if (fs == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "file store %s: out of memory", dir);
    memcpy(fs->dir, dir, dlen);
    fs->dir[dlen] = '\0';
    fs->base.ops = &file_ops;
    fs->base.timeout_ms = timeout_ms;
    snprintf(fs->base.name, sizeof fs->base.name, "file store file://%.260s", fs->dir);

    char tmp[sizeof fs->dir];
    memcpy(tmp, fs->dir, sizeof tmp);
    struct stat sb;
    const char *why = NULL;
    if (make_dirs(tmp) != 0 || stat(fs->dir, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode))
        why = "not a directory";
    else if (sb.st_uid != geteuid())
        why = "it belongs to another user (refused: its owner could forge every key)";
    else if ((sb.st_mode & 022) != 0)
        why = "group or others may write to it (refused: chmod go-w, or use a new directory)";
    else if (access(fs->dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why != NULL) {
        dlcoll_status_t rc = dlc_fail(err, DLCOLL_ERR_BOOTSTRAP, "%s: cannot use directory %s: %s",
                                      fs->base.name, fs->dir, why);
        free(fs);
        return rc;
    }
    *out = &fs->base;
    return DLCOLL_SUCCESS;
}
