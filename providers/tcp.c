/*
 * tcp.c -- the TCP provider under the RxM utility ("tcp;ofi_rxm"), the
 * default across hosts without RDMA hardware.
 *
 * The interface comes from FI_TCP_IFACE, which the tcp provider reads on every
 * fi_getinfo; we set it from the chosen interface unless the user already has.
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "provider.h"
#include "provider_env.h"

static void tcp_tune_hints(struct fi_info *hints, const char *iface)
{
    (void)iface;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED;
}

static void tcp_setup_env(const char *iface)
{
    dlc_provider_set_iface_env("FI_TCP_IFACE", iface);
}

const dlc_provider dlc_provider_tcp = {
    .name = "tcp",
    .fi_name = "tcp;ofi_rxm",
    .intra_host_only = 0,
    .uses_ip_iface = 1,
    .auto_rank = 10,
    .tune_hints = tcp_tune_hints,
    .setup_env = tcp_setup_env,
};
