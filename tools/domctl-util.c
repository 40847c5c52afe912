/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — helpers: error output, the bus connection and method calls,
 * property bags, domain lookup, files and tables.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "domctl.h"

/* ---- errors ---- */

/* Whether calls let polkit ask for a password (not with --no-ask-password). */
static bool interactive_authorization;

static G_GNUC_PRINTF(1, 0) void log_errorv(const char *fmt, va_list ap) {
        fputs("error: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

int log_error_errno(int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_errorv(fmt, ap);
        va_end(ap);
        return r < 0 ? r : -EIO;
}

int log_usage(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_errorv(fmt, ap);
        va_end(ap);
        return -DOMCTL_EUSAGE;
}

int log_bus_error(const sd_bus_error *error, int r) {
        if (sd_bus_error_has_names(error,
                                   "org.freedesktop.DBus.Error.ServiceUnknown",
                                   "org.freedesktop.DBus.Error.NameHasNoOwner"))
                return log_error_errno(r, "domaind is not running on this bus (%s has no owner)",
                                       DOMAIND_SERVICE);

        /* Refusals by polkit (AccessDenied, or InteractiveAuthorizationRequired
         * when it would have asked for a password) print as any error: the
         * daemon's message names the polkit action. */
        if (sd_bus_error_is_set(error)) {
                r = log_error_errno(r, "%s", error->message ?: error->name);
                if (!interactive_authorization &&
                    sd_bus_error_has_name(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                        fputs("hint: run without --no-ask-password, or as a user the polkit "
                              "rules allow\n", stderr);
                return r;
        }

        return log_error_errno(r, "%s", g_strerror(-r));
}

/* ---- the connection ---- */

static int bus_open_address(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&bus);
        return 0;
}

int bus_connect(Context *ctx) {
        const char *a = ctx->bus_address;
        int r;

        if (!strchr(a, ':') && !streq(a, "system") && !streq(a, "session") && !streq(a, "user"))
                return log_usage("invalid bus '%s': expected system, session or a D-Bus "
                                 "address such as unix:path=/run/bus", a);

        if (streq(a, "system"))
                r = sd_bus_open_system(&ctx->bus);
        else if (streq(a, "session") || streq(a, "user"))
                r = sd_bus_open_user(&ctx->bus);
        else
                r = bus_open_address(a, &ctx->bus);
        if (r < 0) {
                if (streq(a, "system") || streq(a, "session") || streq(a, "user"))
                        return log_error_errno(r, "failed to connect to the %s bus: %s",
                                               a, g_strerror(-r));
                return log_error_errno(r, "failed to connect to bus '%s': %s", a, g_strerror(-r));
        }

        /* Let polkit ask for a password instead of refusing at once, unless
         * --no-ask-password: then a call polkit would ask about fails with
         * InteractiveAuthorizationRequired. */
        if (!ctx->ask_password)
                return 0;
        r = sd_bus_set_allow_interactive_authorization(ctx->bus, true);
        if (r < 0)
                return log_error_errno(r, "failed to allow interactive authorization: %s",
                                       g_strerror(-r));
        interactive_authorization = true;
        return 0;
}

/* ---- method calls ---- */

static int bus_callv(Context *ctx, const char *path, const char *iface, const char *method,
                     uint64_t timeout, sd_bus_error *error, sd_bus_message **ret_reply,
                     const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(ctx->bus, &m, DOMAIND_SERVICE, path, iface, method);
        if (r < 0)
                return r;

        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return r;
        }

        return sd_bus_call(ctx->bus, m, timeout, error, ret_reply);
}

int bus_call_error(Context *ctx, const char *path, const char *iface, const char *method,
                   uint64_t timeout, sd_bus_error *error, sd_bus_message **ret_reply,
                   const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_callv(ctx, path, iface, method, timeout, error, ret_reply, types, ap);
        va_end(ap);
        return r;
}

int bus_call(Context *ctx, const char *path, const char *iface, const char *method,
             uint64_t timeout, sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_callv(ctx, path, iface, method, timeout, &error, ret_reply, types, ap);
        va_end(ap);
        if (r < 0)
                return log_bus_error(&error, r);
        return r;
}

static int reply_read_string(sd_bus_message *reply, const char *type, char **ret) {
        const char *s;
        int r;

        r = sd_bus_message_read(reply, type, &s);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        *ret = g_strdup(s);
        return 0;
}

static int bus_call_returning(Context *ctx, const char *path, const char *iface,
                              const char *method, uint64_t timeout, const char *rtype,
                              char **ret, const char *types, va_list ap) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_callv(ctx, path, iface, method, timeout, &error, &reply, types, ap);
        if (r < 0)
                return log_bus_error(&error, r);
        return reply_read_string(reply, rtype, ret);
}

int bus_call_object(Context *ctx, const char *path, const char *iface, const char *method,
                    uint64_t timeout, char **ret_path, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_call_returning(ctx, path, iface, method, timeout, "o", ret_path, types, ap);
        va_end(ap);
        return r;
}

int bus_call_string(Context *ctx, const char *path, const char *iface, const char *method,
                    uint64_t timeout, char **ret, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = bus_call_returning(ctx, path, iface, method, timeout, "s", ret, types, ap);
        va_end(ap);
        return r;
}

/* ---- single properties ---- */

static int bus_get_basic(Context *ctx, const char *path, const char *iface,
                         const char *property, const char *type, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_get_property(ctx->bus, DOMAIND_SERVICE, path, iface, property,
                                &error, &reply, type);
        if (r < 0)
                return log_bus_error(&error, r);
        return reply_read_string(reply, type, ret);
}

int bus_get_string(Context *ctx, const char *path, const char *iface, const char *property,
                   char **ret) {
        return bus_get_basic(ctx, path, iface, property, "s", ret);
}

int bus_get_object(Context *ctx, const char *path, const char *iface, const char *property,
                   char **ret) {
        return bus_get_basic(ctx, path, iface, property, "o", ret);
}

int bus_get_bool(Context *ctx, const char *path, const char *iface, const char *property,
                 bool *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int b, r;

        r = sd_bus_get_property_trivial(ctx->bus, DOMAIND_SERVICE, path, iface, property,
                                        &error, 'b', &b);
        if (r < 0)
                return log_bus_error(&error, r);
        *ret = b;
        return 0;
}

/* ---- property bags ---- */

static void prop_value_free(PropValue *v) {
        if (!v)
                return;
        g_free(v->str);
        g_strfreev(v->strv);
        g_free(v);
}

static int prop_value_read_basic(sd_bus_message *m, char type, PropValue *v) {
        union {
                const char *s;
                int b;
                uint8_t y;
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                double d;
        } x = {};
        int r;

        r = sd_bus_message_read_basic(m, type, &x);
        if (r < 0)
                return r;

        switch (type) {
        case 's': case 'o': case 'g':
                v->str = g_strdup(x.s);
                break;
        case 'b': v->i = x.b; v->u = x.b; break;
        case 'y': v->i = x.y; v->u = x.y; break;
        case 'n': v->i = x.n; v->u = (uint64_t) x.n; break;
        case 'q': v->i = x.q; v->u = x.q; break;
        case 'i': v->i = x.i; v->u = (uint64_t) x.i; break;
        case 'u': v->i = x.u; v->u = x.u; break;
        case 'x': v->i = x.x; v->u = (uint64_t) x.x; break;
        case 't': v->i = (int64_t) x.t; v->u = x.t; break;
        case 'd': v->d = x.d; break;
        default:
                return 0;
        }
        v->type = type;
        return 0;
}

static int prop_value_read_strv(sd_bus_message *m, PropValue *v) {
        char **l = NULL;
        int r;

        r = sd_bus_message_read_strv(m, &l);
        if (r < 0)
                return r;
        v->strv = l;
        v->type = 'a';
        return 0;
}

/* Reads one variant; values of container types other than as/ao are skipped. */
static int prop_value_read(sd_bus_message *m, PropValue *v) {
        const char *contents;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        if (strlen(contents) == 1 && strchr("sogbynqiuxtd", contents[0]))
                r = prop_value_read_basic(m, contents[0], v);
        else if (streq(contents, "as") || streq(contents, "ao"))
                r = prop_value_read_strv(m, v);
        else
                r = sd_bus_message_skip(m, contents);
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

static int props_read_entry(sd_bus_message *m, GHashTable *props) {
        g_autofree PropValue *v = g_new0(PropValue, 1);
        const char *name;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;

        r = prop_value_read(m, v);
        if (r < 0) {
                prop_value_free(g_steal_pointer(&v));
                return r;
        }

        g_hash_table_replace(props, g_strdup(name), g_steal_pointer(&v));
        return 0;
}

int props_read(sd_bus_message *m, GHashTable **ret) {
        g_autoptr(GHashTable) props = NULL;
        int r;

        props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) prop_value_free);

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = props_read_entry(m, props);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&props);
        return 0;
}

int bus_get_all(Context *ctx, const char *path, const char *iface, GHashTable **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bus_call(ctx, path, IFACE_PROPERTIES, "GetAll", CALL_TIMEOUT_DEFAULT, &reply,
                     "s", iface);
        if (r < 0)
                return r;

        r = props_read(reply, ret);
        if (r < 0)
                return log_error_errno(r, "failed to parse properties: %s", g_strerror(-r));
        return 0;
}

/* Reads the interfaces of one object (oa{sa{sv}}, as in GetManagedObjects and
 * InterfacesAdded); stores the properties of iface, if it has it. */
int bus_read_object_interfaces(sd_bus_message *m, const char *iface, GHashTable *objects) {
        const char *path;
        int r;

        r = sd_bus_message_read(m, "o", &path);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                const char *name;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;

                if (streq(name, iface)) {
                        GHashTable *props;

                        r = props_read(m, &props);
                        if (r < 0)
                                return r;
                        g_hash_table_replace(objects, g_strdup(path), props);
                } else {
                        r = sd_bus_message_skip(m, "a{sv}");
                        if (r < 0)
                                return r;
                }

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

static int managed_objects_read(sd_bus_message *m, const char *iface, GHashTable *objects) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
                r = bus_read_object_interfaces(m, iface, objects);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

/* One GetManagedObjects: object path → property bag of iface, for the
 * objects that implement iface. */
int bus_get_managed_objects(Context *ctx, const char *iface, GHashTable **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GHashTable) objects = NULL;
        int r;

        r = bus_call(ctx, DOMAIND_ROOT_PATH, IFACE_OBJECT_MANAGER, "GetManagedObjects",
                     CALL_TIMEOUT_DEFAULT, &reply, NULL);
        if (r < 0)
                return r;

        objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_hash_table_unref);
        r = managed_objects_read(reply, iface, objects);
        if (r < 0)
                return log_error_errno(r, "failed to parse managed objects: %s", g_strerror(-r));

        *ret = g_steal_pointer(&objects);
        return 0;
}

static const PropValue *props_find(GHashTable *props, const char *name) {
        const PropValue *v = props ? g_hash_table_lookup(props, name) : NULL;

        return v && v->type ? v : NULL;
}

const char *props_str(GHashTable *props, const char *name) {
        const PropValue *v = props_find(props, name);

        return v ? v->str : NULL;
}

int64_t props_int(GHashTable *props, const char *name, int64_t fallback) {
        const PropValue *v = props_find(props, name);

        if (!v || !strchr("bynqiuxt", v->type))
                return fallback;
        return v->i;
}

uint64_t props_uint(GHashTable *props, const char *name, uint64_t fallback) {
        const PropValue *v = props_find(props, name);

        if (!v || !strchr("bynqiuxt", v->type))
                return fallback;
        return v->u;
}

int props_bool(GHashTable *props, const char *name) {
        const PropValue *v = props_find(props, name);

        if (!v || v->type != 'b')
                return -1;
        return v->i != 0;
}

/* ---- hypervisors ---- */

static bool hypervisor_name_valid(const char *name) {
        if (!*name)
                return false;
        for (const char *p = name; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '_')
                        return false;
        return true;
}

static int hypervisor_read_unavailable(Context *ctx, const char *name, char **ret_why) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *plugin, *why;
        int r;

        *ret_why = NULL;
        r = sd_bus_get_property(ctx->bus, DOMAIND_SERVICE, DOMAIND_ROOT_PATH, IFACE_MANAGER,
                                "UnavailablePlugins", &error, &reply, "a(ss)");
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "(ss)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "(ss)", &plugin, &why)) > 0)
                if (streq(plugin, name)) {
                        *ret_why = g_strdup(why);
                        return 0;
                }
        return r;
}

static int hypervisor_unavailable(Context *ctx, const char *name, char **published) {
        g_autofree char *why = NULL;
        g_autoptr(GString) names = g_string_new(NULL);

        (void) hypervisor_read_unavailable(ctx, name, &why);
        if (why)
                return log_error_errno(-ENXIO, "hypervisor '%s' is not available: %s", name, why);

        for (char **p = published; p && *p; p++)
                g_string_append_printf(names, "%s%s", names->len ? ", " : "",
                                       path_last_element(*p));
        return log_error_errno(-ENXIO, "hypervisor '%s' is not available (available: %s)",
                               name, names->len ? names->str : "none");
}

/* The object path of the hypervisor to talk to: --hypervisor, else the only
 * one domaind publishes, else kvm. */
int hypervisor_path(Context *ctx, const char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_auto(GStrv) published = NULL;
        g_autofree char *path = NULL;
        const char *name = ctx->hypervisor_arg;
        int r;

        if (ctx->hypervisor_path) {
                *ret = ctx->hypervisor_path;
                return 0;
        }

        if (name && !hypervisor_name_valid(name))
                return log_usage("invalid hypervisor name '%s'", name);

        r = sd_bus_get_property_strv(ctx->bus, DOMAIND_SERVICE, DOMAIND_ROOT_PATH,
                                     IFACE_MANAGER, "Hypervisors", &error, &published);
        if (r < 0)
                return log_bus_error(&error, r);
        if (!published)
                published = g_new0(char *, 1);

        if (!name)
                name = g_strv_length(published) == 1 ? path_last_element(published[0]) : "kvm";

        path = g_strconcat(DOMAIND_ROOT_PATH "/", name, NULL);
        if (!g_strv_contains((const char *const *) published, path))
                return hypervisor_unavailable(ctx, name, published);

        ctx->hypervisor_path = g_steal_pointer(&path);
        *ret = ctx->hypervisor_path;
        return 0;
}

/* ---- domains ---- */

void domain_done(Domain *d) {
        g_clear_pointer(&d->path, g_free);
        g_clear_pointer(&d->name, g_free);
}

const char *path_last_element(const char *path) {
        const char *slash = strrchr(path, '/');

        return slash && slash[1] ? slash + 1 : path;
}

const char *state_to_string(const char *state) {
        if (!state)
                return "no state";
        if (streq(state, "shutoff"))
                return "shut off";
        if (streq(state, "shutdown"))
                return "in shutdown";
        return state;
}

static bool parse_domain_id(const char *s, int32_t *ret) {
        char *end;
        long long v;

        if (!*s || strspn(s, "0123456789") != strlen(s))
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end || v > INT32_MAX)
                return false;
        *ret = (int32_t) v;
        return true;
}

static bool looks_like_uuid(const char *s) {
        size_t len = strlen(s), hex = 0;

        if (len != 32 && len != 36)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
                        if (s[i] != '-')
                                return false;
                } else if (g_ascii_isxdigit(s[i]))
                        hex++;
                else
                        return false;
        }
        return hex == 32;
}

/* Reads the path of a lookup. Returns 1 when found, 0 when the daemon says
 * there is no such domain (try the next way), negative on other errors. */
static int lookup_one(Context *ctx, const char *hv, const char *method, const char *types,
                      const void *arg, char **ret_path, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r;

        sd_bus_error_free(error);
        if (types[0] == 'i')
                r = bus_call_error(ctx, hv, IFACE_HYPERVISOR, method, CALL_TIMEOUT_DEFAULT,
                                   error, &reply, types, *(const int32_t *) arg);
        else
                r = bus_call_error(ctx, hv, IFACE_HYPERVISOR, method, CALL_TIMEOUT_DEFAULT,
                                   error, &reply, types, (const char *) arg);
        if (r < 0) {
                if (sd_bus_error_has_names(error, DOMAIND_ERROR_NO_SUCH_DOMAIN,
                                           DOMAIND_ERROR_INVALID_ARGUMENT))
                        return 0;
                return log_bus_error(error, r);
        }

        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));
        *ret_path = g_strdup(path);
        return 1;
}

/* virsh's order: an id if all digits, then a UUID if it parses, then a name. */
static int domain_lookup_path(Context *ctx, const char *spec, char **ret_path, bool *by_name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *hv;
        int32_t id;
        int r;

        r = hypervisor_path(ctx, &hv);
        if (r < 0)
                return r;

        *by_name = false;
        if (parse_domain_id(spec, &id)) {
                r = lookup_one(ctx, hv, "LookupByID", "i", &id, ret_path, &error);
                if (r != 0)
                        return r;
        }

        if (looks_like_uuid(spec)) {
                r = lookup_one(ctx, hv, "LookupByUUID", "s", spec, ret_path, &error);
                if (r != 0)
                        return r;
        }

        *by_name = true;
        r = lookup_one(ctx, hv, "LookupByName", "s", spec, ret_path, &error);
        if (r != 0)
                return r;
        return log_bus_error(&error, -ENOENT);
}

int domain_name_of(Context *ctx, const char *path, char **ret) {
        return bus_get_string(ctx, path, IFACE_DOMAIN, "Name", ret);
}

/* The name of a domain we just made; if it is gone again already, the last
 * element of its path. Prints no error. */
char *domain_name_quiet(Context *ctx, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *name = NULL;

        if (sd_bus_get_property_string(ctx->bus, DOMAIND_SERVICE, path, IFACE_DOMAIN, "Name",
                                       &error, &name) < 0)
                return g_strdup(path_last_element(path));
        return g_strdup(name);
}

int domain_lookup(Context *ctx, const char *spec, Domain *ret) {
        g_autofree char *path = NULL, *name = NULL;
        bool by_name;
        int r;

        if (g_str_has_prefix(spec, DOMAIND_ROOT_PATH "/") && g_variant_is_object_path(spec)) {
                /* an object path, as busctl or a GUI shows it */
                path = g_strdup(spec);
                by_name = false;
        } else {
                r = domain_lookup_path(ctx, spec, &path, &by_name);
                if (r < 0)
                        return r;
        }

        if (by_name)
                name = g_strdup(spec);
        else {
                r = domain_name_of(ctx, path, &name);
                if (r < 0)
                        return r;
        }

        ret->path = g_steal_pointer(&path);
        ret->name = g_steal_pointer(&name);
        return 0;
}

/* ---- files ---- */

static int read_stream(FILE *f, char **ret) {
        g_autoptr(GString) s = g_string_new(NULL);
        char buf[4096];
        size_t n;

        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                g_string_append_len(s, buf, n);
        if (ferror(f))
                return -EIO;
        if (strlen(s->str) != s->len)
                return -EBADMSG;

        *ret = g_string_free(g_steal_pointer(&s), false);
        return 0;
}

/* Reads a whole text file; "-" is standard input. */
int read_text_file(const char *path, char **ret) {
        FILE *f;
        int r;

        if (streq(path, "-"))
                f = stdin;
        else
                f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "failed to open file '%s': %s", path,
                                       g_strerror(errno));

        r = read_stream(f, ret);
        if (f != stdin)
                fclose(f);
        if (r == -EBADMSG)
                return log_error_errno(r, "file '%s' contains a NUL byte", path);
        if (r < 0)
                return log_error_errno(r, "failed to read file '%s'", path);
        return 0;
}

/* The daemon runs in another directory: hand it absolute paths. */
int absolute_path(const char *path, char **ret) {
        if (!*path)
                return log_usage("empty file name");
        *ret = g_canonicalize_filename(path, NULL);
        return 0;
}

void print_text(const char *text) {
        fputs(text, stdout);
        if (!*text || text[strlen(text) - 1] != '\n')
                fputc('\n', stdout);
}

/* ---- tables, laid out like virsh's ---- */

struct Table {
        size_t ncols;
        GPtrArray *rows;        /* of GStrv; row 0 is the header */
};

Table *table_new(size_t ncols, ...) {
        Table *t = g_new0(Table, 1);
        char **header = g_new0(char *, ncols + 1);
        va_list ap;

        va_start(ap, ncols);
        for (size_t i = 0; i < ncols; i++)
                header[i] = g_strdup(va_arg(ap, const char *));
        va_end(ap);

        t->ncols = ncols;
        t->rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
        g_ptr_array_add(t->rows, header);
        return t;
}

void table_add_rowv(Table *t, const char *const *cells) {
        char **row = g_new0(char *, t->ncols + 1);

        for (size_t i = 0; i < t->ncols; i++)
                row[i] = g_strdup(cells[i] ?: "");
        g_ptr_array_add(t->rows, row);
}

void table_add_row(Table *t, ...) {
        const char *cells[16] = {};
        va_list ap;

        g_assert(t->ncols <= G_N_ELEMENTS(cells));
        va_start(ap, t);
        for (size_t i = 0; i < t->ncols; i++)
                cells[i] = va_arg(ap, const char *);
        va_end(ap);
        table_add_rowv(t, cells);
}

static size_t cell_width(const char *s) {
        return g_utf8_validate(s, -1, NULL) ? (size_t) g_utf8_strlen(s, -1) : strlen(s);
}

static void table_print_row(const Table *t, char **row, const size_t *widths) {
        for (size_t i = 0; i < t->ncols; i++) {
                fputc(' ', stdout);
                fputs(row[i], stdout);
                if (i + 1 < t->ncols)
                        printf("%*s", (int) (widths[i] - cell_width(row[i]) + 2), "");
        }
        fputc('\n', stdout);
}

/* Columns: one space before, two after the widest cell; the rule under the
 * header spans all of that. */
void table_print(const Table *t) {
        g_autofree size_t *widths = g_new0(size_t, t->ncols);
        size_t rule = 0;

        for (size_t r = 0; r < t->rows->len; r++) {
                char **row = g_ptr_array_index(t->rows, r);

                for (size_t i = 0; i < t->ncols; i++)
                        widths[i] = MAX(widths[i], cell_width(row[i]));
        }

        table_print_row(t, g_ptr_array_index(t->rows, 0), widths);
        for (size_t i = 0; i < t->ncols; i++)
                rule += widths[i] + 3;
        for (size_t i = 0; i < rule; i++)
                fputc('-', stdout);
        fputc('\n', stdout);

        for (size_t r = 1; r < t->rows->len; r++)
                table_print_row(t, g_ptr_array_index(t->rows, r), widths);
}

void table_free(Table *t) {
        if (!t)
                return;
        g_ptr_array_unref(t->rows);
        g_free(t);
}
