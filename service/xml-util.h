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
/* 32 hex digits, bare or dashed; written dashed, lower case. */
bool uuid_normalize(const char *s, char out[37]);
