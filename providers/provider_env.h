/*
 * provider_env.h -- small helpers shared by the provider files (private to providers/).
 */
#ifndef DLC_PROVIDER_ENV_H
#define DLC_PROVIDER_ENV_H

/* Set environment variable `var` to iface (when iface is non-empty) unless the
 * user set it.  A value dlcoll itself set earlier may be replaced. */
void dlc_provider_set_iface_env(const char *var, const char *iface);

#endif
