/*
 * rankmap.h -- a communicator's view of the host map: which of its members
 * share a host, numbered within the communicator.
 *
 * Built once per communicator from the world's host map (hostmap.h), at its
 * first use, and freed with the communicator.  It is what the hierarchical
 * algorithms need: the NODE view (this host's members, in communicator
 * order) and the NET view (the members with this rank's index on every
 * host), when every host has the same number of members.  Hosts are
 * numbered in the order of their first member, so every member numbers them
 * alike.
 */
#ifndef DLC_RANKMAP_H
#define DLC_RANKMAP_H

typedef struct dlc_rankmap {
    int n_hosts;   /* hosts the communicator spans */
    int *host_of;  /* [size]: host (0..n_hosts) of each communicator rank */
    int *index_of; /* [size]: its index among its host's members */
    int *count;    /* [n_hosts]: members on each host */
    int my_host;   /* this rank's host */
    int my_index;  /* this rank's index on it */
    int balanced;  /* every host has `per_host` members */
    int per_host;  /* members on host 0 (on every host when balanced) */
    int *member;   /* [n_hosts * per_host], balanced only: rank of (host h, index j) */
} dlc_rankmap;

/* The NODE view: communicator rank of this host's j-th member (balanced). */
static inline int dlc_rankmap_node(const dlc_rankmap *m, int j)
{
    return m->member[m->my_host * m->per_host + j];
}

/* The NET view: communicator rank of the member with this rank's index on
 * host h (balanced). */
static inline int dlc_rankmap_net(const dlc_rankmap *m, int h)
{
    return m->member[h * m->per_host + m->my_index];
}

#endif
