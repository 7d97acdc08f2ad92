/*
 * settings_table.c -- every environment variable dlcoll reads (see
 * settings_table.h).  docs/abi.md section 6 is the prose of the same list.
 */
#include "plugin/util/settings_table.h"

#include <string.h>

#define ABI6 "docs/abi.md#6"
#define PLUG "plugin"
#define AT_INIT "init"
#define INT_FORM "integer"
#define BYTES "byte count (decimal digits)"
#define SEC "docs/security.md"
#define AT_OPEN "init (tcp:// store, rank 0's server)"

const dlc_setting_info dlc_setting_table[DLC_SET_COUNT] = {
    [DLC_SET_RANK] = {"rank", "config.rank", "none (init fails)"},
    [DLC_SET_WORLD_SIZE] = {"world_size", "config.world_size", "none (init fails)"},
    [DLC_SET_RENDEZVOUS] = {"init_method", "config.store, config.init_method", "none (init fails)"},
    [DLC_SET_TIMEOUT] = {"timeout_ms", "config.timeout_ms", "300000"},
    [DLC_SET_PROVIDER] = {"provider", "config.provider", "auto"},
    [DLC_SET_LOG_LEVEL] = {"log_level", "config.log_level", "WARN"},
    [DLC_SET_ALGO] = {"algo", NULL, "auto"},
    [DLC_SET_IFACE] = {"iface", NULL, "auto"},
    [DLC_SET_SHM_SLOT_BYTES] = {"shm_slot_bytes", NULL, "auto"},
    [DLC_SET_SHM_CMA_MIN] = {"shm_cma_min", NULL, "auto"},
    [DLC_SET_STREAM_MIN_BYTES] = {"stream_min_bytes", NULL, "auto"},
    [DLC_SET_GATHERED_MAX] = {"gathered_max", NULL, "65536"},
    [DLC_SET_JOB_KEY] = {"job_key", NULL, "none: tcp:// only on loopback, with a warning"},
    [DLC_SET_STORE_MAX_KEYS] = {"store_max_keys", NULL, "262144"},
    [DLC_SET_STORE_MAX_BYTES] = {"store_max_bytes", NULL, "268435456"},
    [DLC_SET_STORE_MAX_CONNS] = {"store_max_conns", NULL, "4096 (at most half the fd limit)"},
    [DLC_SET_STORE_IDLE_MS] = {"store_idle_ms", NULL, "10000 (at most timeout_ms)"},
    [DLC_SET_PLUGIN_PATH] = {"plugin_path", "dlcoll_load(path)", "libdlcoll.so"},
    [DLC_SET_MS_HELPER] = {"ms_helper", NULL, "libdlcoll_ms.so next to the plugin"},
    [DLC_SET_MS_ROLE] = {"ms_role", NULL, "unset: a rank"},
    [DLC_SET_LOCAL_RANK] = {"local_rank", NULL, "0"},
};

#define RANK_ROW(n, f)                                                                             \
    {                                                                                              \
        n, DLC_SET_RANK, INT_FORM, "the next variable; none: init fails", AT_INIT, PLUG, ABI6,     \
            (f) | DLC_ENV_PLUGIN                                                                   \
    }
#define SIZE_ROW(n)                                                                                \
    {                                                                                              \
        n, DLC_SET_WORLD_SIZE, "integer >= 1", "the next variable; none: init fails", AT_INIT,     \
            PLUG, ABI6, DLC_ENV_PLUGIN                                                             \
    }

const dlc_env_var dlc_env_table[DLC_ENV_COUNT] = {
    [DLC_ENV_DLCOLL_RANK] = RANK_ROW("DLCOLL_RANK", 0),
    [DLC_ENV_RANK] = RANK_ROW("RANK", 0),
    [DLC_ENV_OMPI_COMM_WORLD_RANK] = RANK_ROW("OMPI_COMM_WORLD_RANK", 0),
    [DLC_ENV_PMI_RANK] = RANK_ROW("PMI_RANK", 0),
    [DLC_ENV_SLURM_PROCID] = RANK_ROW("SLURM_PROCID", 0),
    [DLC_ENV_RANK_ID] = RANK_ROW("RANK_ID", 0),
    [DLC_ENV_MS_NODE_ID] = RANK_ROW("MS_NODE_ID", DLC_ENV_NUMERIC_ONLY),

    [DLC_ENV_DLCOLL_WORLD_SIZE] = SIZE_ROW("DLCOLL_WORLD_SIZE"),
    [DLC_ENV_WORLD_SIZE] = SIZE_ROW("WORLD_SIZE"),
    [DLC_ENV_OMPI_COMM_WORLD_SIZE] = SIZE_ROW("OMPI_COMM_WORLD_SIZE"),
    [DLC_ENV_PMI_SIZE] = SIZE_ROW("PMI_SIZE"),
    [DLC_ENV_SLURM_NTASKS] = SIZE_ROW("SLURM_NTASKS"),
    [DLC_ENV_RANK_SIZE] = SIZE_ROW("RANK_SIZE"),
    [DLC_ENV_MS_WORKER_NUM] = SIZE_ROW("MS_WORKER_NUM"),

    [DLC_ENV_DLCOLL_INIT_METHOD] = {"DLCOLL_INIT_METHOD", DLC_SET_RENDEZVOUS,
                                    "tcp://host:port, tcp://[ipv6]:port, file:///dir or env://",
                                    "MASTER_ADDR+MASTER_PORT, then MS_SCHED_HOST+MS_SCHED_PORT",
                                    AT_INIT, PLUG, ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_MASTER_ADDR] = {"MASTER_ADDR", DLC_SET_RENDEZVOUS, "host name or address",
                             "MS_SCHED_HOST+MS_SCHED_PORT", AT_INIT " (with MASTER_PORT)", PLUG,
                             ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_MASTER_PORT] = {"MASTER_PORT", DLC_SET_RENDEZVOUS, "port 1..65535",
                             "MS_SCHED_HOST+MS_SCHED_PORT", AT_INIT " (with MASTER_ADDR)", PLUG,
                             ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_MS_SCHED_HOST] = {"MS_SCHED_HOST", DLC_SET_RENDEZVOUS, "host name or address",
                               "none: init fails", AT_INIT " (with MS_SCHED_PORT)", PLUG, ABI6,
                               DLC_ENV_PLUGIN},
    [DLC_ENV_MS_SCHED_PORT] = {"MS_SCHED_PORT", DLC_SET_RENDEZVOUS, "port 1..65535",
                               "none: init fails", AT_INIT " (with MS_SCHED_HOST)", PLUG, ABI6,
                               DLC_ENV_PLUGIN},

    [DLC_ENV_DLCOLL_TIMEOUT] = {"DLCOLL_TIMEOUT", DLC_SET_TIMEOUT, "milliseconds > 0",
                                "DLCOLL_DEFAULT_TIMEOUT_MS (300000)", AT_INIT, PLUG, ABI6,
                                DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_PROVIDER] = {"DLCOLL_PROVIDER", DLC_SET_PROVIDER,
                                 "shm, tcp, udp, sockets, verbs, efa",
                                 "automatic: shm on one host, else efa, verbs, tcp", AT_INIT, PLUG,
                                 ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_DEBUG] = {"DLCOLL_DEBUG", DLC_SET_LOG_LEVEL, "NONE, WARN, INFO, TRACE or 0..3",
                              "WARN", AT_INIT " (and by a logger made without settings)", PLUG,
                              ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_ALGO] = {"DLCOLL_ALGO", DLC_SET_ALGO, "auto, shm, hier, direct, ring", "auto",
                             AT_INIT " and every allgather, barrier and group_split", PLUG, ABI6,
                             DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_IFACE] = {"DLCOLL_IFACE", DLC_SET_IFACE, "network interface name",
                              "FI_TCP_IFACE, else automatic", AT_INIT " (IP providers)", PLUG, ABI6,
                              DLC_ENV_PLUGIN},
    [DLC_ENV_FI_TCP_IFACE] = {"FI_TCP_IFACE", DLC_SET_IFACE, "network interface name",
                              "automatic: lo on one host, else the rendezvous host's subnet",
                              AT_INIT " (IP providers; libfabric reads it too)", PLUG, ABI6,
                              DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_SHM_SLOT_BYTES] = {"DLCOLL_SHM_SLOT_BYTES", DLC_SET_SHM_SLOT_BYTES,
                                       BYTES " in 4096..64 MiB", "automatic (64 KiB or 1 MiB)",
                                       AT_INIT, PLUG, ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_SHM_CMA_MIN] = {"DLCOLL_SHM_CMA_MIN", DLC_SET_SHM_CMA_MIN, BYTES "; 0 = never",
                                    "automatic agreement", AT_INIT, PLUG, ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_STREAM_MIN_BYTES] = {"DLCOLL_STREAM_MIN_BYTES", DLC_SET_STREAM_MIN_BYTES,
                                         BYTES "; 0 = never", "half the last-level cache", AT_INIT,
                                         PLUG, ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_GATHERED_MAX] = {"DLCOLL_GATHERED_MAX", DLC_SET_GATHERED_MAX,
                                     BYTES "; 0 = never", "65536 (216 without a shared segment)",
                                     AT_INIT, PLUG, ABI6, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_JOB_KEY] = {"DLCOLL_JOB_KEY", DLC_SET_JOB_KEY,
                                "16..255 characters (dlcoll-run: 64 hex digits), or insecure",
                                "DLCOLL_JOB_KEY_FILE", AT_INIT, PLUG, SEC,
                                DLC_ENV_PLUGIN | DLC_ENV_SECRET},
    [DLC_ENV_DLCOLL_JOB_KEY_FILE] = {"DLCOLL_JOB_KEY_FILE", DLC_SET_JOB_KEY,
                                     "path of a regular file of yours, mode 0600 or stricter",
                                     "none: tcp:// only on loopback, with a warning", AT_INIT, PLUG,
                                     SEC, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_STORE_MAX_KEYS] = {"DLCOLL_STORE_MAX_KEYS", DLC_SET_STORE_MAX_KEYS,
                                       "integer 16..2^31-1", "262144", AT_OPEN, PLUG, SEC,
                                       DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_STORE_MAX_BYTES] = {"DLCOLL_STORE_MAX_BYTES", DLC_SET_STORE_MAX_BYTES,
                                        BYTES " >= 64 KiB", "256 MiB", AT_OPEN, PLUG, SEC,
                                        DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_STORE_MAX_CONNS] = {"DLCOLL_STORE_MAX_CONNS", DLC_SET_STORE_MAX_CONNS,
                                        "integer 4..1048576", "4096, at most half of RLIMIT_NOFILE",
                                        AT_OPEN, PLUG, SEC, DLC_ENV_PLUGIN},
    [DLC_ENV_DLCOLL_STORE_IDLE_MS] = {"DLCOLL_STORE_IDLE_MS", DLC_SET_STORE_IDLE_MS,
                                      "milliseconds > 0", "10000, at most DLCOLL_TIMEOUT", AT_OPEN,
                                      PLUG, SEC, DLC_ENV_PLUGIN},

    [DLC_ENV_DLCOLL_PLUGIN] = {"DLCOLL_PLUGIN", DLC_SET_PLUGIN_PATH, "path of libdlcoll.so",
                               "libdlcoll.so (the dynamic linker's search path)",
                               "dlcoll_load(NULL)", "host (abi/dlcoll_loader.h), dlcoll.torch",
                               ABI6, 0},
    [DLC_ENV_DLCOLL_MS_HELPER] = {"DLCOLL_MS_HELPER", DLC_SET_MS_HELPER, "path of libdlcoll_ms.so",
                                  "next to the plugin, else built", "first dlcoll.mindspore op",
                                  "dlcoll.mindspore", "docs/mindspore.md", 0},
    [DLC_ENV_MS_ROLE] = {"MS_ROLE", DLC_SET_MS_ROLE, "MS_SCHED or MS_WORKER", "a rank",
                         "dlcoll.mindspore.init()", "dlcoll.mindspore", "docs/mindspore.md", 0},
    [DLC_ENV_OMPI_COMM_WORLD_LOCAL_RANK] = {"OMPI_COMM_WORLD_LOCAL_RANK", DLC_SET_LOCAL_RANK,
                                            INT_FORM, "0", "drop-in init",
                                            "libmpi_collective.so (MindSpore drop-in)",
                                            "docs/mindspore.md", 0},
};

const char *dlc_env_name(dlc_env_id id)
{
    return (unsigned)id < DLC_ENV_COUNT ? dlc_env_table[id].name : "?";
}

const dlc_env_var *dlc_env_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < DLC_ENV_COUNT; i++)
        if (strcmp(dlc_env_table[i].name, name) == 0)
            return &dlc_env_table[i];
    return NULL;
}
