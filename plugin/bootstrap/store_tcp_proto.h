/*
 * store_tcp_proto.h -- private: the wire protocol of the TCP store, shared by
 * the client (store_tcp.c) and the server (store_tcp_server.c).
 *
 * All integers are 32-bit big-endian.  One request at a time per connection.
 * Version 2 authenticates every connection (store_auth.h, docs/security.md):
 *
 *   hello        client -> server   magic, version, flags, client nonce    (44 bytes)
 *                flags bit 0: the client holds a job key.
 *   hello reply  server -> client   magic, version, flags, server nonce,
 *                                   server proof                           (76 bytes)
 *                flags bit 0: the server holds a job key; the proof is
 *                HMAC(key, server label || both nonces), zeros without a key.
 *                A server of another version answers its magic and version
 *                (8 bytes) and closes the connection.
 *                A server with no room answers, instead of a hello reply or a
 *                verdict, magic and DLC_TCP_BUSY (8 bytes) and closes: the
 *                client connects again until its timeout.
 *   proof        client -> server   client proof                           (32 bytes)
 *   verdict      server -> client   reply magic, 0 or DLC_TCP_ST_REFUSED,
 *                                   reason (DLC_TCP_WHY_*)                 (12 bytes)
 *                After a refusal the server closes the connection.
 *   request      op, key_len, arg, key bytes [, value bytes]        (12 + ...)
 *                SET: arg = value length; the value follows the key.
 *                GET: arg = timeout in ms (the server caps it at its own
 *                     timeout); the server answers when the key exists or
 *                     when the timeout passes (0: answer at once).
 *   reply        reply magic, status, value_len [, value bytes]     (12 + ...)
 *                status 0: done (GET: value follows); 1: GET timed out;
 *                2: SET refused, value_len holds the reason (DLC_TCP_WHY_*):
 *                a write-once key holds another value, or the store is full.
 *                The server closes the connection after a refused SET.
 *
 * Limits (enforced by both sides): 1 <= key_len <= 1024, no NUL in a key,
 * value_len <= 16 MiB.  The server closes a connection that breaks them or
 * sends anything else it does not understand.  Keys under "dlcoll/" (every
 * key dlcoll writes) are write-once: a second SET of the same value is
 * accepted, of another value refused.
 */
#ifndef DLC_STORE_TCP_PROTO_H
#define DLC_STORE_TCP_PROTO_H

#include <stdint.h>
#include <stdio.h>

#include "plugin/bootstrap/store_auth.h"
#include "plugin/bootstrap/store_impl.h"
#include "plugin/util/log.h"

#define DLC_TCP_MAGIC 0x444c5354u       /* "DLST" */
#define DLC_TCP_REPLY_MAGIC 0x444c5352u /* "DLSR" */
#define DLC_TCP_VERSION 2u

#define DLC_TCP_HELLO_HEAD_LEN 8 /* magic, version: what every version sends first */
#define DLC_TCP_HELLO_LEN (12 + DLC_AUTH_NONCE_LEN)
#define DLC_TCP_HELLO_REPLY_LEN (12 + DLC_AUTH_NONCE_LEN + DLC_AUTH_PROOF_LEN)
#define DLC_TCP_PROOF_LEN DLC_AUTH_PROOF_LEN
#define DLC_TCP_REQ_HDR_LEN 12
#define DLC_TCP_REPLY_HDR_LEN 12
#define DLC_TCP_FLAG_KEY 1u
#define DLC_TCP_BUSY 0xffffffffu /* in place of a version: no room now, connect again */
#define DLC_TCP_WRITE_ONCE_PREFIX "dlcoll/"

enum { DLC_TCP_OP_SET = 1, DLC_TCP_OP_GET = 2 };
enum { DLC_TCP_ST_OK = 0, DLC_TCP_ST_TIMEOUT = 1, DLC_TCP_ST_REFUSED = 2 };
/* Why a connection or a SET was refused (the reply's third field). */
enum {
    DLC_TCP_WHY_BAD_PROOF = 1,  /* the client's proof is not this job's key's */
    DLC_TCP_WHY_NEED_KEY = 2,   /* the server holds a key, the client none */
    DLC_TCP_WHY_NO_KEY = 3,     /* the client holds a key, the server none */
    DLC_TCP_WHY_WRITE_ONCE = 4, /* the key holds another value */
    DLC_TCP_WHY_FULL = 5,       /* DLCOLL_STORE_MAX_KEYS or _MAX_BYTES reached */
    DLC_TCP_WHY_COUNT
};

/* Text for a DLC_TCP_WHY_* code. */
const char *dlc_tcp_why(uint32_t why);

/* A request header, checked (store_tcp_proto.c). */
typedef struct dlc_tcp_request {
    uint32_t op, key_len, arg;
} dlc_tcp_request;

/* Parse and check a request header: NULL when valid, else why not. */
const char *dlc_tcp_parse_request(const unsigned char hdr[DLC_TCP_REQ_HDR_LEN],
                                  dlc_tcp_request *out);

/* A key of len bytes is valid: no NUL inside. */
int dlc_tcp_key_ok(const unsigned char *key, size_t len);

/* A reply header, checked against the request it answers (op). */
typedef struct dlc_tcp_reply {
    uint32_t status, len; /* len: value bytes that follow, or the reason of a refusal */
} dlc_tcp_reply;

/* NULL when hdr is a valid reply to op (DLC_TCP_OP_*), else why not. */
const char *dlc_tcp_parse_reply(const unsigned char hdr[DLC_TCP_REPLY_HDR_LEN], uint32_t op,
                                dlc_tcp_reply *out);

/* NULL when hdr is a valid verdict (*refused_why 0: accepted), else why not. */
const char *dlc_tcp_parse_verdict(const unsigned char hdr[DLC_TCP_REPLY_HDR_LEN],
                                  uint32_t *refused_why);

static inline void dlc_put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t dlc_get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* The server, run by rank 0 in its own thread (store_tcp_server.c). */
typedef struct dlc_tcp_server dlc_tcp_server;

/* What the server enforces (docs/security.md, "The store"). */
typedef struct dlc_tcp_server_opts {
    const unsigned char *key; /* the job key (copied), or NULL: no authentication */
    size_t key_len;
    long long max_keys;  /* keys held */
    long long max_bytes; /* key and value bytes held, and SET bodies on their way */
    int max_conns;       /* connections, authenticated or not */
    int idle_ms;         /* a handshake must end, a partial frame progress, within this */
    int timeout_ms;      /* the longest GET wait */
    dlc_logger lg;       /* refusals; from the server thread only when lg.fn is NULL */
} dlc_tcp_server_opts;

/* Bind and listen on every address of host:port, then start the thread.
 * "cannot listen on tcp://h:p: <cause>" (DLCOLL_ERR_BOOTSTRAP) on failure. */
dlcoll_status_t dlc_tcp_server_start(const char *host, int port, const dlc_tcp_server_opts *opts,
                                     dlc_tcp_server **out, dlc_err *err);

/* Log the refusals queued for a host's log callback (called by rank 0's
 * client, inside a dlcoll call), and write "N refused, the last: ..." into
 * buf ("" when none). */
void dlc_tcp_server_report(dlc_tcp_server *srv, const dlc_logger *lg, char *buf, size_t cap);

/* Stop the thread, close every connection and free everything. */
void dlc_tcp_server_stop(dlc_tcp_server *srv);

/* "tcp://host:port", with brackets around an IPv6 address. */
static inline void dlc_tcp_format_addr(char *buf, size_t cap, const char *host, int port)
{
    int v6 = 0;
    for (const char *p = host; *p; p++)
        v6 |= *p == ':';
    snprintf(buf, cap, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", host, port);
}

#endif
