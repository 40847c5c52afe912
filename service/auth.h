/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one authorization hook every method and property write passes.
 * Actions are those of polkit/org.domaind1.policy (DESIGN.md).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

typedef enum AuthAction {
        AUTH_READ,
        AUTH_DOMAIN_DEFINE,
        AUTH_DOMAIN_CONTROL,
        AUTH_DOMAIN_SAVE,
        AUTH_DOMAIN_SNAPSHOT,
        AUTH_DOMAIN_MIGRATE,
        AUTH_DOMAIN_CONSOLE,
        AUTH_STORAGE_MANAGE,
} AuthAction;

const char *auth_action_id(AuthAction action);

/* Returns 1 when the caller may go on, 0 when the decision is pending (the
 * call is dispatched again once it is known: return 1 from the handler
 * without replying), or a negative errno with *error set. h and d give the
 * details (hypervisor, domain, uuid); both may be NULL. */
int auth_check(Manager *m, sd_bus_message *message, AuthAction action, Hypervisor *h, Domain *d,
               sd_bus_error *error);

/* The same for a domain that does not exist yet (DefineXML, CreateXML):
 * name and uuid come from its XML; either may be NULL. */
int auth_check_named(Manager *m, sd_bus_message *message, AuthAction action, Hypervisor *h, const char *name,
                     const char *uuid, sd_bus_error *error);

/* Forgets what is known about a caller that left the bus. */
/* Storage calls pass the details pool, volume (either may be NULL) and method. */
int auth_check_storage(Manager *m, sd_bus_message *message, AuthAction action, const char *pool, const char *volume,
                       sd_bus_error *error);
void auth_forget_caller(Manager *m, const char *unique_name);
/* Drops every cached "yes" (polkit's rules changed, polkitd restarted). */
void auth_forget_decisions(Manager *m);

void auth_init(Manager *m);
void auth_done(Manager *m);
/* Follows polkitd's Changed signal. */
int auth_watch_polkit(Manager *m);
