/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.domaind1.Manager and the ObjectManager on /org/domaind1 */
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "config.h"
#include "domain.h"
#include "hypervisor.h"
#include "manager.h"
#include "snapshot.h"
#include "storage.h"

#define AUTH(action)                                                                                                   \
        do {                                                                                                           \
                int _r = auth_check(mgr, m, (action), NULL, NULL, error);                                               \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_hypervisors(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "o");
        for (guint i = 0; r >= 0 && i < mgr->hypervisors->len; i++)
                r = sd_bus_message_append(reply, "o", ((Hypervisor *) mgr->hypervisors->pdata[i])->path);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int property_get_unavailable(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        int r = sd_bus_message_open_container(reply, 'a', "(ss)");
        for (guint i = 0; r >= 0 && i + 1 < mgr->unavailable->len; i += 2)
                r = sd_bus_message_append(reply, "(ss)", mgr->unavailable->pdata[i], mgr->unavailable->pdata[i + 1]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int method_list_domains(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        return reply_domain_list(m, (Hypervisor *const *) mgr->hypervisors->pdata, mgr->hypervisors->len, flags,
                                 error);
}

static int method_list_pools(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        AUTH(AUTH_READ);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = storage_append_pools(mgr, reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int method_define_pool_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        const char *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &xml, &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        r = auth_check_storage(mgr, m, AUTH_STORAGE_MANAGE, NULL, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        StoragePool *p;
        r = storage_define_pool(mgr, xml, &p, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, "o", p->path);
}

static int method_lookup_pool(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Manager *mgr = userdata;
        const char *name;
        int r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        AUTH(AUTH_READ);
        StoragePool *p = storage_find_pool(mgr, name);
        if (!p) {
                g_autofree char *shown = clip_for_message(name);
                return bus_error_setf(error, ERROR_NO_SUCH_POOL, "no storage pool named '%s'", shown);
        }
        return sd_bus_reply_method_return(m, "o", p->path);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Hypervisors", "ao", property_get_hypervisors, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("UnavailablePlugins", "a(ss)", property_get_unavailable, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("ao", domains),
                                method_list_domains, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListPools", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", pools), method_list_pools,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DefinePoolXML", SD_BUS_ARGS("s", xml, "t", flags), SD_BUS_RESULT("o", pool),
                                method_define_pool_xml, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LookupPool", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", pool),
                                method_lookup_pool, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* The hypervisors below /org/domaind1; their domains are enumerated one
 * level down (hypervisor-bus.c), so that introspection walks a tree. */
static int enumerate_hypervisors(sd_bus *bus, const char *prefix, void *userdata, char ***nodes,
                                 sd_bus_error *error) {
        Manager *mgr = userdata;
        char **paths = g_new0(char *, mgr->hypervisors->len + 1);
        for (guint i = 0; i < mgr->hypervisors->len; i++)
                paths[i] = g_strdup(((Hypervisor *) mgr->hypervisors->pdata[i])->path);
        *nodes = paths;
        return 0;
}

int manager_bus_register(Manager *mgr) {
        int r = sd_bus_add_object_vtable(mgr->bus, NULL, MANAGER_PATH, "org.domaind1.Manager", manager_vtable, mgr);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(mgr->bus, NULL, MANAGER_PATH, enumerate_hypervisors, mgr);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(mgr->bus, NULL, MANAGER_PATH);
}
