/*
 * config.c -- resolve a dlcoll_config_t plus the environment into dlc_settings.
 *
 * Every setting is looked up in a fixed order (see config.h); the first source
 * that is set wins.  The variables' names come from util/settings_table.c
 * (VAR), the rank's and world size's in that table's order.  An environment variable holding the empty string counts
 * as unset.  A set but invalid value is an error naming the variable and the
 * value, never silently skipped (except MS_NODE_ID, used only when numeric,
 * because MindSpore also puts non-numeric node names there).
 */
#include "plugin/util/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/util/job_key.h"
#include "plugin/util/log.h"
#include "plugin/util/settings_table.h"

/* Every variable is named once, in util/settings_table.c. */
#define VAR(id) dlc_env_name(DLC_ENV_##id)

#define ACCEPTED_FORMS "tcp://host:port, tcp://[ipv6]:port, file:///absolute/path or env://"

typedef struct env_reader {
    dlc_getenv_fn fn;
    void *ctx;
} env_reader;

static const char *process_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

/* The variable's value, or NULL when unset or empty. */
static const char *env_get(const env_reader *env, const char *name)
{
    const char *v = env->fn(env->ctx, name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Parse a complete base-10 int: optional sign, digits, nothing else. */
static int parse_int(const char *s, int *out)
{
    if (s == NULL || !(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* Parse a complete base-10 byte count (digits only) within [lo, hi]. */
static int parse_bytes(const char *s, unsigned long long lo, unsigned long long hi,
                       unsigned long long *out)
{
    if (s == NULL || !(s[0] >= '0' && s[0] <= '9'))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Parse a TCP port 1..65535 (digits only). */
static int parse_port(const char *s, int *out)
{
    int v;
    if (s == NULL || s[0] < '0' || s[0] > '9' || parse_int(s, &v) != 0 || v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* A host name or address must be non-empty and free of URL syntax and blanks. */
static int host_is_plausible(const char *h, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c >= 127 || strchr("/?#@[]", c) != NULL)
            return 0;
    }
    return 1;
}

static dlcoll_status_t set_tcp(dlc_settings *out, const char *what, const char *url,
                               const char *host, size_t host_len, int port, dlc_err *err)
{
    if (host_len >= sizeof out->rdv_host)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s='%.200s': host name is longer than %zu characters", what, url,
                        sizeof out->rdv_host - 1);
    out->rdv = DLC_RDV_TCP;
    memcpy(out->rdv_host, host, host_len);
    out->rdv_host[host_len] = '\0';
    out->rdv_port = port;
    return DLCOLL_SUCCESS;
}

/* Rendezvous from an address + port variable pair (MASTER_ADDR/MASTER_PORT, ...).
 * Returns DLCOLL_ERR_BOOTSTRAP without a message when either is unset. */
static dlcoll_status_t rdv_from_pair(const env_reader *env, const char *addr_var,
                                     const char *port_var, dlc_settings *out, dlc_err *err)
{
    const char *addr = env_get(env, addr_var);
    const char *port_s = env_get(env, port_var);
    if (addr == NULL || port_s == NULL)
        return DLCOLL_ERR_BOOTSTRAP;
    int port;
    if (parse_port(port_s, &port) != 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s='%.200s' is not a port number (1..65535)", port_var, port_s);
    size_t len = strlen(addr);
    const char *host = addr;
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') { /* "[::1]" */
        host++;
        len -= 2;
    }
    if (!host_is_plausible(host, len))
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s='%.200s' is not a host name or address", addr_var, addr);
    return set_tcp(out, addr_var, addr, host, len, port, err);
}

static dlcoll_status_t parse_env_url(const env_reader *env, const char *what, const char *url,
                                     dlc_settings *out, dlc_err *err)
{
    dlcoll_status_t st = rdv_from_pair(env, VAR(MASTER_ADDR), VAR(MASTER_PORT), out, err);
    if (st != DLCOLL_ERR_BOOTSTRAP)
        return st;
    st = rdv_from_pair(env, VAR(MS_SCHED_HOST), VAR(MS_SCHED_PORT), out, err);
    if (st != DLCOLL_ERR_BOOTSTRAP)
        return st;
    return dlc_fail(
        err, DLCOLL_ERR_BOOTSTRAP,
        "%s='%.200s' needs MASTER_ADDR and MASTER_PORT (or MS_SCHED_HOST and MS_SCHED_PORT) "
        "in the environment, but they are not set",
        what, url);
}

/* "tcp://host:port" or "tcp://[v6addr]:port"; rest points after "tcp://". */
static dlcoll_status_t parse_tcp_url(const char *what, const char *url, const char *rest,
                                     dlc_settings *out, dlc_err *err)
{
    const char *host, *port_s;
    size_t host_len;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL || close[1] != ':')
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.200s': an IPv6 address must be written tcp://[address]:port",
                            what, url);
        host = rest + 1;
        host_len = (size_t)(close - host);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (colon == NULL)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.200s': missing port (tcp://host:port)", what, url);
        host = rest;
        host_len = (size_t)(colon - rest);
        port_s = colon + 1;
        if (memchr(host, ':', host_len) != NULL)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.200s': an IPv6 address must be written tcp://[address]:port",
                            what, url);
    }
    if (!host_is_plausible(host, host_len))
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s='%.200s': '%.*s' is not a host name or address", what, url,
                        (int)(host_len < 100 ? host_len : 100), host);
    int port;
    if (parse_port(port_s, &port) != 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s='%.200s': port '%.20s' is not a number in 1..65535", what, url, port_s);
    return set_tcp(out, what, url, host, host_len, port, err);
}

static dlcoll_status_t parse_url(const env_reader *env, const char *what, const char *url,
                                 dlc_settings *out, dlc_err *err)
{
    if (url == NULL || url[0] == '\0')
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s is empty; accepted forms: " ACCEPTED_FORMS, what);
    if (strncasecmp(url, "tcp://", 6) == 0)
        return parse_tcp_url(what, url, url + 6, out, err);
    if (strncasecmp(url, "file://", 7) == 0) {
        const char *path = url + 7;
        if (path[0] != '/')
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.200s': the path must be absolute, written file:///absolute/path",
                            what, url);
        size_t len = strlen(path);
        if (len >= sizeof out->rdv_path)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.200s': the path is longer than %zu characters", what, url,
                            sizeof out->rdv_path - 1);
        out->rdv = DLC_RDV_FILE;
        memcpy(out->rdv_path, path, len + 1);
        return DLCOLL_SUCCESS;
    }
    if (strcasecmp(url, "env://") == 0)
        return parse_env_url(env, what, url, out, err);
    return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                    "%s='%.200s' is not understood; accepted forms: " ACCEPTED_FORMS, what, url);
}

dlcoll_status_t dlc_parse_init_method(const char *url, dlc_getenv_fn getenv_fn, void *getenv_ctx,
                                      dlc_settings *out, dlc_err *err)
{
    env_reader env = {getenv_fn ? getenv_fn : process_getenv, getenv_fn ? getenv_ctx : NULL};
    return parse_url(&env, "init_method", url, out, err);
}

/* ------------------------------------------------------------------ rank and size */

/* An integer setting (rank, world size): its rows of util/settings_table.c,
 * in precedence order; the first set one wins.  *from = its name, or NULL
 * when none is set.  A DLC_ENV_NUMERIC_ONLY row is skipped when it is not an
 * integer. */
static dlcoll_status_t int_from_env(const env_reader *env, dlc_setting_id setting, const char *what,
                                    int *value, const char **from, dlc_err *err)
{
    *from = NULL;
    for (int i = 0; i < DLC_ENV_COUNT; i++) {
        const dlc_env_var *row = &dlc_env_table[i];
        if (row->setting != setting)
            continue;
        const char *s = env_get(env, row->name);
        if (s == NULL)
            continue;
        int x;
        if (parse_int(s, &x) != 0) {
            if (row->flags & DLC_ENV_NUMERIC_ONLY)
                continue;
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s='%.200s' is not an integer (%s)",
                            row->name, s, what);
        }
        *value = x;
        *from = row->name;
        return DLCOLL_SUCCESS;
    }
    return DLCOLL_SUCCESS;
}

/* "config.rank, DLCOLL_RANK, RANK, ..." for "not found" messages. */
static void list_sources(char *buf, size_t cap, const char *first, dlc_setting_id setting)
{
    size_t used = (size_t)snprintf(buf, cap, "%s", first);
    for (int i = 0; i < DLC_ENV_COUNT && used < cap; i++)
        if (dlc_env_table[i].setting == setting)
            used += (size_t)snprintf(buf + used, cap - used, ", %s%s", dlc_env_table[i].name,
                                     (dlc_env_table[i].flags & DLC_ENV_NUMERIC_ONLY) ? " (numeric)"
                                                                                     : "");
}

static dlcoll_status_t resolve_rank_size(const dlcoll_config_t *c, const env_reader *env,
                                         dlc_settings *out, dlc_err *err)
{
    char looked[256];
    dlcoll_status_t st;

    /* World size first, so that rank errors can quote it. */
    if (c->world_size != DLCOLL_FROM_ENV) {
        if (c->world_size < 1)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "config.world_size=%d is invalid (must be >= 1, or DLCOLL_FROM_ENV)",
                            c->world_size);
        out->world_size = c->world_size;
        out->size_from = "config";
    } else {
        st = int_from_env(env, DLC_SET_WORLD_SIZE, "world size", &out->world_size, &out->size_from,
                          err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (out->size_from == NULL) {
            list_sources(looked, sizeof looked, "config.world_size", DLC_SET_WORLD_SIZE);
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "world size not set; looked for %s",
                            looked);
        }
        if (out->world_size < 1)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%d' is not a valid world size (must be >= 1)", out->size_from,
                            out->world_size);
    }

    if (c->rank != DLCOLL_FROM_ENV) {
        if (c->rank < 0)
            return dlc_fail(
                err, DLCOLL_ERR_INVALID_ARGUMENT,
                "config.rank=%d is invalid (must be 0..world_size-1, or DLCOLL_FROM_ENV)", c->rank);
        out->rank = c->rank;
        out->rank_from = "config";
    } else {
        st = int_from_env(env, DLC_SET_RANK, "rank", &out->rank, &out->rank_from, err);
        if (st != DLCOLL_SUCCESS)
            return st;
        if (out->rank_from == NULL) {
            list_sources(looked, sizeof looked, "config.rank", DLC_SET_RANK);
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "rank not set; looked for %s",
                            looked);
        }
    }
    if (out->rank < 0 || out->rank >= out->world_size)
        return dlc_fail(
            err, DLCOLL_ERR_INVALID_ARGUMENT,
            "rank %d (from %s) is out of range for world size %d (from %s): must be 0..%d",
            out->rank, out->rank_from, out->world_size, out->size_from, out->world_size - 1);
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ the rest */

static dlcoll_status_t resolve_rendezvous(const dlcoll_config_t *c, const env_reader *env,
                                          dlc_settings *out, dlc_err *err)
{
    if (c->store != NULL) {
        if (c->store->set == NULL || c->store->get == NULL)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "config.store has a NULL %s callback",
                            c->store->set == NULL ? "set" : "get");
        out->rdv = DLC_RDV_STORE;
        out->store = c->store;
        out->rdv_from = "config.store";
        return DLCOLL_SUCCESS;
    }
    if (c->init_method != NULL && c->init_method[0] != '\0') {
        out->rdv_from = "config.init_method";
        return parse_url(env, "config.init_method", c->init_method, out, err);
    }
    const char *im = env_get(env, VAR(DLCOLL_INIT_METHOD));
    if (im != NULL) {
        out->rdv_from = VAR(DLCOLL_INIT_METHOD);
        return parse_url(env, VAR(DLCOLL_INIT_METHOD), im, out, err);
    }
    dlcoll_status_t st = rdv_from_pair(env, VAR(MASTER_ADDR), VAR(MASTER_PORT), out, err);
    if (st != DLCOLL_ERR_BOOTSTRAP) {
        out->rdv_from = "MASTER_ADDR/MASTER_PORT";
        return st;
    }
    st = rdv_from_pair(env, VAR(MS_SCHED_HOST), VAR(MS_SCHED_PORT), out, err);
    if (st != DLCOLL_ERR_BOOTSTRAP) {
        out->rdv_from = "MS_SCHED_HOST/MS_SCHED_PORT";
        return st;
    }
    /* Point out a half-set pair: a common launcher misconfiguration. */
    static const dlc_env_id pair_ids[][2] = {
        {DLC_ENV_MASTER_ADDR, DLC_ENV_MASTER_PORT},
        {DLC_ENV_MS_SCHED_HOST, DLC_ENV_MS_SCHED_PORT},
    };
    char half[160] = "";
    for (size_t i = 0; i < 2; i++) {
        const char *pair[2] = {dlc_env_name(pair_ids[i][0]), dlc_env_name(pair_ids[i][1])};
        int a = env_get(env, pair[0]) != NULL, p = env_get(env, pair[1]) != NULL;
        if (a != p && half[0] == '\0')
            snprintf(half, sizeof half, " (%s is set but %s is not)", pair[a ? 0 : 1],
                     pair[a ? 1 : 0]);
    }
    return dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                    "no rendezvous configured; looked for config.store, config.init_method, "
                    "DLCOLL_INIT_METHOD, MASTER_ADDR+MASTER_PORT and MS_SCHED_HOST+MS_SCHED_PORT%s "
                    "(set one, e.g. DLCOLL_INIT_METHOD=tcp://host:port)",
                    half);
}

static dlcoll_status_t resolve_misc(const dlcoll_config_t *c, const env_reader *env,
                                    dlc_settings *out, dlc_err *err)
{
    /* Timeout. */
    if (c->timeout_ms < 0)
        return dlc_fail(
            err, DLCOLL_ERR_INVALID_ARGUMENT,
            "config.timeout_ms=%d is invalid (must be > 0, or 0 for DLCOLL_TIMEOUT / the default)",
            c->timeout_ms);
    out->timeout_ms = c->timeout_ms;
    if (out->timeout_ms == 0) {
        const char *s = env_get(env, VAR(DLCOLL_TIMEOUT));
        out->timeout_ms = DLCOLL_DEFAULT_TIMEOUT_MS;
        if (s != NULL && (parse_int(s, &out->timeout_ms) != 0 || out->timeout_ms <= 0))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%s' is not a positive integer (milliseconds)", VAR(DLCOLL_TIMEOUT),
                            s);
    }

    /* Provider. */
    const char *prov = NULL, *prov_from = NULL;
    if (c->provider != NULL && c->provider[0] != '\0') {
        prov = c->provider;
        prov_from = "config.provider";
    } else if ((prov = env_get(env, VAR(DLCOLL_PROVIDER))) != NULL) {
        prov_from = VAR(DLCOLL_PROVIDER);
    }
    if (prov != NULL) {
        size_t len = strlen(prov);
        if (len >= sizeof out->provider)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s='%.80s%s' is longer than %zu characters", prov_from, prov,
                            len > 80 ? "..." : "", sizeof out->provider - 1);
        memcpy(out->provider, prov, len + 1);
    }

    /* Log level.  An unknown DLCOLL_DEBUG is left at -1: dlc_logger_init then
     * re-reads it, falls back to WARN and prints one warning line. */
    if (c->log_level != -1) {
        if (c->log_level < DLCOLL_LOG_NONE || c->log_level > DLCOLL_LOG_TRACE)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "config.log_level=%d is invalid (must be -1 or 0..3)", c->log_level);
        out->log_level = c->log_level;
    } else {
        const char *s = env_get(env, VAR(DLCOLL_DEBUG));
        out->log_level = s ? dlc_log_level_parse(s) : DLCOLL_LOG_WARN;
    }
    out->log_fn = c->log_fn;
    out->log_ctx = c->log_ctx;
    return DLCOLL_SUCCESS;
}

/* Copy the known prefix of the host's config after checking its header. */
static dlcoll_status_t read_config(const dlcoll_config_t *config, dlcoll_config_t *c, dlc_err *err)
{
    const size_t min_size = offsetof(dlcoll_config_t, log_level) + sizeof(int);
    if (config->magic != DLCOLL_CONFIG_MAGIC)
        return dlc_fail(
            err, DLCOLL_ERR_VERSION,
            "config magic 0x%08x is not DLCOLL_CONFIG_MAGIC (was the struct initialised "
            "with DLCOLL_CONFIG_INIT?)",
            (unsigned)config->magic);
    if (config->version == 0 || config->version > DLCOLL_CONFIG_VERSION)
        return dlc_fail(
            err, DLCOLL_ERR_VERSION,
            "config version %u is not supported by this plugin (it knows versions 1..%u)",
            (unsigned)config->version, (unsigned)DLCOLL_CONFIG_VERSION);
    if (config->size < min_size)
        return dlc_fail(err, DLCOLL_ERR_VERSION,
                        "config size %zu is smaller than the version %u layout (%zu bytes)",
                        config->size, (unsigned)DLCOLL_CONFIG_VERSION, min_size);
    /* A newer host may pass a larger struct: read only the part we know, and
     * never more than the host's struct holds. */
    dlcoll_config_t defaults = DLCOLL_CONFIG_INIT;
    *c = defaults;
    memcpy(c, config, config->size < sizeof *c ? config->size : sizeof *c);
    return DLCOLL_SUCCESS;
}

/* An optional byte-count variable: *out = -1 when it is unset or empty, else
 * its value, which must lie in [lo, hi]; `hint` ends the error message. */
static dlcoll_status_t env_bytes(const env_reader *env, const char *name, unsigned long long lo,
                                 unsigned long long hi, const char *hint, long long *out,
                                 dlc_err *err)
{
    const char *s = env_get(env, name);
    unsigned long long v;
    *out = -1;
    if (!s)
        return DLCOLL_SUCCESS;
    if (parse_bytes(s, lo, hi, &v) != 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s='%s' is not a byte count %s", name, s,
                        hint);
    *out = (long long)v;
    return DLCOLL_SUCCESS;
}

/* The shared-segment exchange's tuning variables: unset or empty means the
 * automatic choice; anything else must be a byte count in range. */
static dlcoll_status_t resolve_tuning(const env_reader *env, dlc_settings *out, dlc_err *err)
{
    char range[64];
    long long slot;
    snprintf(range, sizeof range, "in %zu..%zu", DLC_SHM_SLOT_MIN, DLC_SHM_SLOT_MAX);
    dlcoll_status_t st = env_bytes(env, VAR(DLCOLL_SHM_SLOT_BYTES), DLC_SHM_SLOT_MIN,
                                   DLC_SHM_SLOT_MAX, range, &slot, err);
    out->shm_slot_bytes = slot < 0 ? 0 : (size_t)slot;
    if (st == DLCOLL_SUCCESS)
        st = env_bytes(env, VAR(DLCOLL_SHM_CMA_MIN), 0, (unsigned long long)LLONG_MAX,
                       "(0: never use cross-memory attach)", &out->shm_cma_min, err);
    if (st == DLCOLL_SUCCESS)
        st = env_bytes(env, VAR(DLCOLL_STREAM_MIN_BYTES), 0, (unsigned long long)LLONG_MAX,
                       "(0: never use streaming stores)", &out->stream_min_bytes, err);
    if (st == DLCOLL_SUCCESS)
        st = env_bytes(env, VAR(DLCOLL_GATHERED_MAX), 0, (unsigned long long)LLONG_MAX,
                       "(0: never gather small reductions)", &out->gathered_max, err);
    return st;
}

/* The job secret: DLCOLL_JOB_KEY, else the file DLCOLL_JOB_KEY_FILE names. */
static dlcoll_status_t resolve_job_key(const env_reader *env, dlc_settings *out, dlc_err *err)
{
    const char *v = env_get(env, VAR(DLCOLL_JOB_KEY));
    if (v != NULL) {
        out->job_key_from = VAR(DLCOLL_JOB_KEY);
        return dlc_job_key_from_text(VAR(DLCOLL_JOB_KEY), v, out->job_key, sizeof out->job_key,
                                     &out->job_key_len, &out->job_key_insecure, err);
    }
    if ((v = env_get(env, VAR(DLCOLL_JOB_KEY_FILE))) != NULL) {
        out->job_key_from = VAR(DLCOLL_JOB_KEY_FILE);
        return dlc_job_key_from_file(VAR(DLCOLL_JOB_KEY_FILE), v, out->job_key, sizeof out->job_key,
                                     &out->job_key_len, &out->job_key_insecure, err);
    }
    return DLCOLL_SUCCESS;
}

/* An optional integer variable in [lo, hi]; *out stays 0 (the default) when unset. */
static dlcoll_status_t env_bounded(const env_reader *env, const char *name, long long lo,
                                   long long hi, long long *out, dlc_err *err)
{
    const char *s = env_get(env, name);
    unsigned long long v;
    *out = 0;
    if (s == NULL)
        return DLCOLL_SUCCESS;
    if (parse_bytes(s, (unsigned long long)lo, (unsigned long long)hi, &v) != 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s='%s' is not an integer in %lld..%lld",
                        name, s, lo, hi);
    *out = (long long)v;
    return DLCOLL_SUCCESS;
}

/* The bounds of rank 0's tcp:// store server (docs/security.md, "The store"). */
static dlcoll_status_t resolve_store_bounds(const env_reader *env, dlc_settings *out, dlc_err *err)
{
    long long conns = 0, idle = 0;
    dlcoll_status_t st =
        env_bounded(env, VAR(DLCOLL_STORE_MAX_KEYS), 16, INT_MAX, &out->store_max_keys, err);
    if (st == DLCOLL_SUCCESS)
        st = env_bounded(env, VAR(DLCOLL_STORE_MAX_BYTES), 64 << 10, LLONG_MAX,
                         &out->store_max_bytes, err);
    if (st == DLCOLL_SUCCESS)
        st = env_bounded(env, VAR(DLCOLL_STORE_MAX_CONNS), 4, 1 << 20, &conns, err);
    if (st == DLCOLL_SUCCESS)
        st = env_bounded(env, VAR(DLCOLL_STORE_IDLE_MS), 1, INT_MAX, &idle, err);
    out->store_max_conns = (int)conns;
    out->store_idle_ms = (int)idle;
    return st;
}

dlcoll_status_t dlc_settings_resolve(const dlcoll_config_t *config, dlc_getenv_fn getenv_fn,
                                     void *getenv_ctx, dlc_settings *out, dlc_err *err)
{
    env_reader env = {getenv_fn ? getenv_fn : process_getenv, getenv_fn ? getenv_ctx : NULL};
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    dlcoll_status_t st;

    memset(out, 0, sizeof *out);
    if (config != NULL && (st = read_config(config, &c, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = resolve_rank_size(&c, &env, out, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = resolve_rendezvous(&c, &env, out, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = resolve_tuning(&env, out, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = resolve_job_key(&env, out, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = resolve_store_bounds(&env, out, err)) != DLCOLL_SUCCESS)
        return st;
    return resolve_misc(&c, &env, out, err);
}

/* ------------------------------------------------------------------ read later */

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

const char *dlc_env_algo(void)
{
    return env_nonempty(VAR(DLCOLL_ALGO));
}

const char *dlc_env_log_level(void)
{
    return env_nonempty(VAR(DLCOLL_DEBUG));
}

const char *dlc_env_iface(const char **from)
{
    static const dlc_env_id vars[] = {DLC_ENV_DLCOLL_IFACE, DLC_ENV_FI_TCP_IFACE};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = env_nonempty(dlc_env_name(vars[i]));
        if (v) {
            *from = dlc_env_name(vars[i]);
            return v;
        }
    }
    *from = NULL;
    return NULL;
}
