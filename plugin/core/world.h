/*
 * world.h -- the engine's data: the world (one per init) and the communicators
 * that share it (core/comm.h has their functions).
 *
 * A world owns everything one init() created: settings, logger, store,
 * transport, the peers' host records, the registry of communicators (the world
 * communicator and its groups), every request not yet released, and the
 * NOTICE receives through which ranks tell each other about failures.
 *
 * Locking: w->lock serialises all transport, communicator and request state.
 * Every entry point takes it; a waiting thread drops it between polls.  The
 * only state touched without it is the atomic `aborted` flags (abort() may be
 * called from any thread) and the immutable fields of a communicator
 * (rank, size).  w->store_lock serialises store calls, which may block, so
 * they are made without holding w->lock (see group.c).
 *
 * Internal functions documented here expect w->lock to be held unless they
 * say otherwise.
 */
#ifndef DLC_WORLD_H
#define DLC_WORLD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "plugin/util/config.h"
#include "plugin/util/error.h"
#include "plugin/util/log.h"
#include "plugin/bootstrap/store.h"
#include "plugin/core/hostmap.h"
#include "plugin/core/rankmap.h"
#include "plugin/core/tag.h"
#include "plugin/topology/topology.h"
#include "plugin/transport/transport.h"
#include "providers/provider.h"

#define DLC_MSG_MAX 1024       /* a composed message: prefix + (forwarded) cause */
#define DLC_NOTICE_SLOTS 4     /* NOTICE receives kept posted per world */
#define DLC_NOTICE_MSG_MAX 400 /* text carried by one NOTICE */
#define DLC_NOTICE_ORPHANS 8   /* notices kept for groups this rank has not created yet */
#define DLC_COMM_NAME_MAX 64
#define DLC_WORLD_COMM_ID 1u
#define DLC_COMM_COUNTER_MAX 1023u /* ids per rank: ((rank + 1) << 10) | 1..1023 */

typedef struct dlcoll_comm dlcoll_comm;
typedef struct dlcoll_request dlcoll_request;
typedef struct dlc_world dlc_world;

/* What every rank publishes about itself at init ("dlcoll/host"). */
typedef struct dlc_host_rec {
    char host[DLC_HOSTNAME_MAX];
    int32_t pid;
    uint32_t probe_mask;
    uint64_t nonce; /* random: rank 0's names the job's shared segments */
} dlc_host_rec;

/* What every rank publishes about its endpoint at init ("dlcoll/addr"). */
typedef struct dlc_addr_rec {
    uint32_t len;
    uint8_t addr[DLC_MAX_ADDR];
} dlc_addr_rec;

/* A failure report sent to the other members of a communicator. */
typedef struct dlc_notice_msg {
    uint32_t comm_id;
    uint32_t seq;
    int32_t origin; /* world rank that detected the failure */
    int32_t status; /* dlcoll_status_t */
    uint32_t kind;  /* DLC_NOTICE_FAILURE, _QUERY, _ANSWER (rollcall.c) */
    uint32_t flags;
    uint32_t at_seq, done_seq; /* ANSWER: the op the member is in, the last it completed */
    char message[DLC_NOTICE_MSG_MAX];
} dlc_notice_msg;

enum { DLC_NOTICE_FAILURE = 0, DLC_NOTICE_QUERY = 1, DLC_NOTICE_ANSWER = 2 };

/* Per-communicator state of the layers above the engine (the collectives'
 * segments, layouts and caches): a few slots, each a pointer and the hook
 * that frees it when the communicator is freed.  The engine names no
 * algorithm; coll/coll.h says which slot is whose (UCC's team destroy hook,
 * MPI's attribute keyvals with delete callbacks).
 *
 * A slot may also carry a channel of its own for the failure rule (see
 * dlc_comm_fail): `publish` writes a failure of the communicator where the
 * members read it without the transport (the shared segment), and `read`
 * returns one a member wrote there (1, with *m filled), else 0. */
#define DLC_COMM_EXT_SLOTS 4
typedef void (*dlc_comm_ext_release_fn)(dlcoll_comm *c, void *state);
typedef void (*dlc_comm_ext_publish_fn)(dlcoll_comm *c, void *state, const dlc_notice_msg *m);
typedef int (*dlc_comm_ext_read_fn)(dlcoll_comm *c, void *state, dlc_notice_msg *m);
typedef struct dlc_comm_ext {
    void *state;
    dlc_comm_ext_release_fn release; /* called by dlc_comm_free when state != NULL */
    dlc_comm_ext_publish_fn publish; /* optional */
    dlc_comm_ext_read_fn read;       /* optional */
} dlc_comm_ext;

typedef struct dlc_notice_in {
    dlc_xfer x;
    int posted;
    dlc_notice_msg msg;
} dlc_notice_in;

typedef struct dlc_notice_out {
    dlc_xfer x;
    struct dlc_notice_out *next;
    int peer;   /* world rank */
    int posted; /* 0 while the provider had no room: retried by poll */
    uint64_t tag;
    uint64_t give_up_ns; /* stop retrying to post after this */
    int dropped;         /* given up on (already logged) */
    dlc_notice_msg msg;
} dlc_notice_out;

/* One operation in a communicator's flight recorder (flight.c). */
#define DLC_FLIGHT_OPS 16
typedef struct dlc_flight_op {
    int used, done;
    uint32_t seq;
    const char *op_name, *algo; /* static strings */
    uint64_t cqdata;            /* op kind, dtype, bytes per rank (tag.h) */
    dlcoll_status_t status;
    uint64_t submit_ns, start_ns, end_ns;
} dlc_flight_op;

/* How many times this rank created one (parent, name, ranks) group. */
typedef struct dlc_grp_count {
    struct dlc_grp_count *next;
    int count;
    char key[]; /* the store key without the trailing /<k> */
} dlc_grp_count;

struct dlc_world {
    dlc_settings settings;
    dlc_logger lg;
    dlc_topology topo;
    dlc_store *store;
    pthread_mutex_t store_lock;
    int store_lock_ready;
    dlc_transport *tp;
    int fabric_held; /* holds a libfabric reference (fabric_lib.h) */
    const dlc_provider *prov;
    char iface[64];

    pthread_mutex_t lock;
    int lock_ready;
    int waiters;               /* threads inside dlc_progress_wait() */
    int rank, size;            /* world rank and size */
    dlc_host_rec *hosts;       /* [size], from the store */
    dlc_hostmap hostmap;       /* who runs where, from hosts (hostmap.h) */
    uint64_t *dead_ns;         /* [size]: when liveness found the rank gone, 0 = alive */
    int *stat_fds;             /* [size]: /proc/<pid>/stat of local peers, else -1 */
    int *pid_fds;              /* [size]: pidfd of local peers (readable = exited), else -1 */
    uint64_t *stat_checked_ns; /* [size]: last /proc/<pid>/stat check before a send */
    int spin_ns;               /* wait loop: spin this long on the CQ before yielding */
    int spin_max_ns;           /* the most spin_ns adapts to (0: not chosen yet) */
    unsigned spin_probes;      /* waits begun at the shortest spin (every 64th probes) */
    uint64_t next_liveness_ns;
    uint64_t pass_ns; /* the clock as the running progress pass read it */

    dlcoll_comm **comms; /* registry, looked up by id for notices */
    int n_comms, cap_comms;
    dlcoll_comm *world;

    dlcoll_request *reqs;      /* every request not yet released */
    dlcoll_request *zombies;   /* released, but the transport may still use them */
    dlcoll_request *spare_req; /* one freed request's memory, for the next (request.c) */

    atomic_int aborted;  /* abort(world) or finalize: every comm */
    unsigned id_counter; /* comm ids handed out by this rank */

    dlc_notice_in notice_in[DLC_NOTICE_SLOTS];
    int notice_stopped;                         /* finalize: do not repost the receives */
    dlc_notice_msg orphans[DLC_NOTICE_ORPHANS]; /* notices for comms not created here yet */
    int n_orphans, next_orphan;
    dlc_xfer *hello_x; /* init's connections on this host (dlc_notice_connect_local) */
    int n_hello_x;
    dlc_notice_out *notice_out;
    dlc_grp_count *grp_counts;
};

struct dlcoll_comm {
    dlc_world *w;
    uint32_t id;
    int rank, size;
    int *members; /* group rank -> world rank */
    char name[DLC_COMM_NAME_MAX];
    int timeout_ms;
    uint32_t next_seq; /* op sequence number (masked in tags) */

    dlcoll_request *head, *tail; /* FIFO of this comm's incomplete requests */

    int failed; /* once set, every new op fails at once */
    dlcoll_status_t fail_status;
    char fail_msg[DLC_MSG_MAX];

    /* A peer reported a failure of op #pending_seq while this rank is still
     * at an earlier op (which the reporter completed): fail when we get there. */
    int pending;
    uint32_t pending_seq;
    dlcoll_status_t pending_status;
    char pending_cause[DLC_MSG_MAX];

    atomic_int aborted;
    char last_error[DLC_MSG_MAX];

    uint32_t last_done_seq;               /* the last op completed here (successfully) */
    dlc_flight_op flight[DLC_FLIGHT_OPS]; /* the last operations (flight.c) */
    struct {                              /* the roll call of a timed-out op (rollcall.c) */
        int active;
        uint32_t seq;
        uint64_t deadline_ns;
        uint8_t *answer;     /* [size] */
        uint32_t *at, *done; /* [size] */
    } rc;

    int all_local;        /* -1 not known yet, else whether all members are on this host */
    dlc_rankmap *rankmap; /* made at first use (dlc_comm_rankmap) */
    dlc_comm_ext ext[DLC_COMM_EXT_SLOTS]; /* the collectives' state (coll/coll.h) */
};

/* ------------------------------------------------------------------ time */

uint64_t dlc_now_ns(void);

#define DLC_MS_NS UINT64_C(1000000)

#endif
