/*
 * settings.c -- dlcoll-info's settings section: every setting dlcoll reads,
 * its value in effect here and where the value comes from.
 *
 * The list is util/settings_table.c (the one list of dlcoll's variables):
 * for each setting, its variables in precedence order; the first one set
 * gives the value ("environment", with its name), else the default applies
 * ("default").  A host's dlcoll_config_t field, where the setting has one,
 * overrides both ("config": only a host can say that, so the field is
 * named).  The values are then run through the plugin's own resolver
 * (util/config.c dlc_settings_resolve), so a bad value is reported with the
 * message init would give.  Unknown DLCOLL_* variables (a typo) are listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples/info/info.h"
#include "plugin/util/config.h"
#include "plugin/util/settings_table.h"

extern char **environ;

static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int is_integer(const char *s)
{
    char *end;
    if (s == NULL || *s == '\0')
        return 0;
    (void)strtol(s, &end, 10);
    return *end == '\0';
}

/* The value of setting `id` and the variable that set it (NULL: default).
 * A variable of a pair ("MASTER_ADDR" with "MASTER_PORT") counts only with
 * its partner, as in config.c. */
static const char *setting_value(dlc_setting_id id, const char **var, char *buf, size_t cap)
{
    *var = NULL;
    for (int i = 0; i < DLC_ENV_COUNT; i++) {
        const dlc_env_var *row = &dlc_env_table[i];
        if (row->setting != id)
            continue;
        const char *v = env_value(row->name);
        if (v == NULL || ((row->flags & DLC_ENV_NUMERIC_ONLY) && !is_integer(v)))
            continue;
        if (i == DLC_ENV_MASTER_ADDR || i == DLC_ENV_MS_SCHED_HOST) {
            const char *port = env_value(dlc_env_table[i + 1].name);
            if (port == NULL)
                continue;
            snprintf(buf, cap, "tcp://%s:%s", v, port);
            *var = row->name;
            return buf;
        }
        if (i == DLC_ENV_MASTER_PORT || i == DLC_ENV_MS_SCHED_PORT)
            continue; /* only with its address, above */
        *var = row->name;
        if (row->flags & DLC_ENV_SECRET)
            return strcmp(v, "insecure") == 0 ? "insecure (authentication off)" : "set (hidden)";
        return v;
    }
    return dlc_setting_table[id].dflt;
}

/* "DLCOLL_RANK, RANK, ..." */
static void variables_of(dlc_setting_id id, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < DLC_ENV_COUNT && used < cap; i++)
        if (dlc_env_table[i].setting == id)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     dlc_env_table[i].name);
}

int info_settings(info_out *o)
{
    int rc = 0;
    char buf[512], vars[512];
    info_out_section(o, "settings", "settings");
    info_out_list(o, "in_effect",
                  "in effect (source: environment or default; a host's config field overrides both)");
    for (int id = 0; id < DLC_SET_COUNT; id++) {
        const char *var;
        const char *value = setting_value((dlc_setting_id)id, &var, buf, sizeof buf);
        variables_of((dlc_setting_id)id, vars, sizeof vars);
        info_out_item(o);
        info_out_str(o, "name", dlc_setting_table[id].name);
        info_out_str(o, "value", value);
        info_out_str(o, "source", var ? "environment" : "default");
        info_out_str(o, "variable", var);
        info_out_str(o, "config", dlc_setting_table[id].config);
        info_out_str(o, "reader", id < DLC_SET_PLUGIN_COUNT ? "plugin" : "host/binding");
        info_out_str(o, "variables", vars);
    }
    info_out_end_list(o);

    /* The plugin's resolver over the same environment.  Rank, world size and
     * rendezvous are a launcher's business: when the environment has none,
     * a one-rank config stands in, so the other values still get checked. */
    dlcoll_config_t cfg = dlcoll_config_init();
    const char *var;
    setting_value(DLC_SET_WORLD_SIZE, &var, buf, sizeof buf);
    if (var == NULL)
        cfg.world_size = 1;
    setting_value(DLC_SET_RANK, &var, buf, sizeof buf);
    if (var == NULL)
        cfg.rank = 0;
    setting_value(DLC_SET_RENDEZVOUS, &var, buf, sizeof buf);
    if (var == NULL)
        cfg.init_method = "tcp://127.0.0.1:1";
    dlc_settings s;
    dlc_err err;
    if (dlc_settings_resolve(&cfg, NULL, NULL, &s, &err) == DLCOLL_SUCCESS) {
        info_out_bool(o, "valid", 1);
    } else {
        info_out_bool(o, "valid", 0);
        info_out_str(o, "error", err.msg);
        rc = -1;
    }

    /* DLCOLL_* variables dlcoll does not read. */
    size_t used = 0;
    buf[0] = '\0';
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        if (strncmp(*e, "DLCOLL_", 7) != 0 || eq == NULL || (size_t)(eq - *e) >= sizeof name)
            continue;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        if (dlc_env_find(name) == NULL && used < sizeof buf)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? " " : "", name);
    }
    info_out_str(o, "unknown_variables", used ? buf : NULL);
    return rc;
}
