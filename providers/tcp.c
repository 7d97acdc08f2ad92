/*
 * tcp.c -- the TCP provider under the RxM utility ("tcp;ofi_rxm"), the
 * default across hosts without RDMA hardware.
 *
 * The chosen interface goes into the hints as the domain name (tcp names each
 * domain after its interface); FI_TCP_IFACE, when the user sets it, still
 * narrows what libfabric offers.  dlcoll never sets it: see provider_hints.h.
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"
#include "providers/provider_hints.h"

static void tcp_tune_hints(struct fi_info *hints, const char *iface)
{
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;
    dlc_provider_hint_iface(hints, iface);
}

const dlc_provider dlc_provider_tcp = {
    .name = "tcp",
    .fi_name = "tcp;ofi_rxm",
    .intra_host_only = 0,
    .uses_ip_iface = 1,
    .auto_rank = 10,
    .tune_hints = tcp_tune_hints,
};
