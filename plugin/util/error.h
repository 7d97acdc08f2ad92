/*
 * error.h -- status codes, error messages and the per-thread last error.
 *
 * Every internal function that can fail takes a dlc_err * and returns a
 * dlcoll_status_t; on failure it fills err->msg with the cause (naming the
 * peer where there is one) through dlc_fail().  The layer that knows the rank
 * and the operation (comm.c / entry.c) prefixes "rank R: <op> #<seq>: ".
 */
#ifndef DLC_ERROR_H
#define DLC_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include "abi/dlcoll.h"

#define DLC_ERRMSG_MAX 512

typedef struct dlc_err {
    dlcoll_status_t status;
    char msg[DLC_ERRMSG_MAX];
} dlc_err;

/* Record status + formatted message in err (err may be NULL); return status. */
dlcoll_status_t dlc_fail(dlc_err *err, dlcoll_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix err->msg with formatted text (e.g. "rank 2: allgather #17: "). */
void dlc_err_prefix(dlc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset to DLCOLL_SUCCESS / empty message. */
void dlc_err_clear(dlc_err *err);

/* Static text for a status code (the ABI's status_string). */
const char *dlc_status_string(dlcoll_status_t status);

/* The calling thread's last error (for last_error(NULL)). */
void dlc_thread_error_set(const char *msg);
const char *dlc_thread_error(void);

#endif
