/*
 * store_tcp_table.h -- private: the TCP store server's key-value table.
 *
 * Values are reference-counted blobs: a GET reply holds a reference to the
 * stored value instead of a copy, so any number of pending replies costs no
 * memory beyond the value itself.  The table counts the bytes it holds
 * (keys, values, and values still referenced by replies after being
 * replaced) and the bytes reserved for SET bodies on their way, against
 * the server's DLCOLL_STORE_MAX_BYTES; and its keys against
 * DLCOLL_STORE_MAX_KEYS.  The hash is FNV-1a seeded with a random value per
 * server, so that nobody can choose keys that share a chain.
 */
#ifndef DLC_STORE_TCP_TABLE_H
#define DLC_STORE_TCP_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dlc_blob {
    size_t refs;
    uint32_t len, cap;          /* bytes held / allocated */
    struct dlc_kv_table *owner; /* for the byte count */
    unsigned char data[];
} dlc_blob;

typedef struct dlc_kv_entry dlc_kv_entry;

typedef struct dlc_kv_table {
    dlc_kv_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    uint64_t seed;
    long long bytes;     /* held and reserved */
    long long max_bytes; /* cap on bytes */
    long long max_keys;  /* cap on count */
} dlc_kv_table;

/* 0 on success, -1 out of memory. */
int dlc_kv_init(dlc_kv_table *t, uint64_t seed, long long max_keys, long long max_bytes);
void dlc_kv_free(dlc_kv_table *t);

/* Reserve n bytes of the budget for a SET body on its way; -1 when over the cap. */
int dlc_kv_reserve(dlc_kv_table *t, size_t n);
void dlc_kv_unreserve(dlc_kv_table *t, size_t n);

/* A new blob for a value of len bytes, allocated with room for first bytes
 * (grown by dlc_blob_grow as the body arrives).  Its bytes are counted once
 * reserved: the caller reserved len before. */
dlc_blob *dlc_blob_new(dlc_kv_table *t, uint32_t len, uint32_t first);
/* Room for at least want bytes; NULL (b unchanged) when out of memory. */
dlc_blob *dlc_blob_grow(dlc_blob *b, uint32_t want);
dlc_blob *dlc_blob_ref(dlc_blob *b);
void dlc_blob_unref(dlc_blob *b);

/* The blob stored under key, or NULL. */
dlc_blob *dlc_kv_get(const dlc_kv_table *t, const char *key);

/* Store v (taking the caller's reference) under key.  Returns 0 stored,
 * DLC_KV_SAME (an equal value was there; v released), DLC_KV_CONFLICT
 * (write-once key with another value; v released), DLC_KV_FULL (v released)
 * or -1 out of memory (v released). */
enum { DLC_KV_SAME = 1, DLC_KV_CONFLICT = 2, DLC_KV_FULL = 3 };
int dlc_kv_put(dlc_kv_table *t, const char *key, size_t key_len, dlc_blob *v, int write_once);

#endif
