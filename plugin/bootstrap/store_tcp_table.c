/*
 * store_tcp_table.c -- the TCP store server's key-value table
 * (store_tcp_table.h).  Used by the server thread only.
 */
#include "plugin/bootstrap/store_tcp_table.h"

#include <stdlib.h>
#include <string.h>

struct dlc_kv_entry {
    dlc_kv_entry *next;
    uint64_t hash;
    dlc_blob *value;
    size_t key_len;
    char key[]; /* NUL-terminated */
};

static uint64_t hash_key(uint64_t seed, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ seed; /* FNV-1a, seeded */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ^ (h >> 29);
}

int dlc_kv_init(dlc_kv_table *t, uint64_t seed, long long max_keys, long long max_bytes)
{
    memset(t, 0, sizeof *t);
    t->nbuckets = 64;
    t->seed = seed;
    t->max_keys = max_keys;
    t->max_bytes = max_bytes;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    return t->buckets ? 0 : -1;
}

void dlc_kv_free(dlc_kv_table *t)
{
    for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
        dlc_kv_entry *e = t->buckets[i];
        while (e) {
            dlc_kv_entry *next = e->next;
            e->value->owner = NULL; /* replies still holding it need no table */
            dlc_blob_unref(e->value);
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
}

int dlc_kv_reserve(dlc_kv_table *t, size_t n)
{
    if ((long long)n > t->max_bytes - t->bytes)
        return -1;
    t->bytes += (long long)n;
    return 0;
}

void dlc_kv_unreserve(dlc_kv_table *t, size_t n)
{
    t->bytes -= (long long)n;
}

dlc_blob *dlc_blob_new(dlc_kv_table *t, uint32_t len, uint32_t first)
{
    uint32_t cap = first < len ? first : len;
    dlc_blob *b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->len = len;
    b->cap = cap;
    b->owner = t;
    return b;
}

dlc_blob *dlc_blob_grow(dlc_blob *b, uint32_t want)
{
    if (want <= b->cap)
        return b;
    uint32_t cap = b->cap ? b->cap : 1;
    while (cap < want)
        cap = cap > b->len / 2 ? b->len : cap * 2;
    dlc_blob *g = realloc(b, sizeof *g + cap);
    if (g == NULL)
        return NULL;
    g->cap = cap;
    return g;
}

dlc_blob *dlc_blob_ref(dlc_blob *b)
{
    b->refs++;
    return b;
}

void dlc_blob_unref(dlc_blob *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    if (b->owner)
        dlc_kv_unreserve(b->owner, b->len);
    free(b);
}

static dlc_kv_entry *find(const dlc_kv_table *t, const char *key, uint64_t h)
{
    for (dlc_kv_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

dlc_blob *dlc_kv_get(const dlc_kv_table *t, const char *key)
{
    dlc_kv_entry *e = find(t, key, hash_key(t->seed, key));
    return e ? e->value : NULL;
}

static void grow(dlc_kv_table *t)
{
    size_t n = t->nbuckets * 2;
    dlc_kv_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return; /* keep the longer chains; still correct */
    for (size_t i = 0; i < t->nbuckets; i++) {
        dlc_kv_entry *e = t->buckets[i];
        while (e) {
            dlc_kv_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

int dlc_kv_put(dlc_kv_table *t, const char *key, size_t key_len, dlc_blob *v, int write_once)
{
    uint64_t h = hash_key(t->seed, key);
    dlc_kv_entry *e = find(t, key, h);
    if (e != NULL) {
        int same = e->value->len == v->len && memcmp(e->value->data, v->data, v->len) == 0;
        if (same || write_once) {
            dlc_blob_unref(v);
            return same ? DLC_KV_SAME : DLC_KV_CONFLICT;
        }
        dlc_blob_unref(e->value); /* replies may still hold it; counted until released */
        e->value = v;
        return 0;
    }
    if ((long long)t->count >= t->max_keys || dlc_kv_reserve(t, key_len + sizeof *e) != 0) {
        dlc_blob_unref(v);
        return DLC_KV_FULL;
    }
    e = malloc(sizeof *e + key_len + 1);
    if (e == NULL) {
        dlc_kv_unreserve(t, key_len + sizeof *e);
        dlc_blob_unref(v);
        return -1;
    }
    memcpy(e->key, key, key_len + 1);
    e->key_len = key_len;
    e->hash = h;
    e->value = v;
    e->next = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = e;
    if (++t->count > t->nbuckets)
        grow(t);
    return 0;
}
