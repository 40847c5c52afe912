/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A volume: a file in a pool's folder. Create, probe, resize, delete. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "storage.h"
#include "worker.h"

#define VOLUME_NAME_MAX 255

/* Letters, digits and "_-.+:", not starting with "." or "-": such a name
 * can never leave the pool's folder nor look like an option. */
bool volume_name_valid(const char *name) {
        size_t len = strlen(name);
        if (len == 0 || len > VOLUME_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (const char *c = name; *c; c++)
                if (!g_ascii_isalnum(*c) && !strchr("_-.+:", *c))
                        return false;
        return true;
}

const char *volume_format_to_string(VolumeFormat f) {
        return f == VOLUME_QCOW2 ? "qcow2" : "raw";
}

StorageVolume *volume_new(StoragePool *p, const char *name) {
        StorageVolume *v = g_new0(StorageVolume, 1);
        g_autofree char *prefix = g_strconcat(p->path, "/volume", NULL);
        v->pool = p;
        v->name = g_strdup(name);
        v->file = g_build_filename(p->target, name, NULL);
        if (sd_bus_path_encode(prefix, name, &v->path) < 0)
                g_error("out of memory");
        g_hash_table_insert(p->volumes, v->name, v);
        return v;
}

void volume_free(StorageVolume *v) {
        if (!v)
                return;
        g_free(v->name);
        g_free(v->file);
        g_free(v->path);
        g_free(v);
}

static uint64_t be64(const unsigned char *b) {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
                x = (x << 8) | b[i];
        return x;
}

/* Returns 1 when something changed, 0 when not, < 0 on error. */
int volume_probe(StorageVolume *v) {
        _cleanup_(closep) int fd = open(v->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        unsigned char header[32];
        VolumeFormat format = VOLUME_RAW;
        uint64_t capacity = (uint64_t) st.st_size;
        if (pread(fd, header, sizeof header, 0) == (ssize_t) sizeof header && memcmp(header, "QFI\xfb", 4) == 0) {
                format = VOLUME_QCOW2;
                capacity = be64(header + 24);
        }
        uint64_t allocation = (uint64_t) st.st_blocks * 512;
        bool changed = format != v->format || capacity != v->capacity || allocation != v->allocation;
        v->format = format;
        v->capacity = capacity;
        v->allocation = allocation;
        return changed;
}

void volume_publish(StorageVolume *v, bool emit) {
        if (emit && v->pool->manager->published)
                sd_bus_emit_object_added(v->pool->manager->bus, v->path);
}

void volume_emit_sizes(StorageVolume *v) {
        if (v->pool->manager->published)
                sd_bus_emit_properties_changed(v->pool->manager->bus, v->path, "org.domaind1.StorageVolume",
                                               "Capacity", "Allocation", "Format", NULL);
}

/* Off the bus and out of the pool; freed now, or when its job ends. */
void volume_remove(StorageVolume *v, bool emit) {
        StoragePool *p = v->pool;
        if (g_hash_table_lookup(p->volumes, v->name) == v)
                g_hash_table_remove(p->volumes, v->name);
        if (emit && p->manager->published)
                sd_bus_emit_object_removed(p->manager->bus, v->path);
        if (v->job)
                v->gone = true;
        else
                volume_free(v);
}

char *volume_format_xml(StorageVolume *v) {
        if (!v->job && volume_probe(v) > 0)
                volume_emit_sizes(v);
        return volume_xml_format(v->name, v->file, v->capacity, v->allocation, volume_format_to_string(v->format));
}

int volume_check_free(StorageVolume *v, const char *what, const char *in_use_error, sd_bus_error *error) {
        if (v->job)
                return bus_error_setf(error, ERROR_BUSY, "cannot %s: volume '%s' of pool '%s' is busy (%s running)",
                                      what, v->name, v->pool->name, v->job);
        Domain *d = storage_volume_user(v);
        if (d)
                return bus_error_setf(error, in_use_error,
                                      "cannot %s: volume '%s' of pool '%s' is in use by domain '%s' (state: %s)", what,
                                      v->name, v->pool->name, domain_name(d), domain_state_to_string(d->state));
        return 0;
}

int volume_run_tool(char **argv, char **ret_message) {
        g_autofree char *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        int status;
        if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error) ||
            !g_spawn_check_wait_status(status, &error)) {
                g_strstrip(err);
                *ret_message = g_strdup_printf("%s failed: %s%s%s", argv[0], error->message, err && *err ? ": " : "",
                                               err ? err : "");
                return -EIO;
        }
        return 0;
}

static char *find_qemu_img(sd_bus_error *error) {
        char *path = g_find_program_in_path("qemu-img");
        if (!path)
                bus_error_setf(error, ERROR_NOT_SUPPORTED,
                               "qcow2 volumes need qemu-img, which is not installed (Debian package qemu-utils)");
        return path;
}

/* ---- CreateVolumeXML ---- */

typedef struct CreateTask {
        StoragePool *pool;
        sd_bus_message *message;
        VolumeDef *def;
        char *final, *tmp, *qemu_img;
        int r;
        const char *error_name;
        char *error_message;
} CreateTask;

static void create_task_free(void *p) {
        CreateTask *t = p;
        sd_bus_message_unref(t->message);
        volume_def_free(t->def);
        g_free(t->final);
        g_free(t->tmp);
        g_free(t->qemu_img);
        g_free(t->error_message);
        g_free(t);
}

static int create_raw(CreateTask *t) {
        _cleanup_(closep) int fd = open(t->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t) t->def->capacity) < 0)
                return -errno;
        uint64_t allocation = MIN(t->def->allocation, t->def->capacity);
        if (allocation > 0) {
                int r = posix_fallocate(fd, 0, (off_t) allocation);
                if (r != 0)
                        return -r;
        }
        return fsync(fd) < 0 ? -errno : 0;
}

static int create_qcow2(CreateTask *t) {
        g_autofree char *size = g_strdup_printf("%" PRIu64, t->def->capacity);
        char *argv[] = { t->qemu_img, "create", "-q", "-f", "qcow2", t->tmp, size, NULL };
        int r = volume_run_tool(argv, &t->error_message);
        if (r < 0)
                return r;
        return chmod(t->tmp, 0600) < 0 ? -errno : 0;
}

/* Worker thread: the file is made under a dot-name and renamed into
 * place, so a failure or a crash leaves no half-made volume. */
static void create_run(void *p) {
        CreateTask *t = p;
        t->r = t->def->format == VOLUME_QCOW2 ? create_qcow2(t) : create_raw(t);
        if (t->r >= 0 && renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->final, RENAME_NOREPLACE) < 0) {
                t->r = -errno;
                if (t->r == -EEXIST)
                        t->error_name = ERROR_ALREADY_EXISTS;
        }
        if (t->r < 0)
                unlink(t->tmp);
        else
                fsync_folder_of(t->final);
}

static void create_done(void *p) {
        CreateTask *t = p;
        StoragePool *pool = t->pool;
        g_hash_table_remove(pool->pending, t->def->name);
        if (t->r < 0) {
                g_autofree char *why = t->error_message ? g_strdup(t->error_message) : g_strdup(g_strerror(-t->r));
                sd_bus_reply_method_errorf(t->message, t->error_name ? t->error_name : ERROR_HYPERVISOR_FAILED,
                                           "cannot create volume '%s' in pool '%s': %s", t->def->name, pool->name, why);
                return;
        }
        StorageVolume *v = volume_new(pool, t->def->name);
        volume_probe(v);
        volume_publish(v, true);
        pool_update_sizes(pool, true);
        log_info("pool '%s': created volume '%s' (%s, %" PRIu64 " bytes)", pool->name, v->name,
                 volume_format_to_string(v->format), v->capacity);
        sd_bus_reply_method_return(t->message, "o", v->path);
}

static int check_new_volume(StoragePool *p, const VolumeDef *def, sd_bus_error *error) {
        g_autofree char *shown = clip_for_message(def->name);
        struct stat st;
        if (!volume_name_valid(def->name))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "invalid volume name '%s': use 1-255 letters, digits or \"_-.+:\", not starting with '.' or '-' (no '/')",
                                      shown);
        int r = pool_check_active(p, error);
        if (r < 0)
                return r;
        g_autofree char *file = g_build_filename(p->target, def->name, NULL);
        if (g_hash_table_contains(p->volumes, def->name) || g_hash_table_contains(p->pending, def->name) ||
            lstat(file, &st) == 0)
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "volume '%s' already exists in pool '%s'", shown,
                                      p->name);
        if (def->capacity == 0)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "volume '%s': capacity must be greater than zero",
                                      shown);
        if (def->capacity > p->available)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "volume '%s': capacity %" PRIu64 " bytes is more than pool '%s' has available (%" PRIu64 " bytes)",
                                      shown, def->capacity, p->name, p->available);
        return 0;
}

static int reply_xml_error(GError *e, sd_bus_error *error) {
        bool unsupported = g_error_matches(e, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_UNSUPPORTED);
        return bus_error_setf(error, unsupported ? ERROR_NOT_SUPPORTED : ERROR_INVALID_XML, "%s", e->message);
}

int volume_create_xml(StoragePool *p, sd_bus_message *m, const char *xml, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;
        g_autoptr(VolumeDef) def = volume_def_parse(xml, &e);
        if (!def)
                return reply_xml_error(e, error);
        int r = check_new_volume(p, def, error);
        if (r < 0)
                return r;
        CreateTask *t = g_new0(CreateTask, 1);
        t->pool = p;
        t->message = sd_bus_message_ref(m);
        t->final = g_build_filename(p->target, def->name, NULL);
        g_autofree char *random = g_uuid_string_random();
        g_autofree char *tmp_name = g_strconcat(".domaind-", random, ".new", NULL);
        t->tmp = g_build_filename(p->target, tmp_name, NULL);
        if (def->format == VOLUME_QCOW2 && !(t->qemu_img = find_qemu_img(error))) {
                create_task_free(t);
                return -EOPNOTSUPP;
        }
        t->def = g_steal_pointer(&def);
        r = worker_run(p->manager, create_run, create_done, create_task_free, t);
        if (r < 0) {
                create_task_free(t);
                return r;
        }
        g_hash_table_add(p->pending, g_strdup(t->def->name));
        return 1;
}

/* ---- Resize ---- */

typedef struct ResizeTask {
        StorageVolume *volume;
        sd_bus_message *message;
        char *argv[8];
        char *error_message;
        int r;
} ResizeTask;

static void resize_task_free(void *p) {
        ResizeTask *t = p;
        sd_bus_message_unref(t->message);
        for (int i = 0; t->argv[i]; i++)
                g_free(t->argv[i]);
        g_free(t->error_message);
        g_free(t);
}

static void resize_run(void *p) {
        ResizeTask *t = p;
        t->r = volume_run_tool(t->argv, &t->error_message);
}

static void resize_done(void *p) {
        ResizeTask *t = p;
        StorageVolume *v = t->volume;
        v->job = NULL;
        if (v->gone) {
                sd_bus_reply_method_errorf(t->message, ERROR_NO_SUCH_VOLUME, "volume '%s' vanished during the resize",
                                           v->name);
                volume_free(v);
                return;
        }
        if (volume_probe(v) > 0)
                volume_emit_sizes(v);
        pool_update_sizes(v->pool, true);
        if (t->r < 0)
                sd_bus_reply_method_errorf(t->message, ERROR_HYPERVISOR_FAILED, "cannot resize volume '%s': %s",
                                           v->name, t->error_message);
        else
                sd_bus_reply_method_return(t->message, "");
}

static int resize_raw(StorageVolume *v, uint64_t capacity, sd_bus_error *error) {
        _cleanup_(closep) int fd = open(v->file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t) capacity) < 0 || fsync(fd) < 0)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot resize volume '%s': %s", v->name,
                                      g_strerror(errno));
        if (volume_probe(v) > 0)
                volume_emit_sizes(v);
        pool_update_sizes(v->pool, true);
        return 0;
}

int volume_resize(StorageVolume *v, sd_bus_message *m, uint64_t capacity, sd_bus_error *error) {
        int r = pool_check_active(v->pool, error);
        if (r >= 0)
                r = volume_check_free(v, "resize", ERROR_BUSY, error);
        if (r < 0)
                return r;
        volume_probe(v);
        if (capacity < v->capacity)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "cannot shrink volume '%s' from %" PRIu64 " to %" PRIu64 " bytes: only growing is supported",
                                      v->name, v->capacity, capacity);
        if (capacity - v->capacity > v->pool->available) /* as pool_check_active() just read it */
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "cannot grow volume '%s' by %" PRIu64 " bytes: pool '%s' has %" PRIu64 " bytes available",
                                      v->name, capacity - v->capacity, v->pool->name, v->pool->available);
        if (v->format == VOLUME_RAW) {
                r = resize_raw(v, capacity, error);
                return r < 0 ? r : sd_bus_reply_method_return(m, "");
        }
        g_autofree char *qemu_img = find_qemu_img(error);
        if (!qemu_img)
                return -EOPNOTSUPP;
        ResizeTask *t = g_new0(ResizeTask, 1);
        t->volume = v;
        t->message = sd_bus_message_ref(m);
        char *argv[] = { g_steal_pointer(&qemu_img), g_strdup("resize"), g_strdup("-q"), g_strdup("-f"),
                         g_strdup("qcow2"), g_strdup(v->file), g_strdup_printf("%" PRIu64, capacity), NULL };
        memcpy(t->argv, argv, sizeof argv);
        r = worker_run(v->pool->manager, resize_run, resize_done, resize_task_free, t);
        if (r < 0) {
                resize_task_free(t);
                return r;
        }
        v->job = "resize";
        v->job_started_usec = g_get_monotonic_time();
        v->job_total = v->job_processed = 0;
        return 1;
}

/* ---- Delete ---- */

int volume_delete(StorageVolume *v, sd_bus_error *error) {
        int r = pool_check_active(v->pool, error);
        if (r >= 0)
                r = volume_check_free(v, "delete", ERROR_BUSY, error);
        if (r < 0)
                return r;
        r = volume_unlink(v, "deleted");
        if (r < 0)
                return bus_error_setf(error, ERROR_HYPERVISOR_FAILED, "cannot delete volume '%s': %s", v->name,
                                      g_strerror(-r));
        return 0;
}

int volume_unlink(StorageVolume *v, const char *what_happened) {
        if (unlink(v->file) < 0 && errno != ENOENT)
                return -errno;
        StoragePool *p = v->pool;
        log_info("pool '%s': %s volume '%s'", p->name, what_happened, v->name);
        volume_remove(v, true);
        pool_update_sizes(p, true);
        return 0;
}
