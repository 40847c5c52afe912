/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A directory pool: its config, its sizes and the scan of its folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/statvfs.h>

#include "bus-util.h"
#include "fileio.h"
#include "log.h"
#include "storage.h"

StoragePool *pool_new(Manager *m, const char *name, const char *uuid, const char *target) {
        StoragePool *p = g_new0(StoragePool, 1);
        p->manager = m;
        p->name = g_strdup(name);
        g_strlcpy(p->uuid, uuid, sizeof p->uuid);
        p->target = g_strdup(target);
        if (sd_bus_path_encode(POOL_PREFIX, name, &p->path) < 0)
                g_error("out of memory");
        p->volumes = g_hash_table_new(g_str_hash, g_str_equal);
        p->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        return p;
}

void pool_free(StoragePool *p) {
        if (!p)
                return;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_remove(&it);
                volume_free(value); /* at exit even with a job: its worker was joined */
        }
        g_hash_table_unref(p->volumes);
        g_hash_table_unref(p->pending);
        g_free(p->name);
        g_free(p->target);
        g_free(p->path);
        g_free(p);
}

char *pool_config_path(Manager *m, const char *name) {
        g_autofree char *file = g_strconcat(name, ".xml", NULL);
        return g_build_filename(m->state_dir, "storage", "pools", file, NULL);
}

int pool_save_config(StoragePool *p) {
        g_autofree char *xml = pool_xml_format(p->name, p->uuid, p->target, NULL);
        g_autofree char *path = pool_config_path(p->manager, p->name);
        return write_file_atomic(path, xml, strlen(xml));
}

uint64_t pool_allocation(StoragePool *p) {
        uint64_t sum = 0;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, NULL, &value))
                sum += ((StorageVolume *) value)->allocation;
        return sum;
}

static bool folder_exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void pool_statvfs(StoragePool *p, bool *active, uint64_t *capacity, uint64_t *available) {
        struct statvfs sv;
        *active = folder_exists(p->target);
        *capacity = *available = 0;
        if (*active && statvfs(p->target, &sv) == 0) {
                *capacity = (uint64_t) sv.f_blocks * sv.f_frsize;
                *available = (uint64_t) sv.f_bavail * sv.f_frsize;
        }
}

/* The stored figures are the ones last signalled: property reads compute
 * their own (pool_statvfs), so a change is never swallowed unsignalled. */
void pool_update_sizes(StoragePool *p, bool emit) {
        bool active;
        uint64_t capacity, available, allocation = pool_allocation(p);
        pool_statvfs(p, &active, &capacity, &available);
        bool changed = active != p->active || capacity != p->capacity || available != p->available ||
                       allocation != p->allocation;
        p->active = active;
        p->capacity = capacity;
        p->available = available;
        p->allocation = allocation;
        if (emit && changed && p->manager->published)
                sd_bus_emit_properties_changed(p->manager->bus, p->path, "org.domaind1.StoragePool", "Active",
                                               "Capacity", "Allocation", "Available", NULL);
}

int pool_check_active(StoragePool *p, sd_bus_error *error) {
        pool_update_sizes(p, true);
        if (!p->active)
                return bus_error_setf(error, ERROR_INVALID_STATE, "pool '%s' is inactive: %s is not a folder",
                                      p->name, p->target);
        return 0;
}

/* Volumes are the regular files directly in the folder; symlinks and
 * dot-files (our temporary files) are not. */
static bool is_volume_file(int dirfd, const char *name) {
        struct stat st;
        if (name[0] == '.' || !volume_name_valid(name))
                return false;
        return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Drops volumes whose file is gone (unless a job holds them). */
static void drop_vanished(StoragePool *p, GHashTable *seen, bool emit) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                StorageVolume *v = value;
                if (v->job || (seen && g_hash_table_contains(seen, v->name)))
                        continue;
                g_hash_table_iter_remove(&it);
                volume_remove(v, emit);
        }
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

void pool_refresh(StoragePool *p, bool emit) {
        bool active = folder_exists(p->target);
        _cleanup_(closedirp) DIR *dir = active ? opendir(p->target) : NULL;
        if (!dir) {
                if (active)
                        log_warning("pool '%s': cannot read %s: %s", p->name, p->target, g_strerror(errno));
                drop_vanished(p, NULL, emit);
                pool_update_sizes(p, emit);
                return;
        }
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (!is_volume_file(dirfd(dir), de->d_name) || g_hash_table_contains(p->pending, de->d_name))
                        continue;
                g_hash_table_add(seen, g_strdup(de->d_name));
                StorageVolume *v = g_hash_table_lookup(p->volumes, de->d_name);
                if (v) {
                        if (!v->job && volume_probe(v) > 0 && emit)
                                volume_emit_sizes(v);
                        continue;
                }
                v = volume_new(p, de->d_name);
                volume_probe(v);
                volume_publish(v, emit);
        }
        drop_vanished(p, seen, emit);
        pool_update_sizes(p, emit);
}

char *pool_format_xml(StoragePool *p, bool with_sizes) {
        pool_update_sizes(p, true);
        uint64_t sizes[3] = { p->capacity, pool_allocation(p), p->available };
        return pool_xml_format(p->name, p->uuid, p->target, with_sizes ? sizes : NULL);
}

/* Undefining a pool while one of its volumes is wiped or used by a guest
 * would hide that volume from the undefine-with-storage path. */
bool pool_has_busy_volume(StoragePool *p, sd_bus_error *error) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, p->volumes);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (volume_check_free(value, "undefine its pool", ERROR_BUSY, error) < 0)
                        return true;
        if (g_hash_table_size(p->pending) > 0) {
                bus_error_setf(error, ERROR_BUSY, "pool '%s': a volume is being created", p->name);
                return true;
        }
        return false;
}
