/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage registry: pools by name, loading, definition, and the link
 * between domains' disks and volumes. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-util.h"
#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "storage.h"

#define POOL_NAME_MAX 64

static char *pools_folder(Manager *m) {
        return g_build_filename(m->state_dir, "storage", "pools", NULL);
}

static bool pool_name_valid(const char *name) {
        return strlen(name) <= POOL_NAME_MAX && volume_name_valid(name);
}

/* `default`, made once: undefining it sticks because the folder of pool
 * configs exists from then on. */
static int define_default_pool(Manager *m) {
        g_autofree char *target = g_build_filename(m->state_dir, "images", NULL);
        g_autofree char *uuid = g_uuid_string_random();
        if (mkdir_parents(target, 0711) < 0)
                log_warning("cannot create the default pool's folder %s: %s", target, g_strerror(errno));
        StoragePool *p = pool_new(m, "default", uuid, target);
        int r = pool_save_config(p);
        if (r < 0) {
                log_error("cannot write the config of pool 'default': %s", g_strerror(-r));
                pool_free(p);
                return r;
        }
        g_hash_table_insert(m->pools, p->name, p);
        log_info("defined storage pool 'default' at %s", target);
        return 0;
}

static void load_pool(Manager *m, const char *folder, const char *file) {
        g_autofree char *path = g_build_filename(folder, file, NULL);
        g_autofree char *xml = NULL;
        g_autoptr(GError) error = NULL;
        if (!g_file_get_contents(path, &xml, NULL, &error)) {
                log_error("cannot read pool config %s: %s", path, error->message);
                return;
        }
        g_autoptr(PoolDef) def = pool_def_parse(xml, &error);
        if (!def) {
                log_error("ignoring pool config %s: %s", path, error->message);
                return;
        }
        g_autofree char *expected = g_strconcat(def->name, ".xml", NULL);
        if (!g_str_equal(expected, file) || g_hash_table_contains(m->pools, def->name)) {
                log_error("ignoring pool config %s: it defines pool '%s'", path, def->name);
                return;
        }
        StoragePool *p = pool_new(m, def->name, def->uuid, def->target);
        g_hash_table_insert(m->pools, p->name, p);
        pool_refresh(p, false);
        if (!p->active)
                log_warning("pool '%s' is inactive: %s is not a folder", p->name, p->target);
}

int storage_load(Manager *m) {
        m->pools = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) pool_free);
        g_autofree char *folder = pools_folder(m);
        if (!g_file_test(folder, G_FILE_TEST_IS_DIR)) {
                int r = mkdir_parents(folder, 0700);
                if (r < 0) {
                        log_error("cannot create %s: %s", folder, g_strerror(-r));
                        return r;
                }
                return define_default_pool(m) < 0 ? 0 : (pool_refresh(storage_find_pool(m, "default"), false), 0);
        }
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(folder, 0, &error);
        if (!dir) {
                log_error("cannot read %s: %s", folder, error->message);
                return 0;
        }
        const char *entry;
        while ((entry = g_dir_read_name(dir)))
                if (g_str_has_suffix(entry, ".xml") && entry[0] != '.')
                        load_pool(m, folder, entry);
        return 0;
}

void storage_free_all(Manager *m) {
        if (m->pools)
                g_hash_table_unref(m->pools);
        m->pools = NULL;
}

void storage_cancel_jobs(Manager *m) {
        __atomic_store_n(&m->stopping, 1, __ATOMIC_RELAXED);
}

StoragePool *storage_find_pool(Manager *m, const char *name) {
        return g_hash_table_lookup(m->pools, name);
}

StoragePool *storage_find_pool_by_path(Manager *m, const char *path) {
        g_autofree char *name = NULL;
        if (sd_bus_path_decode(path, POOL_PREFIX, &name) <= 0 || !name)
                return NULL;
        return storage_find_pool(m, name);
}

StorageVolume *storage_find_volume_by_path(Manager *m, const char *path) {
        g_autofree char *pool = NULL, *volume = NULL;
        if (sd_bus_path_decode_many(path, POOL_PREFIX "/%/volume/%", &pool, &volume) <= 0)
                return NULL;
        StoragePool *p = storage_find_pool(m, pool);
        return p ? g_hash_table_lookup(p->volumes, volume) : NULL;
}

/* By the real path, so that symlinks or "//" in a domain's XML still name
 * the volume. A file that appeared behind our back is picked up. */
StorageVolume *storage_find_volume_by_file(Manager *m, const char *file) {
        g_autofree char *real = realpath(file, NULL);
        if (!real)
                return NULL;
        g_autofree char *folder = g_path_get_dirname(real);
        g_autofree char *name = g_path_get_basename(real);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, m->pools);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                StoragePool *p = value;
                g_autofree char *target = realpath(p->target, NULL);
                if (!target || !g_str_equal(target, folder))
                        continue;
                if (!g_hash_table_contains(p->volumes, name))
                        pool_refresh(p, true);
                return g_hash_table_lookup(p->volumes, name);
        }
        return NULL;
}

static bool same_file(const struct stat *a, const char *path) {
        struct stat b;
        return stat(path, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

Domain *storage_volume_user(StorageVolume *v) {
        struct stat st;
        if (stat(v->file, &st) < 0)
                return NULL;
        Manager *m = v->pool->manager;
        for (guint i = 0; i < m->hypervisors->len; i++) {
                Hypervisor *h = m->hypervisors->pdata[i];
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, h->domains);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Domain *d = value;
                        if (!domain_is_active(d))
                                continue;
                        for (char **s = domain_current_def(d)->disk_sources; s && *s; s++)
                                if (same_file(&st, *s))
                                        return d;
                }
        }
        return NULL;
}

static gint compare_paths(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int append_sorted_paths(sd_bus_message *reply, GHashTable *table, size_t path_offset) {
        g_autoptr(GPtrArray) paths = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, table);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(paths, *(char **) ((char *) value + path_offset));
        g_ptr_array_sort(paths, compare_paths);
        int r = sd_bus_message_open_container(reply, 'a', "o");
        for (guint i = 0; r >= 0 && i < paths->len; i++)
                r = sd_bus_message_append(reply, "o", paths->pdata[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

int storage_append_pools(Manager *m, sd_bus_message *reply) {
        return append_sorted_paths(reply, m->pools, offsetof(StoragePool, path));
}

int storage_append_volumes(StoragePool *p, sd_bus_message *reply) {
        return append_sorted_paths(reply, p->volumes, offsetof(StorageVolume, path));
}

/* ---- DefinePoolXML / Undefine ---- */

static int check_new_pool(Manager *m, PoolDef *def, sd_bus_error *error) {
        g_autofree char *name = clip_for_message(def->name);
        g_autofree char *target = clip_for_message(def->target);
        struct stat st;
        if (!pool_name_valid(def->name))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "invalid pool name '%s': use 1-64 letters, digits or \"_-.+:\", not starting with '.' or '-'",
                                      name);
        g_autofree char *normal = g_canonicalize_filename(def->target, "/");
        if (!g_path_is_absolute(def->target) || !g_str_equal(normal, def->target))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "pool '%s': target path '%s' must be absolute and normalized (like '%s')", name,
                                      target, normal);
        if (stat(def->target, &st) < 0)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "pool '%s': target path '%s': %s", name, target,
                                      g_strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "pool '%s': target path '%s' is not a directory",
                                      name, target);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, m->pools);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                StoragePool *p = value;
                if (g_str_equal(p->name, def->name))
                        return bus_error_setf(error, ERROR_ALREADY_EXISTS, "pool '%s' already exists", name);
                if (*def->uuid && g_str_equal(p->uuid, def->uuid))
                        return bus_error_setf(error, ERROR_ALREADY_EXISTS, "pool '%s' already has UUID %s", p->name,
                                              def->uuid);
                if (g_str_equal(p->target, def->target))
                        return bus_error_setf(error, ERROR_ALREADY_EXISTS, "pool '%s' already uses the folder '%s'",
                                              p->name, target);
        }
        return 0;
}

int storage_define_pool(Manager *m, const char *xml, StoragePool **ret, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;
        g_autoptr(PoolDef) def = pool_def_parse(xml, &e);
        if (!def)
                return bus_error_setf(error,
                                      g_error_matches(e, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_UNSUPPORTED) ? ERROR_NOT_SUPPORTED
                                                                                                : ERROR_INVALID_XML,
                                      "%s", e->message);
        int r = check_new_pool(m, def, error);
        if (r < 0)
                return r;
        if (!*def->uuid) {
                g_autofree char *uuid = g_uuid_string_random();
                g_strlcpy(def->uuid, uuid, sizeof def->uuid);
        }
        StoragePool *p = pool_new(m, def->name, def->uuid, def->target);
        r = pool_save_config(p);
        if (r < 0) {
                pool_free(p);
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot save the config of pool '%s': %s",
                                      def->name, g_strerror(-r));
        }
        g_hash_table_insert(m->pools, p->name, p);
        pool_refresh(p, false);
        if (m->published) {
                sd_bus_emit_object_added(m->bus, p->path);
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, p->volumes);
                while (g_hash_table_iter_next(&it, NULL, &value))
                        volume_publish(value, true);
        }
        log_info("defined storage pool '%s' at %s", p->name, p->target);
        *ret = p;
        return 0;
}

int storage_undefine_pool(StoragePool *p, sd_bus_error *error) {
        if (pool_has_busy_volume(p, error))
                return -EBUSY;
        Manager *m = p->manager;
        g_autofree char *config = pool_config_path(m, p->name);
        int r = unlink_if_exists(config);
        if (r < 0)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot remove the config of pool '%s': %s",
                                      p->name, g_strerror(-r));
        log_info("undefined storage pool '%s' (its files stay in %s)", p->name, p->target);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_remove(&it);
                volume_remove(value, true);
        }
        if (m->published)
                sd_bus_emit_object_removed(m->bus, p->path);
        g_hash_table_remove(m->pools, p->name);
        return 0;
}

/* ---- Domain.Undefine with REMOVE_STORAGE ---- */

typedef struct RemoveRequest {
        StorageRemoveDone done;
        void *userdata;
} RemoveRequest;

static void on_volumes_wiped(void *userdata, int r, const char *message) {
        g_autofree RemoveRequest *req = userdata;
        req->done(req->userdata, r < 0 ? ERROR_HYPERVISOR_FAILED : NULL, message);
}

/* The volumes among a domain's disks; other files are named in the log. */
static int collect_volumes(Manager *m, char *const *files, GPtrArray *volumes, sd_bus_error *error) {
        for (char *const *f = files; f && *f; f++) {
                StorageVolume *v = storage_find_volume_by_file(m, *f);
                if (!v) {
                        log_warning("keeping disk %s: it is not a volume of any storage pool", *f);
                        continue;
                }
                if (g_ptr_array_find(volumes, v, NULL))
                        continue;
                int r = volume_check_free(v, "remove the domain's storage", ERROR_BUSY, error);
                if (r < 0)
                        return r;
                g_ptr_array_add(volumes, v);
        }
        return 0;
}

int storage_remove_domain_volumes(Manager *m, char *const *files, bool wipe, StorageRemoveDone done,
                                  void *userdata, sd_bus_error *error) {
        g_autoptr(GPtrArray) volumes = g_ptr_array_new();
        int r = collect_volumes(m, files, volumes, error);
        if (r < 0)
                return r;
        if (wipe && volumes->len > 0) {
                RemoveRequest *req = g_new0(RemoveRequest, 1);
                *req = (RemoveRequest){ .done = done, .userdata = userdata };
                r = wipe_volumes(m, volumes, WIPE_ZERO, true, on_volumes_wiped, req, g_free);
                if (r < 0) {
                        g_free(req);
                        return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot start the wipe: %s",
                                              g_strerror(-r));
                }
                return 1;
        }
        for (guint i = 0; i < volumes->len; i++) {
                r = volume_delete(volumes->pdata[i], error);
                if (r < 0)
                        return r;
        }
        done(userdata, NULL, NULL);
        return 1;
}
