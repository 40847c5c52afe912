/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests for the core state machine: service/domain.c, domain-ops.c,
 * job.c, the registry parts of hypervisor.c and save-image.c.
 *
 * The core runs here without a bus (Manager.bus == NULL: no signals). Most
 * operations are internal ones (message == NULL: nobody is answered); where
 * the answer matters, the test is the caller at the other end of a
 * peer-to-peer D-Bus connection (new_call()) and reads the reply.
 * The hypervisor is built by hand around a fake plugin table defined in this
 * file, which counts and logs its calls and completes them synchronously,
 * from a defer or timer source, or only when a test releases them, with a
 * result the test chose. A smoke test runs the real test plugin (test.so).
 *
 * DOMAIND_TEST_FILTER=<glob> runs some tests only, DOMAIND_TEST_VERBOSE=1
 * shows the core's log.
 */

#define _GNU_SOURCE /* memfd_create() */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "domain-ops.h"
#include "domain.h"
#include "hypervisor.h"
#include "job.h"
#include "log.h"
#include "manager.h"
#include "save-image.h"
#include "snapshot.h"

#ifndef TEST_PLUGIN_PATH
#error "TEST_PLUGIN_PATH must name <builddir>/plugins/test.so"
#endif

#define USEC_PER_MSEC 1000ull
#define WAIT_LIMIT_USEC (10 * G_USEC_PER_SEC)


/* ==== the fake plugin ====================================================== */

typedef enum FakeOp {
        OP_START,
        OP_SHUTDOWN,
        OP_REBOOT,
        OP_RESET,
        OP_DESTROY,
        OP_SUSPEND,
        OP_RESUME,
        OP_SAVE,
        OP_RESTORE,
        OP_SNAPSHOT_CREATE,
        _OP_MAX,
} FakeOp;

static const char *const fake_op_names[_OP_MAX] = {
        [OP_START] = "start",     [OP_SHUTDOWN] = "shutdown", [OP_REBOOT] = "reboot",
        [OP_RESET] = "reset",     [OP_DESTROY] = "destroy",   [OP_SUSPEND] = "suspend",
        [OP_RESUME] = "resume",   [OP_SAVE] = "save",         [OP_RESTORE] = "restore",
        [OP_SNAPSHOT_CREATE] = "snapshot-create",
};

/* How an operation ends. */
typedef enum FakeMode {
        FAKE_SYNC,  /* call_done before the op function returns */
        FAKE_DEFER, /* from a defer source on the loop */
        FAKE_DELAY, /* from a timer, Fake.delay_usec later */
        FAKE_HOLD,  /* when the test calls fake_release() */
} FakeMode;

#define FAKE_PAYLOAD "FAKE-GUEST-STATE\n"

typedef struct FakeGuest {
        bool active;
        bool paused;
        int id;
} FakeGuest;

typedef struct Fake Fake;

typedef struct FakePending {
        Fake *fake;
        FakeOp op;
        DomaindGuest *guest;
        DomaindCall *call;
        DomaindResult result;
        uint32_t flags;
        int fd;
        sd_event_source *source;
} FakePending;

struct Fake {
        const DomaindHost *host;
        unsigned calls[_OP_MAX];
        uint32_t last_flags[_OP_MAX];
        GString *log; /* "start,suspend,..." in call order */
        FakeMode mode[_OP_MAX];
        DomaindResult result[_OP_MAX];
        uint64_t delay_usec;
        GPtrArray *guests;  /* FakeGuest*, owned */
        GPtrArray *pending; /* FakePending* not completed yet */
        int next_id;
        bool refuse_attach;
        unsigned attach_calls, forget_calls;
        char *restored_payload;
};

static FakeMode fake_default_mode = FAKE_SYNC; /* for the Fake that open() creates next */

static FakeGuest *fake_guest(Fake *f, DomaindGuest *guest) {
        FakeGuest *g = f->host->guest_get_data(guest);

        if (!g) {
                g = g_new0(FakeGuest, 1);
                g->id = -1;
                g_ptr_array_add(f->guests, g);
                f->host->guest_set_data(guest, g);
        }
        return g;
}

static void fake_pending_free(FakePending *p) {
        sd_event_source_unref(p->source);
        g_free(p);
}

/* Applies the op to the fake guest and ends the call. */
static void fake_complete(FakePending *p) {
        Fake *f = p->fake;
        FakeGuest *g = fake_guest(f, p->guest);
        DomaindCall *call = p->call;
        DomaindResult result = p->result;
        FakeOp op = p->op;
        char buf[256];
        ssize_t n;

        g_ptr_array_remove(f->pending, p);
        if (result == DOMAIND_OK) {
                switch (op) {
                case OP_START:
                        g->active = true;
                        g->paused = p->flags & DOMAIND_START_PAUSED;
                        g->id = f->next_id++;
                        break;
                case OP_DESTROY:
                        *g = (FakeGuest){ .id = -1 };
                        break;
                case OP_SUSPEND:
                        g->paused = true;
                        break;
                case OP_RESUME:
                        g->paused = false;
                        break;
                case OP_SAVE:
                        assert_int_equal(write(p->fd, FAKE_PAYLOAD, strlen(FAKE_PAYLOAD)),
                                         (ssize_t) strlen(FAKE_PAYLOAD));
                        *g = (FakeGuest){ .id = -1 };
                        break;
                case OP_RESTORE:
                        n = read(p->fd, buf, sizeof(buf) - 1);
                        buf[n > 0 ? n : 0] = 0;
                        g_free(f->restored_payload);
                        f->restored_payload = g_strdup(buf);
                        if (!g_str_equal(buf, FAKE_PAYLOAD)) {
                                result = DOMAIND_ERROR_FAILED;
                                break;
                        }
                        g->active = true;
                        g->paused = p->flags & DOMAIND_START_PAUSED;
                        g->id = f->next_id++;
                        break;
                default:
                        break;
                }
        }
        fake_pending_free(p);
        f->host->call_done(call, result, "fake %s failed", fake_op_names[op]);
}

static int on_fake_source(sd_event_source *s, void *userdata) {
        fake_complete(userdata);
        return 0;
}

static int on_fake_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        fake_complete(userdata);
        return 0;
}

static void fake_op(void *hv, FakeOp op, DomaindGuest *guest, uint32_t flags, int fd, DomaindCall *call) {
        Fake *f = hv;
        FakePending *p = g_new0(FakePending, 1);

        f->calls[op]++;
        f->last_flags[op] = flags;
        g_string_append_printf(f->log, "%s%s", f->log->len ? "," : "", fake_op_names[op]);
        *p = (FakePending){
                .fake = f, .op = op, .guest = guest, .call = call, .result = f->result[op], .flags = flags, .fd = fd,
        };
        g_ptr_array_add(f->pending, p);
        switch (f->mode[op]) {
        case FAKE_SYNC:
                fake_complete(p);
                break;
        case FAKE_DEFER:
                assert_true(sd_event_add_defer(f->host->event, &p->source, on_fake_source, p) >= 0);
                break;
        case FAKE_DELAY:
                assert_true(sd_event_add_time_relative(f->host->event, &p->source, CLOCK_MONOTONIC, f->delay_usec, 0,
                                                       on_fake_timer, p) >= 0);
                break;
        case FAKE_HOLD:
                break;
        }
}

/* Lets the oldest held call of `op` end (from the loop). */
static void fake_release(Fake *f, FakeOp op) {
        for (guint i = 0; i < f->pending->len; i++) {
                FakePending *p = f->pending->pdata[i];
                if (p->op == op && !p->source) {
                        assert_true(sd_event_add_defer(f->host->event, &p->source, on_fake_source, p) >= 0);
                        return;
                }
        }
        fail_msg("no held %s call to release", fake_op_names[op]);
}

static unsigned fake_held(Fake *f) {
        unsigned n = 0;
        for (guint i = 0; i < f->pending->len; i++)
                n += ((FakePending *) f->pending->pdata[i])->source == NULL;
        return n;
}

static int fake_open(const DomaindHost *host, void **ret, char **why) {
        Fake *f = g_new0(Fake, 1);

        f->host = host;
        f->log = g_string_new(NULL);
        f->guests = g_ptr_array_new_with_free_func(g_free);
        f->pending = g_ptr_array_new();
        f->next_id = 7;
        f->delay_usec = 50 * USEC_PER_MSEC;
        for (int i = 0; i < _OP_MAX; i++)
                f->mode[i] = fake_default_mode;
        *ret = f;
        return 0;
}

static void fake_close(void *hv) {
        Fake *f = hv;

        /* Dropped, not ended (as a real plugin does when the core goes). */
        for (guint i = 0; i < f->pending->len; i++)
                fake_pending_free(f->pending->pdata[i]);
        g_ptr_array_unref(f->pending);
        g_ptr_array_unref(f->guests);
        g_string_free(f->log, true);
        g_free(f->restored_payload);
        g_free(f);
}

static char *fake_version(void *hv) {
        return g_strdup("1.0");
}

static bool fake_attach(void *hv, DomaindGuest *guest, const char *status, DomaindState *state) {
        Fake *f = hv;
        int id, paused;

        f->attach_calls++;
        if (f->refuse_attach || !status || sscanf(status, "id=%d paused=%d", &id, &paused) != 2)
                return false;
        FakeGuest *g = fake_guest(f, guest);
        g->active = true;
        g->paused = paused;
        g->id = id;
        if (f->next_id <= id)
                f->next_id = id + 1;
        *state = paused ? DOMAIND_STATE_PAUSED : DOMAIND_STATE_RUNNING;
        return true;
}

static char *fake_status(void *hv, DomaindGuest *guest) {
        FakeGuest *g = fake_guest(hv, guest);
        return g->active ? g_strdup_printf("id=%d paused=%d", g->id, g->paused) : NULL;
}

static void fake_get_info(void *hv, DomaindGuest *guest, DomaindGuestInfo *info) {
        FakeGuest *g = fake_guest(hv, guest);
        info->id = g->active ? g->id : -1;
        info->cpu_time_ns = 0;
        info->memory_kib = 0;
}

static void fake_forget(void *hv, DomaindGuest *guest) {
        Fake *f = hv;
        f->forget_calls++;
        f->host->guest_set_data(guest, NULL); /* the record stays in f->guests until close */
}

static void fake_start(void *hv, DomaindGuest *g, uint32_t flags, DomaindCall *call) {
        fake_op(hv, OP_START, g, flags, -1, call);
}
static void fake_shutdown(void *hv, DomaindGuest *g, DomaindCall *call) {
        fake_op(hv, OP_SHUTDOWN, g, 0, -1, call);
}
static void fake_reboot(void *hv, DomaindGuest *g, DomaindCall *call) {
        fake_op(hv, OP_REBOOT, g, 0, -1, call);
}
static void fake_reset(void *hv, DomaindGuest *g, DomaindCall *call) {
        fake_op(hv, OP_RESET, g, 0, -1, call);
}
static void fake_destroy(void *hv, DomaindGuest *g, uint32_t flags, DomaindCall *call) {
        fake_op(hv, OP_DESTROY, g, flags, -1, call);
}
static void fake_suspend(void *hv, DomaindGuest *g, DomaindCall *call) {
        fake_op(hv, OP_SUSPEND, g, 0, -1, call);
}
static void fake_resume(void *hv, DomaindGuest *g, DomaindCall *call) {
        fake_op(hv, OP_RESUME, g, 0, -1, call);
}
static void fake_save(void *hv, DomaindGuest *g, int fd, DomaindCall *call) {
        fake_op(hv, OP_SAVE, g, 0, fd, call);
}
static void fake_restore(void *hv, DomaindGuest *g, int fd, uint32_t flags, DomaindCall *call) {
        fake_op(hv, OP_RESTORE, g, flags, fd, call);
}
static void fake_snapshot_create(void *hv, DomaindGuest *g, const char *name, bool with_memory, DomaindCall *call) {
        fake_op(hv, OP_SNAPSHOT_CREATE, g, with_memory, -1, call);
}

static const DomaindPlugin fake_plugin = {
        .abi_version = DOMAIND_PLUGIN_ABI_VERSION,
        .name = "fake",
        .uri = "fake:///",
        .open = fake_open,
        .close = fake_close,
        .version = fake_version,
        .attach = fake_attach,
        .status = fake_status,
        .get_info = fake_get_info,
        .forget = fake_forget,
        .start = fake_start,
        .shutdown = fake_shutdown,
        .reboot = fake_reboot,
        .reset = fake_reset,
        .destroy = fake_destroy,
        .suspend = fake_suspend,
        .resume = fake_resume,
        .save = fake_save,
        .restore = fake_restore,
        .snapshot_create = fake_snapshot_create,
};

/* A hypervisor around the fake table, opened the way the core opens a plugin. */
static Hypervisor *hypervisor_new_fake(Manager *m) {
        g_autofree char *why = NULL;
        Hypervisor *h = hypervisor_open(m, &fake_plugin, &why);
        assert_non_null(h);
        assert_null(why);
        g_ptr_array_add(m->hypervisors, h); /* manager_free() frees it */
        return h;
}

/* ==== fixture ============================================================== */

typedef struct Fixture {
        char *root;
        char *state_dir;
        char *runtime_dir;
        Manager *m;
        Hypervisor *h; /* the fake one */

        /* callers (see new_call()) */
        sd_bus *server, *client;
        sd_bus_message *incoming;
        GPtrArray *replies; /* Reply* */
} Fixture;

/* A D-Bus call given to an operation, and what came back to the caller. */
typedef struct Reply {
        sd_bus_message *call;
        bool done;
        char *error_name; /* NULL: success */
        char *error_message;
        char *path;       /* the "(o)" of a successful reply */
        Domain *watch;    /* if set, its state when the reply arrived */
        DomainState state_at_reply;
} Reply;

static void reply_free(Reply *r) {
        sd_bus_message_unref(r->call);
        g_free(r->error_name);
        g_free(r->error_message);
        g_free(r->path);
        g_free(r);
}

static void close_peer_bus(Fixture *fx) {
        for (guint i = 0; i < fx->replies->len; i++) {
                Reply *r = fx->replies->pdata[i];
                r->call = sd_bus_message_unref(r->call);
                r->watch = NULL;
        }
        fx->incoming = sd_bus_message_unref(fx->incoming);
        if (fx->server)
                sd_bus_detach_event(fx->server);
        if (fx->client)
                sd_bus_detach_event(fx->client);
        fx->server = sd_bus_flush_close_unref(fx->server);
        fx->client = sd_bus_flush_close_unref(fx->client);
}

static Fake *FAKE(Fixture *fx) {
        return fx->h->hv;
}

static void open_manager(Fixture *fx) {
        fx->m = manager_new();
        assert_int_equal(sd_event_new(&fx->m->event), 0);
        fx->m->state_dir = g_strdup(fx->state_dir);
        fx->m->runtime_dir = g_strdup(fx->runtime_dir);
        fx->h = hypervisor_new_fake(fx->m);
}

static void rm_rf(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                GDir *dir = g_dir_open(path, 0, NULL);
                const char *entry;
                while (dir && (entry = g_dir_read_name(dir))) {
                        g_autofree char *child = g_build_filename(path, entry, NULL);
                        rm_rf(child);
                }
                if (dir)
                        g_dir_close(dir);
                rmdir(path);
        } else
                unlink(path);
}

static int setup(void **state) {
        Fixture *fx = g_new0(Fixture, 1);

        fake_default_mode = *state ? *(FakeMode *) *state : FAKE_SYNC;
        fx->root = g_dir_make_tmp("domaind-test-state-XXXXXX", NULL);
        assert_non_null(fx->root);
        fx->state_dir = g_build_filename(fx->root, "state", NULL);
        fx->runtime_dir = g_build_filename(fx->root, "run", NULL);
        fx->replies = g_ptr_array_new_with_free_func((GDestroyNotify) reply_free);
        open_manager(fx);
        *state = fx;
        return 0;
}

static bool domains_idle(Fixture *fx);

/* Frees the manager after letting what still runs end (a test that failed
 * half-way may have left calls held). */
static void close_manager(Fixture *fx) {
        for (guint i = 0; i < fx->m->hypervisors->len; i++) {
                Hypervisor *h = fx->m->hypervisors->pdata[i];
                if (h->plugin != &fake_plugin)
                        continue;
                Fake *f = h->hv;
                for (guint j = 0; j < f->pending->len; j++) {
                        FakePending *p = f->pending->pdata[j];
                        if (!p->source)
                                sd_event_add_defer(f->host->event, &p->source, on_fake_source, p);
                }
        }
        int64_t deadline = g_get_monotonic_time() + WAIT_LIMIT_USEC;
        /* (a failed assertion may have left the loop unusable: then just free) */
        while (!domains_idle(fx) && g_get_monotonic_time() < deadline)
                if (sd_event_run(fx->m->event, 100 * USEC_PER_MSEC) < 0)
                        break;
        while (sd_event_run(fx->m->event, 0) > 0)
                ;
        close_peer_bus(fx);
        g_clear_pointer(&fx->m, manager_free);
        fx->h = NULL;
}

static int teardown(void **state) {
        Fixture *fx = *state;

        close_manager(fx);
        g_ptr_array_unref(fx->replies);
        rm_rf(fx->root);
        g_free(fx->root);
        g_free(fx->state_dir);
        g_free(fx->runtime_dir);
        g_free(fx);
        fake_default_mode = FAKE_SYNC;
        return 0;
}

/* domaind stops and starts again on the same folders; the caller sets the
 * new fake's knobs and then calls hypervisor_load_domains(). */
static void restart_manager(Fixture *fx) {
        close_manager(fx);
        open_manager(fx);
}

/* ==== the loop ============================================================= */

/* No job runs or waits on any domain and no fake call is scheduled. */
static bool domains_idle(Fixture *fx) {
        for (guint i = 0; i < fx->m->hypervisors->len; i++) {
                Hypervisor *h = fx->m->hypervisors->pdata[i];
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, h->domains);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Domain *d = value;
                        if (d->job || !g_queue_is_empty(&d->waiting))
                                return false;
                }
                if (h->plugin == &fake_plugin && ((Fake *) h->hv)->pending->len > 0)
                        return false;
        }
        return true;
}

/* Dispatches whatever is ready now (defer sources: the next queued job,
 * the freeing of removed domains, deferred fake calls). */
static void run_ready(Fixture *fx) {
        for (int i = 0; i < 1000; i++) {
                int r = sd_event_run(fx->m->event, 0);
                assert_true(r >= 0);
                if (r == 0)
                        return;
        }
        fail_msg("the loop never ran dry");
}

#define RUN_UNTIL(fx, cond)                                                                                            \
        do {                                                                                                           \
                int64_t deadline_ = g_get_monotonic_time() + WAIT_LIMIT_USEC;                                          \
                while (!(cond)) {                                                                                      \
                        if (g_get_monotonic_time() > deadline_)                                                        \
                                fail_msg("timed out waiting for: %s", #cond);                                          \
                        assert_true(sd_event_run((fx)->m->event, 50 * USEC_PER_MSEC) >= 0);                            \
                }                                                                                                      \
        } while (0)

/* Runs the loop until every job ended. No fake call may be held. */
static void settle(Fixture *fx) {
        for (guint i = 0; i < fx->m->hypervisors->len; i++) {
                Hypervisor *h = fx->m->hypervisors->pdata[i];
                if (h->plugin == &fake_plugin)
                        assert_int_equal(fake_held(h->hv), 0);
        }
        RUN_UNTIL(fx, domains_idle(fx));
        run_ready(fx);
        assert_true(domains_idle(fx));
}

/* Runs the loop for `usec`, whatever happens. */
static void spin(Fixture *fx, uint64_t usec) {
        int64_t end = g_get_monotonic_time() + (int64_t) usec;
        for (int64_t now; (now = g_get_monotonic_time()) < end;)
                assert_true(sd_event_run(fx->m->event, (uint64_t) (end - now)) >= 0);
}

/* ==== domains ============================================================== */

#define UUID_A "a0000000-0000-4000-8000-00000000000a"
#define UUID_B "b0000000-0000-4000-8000-00000000000b"
#define UUID_C "c0000000-0000-4000-8000-00000000000c"

static char *domain_xml(const char *name, const char *uuid, const char *extra) {
        return g_strdup_printf("<domain type='test'><name>%s</name><uuid>%s</uuid>"
                               "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                               "<os><type>hvm</type></os>%s</domain>",
                               name, uuid, extra ? extra : "");
}

static DomainDef *parse_def(const char *name, const char *uuid, const char *extra) {
        g_autofree char *xml = domain_xml(name, uuid, extra);
        g_autoptr(GError) error = NULL;
        DomainDef *def = domain_def_parse(xml, &error);
        if (!def)
                fail_msg("cannot parse %s: %s", xml, error->message);
        return def;
}

/* A defined (persistent: config written) or transient domain, shut off. */
static Domain *add_domain_on(Hypervisor *h, const char *name, const char *uuid, bool persistent, const char *extra) {
        Domain *d = domain_new(h, parse_def(name, uuid, extra), persistent);
        domain_publish(d);
        if (persistent)
                assert_int_equal(domain_save_config(d), 0);
        return d;
}

static Domain *add_domain(Fixture *fx, const char *name, const char *uuid, bool persistent, const char *extra) {
        return add_domain_on(fx->h, name, uuid, persistent, extra);
}

static Domain *find(Fixture *fx, const char *uuid) {
        return hypervisor_find_domain_by_uuid(fx->h, uuid);
}

/* An operation with a NULL message must be queued (1), not refused. */
static void queued(int r, sd_bus_error *e) {
        if (r != 1)
                fail_msg("operation refused (%d): %s: %s", r, e->name ? e->name : "?",
                         e->message ? e->message : "?");
        sd_bus_error_free(e);
}

/* ... and one with bad arguments refused at once with `name`. */
static void refused(int r, sd_bus_error *e, const char *name) {
        if (r >= 0)
                fail_msg("operation accepted (%d), expected %s", r, name);
        assert_true(sd_bus_error_is_set(e));
        assert_string_equal(e->name, name);
        sd_bus_error_free(e);
}

/* ---- callers ----
 * Manager.bus stays NULL (no signals), but an operation given a real method
 * call answers it. The test is the caller at the other end of a socket
 * pair (a peer-to-peer D-Bus connection) and reads the reply. */

static int on_server_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Fixture *fx = userdata;
        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        sd_bus_message_unref(fx->incoming);
        fx->incoming = sd_bus_message_ref(m);
        return 1;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Reply *r = userdata;
        const char *path;

        r->done = true;
        if (r->watch)
                r->state_at_reply = r->watch->state;
        if (sd_bus_message_is_method_error(m, NULL)) {
                r->error_name = g_strdup(sd_bus_message_get_error(m)->name);
                r->error_message = g_strdup(sd_bus_message_get_error(m)->message);
        } else if (g_strcmp0(sd_bus_message_get_signature(m, true), "o") == 0 &&
                   sd_bus_message_read(m, "o", &path) >= 0)
                r->path = g_strdup(path);
        return 0;
}

static sd_bus *peer_bus_new(Fixture *fx, int fd, bool server) {
        sd_bus *bus = NULL;
        sd_id128_t id;

        assert_int_equal(sd_bus_new(&bus), 0);
        assert_true(sd_bus_set_fd(bus, fd, fd) >= 0);
        if (server) {
                assert_true(sd_id128_randomize(&id) >= 0);
                assert_true(sd_bus_set_server(bus, 1, id) >= 0);
                assert_true(sd_bus_add_filter(bus, NULL, on_server_message, fx) >= 0);
        }
        assert_true(sd_bus_set_anonymous(bus, 1) >= 0);
        assert_true(sd_bus_start(bus) >= 0);
        assert_true(sd_bus_attach_event(bus, fx->m->event, SD_EVENT_PRIORITY_NORMAL) >= 0);
        return bus;
}

/* A method call for an operation to answer (Reply.call); the reply is
 * recorded in the Reply, which the fixture frees. */
static Reply *new_call(Fixture *fx, Domain *watch) {
        Reply *r = g_new0(Reply, 1);

        if (!fx->server) {
                int fds[2];
                assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
                fx->server = peer_bus_new(fx, fds[0], true);
                fx->client = peer_bus_new(fx, fds[1], false);
        }
        r->watch = watch;
        g_ptr_array_add(fx->replies, r);
        assert_true(sd_bus_call_method_async(fx->client, NULL, NULL, "/org/domaind1/test", "org.domaind1.Test", "Call",
                                             on_reply, r, "") >= 0);
        RUN_UNTIL(fx, fx->incoming);
        r->call = fx->incoming;
        fx->incoming = NULL;
        return r;
}

static void expect_success(Fixture *fx, Reply *r) {
        RUN_UNTIL(fx, r->done);
        if (r->error_name)
                fail_msg("the call failed: %s: %s", r->error_name, r->error_message);
}

/* The call failed with `name` and a message containing `part`. */
static void expect_error(Fixture *fx, Reply *r, const char *name, const char *part) {
        RUN_UNTIL(fx, r->done);
        if (!r->error_name)
                fail_msg("the call succeeded, expected %s", name);
        if (!g_str_equal(r->error_name, name) || (part && !strstr(r->error_message, part)))
                fail_msg("got %s: '%s', expected %s with '%s'", r->error_name, r->error_message, name,
                         part ? part : "");
}

static void assert_state(Domain *d, DomainState state, const char *reason) {
        if (d->state != state || !g_str_equal(d->reason, reason))
                fail_msg("domain '%s' is %s/%s, expected %s/%s", domain_name(d), domain_state_to_string(d->state),
                         d->reason, domain_state_to_string(state), reason);
}

static void start_domain(Fixture *fx, Domain *d) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "booted");
}

static char *status_path(Domain *d) {
        return g_strdup_printf("%s/%s.xml", d->hv->runtime_dir, d->uuid);
}

static char *status_path_of(Fixture *fx, const char *uuid) {
        return g_strdup_printf("%s/%s.xml", fx->h->runtime_dir, uuid);
}

static char *config_path_of(Fixture *fx, const char *uuid) {
        return g_strdup_printf("%s/domains/%s.xml", fx->h->state_dir, uuid);
}

static char *read_text(const char *path) {
        g_autoptr(GError) error = NULL;
        char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, &error))
                fail_msg("cannot read %s: %s", path, error->message);
        return text;
}

static void assert_file_exists(const char *path) {
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
                fail_msg("%s does not exist", path);
}

static void assert_no_file(const char *path) {
        struct stat st;
        if (lstat(path, &st) == 0)
                fail_msg("%s exists", path);
}

/* The runtime status exists and records `state`. */
static void assert_status_state(Domain *d, const char *state) {
        g_autofree char *path = status_path(d);
        g_autofree char *text = read_text(path);
        g_autofree char *attr = g_strdup_printf("state='%s'", state);
        if (!strstr(text, attr))
                fail_msg("%s lacks %s:\n%s", path, attr, text);
}

/* Makes a freed small string reused at once, so that a dangling pointer to
 * it reads garbage in a build without ASan. */
static void clobber_freed_strings(void) {
        char *p[8];
        for (size_t i = 0; i < G_N_ELEMENTS(p); i++)
                p[i] = g_strdup("XXXXXXXX");
        for (size_t i = 0; i < G_N_ELEMENTS(p); i++)
                g_free(p[i]);
}

/* ==== start / suspend / resume / destroy =================================== */

static void test_transitions(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *status = status_path(d);
        g_autofree char *config = config_path_of(fx, UUID_A);

        assert_state(d, STATE_SHUTOFF, "unknown");
        assert_int_equal(d->id, -1);
        assert_file_exists(config);
        assert_no_file(status);

        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "booted");
        assert_int_equal(f->calls[OP_START], 1);
        assert_int_equal(f->last_flags[OP_START], 0);
        assert_int_equal(d->id, 7);
        assert_non_null(d->live);
        assert_null(d->job);
        assert_status_state(d, "running");

        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_PAUSED, "user");
        assert_int_equal(f->calls[OP_SUSPEND], 1);
        assert_status_state(d, "paused");

        /* already paused: nothing to do, the plugin is not asked */
        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_PAUSED, "user");
        assert_int_equal(f->calls[OP_SUSPEND], 1);

        queued(domain_op_resume(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "unpaused");
        assert_int_equal(f->calls[OP_RESUME], 1);
        assert_status_state(d, "running");

        /* already running */
        queued(domain_op_resume(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "unpaused");
        assert_int_equal(f->calls[OP_RESUME], 1);

        queued(domain_op_reset(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "unpaused");
        assert_int_equal(f->calls[OP_RESET], 1);

        queued(domain_op_destroy(d, NULL, DESTROY_GRACEFUL, &e), &e);
        settle(fx);
        assert_state(d, STATE_SHUTOFF, "destroyed");
        assert_int_equal(f->calls[OP_DESTROY], 1);
        assert_int_equal(f->last_flags[OP_DESTROY], DOMAIND_DESTROY_GRACEFUL);
        assert_int_equal(d->id, -1);
        assert_null(d->live);
        assert_no_file(status);
        /* persistent: still defined */
        assert_ptr_equal(find(fx, UUID_A), d);
        assert_ptr_equal(hypervisor_find_domain_by_name(fx->h, "vm1"), d);
        assert_file_exists(config);
        assert_int_equal(f->forget_calls, 0);

        assert_string_equal(f->log->str, "start,suspend,resume,reset,destroy");
}

static void test_start_paused(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);

        queued(domain_op_start(d, NULL, START_PAUSED, &e), &e);
        settle(fx);
        assert_state(d, STATE_PAUSED, "user");
        assert_int_equal(f->last_flags[OP_START], DOMAIND_START_PAUSED);
        assert_status_state(d, "paused");

        /* Start on an active domain: refused, the plugin is not asked */
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_int_equal(f->calls[OP_START], 1);
        assert_state(d, STATE_PAUSED, "user");
}

/* Methods that need another state fail with InvalidState (see
 * test_error_replies); internal ones too: no plugin call, no state change. */
static void test_invalid_state(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        queued(domain_op_suspend(d, NULL, &e), &e);
        queued(domain_op_resume(d, NULL, &e), &e);
        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        queued(domain_op_shutdown(d, NULL, 0, &e), &e);
        queued(domain_op_reboot(d, NULL, 0, &e), &e);
        queued(domain_op_reset(d, NULL, 0, &e), &e);
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        domain_autodestroy(d);
        settle(fx);
        assert_state(d, STATE_SHUTOFF, "unknown");
        assert_string_equal(f->log->str, "");
        assert_false(d->has_managed_save);
        assert_no_file(image);

        /* paused: Shutdown and Reboot want running */
        start_domain(fx, d);
        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        g_string_truncate(f->log, 0);
        queued(domain_op_shutdown(d, NULL, 0, &e), &e);
        queued(domain_op_reboot(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(d, STATE_PAUSED, "user");

        /* a transient domain: no Reboot, no ManagedSave */
        Domain *t = add_domain(fx, "vm2", UUID_B, false, NULL);
        g_autofree char *t_image = domain_managed_save_path(t);
        start_domain(fx, t);
        g_string_truncate(f->log, 0);
        queued(domain_op_reboot(t, NULL, 0, &e), &e);
        queued(domain_op_managed_save(t, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(t, STATE_RUNNING, "booted");
        assert_no_file(t_image);
        assert_false(t->has_managed_save);
}

/* Bad flags are refused before any job. */
static void test_bad_flags(void **state) {
        Fixture *fx = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);

        refused(domain_op_start(d, NULL, 16, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_destroy(d, NULL, 2, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_reset(d, NULL, 1, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_shutdown(d, NULL, 2, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_managed_save(d, NULL, SAVE_RUNNING | SAVE_PAUSED, &e), &e,
                "org.domaind1.Error.InvalidArgument");
        refused(domain_op_managed_save(d, NULL, 8, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_undefine(d, NULL, UNDEFINE_NVRAM | UNDEFINE_KEEP_NVRAM, &e), &e,
                "org.domaind1.Error.InvalidArgument");
        refused(domain_op_undefine(d, NULL, UNDEFINE_WIPE_STORAGE, &e), &e, "org.domaind1.Error.InvalidArgument");
        assert_null(d->job);
        assert_true(g_queue_is_empty(&d->waiting));
        assert_state(d, STATE_SHUTOFF, "unknown");
        assert_string_equal(FAKE(fx)->log->str, "");
}

/* What callers hear: InvalidState naming the state, no-ops succeed, the
 * plugin's failures with its words; the reply comes after the change. */
static void test_error_replies(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        const char *invalid = "org.domaind1.Error.InvalidState";
        Reply *r;

#define CALL(op_call, expect, ...)                                                                                             do {                                                                                                                           r = new_call(fx, d);                                                                                                   Reply *r_ = r;                                                                                                         queued(op_call, &e);                                                                                                   settle(fx);                                                                                                            expect(fx, r_, ##__VA_ARGS__);                                                                                 } while (0)

        CALL(domain_op_suspend(d, r_->call, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_resume(d, r_->call, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_destroy(d, r_->call, 0, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_shutdown(d, r_->call, 0, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_reboot(d, r_->call, 0, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_reset(d, r_->call, 0, &e), expect_error, invalid, "shutoff");
        CALL(domain_op_managed_save(d, r_->call, 0, &e), expect_error, invalid, "shutoff");
        assert_string_equal(f->log->str, "");

        CALL(domain_op_start(d, r_->call, 0, &e), expect_success);
        assert_int_equal(r->state_at_reply, STATE_RUNNING);
        CALL(domain_op_start(d, r_->call, 0, &e), expect_error, invalid, "running");
        CALL(domain_op_resume(d, r_->call, &e), expect_success); /* no-op */
        CALL(domain_op_suspend(d, r_->call, &e), expect_success);
        assert_int_equal(r->state_at_reply, STATE_PAUSED);
        CALL(domain_op_suspend(d, r_->call, &e), expect_success); /* no-op */
        CALL(domain_op_shutdown(d, r_->call, 0, &e), expect_error, invalid, "paused");
        CALL(domain_op_resume(d, r_->call, &e), expect_success);
        assert_int_equal(r->state_at_reply, STATE_RUNNING);
        assert_string_equal(f->log->str, "start,suspend,resume");

        /* the plugin's own words */
        f->result[OP_SUSPEND] = DOMAIND_ERROR_FAILED;
        CALL(domain_op_suspend(d, r_->call, &e), expect_error, "org.domaind1.Error.HypervisorFailed",
             "fake suspend failed");
        f->result[OP_RESET] = DOMAIND_ERROR_NOT_SUPPORTED;
        CALL(domain_op_reset(d, r_->call, 0, &e), expect_error, "org.domaind1.Error.NotSupported", "fake reset");
        f->result[OP_SHUTDOWN] = DOMAIND_ERROR_INVALID_STATE;
        CALL(domain_op_shutdown(d, r_->call, 0, &e), expect_error, invalid, "fake shutdown");
        assert_state(d, STATE_RUNNING, "unpaused");
        CALL(domain_op_destroy(d, r_->call, 0, &e), expect_success);
        assert_int_equal(r->state_at_reply, STATE_SHUTOFF);

        /* transient: no Reboot, no ManagedSave, no Undefine */
        Domain *t = add_domain(fx, "tvm", UUID_B, false, NULL);
        d = t;
        CALL(domain_op_start(t, r_->call, 0, &e), expect_success);
        CALL(domain_op_reboot(t, r_->call, 0, &e), expect_error, invalid, "transient");
        CALL(domain_op_managed_save(t, r_->call, 0, &e), expect_error, invalid, "transient");
        CALL(domain_op_undefine(t, r_->call, 0, &e), expect_error, invalid, "transient");
        assert_state(t, STATE_RUNNING, "booted");

        /* CreateXML answers with the domain's path */
        Domain *c = domain_new(fx->h, parse_def("cvm", UUID_C, NULL), false);
        d = c;
        CALL(domain_op_start_created(c, r_->call, 0, parse_def("cvm", UUID_C, NULL), true), expect_success);
        assert_string_equal(r->path, c->path);
        assert_state(c, STATE_RUNNING, "booted");
#undef CALL
}

/* A caller's job waits JobWaitTimeoutSec, then fails with Busy; internal
 * work behind it stays queued. */
static void test_busy_timeout(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);

        fx->m->job_wait_usec = 50 * USEC_PER_MSEC;
        f->mode[OP_START] = FAKE_HOLD;
        domain_autostart(d);
        run_ready(fx);
        Reply *r = new_call(fx, NULL);
        queued(domain_op_suspend(d, r->call, &e), &e);
        queued(domain_op_resume(d, NULL, &e), &e);
        assert_int_equal(g_queue_get_length(&d->waiting), 2);
        assert_non_null(((Job *) g_queue_peek_head(&d->waiting))->wait_timer);
        assert_null(((Job *) g_queue_peek_tail(&d->waiting))->wait_timer);

        expect_error(fx, r, "org.domaind1.Error.Busy", "autostart");
        assert_int_equal(g_queue_get_length(&d->waiting), 1);
        assert_int_equal(f->calls[OP_SUSPEND], 0);

        fake_release(f, OP_START);
        settle(fx);
        assert_string_equal(f->log->str, "start"); /* resume: running already */
        assert_state(d, STATE_RUNNING, "booted");
}

/* The plugin's failure leaves the state as it was. */
static void test_plugin_failures(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *status = status_path(d);

        f->result[OP_START] = DOMAIND_ERROR_FAILED;
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_int_equal(f->calls[OP_START], 1);
        assert_state(d, STATE_SHUTOFF, "unknown");
        assert_null(d->live);
        assert_int_equal(d->id, -1);
        assert_no_file(status);

        f->result[OP_START] = DOMAIND_OK;
        start_domain(fx, d);

        f->result[OP_SUSPEND] = DOMAIND_ERROR_FAILED;
        f->result[OP_DESTROY] = DOMAIND_ERROR_FAILED;
        f->result[OP_SAVE] = DOMAIND_ERROR_FAILED;
        queued(domain_op_suspend(d, NULL, &e), &e);
        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "start,start,suspend,destroy,save");
        assert_state(d, STATE_RUNNING, "booted");
        assert_non_null(d->live);
        assert_false(d->has_managed_save);
        assert_status_state(d, "running");
        g_autofree char *image = domain_managed_save_path(d);
        assert_no_file(image);
        assert_int_equal(d->job_type, JOB_NONE);

        /* a transient domain that cannot start (CreateXML) goes away */
        f->result[OP_START] = DOMAIND_ERROR_FAILED;
        Domain *t = domain_new(fx->h, parse_def("vm2", UUID_B, NULL), false);
        domain_op_start_created(t, NULL, 0, parse_def("vm2", UUID_B, NULL), true);
        settle(fx);
        assert_null(find(fx, UUID_B));
        assert_null(hypervisor_find_domain_by_name(fx->h, "vm2"));
}

/* ==== transient domains ==================================================== */

static void test_transient_destroy(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = add_domain(fx, "tvm", UUID_B, false, NULL);
        g_autofree char *status = status_path(d);
        g_autofree char *config = config_path_of(fx, UUID_B);

        domain_autostart(d); /* the internal start job */
        settle(fx);
        assert_state(d, STATE_RUNNING, "booted");
        assert_file_exists(status);
        assert_no_file(config);

        domain_autodestroy(d); /* the internal destroy job */
        settle(fx);
        assert_int_equal(f->calls[OP_DESTROY], 1);
        assert_null(find(fx, UUID_B));
        assert_null(hypervisor_find_domain_by_name(fx->h, "tvm"));
        assert_int_equal(f->forget_calls, 1);
        assert_no_file(status);
        assert_int_equal(g_hash_table_size(fx->h->domains), 0);
}

static void test_transient_gone(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = add_domain(fx, "tvm", UUID_B, false, NULL);
        g_autofree char *status = status_path(d);

        start_domain(fx, d);
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_GONE, "crashed");
        assert_null(find(fx, UUID_B));
        settle(fx);
        assert_null(find(fx, UUID_B));
        assert_null(hypervisor_find_domain_by_name(fx->h, "tvm"));
        assert_int_equal(f->calls[OP_DESTROY], 0);
        assert_int_equal(f->forget_calls, 1);
        assert_no_file(status);
}

/* The guest goes while a job holds the domain: the domain leaves the
 * registry at once and is freed when the job ends (ASan checks the rest). */
static void test_transient_gone_during_job(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "tvm", UUID_B, false, NULL);

        start_domain(fx, d);
        f->mode[OP_SUSPEND] = FAKE_HOLD;
        Reply *running = new_call(fx, NULL);
        Reply *waiting = new_call(fx, NULL);
        queued(domain_op_suspend(d, running->call, &e), &e);
        queued(domain_op_resume(d, waiting->call, &e), &e); /* waits, then is dropped */
        run_ready(fx);
        assert_non_null(d->job);
        assert_int_equal(g_queue_get_length(&d->waiting), 1);

        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_GONE, "destroyed");
        assert_null(find(fx, UUID_B));
        assert_true(d->gone);
        assert_int_equal(g_queue_get_length(&d->waiting), 0);
        expect_error(fx, waiting, "org.domaind1.Error.NoSuchDomain", "tvm");
        assert_false(running->done);
        fake_release(f, OP_SUSPEND);
        settle(fx);
        RUN_UNTIL(fx, running->done); /* answered, whatever it says */
        assert_string_equal(f->log->str, "start,suspend");
}

static void test_persistent_gone(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *status = status_path(d);

        start_domain(fx, d);
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_GONE, NULL);
        settle(fx);
        assert_ptr_equal(find(fx, UUID_A), d);
        assert_state(d, STATE_SHUTOFF, "crashed");
        assert_int_equal(d->id, -1);
        assert_null(d->live);
        assert_no_file(status);

        start_domain(fx, d);
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_GONE, "failed");
        assert_state(d, STATE_SHUTOFF, "failed");

        /* events for an inactive domain are ignored */
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_PAUSED, "ioerror");
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_SHUTDOWN, NULL);
        f->host->guest_event(domain_to_guest(d), DOMAIND_GUEST_CRASHED, NULL);
        settle(fx);
        assert_state(d, STATE_SHUTOFF, "failed");
        assert_string_equal(f->log->str, "start,start");
}

static void test_undefine_running(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *config = config_path_of(fx, UUID_A);

        start_domain(fx, d);
        queued(domain_op_undefine(d, NULL, 0, &e), &e);
        settle(fx);
        assert_ptr_equal(find(fx, UUID_A), d);
        assert_false(d->persistent);
        assert_no_file(config);
        assert_state(d, STATE_RUNNING, "booted");
        /* the runtime status says so too: a restarted domaind keeps it transient */
        g_autofree char *spath = status_path(d);
        g_autofree char *status = read_text(spath);
        assert_non_null(strstr(status, "persistent='no'"));

        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        settle(fx);
        assert_null(find(fx, UUID_A));
        assert_int_equal(f->forget_calls, 1);
}

/* ==== guest events and on_poweroff / on_reboot / on_crash ================== */

static Domain *running_domain(Fixture *fx, const char *name, const char *uuid, bool persistent, const char *extra) {
        Domain *d = add_domain(fx, name, uuid, persistent, extra);
        start_domain(fx, d);
        g_string_truncate(FAKE(fx)->log, 0);
        return d;
}

static void guest_event(Fixture *fx, Domain *d, DomaindGuestEvent event, const char *detail) {
        FAKE(fx)->host->guest_event(domain_to_guest(d), event, detail);
}

static void test_shutdown_destroy(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_poweroff>destroy</on_poweroff>");
        g_autofree char *status = status_path(d);
        sd_bus_error e = SD_BUS_ERROR_NULL;

        /* Shutdown only asks the guest: nothing changes until it powers off */
        queued(domain_op_shutdown(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "shutdown");
        assert_state(d, STATE_RUNNING, "booted");

        g_string_truncate(f->log, 0);
        f->mode[OP_DESTROY] = FAKE_HOLD;
        guest_event(fx, d, DOMAIND_GUEST_SHUTDOWN, NULL);
        /* the guest is held: state shutdown until the core decided */
        assert_state(d, STATE_SHUTDOWN, "user");
        assert_status_state(d, "shutdown");
        run_ready(fx);
        assert_non_null(d->job);
        assert_string_equal(f->log->str, "destroy");

        fake_release(f, OP_DESTROY);
        settle(fx);
        assert_int_equal(d->state, STATE_SHUTOFF);
        assert_int_equal(d->id, -1);
        assert_null(d->live);
        assert_no_file(status);
        assert_string_equal(f->log->str, "destroy");
        assert_ptr_equal(find(fx, UUID_A), d);

        /* the reason outlives the job (it once pointed at the freed job->path) */
        clobber_freed_strings();
        assert_state(d, STATE_SHUTOFF, "shutdown");
}

static void test_shutdown_destroy_transient(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "tvm", UUID_B, false, NULL); /* on_poweroff defaults to destroy */
        g_autofree char *status = status_path(d);

        guest_event(fx, d, DOMAIND_GUEST_SHUTDOWN, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy");
        assert_null(find(fx, UUID_B));
        assert_no_file(status);
        assert_int_equal(f->forget_calls, 1);
}

static void test_shutdown_restart(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_poweroff>restart</on_poweroff>");
        Domain *t = running_domain(fx, "tvm", UUID_B, false, "<on_poweroff>restart</on_poweroff>");

        assert_int_equal(d->id, 7);
        guest_event(fx, d, DOMAIND_GUEST_SHUTDOWN, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy,start");
        assert_state(d, STATE_RUNNING, "booted");
        assert_int_equal(d->id, 9); /* a new guest */
        assert_non_null(d->live);
        assert_status_state(d, "running");

        /* a transient domain stays across its restart */
        g_string_truncate(f->log, 0);
        guest_event(fx, t, DOMAIND_GUEST_SHUTDOWN, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy,start");
        assert_ptr_equal(find(fx, UUID_B), t);
        assert_false(t->persistent);
        assert_state(t, STATE_RUNNING, "booted");
        assert_int_equal(f->forget_calls, 0);
}

static void test_shutdown_preserve(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_poweroff>preserve</on_poweroff>");

        guest_event(fx, d, DOMAIND_GUEST_SHUTDOWN, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(d, STATE_SHUTDOWN, "user");
        assert_true(domain_is_active(d));
        assert_status_state(d, "shutdown");

        /* Suspend wants running; Destroy takes the held guest down */
        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "");
        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "destroy");
        assert_state(d, STATE_SHUTOFF, "destroyed");
}

static void test_crash_destroy(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_crash>coredump-destroy</on_crash>");
        Domain *t = running_domain(fx, "tvm", UUID_B, false, "<on_crash>destroy</on_crash>");

        f->mode[OP_DESTROY] = FAKE_HOLD;
        guest_event(fx, d, DOMAIND_GUEST_CRASHED, NULL);
        assert_state(d, STATE_CRASHED, "panicked");
        assert_status_state(d, "crashed");
        run_ready(fx);
        fake_release(f, OP_DESTROY);
        settle(fx);
        assert_string_equal(f->log->str, "destroy");
        assert_int_equal(d->state, STATE_SHUTOFF);
        assert_null(d->live);

        f->mode[OP_DESTROY] = FAKE_SYNC;
        guest_event(fx, t, DOMAIND_GUEST_CRASHED, NULL);
        settle(fx);
        assert_null(find(fx, UUID_B));

        clobber_freed_strings();
        assert_state(d, STATE_SHUTOFF, "crashed");
}

static void test_crash_preserve(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_crash>preserve</on_crash>");

        guest_event(fx, d, DOMAIND_GUEST_CRASHED, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(d, STATE_CRASHED, "panicked");
        assert_status_state(d, "crashed");
        assert_int_equal(d->id, 7);
}

static void test_crash_restart(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_crash>restart</on_crash>");

        guest_event(fx, d, DOMAIND_GUEST_CRASHED, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy,start");
        assert_state(d, STATE_RUNNING, "booted");
        assert_int_equal(d->id, 8);
}

static void test_reboot_restart(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL); /* on_reboot defaults to restart */
        sd_bus_error e = SD_BUS_ERROR_NULL;

        /* Reboot only asks the guest; its reboot then applies on_reboot */
        queued(domain_op_reboot(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "reboot");
        assert_state(d, STATE_RUNNING, "booted");
        guest_event(fx, d, DOMAIND_GUEST_REBOOT, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "reboot,reset");
        assert_state(d, STATE_RUNNING, "booted");
        assert_int_equal(d->id, 7);

        /* a paused guest cannot have asked: nothing happens */
        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        g_string_truncate(f->log, 0);
        guest_event(fx, d, DOMAIND_GUEST_REBOOT, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(d, STATE_PAUSED, "user");
}

static void test_reboot_destroy(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_reboot>destroy</on_reboot>");
        Domain *p = running_domain(fx, "vm3", UUID_C, true, "<on_reboot>preserve</on_reboot>");

        guest_event(fx, p, DOMAIND_GUEST_REBOOT, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "");
        assert_state(p, STATE_RUNNING, "booted");

        guest_event(fx, d, DOMAIND_GUEST_REBOOT, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy");
        assert_int_equal(d->state, STATE_SHUTOFF);
        assert_int_equal(f->calls[OP_RESET], 0);

        clobber_freed_strings();
        assert_state(d, STATE_SHUTOFF, "shutdown");
}

/* on_poweroff=restart and the new start fails. */
static void test_restart_fails(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *d = running_domain(fx, "vm1", UUID_A, true, "<on_poweroff>restart</on_poweroff>");
        Domain *t = running_domain(fx, "tvm", UUID_B, false, "<on_poweroff>restart</on_poweroff>");
        char *t_status = status_path(t);

        f->result[OP_START] = DOMAIND_ERROR_FAILED;
        guest_event(fx, d, DOMAIND_GUEST_SHUTDOWN, NULL);
        guest_event(fx, t, DOMAIND_GUEST_SHUTDOWN, NULL);
        settle(fx);
        assert_string_equal(f->log->str, "destroy,start,destroy,start");
        assert_state(d, STATE_SHUTOFF, "shutdown");
        assert_null(d->live);
        assert_int_equal(d->id, -1);
        assert_no_file(t_status);
        g_free(t_status); /* skip() below leaves without running cleanups */

        assert_null(find(fx, UUID_B));
}

/* The guest goes away on its own while the on_poweroff=restart action is
 * destroying it: a removed transient domain must not be started again (the
 * new guest would belong to no domain). */
static void test_restart_after_gone(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        Domain *t = running_domain(fx, "tvm", UUID_B, false, "<on_poweroff>restart</on_poweroff>");

        f->mode[OP_DESTROY] = FAKE_HOLD;
        guest_event(fx, t, DOMAIND_GUEST_SHUTDOWN, NULL);
        run_ready(fx);
        assert_string_equal(f->log->str, "destroy");
        guest_event(fx, t, DOMAIND_GUEST_GONE, "shutdown");
        assert_null(find(fx, UUID_B));
        fake_release(f, OP_DESTROY);
        settle(fx);
        assert_null(find(fx, UUID_B));

        assert_string_equal(f->log->str, "destroy");
}

static void test_guest_paused(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);

        guest_event(fx, d, DOMAIND_GUEST_PAUSED, "ioerror");
        assert_state(d, STATE_PAUSED, "ioerror");
        assert_status_state(d, "paused");
        guest_event(fx, d, DOMAIND_GUEST_RESUMED, NULL);
        assert_state(d, STATE_RUNNING, "unpaused");
        guest_event(fx, d, DOMAIND_GUEST_PAUSED, NULL);
        assert_state(d, STATE_PAUSED, "unknown");
        guest_event(fx, d, DOMAIND_GUEST_PAUSED, "watchdog");
        assert_state(d, STATE_PAUSED, "watchdog");

        /* Suspend of a paused guest is a no-op whatever paused it; Resume works */
        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_PAUSED, "watchdog");
        queued(domain_op_resume(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "unpaused");
        assert_string_equal(f->log->str, "resume");
}

/* ==== job serialization ==================================================== */

static GString *custom_log;
static Job *custom_held;

static void custom_begin(Job *job) {
        assert_ptr_equal(job->domain->job, job);
        g_string_append(custom_log, job->name);
        job_finish(job, DOMAIND_OK, NULL);
}

static void custom_hold_begin(Job *job) {
        assert_ptr_equal(job->domain->job, job);
        g_string_append(custom_log, job->name);
        custom_held = job;
}

static void test_jobs_serialized(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);

        f->mode[OP_START] = FAKE_DELAY;
        f->delay_usec = 100 * USEC_PER_MSEC;
        domain_autostart(d);
        /* internal work never starts inside its caller (a plugin callback): from the loop */
        assert_null(d->job);
        spin(fx, 5 * USEC_PER_MSEC);
        Job *first = d->job;
        assert_non_null(first);
        queued(domain_op_suspend(d, NULL, &e), &e);
        queued(domain_op_resume(d, NULL, &e), &e);
        domain_autodestroy(d);
        assert_ptr_equal(d->job, first);
        assert_int_equal(g_queue_get_length(&d->waiting), 3);
        assert_string_equal(f->log->str, "start");

        spin(fx, 20 * USEC_PER_MSEC);
        assert_ptr_equal(d->job, first);
        assert_int_equal(g_queue_get_length(&d->waiting), 3);
        assert_string_equal(f->log->str, "start");

        settle(fx);
        assert_string_equal(f->log->str, "start,suspend,resume,destroy");
        assert_state(d, STATE_SHUTOFF, "destroyed");
        assert_null(d->job);
        assert_true(g_queue_is_empty(&d->waiting));
}

static void test_jobs_fifo(void **state) {
        Fixture *fx = *state;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);
        custom_log = g_string_new(NULL);
        custom_held = NULL;

        job_submit(job_new(d, "A", NULL, custom_hold_begin));
        assert_null(custom_held);
        spin(fx, 5 * USEC_PER_MSEC);
        assert_non_null(custom_held);
        assert_ptr_equal(d->job, custom_held);
        job_submit(job_new(d, "B", NULL, custom_begin));
        job_submit(job_new(d, "C", NULL, custom_hold_begin));
        job_submit(job_new(d, "D", NULL, custom_begin));
        assert_int_equal(g_queue_get_length(&d->waiting), 3);
        spin(fx, 20 * USEC_PER_MSEC);
        assert_string_equal(custom_log->str, "A");

        Job *a = custom_held;
        custom_held = NULL;
        job_finish(a, DOMAIND_OK, NULL);
        assert_null(d->job); /* the next one starts from the loop, not from inside job_finish() */
        assert_string_equal(custom_log->str, "A");
        /* the domain is free for a moment, but E must not overtake B, C, D */
        job_submit(job_new(d, "E", NULL, custom_begin));
        assert_string_equal(custom_log->str, "A");
        assert_int_equal(g_queue_get_length(&d->waiting), 4);
        run_ready(fx);
        assert_string_equal(custom_log->str, "ABC");
        assert_non_null(custom_held);
        assert_ptr_equal(d->job, custom_held);
        assert_int_equal(g_queue_get_length(&d->waiting), 2);

        /* a failing job lets the next one run as well */
        job_finish(custom_held, DOMAIND_ERROR_FAILED, "C failed");
        custom_held = NULL;
        settle(fx);
        assert_string_equal(custom_log->str, "ABCDE");
        assert_null(d->job);
        g_string_free(custom_log, true);
        custom_log = NULL;
}

static void test_internal_job_never_times_out(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = add_domain(fx, "vm1", UUID_A, true, NULL);

        fx->m->job_wait_usec = 1000; /* 1 ms */
        f->mode[OP_START] = FAKE_HOLD;
        domain_autostart(d);
        run_ready(fx);
        queued(domain_op_suspend(d, NULL, &e), &e);
        Job *waiting = g_queue_peek_head(&d->waiting);
        assert_non_null(waiting);
        assert_null(waiting->wait_timer);

        spin(fx, 100 * USEC_PER_MSEC);
        assert_int_equal(g_queue_get_length(&d->waiting), 1);
        assert_ptr_equal(g_queue_peek_head(&d->waiting), waiting);
        assert_int_equal(f->calls[OP_SUSPEND], 0);

        fake_release(f, OP_START);
        settle(fx);
        assert_string_equal(f->log->str, "start,suspend");
        assert_state(d, STATE_PAUSED, "user");

        /* the on_crash action queued behind a slow job waits as long as needed */
        queued(domain_op_resume(d, NULL, &e), &e);
        settle(fx);
        f->mode[OP_RESET] = FAKE_HOLD;
        queued(domain_op_reset(d, NULL, 0, &e), &e);
        run_ready(fx);
        guest_event(fx, d, DOMAIND_GUEST_CRASHED, NULL);
        assert_state(d, STATE_CRASHED, "panicked");
        assert_int_equal(g_queue_get_length(&d->waiting), 1);
        assert_null(((Job *) g_queue_peek_head(&d->waiting))->wait_timer);
        spin(fx, 50 * USEC_PER_MSEC);
        assert_int_equal(g_queue_get_length(&d->waiting), 1);
        assert_int_equal(f->calls[OP_DESTROY], 0);
        fake_release(f, OP_RESET);
        settle(fx);
        assert_string_equal(f->log->str, "start,suspend,resume,reset,destroy");
        assert_int_equal(d->state, STATE_SHUTOFF);
}

/* ==== managed save, save, restore ========================================== */

/* A save image: our header (checked) and then the fake's payload. */
static void check_image(const char *path, const char *uuid, bool paused) {
        g_autofree char *text = read_text(path);
        assert_memory_equal(text, "DomaindSave1\n", 13);

        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        g_autofree char *xml = NULL;
        g_autoptr(GError) error = NULL;
        bool image_paused = !paused;
        if (!save_image_read_header(fd, &xml, &image_paused, &error))
                fail_msg("%s: %s", path, error->message);
        g_autofree char *uuid_element = g_strdup_printf("<uuid>%s</uuid>", uuid);
        assert_non_null(strstr(xml, uuid_element));
        assert_int_equal(image_paused, paused);
        char payload[64] = "";
        assert_int_equal(read(fd, payload, sizeof(payload) - 1), (ssize_t) strlen(FAKE_PAYLOAD));
        assert_string_equal(payload, FAKE_PAYLOAD);
        close(fd);
}

static gint compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The folder holds exactly `expected` (NULL-terminated, sorted): no temp files. */
static void assert_folder(const char *dir, const char *const *expected) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *entry;

        assert_non_null(d);
        while ((entry = g_dir_read_name(d)))
                g_ptr_array_add(names, g_strdup(entry));
        g_ptr_array_sort(names, compare_names);
        g_ptr_array_add(names, NULL);
        g_autofree char *got = g_strjoinv(",", (char **) names->pdata);
        g_autofree char *want = g_strjoinv(",", (char **) expected);
        assert_string_equal(got, want);
}

static void test_managed_save_restore(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);
        g_autofree char *expected_image = g_strdup_printf("%s/fake/save/%s.save", fx->state_dir, UUID_A);
        g_autofree char *save_dir = g_strdup_printf("%s/fake/save", fx->state_dir);
        g_autofree char *status = status_path(d);

        assert_string_equal(image, expected_image);
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save");
        assert_state(d, STATE_SAVED, "saved");
        assert_false(domain_is_active(d));
        assert_true(d->has_managed_save);
        assert_int_equal(d->id, -1);
        assert_null(d->live);
        assert_int_equal(d->job_type, JOB_NONE);
        assert_no_file(status);
        check_image(image, UUID_A, false);
        assert_folder(save_dir, (const char *const[]){ UUID_A ".save", NULL });

        /* Start restores it and consumes the image */
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save,restore");
        assert_int_equal(f->calls[OP_START], 1);
        assert_int_equal(f->last_flags[OP_RESTORE], 0);
        assert_string_equal(f->restored_payload, FAKE_PAYLOAD);
        assert_state(d, STATE_RUNNING, "restored");
        assert_false(d->has_managed_save);
        assert_no_file(image);
        assert_int_equal(d->id, 8);
        assert_non_null(d->live);
        assert_status_state(d, "running");
        assert_int_equal(d->job_type, JOB_NONE);
}

static void test_managed_save_force_boot(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        assert_file_exists(image);

        queued(domain_op_start(d, NULL, START_FORCE_BOOT, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save,start");
        assert_int_equal(f->calls[OP_RESTORE], 0);
        assert_state(d, STATE_RUNNING, "booted");
        assert_false(d->has_managed_save);
        assert_no_file(image);
}

static void test_managed_save_paused(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        /* saved while paused: restored paused */
        queued(domain_op_suspend(d, NULL, &e), &e);
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_SAVED, "saved");
        check_image(image, UUID_A, true);
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_int_equal(f->last_flags[OP_RESTORE], DOMAIND_START_PAUSED);
        assert_state(d, STATE_PAUSED, "user");
        assert_status_state(d, "paused");

        /* SAVE_RUNNING overrides */
        queued(domain_op_managed_save(d, NULL, SAVE_RUNNING, &e), &e);
        settle(fx);
        check_image(image, UUID_A, false);
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_int_equal(f->last_flags[OP_RESTORE], 0);
        assert_state(d, STATE_RUNNING, "restored");

        /* Start PAUSED restores paused whatever the image says */
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        queued(domain_op_start(d, NULL, START_PAUSED, &e), &e);
        settle(fx);
        assert_int_equal(f->last_flags[OP_RESTORE], DOMAIND_START_PAUSED);
        assert_state(d, STATE_PAUSED, "user");
        assert_string_equal(f->log->str, "suspend,save,restore,save,restore,save,restore");
}

static void test_managed_save_remove(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        queued(domain_op_managed_save_remove(d, NULL, 0, &e), &e);
        settle(fx);
        assert_no_file(image);
        assert_false(d->has_managed_save);
        assert_int_equal(d->state, STATE_SHUTOFF);
        /* no image: no-op */
        queued(domain_op_managed_save_remove(d, NULL, 0, &e), &e);
        settle(fx);
        start_domain(fx, d);
        assert_string_equal(f->log->str, "save,start");

        /* an undefine needs MANAGED_SAVE to drop an image */
        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        queued(domain_op_undefine(d, NULL, 0, &e), &e);
        settle(fx);
        assert_ptr_equal(find(fx, UUID_A), d);
        assert_file_exists(image);
        queued(domain_op_undefine(d, NULL, UNDEFINE_MANAGED_SAVE, &e), &e);
        settle(fx);
        assert_null(find(fx, UUID_A));
        assert_no_file(image);
}

/* A restore that fails keeps the managed save image and the saved state. */
static void test_managed_restore_fails(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        f->result[OP_RESTORE] = DOMAIND_ERROR_FAILED;
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save,restore");
        assert_state(d, STATE_SAVED, "saved");
        assert_true(d->has_managed_save);
        assert_null(d->live);
        assert_file_exists(image);

        /* a damaged image fails before the plugin is asked */
        assert_true(g_file_set_contents(image, "garbage", -1, NULL));
        f->result[OP_RESTORE] = DOMAIND_OK;
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save,restore");
        assert_state(d, STATE_SAVED, "saved");
        assert_null(d->live);
}

static void test_save_to_file(void **state) {
        Fixture *fx = *state;
        Fake *f = FAKE(fx);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *d = running_domain(fx, "vm1", UUID_A, true, NULL);
        Domain *t = running_domain(fx, "tvm", UUID_B, false, NULL);
        g_autofree char *dir = g_build_filename(fx->root, "images", NULL);
        g_autofree char *path = g_build_filename(dir, "vm1.img", NULL);
        g_autofree char *t_path = g_build_filename(dir, "tvm.img", NULL);
        g_autofree char *missing = g_build_filename(fx->root, "nowhere", "x.img", NULL);
        g_autofree char *other_uuid = domain_xml("vm1", UUID_C, NULL);
        assert_int_equal(g_mkdir(dir, 0700), 0);

        refused(domain_op_save(d, NULL, "relative.img", "", 0, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_save(d, NULL, missing, "", 0, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_save(d, NULL, dir, "", 0, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_save(d, NULL, path, other_uuid, 0, &e), &e, "org.domaind1.Error.InvalidArgument");
        refused(domain_op_save(d, NULL, path, "<domain", 0, &e), &e, "org.domaind1.Error.InvalidXML");
        assert_string_equal(f->log->str, "");

        queued(domain_op_save(d, NULL, path, "", 0, &e), &e);
        queued(domain_op_save(t, NULL, t_path, "", SAVE_PAUSED, &e), &e);
        settle(fx);
        assert_string_equal(f->log->str, "save,save");
        assert_state(d, STATE_SHUTOFF, "saved");
        assert_false(d->has_managed_save);
        assert_true(d->persistent);
        assert_null(find(fx, UUID_B)); /* a transient domain is gone once saved */
        check_image(path, UUID_A, false);
        check_image(t_path, UUID_B, true);
        assert_folder(dir, (const char *const[]){ "tvm.img", "vm1.img", NULL });

        /* Restore: the existing inactive domain, and a new transient one */
        g_string_truncate(f->log, 0);
        queued(hypervisor_op_restore(fx->h, NULL, path, "", 0, &e), &e);
        queued(hypervisor_op_restore(fx->h, NULL, t_path, "", 0, &e), &e);
        Domain *t2 = find(fx, UUID_B);
        assert_non_null(t2);
        assert_false(t2->persistent);
        settle(fx);
        assert_string_equal(f->log->str, "restore,restore");
        assert_state(d, STATE_RUNNING, "restored");
        assert_ptr_equal(find(fx, UUID_B), t2);
        assert_state(t2, STATE_PAUSED, "user");
        assert_file_exists(path); /* Restore leaves the file */

        /* the domain is active now */
        refused(hypervisor_op_restore(fx->h, NULL, path, "", 0, &e), &e, "org.domaind1.Error.InvalidState");
        refused(hypervisor_op_restore(fx->h, NULL, path, "", SAVE_RUNNING | SAVE_PAUSED, &e), &e,
                "org.domaind1.Error.InvalidArgument");
}

/* ==== save image header ==================================================== */

static int memfd(void) {
        int fd = memfd_create("image", MFD_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static void test_save_image_round_trip(void **state) {
        static const char xml[] = "<domain type='test'><name>x</name></domain>";
        for (int paused = 0; paused <= 1; paused++) {
                int fd = memfd();
                assert_int_equal(save_image_write_header(fd, xml, paused), 0);
                assert_int_equal(write(fd, "PAYLOAD", 7), 7);

                /* the layout of save-image.h, little endian */
                unsigned char raw[29];
                assert_int_equal(pread(fd, raw, sizeof(raw), 0), (ssize_t) sizeof(raw));
                assert_memory_equal(raw, SAVE_IMAGE_MAGIC, 13);
                assert_memory_equal(raw + 13, "\1\0\0\0", 4);
                assert_int_equal(raw[17], paused);
                assert_memory_equal(raw + 18, "\0\0\0", 3);
                assert_int_equal(raw[21] | raw[22] << 8 | raw[23] << 16 | raw[24] << 24, strlen(xml));
                assert_memory_equal(raw + 25, "\0\0\0\0", 4);

                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
                g_autofree char *got = NULL;
                g_autoptr(GError) error = NULL;
                bool got_paused = !paused;
                assert_true(save_image_read_header(fd, &got, &got_paused, &error));
                assert_null(error);
                assert_string_equal(got, xml);
                assert_int_equal(got_paused, paused);
                char payload[16] = "";
                assert_int_equal(read(fd, payload, sizeof(payload) - 1), 7); /* fd stands at the payload */
                assert_string_equal(payload, "PAYLOAD");
                close(fd);
        }
}

static void expect_bad_header(const void *data, size_t size, const char *message_part) {
        int fd = memfd();
        if (size > 0)
                assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        char *xml = NULL;
        bool paused = false;
        g_autoptr(GError) error = NULL;
        if (save_image_read_header(fd, &xml, &paused, &error))
                fail_msg("accepted a bad header (%zu bytes), XML '%s'", size, xml);
        assert_null(xml);
        assert_non_null(error);
        if (!strstr(error->message, message_part))
                fail_msg("'%s' lacks '%s' (%zu bytes)", error->message, message_part, size);
        close(fd);
}

static void put_le32(unsigned char *p, uint32_t v) {
        p[0] = v & 0xff, p[1] = (v >> 8) & 0xff, p[2] = (v >> 16) & 0xff, p[3] = v >> 24;
}

static void test_save_image_rejects(void **state) {
        static const char xml[] = "<domain type='test'><name>x</name></domain>";
        unsigned char good[29 + sizeof(xml) - 1];
        memcpy(good, SAVE_IMAGE_MAGIC, 13);
        put_le32(good + 13, 1);
        put_le32(good + 17, 0);
        put_le32(good + 21, sizeof(xml) - 1);
        put_le32(good + 25, 0);
        memcpy(good + 29, xml, sizeof(xml) - 1);

        /* every truncation */
        for (size_t n = 0; n < sizeof(good); n++)
                expect_bad_header(good, n, n < 13 ? "magic" : "truncated");

        unsigned char bad[sizeof(good)];
        memcpy(bad, good, sizeof(good));
        bad[0] = 'd';
        expect_bad_header(bad, sizeof(bad), "magic");
        memcpy(bad, good, sizeof(good));
        bad[12] = '\r';
        expect_bad_header(bad, sizeof(bad), "magic");
        expect_bad_header("\x7f" "ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0\0\0\0\0\0\0\0\0", 32, "magic");

        memcpy(bad, good, sizeof(good));
        put_le32(bad + 13, 2);
        expect_bad_header(bad, sizeof(bad), "version");
        put_le32(bad + 13, 0x01000000); /* big-endian 1 */
        expect_bad_header(bad, sizeof(bad), "version");

        memcpy(bad, good, sizeof(good));
        put_le32(bad + 21, 0);
        expect_bad_header(bad, sizeof(bad), "length");
        put_le32(bad + 21, SAVE_IMAGE_MAX_XML + 1);
        expect_bad_header(bad, sizeof(bad), "length");
        put_le32(bad + 21, UINT32_MAX);
        expect_bad_header(bad, sizeof(bad), "length");
        put_le32(bad + 21, sizeof(xml)); /* one byte more than there is */
        expect_bad_header(bad, sizeof(bad), "truncated");

        /* the largest length is accepted when the XML is there */
        int fd = memfd();
        g_autofree char *big = g_malloc(SAVE_IMAGE_MAX_XML + 1);
        memset(big, 'x', SAVE_IMAGE_MAX_XML);
        big[SAVE_IMAGE_MAX_XML] = 0;
        assert_int_equal(save_image_write_header(fd, big, false), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        g_autofree char *got = NULL;
        bool paused = true;
        assert_true(save_image_read_header(fd, &got, &paused, NULL));
        assert_int_equal(strlen(got), SAVE_IMAGE_MAX_XML);
        assert_false(paused);
        close(fd);
}

/* ==== ListDomains flags ==================================================== */

typedef struct ListCase {
        const char *name;
        const char *uuid;
        DomainState state;
        bool persistent, autostart, managed_save, snapshot;
} ListCase;

static const ListCase list_cases[] = {
        { "run", "d0000000-0000-4000-8000-000000000001", STATE_RUNNING, true, true, false, true },
        { "paused", "d0000000-0000-4000-8000-000000000002", STATE_PAUSED, false, false, false, false },
        { "off", "d0000000-0000-4000-8000-000000000003", STATE_SHUTOFF, true, false, false, false },
        { "saved", "d0000000-0000-4000-8000-000000000004", STATE_SAVED, true, true, true, false },
        { "shutdown", "d0000000-0000-4000-8000-000000000005", STATE_SHUTDOWN, false, false, false, true },
        { "crashed", "d0000000-0000-4000-8000-000000000006", STATE_CRASHED, true, false, false, false },
        { "pmsusp", "d0000000-0000-4000-8000-000000000007", STATE_PMSUSPENDED, true, true, false, false },
        { "off-snap", "d0000000-0000-4000-8000-000000000008", STATE_SHUTOFF, true, false, false, true },
};

/* libvirt's rule, written out independently: each filter group that has a
 * bit set must be satisfied by one of its bits; groups are and-ed. */
static bool group_allows(uint64_t flags, uint64_t yes, uint64_t no, bool value) {
        bool want_yes = flags & yes, want_no = flags & no;
        if (!want_yes && !want_no)
                return true;
        return value ? want_yes : want_no;
}

static bool list_oracle(const ListCase *c, uint64_t flags) {
        bool active = c->state != STATE_SHUTOFF && c->state != STATE_SAVED;
        uint64_t state_bit = c->state == STATE_RUNNING                                   ? LIST_RUNNING
                             : c->state == STATE_PAUSED                                  ? LIST_PAUSED
                             : c->state == STATE_SHUTOFF || c->state == STATE_SAVED ? LIST_SHUTOFF
                                                                                         : LIST_OTHER;
        uint64_t state_bits = flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER);

        return group_allows(flags, LIST_ACTIVE, LIST_INACTIVE, active) &&
               group_allows(flags, LIST_PERSISTENT, LIST_TRANSIENT, c->persistent) &&
               group_allows(flags, LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE, c->managed_save) &&
               group_allows(flags, LIST_AUTOSTART, LIST_NO_AUTOSTART, c->autostart) &&
               group_allows(flags, LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT, c->snapshot) &&
               (!state_bits || (state_bits & state_bit));
}

static char *matching(Fixture *fx, uint64_t flags) {
        GString *s = g_string_new(NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(list_cases); i++)
                if (domain_matches_list_flags(find(fx, list_cases[i].uuid), flags))
                        g_string_append_printf(s, "%s%s", s->len ? "," : "", list_cases[i].name);
        return g_string_free(s, false);
}

#define ASSERT_MATCHING(fx, flags, expected)                                                                           \
        do {                                                                                                           \
                g_autofree char *got_ = matching(fx, flags);                                                           \
                if (!g_str_equal(got_, expected))                                                                      \
                        fail_msg("flags %s: got [%s], expected [%s]", #flags, got_, expected);                         \
        } while (0)

static void test_list_flags(void **state) {
        Fixture *fx = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(list_cases); i++) {
                const ListCase *c = &list_cases[i];
                Domain *d = add_domain(fx, c->name, c->uuid, c->persistent, NULL);
                if (c->snapshot) {
                        queued(snapshot_op_create(d, NULL, "<domainsnapshot><name>s1</name></domainsnapshot>", 0,
                                                  &e),
                               &e);
                        settle(fx);
                        assert_int_equal(snapshot_count(d), 1);
                }
                if (c->autostart)
                        assert_int_equal(domain_set_autostart(d, true), 0);
                d->state = c->state;
                d->has_managed_save = c->managed_save;
        }

        ASSERT_MATCHING(fx, 0, "run,paused,off,saved,shutdown,crashed,pmsusp,off-snap");
        ASSERT_MATCHING(fx, LIST_ALL_FLAGS, "run,paused,off,saved,shutdown,crashed,pmsusp,off-snap");
        ASSERT_MATCHING(fx, LIST_ACTIVE, "run,paused,shutdown,crashed,pmsusp");
        ASSERT_MATCHING(fx, LIST_INACTIVE, "off,saved,off-snap");
        ASSERT_MATCHING(fx, LIST_ACTIVE | LIST_INACTIVE, "run,paused,off,saved,shutdown,crashed,pmsusp,off-snap");
        ASSERT_MATCHING(fx, LIST_PERSISTENT, "run,off,saved,crashed,pmsusp,off-snap");
        ASSERT_MATCHING(fx, LIST_TRANSIENT, "paused,shutdown");
        ASSERT_MATCHING(fx, LIST_RUNNING, "run");
        ASSERT_MATCHING(fx, LIST_PAUSED, "paused");
        ASSERT_MATCHING(fx, LIST_SHUTOFF, "off,saved,off-snap");
        ASSERT_MATCHING(fx, LIST_OTHER, "shutdown,crashed,pmsusp");
        ASSERT_MATCHING(fx, LIST_RUNNING | LIST_PAUSED, "run,paused");
        ASSERT_MATCHING(fx, LIST_MANAGEDSAVE, "saved");
        ASSERT_MATCHING(fx, LIST_NO_MANAGEDSAVE, "run,paused,off,shutdown,crashed,pmsusp,off-snap");
        ASSERT_MATCHING(fx, LIST_AUTOSTART, "run,saved,pmsusp");
        ASSERT_MATCHING(fx, LIST_NO_AUTOSTART, "paused,off,shutdown,crashed,off-snap");
        ASSERT_MATCHING(fx, LIST_HAS_SNAPSHOT, "run,shutdown,off-snap");
        ASSERT_MATCHING(fx, LIST_NO_SNAPSHOT, "paused,off,saved,crashed,pmsusp");
        ASSERT_MATCHING(fx, LIST_ACTIVE | LIST_PERSISTENT, "run,crashed,pmsusp");
        ASSERT_MATCHING(fx, LIST_INACTIVE | LIST_HAS_SNAPSHOT, "off-snap");
        ASSERT_MATCHING(fx, LIST_TRANSIENT | LIST_SHUTOFF, "");

        /* every combination of the 14 flags against the oracle */
        for (uint64_t flags = 0; flags <= LIST_ALL_FLAGS; flags++)
                for (size_t i = 0; i < G_N_ELEMENTS(list_cases); i++) {
                        const ListCase *c = &list_cases[i];
                        bool got = domain_matches_list_flags(find(fx, c->uuid), flags);
                        if (got != list_oracle(c, flags))
                                fail_msg("flags 0x%" G_GINT64_MODIFIER "x, domain '%s': matches %d, expected %d",
                                         flags, c->name, got, !got);
                }
}

/* ==== persistence: reload from disk ======================================== */

static void test_reload_defined(void **state) {
        Fixture *fx = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *a = add_domain(fx, "vm1", UUID_A, true, "<on_poweroff>preserve</on_poweroff>");
        Domain *b = running_domain(fx, "vm2", UUID_B, true, NULL);
        assert_int_equal(domain_set_autostart(a, true), 0);
        queued(snapshot_op_create(a, NULL, "<domainsnapshot><name>s1</name></domainsnapshot>", 0, &e), &e);
        queued(domain_op_managed_save(b, NULL, 0, &e), &e);
        settle(fx);
        g_autofree char *a_xml = g_strdup(a->def->xml);
        g_autofree char *autostart_link = domain_autostart_path(a);
        g_autofree char *link_target = g_file_read_link(autostart_link, NULL);
        g_autofree char *expected_target = g_strdup_printf("../domains/%s.xml", UUID_A);
        assert_string_equal(link_target, expected_target);

        restart_manager(fx);
        assert_int_equal(g_hash_table_size(fx->h->domains), 0);
        hypervisor_load_domains(fx->h);
        assert_int_equal(g_hash_table_size(fx->h->domains), 2);
        assert_int_equal(FAKE(fx)->attach_calls, 0);

        a = find(fx, UUID_A);
        assert_non_null(a);
        assert_ptr_equal(hypervisor_find_domain_by_name(fx->h, "vm1"), a);
        assert_true(a->persistent);
        assert_true(a->autostart);
        assert_false(a->has_managed_save);
        assert_state(a, STATE_SHUTOFF, "unknown");
        assert_int_equal(a->id, -1);
        assert_null(a->live);
        assert_string_equal(a->def->xml, a_xml);
        assert_int_equal(a->def->on_poweroff, LIFECYCLE_PRESERVE);
        assert_int_equal(snapshot_count(a), 1);
        assert_non_null(snapshot_find(a, "s1"));

        b = find(fx, UUID_B);
        assert_non_null(b);
        assert_false(b->autostart);
        assert_true(b->has_managed_save);
        assert_state(b, STATE_SAVED, "saved");

        /* autostart starts a only; b's image still restores */
        manager_autostart(fx->m);
        settle(fx);
        assert_string_equal(FAKE(fx)->log->str, "start");
        assert_state(a, STATE_RUNNING, "booted");
        queued(domain_op_start(b, NULL, 0, &e), &e);
        settle(fx);
        assert_string_equal(FAKE(fx)->log->str, "start,restore");
        assert_state(b, STATE_RUNNING, "restored");
}

static void test_reload_reattach(void **state) {
        Fixture *fx = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Domain *a = running_domain(fx, "vm1", UUID_A, true, NULL);
        Domain *b = running_domain(fx, "vm2", UUID_B, true, NULL);
        Domain *t = running_domain(fx, "tvm", UUID_C, false, NULL);
        queued(domain_op_suspend(b, NULL, &e), &e);
        settle(fx);
        assert_int_equal(a->id, 7);
        assert_int_equal(b->id, 8);
        assert_int_equal(t->id, 9);

        restart_manager(fx);
        hypervisor_load_domains(fx->h);
        assert_int_equal(FAKE(fx)->attach_calls, 3);
        assert_int_equal(g_hash_table_size(fx->h->domains), 3);
        assert_string_equal(FAKE(fx)->log->str, "");

        a = find(fx, UUID_A);
        b = find(fx, UUID_B);
        t = find(fx, UUID_C);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(t);
        assert_state(a, STATE_RUNNING, "booted");
        assert_int_equal(a->id, 7);
        assert_non_null(a->live);
        assert_true(a->persistent);
        assert_state(b, STATE_PAUSED, "user");
        assert_int_equal(b->id, 8);
        assert_state(t, STATE_RUNNING, "booted");
        assert_int_equal(t->id, 9);
        assert_false(t->persistent);
        assert_ptr_equal(hypervisor_find_domain_by_name(fx->h, "tvm"), t);
        assert_ptr_equal(hypervisor_find_domain_by_id(fx->h, 9), t);

        /* and they work as before */
        queued(domain_op_resume(b, NULL, &e), &e);
        queued(domain_op_destroy(t, NULL, 0, &e), &e);
        queued(domain_op_destroy(a, NULL, 0, &e), &e);
        settle(fx);
        assert_state(b, STATE_RUNNING, "unpaused");
        assert_null(find(fx, UUID_C));
        assert_state(a, STATE_SHUTOFF, "destroyed");
        start_domain(fx, a);
        assert_int_equal(a->id, 10); /* ids of re-attached guests are not handed out again */
}

static void test_reload_attach_refused(void **state) {
        Fixture *fx = *state;
        running_domain(fx, "vm1", UUID_A, true, NULL);
        running_domain(fx, "tvm", UUID_C, false, NULL);
        g_autofree char *a_status = status_path_of(fx, UUID_A);
        g_autofree char *t_status = status_path_of(fx, UUID_C);
        assert_file_exists(a_status);
        assert_file_exists(t_status);

        restart_manager(fx);
        FAKE(fx)->refuse_attach = true;
        hypervisor_load_domains(fx->h);
        assert_int_equal(FAKE(fx)->attach_calls, 2);

        /* the persistent domain stays, shut off; the transient one is gone */
        Domain *a = find(fx, UUID_A);
        assert_non_null(a);
        assert_state(a, STATE_SHUTOFF, "unknown");
        assert_null(a->live);
        assert_int_equal(a->id, -1);
        assert_no_file(a_status);
        assert_null(find(fx, UUID_C));
        assert_null(hypervisor_find_domain_by_name(fx->h, "tvm"));
        assert_no_file(t_status);
        assert_int_equal(FAKE(fx)->forget_calls, 1);
        assert_int_equal(g_hash_table_size(fx->h->domains), 1);
}

/* ==== the real test plugin ================================================= */

static Hypervisor *load_test_plugin(Fixture *fx) {
        g_autofree char *name = NULL, *why = NULL;
        Hypervisor *h = hypervisor_load(fx->m, TEST_PLUGIN_PATH, &name, &why);
        if (!h)
                fail_msg("cannot load %s: %s", TEST_PLUGIN_PATH, why);
        g_ptr_array_add(fx->m->hypervisors, h);
        assert_string_equal(name, "test");
        assert_string_equal(h->name, "test");
        hypervisor_load_domains(h);
        return h;
}

static void test_real_test_plugin(void **state) {
        Fixture *fx = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        Hypervisor *h = load_test_plugin(fx);

        assert_int_equal(g_hash_table_size(h->domains), 0); /* starts empty */
        Domain *d = add_domain_on(h, "smoke", UUID_A, true, NULL);
        Domain *t = add_domain_on(h, "smoke-t", UUID_B, false, NULL);
        g_autofree char *image = domain_managed_save_path(d);

        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "booted");
        assert_true(d->id >= 1);
        int id = d->id;
        assert_status_state(d, "running");

        queued(domain_op_suspend(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_PAUSED, "user");
        queued(domain_op_resume(d, NULL, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "unpaused");

        queued(domain_op_managed_save(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_SAVED, "saved");
        g_autofree char *text = read_text(image);
        assert_memory_equal(text, "DomaindSave1\n", 13);
        queued(domain_op_start(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_RUNNING, "restored");
        assert_no_file(image);
        assert_false(d->has_managed_save);

        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_SHUTOFF, "destroyed");
        assert_int_equal(d->id, -1);

        queued(domain_op_start(t, NULL, START_PAUSED, &e), &e);
        settle(fx);
        assert_state(t, STATE_PAUSED, "user");
        queued(domain_op_destroy(t, NULL, 0, &e), &e);
        settle(fx);
        assert_null(hypervisor_find_domain_by_uuid(h, UUID_B));

        /* a running guest survives a restart of domaind */
        start_domain(fx, d);
        id = d->id;
        restart_manager(fx);
        h = load_test_plugin(fx);
        d = hypervisor_find_domain_by_uuid(h, UUID_A);
        assert_non_null(d);
        assert_state(d, STATE_RUNNING, "booted");
        assert_int_equal(d->id, id);
        queued(domain_op_destroy(d, NULL, 0, &e), &e);
        settle(fx);
        assert_state(d, STATE_SHUTOFF, "destroyed");
}

/* ==== main ================================================================= */

static FakeMode mode_deferred = FAKE_DEFER;
static FakeMode mode_delayed = FAKE_DELAY;

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TEST_MODE(f, mode)                                                                                             \
        { #f " (" #mode ")", f, setup, teardown, &mode_##mode }

int main(void) {
        const struct CMUnitTest tests[] = {
                TEST(test_transitions),
                TEST_MODE(test_transitions, deferred),
                TEST_MODE(test_transitions, delayed),
                TEST(test_start_paused),
                TEST(test_invalid_state),
                TEST_MODE(test_invalid_state, deferred),
                TEST(test_bad_flags),
                TEST(test_error_replies),
                TEST_MODE(test_error_replies, deferred),
                TEST(test_busy_timeout),
                TEST(test_plugin_failures),
                TEST_MODE(test_plugin_failures, deferred),
                TEST(test_transient_destroy),
                TEST_MODE(test_transient_destroy, deferred),
                TEST(test_transient_gone),
                TEST(test_transient_gone_during_job),
                TEST(test_persistent_gone),
                TEST(test_undefine_running),
                TEST(test_shutdown_destroy),
                TEST(test_shutdown_destroy_transient),
                TEST_MODE(test_shutdown_destroy_transient, deferred),
                TEST(test_shutdown_restart),
                TEST_MODE(test_shutdown_restart, deferred),
                TEST(test_shutdown_preserve),
                TEST(test_crash_destroy),
                TEST(test_crash_preserve),
                TEST(test_crash_restart),
                TEST_MODE(test_crash_restart, delayed),
                TEST(test_reboot_restart),
                TEST(test_reboot_destroy),
                TEST(test_restart_fails),
                TEST(test_restart_after_gone),
                TEST(test_guest_paused),
                TEST(test_jobs_serialized),
                TEST(test_jobs_fifo),
                TEST(test_internal_job_never_times_out),
                TEST(test_managed_save_restore),
                TEST_MODE(test_managed_save_restore, deferred),
                TEST(test_managed_save_force_boot),
                TEST(test_managed_save_paused),
                TEST(test_managed_save_remove),
                TEST(test_managed_restore_fails),
                TEST(test_save_to_file),
                TEST_MODE(test_save_to_file, delayed),
                cmocka_unit_test(test_save_image_round_trip),
                cmocka_unit_test(test_save_image_rejects),
                TEST(test_list_flags),
                TEST(test_reload_defined),
                TEST(test_reload_reattach),
                TEST(test_reload_attach_refused),
                TEST(test_real_test_plugin),
        };

        log_set_max_level(getenv("DOMAIND_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);
        if (getenv("DOMAIND_TEST_FILTER")) /* a glob on the test names */
                cmocka_set_test_filter(getenv("DOMAIND_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
