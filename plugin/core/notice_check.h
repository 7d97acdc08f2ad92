/*
 * notice_check.h -- whether a received NOTICE may be believed: its size, its
 * sender and its claimed origin (the rules of docs/security.md "Notices").
 *
 * Pure functions of the bytes and of what the caller knows (the sender the
 * transport named, the world's size, a communicator's members), so that the
 * unit tests and tests/fuzz/fuzz_notice.c drive them directly.
 */
#ifndef DLC_NOTICE_CHECK_H
#define DLC_NOTICE_CHECK_H

#include <stddef.h>

#include "plugin/core/world.h"

/* Decode a received notice of len bytes from buf into *out.  src is the
 * sender's world rank as the transport named it (DLC_SRC_UNKNOWN when the
 * provider cannot name sources, DLC_SRC_STRANGER for an endpoint outside
 * the world).  Accepted (1) when the size is exactly a dlc_notice_msg, the
 * kind is known, the origin is a rank of the world other than self, and
 * the origin equals src whenever src is known; out->message is then
 * NUL-terminated.  Otherwise 0, with the reason in why (naming the claimed
 * and the actual sender). */
int dlc_notice_decode(const void *buf, size_t len, int src, const dlc_host_rec *hosts,
                      int world_size, int self, dlc_notice_msg *out, char *why, size_t why_cap);

/* Whether world rank origin is one of members[0..n). */
int dlc_notice_from_member(const int *members, int n, int origin);

#endif
