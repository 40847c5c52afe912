/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain-ops.h"
#include "fileio.h"
#include "hypervisor.h"
#include "job.h"
#include "log.h"
#include "snapshot.h"

Hypervisor *hypervisor_from_host(const DomaindHost *host) {
        return (Hypervisor *) ((char *) host - offsetof(Hypervisor, host));
}

/* ---- the host table lent to plugins ---- */

static const char *host_config_get(const DomaindHost *host, const char *key) {
        Hypervisor *h = hypervisor_from_host(host);
        GKeyFile *config = h->manager->config;
        if (!config || !g_key_file_has_key(config, h->name, key, NULL))
                return NULL;
        /* GKeyFile hands out copies; keep them alive as long as the plugin. */
        char *value = g_key_file_get_string(config, h->name, key, NULL);
        if (!value)
                return NULL;
        const char *interned = g_intern_string(value);
        g_free(value);
        return interned;
}

static void host_log(int priority, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        log_atv(priority, format, ap);
        va_end(ap);
}

static const char *host_guest_uuid(DomaindGuest *g) {
        return domain_from_guest(g)->uuid;
}
static const char *host_guest_name(DomaindGuest *g) {
        return domain_name(domain_from_guest(g));
}
static const char *host_guest_xml(DomaindGuest *g) {
        return domain_current_def(domain_from_guest(g))->xml;
}
static void *host_guest_get_data(DomaindGuest *g) {
        return domain_from_guest(g)->plugin_data;
}
static void host_guest_set_data(DomaindGuest *g, void *data) {
        domain_from_guest(g)->plugin_data = data;
}

static void host_job_progress(DomaindGuest *g, uint64_t processed, uint64_t total) {
        Domain *d = domain_from_guest(g);
        d->job_processed = processed;
        d->job_total = total;
}

static void host_status_changed(DomaindGuest *g) {
        Domain *d = domain_from_guest(g);
        if (!domain_is_active(d) || d->gone)
                return;
        /* a new process or domain behind the same guest (Xen recreates the
         * domain on reset): the Id moves with it */
        DomaindGuestInfo info;
        domain_get_info(d, &info);
        if (info.id >= 0 && info.id != d->id) {
                d->id = info.id;
                domain_emit_changed(d, "Id", NULL);
        }
        domain_save_status(d);
}

static void init_host(Hypervisor *h) {
        h->host = (DomaindHost){
                .abi_version = DOMAIND_PLUGIN_ABI_VERSION,
                .event = h->manager->event,
                .state_dir = h->state_dir,
                .runtime_dir = h->runtime_dir,
                .config_get = host_config_get,
                .log = host_log,
                .guest_uuid = host_guest_uuid,
                .guest_name = host_guest_name,
                .guest_xml = host_guest_xml,
                .guest_get_data = host_guest_get_data,
                .guest_set_data = host_guest_set_data,
                .call_done = job_host_call_done,
                .guest_event = domain_host_guest_event,
                .job_progress = host_job_progress,
                .status_changed = host_status_changed,
        };
}

/* ---- loading ---- */

static bool plugin_name_ok(const char *name) {
        if (!name || !*name || strlen(name) > 32)
                return false;
        for (const char *p = name; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '_')
                        return false;
        return true;
}

static int make_dirs(Hypervisor *h) {
        const char *subdirs[] = { "domains", "autostart", "save", "snapshots" };
        for (size_t i = 0; i < G_N_ELEMENTS(subdirs); i++) {
                g_autofree char *dir = g_build_filename(h->state_dir, subdirs[i], NULL);
                int r = mkdir_parents(dir, 0700);
                if (r < 0)
                        return r;
        }
        return mkdir_parents(h->runtime_dir, 0700);
}

static void module_closep(GModule **module) {
        if (*module)
                g_module_close(*module);
}

Hypervisor *hypervisor_load(Manager *m, const char *file, char **name, char **why) {
        _cleanup_(module_closep) GModule *module = g_module_open(file, G_MODULE_BIND_LOCAL);
        if (!module) {
                *why = g_strdup(g_module_error());
                return NULL;
        }
        const DomaindPlugin *(*entry)(void) = NULL;
        if (!g_module_symbol(module, DOMAIND_PLUGIN_ENTRY_SYMBOL, (gpointer *) &entry) || !entry) {
                *why = g_strdup_printf("no %s() in it: not a domaind plugin", DOMAIND_PLUGIN_ENTRY_SYMBOL);
                return NULL;
        }
        const DomaindPlugin *plugin = entry();
        if (!plugin) {
                *why = g_strdup("its entry point returned no plugin table");
                return NULL;
        }
        if (plugin->abi_version != DOMAIND_PLUGIN_ABI_VERSION) {
                *why = g_strdup_printf("plugin ABI version %u, domaind speaks %u", plugin->abi_version,
                                       DOMAIND_PLUGIN_ABI_VERSION);
                return NULL;
        }
        if (!plugin_name_ok(plugin->name)) {
                *why = g_strdup("the plugin's name is not a short [A-Za-z0-9_] word");
                return NULL;
        }
        *name = g_strdup(plugin->name);
        Hypervisor *h = hypervisor_open(m, plugin, why);
        if (h)
                h->module = g_steal_pointer(&module);
        return h;
}

Hypervisor *hypervisor_open(Manager *m, const DomaindPlugin *plugin, char **why) {
        if (manager_find_hypervisor(m, plugin->name)) {
                *why = g_strdup_printf("another plugin already provides '%s'", plugin->name);
                return NULL;
        }
        if (!plugin->open) {
                *why = g_strdup("the plugin has no open()");
                return NULL;
        }

        Hypervisor *h = g_new0(Hypervisor, 1);
        h->manager = m;
        h->plugin = plugin;
        h->name = g_strdup(plugin->name);
        h->path = g_strdup_printf("%s/%s", MANAGER_PATH, h->name);
        h->domain_prefix = g_strdup_printf("%s/domain", h->path);
        h->state_dir = g_build_filename(m->state_dir, h->name, NULL);
        h->runtime_dir = g_build_filename(m->runtime_dir, h->name, NULL);
        h->domains = g_hash_table_new(g_str_hash, g_str_equal);
        h->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        h->removed = g_ptr_array_new();
        init_host(h);

        int r = make_dirs(h);
        if (r < 0) {
                *why = g_strdup_printf("cannot create its folders under %s: %s", h->state_dir, g_strerror(-r));
                hypervisor_free(h);
                return NULL;
        }
        char *reason = NULL;
        r = plugin->open(&h->host, &h->hv, &reason);
        if (r < 0) {
                *why = reason ? reason : g_strdup_printf("cannot open the hypervisor: %s", g_strerror(-r));
                h->plugin = NULL; /* nothing to close */
                hypervisor_free(h);
                return NULL;
        }
        h->version = plugin->version ? plugin->version(h->hv) : NULL;
        if (!h->version)
                h->version = g_strdup("");
        return h;
}

void hypervisor_free(Hypervisor *h) {
        if (!h)
                return;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, h->domains);
        /* No forget(): the guests live on, close() drops the plugin's records. */
        while (g_hash_table_iter_next(&it, NULL, &value))
                domain_free(value);
        while (h->removed->len > 0)
                domain_free(h->removed->pdata[0]);
        g_ptr_array_unref(h->removed);
        if (h->plugin && h->plugin->close)
                h->plugin->close(h->hv);
        g_hash_table_unref(h->domains);
        g_hash_table_unref(h->by_name);
        if (h->module)
                g_module_close(h->module);
        g_free(h->name);
        g_free(h->path);
        g_free(h->domain_prefix);
        g_free(h->state_dir);
        g_free(h->runtime_dir);
        g_free(h->version);
        g_free(h);
}

/* ---- registry ---- */

Domain *hypervisor_find_domain_by_uuid(Hypervisor *h, const char *uuid) {
        return g_hash_table_lookup(h->domains, uuid);
}

Domain *hypervisor_find_domain_by_name(Hypervisor *h, const char *name) {
        return g_hash_table_lookup(h->by_name, name);
}

Domain *hypervisor_find_domain_by_id(Hypervisor *h, int id) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, h->domains);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (((Domain *) value)->id == id && domain_is_active(value))
                        return value;
        return NULL;
}

/* path = <domain_prefix>/<32 hex digits> */
Domain *hypervisor_find_domain_by_path(Hypervisor *h, const char *path) {
        size_t n = strlen(h->domain_prefix);
        if (strncmp(path, h->domain_prefix, n) != 0 || path[n] != '/')
                return NULL;
        const char *hex = path + n + 1;
        if (strlen(hex) != 32)
                return NULL;
        char uuid[37];
        size_t j = 0;
        for (size_t i = 0; i < 32; i++) {
                if (i == 8 || i == 12 || i == 16 || i == 20)
                        uuid[j++] = '-';
                uuid[j++] = hex[i];
        }
        uuid[j] = 0;
        return hypervisor_find_domain_by_uuid(h, uuid);
}

void hypervisor_emit_domain_event(Hypervisor *h, Domain *d, const char *event, const char *detail) {
        if (!h->manager->bus)
                return;
        sd_bus_emit_signal(h->manager->bus, h->path, "org.domaind1.Hypervisor", "DomainEvent", "oss", d->path, event,
                           detail ? detail : "");
}

bool domain_matches_list_flags(Domain *d, uint64_t flags) {
        bool active = domain_is_active(d);
#define PAIR(yes, no, cond)                                                                                            \
        if ((flags & ((yes) | (no))) && !(((flags & (yes)) && (cond)) || ((flags & (no)) && !(cond))))                 \
                return false;
        PAIR(LIST_ACTIVE, LIST_INACTIVE, active)
        PAIR(LIST_PERSISTENT, LIST_TRANSIENT, d->persistent)
        PAIR(LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE, d->has_managed_save)
        PAIR(LIST_AUTOSTART, LIST_NO_AUTOSTART, d->autostart)
        PAIR(LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT, snapshot_count(d) > 0)
#undef PAIR
        uint64_t states = flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER);
        if (states) {
                bool ok = ((states & LIST_RUNNING) && d->state == STATE_RUNNING) ||
                          ((states & LIST_PAUSED) && d->state == STATE_PAUSED) ||
                          ((states & LIST_SHUTOFF) && (d->state == STATE_SHUTOFF || d->state == STATE_SAVED)) ||
                          ((states & LIST_OTHER) && (d->state == STATE_SHUTDOWN || d->state == STATE_CRASHED ||
                                                     d->state == STATE_PMSUSPENDED));
                if (!ok)
                        return false;
        }
        return true;
}

static gint compare_domains(gconstpointer a, gconstpointer b) {
        return strcmp(domain_name(*(Domain **) a), domain_name(*(Domain **) b));
}

static int append_domain_paths(Hypervisor *h, sd_bus_message *reply, uint64_t flags) {
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, h->domains);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (domain_matches_list_flags(value, flags))
                        g_ptr_array_add(list, value);
        g_ptr_array_sort(list, compare_domains);
        for (guint i = 0; i < list->len; i++) {
                int r = sd_bus_message_append(reply, "o", ((Domain *) list->pdata[i])->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

int reply_domain_list(sd_bus_message *m, Hypervisor *const *hs, size_t n, uint64_t flags, sd_bus_error *error) {
        int r = check_flags(flags, LIST_ALL_FLAGS, error);
        if (r < 0)
                return r;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = append_domain_paths(hs[i], reply, flags);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- loading state from disk ---- */

static void load_persistent(Hypervisor *h) {
        g_autofree char *dir = g_build_filename(h->state_dir, "domains", NULL);
        g_autoptr(GDir) gdir = g_dir_open(dir, 0, NULL);
        const char *entry;
        while (gdir && (entry = g_dir_read_name(gdir))) {
                if (!g_str_has_suffix(entry, ".xml") || entry[0] == '.' || strstr(entry, ".tmp"))
                        continue;
                g_autofree char *path = g_build_filename(dir, entry, NULL);
                g_autofree char *xml = NULL;
                g_autoptr(GError) error = NULL;
                DomainDef *def = NULL;
                if (!g_file_get_contents(path, &xml, NULL, &error) || !(def = domain_def_parse(xml, &error))) {
                        /* Never delete what we cannot read: a person may fix it. */
                        log_error("%s: skipping %s: %s", h->name, path, error->message);
                        continue;
                }
                if (hypervisor_find_domain_by_uuid(h, def->uuid) || hypervisor_find_domain_by_name(h, def->name)) {
                        log_error("%s: skipping %s: name or uuid used twice", h->name, path);
                        domain_def_free(def);
                        continue;
                }
                Domain *d = domain_new(h, def, true);
                g_autofree char *link = domain_autostart_path(d);
                d->autostart = g_file_test(link, G_FILE_TEST_EXISTS);
                g_autofree char *image = domain_managed_save_path(d);
                if (g_file_test(image, G_FILE_TEST_IS_REGULAR)) {
                        d->has_managed_save = true;
                        d->state = STATE_SAVED;
                        d->reason = "saved";
                }
                snapshot_load_all(d);
        }
}

static char *xml_attr(xmlNode *n, const char *name) {
        xmlChar *v = xmlGetProp(n, BAD_CAST name);
        char *r = g_strdup((const char *) v);
        xmlFree(v);
        return r;
}

static const char *intern_reason(const char *reason) {
        return g_intern_string(reason && *reason ? reason : "unknown");
}

static DomainState state_from_plugin(DomaindState s) {
        switch (s) {
        case DOMAIND_STATE_RUNNING:
                return STATE_RUNNING;
        case DOMAIND_STATE_PAUSED:
                return STATE_PAUSED;
        case DOMAIND_STATE_SHUTDOWN:
                return STATE_SHUTDOWN;
        case DOMAIND_STATE_CRASHED:
                return STATE_CRASHED;
        case DOMAIND_STATE_PMSUSPENDED:
                return STATE_PMSUSPENDED;
        default:
                return STATE_SHUTOFF;
        }
}

static void reattach_autodestroy(Domain *d, const char *owner);

/* A runtime status file: a guest that was active when domaind stopped. */
static void load_status(Hypervisor *h, const char *path) {
        xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
        xmlNode *plugin_node = NULL, *domain_node = NULL;
        for (xmlNode *n = root ? root->children : NULL; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                if (xmlStrEqual(n->name, BAD_CAST "plugin"))
                        plugin_node = n;
                else if (xmlStrEqual(n->name, BAD_CAST "domain"))
                        domain_node = n;
        }
        if (!domain_node) {
                log_error("%s: ignoring unreadable status %s", h->name, path);
                xmlFreeDoc(doc);
                return;
        }
        g_autofree char *reason = xml_attr(root, "reason");
        g_autofree char *owner = xml_attr(root, "autodestroy");
        xmlChar *plugin_text = plugin_node ? xmlNodeGetContent(plugin_node) : NULL;
        xmlBuffer *buf = xmlBufferCreate();
        xmlNodeDump(buf, doc, domain_node, 0, 0);
        g_autoptr(GError) error = NULL;
        DomainDef *live = domain_def_parse((const char *) xmlBufferContent(buf), &error);
        xmlBufferFree(buf);
        xmlFreeDoc(doc);
        g_autofree char *status = g_strdup((const char *) plugin_text);
        xmlFree(plugin_text);
        if (!live) {
                log_error("%s: ignoring status %s: %s", h->name, path, error->message);
                return;
        }

        Domain *d = hypervisor_find_domain_by_uuid(h, live->uuid);
        if (!d) {
                d = domain_new(h, domain_def_copy(live), false);
                snapshot_load_all(d); /* to keep, or to delete with it below */
        }
        d->live = live;
        DomaindState state = DOMAIND_STATE_SHUTOFF;
        bool alive = h->plugin->attach && h->plugin->attach(h->hv, domain_to_guest(d), status, &state);
        if (!alive || state == DOMAIND_STATE_SHUTOFF) {
                log_notice("%s: guest of '%s' is gone since domaind stopped", h->name, domain_name(d));
                g_clear_pointer(&d->live, domain_def_free);
                unlink_if_exists(path);
                if (!d->persistent)
                        domain_remove(d);
                return;
        }
        d->state = state_from_plugin(state);
        d->reason = intern_reason(reason);
        DomaindGuestInfo info;
        domain_get_info(d, &info);
        d->id = info.id;
        reattach_autodestroy(d, owner);
        log_info("%s: found '%s' %s (id %d)", h->name, domain_name(d), domain_state_to_string(d->state), d->id);
}

/* The client that asked for AUTODESTROY may still be on the bus. */
static void reattach_autodestroy(Domain *d, const char *owner) {
        if (!owner || !*owner)
                return;
        if (domain_watch_autodestroy(d, NULL, owner) < 0) {
                log_info("%s: its autodestroy owner %s left while domaind was down", domain_name(d), owner);
                domain_autodestroy(d);
        }
}

void hypervisor_load_domains(Hypervisor *h) {
        load_persistent(h);
        g_autoptr(GDir) gdir = g_dir_open(h->runtime_dir, 0, NULL);
        const char *entry;
        while (gdir && (entry = g_dir_read_name(gdir))) {
                if (!g_str_has_suffix(entry, ".xml") || entry[0] == '.' || strstr(entry, ".tmp"))
                        continue;
                g_autofree char *path = g_build_filename(h->runtime_dir, entry, NULL);
                load_status(h, path);
        }
}
