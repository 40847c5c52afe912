/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asynchronous operations of the test hypervisor. Each op is a TestOp that
 * completes from a timer on the core's loop — at once, or after the delay a
 * hook set — so the core sees the same call pattern as with a real
 * hypervisor and never gets its call ended from inside the op function.
 * The simulated effect happens at completion, so an aborted job leaves the
 * guest as it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "test-plugin.h"

#define SAVE_MAGIC "domaind-test-guest 1"
#define SAVE_MAX_BYTES 4096

static const char *const op_names[_TEST_OP_MAX] = {
        [TEST_OP_START] = "start",
        [TEST_OP_SHUTDOWN] = "shutdown",
        [TEST_OP_REBOOT] = "reboot",
        [TEST_OP_RESET] = "reset",
        [TEST_OP_DESTROY] = "destroy",
        [TEST_OP_SUSPEND] = "suspend",
        [TEST_OP_RESUME] = "resume",
        [TEST_OP_SAVE] = "save",
        [TEST_OP_RESTORE] = "restore",
        [TEST_OP_SNAPSHOT_CREATE] = "snapshot-create",
        [TEST_OP_SNAPSHOT_REVERT] = "snapshot-revert",
        [TEST_OP_SNAPSHOT_DELETE] = "snapshot-delete",
};

const char *test_op_name(TestOpKind kind) {
        return op_names[kind];
}

bool test_op_kind_from_name(const char *name, TestOpKind *ret) {
        for (size_t i = 0; i < _TEST_OP_MAX; i++)
                if (g_str_equal(name, op_names[i])) {
                        *ret = (TestOpKind) i;
                        return true;
                }
        return false;
}

/* The ops the core runs as jobs (Job property, GetJobInfo, AbortJob). */
bool test_op_is_job(TestOpKind kind) {
        switch (kind) {
        case TEST_OP_SAVE:
        case TEST_OP_RESTORE:
        case TEST_OP_SNAPSHOT_CREATE:
        case TEST_OP_SNAPSHOT_REVERT:
        case TEST_OP_SNAPSHOT_DELETE:
                return true;
        default:
                return false;
        }
}

TestOp *test_op_new(TestGuest *g, TestOpKind kind, DomaindCall *call) {
        TestOp *op;

        op = g_new0(TestOp, 1);
        op->hv = g->hv;
        op->guest = g;
        op->dguest = g->guest;
        op->kind = kind;
        op->call = call;
        op->fd = -1;
        g_hash_table_add(g->hv->ops, op);
        return op;
}

static void op_detach(TestOp *op) {
        if (op->guest && op->guest->op == op)
                op->guest->op = NULL;
}

/* Drops the op without ending its call: only for close(), when the core
 * no longer waits for anything, and after the call has ended. */
void test_op_free(TestOp *op) {
        if (!op)
                return;
        op_detach(op);
        sd_event_source_disable_unref(op->done_source);
        sd_event_source_disable_unref(op->progress_source);
        g_hash_table_remove(op->hv->ops, op);
        g_free(op->name);
        g_free(op->fail_message);
        g_free(op);
}

/* How an op ended, and the guest event to report just before call_done. */
typedef struct TestOutcome {
        DomaindResult result;
        char *message;
        bool has_event;
        DomaindGuestEvent event;
        const char *detail;
} TestOutcome;

static void outcome_clear(TestOutcome *o) {
        g_free(o->message);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TestOutcome, outcome_clear)

static void outcome_error(TestOutcome *o, DomaindResult result, char *message) {
        o->result = result;
        o->message = message;
}

static void outcome_event(TestOutcome *o, DomaindGuestEvent event, const char *detail) {
        o->has_event = true;
        o->event = event;
        o->detail = detail;
}

static bool require_active(TestGuest *g, TestOutcome *o) {
        if (g->active)
                return true;
        outcome_error(o, DOMAIND_ERROR_INVALID_STATE, g_strdup("the test guest is shut off"));
        return false;
}

static int write_all(int fd, const char *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

static void run_save(TestOp *op, TestGuest *g, TestOutcome *o) {
        g_autofree char *payload = NULL;
        int r;

        if (!require_active(g, o))
                return;

        payload = g_strdup_printf(SAVE_MAGIC "\ncpu_time_ns=%" PRIu64 "\npaused=%d\nend\n",
                                  test_guest_cpu_ns(g), g->paused);
        r = write_all(op->fd, payload, strlen(payload));
        if (r < 0) {
                outcome_error(o, DOMAIND_ERROR_FAILED,
                              g_strdup_printf("cannot write the test guest's state: %s", g_strerror(-r)));
                return;
        }
        test_guest_release(g);
}

/* Reads what follows the core's header, up to EOF: the payload is ours to
 * the end of the image. Bounded, so a wrong file cannot eat memory. */
static char *read_payload(int fd, size_t *ret_len, char **error) {
        g_autofree char *buf = g_malloc(SAVE_MAX_BYTES + 1);
        size_t len = 0;

        for (;;) {
                ssize_t n = read(fd, buf + len, SAVE_MAX_BYTES + 1 - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        *error = g_strdup_printf("cannot read the saved test guest state: %s",
                                                 g_strerror(errno));
                        return NULL;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > SAVE_MAX_BYTES) {
                        *error = g_strdup("saved test guest state is larger than "
                                          G_STRINGIFY(SAVE_MAX_BYTES) " bytes: not a test hypervisor image");
                        return NULL;
                }
        }
        buf[len] = '\0';
        *ret_len = len;
        return g_steal_pointer(&buf);
}

static bool parse_payload_line(const char *line, uint64_t *cpu_ns, bool *paused) {
        guint64 u;

        if (g_str_has_prefix(line, "cpu_time_ns=")) {
                if (!g_ascii_string_to_unsigned(line + strlen("cpu_time_ns="), 10, 0, UINT64_MAX, &u, NULL))
                        return false;
                *cpu_ns = u;
                return true;
        }
        if (g_str_has_prefix(line, "paused=")) {
                if (!g_ascii_string_to_unsigned(line + strlen("paused="), 10, 0, 1, &u, NULL))
                        return false;
                *paused = u;
                return true;
        }
        return false;
}

static bool parse_payload(const char *buf, size_t len, uint64_t *cpu_ns, bool *paused, char **error) {
        g_auto(GStrv) lines = NULL;
        bool end = false;

        if (len == 0) {
                *error = g_strdup("saved test guest state is empty");
                return false;
        }
        if (memchr(buf, '\0', len)) {
                *error = g_strdup("saved test guest state contains binary data: not a test hypervisor image");
                return false;
        }

        lines = g_strsplit(buf, "\n", -1);
        if (!g_str_equal(lines[0], SAVE_MAGIC)) {
                *error = g_strdup_printf("saved state is not a test hypervisor image: expected '"
                                         SAVE_MAGIC "', found '%.40s'", lines[0]);
                return false;
        }

        *cpu_ns = 0;
        *paused = false;
        for (char **l = lines + 1; *l && !end; l++) {
                if (**l == '\0')
                        continue;
                if (g_str_equal(*l, "end"))
                        end = true;
                else if (!parse_payload_line(*l, cpu_ns, paused)) {
                        *error = g_strdup_printf("saved test guest state has a bad line '%.40s'", *l);
                        return false;
                }
        }
        if (!end) {
                *error = g_strdup("saved test guest state is truncated (no 'end' line)");
                return false;
        }
        return true;
}

static void run_restore(TestOp *op, TestGuest *g, TestOutcome *o) {
        g_autofree char *buf = NULL;
        char *error = NULL;
        uint64_t cpu_ns;
        bool paused;
        size_t len;

        if (g->active) {
                outcome_error(o, DOMAIND_ERROR_INVALID_STATE, g_strdup("the test guest is already running"));
                return;
        }

        buf = read_payload(op->fd, &len, &error);
        if (!buf || !parse_payload(buf, len, &cpu_ns, &paused, &error)) {
                outcome_error(o, DOMAIND_ERROR_FAILED, error);
                return;
        }

        /* the saved paused flag is informational: the core decides */
        test_guest_activate(g, cpu_ns, op->flags & DOMAIND_START_PAUSED);
}

static void run_snapshot_create(TestOp *op, TestGuest *g, TestOutcome *o) {
        TestSnapshot *s = g_new0(TestSnapshot, 1);

        /* without memory a snapshot holds only disks: it boots afresh */
        if (op->with_memory && g->active) {
                s->cpu_ns = test_guest_cpu_ns(g);
                s->paused = g->paused;
        }
        g_hash_table_replace(g->snapshots, g_strdup(op->name), s);
}

static void run_snapshot_revert(TestOp *op, TestGuest *g, TestOutcome *o) {
        const TestSnapshot *s;

        /* An unknown name is normal after a restart: the core keeps the
         * metadata, we kept the state in memory. Revert to a fresh boot. */
        s = g_hash_table_lookup(g->snapshots, op->name);

        switch (op->target) {
        case DOMAIND_STATE_RUNNING:
        case DOMAIND_STATE_PAUSED:
                test_guest_activate(g, s ? s->cpu_ns : 0, op->target == DOMAIND_STATE_PAUSED);
                break;
        case DOMAIND_STATE_SHUTOFF:
                test_guest_release(g);
                break;
        default:
                outcome_error(o, DOMAIND_ERROR_INVALID_ARGUMENT,
                              g_strdup_printf("cannot revert to snapshot '%s' into state %d", op->name,
                                              (int) op->target));
        }
}

static void run_lifecycle(TestOp *op, TestGuest *g, TestOutcome *o) {
        switch (op->kind) {
        case TEST_OP_START:
                if (g->active)
                        outcome_error(o, DOMAIND_ERROR_INVALID_STATE,
                                      g_strdup_printf("the test guest is already running (id %" PRId32 ")",
                                                      g->id));
                else
                        test_guest_activate(g, 0, op->flags & DOMAIND_START_PAUSED);
                break;
        case TEST_OP_SHUTDOWN:
                if (!require_active(g, o))
                        break;
                /* a guest that powered off already cannot do it twice */
                if (g->held != TEST_HELD_SHUTDOWN) {
                        test_guest_set_held(g, TEST_HELD_SHUTDOWN);
                        outcome_event(o, DOMAIND_GUEST_SHUTDOWN, NULL);
                }
                break;
        case TEST_OP_REBOOT:
                if (require_active(g, o))
                        outcome_event(o, DOMAIND_GUEST_REBOOT, NULL);
                break;
        case TEST_OP_RESET:
                if (require_active(g, o))
                        test_guest_set_held(g, TEST_HELD_NONE);
                break;
        case TEST_OP_DESTROY:
                test_guest_release(g);
                break;
        case TEST_OP_SUSPEND:
        case TEST_OP_RESUME:
                if (require_active(g, o))
                        test_guest_set_paused(g, op->kind == TEST_OP_SUSPEND);
                break;
        default:
                g_assert_not_reached();
        }
}

static void op_run(TestOp *op, TestOutcome *o) {
        TestGuest *g = op->guest;

        /* an orphan has no guest left to act on, not even to abort */
        if (op->aborted && g) {
                outcome_error(o, DOMAIND_ERROR_ABORTED, g_strdup("job aborted by AbortJob"));
                return;
        }
        if (op->fail_message) {
                outcome_error(o, DOMAIND_ERROR_FAILED, g_strdup(op->fail_message));
                return;
        }
        if (!g) /* an orphaned destroy: the VM is gone, as asked */
                return;

        switch (op->kind) {
        case TEST_OP_SAVE:
                run_save(op, g, o);
                break;
        case TEST_OP_RESTORE:
                run_restore(op, g, o);
                break;
        case TEST_OP_SNAPSHOT_CREATE:
                run_snapshot_create(op, g, o);
                break;
        case TEST_OP_SNAPSHOT_REVERT:
                run_snapshot_revert(op, g, o);
                break;
        case TEST_OP_SNAPSHOT_DELETE:
                g_hash_table_remove(g->snapshots, op->name);
                break;
        default:
                run_lifecycle(op, g, o);
        }
}

static int op_done_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        g_autoptr(TestOp) op = userdata;
        g_auto(TestOutcome) o = { .result = DOMAIND_OK };
        const DomaindHost *host = op->hv->host;

        /* Detach first: guest_event() and call_done() may re-enter us with
         * the next op on this guest, or forget the guest altogether. */
        op_detach(op);
        op->progress_source = sd_event_source_disable_unref(op->progress_source);

        op_run(op, &o);
        /* from here on the guest may be forgotten under us */
        op->guest = NULL;
        if (o.has_event)
                host->guest_event(op->dguest, o.event, o.detail);
        if (o.result == DOMAIND_OK)
                host->call_done(op->call, DOMAIND_OK, "done");
        else
                host->call_done(op->call, o.result, "%s", o.message);
        return 0;
}

static int op_progress_cb(sd_event_source *s, uint64_t usec, void *userdata) {
        TestOp *op = userdata;
        uint64_t elapsed = usec - op->start_usec, processed;
        int r;

        processed = elapsed >= op->delay_usec
                ? TEST_JOB_TOTAL_BYTES
                : (uint64_t) ((double) TEST_JOB_TOTAL_BYTES * elapsed / op->delay_usec);
        op->hv->host->job_progress(op->dguest, processed, TEST_JOB_TOTAL_BYTES);

        r = sd_event_source_set_time(s, usec + TEST_JOB_PROGRESS_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                op->hv->host->log(LOG_WARNING, "cannot re-arm job progress timer: %s", g_strerror(-r));
        return 0;
}

/* Ends the call on the next loop iteration instead of after the delay. */
/* An op without delay completes on the next loop iteration through a defer
 * source: a timer would re-arm the kernel timerfd on every operation. */
static int op_done_defer_cb(sd_event_source *s, void *userdata) {
        return op_done_cb(s, 0, userdata);
}

static void op_complete_soon(TestOp *op) {
        int r = 0;

        op->progress_source = sd_event_source_disable_unref(op->progress_source);
        if (op->delay_usec > 0)
                r = sd_event_source_set_time(op->done_source, 0);
        if (r >= 0)
                r = sd_event_source_set_enabled(op->done_source, SD_EVENT_ONESHOT);
        if (r < 0)
                op->hv->host->log(LOG_ERR, "cannot reschedule %s completion: %s", op_names[op->kind],
                                  g_strerror(-r));
}

static int op_arm(TestOp *op) {
        sd_event *event = op->hv->host->event;
        uint64_t now;
        int r;

        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        op->start_usec = now;

        /* accuracy 1 µs: the default 250 ms slack would blur short delays */
        if (op->delay_usec > 0)
                r = sd_event_add_time(event, &op->done_source, CLOCK_MONOTONIC, now + op->delay_usec, 1,
                                      op_done_cb, op);
        else
                r = sd_event_add_defer(event, &op->done_source, op_done_defer_cb, op);
        if (r < 0)
                return r;

        if (op->delay_usec > 0 && test_op_is_job(op->kind)) {
                r = sd_event_add_time(event, &op->progress_source, CLOCK_MONOTONIC,
                                      now + TEST_JOB_PROGRESS_USEC, 1, op_progress_cb, op);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Takes ownership of op: it ends its call exactly once, from the loop
 * unless scheduling itself fails. */
void test_op_submit(TestOp *op) {
        const DomaindHost *host = op->hv->host;
        TestGuest *g = op->guest;
        TestKnobs *k;
        int r;

        if (g->op) {
                /* the core serializes ops per domain; never trust that blindly */
                host->call_done(op->call, DOMAIND_ERROR_BUSY, "the test guest is busy with %s",
                                op_names[g->op->kind]);
                test_op_free(op);
                return;
        }

        k = test_knobs_get(op->hv, g->uuid, false);
        if (k) {
                op->delay_usec = k->delay_usec;
                op->fail_message = g_steal_pointer(&k->fail[op->kind]);
        }

        r = op_arm(op);
        if (r < 0) {
                host->call_done(op->call, DOMAIND_ERROR_FAILED, "cannot schedule %s: %s",
                                op_names[op->kind], g_strerror(-r));
                test_op_free(op);
                return;
        }
        g->op = op;
}

/* The op's guest goes away under it (died, or the core dropped it): the
 * call still ends once, with an error, on the next iteration. */
void test_op_orphan(TestOp *op, const char *why) {
        g_free(op->fail_message);
        op->fail_message = op->kind == TEST_OP_DESTROY
                ? NULL
                : g_strdup_printf("%s during %s", why, op_names[op->kind]);
        op_detach(op);
        op->guest = NULL;
        op_complete_soon(op);
}

DomaindResult test_op_abort(TestOp *op) {
        if (!test_op_is_job(op->kind))
                return DOMAIND_ERROR_INVALID_STATE;
        if (!op->aborted) {
                op->aborted = true;
                op_complete_soon(op);
        }
        return DOMAIND_OK;
}
