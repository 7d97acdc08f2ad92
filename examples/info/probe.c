/*
 * probe.c -- dlcoll-info's plugin, libfabric and topology sections.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"
#include "examples/info/info.h"
#include "examples/tool_paths.h"
#include "plugin/topology/topology.h"
#include "plugin/transport/fabric_lib.h"
#include "plugin/transport/transport.h"
#include "plugin/util/error.h"
#include "plugin/util/log.h"
#include "providers/provider.h"

#ifndef DLC_FABRIC_SONAME
#define DLC_FABRIC_SONAME "libfabric.so.1"
#endif

/* The file a loaded symbol lives in, or NULL. */
static const char *file_of(const void *addr)
{
    Dl_info di;
    if (addr == NULL || dladdr(addr, &di) == 0 || di.dli_fname == NULL)
        return NULL;
    return di.dli_fname;
}

int info_plugin(info_out *o, char *plugin_path, size_t cap)
{
    static dlcoll_loader_t ld; /* kept loaded: the check's ranks load the same file */
    const char *from;
    char abi[32];
    dlcoll_tool_plugin(plugin_path, cap, &from);
    info_out_section(o, "plugin", "plugin");
    info_out_str(o, "path", plugin_path);
    info_out_str(o, "found_by", from);
    snprintf(abi, sizeof abi, "%d.%d", DLCOLL_ABI_MAJOR, DLCOLL_ABI_MINOR);
    info_out_str(o, "host_abi", abi);
    if (dlcoll_load(&ld, plugin_path) != 0) {
        info_out_bool(o, "loaded", 0);
        info_out_str(o, "error", ld.error);
        return -1;
    }
    const dlcoll_plugin_v1_t *p = ld.plugin;
    char real[PATH_MAX];
    const char *file = file_of(p);
    if (file != NULL && realpath(file, real) != NULL)
        file = real;
    /* The tool reports the plugin's settings with its own copy of the code:
     * say so when the loaded file is another release. */
    info_out_bool(o, "loaded", 1);
    info_out_str(o, "name", p->name);
    info_out_str(o, "version", p->version);
    snprintf(abi, sizeof abi, "%u.%u", (unsigned)p->abi_major, (unsigned)p->abi_minor);
    info_out_str(o, "abi", abi);
    info_out_int(o, "entry_struct_bytes", (long long)p->struct_size);
    info_out_str(o, "file", file);
    info_out_str(o, "tool_version", DLCOLL_VERSION_STRING);
    if (strcmp(p->version, DLCOLL_VERSION_STRING) != 0)
        info_out_str(o, "warning",
                     "the plugin is another release than this dlcoll-info: the sections below "
                     "describe dlcoll-info's own release");
    return 0;
}

/* A logger that keeps the last line (the INFO line that says why). */
typedef struct last_line {
    char text[512];
} last_line;

static void keep_line(void *ctx, dlcoll_log_level_t level, const char *line)
{
    (void)level;
    last_line *l = ctx;
    const char *msg = strstr(line, ": ");
    /* Drop the "dlcoll host:pid rank r" prefix. */
    snprintf(l->text, sizeof l->text, "%s", msg ? msg + 2 : line);
}

int info_fabric(info_out *o)
{
    dlc_logger lg;
    last_line why = {""};
    dlc_err err;
    dlc_logger_init(&lg, keep_line, &why, DLCOLL_LOG_INFO, 0);
    info_out_section(o, "libfabric", "libfabric");
    info_out_str(o, "soname", DLC_FABRIC_SONAME);
    if (dlc_fabric_acquire(&lg, &err) != DLCOLL_SUCCESS) {
        info_out_bool(o, "loaded", 0);
        info_out_str(o, "error", err.msg);
        return -1;
    }
    uint32_t v = dlc_fi.version();
    char vs[32];
    snprintf(vs, sizeof vs, "%u.%u", (unsigned)FI_MAJOR(v), (unsigned)FI_MINOR(v));
    char real[PATH_MAX];
    const char *file = file_of((const void *)dlc_fi.version);
    if (file != NULL && realpath(file, real) != NULL)
        file = real;
    info_out_bool(o, "loaded", 1);
    info_out_str(o, "version", vs);
    info_out_str(o, "file", file);

    /* Every provider dlcoll knows: does fi_getinfo offer it (the probe init
     * runs), and does an endpoint open (the transport init opens)?  IP
     * providers open on lo, as on one host. */
    uint32_t mask = dlc_transport_probe(&lg);
    int n;
    const dlc_provider *const *list = dlc_provider_list(&n);
    int opened = 0;
    info_out_list(o, "providers", "providers (getinfo: offered by libfabric; open: an endpoint opened here)");
    for (int i = 0; i < n && i < 32; i++) {
        info_out_item(o);
        info_out_str(o, "name", list[i]->name);
        info_out_str(o, "fi_name", list[i]->fi_name);
        int offered = (mask >> i) & 1u;
        info_out_bool(o, "getinfo", offered);
        if (!offered) {
            info_out_bool(o, "open", 0);
            continue;
        }
        dlc_transport *t = NULL;
        dlc_transport_params tp = {list[i]->name, list[i]->uses_ip_iface ? "lo" : NULL, 0, &lg};
        if (dlc_transport_open(&tp, &t, &err) == DLCOLL_SUCCESS) {
            info_out_bool(o, "open", 1);
            info_out_str(o, "fi_provider", dlc_transport_fi_provider(t));
            dlc_transport_close(t);
            opened++;
        } else {
            info_out_bool(o, "open", 0);
            info_out_str(o, "error", err.msg);
        }
    }
    info_out_end_list(o);
    info_out_int(o, "providers_open", opened);
    dlc_fabric_release(&lg);
    return opened > 0 ? 0 : -1;
}

/* "topology: interface lo: all ranks are on this host" -> the reason. */
static const char *iface_reason(const char *line)
{
    const char *q = strstr(line, "topology: interface ");
    if (q != NULL && (q = strstr(q + 20, ": ")) != NULL)
        return q + 2;
    return line;
}

int info_topology(info_out *o)
{
    dlc_logger lg;
    last_line why = {""};
    dlc_topology topo;
    char iface[64];
    dlc_logger_init(&lg, keep_line, &why, DLCOLL_LOG_INFO, 0);
    dlc_topology_load(&topo, &lg);
    info_out_section(o, "topology", "topology (hwloc)");
    info_out_int(o, "cores", topo.cores);
    info_out_int(o, "hardware_threads", topo.pus);
    info_out_int(o, "numa_nodes", topo.numa_nodes);
    info_out_int(o, "nics", topo.nics);
    char names[8 * 33] = "";
    for (int i = 0; i < topo.nics && i < 8; i++) {
        strcat(names, i ? " " : "");
        strcat(names, topo.nic_names[i]);
    }
    info_out_str(o, "nic_names", names);
    /* The interface the IP providers get: all ranks on this host, and ranks
     * on several hosts with the rendezvous host in the environment (if any). */
    why.text[0] = '\0';
    dlc_topology_pick_iface(&topo, NULL, 1, iface, sizeof iface, &lg);
    info_out_str(o, "iface_one_host", iface);
    info_out_str(o, "iface_one_host_why", iface_reason(why.text));
    why.text[0] = '\0';
    const char *rdv = getenv("MASTER_ADDR");
    dlc_topology_pick_iface(&topo, rdv, 0, iface, sizeof iface, &lg);
    info_out_str(o, "iface_across_hosts", iface);
    info_out_str(o, "iface_across_hosts_why", iface_reason(why.text));
    return 0;
}
