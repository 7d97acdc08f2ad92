/*
 * fuzz_store_proto.c -- libFuzzer harness for the tcp:// store's parsers
 * (plugin/bootstrap/store_tcp_proto.c) and its key-value table
 * (store_tcp_table.c), the code that reads what a stranger sends rank 0.
 *
 * The input is a byte stream read the way the server reads a connection:
 * a hello, a proof, then requests (header, key, value), each request
 * applied to a table with small caps (so the refusals run too); and, from
 * the same bytes, reply and verdict headers parsed the way a client parses
 * them.  Built and run by scripts/test-fuzz.sh (docs/testing.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "plugin/bootstrap/store_tcp_proto.h"
#include "plugin/bootstrap/store_tcp_table.h"

static void client_side(const uint8_t *p, size_t n)
{
    while (n >= DLC_TCP_REPLY_HDR_LEN) {
        dlc_tcp_reply r;
        uint32_t why;
        const char *bad = dlc_tcp_parse_reply(p, (p[0] & 1) ? DLC_TCP_OP_SET : DLC_TCP_OP_GET, &r);
        if (bad == NULL && r.status == DLC_TCP_ST_OK && r.len > DLC_STORE_MAX_VALUE)
            __builtin_trap(); /* a value the client would read past its limit */
        if (bad == NULL && r.status == DLC_TCP_ST_REFUSED)
            (void)dlc_tcp_why(r.len);
        if (dlc_tcp_parse_verdict(p, &why) == NULL && why >= DLC_TCP_WHY_COUNT)
            __builtin_trap();
        p += 4, n -= 4;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    client_side(data, size);
    const uint8_t *p = data;
    size_t n = size;
    if (n < DLC_TCP_HELLO_LEN + DLC_TCP_PROOF_LEN)
        return 0;
    if (dlc_get_u32(p) != DLC_TCP_MAGIC || dlc_get_u32(p + 4) != DLC_TCP_VERSION)
        return 0;
    p += DLC_TCP_HELLO_LEN + DLC_TCP_PROOF_LEN;
    n -= DLC_TCP_HELLO_LEN + DLC_TCP_PROOF_LEN;

    dlc_kv_table t;
    if (dlc_kv_init(&t, 42, 8, 4096) != 0)
        return 0;
    dlc_blob *held[4] = {0}; /* replies still referencing values */
    unsigned nheld = 0;
    while (n >= DLC_TCP_REQ_HDR_LEN) {
        dlc_tcp_request rq;
        const char *bad = dlc_tcp_parse_request(p, &rq);
        p += DLC_TCP_REQ_HDR_LEN, n -= DLC_TCP_REQ_HDR_LEN;
        if (bad)
            break; /* the server closes the connection */
        /* Small streams: cut the declared sizes to what the input holds. */
        size_t klen = rq.key_len;
        if (klen > n)
            break;
        if (!dlc_tcp_key_ok(p, klen))
            break;
        char key[DLC_STORE_MAX_KEY + 1];
        memcpy(key, p, klen);
        key[klen] = '\0';
        p += klen, n -= klen;
        if (rq.op == DLC_TCP_OP_GET) {
            dlc_blob *v = dlc_kv_get(&t, key);
            if (v && nheld < 4)
                held[nheld++] = dlc_blob_ref(v);
            continue;
        }
        uint32_t vlen = rq.arg;
        if (dlc_kv_reserve(&t, vlen) != 0)
            break; /* refused: full */
        dlc_blob *b = dlc_blob_new(&t, vlen, 16);
        if (b == NULL) {
            dlc_kv_unreserve(&t, vlen);
            break;
        }
        size_t take = vlen < n ? vlen : n;
        dlc_blob *g = dlc_blob_grow(b, vlen);
        if (g == NULL) {
            dlc_blob_unref(b);
            break;
        }
        b = g;
        memcpy(b->data, p, take);
        memset(b->data + take, 0, vlen - take);
        p += take, n -= take;
        int write_once = strncmp(key, DLC_TCP_WRITE_ONCE_PREFIX, 7) == 0;
        if (dlc_kv_put(&t, key, klen, b, write_once) < 0)
            break;
    }
    for (unsigned i = 0; i < nheld; i++)
        dlc_blob_unref(held[i]);
    dlc_kv_free(&t);
    return 0;
}
