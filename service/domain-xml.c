/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt domain XML: parse, validate, normalize and format (libxml2).
 *
 * One xmlDoc lives for the duration of a call only: the DomainDef keeps the
 * handful of facts the core needs plus the normalized XML text, so a
 * thousand domains cost about a thousand XML strings of memory. Everything
 * domaind does not interpret stays in the tree untouched and is written
 * back out, which is what makes unknown elements round-trip. */

#include "domain-xml.h"
#include "xml-util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

#define NAME_MAX_CHARS 200
#define VALUE_QUOTE_MAX_CHARS 64

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

G_DEFINE_QUARK(domain-xml-error-quark, domain_xml_error)

#ifndef _cleanup_
#define _cleanup_(f) __attribute__((cleanup(f)))
#endif

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* ---- errors ---------------------------------------------------------- */

bool xml_fail(GError **error, const char *fmt, ...) {
        va_list ap;

        if (error) {
                va_start(ap, fmt);
                *error = g_error_new_valist(DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_INVALID, fmt, ap);
                va_end(ap);
        }
        return false;
}

/* "<where>: 'value' problem". Values come from the caller and may be huge,
 * so only a prefix is quoted; cut on a character boundary because the
 * message ends up in a D-Bus error, which must be valid UTF-8. */
static bool fail_value(GError **error, const char *where, const char *value, const char *problem) {
        g_autofree char *shown = NULL;

        if (g_utf8_strlen(value, -1) > VALUE_QUOTE_MAX_CHARS) {
                g_autofree char *prefix = g_utf8_substring(value, 0, VALUE_QUOTE_MAX_CHARS);
                shown = g_strconcat(prefix, "...", NULL);
        } else
                shown = g_strdup(value);

        return xml_fail(error, "%s: '%s' %s", where, shown, problem);
}

static bool check_enum(const char *where, const char *value, const char *const *allowed, GError **error) {
        g_autofree char *list = NULL;
        g_autofree char *problem = NULL;

        if (g_strv_contains(allowed, value))
                return true;

        list = g_strjoinv(", ", (char **) allowed);
        problem = g_strconcat("is not one of ", list, NULL);
        return fail_value(error, where, value, problem);
}

/* ---- small parsers ----------------------------------------------------- */

/* Unsigned decimal, optionally surrounded by blanks (element content often
 * is). No sign, no base prefix. */
static int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        bool digits = false;

        while (g_ascii_isspace(*s))
                s++;
        for (; g_ascii_isdigit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
                digits = true;
        }
        while (g_ascii_isspace(*s))
                s++;
        if (!digits || *s)
                return -EINVAL;

        *ret = v;
        return 0;
}

static int parse_int_range(const char *s, int64_t min, int64_t max, int64_t *ret) {
        uint64_t u;
        bool negative;
        int r;

        while (g_ascii_isspace(*s))
                s++;
        negative = *s == '-';
        if (negative && !g_ascii_isdigit(s[1]))
                return -EINVAL;
        r = parse_u64(negative ? s + 1 : s, &u);
        if (r < 0)
                return r;
        if (u > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = negative ? -(int64_t) u : (int64_t) u;
        if (*ret < min || *ret > max)
                return -ERANGE;
        return 0;
}

/* libvirt's scale rules: the whole suffix is case-insensitive; "b"/"byte"/
 * "bytes" are bytes, a lone prefix letter or prefix + "iB" is a power of
 * 1024, prefix + "B" a power of 1000. */
static bool unit_scale(const char *unit, uint64_t default_unit, uint64_t *ret) {
        static const char prefixes[] = "kmgtpe";
        const char *p;
        uint64_t base, scale = 1;

        if (!unit || !*unit) {
                *ret = default_unit;
                return default_unit > 0;
        }
        if (g_ascii_strcasecmp(unit, "b") == 0 || g_ascii_strcasecmp(unit, "byte") == 0 ||
            g_ascii_strcasecmp(unit, "bytes") == 0) {
                *ret = 1;
                return true;
        }

        p = strchr(prefixes, g_ascii_tolower(unit[0]));
        if (!p || !*p)
                return false;
        if (unit[1] == 0 || g_ascii_strcasecmp(unit + 1, "iB") == 0)
                base = 1024;
        else if (g_ascii_tolower(unit[1]) == 'b' && unit[2] == 0)
                base = 1000;
        else
                return false;

        /* at most 1024^6 = 2^60: cannot overflow */
        for (ptrdiff_t i = 0; i <= p - prefixes; i++)
                scale *= base;
        *ret = scale;
        return true;
}

bool parse_scaled_size(const char *value, const char *unit, uint64_t default_unit_bytes,
                       uint64_t *ret_bytes) {
        uint64_t n, scale;

        if (!value || parse_u64(value, &n) < 0)
                return false;
        if (!unit_scale(unit, default_unit_bytes, &scale))
                return false;
        if (n > UINT64_MAX / scale)
                return false;

        *ret_bytes = n * scale;
        return true;
}

/* 32 hex digits, bare or dashed 8-4-4-4-12; written dashed, lower case. */
bool uuid_normalize(const char *s, char out[37]) {
        size_t len = strlen(s), k = 0;
        char hex[32];

        if (len != 32 && len != 36)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
                        if (s[i] != '-')
                                return false;
                        continue;
                }
                if (!g_ascii_isxdigit(s[i]))
                        return false;
                hex[k++] = g_ascii_tolower(s[i]);
        }

        g_snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
        return true;
}

/* Six octets of one or two hex digits separated by ':' (libvirt accepts
 * "52:54:0:1:2:3" too); written as two lower-case digits each. */
static bool mac_normalize(const char *s, char out[18]) {
        unsigned octets[6];

        for (size_t i = 0; i < 6; i++) {
                size_t n = 0;

                octets[i] = 0;
                while (n < 2 && g_ascii_isxdigit(*s)) {
                        octets[i] = octets[i] * 16 + (unsigned) g_ascii_xdigit_value(*s++);
                        n++;
                }
                if (n == 0)
                        return false;
                if (*s != (i < 5 ? ':' : 0))
                        return false;
                if (i < 5)
                        s++;
        }

        g_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
                   octets[0], octets[1], octets[2], octets[3], octets[4], octets[5]);
        return true;
}

static bool validate_name(const char *where, const char *name, GError **error) {
        if (!*name)
                return xml_fail(error, "%s: must not be empty", where);
        if (name[0] == '-')
                return fail_value(error, where, name, "must not start with '-'");
        if (strchr(name, '/'))
                return fail_value(error, where, name, "must not contain '/'");
        for (const char *p = name; *p; p = g_utf8_next_char(p))
                if (g_unichar_iscntrl(g_utf8_get_char(p)))
                        return xml_fail(error, "%s: must not contain control characters", where);
        if (g_utf8_strlen(name, -1) > NAME_MAX_CHARS)
                return xml_fail(error, "%s: longer than %d characters", where, NAME_MAX_CHARS);
        return true;
}

/* ---- tree helpers ------------------------------------------------------ */

static bool is_element(const xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

static const char *node_name(const xmlNode *n) {
        return (const char *) n->name;
}

char *xml_get_attr(const xmlNode *n, const char *name) {
        g_autoptr(xmlChar) v = xmlGetNoNsProp(n, BAD_CAST name);

        return v ? g_strdup((const char *) v) : NULL;
}

static char *get_text(const xmlNode *n) {
        g_autoptr(xmlChar) v = xmlNodeGetContent(n);

        return g_strdup(v ? (const char *) v : "");
}

char *xml_get_stripped_text(const xmlNode *n) {
        return g_strstrip(get_text(n));
}

/* The child element `name`; more than one is refused because the core and
 * the hypervisor must not read different ones. */
static bool get_unique_child(xmlNode *parent, const char *name, const char *where,
                             xmlNode **ret, GError **error) {
        *ret = NULL;
        for (xmlNode *c = parent->children; c; c = c->next) {
                if (!is_element(c, name))
                        continue;
                if (*ret)
                        return xml_fail(error, "%s: more than one <%s>", where, name);
                *ret = c;
        }
        return true;
}

/* "<disk>" + attr → "<disk type>", the way messages name attributes. */
static char *where_attr(const char *where, const char *attr) {
        size_t len = strlen(where);

        g_assert(len > 0 && where[len - 1] == '>');
        return g_strdup_printf("%.*s %s>", (int) len - 1, where, attr);
}

/* An attribute that must be present and non-empty. */
static bool require_attr(const xmlNode *n, const char *attr, const char *where,
                         char **ret, GError **error) {
        g_autofree char *v = xml_get_attr(n, attr);
        g_autofree char *w = NULL;

        if (!v)
                return xml_fail(error, "%s: missing %s attribute", where, attr);
        if (!*v) {
                w = where_attr(where, attr);
                return xml_fail(error, "%s: must not be empty", w);
        }
        *ret = g_steal_pointer(&v);
        return true;
}

static bool check_enum_attr(const xmlNode *n, const char *attr, const char *where,
                            const char *const *allowed, GError **error) {
        g_autofree char *v = xml_get_attr(n, attr);
        g_autofree char *w = NULL;

        if (!v)
                return true;
        w = where_attr(where, attr);
        return check_enum(w, v, allowed, error);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct ReadState {
        bool doctype;
        char *first_error;
} ReadState;

#if LIBXML_VERSION >= 21200
static void on_xml_error(void *data, const xmlError *e) {
#else
static void on_xml_error(void *data, xmlErrorPtr e) {
#endif
        xmlParserCtxt *ctxt = data;
        ReadState *s = ctxt->_private;

        /* the first error is the cause; later ones are fallout */
        if (s->first_error || e->level == XML_ERR_WARNING)
                return;
        /* libxml2 may quote raw input bytes; D-Bus wants valid UTF-8 */
        s->first_error = g_utf8_make_valid(e->message ? e->message : "error", -1);
        g_strchomp(s->first_error);
        if (e->line > 0) {
                char *m = g_strdup_printf("line %d: %s", e->line, s->first_error);

                g_free(s->first_error);
                s->first_error = m;
        }
}

/* A DOCTYPE is where entities (XXE, billion laughs) and external DTDs come
 * from; domain XML never needs one, so stop the parser right there. */
static void on_internal_subset(void *data, const xmlChar *name, const xmlChar *external_id,
                               const xmlChar *system_id) {
        xmlParserCtxt *ctxt = data;
        ReadState *s = ctxt->_private;

        s->doctype = true;
        xmlStopParser(ctxt);
}

static void init_libxml(void) {
        static gsize initialized = 0;

        if (g_once_init_enter(&initialized)) {
                xmlInitParser();
                g_once_init_leave(&initialized, 1);
        }
}

xmlDoc *xml_read_document(const char *xml, const char *root_name, GError **error) {
        g_autoptr(xmlParserCtxt) ctxt = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autofree char *first_error = NULL;
        ReadState state = {};
        xmlNode *root;
        size_t len;

        if (!xml || !*xml) {
                xml_fail(error, "empty XML document");
                return NULL;
        }
        len = strlen(xml);
        if (len > INT_MAX) {
                xml_fail(error, "XML document too large");
                return NULL;
        }

        init_libxml();
        ctxt = xmlNewParserCtxt();
        if (!ctxt) {
                xml_fail(error, "out of memory");
                return NULL;
        }
        ctxt->_private = &state;
        /* per-context handlers: nothing goes to stderr, nothing global */
#if LIBXML_VERSION >= 21300
        xmlCtxtSetErrorHandler(ctxt, on_xml_error, ctxt);
#else
        ctxt->sax->serror = on_xml_error;
#endif
        ctxt->sax->internalSubset = on_internal_subset;

        /* No XML_PARSE_NOENT/DTDLOAD: entities are never substituted nor
         * fetched; NONET in case anything still tries. NOBLANKS drops the
         * indentation so the output can be re-indented uniformly. */
        doc = xmlCtxtReadMemory(ctxt, xml, (int) len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_COMPACT);
        first_error = state.first_error;

        if (state.doctype || (doc && (doc->intSubset || doc->extSubset))) {
                xml_fail(error, "<!DOCTYPE>: not allowed in %s XML", root_name);
                return NULL;
        }
        /* undeclared namespace prefixes are only "namespace errors" to
         * libxml2; refuse them too, they are not XML anyone meant */
        if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
                xml_fail(error, "malformed XML: %s", first_error ? first_error : "cannot parse");
                return NULL;
        }

        root = xmlDocGetRootElement(doc);
        if (!root) {
                xml_fail(error, "<%s>: missing root element", root_name);
                return NULL;
        }
        if (!is_element(root, root_name)) {
                xml_fail(error, "<%s>: expected as root element, found <%s>", root_name, node_name(root));
                return NULL;
        }

        return g_steal_pointer(&doc);
}

char *xml_write_document(xmlDoc *doc) {
        g_autoptr(xmlBuffer) buf = xmlBufferCreate();
        xmlSaveCtxt *save;

        if (!buf)
                return NULL;
        /* an explicit encoding keeps non-ASCII text as UTF-8 instead of
         * character references */
        save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
        if (!save)
                return NULL;
        if (xmlSaveDoc(save, doc) < 0) {
                xmlSaveClose(save);
                return NULL;
        }
        if (xmlSaveClose(save) < 0)
                return NULL;

        return g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
}

/* ---- top level ------------------------------------------------------------ */

/* libvirt's order of the <domain> children; elements domaind adds are put
 * where libvirt would write them. */
static const char *const top_order[] = {
        "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
        "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
        "iothreadids", "cputune", "numatune", "resource", "sysinfo", "bootloader",
        "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff",
        "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel",
        "keywrap", "launchSecurity",
};

static int top_rank(const xmlNode *n) {
        if (n->type != XML_ELEMENT_NODE || n->ns)
                return -1;
        for (size_t i = 0; i < G_N_ELEMENTS(top_order); i++)
                if (xmlStrEqual(n->name, BAD_CAST top_order[i]))
                        return (int) i;
        return -1;
}

static xmlNode *add_top_element(xmlNode *root, const char *name, const char *content) {
        xmlNode *n = xmlNewDocNode(root->doc, NULL, BAD_CAST name, BAD_CAST content);
        xmlNode *after = NULL;
        int rank = top_rank(n);

        for (xmlNode *c = root->children; c; c = c->next) {
                int r = top_rank(c);

                if (r >= 0 && r < rank)
                        after = c;
        }

        if (after)
                xmlAddNextSibling(after, n);
        else if (root->children)
                xmlAddPrevSibling(root->children, n);
        else
                xmlAddChild(root, n);
        return n;
}

/* The <domain> children domaind interprets; each at most once. */
typedef struct TopElements {
        xmlNode *name, *uuid, *memory, *current_memory, *vcpu, *os, *bootloader,
                *bootloader_args, *features, *clock, *on_poweroff, *on_reboot, *on_crash,
                *devices;
} TopElements;

static const struct {
        const char *name;
        size_t offset;
} top_slots[] = {
        { "name", offsetof(TopElements, name) },
        { "uuid", offsetof(TopElements, uuid) },
        { "memory", offsetof(TopElements, memory) },
        { "currentMemory", offsetof(TopElements, current_memory) },
        { "vcpu", offsetof(TopElements, vcpu) },
        { "os", offsetof(TopElements, os) },
        { "bootloader", offsetof(TopElements, bootloader) },
        { "bootloader_args", offsetof(TopElements, bootloader_args) },
        { "features", offsetof(TopElements, features) },
        { "clock", offsetof(TopElements, clock) },
        { "on_poweroff", offsetof(TopElements, on_poweroff) },
        { "on_reboot", offsetof(TopElements, on_reboot) },
        { "on_crash", offsetof(TopElements, on_crash) },
        { "devices", offsetof(TopElements, devices) },
};

static bool collect_top(xmlNode *root, TopElements *top, GError **error) {
        *top = (TopElements) {};

        for (xmlNode *c = root->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || c->ns)
                        continue;
                for (size_t i = 0; i < G_N_ELEMENTS(top_slots); i++) {
                        xmlNode **slot;

                        if (!xmlStrEqual(c->name, BAD_CAST top_slots[i].name))
                                continue;
                        slot = (xmlNode **) ((char *) top + top_slots[i].offset);
                        if (*slot)
                                return xml_fail(error, "<domain>: more than one <%s>", top_slots[i].name);
                        *slot = c;
                        break;
                }
        }
        return true;
}

static bool parse_root(xmlNode *root, DomainDef *def, GError **error) {
        g_autofree char *type = NULL;

        if (!require_attr(root, "type", "<domain>", &type, error))
                return false;
        /* the id belongs to a running instance, never to a definition */
        xmlUnsetProp(root, BAD_CAST "id");
        def->type = g_steal_pointer(&type);
        return true;
}

static bool parse_name(xmlNode *n, DomainDef *def, GError **error) {
        g_autofree char *name = NULL;

        if (!n)
                return xml_fail(error, "<domain>: missing <name>");
        name = get_text(n);
        if (!validate_name("<name>", name, error))
                return false;
        def->name = g_steal_pointer(&name);
        return true;
}

static bool parse_uuid(xmlNode *root, xmlNode *n, DomainDef *def, GError **error) {
        g_autofree char *text = NULL;
        g_autofree char *generated = NULL;

        if (!n) {
                generated = g_uuid_string_random();
                g_strlcpy(def->uuid, generated, sizeof def->uuid);
                add_top_element(root, "uuid", def->uuid);
                return true;
        }

        text = xml_get_stripped_text(n);
        if (!uuid_normalize(text, def->uuid))
                return fail_value(error, "<uuid>", text, "is not a UUID");
        if (strcmp(def->uuid, "00000000-0000-0000-0000-000000000000") == 0)
                return fail_value(error, "<uuid>", text, "is the nil UUID");
        xmlNodeSetContent(n, BAD_CAST def->uuid);
        return true;
}

/* <memory>/<currentMemory> in KiB, rounded up like libvirt does */
static bool parse_memory_element(xmlNode *n, const char *where, uint64_t *ret_kib, GError **error) {
        g_autofree char *text = xml_get_stripped_text(n);
        g_autofree char *unit = xml_get_attr(n, "unit");
        char buf[32];
        uint64_t v, bytes;
        int r;

        r = parse_u64(text, &v);
        if (r == -ERANGE)
                return fail_value(error, where, text, "is too large");
        if (r < 0)
                return fail_value(error, where, text, "is not a number");
        if (unit && !parse_scaled_size("0", unit, 1024, &bytes)) {
                g_autofree char *w = where_attr(where, "unit");
                return fail_value(error, w, unit, "is not a known unit");
        }
        if (!parse_scaled_size(text, unit, 1024, &bytes))
                return xml_fail(error, "%s: '%s %s' is too large", where, text, unit ?: "KiB");
        if (bytes == 0)
                return xml_fail(error, "%s: must be greater than zero", where);

        *ret_kib = bytes / 1024 + (bytes % 1024 != 0);
        g_snprintf(buf, sizeof buf, "%" PRIu64, *ret_kib);
        xmlNodeSetContent(n, BAD_CAST buf);
        xmlSetProp(n, BAD_CAST "unit", BAD_CAST "KiB");
        return true;
}

static bool parse_memory(xmlNode *root, const TopElements *top, DomainDef *def, GError **error) {
        xmlNode *cur;

        if (!top->memory)
                return xml_fail(error, "<domain>: missing <memory>");
        if (!parse_memory_element(top->memory, "<memory>", &def->memory_kib, error))
                return false;

        if (!top->current_memory) {
                char buf[32];

                def->current_kib = def->memory_kib;
                g_snprintf(buf, sizeof buf, "%" PRIu64, def->current_kib);
                cur = add_top_element(root, "currentMemory", buf);
                xmlSetProp(cur, BAD_CAST "unit", BAD_CAST "KiB");
                return true;
        }

        if (!parse_memory_element(top->current_memory, "<currentMemory>", &def->current_kib, error))
                return false;
        if (def->current_kib > def->memory_kib)
                return xml_fail(error, "<currentMemory>: %" PRIu64 " KiB exceeds <memory> of %" PRIu64 " KiB",
                            def->current_kib, def->memory_kib);
        return true;
}

static bool parse_vcpu(xmlNode *root, xmlNode *n, DomainDef *def, GError **error) {
        g_autofree char *text = NULL;
        g_autofree char *current = NULL;
        uint64_t v, c;

        if (!n) {
                def->vcpus = 1;
                add_top_element(root, "vcpu", "1");
                return true;
        }

        text = xml_get_stripped_text(n);
        if (parse_u64(text, &v) < 0)
                return fail_value(error, "<vcpu>", text, "is not a number");
        if (v == 0)
                return xml_fail(error, "<vcpu>: must be at least 1");
        if (v > UINT_MAX)
                return fail_value(error, "<vcpu>", text, "is too large");
        def->vcpus = (unsigned) v;

        current = xml_get_attr(n, "current");
        if (current) {
                if (parse_u64(current, &c) < 0)
                        return fail_value(error, "<vcpu current>", current, "is not a number");
                if (c == 0 || c > v)
                        return fail_value(error, "<vcpu current>", current, "must be between 1 and <vcpu>");
        }
        return true;
}

static bool parse_os(xmlNode *os, DomainDef *def, GError **error) {
        g_autofree char *type = NULL;
        xmlNode *type_node;

        if (!os)
                return true;

        if (!get_unique_child(os, "type", "<os>", &type_node, error))
                return false;
        if (!type_node)
                return xml_fail(error, "<os>: missing <type>");
        type = xml_get_stripped_text(type_node);
        if (!*type)
                return xml_fail(error, "<os><type>: must not be empty");

        for (xmlNode *c = os->children; c; c = c->next) {
                g_autofree char *dev = NULL;

                if (!is_element(c, "boot"))
                        continue;
                if (!require_attr(c, "dev", "<os><boot>", &dev, error))
                        return false;
                if (!check_enum("<os><boot dev>", dev, STRV("hd", "cdrom", "network", "fd"), error))
                        return false;
        }

        def->os_type = g_steal_pointer(&type);
        return true;
}

static bool parse_clock(xmlNode *clock, GError **error) {
        if (!clock)
                return true;
        return check_enum_attr(clock, "offset", "<clock>",
                               STRV("utc", "localtime", "timezone", "variable"), error);
}

static const char *const lifecycle_names[] = {
        [LIFECYCLE_DESTROY] = "destroy",
        [LIFECYCLE_RESTART] = "restart",
        [LIFECYCLE_PRESERVE] = "preserve",
        [LIFECYCLE_RENAME_RESTART] = "rename-restart",
        [LIFECYCLE_COREDUMP_DESTROY] = "coredump-destroy",
        [LIFECYCLE_COREDUMP_RESTART] = "coredump-restart",
};

const char *lifecycle_action_to_string(LifecycleAction a) {
        if ((size_t) a >= G_N_ELEMENTS(lifecycle_names))
                return NULL;
        return lifecycle_names[a];
}

static bool parse_lifecycle(xmlNode *root, xmlNode *n, const char *name, bool crash,
                            LifecycleAction dflt, LifecycleAction *ret, GError **error) {
        /* coredump-* only make sense for a crash */
        size_t n_allowed = crash ? G_N_ELEMENTS(lifecycle_names) : LIFECYCLE_COREDUMP_DESTROY;
        g_autofree char *text = NULL;
        g_autofree char *where = NULL;

        if (!n) {
                *ret = dflt;
                add_top_element(root, name, lifecycle_names[dflt]);
                return true;
        }

        text = xml_get_stripped_text(n);
        for (size_t i = 0; i < n_allowed; i++)
                if (strcmp(text, lifecycle_names[i]) == 0) {
                        *ret = (LifecycleAction) i;
                        xmlNodeSetContent(n, BAD_CAST lifecycle_names[i]);
                        return true;
                }

        where = g_strdup_printf("<%s>", name);
        if (crash)
                return check_enum(where, text, STRV("destroy", "restart", "preserve", "rename-restart",
                                                    "coredump-destroy", "coredump-restart"), error);
        return check_enum(where, text, STRV("destroy", "restart", "preserve", "rename-restart"), error);
}

/* ---- devices ---------------------------------------------------------------- */

typedef struct Devices {
        GHashTable *targets;  /* disk target devs seen */
        GPtrArray *sources;   /* disk source paths, in order */
        GHashTable *macs;     /* interface MACs seen, normalized */
        GPtrArray *need_mac;  /* <interface> nodes without <mac> */
} Devices;

static void devices_done(Devices *d) {
        g_clear_pointer(&d->targets, g_hash_table_unref);
        g_clear_pointer(&d->sources, g_ptr_array_unref);
        g_clear_pointer(&d->macs, g_hash_table_unref);
        g_clear_pointer(&d->need_mac, g_ptr_array_unref);
}

static bool parse_disk_source(xmlNode *disk, const char *type, const char *device, Devices *d,
                              GError **error) {
        const char *attr = strcmp(type, "file") == 0 ? "file" : "dev";
        const char *other = strcmp(type, "file") == 0 ? "dev" : "file";
        g_autofree char *path = NULL;
        g_autofree char *other_path = NULL;
        bool removable = strcmp(device, "disk") != 0;
        xmlNode *source;

        if (!get_unique_child(disk, "source", "<disk>", &source, error))
                return false;
        if (source)
                path = xml_get_attr(source, attr);

        if (!path) {
                other_path = source ? xml_get_attr(source, other) : NULL;
                if (other_path)
                        return xml_fail(error, "<disk><source>: a type='%s' disk takes %s=, not %s=",
                                    type, attr, other);
                /* an empty cdrom or floppy drive */
                if (removable)
                        return true;
                if (!source)
                        return xml_fail(error, "<disk>: missing <source>");
                return xml_fail(error, "<disk><source>: missing %s attribute", attr);
        }
        if (!*path)
                return xml_fail(error, "<disk><source %s>: must not be empty", attr);

        g_ptr_array_add(d->sources, g_steal_pointer(&path));
        return true;
}

static bool parse_disk(xmlNode *disk, Devices *d, GError **error) {
        g_autofree char *type = xml_get_attr(disk, "type");
        g_autofree char *device = xml_get_attr(disk, "device");
        g_autofree char *dev = NULL;
        xmlNode *driver, *target;

        /* libvirt's defaults */
        if (!type)
                type = g_strdup("file");
        if (!device)
                device = g_strdup("disk");
        if (!check_enum("<disk type>", type, STRV("file", "block"), error))
                return false;
        if (!check_enum("<disk device>", device, STRV("disk", "cdrom", "floppy"), error))
                return false;

        if (!get_unique_child(disk, "driver", "<disk>", &driver, error))
                return false;
        if (driver && !check_enum_attr(driver, "type", "<disk><driver>", STRV("raw", "qcow2"), error))
                return false;

        if (!parse_disk_source(disk, type, device, d, error))
                return false;

        if (!get_unique_child(disk, "target", "<disk>", &target, error))
                return false;
        if (!target)
                return xml_fail(error, "<disk>: missing <target>");
        if (!require_attr(target, "dev", "<disk><target>", &dev, error))
                return false;
        if (!check_enum_attr(target, "bus", "<disk><target>",
                             STRV("virtio", "ide", "sata", "scsi", "usb", "xen", "fdc"), error))
                return false;
        if (g_hash_table_contains(d->targets, dev))
                return fail_value(error, "<disk><target dev>", dev, "is used by two disks");
        g_hash_table_add(d->targets, g_steal_pointer(&dev));
        return true;
}

static bool parse_interface(xmlNode *iface, Devices *d, GError **error) {
        g_autofree char *type = xml_get_attr(iface, "type");
        xmlNode *source, *mac, *model;

        if (!type)
                type = g_strdup("user"); /* libvirt's default */
        if (!check_enum("<interface type>", type, STRV("network", "bridge", "user"), error))
                return false;

        if (!get_unique_child(iface, "source", "<interface>", &source, error))
                return false;
        if (strcmp(type, "user") != 0) {
                g_autofree char *value = NULL;

                if (!source)
                        return xml_fail(error, "<interface>: a type='%s' interface needs <source %s=...>",
                                    type, type);
                if (!require_attr(source, type, "<interface><source>", &value, error))
                        return false;
        }

        if (!get_unique_child(iface, "mac", "<interface>", &mac, error))
                return false;
        if (mac) {
                g_autofree char *address = NULL;
                char normalized[18];
                unsigned first;

                if (!require_attr(mac, "address", "<interface><mac>", &address, error))
                        return false;
                if (!mac_normalize(address, normalized))
                        return fail_value(error, "<interface><mac address>", address, "is not a MAC address");
                first = (unsigned) g_ascii_xdigit_value(normalized[0]) * 16 +
                        (unsigned) g_ascii_xdigit_value(normalized[1]);
                if (first & 1)
                        return fail_value(error, "<interface><mac address>", address, "is a multicast address");
                xmlSetProp(mac, BAD_CAST "address", BAD_CAST normalized);
                g_hash_table_add(d->macs, g_strdup(normalized));
        } else
                g_ptr_array_add(d->need_mac, iface);

        if (!get_unique_child(iface, "model", "<interface>", &model, error))
                return false;
        if (model) {
                g_autofree char *mtype = NULL;

                if (!require_attr(model, "type", "<interface><model>", &mtype, error))
                        return false;
        }
        return true;
}

/* Runs after all interfaces were seen so a generated MAC never collides
 * with one given later in the same domain. */
static void generate_macs(Devices *d) {
        for (guint i = 0; i < d->need_mac->len; i++) {
                xmlNode *iface = d->need_mac->pdata[i];
                char address[18];
                xmlNode *mac;

                do {
                        guint32 r = g_random_int();
                        g_snprintf(address, sizeof address, "52:54:00:%02x:%02x:%02x",
                                   (r >> 16) & 0xff, (r >> 8) & 0xff, r & 0xff);
                } while (g_hash_table_contains(d->macs, address));
                g_hash_table_add(d->macs, g_strdup(address));

                /* libvirt writes <mac> first */
                mac = xmlNewDocNode(iface->doc, NULL, BAD_CAST "mac", NULL);
                xmlSetProp(mac, BAD_CAST "address", BAD_CAST address);
                if (iface->children)
                        xmlAddPrevSibling(iface->children, mac);
                else
                        xmlAddChild(iface, mac);
        }
}

static bool parse_input(xmlNode *n, GError **error) {
        g_autofree char *type = NULL;

        if (!require_attr(n, "type", "<input>", &type, error))
                return false;
        if (!check_enum("<input type>", type, STRV("mouse", "tablet", "keyboard", "passthrough", "evdev"),
                        error))
                return false;
        return check_enum_attr(n, "bus", "<input>", STRV("ps2", "usb", "xen", "virtio", "none"), error);
}

static bool parse_graphics(xmlNode *n, GError **error) {
        g_autofree char *type = NULL;
        g_autofree char *port = NULL;

        if (!require_attr(n, "type", "<graphics>", &type, error))
                return false;
        if (!check_enum("<graphics type>", type,
                        STRV("sdl", "vnc", "spice", "rdp", "desktop", "egl-headless", "dbus"), error))
                return false;

        port = xml_get_attr(n, "port");
        if (port) {
                int64_t v;

                /* -1 is libvirt's old spelling of autoport */
                if (parse_int_range(port, -1, 65535, &v) < 0)
                        return fail_value(error, "<graphics port>", port, "is not a port number");
        }
        return check_enum_attr(n, "autoport", "<graphics>", STRV("yes", "no"), error);
}

static bool parse_chardev(xmlNode *n, const char *where, GError **error) {
        return check_enum_attr(n, "type", where,
                               STRV("null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp",
                                    "unix", "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus"),
                               error);
}

static bool parse_sound(xmlNode *n, GError **error) {
        g_autofree char *model = NULL;

        if (!require_attr(n, "model", "<sound>", &model, error))
                return false;
        return check_enum("<sound model>", model,
                          STRV("sb16", "es1370", "pcspk", "ac97", "ich6", "ich7", "ich9", "usb"), error);
}

static bool parse_video(xmlNode *n, GError **error) {
        g_autofree char *type = NULL;
        xmlNode *model;

        if (!get_unique_child(n, "model", "<video>", &model, error))
                return false;
        if (!model)
                return true;
        if (!require_attr(model, "type", "<video><model>", &type, error))
                return false;
        return check_enum("<video><model type>", type,
                          STRV("vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "virtio", "gop", "bochs",
                               "ramfb", "none"),
                          error);
}

static bool parse_device(xmlNode *n, Devices *d, GError **error) {
        if (is_element(n, "disk"))
                return parse_disk(n, d, error);
        if (is_element(n, "interface"))
                return parse_interface(n, d, error);
        if (is_element(n, "input"))
                return parse_input(n, error);
        if (is_element(n, "graphics"))
                return parse_graphics(n, error);
        if (is_element(n, "console"))
                return parse_chardev(n, "<console>", error);
        if (is_element(n, "serial"))
                return parse_chardev(n, "<serial>", error);
        if (is_element(n, "sound"))
                return parse_sound(n, error);
        if (is_element(n, "video"))
                return parse_video(n, error);
        return true; /* <emulator>, and whatever we don't know: kept as is */
}

static bool parse_devices(xmlNode *devices, DomainDef *def, GError **error) {
        _cleanup_(devices_done) Devices d = {};
        xmlNode *emulator;

        if (!devices) {
                def->disk_sources = g_new0(char *, 1);
                return true;
        }

        d.targets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        d.sources = g_ptr_array_new_with_free_func(g_free);
        d.macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        d.need_mac = g_ptr_array_new();

        if (!get_unique_child(devices, "emulator", "<devices>", &emulator, error))
                return false;

        for (xmlNode *c = devices->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && !parse_device(c, &d, error))
                        return false;

        generate_macs(&d);

        g_ptr_array_add(d.sources, NULL);
        def->disk_sources = (char **) g_ptr_array_free(g_steal_pointer(&d.sources), false);
        return true;
}

static bool parse_domain(xmlNode *root, DomainDef *def, GError **error) {
        TopElements top;

        return parse_root(root, def, error) &&
               collect_top(root, &top, error) &&
               parse_name(top.name, def, error) &&
               parse_uuid(root, top.uuid, def, error) &&
               parse_memory(root, &top, def, error) &&
               parse_vcpu(root, top.vcpu, def, error) &&
               parse_os(top.os, def, error) &&
               parse_clock(top.clock, error) &&
               parse_lifecycle(root, top.on_poweroff, "on_poweroff", false, LIFECYCLE_DESTROY,
                               &def->on_poweroff, error) &&
               parse_lifecycle(root, top.on_reboot, "on_reboot", false, LIFECYCLE_RESTART,
                               &def->on_reboot, error) &&
               parse_lifecycle(root, top.on_crash, "on_crash", true, LIFECYCLE_DESTROY,
                               &def->on_crash, error) &&
               parse_devices(top.devices, def, error);
}

DomainDef *domain_def_parse(const char *xml, GError **error) {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(DomainDef) def = NULL;

        doc = xml_read_document(xml, "domain", error);
        if (!doc)
                return NULL;

        def = g_new0(DomainDef, 1);
        if (!parse_domain(xmlDocGetRootElement(doc), def, error))
                return NULL;

        def->xml = xml_write_document(doc);
        if (!def->xml) {
                xml_fail(error, "<domain>: cannot serialize");
                return NULL;
        }
        return g_steal_pointer(&def);
}

void domain_def_free(DomainDef *def) {
        if (!def)
                return;
        g_free(def->name);
        g_free(def->type);
        g_free(def->os_type);
        g_strfreev(def->disk_sources);
        g_free(def->xml);
        g_free(def);
}

DomainDef *domain_def_copy(const DomainDef *def) {
        DomainDef *c;

        if (!def)
                return NULL;
        c = g_memdup2(def, sizeof *def);
        c->name = g_strdup(def->name);
        c->type = g_strdup(def->type);
        c->os_type = g_strdup(def->os_type);
        c->disk_sources = g_strdupv(def->disk_sources);
        c->xml = g_strdup(def->xml);
        return c;
}

static void strip_secrets(xmlNode *root) {
        for (xmlNode *devices = root->children; devices; devices = devices->next) {
                if (!is_element(devices, "devices"))
                        continue;
                for (xmlNode *c = devices->children; c; c = c->next)
                        if (is_element(c, "graphics"))
                                xmlUnsetProp(c, BAD_CAST "passwd");
        }
}

char *domain_def_format(const DomainDef *def, int id, unsigned flags) {
        g_autoptr(xmlDoc) doc = NULL;
        xmlNode *root;

        g_return_val_if_fail(def, NULL);

        /* def->xml is canonical and has no id: hand it out as is when there
         * is nothing to change */
        if (id < 0 && ((flags & DOMAIN_XML_SECURE) || !strstr(def->xml, "passwd")))
                return g_strdup(def->xml);

        doc = xml_read_document(def->xml, "domain", NULL);
        if (!doc)
                return NULL;
        root = xmlDocGetRootElement(doc);

        if (id >= 0) {
                char buf[16];

                g_snprintf(buf, sizeof buf, "%d", id);
                xmlSetProp(root, BAD_CAST "id", BAD_CAST buf);
        } else
                xmlUnsetProp(root, BAD_CAST "id");

        if (!(flags & DOMAIN_XML_SECURE))
                strip_secrets(root);

        return xml_write_document(doc);
}

/* ---- snapshots ------------------------------------------------------------ */

#define SNAPSHOT_MODES STRV("no", "internal", "external", "manual")

/* <memory snapshot=...> and <disks><disk name=... snapshot=...>: checked
 * like libvirt does on create, then left to the hypervisor */
static bool check_snapshot_memory_disks(xmlNode *root, GError **error) {
        xmlNode *memory, *disks;

        if (!get_unique_child(root, "memory", "<domainsnapshot>", &memory, error) ||
            !get_unique_child(root, "disks", "<domainsnapshot>", &disks, error))
                return false;
        if (memory && !check_enum_attr(memory, "snapshot", "<domainsnapshot><memory>", SNAPSHOT_MODES, error))
                return false;
        if (!disks)
                return true;

        for (xmlNode *c = disks->children; c; c = c->next) {
                g_autofree char *name = NULL;

                if (!is_element(c, "disk"))
                        continue;
                if (!require_attr(c, "name", "<domainsnapshot><disks><disk>", &name, error))
                        return false;
                if (!check_enum_attr(c, "snapshot", "<domainsnapshot><disks><disk>", SNAPSHOT_MODES, error))
                        return false;
        }
        return true;
}

SnapshotRequest *snapshot_request_parse(const char *xml, GError **error) {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(SnapshotRequest) r = NULL;
        xmlNode *root, *name, *description;

        doc = xml_read_document(xml, "domainsnapshot", error);
        if (!doc)
                return NULL;
        root = xmlDocGetRootElement(doc);
        r = g_new0(SnapshotRequest, 1);

        /* state, creationTime, parent, domain, cookie, ...: only meaningful
         * when redefining metadata, ignored on create as libvirt does */
        if (!get_unique_child(root, "name", "<domainsnapshot>", &name, error) ||
            !get_unique_child(root, "description", "<domainsnapshot>", &description, error) ||
            !check_snapshot_memory_disks(root, error))
                return NULL;

        if (name) {
                r->name = get_text(name);
                if (!validate_name("<domainsnapshot><name>", r->name, error))
                        return NULL;
        }
        if (description)
                r->description = get_text(description);

        return g_steal_pointer(&r);
}

void snapshot_request_free(SnapshotRequest *r) {
        if (!r)
                return;
        g_free(r->name);
        g_free(r->description);
        g_free(r);
}
