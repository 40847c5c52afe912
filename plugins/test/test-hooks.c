/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test hooks: integration tests make things happen "inside" a test guest by
 * dropping a file named after the domain's UUID into <runtime>/test/hooks/,
 * one command per line. The file is consumed (read, then deleted) as soon
 * as it is closed or renamed into place.
 *
 *   shutdown          the guest OS powers off
 *   reboot            the guest OS asks for a reboot
 *   crash             the guest panics
 *   gone              the VM process dies
 *   pause-ioerror     the hypervisor pauses the guest on an I/O error
 *   delay MS          later ops of this UUID complete after MS ms (0: at once)
 *   fail OP MESSAGE   the next OP of this UUID fails with MESSAGE
 */
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <syslog.h>
#include <unistd.h>

#include "test-plugin.h"

#define HOOK_MAX_DELAY_MS (3600 * 1000ull)

/* Looks up the running guest a guest-side command applies to. */
static TestGuest *hook_running_guest(TestHv *hv, const char *uuid, const char *cmd) {
        TestGuest *g = test_guest_find(hv, uuid);

        if (!g) {
                hv->host->log(LOG_WARNING, "test hook %s: '%s': no domain with this UUID is known, ignoring",
                              uuid, cmd);
                return NULL;
        }
        if (!g->active) {
                hv->host->log(LOG_WARNING, "test hook %s: '%s': the guest is not running, ignoring",
                              uuid, cmd);
                return NULL;
        }
        return g;
}

static void hook_shutdown(TestHv *hv, TestGuest *g) {
        DomaindGuest *guest = g->guest;

        if (g->held != TEST_HELD_NONE) {
                hv->host->log(LOG_WARNING, "test hook %s: 'shutdown': the guest is stopped already, ignoring",
                              g->uuid);
                return;
        }
        test_guest_set_held(g, TEST_HELD_SHUTDOWN);
        hv->host->status_changed(guest);
        hv->host->guest_event(guest, DOMAIND_GUEST_SHUTDOWN, NULL);
}

static void hook_crash(TestHv *hv, TestGuest *g) {
        DomaindGuest *guest = g->guest;

        if (g->held != TEST_HELD_NONE) {
                hv->host->log(LOG_WARNING, "test hook %s: 'crash': the guest is stopped already, ignoring",
                              g->uuid);
                return;
        }
        test_guest_set_held(g, TEST_HELD_CRASHED);
        hv->host->status_changed(guest);
        hv->host->guest_event(guest, DOMAIND_GUEST_CRASHED, "panicked");
}

static void hook_pause_ioerror(TestHv *hv, TestGuest *g) {
        DomaindGuest *guest = g->guest;

        if (g->paused || g->held != TEST_HELD_NONE) {
                hv->host->log(LOG_WARNING,
                              "test hook %s: 'pause-ioerror': the guest is not running, ignoring", g->uuid);
                return;
        }
        test_guest_set_paused(g, true);
        hv->host->status_changed(guest);
        hv->host->guest_event(guest, DOMAIND_GUEST_PAUSED, "ioerror");
}

static void hook_gone(TestHv *hv, TestGuest *g) {
        DomaindGuest *guest = g->guest;

        /* A destroy in flight simply finds the VM gone; anything else that
         * needed the VM fails. */
        if (g->op && g->op->kind != TEST_OP_DESTROY)
                test_op_orphan(g->op, "the test guest died");
        test_guest_release(g);
        /* last: the core may drop the domain (and g) right here */
        hv->host->guest_event(guest, DOMAIND_GUEST_GONE, "crashed");
}

static void hook_guest_command(TestHv *hv, const char *uuid, const char *cmd) {
        TestGuest *g = hook_running_guest(hv, uuid, cmd);

        if (!g)
                return;

        if (g_str_equal(cmd, "shutdown"))
                hook_shutdown(hv, g);
        else if (g_str_equal(cmd, "reboot"))
                hv->host->guest_event(g->guest, DOMAIND_GUEST_REBOOT, NULL);
        else if (g_str_equal(cmd, "crash"))
                hook_crash(hv, g);
        else if (g_str_equal(cmd, "gone"))
                hook_gone(hv, g);
        else if (g_str_equal(cmd, "pause-ioerror"))
                hook_pause_ioerror(hv, g);
        else
                g_assert_not_reached();
}

static void hook_delay(TestHv *hv, const char *uuid, const char *arg) {
        guint64 ms;

        if (!g_ascii_string_to_unsigned(arg, 10, 0, HOOK_MAX_DELAY_MS, &ms, NULL)) {
                hv->host->log(LOG_WARNING,
                              "test hook %s: 'delay %s': not a number of milliseconds up to %llu", uuid, arg,
                              HOOK_MAX_DELAY_MS);
                return;
        }
        test_knobs_get(hv, uuid, true)->delay_usec = ms * 1000;
}

static void hook_fail(TestHv *hv, const char *uuid, const char *arg) {
        g_autofree char *op_name = NULL;
        const char *message;
        TestOpKind kind;
        TestKnobs *k;

        message = arg + strcspn(arg, " \t");
        op_name = g_strndup(arg, (size_t) (message - arg));
        message += strspn(message, " \t");

        if (!test_op_kind_from_name(op_name, &kind)) {
                hv->host->log(LOG_WARNING, "test hook %s: 'fail %s': unknown operation '%s', ignoring", uuid,
                              arg, op_name);
                return;
        }

        k = test_knobs_get(hv, uuid, true);
        g_free(k->fail[kind]);
        k->fail[kind] = *message ? g_strdup(message)
                                 : g_strdup_printf("simulated %s failure", test_op_name(kind));
}

static void hook_line(TestHv *hv, const char *uuid, char *line) {
        static const char *const guest_commands[] = {
                "shutdown", "reboot", "crash", "gone", "pause-ioerror",
        };
        const char *arg;
        size_t n;

        g_strstrip(line);
        if (*line == '\0' || *line == '#')
                return;

        /* split "cmd args..." in place */
        n = strcspn(line, " \t");
        arg = line + n;
        if (*arg != '\0') {
                line[n] = '\0';
                arg++;
                arg += strspn(arg, " \t");
        }

        for (size_t i = 0; i < G_N_ELEMENTS(guest_commands); i++)
                if (g_str_equal(line, guest_commands[i]) && *arg == '\0') {
                        hook_guest_command(hv, uuid, line);
                        return;
                }

        if (g_str_equal(line, "delay"))
                hook_delay(hv, uuid, arg);
        else if (g_str_equal(line, "fail"))
                hook_fail(hv, uuid, arg);
        else
                hv->host->log(LOG_WARNING, "test hook %s: unknown command '%s%s%s', ignoring", uuid, line,
                              *arg ? " " : "", arg);
}

static void hook_file(TestHv *hv, const char *name) {
        g_autofree char *path = NULL;
        g_autofree char *contents = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) lines = NULL;
        char uuid[TEST_UUID_STRING_LEN];

        /* dot files are how a test writes a hook atomically: wait for the rename */
        if (name[0] == '.')
                return;
        if (!test_uuid_normalize(name, uuid)) {
                hv->host->log(LOG_NOTICE, "test hook file '%s' is not named after a UUID, ignoring", name);
                return;
        }

        path = g_build_filename(hv->hooks_dir, name, NULL);
        if (!g_file_get_contents(path, &contents, NULL, &error)) {
                /* ENOENT: a second close of the same file, consumed already */
                if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        hv->host->log(LOG_WARNING, "cannot read test hook %s: %s", path, error->message);
                return;
        }
        if (unlink(path) < 0 && errno != ENOENT)
                hv->host->log(LOG_WARNING, "cannot remove test hook %s: %s", path, g_strerror(errno));

        if (!test_guest_find(hv, uuid))
                hv->host->log(LOG_INFO, "test hook for %s, a UUID the test hypervisor has not seen yet",
                              uuid);

        lines = g_strsplit(contents, "\n", -1);
        for (char **l = lines; *l; l++)
                hook_line(hv, uuid, *l);
}

/* process: apply the files found (after an inotify queue overflow);
 * otherwise drop them (left over from before we started). */
static void hooks_scan(TestHv *hv, bool process) {
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *name;
        char uuid[TEST_UUID_STRING_LEN];

        dir = g_dir_open(hv->hooks_dir, 0, &error);
        if (!dir) {
                hv->host->log(LOG_WARNING, "cannot list %s: %s", hv->hooks_dir, error->message);
                return;
        }
        /* collect first: handling a file changes the directory */
        while ((name = g_dir_read_name(dir)))
                if (test_uuid_normalize(name, uuid))
                        g_ptr_array_add(names, g_strdup(name));

        for (size_t i = 0; i < names->len; i++) {
                const char *n = g_ptr_array_index(names, i);

                if (process) {
                        hook_file(hv, n);
                } else {
                        g_autofree char *path = g_build_filename(hv->hooks_dir, n, NULL);

                        hv->host->log(LOG_INFO, "discarding stale test hook %s", path);
                        (void) unlink(path);
                }
        }
}

static int hooks_inotify_cb(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        TestHv *hv = userdata;

        if (ev->mask & IN_Q_OVERFLOW) {
                hv->host->log(LOG_WARNING, "test hook events were lost, rescanning %s", hv->hooks_dir);
                hooks_scan(hv, true);
                return 0;
        }
        if (ev->mask & IN_IGNORED) {
                hv->host->log(LOG_WARNING, "%s went away: test hooks are off until the next start",
                              hv->hooks_dir);
                return 0;
        }
        if (ev->len > 0 && !(ev->mask & IN_ISDIR))
                hook_file(hv, ev->name);
        return 0;
}

int test_hooks_open(TestHv *hv, char **why) {
        const DomaindHost *host = hv->host;
        int r;

        hv->hooks_dir = g_build_filename(host->runtime_dir, "hooks", NULL);
        if (g_mkdir_with_parents(hv->hooks_dir, 0755) < 0) {
                r = -errno;
                *why = g_strdup_printf("cannot create %s: %s", hv->hooks_dir, g_strerror(-r));
                return r;
        }

        /* the core does not clear the runtime dir: old commands are void */
        hooks_scan(hv, false);

        r = sd_event_add_inotify(host->event, &hv->hooks_source, hv->hooks_dir,
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR, hooks_inotify_cb, hv);
        if (r < 0) {
                *why = g_strdup_printf("cannot watch %s: %s", hv->hooks_dir, g_strerror(-r));
                return r;
        }
        (void) sd_event_source_set_description(hv->hooks_source, "test-plugin-hooks");
        return 0;
}

void test_hooks_close(TestHv *hv) {
        hv->hooks_source = sd_event_source_disable_unref(hv->hooks_source);
        g_clear_pointer(&hv->hooks_dir, g_free);
}
