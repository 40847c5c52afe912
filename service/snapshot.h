/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Snapshot metadata (names, tree, configs) kept by the core for every plugin. */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "domain.h"

struct Snapshot {
        Domain *domain;
        char *name;
        char *path;          /* D-Bus object path */
        char *description;
        uint64_t creation_time;
        DomainState state;   /* the domain's state when taken */
        Snapshot *parent;
        char *domain_xml;    /* the config when taken */
        bool memory;         /* memory state captured (domain was active) */
};

/* CreateSnapshot flags (libvirt's VIR_DOMAIN_SNAPSHOT_CREATE_*) */
#define SNAPSHOT_CREATE_REDEFINE 1u
#define SNAPSHOT_CREATE_CURRENT 2u
#define SNAPSHOT_CREATE_NO_METADATA 4u
#define SNAPSHOT_CREATE_HALT 8u
#define SNAPSHOT_CREATE_DISK_ONLY 16u
#define SNAPSHOT_CREATE_REUSE_EXT 32u
#define SNAPSHOT_CREATE_QUIESCE 64u
#define SNAPSHOT_CREATE_ATOMIC 128u
#define SNAPSHOT_CREATE_LIVE 256u
#define SNAPSHOT_CREATE_VALIDATE 512u
/* ListSnapshots / ListChildren flags (VIR_DOMAIN_SNAPSHOT_LIST_*) */
#define SNAPSHOT_LIST_ROOTS 1u
#define SNAPSHOT_LIST_DESCENDANTS 1u
#define SNAPSHOT_LIST_METADATA 2u
#define SNAPSHOT_LIST_LEAVES 4u
#define SNAPSHOT_LIST_NO_LEAVES 8u
#define SNAPSHOT_LIST_NO_METADATA 16u
#define SNAPSHOT_LIST_INACTIVE 32u
#define SNAPSHOT_LIST_ACTIVE 64u
#define SNAPSHOT_LIST_DISK_ONLY 128u
#define SNAPSHOT_LIST_INTERNAL 256u
#define SNAPSHOT_LIST_EXTERNAL 512u
#define SNAPSHOT_LIST_TOPOLOGICAL 1024u
/* Revert */
#define SNAPSHOT_REVERT_RUNNING 1u
#define SNAPSHOT_REVERT_PAUSED 2u
#define SNAPSHOT_REVERT_FORCE 4u
/* Delete */
#define SNAPSHOT_DELETE_CHILDREN 1u
#define SNAPSHOT_DELETE_METADATA_ONLY 2u
#define SNAPSHOT_DELETE_CHILDREN_ONLY 4u

unsigned snapshot_count(Domain *d);
Snapshot *snapshot_find(Domain *d, const char *name);
Snapshot *snapshot_find_by_path(Domain *d, const char *path);
void snapshot_load_all(Domain *d);
/* Undefine: drops every snapshot's metadata (objects and files). */
void snapshot_remove_all_metadata(Domain *d);
/* InterfacesRemoved for every snapshot object (the domain goes away). */
void snapshot_unpublish_all(Domain *d);
char *snapshot_format_xml(Snapshot *s, bool with_internal);
/* Appends the children (all descendants with `descendants`) to reply. */
int snapshot_append_children(Snapshot *s, Domain *d, sd_bus_message *reply, uint64_t flags);
void snapshot_append_all_paths(Domain *d, GPtrArray *paths);

/* Operations (reply later) */
int snapshot_op_create(Domain *d, sd_bus_message *m, const char *xml, uint64_t flags, sd_bus_error *error);
int snapshot_op_revert(Snapshot *s, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int snapshot_op_delete(Snapshot *s, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int snapshot_op_list(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);

/* D-Bus (snapshot-bus.c) */
int snapshot_bus_register(Hypervisor *h);
