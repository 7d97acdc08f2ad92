/*
 * udp.c -- the UDP provider under the RxD utility ("udp;ofi_rxd").
 * Slow; used only when requested (DLCOLL_PROVIDER=udp).
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"
#include "providers/provider_hints.h"

static void udp_tune_hints(struct fi_info *hints, const char *iface)
{
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;
    dlc_provider_hint_iface(hints, iface);
}

const dlc_provider dlc_provider_udp = {
    .name = "udp",
    .fi_name = "udp;ofi_rxd",
    .intra_host_only = 0,
    .uses_ip_iface = 1,
    .auto_rank = 0, /* never automatic */
    .tune_hints = udp_tune_hints,
};
