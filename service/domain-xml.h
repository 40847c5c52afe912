/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt domain XML: parse, validate, normalize and format (libxml2). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* GetXMLDesc flags (libvirt's VIR_DOMAIN_XML_* values) */
#define DOMAIN_XML_SECURE 1u
#define DOMAIN_XML_INACTIVE 2u
#define DOMAIN_XML_MIGRATABLE 8u

typedef enum LifecycleAction {
        LIFECYCLE_DESTROY,
        LIFECYCLE_RESTART,
        LIFECYCLE_PRESERVE,
        LIFECYCLE_RENAME_RESTART,
        LIFECYCLE_COREDUMP_DESTROY,
        LIFECYCLE_COREDUMP_RESTART,
} LifecycleAction;

/* The few facts the core needs at hand; everything else stays in `xml`. */
typedef struct DomainDef {
        char *name;
        char uuid[37];         /* dashed, lower case; generated when the XML has none */
        char *type;            /* <domain type=...>: "test", "kvm", "xen", ... */
        uint64_t memory_kib;   /* <memory>, in KiB */
        uint64_t current_kib;  /* <currentMemory>, in KiB (= memory when absent) */
        unsigned vcpus;        /* <vcpu>, 1 when absent */
        char *os_type;         /* <os><type>: "hvm", "xen", "linux", ... */
        LifecycleAction on_poweroff, on_reboot, on_crash;
        char **disk_sources;   /* NULL-terminated: <disk><source file|dev> paths, in order */
        char *xml;             /* canonical, normalized XML (round-trips unknown elements) */
} DomainDef;

#define DOMAIN_XML_ERROR (domain_xml_error_quark())
GQuark domain_xml_error_quark(void);
typedef enum DomainXmlError {
        DOMAIN_XML_ERROR_INVALID, /* the message names the element and the problem */
        DOMAIN_XML_ERROR_UNSUPPORTED, /* valid, but names something domaind does not do */
} DomainXmlError;

/* Parses and validates libvirt domain XML. On success returns a new
 * DomainDef whose xml is normalized: uuid added when absent, memory and
 * currentMemory in KiB with unit='KiB', currentMemory added when absent,
 * a generated MAC (52:54:00:xx:xx:xx) for every interface without one,
 * on_* defaults written out, no live-only attributes (<domain id=>).
 * Unknown elements and attributes are kept as they were. */
DomainDef *domain_def_parse(const char *xml, GError **error);
void domain_def_free(DomainDef *def);
DomainDef *domain_def_copy(const DomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainDef, domain_def_free)

/* The XML to hand out: with flags lacking DOMAIN_XML_SECURE, secrets
 * (graphics passwd attributes) are removed. id >= 0 sets <domain id='N'>
 * (live XML), id < 0 leaves it out. Returns a newly allocated string. */
char *domain_def_format(const DomainDef *def, int id, unsigned flags);

const char *lifecycle_action_to_string(LifecycleAction a);

/* libvirt snapshot XML (<domainsnapshot>): name, description, optional
 * <memory snapshot=...>, <disks>; anything else is refused or ignored as
 * libvirt does for a create call. Both fields may come back NULL (absent). */
typedef struct SnapshotRequest {
        char *name;
        char *description;
} SnapshotRequest;
SnapshotRequest *snapshot_request_parse(const char *xml, GError **error);
void snapshot_request_free(SnapshotRequest *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SnapshotRequest, snapshot_request_free)

/* Unit suffixes as libvirt accepts them (b, bytes, k, KiB, KB, M, MiB, MB,
 * G, GiB, GB, T, TiB, TB, ...; default_unit when unit is NULL). Returns
 * false on unknown unit or overflow. */
bool parse_scaled_size(const char *value, const char *unit, uint64_t default_unit_bytes,
                       uint64_t *ret_bytes);
