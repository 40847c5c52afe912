/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wiping volumes: overwrite every byte of the file on a worker thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-util.h"
#include "log.h"
#include "storage.h"
#include "worker.h"

/* Large and aligned, as the page cache and block devices like it. */
#define WIPE_BLOCK (4u << 20)
/* Writeback is started every this many bytes, so the disk works while we
 * write instead of all at the final fdatasync (and the dirty pages of a
 * large wipe do not crowd out everything else in the page cache). */
#define WIPE_WRITEBACK_WINDOW (64u << 20)

typedef struct WipeTask {
        Manager *manager;
        GPtrArray *volumes;     /* StorageVolume*, held with v->job = "wipe" */
        char **qemu_img_argv;   /* per volume: NULL, or the qcow2 re-creation */
        WipeAlgorithm algorithm;
        bool then_delete;
        WipeDone done;
        void *userdata;
        GDestroyNotify userdata_free; /* when the loop exits before the wipe ends */
        bool finished;
        int r;
        char *message;
} WipeTask;

static void wipe_task_free(void *p) {
        WipeTask *t = p;
        if (!t->finished && t->userdata_free)
                t->userdata_free(t->userdata);
        g_ptr_array_unref(t->volumes);
        g_free(t->message);
        g_free(t);
}

static int fill_random(unsigned char *buf, size_t size) {
        for (size_t done = 0; done < size;) {
                ssize_t n = getrandom(buf + done, size - done, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) n;
        }
        return 0;
}

static int overwrite_file(WipeTask *t, StorageVolume *v, int fd, uint64_t size) {
        g_autofree unsigned char *buf = NULL;
        if (posix_memalign((void **) &buf, 4096, WIPE_BLOCK) != 0)
                return -ENOMEM;
        memset(buf, 0, WIPE_BLOCK);
        for (uint64_t off = 0; off < size;) {
                if (__atomic_load_n(&t->manager->stopping, __ATOMIC_RELAXED))
                        return -ECANCELED;
                size_t n = (size_t) MIN((uint64_t) WIPE_BLOCK, size - off);
                if (t->algorithm == WIPE_RANDOM) {
                        int r = fill_random(buf, n);
                        if (r < 0)
                                return r;
                }
                ssize_t w = pwrite(fd, buf, n, (off_t) off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += (uint64_t) w;
                __atomic_store_n(&v->job_processed, off, __ATOMIC_RELAXED);
                if (off % WIPE_WRITEBACK_WINDOW == 0)
                        (void) sync_file_range(fd, (off_t) (off - WIPE_WRITEBACK_WINDOW), WIPE_WRITEBACK_WINDOW,
                                               SYNC_FILE_RANGE_WRITE);
        }
        return fdatasync(fd) < 0 ? -errno : 0;
}

/* qcow2: every host byte is overwritten, then the image is made anew and
 * empty with the same virtual size, so it stays usable. */
static int recreate_qcow2(WipeTask *t, StorageVolume *v) {
        g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
        g_autofree char *size = g_strdup_printf("%" PRIu64, v->capacity);
        if (!qemu_img) {
                t->message = g_strdup("qemu-img is not installed: the wiped qcow2 image cannot be re-created");
                return -ENOENT;
        }
        char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", v->file, size, NULL };
        return volume_run_tool(argv, &t->message);
}

static int wipe_one(WipeTask *t, StorageVolume *v) {
        _cleanup_(closep) int fd = open(v->file, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        int r = overwrite_file(t, v, fd, (uint64_t) st.st_size);
        if (r >= 0 && v->format == VOLUME_QCOW2 && !t->then_delete)
                r = recreate_qcow2(t, v);
        return r;
}

static void wipe_run(void *p) {
        WipeTask *t = p;
        for (guint i = 0; i < t->volumes->len && t->r >= 0; i++) {
                StorageVolume *v = t->volumes->pdata[i];
                t->r = wipe_one(t, v);
                if (t->r < 0 && !t->message)
                        t->message = g_strdup_printf("cannot wipe volume '%s': %s", v->name, g_strerror(-t->r));
        }
}

/* Loop side: the volumes are released (or deleted), then the caller hears. */
static void wipe_done(void *p) {
        WipeTask *t = p;
        for (guint i = 0; i < t->volumes->len; i++) {
                StorageVolume *v = t->volumes->pdata[i];
                StoragePool *pool = v->pool;
                v->job = NULL;
                if (v->gone) {
                        volume_free(v);
                        continue;
                }
                if (t->r >= 0 && t->then_delete) {
                        int r = volume_unlink(v, "wiped and deleted");
                        if (r < 0) {
                                t->r = r;
                                t->message = g_strdup_printf("cannot delete volume '%s': %s", v->name,
                                                             g_strerror(-r));
                        }
                        continue;
                }
                if (volume_probe(v) > 0)
                        volume_emit_sizes(v);
                pool_update_sizes(pool, true);
        }
        t->finished = true;
        t->done(t->userdata, t->r, t->message);
}

int wipe_volumes(Manager *m, GPtrArray *volumes, WipeAlgorithm algorithm, bool then_delete, WipeDone done,
                 void *userdata, GDestroyNotify userdata_free) {
        WipeTask *t = g_new0(WipeTask, 1);
        *t = (WipeTask){ .manager = m, .volumes = g_ptr_array_ref(volumes), .algorithm = algorithm,
                         .then_delete = then_delete, .done = done, .userdata = userdata,
                         .userdata_free = userdata_free };
        for (guint i = 0; i < volumes->len; i++)
                volume_probe(volumes->pdata[i]);
        int r = worker_run(m, wipe_run, wipe_done, wipe_task_free, t);
        if (r < 0) {
                t->userdata_free = NULL; /* the caller still owns userdata */
                wipe_task_free(t);
                return r;
        }
        int64_t now = g_get_monotonic_time();
        for (guint i = 0; i < volumes->len; i++) {
                StorageVolume *v = volumes->pdata[i];
                struct stat st;
                v->job = "wipe";
                v->job_started_usec = now;
                v->job_total = stat(v->file, &st) == 0 ? (uint64_t) st.st_size : v->capacity;
                v->job_processed = 0;
        }
        return 0;
}

/* ---- StorageVolume.Wipe ---- */

static void message_unref(void *m) {
        sd_bus_message_unref(m);
}

static void on_wipe_replied(void *userdata, int r, const char *message) {
        sd_bus_message *m = userdata;
        if (r < 0)
                sd_bus_reply_method_errorf(m, ERROR_HYPERVISOR_FAILED, "%s", message);
        else
                sd_bus_reply_method_return(m, "");
        sd_bus_message_unref(m);
}

int volume_wipe(StorageVolume *v, sd_bus_message *m, uint32_t algorithm, sd_bus_error *error) {
        if (algorithm > WIPE_LAST_KNOWN)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "unknown wipe algorithm %" PRIu32 ": 0 = zero, 1 = random", algorithm);
        if (algorithm != WIPE_ZERO && algorithm != WIPE_RANDOM)
                return bus_error_setf(error, ERROR_NOT_SUPPORTED,
                                      "wipe algorithm %" PRIu32 " is not supported: only 0 (zero) and 1 (random)",
                                      algorithm);
        int r = pool_check_active(v->pool, error);
        if (r >= 0)
                r = volume_check_free(v, "wipe", ERROR_INVALID_STATE, error);
        if (r < 0)
                return r;
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        g_ptr_array_add(list, v);
        r = wipe_volumes(v->pool->manager, list, algorithm, false, on_wipe_replied, sd_bus_message_ref(m),
                         message_unref);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        log_info("pool '%s': wiping volume '%s' (%s)", v->pool->name, v->name,
                 algorithm == WIPE_ZERO ? "zero" : "random");
        return 1;
}
