/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — snapshot commands.
 */
#include <stdlib.h>
#include <time.h>

#include "domctl.h"

/* Snapshot.GetXMLDesc */
#define SNAPSHOT_XML_SECURE     UINT64_C(1)

/* Snapshot.Delete */
#define SNAPSHOT_DELETE_CHILDREN_ONLY UINT64_C(4)

#define DOMAIN_ARG { "domain", ARG_POS, "domain name, id or uuid" }
#define SNAPSHOT_ARGS \
        { "snapshotname", ARG_POS_OPT, "snapshot name" }, \
        { "current", ARG_BOOL, "use the current snapshot" }

static const FlagMap create_flags[] = {
        { "redefine",       UINT64_C(1) },
        { "current",        UINT64_C(2) },
        { "no-metadata",    UINT64_C(4) },
        { "halt",           UINT64_C(8) },
        { "disk-only",      UINT64_C(16) },
        { "reuse-external", UINT64_C(32) },
        { "quiesce",        UINT64_C(64) },
        { "atomic",         UINT64_C(128) },
        { "live",           UINT64_C(256) },
        { "validate",       UINT64_C(512) },
        {}
};

static const FlagMap create_as_flags[] = {
        { "no-metadata",    UINT64_C(4) },
        { "halt",           UINT64_C(8) },
        { "disk-only",      UINT64_C(16) },
        { "reuse-external", UINT64_C(32) },
        { "quiesce",        UINT64_C(64) },
        { "atomic",         UINT64_C(128) },
        { "live",           UINT64_C(256) },
        {}
};

static const FlagMap revert_flags[] = {
        { "running", UINT64_C(1) },
        { "paused",  UINT64_C(2) },
        { "force",   UINT64_C(4) },
        {}
};

static const FlagMap delete_flags[] = {
        { "children",      UINT64_C(1) },
        { "metadata",      UINT64_C(2) },
        { "children-only", SNAPSHOT_DELETE_CHILDREN_ONLY },
        {}
};

typedef struct Snapshot {
        char *path;
        char *name;
} Snapshot;

static void snapshot_done(Snapshot *s) {
        g_clear_pointer(&s->path, g_free);
        g_clear_pointer(&s->name, g_free);
}

static char *snapshot_prefix(const Domain *dom) {
        return g_strconcat(dom->path, "/snapshot", NULL);
}

static int snapshot_path(const Domain *dom, const char *name, char **ret) {
        g_autofree char *prefix = snapshot_prefix(dom);
        _cleanup_(freep) char *path = NULL;
        int r;

        r = sd_bus_path_encode(prefix, name, &path);
        if (r < 0)
                return log_error_errno(r, "invalid snapshot name '%s': %s", name, g_strerror(-r));
        *ret = g_strdup(path);
        return 0;
}

/* The snapshot's name from its path, else from its Name property. */
static int snapshot_name_of(Context *ctx, const Domain *dom, const char *path, char **ret) {
        g_autofree char *prefix = snapshot_prefix(dom);
        _cleanup_(freep) char *name = NULL;

        if (sd_bus_path_decode(path, prefix, &name) > 0) {
                *ret = g_strdup(name);
                return 0;
        }
        return bus_get_string(ctx, path, IFACE_SNAPSHOT, "Name", ret);
}

static int log_snapshot_error(const sd_bus_error *error, int r, const Snapshot *snap) {
        if (sd_bus_error_has_names(error, "org.freedesktop.DBus.Error.UnknownObject",
                                   "org.freedesktop.DBus.Error.UnknownInterface"))
                return log_error_errno(r, "Domain snapshot not found: no domain snapshot with "
                                       "matching name '%s'", snap->name);
        return log_bus_error(error, r);
}

static int snapshot_current(Context *ctx, const Domain *dom, Snapshot *ret) {
        g_autofree char *path = NULL;
        int r;

        r = bus_get_object(ctx, dom->path, IFACE_DOMAIN, "CurrentSnapshot", &path);
        if (r < 0)
                return r;
        if (streq(path, "/"))
                return log_error_errno(-ENOENT, "domain '%s' has no current snapshot", dom->name);

        r = snapshot_name_of(ctx, dom, path, &ret->name);
        if (r < 0)
                return r;
        ret->path = g_steal_pointer(&path);
        return 0;
}

static int check_snapshot_args(const Cmd *cmd) {
        const char *name = cmd_str(cmd, "snapshotname");
        bool current = cmd_bool(cmd, "current");

        if (name && current)
                return log_usage("--snapshotname and --current are mutually exclusive");
        if (!name && !current)
                return log_usage("--snapshotname or --current is required");
        return 0;
}

/* The domain and the snapshot of a command: <snapshotname> or --current
 * (check_snapshot_args() made sure it is exactly one of them). */
static int snapshot_resolve(Context *ctx, const Cmd *cmd, Domain *dom, Snapshot *ret) {
        const char *name = cmd_str(cmd, "snapshotname");
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), dom);
        if (r < 0)
                return r;

        if (!name)
                return snapshot_current(ctx, dom, ret);

        r = snapshot_path(dom, name, &ret->path);
        if (r < 0)
                return r;
        ret->name = g_strdup(name);
        return 0;
}

/* A Snapshot method taking (t flags). */
static int snapshot_call(Context *ctx, const Snapshot *snap, const char *method, uint64_t flags,
                         sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = bus_call_error(ctx, snap->path, IFACE_SNAPSHOT, method, CALL_TIMEOUT_JOB, &error,
                           ret_reply, "t", flags);
        if (r < 0)
                return log_snapshot_error(&error, r, snap);
        return 0;
}

static int snapshot_get_all(Context *ctx, const Snapshot *snap, GHashTable **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_call_error(ctx, snap->path, IFACE_PROPERTIES, "GetAll", CALL_TIMEOUT_DEFAULT,
                           &error, &reply, "s", IFACE_SNAPSHOT);
        if (r < 0)
                return log_snapshot_error(&error, r, snap);

        r = props_read(reply, ret);
        if (r < 0)
                return log_error_errno(r, "failed to parse properties: %s", g_strerror(-r));
        return 0;
}

/* ---- create ---- */

static int snapshot_create(Context *ctx, const Domain *dom, const char *xml, uint64_t flags,
                           const char *from) {
        g_autofree char *path = NULL, *name = NULL;
        int r;

        r = bus_call_object(ctx, dom->path, IFACE_DOMAIN, "CreateSnapshot", CALL_TIMEOUT_JOB,
                            &path, "st", xml, flags);
        if (r < 0)
                return r;

        if (snapshot_name_of(ctx, dom, path, &name) < 0)
                name = g_strdup(path_last_element(path));

        if (from)
                printf("Domain snapshot %s created from '%s'\n", name, from);
        else
                printf("Domain snapshot %s created\n", name);
        return 0;
}

static int verb_snapshot_create(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        const char *file = cmd_str(cmd, "xmlfile");
        g_autofree char *xml = NULL;
        int r;

        if (file) {
                r = read_text_file(file, &xml);
                if (r < 0)
                        return r;
        } else
                xml = g_strdup("<domainsnapshot/>");

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        return snapshot_create(ctx, &dom, xml, cmd_flags(cmd, create_flags), file);
}

static char *snapshot_build_xml(const char *name, const char *description) {
        GString *s = g_string_new("<domainsnapshot>\n");

        if (name) {
                g_autofree char *e = g_markup_escape_text(name, -1);

                g_string_append_printf(s, "  <name>%s</name>\n", e);
        }
        if (description) {
                g_autofree char *e = g_markup_escape_text(description, -1);

                g_string_append_printf(s, "  <description>%s</description>\n", e);
        }
        g_string_append(s, "</domainsnapshot>\n");
        return g_string_free(s, false);
}

static int verb_snapshot_create_as(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autofree char *xml = NULL;
        int r;

        xml = snapshot_build_xml(cmd_str(cmd, "name"), cmd_str(cmd, "description"));
        if (cmd_bool(cmd, "print-xml")) {
                fputs(xml, stdout);
                return 0;
        }

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        return snapshot_create(ctx, &dom, xml, cmd_flags(cmd, create_as_flags), NULL);
}

/* ---- list ---- */

typedef struct SnapRow {
        const char *path;
        const char *name;
        const char *state;
        const char *parent;     /* path, "/" for a root */
        uint64_t created;
        bool current;
} SnapRow;

static int snap_row_compare(const void *a, const void *b) {
        const SnapRow *x = a, *y = b;

        return g_ascii_strcasecmp(x->name, y->name);
}

static GArray *snapshot_rows(char **paths, GHashTable *objects) {
        GArray *rows = g_array_new(false, true, sizeof(SnapRow));

        for (char **p = paths; p && *p; p++) {
                GHashTable *props = g_hash_table_lookup(objects, *p);
                SnapRow row;

                if (!props)     /* deleted between the two calls */
                        continue;
                row = (SnapRow) {
                        .path = *p,
                        .name = props_str(props, "Name") ?: path_last_element(*p),
                        .state = props_str(props, "State") ?: "",
                        .parent = props_str(props, "Parent") ?: "/",
                        .created = props_uint(props, "CreationTime", 0),
                        .current = props_bool(props, "IsCurrent") > 0,
                };
                g_array_append_val(rows, row);
        }

        g_array_sort(rows, snap_row_compare);
        return rows;
}

static char *format_time(uint64_t t) {
        time_t tt = (time_t) t;
        struct tm tm;
        char buf[64];

        if (!localtime_r(&tt, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
                return g_strdup("-");
        return g_strdup(buf);
}

static const char *parent_name(GHashTable *objects, const char *parent) {
        GHashTable *props;

        if (streq(parent, "/"))
                return "";
        props = g_hash_table_lookup(objects, parent);
        return props_str(props, "Name") ?: path_last_element(parent);
}

static void print_snapshot_table(GArray *rows, GHashTable *objects, bool with_parent) {
        g_autoptr(Table) t = NULL;

        if (with_parent)
                t = table_new(4, "Name", "Creation Time", "State", "Parent");
        else
                t = table_new(3, "Name", "Creation Time", "State");

        for (size_t i = 0; i < rows->len; i++) {
                const SnapRow *row = &g_array_index(rows, SnapRow, i);
                g_autofree char *created = format_time(row->created);

                table_add_row(t, row->name, created, row->state,
                              parent_name(objects, row->parent));
        }
        table_print(t);
}

/* virsh's tree: children under "|" and "+- ", a blank line after a last leaf. */
static void print_tree_node(GArray *rows, size_t idx, bool root, bool last, GString *indent) {
        const SnapRow *node = &g_array_index(rows, SnapRow, idx);
        size_t own = indent->len, last_child = SIZE_MAX;

        printf("%s%s%s\n", indent->str, root ? "" : "+- ", node->name);
        if (!root)
                g_string_append(indent, last ? "  " : "| ");

        for (size_t i = 0; i < rows->len; i++)
                if (streq(g_array_index(rows, SnapRow, i).parent, node->path))
                        last_child = i;
        if (last_child != SIZE_MAX)
                printf("%s  |\n", indent->str);

        g_string_append(indent, "  ");
        for (size_t i = 0; i < rows->len; i++)
                if (streq(g_array_index(rows, SnapRow, i).parent, node->path))
                        print_tree_node(rows, i, false, i == last_child, indent);
        g_string_truncate(indent, indent->len - 2);

        if (last_child == SIZE_MAX && last)
                printf("%s\n", indent->str);
        g_string_truncate(indent, own);
}

static bool snapshot_rows_contain(GArray *rows, const char *path) {
        for (size_t i = 0; i < rows->len; i++)
                if (streq(g_array_index(rows, SnapRow, i).path, path))
                        return true;
        return false;
}

static void print_snapshot_tree(GArray *rows) {
        g_autoptr(GString) indent = g_string_new(NULL);

        /* the roots, and the snapshots whose parent is not listed */
        for (size_t i = 0; i < rows->len; i++)
                if (!snapshot_rows_contain(rows, g_array_index(rows, SnapRow, i).parent))
                        print_tree_node(rows, i, true, true, indent);
}

static int list_snapshot_paths(Context *ctx, const Domain *dom, uint64_t flags, char ***ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_call(ctx, dom->path, IFACE_DOMAIN, "ListSnapshots", CALL_TIMEOUT_DEFAULT, &reply,
                     "t", flags);
        if (r < 0)
                return r;

        r = sd_bus_message_read_strv(reply, ret);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        if (!*ret)      /* sd-bus gives NULL for an empty array */
                *ret = g_new0(char *, 1);
        return 0;
}

static void print_snapshot_names(GArray *rows) {
        for (size_t i = 0; i < rows->len; i++)
                printf("%s\n", g_array_index(rows, SnapRow, i).name);
}

static bool snapshot_has_children(GArray *rows, const char *path) {
        for (size_t i = 0; i < rows->len; i++)
                if (streq(g_array_index(rows, SnapRow, i).parent, path))
                        return true;
        return false;
}

/* --roots, --leaves, --no-leaves and --current, applied here: ListSnapshots
 * takes no flags. */
static void snapshot_rows_filter(GArray *rows, const Cmd *cmd) {
        bool roots = cmd_bool(cmd, "roots"), leaves = cmd_bool(cmd, "leaves"),
             no_leaves = cmd_bool(cmd, "no-leaves"), current = cmd_bool(cmd, "current");
        g_autoptr(GArray) keep = g_array_new(false, false, sizeof(bool));

        for (size_t i = 0; i < rows->len; i++) {
                const SnapRow *row = &g_array_index(rows, SnapRow, i);
                bool children = snapshot_has_children(rows, row->path);
                bool k = (!roots || streq(row->parent, "/")) &&
                         (!leaves || !children) &&
                         (!no_leaves || children) &&
                         (!current || row->current);

                g_array_append_val(keep, k);
        }

        for (size_t i = rows->len; i > 0; i--)
                if (!g_array_index(keep, bool, i - 1))
                        g_array_remove_index(rows, i - 1);
}

static int verb_snapshot_list(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        g_autoptr(GHashTable) objects = NULL;
        g_autoptr(GArray) rows = NULL;
        g_auto(GStrv) paths = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = list_snapshot_paths(ctx, &dom, 0, &paths);
        if (r < 0)
                return r;
        r = bus_get_managed_objects(ctx, IFACE_SNAPSHOT, &objects);
        if (r < 0)
                return r;

        rows = snapshot_rows(paths, objects);
        snapshot_rows_filter(rows, cmd);

        if (cmd_bool(cmd, "tree"))
                print_snapshot_tree(rows);
        else if (cmd_bool(cmd, "name"))
                print_snapshot_names(rows);
        else
                print_snapshot_table(rows, objects, cmd_bool(cmd, "parent"));
        return 0;
}

/* ---- revert, delete ---- */

static int verb_snapshot_revert(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        int r;

        r = snapshot_resolve(ctx, cmd, &dom, &snap);
        if (r < 0)
                return r;

        /* like virsh: quiet on success */
        return snapshot_call(ctx, &snap, "Revert", cmd_flags(cmd, revert_flags), NULL);
}

static int verb_snapshot_delete(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        uint64_t flags = cmd_flags(cmd, delete_flags);
        int r;

        r = snapshot_resolve(ctx, cmd, &dom, &snap);
        if (r < 0)
                return r;

        r = snapshot_call(ctx, &snap, "Delete", flags, NULL);
        if (r < 0)
                return r;

        if (flags & SNAPSHOT_DELETE_CHILDREN_ONLY)
                printf("Domain snapshot %s children deleted\n", snap.name);
        else
                printf("Domain snapshot %s deleted\n", snap.name);
        return 0;
}

/* ---- XML, current, parent, info ---- */

static int print_snapshot_xml(Context *ctx, const Snapshot *snap, bool secure) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *xml;
        int r;

        r = snapshot_call(ctx, snap, "GetXMLDesc", secure ? SNAPSHOT_XML_SECURE : 0, &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        print_text(xml);
        return 0;
}

static int verb_snapshot_dumpxml(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        int r;

        r = snapshot_resolve(ctx, cmd, &dom, &snap);
        if (r < 0)
                return r;

        return print_snapshot_xml(ctx, &snap, cmd_bool(cmd, "security-info"));
}

static int verb_snapshot_current(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = snapshot_current(ctx, &dom, &snap);
        if (r < 0)
                return r;

        if (cmd_bool(cmd, "name")) {
                printf("%s\n", snap.name);
                return 0;
        }
        return print_snapshot_xml(ctx, &snap, cmd_bool(cmd, "security-info"));
}

static int verb_snapshot_parent(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        g_autoptr(GHashTable) props = NULL;
        g_autofree char *name = NULL;
        const char *parent;
        int r;

        r = snapshot_resolve(ctx, cmd, &dom, &snap);
        if (r < 0)
                return r;
        r = snapshot_get_all(ctx, &snap, &props);
        if (r < 0)
                return r;

        parent = props_str(props, "Parent");
        if (!parent || streq(parent, "/"))
                return log_error_errno(-ENOENT, "snapshot '%s' has no parent", snap.name);

        r = snapshot_name_of(ctx, &dom, parent, &name);
        if (r < 0)
                return r;
        printf("%s\n", name);
        return 0;
}

static void count_descendants(GHashTable *objects, const char *path, unsigned *children,
                              unsigned *descendants, unsigned depth) {
        GHashTableIter it;
        const char *p;
        GHashTable *props;

        g_hash_table_iter_init(&it, objects);
        while (g_hash_table_iter_next(&it, (gpointer *) &p, (gpointer *) &props)) {
                if (!streq_ptr(props_str(props, "Parent"), path))
                        continue;
                if (depth == 0)
                        (*children)++;
                (*descendants)++;
                count_descendants(objects, p, children, descendants, depth + 1);
        }
}

static int verb_snapshot_info(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(snapshot_done) Snapshot snap = {};
        g_autoptr(GHashTable) props = NULL, objects = NULL;
        unsigned children = 0, descendants = 0;
        const char *parent;
        int r;

        r = snapshot_resolve(ctx, cmd, &dom, &snap);
        if (r < 0)
                return r;
        r = snapshot_get_all(ctx, &snap, &props);
        if (r < 0)
                return r;
        r = bus_get_managed_objects(ctx, IFACE_SNAPSHOT, &objects);
        if (r < 0)
                return r;

        count_descendants(objects, snap.path, &children, &descendants, 0);
        parent = props_str(props, "Parent") ?: "/";

        printf("%-15s %s\n", "Name:", props_str(props, "Name") ?: snap.name);
        printf("%-15s %s\n", "Domain:", dom.name);
        printf("%-15s %s\n", "Current:", props_bool(props, "IsCurrent") > 0 ? "yes" : "no");
        printf("%-15s %s\n", "State:", props_str(props, "State") ?: "");
        printf("%-15s %s\n", "Parent:", streq(parent, "/") ? "-" : parent_name(objects, parent));
        printf("%-15s %u\n", "Children:", children);
        printf("%-15s %u\n", "Descendants:", descendants);
        return 0;
}

const Verb snapshot_verbs[] = {
        { "snapshot-create", verb_snapshot_create, "create a snapshot from XML",
          .args = {
                DOMAIN_ARG,
                { "xmlfile", ARG_POS_OPT, "domain snapshot XML ('-' for stdin)" },
                { "redefine", ARG_BOOL, "redefine metadata for an existing snapshot" },
                { "current", ARG_BOOL, "with --redefine, set the current snapshot" },
                { "no-metadata", ARG_BOOL, "take the snapshot but create no metadata" },
                { "halt", ARG_BOOL, "halt the domain after the snapshot is created" },
                { "disk-only", ARG_BOOL, "capture disk state but not vm state" },
                { "reuse-external", ARG_BOOL, "reuse any existing external files" },
                { "quiesce", ARG_BOOL, "quiesce guest's file systems" },
                { "atomic", ARG_BOOL, "require atomic operation" },
                { "live", ARG_BOOL, "take a live snapshot" },
                { "validate", ARG_BOOL, "validate the XML against the schema" },
          } },
        { "snapshot-create-as", verb_snapshot_create_as, "create a snapshot from a set of args",
          .args = {
                DOMAIN_ARG,
                { "name", ARG_POS_OPT, "name of the snapshot" },
                { "description", ARG_POS_OPT, "description of the snapshot" },
                { "print-xml", ARG_BOOL, "print XML document rather than create" },
                { "no-metadata", ARG_BOOL, "take the snapshot but create no metadata" },
                { "halt", ARG_BOOL, "halt the domain after the snapshot is created" },
                { "disk-only", ARG_BOOL, "capture disk state but not vm state" },
                { "reuse-external", ARG_BOOL, "reuse any existing external files" },
                { "quiesce", ARG_BOOL, "quiesce guest's file systems" },
                { "atomic", ARG_BOOL, "require atomic operation" },
                { "live", ARG_BOOL, "take a live snapshot" },
          } },
        { "snapshot-list", verb_snapshot_list, "list the snapshots of a domain",
          .args = {
                DOMAIN_ARG,
                { "parent", ARG_BOOL, "add a column showing the parent snapshot" },
                { "roots", ARG_BOOL, "list only snapshots without parents" },
                { "leaves", ARG_BOOL, "list only snapshots without children" },
                { "no-leaves", ARG_BOOL, "list only snapshots that are not leaves" },
                { "current", ARG_BOOL, "list only the current snapshot" },
                { "tree", ARG_BOOL, "list snapshots in a tree" },
                { "name", ARG_BOOL, "list snapshot names only" },
          },
          .exclusive = { { "parent", "roots" }, { "tree", "parent" }, { "tree", "roots" },
                         { "tree", "name" }, { "leaves", "no-leaves" } } },
        { "snapshot-revert", verb_snapshot_revert, "revert a domain to a snapshot",
          .args = {
                DOMAIN_ARG,
                SNAPSHOT_ARGS,
                { "running", ARG_BOOL, "after reverting, change state to running" },
                { "paused", ARG_BOOL, "after reverting, change state to paused" },
                { "force", ARG_BOOL, "try harder on risky reverts" },
          },
          .exclusive = { { "running", "paused" } },
          .check = check_snapshot_args },
        { "snapshot-delete", verb_snapshot_delete, "delete a domain snapshot",
          .args = {
                DOMAIN_ARG,
                SNAPSHOT_ARGS,
                { "children", ARG_BOOL, "delete the snapshot and all its children" },
                { "children-only", ARG_BOOL, "delete the children of the snapshot only" },
                { "metadata", ARG_BOOL, "delete only domaind's metadata, leave the data" },
          },
          .exclusive = { { "children", "children-only" } },
          .check = check_snapshot_args },
        { "snapshot-current", verb_snapshot_current, "print the current snapshot",
          .args = {
                DOMAIN_ARG,
                { "name", ARG_BOOL, "print the name only" },
                { "security-info", ARG_BOOL, "include security sensitive information in XML" },
          } },
        { "snapshot-dumpxml", verb_snapshot_dumpxml, "print the XML of a domain snapshot",
          .args = {
                DOMAIN_ARG,
                SNAPSHOT_ARGS,
                { "security-info", ARG_BOOL, "include security sensitive information in XML" },
          } },
        { "snapshot-parent", verb_snapshot_parent, "print the name of a snapshot's parent",
          .args = {
                DOMAIN_ARG,
                SNAPSHOT_ARGS,
          },
          .check = check_snapshot_args },
        { "snapshot-info", verb_snapshot_info, "print information about a snapshot",
          .args = {
                DOMAIN_ARG,
                SNAPSHOT_ARGS,
          },
          .check = check_snapshot_args },
        {}
};
