/*
 * log.h -- leveled logging to stderr or the host's log callback.
 *
 * Every line is prefixed "dlcoll <host>:<pid> rank <r>: ".  The level comes
 * from the config, else DLCOLL_DEBUG=WARN|INFO|TRACE (default WARN).
 */
#ifndef DLC_LOG_H
#define DLC_LOG_H

#include "abi/dlcoll.h"

typedef struct dlc_logger {
    dlcoll_log_fn fn; /* NULL: stderr */
    void *ctx;
    int level; /* dlcoll_log_level_t */
    char prefix[128];
} dlc_logger;

/* level < 0: read DLCOLL_DEBUG. rank < 0 prints "rank ?". */
void dlc_logger_init(dlc_logger *lg, dlcoll_log_fn fn, void *ctx, int level, int rank);
void dlc_logger_set_rank(dlc_logger *lg, int rank);
/* Parse "WARN" / "INFO" / "TRACE" / "NONE" (case-insensitive) or a digit; -1 if unknown. */
int dlc_log_level_parse(const char *s);
void dlc_log(const dlc_logger *lg, dlcoll_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DLC_WARN(lg, ...) dlc_log((lg), DLCOLL_LOG_WARN, __VA_ARGS__)
#define DLC_INFO(lg, ...) dlc_log((lg), DLCOLL_LOG_INFO, __VA_ARGS__)
#define DLC_TRACE(lg, ...) dlc_log((lg), DLCOLL_LOG_TRACE, __VA_ARGS__)

#endif
