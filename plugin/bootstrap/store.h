/*
 * store.h -- the key-value store used for bootstrap and group creation.
 *
 * One interface, three implementations: the host's callbacks (store_host.c),
 * a TCP store served by rank 0 (store_tcp.c), and a shared directory
 * (store_file.c).  All calls are blocking and bounded by timeout_ms.
 * A store is used by one thread at a time (the caller serialises).
 */
#ifndef DLC_STORE_H
#define DLC_STORE_H

#include <stddef.h>
#include "plugin/util/config.h"

typedef struct dlc_store dlc_store;

/* Open the store the settings name; rank 0 starts the TCP server for tcp://. */
dlcoll_status_t dlc_store_open(const dlc_settings *s, dlc_store **out, dlc_err *err);

dlcoll_status_t dlc_store_set(dlc_store *st, const char *key, const void *value, size_t len,
                              dlc_err *err);

/* Block until key exists (DLCOLL_ERR_TIMEOUT after timeout_ms).  Copies at most cap
 * bytes; *len receives the full length (a value longer than cap is an error). */
dlcoll_status_t dlc_store_get(dlc_store *st, const char *key, void *buf, size_t cap, size_t *len,
                              int timeout_ms, dlc_err *err);

/* Each of n ranks publishes len bytes under "<prefix>/<rank>"; all[i*len] gets rank i's.
 * A value of another length is a DLCOLL_ERR_BOOTSTRAP error naming the rank. */
dlcoll_status_t dlc_store_allgather(dlc_store *st, const char *prefix, int rank, int n,
                                    const void *mine, size_t len, void *all, int timeout_ms,
                                    dlc_err *err);

void dlc_store_close(dlc_store *st);

#endif
