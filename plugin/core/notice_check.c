/*
 * notice_check.c -- the checks a received NOTICE passes before it is
 * believed (notice_check.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "plugin/core/notice_check.h"
#include "plugin/transport/transport.h"

static void describe_src(int src, int self, char *buf, size_t cap)
{
    if (src == DLC_SRC_STRANGER)
        snprintf(buf, cap, "an endpoint that is not a rank of this world (a stranger)");
    else if (src == self)
        snprintf(buf, cap, "an endpoint the provider names as this rank itself (a stranger)");
    else if (src < 0)
        snprintf(buf, cap, "an unnamed sender");
    else
        snprintf(buf, cap, "rank %d", src);
}

/* Equal keys, in time independent of where they differ. */
static int same_key(const uint64_t a[2], const uint64_t b[2])
{
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
}

int dlc_notice_decode(const void *buf, size_t len, int src, const dlc_host_rec *hosts,
                      int world_size, int self, dlc_notice_msg *out, char *why, size_t why_cap)
{
    char from[64];
    describe_src(src, self, from, sizeof from);
    if (len != sizeof *out) {
        snprintf(why, why_cap, "a notice of %zu bytes (not %zu) from %s", len, sizeof *out, from);
        return 0;
    }
    memcpy(out, buf, sizeof *out);
    out->message[sizeof out->message - 1] = '\0';
    if (src == DLC_SRC_STRANGER || (src >= 0 && src == self)) {
        snprintf(why, why_cap, "a notice claiming to be from rank %" PRId32 " came from %s",
                 out->origin, from);
        return 0;
    }
    if (out->origin < 0 || out->origin >= world_size || out->origin == self) {
        snprintf(why, why_cap,
                 "a notice claiming to be from rank %" PRId32 " (world of %d) came from %s",
                 out->origin, world_size, from);
        return 0;
    }
    if (src >= 0 && out->origin != src) {
        snprintf(why, why_cap, "a notice claiming to be from rank %" PRId32 " came from %s",
                 out->origin, from);
        return 0;
    }
    if (!same_key(out->key, hosts[out->origin].notice_key)) {
        snprintf(why, why_cap,
                 "a notice claiming to be from rank %" PRId32 " came from %s without that rank's "
                 "key (a stranger's)",
                 out->origin, from);
        return 0;
    }
    if (out->kind != DLC_NOTICE_FAILURE && out->kind != DLC_NOTICE_QUERY &&
        out->kind != DLC_NOTICE_ANSWER) {
        snprintf(why, why_cap, "a notice of unknown kind %" PRIu32 " from %s", out->kind, from);
        return 0;
    }
    return 1;
}

int dlc_notice_from_member(const int *members, int n, int origin)
{
    for (int g = 0; g < n; g++)
        if (members[g] == origin)
            return 1;
    return 0;
}
