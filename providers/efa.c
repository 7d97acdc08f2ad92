/*
 * efa.c -- AWS Elastic Fabric Adapter ("efa"), the first choice where present.
 *
 * efa may need local buffers registered (FI_MR_LOCAL); transport.c registers
 * each transfer's buffers when the returned mr_mode asks for it.
 */
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include "providers/provider.h"

static void efa_tune_hints(struct fi_info *hints, const char *iface)
{
    (void)iface;
    hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
}

const dlc_provider dlc_provider_efa = {
    .name = "efa",
    .fi_name = "efa",
    .intra_host_only = 0,
    .uses_ip_iface = 0,
    .auto_rank = 30,
    .tune_hints = efa_tune_hints,
};
