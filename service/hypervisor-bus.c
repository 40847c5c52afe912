/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.domaind1.Hypervisor on /org/domaind1/<plugin> */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-ops.h"
#include "hypervisor.h"
#include "snapshot.h"

#define AUTH(action)                                                                                                   \
        do {                                                                                                           \
                int _r = auth_check(h->manager, m, (action), h, NULL, error);                                           \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Hypervisor *) userdata)->version);
}

static int property_get_uri(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        return sd_bus_message_append(reply, "s", h->plugin->uri ? h->plugin->uri : "");
}

static int method_define_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        const char *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &xml, &flags);
        if (r < 0)
                return r;
        /* parsed first: the domain's name and uuid go to polkit */
        g_autoptr(DomainDef) def = NULL;
        r = hypervisor_parse_xml(h, xml, &def, error);
        if (r < 0)
                return r;
        r = auth_check_named(h->manager, m, AUTH_DOMAIN_DEFINE, h, def->name, def->uuid, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return hypervisor_op_define(h, m, g_steal_pointer(&def), flags, error);
}

static int method_create_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        const char *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &xml, &flags);
        if (r < 0)
                return r;
        /* parsed first: the domain's name and uuid go to polkit */
        g_autoptr(DomainDef) def = NULL;
        r = hypervisor_parse_xml(h, xml, &def, error);
        if (r < 0)
                return r;
        r = auth_check_named(h->manager, m, AUTH_DOMAIN_DEFINE, h, def->name, def->uuid, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return hypervisor_op_create(h, m, g_steal_pointer(&def), flags, error);
}

static int method_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        const char *path, *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "sst", &path, &xml, &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_SAVE);
        return hypervisor_op_restore(h, m, path, xml, flags, error);
}

static int method_list_domains(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        return reply_domain_list(m, &h, 1, flags, error);
}

static int reply_domain(sd_bus_message *m, Domain *d, const char *what, const char *value, sd_bus_error *error) {
        if (!d)
                return bus_error_setf(error, ERROR_NO_SUCH_DOMAIN, "no domain with %s '%s'", what, value);
        return sd_bus_reply_method_return(m, "o", d->path);
}

static int method_lookup_by_name(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        const char *name;
        int r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        return reply_domain(m, hypervisor_find_domain_by_name(h, name), "name", name, error);
}

/* Accepts the dashed and the 32-digit forms; writes the dashed lower-case one. */
static bool normalize_uuid(const char *in, char out[37]) {
        size_t len = strlen(in);
        if (len != 32 && len != 36)
                return false;
        size_t j = 0, digits = 0;
        for (size_t i = 0; i < len; i++) {
                bool dash_here = len == 36 && (i == 8 || i == 13 || i == 18 || i == 23);
                if (dash_here != (in[i] == '-'))
                        return false;
                if (dash_here)
                        continue;
                if (!g_ascii_isxdigit(in[i]))
                        return false;
                if (digits == 8 || digits == 12 || digits == 16 || digits == 20)
                        out[j++] = '-';
                out[j++] = g_ascii_tolower(in[i]);
                digits++;
        }
        out[j] = 0;
        return true;
}

static int method_lookup_by_uuid(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        const char *uuid;
        char normalized[37];
        int r = sd_bus_message_read(m, "s", &uuid);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        if (!normalize_uuid(uuid, normalized))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "'%s' is not a UUID", uuid);
        return reply_domain(m, hypervisor_find_domain_by_uuid(h, normalized), "uuid", uuid, error);
}

static int method_lookup_by_id(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        int32_t id;
        int r = sd_bus_message_read(m, "i", &id);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        char text[16];
        g_snprintf(text, sizeof(text), "%d", id);
        return reply_domain(m, id < 0 ? NULL : hypervisor_find_domain_by_id(h, id), "id", text, error);
}

static int method_get_capabilities(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hypervisor *h = userdata;
        AUTH(AUTH_READ);
        if (!h->plugin->capabilities)
                return bus_error_setf(error, ERROR_NOT_SUPPORTED, "the %s hypervisor does not describe its capabilities",
                                      h->name);
        g_autofree char *xml = h->plugin->capabilities(h->hv);
        if (!xml)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "the %s hypervisor gave no capabilities", h->name);
        return sd_bus_reply_method_return(m, "s", xml);
}

static const sd_bus_vtable hypervisor_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Hypervisor, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("URI", "s", property_get_uri, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("DefineXML", SD_BUS_ARGS("s", xml, "t", flags), SD_BUS_RESULT("o", domain),
                                method_define_xml, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CreateXML", SD_BUS_ARGS("s", xml, "t", flags), SD_BUS_RESULT("o", domain),
                                method_create_xml, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("ao", domains),
                                method_list_domains, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LookupByName", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", domain),
                                method_lookup_by_name, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LookupByUUID", SD_BUS_ARGS("s", uuid), SD_BUS_RESULT("o", domain),
                                method_lookup_by_uuid, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LookupByID", SD_BUS_ARGS("i", id), SD_BUS_RESULT("o", domain), method_lookup_by_id,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Restore", SD_BUS_ARGS("s", path, "s", xml, "t", flags), SD_BUS_RESULT("o", domain),
                                method_restore, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCapabilities", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", xml), method_get_capabilities,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DomainEvent", SD_BUS_ARGS("o", domain, "s", event, "s", detail), 0),
        SD_BUS_VTABLE_END,
};

/* Domains and their snapshots, for introspection and GetManagedObjects. */
static int enumerate_domains(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error) {
        Hypervisor *h = userdata;
        GPtrArray *paths = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, h->domains);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Domain *d = value;
                g_ptr_array_add(paths, g_strdup(d->path));
                snapshot_append_all_paths(d, paths);
        }
        g_ptr_array_add(paths, NULL);
        *nodes = (char **) g_ptr_array_free(paths, false);
        return 0;
}

int hypervisor_bus_register(Hypervisor *h) {
        int r = sd_bus_add_object_vtable(h->manager->bus, NULL, h->path, "org.domaind1.Hypervisor", hypervisor_vtable,
                                         h);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(h->manager->bus, NULL, h->domain_prefix, enumerate_domains, h);
        if (r < 0)
                return r;
        return domain_bus_register(h);
}
