/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the QMP client (plugins/kvm/qmp.c).
 *
 * Most tests talk to a real QEMU (qemu-system-x86_64 -machine none -S, one
 * per test, killed and reaped in the teardown). The others play QEMU
 * themselves on a unix listener in a temporary directory ("fake" tests),
 * to send what a real QEMU never would: greetings and lines in pieces,
 * garbage, unknown ids, failed handshakes, sudden hang-ups.
 *
 * Every callback appends a line to the fixture's trace, and tests compare
 * the trace as a whole: that checks order as well as content.
 *
 * Environment: DOMAIND_TEST_VERBOSE=1 shows the client's log, TEST_QEMU
 * names another QEMU binary. Tests needing QEMU are skipped without one.
 */

#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-event.h>

#include "qmp.h"

#define USEC_PER_MSEC 1000
#define WAIT_LIMIT_USEC (10 * G_USEC_PER_SEC)

#define GREETING                                                                                  \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": " \
        "\"fake\"}, \"capabilities\": [\"oob\"]}}\r\n"

static unsigned n_log_warnings;

static void test_log(int priority, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void test_log(int priority, const char *format, ...) {
        va_list ap;

        if (priority <= LOG_WARNING)
                n_log_warnings++;
        if (!getenv("DOMAIND_TEST_VERBOSE"))
                return;
        va_start(ap, format);
        fprintf(stderr, "<%d> ", priority);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ==== fixture =============================================================== */

typedef enum FreeIn {
        FREE_NEVER,
        FREE_IN_READY,
        FREE_IN_EVENT,
        FREE_IN_CLOSED,
} FreeIn;

typedef struct Reply Reply;

typedef struct Fixture {
        sd_event *event;
        char *dir;
        char *socket_path;
        GPid qemu; /* 0: none (or reaped) */
        int listener;
        int server;    /* fake tests: our end of the client's connection */
        GString *sbuf; /* what the server received and did not consume yet */

        Qmp *qmp; /* NULL once the test freed it: callbacks then must not come */
        FreeIn free_in;
        const char *execute_in_ready; /* a command ready() issues */
        Reply *execute_in_ready_reply;

        unsigned n_ready;
        unsigned n_closed;
        int64_t major;
        GError *closed_error;
        GPtrArray *trace;
} Fixture;

struct Reply {
        Fixture *f;
        const char *tag;
        unsigned n_calls;
        JsonNode *result;
        GError *error;
        bool free_qmp;            /* qmp_free() from this reply */
        const char *then_execute; /* a command this reply issues */
        Reply *then_reply;
};

static void trace(Fixture *f, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void trace(Fixture *f, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        g_ptr_array_add(f->trace, g_strdup_vprintf(format, ap));
        va_end(ap);
}

static void assert_trace(Fixture *f, const char *expected) {
        g_autofree char *joined = NULL;

        g_ptr_array_add(f->trace, NULL);
        joined = g_strjoinv("|", (char **) f->trace->pdata);
        g_ptr_array_remove_index(f->trace, f->trace->len - 1);
        assert_string_equal(joined, expected);
}

static bool trace_has(Fixture *f, const char *entry, unsigned *ret_index) {
        for (unsigned i = 0; i < f->trace->len; i++)
                if (g_str_equal(f->trace->pdata[i], entry)) {
                        if (ret_index)
                                *ret_index = i;
                        return true;
                }
        return false;
}

static const char *error_name(const GError *error) {
        if (!error || error->domain != QMP_ERROR)
                return "foreign-error";
        switch (error->code) {
        case QMP_ERROR_COMMAND:
                return qmp_error_class(error) ?: "COMMAND";
        case QMP_ERROR_CLOSED:
                return "CLOSED";
        case QMP_ERROR_PROTOCOL:
                return "PROTOCOL";
        default:
                return "unknown-code";
        }
}

static void free_qmp(Fixture *f) {
        Qmp *qmp = f->qmp;

        /* Callbacks coming after this fail on f->qmp == NULL. */
        f->qmp = NULL;
        qmp_free(qmp);
}

static void reply_clear(Reply *r) {
        g_clear_pointer(&r->result, json_node_unref);
        g_clear_error(&r->error);
}

static void on_reply(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        Reply *r = userdata;
        Fixture *f = r->f;

        assert_non_null(f->qmp);
        assert_ptr_equal(qmp, f->qmp);
        assert_true((result == NULL) != (error == NULL));
        r->n_calls++;
        reply_clear(r);
        if (result)
                r->result = json_node_copy(result);
        else
                r->error = g_error_copy(error);
        trace(f, "%s %s", r->tag, result ? "ok" : error_name(error));

        if (r->then_execute)
                assert_int_equal(qmp_execute(qmp, r->then_execute, NULL, -1, on_reply, r->then_reply), 0);
        if (r->free_qmp)
                free_qmp(f);
}

static int execute(Fixture *f, const char *command, JsonObject *arguments, int fd, Reply *r, const char *tag) {
        *r = (Reply) { .f = f, .tag = tag };
        return qmp_execute(f->qmp, command, arguments, fd, on_reply, r);
}

static void on_ready(Qmp *qmp, JsonObject *version, void *userdata) {
        Fixture *f = userdata;

        assert_non_null(f->qmp);
        assert_ptr_equal(qmp, f->qmp);
        assert_true(qmp_is_ready(qmp));
        assert_non_null(version);
        assert_true(json_object_has_member(version, "minor"));
        assert_true(json_object_has_member(version, "micro"));
        f->major = json_object_get_int_member(version, "major");
        f->n_ready++;
        trace(f, "ready");

        if (f->execute_in_ready)
                assert_int_equal(execute(f, f->execute_in_ready, NULL, -1, f->execute_in_ready_reply, "from-ready"), 0);
        if (f->free_in == FREE_IN_READY)
                free_qmp(f);
}

static void on_event(Qmp *qmp, const char *name, JsonObject *data, void *userdata) {
        Fixture *f = userdata;
        const char *reason = NULL;

        assert_non_null(f->qmp);
        assert_ptr_equal(qmp, f->qmp);
        if (data && json_object_has_member(data, "reason"))
                reason = json_object_get_string_member(data, "reason");
        trace(f, "event %s%s%s%s", name, data ? "" : " nodata", reason ? " " : "", reason ?: "");
        if (f->free_in == FREE_IN_EVENT)
                free_qmp(f);
}

static void on_closed(Qmp *qmp, const GError *why, void *userdata) {
        Fixture *f = userdata;

        assert_non_null(f->qmp);
        assert_ptr_equal(qmp, f->qmp);
        assert_non_null(why);
        assert_false(qmp_is_ready(qmp));
        f->n_closed++;
        g_clear_error(&f->closed_error);
        f->closed_error = g_error_copy(why);
        trace(f, "closed %s", error_name(why));

        if (f->free_in == FREE_IN_CLOSED)
                free_qmp(f);
}

static const QmpCallbacks callbacks = {
        .ready = on_ready,
        .event = on_event,
        .closed = on_closed,
};

#define RUN_UNTIL(f, condition)                                                                    \
        do {                                                                                       \
                int64_t _deadline = g_get_monotonic_time() + WAIT_LIMIT_USEC;                      \
                while (!(condition)) {                                                             \
                        assert_true(g_get_monotonic_time() < _deadline);                           \
                        assert_true(sd_event_run((f)->event, 100 * USEC_PER_MSEC) >= 0);           \
                }                                                                                  \
        } while (0)

/* Runs the loop for a while: whatever should not happen has its chance. */
static void run_for(Fixture *f, uint64_t usec) {
        int64_t deadline = g_get_monotonic_time() + (int64_t) usec;
        int64_t now;

        while ((now = g_get_monotonic_time()) < deadline)
                assert_true(sd_event_run(f->event, (uint64_t) (deadline - now)) >= 0);
}

static Fixture *fixture_new(void) {
        Fixture *f = g_new0(Fixture, 1);
        g_autoptr(GError) error = NULL;

        assert_int_equal(sd_event_new(&f->event), 0);
        f->dir = g_dir_make_tmp("test-qmp-XXXXXX", &error);
        assert_non_null(f->dir);
        f->socket_path = g_build_filename(f->dir, "qmp.sock", NULL);
        f->listener = -1;
        f->server = -1;
        f->sbuf = g_string_new(NULL);
        f->trace = g_ptr_array_new_with_free_func(g_free);
        f->qmp = qmp_new(f->event, &callbacks, f);
        qmp_set_log(f->qmp, test_log);
        return f;
}

static void remove_dir(const char *path) {
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        if (!dir)
                return;
        while ((name = g_dir_read_name(dir))) {
                g_autofree char *p = g_build_filename(path, name, NULL);

                (void) g_unlink(p);
        }
        (void) g_rmdir(path);
}

static int teardown(void **state) {
        Fixture *f = *state;

        if (!f)
                return 0;
        qmp_free(f->qmp);
        if (f->qemu > 0) {
                (void) kill(f->qemu, SIGKILL);
                (void) waitpid(f->qemu, NULL, 0);
        }
        if (f->server >= 0)
                (void) close(f->server);
        if (f->listener >= 0)
                (void) close(f->listener);
        remove_dir(f->dir);
        g_free(f->dir);
        g_free(f->socket_path);
        g_string_free(f->sbuf, true);
        g_clear_error(&f->closed_error);
        g_ptr_array_unref(f->trace);
        sd_event_unref(f->event);
        g_free(f);
        return 0;
}

/* ==== real QEMU ============================================================= */

static const char *qemu_binary(void) {
        return getenv("TEST_QEMU") ?: "qemu-system-x86_64";
}

static void assert_qemu_alive(Fixture *f) {
        int status;

        assert_int_equal(waitpid(f->qemu, &status, WNOHANG), 0);
}

static void spawn_qemu(Fixture *f) {
        g_autofree char *qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", f->socket_path);
        const char *argv[] = {
                qemu_binary(), "-machine", "none", "-accel", "tcg", "-nodefaults", "-nographic",
                "-display", "none", "-S", "-qmp", qmp_arg, NULL,
        };
        g_autoptr(GError) error = NULL;

        if (!g_spawn_async(NULL, (char **) argv, NULL,
                           G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
                                   G_SPAWN_STDOUT_TO_DEV_NULL,
                           NULL, NULL, &f->qemu, &error))
                fail_msg("spawning %s: %s", argv[0], error->message);
}

/* QEMU creates its socket some ms after exec: retry like the plugin will. */
static void connect_qemu(Fixture *f) {
        int64_t deadline = g_get_monotonic_time() + WAIT_LIMIT_USEC;
        int r;

        while ((r = qmp_connect(f->qmp, f->socket_path)) < 0) {
                if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN)
                        fail_msg("qmp_connect: %s", g_strerror(-r));
                assert_qemu_alive(f);
                assert_true(g_get_monotonic_time() < deadline);
                g_usleep(10 * USEC_PER_MSEC);
        }
}

static int setup_qemu(void **state) {
        g_autofree char *path = g_find_program_in_path(qemu_binary());
        Fixture *f;

        if (!path) {
                *state = NULL;
                skip();
        }
        f = fixture_new();
        *state = f;
        spawn_qemu(f);
        connect_qemu(f);
        return 0;
}

static void wait_ready(Fixture *f) {
        RUN_UNTIL(f, f->n_ready > 0);
}

/* Ends QEMU with "quit" and checks what the client makes of it. */
static void reap_qemu(Fixture *f, int expected_exit) {
        int status;

        assert_int_equal(waitpid(f->qemu, &status, 0), f->qemu);
        f->qemu = 0;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), expected_exit);
}

static void test_ready_version(void **state) {
        Fixture *f = *state;

        assert_false(qmp_is_ready(f->qmp));
        assert_int_equal(qmp_connect(f->qmp, f->socket_path), -EISCONN);
        wait_ready(f);
        assert_int_equal(f->n_ready, 1);
        assert_int_equal(f->major, 7);
        assert_true(qmp_is_ready(f->qmp));
        assert_trace(f, "ready");
}

static void test_query_status(void **state) {
        Fixture *f = *state;
        JsonObject *o;
        Reply r;

        wait_ready(f);
        assert_int_equal(execute(f, "query-status", NULL, -1, &r, "status"), 0);
        RUN_UNTIL(f, r.n_calls > 0);
        assert_null(r.error);
        assert_true(JSON_NODE_HOLDS_OBJECT(r.result));
        o = json_node_get_object(r.result);
        assert_string_equal(json_object_get_string_member(o, "status"), "prelaunch");
        assert_false(json_object_get_boolean_member(o, "running"));
        assert_trace(f, "ready|status ok");
        reply_clear(&r);
}

static void test_query_version(void **state) {
        Fixture *f = *state;
        JsonObject *o, *qemu;
        Reply r;

        wait_ready(f);
        assert_int_equal(execute(f, "query-version", NULL, -1, &r, "version"), 0);
        RUN_UNTIL(f, r.n_calls > 0);
        assert_null(r.error);
        o = json_node_get_object(r.result);
        qemu = json_object_get_object_member(o, "qemu");
        assert_non_null(qemu);
        assert_int_equal(json_object_get_int_member(qemu, "major"), 7);
        assert_true(json_object_has_member(o, "package"));
        reply_clear(&r);
}

static void test_unknown_command(void **state) {
        Fixture *f = *state;
        Reply bad, good;

        wait_ready(f);
        assert_int_equal(execute(f, "no-such-command", NULL, -1, &bad, "bad"), 0);
        RUN_UNTIL(f, bad.n_calls > 0);
        assert_null(bad.result);
        assert_true(g_error_matches(bad.error, QMP_ERROR, QMP_ERROR_COMMAND));
        assert_string_equal(qmp_error_class(bad.error), "CommandNotFound");
        assert_non_null(strstr(bad.error->message, "no-such-command"));

        /* the connection goes on */
        assert_int_equal(execute(f, "query-status", NULL, -1, &good, "good"), 0);
        RUN_UNTIL(f, good.n_calls > 0);
        assert_null(good.error);
        assert_null(qmp_error_class(good.error));
        assert_trace(f, "ready|bad CommandNotFound|good ok");
        reply_clear(&bad);
        reply_clear(&good);
}

static void test_arguments(void **state) {
        Fixture *f = *state;
        g_autoptr(JsonObject) args = json_object_new();
        Reply r, e;

        wait_ready(f);
        /* qom-get with arguments; the caller keeps its reference */
        json_object_set_string_member(args, "path", "/machine");
        json_object_set_string_member(args, "property", "type");
        assert_int_equal(execute(f, "qom-get", args, -1, &r, "qom-get"), 0);
        json_object_set_string_member(args, "property", "no-such-property");
        assert_int_equal(execute(f, "qom-get", args, -1, &e, "qom-get-bad"), 0);
        RUN_UNTIL(f, e.n_calls > 0);
        assert_null(r.error);
        assert_string_equal(json_node_get_string(r.result), "none-machine");
        assert_string_equal(qmp_error_class(e.error), "GenericError");
        assert_trace(f, "ready|qom-get ok|qom-get-bad GenericError");
        reply_clear(&r);
        reply_clear(&e);
}

static void test_pipelined(void **state) {
        Fixture *f = *state;
        g_autoptr(GString) expected = g_string_new("ready");
        char *tags[10], *names[10];
        Reply r[10];

        wait_ready(f);
        for (unsigned i = 0; i < 10; i++) {
                tags[i] = g_strdup_printf("c%u", i);
                switch (i % 3) {
                case 0:
                        names[i] = g_strdup("query-status");
                        break;
                case 1:
                        names[i] = g_strdup("query-version");
                        break;
                default:
                        names[i] = g_strdup_printf("nope-%u", i);
                }
                assert_int_equal(execute(f, names[i], NULL, -1, &r[i], tags[i]), 0);
                g_string_append_printf(expected, "|c%u %s", i, i % 3 == 2 ? "CommandNotFound" : "ok");
        }
        RUN_UNTIL(f, r[9].n_calls > 0);
        assert_trace(f, expected->str);

        for (unsigned i = 0; i < 10; i++) {
                JsonObject *o = r[i].result ? json_node_get_object(r[i].result) : NULL;

                assert_int_equal(r[i].n_calls, 1);
                if (i % 3 == 0)
                        assert_string_equal(json_object_get_string_member(o, "status"), "prelaunch");
                else if (i % 3 == 1)
                        assert_true(json_object_has_member(o, "qemu"));
                else
                        assert_non_null(strstr(r[i].error->message, names[i]));
                reply_clear(&r[i]);
        }
        for (unsigned i = 0; i < 10; i++) {
                g_free(tags[i]);
                g_free(names[i]);
        }
}

static void test_queued_before_ready(void **state) {
        Fixture *f = *state;
        Reply r[3], from_ready = {};

        /* issued before the greeting even arrived: held until the handshake */
        f->execute_in_ready = "query-version";
        f->execute_in_ready_reply = &from_ready;
        assert_int_equal(execute(f, "query-status", NULL, -1, &r[0], "q0"), 0);
        assert_int_equal(execute(f, "nope", NULL, -1, &r[1], "q1"), 0);
        assert_int_equal(execute(f, "query-status", NULL, -1, &r[2], "q2"), 0);
        RUN_UNTIL(f, from_ready.n_calls > 0);
        assert_trace(f, "ready|q0 ok|q1 CommandNotFound|q2 ok|from-ready ok");
        for (unsigned i = 0; i < 3; i++)
                reply_clear(&r[i]);
        reply_clear(&from_ready);
}

static void test_execute_in_reply(void **state) {
        Fixture *f = *state;
        Reply first, second;

        wait_ready(f);
        assert_int_equal(execute(f, "query-status", NULL, -1, &first, "first"), 0);
        first.then_execute = "query-version";
        first.then_reply = &second;
        second = (Reply) { .f = f, .tag = "second" };
        RUN_UNTIL(f, second.n_calls > 0);
        assert_trace(f, "ready|first ok|second ok");
        reply_clear(&first);
        reply_clear(&second);
}

static bool hung_up(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        assert_true(poll(&p, 1, 0) >= 0);
        return p.revents & POLLHUP;
}

static JsonObject *fdname_args(const char *name) {
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "fdname", name);
        return args;
}

static void test_getfd(void **state) {
        Fixture *f = *state;
        g_autoptr(JsonObject) t1 = fdname_args("t1"), t2 = fdname_args("t2"), t3 = fdname_args("t3");
        int p1[2], p2[2];
        Reply get1, mid, get2, close1, close2, close3, nofd;

        assert_int_equal(pipe2(p1, O_CLOEXEC), 0);
        assert_int_equal(pipe2(p2, O_CLOEXEC), 0);
        wait_ready(f);

        /* two fds in one burst, a command between them */
        assert_int_equal(execute(f, "getfd", t1, p1[1], &get1, "getfd-t1"), 0);
        assert_int_equal(execute(f, "query-status", NULL, -1, &mid, "mid"), 0);
        assert_int_equal(execute(f, "getfd", t2, p2[1], &get2, "getfd-t2"), 0);
        /* the caller keeps (and may close) its fd at once */
        (void) close(p1[1]);
        (void) close(p2[1]);
        RUN_UNTIL(f, get2.n_calls > 0);
        assert_null(get1.error);
        assert_null(get2.error);

        /* QEMU holds the write ends now, nobody else does: not hung up */
        assert_false(hung_up(p1[0]));
        assert_false(hung_up(p2[0]));

        /* and each name holds the fd sent with it */
        assert_int_equal(execute(f, "closefd", t1, -1, &close1, "closefd-t1"), 0);
        RUN_UNTIL(f, close1.n_calls > 0);
        assert_null(close1.error);
        assert_true(hung_up(p1[0]));
        assert_false(hung_up(p2[0]));

        assert_int_equal(execute(f, "closefd", t2, -1, &close2, "closefd-t2"), 0);
        assert_int_equal(execute(f, "closefd", t3, -1, &close3, "closefd-t3"), 0);
        assert_int_equal(execute(f, "getfd", t3, -1, &nofd, "getfd-nofd"), 0);
        RUN_UNTIL(f, nofd.n_calls > 0);
        assert_true(hung_up(p2[0]));
        assert_non_null(strstr(nofd.error->message, "SCM_RIGHTS"));
        assert_trace(f, "ready|getfd-t1 ok|mid ok|getfd-t2 ok|closefd-t1 ok|closefd-t2 ok|"
                        "closefd-t3 GenericError|getfd-nofd GenericError");

        (void) close(p1[0]);
        (void) close(p2[0]);
        reply_clear(&get1);
        reply_clear(&mid);
        reply_clear(&get2);
        reply_clear(&close1);
        reply_clear(&close2);
        reply_clear(&close3);
        reply_clear(&nofd);
}

static void test_bad_fd(void **state) {
        Fixture *f = *state;
        int fd;
        Reply r;

        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        (void) close(fd);
        assert_int_equal(execute(f, "getfd", NULL, fd, &r, "bad-fd"), -EBADF);
        assert_int_equal(r.n_calls, 0);
}

static void test_quit(void **state) {
        Fixture *f = *state;
        unsigned quit_at, shutdown_at, closed_at, after_at;
        Reply quit, after, late;

        wait_ready(f);
        assert_int_equal(execute(f, "quit", NULL, -1, &quit, "quit"), 0);
        assert_int_equal(execute(f, "query-status", NULL, -1, &after, "after"), 0);
        RUN_UNTIL(f, f->n_closed > 0);
        reap_qemu(f, 0);

        /* QEMU's last words come before the end */
        assert_true(trace_has(f, "quit ok", &quit_at));
        assert_true(trace_has(f, "event SHUTDOWN host-qmp-quit", &shutdown_at));
        assert_true(trace_has(f, "closed CLOSED", &closed_at));
        assert_true(quit_at < closed_at);
        assert_true(shutdown_at < closed_at);
        assert_int_equal(closed_at, f->trace->len - 1);
        /* a command behind "quit" is answered or failed, once, before closed() */
        assert_int_equal(after.n_calls, 1);
        assert_true(trace_has(f, "after ok", &after_at) || trace_has(f, "after CLOSED", &after_at));
        assert_true(after_at < closed_at);

        assert_false(qmp_is_ready(f->qmp));
        assert_int_equal(execute(f, "query-status", NULL, -1, &late, "late"), -ESHUTDOWN);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(f->n_closed, 1);
        reply_clear(&quit);
        reply_clear(&after);
}

static void test_free_in_reply(void **state) {
        Fixture *f = *state;
        Reply r[5];

        wait_ready(f);
        for (unsigned i = 0; i < 5; i++)
                assert_int_equal(execute(f, "query-status", NULL, -1, &r[i], "r"), 0);
        r[1].free_qmp = true;
        RUN_UNTIL(f, !f->qmp);
        run_for(f, 100 * USEC_PER_MSEC);
        assert_trace(f, "ready|r ok|r ok");
        for (unsigned i = 0; i < 5; i++) {
                assert_int_equal(r[i].n_calls, i <= 1 ? 1 : 0);
                reply_clear(&r[i]);
        }
}

static void test_free_in_ready(void **state) {
        Fixture *f = *state;
        Reply r;

        f->free_in = FREE_IN_READY;
        assert_int_equal(execute(f, "query-status", NULL, -1, &r, "queued"), 0);
        RUN_UNTIL(f, !f->qmp);
        run_for(f, 100 * USEC_PER_MSEC);
        assert_trace(f, "ready");
        assert_int_equal(r.n_calls, 0);
}

static void test_free_in_event(void **state) {
        Fixture *f = *state;
        Reply quit;

        wait_ready(f);
        f->free_in = FREE_IN_EVENT;
        assert_int_equal(execute(f, "quit", NULL, -1, &quit, "quit"), 0);
        RUN_UNTIL(f, !f->qmp);
        run_for(f, 100 * USEC_PER_MSEC);
        /* nothing after the event, whatever order QEMU chose */
        assert_string_equal(f->trace->pdata[f->trace->len - 1], "event SHUTDOWN host-qmp-quit");
        assert_int_equal(f->n_closed, 0);
        reap_qemu(f, 0);
        reply_clear(&quit);
}

static void test_free_in_closed(void **state) {
        Fixture *f = *state;
        Reply quit;

        wait_ready(f);
        f->free_in = FREE_IN_CLOSED;
        assert_int_equal(execute(f, "quit", NULL, -1, &quit, "quit"), 0);
        RUN_UNTIL(f, !f->qmp);
        run_for(f, 50 * USEC_PER_MSEC);
        assert_int_equal(f->n_closed, 1);
        assert_string_equal(f->trace->pdata[f->trace->len - 1], "closed CLOSED");
        reap_qemu(f, 0);
        reply_clear(&quit);
}

static void test_free_while_connected(void **state) {
        Fixture *f = *state;
        Reply r;

        /* freed from the outside with a command in flight: nothing is called */
        wait_ready(f);
        assert_int_equal(execute(f, "query-status", NULL, -1, &r, "r"), 0);
        free_qmp(f);
        run_for(f, 100 * USEC_PER_MSEC);
        assert_int_equal(r.n_calls, 0);
        assert_trace(f, "ready");
}

/* ==== connecting ============================================================ */

static int setup_plain(void **state) {
        *state = fixture_new();
        return 0;
}

static void test_connect_errors(void **state) {
        Fixture *f = *state;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_autofree char *missing = g_build_filename(f->dir, "missing.sock", NULL);
        g_autofree char *longer = g_strnfill(200, 'x');
        int fd;

        assert_int_equal(qmp_connect(f->qmp, missing), -ENOENT);
        assert_int_equal(qmp_connect(f->qmp, longer), -ENAMETOOLONG);
        assert_int_equal(qmp_connect(f->qmp, ""), -EINVAL);

        /* a socket that exists but does not listen (QEMU starting up) */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        g_strlcpy(sa.sun_path, f->socket_path, sizeof(sa.sun_path));
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(qmp_connect(f->qmp, f->socket_path), -ECONNREFUSED);

        /* once it listens, the same Qmp gets through */
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(qmp_connect(f->qmp, f->socket_path), 0);
        f->listener = fd;
        assert_false(qmp_is_ready(f->qmp));
        assert_trace(f, "");
}

/* ==== fake QEMU ============================================================= */

static int setup_fake(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Fixture *f = fixture_new();

        *state = f;
        f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listener >= 0);
        g_strlcpy(sa.sun_path, f->socket_path, sizeof(sa.sun_path));
        assert_int_equal(bind(f->listener, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listener, 1), 0);

        assert_int_equal(qmp_connect(f->qmp, f->socket_path), 0);
        /* connect() put it in the backlog: this does not block */
        f->server = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        assert_true(f->server >= 0);
        return 0;
}

/* Sends data and runs the client until it has read all of it, so that
 * each piece arrives as a read of its own. */
static void server_piece(Fixture *f, const char *data, size_t size) {
        int64_t deadline = g_get_monotonic_time() + WAIT_LIMIT_USEC;
        int queued;

        while (size > 0) {
                ssize_t k = send(f->server, data, size, MSG_NOSIGNAL);

                if (k < 0 && errno == EAGAIN) {
                        assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
                        continue;
                }
                assert_true(k > 0);
                data += k;
                size -= (size_t) k;
        }
        for (;;) {
                assert_int_equal(ioctl(f->server, SIOCOUTQ, &queued), 0);
                if (queued == 0)
                        break;
                assert_true(g_get_monotonic_time() < deadline);
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        }
}

static void server_send(Fixture *f, const char *data) {
        server_piece(f, data, strlen(data));
}

static void server_printf(Fixture *f, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void server_printf(Fixture *f, const char *format, ...) {
        g_autofree char *s = NULL;
        va_list ap;

        va_start(ap, format);
        s = g_strdup_vprintf(format, ap);
        va_end(ap);
        server_send(f, s);
}

/* Receives once, byte-wise (as QEMU's monitor reads) or in bulk, noting
 * where in f->sbuf an fd arrived. 0 if nothing was there. */
static ssize_t server_recv(Fixture *f, bool bytewise, int *ret_fd, size_t *ret_fd_offset) {
        union {
                struct cmsghdr cmsghdr;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        char buf[64 * 1024];
        struct iovec iov = { buf, bytewise ? 1 : sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg;
        ssize_t k;

        k = recvmsg(f->server, &mh, MSG_CMSG_CLOEXEC);
        if (k < 0 && errno == EAGAIN)
                return 0;
        assert_true(k > 0);
        assert_false(mh.msg_flags & MSG_CTRUNC);
        cmsg = CMSG_FIRSTHDR(&mh);
        if (cmsg) {
                assert_int_equal(cmsg->cmsg_type, SCM_RIGHTS);
                assert_int_equal(cmsg->cmsg_len, CMSG_LEN(sizeof(int)));
                assert_non_null(ret_fd);
                assert_int_equal(*ret_fd, -1);
                memcpy(ret_fd, CMSG_DATA(cmsg), sizeof(int));
                *ret_fd_offset = f->sbuf->len;
        }
        g_string_append_len(f->sbuf, buf, k);
        return k;
}

/* Reads what the client sent up to the next newline (running its loop
 * while waiting); the line's JSON is returned. */
static JsonObject *server_read(Fixture *f, bool bytewise, int *ret_fd, size_t *ret_fd_offset) {
        int64_t deadline = g_get_monotonic_time() + WAIT_LIMIT_USEC;
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;
        const char *nl;
        size_t size;

        while (!(nl = memchr(f->sbuf->str, '\n', f->sbuf->len))) {
                if (server_recv(f, bytewise, ret_fd, ret_fd_offset) > 0)
                        continue;
                assert_true(g_get_monotonic_time() < deadline);
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        }
        size = (size_t) (nl - f->sbuf->str);
        if (!json_parser_load_from_data(parser, f->sbuf->str, (gssize) size, &error))
                fail_msg("client sent bad JSON: %s", error->message);
        g_string_erase(f->sbuf, 0, (gssize) size + 1);
        return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

/* Reads the next command, checks its name and returns its id. */
static int64_t server_expect(Fixture *f, const char *command) {
        g_autoptr(JsonObject) o = server_read(f, false, NULL, NULL);

        assert_string_equal(json_object_get_string_member(o, "execute"), command);
        return json_object_get_int_member(o, "id");
}

static void assert_server_idle(Fixture *f) {
        run_for(f, 20 * USEC_PER_MSEC);
        assert_int_equal(server_recv(f, false, NULL, NULL), 0);
        assert_int_equal(f->sbuf->len, 0);
}

static void fake_handshake(Fixture *f) {
        int64_t id;

        server_send(f, GREETING);
        id = server_expect(f, "qmp_capabilities");
        server_printf(f, "{\"return\": {}, \"id\": %" PRIi64 "}\r\n", id);
        RUN_UNTIL(f, f->n_ready > 0);
}

static void test_fake_pieces(void **state) {
        Fixture *f = *state;
        static const char event[] =
                "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\", \"data\": {}}\r\n";
        unsigned warnings;
        int64_t a, b, c, id;
        Reply ra, rb, rc;
        g_autofree char *answer = NULL;

        /* queued before the greeting */
        assert_int_equal(execute(f, "cmd-a", NULL, -1, &ra, "a"), 0);

        /* the greeting in pieces, "\r" and "\n" apart */
        server_piece(f, GREETING, 10);
        server_piece(f, GREETING + 10, strlen(GREETING) - 11);
        assert_server_idle(f);
        server_send(f, "\n");
        id = server_expect(f, "qmp_capabilities");
        /* cmd-a waits for the handshake */
        assert_server_idle(f);
        server_send(f, "{\"return\"");
        server_printf(f, ": {}, \"id\": %" PRIi64 "}\r", id);
        assert_int_equal(f->n_ready, 0);
        server_send(f, "\n");
        assert_int_equal(f->n_ready, 1);
        a = server_expect(f, "cmd-a");

        /* garbage is logged and skipped; empty lines are nothing */
        warnings = n_log_warnings;
        server_send(f, "this is not JSON\r\n[1, 2, 3]\r\n\r\n\n");
        server_send(f, "{\"return\": {}, \"id\": 12345}\r\n{\"return\": {}}\r\n");
        server_printf(f, "{\"return\": {}, \"id\": \"%" PRIi64 "\"}\r\n", a);
        server_send(f, "{\"event\": 42}\r\n");
        assert_int_equal(n_log_warnings - warnings, 6);
        assert_int_equal(ra.n_calls, 0);

        /* an event in three pieces */
        server_piece(f, event, 5);
        server_piece(f, event + 5, 30);
        server_piece(f, event + 35, sizeof(event) - 1 - 35);

        /* the answer to cmd-a byte by byte */
        answer = g_strdup_printf("{\"return\": {\"a\": 1}, \"id\": %" PRIi64 "}\r\n", a);
        for (size_t i = 0; answer[i]; i++)
                server_piece(f, answer + i, 1);
        assert_int_equal(ra.n_calls, 1);
        assert_int_equal(json_object_get_int_member(json_node_get_object(ra.result), "a"), 1);

        /* several messages in one read, answers out of order: ids decide */
        assert_int_equal(execute(f, "cmd-b", NULL, -1, &rb, "b"), 0);
        assert_int_equal(execute(f, "cmd-c", NULL, -1, &rc, "c"), 0);
        b = server_expect(f, "cmd-b");
        c = server_expect(f, "cmd-c");
        server_printf(f,
                      "{\"return\": [], \"id\": %" PRIi64 "}\r\n"
                      "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"
                      "{\"id\": %" PRIi64 ", \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no b\"}}\r\n",
                      c, b);
        assert_true(JSON_NODE_HOLDS_ARRAY(rc.result));
        assert_string_equal(rb.error->message, "no b");

        /* a duplicate answer is an unknown id now */
        warnings = n_log_warnings;
        server_printf(f, "{\"return\": {}, \"id\": %" PRIi64 "}\r\n", b);
        assert_int_equal(n_log_warnings - warnings, 1);

        assert_int_equal(f->n_closed, 0);
        assert_trace(f, "ready|event STOP|a ok|c ok|event RESUME nodata|b DeviceNotFound");
        reply_clear(&ra);
        reply_clear(&rb);
        reply_clear(&rc);
}

static void test_fake_no_return(void **state) {
        Fixture *f = *state;
        int64_t id;
        Reply r, next;

        fake_handshake(f);
        assert_int_equal(execute(f, "odd", NULL, -1, &r, "odd"), 0);
        id = server_expect(f, "odd");
        server_printf(f, "{\"id\": %" PRIi64 ", \"something\": 1}\r\n", id);
        assert_true(g_error_matches(r.error, QMP_ERROR, QMP_ERROR_PROTOCOL));
        assert_null(qmp_error_class(r.error));

        /* an error without desc still says something */
        assert_int_equal(execute(f, "next", NULL, -1, &next, "next"), 0);
        id = server_expect(f, "next");
        server_printf(f, "{\"id\": %" PRIi64 ", \"error\": {\"class\": \"GenericError\"}}\r\n", id);
        assert_string_equal(qmp_error_class(next.error), "GenericError");
        assert_string_equal(next.error->message, "GenericError");
        assert_trace(f, "ready|odd PROTOCOL|next GenericError");
        reply_clear(&r);
        reply_clear(&next);
}

static void test_fake_long_lines(void **state) {
        Fixture *f = *state;
        g_autoptr(JsonObject) args = json_object_new();
        g_autoptr(JsonObject) got = NULL;
        g_autofree char *big = g_strnfill(4 * 1024 * 1024, 'q');
        g_autofree char *answer = NULL;
        int64_t id;
        Reply r, after;

        fake_handshake(f);

        /* far more than the socket buffer: written in parts as the server
         * reads, and the next command stays behind it */
        json_object_set_string_member(args, "blob", big);
        assert_int_equal(execute(f, "big", args, -1, &r, "big"), 0);
        assert_int_equal(execute(f, "after", NULL, -1, &after, "after"), 0);
        got = server_read(f, false, NULL, NULL);
        assert_string_equal(json_object_get_string_member(got, "execute"), "big");
        assert_string_equal(json_object_get_string_member(json_object_get_object_member(got, "arguments"), "blob"),
                            big);
        id = json_object_get_int_member(got, "id");
        assert_int_equal(server_expect(f, "after"), id + 1);

        /* a long answer grows the input buffer */
        answer = g_strdup_printf("{\"return\": \"%s\", \"id\": %" PRIi64 "}\r\n", big, id);
        server_send(f, answer);
        assert_string_equal(json_node_get_string(r.result), big);
        assert_int_equal(after.n_calls, 0);
        assert_trace(f, "ready|big ok");
        reply_clear(&r);
}

static void test_fake_bad_greeting(void **state) {
        Fixture *f = *state;
        Reply r;

        assert_int_equal(execute(f, "queued", NULL, -1, &r, "queued"), 0);
        server_send(f, "{\"hello\": \"world\"}\r\n");
        assert_trace(f, "queued CLOSED|closed PROTOCOL");
        assert_int_equal(qmp_execute(f->qmp, "late", NULL, -1, NULL, NULL), -ESHUTDOWN);
        reply_clear(&r);
}

static void test_fake_handshake_fails(void **state) {
        Fixture *f = *state;
        int64_t id;
        Reply r;

        assert_int_equal(execute(f, "queued", NULL, -1, &r, "queued"), 0);
        server_send(f, GREETING);
        id = server_expect(f, "qmp_capabilities");
        server_printf(f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no way\"}, \"id\": %" PRIi64 "}\r\n",
                      id);
        assert_trace(f, "queued CLOSED|closed GenericError");
        assert_string_equal(f->closed_error->message, "no way");
        assert_int_equal(f->n_ready, 0);
        reply_clear(&r);
}

static void test_fake_hangup(void **state) {
        Fixture *f = *state;
        Reply r[2];

        fake_handshake(f);
        assert_int_equal(execute(f, "one", NULL, -1, &r[0], "one"), 0);
        assert_int_equal(execute(f, "two", NULL, -1, &r[1], "two"), 0);
        (void) server_expect(f, "one");
        /* the last words before the hang-up still count */
        server_send(f, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-signal\"}}\r\n");
        (void) close(f->server);
        f->server = -1;
        RUN_UNTIL(f, f->n_closed > 0);
        assert_trace(f, "ready|event SHUTDOWN host-signal|one CLOSED|two CLOSED|closed CLOSED");
        run_for(f, 20 * USEC_PER_MSEC);
        assert_int_equal(f->n_closed, 1);
        reply_clear(&r[0]);
        reply_clear(&r[1]);
}

static void test_fake_free_while_closing(void **state) {
        Fixture *f = *state;
        Reply r[2];

        fake_handshake(f);
        assert_int_equal(execute(f, "one", NULL, -1, &r[0], "one"), 0);
        assert_int_equal(execute(f, "two", NULL, -1, &r[1], "two"), 0);
        r[0].free_qmp = true;
        (void) close(f->server);
        f->server = -1;
        RUN_UNTIL(f, !f->qmp);
        run_for(f, 20 * USEC_PER_MSEC);
        assert_trace(f, "ready|one CLOSED");
        assert_int_equal(r[1].n_calls, 0);
        reply_clear(&r[0]);
}

static void assert_same_file(int a, int b) {
        struct stat sa, sb;

        assert_int_equal(fstat(a, &sa), 0);
        assert_int_equal(fstat(b, &sb), 0);
        assert_int_equal(sa.st_dev, sb.st_dev);
        assert_int_equal(sa.st_ino, sb.st_ino);
}

/* Reads one line byte by byte and returns the fd that came with it,
 * checking it came with the line's first byte. */
static int server_read_fd(Fixture *f, const char *command) {
        g_autoptr(JsonObject) o = NULL;
        size_t offset = SIZE_MAX;
        int fd = -1;

        assert_int_equal(f->sbuf->len, 0);
        o = server_read(f, true, &fd, &offset);
        assert_string_equal(json_object_get_string_member(o, "execute"), command);
        if (fd >= 0)
                assert_int_equal(offset, 0);
        return fd;
}

static void test_fake_fd_placement(void **state) {
        Fixture *f = *state;
        int p[2], q[2], fd;
        Reply r[6];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(pipe2(q, O_CLOEXEC), 0);

        /* queued before ready, so that all of it goes out in one flush */
        assert_int_equal(execute(f, "a", NULL, -1, &r[0], "a"), 0);
        assert_int_equal(execute(f, "getfd", NULL, p[1], &r[1], "getfd-p"), 0);
        assert_int_equal(execute(f, "getfd", NULL, q[1], &r[2], "getfd-q"), 0);
        assert_int_equal(execute(f, "b", NULL, -1, &r[3], "b"), 0);
        fake_handshake(f);

        assert_int_equal(server_read_fd(f, "a"), -1);
        fd = server_read_fd(f, "getfd");
        assert_same_file(fd, p[1]);
        (void) close(fd);
        fd = server_read_fd(f, "getfd");
        assert_same_file(fd, q[1]);
        (void) close(fd);
        assert_int_equal(server_read_fd(f, "b"), -1);

        /* and once ready, sent at once */
        assert_int_equal(execute(f, "c", NULL, -1, &r[4], "c"), 0);
        assert_int_equal(execute(f, "getfd", NULL, q[1], &r[5], "getfd-q2"), 0);
        assert_int_equal(server_read_fd(f, "c"), -1);
        fd = server_read_fd(f, "getfd");
        assert_same_file(fd, q[1]);
        (void) close(fd);

        /* our duplicates are gone: closing ours leaves no writer */
        (void) close(p[1]);
        (void) close(q[1]);
        assert_true(hung_up(p[0]));
        assert_true(hung_up(q[0]));
        (void) close(p[0]);
        (void) close(q[0]);
}

static void test_error_class(void **state) {
        g_autoptr(GError) other = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
        g_autoptr(GError) closed = g_error_new_literal(QMP_ERROR, QMP_ERROR_CLOSED, "x");

        assert_null(qmp_error_class(NULL));
        assert_null(qmp_error_class(other));
        assert_null(qmp_error_class(closed));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ready_version, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_query_status, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_query_version, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_command, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_arguments, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_pipelined, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_queued_before_ready, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_execute_in_reply, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_getfd, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_bad_fd, setup_plain, teardown),
                cmocka_unit_test_setup_teardown(test_quit, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_reply, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_ready, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_event, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_free_in_closed, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_free_while_connected, setup_qemu, teardown),
                cmocka_unit_test_setup_teardown(test_connect_errors, setup_plain, teardown),
                cmocka_unit_test_setup_teardown(test_fake_pieces, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_no_return, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_long_lines, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_bad_greeting, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_handshake_fails, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_hangup, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_free_while_closing, setup_fake, teardown),
                cmocka_unit_test_setup_teardown(test_fake_fd_placement, setup_fake, teardown),
                cmocka_unit_test(test_error_class),
        };

        return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
