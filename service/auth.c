/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain.h"
#include "log.h"

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

/* The caller's uid, remembered per unique name (names are never reused). */
static int caller_uid(Manager *m, sd_bus_message *message, uid_t *ret) {
        const char *sender = sd_bus_message_get_sender(message);
        if (!sender)
                return -ENXIO;
        gpointer cached;
        if (g_hash_table_lookup_extended(m->uid_cache, sender, NULL, &cached)) {
                *ret = (uid_t) GPOINTER_TO_UINT(cached);
                return 0;
        }
        sd_bus_creds *creds = NULL;
        int r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        uid_t uid;
        r = sd_bus_creds_get_euid(creds, &uid);
        sd_bus_creds_unref(creds);
        if (r < 0)
                return r;
        g_hash_table_insert(m->uid_cache, g_strdup(sender), GUINT_TO_POINTER((guint) uid));
        *ret = uid;
        return 0;
}

int auth_check(Manager *m, sd_bus_message *message, AuthAction action, Hypervisor *h, Domain *d,
               sd_bus_error *error) {
        /* org.domaind1.read defaults to yes for everyone. */
        if (action == AUTH_READ)
                return 1;
        uid_t uid;
        int r = caller_uid(m, message, &uid);
        if (r < 0)
                return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "cannot identify the caller of %s: %s",
                                      sd_bus_message_get_member(message), g_strerror(-r));
        if (uid == 0 || uid == getuid())
                return 1;
        /* Until the polkit check is wired in, only the daemon's own user and
         * root may change anything: refusing is the safe default. */
        return bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                              "%s (%s%s%s) needs %s: only root may do this until polkit authorization is available",
                              sd_bus_message_get_member(message), h ? h->name : "", d ? " " : "",
                              d ? domain_name(d) : "", auth_action_id(action));
}

void auth_forget_caller(Manager *m, const char *unique_name) {
        g_hash_table_remove(m->uid_cache, unique_name);
}
