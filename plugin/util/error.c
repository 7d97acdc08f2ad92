/*
 * error.c -- status texts, dlc_err helpers and the per-thread last error.
 */
#include "plugin/util/error.h"

#include <stdio.h>
#include <string.h>

dlcoll_status_t dlc_fail(dlc_err *err, dlcoll_status_t status, const char *fmt, ...)
{
    if (err == NULL)
        return status;
    /* Format into a scratch buffer first: the arguments may point into
     * err->msg itself (e.g. re-wrapping a lower layer's message). */
    char tmp[DLC_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    err->status = status;
    memcpy(err->msg, tmp, sizeof tmp);
    return status;
}

void dlc_err_prefix(dlc_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[DLC_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);

    /* Shift the message right by the prefix's length (truncating its end),
     * then put the prefix in front. */
    size_t plen = strlen(prefix);
    size_t mlen = strnlen(err->msg, DLC_ERRMSG_MAX - 1);
    if (mlen > DLC_ERRMSG_MAX - 1 - plen)
        mlen = DLC_ERRMSG_MAX - 1 - plen;
    memmove(err->msg + plen, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + mlen] = '\0';
}

void dlc_err_clear(dlc_err *err)
{
    if (err == NULL)
        return;
    err->status = DLCOLL_SUCCESS;
    err->msg[0] = '\0';
}

const char *dlc_status_string(dlcoll_status_t status)
{
    switch (status) {
    case DLCOLL_SUCCESS: return "success";
    case DLCOLL_IN_PROGRESS: return "operation in progress";
    case DLCOLL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case DLCOLL_ERR_UNSUPPORTED:
        return "unsupported (valid but not implemented for this device, dtype or layout)";
    case DLCOLL_ERR_MISMATCH: return "ranks disagree (size, dtype or operation order mismatch)";
    case DLCOLL_ERR_TIMEOUT: return "timed out";
    case DLCOLL_ERR_PEER_FAILURE: return "a peer failed or its connection broke";
    case DLCOLL_ERR_ABORTED: return "aborted";
    case DLCOLL_ERR_BOOTSTRAP: return "bootstrap failed (rendezvous, store or init_method)";
    case DLCOLL_ERR_TRANSPORT: return "transport error (libfabric)";
    case DLCOLL_ERR_SYSTEM: return "system error (memory, threads or sockets)";
    case DLCOLL_ERR_VERSION: return "version not understood (ABI or config)";
    case DLCOLL_ERR_INTERNAL: return "internal error in dlcoll (please report it)";
    }
    /* The ABI promises static text, so unknown codes use a small per-thread
     * buffer: each thread keeps its own text until its next unknown code. */
    static _Thread_local char unknown[32];
    snprintf(unknown, sizeof unknown, "unknown status %d", (int)status);
    return unknown;
}

/* Larger than one dlc_err message so that a caller's extra prefix still fits. */
static _Thread_local char thread_error[2 * DLC_ERRMSG_MAX];

void dlc_thread_error_set(const char *msg)
{
    snprintf(thread_error, sizeof thread_error, "%s", msg ? msg : "");
}

const char *dlc_thread_error(void)
{
    return thread_error;
}
