/*
 * settings_table.h -- the one list of every environment variable dlcoll reads.
 *
 * Each variable has an id (enum dlc_env_id) and one row in dlc_env_table:
 * its name, the setting it feeds, the accepted form, the default, when it is
 * read and who reads it.  Within one setting the rows are in precedence
 * order (the first set variable wins).  The settings themselves, with the
 * dlcoll_config_t field that overrides each and its default, are the rows of
 * dlc_setting_table.
 *
 * util/config.c takes every name it reads from here (its VAR(id)) and walks
 * the rank and world-size rows in this order; dlcoll-info
 * (examples/info/settings.c) reports every setting in effect from the same
 * rows.  tests/unit/test_config.c (the settings_table tests) checks that
 * every variable config.c asks for is a plugin row, that every plugin row is
 * asked for, and the rank's precedence.
 */
#ifndef DLC_SETTINGS_TABLE_H
#define DLC_SETTINGS_TABLE_H

#include <stddef.h>

/* The settings; the first DLC_SET_PLUGIN_COUNT are the plugin's own. */
typedef enum dlc_setting_id {
    DLC_SET_RANK = 0,
    DLC_SET_WORLD_SIZE,
    DLC_SET_RENDEZVOUS,
    DLC_SET_TIMEOUT,
    DLC_SET_PROVIDER,
    DLC_SET_LOG_LEVEL,
    DLC_SET_ALGO,
    DLC_SET_IFACE,
    DLC_SET_SHM_SLOT_BYTES,
    DLC_SET_SHM_CMA_MIN,
    DLC_SET_STREAM_MIN_BYTES,
    DLC_SET_GATHERED_MAX,
    DLC_SET_JOB_KEY,
    DLC_SET_STORE_MAX_KEYS,
    DLC_SET_STORE_MAX_BYTES,
    DLC_SET_STORE_MAX_CONNS,
    DLC_SET_STORE_IDLE_MS,
    DLC_SET_PLUGIN_COUNT,
    /* Read by hosts and the bindings, not by the plugin. */
    DLC_SET_PLUGIN_PATH = DLC_SET_PLUGIN_COUNT,
    DLC_SET_MS_HELPER,
    DLC_SET_MS_ROLE,
    DLC_SET_LOCAL_RANK,
    DLC_SET_COUNT
} dlc_setting_id;

typedef enum dlc_env_id {
    /* rank */
    DLC_ENV_DLCOLL_RANK = 0,
    DLC_ENV_RANK,
    DLC_ENV_OMPI_COMM_WORLD_RANK,
    DLC_ENV_PMI_RANK,
    DLC_ENV_SLURM_PROCID,
    DLC_ENV_RANK_ID,
    DLC_ENV_MS_NODE_ID,
    /* world size */
    DLC_ENV_DLCOLL_WORLD_SIZE,
    DLC_ENV_WORLD_SIZE,
    DLC_ENV_OMPI_COMM_WORLD_SIZE,
    DLC_ENV_PMI_SIZE,
    DLC_ENV_SLURM_NTASKS,
    DLC_ENV_RANK_SIZE,
    DLC_ENV_MS_WORKER_NUM,
    /* rendezvous */
    DLC_ENV_DLCOLL_INIT_METHOD,
    DLC_ENV_MASTER_ADDR,
    DLC_ENV_MASTER_PORT,
    DLC_ENV_MS_SCHED_HOST,
    DLC_ENV_MS_SCHED_PORT,
    /* the rest of the plugin's */
    DLC_ENV_DLCOLL_TIMEOUT,
    DLC_ENV_DLCOLL_PROVIDER,
    DLC_ENV_DLCOLL_DEBUG,
    DLC_ENV_DLCOLL_ALGO,
    DLC_ENV_DLCOLL_IFACE,
    DLC_ENV_FI_TCP_IFACE,
    DLC_ENV_DLCOLL_SHM_SLOT_BYTES,
    DLC_ENV_DLCOLL_SHM_CMA_MIN,
    DLC_ENV_DLCOLL_STREAM_MIN_BYTES,
    DLC_ENV_DLCOLL_GATHERED_MAX,
    /* the tcp:// store (docs/security.md) */
    DLC_ENV_DLCOLL_JOB_KEY,
    DLC_ENV_DLCOLL_JOB_KEY_FILE,
    DLC_ENV_DLCOLL_STORE_MAX_KEYS,
    DLC_ENV_DLCOLL_STORE_MAX_BYTES,
    DLC_ENV_DLCOLL_STORE_MAX_CONNS,
    DLC_ENV_DLCOLL_STORE_IDLE_MS,
    /* hosts and bindings */
    DLC_ENV_DLCOLL_PLUGIN,
    DLC_ENV_DLCOLL_MS_HELPER,
    DLC_ENV_MS_ROLE,
    DLC_ENV_OMPI_COMM_WORLD_LOCAL_RANK,
    DLC_ENV_COUNT
} dlc_env_id;

/* Row flags. */
#define DLC_ENV_NUMERIC_ONLY 0x1u /* skipped (not an error) when not an integer */
#define DLC_ENV_PLUGIN 0x2u       /* read by libdlcoll.so itself */
#define DLC_ENV_SECRET 0x4u       /* its value is never printed (dlcoll-info says "set") */

typedef struct dlc_env_var {
    const char *name;       /* "DLCOLL_RANK" */
    dlc_setting_id setting; /* what it sets */
    const char *form;       /* accepted form */
    const char *dflt;       /* what applies when it (and everything before it) is unset */
    const char *when;       /* when it is read */
    const char *reader;     /* "plugin", "host (abi/dlcoll_loader.h)", ... */
    const char *doc;        /* the document that describes it */
    unsigned flags;         /* DLC_ENV_* */
} dlc_env_var;

typedef struct dlc_setting_info {
    const char *name;   /* "rank", "timeout_ms", ... */
    const char *config; /* the dlcoll_config_t field that overrides it, or NULL */
    const char *dflt;   /* the default, as dlc_settings_report prints it */
} dlc_setting_info;

extern const dlc_env_var dlc_env_table[DLC_ENV_COUNT];
extern const dlc_setting_info dlc_setting_table[DLC_SET_COUNT];

/* The name of a variable (never NULL for a valid id). */
const char *dlc_env_name(dlc_env_id id);
/* The row of `name`, or NULL when dlcoll does not read it. */
const dlc_env_var *dlc_env_find(const char *name);

#endif
