/*
 * log.c -- leveled logging to stderr or to the host's log callback.
 *
 * Each line is built completely in a local buffer and then handed over in one
 * piece: to the callback as one string, or to stderr with one write() call, so
 * that lines of ranks sharing a terminal do not interleave mid-line.
 */
#include "plugin/util/config.h"
#include "plugin/util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DLC_LOG_LINE_MAX 2048

int dlc_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"NONE", DLCOLL_LOG_NONE},
        {"WARN", DLCOLL_LOG_WARN},
        {"INFO", DLCOLL_LOG_INFO},
        {"TRACE", DLCOLL_LOG_TRACE},
    };
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
        return s[0] - '0';
    return -1;
}

void dlc_logger_set_rank(dlc_logger *lg, int rank)
{
    char host[64];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown-host");
    host[sizeof host - 1] = '\0';
    char rank_text[16];
    if (rank < 0)
        snprintf(rank_text, sizeof rank_text, "?");
    else
        snprintf(rank_text, sizeof rank_text, "%d", rank);
    snprintf(lg->prefix, sizeof lg->prefix, "dlcoll %s:%ld rank %s: ", host, (long)getpid(),
             rank_text);
}

void dlc_logger_init(dlc_logger *lg, dlcoll_log_fn fn, void *ctx, int level, int rank)
{
    lg->fn = fn;
    lg->ctx = ctx;
    dlc_logger_set_rank(lg, rank);

    const char *bad_env = NULL;
    if (level < 0) {
        const char *env = dlc_env_log_level();
        level = DLCOLL_LOG_WARN;
        if (env != NULL && env[0] != '\0') {
            int parsed = dlc_log_level_parse(env);
            if (parsed >= 0)
                level = parsed;
            else
                bad_env = env;
        }
    } else if (level > DLCOLL_LOG_TRACE) {
        level = DLCOLL_LOG_TRACE;
    }
    lg->level = level;
    if (bad_env != NULL)
        dlc_log(lg, DLCOLL_LOG_WARN,
                "DLCOLL_DEBUG='%s' is not one of NONE, WARN, INFO, TRACE or 0-3; using WARN",
                bad_env);
}

/* Write all of buf to fd, retrying on EINTR and short writes. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        buf += n;
        len -= (size_t)n;
    }
}

void dlc_log(const dlc_logger *lg, dlcoll_log_level_t level, const char *fmt, ...)
{
    int max_level = lg ? lg->level : DLCOLL_LOG_WARN;
    if (level == DLCOLL_LOG_NONE || (int)level > max_level)
        return;

    char line[DLC_LOG_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s", lg ? lg->prefix : "dlcoll: ");
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    used += (size_t)m;
    if (used >= sizeof line - 1) {
        /* Truncated: mark it, keeping room for the newline added below. */
        used = sizeof line - 2;
        memcpy(line + used - 3, "...", 3);
        line[used] = '\0';
    }

    if (lg && lg->fn) {
        lg->fn(lg->ctx, level, line);
        return;
    }
    line[used] = '\n';
    write_all(STDERR_FILENO, line, used + 1);
}
