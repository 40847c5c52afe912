/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "config.h"
#include "domain-ops.h"
#include "domain.h"
#include "hypervisor.h"
#include "log.h"
#include "manager.h"
#include "snapshot.h"
#include "storage.h"
#include "worker.h"

#define DEFAULT_JOB_WAIT_SEC 30.0
#define DEFAULT_POLKIT_TIMEOUT_SEC 10.0

Manager *manager_new(void) {
        Manager *m = g_new0(Manager, 1);
        m->hypervisors = g_ptr_array_new_with_free_func((GDestroyNotify) hypervisor_free);
        m->unavailable = g_ptr_array_new_with_free_func(g_free);
        auth_init(m);
        m->workers = g_ptr_array_new();
        m->job_wait_usec = (uint64_t) (DEFAULT_JOB_WAIT_SEC * 1e6);
        m->polkit_timeout_usec = (uint64_t) (DEFAULT_POLKIT_TIMEOUT_SEC * 1e6);
        return m;
}

void manager_free(Manager *m) {
        if (!m)
                return;
        /* Plugins go first: their close() may still use the loop. Guests keep
         * running: stopping domaind never stops a guest. */
        storage_cancel_jobs(m);
        worker_join_all(m);
        g_ptr_array_unref(m->workers);
        g_ptr_array_unref(m->hypervisors);
        storage_free_all(m);
        g_ptr_array_unref(m->unavailable);
        auth_done(m);
        sd_bus_slot_unref(m->name_owner_slot);
        if (m->bus)
                sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        if (m->config)
                g_key_file_unref(m->config);
        g_free(m->bus_address);
        g_free(m->state_dir);
        g_free(m->runtime_dir);
        g_free(m->plugin_dir);
        g_free(m->config_path);
        g_free(m);
}

/* A [domaind] key holding seconds (fractions allowed), kept when absent. */
static int config_seconds(Manager *m, const char *key, uint64_t *usec) {
        g_autoptr(GError) error = NULL;
        if (!g_key_file_has_key(m->config, "domaind", key, NULL))
                return 0;
        double sec = g_key_file_get_double(m->config, "domaind", key, &error);
        if (error || sec < 0 || sec > 3600) {
                log_error("%s: %s must be a number of seconds between 0 and 3600", m->config_path, key);
                return -EINVAL;
        }
        *usec = (uint64_t) (sec * 1e6);
        return 0;
}

int manager_load_config(Manager *m) {
        g_autoptr(GError) error = NULL;
        m->config = g_key_file_new();
        if (!g_key_file_load_from_file(m->config, m->config_path, G_KEY_FILE_NONE, &error)) {
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                        log_info("no config file %s, using defaults", m->config_path);
                        return 0;
                }
                log_error("cannot read %s: %s", m->config_path, error->message);
                return -EINVAL;
        }
        int r = config_seconds(m, "JobWaitTimeoutSec", &m->job_wait_usec);
        if (r >= 0)
                r = config_seconds(m, "PolkitTimeoutSec", &m->polkit_timeout_usec);
        return r;
}

static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;
        if (sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && !*new_owner)
                auth_forget_caller(m, name);
        else if (g_str_equal(name, "org.freedesktop.PolicyKit1"))
                auth_forget_decisions(m); /* a new polkitd may have other rules */
        return 0;
}

int manager_connect_bus(Manager *m) {
        int r;
        if (g_str_equal(m->bus_address, "system"))
                r = sd_bus_open_system(&m->bus);
        else if (g_str_equal(m->bus_address, "session"))
                r = sd_bus_open_user(&m->bus);
        else {
                r = sd_bus_new(&m->bus);
                if (r >= 0)
                        r = sd_bus_set_address(m->bus, m->bus_address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(m->bus, true);
                if (r >= 0)
                        r = sd_bus_start(m->bus);
        }
        if (r < 0) {
                log_error("cannot connect to the %s bus: %s", m->bus_address, g_strerror(-r));
                return r;
        }
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        /* Losing the bus means nobody can reach us: leave the loop. */
        sd_bus_set_exit_on_disconnect(m->bus, true);
        r = sd_bus_match_signal_async(m->bus, &m->name_owner_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, m);
        if (r < 0)
                return r;
        return auth_watch_polkit(m);
}

Hypervisor *manager_find_hypervisor(Manager *m, const char *name) {
        for (guint i = 0; i < m->hypervisors->len; i++) {
                Hypervisor *h = m->hypervisors->pdata[i];
                if (g_str_equal(h->name, name))
                        return h;
        }
        return NULL;
}

static gint compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char **) a, *(const char **) b);
}

int manager_load_plugins(Manager *m) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) dir = g_dir_open(m->plugin_dir, 0, &error);
        if (!dir) {
                log_error("cannot read the plugin folder: %s", error->message);
                return 0; /* domaind still runs (without hypervisors) */
        }
        g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
        const char *entry;
        while ((entry = g_dir_read_name(dir)))
                if (g_str_has_suffix(entry, ".so"))
                        g_ptr_array_add(files, g_build_filename(m->plugin_dir, entry, NULL));
        g_ptr_array_sort(files, compare_strings);

        for (guint i = 0; i < files->len; i++) {
                const char *file = files->pdata[i];
                g_autofree char *name = NULL, *why = NULL;
                Hypervisor *h = hypervisor_load(m, file, &name, &why);
                if (!h) {
                        g_autofree char *base = g_path_get_basename(file);
                        log_warning("plugin %s unavailable: %s", file, why);
                        g_ptr_array_add(m->unavailable, name ? g_steal_pointer(&name) : g_strndup(base, strlen(base) - 3));
                        g_ptr_array_add(m->unavailable, g_steal_pointer(&why));
                        continue;
                }
                log_info("hypervisor '%s' ready (%s, version %s)", h->name, file, h->version);
                g_ptr_array_add(m->hypervisors, h);
                hypervisor_load_domains(h);
        }
        return 0;
}

int manager_publish(Manager *m) {
        int r = manager_bus_register(m);
        if (r >= 0)
                r = storage_bus_register(m);
        if (r < 0)
                return r;
        for (guint i = 0; i < m->hypervisors->len; i++) {
                Hypervisor *h = m->hypervisors->pdata[i];
                r = hypervisor_bus_register(h);
                if (r >= 0)
                        r = snapshot_bus_register(h);
                if (r < 0)
                        return r;
        }
        m->published = true;
        r = sd_bus_request_name(m->bus, "org.domaind1", 0);
        if (r < 0)
                log_error("cannot own org.domaind1: %s", g_strerror(-r));
        return r;
}

/* Work left to do at start: autostart, and on_* actions a restart interrupted. */
void manager_autostart(Manager *m) {
        for (guint i = 0; i < m->hypervisors->len; i++) {
                Hypervisor *h = m->hypervisors->pdata[i];
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, h->domains);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Domain *d = value;
                        if (d->autostart && !domain_is_active(d))
                                domain_autostart(d);
                        domain_resume_lifecycle_action(d);
                }
        }
}
