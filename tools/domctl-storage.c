/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — storage pool and volume commands, virsh's pool-* and vol-*.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "domctl.h"

#define POOL_PATH_PREFIX        DOMAIND_ROOT_PATH "/pool/"

/* StorageVolume.Wipe algorithms */
#define WIPE_ZERO               UINT32_C(0)
#define WIPE_RANDOM             UINT32_C(1)

#define PROGRESS_INTERVAL_USEC  (UINT64_C(500) * UINT64_C(1000))

#define POOL_ARG { "pool", ARG_POS, "pool name" }
#define VOL_ARGS \
        { "vol", ARG_POS, "volume name (with --pool) or path" }, \
        { "pool", ARG_STRING, "pool name (for a volume given by name)" }

/* A pool or a volume: its object path and its name. */
typedef struct StorageRef {
        char *path;
        char *name;
} StorageRef;

static void storage_ref_done(StorageRef *s) {
        g_clear_pointer(&s->path, g_free);
        g_clear_pointer(&s->name, g_free);
}

/* ---- sizes ---- */

/* A size in bytes with virsh's (libvirt's) suffixes: none or b/bytes for
 * bytes; k, M, G, T, P, E with nothing or "iB" after them for powers of 1024,
 * with "B" after them (KB, MB...) for powers of 1000; case-insensitive. */
static int parse_size(const char *s, uint64_t *ret) {
        static const char powers[] = "kmgtpe";
        uint64_t scale = 1;
        const char *p;
        char *end;
        unsigned long long v;

        if (!g_ascii_isdigit(s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -ERANGE;

        if (*end && g_ascii_strcasecmp(end, "b") != 0 && g_ascii_strcasecmp(end, "byte") != 0 &&
            g_ascii_strcasecmp(end, "bytes") != 0) {
                uint64_t base;

                p = strchr(powers, g_ascii_tolower(*end));
                if (!p)
                        return -EINVAL;
                if (!end[1] || g_ascii_strcasecmp(end + 1, "iB") == 0)
                        base = 1024;
                else if (g_ascii_strcasecmp(end + 1, "B") == 0)
                        base = 1000;
                else
                        return -EINVAL;
                for (ptrdiff_t i = 0; i <= p - powers; i++)
                        scale *= base;
        }

        if (v > UINT64_MAX / scale)
                return -ERANGE;
        *ret = v * scale;
        return 0;
}

static int parse_size_arg(const Cmd *cmd, const char *name, uint64_t *ret) {
        const char *s = cmd_str(cmd, name);
        int r;

        r = parse_size(s, ret);
        if (r == -ERANGE)
                return log_usage("size '%s' of --%s is too large", s, name);
        if (r < 0)
                return log_usage("malformed size '%s' of --%s: expected bytes, optionally with "
                                 "a suffix such as KiB, M, GiB or GB", s, name);
        return 0;
}

/* virsh's pretty capacity: "1.50 GiB" */
static char *format_capacity(uint64_t v) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double d = (double) v;
        size_t i = 0;

        while (d >= 1024.0 && i + 1 < G_N_ELEMENTS(units)) {
                d /= 1024.0;
                i++;
        }
        return g_strdup_printf("%.2f %s", d, units[i]);
}

static char *format_size(uint64_t v, bool bytes) {
        if (bytes)
                return g_strdup_printf("%" PRIu64 " bytes", v);
        return format_capacity(v);
}

/* ---- XML ---- */

/* The text of the element at a slash-separated path from the root
 * ("pool/uuid"), or NULL. */
typedef struct XmlFind {
        const char *want;
        GString *stack;
        GString *text;
        bool found;
} XmlFind;

static void xml_find_start(_unused_ GMarkupParseContext *context, const char *element,
                           _unused_ const char **attribute_names,
                           _unused_ const char **attribute_values, void *user_data,
                           _unused_ GError **error) {
        XmlFind *x = user_data;

        if (x->stack->len > 0)
                g_string_append_c(x->stack, '/');
        g_string_append(x->stack, element);
        if (streq(x->stack->str, x->want))
                x->found = true;
}

static void xml_find_end(_unused_ GMarkupParseContext *context, _unused_ const char *element,
                         void *user_data, _unused_ GError **error) {
        XmlFind *x = user_data;
        const char *slash = strrchr(x->stack->str, '/');

        g_string_truncate(x->stack, slash ? (size_t) (slash - x->stack->str) : 0);
}

static void xml_find_text(_unused_ GMarkupParseContext *context, const char *text, gsize len,
                          void *user_data, _unused_ GError **error) {
        XmlFind *x = user_data;

        if (streq(x->stack->str, x->want))
                g_string_append_len(x->text, text, (gssize) len);
}

static char *xml_element_text(const char *xml, const char *path) {
        static const GMarkupParser parser = {
                .start_element = xml_find_start,
                .end_element = xml_find_end,
                .text = xml_find_text,
        };
        g_autoptr(GString) stack = g_string_new(NULL), text = g_string_new(NULL);
        XmlFind x = { .want = path, .stack = stack, .text = text };
        g_autoptr(GMarkupParseContext) context = NULL;

        context = g_markup_parse_context_new(&parser, 0, &x, NULL);
        if (!g_markup_parse_context_parse(context, xml, -1, NULL) ||
            !g_markup_parse_context_end_parse(context, NULL) || !x.found)
                return NULL;
        return g_strstrip(g_strdup(text->str));
}

/* ---- pools ---- */

static bool is_pool_object_path(const char *s) {
        return g_str_has_prefix(s, POOL_PATH_PREFIX) && g_variant_is_object_path(s) &&
               !strstr(s + strlen(POOL_PATH_PREFIX), "/");
}

static bool is_volume_object_path(const char *s) {
        return g_str_has_prefix(s, POOL_PATH_PREFIX) && g_variant_is_object_path(s) &&
               strstr(s + strlen(POOL_PATH_PREFIX), "/volume/");
}

/* A name from its object's Name property, else the last element of path. */
static char *storage_name_quiet(Context *ctx, const char *path, const char *iface) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *name = NULL;

        if (sd_bus_get_property_string(ctx->bus, DOMAIND_SERVICE, path, iface, "Name", &error,
                                       &name) < 0)
                return g_strdup(path_last_element(path));
        return g_strdup(name);
}

/* By name, or by object path as busctl shows it. */
static int pool_lookup(Context *ctx, const char *spec, StorageRef *ret) {
        g_autofree char *path = NULL, *name = NULL;
        int r;

        if (is_pool_object_path(spec)) {
                r = bus_get_string(ctx, spec, IFACE_POOL, "Name", &name);
                if (r < 0)
                        return r;
                path = g_strdup(spec);
        } else {
                r = bus_call_object(ctx, DOMAIND_ROOT_PATH, IFACE_MANAGER, "LookupPool",
                                    CALL_TIMEOUT_DEFAULT, &path, "s", spec);
                if (r < 0)
                        return r;
                name = g_strdup(spec);
        }

        ret->path = g_steal_pointer(&path);
        ret->name = g_steal_pointer(&name);
        return 0;
}

static int read_strv_reply(sd_bus_message *reply, char ***ret) {
        int r;

        r = sd_bus_message_read_strv(reply, ret);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        if (!*ret)      /* sd-bus gives NULL for an empty array */
                *ret = g_new0(char *, 1);
        return 0;
}

/* ---- volumes ---- */

static bool same_file(const char *a, const char *b) {
        g_autofree char *ra = NULL, *rb = NULL;

        ra = realpath(a, NULL);
        if (!ra)
                return false;
        rb = realpath(b, NULL);
        return rb && streq(ra, rb);
}

static const char *volume_find_by_path(GHashTable *volumes, const char *file, bool resolve,
                                       GHashTable **ret_props) {
        GHashTableIter it;
        const char *path;
        GHashTable *props;

        g_hash_table_iter_init(&it, volumes);
        while (g_hash_table_iter_next(&it, (gpointer *) &path, (gpointer *) &props)) {
                const char *p = props_str(props, "Path");

                if (p && (resolve ? same_file(p, file) : streq(p, file))) {
                        *ret_props = props;
                        return path;
                }
        }
        return NULL;
}

/* virsh's lookup by path: the volume of any pool whose Path is file (also
 * through symbolic links, as long as the file exists). */
static int volume_lookup_by_path(Context *ctx, const char *file, StorageRef *ret) {
        g_autoptr(GHashTable) volumes = NULL;
        g_autofree char *abs = NULL;
        GHashTable *props = NULL;
        const char *path;
        int r;

        r = bus_get_managed_objects(ctx, IFACE_VOLUME, &volumes);
        if (r < 0)
                return r;

        abs = g_canonicalize_filename(file, NULL);
        path = volume_find_by_path(volumes, abs, false, &props);
        if (!path)
                path = volume_find_by_path(volumes, abs, true, &props);
        if (!path)
                return log_error_errno(-ENOENT, "failed to get vol '%s': no storage volume with "
                                       "matching path", file);

        ret->path = g_strdup(path);
        ret->name = g_strdup(props_str(props, "Name") ?: path_last_element(path));
        return 0;
}

/* Reads the object path of a LookupVolume. Returns 1 when found, 0 when the
 * pool has no such volume (error says why), negative after printing an error. */
static int volume_lookup_in_pool(Context *ctx, const StorageRef *pool, const char *name,
                                 char **ret_path, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        r = bus_call_error(ctx, pool->path, IFACE_POOL, "LookupVolume", CALL_TIMEOUT_DEFAULT,
                           error, &reply, "s", name);
        if (r < 0) {
                if (sd_bus_error_has_name(error, DOMAIND_ERROR_NO_SUCH_VOLUME))
                        return 0;
                return log_bus_error(error, r);
        }

        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        *ret_path = g_strdup(path);
        return 1;
}

/* Like virsh: VOL is a name in the pool of --pool, else (or when that pool
 * has no such volume) a path; an object path works too. */
static int volume_lookup(Context *ctx, const char *spec, const char *pool_spec, StorageRef *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(storage_ref_done) StorageRef pool = {};
        g_autofree char *path = NULL;
        int r;

        if (pool_spec) {
                r = pool_lookup(ctx, pool_spec, &pool);
                if (r < 0)
                        return r;
                r = volume_lookup_in_pool(ctx, &pool, spec, &path, &error);
                if (r < 0)
                        return r;
                if (r > 0) {
                        ret->path = g_steal_pointer(&path);
                        ret->name = g_strdup(spec);
                        return 0;
                }
                if (!strchr(spec, '/'))
                        return log_bus_error(&error, -ENOENT);
        } else if (is_volume_object_path(spec)) {
                r = bus_get_string(ctx, spec, IFACE_VOLUME, "Name", &ret->name);
                if (r < 0)
                        return r;
                ret->path = g_strdup(spec);
                return 0;
        } else if (!strchr(spec, '/'))
                return log_error_errno(-ENOENT, "failed to get vol '%s': no storage volume with "
                                       "matching path (name the pool of a volume with --pool)",
                                       spec);

        return volume_lookup_by_path(ctx, spec, ret);
}

static int volume_lookup_cmd(Context *ctx, const Cmd *cmd, StorageRef *ret) {
        return volume_lookup(ctx, cmd_str(cmd, "vol"), cmd_str(cmd, "pool"), ret);
}

/* ---- pool-list ---- */

typedef struct PoolRow {
        const char *name;
        int active;
        int autostart;
        uint64_t capacity, allocation, available;
} PoolRow;

static int pool_row_compare(const void *a, const void *b) {
        return strcmp(((const PoolRow *) a)->name, ((const PoolRow *) b)->name);
}

static bool pool_row_wanted(const PoolRow *row, const Cmd *cmd) {
        bool all = cmd_bool(cmd, "all"), inactive = cmd_bool(cmd, "inactive");

        if (!all && (row->active > 0) == inactive)
                return false;
        if (cmd_bool(cmd, "autostart") && row->autostart <= 0)
                return false;
        if (cmd_bool(cmd, "no-autostart") && row->autostart > 0)
                return false;
        return true;
}

static GArray *pool_rows(char **paths, GHashTable *objects, const Cmd *cmd) {
        GArray *rows = g_array_new(false, true, sizeof(PoolRow));

        for (char **p = paths; p && *p; p++) {
                GHashTable *props = g_hash_table_lookup(objects, *p);
                PoolRow row;

                if (!props)     /* gone between the two calls */
                        continue;
                row = (PoolRow) {
                        .name = props_str(props, "Name") ?: path_last_element(*p),
                        .active = props_bool(props, "Active"),
                        .autostart = props_bool(props, "Autostart"),
                        .capacity = props_uint(props, "Capacity", 0),
                        .allocation = props_uint(props, "Allocation", 0),
                        .available = props_uint(props, "Available", 0),
                };
                if (pool_row_wanted(&row, cmd))
                        g_array_append_val(rows, row);
        }

        g_array_sort(rows, pool_row_compare);
        return rows;
}

static const char *yes_no(int b) {
        return b < 0 ? "unknown" : b ? "yes" : "no";
}

static void print_pool_table(GArray *rows, bool details) {
        g_autoptr(Table) t = NULL;

        if (details)
                t = table_new(7, "Name", "State", "Autostart", "Persistent", "Capacity",
                              "Allocation", "Available");
        else
                t = table_new(3, "Name", "State", "Autostart");

        for (size_t i = 0; i < rows->len; i++) {
                const PoolRow *row = &g_array_index(rows, PoolRow, i);
                g_autofree char *capacity = NULL, *allocation = NULL, *available = NULL;
                bool active = row->active > 0;

                if (!details) {
                        table_add_row(t, row->name, active ? "active" : "inactive",
                                      yes_no(row->autostart));
                        continue;
                }

                if (active) {
                        capacity = format_capacity(row->capacity);
                        allocation = format_capacity(row->allocation);
                        available = format_capacity(row->available);
                }
                /* domaind's pools are all persistent: DefinePoolXML is the only way in */
                table_add_row(t, row->name, active ? "running" : "inactive",
                              yes_no(row->autostart), "yes", capacity ?: "-",
                              allocation ?: "-", available ?: "-");
        }
        table_print(t);
}

static int verb_pool_list(Context *ctx, const Cmd *cmd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GHashTable) objects = NULL;
        g_autoptr(GArray) rows = NULL;
        g_auto(GStrv) paths = NULL;
        int r;

        r = bus_call(ctx, DOMAIND_ROOT_PATH, IFACE_MANAGER, "ListPools", CALL_TIMEOUT_DEFAULT,
                     &reply, NULL);
        if (r < 0)
                return r;
        r = read_strv_reply(reply, &paths);
        if (r < 0)
                return r;
        r = bus_get_managed_objects(ctx, IFACE_POOL, &objects);
        if (r < 0)
                return r;

        rows = pool_rows(paths, objects, cmd);
        if (cmd_bool(cmd, "name")) {
                for (size_t i = 0; i < rows->len; i++)
                        printf("%s\n", g_array_index(rows, PoolRow, i).name);
                return 0;
        }

        print_pool_table(rows, cmd_bool(cmd, "details"));
        return 0;
}

/* ---- pool-define, pool-undefine, pool-refresh, pool-dumpxml, pool-info ---- */

static int verb_pool_define(Context *ctx, const Cmd *cmd) {
        const char *file = cmd_str(cmd, "file");
        g_autofree char *xml = NULL, *path = NULL, *name = NULL;
        int r;

        r = read_text_file(file, &xml);
        if (r < 0)
                return r;

        r = bus_call_object(ctx, DOMAIND_ROOT_PATH, IFACE_MANAGER, "DefinePoolXML",
                            CALL_TIMEOUT_DEFAULT, &path, "st", xml, UINT64_C(0));
        if (r < 0)
                return r;

        name = storage_name_quiet(ctx, path, IFACE_POOL);
        printf("Pool %s defined from %s\n", name, file);
        return 0;
}

static int verb_pool_undefine(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef pool = {};
        int r;

        r = pool_lookup(ctx, cmd_str(cmd, "pool"), &pool);
        if (r < 0)
                return r;
        r = bus_call(ctx, pool.path, IFACE_POOL, "Undefine", CALL_TIMEOUT_JOB, NULL, NULL);
        if (r < 0)
                return r;

        printf("Pool %s has been undefined\n", pool.name);
        return 0;
}

static int verb_pool_refresh(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef pool = {};
        int r;

        r = pool_lookup(ctx, cmd_str(cmd, "pool"), &pool);
        if (r < 0)
                return r;
        r = bus_call(ctx, pool.path, IFACE_POOL, "Refresh", CALL_TIMEOUT_JOB, NULL, NULL);
        if (r < 0)
                return r;

        printf("Pool %s refreshed\n", pool.name);
        return 0;
}

static int pool_get_xml(Context *ctx, const StorageRef *pool, char **ret) {
        return bus_call_string(ctx, pool->path, IFACE_POOL, "GetXMLDesc", CALL_TIMEOUT_DEFAULT,
                               ret, "t", UINT64_C(0));
}

static int verb_pool_dumpxml(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef pool = {};
        g_autofree char *xml = NULL;
        int r;

        r = pool_lookup(ctx, cmd_str(cmd, "pool"), &pool);
        if (r < 0)
                return r;
        r = pool_get_xml(ctx, &pool, &xml);
        if (r < 0)
                return r;

        print_text(xml);
        return 0;
}

static int verb_pool_info(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef pool = {};
        g_autoptr(GHashTable) props = NULL;
        g_autofree char *xml = NULL, *uuid = NULL;
        bool bytes = cmd_bool(cmd, "bytes");
        int r;

        r = pool_lookup(ctx, cmd_str(cmd, "pool"), &pool);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, pool.path, IFACE_POOL, &props);
        if (r < 0)
                return r;
        /* the UUID is in the XML only */
        r = pool_get_xml(ctx, &pool, &xml);
        if (r < 0)
                return r;
        uuid = xml_element_text(xml, "pool/uuid");

        printf("%-15s %s\n", "Name:", props_str(props, "Name") ?: pool.name);
        if (uuid)
                printf("%-15s %s\n", "UUID:", uuid);
        printf("%-15s %s\n", "State:", props_bool(props, "Active") > 0 ? "running" : "inactive");
        printf("%-15s %s\n", "Persistent:", "yes");
        printf("%-15s %s\n", "Autostart:", yes_no(props_bool(props, "Autostart")));

        if (props_bool(props, "Active") > 0) {
                static const char *const sizes[] = { "Capacity", "Allocation", "Available" };

                for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                        g_autofree char *label = g_strconcat(sizes[i], ":", NULL);
                        g_autofree char *v = format_size(props_uint(props, sizes[i], 0), bytes);

                        printf("%-15s %s\n", label, v);
                }
        }
        return 0;
}

/* ---- vol-create, vol-create-as ---- */

static int volume_create(Context *ctx, const char *pool_spec, const char *xml, const char *from) {
        _cleanup_(storage_ref_done) StorageRef pool = {};
        g_autofree char *path = NULL, *name = NULL;
        int r;

        r = pool_lookup(ctx, pool_spec, &pool);
        if (r < 0)
                return r;

        /* qcow2 through qemu-img, or a raw volume allocated in full, take a while */
        r = bus_call_object(ctx, pool.path, IFACE_POOL, "CreateVolumeXML", CALL_TIMEOUT_JOB,
                            &path, "st", xml, UINT64_C(0));
        if (r < 0)
                return r;

        name = storage_name_quiet(ctx, path, IFACE_VOLUME);
        if (from)
                printf("Vol %s created from %s\n", name, from);
        else
                printf("Vol %s created\n", name);
        return 0;
}

static int verb_vol_create(Context *ctx, const Cmd *cmd) {
        const char *file = cmd_str(cmd, "file");
        g_autofree char *xml = NULL;
        int r;

        r = read_text_file(file, &xml);
        if (r < 0)
                return r;
        return volume_create(ctx, cmd_str(cmd, "pool"), xml, file);
}

static int check_vol_create_as_args(const Cmd *cmd) {
        uint64_t v;
        int r;

        r = parse_size_arg(cmd, "capacity", &v);
        if (r < 0)
                return r;
        if (cmd_str(cmd, "allocation"))
                return parse_size_arg(cmd, "allocation", &v);
        return 0;
}

static char *volume_build_xml(const char *name, uint64_t capacity, const uint64_t *allocation,
                              const char *format) {
        g_autofree char *n = g_markup_escape_text(name, -1);
        GString *s = g_string_new("<volume>\n");

        g_string_append_printf(s, "  <name>%s</name>\n", n);
        g_string_append_printf(s, "  <capacity unit='bytes'>%" PRIu64 "</capacity>\n", capacity);
        if (allocation)
                g_string_append_printf(s, "  <allocation unit='bytes'>%" PRIu64 "</allocation>\n",
                                       *allocation);
        if (format) {
                g_autofree char *f = g_markup_escape_text(format, -1);

                g_string_append_printf(s, "  <target>\n    <format type='%s'/>\n  </target>\n", f);
        }
        g_string_append(s, "</volume>\n");
        return g_string_free(s, false);
}

static int verb_vol_create_as(Context *ctx, const Cmd *cmd) {
        g_autofree char *xml = NULL;
        uint64_t capacity, allocation;
        bool has_allocation = cmd_str(cmd, "allocation");

        /* check_vol_create_as_args() accepted both */
        (void) parse_size(cmd_str(cmd, "capacity"), &capacity);
        if (has_allocation)
                (void) parse_size(cmd_str(cmd, "allocation"), &allocation);

        xml = volume_build_xml(cmd_str(cmd, "name"), capacity,
                               has_allocation ? &allocation : NULL, cmd_str(cmd, "format"));
        if (cmd_bool(cmd, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }

        return volume_create(ctx, cmd_str(cmd, "pool"), xml, NULL);
}

/* ---- vol-list ---- */

typedef struct VolRow {
        const char *name;
        const char *path;
        uint64_t capacity, allocation;
} VolRow;

static int vol_row_compare(const void *a, const void *b) {
        return strcmp(((const VolRow *) a)->name, ((const VolRow *) b)->name);
}

static GArray *volume_rows(char **paths, GHashTable *objects) {
        GArray *rows = g_array_new(false, true, sizeof(VolRow));

        for (char **p = paths; p && *p; p++) {
                GHashTable *props = g_hash_table_lookup(objects, *p);
                VolRow row;

                if (!props)     /* deleted between the two calls */
                        continue;
                row = (VolRow) {
                        .name = props_str(props, "Name") ?: path_last_element(*p),
                        .path = props_str(props, "Path") ?: "",
                        .capacity = props_uint(props, "Capacity", 0),
                        .allocation = props_uint(props, "Allocation", 0),
                };
                g_array_append_val(rows, row);
        }

        g_array_sort(rows, vol_row_compare);
        return rows;
}

static void print_volume_table(GArray *rows, bool details) {
        g_autoptr(Table) t = NULL;

        if (details)
                t = table_new(5, "Name", "Path", "Type", "Capacity", "Allocation");
        else
                t = table_new(2, "Name", "Path");

        for (size_t i = 0; i < rows->len; i++) {
                const VolRow *row = &g_array_index(rows, VolRow, i);
                g_autofree char *capacity = NULL, *allocation = NULL;

                if (!details) {
                        table_add_row(t, row->name, row->path);
                        continue;
                }
                capacity = format_capacity(row->capacity);
                allocation = format_capacity(row->allocation);
                table_add_row(t, row->name, row->path, "file", capacity, allocation);
        }
        table_print(t);
}

static int verb_vol_list(Context *ctx, const Cmd *cmd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(storage_ref_done) StorageRef pool = {};
        g_autoptr(GHashTable) objects = NULL;
        g_autoptr(GArray) rows = NULL;
        g_auto(GStrv) paths = NULL;
        int r;

        r = pool_lookup(ctx, cmd_str(cmd, "pool"), &pool);
        if (r < 0)
                return r;
        r = bus_call(ctx, pool.path, IFACE_POOL, "ListVolumes", CALL_TIMEOUT_DEFAULT, &reply,
                     NULL);
        if (r < 0)
                return r;
        r = read_strv_reply(reply, &paths);
        if (r < 0)
                return r;
        r = bus_get_managed_objects(ctx, IFACE_VOLUME, &objects);
        if (r < 0)
                return r;

        rows = volume_rows(paths, objects);
        print_volume_table(rows, cmd_bool(cmd, "details"));
        return 0;
}

/* ---- vol-info, vol-dumpxml, vol-path, vol-pool ---- */

static int verb_vol_info(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        g_autoptr(GHashTable) props = NULL;
        g_autofree char *capacity = NULL, *allocation = NULL;
        bool bytes = cmd_bool(cmd, "bytes");
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, vol.path, IFACE_VOLUME, &props);
        if (r < 0)
                return r;

        capacity = format_size(props_uint(props, "Capacity", 0), bytes);
        allocation = format_size(props_uint(props, "Allocation", 0), bytes);
        printf("%-15s %s\n", "Name:", props_str(props, "Name") ?: vol.name);
        printf("%-15s %s\n", "Type:", "file");
        printf("%-15s %s\n", "Capacity:", capacity);
        printf("%-15s %s\n", "Allocation:", allocation);
        return 0;
}

static int verb_vol_dumpxml(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        g_autofree char *xml = NULL;
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;
        r = bus_call_string(ctx, vol.path, IFACE_VOLUME, "GetXMLDesc", CALL_TIMEOUT_DEFAULT,
                            &xml, "t", UINT64_C(0));
        if (r < 0)
                return r;

        print_text(xml);
        return 0;
}

static int verb_vol_path(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        g_autofree char *path = NULL;
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;
        r = bus_get_string(ctx, vol.path, IFACE_VOLUME, "Path", &path);
        if (r < 0)
                return r;

        printf("%s\n", path);
        return 0;
}

static int verb_vol_pool(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        g_autofree char *pool_path = NULL, *name = NULL;
        const char *v;
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;

        /* <pool path>/volume/<name> */
        v = strstr(vol.path + strlen(POOL_PATH_PREFIX), "/volume/");
        if (!v)
                return log_error_errno(-EBADMSG, "unexpected volume object path %s", vol.path);
        pool_path = g_strndup(vol.path, (size_t) (v - vol.path));
        r = bus_get_string(ctx, pool_path, IFACE_POOL, "Name", &name);
        if (r < 0)
                return r;

        printf("%s\n", name);
        return 0;
}

/* ---- vol-wipe ---- */

static int check_vol_wipe_args(const Cmd *cmd) {
        const char *a = cmd_str(cmd, "algorithm");

        if (a && !streq(a, "zero") && !streq(a, "random"))
                return log_usage("unsupported wipe algorithm '%s': domaind wipes with 'zero' "
                                 "or 'random'", a);
        return 0;
}

typedef struct AsyncReply {
        sd_bus_message *reply;
} AsyncReply;

static int on_async_reply(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        AsyncReply *a = userdata;

        a->reply = sd_bus_message_ref(m);
        return 0;
}

/* Prints "\rWipe: [ 42 %]" from the volume's GetJobInfo; false when there is
 * no progress to show (an older domaind without the method: stop asking). */
static bool wipe_show_progress(Context *ctx, const char *path, bool *shown) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GHashTable) info = NULL;
        uint64_t total, remaining;

        if (bus_call_error(ctx, path, IFACE_VOLUME, "GetJobInfo", CALL_TIMEOUT_DEFAULT, &error,
                           &reply, NULL) < 0)
                return false;
        if (props_read(reply, &info) < 0)
                return false;

        total = props_uint(info, "data-total", 0);
        remaining = props_uint(info, "data-remaining", 0);
        if (!streq_ptr(props_str(info, "type"), "bounded") || total == 0 || remaining > total)
                return true;    /* not started yet, or over */

        fprintf(stderr, "\rWipe: [%3d %%]", (int) ((total - remaining) * 100 / total));
        *shown = true;
        return true;
}

static int reply_result(sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (!e)
                return 0;
        return log_bus_error(e, -sd_bus_message_get_errno(reply) ?: -EIO);
}

/* Wipe as an asynchronous call, asking for progress meanwhile. */
static int volume_wipe_with_progress(Context *ctx, const char *path, uint32_t algorithm) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        AsyncReply a = {};
        bool poll_progress = true, shown = false;
        uint64_t next = 0, now;
        int r;

        r = sd_bus_message_new_method_call(ctx->bus, &m, DOMAIND_SERVICE, path, IFACE_VOLUME,
                                           "Wipe");
        if (r >= 0)
                r = sd_bus_message_append(m, "ut", algorithm, UINT64_C(0));
        if (r >= 0)
                r = sd_bus_call_async(ctx->bus, &slot, m, on_async_reply, &a,
                                      CALL_TIMEOUT_INFINITE);
        if (r < 0)
                return log_error_errno(r, "failed to call Wipe: %s", g_strerror(-r));

        while (!a.reply) {
                r = sd_bus_process(ctx->bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "failed to process the bus: %s",
                                               g_strerror(-r));
                if (r > 0)
                        continue;

                now = (uint64_t) g_get_monotonic_time();
                if (poll_progress && now >= next) {
                        poll_progress = wipe_show_progress(ctx, path, &shown);
                        next = now + PROGRESS_INTERVAL_USEC;
                        continue;       /* the reply may have come meanwhile */
                }

                r = sd_bus_wait(ctx->bus, poll_progress ? next - now : UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return log_error_errno(r, "failed to wait on the bus: %s",
                                               g_strerror(-r));
        }

        r = reply_result(a.reply);
        if (shown)
                fprintf(stderr, r < 0 ? "\n" : "\rWipe: [100 %%]\n");
        sd_bus_message_unref(a.reply);
        return r;
}

static int verb_vol_wipe(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        uint32_t algorithm = streq_ptr(cmd_str(cmd, "algorithm"), "random") ? WIPE_RANDOM
                                                                             : WIPE_ZERO;
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;

        /* no timeout: a large volume takes minutes */
        if (isatty(STDERR_FILENO))
                r = volume_wipe_with_progress(ctx, vol.path, algorithm);
        else
                r = bus_call(ctx, vol.path, IFACE_VOLUME, "Wipe", CALL_TIMEOUT_INFINITE, NULL,
                             "ut", algorithm, UINT64_C(0));
        if (r < 0)
                return r;

        printf("Vol %s wiped\n", vol.name);
        return 0;
}

/* ---- vol-delete, vol-resize ---- */

static int verb_vol_delete(Context *ctx, const Cmd *cmd) {
        _cleanup_(storage_ref_done) StorageRef vol = {};
        int r;

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;
        r = bus_call(ctx, vol.path, IFACE_VOLUME, "Delete", CALL_TIMEOUT_JOB, NULL,
                     "t", UINT64_C(0));
        if (r < 0)
                return r;

        printf("Vol %s deleted\n", vol.name);
        return 0;
}

static int check_vol_resize_args(const Cmd *cmd) {
        uint64_t v;

        return parse_size_arg(cmd, "capacity", &v);
}

static int verb_vol_resize(Context *ctx, const Cmd *cmd) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(storage_ref_done) StorageRef vol = {};
        const char *arg = cmd_str(cmd, "capacity");
        uint64_t capacity;
        int r;

        (void) parse_size(arg, &capacity);      /* check_vol_resize_args() accepted it */

        r = volume_lookup_cmd(ctx, cmd, &vol);
        if (r < 0)
                return r;

        if (cmd_bool(cmd, "delta")) {
                uint64_t current;

                r = sd_bus_get_property_trivial(ctx->bus, DOMAIND_SERVICE, vol.path,
                                                IFACE_VOLUME, "Capacity", &error, 't', &current);
                if (r < 0)
                        return log_bus_error(&error, r);
                if (capacity > UINT64_MAX - current)
                        return log_error_errno(-ERANGE, "capacity %" PRIu64 " + %s is too large",
                                               current, arg);
                capacity += current;
        }

        r = bus_call(ctx, vol.path, IFACE_VOLUME, "Resize", CALL_TIMEOUT_JOB, NULL,
                     "tt", capacity, UINT64_C(0));
        if (r < 0)
                return r;

        printf("Size of volume '%s' successfully changed to %s\n", vol.name, arg);
        return 0;
}

const Verb storage_verbs[] = {
        { "pool-list", verb_pool_list, "list pools",
          .args = {
                { "all", ARG_BOOL, "list inactive and active pools" },
                { "inactive", ARG_BOOL, "list inactive pools" },
                { "autostart", ARG_BOOL, "list pools with autostart enabled" },
                { "no-autostart", ARG_BOOL, "list pools with autostart disabled" },
                { "details", ARG_BOOL, "display extended details for pools" },
                { "name", ARG_BOOL, "list pool names only" },
          },
          .exclusive = { { "all", "inactive" }, { "autostart", "no-autostart" },
                         { "details", "name" } } },
        { "pool-define", verb_pool_define, "define a pool from an XML file",
          .args = {
                { "file", ARG_POS, "file containing an XML pool description ('-' for stdin)" },
          } },
        { "pool-info", verb_pool_info, "print storage pool information",
          .args = {
                POOL_ARG,
                { "bytes", ARG_BOOL, "print the sizes in bytes" },
          } },
        { "pool-refresh", verb_pool_refresh, "rescan a pool's folder for its volumes",
          .args = { POOL_ARG } },
        { "pool-undefine", verb_pool_undefine, "undefine a pool (its volumes' files stay)",
          .args = { POOL_ARG } },
        { "pool-dumpxml", verb_pool_dumpxml, "print the pool's XML description",
          .args = { POOL_ARG } },
        { "vol-create", verb_vol_create, "create a volume from an XML file",
          .args = {
                POOL_ARG,
                { "file", ARG_POS, "file containing an XML volume description ('-' for stdin)" },
          } },
        { "vol-create-as", verb_vol_create_as, "create a volume from a set of args",
          .description =
                "Sizes are bytes, or numbers with a suffix: b, k or KiB, M or MiB, G or GiB,\n"
                "T or TiB, P, E (powers of 1024); KB, MB, GB, TB, PB, EB (powers of 1000).\n"
                "Without --allocation domaind makes a sparse file.",
          .args = {
                POOL_ARG,
                { "name", ARG_POS, "name of the volume" },
                { "capacity", ARG_POS, "size of the volume, as scaled integer (default bytes)" },
                { "allocation", ARG_STRING, "initial allocation size, as scaled integer "
                                            "(default bytes)" },
                { "format", ARG_STRING, "file format type raw or qcow2" },
                { "print-xml", ARG_BOOL, "print XML document, but don't define/create" },
          },
          .check = check_vol_create_as_args },
        { "vol-list", verb_vol_list, "list the volumes of a pool",
          .args = {
                POOL_ARG,
                { "details", ARG_BOOL, "display extended details for volumes" },
          } },
        { "vol-info", verb_vol_info, "print storage volume information",
          .args = {
                VOL_ARGS,
                { "bytes", ARG_BOOL, "print the sizes in bytes" },
          } },
        { "vol-dumpxml", verb_vol_dumpxml, "print the volume's XML description",
          .args = { VOL_ARGS } },
        { "vol-path", verb_vol_path, "print the path of a volume",
          .args = { VOL_ARGS } },
        { "vol-pool", verb_vol_pool, "print the name of a volume's pool",
          .args = { VOL_ARGS } },
        { "vol-wipe", verb_vol_wipe, "wipe a volume's data",
          .description =
                "Overwrites the whole volume, which can take minutes for a large one:\n"
                "domctl waits without a timeout and, when standard error is a terminal,\n"
                "shows the progress. Interrupting domctl does not stop the wipe.",
          .args = {
                VOL_ARGS,
                { "algorithm", ARG_STRING, "the wipe algorithm: zero (default) or random" },
          },
          .check = check_vol_wipe_args },
        { "vol-delete", verb_vol_delete, "delete a volume and its file",
          .args = { VOL_ARGS } },
        { "vol-resize", verb_vol_resize, "grow a volume",
          .args = {
                VOL_ARGS,
                { "capacity", ARG_POS, "new capacity for the volume, as scaled integer "
                                       "(default bytes)" },
                { "delta", ARG_BOOL, "grow by the given capacity instead of to it" },
          },
          .check = check_vol_resize_args },
        {}
};
