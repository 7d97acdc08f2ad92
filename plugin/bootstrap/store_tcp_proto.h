/*
 * store_tcp_proto.h -- private: the wire protocol of the TCP store, shared by
 * the client (store_tcp.c) and the server (store_tcp_server.c).
 *
 * All integers are 32-bit big-endian.  One request at a time per connection.
 *
 *   hello        client -> server   magic, version                  (8 bytes)
 *   hello reply  server -> client   magic, server's version         (8 bytes)
 *                A server that does not speak the client's version answers
 *                with its own and closes the connection.
 *   request      op, key_len, arg, key bytes [, value bytes]        (12 + ...)
 *                SET: arg = value length; the value follows the key.
 *                GET: arg = timeout in ms; the server answers when the key
 *                     exists or when the timeout passes (0: answer at once).
 *   reply        reply magic, status, value_len [, value bytes]     (12 + ...)
 *                status 0: done (GET: value follows); 1: GET timed out.
 *
 * Limits (enforced by both sides): 1 <= key_len <= 1024, no NUL in a key,
 * value_len <= 16 MiB.  The server closes a connection that breaks them or
 * sends anything else it does not understand.
 */
#ifndef DLC_STORE_TCP_PROTO_H
#define DLC_STORE_TCP_PROTO_H

#include <stdint.h>
#include <stdio.h>

#include "plugin/bootstrap/store_impl.h"

#define DLC_TCP_MAGIC 0x444c5354u       /* "DLST" */
#define DLC_TCP_REPLY_MAGIC 0x444c5352u /* "DLSR" */
#define DLC_TCP_VERSION 1u

#define DLC_TCP_HELLO_LEN 8
#define DLC_TCP_REQ_HDR_LEN 12
#define DLC_TCP_REPLY_HDR_LEN 12

enum { DLC_TCP_OP_SET = 1, DLC_TCP_OP_GET = 2 };
enum { DLC_TCP_ST_OK = 0, DLC_TCP_ST_TIMEOUT = 1 };

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

/* Bind and listen on every address of host:port, then start the thread.
 * "cannot listen on tcp://h:p: <cause>" (DLCOLL_ERR_BOOTSTRAP) on failure. */
dlcoll_status_t dlc_tcp_server_start(const char *host, int port, dlc_tcp_server **out,
                                     dlc_err *err);

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
