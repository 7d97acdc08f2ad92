/*
 * api.h -- the implementations behind the entry struct (entry.c).
 *
 * entry.c checks NULL arguments and forwards here.  Each function takes the
 * world lock itself (abort and last_error excepted) and records failures in
 * the communicator's last error, or (init and group calls) in the calling
 * thread's error.
 */
#ifndef DLC_API_H
#define DLC_API_H

#include "plugin/core/comm.h"

/* init.c / finalize.c */
dlcoll_status_t dlc_api_init(const dlcoll_config_t *config, dlcoll_comm **out);
dlcoll_status_t dlc_api_finalize(dlcoll_comm *world);

/* group.c */
dlcoll_status_t dlc_api_group_create(dlcoll_comm *parent, const int *ranks, int n, const char *name,
                                     dlcoll_comm **out);
dlcoll_status_t dlc_api_group_split(dlcoll_comm *parent, int color, int key, dlcoll_comm **out);
dlcoll_status_t dlc_api_group_destroy(dlcoll_comm *group);

/* collective.c */
dlcoll_status_t dlc_api_allgather(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                  dlcoll_request **req);
dlcoll_status_t dlc_api_allgather_list(dlcoll_comm *c, const DLTensor *in, DLTensor *const *outs,
                                       int n_outs, dlcoll_request **req);
dlcoll_status_t dlc_api_barrier(dlcoll_comm *c, dlcoll_request **req);
dlcoll_status_t dlc_api_allreduce(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                  const dlcoll_reduction_t *red, dlcoll_request **req);
dlcoll_status_t dlc_api_reduce_scatter(dlcoll_comm *c, const DLTensor *in, DLTensor *out,
                                       const dlcoll_reduction_t *red, dlcoll_request **req);
dlcoll_status_t dlc_api_reduce_scatter_list(dlcoll_comm *c, const DLTensor *const *ins, int n_ins,
                                            DLTensor *out, const dlcoll_reduction_t *red,
                                            dlcoll_request **req);
dlcoll_status_t dlc_api_broadcast(dlcoll_comm *c, DLTensor *t, int root, dlcoll_request **req);
dlcoll_status_t dlc_api_abort(dlcoll_comm *c);
const char *dlc_api_last_error(dlcoll_comm *c);

/* collective.c: requests */
dlcoll_status_t dlc_api_test(dlcoll_request *r);
dlcoll_status_t dlc_api_wait(dlcoll_request *r, int timeout_ms);
dlcoll_status_t dlc_api_request_free(dlcoll_request *r);
const char *dlc_api_request_error(dlcoll_request *r);

#endif
