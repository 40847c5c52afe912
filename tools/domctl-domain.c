/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — domain commands: list, define/create/undefine, the lifecycle,
 * save/restore, XML, autostart and information.
 */
#include <stdlib.h>

#include "config.h"
#include "domctl.h"

/* Hypervisor.ListDomains / Manager.ListDomains flags (libvirt's values) */
#define LIST_ACTIVE     UINT64_C(1)
#define LIST_INACTIVE   UINT64_C(2)

/* Domain.GetXMLDesc flags */
#define XML_SECURE      UINT64_C(1)
#define XML_INACTIVE    UINT64_C(2)
#define XML_MIGRATABLE  UINT64_C(8)

#define DOMAIN_ARG { "domain", ARG_POS, "domain name, id or uuid" }

static const FlagMap list_filter_flags[] = {
        { "persistent",            UINT64_C(4) },
        { "transient",             UINT64_C(8) },
        { "state-running",         UINT64_C(16) },
        { "state-paused",          UINT64_C(32) },
        { "state-shutoff",         UINT64_C(64) },
        { "state-other",           UINT64_C(128) },
        { "with-managed-save",     UINT64_C(256) },
        { "without-managed-save",  UINT64_C(512) },
        { "autostart",             UINT64_C(1024) },
        { "no-autostart",          UINT64_C(2048) },
        { "with-snapshot",         UINT64_C(4096) },
        { "without-snapshot",      UINT64_C(8192) },
        {}
};

static const FlagMap create_flags[] = {
        { "paused",      UINT64_C(1) },
        { "autodestroy", UINT64_C(2) },
        {}
};

static const FlagMap start_flags[] = {
        { "paused",       UINT64_C(1) },
        { "autodestroy",  UINT64_C(2) },
        { "bypass-cache", UINT64_C(4) },
        { "force-boot",   UINT64_C(8) },
        {}
};

static const FlagMap undefine_flags[] = {
        { "managed-save",       UINT64_C(1) },
        { "snapshots-metadata", UINT64_C(2) },
        { "nvram",              UINT64_C(4) },
        { "keep-nvram",         UINT64_C(8) },
        { "remove-all-storage", UINT64_C(1024) },
        { "wipe-storage",       UINT64_C(2048) },
        {}
};

static const FlagMap save_flags[] = {
        { "bypass-cache", UINT64_C(1) },
        { "running",      UINT64_C(2) },
        { "paused",       UINT64_C(4) },
        {}
};

static const FlagMap restore_flags[] = {
        { "running", UINT64_C(2) },
        { "paused",  UINT64_C(4) },
        {}
};

static const FlagMap dumpxml_flags[] = {
        { "security-info", XML_SECURE },
        { "inactive",      XML_INACTIVE },
        { "migratable",    XML_MIGRATABLE },
        {}
};

/* ---- list ---- */

typedef struct DomainRow {
        int64_t id;
        const char *name;
        const char *state;
        const char *uuid;
} DomainRow;

static int domain_row_compare(const void *a, const void *b) {
        const DomainRow *x = a, *y = b;

        /* running ones first by id, then the inactive ones (-1) by name */
        if ((x->id < 0) != (y->id < 0))
                return x->id < 0 ? 1 : -1;
        if (x->id != y->id)
                return x->id < y->id ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int list_domain_paths(Context *ctx, uint64_t flags, char ***ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path = DOMAIND_ROOT_PATH, *iface = IFACE_MANAGER;
        int r;

        /* Without --hypervisor, list the domains of every hypervisor. */
        if (ctx->hypervisor_arg) {
                r = hypervisor_path(ctx, &path);
                if (r < 0)
                        return r;
                iface = IFACE_HYPERVISOR;
        }

        r = bus_call(ctx, path, iface, "ListDomains", CALL_TIMEOUT_DEFAULT, &reply, "t", flags);
        if (r < 0)
                return r;

        r = sd_bus_message_read_strv(reply, ret);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        if (!*ret)      /* sd-bus gives NULL for an empty array */
                *ret = g_new0(char *, 1);
        return 0;
}

static GArray *domain_rows(char **paths, GHashTable *objects) {
        GArray *rows = g_array_new(false, true, sizeof(DomainRow));

        for (char **p = paths; p && *p; p++) {
                GHashTable *props = g_hash_table_lookup(objects, *p);
                DomainRow row;

                if (!props)     /* gone between the two calls */
                        continue;
                row = (DomainRow) {
                        .id = props_int(props, "Id", -1),
                        .name = props_str(props, "Name") ?: path_last_element(*p),
                        .state = state_to_string(props_str(props, "State")),
                        .uuid = props_str(props, "UUID") ?: "",
                };
                g_array_append_val(rows, row);
        }

        g_array_sort(rows, domain_row_compare);
        return rows;
}

static void print_domain_table(GArray *rows) {
        g_autoptr(Table) t = table_new(3, "Id", "Name", "State");

        for (size_t i = 0; i < rows->len; i++) {
                const DomainRow *row = &g_array_index(rows, DomainRow, i);
                g_autofree char *id = row->id >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, row->id)
                                                   : g_strdup("-");

                table_add_row(t, id, row->name, row->state);
        }
        table_print(t);
}

static int verb_list(Context *ctx, const Cmd *cmd) {
        g_auto(GStrv) paths = NULL;
        g_autoptr(GHashTable) objects = NULL;
        g_autoptr(GArray) rows = NULL;
        bool names = cmd_bool(cmd, "name"), uuids = cmd_bool(cmd, "uuid");
        uint64_t flags = LIST_ACTIVE;
        int r;

        if (cmd_bool(cmd, "inactive"))
                flags = LIST_INACTIVE;
        if (cmd_bool(cmd, "all"))
                flags = LIST_ACTIVE | LIST_INACTIVE;
        flags |= cmd_flags(cmd, list_filter_flags);

        r = list_domain_paths(ctx, flags, &paths);
        if (r < 0)
                return r;

        r = bus_get_managed_objects(ctx, IFACE_DOMAIN, &objects);
        if (r < 0)
                return r;

        rows = domain_rows(paths, objects);
        if (!names && !uuids) {
                print_domain_table(rows);
                return 0;
        }

        for (size_t i = 0; i < rows->len; i++) {
                const DomainRow *row = &g_array_index(rows, DomainRow, i);

                printf("%s%s%s\n", uuids ? row->uuid : "", names && uuids ? " " : "",
                       names ? row->name : "");
        }
        return 0;
}

/* ---- define, create, undefine ---- */

static int verb_define(Context *ctx, const Cmd *cmd) {
        const char *file = cmd_str(cmd, "file"), *hv;
        g_autofree char *xml = NULL, *path = NULL, *name = NULL;
        int r;

        r = read_text_file(file, &xml);
        if (r < 0)
                return r;
        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;

        r = bus_call_object(ctx, hv, IFACE_HYPERVISOR, "DefineXML", CALL_TIMEOUT_DEFAULT,
                            &path, "st", xml, UINT64_C(0));
        if (r < 0)
                return r;

        name = domain_name_quiet(ctx, path);
        printf("Domain '%s' defined from %s\n", name, file);
        return 0;
}

static int verb_create(Context *ctx, const Cmd *cmd) {
        const char *file = cmd_str(cmd, "file"), *hv;
        g_autofree char *xml = NULL, *path = NULL, *name = NULL;
        g_autoptr(DomainWatch) watch = NULL;
        int r;

        r = read_text_file(file, &xml);
        if (r < 0)
                return r;
        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;

        /* Listen before the call, so that no event can slip past. */
        if (cmd_bool(cmd, "autodestroy")) {
                r = domain_watch_new(ctx, &watch);
                if (r < 0)
                        return r;
        }

        r = bus_call_object(ctx, hv, IFACE_HYPERVISOR, "CreateXML", CALL_TIMEOUT_JOB,
                            &path, "st", xml, cmd_flags(cmd, create_flags));
        if (r < 0)
                return r;

        name = domain_name_quiet(ctx, path);
        printf("Domain '%s' created from %s\n", name, file);
        fflush(stdout);

        return watch ? domain_watch_run(watch, path, name) : 0;
}

static int check_undefine_args(const Cmd *cmd) {
        if (cmd_bool(cmd, "wipe-storage") && !cmd_bool(cmd, "remove-all-storage"))
                return log_usage("--wipe-storage requires --remove-all-storage");
        return 0;
}

static int verb_undefine(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        /* wiping large volumes takes as long as it takes */
        r = bus_call(ctx, dom.path, IFACE_DOMAIN, "Undefine",
                     cmd_bool(cmd, "wipe-storage") ? CALL_TIMEOUT_INFINITE : CALL_TIMEOUT_JOB,
                     NULL, "t", cmd_flags(cmd, undefine_flags));
        if (r < 0)
                return r;

        printf("Domain '%s' has been undefined\n", dom.name);
        return 0;
}

/* ---- lifecycle ---- */

static int verb_start(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autoptr(DomainWatch) watch = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        if (cmd_bool(cmd, "autodestroy")) {
                r = domain_watch_new(ctx, &watch);
                if (r < 0)
                        return r;
        }

        r = bus_call(ctx, dom.path, IFACE_DOMAIN, "Start", CALL_TIMEOUT_JOB, NULL,
                     "t", cmd_flags(cmd, start_flags));
        if (r < 0)
                return r;

        printf("Domain '%s' started\n", dom.name);
        fflush(stdout);

        return watch ? domain_watch_run(watch, dom.path, dom.name) : 0;
}

/* A Domain method taking (t flags), or no argument when has_flags is false. */
static int domain_action(Context *ctx, const Cmd *cmd, const char *method, bool has_flags,
                         uint64_t flags, const char *done) {
        _cleanup_(domain_done) Domain dom = {};
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        if (has_flags)
                r = bus_call(ctx, dom.path, IFACE_DOMAIN, method, CALL_TIMEOUT_JOB, NULL,
                             "t", flags);
        else
                r = bus_call(ctx, dom.path, IFACE_DOMAIN, method, CALL_TIMEOUT_JOB, NULL, NULL);
        if (r < 0)
                return r;

        printf("Domain '%s' %s\n", dom.name, done);
        return 0;
}

static int verb_shutdown(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Shutdown", true, 0, "is being shutdown");
}

static int verb_reboot(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Reboot", true, 0, "is being rebooted");
}

static int verb_reset(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Reset", true, 0, "was reset");
}

static int verb_destroy(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Destroy", true, cmd_bool(cmd, "graceful") ? 1 : 0,
                             "destroyed");
}

static int verb_suspend(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Suspend", false, 0, "suspended");
}

static int verb_resume(Context *ctx, const Cmd *cmd) {
        return domain_action(ctx, cmd, "Resume", false, 0, "resumed");
}

/* ---- save and restore ---- */

static int read_optional_xml(const Cmd *cmd, char **ret) {
        const char *file = cmd_str(cmd, "xml");

        if (!file) {
                *ret = g_strdup("");
                return 0;
        }
        return read_text_file(file, ret);
}

static int verb_save(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autofree char *path = NULL, *xml = NULL;
        const char *file = cmd_str(cmd, "file");
        int r;

        r = absolute_path(file, &path);
        if (r < 0)
                return r;
        r = read_optional_xml(cmd, &xml);
        if (r < 0)
                return r;
        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = bus_call(ctx, dom.path, IFACE_DOMAIN, "Save", CALL_TIMEOUT_JOB, NULL, "sst",
                     path, xml, cmd_flags(cmd, save_flags));
        if (r < 0)
                return r;

        printf("Domain '%s' saved to %s\n", dom.name, file);
        return 0;
}

static int verb_restore(Context *ctx, const Cmd *cmd) {
        g_autofree char *path = NULL, *xml = NULL, *domain = NULL;
        const char *file = cmd_str(cmd, "file"), *hv;
        int r;

        r = absolute_path(file, &path);
        if (r < 0)
                return r;
        r = read_optional_xml(cmd, &xml);
        if (r < 0)
                return r;
        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;

        r = bus_call_object(ctx, hv, IFACE_HYPERVISOR, "Restore", CALL_TIMEOUT_JOB, &domain,
                            "sst", path, xml, cmd_flags(cmd, restore_flags));
        if (r < 0)
                return r;

        printf("Domain restored from %s\n", file);
        return 0;
}

static int verb_managedsave(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = bus_call(ctx, dom.path, IFACE_DOMAIN, "ManagedSave", CALL_TIMEOUT_JOB, NULL,
                     "t", cmd_flags(cmd, save_flags));
        if (r < 0)
                return r;

        printf("Domain '%s' state saved by domaind\n", dom.name);
        return 0;
}

static int verb_managedsave_remove(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        bool has;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = bus_get_bool(ctx, dom.path, IFACE_DOMAIN, "HasManagedSave", &has);
        if (r < 0)
                return r;

        if (!has) {
                printf("Domain '%s' has no manage save image; removal skipped\n", dom.name);
                return 0;
        }

        r = bus_call(ctx, dom.path, IFACE_DOMAIN, "ManagedSaveRemove", CALL_TIMEOUT_JOB, NULL,
                     "t", UINT64_C(0));
        if (r < 0)
                return r;

        printf("Removed managedsave image for domain '%s'\n", dom.name);
        return 0;
}

/* ---- XML ---- */

static int verb_dumpxml(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autofree char *xml = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = bus_call_string(ctx, dom.path, IFACE_DOMAIN, "GetXMLDesc", CALL_TIMEOUT_DEFAULT,
                            &xml, "t", cmd_flags(cmd, dumpxml_flags));
        if (r < 0)
                return r;

        print_text(xml);
        return 0;
}

/* ---- autostart ---- */

static int verb_autostart(Context *ctx, const Cmd *cmd) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(domain_done) Domain dom = {};
        bool enable = !cmd_bool(cmd, "disable");
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = sd_bus_set_property(ctx->bus, DOMAIND_SERVICE, dom.path, IFACE_DOMAIN,
                                "Autostart", &error, "b", (int) enable);
        if (r < 0)
                return log_bus_error(&error, r);

        printf("Domain '%s' %s as autostarted\n", dom.name, enable ? "marked" : "unmarked");
        return 0;
}

/* ---- information ---- */

static const char *yes_no(int b) {
        return b < 0 ? "unknown" : b ? "yes" : "no";
}

static void print_dominfo(const Domain *dom, GHashTable *p) {
        int64_t id = props_int(p, "Id", -1);
        int autostart = props_bool(p, "Autostart");

        if (id >= 0)
                printf("%-15s %" G_GINT64_FORMAT "\n", "Id:", id);
        else
                printf("%-15s %s\n", "Id:", "-");
        printf("%-15s %s\n", "Name:", props_str(p, "Name") ?: dom->name);
        printf("%-15s %s\n", "UUID:", props_str(p, "UUID") ?: "");
        printf("%-15s %s\n", "State:", state_to_string(props_str(p, "State")));
        printf("%-15s %" G_GUINT64_FORMAT "\n", "CPU(s):", props_uint(p, "VCPUs", 0));
        printf("%-15s %.1lfs\n", "CPU time:", (double) props_uint(p, "CPUTime", 0) / 1e9);
        printf("%-15s %" G_GUINT64_FORMAT " KiB\n", "Max memory:", props_uint(p, "MaxMemory", 0));
        printf("%-15s %" G_GUINT64_FORMAT " KiB\n", "Used memory:", props_uint(p, "Memory", 0));
        printf("%-15s %s\n", "Persistent:", yes_no(props_bool(p, "Persistent")));
        printf("%-15s %s\n", "Autostart:",
               autostart < 0 ? "unknown" : autostart ? "enable" : "disable");
        printf("%-15s %s\n", "Managed save:", yes_no(props_bool(p, "HasManagedSave")));
        printf("%-15s %s\n", "Job:", props_str(p, "Job") ?: "none");
}

static int verb_dominfo(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autoptr(GHashTable) props = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, dom.path, IFACE_DOMAIN, &props);
        if (r < 0)
                return r;

        print_dominfo(&dom, props);
        return 0;
}

static int verb_domstate(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autoptr(GHashTable) props = NULL;
        const char *state, *reason;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, dom.path, IFACE_DOMAIN, &props);
        if (r < 0)
                return r;

        state = state_to_string(props_str(props, "State"));
        reason = props_str(props, "StateReason");
        if (cmd_bool(cmd, "reason"))
                printf("%s (%s)\n", state, reason && *reason ? reason : "unknown");
        else
                printf("%s\n", state);
        return 0;
}

static int verb_domid(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autoptr(GHashTable) props = NULL;
        int64_t id;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, dom.path, IFACE_DOMAIN, &props);
        if (r < 0)
                return r;

        id = props_int(props, "Id", -1);
        if (id < 0)
                printf("-\n");
        else
                printf("%" G_GINT64_FORMAT "\n", id);
        return 0;
}

static int verb_domuuid(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autofree char *uuid = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = bus_get_string(ctx, dom.path, IFACE_DOMAIN, "UUID", &uuid);
        if (r < 0)
                return r;

        printf("%s\n", uuid);
        return 0;
}

static int verb_domname(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        printf("%s\n", dom.name);
        return 0;
}

/* ---- the hypervisor and the daemon ---- */

static int verb_capabilities(Context *ctx, _unused_ const Cmd *cmd) {
        g_autofree char *xml = NULL;
        const char *hv;
        int r;

        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;
        r = bus_call_string(ctx, hv, IFACE_HYPERVISOR, "GetCapabilities", CALL_TIMEOUT_DEFAULT,
                            &xml, NULL);
        if (r < 0)
                return r;

        print_text(xml);
        return 0;
}

static int verb_version(Context *ctx, _unused_ const Cmd *cmd) {
        g_autofree char *daemon = NULL;
        g_autoptr(GHashTable) props = NULL;
        const char *hv;
        int r;

        r = bus_get_string(ctx, DOMAIND_ROOT_PATH, IFACE_MANAGER, "Version", &daemon);
        if (r < 0)
                return r;
        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;
        r = bus_get_all(ctx, hv, IFACE_HYPERVISOR, &props);
        if (r < 0)
                return r;

        printf("Compiled against library: domctl %s\n", PACKAGE_VERSION);
        printf("Using daemon: domaind %s\n", daemon);
        printf("Running hypervisor: %s %s\n",
               props_str(props, "Name") ?: path_last_element(hv),
               props_str(props, "Version") ?: "unknown");
        return 0;
}

static int verb_uri(Context *ctx, _unused_ const Cmd *cmd) {
        g_autofree char *uri = NULL;
        const char *hv;
        int r;

        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;
        r = bus_get_string(ctx, hv, IFACE_HYPERVISOR, "URI", &uri);
        if (r < 0)
                return r;

        printf("%s\n", uri);
        return 0;
}

const Verb domain_verbs[] = {
        { "list", verb_list, "list domains",
          .args = {
                { "all", ARG_BOOL, "list inactive and active domains" },
                { "inactive", ARG_BOOL, "list inactive domains" },
                { "persistent", ARG_BOOL, "list persistent domains" },
                { "transient", ARG_BOOL, "list transient domains" },
                { "autostart", ARG_BOOL, "list domains with autostart enabled" },
                { "no-autostart", ARG_BOOL, "list domains with autostart disabled" },
                { "with-managed-save", ARG_BOOL, "list domains with a managed save image" },
                { "without-managed-save", ARG_BOOL, "list domains without a managed save image" },
                { "with-snapshot", ARG_BOOL, "list domains with snapshots" },
                { "without-snapshot", ARG_BOOL, "list domains without snapshots" },
                { "state-running", ARG_BOOL, "list running domains" },
                { "state-paused", ARG_BOOL, "list paused domains" },
                { "state-shutoff", ARG_BOOL, "list shut off domains" },
                { "state-other", ARG_BOOL, "list domains in other states" },
                { "name", ARG_BOOL, "print domain names only" },
                { "uuid", ARG_BOOL, "print domain UUIDs only" },
          } },
        { "define", verb_define, "define (but don't start) a domain from an XML file",
          .args = {
                { "file", ARG_POS, "file containing an XML domain description ('-' for stdin)" },
          } },
        { "create", verb_create, "create (start) a transient domain from an XML file",
          .args = {
                { "file", ARG_POS, "file containing an XML domain description ('-' for stdin)" },
                { "paused", ARG_BOOL, "leave the guest paused after creation" },
                { "autodestroy", ARG_BOOL, "destroy the guest when domctl exits" },
          } },
        { "undefine", verb_undefine, "undefine a domain",
          .args = {
                DOMAIN_ARG,
                { "managed-save", ARG_BOOL, "remove the domain's managed save image" },
                { "snapshots-metadata", ARG_BOOL, "remove all snapshot metadata" },
                { "nvram", ARG_BOOL, "remove the nvram file" },
                { "keep-nvram", ARG_BOOL, "keep the nvram file" },
                { "remove-all-storage", ARG_BOOL, "remove all storage volumes of the domain "
                                                  "(disks outside every pool stay)" },
                { "wipe-storage", ARG_BOOL, "wipe data on the removed volumes" },
          },
          .exclusive = { { "nvram", "keep-nvram" } },
          .check = check_undefine_args },
        { "start", verb_start, "start a (previously defined) inactive domain",
          .args = {
                DOMAIN_ARG,
                { "paused", ARG_BOOL, "leave the guest paused after start" },
                { "autodestroy", ARG_BOOL, "destroy the guest when domctl exits" },
                { "bypass-cache", ARG_BOOL, "avoid the file system cache when loading" },
                { "force-boot", ARG_BOOL, "boot afresh, discarding any managed save" },
          } },
        { "shutdown", verb_shutdown, "gracefully shut down a domain",
          .args = { DOMAIN_ARG } },
        { "reboot", verb_reboot, "reboot a domain",
          .args = { DOMAIN_ARG } },
        { "reset", verb_reset, "reset a domain",
          .args = { DOMAIN_ARG } },
        { "destroy", verb_destroy, "destroy (stop) a domain",
          .args = {
                DOMAIN_ARG,
                { "graceful", ARG_BOOL, "terminate gracefully" },
          } },
        { "suspend", verb_suspend, "suspend a domain",
          .args = { DOMAIN_ARG } },
        { "resume", verb_resume, "resume a domain",
          .args = { DOMAIN_ARG } },
        { "save", verb_save, "save a domain's state to a file",
          .args = {
                DOMAIN_ARG,
                { "file", ARG_POS, "where to save the data" },
                { "bypass-cache", ARG_BOOL, "avoid the file system cache when saving" },
                { "xml", ARG_STRING, "file containing an updated XML for the target" },
                { "running", ARG_BOOL, "set the domain to be running on restore" },
                { "paused", ARG_BOOL, "set the domain to be paused on restore" },
          },
          .exclusive = { { "running", "paused" } } },
        { "restore", verb_restore, "restore a domain from a saved state in a file",
          .args = {
                { "file", ARG_POS, "the state to restore" },
                { "xml", ARG_STRING, "file containing an updated XML for the target" },
                { "running", ARG_BOOL, "restore the domain into the running state" },
                { "paused", ARG_BOOL, "restore the domain into the paused state" },
          },
          .exclusive = { { "running", "paused" } } },
        { "managedsave", verb_managedsave, "save a domain's state, restored by the next start",
          .args = {
                DOMAIN_ARG,
                { "bypass-cache", ARG_BOOL, "avoid the file system cache when saving" },
                { "running", ARG_BOOL, "set the domain to be running on the next start" },
                { "paused", ARG_BOOL, "set the domain to be paused on the next start" },
          },
          .exclusive = { { "running", "paused" } } },
        { "managedsave-remove", verb_managedsave_remove, "remove a domain's managed save image",
          .args = { DOMAIN_ARG } },
        { "console", verb_console, "connect to the guest's console",
          .description =
                "Copies the guest's console to standard output, and standard input to the\n"
                "guest. On a terminal, the terminal is in raw mode while connected (keys\n"
                "such as Ctrl-C go to the guest) and Ctrl-] disconnects.\n"
                "\n"
                "Standard input and output may also be pipes or files: then the bytes are\n"
                "copied as they are, and the session ends at a Ctrl-] byte (0x1d) in the\n"
                "input, when the console closes (the guest stopped), or on SIGINT, SIGTERM\n"
                "or SIGHUP. The end of the input does not end it: 'domctl console NAME\n"
                "</dev/null' prints the guest's output until it is stopped.",
          .args = {
                DOMAIN_ARG,
                { "devname", ARG_STRING, "the character device (serial0, console0, ...; "
                                         "default: the first console)" },
          } },
        { "dumpxml", verb_dumpxml, "print the domain's XML description",
          .args = {
                DOMAIN_ARG,
                { "inactive", ARG_BOOL, "show the inactive defined XML" },
                { "security-info", ARG_BOOL, "include security sensitive information" },
                { "migratable", ARG_BOOL, "provide XML suitable for migrations" },
          } },
        { "edit", verb_edit, "edit the XML configuration of a domain",
          .args = { DOMAIN_ARG } },
        { "autostart", verb_autostart, "start a domain when the host boots",
          .args = {
                DOMAIN_ARG,
                { "disable", ARG_BOOL, "disable autostarting" },
          } },
        { "dominfo", verb_dominfo, "print domain information",
          .args = { DOMAIN_ARG } },
        { "domstate", verb_domstate, "print the domain's state",
          .args = {
                DOMAIN_ARG,
                { "reason", ARG_BOOL, "also print the reason for the state" },
          } },
        { "domid", verb_domid, "convert a domain name or UUID to a domain id",
          .args = { DOMAIN_ARG } },
        { "domuuid", verb_domuuid, "convert a domain name or id to a domain UUID",
          .args = { DOMAIN_ARG } },
        { "domname", verb_domname, "convert a domain id or UUID to a domain name",
          .args = { DOMAIN_ARG } },
        { "capabilities", verb_capabilities, "print the hypervisor's capabilities", .args = {} },
        { "version", verb_version, "print the versions of domctl, domaind and the hypervisor",
          .args = {} },
        { "uri", verb_uri, "print the hypervisor's URI", .args = {} },
        {}
};
