/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>
#include <time.h>

#include "bus-util.h"
#include "domain-ops.h"
#include "fileio.h"
#include "job.h"
#include "log.h"
#include "snapshot.h"

static void snapshot_free(Snapshot *s) {
        g_free(s->name);
        g_free(s->path);
        g_free(s->description);
        g_free(s->domain_xml);
        g_free(s);
}

static char *snapshot_dir(Domain *d) {
        return g_strdup_printf("%s/snapshots/%s", d->hv->state_dir, d->uuid);
}

static char *snapshot_file(Snapshot *s) {
        g_autofree char *dir = snapshot_dir(s->domain);
        return g_strdup_printf("%s/%s.xml", dir, s->name);
}

static bool bus_ready(Domain *d) {
        return d->hv->manager->bus != NULL && !d->gone;
}

unsigned snapshot_count(Domain *d) {
        return d->snapshots ? g_hash_table_size(d->snapshots) : 0;
}

Snapshot *snapshot_find(Domain *d, const char *name) {
        return d->snapshots ? g_hash_table_lookup(d->snapshots, name) : NULL;
}

Snapshot *snapshot_find_by_path(Domain *d, const char *path) {
        g_autofree char *prefix = g_strdup_printf("%s/snapshot", d->path);
        g_autofree char *name = NULL;
        if (sd_bus_path_decode(path, prefix, &name) <= 0)
                return NULL;
        return snapshot_find(d, name);
}

static Snapshot *snapshot_add(Domain *d, const char *name) {
        Snapshot *s = g_new0(Snapshot, 1);
        s->domain = d;
        s->name = g_strdup(name);
        g_autofree char *prefix = g_strdup_printf("%s/snapshot", d->path);
        char *path = NULL;
        if (sd_bus_path_encode(prefix, name, &path) < 0)
                g_error("out of memory");
        s->path = g_strdup(path);
        free(path);
        if (!d->snapshots)
                d->snapshots = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify) snapshot_free);
        g_hash_table_insert(d->snapshots, s->name, s);
        return s;
}

/* ---- XML (libvirt's <domainsnapshot>, plus <active> for the current one on disk) ---- */

char *snapshot_format_xml(Snapshot *s, bool with_internal) {
        GString *x = g_string_new("<domainsnapshot>\n");
        g_autofree char *name = g_markup_escape_text(s->name, -1);
        g_string_append_printf(x, "  <name>%s</name>\n", name);
        if (s->description) {
                g_autofree char *desc = g_markup_escape_text(s->description, -1);
                g_string_append_printf(x, "  <description>%s</description>\n", desc);
        }
        g_string_append_printf(x, "  <state>%s</state>\n", domain_state_to_string(s->state));
        if (s->parent) {
                g_autofree char *parent = g_markup_escape_text(s->parent->name, -1);
                g_string_append_printf(x, "  <parent>\n    <name>%s</name>\n  </parent>\n", parent);
        }
        g_string_append_printf(x, "  <creationTime>%" PRIu64 "</creationTime>\n", s->creation_time);
        g_string_append_printf(x, "  <memory snapshot='%s'/>\n", s->memory ? "internal" : "no");
        if (with_internal)
                g_string_append_printf(x, "  <active>%d</active>\n", s->domain->current_snapshot == s);
        g_string_append(x, s->domain_xml);
        g_string_append(x, "\n</domainsnapshot>\n");
        return g_string_free(x, false);
}

static int snapshot_save(Snapshot *s) {
        g_autofree char *dir = snapshot_dir(s->domain);
        int r = mkdir_parents(dir, 0700);
        if (r < 0)
                return r;
        g_autofree char *path = snapshot_file(s);
        g_autofree char *xml = snapshot_format_xml(s, true);
        r = write_file_atomic(path, xml, strlen(xml));
        if (r < 0)
                log_error("%s: cannot write %s: %s", domain_name(s->domain), path, g_strerror(-r));
        return r;
}

static char *child_text(xmlNode *parent, const char *name) {
        for (xmlNode *n = parent->children; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name)) {
                        xmlChar *c = xmlNodeGetContent(n);
                        char *r = g_strdup((const char *) c);
                        xmlFree(c);
                        return r;
                }
        return NULL;
}

static xmlNode *child_element(xmlNode *parent, const char *name) {
        for (xmlNode *n = parent->children; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
                        return n;
        return NULL;
}

static DomainState state_from_string(const char *s) {
        for (int i = STATE_SHUTOFF; i <= STATE_PMSUSPENDED; i++)
                if (g_strcmp0(s, domain_state_to_string(i)) == 0)
                        return i;
        return STATE_SHUTOFF;
}

/* Loads one metadata file; the parent is linked once all are loaded. */
static Snapshot *snapshot_load_file(Domain *d, const char *path, char **parent_name, bool *is_current) {
        xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc) {
                log_warning("%s: ignoring unreadable snapshot metadata %s", domain_name(d), path);
                return NULL;
        }
        xmlNode *root = xmlDocGetRootElement(doc);
        g_autofree char *name = child_text(root, "name");
        xmlNode *dom = child_element(root, "domain");
        if (!name || !dom || snapshot_find(d, name)) {
                log_warning("%s: ignoring bad snapshot metadata %s", domain_name(d), path);
                xmlFreeDoc(doc);
                return NULL;
        }
        Snapshot *s = snapshot_add(d, name);
        s->description = child_text(root, "description");
        g_autofree char *state = child_text(root, "state");
        s->state = state_from_string(state);
        g_autofree char *created = child_text(root, "creationTime");
        s->creation_time = created ? g_ascii_strtoull(created, NULL, 10) : 0;
        xmlNode *memory = child_element(root, "memory");
        xmlChar *mem = memory ? xmlGetProp(memory, BAD_CAST "snapshot") : NULL;
        s->memory = mem && !xmlStrEqual(mem, BAD_CAST "no");
        xmlFree(mem);
        g_autofree char *active = child_text(root, "active");
        *is_current = g_strcmp0(active, "1") == 0;
        xmlNode *parent = child_element(root, "parent");
        *parent_name = parent ? child_text(parent, "name") : NULL;
        xmlBuffer *buf = xmlBufferCreate();
        xmlNodeDump(buf, doc, dom, 0, 0);
        s->domain_xml = g_strdup((const char *) xmlBufferContent(buf));
        xmlBufferFree(buf);
        xmlFreeDoc(doc);
        return s;
}

void snapshot_load_all(Domain *d) {
        g_autofree char *dir = snapshot_dir(d);
        g_autoptr(GDir) gdir = g_dir_open(dir, 0, NULL);
        if (!gdir)
                return;
        g_autoptr(GHashTable) parents = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
        const char *entry;
        while ((entry = g_dir_read_name(gdir))) {
                if (!g_str_has_suffix(entry, ".xml") || entry[0] == '.')
                        continue;
                g_autofree char *path = g_build_filename(dir, entry, NULL);
                char *parent_name = NULL;
                bool current = false;
                Snapshot *s = snapshot_load_file(d, path, &parent_name, &current);
                if (!s)
                        continue;
                if (current)
                        d->current_snapshot = s;
                if (parent_name)
                        g_hash_table_insert(parents, s, parent_name);
        }
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, parents);
        while (g_hash_table_iter_next(&it, &key, &value)) {
                Snapshot *s = key;
                s->parent = snapshot_find(d, value);
        }
}

static void set_current(Domain *d, Snapshot *s) {
        Snapshot *old = d->current_snapshot;
        if (old == s)
                return;
        d->current_snapshot = s;
        /* The <active> mark lives in the files: rewrite both. */
        if (old)
                snapshot_save(old);
        if (s)
                snapshot_save(s);
        domain_emit_changed(d, "CurrentSnapshot", NULL);
        if (bus_ready(d)) {
                if (old)
                        sd_bus_emit_properties_changed(d->hv->manager->bus, old->path, "org.domaind1.Snapshot",
                                                       "IsCurrent", NULL);
                if (s)
                        sd_bus_emit_properties_changed(d->hv->manager->bus, s->path, "org.domaind1.Snapshot",
                                                       "IsCurrent", NULL);
        }
}

/* Removes one snapshot's metadata: children move up to its parent. */
static void snapshot_drop(Snapshot *s) {
        Domain *d = s->domain;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, d->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Snapshot *child = value;
                if (child->parent != s)
                        continue;
                child->parent = s->parent;
                snapshot_save(child);
                if (bus_ready(d))
                        sd_bus_emit_properties_changed(d->hv->manager->bus, child->path, "org.domaind1.Snapshot",
                                                       "Parent", NULL);
        }
        if (d->current_snapshot == s)
                set_current(d, s->parent);
        if (bus_ready(d))
                sd_bus_emit_object_removed(d->hv->manager->bus, s->path);
        g_autofree char *file = snapshot_file(s);
        unlink_if_exists(file);
        g_hash_table_remove(d->snapshots, s->name);
}

void snapshot_unpublish_all(Domain *d) {
        if (!d->snapshots || !bus_ready(d))
                return;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, d->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value))
                sd_bus_emit_object_removed(d->hv->manager->bus, ((Snapshot *) value)->path);
}

void snapshot_remove_all_metadata(Domain *d) {
        if (!d->snapshots)
                return;
        snapshot_unpublish_all(d);
        d->current_snapshot = NULL;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, d->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_autofree char *file = snapshot_file(value);
                unlink_if_exists(file);
        }
        g_clear_pointer(&d->snapshots, g_hash_table_unref);
        g_autofree char *dir = snapshot_dir(d);
        rmdir(dir);
        domain_emit_changed(d, "CurrentSnapshot", NULL);
}

void snapshot_append_all_paths(Domain *d, GPtrArray *paths) {
        if (!d->snapshots)
                return;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, d->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(paths, g_strdup(((Snapshot *) value)->path));
}

/* ---- listing ---- */

static bool is_descendant(Snapshot *s, Snapshot *ancestor) {
        for (Snapshot *p = s->parent; p; p = p->parent)
                if (p == ancestor)
                        return true;
        return false;
}

static bool has_children(Snapshot *s) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, s->domain->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (((Snapshot *) value)->parent == s)
                        return true;
        return false;
}

static bool matches_list_filters(Snapshot *s, uint64_t flags) {
        bool leaf = !has_children(s);
        if ((flags & SNAPSHOT_LIST_LEAVES) && !(flags & SNAPSHOT_LIST_NO_LEAVES) && !leaf)
                return false;
        if ((flags & SNAPSHOT_LIST_NO_LEAVES) && !(flags & SNAPSHOT_LIST_LEAVES) && leaf)
                return false;
        /* every snapshot has metadata and is internal; none is disk-only */
        if ((flags & SNAPSHOT_LIST_NO_METADATA) && !(flags & SNAPSHOT_LIST_METADATA))
                return false;
        if ((flags & SNAPSHOT_LIST_EXTERNAL) && !(flags & SNAPSHOT_LIST_INTERNAL))
                return false;
        uint64_t kinds = flags & (SNAPSHOT_LIST_INACTIVE | SNAPSHOT_LIST_ACTIVE | SNAPSHOT_LIST_DISK_ONLY);
        if (kinds) {
                bool inactive = s->state == STATE_SHUTOFF;
                if (!((kinds & SNAPSHOT_LIST_INACTIVE) && inactive) && !((kinds & SNAPSHOT_LIST_ACTIVE) && !inactive))
                        return false;
        }
        return true;
}

static unsigned snapshot_depth(Snapshot *s) {
        unsigned n = 0;
        for (Snapshot *p = s->parent; p; p = p->parent)
                n++;
        return n;
}

static gint compare_for_listing(gconstpointer a, gconstpointer b) {
        Snapshot *x = *(Snapshot **) a, *y = *(Snapshot **) b;
        /* parents before children (TOPOLOGICAL), then by creation, then name */
        unsigned dx = snapshot_depth(x), dy = snapshot_depth(y);
        if (dx != dy)
                return dx < dy ? -1 : 1;
        if (x->creation_time != y->creation_time)
                return x->creation_time < y->creation_time ? -1 : 1;
        return strcmp(x->name, y->name);
}

#define SNAPSHOT_LIST_ALL                                                                                        \
        (SNAPSHOT_LIST_ROOTS | SNAPSHOT_LIST_METADATA | SNAPSHOT_LIST_LEAVES | SNAPSHOT_LIST_NO_LEAVES |       \
         SNAPSHOT_LIST_NO_METADATA | SNAPSHOT_LIST_INACTIVE | SNAPSHOT_LIST_ACTIVE | SNAPSHOT_LIST_DISK_ONLY |  \
         SNAPSHOT_LIST_INTERNAL | SNAPSHOT_LIST_EXTERNAL | SNAPSHOT_LIST_TOPOLOGICAL)

static int append_selected(Domain *d, sd_bus_message *reply, Snapshot *under, bool descendants, uint64_t flags) {
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        if (d->snapshots) {
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, d->snapshots);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Snapshot *s = value;
                        bool in_scope = under ? (descendants ? is_descendant(s, under) : s->parent == under)
                                              : (!(flags & SNAPSHOT_LIST_ROOTS) || !s->parent);
                        if (in_scope && matches_list_filters(s, flags))
                                g_ptr_array_add(list, s);
                }
        }
        g_ptr_array_sort(list, compare_for_listing);
        int r = sd_bus_message_open_container(reply, 'a', "o");
        for (guint i = 0; r >= 0 && i < list->len; i++)
                r = sd_bus_message_append(reply, "o", ((Snapshot *) list->pdata[i])->path);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int snapshot_op_list(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SNAPSHOT_LIST_ALL, error);
        if (r < 0)
                return r;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = append_selected(d, reply, NULL, false, flags);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int snapshot_append_children(Snapshot *s, Domain *d, sd_bus_message *reply, uint64_t flags) {
        return append_selected(d, reply, s, flags & SNAPSHOT_LIST_DESCENDANTS, flags & ~SNAPSHOT_LIST_DESCENDANTS);
}

/* ---- CreateSnapshot ---- */

static void publish(Snapshot *s) {
        if (bus_ready(s->domain))
                sd_bus_emit_object_added(s->domain->hv->manager->bus, s->path);
}

static void halt_done(Job *job, DomaindResult r, const char *message) {
        if (r == DOMAIND_OK)
                domain_went_inactive(job->domain, STATE_SHUTOFF, "from-snapshot", "from-snapshot");
        job_finish(job, r, "%s", message ? message : "");
}

static void create_done(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        if (r != DOMAIND_OK)
                return job_finish(job, r, "%s", message);
        Snapshot *s = snapshot_add(d, job->snapshot);
        s->description = g_steal_pointer(&job->xml);
        s->creation_time = (uint64_t) time(NULL);
        s->state = d->state;
        s->parent = d->current_snapshot;
        s->domain_xml = g_strdup(domain_current_def(d)->xml);
        s->memory = job->was_active;
        snapshot_save(s);
        publish(s);
        set_current(d, s);
        job->reply_path = g_strdup(s->path);
        if ((job->flags & SNAPSHOT_CREATE_HALT) && job->was_active)
                return domain_destroy_then(job, halt_done);
        job_finish(job, DOMAIND_OK, NULL);
}

static void create_begin(Job *job) {
        Domain *d = job->domain;
        if (d->state != STATE_RUNNING && d->state != STATE_PAUSED && d->state != STATE_SHUTOFF)
                return job_fail_state(job, "cannot be snapshotted now");
        if (snapshot_find(d, job->snapshot))
                return job_fail_with(job, ERROR_ALREADY_EXISTS, "domain '%s' already has a snapshot '%s'",
                                     domain_name(d), job->snapshot);
        /* as libvirt: the transient domain would vanish, and its snapshot with it */
        if ((job->flags & SNAPSHOT_CREATE_HALT) && !d->persistent)
                return job_fail_state(job, "is transient: HALT would remove it and the snapshot");
        if (!job_plugin_has(job, d->hv->plugin->snapshot_create, "take snapshots"))
                return;
        job->was_active = domain_is_active(d);
        job_set_type(d, JOB_SNAPSHOT);
        d->hv->plugin->snapshot_create(d->hv->hv, domain_to_guest(d), job->snapshot, job->was_active,
                                       job_plugin_call(job, create_done));
}

static bool snapshot_name_ok(const char *name) {
        return *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 200;
}

int snapshot_op_create(Domain *d, sd_bus_message *m, const char *xml, uint64_t flags, sd_bus_error *error) {
        const uint64_t unsupported = SNAPSHOT_CREATE_REDEFINE | SNAPSHOT_CREATE_CURRENT | SNAPSHOT_CREATE_NO_METADATA |
                                     SNAPSHOT_CREATE_DISK_ONLY | SNAPSHOT_CREATE_REUSE_EXT | SNAPSHOT_CREATE_QUIESCE;
        int r = check_flags(flags, unsupported | SNAPSHOT_CREATE_HALT | SNAPSHOT_CREATE_ATOMIC | SNAPSHOT_CREATE_LIVE |
                                           SNAPSHOT_CREATE_VALIDATE,
                            error);
        if (r < 0)
                return r;
        if (flags & unsupported)
                return bus_error_setf(error, ERROR_NOT_SUPPORTED,
                                      "snapshot flags 0x%" PRIx64
                                      " (redefine, current, no-metadata, disk-only, reuse-ext, quiesce) are not supported: domaind keeps internal snapshots with metadata",
                                      flags & unsupported);
        g_autoptr(GError) gerror = NULL;
        g_autoptr(SnapshotRequest) req = snapshot_request_parse(xml, &gerror);
        if (!req)
                return bus_error_setf(error, ERROR_INVALID_XML, "%s", gerror->message);
        g_autofree char *name = req->name ? g_strdup(req->name) : g_strdup_printf("%" PRIu64, (uint64_t) time(NULL));
        if (!snapshot_name_ok(name))
                return bus_error_setf(error, ERROR_INVALID_XML, "<domainsnapshot><name>: '%s' is not a valid name",
                                      name);
        if (snapshot_find(d, name))
                return bus_error_setf(error, ERROR_ALREADY_EXISTS, "domain '%s' already has a snapshot '%s'",
                                      domain_name(d), name);
        Job *job = job_new(d, "CreateSnapshot", m, create_begin);
        job->flags = flags;
        job->snapshot = g_steal_pointer(&name);
        job->xml = g_strdup(req->description);
        job->reply_with_path = true;
        return job_submit(job);
}

/* ---- Revert ---- */

static void revert_done(Job *job, DomaindResult r, const char *message) {
        Domain *d = job->domain;
        if (r != DOMAIND_OK) {
                /* The guest is as it was: so are its configs, unless
                 * DefineXML gave it a new one meanwhile. */
                if (job->saved_def && d->def == job->revert_def) {
                        domain_replace_def(d, g_steal_pointer(&job->saved_def));
                        if (d->persistent)
                                domain_save_config(d);
                }
                if (job->was_active)
                        domain_went_active(d, g_steal_pointer(&job->saved_live));
                else
                        g_clear_pointer(&d->live, domain_def_free);
                return job_finish(job, r, "%s", message);
        }
        Snapshot *s = snapshot_find(d, job->snapshot);
        if (s)
                set_current(d, s);
        if (d->persistent)
                hypervisor_emit_domain_event(d->hv, d, "defined", "from-snapshot");
        switch (job->target) {
        case DOMAIND_STATE_RUNNING:
                domain_set_state(d, STATE_RUNNING, "from-snapshot", "started", "from-snapshot");
                break;
        case DOMAIND_STATE_PAUSED:
                if (!job->was_active)
                        domain_set_state(d, STATE_RUNNING, "from-snapshot", "started", "from-snapshot");
                domain_set_state(d, STATE_PAUSED, "from-snapshot", "suspended", "from-snapshot");
                break;
        default:
                if (job->was_active)
                        domain_went_inactive(d, STATE_SHUTOFF, "from-snapshot", "from-snapshot");
                else {
                        g_clear_pointer(&d->live, domain_def_free);
                        domain_set_state(d, STATE_SHUTOFF, "from-snapshot", NULL, NULL);
                }
                break;
        }
        job_finish(job, DOMAIND_OK, NULL);
}

static void revert_begin(Job *job) {
        Domain *d = job->domain;
        Snapshot *s = snapshot_find(d, job->snapshot);
        if (!s)
                return job_fail_with(job, ERROR_NO_SUCH_SNAPSHOT, "domain '%s' has no snapshot '%s'", domain_name(d),
                                     job->snapshot);
        if (d->has_managed_save)
                return job_fail_state(job, "has a managed save image: remove it before reverting");
        job->target = job->flags & SNAPSHOT_REVERT_RUNNING  ? DOMAIND_STATE_RUNNING
                      : job->flags & SNAPSHOT_REVERT_PAUSED ? DOMAIND_STATE_PAUSED
                      : s->state == STATE_RUNNING           ? DOMAIND_STATE_RUNNING
                      : s->state == STATE_PAUSED            ? DOMAIND_STATE_PAUSED
                                                            : DOMAIND_STATE_SHUTOFF;
        if (job->target == DOMAIND_STATE_SHUTOFF && !d->persistent)
                return job_fail_with(job, ERROR_INVALID_STATE,
                                     "transient domain '%s' would vanish: revert to inactive snapshot '%s' with RUNNING or PAUSED (state: %s)",
                                     domain_name(d), s->name, domain_state_to_string(d->state));
        if (!job_plugin_has(job, d->hv->plugin->snapshot_revert, "revert snapshots"))
                return;
        g_autoptr(GError) gerror = NULL;
        DomainDef *def = domain_def_parse(s->domain_xml, &gerror);
        if (!def)
                return job_fail_with(job, ERROR_INVALID_XML, "snapshot '%s' holds a bad config: %s", s->name,
                                     gerror->message);
        job->was_active = domain_is_active(d);
        job->saved_live = d->live ? domain_def_copy(d->live) : NULL;
        if (d->persistent) {
                job->saved_def = domain_def_copy(d->def);
                domain_replace_def(d, domain_def_copy(def));
                job->revert_def = d->def;
                domain_save_config(d);
        }
        domain_went_active(d, def); /* guest_xml() now gives the snapshot's config */
        job_set_type(d, JOB_SNAPSHOT);
        d->hv->plugin->snapshot_revert(d->hv->hv, domain_to_guest(d), s->name, job->target,
                                       job_plugin_call(job, revert_done));
}

int snapshot_op_revert(Snapshot *s, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SNAPSHOT_REVERT_RUNNING | SNAPSHOT_REVERT_PAUSED | SNAPSHOT_REVERT_FORCE, error);
        if (r < 0)
                return r;
        if ((flags & SNAPSHOT_REVERT_RUNNING) && (flags & SNAPSHOT_REVERT_PAUSED))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "flags RUNNING and PAUSED exclude each other");
        Job *job = job_new(s->domain, "Revert", m, revert_begin);
        job->flags = flags;
        job->snapshot = g_strdup(s->name);
        return job_submit(job);
}

/* ---- Delete ---- */

static void delete_next(Job *job);

static void delete_one_done(Job *job, DomaindResult r, const char *message) {
        if (r != DOMAIND_OK)
                return job_finish(job, r, "%s", message);
        Snapshot *s = snapshot_find(job->domain, job->items->pdata[job->items->len - 1]);
        if (s)
                snapshot_drop(s);
        g_ptr_array_remove_index(job->items, job->items->len - 1);
        delete_next(job);
}

/* Deletes job->items from the end: children were queued after parents. */
static void delete_next(Job *job) {
        Domain *d = job->domain;
        if (job->items->len == 0) {
                if (d->snapshots && g_hash_table_size(d->snapshots) == 0) {
                        g_autofree char *dir = snapshot_dir(d);
                        rmdir(dir);
                }
                return job_finish(job, DOMAIND_OK, NULL);
        }
        const char *name = job->items->pdata[job->items->len - 1];
        if (job->flags & SNAPSHOT_DELETE_METADATA_ONLY || !d->hv->plugin->snapshot_delete)
                return delete_one_done(job, DOMAIND_OK, NULL);
        d->hv->plugin->snapshot_delete(d->hv->hv, domain_to_guest(d), name, job_plugin_call(job, delete_one_done));
}

static void queue_descendants(Domain *d, Snapshot *s, GPtrArray *items) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, d->snapshots);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Snapshot *child = value;
                if (child->parent != s)
                        continue;
                g_ptr_array_add(items, g_strdup(child->name));
                queue_descendants(d, child, items);
        }
}

static void delete_begin(Job *job) {
        Domain *d = job->domain;
        Snapshot *s = snapshot_find(d, job->snapshot);
        if (!s)
                return job_fail_with(job, ERROR_NO_SUCH_SNAPSHOT, "domain '%s' has no snapshot '%s'", domain_name(d),
                                     job->snapshot);
        job->items = g_ptr_array_new_with_free_func(g_free);
        if (!(job->flags & SNAPSHOT_DELETE_CHILDREN_ONLY))
                g_ptr_array_add(job->items, g_strdup(s->name));
        if (job->flags & (SNAPSHOT_DELETE_CHILDREN | SNAPSHOT_DELETE_CHILDREN_ONLY))
                queue_descendants(d, s, job->items);
        delete_next(job);
}

int snapshot_op_delete(Snapshot *s, sd_bus_message *m, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, SNAPSHOT_DELETE_CHILDREN | SNAPSHOT_DELETE_METADATA_ONLY | SNAPSHOT_DELETE_CHILDREN_ONLY,
                            error);
        if (r < 0)
                return r;
        if ((flags & SNAPSHOT_DELETE_CHILDREN) && (flags & SNAPSHOT_DELETE_CHILDREN_ONLY))
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "flags CHILDREN and CHILDREN_ONLY exclude each other");
        Job *job = job_new(s->domain, "Delete", m, delete_begin);
        job->flags = flags;
        job->snapshot = g_strdup(s->name);
        return job_submit(job);
}
