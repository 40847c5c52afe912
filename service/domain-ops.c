/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-util.h"
#include "console.h"
#include "domain-ops.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "save-image.h"
#include "snapshot.h"
#include "storage.h"
#include "worker.h"

#define PLUGIN(d) ((d)->hv->plugin)
#define HV(d) ((d)->hv->hv)
#define GUEST(d) domain_to_guest(d)

void job_fail_state(Job *job, const char *what) {
        Domain *d = job->domain;
        job_fail_with(job, ERROR_INVALID_STATE, "domain '%s' %s (state: %s)", domain_name(d), what,
                      domain_state_to_string(d->state));
}

bool job_plugin_has(Job *job, const void *op, const char *what) {
        if (op)
                return true;
        job_fail_with(job, ERROR_NOT_SUPPORTED, "the %s hypervisor cannot %s", job->domain->hv->name, what);
        return false;
}

static void finish_ok(Job *job, DomaindResult r, const char *message) {
        job_finish(job, r, "%s", message ? message : "");
}

/* ---- Start (also CreateXML, autostart, restarts by on_* actions) ---- */

static void restore_step(Job *job);

static int on_autodestroy_owner_gone(sd_bus_track *track, void *userdata);

int domain_watch_autodestroy(Domain *d, sd_bus_message *m, const char *owner) {
        d->autodestroy = sd_bus_track_unref(d->autodestroy);
        int r = sd_bus_track_new(d->hv->manager->bus, &d->autodestroy, on_autodestroy_owner_gone, d);
        if (r < 0)
                return r;
        r = m ? sd_bus_track_add_sender(d->autodestroy, m) : sd_bus_track_add_name(d->autodestroy, owner);
        if (r < 0)
                d->autodestroy = sd_bus_track_unref(d->autodestroy);
        return r;
}

/* Armed before the guest starts: a caller leaving meanwhile is noticed. */
static bool arm_autodestroy(Job *job) {
        if (!job->autodestroy || !job->message)
                return true;
        return domain_watch_autodestroy(job->domain, job->message, NULL) >= 0;
}

/* A start or restore that did not happen: the domain is as it was, and one
 * the job created for it goes away again (unless DefineXML made it
 * persistent meanwhile). */
static void start_failed(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        g_clear_pointer(&d->live, domain_def_free);
        d->autodestroy = sd_bus_track_unref(d->autodestroy);
        if (job->new_domain && !d->persistent)
                domain_remove(d);
        job_finish(job, r, "%s", message);
}

static void start_done(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        if (r != DOMAIND_OK)
                return start_failed(job, r, message);
        domain_set_state(d, STATE_RUNNING, "booted", "started", "booted");
        if (job->flags & START_PAUSED)
                domain_set_state(d, STATE_PAUSED, "user", "suspended", "paused");
        job_finish(job, DOMAIND_OK, NULL);
}

static void boot_guest(Job *job) {
        Domain *d = job->domain;
        if (!job_plugin_has(job, PLUGIN(d)->start, "start domains"))
                return;
        domain_went_active(d, job->def ? g_steal_pointer(&job->def) : domain_def_copy(d->def));
        PLUGIN(d)->start(HV(d), GUEST(d), job->flags & START_PAUSED ? DOMAIND_START_PAUSED : 0,
                         job_plugin_call(job, start_done));
}

static void start_begin(Job *job) {
        Domain *d = job->domain;
        if (domain_is_active(d))
                return job_fail_state(job, "is already active");
        if (!arm_autodestroy(job))
                return start_failed(job, DOMAIND_ERROR_FAILED, "the caller left before the domain started (AUTODESTROY)");
        if (d->has_managed_save && !(job->flags & START_FORCE_BOOT) && !job->def) {
                g_autofree char *image = domain_managed_save_path(d);
                job->path = g_steal_pointer(&image);
                job->target = (job->flags & START_PAUSED) ? STATE_PAUSED : -1;
                job->managed_image = true;
                return restore_step(job);
        }
        if (d->has_managed_save && (job->flags & START_FORCE_BOOT)) {
                g_autofree char *image = domain_managed_save_path(d);
                unlink_if_exists(image);
                d->has_managed_save = false;
                domain_emit_changed(d, "HasManagedSave", NULL);
                domain_set_state(d, STATE_SHUTOFF, "unknown", NULL, NULL);
        }
        boot_guest(job);
}

int domain_op_start(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, START_PAUSED | START_AUTODESTROY | START_BYPASS_CACHE | START_FORCE_BOOT, error);
        if (r < 0)
                return r;
        Job *job = job_new(d, "Start", m, start_begin);
        job->flags = flags;
        job->autodestroy = flags & START_AUTODESTROY;
        return job_submit(job);
}

int domain_op_start_created(Domain *d, sd_bus_message *m, uint64_t flags, DomainDef *live, bool created) {
        Job *job = job_new(d, "CreateXML", m, start_begin);
        job->flags = flags;
        job->autodestroy = flags & CREATE_START_AUTODESTROY;
        job->def = live;
        job->new_domain = created;
        job->reply_with_path = true;
        return job_submit(job);
}

void domain_autostart(Domain *d) {
        if (domain_is_active(d))
                return;
        log_info("%s: autostarting", domain_name(d));
        job_submit(job_new(d, "autostart", NULL, start_begin));
}

/* ---- Destroy and the on_* actions that use it ---- */

static void destroy_done(Job *job, DomaindResult r, const char *message) {
        /* The guest may have died on its own meanwhile: it was said then. */
        if (r == DOMAIND_OK && domain_is_active(job->domain))
                domain_went_inactive(job->domain, STATE_SHUTOFF, "destroyed", "destroyed");
        finish_ok(job, r, message);
}

static void destroy_begin(Job *job) {
        Domain *d = job->domain;
        if (!domain_is_active(d))
                return job_fail_state(job, "is not active");
        if (!job_plugin_has(job, PLUGIN(d)->destroy, "destroy domains"))
                return;
        PLUGIN(d)->destroy(HV(d), GUEST(d), job->flags & DESTROY_GRACEFUL ? DOMAIND_DESTROY_GRACEFUL : 0,
                           job_plugin_call(job, destroy_done));
}

int domain_op_destroy(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, DESTROY_GRACEFUL, error);
        if (r < 0)
                return r;
        Job *job = job_new(d, "Destroy", m, destroy_begin);
        job->flags = flags;
        return job_submit(job);
}

void domain_autodestroy(Domain *d) {
        job_submit(job_new(d, "autodestroy", NULL, destroy_begin));
}

static int on_autodestroy_owner_gone(sd_bus_track *track, void *userdata) {
        Domain *d = userdata;
        d->autodestroy = sd_bus_track_unref(d->autodestroy);
        /* A start still running: the destroy waits behind it. */
        if (!domain_is_active(d) && !d->job)
                return 0;
        log_info("%s: the client that started it left, destroying (autodestroy)", domain_name(d));
        domain_autodestroy(d);
        return 0;
}

void domain_destroy_then(Job *job, JobStep next) {
        Domain *d = job->domain;
        if (!job_plugin_has(job, PLUGIN(d)->destroy, "destroy domains"))
                return;
        PLUGIN(d)->destroy(HV(d), GUEST(d), 0, job_plugin_call(job, next));
}

/* After the guest powered off, rebooted or crashed, the domain's
 * on_poweroff / on_reboot / on_crash decides. job->target holds the
 * DomaindGuestEvent, job->path the stop reason. */
static void lifecycle_restart_done(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        /* The guest stays off: a transient domain has nothing left to be. */
        if (r != DOMAIND_OK && !d->persistent) {
                g_clear_pointer(&d->live, domain_def_free);
                domain_remove(d);
                return job_finish(job, r, "%s", message);
        }
        start_done(job, r, message);
}

static void lifecycle_stopped(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        if (r != DOMAIND_OK)
                return job_finish(job, r, "%s", message);
        const char *reason = g_intern_string(job->path); /* outlives the job */
        if (d->gone) /* the guest died meanwhile and took a transient domain with it */
                return job_finish(job, DOMAIND_OK, NULL);
        if (job->restart) { /* the domain stays, even a transient one */
                if (domain_is_active(d)) {
                        g_clear_pointer(&d->live, domain_def_free);
                        domain_set_state(d, STATE_SHUTOFF, reason, "stopped", reason);
                }
                job->restart = false;
                if (!PLUGIN(d)->start)
                        return lifecycle_restart_done(job, DOMAIND_ERROR_NOT_SUPPORTED, "cannot start domains");
                domain_went_active(d, domain_def_copy(d->def));
                PLUGIN(d)->start(HV(d), GUEST(d), 0, job_plugin_call(job, lifecycle_restart_done));
                return;
        }
        if (domain_is_active(d))
                domain_went_inactive(d, STATE_SHUTOFF, reason, reason);
        job_finish(job, DOMAIND_OK, NULL);
}

static void lifecycle_reset_done(Job *job, DomaindResult r, const char *message) {
        finish_ok(job, r, message);
}

static void lifecycle_begin(Job *job) {
        Domain *d = job->domain;
        const DomainDef *def = domain_current_def(d);
        LifecycleAction action;
        DomainState held;
        switch ((DomaindGuestEvent) job->target) {
        case DOMAIND_GUEST_SHUTDOWN:
                action = def->on_poweroff, held = STATE_SHUTDOWN, job->path = g_strdup("shutdown");
                break;
        case DOMAIND_GUEST_CRASHED:
                action = def->on_crash, held = STATE_CRASHED, job->path = g_strdup("crashed");
                break;
        default:
                action = def->on_reboot, held = STATE_RUNNING, job->path = g_strdup("shutdown");
                break;
        }
        /* Someone else (Destroy, a restart) dealt with the guest meanwhile. */
        if (d->state != held)
                return job_finish(job, DOMAIND_OK, NULL);

        switch (action) {
        case LIFECYCLE_PRESERVE:
                return job_finish(job, DOMAIND_OK, NULL);
        case LIFECYCLE_RESTART:
        case LIFECYCLE_RENAME_RESTART:
        case LIFECYCLE_COREDUMP_RESTART:
                if (job->target == DOMAIND_GUEST_REBOOT) {
                        if (!job_plugin_has(job, PLUGIN(d)->reset, "reset domains"))
                                return;
                        PLUGIN(d)->reset(HV(d), GUEST(d), job_plugin_call(job, lifecycle_reset_done));
                        return;
                }
                job->restart = true;
                return domain_destroy_then(job, lifecycle_stopped);
        case LIFECYCLE_DESTROY:
        case LIFECYCLE_COREDUMP_DESTROY:
        default:
                return domain_destroy_then(job, lifecycle_stopped);
        }
}

static void queue_lifecycle_action(Domain *d, DomaindGuestEvent event) {
        Job *job = job_new(d, "lifecycle action", NULL, lifecycle_begin);
        job->target = event;
        job_submit(job);
}

void domain_resume_lifecycle_action(Domain *d) {
        if (d->state == STATE_SHUTDOWN)
                queue_lifecycle_action(d, DOMAIND_GUEST_SHUTDOWN);
        else if (d->state == STATE_CRASHED)
                queue_lifecycle_action(d, DOMAIND_GUEST_CRASHED);
}

void domain_host_guest_event(DomaindGuest *guest, DomaindGuestEvent event, const char *detail) {
        Domain *d = domain_from_guest(guest);
        if (d->gone || !domain_is_active(d))
                return;
        switch (event) {
        case DOMAIND_GUEST_SHUTDOWN:
                domain_set_state(d, STATE_SHUTDOWN, "user", "shutdown", "finished");
                queue_lifecycle_action(d, event);
                break;
        case DOMAIND_GUEST_REBOOT:
                queue_lifecycle_action(d, event);
                break;
        case DOMAIND_GUEST_CRASHED:
                domain_set_state(d, STATE_CRASHED, "panicked", "crashed", "panicked");
                queue_lifecycle_action(d, event);
                break;
        case DOMAIND_GUEST_PAUSED:
                domain_set_state(d, STATE_PAUSED, detail ? g_intern_string(detail) : "unknown", "suspended",
                                 detail ? detail : "paused");
                break;
        case DOMAIND_GUEST_RESUMED:
                domain_set_state(d, STATE_RUNNING, "unpaused", "resumed", "unpaused");
                break;
        case DOMAIND_GUEST_GONE: {
                const char *reason = g_intern_string(detail ? detail : "crashed");
                domain_went_inactive(d, STATE_SHUTOFF, reason, reason);
                break;
        }
        }
}

/* ---- Shutdown, Reboot, Reset, Suspend, Resume ---- */

static void shutdown_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state != STATE_RUNNING)
                return job_fail_state(job, "is not running");
        if (!job_plugin_has(job, PLUGIN(d)->shutdown, "shut domains down"))
                return;
        PLUGIN(d)->shutdown(HV(d), GUEST(d), job_plugin_call(job, finish_ok));
}

int domain_op_shutdown(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SHUTDOWN_ACPI_POWER_BTN, error);
        if (r < 0)
                return r;
        return job_submit(job_new(d, "Shutdown", m, shutdown_begin));
}

static void reboot_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state != STATE_RUNNING)
                return job_fail_state(job, "is not running");
        if (!d->persistent)
                return job_fail_with(job, ERROR_INVALID_STATE,
                                     "domain '%s' is transient: Reboot needs a persistent domain (state: %s)",
                                     domain_name(d), domain_state_to_string(d->state));
        if (!job_plugin_has(job, PLUGIN(d)->reboot, "reboot domains"))
                return;
        PLUGIN(d)->reboot(HV(d), GUEST(d), job_plugin_call(job, finish_ok));
}

int domain_op_reboot(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SHUTDOWN_ACPI_POWER_BTN, error);
        if (r < 0)
                return r;
        return job_submit(job_new(d, "Reboot", m, reboot_begin));
}

static void reset_begin(Job *job) {
        Domain *d = job->domain;
        if (!domain_is_active(d))
                return job_fail_state(job, "is not active");
        if (!job_plugin_has(job, PLUGIN(d)->reset, "reset domains"))
                return;
        PLUGIN(d)->reset(HV(d), GUEST(d), job_plugin_call(job, finish_ok));
}

int domain_op_reset(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        return job_submit(job_new(d, "Reset", m, reset_begin));
}

static void suspend_done(Job *job, DomaindResult r, const char *message) {
        /* A guest that crashed or died meanwhile keeps the state it reported. */
        if (r == DOMAIND_OK && job->domain->state == STATE_RUNNING)
                domain_set_state(job->domain, STATE_PAUSED, "user", "suspended", "paused");
        finish_ok(job, r, message);
}

static void suspend_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state == STATE_PAUSED) /* as libvirt: nothing to do */
                return job_finish(job, DOMAIND_OK, NULL);
        if (d->state != STATE_RUNNING)
                return job_fail_state(job, "is not running");
        if (!job_plugin_has(job, PLUGIN(d)->suspend, "suspend domains"))
                return;
        PLUGIN(d)->suspend(HV(d), GUEST(d), job_plugin_call(job, suspend_done));
}

int domain_op_suspend(Domain *d, sd_bus_message *m, sd_bus_error *error) {
        return job_submit(job_new(d, "Suspend", m, suspend_begin));
}

static void resume_done(Job *job, DomaindResult r, const char *message) {
        if (r == DOMAIND_OK && job->domain->state == STATE_PAUSED)
                domain_set_state(job->domain, STATE_RUNNING, "unpaused", "resumed", "unpaused");
        finish_ok(job, r, message);
}

static void resume_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state == STATE_RUNNING)
                return job_finish(job, DOMAIND_OK, NULL);
        if (d->state != STATE_PAUSED)
                return job_fail_state(job, "is not paused");
        if (!job_plugin_has(job, PLUGIN(d)->resume, "resume domains"))
                return;
        PLUGIN(d)->resume(HV(d), GUEST(d), job_plugin_call(job, resume_done));
}

int domain_op_resume(Domain *d, sd_bus_message *m, sd_bus_error *error) {
        return job_submit(job_new(d, "Resume", m, resume_begin));
}

/* ---- Save, ManagedSave ---- */

/* Save, ManagedSave and Restore share their flags. */
static int check_save_flags(uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SAVE_BYPASS_CACHE | SAVE_RUNNING | SAVE_PAUSED, error);
        if (r < 0)
                return r;
        if ((flags & SAVE_RUNNING) && (flags & SAVE_PAUSED))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "flags RUNNING and PAUSED exclude each other");
        return 0;
}

/* A caller-given path for a save image: absolute, in an existing folder,
 * and not something other than a regular file (no devices, no symlinks). */
static int check_image_path(const char *path, bool must_exist, sd_bus_error *error) {
        if (!g_path_is_absolute(path) || strlen(path) >= PATH_MAX)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "path '%s' is not an absolute file path", path);
        g_autofree char *dir = g_path_get_dirname(path);
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "folder '%s' does not exist", dir);
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "cannot use '%s': %s", path, g_strerror(errno));
        }
        if (!S_ISREG(st.st_mode))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "'%s' exists and is not a regular file", path);
        return 0;
}

/* Opens a save image for reading without ever blocking the loop: a FIFO
 * or device swapped in after check_image_path() is refused, not waited on. */
static int open_image(const char *path, int *ret_fd) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
                close(fd);
                return -EINVAL;
        }
        *ret_fd = fd;
        return 0;
}

/* An alternative config for a save image must describe the same domain. */
static int parse_replacement_xml(const char *xml, const char *uuid, const char *name, DomainDef **ret,
                                 sd_bus_error *error) {
        *ret = NULL;
        if (!xml || !*xml)
                return 0;
        g_autoptr(GError) gerror = NULL;
        g_autoptr(DomainDef) def = domain_def_parse(xml, &gerror);
        if (!def)
                return bus_error_setf(error, ERROR_INVALID_XML, "%s", gerror->message);
        if (strcmp(def->uuid, uuid) != 0 || (name && strcmp(def->name, name) != 0))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "the replacement XML describes '%s' (%s), not '%s' (%s)", def->name,
                                      def->uuid, name ? name : "?", uuid);
        *ret = g_steal_pointer(&def);
        return 0;
}

/* Making a save image durable and putting it in place: fsync of a large
 * file takes long, so it runs on a worker thread. */
typedef struct SaveCommit {
        Job *job;
        int fd;
        char *tmp_path;
        char *path;
        int error; /* errno of the failed step, 0 when done */
} SaveCommit;

static void save_commit_free(void *p) {
        SaveCommit *c = p;
        close(c->fd);
        g_free(c->tmp_path);
        g_free(c->path);
        g_free(c);
}

static void save_commit_run(void *p) {
        SaveCommit *c = p;
        if (fsync(c->fd) < 0 || rename(c->tmp_path, c->path) < 0) {
                c->error = errno;
                return;
        }
        fsync_folder_of(c->path);
}

static void save_commit_done(void *p) {
        SaveCommit *c = p;
        Job *job = c->job;
        Domain *d = job->domain;
        bool managed = job->target == STATE_SAVED;
        if (c->error) {
                /* The guest is gone already: keep its state where it is. */
                g_autofree char *kept = g_steal_pointer(&job->tmp_path);
                domain_went_inactive(d, STATE_SHUTOFF, "saved", "saved");
                return job_fail_with(job, ERROR_HYPERVISOR_FAILED,
                                     "the guest state was written to %s but could not be put at %s: %s", kept,
                                     job->path, g_strerror(c->error));
        }
        g_clear_pointer(&job->tmp_path, g_free);
        if (managed) {
                d->has_managed_save = true;
                domain_emit_changed(d, "HasManagedSave", NULL);
                domain_went_inactive(d, STATE_SAVED, "saved", "saved");
        } else
                domain_went_inactive(d, STATE_SHUTOFF, "saved", "saved");
        job_finish(job, DOMAIND_OK, NULL);
}

static void save_done(Job *job, DomaindResult r, const char *message) {
        if (r != DOMAIND_OK)
                return job_finish(job, r, "%s", message);
        SaveCommit *c = g_new0(SaveCommit, 1);
        *c = (SaveCommit){ .job = job, .fd = dup(job->fd), .tmp_path = g_strdup(job->tmp_path),
                           .path = g_strdup(job->path) };
        if (c->fd < 0)
                c->error = errno;
        int r2 = c->fd < 0 ? -c->error
                           : worker_run(job->domain->hv->manager, save_commit_run, save_commit_done,
                                        save_commit_free, c);
        if (r2 < 0) {
                c->error = c->error ? c->error : -r2;
                save_commit_done(c);
                save_commit_free(c);
        }
}

static void save_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state != STATE_RUNNING && d->state != STATE_PAUSED)
                return job_fail_state(job, "is not running");
        if (job->target == STATE_SAVED && !d->persistent)
                return job_fail_state(job, "is transient: a managed save needs a persistent domain");
        if (!job_plugin_has(job, PLUGIN(d)->save, "save domains"))
                return;
        bool paused = job->flags & SAVE_PAUSED ? true
                      : job->flags & SAVE_RUNNING ? false
                                                  : d->state == STATE_PAUSED;
        const char *xml = job->def ? job->def->xml : domain_current_def(d)->xml;

        job->tmp_path = g_strdup_printf("%s.tmpXXXXXX", job->path);
        job->fd = g_mkstemp_full(job->tmp_path, O_RDWR | O_CLOEXEC, 0600);
        if (job->fd < 0) {
                int e = errno;
                g_clear_pointer(&job->tmp_path, g_free);
                return job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot create a save image next to %s: %s",
                                     job->path, g_strerror(e));
        }
        int r = save_image_write_header(job->fd, xml, paused);
        if (r < 0)
                return job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot write %s: %s", job->tmp_path,
                                     g_strerror(-r));
        job_set_type(d, JOB_SAVING);
        PLUGIN(d)->save(HV(d), GUEST(d), job->fd, job_plugin_call(job, save_done));
}

int domain_op_save(Domain *d, sd_bus_message *m, const char *path, const char *xml, uint64_t flags,
                   sd_bus_error *error) {
        int r = check_save_flags(flags, error);
        if (r < 0)
                return r;
        r = check_image_path(path, false, error);
        if (r < 0)
                return r;
        DomainDef *def;
        r = parse_replacement_xml(xml, d->uuid, domain_name(d), &def, error);
        if (r < 0)
                return r;
        Job *job = job_new(d, "Save", m, save_begin);
        job->flags = flags;
        job->path = g_strdup(path);
        job->def = def;
        job->target = STATE_SHUTOFF;
        return job_submit(job);
}

int domain_op_managed_save(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_save_flags(flags, error);
        if (r < 0)
                return r;
        Job *job = job_new(d, "ManagedSave", m, save_begin);
        job->flags = flags;
        job->path = domain_managed_save_path(d);
        job->target = STATE_SAVED;
        return job_submit(job);
}

static void managed_save_remove_begin(Job *job) {
        Domain *d = job->domain;
        if (d->has_managed_save) {
                g_autofree char *image = domain_managed_save_path(d);
                int r = unlink_if_exists(image);
                if (r < 0)
                        return job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot remove %s: %s", image,
                                             g_strerror(-r));
                d->has_managed_save = false;
                domain_emit_changed(d, "HasManagedSave", NULL);
                if (d->state == STATE_SAVED)
                        domain_set_state(d, STATE_SHUTOFF, "saved", NULL, NULL);
        }
        job_finish(job, DOMAIND_OK, NULL);
}

int domain_op_managed_save_remove(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, 0, error);
        if (r < 0)
                return r;
        return job_submit(job_new(d, "ManagedSaveRemove", m, managed_save_remove_begin));
}

/* ---- Restore (Hypervisor.Restore and Start from a managed save) ---- */

static void restore_done(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        if (r != DOMAIND_OK)
                return start_failed(job, r, message);
        bool paused = job->target == STATE_PAUSED;
        if (job->managed_image) { /* restored: the image is consumed */
                g_autofree char *image = domain_managed_save_path(d);
                unlink_if_exists(image);
                d->has_managed_save = false;
                domain_emit_changed(d, "HasManagedSave", NULL);
        }
        domain_set_state(d, STATE_RUNNING, "restored", "started", "restored");
        if (paused)
                domain_set_state(d, STATE_PAUSED, "user", "suspended", "restored");
        job_finish(job, DOMAIND_OK, NULL);
}

/* Opens job->path, reads the header, and restores from it. job->target is
 * the state wanted (-1: as saved); job->def an optional replacement config. */
static void restore_step(Job *job) {
        Domain *d = job->domain;
        if (!job_plugin_has(job, PLUGIN(d)->restore, "restore domains"))
                return;
        if (job->fd < 0) {
                int r = open_image(job->path, &job->fd);
                if (r < 0)
                        return job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot open %s: %s", job->path,
                                             g_strerror(-r));
                g_autoptr(GError) gerror = NULL;
                g_autofree char *xml = NULL;
                bool paused;
                if (!save_image_read_header(job->fd, &xml, &paused, &gerror))
                        return job_fail_with(job, ERROR_INVALID_ARGUMENT, "%s: %s", job->path, gerror->message);
                if (job->target < 0)
                        job->target = paused ? STATE_PAUSED : STATE_RUNNING;
                if (!job->def) {
                        job->def = domain_def_parse(xml, &gerror);
                        if (!job->def)
                                return job_fail_with(job, ERROR_INVALID_XML, "%s: %s", job->path, gerror->message);
                }
        }
        domain_went_active(d, g_steal_pointer(&job->def));
        job_set_type(d, JOB_RESTORING);
        PLUGIN(d)->restore(HV(d), GUEST(d), job->fd, job->target == STATE_PAUSED ? DOMAIND_START_PAUSED : 0,
                           job_plugin_call(job, restore_done));
}

static void restore_begin(Job *job) {
        if (domain_is_active(job->domain))
                return job_fail_state(job, "is already active");
        restore_step(job);
}

int hypervisor_op_restore(Hypervisor *h, sd_bus_message *m, const char *path, const char *xml, uint64_t flags,
                          sd_bus_error *error) {
        int r = check_save_flags(flags, error);
        if (r < 0)
                return r;
        r = check_image_path(path, true, error);
        if (r < 0)
                return r;
        _cleanup_(closep) int fd = -1;
        r = open_image(path, &fd);
        if (r < 0)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "cannot open '%s' as a save image: %s", path,
                                      g_strerror(-r));
        g_autoptr(GError) gerror = NULL;
        g_autofree char *saved_xml = NULL;
        bool paused;
        if (!save_image_read_header(fd, &saved_xml, &paused, &gerror))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "'%s': %s", path, gerror->message);
        g_autoptr(DomainDef) def = domain_def_parse(saved_xml, &gerror);
        if (!def)
                return bus_error_setf(error, ERROR_INVALID_XML, "'%s': %s", path, gerror->message);
        DomainDef *replacement;
        r = parse_replacement_xml(xml, def->uuid, def->name, &replacement, error);
        if (r < 0)
                return r;
        if (replacement) {
                domain_def_free(def);
                def = replacement;
        }

        Domain *d = hypervisor_find_domain_by_uuid(h, def->uuid);
        Domain *same_name = hypervisor_find_domain_by_name(h, def->name);
        if (same_name && same_name != d)
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain '%s' already exists with uuid %s",
                                      def->name, same_name->uuid);
        if (d && !g_str_equal(domain_name(d), def->name))
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain with uuid %s is named '%s', the image says '%s'",
                                      def->uuid, domain_name(d), def->name);
        if (d && domain_is_active(d))
                return bus_error_setf(error, ERROR_INVALID_STATE, "domain '%s' is already active (state: %s)",
                                      domain_name(d), domain_state_to_string(d->state));
        bool created = false;
        if (!d) {
                d = domain_new(h, domain_def_copy(def), false);
                domain_publish(d);
                created = true;
        }
        Job *job = job_new(d, "Restore", m, restore_begin);
        job->new_domain = created;
        job->reply_with_path = true;
        job->flags = flags;
        job->target = flags & SAVE_PAUSED     ? STATE_PAUSED
                      : flags & SAVE_RUNNING  ? STATE_RUNNING
                      : paused                ? STATE_PAUSED
                                              : STATE_RUNNING;
        job->path = g_strdup(path);
        job->fd = fd;
        fd = -1;
        job->def = g_steal_pointer(&def);
        return job_submit(job);
}

/* ---- Undefine ---- */

static void undefine_commit(Job *job) {
        Domain *d = job->domain;
        if (d->has_managed_save) {
                g_autofree char *image = domain_managed_save_path(d);
                unlink_if_exists(image);
                d->has_managed_save = false;
        }
        snapshot_remove_all_metadata(d);
        int r = domain_delete_config(d);
        if (r < 0)
                return job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot remove the config of '%s': %s",
                                     domain_name(d), g_strerror(-r));
        d->persistent = false;
        d->autostart = false;
        if (domain_is_active(d)) {
                domain_save_status(d);
                domain_emit_changed(d, "Persistent", "Autostart", "HasManagedSave", NULL);
                hypervisor_emit_domain_event(d->hv, d, "undefined", "removed");
        } else {
                hypervisor_emit_domain_event(d->hv, d, "undefined", "removed");
                domain_remove(d);
        }
        job_finish(job, DOMAIND_OK, NULL);
}

/* The storage goes first: if a wipe fails, the domain is still defined. */
static void on_storage_removed(void *userdata, const char *error_name, const char *message) {
        Job *job = userdata;
        if (error_name)
                return job_fail_with(job, error_name, "%s", message);
        undefine_commit(job);
}

static void undefine_remove_storage(Job *job) {
        Domain *d = job->domain;
        if (domain_is_active(d))
                return job_fail_state(job, "is active: stop it before removing its storage");
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = storage_remove_domain_volumes(d->hv->manager, d->def->disk_sources,
                                              job->flags & UNDEFINE_WIPE_STORAGE, on_storage_removed, job, &error);
        if (r < 0)
                job_fail_with(job, error.name ? error.name : ERROR_HYPERVISOR_FAILED, "%s",
                              error.message ? error.message : g_strerror(-r));
}

static void undefine_begin(Job *job) {
        Domain *d = job->domain;
        if (!d->persistent)
                return job_fail_with(job, ERROR_INVALID_STATE, "cannot undefine transient domain '%s' (state: %s)",
                                     domain_name(d), domain_state_to_string(d->state));
        if (d->has_managed_save && !(job->flags & UNDEFINE_MANAGED_SAVE))
                return job_fail_state(job, "has a managed save image: pass MANAGED_SAVE to remove it too");
        unsigned n = snapshot_count(d);
        if (n > 0 && !(job->flags & UNDEFINE_SNAPSHOTS_METADATA))
                return job_fail_with(job, ERROR_INVALID_STATE,
                                     "domain '%s' has %u snapshots: pass SNAPSHOTS_METADATA to remove them (state: %s)",
                                     domain_name(d), n, domain_state_to_string(d->state));
        if (job->flags & UNDEFINE_REMOVE_STORAGE)
                return undefine_remove_storage(job);
        undefine_commit(job);
}

int domain_op_undefine(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, UNDEFINE_MANAGED_SAVE | UNDEFINE_SNAPSHOTS_METADATA | UNDEFINE_NVRAM |
                                           UNDEFINE_KEEP_NVRAM | UNDEFINE_REMOVE_STORAGE | UNDEFINE_WIPE_STORAGE,
                            error);
        if (r < 0)
                return r;
        if ((flags & UNDEFINE_NVRAM) && (flags & UNDEFINE_KEEP_NVRAM))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "flags NVRAM and KEEP_NVRAM exclude each other");
        if ((flags & UNDEFINE_WIPE_STORAGE) && !(flags & UNDEFINE_REMOVE_STORAGE))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT,
                                      "WIPE_STORAGE needs REMOVE_STORAGE: storage is wiped on its way out");
        Job *job = job_new(d, "Undefine", m, undefine_begin);
        job->flags = flags;
        return job_submit(job);
}

/* ---- AbortJob ---- */

int domain_op_abort_job(Domain *d, sd_bus_error *error) {
        if (d->job_type == JOB_NONE)
                return bus_error_setf(error, ERROR_INVALID_STATE, "no job is active on domain '%s' (state: %s)",
                                      domain_name(d), domain_state_to_string(d->state));
        if (!PLUGIN(d)->abort_job)
                return bus_error_setf(error, ERROR_NOT_SUPPORTED, "the %s hypervisor cannot abort jobs", d->hv->name);
        g_autofree char *message = NULL;
        DomaindResult r = PLUGIN(d)->abort_job(HV(d), GUEST(d), &message);
        if (r != DOMAIND_OK)
                return bus_error_setf(error, result_to_error_name(r), "%s", message ? message : "cannot abort the job");
        return 0;
}

/* ---- OpenConsole ---- */

int domain_op_open_console(Domain *d, sd_bus_message *m, const char *device, sd_bus_error *error) {
        if (!PLUGIN(d)->open_console)
                return bus_error_setf(error, ERROR_NOT_SUPPORTED, "the %s hypervisor has no consoles to open",
                                      d->hv->name);
        if (!domain_is_active(d))
                return bus_error_setf(error, ERROR_INVALID_STATE, "domain '%s' is not active (state: %s)",
                                      domain_name(d), domain_state_to_string(d->state));
        int k = console_check_free(d, error);
        if (k < 0)
                return k;
        g_autofree char *message = NULL;
        int guest_fd = -1;
        DomaindResult r = PLUGIN(d)->open_console(HV(d), GUEST(d), device, &guest_fd, &message);
        if (r != DOMAIND_OK)
                return bus_error_setf(error, result_to_error_name(r), "%s", message ? message : "cannot open the console");
        _cleanup_(closep) int client_fd = -1;
        k = console_session_open(d, guest_fd, &client_fd, error);
        if (k < 0)
                return k;
        return sd_bus_reply_method_return(m, "h", client_fd); /* sd-bus sends a duplicate */
}
