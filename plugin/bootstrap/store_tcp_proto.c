/*
 * store_tcp_proto.c -- the TCP store's frame checks, shared by the client and
 * the server (store_tcp_proto.h) and fuzzed by tests/fuzz/fuzz_store_proto.c.
 */
#include "plugin/bootstrap/store_tcp_proto.h"

#include <string.h>

static const char *const why_text[DLC_TCP_WHY_COUNT] = {
    [DLC_TCP_WHY_BAD_PROOF] = "wrong proof (not this job's key)",
    [DLC_TCP_WHY_NEED_KEY] = "no job key (the store requires one)",
    [DLC_TCP_WHY_NO_KEY] = "a job key, but the store has none",
    [DLC_TCP_WHY_WRITE_ONCE] = "the key is write-once and holds another value",
    [DLC_TCP_WHY_FULL] = "the store is full (DLCOLL_STORE_MAX_KEYS / DLCOLL_STORE_MAX_BYTES)",
};

const char *dlc_tcp_why(uint32_t why)
{
    return why > 0 && why < DLC_TCP_WHY_COUNT ? why_text[why] : "unknown reason";
}

const char *dlc_tcp_parse_request(const unsigned char hdr[DLC_TCP_REQ_HDR_LEN],
                                  dlc_tcp_request *out)
{
    out->op = dlc_get_u32(hdr);
    out->key_len = dlc_get_u32(hdr + 4);
    out->arg = dlc_get_u32(hdr + 8);
    if (out->op != DLC_TCP_OP_SET && out->op != DLC_TCP_OP_GET)
        return "unknown operation";
    if (out->key_len == 0)
        return "empty key";
    if (out->key_len > DLC_STORE_MAX_KEY)
        return "key longer than 1024 bytes";
    if (out->op == DLC_TCP_OP_SET && out->arg > DLC_STORE_MAX_VALUE)
        return "value larger than 16 MiB";
    return NULL;
}

int dlc_tcp_key_ok(const unsigned char *key, size_t len)
{
    return len > 0 && len <= DLC_STORE_MAX_KEY && memchr(key, '\0', len) == NULL;
}

const char *dlc_tcp_parse_reply(const unsigned char hdr[DLC_TCP_REPLY_HDR_LEN], uint32_t op,
                                dlc_tcp_reply *out)
{
    out->status = dlc_get_u32(hdr + 4);
    out->len = dlc_get_u32(hdr + 8);
    if (dlc_get_u32(hdr) != DLC_TCP_REPLY_MAGIC)
        return "bad magic";
    if (out->status == DLC_TCP_ST_REFUSED)
        return op == DLC_TCP_OP_SET && out->len > 0 && out->len < DLC_TCP_WHY_COUNT ? NULL
                                                                                    : "bad refusal";
    if (op == DLC_TCP_OP_SET)
        return out->status == DLC_TCP_ST_OK && out->len == 0 ? NULL : "bad SET reply";
    if (out->status == DLC_TCP_ST_TIMEOUT)
        return out->len == 0 ? NULL : "a timeout with a value";
    if (out->status != DLC_TCP_ST_OK)
        return "unknown status";
    return out->len <= DLC_STORE_MAX_VALUE ? NULL : "value larger than 16 MiB";
}

const char *dlc_tcp_parse_verdict(const unsigned char hdr[DLC_TCP_REPLY_HDR_LEN],
                                  uint32_t *refused_why)
{
    uint32_t status = dlc_get_u32(hdr + 4), why = dlc_get_u32(hdr + 8);
    *refused_why = 0;
    if (dlc_get_u32(hdr) != DLC_TCP_REPLY_MAGIC)
        return "bad magic";
    if (status == DLC_TCP_ST_OK)
        return why == 0 ? NULL : "bad verdict";
    if (status != DLC_TCP_ST_REFUSED || why == 0 || why >= DLC_TCP_WHY_COUNT)
        return "bad verdict";
    *refused_why = why;
    return NULL;
}
