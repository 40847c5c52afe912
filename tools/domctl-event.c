/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — event: print the hypervisors' DomainEvent signals; and the wait
 * of create/start --autodestroy until the domain is gone.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "domctl.h"

#define USEC_PER_SEC UINT64_C(1000000)

static int on_exit_signal(sd_event_source *s, _unused_ const struct signalfd_siginfo *si,
                          _unused_ void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* An event loop that ends on SIGINT/SIGTERM, with the bus attached to it;
 * the loop ends with a positive code when the bus connection is lost. */
static int event_loop_new(Context *ctx, sd_event **ret) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sigset_t mask;
        int r;

        r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "failed to allocate an event loop: %s", g_strerror(-r));

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "failed to block signals: %s", g_strerror(errno));

        r = sd_event_add_signal(e, NULL, SIGINT, on_exit_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, on_exit_signal, NULL);
        if (r >= 0)
                r = sd_bus_attach_event(ctx->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(ctx->bus, true);
        if (r < 0)
                return log_error_errno(r, "failed to set up the event loop: %s", g_strerror(-r));

        *ret = g_steal_pointer(&e);
        return 0;
}

static int event_loop_run(Context *ctx, sd_event *e) {
        int r;

        r = sd_event_loop(e);
        sd_bus_detach_event(ctx->bus);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %s", g_strerror(-r));
        if (r > 0)
                return log_error_errno(-ECONNRESET, "the connection to the bus was lost");
        return 0;
}

/* ---- event ---- */

typedef struct Listener {
        Context *ctx;
        sd_event *event;
        sd_bus_slot *slots[2];
        GHashTable *names;              /* domain path → name */
        const char *domain_path;        /* --domain, or NULL for all */
        bool loop;
        bool timestamp;
} Listener;

static const char *listener_name(Listener *l, const char *path, bool refresh) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *name = NULL;
        const char *cached = g_hash_table_lookup(l->names, path);

        if (cached && !refresh)
                return cached;

        /* the domain may be gone already (undefined, transient and stopped) */
        if (sd_bus_get_property_string(l->ctx->bus, DOMAIND_SERVICE, path, IFACE_DOMAIN, "Name",
                                       &error, &name) < 0)
                return cached ?: path_last_element(path);

        g_hash_table_replace(l->names, g_strdup(path), g_strdup(name));
        return g_hash_table_lookup(l->names, path);
}

static void print_timestamp(void) {
        char buf[64], zone[16];
        struct timeval tv;
        struct tm tm;

        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
        strftime(zone, sizeof zone, "%z", &tm);
        printf("%s.%03d%s: ", buf, (int) (tv.tv_usec / 1000), zone);
}

static int on_domain_event(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        Listener *l = userdata;
        const char *path, *event, *detail;

        if (sd_bus_message_read(m, "oss", &path, &event, &detail) < 0)
                return 0;       /* not the signal of the contract: ignore it */
        if (l->domain_path && !streq(path, l->domain_path))
                return 0;

        if (l->timestamp)
                print_timestamp();
        printf("event 'lifecycle' for domain '%s': %s %s\n",
               listener_name(l, path, streq(event, "defined")), event, detail);
        fflush(stdout);

        if (!l->loop)
                return sd_event_exit(l->event, 0);
        return 0;
}

/* Learn the names of new domains, so that a later "undefined" can name them. */
static int on_interfaces_added(sd_bus_message *m, void *userdata,
                               _unused_ sd_bus_error *ret_error) {
        Listener *l = userdata;
        g_autoptr(GHashTable) objects = NULL;
        GHashTableIter it;
        const char *path;
        GHashTable *props;

        objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_hash_table_unref);
        if (bus_read_object_interfaces(m, IFACE_DOMAIN, objects) < 0)
                return 0;

        g_hash_table_iter_init(&it, objects);
        while (g_hash_table_iter_next(&it, (gpointer *) &path, (gpointer *) &props))
                if (props_str(props, "Name"))
                        g_hash_table_replace(l->names, g_strdup(path),
                                             g_strdup(props_str(props, "Name")));
        return 0;
}

static int on_timeout(sd_event_source *s, _unused_ uint64_t usec, _unused_ void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int listener_prefill(Listener *l) {
        g_autoptr(GHashTable) objects = NULL;
        GHashTableIter it;
        const char *path;
        GHashTable *props;
        int r;

        r = bus_get_managed_objects(l->ctx, IFACE_DOMAIN, &objects);
        if (r < 0)
                return r;

        g_hash_table_iter_init(&it, objects);
        while (g_hash_table_iter_next(&it, (gpointer *) &path, (gpointer *) &props))
                if (props_str(props, "Name"))
                        g_hash_table_insert(l->names, g_strdup(path),
                                            g_strdup(props_str(props, "Name")));
        return 0;
}

static int listener_subscribe(Listener *l) {
        sd_bus *bus = l->ctx->bus;
        int r;

        /* every hypervisor's path: no path in the match */
        r = sd_bus_match_signal(bus, &l->slots[0], DOMAIND_SERVICE, NULL, IFACE_HYPERVISOR,
                                "DomainEvent", on_domain_event, l);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &l->slots[1], DOMAIND_SERVICE, DOMAIND_ROOT_PATH,
                                        IFACE_OBJECT_MANAGER, "InterfacesAdded",
                                        on_interfaces_added, l);
        if (r < 0)
                return log_error_errno(r, "failed to subscribe to events: %s", g_strerror(-r));
        return 0;
}

static int parse_timeout(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s) {
                *ret = 0;
                return 0;
        }

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v == 0 || v > UINT32_MAX)
                return log_usage("invalid timeout '%s': expected a positive number of seconds", s);
        *ret = v * USEC_PER_SEC;
        return 0;
}

static int check_event_args(const Cmd *cmd) {
        const char *name = cmd_str(cmd, "event");
        uint64_t timeout;

        if (name && !streq(name, "lifecycle"))
                return log_usage("unsupported event '%s': domaind sends 'lifecycle' events only",
                                 name);
        return parse_timeout(cmd_str(cmd, "timeout"), &timeout);
}

static int listener_run(Listener *l, uint64_t timeout) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        int r;

        r = event_loop_new(l->ctx, &e);
        if (r < 0)
                return r;
        l->event = e;

        if (timeout > 0) {
                r = sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, timeout, 0,
                                               on_timeout, NULL);
                if (r < 0)
                        return log_error_errno(r, "failed to set up the timeout: %s",
                                               g_strerror(-r));
        }

        return event_loop_run(l->ctx, e);
}

static void listener_done(Listener *l) {
        for (size_t i = 0; i < G_N_ELEMENTS(l->slots); i++)
                l->slots[i] = sd_bus_slot_unref(l->slots[i]);
        g_clear_pointer(&l->names, g_hash_table_unref);
}

static int verb_event(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(listener_done) Listener l = {};
        uint64_t timeout;
        int r;

        if (cmd_bool(cmd, "list")) {
                printf("lifecycle\n");
                return 0;
        }

        r = parse_timeout(cmd_str(cmd, "timeout"), &timeout);
        if (r < 0)
                return r;

        l = (Listener) {
                .ctx = ctx,
                .names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
                .loop = cmd_bool(cmd, "loop"),
                .timestamp = cmd_bool(cmd, "timestamp"),
        };

        /* subscribe first, then read the names: nothing can fall in between */
        r = listener_subscribe(&l);
        if (r < 0)
                return r;
        r = listener_prefill(&l);
        if (r < 0)
                return r;

        if (cmd_str(cmd, "domain")) {
                r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
                if (r < 0)
                        return r;
                l.domain_path = dom.path;
        }

        return listener_run(&l, timeout);
}

/* ---- --autodestroy: wait until the domain is gone ---- */

struct DomainWatch {
        Context *ctx;
        sd_event *event;
        sd_bus_slot *slots[3];
        const char *path;               /* set once the domain exists */
        bool daemon_gone;
};

static void watch_done(DomainWatch *w, bool daemon_gone) {
        w->daemon_gone = daemon_gone;
        if (w->event)
                (void) sd_event_exit(w->event, 0);
}

static int on_watch_event(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        DomainWatch *w = userdata;
        const char *path, *event, *detail;

        if (!w->path || sd_bus_message_read(m, "oss", &path, &event, &detail) < 0)
                return 0;
        if (streq(path, w->path) && (streq(event, "stopped") || streq(event, "undefined")))
                watch_done(w, false);
        return 0;
}

static int on_watch_removed(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        DomainWatch *w = userdata;
        const char *path;

        if (!w->path || sd_bus_message_read(m, "o", &path) < 0)
                return 0;
        if (streq(path, w->path))
                watch_done(w, false);
        return 0;
}

static int on_watch_owner(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        DomainWatch *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, DOMAIND_SERVICE) && !*new_owner)
                watch_done(w, true);
        return 0;
}

/* Installs the matches; call before the method that starts the domain. */
int domain_watch_new(Context *ctx, DomainWatch **ret) {
        g_autoptr(DomainWatch) w = g_new0(DomainWatch, 1);
        sd_bus *bus = ctx->bus;
        int r;

        w->ctx = ctx;
        r = sd_bus_match_signal(bus, &w->slots[0], DOMAIND_SERVICE, NULL, IFACE_HYPERVISOR,
                                "DomainEvent", on_watch_event, w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &w->slots[1], DOMAIND_SERVICE, DOMAIND_ROOT_PATH,
                                        IFACE_OBJECT_MANAGER, "InterfacesRemoved",
                                        on_watch_removed, w);
        if (r >= 0)
                r = sd_bus_add_match(bus, &w->slots[2],
                                     "type='signal',sender='org.freedesktop.DBus',"
                                     "path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',"
                                     "member='NameOwnerChanged',arg0='" DOMAIND_SERVICE "'",
                                     on_watch_owner, w);
        if (r < 0)
                return log_error_errno(r, "failed to subscribe to events: %s", g_strerror(-r));

        *ret = g_steal_pointer(&w);
        return 0;
}

int domain_watch_run(DomainWatch *w, const char *path, const char *name) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        int r;

        r = event_loop_new(w->ctx, &e);
        if (r < 0)
                return r;
        w->event = e;
        w->path = path;

        fprintf(stderr, "Domain '%s' is destroyed when domctl exits: "
                "waiting until it stops, press Ctrl-C to destroy it.\n", name);

        r = event_loop_run(w->ctx, e);
        w->event = NULL;
        w->path = NULL;
        if (r < 0)
                return r;
        if (w->daemon_gone)
                return log_error_errno(-ECONNRESET, "domaind left the bus");
        return 0;
}

void domain_watch_free(DomainWatch *w) {
        if (!w)
                return;
        for (size_t i = 0; i < G_N_ELEMENTS(w->slots); i++)
                sd_bus_slot_unref(w->slots[i]);
        g_free(w);
}

const Verb event_verbs[] = {
        { "event", verb_event, "print domain lifecycle events",
          .args = {
                { "domain", ARG_STRING, "only events of this domain (name, id or uuid)" },
                { "event", ARG_STRING, "which event type to wait for (lifecycle)" },
                { "all", ARG_BOOL, "wait for all event types" },
                { "loop", ARG_BOOL, "loop until Ctrl-C or the timeout, instead of one event" },
                { "timeout", ARG_STRING, "stop after this many seconds" },
                { "list", ARG_BOOL, "list the event types" },
                { "timestamp", ARG_BOOL, "print a timestamp before each event" },
          },
          .check = check_event_args },
        {}
};
