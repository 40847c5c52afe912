/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lifecycle operations and what QEMU tells us. Each operation sends QMP
 * commands and ends with kvm_op_done(); QEMU's events and its exit turn
 * into guest events for the core.
 */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "kvm-ops.h"
#include "kvm.h"

#define KILL_GRACE_USEC (3 * G_USEC_PER_SEC)
#define POWERDOWN_RETRY_USEC (3 * G_USEC_PER_SEC)
#define POWERDOWN_RETRIES 3
#define RESET_QUIET_USEC (500 * 1000)
#define PROGRESS_USEC (100 * 1000)
#define SAVE_BANDWIDTH (64ll * 1024 * 1024 * 1024) /* bytes/s: as fast as the disk takes it */

static uint64_t now_usec(KvmGuest *g) {
        uint64_t now = 0;
        sd_event_now(g->hv->host->event, CLOCK_MONOTONIC, &now);
        return now;
}

JsonObject *kvm_args_string(const char *key, const char *value) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, key, value);
        return o;
}

static void qmp_unavailable(KvmGuest *g, QmpReplyFunc reply) {
        g_autoptr(GError) e = g_error_new_literal(QMP_ERROR, QMP_ERROR_CLOSED, "QEMU's monitor is not connected");
        reply(NULL, NULL, e, g);
}

void kvm_qmp(KvmGuest *g, const char *command, JsonObject *args, int fd, QmpReplyFunc reply) {
        int r = g->qmp ? qmp_execute(g->qmp, command, args, fd, reply, g) : -ENOTCONN;
        if (args)
                json_object_unref(args);
        if (r < 0 && reply)
                qmp_unavailable(g, reply);
}

static void begin_op(KvmGuest *g, KvmOp op, uint32_t flags, DomaindCall *call) {
        g->op = op;
        g->flags = flags;
        g->call = call;
        g->aborted = false;
}

/* A reply that ends the operation: OK, or the hypervisor's own words. */
static void reply_ends_op(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return kvm_op_done(g, DOMAIND_ERROR_FAILED, "QEMU: %s", error->message);
        kvm_op_done(g, DOMAIND_OK, NULL);
}

/* ---- starting: launch, then continue once QMP is ready ---- */

static void on_bootloader_done(KvmGuest *g, const char *error);

static void launch(KvmGuest *g) {
        if (!g->bootloader_done) {
                int r = kvm_bootloader_run(g, on_bootloader_done);
                if (r > 0)
                        return; /* running: on_bootloader_done goes on */
                if (r < 0)
                        return; /* already reported */
        }
        g_autofree char *error = NULL;
        int r = kvm_process_launch(g, g->op == KVM_OP_RESTORE, &error);
        if (r < 0)
                return kvm_op_done(g, r == -EINVAL ? DOMAIND_ERROR_INVALID_XML : DOMAIND_ERROR_FAILED, "%s", error);
        g->id = g->hv->next_id++;
        g->running = false;
        kvm_process_watch(g);
}

static void on_bootloader_done(KvmGuest *g, const char *error) {
        if (error)
                return kvm_op_done(g, DOMAIND_ERROR_FAILED, "bootloader: %s", error);
        g->bootloader_done = true;
        launch(g);
}

static void start_guest(KvmGuest *g, KvmOp op, uint32_t flags, DomaindCall *call) {
        begin_op(g, op, flags, call);
        g->bootloader_done = false;
        g->expect_exit = false;
        g_clear_pointer(&g->failure, g_free);
        launch(g);
}

void kvm_op_start(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        start_guest(kvm_guest_get(hv, guest), KVM_OP_START, flags, call);
}

void kvm_op_restore(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        g->op_fd = fd;
        start_guest(g, KVM_OP_RESTORE, flags, call);
}

/* A start that cannot go on: QEMU must not outlive it (no process left behind). */
static void fail_start(KvmGuest *g, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void fail_start(KvmGuest *g, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_free(g->failure);
        g->failure = g_strdup_vprintf(format, ap);
        va_end(ap);
        if (g->pid > 0)
                kvm_process_kill(g, SIGKILL); /* kvm_on_process_exit reports the failure */
        else
                kvm_op_done(g, DOMAIND_ERROR_FAILED, "%s", g->failure);
}

static void on_started(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return fail_start(g, "QEMU: %s", error->message);
        g->running = !(g->flags & DOMAIND_START_PAUSED);
        kvm_op_done(g, DOMAIND_OK, NULL);
}

static void cont_or_stay_paused(KvmGuest *g) {
        if (g->flags & DOMAIND_START_PAUSED)
                return on_started(NULL, NULL, NULL, g);
        kvm_qmp(g, "cont", NULL, -1, on_started);
}

static void on_incoming_started(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                fail_start(g, "QEMU cannot read the saved state: %s", error->message);
        /* completion arrives as a MIGRATION event */
}

static void on_restore_fd(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return fail_start(g, "QEMU: getfd: %s", error->message);
        kvm_qmp(g, "migrate-incoming", kvm_args_string("uri", "fd:restore"), -1, on_incoming_started);
}

static void on_chardevs(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error || !JSON_NODE_HOLDS_ARRAY(result))
                return;
        JsonArray *a = json_node_get_array(result);
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonObject *o = json_array_get_object_element(a, i);
                const char *label = json_object_get_string_member_with_default(o, "label", "");
                const char *file = json_object_get_string_member_with_default(o, "filename", "");
                if (g_str_has_prefix(label, "char") && g_str_has_prefix(file, "pty:"))
                        g_hash_table_insert(g->ptys, g_strdup(label + 4), g_strdup(file + 4));
        }
}

static void on_attach_status(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error || !JSON_NODE_HOLDS_OBJECT(result))
                return;
        bool running = json_object_get_boolean_member_with_default(json_node_get_object(result), "running", false);
        if (running == g->running)
                return;
        /* it changed while domaind was away */
        g->running = running;
        g->hv->host->guest_event(g->guest, running ? DOMAIND_GUEST_RESUMED : DOMAIND_GUEST_PAUSED,
                                 running ? NULL : "unknown");
}

static JsonObject *events_capability(void) {
        JsonObject *cap = json_object_new();
        json_object_set_string_member(cap, "capability", "events");
        json_object_set_boolean_member(cap, "state", true);
        JsonArray *caps = json_array_new();
        json_array_add_object_element(caps, cap);
        JsonObject *args = json_object_new();
        json_object_set_array_member(args, "capabilities", caps);
        return args;
}

void kvm_on_qmp_ready(KvmGuest *g) {
        kvm_qmp(g, "query-chardev", NULL, -1, on_chardevs);
        /* MIGRATION events tell when a save or restore ends */
        kvm_qmp(g, "migrate-set-capabilities", events_capability(), -1, NULL);
        switch (g->op) {
        case KVM_OP_START:
                return cont_or_stay_paused(g);
        case KVM_OP_RESTORE:
                return kvm_qmp(g, "getfd", kvm_args_string("fdname", "restore"), g->op_fd, on_restore_fd);
        default: /* re-attached after a restart of domaind */
                return kvm_qmp(g, "query-status", NULL, -1, on_attach_status);
        }
}

void kvm_on_qmp_closed(KvmGuest *g) {
        if (g->op == KVM_OP_START || g->op == KVM_OP_RESTORE)
                fail_start(g, "QEMU's monitor went away: %s", "see the domain's log");
}

/* ---- QEMU's exit ---- */

static void log_exit(KvmGuest *g, int code, bool by_signal) {
        FILE *f = fopen(g->log_path, "ae");
        if (!f)
                return;
        if (code < 0)
                fprintf(f, "QEMU (pid %d) exited\n", (int) g->pid);
        else if (by_signal)
                fprintf(f, "QEMU (pid %d) was killed by signal %d (%s)\n", (int) g->pid, code, strsignal(code));
        else
                fprintf(f, "QEMU (pid %d) exited with status %d\n", (int) g->pid, code);
        fclose(f);
}

void kvm_on_process_exit(KvmGuest *g, int code, int by_signal) {
        const DomaindHost *host = g->hv->host;
        bool expected = g->expect_exit;
        log_exit(g, code, by_signal);
        kvm_guest_release(g);
        switch (g->op) {
        case KVM_OP_START:
        case KVM_OP_RESTORE: {
                g_autofree char *tail = kvm_process_log_tail(g);
                if (g->aborted)
                        return kvm_op_done(g, DOMAIND_ERROR_ABORTED, "restore aborted by AbortJob");
                return kvm_op_done(g, DOMAIND_ERROR_FAILED, "%s%s%s", g->failure ? g->failure : "QEMU exited",
                                   *tail ? ": " : "", tail);
        }
        case KVM_OP_DESTROY:
                return kvm_op_done(g, DOMAIND_OK, NULL);
        case KVM_OP_SAVE:
                if (expected && !g->failure)
                        return kvm_op_done(g, DOMAIND_OK, NULL);
                break;
        default:
                break;
        }
        if (!expected) {
                const char *reason = by_signal ? "crashed" : code == 0 ? "shutdown" : "failed";
                host->log(LOG_WARNING, "kvm: %s: QEMU went away (%s)", g->uuid, reason);
                host->guest_event(g->guest, DOMAIND_GUEST_GONE, reason);
        }
        if (g->op != KVM_OP_NONE)
                kvm_op_done(g, DOMAIND_ERROR_FAILED, "QEMU exited during the operation");
}

/* ---- Destroy ---- */

static int on_kill_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        KvmGuest *g = userdata;
        g->op_timer = sd_event_source_disable_unref(g->op_timer);
        if (g->flags & DOMAIND_DESTROY_GRACEFUL) {
                /* it may still go later: then that is news (stopped), not ours */
                g->expect_exit = false;
                kvm_op_done(g, DOMAIND_ERROR_FAILED, "QEMU is still running after SIGTERM (GRACEFUL)");
                return 0;
        }
        kvm_process_kill(g, SIGKILL);
        return 0;
}

void kvm_op_destroy(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_DESTROY, flags, call);
        if (g->pid <= 0)
                return kvm_op_done(g, DOMAIND_OK, NULL);
        kvm_process_kill(g, SIGTERM);
        sd_event_add_time_relative(g->hv->host->event, &g->op_timer, CLOCK_MONOTONIC, KILL_GRACE_USEC, 0,
                                   on_kill_grace, g);
}

/* ---- Shutdown, Reboot: the ACPI power button, pressed again if lost ---- */

static int on_powerdown_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void arm_powerdown_retry(KvmGuest *g) {
        g->op_timer = sd_event_source_disable_unref(g->op_timer);
        sd_event_add_time_relative(g->hv->host->event, &g->op_timer, CLOCK_MONOTONIC, POWERDOWN_RETRY_USEC, 0,
                                   on_powerdown_retry, g);
}

/* An ACPI event sent before the guest's handler is up is lost: press again
 * while the guest still runs, a few times. */
static int on_powerdown_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        KvmGuest *g = userdata;
        g->op_timer = sd_event_source_disable_unref(g->op_timer);
        if (g->pid <= 0 || !g->running || g->op != KVM_OP_NONE || ++g->retries > POWERDOWN_RETRIES)
                return 0;
        kvm_qmp(g, "system_powerdown", NULL, -1, NULL);
        arm_powerdown_retry(g);
        return 0;
}

static void on_powerdown_sent(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return kvm_op_done(g, DOMAIND_ERROR_FAILED, "QEMU: %s", error->message);
        kvm_op_done(g, DOMAIND_OK, NULL);
        g->retries = 0;
        arm_powerdown_retry(g);
}

void kvm_op_shutdown(void *hv, DomaindGuest *guest, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_SHUTDOWN, 0, call);
        g->fake_reboot = false;
        kvm_qmp(g, "system_powerdown", NULL, -1, on_powerdown_sent);
}

/* QEMU has no ACPI reboot: the guest powers off and we treat that as its
 * reboot (the core applies on_reboot), as libvirt does. */
void kvm_op_reboot(void *hv, DomaindGuest *guest, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_REBOOT, 0, call);
        g->fake_reboot = true;
        kvm_qmp(g, "system_powerdown", NULL, -1, on_powerdown_sent);
}

/* ---- Reset, Suspend, Resume ---- */

static void on_reset_done(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return kvm_op_done(g, DOMAIND_ERROR_FAILED, "QEMU: %s", error->message);
        if (g->running) /* a guest held after powering off needs its vCPUs back */
                return kvm_op_done(g, DOMAIND_OK, NULL);
        kvm_qmp(g, "cont", NULL, -1, reply_ends_op);
        g->running = true;
}

void kvm_op_reset(void *hv, DomaindGuest *guest, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_RESET, 0, call);
        uint64_t now = now_usec(g);
        /* The guest reset itself a moment ago (its reboot): once is enough. */
        if (now < g->quiet_reset_until && g->running)
                return kvm_op_done(g, DOMAIND_OK, NULL);
        g->quiet_reset_until = now + RESET_QUIET_USEC;
        g->running = g->running && !g->fake_reboot;
        kvm_qmp(g, "system_reset", NULL, -1, on_reset_done);
}

static void on_stopped(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (!error)
                g->running = false;
        reply_ends_op(qmp, result, error, userdata);
}

static void on_continued(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (!error)
                g->running = true;
        reply_ends_op(qmp, result, error, userdata);
}

void kvm_op_suspend(void *hv, DomaindGuest *guest, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_SUSPEND, 0, call);
        kvm_qmp(g, "stop", NULL, -1, on_stopped);
}

void kvm_op_resume(void *hv, DomaindGuest *guest, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_RESUME, 0, call);
        kvm_qmp(g, "cont", NULL, -1, on_continued);
}

/* ---- Save: QEMU migrates into the image's fd, then quits ---- */

static void save_failed(KvmGuest *g, DomaindResult r, const char *text) {
        g_free(g->failure);
        g->failure = g_strdup(text);
        if (g->was_running) { /* the guest keeps running */
                kvm_qmp(g, "cont", NULL, -1, NULL);
                g->running = true;
        }
        kvm_op_done(g, r, "%s", text);
        g_clear_pointer(&g->failure, g_free);
}

static void on_query_migrate(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error || !JSON_NODE_HOLDS_OBJECT(result) || g->op != KVM_OP_SAVE)
                return;
        JsonObject *o = json_node_get_object(result);
        JsonObject *ram = json_object_has_member(o, "ram") ? json_object_get_object_member(o, "ram") : NULL;
        if (ram)
                g->hv->host->job_progress(g->guest, json_object_get_int_member_with_default(ram, "transferred", 0),
                                          json_object_get_int_member_with_default(ram, "total", 0));
}

static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KvmGuest *g = userdata;
        if (g->op != KVM_OP_SAVE)
                return 0;
        kvm_qmp(g, "query-migrate", NULL, -1, on_query_migrate);
        sd_event_source_set_time_relative(s, PROGRESS_USEC);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void on_migrate_started(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return save_failed(g, DOMAIND_ERROR_FAILED, error->message);
        sd_event_add_time_relative(g->hv->host->event, &g->op_timer, CLOCK_MONOTONIC, PROGRESS_USEC, 0,
                                   on_progress_timer, g);
}

static void on_save_fd(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return save_failed(g, DOMAIND_ERROR_FAILED, error->message);
        kvm_qmp(g, "migrate", kvm_args_string("uri", "fd:save"), -1, on_migrate_started);
}

static void on_save_stopped(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        KvmGuest *g = userdata;
        if (error)
                return save_failed(g, DOMAIND_ERROR_FAILED, error->message);
        g->running = false;
        kvm_qmp(g, "getfd", kvm_args_string("fdname", "save"), g->op_fd, on_save_fd);
}

void kvm_op_save(void *hv, DomaindGuest *guest, int fd, DomaindCall *call) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        begin_op(g, KVM_OP_SAVE, 0, call);
        g->op_fd = fd;
        g->was_running = g->running;
        JsonObject *params = json_object_new();
        json_object_set_int_member(params, "max-bandwidth", SAVE_BANDWIDTH);
        kvm_qmp(g, "migrate-set-parameters", params, -1, NULL);
        /* a consistent image: the guest does not run on while it is written */
        kvm_qmp(g, "stop", NULL, -1, on_save_stopped);
}

static void on_migration_event(KvmGuest *g, const char *status) {
        if (g->op == KVM_OP_SAVE) {
                if (g_str_equal(status, "completed")) {
                        kvm_process_kill(g, SIGTERM); /* the state is in the image: this QEMU is done */
                        return;
                }
                if (g_str_equal(status, "cancelled"))
                        return save_failed(g, DOMAIND_ERROR_ABORTED, "save aborted by AbortJob");
                if (g_str_equal(status, "failed"))
                        return save_failed(g, DOMAIND_ERROR_FAILED, "QEMU could not write the guest's state");
        }
        if (g->op == KVM_OP_RESTORE) {
                if (g_str_equal(status, "completed"))
                        return cont_or_stay_paused(g);
                if (g_str_equal(status, "failed"))
                        return fail_start(g, "QEMU could not read the saved state");
        }
}

DomaindResult kvm_op_abort_job(void *hv, DomaindGuest *guest, char **message) {
        KvmGuest *g = kvm_guest_get(hv, guest);
        if (g->op == KVM_OP_SAVE) {
                g->aborted = true;
                kvm_qmp(g, "migrate_cancel", NULL, -1, NULL);
                return DOMAIND_OK;
        }
        if (g->op == KVM_OP_RESTORE) {
                g->aborted = true;
                kvm_process_kill(g, SIGKILL);
                return DOMAIND_OK;
        }
        *message = g_strdup("no save or restore is running");
        return DOMAIND_ERROR_INVALID_STATE;
}

/* ---- events ---- */

static bool member_bool(JsonObject *data, const char *name) {
        return data && json_object_get_boolean_member_with_default(data, name, false);
}

static const char *member_string(JsonObject *data, const char *name) {
        return data ? json_object_get_string_member_with_default(data, name, "") : "";
}

void kvm_on_qmp_event(KvmGuest *g, const char *name, JsonObject *data) {
        const DomaindHost *host = g->hv->host;
        if (g_str_equal(name, "SHUTDOWN")) {
                if (!member_bool(data, "guest"))
                        return; /* we asked QEMU to quit */
                g->running = false; /* -no-shutdown: the VM is held */
                g->op_timer = g->op == KVM_OP_NONE ? sd_event_source_disable_unref(g->op_timer) : g->op_timer;
                if (g->fake_reboot) {
                        g->fake_reboot = false;
                        return host->guest_event(g->guest, DOMAIND_GUEST_REBOOT, NULL);
                }
                return host->guest_event(g->guest, DOMAIND_GUEST_SHUTDOWN, NULL);
        }
        if (g_str_equal(name, "RESET")) {
                uint64_t now = now_usec(g);
                /* SeaBIOS resets twice more after every reset: one reboot only */
                if (!member_bool(data, "guest") || now < g->quiet_reset_until)
                        return;
                g->quiet_reset_until = now + RESET_QUIET_USEC;
                return host->guest_event(g->guest, DOMAIND_GUEST_REBOOT, NULL);
        }
        if (g_str_equal(name, "GUEST_PANICKED")) {
                g->running = false;
                return host->guest_event(g->guest, DOMAIND_GUEST_CRASHED, "panicked");
        }
        if (g_str_equal(name, "STOP")) {
                if (g->op != KVM_OP_NONE || !g->running)
                        return; /* ours, or the power-off we already reported */
                g->running = false;
                return host->guest_event(g->guest, DOMAIND_GUEST_PAUSED, "unknown");
        }
        if (g_str_equal(name, "RESUME")) {
                if (g->op != KVM_OP_NONE || g->running)
                        return;
                g->running = true;
                return host->guest_event(g->guest, DOMAIND_GUEST_RESUMED, NULL);
        }
        if (g_str_equal(name, "BLOCK_IO_ERROR")) {
                if (g->running && g_str_equal(member_string(data, "action"), "stop")) {
                        g->running = false;
                        host->guest_event(g->guest, DOMAIND_GUEST_PAUSED, "ioerror");
                }
                return;
        }
        if (g_str_equal(name, "MIGRATION"))
                return on_migration_event(g, member_string(data, "status"));
}
