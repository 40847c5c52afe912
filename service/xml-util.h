/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libxml2 helpers shared by domain-xml.c and storage-xml.c (defined in domain-xml.c). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <libxml/tree.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlChar, xmlFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/* Parses untrusted XML: no DTD, no entities, no network; the root must be
 * <root_name>. Errors (DOMAIN_XML_ERROR) name what was wrong. */
xmlDoc *xml_read_document(const char *xml, const char *root_name, GError **error);
/* Indented, UTF-8, without the XML declaration. */
char *xml_write_document(xmlDoc *doc);
/* Sets *error (when error is not NULL) to a DOMAIN_XML_ERROR_INVALID with
 * the message; returns false, so a parser can `return xml_fail(...)`. */
bool xml_fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The attribute's value, NULL when absent. */
char *xml_get_attr(const xmlNode *n, const char *name);
/* The element's text without surrounding blanks ("" when empty). */
char *xml_get_stripped_text(const xmlNode *n);
/* 32 hex digits, bare or dashed; written dashed, lower case. */
bool uuid_normalize(const char *s, char out[37]);
