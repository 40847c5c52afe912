/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "console.h"
#include "domain.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "snapshot.h"

static const char *const state_names[] = {
        [STATE_SHUTOFF] = "shutoff",   [STATE_RUNNING] = "running", [STATE_PAUSED] = "paused",
        [STATE_SAVED] = "saved",       [STATE_SHUTDOWN] = "shutdown", [STATE_CRASHED] = "crashed",
        [STATE_PMSUSPENDED] = "pmsuspended",
};

const char *domain_state_to_string(DomainState s) {
        return state_names[s];
}

static const char *const job_names[] = {
        [JOB_NONE] = "none",           [JOB_SAVING] = "saving",     [JOB_RESTORING] = "restoring",
        [JOB_MIGRATING] = "migrating", [JOB_SNAPSHOT] = "snapshot", [JOB_DUMP] = "dump",
};

const char *job_type_to_string(JobType t) {
        return job_names[t];
}

static char *uuid_to_path_element(const char *uuid) {
        GString *s = g_string_sized_new(32);
        for (const char *p = uuid; *p; p++)
                if (*p != '-')
                        g_string_append_c(s, *p);
        return g_string_free(s, false);
}

static bool registry_ready(Domain *d) {
        return d->hv->manager->bus != NULL;
}

Domain *domain_new(Hypervisor *h, DomainDef *def, bool persistent) {
        Domain *d = g_new0(Domain, 1);
        d->hv = h;
        memcpy(d->uuid, def->uuid, sizeof(d->uuid));
        d->def = def;
        d->persistent = persistent;
        d->state = STATE_SHUTOFF;
        d->reason = "unknown";
        d->id = -1;
        g_queue_init(&d->waiting);
        g_autofree char *element = uuid_to_path_element(d->uuid);
        d->path = g_strdup_printf("%s/%s", h->domain_prefix, element);
        g_hash_table_insert(h->domains, d->uuid, d);
        g_hash_table_insert(h->by_name, g_strdup(def->name), d);
        return d;
}

void domain_publish(Domain *d) {
        if (registry_ready(d))
                sd_bus_emit_object_added(d->hv->manager->bus, d->path);
}

void domain_free(Domain *d) {
        if (!d)
                return;
        if (d->gone)
                g_ptr_array_remove_fast(d->hv->removed, d);
        job_cancel_waiting(d);
        if (d->job)
                job_abandon(d->job);
        console_session_close(d->console);
        sd_event_source_unref(d->run_next);
        sd_bus_track_unref(d->autodestroy);
        if (d->snapshots)
                g_hash_table_unref(d->snapshots);
        domain_def_free(d->def);
        domain_def_free(d->live);
        g_free(d->path);
        g_free(d);
}

void domain_remove(Domain *d) {
        Hypervisor *h = d->hv;
        if (d->gone)
                return;
        /* InterfacesRemoved reads the interfaces of a still findable object. */
        /* A transient domain's snapshots go with it, as in libvirt. */
        if (!d->persistent)
                snapshot_remove_all_metadata(d);
        else
                snapshot_unpublish_all(d);
        if (registry_ready(d))
                sd_bus_emit_object_removed(h->manager->bus, d->path);
        /* gone first: forget() may end the plugin's operation, whose
         * completion must not try to remove the domain a second time */
        d->gone = true;
        if (h->plugin->forget)
                h->plugin->forget(h->hv, domain_to_guest(d));
        g_hash_table_remove(h->by_name, domain_name(d));
        g_hash_table_remove(h->domains, d->uuid);
        domain_delete_status(d);
        job_cancel_waiting(d);
        if (d->job) /* freed when the job ends, or with the hypervisor */
                g_ptr_array_add(h->removed, d);
        else
                domain_free(d);
}

void domain_emit_changed(Domain *d, const char *property, ...) {
        if (!registry_ready(d) || d->gone)
                return;
        va_list ap;
        va_start(ap, property);
        char *names[16];
        size_t n = 0;
        for (const char *p = property; p && n < G_N_ELEMENTS(names) - 1; p = va_arg(ap, const char *))
                names[n++] = (char *) p;
        va_end(ap);
        names[n] = NULL;
        sd_bus_emit_properties_changed_strv(d->hv->manager->bus, d->path, "org.domaind1.Domain", names);
}

void domain_get_info(Domain *d, DomaindGuestInfo *info) {
        *info = (DomaindGuestInfo){ .id = -1 };
        if (domain_is_active(d) && d->hv->plugin->get_info)
                d->hv->plugin->get_info(d->hv->hv, domain_to_guest(d), info);
}

void domain_set_state(Domain *d, DomainState state, const char *reason, const char *event, const char *detail) {
        if (d->gone)
                return;
        bool was_active = domain_is_active(d);
        d->state = state;
        d->reason = reason;
        DomaindGuestInfo info;
        domain_get_info(d, &info);
        bool id_changed = d->id != info.id;
        d->id = info.id;

        if (domain_is_active(d))
                domain_save_status(d);
        else if (was_active)
                domain_delete_status(d);

        if (id_changed)
                domain_emit_changed(d, "State", "StateReason", "Id", NULL);
        else
                domain_emit_changed(d, "State", "StateReason", NULL);
        if (event)
                hypervisor_emit_domain_event(d->hv, d, event, detail);
}

/* Name, Memory, MaxMemory and VCPUs come from the config in force. */
static void emit_config_properties(Domain *d) {
        domain_emit_changed(d, "Name", "Memory", "MaxMemory", "VCPUs", NULL);
}

void domain_went_active(Domain *d, DomainDef *live) {
        if (live == d->live)
                return;
        bool changed = g_strcmp0(domain_current_def(d)->xml, live->xml) != 0;
        domain_def_free(d->live);
        d->live = live;
        if (changed)
                emit_config_properties(d);
}

void domain_went_inactive(Domain *d, DomainState state, const char *reason, const char *detail) {
        d->autodestroy = sd_bus_track_unref(d->autodestroy);
        bool config_changed = d->persistent && d->live && g_strcmp0(d->live->xml, d->def->xml) != 0;
        g_clear_pointer(&d->live, domain_def_free);
        if (config_changed) /* before the event: a client reacting to it reads the new values */
                emit_config_properties(d);
        domain_set_state(d, state, reason, "stopped", detail);
        if (!d->persistent)
                domain_remove(d);
}

void domain_replace_def(Domain *d, DomainDef *def) {
        g_hash_table_remove(d->hv->by_name, d->def->name);
        domain_def_free(d->def);
        d->def = def;
        g_hash_table_insert(d->hv->by_name, g_strdup(domain_name(d)), d);
        if (!d->live)
                emit_config_properties(d);
}

/* ---- files ---- */

char *domain_config_path(Domain *d) {
        return g_strdup_printf("%s/domains/%s.xml", d->hv->state_dir, d->uuid);
}

char *domain_autostart_path(Domain *d) {
        return g_strdup_printf("%s/autostart/%s.xml", d->hv->state_dir, d->uuid);
}

char *domain_managed_save_path(Domain *d) {
        return g_strdup_printf("%s/save/%s.save", d->hv->state_dir, d->uuid);
}

static char *domain_status_path(Domain *d) {
        return g_strdup_printf("%s/%s.xml", d->hv->runtime_dir, d->uuid);
}

int domain_save_config(Domain *d) {
        return domain_write_config(d, d->def);
}

int domain_write_config(Domain *d, const DomainDef *def) {
        g_autofree char *path = domain_config_path(d);
        int r = write_file_atomic(path, def->xml, strlen(def->xml));
        if (r < 0)
                log_error("%s: cannot write %s: %s", domain_name(d), path, g_strerror(-r));
        return r;
}

int domain_delete_config(Domain *d) {
        g_autofree char *path = domain_config_path(d);
        g_autofree char *link = domain_autostart_path(d);
        unlink_if_exists(link);
        return unlink_if_exists(path);
}

int domain_set_autostart(Domain *d, bool enable) {
        g_autofree char *link = domain_autostart_path(d);
        if (enable) {
                g_autofree char *target = g_strdup_printf("../domains/%s.xml", d->uuid);
                if (symlink(target, link) < 0 && errno != EEXIST)
                        return -errno;
        } else {
                int r = unlink_if_exists(link);
                if (r < 0)
                        return r;
        }
        if (d->autostart != enable) {
                d->autostart = enable;
                domain_emit_changed(d, "Autostart", NULL);
        }
        return 0;
}

/* The runtime status holds what a restarted domaind needs to find the guest
 * again: state, the live XML and the plugin's own notes. */
int domain_save_status(Domain *d) {
        Hypervisor *h = d->hv;
        g_autofree char *plugin_status = h->plugin->status ? h->plugin->status(h->hv, domain_to_guest(d)) : NULL;
        const char *owner = d->autodestroy ? sd_bus_track_first(d->autodestroy) : NULL;
        g_autofree char *head = g_markup_printf_escaped(
                "<domstatus state='%s' reason='%s' persistent='%s' autodestroy='%s'>\n"
                "  <plugin>%s</plugin>\n",
                domain_state_to_string(d->state), d->reason, d->persistent ? "yes" : "no", owner ? owner : "",
                plugin_status ? plugin_status : "");
        g_autofree char *text = g_strconcat(head, domain_current_def(d)->xml, "\n</domstatus>\n", NULL);
        g_autofree char *path = domain_status_path(d);
        int r = write_file_replace(path, text, strlen(text));
        if (r < 0)
                log_error("%s: cannot write %s: %s", domain_name(d), path, g_strerror(-r));
        return r;
}

void domain_delete_status(Domain *d) {
        g_autofree char *path = domain_status_path(d);
        unlink_if_exists(path);
}

/* ---- the plugin's view ---- */

Domain *domain_from_guest(DomaindGuest *g) {
        return (Domain *) g;
}
