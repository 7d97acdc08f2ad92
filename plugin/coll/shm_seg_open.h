/*
 * shm_seg_open.h -- open a communicator's shared segment so that no other
 * user's object is ever used: the creator makes it with O_CREAT | O_EXCL
 * and mode 0600, the other members open it without O_CREAT, and everyone
 * checks with fstat that it belongs to this user and has no group or other
 * permission bits before it is mapped (docs/security.md "Shared segments").
 */
#ifndef DLC_SHM_SEG_OPEN_H
#define DLC_SHM_SEG_OPEN_H

#include <stddef.h>
#include <sys/stat.h>

#include "plugin/util/error.h"

/* Open the object `name` (shm_open's, "/dlcoll-...") of `size` bytes.
 * creator: create it (a name that exists already is refused), size and
 * allocate it.  Otherwise open the creator's: DLCOLL_IN_PROGRESS while it
 * does not exist yet or is not sized yet (call again).  DLCOLL_SUCCESS with
 * *fd open; an error (naming the path, its owner and mode) when the object
 * is someone else's, is open to others, or has another size. */
dlcoll_status_t dlc_shm_seg_open(const char *name, size_t size, int creator, int *fd, dlc_err *err);

/* Whether st (an fstat of the object) may be used by this process: owned
 * by the effective user, no group or other permission bits.  0 with why
 * set when not. */
int dlc_shm_seg_owner_ok(const struct stat *st, char *why, size_t why_cap);

#endif
