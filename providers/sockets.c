/*
 * sockets.c -- libfabric's older sockets provider (a test/reference provider).
 * Used only when requested (DLCOLL_PROVIDER=sockets); the interface goes into
 * the hints as the domain name (provider_hints.h).
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"
#include "providers/provider_hints.h"

static void sockets_tune_hints(struct fi_info *hints, const char *iface)
{
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;
    dlc_provider_hint_iface(hints, iface);
}

const dlc_provider dlc_provider_sockets = {
    .name = "sockets",
    .fi_name = "sockets",
    .intra_host_only = 0,
    .uses_ip_iface = 1,
    .auto_rank = 0, /* never automatic */
    .tune_hints = sockets_tune_hints,
};
