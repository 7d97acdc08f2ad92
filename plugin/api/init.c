/*
 * init.c -- build a world: settings, store, transport, peers, world comm.
 *
 *   settings (config + environment) -> logger -> topology -> store
 *   -> store allgather "dlcoll/host": {host name, pid, usable providers}
 *   -> provider every rank can use (shm when all ranks share this host)
 *   -> interface (IP providers) -> transport -> store allgather "dlcoll/addr"
 *   -> peers in the address vector -> NOTICE receives -> world comm (id 1)
 *   -> a barrier over the fabric (proves every pair can talk, within the
 *      timeout) -> one INFO line summing it all up.
 *
 * Any failure tears down what was built and reports "rank R: init: <cause>"
 * through the thread's error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "plugin/coll/coll.h"
#include "plugin/api/api.h"
#include "plugin/transport/fabric_lib.h"

/* ------------------------------------------------------------------ steps */

static dlcoll_status_t exchange_hosts(dlc_world *w, dlc_err *err)
{
    dlc_host_rec mine;
    memset(&mine, 0, sizeof mine);
    if (gethostname(mine.host, sizeof mine.host - 1) != 0)
        snprintf(mine.host, sizeof mine.host, "unknown-host");
    mine.host[sizeof mine.host - 1] = '\0';
    mine.pid = (int32_t)getpid();
    if (getrandom(&mine.nonce, sizeof mine.nonce, 0) != (ssize_t)sizeof mine.nonce)
        mine.nonce = ((uint64_t)getpid() << 32) ^ dlc_now_ns();
    /* The world keeps libfabric loaded from here to dlc_world_destroy; a rank
     * that cannot load it has no provider, which every rank then reports
     * (check_some_provider). */
    dlc_err fabric_err;
    w->fabric_held = dlc_fabric_acquire(&w->lg, &fabric_err) == DLCOLL_SUCCESS;
    mine.probe_mask = w->fabric_held ? dlc_transport_probe(&w->lg) : 0;

    w->hosts = calloc((size_t)w->size, sizeof *w->hosts);
    w->dead_ns = calloc((size_t)w->size, sizeof *w->dead_ns);
    if (!w->hosts || !w->dead_ns)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for %d peers", w->size);
    dlcoll_status_t st = dlc_store_allgather(w->store, "dlcoll/host", w->rank, w->size, &mine,
                                             sizeof mine, w->hosts, w->settings.timeout_ms, err);
    for (int i = 0; st == DLCOLL_SUCCESS && i < w->size; i++)
        w->hosts[i].host[DLC_HOSTNAME_MAX - 1] = '\0';
    if (st == DLCOLL_SUCCESS)
        st = dlc_hostmap_build(&w->hostmap, w->size, w->rank, w->hosts[0].host, sizeof w->hosts[0],
                               err);
    if (st == DLCOLL_SUCCESS)
        dlc_liveness_open(w);
    return st;
}

/* A rank that could use no provider at all (libfabric missing there, or no
 * provider works) fails init on every rank alike, named; that rank also says
 * why (dlc_fabric_acquire's message). */
static dlcoll_status_t check_some_provider(dlc_world *w, dlc_err *err)
{
    int first = -1, count = 0;
    for (int i = 0; i < w->size; i++)
        if (w->hosts[i].probe_mask == 0 && count++ == 0)
            first = i;
    if (count == 0)
        return DLCOLL_SUCCESS;
    dlc_err why;
    dlc_err_clear(&why);
    if (w->fabric_held || dlc_fabric_acquire(&w->lg, &why) == DLCOLL_SUCCESS) {
        /* (dlc_fabric_acquire repeats the remembered load failure; it cannot
         * succeed here after failing in exchange_hosts, but if it did:) */
        if (!w->fabric_held)
            dlc_fabric_release(&w->lg);
        snprintf(why.msg, sizeof why.msg,
                 "no libfabric provider works here (DLCOLL_DEBUG=TRACE "
                 "lists why each was refused)");
    }
    return dlc_fail(err, DLCOLL_ERR_TRANSPORT, "rank %d (%s)%s can use no libfabric provider%s%s",
                    first, w->hosts[first].host, count > 1 ? " and others" : "",
                    w->hosts[w->rank].probe_mask == 0 ? ": " : "; see that rank's error",
                    w->hosts[w->rank].probe_mask == 0 ? why.msg : "");
}

static dlcoll_status_t open_transport(dlc_world *w, int *all_local, dlc_err *err)
{
    uint32_t mask = UINT32_MAX;
    for (int i = 0; i < w->size; i++)
        mask &= w->hosts[i].probe_mask;
    *all_local = w->hostmap.local_ranks == w->size;
    dlcoll_status_t st = check_some_provider(w, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    st = dlc_provider_choose(w->settings.provider, mask, *all_local, &w->prov, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if (w->prov->uses_ip_iface)
        dlc_topology_pick_iface(&w->topo,
                                w->settings.rdv == DLC_RDV_TCP ? w->settings.rdv_host : NULL,
                                *all_local, w->iface, sizeof w->iface, &w->lg);
    dlc_transport_params p = {w->prov->name, w->iface[0] ? w->iface : NULL, w->rank, &w->lg};
    return dlc_transport_open(&p, &w->tp, err);
}

static dlcoll_status_t exchange_addresses(dlc_world *w, dlc_err *err)
{
    dlc_addr_rec mine;
    memset(&mine, 0, sizeof mine);
    size_t len = sizeof mine.addr;
    dlcoll_status_t st = dlc_transport_getname(w->tp, mine.addr, &len, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    mine.len = (uint32_t)len;

    dlc_addr_rec *all = calloc((size_t)w->size, sizeof *all);
    size_t *lens = calloc((size_t)w->size, sizeof *lens);
    if (!all || !lens) {
        free(all);
        free(lens);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory for %d addresses", w->size);
    }
    st = dlc_store_allgather(w->store, "dlcoll/addr", w->rank, w->size, &mine, sizeof mine, all,
                             w->settings.timeout_ms, err);
    for (int i = 0; st == DLCOLL_SUCCESS && i < w->size; i++) {
        if (all[i].len == 0 || all[i].len > DLC_MAX_ADDR)
            st = dlc_fail(err, DLCOLL_ERR_BOOTSTRAP,
                          "rank %d published an endpoint name of %u "
                          "bytes",
                          i, (unsigned)all[i].len);
        lens[i] = all[i].len;
    }
    if (st == DLCOLL_SUCCESS)
        st = dlc_transport_insert_peers(w->tp, all[0].addr, sizeof *all, lens, w->size, err);
    free(all);
    free(lens);
    return st;
}

static dlcoll_status_t make_world_comm(dlc_world *w, dlc_err *err)
{
    int *members = malloc((size_t)w->size * sizeof *members);
    if (!members)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    for (int i = 0; i < w->size; i++)
        members[i] = i;
    dlcoll_status_t st =
        dlc_comm_new(w, DLC_WORLD_COMM_ID, w->rank, w->size, members, "world", &w->world, err);
    free(members);
    if (st == DLCOLL_SUCCESS)
        w->world->next_seq =
            0; /* the init barrier is barrier #0; the application's ops count from 1 */
    return st;
}

/* Barrier #0 over the fabric: every rank reached every other one. */
static dlcoll_status_t first_barrier(dlc_world *w, dlc_err *err)
{
    dlcoll_request *r = NULL;
    dlcoll_status_t st = dlc_barrier_submit(w->world, &r, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    pthread_mutex_lock(&w->lock);
    st = dlc_progress_wait(r, -1);
    if (st != DLCOLL_SUCCESS) {
        /* r->error is "rank R: barrier #0: <cause>"; keep the cause. */
        const char *cause = strstr(r->error, "barrier #0: ");
        cause = cause ? cause + strlen("barrier #0: ") : r->error;
        /* SYSTEM: this rank's own resources (the shared segment of an
         * all-local world), not the fabric between the ranks. */
        if (st == DLCOLL_ERR_SYSTEM)
            dlc_fail(err, st, "first barrier (connectivity check) failed: %s", cause);
        else
            dlc_fail(err, st, "connectivity check over %s failed: %s", w->prov->name, cause);
    }
    dlc_request_release(r);
    pthread_mutex_unlock(&w->lock);
    return st;
}

static const char *rendezvous_text(const dlc_settings *s, char *buf, size_t cap)
{
    switch (s->rdv) {
    case DLC_RDV_TCP: snprintf(buf, cap, "tcp://%s:%d", s->rdv_host, s->rdv_port); break;
    case DLC_RDV_FILE: snprintf(buf, cap, "file://%s", s->rdv_path); break;
    default: snprintf(buf, cap, "the host's store"); break;
    }
    return buf;
}

static void log_summary(dlc_world *w, int all_local)
{
    const dlc_settings *s = &w->settings;
    char rdv[1200];
    DLC_INFO(&w->lg,
             "init: rank %d of %d (rank from %s, size from %s); rendezvous %s (from %s); "
             "provider %s (%s)%s%s; %s; timeout %d ms; topology: %d cores, %d PUs, %d NUMA "
             "nodes, %d NICs",
             w->rank, w->size, s->rank_from ? s->rank_from : "?", s->size_from ? s->size_from : "?",
             rendezvous_text(s, rdv, sizeof rdv), s->rdv_from ? s->rdv_from : "?", w->prov->name,
             dlc_transport_fi_provider(w->tp), w->iface[0] ? ", interface " : "", w->iface,
             all_local ? "all ranks on this host" : "ranks on several hosts", s->timeout_ms,
             w->topo.cores, w->topo.pus, w->topo.numa_nodes, w->topo.nics);
}

/* ------------------------------------------------------------------ init */

static dlcoll_status_t build(dlc_world *w, const dlcoll_config_t *config, dlc_err *err)
{
    dlcoll_status_t st = dlc_settings_resolve(config, NULL, NULL, &w->settings, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    w->rank = w->settings.rank;
    w->size = w->settings.world_size;
    dlc_logger_init(&w->lg, w->settings.log_fn, w->settings.log_ctx, w->settings.log_level,
                    w->rank);

    const dlc_ag_algo *algo;
    if ((st = dlc_ag_algo_find(dlc_env_algo(), &algo, err)) != DLCOLL_SUCCESS)
        return st;

    dlc_topology_load(&w->topo, &w->lg);
    if ((st = dlc_store_open(&w->settings, &w->store, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = exchange_hosts(w, err)) != DLCOLL_SUCCESS)
        return st;
    int all_local = 0;
    if ((st = open_transport(w, &all_local, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = exchange_addresses(w, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = dlc_notice_start(w, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = make_world_comm(w, err)) != DLCOLL_SUCCESS)
        return st;
    if ((st = first_barrier(w, err)) != DLCOLL_SUCCESS)
        return st;
    /* Every pair of ranks on this host connected through the transport, so
     * that a failure notice between them never waits for the receiver to
     * poll (docs/abi.md section 12). */
    pthread_mutex_lock(&w->lock);
    st = dlc_notice_connect_local(w, w->settings.timeout_ms, err);
    pthread_mutex_unlock(&w->lock);
    if (st != DLCOLL_SUCCESS)
        return st;
    log_summary(w, all_local);
    dlc_coll_log_tuning(&w->lg, &w->settings);
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_api_init(const dlcoll_config_t *config, dlcoll_comm **out)
{
    *out = NULL;
    dlc_world *w = calloc(1, sizeof *w);
    if (!w) {
        dlc_thread_error_set("init: out of memory");
        return DLCOLL_ERR_SYSTEM;
    }
    w->rank = -1;
    atomic_init(&w->aborted, 0);
    if (pthread_mutex_init(&w->lock, NULL) != 0 || pthread_mutex_init(&w->store_lock, NULL) != 0) {
        free(w);
        dlc_thread_error_set("init: cannot create a mutex");
        return DLCOLL_ERR_SYSTEM;
    }
    w->lock_ready = w->store_lock_ready = 1;

    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = build(w, config, &err);
    if (st != DLCOLL_SUCCESS) {
        char msg[DLC_MSG_MAX];
        if (w->rank >= 0)
            snprintf(msg, sizeof msg, "rank %d: init: %s", w->rank, err.msg);
        else
            snprintf(msg, sizeof msg, "init: %s", err.msg);
        if (w->rank >= 0)
            DLC_WARN(&w->lg, "%s", msg);
        dlc_world_destroy(w);
        dlc_thread_error_set(msg);
        return st;
    }
    *out = w->world;
    return DLCOLL_SUCCESS;
}
