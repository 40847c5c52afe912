/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hypervisor.DefineXML and CreateXML: domains come into being. */
#include <string.h>

#include "bus-util.h"
#include "domain-ops.h"
#include "job.h"
#include "log.h"

/* Parses and validates XML for this hypervisor: generic rules, then the plugin's. */
int hypervisor_parse_xml(Hypervisor *h, const char *xml, DomainDef **ret, sd_bus_error *error) {
        g_autoptr(GError) gerror = NULL;
        g_autoptr(DomainDef) def = domain_def_parse(xml, &gerror);
        if (!def)
                return bus_error_setf(error, ERROR_INVALID_XML, "%s", gerror->message);
        if (h->plugin->check_config) {
                g_autofree char *message = NULL;
                DomaindResult r = h->plugin->check_config(h->hv, def->xml, &message);
                if (r != DOMAIND_OK)
                        return bus_error_setf(error, result_to_error_name(r), "%s",
                                              message ? message : "the hypervisor refused this configuration");
        }
        *ret = g_steal_pointer(&def);
        return 0;
}

/* A name and a UUID each belong to one domain. */
static int check_identity(Hypervisor *h, const DomainDef *def, Domain **ret, sd_bus_error *error) {
        Domain *by_uuid = hypervisor_find_domain_by_uuid(h, def->uuid);
        Domain *by_name = hypervisor_find_domain_by_name(h, def->name);
        if (by_uuid && strcmp(domain_name(by_uuid), def->name) != 0)
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain '%s' already exists with uuid %s",
                                      domain_name(by_uuid), def->uuid);
        if (by_name && by_name != by_uuid)
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain '%s' already exists with uuid %s",
                                      def->name, by_name->uuid);
        *ret = by_uuid;
        return 0;
}

int hypervisor_op_define(Hypervisor *h, sd_bus_message *m, DomainDef *parsed, uint64_t flags, sd_bus_error *error) {
        g_autoptr(DomainDef) def = parsed;
        Domain *d;
        int r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        r = check_identity(h, def, &d, error);
        if (r < 0)
                return r;

        if (!d) {
                d = domain_new(h, g_steal_pointer(&def), true);
                r = domain_save_config(d);
                if (r < 0) {
                        domain_remove(d);
                        return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot store the config: %s",
                                              g_strerror(-r));
                }
                domain_publish(d);
                hypervisor_emit_domain_event(h, d, "defined", "added");
                return sd_bus_reply_method_return(m, "o", d->path);
        }

        bool was_persistent = d->persistent;
        r = domain_write_config(d, def);
        if (r < 0)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot store the config: %s", g_strerror(-r));
        domain_replace_def(d, g_steal_pointer(&def));
        if (!was_persistent) {
                d->persistent = true;
                if (domain_is_active(d))
                        domain_save_status(d);
                domain_emit_changed(d, "Persistent", NULL);
        }
        hypervisor_emit_domain_event(h, d, "defined", was_persistent ? "updated" : "added");
        return sd_bus_reply_method_return(m, "o", d->path);
}

int hypervisor_op_create(Hypervisor *h, sd_bus_message *m, DomainDef *parsed, uint64_t flags, sd_bus_error *error) {
        g_autoptr(DomainDef) def = parsed;
        Domain *d;
        int r = check_flags(flags, CREATE_START_PAUSED | CREATE_START_AUTODESTROY, error);
        if (r < 0)
                return r;
        r = check_identity(h, def, &d, error);
        if (r < 0)
                return r;
        bool created = false;
        if (d) {
                if (domain_is_active(d))
                        return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain '%s' is already active (state: %s)",
                                              domain_name(d), domain_state_to_string(d->state));
                /* Booting afresh would orphan the saved memory: never lose a guest. */
                if (d->has_managed_save)
                        return bus_error_setf(error, ERROR_INVALID_STATE,
                                              "domain '%s' has a managed save image: Start it, or remove the image first (state: %s)",
                                              domain_name(d), domain_state_to_string(d->state));
        } else {
                d = domain_new(h, domain_def_copy(def), false);
                domain_publish(d);
                created = true;
        }
        return domain_op_start_created(d, m, flags, g_steal_pointer(&def), created);
}
