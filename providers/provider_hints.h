/*
 * provider_hints.h -- small helpers shared by the provider files (private to providers/).
 */
#ifndef DLC_PROVIDER_HINTS_H
#define DLC_PROVIDER_HINTS_H

struct fi_info;

/* Ask for the interface iface (when non-empty) through the hints' domain
 * name: the IP providers (tcp, udp, sockets) name each domain after its
 * network interface.  This replaces FI_TCP_IFACE & co., which dlcoll must
 * not set in its host's environment; a value the user set there still
 * applies inside libfabric.  Memory: freed with the hints by fi_freeinfo. */
void dlc_provider_hint_iface(struct fi_info *hints, const char *iface);

#endif
