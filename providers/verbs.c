/*
 * verbs.c -- InfiniBand / RoCE / iWARP through verbs under RxM ("verbs;ofi_rxm").
 *
 * verbs needs local buffers registered (FI_MR_LOCAL); transport.c registers
 * each transfer's buffers when the returned mr_mode asks for it.  The verbs
 * device is not tied to the IP interface picked for TCP, so no interface is
 * forced (the user may still set FI_VERBS_IFACE).
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"

static void verbs_tune_hints(struct fi_info *hints, const char *iface)
{
    (void)iface;
    hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
}

const dlc_provider dlc_provider_verbs = {
    .name = "verbs",
    .fi_name = "verbs;ofi_rxm",
    .intra_host_only = 0,
    .uses_ip_iface = 0,
    .auto_rank = 20,
    .tune_hints = verbs_tune_hints,
};
