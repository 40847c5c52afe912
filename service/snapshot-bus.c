/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.domaind1.Snapshot on <domain path>/snapshot/<escaped name> */
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "snapshot.h"

#define AUTH(action)                                                                                                   \
        do {                                                                                                           \
                Domain *_d = s->domain;                                                                                \
                int _r = auth_check(_d->hv->manager, m, (action), _d->hv, _d, error);                                   \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", domain_state_to_string(((Snapshot *) userdata)->state));
}

static int property_get_description(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const char *text = ((Snapshot *) userdata)->description;
        return sd_bus_message_append(reply, "s", text ? text : "");
}

static int property_get_parent(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        return sd_bus_message_append(reply, "o", s->parent ? s->parent->path : "/");
}

static int property_get_is_current(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        return sd_bus_message_append(reply, "b", s->domain->current_snapshot == s);
}

static int method_get_xml_desc(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, DOMAIN_XML_SECURE, error);
        if (r < 0)
                return r;
        AUTH(flags & DOMAIN_XML_SECURE ? AUTH_DOMAIN_DEFINE : AUTH_READ);
        g_autofree char *xml = snapshot_format_xml(s, false);
        return sd_bus_reply_method_return(m, "s", xml);
}

static int method_revert(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_SNAPSHOT);
        return snapshot_op_revert(s, m, flags, error);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_DOMAIN_SNAPSHOT);
        return snapshot_op_delete(s, m, flags, error);
}

static int method_list_children(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Snapshot *s = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 2047, error);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = snapshot_append_children(s, s->domain, reply, flags);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable snapshot_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Snapshot, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Description", "s", property_get_description, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CreationTime", "t", NULL, offsetof(Snapshot, creation_time), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Parent", "o", property_get_parent, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("IsCurrent", "b", property_get_is_current, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("GetXMLDesc", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("s", xml), method_get_xml_desc,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Revert", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_revert,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, method_delete,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListChildren", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("ao", snapshots),
                                method_list_children, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* <domain_prefix>/<uuid32>/snapshot/<escaped name> */
static int snapshot_find_object(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                                sd_bus_error *error) {
        Hypervisor *h = userdata;
        size_t n = strlen(h->domain_prefix) + 1 + 32;
        if (strlen(path) <= n || path[n] != '/')
                return 0;
        g_autofree char *domain_path = g_strndup(path, n);
        Domain *d = hypervisor_find_domain_by_path(h, domain_path);
        Snapshot *s = d ? snapshot_find_by_path(d, path) : NULL;
        if (!s)
                return 0;
        *found = s;
        return 1;
}

int snapshot_bus_register(Hypervisor *h) {
        return sd_bus_add_fallback_vtable(h->manager->bus, NULL, h->domain_prefix, "org.domaind1.Snapshot",
                                          snapshot_vtable, snapshot_find_object, h);
}
