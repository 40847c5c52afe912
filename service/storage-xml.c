/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt pool and volume XML: the part of it directory pools use. */
#include <inttypes.h>
#include <string.h>

#include "bus-util.h"
#include "domain-xml.h"
#include "storage.h"
#include "xml-util.h"

static xmlNode *child(xmlNode *parent, const char *name) {
        for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrEqual(c->name, BAD_CAST name))
                        return c;
        return NULL;
}

/* The NULL-tolerant forms let lookups chain: attr_of(child(child(...))). */
static char *text_of(xmlNode *n) {
        return n ? xml_get_stripped_text(n) : NULL;
}

static char *attr_of(xmlNode *n, const char *name) {
        return n ? xml_get_attr(n, name) : NULL;
}

/* Text of a required, non-empty element (the message names its path). */
static bool required_text(xmlNode *parent, const char *name, const char *where, char **ret, GError **error) {
        *ret = text_of(child(parent, name));
        if (!*ret)
                return xml_fail(error, "%s: missing", where);
        if (!**ret)
                return xml_fail(error, "%s: must not be empty", where);
        return true;
}

/* ---- pools ---- */

void pool_def_free(PoolDef *def) {
        if (!def)
                return;
        g_free(def->name);
        g_free(def->target);
        g_free(def);
}

PoolDef *pool_def_parse(const char *xml, GError **error) {
        g_autoptr(xmlDoc) doc = xml_read_document(xml, "pool", error);
        if (!doc)
                return NULL;
        xmlNode *root = xmlDocGetRootElement(doc);
        g_autoptr(PoolDef) def = g_new0(PoolDef, 1);
        g_autofree char *type = attr_of(root, "type");
        if (!type) {
                xml_fail(error, "<pool type>: missing (only 'dir' pools exist in domaind)");
                return NULL;
        }
        if (!g_str_equal(type, "dir")) {
                g_autofree char *shown = clip_for_message(type);
                g_set_error(error, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_UNSUPPORTED,
                            "<pool type>: '%s' pools are not supported: domaind has directory pools ('dir') only",
                            shown);
                return NULL;
        }
        if (!required_text(root, "name", "<pool><name>", &def->name, error) ||
            !required_text(child(root, "target"), "path", "<pool><target><path>", &def->target, error))
                return NULL;
        g_autofree char *uuid = text_of(child(root, "uuid"));
        if (uuid && !uuid_normalize(uuid, def->uuid)) {
                g_autofree char *shown = clip_for_message(uuid);
                xml_fail(error, "<pool><uuid>: '%s' is not a UUID", shown);
                return NULL;
        }
        return g_steal_pointer(&def);
}

static void add_size(xmlNode *parent, const char *name, uint64_t bytes) {
        char buf[32];
        g_snprintf(buf, sizeof buf, "%" PRIu64, bytes);
        xmlNode *n = xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST buf);
        xmlNewProp(n, BAD_CAST "unit", BAD_CAST "bytes");
}

/* sizes: capacity, allocation, available; NULL for the stored config. */
char *pool_xml_format(const char *name, const char *uuid, const char *target, const uint64_t *sizes) {
        g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
        xmlNode *root = xmlNewNode(NULL, BAD_CAST "pool");
        xmlDocSetRootElement(doc, root);
        xmlNewProp(root, BAD_CAST "type", BAD_CAST "dir");
        xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST name);
        xmlNewTextChild(root, NULL, BAD_CAST "uuid", BAD_CAST uuid);
        if (sizes) {
                add_size(root, "capacity", sizes[0]);
                add_size(root, "allocation", sizes[1]);
                add_size(root, "available", sizes[2]);
        }
        xmlNode *t = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
        xmlNewTextChild(t, NULL, BAD_CAST "path", BAD_CAST target);
        return xml_write_document(doc);
}

/* ---- volumes ---- */

void volume_def_free(VolumeDef *def) {
        if (!def)
                return;
        g_free(def->name);
        g_free(def);
}

static bool parse_size(xmlNode *n, const char *where, uint64_t *ret, GError **error) {
        g_autofree char *text = text_of(n);
        g_autofree char *unit = attr_of(n, "unit");
        uint64_t ignored;
        g_autofree char *shown_unit = clip_for_message(unit);
        g_autofree char *shown_text = clip_for_message(text);
        if (unit && !parse_scaled_size("0", unit, 1, &ignored))
                return xml_fail(error, "%s unit: '%s' is not a known unit", where, shown_unit);
        if (!text || !*text)
                return xml_fail(error, "%s: must not be empty", where);
        if (!parse_scaled_size(text, unit, 1, ret))
                return xml_fail(error, "%s: '%s' is not a size in %s", where, shown_text, unit ? shown_unit : "bytes");
        return true;
}

VolumeDef *volume_def_parse(const char *xml, GError **error) {
        g_autoptr(xmlDoc) doc = xml_read_document(xml, "volume", error);
        if (!doc)
                return NULL;
        xmlNode *root = xmlDocGetRootElement(doc);
        g_autoptr(VolumeDef) def = g_new0(VolumeDef, 1);
        g_autofree char *type = attr_of(root, "type");
        if (type && !g_str_equal(type, "file")) {
                g_autofree char *shown = clip_for_message(type);
                g_set_error(error, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_UNSUPPORTED,
                            "<volume type>: '%s' volumes are not supported in a directory pool (only 'file')", shown);
                return NULL;
        }
        if (!required_text(root, "name", "<volume><name>", &def->name, error))
                return NULL;
        xmlNode *capacity = child(root, "capacity");
        if (!capacity) {
                xml_fail(error, "<volume><capacity>: missing");
                return NULL;
        }
        if (!parse_size(capacity, "<volume><capacity>", &def->capacity, error))
                return NULL;
        xmlNode *allocation = child(root, "allocation");
        if (allocation) {
                if (!parse_size(allocation, "<volume><allocation>", &def->allocation, error))
                        return NULL;
                def->has_allocation = true;
        }
        g_autofree char *format = attr_of(child(child(root, "target"), "format"), "type");
        if (!format || g_str_equal(format, "raw"))
                def->format = VOLUME_RAW;
        else if (g_str_equal(format, "qcow2"))
                def->format = VOLUME_QCOW2;
        else {
                g_autofree char *shown = clip_for_message(format);
                g_set_error(error, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_UNSUPPORTED,
                            "<volume><target><format type>: '%s' is not supported (raw or qcow2)", shown);
                return NULL;
        }
        return g_steal_pointer(&def);
}

char *volume_xml_format(const char *name, const char *file, uint64_t capacity, uint64_t allocation,
                        const char *format) {
        g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
        xmlNode *root = xmlNewNode(NULL, BAD_CAST "volume");
        xmlDocSetRootElement(doc, root);
        xmlNewProp(root, BAD_CAST "type", BAD_CAST "file");
        xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST name);
        xmlNewTextChild(root, NULL, BAD_CAST "key", BAD_CAST file);
        add_size(root, "capacity", capacity);
        add_size(root, "allocation", allocation);
        xmlNode *t = xmlNewChild(root, NULL, BAD_CAST "target", NULL);
        xmlNewTextChild(t, NULL, BAD_CAST "path", BAD_CAST file);
        xmlNode *f = xmlNewChild(t, NULL, BAD_CAST "format", NULL);
        xmlNewProp(f, BAD_CAST "type", BAD_CAST format);
        return xml_write_document(doc);
}
