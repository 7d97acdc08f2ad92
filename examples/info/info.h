/*
 * info.h -- dlcoll-info's parts: what it finds out, and how it prints it.
 *
 * dlcoll-info loads the plugin through the ABI (as any host does) for its
 * name, version and file, and links the plugin's own code (dlcoll_internal)
 * for the rest, so that the providers, the topology, the interface choice
 * and the settings it reports are computed by the very functions init uses
 * (transport/, topology/, util/config.c and util/settings_table.c).
 */
#ifndef DLCOLL_INFO_H
#define DLCOLL_INFO_H

#include <stddef.h>

/* ------------------------------------------------------------ output (emit.c) */

/* One writer for both forms: plain text (sections of "key: value" lines,
 * lists one item a line) or JSON (an object of sections). */
typedef struct info_out info_out;

info_out *info_out_new(int json);
void info_out_section(info_out *o, const char *name, const char *title); /* title: text only */
void info_out_str(info_out *o, const char *key, const char *value);     /* value NULL: null */
void info_out_int(info_out *o, const char *key, long long value);
void info_out_bool(info_out *o, const char *key, int value);
void info_out_list(info_out *o, const char *key, const char *title); /* a list of items */
void info_out_item(info_out *o);                                     /* next item of the list */
void info_out_end_list(info_out *o);
/* Ends the document and frees o. */
void info_out_finish(info_out *o);

/* ------------------------------------------------------------ the sections */

/* Each writes its section into o; returns 0, or -1 when what it reports is
 * broken (the plugin does not load, its settings are invalid, the check
 * failed).  The exit status is 1 when any section returned -1. */
int info_plugin(info_out *o, char *plugin_path, size_t cap);   /* probe.c; sets plugin_path */
int info_fabric(info_out *o);                                  /* probe.c */
int info_topology(info_out *o);                                /* probe.c */
int info_settings(info_out *o);                                /* settings.c */
int info_check(info_out *o, int nranks, const char *plugin);   /* check.c */

/* The rank side of --check: run by each rank under dlcoll-run. */
int info_check_rank(const char *plugin);                       /* check.c */

#endif
