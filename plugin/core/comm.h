/*
 * comm.h -- the world (one per init) and the communicators that share it.
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
#ifndef DLC_COMM_H
#define DLC_COMM_H

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

/* ------------------------------------------------------------------ comm.c */

/* Allocate a communicator and register it with the world. */
dlcoll_status_t dlc_comm_new(dlc_world *w, uint32_t id, int rank, int size, const int *members,
                             const char *name, dlcoll_comm **out, dlc_err *err);

/* The world communicator (id DLC_WORLD_COMM_ID), not a group. */
static inline int dlc_comm_is_world(const dlcoll_comm *c)
{
    return c->id == DLC_WORLD_COMM_ID;
}

/* Unregister and free (no pending requests). */
void dlc_comm_free(dlcoll_comm *c);

/* Every member of c runs on this host (computed once per communicator). */
int dlc_comm_all_local(dlcoll_comm *c);

/* c's view of the host map (rankmap.h), made at the first call; NULL when
 * out of memory. */
const dlc_rankmap *dlc_comm_rankmap(dlcoll_comm *c);
void dlc_comm_rankmap_free(dlcoll_comm *c);

/* The state in slot `slot` of c, NULL when none. */
static inline void *dlc_comm_ext_get(const dlcoll_comm *c, int slot)
{
    return c->ext[slot].state;
}

/* Put state (freed by release when c is freed) into slot `slot` of c. */
static inline void dlc_comm_ext_set(dlcoll_comm *c, int slot, void *state,
                                    dlc_comm_ext_release_fn release)
{
    c->ext[slot].state = state;
    c->ext[slot].release = release;
    c->ext[slot].publish = NULL;
    c->ext[slot].read = NULL;
}

/* Give slot `slot` of c (already set) a failure channel of its own. */
static inline void dlc_comm_ext_set_channel(dlcoll_comm *c, int slot, dlc_comm_ext_publish_fn pub,
                                            dlc_comm_ext_read_fn read)
{
    c->ext[slot].publish = pub;
    c->ext[slot].read = read;
}

/* Write m into every slot's failure channel of c (dlc_comm_fail does). */
void dlc_comm_ext_publish_all(dlcoll_comm *c, const dlc_notice_msg *m);

/* Read every slot's failure channel of c and apply what a member wrote
 * there as a notice (dlc_notice_deliver).  Returns non-zero when c failed. */
int dlc_comm_ext_read_all(dlcoll_comm *c);

/* The first failure written into one of c's slots' channels: 1 and *m, else
 * 0 (for a composite operation forwarding its views' channels). */
int dlc_comm_ext_read_any(dlcoll_comm *c, dlc_notice_msg *m);

/* Make *v a view of parent: an unregistered communicator of `size` of the
 * world's ranks (members: world ranks, owned by the caller) in which this
 * rank is `rank`, with parent's world, id and timeout, named
 * "<parent>/<suffix>".  The sub-operations of a composite operation run on
 * views (hier: the partners on the other hosts, this host's members).  Its
 * owner frees its slots with dlc_comm_ext_release_all, then its memory. */
void dlc_comm_view_init(dlcoll_comm *v, const dlcoll_comm *parent, int rank, int size, int *members,
                        const char *suffix);

/* Call every slot's release hook and empty the slots (dlc_comm_free does;
 * so do owners of communicators that are not registered, like hier's). */
void dlc_comm_ext_release_all(dlcoll_comm *c);

dlcoll_comm *dlc_comm_lookup(dlc_world *w, uint32_t id);

/* A new id: ((world rank + 1) << 10) | counter. */
dlcoll_status_t dlc_comm_alloc_id(dlc_world *w, uint32_t *id, dlc_err *err);

/* "rank R" in the world, "rank R (group 'name' rank g/n)" in a group. */
const char *dlc_comm_who(const dlcoll_comm *c, char *buf, size_t cap);

int dlc_comm_is_aborted(const dlcoll_comm *c);

/* Before a new operation: the comm's earlier failure or abort, as a message in
 * msg (DLC_MSG_MAX), else DLCOLL_SUCCESS. */
dlcoll_status_t dlc_comm_check_usable(dlcoll_comm *c, const char *op, char *msg);

/* Record msg as the comm's last error (and nothing else). */
void dlc_comm_set_error(dlcoll_comm *c, const char *msg);

/*
 * Fail communicator c: its running request fails with "<prefix>: <cause>",
 * the queued ones with "communicator failed earlier: ...", their posted
 * transfers are cancelled or completed (waiting up to about a second), every
 * later op fails at once.  With notify, the other members are told: the
 * failure is written into the slots' own channels (the shared segment) and
 * a NOTICE carrying the message goes to each member, pushed out (bounded)
 * before the failure is reported here.  Nothing happens when c already
 * failed.  This is the one failure rule of every operation: docs/abi.md
 * section 12.
 */
void dlc_comm_fail(dlcoll_comm *c, dlcoll_status_t status, const char *cause, int notify);

/* ------------------------------------------------------------------ progress.c */

/* One pass: completions, notices, liveness, every comm's running request.
 * Returns non-zero when anything happened. */
int dlc_progress_pass(dlc_world *w);


/* Block until r completes (timeout_ms < 0: only the comm's timeout bounds it;
 * else a wait timeout fails the op and the comm).  Drops w->lock between polls. */
dlcoll_status_t dlc_progress_wait(dlcoll_request *r, int timeout_ms);

/* Poll the transport until no request in c's FIFO has a receive still
 * posted, nor a send to a peer not known to be gone, at most timeout_ms.
 * Only reads completions (advances nothing). */
void dlc_progress_drain(dlcoll_comm *c, int timeout_ms);

/* ------------------------------------------------------------------ liveness.c */

/* Open (close) /proc/<pid>/stat of every peer on this host. */
void dlc_liveness_open(dlc_world *w);
void dlc_liveness_close(dlc_world *w);

/* Check the local peers of every communicator with a running request (every
 * ~100 ms); records the time a peer was found gone in w->dead_ns. */
void dlc_liveness_scan(dlc_world *w, uint64_t now);

/* Check now whether world rank r (on this host) has exited, waiting up to
 * wait_ms for a dying process; records it.  0 for ranks on other hosts. */
int dlc_liveness_peer_gone(dlc_world *w, int r, int wait_ms);

/* Check now (as dlc_liveness_peer_gone) whether world rank r, a member of c,
 * has exited; when it has, check c's other members on this host at the same
 * moment and describe every one gone into cause (dlc_liveness_describe_dead,
 * r preferred).  Returns how many are gone, 0 when r is not. */
int dlc_liveness_peer_exit_cause(dlcoll_comm *c, int r, int wait_ms, char *cause, size_t cap);

/* Before a send to world rank r: 0 when the provider is shared-memory and r
 * has exited or is exiting (see liveness.c for why). */
int dlc_liveness_safe_to_send(dlc_world *w, int r);

/* Describe the members of c found gone, into cause: "rank P (pid X on host H)
 * exited", the first to go named first (ties: `prefer`, the peer being waited
 * on), then "; also gone: ..." for the others, so a survivor names the rank that
 * was killed even when a neighbour exited after it.  Returns how many are gone. */
int dlc_liveness_describe_dead(const dlcoll_comm *c, int prefer, char *cause, size_t cap);

/* "rank P (pid X on host H)" */
const char *dlc_peer_desc(const dlc_world *w, int world_rank, char *buf, size_t cap);

/* ------------------------------------------------------------------ notice.c */

dlcoll_status_t dlc_notice_start(dlc_world *w, dlc_err *err);
/* Handle received notices (and retire sent ones). Returns non-zero when any arrived. */
int dlc_notice_poll(dlc_world *w);
void dlc_notice_send(dlcoll_comm *c, uint32_t seq, dlcoll_status_t status, const char *msg);
/* Send notice m to world rank peer (retried while the provider has no room). */
void dlc_notice_post(dlc_world *w, int peer, const dlc_notice_msg *m);
/* Progress until every notice sent is delivered or given up, at most timeout_ms. */
void dlc_notice_flush(dlc_world *w, int timeout_ms);
/* Apply a failure report m about communicator c (from a NOTICE or a
 * slot's channel): c fails now when this rank is at op #m->seq or later,
 * else when it gets there. */
void dlc_notice_deliver(dlcoll_comm *c, const dlc_notice_msg *m);
/* Init: an empty message to every other rank on this host and one from
 * each, so that a later notice between them never waits for a connection
 * (the shm provider connects a pair only while the receiver polls). */
dlcoll_status_t dlc_notice_connect_local(dlc_world *w, int timeout_ms, dlc_err *err);
/* A group was just created here: apply notices that arrived for it before. */
void dlc_notice_adopt(dlcoll_comm *c);
/* Cancel the receives and wait (bounded) for them, and for the notices
 * still going out, unless !may_poll; before closing the transport. */
void dlc_notice_stop(dlc_world *w, int may_poll);
/* Free what is left; after the transport is closed. */
void dlc_notice_free(dlc_world *w);

/* ------------------------------------------------------------------ rollcall.c */

/* Op #seq of c timed out: ask every member where it is.  -1 (no roll call)
 * when out of memory. */
int dlc_rollcall_start(dlcoll_comm *c, uint32_t seq, uint64_t now);
/* Every member answered, or the window is over. */
int dlc_rollcall_ready(const dlcoll_comm *c, uint64_t now);
/* "; ranks 3, 5 never started #17 (last completed: ...); ..." */
void dlc_rollcall_describe(const dlcoll_comm *c, char *out, size_t cap);
void dlc_rollcall_on_query(dlc_world *w, const dlc_notice_msg *q);
void dlc_rollcall_on_answer(dlc_world *w, const dlc_notice_msg *a);
void dlc_rollcall_free(dlcoll_comm *c);

/* ------------------------------------------------------------------ flight.c */

/* Record r (its comm set) at its submission, the algorithm and its CQ data
 * word (op kind, dtype, bytes per rank), its start and its end. */
void dlc_flight_submit(dlcoll_request *r);
void dlc_flight_note(dlcoll_request *r, const char *algo, uint64_t cqdata);
void dlc_flight_start(dlcoll_request *r, uint64_t now);
void dlc_flight_finish(dlcoll_request *r);
/* One line per recorded operation of c, oldest first; returns the length. */
size_t dlc_flight_format(const dlcoll_comm *c, char *out, size_t cap);
/* Log c's flight recorder at INFO (nothing below that level). */
void dlc_flight_log(const dlcoll_comm *c);

/* ------------------------------------------------------------------ finalize.c */

/* Tear down everything a (possibly partly built) world holds and free it.
 * Called with w->lock NOT held. */
void dlc_world_destroy(dlc_world *w);

#endif
