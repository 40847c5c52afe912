/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asynchronous polkit authorization on the sd-event loop, as systemd does
 * it: a method handler asks auth_check(); if the answer is not known yet,
 * the query goes out (caller's uid, then polkit's CheckAuthorization), the
 * handler returns without replying, and when the answer arrives the very
 * same message is rewound and queued to the bus again. The second dispatch
 * finds the answer in the registry and goes on (or is refused).
 *
 * "Yes" answers are cached per caller, action and details; the cache is
 * dropped when the caller leaves, when polkitd says its rules changed, and
 * when polkitd itself comes or goes.
 */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain.h"
#include "log.h"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* an answer nobody came back for (the object vanished meanwhile) */
#define QUERY_LINGER_USEC (30 * G_USEC_PER_SEC)
/* a person typing a password in an authentication dialog */
#define INTERACTIVE_TIMEOUT_USEC (300 * G_USEC_PER_SEC)

static const char *const action_ids[] = {
        [AUTH_READ] = "org.domaind1.read",
        [AUTH_DOMAIN_DEFINE] = "org.domaind1.domain.define",
        [AUTH_DOMAIN_CONTROL] = "org.domaind1.domain.control",
        [AUTH_DOMAIN_SAVE] = "org.domaind1.domain.save",
        [AUTH_DOMAIN_SNAPSHOT] = "org.domaind1.domain.snapshot",
        [AUTH_DOMAIN_MIGRATE] = "org.domaind1.domain.migrate",
        [AUTH_DOMAIN_CONSOLE] = "org.domaind1.domain.console",
        [AUTH_STORAGE_MANAGE] = "org.domaind1.storage.manage",
};

const char *auth_action_id(AuthAction action) {
        return action_ids[action];
}

typedef enum Verdict {
        VERDICT_PENDING,
        VERDICT_YES,
        VERDICT_NO,
        VERDICT_CHALLENGE,
        VERDICT_FAILED, /* polkit could not be asked: `failure` says why */
} Verdict;

typedef struct AuthQuery {
        Manager *manager;
        sd_bus_message *message; /* the call being authorized (the registry key) */
        sd_bus_slot *slot;       /* the call in flight */
        sd_event_source *linger;
        AuthAction action;
        char *sender;
        char *cache_key;
        char **details;          /* key, value, key, value, ..., NULL */
        Verdict verdict;
        bool interactive; /* the second round: polkit may ask a person */
        bool cacheable;
        char *failure;
} AuthQuery;

static void query_free(AuthQuery *q) {
        sd_bus_slot_unref(q->slot);
        sd_event_source_unref(q->linger);
        sd_bus_message_unref(q->message);
        g_free(q->sender);
        g_free(q->cache_key);
        g_strfreev(q->details);
        g_free(q->failure);
        g_free(q);
}

void auth_init(Manager *m) {
        m->auth_queries = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) query_free);
        m->auth_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref);
        m->uid_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void auth_done(Manager *m) {
        g_clear_pointer(&m->auth_queries, g_hash_table_unref);
        g_clear_pointer(&m->auth_cache, g_hash_table_unref);
        g_clear_pointer(&m->uid_cache, g_hash_table_unref);
}

/* ---- the decision cache ---- */

static bool cache_has(Manager *m, const char *sender, const char *key) {
        GHashTable *keys = g_hash_table_lookup(m->auth_cache, sender);
        return keys && g_hash_table_contains(keys, key);
}

static void cache_add(Manager *m, const char *sender, const char *key) {
        GHashTable *keys = g_hash_table_lookup(m->auth_cache, sender);
        if (!keys) {
                keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                g_hash_table_insert(m->auth_cache, g_strdup(sender), keys);
        }
        g_hash_table_add(keys, g_strdup(key));
}

void auth_forget_caller(Manager *m, const char *unique_name) {
        g_hash_table_remove(m->uid_cache, unique_name);
        g_hash_table_remove(m->auth_cache, unique_name);
}

void auth_forget_decisions(Manager *m) {
        g_hash_table_remove_all(m->auth_cache);
}

static int on_polkit_changed(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        log_debug("polkit rules or actions changed: dropping cached decisions");
        auth_forget_decisions(userdata);
        return 0;
}

int auth_watch_polkit(Manager *m) {
        return sd_bus_match_signal_async(m->bus, NULL, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE, "Changed",
                                         on_polkit_changed, NULL, m);
}

/* ---- one query: the caller's uid, then polkit ---- */

/* The second dispatch of the message will find the verdict. */
static int on_linger_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        AuthQuery *q = userdata;
        g_hash_table_remove(q->manager->auth_queries, q->message);
        return 0;
}

static void query_decided(AuthQuery *q, Verdict verdict) {
        Manager *m = q->manager;
        q->verdict = verdict;
        q->slot = sd_bus_slot_unref(q->slot);
        int r = sd_bus_message_rewind(q->message, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(m->bus, q->message);
        if (r < 0) {
                sd_bus_reply_method_errorf(q->message, SD_BUS_ERROR_ACCESS_DENIED,
                                           "cannot resume the call after authorization: %s", g_strerror(-r));
                g_hash_table_remove(m->auth_queries, q->message);
                return;
        }
        sd_event_add_time_relative(m->event, &q->linger, CLOCK_MONOTONIC, QUERY_LINGER_USEC, 0, on_linger_timeout, q);
}

static void query_failed(AuthQuery *q, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void query_failed(AuthQuery *q, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        q->failure = g_strdup_vprintf(format, ap);
        va_end(ap);
        log_info("authorization of %s by %s refused: %s", sd_bus_message_get_member(q->message), q->sender,
                 q->failure);
        query_decided(q, VERDICT_FAILED);
}

static void ask_polkit(AuthQuery *q);

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        if (e) {
                /* ServiceUnknown comes from the bus (no polkitd); NameHasNoOwner
                 * from polkitd, about a caller that left meanwhile. */
                const char *why = sd_bus_error_has_name(e, SD_BUS_ERROR_SERVICE_UNKNOWN)
                                          ? "polkit is not running: nobody can authorize this"
                                  : sd_bus_error_has_name(e, SD_BUS_ERROR_NAME_HAS_NO_OWNER)
                                          ? "the caller left before polkit could answer"
                                          : "polkit could not be asked";
                query_failed(q, "%s (%s)", why, e->message ? e->message : e->name);
                return 0;
        }
        int authorized, challenge;
        int r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "{ss}");
        q->cacheable = true;
        const char *key, *value;
        while (r >= 0 && (r = sd_bus_message_read(reply, "{ss}", &key, &value)) > 0)
                /* auth_admin_keep: polkit's own temporary authorization decides; it may expire */
                if (g_str_equal(key, "polkit.temporary_authorization_id"))
                        q->cacheable = false;
        if (r < 0) {
                query_failed(q, "polkit gave an answer that cannot be read: %s", g_strerror(-r));
                return 0;
        }
        /* A yes that may have come from a person authenticating holds for
         * this call only (auth_admin means every time). */
        if (q->interactive)
                q->cacheable = false;
        if (challenge && !authorized && !q->interactive &&
            sd_bus_message_get_allow_interactive_authorization(q->message)) {
                q->interactive = true;
                q->slot = sd_bus_slot_unref(q->slot);
                ask_polkit(q);
                return 0;
        }
        query_decided(q, authorized ? VERDICT_YES : challenge ? VERDICT_CHALLENGE : VERDICT_NO);
        return 0;
}

/* First without interaction: a "yes" then needs no person and may be
 * cached. Only a challenge makes a second, interactive round. */
static void ask_polkit(AuthQuery *q) {
        Manager *m = q->manager;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        uint32_t flags = q->interactive ? POLKIT_ALLOW_USER_INTERACTION : 0;
        int r = sd_bus_message_new_method_call(m->bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                               "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", q->sender,
                                          auth_action_id(q->action));
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{ss}");
        for (char **p = q->details; r >= 0 && *p; p += 2)
                r = sd_bus_message_append(call, "{ss}", p[0], p[1]);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r >= 0)
                r = sd_bus_message_append(call, "us", flags, "");
        if (r >= 0)
                r = sd_bus_call_async(m->bus, &q->slot, call, on_polkit_reply, q,
                                      q->interactive ? MAX(INTERACTIVE_TIMEOUT_USEC, m->polkit_timeout_usec)
                                                     : m->polkit_timeout_usec);
        if (r < 0)
                query_failed(q, "cannot ask polkit: %s", g_strerror(-r));
}

static int on_uid_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        uint32_t uid;
        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "u", &uid) < 0) {
                query_failed(q, "the caller %s left the bus", q->sender);
                return 0;
        }
        g_hash_table_insert(q->manager->uid_cache, g_strdup(q->sender), GUINT_TO_POINTER(uid));
        q->slot = sd_bus_slot_unref(q->slot);
        if (uid == 0)
                query_decided(q, VERDICT_YES);
        else
                ask_polkit(q);
        return 0;
}

static void query_start(AuthQuery *q) {
        Manager *m = q->manager;
        if (g_hash_table_contains(m->uid_cache, q->sender))
                return ask_polkit(q);
        int r = sd_bus_call_method_async(m->bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "GetConnectionUnixUser", on_uid_reply, q, "s",
                                         q->sender);
        if (r < 0)
                query_failed(q, "cannot identify the caller: %s", g_strerror(-r));
}

/* ---- the hook ---- */

/* The details a rules file can look at: key, value pairs up to a NULL key
 * (a NULL value leaves its key out), then the method. */
static char **make_details(sd_bus_message *message, ...) {
        GPtrArray *a = g_ptr_array_new();
        va_list ap;
        va_start(ap, message);
        const char *key;
        while ((key = va_arg(ap, const char *))) {
                const char *value = va_arg(ap, const char *);
                if (!value)
                        continue;
                g_ptr_array_add(a, g_strdup(key));
                g_ptr_array_add(a, g_strdup(value));
        }
        va_end(ap);
        g_ptr_array_add(a, g_strdup("method"));
        g_ptr_array_add(a, g_strdup(sd_bus_message_get_member(message)));
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, false);
}

static char *make_cache_key(AuthAction action, char **details) {
        g_autofree char *joined = g_strjoinv("\x1f", details);
        return g_strdup_printf("%s\x1e%s", auth_action_id(action), joined);
}

static int verdict_to_result(AuthQuery *q, sd_bus_error *error) {
        const char *action = auth_action_id(q->action);
        const char *method = sd_bus_message_get_member(q->message);
        switch (q->verdict) {
        case VERDICT_YES:
                if (q->cacheable)
                        cache_add(q->manager, q->sender, q->cache_key);
                return 1;
        case VERDICT_CHALLENGE:
                if (!sd_bus_message_get_allow_interactive_authorization(q->message))
                        return bus_error_setf(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                              "%s needs authentication for %s: allow interactive authorization and have an authentication agent running",
                                              method, action);
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                      "%s needs authentication for %s, and nobody authenticated", method, action);
        case VERDICT_FAILED:
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s needs %s: %s", method, action, q->failure);
        case VERDICT_NO:
        default:
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "not authorized: %s needs %s", method, action);
        }
}

/* What needs no polkit: the second dispatch of a call whose query has
 * ended (or is still pending), a call without a sender, root. Returns true
 * with *ret set when decided. */
static bool decided_without_polkit(Manager *m, sd_bus_message *message, int *ret, sd_bus_error *error) {
        AuthQuery *q = g_hash_table_lookup(m->auth_queries, message);
        if (q) {
                *ret = 0;
                if (q->verdict != VERDICT_PENDING) {
                        *ret = verdict_to_result(q, error);
                        g_hash_table_remove(m->auth_queries, message);
                }
                return true;
        }
        const char *sender = sd_bus_message_get_sender(message);
        if (!sender) {
                *ret = bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "calls without a sender are not accepted");
                return true;
        }
        gpointer uid;
        if (g_hash_table_lookup_extended(m->uid_cache, sender, NULL, &uid) && GPOINTER_TO_UINT(uid) == 0) {
                *ret = 1; /* root is always authorized, polkit or not */
                return true;
        }
        return false;
}

/* A yes from the cache, or a query to polkit (the call is dispatched again
 * once it answers). Takes details. */
static int ask_polkit_for(Manager *m, sd_bus_message *message, AuthAction action, char **details) {
        const char *sender = sd_bus_message_get_sender(message);
        char *key = make_cache_key(action, details);
        if (cache_has(m, sender, key)) {
                g_strfreev(details);
                g_free(key);
                return 1;
        }

        AuthQuery *q = g_new0(AuthQuery, 1);
        q->manager = m;
        q->message = sd_bus_message_ref(message);
        q->action = action;
        q->sender = g_strdup(sender);
        q->details = details;
        q->cache_key = key;
        g_hash_table_insert(m->auth_queries, message, q);
        query_start(q);
        return 0;
}

int auth_check(Manager *m, sd_bus_message *message, AuthAction action, Hypervisor *h, Domain *d,
               sd_bus_error *error) {
        return auth_check_named(m, message, action, h, d ? domain_name(d) : NULL, d ? d->uuid : NULL, error);
}

int auth_check_named(Manager *m, sd_bus_message *message, AuthAction action, Hypervisor *h, const char *name,
                     const char *uuid, sd_bus_error *error) {
        int r;
        if (decided_without_polkit(m, message, &r, error))
                return r;
        return ask_polkit_for(m, message, action,
                              make_details(message, "hypervisor", h ? h->name : NULL, "domain", name, "uuid", uuid,
                                           NULL));
}

int auth_check_storage(Manager *m, sd_bus_message *message, AuthAction action, const char *pool, const char *volume,
                       sd_bus_error *error) {
        int r;
        if (decided_without_polkit(m, message, &r, error))
                return r;
        return ask_polkit_for(m, message, action, make_details(message, "pool", pool, "volume", volume, NULL));
}
