/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.domaind1.StoragePool on /org/domaind1/pool/<escaped name> and
 * org.domaind1.StorageVolume on <pool path>/volume/<escaped name> */
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "storage.h"

#define AUTH_POOL(p, action)                                                                                           \
        do {                                                                                                           \
                int _r = auth_check_storage((p)->manager, m, (action), (p)->name, NULL, error);                        \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

#define AUTH_VOLUME(v, action)                                                                                         \
        do {                                                                                                           \
                int _r = auth_check_storage((v)->pool->manager, m, (action), (v)->pool->name, (v)->name, error);       \
                if (_r <= 0)                                                                                           \
                        return _r < 0 ? _r : 1;                                                                        \
        } while (0)

static int read_flags(sd_bus_message *m, sd_bus_error *error) {
        uint64_t flags;
        int r = sd_bus_message_read(m, "t", &flags);
        return r < 0 ? r : check_flags(flags, 0, error);
}

/* ---- pool ---- */

static int pool_property_get_size(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        bool active;
        uint64_t capacity, available;
        pool_statvfs(p, &active, &capacity, &available); /* cheap, and the file system is shared */
        if (g_str_equal(property, "Capacity"))
                return sd_bus_message_append(reply, "t", capacity);
        if (g_str_equal(property, "Available"))
                return sd_bus_message_append(reply, "t", available);
        return sd_bus_message_append(reply, "t", pool_allocation(p));
}

static int pool_property_get_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", true); /* directory pools are always started */
}

static int pool_method_create_volume_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        const char *xml;
        uint64_t flags;
        int r = sd_bus_message_read(m, "st", &xml, &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        AUTH_POOL(p, AUTH_STORAGE_MANAGE);
        return volume_create_xml(p, m, xml, error);
}

static int pool_method_list_volumes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        AUTH_POOL(p, AUTH_READ);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = storage_append_volumes(p, reply);
        return r < 0 ? r : sd_bus_send(NULL, reply, NULL);
}

static int pool_method_lookup_volume(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        const char *name;
        int r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        AUTH_POOL(p, AUTH_READ);
        StorageVolume *v = g_hash_table_lookup(p->volumes, name);
        if (!v) {
                g_autofree char *shown = clip_for_message(name);
                return bus_error_setf(error, ERROR_NO_SUCH_VOLUME, "pool '%s' has no volume '%s'", p->name, shown);
        }
        return sd_bus_reply_method_return(m, "o", v->path);
}

static int pool_method_refresh(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        AUTH_POOL(p, AUTH_READ);
        pool_refresh(p, true);
        int r = pool_check_active(p, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, "");
}

static int pool_method_get_xml_desc(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        int r = read_flags(m, error);
        if (r < 0)
                return r;
        AUTH_POOL(p, AUTH_READ);
        g_autofree char *xml = pool_format_xml(p, true);
        return sd_bus_reply_method_return(m, "s", xml);
}

static int pool_method_undefine(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StoragePool *p = userdata;
        AUTH_POOL(p, AUTH_STORAGE_MANAGE);
        int r = storage_undefine_pool(p, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable pool_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(StoragePool, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Path", "s", NULL, offsetof(StoragePool, target), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Capacity", "t", pool_property_get_size, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Allocation", "t", pool_property_get_size, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Available", "t", pool_property_get_size, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Autostart", "b", pool_property_get_autostart, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Active", "b", bus_property_get_bool, offsetof(StoragePool, active),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("CreateVolumeXML", SD_BUS_ARGS("s", xml, "t", flags), SD_BUS_RESULT("o", volume),
                                pool_method_create_volume_xml, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListVolumes", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", volumes), pool_method_list_volumes,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("LookupVolume", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", volume),
                                pool_method_lookup_volume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Refresh", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, pool_method_refresh,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetXMLDesc", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("s", xml),
                                pool_method_get_xml_desc, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, pool_method_undefine,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- volume ---- */

static int volume_property_get_format(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", volume_format_to_string(((StorageVolume *) userdata)->format));
}

static int volume_method_wipe(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StorageVolume *v = userdata;
        uint32_t algorithm;
        uint64_t flags;
        int r = sd_bus_message_read(m, "ut", &algorithm, &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        AUTH_VOLUME(v, AUTH_STORAGE_MANAGE);
        return volume_wipe(v, m, algorithm, error);
}

static int volume_method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StorageVolume *v = userdata;
        int r = read_flags(m, error);
        if (r < 0)
                return r;
        AUTH_VOLUME(v, AUTH_STORAGE_MANAGE);
        r = volume_delete(v, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, "");
}

static int volume_method_resize(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StorageVolume *v = userdata;
        uint64_t capacity, flags;
        int r = sd_bus_message_read(m, "tt", &capacity, &flags);
        if (r < 0)
                return r;
        r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        AUTH_VOLUME(v, AUTH_STORAGE_MANAGE);
        return volume_resize(v, m, capacity, error);
}

static int volume_method_get_xml_desc(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StorageVolume *v = userdata;
        int r = read_flags(m, error);
        if (r < 0)
                return r;
        AUTH_VOLUME(v, AUTH_READ);
        g_autofree char *xml = volume_format_xml(v);
        return sd_bus_reply_method_return(m, "s", xml);
}

/* The same keys as Domain.GetJobInfo. */
static int volume_method_get_job_info(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        StorageVolume *v = userdata;
        AUTH_VOLUME(v, AUTH_READ);
        uint64_t processed = __atomic_load_n(&v->job_processed, __ATOMIC_RELAXED);
        uint64_t total = v->job ? v->job_total : 0;
        uint64_t elapsed_ms = v->job ? (uint64_t) (g_get_monotonic_time() - v->job_started_usec) / 1000 : 0;
        const char *type = !v->job ? "none" : total ? "bounded" : "unbounded";
        if (!v->job)
                processed = 0;
        return sd_bus_reply_method_return(m, "a{sv}", 6, "type", "s", type, "operation", "s",
                                          v->job ? v->job : "none", "time-elapsed", "t", elapsed_ms, "data-processed",
                                          "t", processed, "data-total", "t", total, "data-remaining", "t",
                                          total > processed ? total - processed : 0);
}

static const sd_bus_vtable volume_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(StorageVolume, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Path", "s", NULL, offsetof(StorageVolume, file), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Capacity", "t", NULL, offsetof(StorageVolume, capacity), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Allocation", "t", NULL, offsetof(StorageVolume, allocation),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Format", "s", volume_property_get_format, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Wipe", SD_BUS_ARGS("u", algorithm, "t", flags), SD_BUS_NO_RESULT,
                                volume_method_wipe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("t", flags), SD_BUS_NO_RESULT, volume_method_delete,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Resize", SD_BUS_ARGS("t", capacity, "t", flags), SD_BUS_NO_RESULT,
                                volume_method_resize, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetXMLDesc", SD_BUS_ARGS("t", flags), SD_BUS_RESULT("s", xml),
                                volume_method_get_xml_desc, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetJobInfo", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info),
                                volume_method_get_job_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- lookup and enumeration ---- */

static int pool_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                     sd_bus_error *error) {
        StoragePool *p = storage_find_pool_by_path(userdata, path);
        if (!p)
                return 0;
        *found = p;
        return 1;
}

static int volume_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                       sd_bus_error *error) {
        StorageVolume *v = storage_find_volume_by_path(userdata, path);
        if (!v)
                return 0;
        *found = v;
        return 1;
}

static int enumerate_storage(sd_bus *bus, const char *prefix, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GPtrArray *paths = g_ptr_array_new();
        GHashTableIter it, vit;
        gpointer value;
        g_hash_table_iter_init(&it, m->pools);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                StoragePool *p = value;
                g_ptr_array_add(paths, g_strdup(p->path));
                g_hash_table_iter_init(&vit, p->volumes);
                while (g_hash_table_iter_next(&vit, NULL, &value))
                        g_ptr_array_add(paths, g_strdup(((StorageVolume *) value)->path));
        }
        g_ptr_array_add(paths, NULL);
        *nodes = (char **) g_ptr_array_free(paths, false);
        return 0;
}

int storage_bus_register(Manager *m) {
        int r = sd_bus_add_fallback_vtable(m->bus, NULL, POOL_PREFIX, "org.domaind1.StoragePool", pool_vtable,
                                           pool_find, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(m->bus, NULL, POOL_PREFIX, "org.domaind1.StorageVolume", volume_vtable,
                                               volume_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, POOL_PREFIX, enumerate_storage, m);
        return r;
}
