/*
 * fuzz_config.c -- libFuzzer: init_method URLs and settings from the
 * environment (util/config.c).  The input is split at NUL bytes: the URL,
 * then NAME=VALUE pairs served by an injected getenv.  Every outcome must be
 * a status with a message, and accepted values must be in their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi/dlcoll.h"
#include "plugin/util/config.h"

typedef struct env {
    const char *names[8], *values[8];
    int n;
} env;

static const char *fake_getenv(void *ctx, const char *name)
{
    const env *e = ctx;
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, buf, len);
    copy[len] = '\0';
    env e = {.n = 0};
    char *p = copy, *end = copy + len;
    const char *url = p;
    p += strlen(p) + 1;
    while (p < end && e.n < 8) {
        char *eq = strchr(p, '=');
        char *next = p + strlen(p) + 1;
        if (eq) {
            *eq = '\0';
            e.names[e.n] = p;
            e.values[e.n] = eq + 1;
            e.n++;
        }
        p = next;
    }
    dlc_settings s;
    dlc_err err;
    memset(&s, 0, sizeof s);
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_parse_init_method(url, fake_getenv, &e, &s, &err);
    if (st != DLCOLL_SUCCESS && err.msg[0] == '\0')
        __builtin_trap();
    if (st == DLCOLL_SUCCESS && s.rdv == DLC_RDV_TCP && (s.rdv_port < 0 || s.rdv_port > 65535))
        __builtin_trap();

    dlcoll_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.magic = DLCOLL_CONFIG_MAGIC;
    cfg.version = DLCOLL_CONFIG_VERSION;
    cfg.rank = -1;
    cfg.world_size = -1;
    cfg.init_method = url[0] ? url : NULL;
    memset(&s, 0, sizeof s);
    dlc_err_clear(&err);
    st = dlc_settings_resolve(&cfg, fake_getenv, &e, &s, &err);
    if (st != DLCOLL_SUCCESS && err.msg[0] == '\0')
        __builtin_trap();
    if (st == DLCOLL_SUCCESS && (s.world_size < 1 || s.rank < 0 || s.rank >= s.world_size))
        __builtin_trap();
    free(copy);
    return 0;
}
