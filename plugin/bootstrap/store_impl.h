/*
 * store_impl.h -- private: the store vtable shared by store.c and the three
 * implementations (store_host.c, store_tcp.c, store_file.c).
 *
 * store.c checks the arguments (key length, value size, buffer) before
 * calling an implementation, and turns a negative timeout into the store's
 * default, so implementations see only valid requests and timeouts >= 0.
 */
#ifndef DLC_STORE_IMPL_H
#define DLC_STORE_IMPL_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "plugin/bootstrap/store.h"

#define DLC_STORE_MAX_KEY 1024u                   /* bytes, without the NUL      */
#define DLC_STORE_MAX_VALUE (16u * 1024u * 1024u) /* bytes                    */

typedef struct dlc_store_ops {
    dlcoll_status_t (*set)(dlc_store *st, const char *key, const void *value, size_t len,
                           dlc_err *err);
    /* Wait up to timeout_ms (>= 0) for key.  Copies min(cap, length) bytes into
     * buf and stores the full length in *len; a longer value is not an error
     * here.  DLCOLL_ERR_TIMEOUT when the key did not appear in time. */
    dlcoll_status_t (*get)(dlc_store *st, const char *key, void *buf, size_t cap, size_t *len,
                           int timeout_ms, dlc_err *err);
    void (*close)(dlc_store *st);
    /* Optional: what the store refused lately (rank 0's tcp:// server), for
     * a timeout's message; "" when nothing. */
    void (*note)(dlc_store *st, char *buf, size_t cap);
} dlc_store_ops;

/* Every implementation's struct starts with this. */
struct dlc_store {
    const dlc_store_ops *ops;
    int timeout_ms; /* default for set and for get(timeout_ms < 0) */
    char name[300]; /* for messages: "store tcp://h:p", "file store /d", ... */
};

dlcoll_status_t dlc_store_host_open(const dlcoll_store_t *host, int timeout_ms, dlc_store **out,
                                    dlc_err *err);
dlcoll_status_t dlc_store_file_open(const char *dir, int timeout_ms, dlc_store **out, dlc_err *err);
/* tcp://s->rdv_host:s->rdv_port, with the job key and bounds of s; rank 0
 * also serves the store. */
dlcoll_status_t dlc_store_tcp_open(const dlc_settings *s, int timeout_ms, dlc_store **out,
                                   dlc_err *err);

/* Monotonic clock in milliseconds. */
static inline int64_t dlc_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep for ms milliseconds (restarting after signals). */
static inline void dlc_store_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif
