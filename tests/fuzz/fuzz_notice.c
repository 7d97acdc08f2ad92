/*
 * fuzz_notice.c -- libFuzzer: decoding a received NOTICE (core/notice_check.c).
 * The input's first byte picks the sender the transport names, the rest is
 * the message.  An accepted notice must have the exact size, an origin equal
 * to a known sender, the origin's key, and a terminated message.
 */
#include <stdint.h>
#include <string.h>

#include "plugin/core/notice_check.h"
#include "plugin/transport/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    if (len < 1)
        return 0;
    dlc_host_rec hosts[4];
    memset(hosts, 0, sizeof hosts);
    for (int r = 0; r < 4; r++) {
        hosts[r].notice_key[0] = 0x0101010101010101u * (unsigned)(r + 1);
        hosts[r].notice_key[1] = ~hosts[r].notice_key[0];
    }
    int src = (int)(buf[0] % 7) - 2; /* DLC_SRC_STRANGER, DLC_SRC_UNKNOWN, 0..4 */
    dlc_notice_msg out;
    char why[256];
    int ok = dlc_notice_decode(buf + 1, len - 1, src, hosts, 4, 0, &out, why, sizeof why);
    if (ok) {
        if (len - 1 != sizeof out || out.origin < 1 || out.origin >= 4)
            __builtin_trap();
        if (src >= 0 && out.origin != src)
            __builtin_trap();
        if (memcmp(out.key, hosts[out.origin].notice_key, sizeof out.key) != 0)
            __builtin_trap();
        if (strnlen(out.message, sizeof out.message) == sizeof out.message)
            __builtin_trap();
    } else if (why[0] == '\0') {
        __builtin_trap();
    }
    return 0;
}
