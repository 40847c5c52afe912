/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage pools (directories) and their volumes (files). See STORAGE.md. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "domain-xml.h"
#include "manager.h"

#define POOL_PREFIX "/org/domaind1/pool"

typedef enum VolumeFormat {
        VOLUME_RAW,
        VOLUME_QCOW2,
} VolumeFormat;

typedef enum WipeAlgorithm {
        WIPE_ZERO = 0,
        WIPE_RANDOM = 1,
        WIPE_LAST_KNOWN = 8, /* libvirt's numbering goes up to pfitzner33 */
} WipeAlgorithm;

typedef struct StoragePool StoragePool;
typedef struct StorageVolume StorageVolume;

struct StoragePool {
        Manager *manager;
        char *name;
        char uuid[37];
        char *target;       /* the folder */
        char *path;         /* object path */
        bool active;        /* the folder exists */
        uint64_t capacity, available, allocation; /* as last signalled */
        GHashTable *volumes; /* name → StorageVolume* */
        GHashTable *pending; /* names of volumes being created (set) */
};

struct StorageVolume {
        StoragePool *pool;
        char *name;
        char *file;         /* absolute path of the file */
        char *path;         /* object path */
        VolumeFormat format;
        uint64_t capacity, allocation;
        /* A job (wipe, qcow2 resize) holds the volume: other changes are Busy.
         * The worker thread updates job_processed; the loop reads it. */
        const char *job;    /* "wipe", "resize", NULL when idle */
        int64_t job_started_usec;
        uint64_t job_total;
        uint64_t job_processed; /* written with __atomic builtins */
        bool gone;          /* removed while its job ran: freed when the job ends */
};

/* ---- registry (storage.c) ---- */
int storage_load(Manager *m);
void storage_free_all(Manager *m);
void storage_cancel_jobs(Manager *m);
StoragePool *storage_find_pool(Manager *m, const char *name);
StoragePool *storage_find_pool_by_path(Manager *m, const char *path);
StorageVolume *storage_find_volume_by_path(Manager *m, const char *path);
/* The volume whose file is `file` (after resolving symlinks), or NULL. */
StorageVolume *storage_find_volume_by_file(Manager *m, const char *file);
/* The active domain using the volume, or NULL. */
Domain *storage_volume_user(StorageVolume *v);
/* Sorted pool object paths / volume object paths. */
int storage_append_pools(Manager *m, sd_bus_message *reply);
int storage_append_volumes(StoragePool *p, sd_bus_message *reply);
int storage_define_pool(Manager *m, const char *xml, StoragePool **ret, sd_bus_error *error);
int storage_undefine_pool(StoragePool *p, sd_bus_error *error);

/* Domain.Undefine with REMOVE_STORAGE: deletes (wiping first when `wipe`)
 * the volumes among `files`; files outside every pool are logged and left.
 * `done` runs on the loop when finished, with an error name or NULL. */
typedef void (*StorageRemoveDone)(void *userdata, const char *error_name, const char *message);
int storage_remove_domain_volumes(Manager *m, char *const *files, bool wipe, StorageRemoveDone done,
                                  void *userdata, sd_bus_error *error);

/* ---- pools (storage-pool.c) ---- */
StoragePool *pool_new(Manager *m, const char *name, const char *uuid, const char *target);
void pool_free(StoragePool *p);
char *pool_config_path(Manager *m, const char *name);
int pool_save_config(StoragePool *p);
/* Re-reads sizes, adds volumes for new files and drops those whose file
 * vanished. Emits signals when `emit`. */
void pool_refresh(StoragePool *p, bool emit);
void pool_update_sizes(StoragePool *p, bool emit);
/* Re-reads the sizes; InvalidState when the pool's folder is gone. */
int pool_check_active(StoragePool *p, sd_bus_error *error);
/* The live figures, without storing them. */
void pool_statvfs(StoragePool *p, bool *active, uint64_t *capacity, uint64_t *available);
uint64_t pool_allocation(StoragePool *p);
char *pool_format_xml(StoragePool *p, bool with_sizes);
bool pool_has_busy_volume(StoragePool *p, sd_bus_error *error);

/* ---- volumes (storage-volume.c) ---- */
bool volume_name_valid(const char *name);
StorageVolume *volume_new(StoragePool *p, const char *name);
void volume_free(StorageVolume *v);
/* Probes format, capacity and allocation from the file. */
int volume_probe(StorageVolume *v);
void volume_publish(StorageVolume *v, bool emit);
void volume_remove(StorageVolume *v, bool emit);
void volume_emit_sizes(StorageVolume *v);
char *volume_format_xml(StorageVolume *v);
const char *volume_format_to_string(VolumeFormat f);
int volume_create_xml(StoragePool *p, sd_bus_message *m, const char *xml, sd_bus_error *error);
int volume_resize(StorageVolume *v, sd_bus_message *m, uint64_t capacity, sd_bus_error *error);
int volume_delete(StorageVolume *v, sd_bus_error *error);
/* Unlinks the file, logs what_happened, drops the volume (InterfacesRemoved)
 * and re-reads the pool's sizes. On failure (-errno) the volume stays. */
int volume_unlink(StorageVolume *v, const char *what_happened);
/* Busy while a job holds it, refusing with `in_use_error` while an active
 * domain uses it; returns < 0 with `error` set when refused. */
int volume_check_free(StorageVolume *v, const char *what, const char *in_use_error, sd_bus_error *error);
/* Runs argv (qemu-img) synchronously; for worker threads only. */
int volume_run_tool(char **argv, char **ret_message);

/* ---- wipe (storage-wipe.c) ---- */
/* Overwrites the volumes in `volumes` (which it marks busy), deleting them
 * afterwards when `then_delete`; `done` runs on the loop. */
typedef void (*WipeDone)(void *userdata, int r, const char *message);
int wipe_volumes(Manager *m, GPtrArray *volumes, WipeAlgorithm algorithm, bool then_delete, WipeDone done,
                 void *userdata, GDestroyNotify userdata_free);
int volume_wipe(StorageVolume *v, sd_bus_message *m, uint32_t algorithm, sd_bus_error *error);

/* ---- XML (storage-xml.c) ---- */
typedef struct PoolDef {
        char *name;
        char uuid[37]; /* "" when absent */
        char *target;
} PoolDef;
PoolDef *pool_def_parse(const char *xml, GError **error);
void pool_def_free(PoolDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PoolDef, pool_def_free)

typedef struct VolumeDef {
        char *name;
        uint64_t capacity;
        uint64_t allocation;
        bool has_allocation;
        VolumeFormat format;
} VolumeDef;
/* Fails with DOMAIN_XML_ERROR_UNSUPPORTED for a pool type or format we do not
 * handle, with DOMAIN_XML_ERROR otherwise. */
VolumeDef *volume_def_parse(const char *xml, GError **error);
void volume_def_free(VolumeDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VolumeDef, volume_def_free)
char *pool_xml_format(const char *name, const char *uuid, const char *target, const uint64_t *sizes);
char *volume_xml_format(const char *name, const char *file, uint64_t capacity, uint64_t allocation,
                        const char *format);

/* ---- D-Bus (storage-bus.c) ---- */
int storage_bus_register(Manager *m);
