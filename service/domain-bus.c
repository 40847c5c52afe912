/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.domaind1.Domain: each method is a thin translation onto domain-ops.c. */
#include <inttypes.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-ops.h"
#include "job.h"
#include "snapshot.h"

#define AUTH(action)                                                                                                   \
        do {                                                                                                           \
                int _r = auth_check(d->hv->manager, m, (action), d->hv, d, error);                                      \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

/* ---- properties ---- */

static int property_get_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", domain_name(userdata));
}

static int property_get_uuid(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Domain *) userdata)->uuid);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", domain_state_to_string(((Domain *) userdata)->state));
}

static int property_get_reason(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Domain *) userdata)->reason);
}

static int property_get_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        DomaindGuestInfo info;
        domain_get_info(d, &info);
        return sd_bus_message_append(reply, "t", info.memory_kib ? info.memory_kib : domain_current_def(d)->current_kib);
}

static int property_get_max_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", domain_current_def(userdata)->memory_kib);
}

static int property_get_vcpus(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", domain_current_def(userdata)->vcpus);
}

static int property_get_cpu_time(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DomaindGuestInfo info;
        domain_get_info(userdata, &info);
        return sd_bus_message_append(reply, "t", info.cpu_time_ns);
}

static int property_get_current_snapshot(sd_bus *bus, const char *path, const char *interface,
                                         const char *property, sd_bus_message *reply, void *userdata,
                                         sd_bus_error *error) {
        Domain *d = userdata;
        return sd_bus_message_append(reply, "o", d->current_snapshot ? d->current_snapshot->path : "/");
}

static int property_get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", job_type_to_string(((Domain *) userdata)->job_type));
}

static int property_get_hypervisor(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "o", ((Domain *) userdata)->hv->path);
}

static int property_get_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return bus_property_get_bool(bus, path, interface, property, reply, &((Domain *) userdata)->autostart, error);
}

/* Authorized beforehand by on_property_write (sd-bus answers a property
 * Set itself once the setter returns, so it cannot wait for polkit). */
static int property_set_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        int enable;
        int r = sd_bus_message_read(value, "b", &enable);
        if (r < 0)
                return r;
        if (!d->persistent)
                return bus_error_setf(error, ERROR_INVALID_STATE,
                                      "cannot set autostart for transient domain '%s' (state: %s)", domain_name(d),
                                      domain_state_to_string(d->state));
        r = domain_set_autostart(d, enable);
        if (r < 0)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot change autostart: %s", g_strerror(-r));
        return 0;
}

/* A bus filter sees Properties.Set before sd-bus dispatches it: here a
 * write to a Domain property waits for polkit like any method call (the
 * message comes back through this filter once the answer is known). */
static int on_property_write(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Hypervisor *h = userdata;
        if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Set"))
                return 0;
        Domain *d = hypervisor_find_domain_by_path(h, sd_bus_message_get_path(m));
        if (!d)
                return 0;
        const char *interface;
        if (sd_bus_message_read(m, "s", &interface) < 0 || !g_str_equal(interface, "org.domaind1.Domain")) {
                sd_bus_message_rewind(m, true);
                return 0;
        }
        sd_bus_message_rewind(m, true);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = auth_check(h->manager, m, AUTH_DOMAIN_DEFINE, h, d, &error);
        if (r > 0)
                return 0; /* authorized: let sd-bus dispatch it to the setter */
        if (r < 0)
                sd_bus_reply_method_error(m, &error);
        return 1; /* refused, or waiting for polkit: the message stops here */
}

/* ---- methods ---- */

#define SIMPLE_FLAGS_METHOD(fn, op, action)                                                                           \
        static int fn(sd_bus_message *m, void *userdata, sd_bus_error *error) {                                       \
                Domain *d = userdata;                                                                                  \
                uint64_t flags;                                                                                        \
                int r = sd_bus_message_read(m, "t", &flags);                                                           \
                if (r < 0)                                                                                             \
                        return r;                                                                                      \
                AUTH(action);                                                                                          \
                return op(d, m, flags, error);                                                                         \
        }

SIMPLE_FLAGS_METHOD(method_start, domain_op_start, AUTH_DOMAIN_CONTROL)
SIMPLE_FLAGS_METHOD(method_shutdown, domain_op_shutdown, AUTH_DOMAIN_CONTROL)
SIMPLE_FLAGS_METHOD(method_reboot, domain_op_reboot, AUTH_DOMAIN_CONTROL)
SIMPLE_FLAGS_METHOD(method_reset, domain_op_reset, AUTH_DOMAIN_CONTROL)
SIMPLE_FLAGS_METHOD(method_destroy, domain_op_destroy, AUTH_DOMAIN_CONTROL)
SIMPLE_FLAGS_METHOD(method_managed_save, domain_op_managed_save, AUTH_DOMAIN_SAVE)
SIMPLE_FLAGS_METHOD(method_managed_save_remove, domain_op_managed_save_remove, AUTH_DOMAIN_SAVE)
SIMPLE_FLAGS_METHOD(method_undefine, domain_op_undefine, AUTH_DOMAIN_DEFINE)

static int method_suspend(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        AUTH(AUTH_DOMAIN_CONTROL);
        return domain_op_suspend(d, m, error);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        AUTH(AUTH_DOMAIN_CONTROL);
        return domain_op_resume(d, m, error);
}

static int method_save(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        const char *path, *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "sst", &path, &xml, &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_SAVE);
        return domain_op_save(d, m, path, xml, flags, error);
}

static int method_get_xml_desc(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, DOMAIN_XML_SECURE | DOMAIN_XML_INACTIVE | DOMAIN_XML_MIGRATABLE, error);
        if (r < 0)
                return r;
        AUTH(flags & DOMAIN_XML_SECURE ? AUTH_DOMAIN_DEFINE : AUTH_READ);
        bool inactive = (flags & DOMAIN_XML_INACTIVE) || !d->live;
        const DomainDef *def = inactive && d->persistent ? d->def : domain_current_def(d);
        g_autofree char *xml = domain_def_format(def, inactive ? -1 : d->id, (unsigned) flags);
        return sd_bus_reply_method_return(m, "s", xml);
}

static int method_create_snapshot(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        const char *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &xml, &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_SNAPSHOT);
        return snapshot_op_create(d, m, xml, flags, error);
}

static int method_list_snapshots(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        return snapshot_op_list(d, m, flags, error);
}

static int method_migrate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        AUTH(AUTH_DOMAIN_MIGRATE);
        return bus_error_setf(error, ERROR_NOT_SUPPORTED,
                              "the %s hypervisor cannot migrate domains: no plugin offers migration yet", d->hv->name);
}

static int method_abort_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        AUTH(AUTH_DOMAIN_MIGRATE);
        int r = domain_op_abort_job(d, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_job_info(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        AUTH(AUTH_READ);
        uint64_t elapsed_ms = d->job_type == JOB_NONE ? 0 : (uint64_t) (g_get_monotonic_time() - d->job_started_usec) / 1000;
        const char *type = d->job_type == JOB_NONE ? "none" : d->job_total ? "bounded" : "unbounded";
        uint64_t remaining = d->job_total > d->job_processed ? d->job_total - d->job_processed : 0;
        return sd_bus_reply_method_return(m, "a{sv}", 6, "type", "s", type, "operation", "s",
                                          job_type_to_string(d->job_type), "time-elapsed", "t", elapsed_ms,
                                          "data-processed", "t", d->job_processed, "data-total", "t", d->job_total,
                                          "data-remaining", "t", remaining);
}

static int method_open_console(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Domain *d = userdata;
        const char *device;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &device, &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_CONSOLE);
        return domain_op_open_console(d, m, device, error);
}

static const sd_bus_vtable domain_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("UUID", "s", property_get_uuid, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Id", "i", NULL, offsetof(Domain, id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StateReason", "s", property_get_reason, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Persistent", "b", bus_property_get_bool, offsetof(Domain, persistent),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* offset 0: sd-bus hands the setter object + offset, and it needs the Domain */
        SD_BUS_WRITABLE_PROPERTY("Autostart", "b", property_get_autostart, property_set_autostart, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("HasManagedSave", "b", bus_property_get_bool, offsetof(Domain, has_managed_save),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Memory", "t", property_get_memory, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaxMemory", "t", property_get_max_memory, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VCPUs", "u", property_get_vcpus, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CPUTime", "t", property_get_cpu_time, 0, 0),
        SD_BUS_PROPERTY("CurrentSnapshot", "o", property_get_current_snapshot, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Job", "s", property_get_job, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Hypervisor", "o", property_get_hypervisor, 0, SD_BUS_VTABLE_PROPERTY_CONST),

        SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_start,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_shutdown,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reboot", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_reboot,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_reset,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_destroy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Suspend", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_suspend,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Resume", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Save", SD_BUS_ARGS("s", path, "s", xml, "t", flags), SD_BUS_NO_RESULT, method_save,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ManagedSave", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_managed_save,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ManagedSaveRemove", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT,
                                method_managed_save_remove, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetXMLDesc", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("s", xml), method_get_xml_desc,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_undefine,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateSnapshot", SD_BUS_ARGS("s", xml, "t", flags), SD_BUS_RESULT("o", snapshot),
                                method_create_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("ao", snapshots),
                                method_list_snapshots, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Migrate", SD_BUS_ARGS("s", destination, "a{sv}", params, "t", flags),
                                SD_BUS_NO_RESULT, method_migrate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AbortJob", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_abort_job,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetJobInfo", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info), method_get_job_info,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_ARGS("s", device, "t", flags), SD_BUS_RESULT("h", fd),
                                method_open_console, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* Fallback lookup: /org/domaind1/<hv>/domain/<uuid32>, nothing deeper. */
static int domain_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        Domain *d = hypervisor_find_domain_by_path(userdata, path);
        if (!d)
                return 0;
        *found = d;
        return 1;
}

int domain_bus_register(Hypervisor *h) {
        int r = sd_bus_add_filter(h->manager->bus, NULL, on_property_write, h);
        if (r < 0)
                return r;
        return sd_bus_add_fallback_vtable(h->manager->bus, NULL, h->domain_prefix, "org.domaind1.Domain",
                                          domain_vtable, domain_find, h);
}
