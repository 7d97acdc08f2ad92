/*
 * job_key.h -- the job secret's forms (docs/security.md, "The job secret").
 *
 * config.c reads DLCOLL_JOB_KEY and DLCOLL_JOB_KEY_FILE and hands their values
 * here.  A key is 16..255 bytes of text; the literal "insecure" is the
 * explicit opt-out of authentication.  A key file must be a regular file owned
 * by this user with no permission bits for group or others; one trailing
 * newline is dropped.
 */
#ifndef DLC_JOB_KEY_H
#define DLC_JOB_KEY_H

#include <stddef.h>

#include "plugin/util/error.h"

#define DLC_JOB_KEY_MIN 16
#define DLC_JOB_KEY_MAX 255
#define DLC_JOB_KEY_INSECURE "insecure"

/* Copy the key text of variable `var` into out[cap]; *len gets its length,
 * *insecure 1 for the opt-out (then *len is 0). */
dlcoll_status_t dlc_job_key_from_text(const char *var, const char *text, unsigned char *out,
                                      size_t cap, size_t *len, int *insecure, dlc_err *err);

/* The same from the file `path` named by variable `var`, after its checks. */
dlcoll_status_t dlc_job_key_from_file(const char *var, const char *path, unsigned char *out,
                                      size_t cap, size_t *len, int *insecure, dlc_err *err);

#endif
