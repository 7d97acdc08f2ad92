/*
 * config.h -- turn a dlcoll_config_t plus the environment into settings.
 *
 * Precedence (first found wins), documented in docs/abi.md:
 *   rank:        config.rank, DLCOLL_RANK, RANK, OMPI_COMM_WORLD_RANK, PMI_RANK,
 *                SLURM_PROCID, RANK_ID, MS_NODE_ID (numeric only)
 *   world size:  config.world_size, DLCOLL_WORLD_SIZE, WORLD_SIZE,
 *                OMPI_COMM_WORLD_SIZE, PMI_SIZE, SLURM_NTASKS, RANK_SIZE, MS_WORKER_NUM
 *   rendezvous:  config.store, config.init_method, DLCOLL_INIT_METHOD,
 *                MASTER_ADDR+MASTER_PORT (tcp://), MS_SCHED_HOST+MS_SCHED_PORT (tcp://)
 *   timeout:     config.timeout_ms, DLCOLL_TIMEOUT (ms), DLCOLL_DEFAULT_TIMEOUT_MS
 *   provider:    config.provider, DLCOLL_PROVIDER, automatic ("")
 *   log level:   config.log_level, DLCOLL_DEBUG, WARN
 *   job key:     DLCOLL_JOB_KEY, DLCOLL_JOB_KEY_FILE (docs/security.md)
 *   store:       DLCOLL_STORE_MAX_KEYS, _MAX_BYTES, _MAX_CONNS, _IDLE_MS
 *   tuning:      DLCOLL_SHM_SLOT_BYTES, DLCOLL_SHM_CMA_MIN, DLCOLL_STREAM_MIN_BYTES,
 *                DLCOLL_GATHERED_MAX
 *                (byte counts; unset = automatic)
 * Every value is validated; an error names the variable and the bad value.
 */
#ifndef DLC_CONFIG_H
#define DLC_CONFIG_H

#include "plugin/util/error.h"

/* Injectable getenv so unit tests need not touch the process environment. */
typedef const char *(*dlc_getenv_fn)(void *ctx, const char *name);

typedef enum dlc_rdv_kind {
    DLC_RDV_STORE = 0, /* host-provided callbacks */
    DLC_RDV_TCP = 1,   /* tcp://host:port         */
    DLC_RDV_FILE = 2   /* file:///dir             */
} dlc_rdv_kind;

/* Bounds of DLCOLL_SHM_SLOT_BYTES. */
#define DLC_SHM_SLOT_MIN ((size_t)4 << 10)
#define DLC_SHM_SLOT_MAX ((size_t)64 << 20)

typedef struct dlc_settings {
    int rank;
    int world_size;
    int timeout_ms;
    dlc_rdv_kind rdv;
    char rdv_host[256];          /* DLC_RDV_TCP */
    int rdv_port;                /* DLC_RDV_TCP */
    char rdv_path[1024];         /* DLC_RDV_FILE */
    const dlcoll_store_t *store; /* DLC_RDV_STORE */
    char provider[64];           /* "" = automatic */
    int log_level;               /* dlcoll_log_level_t */
    dlcoll_log_fn log_fn;
    void *log_ctx;
    /* Tuning of the shared-segment exchange (docs/abi.md, environment). */
    size_t shm_slot_bytes;      /* DLCOLL_SHM_SLOT_BYTES; 0 = automatic */
    long long shm_cma_min;      /* DLCOLL_SHM_CMA_MIN; -1 = automatic, 0 = never CMA */
    long long stream_min_bytes; /* DLCOLL_STREAM_MIN_BYTES; -1 = automatic, 0 = never stream */
    long long gathered_max;     /* DLCOLL_GATHERED_MAX; -1 = automatic, 0 = never */
    /* The job secret (docs/security.md): DLCOLL_JOB_KEY, else the contents of
     * DLCOLL_JOB_KEY_FILE; job_key_len 0 when there is none.  job_key_insecure:
     * DLCOLL_JOB_KEY=insecure, the explicit opt-out. */
    unsigned char job_key[256];
    size_t job_key_len;
    int job_key_insecure;
    const char *job_key_from; /* the variable, or NULL */
    /* Bounds of rank 0's tcp:// store server; 0 = the default. */
    long long store_max_keys;  /* DLCOLL_STORE_MAX_KEYS */
    long long store_max_bytes; /* DLCOLL_STORE_MAX_BYTES */
    int store_max_conns;       /* DLCOLL_STORE_MAX_CONNS */
    int store_idle_ms;         /* DLCOLL_STORE_IDLE_MS */
    /* Where each value came from ("config", "DLCOLL_RANK", ...), for INFO logs. */
    const char *rank_from, *size_from, *rdv_from;
} dlc_settings;

/* getenv_fn NULL: the process environment. */
dlcoll_status_t dlc_settings_resolve(const dlcoll_config_t *config, dlc_getenv_fn getenv_fn,
                                     void *getenv_ctx, dlc_settings *out, dlc_err *err);

/* The variables read after init, each when it is needed (docs/abi.md
 * section 6); with dlc_settings_resolve the only readers of the process
 * environment.  NULL when unset or empty. */
const char *dlc_env_algo(void);      /* DLCOLL_ALGO: at init and every allgather, barrier, split */
const char *dlc_env_log_level(void); /* DLCOLL_DEBUG: for a logger made without settings */
/* The interface the user asked for: DLCOLL_IFACE, then FI_TCP_IFACE; *from
 * names the variable. */
const char *dlc_env_iface(const char **from);

/* Parse an init_method URL ("tcp://h:p", "file:///p", "env://") into out. */
dlcoll_status_t dlc_parse_init_method(const char *url, dlc_getenv_fn getenv_fn, void *getenv_ctx,
                                      dlc_settings *out, dlc_err *err);

#endif
