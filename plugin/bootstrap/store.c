/*
 * store.c -- the store front end: argument checks, dispatch to the
 * implementation named by the settings, and the allgather built on set/get.
 */
#include "plugin/bootstrap/store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dlcoll_status_t dlc_store_open(const dlc_settings *s, dlc_store **out, dlc_err *err)
{
    *out = NULL;
    int timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : DLCOLL_DEFAULT_TIMEOUT_MS;
    switch (s->rdv) {
    case DLC_RDV_STORE:
        if (s->store == NULL || s->store->set == NULL || s->store->get == NULL)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "host store is missing (NULL store or NULL set/get callback)");
        return dlc_store_host_open(s->store, timeout_ms, out, err);
    case DLC_RDV_TCP: return dlc_store_tcp_open(s, timeout_ms, out, err);
    case DLC_RDV_FILE: return dlc_store_file_open(s->rdv_path, timeout_ms, out, err);
    }
    return dlc_fail(err, DLCOLL_ERR_INTERNAL, "unknown rendezvous kind %d", (int)s->rdv);
}

static dlcoll_status_t check_key(const dlc_store *st, const char *key, dlc_err *err)
{
    if (st == NULL)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "store is NULL");
    if (key == NULL || key[0] == '\0')
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: empty key", st->name);
    size_t len = strnlen(key, DLC_STORE_MAX_KEY + 1);
    if (len > DLC_STORE_MAX_KEY)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s: key '%.40s...' is longer than %u bytes", st->name, key,
                        DLC_STORE_MAX_KEY);
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_store_set(dlc_store *st, const char *key, const void *value, size_t len,
                              dlc_err *err)
{
    dlcoll_status_t rc = check_key(st, key, err);
    if (rc != DLCOLL_SUCCESS)
        return rc;
    if (value == NULL && len > 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: set '%s': NULL value of %zu bytes",
                        st->name, key, len);
    if (len > DLC_STORE_MAX_VALUE)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s: set '%s': value of %zu bytes is larger than the %u-byte limit",
                        st->name, key, len, DLC_STORE_MAX_VALUE);
    return st->ops->set(st, key, value, len, err);
}

dlcoll_status_t dlc_store_get(dlc_store *st, const char *key, void *buf, size_t cap, size_t *len,
                              int timeout_ms, dlc_err *err)
{
    dlcoll_status_t rc = check_key(st, key, err);
    if (rc != DLCOLL_SUCCESS)
        return rc;
    if ((buf == NULL && cap > 0) || len == NULL)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: get '%s': NULL buffer or length",
                        st->name, key);
    if (timeout_ms < 0)
        timeout_ms = st->timeout_ms;
    rc = st->ops->get(st, key, buf, cap, len, timeout_ms, err);
    if (rc == DLCOLL_SUCCESS && *len > cap)
        return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                        "%s: value of key '%s' is %zu bytes, larger than the %zu-byte buffer",
                        st->name, key, *len, cap);
    return rc;
}

void dlc_store_close(dlc_store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

/* ------------------------------------------------------------------ allgather */

/* Append "a,b,c-f" for the ranks with missing[i] set; returns how many. */
static int format_ranks(char *buf, size_t cap, const unsigned char *missing, int n)
{
    size_t used = 0;
    int count = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!missing[i])
            continue;
        int j = i;
        while (j + 1 < n && missing[j + 1])
            j++;
        count += j - i + 1;
        if (used < cap) {
            const char *sep = used ? "," : "";
            if (j - i >= 2)
                used += (size_t)snprintf(buf + used, cap - used, "%s%d-%d", sep, i, j);
            else if (j == i + 1)
                used += (size_t)snprintf(buf + used, cap - used, "%s%d,%d", sep, i, j);
            else
                used += (size_t)snprintf(buf + used, cap - used, "%s%d", sep, i);
        }
        i = j;
    }
    return count;
}

dlcoll_status_t dlc_store_allgather(dlc_store *st, const char *prefix, int rank, int n,
                                    const void *mine, size_t len, void *all, int timeout_ms,
                                    dlc_err *err)
{
    if (st == NULL || prefix == NULL || n < 1 || rank < 0 || rank >= n ||
        (len > 0 && (!mine || !all)))
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "store allgather: bad arguments (prefix %s, rank %d of %d, %zu bytes)",
                        prefix ? prefix : "NULL", rank, n, len);
    if (timeout_ms < 0)
        timeout_ms = st->timeout_ms;

    char key[DLC_STORE_MAX_KEY + 32];
    if ((size_t)snprintf(key, sizeof key, "%s/%d", prefix, rank) > DLC_STORE_MAX_KEY)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "store allgather: prefix '%.40s...' is too long", prefix);
    dlcoll_status_t rc = dlc_store_set(st, key, mine, len, err);
    if (rc != DLCOLL_SUCCESS)
        return rc;
    if (len > 0)
        memcpy((char *)all + (size_t)rank * len, mine, len);

    unsigned char *missing = calloc((size_t)n, 1);
    if (missing == NULL)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "store allgather %s: out of memory", prefix);

    int64_t deadline = dlc_store_now_ms() + timeout_ms;
    int any_missing = 0;
    for (int i = 0; i < n; i++) {
        if (i == rank)
            continue;
        snprintf(key, sizeof key, "%s/%d", prefix, i);
        /* After the first timeout only probe (timeout 0) to list every missing rank. */
        int64_t left = any_missing ? 0 : deadline - dlc_store_now_ms();
        size_t got = 0;
        rc = st->ops->get(st, key, len ? (char *)all + (size_t)i * len : NULL, len, &got,
                          left > 0 ? (int)left : 0, err);
        if (rc == DLCOLL_ERR_TIMEOUT) {
            missing[i] = 1;
            any_missing = 1;
            continue;
        }
        if (rc != DLCOLL_SUCCESS)
            break;
        if (got != len) {
            rc = dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                          "rank %d published %zu bytes under %s, expected %zu (ranks disagree)", i,
                          got, prefix, len);
            break;
        }
    }
    if (rc == DLCOLL_SUCCESS || rc == DLCOLL_ERR_TIMEOUT) {
        if (any_missing) {
            char list[256];
            int count = format_ranks(list, sizeof list, missing, n);
            char note[300] = "";
            if (st->ops->note)
                st->ops->note(st, note, sizeof note);
            rc = dlc_fail(err, DLCOLL_ERR_TIMEOUT, "%s %s did not publish %s within %d ms (%s)%s%s",
                          count == 1 ? "rank" : "ranks", list, prefix, timeout_ms, st->name,
                          note[0] ? "; " : "", note);
        } else {
            rc = DLCOLL_SUCCESS;
        }
    }
    free(missing);
    return rc;
}
