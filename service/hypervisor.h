/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A loaded plugin: its hypervisor and the domains that live on it. */
#pragma once

#include <gmodule.h>

#include "domaind/plugin.h"
#include "manager.h"

struct Hypervisor {
        Manager *manager;
        DomaindHost host;     /* handed to the plugin; container_of gives us back */
        GModule *module;
        const DomaindPlugin *plugin;
        void *hv;             /* the plugin's own state */
        char *name;
        char *path;           /* /org/domaind1/<name> */
        char *domain_prefix;  /* /org/domaind1/<name>/domain */
        char *state_dir;      /* <state>/<name> */
        char *runtime_dir;    /* <runtime>/<name> */
        char *version;

        GHashTable *domains;  /* uuid (dashed) → Domain*, owns the domains */
        GHashTable *by_name;  /* name → Domain* */
        GPtrArray *removed;   /* Domain* off the registry, waiting for their job to end */
};

/* Loads one plugin file. Returns the hypervisor, or NULL with *why set
 * (and *name when the plugin got far enough to name itself). */
Hypervisor *hypervisor_load(Manager *m, const char *file, char **name, char **why);
/* Opens the hypervisor of a plugin table (loaded from a file, or built in). */
Hypervisor *hypervisor_open(Manager *m, const DomaindPlugin *plugin, char **why);
void hypervisor_free(Hypervisor *h);

Hypervisor *hypervisor_from_host(const DomaindHost *host);

/* Reads the persistent configs and runtime status from disk. */
void hypervisor_load_domains(Hypervisor *h);

Domain *hypervisor_find_domain_by_uuid(Hypervisor *h, const char *uuid);
Domain *hypervisor_find_domain_by_name(Hypervisor *h, const char *name);
Domain *hypervisor_find_domain_by_id(Hypervisor *h, int id);
Domain *hypervisor_find_domain_by_path(Hypervisor *h, const char *path);

void hypervisor_emit_domain_event(Hypervisor *h, Domain *d, const char *event, const char *detail);

/* D-Bus objects (hypervisor-bus.c) */
int hypervisor_bus_register(Hypervisor *h);
/* ListDomains flags (libvirt's VIR_CONNECT_LIST_DOMAINS_*) */
#define LIST_ACTIVE 1u
#define LIST_INACTIVE 2u
#define LIST_PERSISTENT 4u
#define LIST_TRANSIENT 8u
#define LIST_RUNNING 16u
#define LIST_PAUSED 32u
#define LIST_SHUTOFF 64u
#define LIST_OTHER 128u
#define LIST_MANAGEDSAVE 256u
#define LIST_NO_MANAGEDSAVE 512u
#define LIST_AUTOSTART 1024u
#define LIST_NO_AUTOSTART 2048u
#define LIST_HAS_SNAPSHOT 4096u
#define LIST_NO_SNAPSHOT 8192u
#define LIST_ALL_FLAGS 16383u
bool domain_matches_list_flags(Domain *d, uint64_t flags);
/* Replies "ao" with the domains of hs[0..n) matching ListDomains flags. */
int reply_domain_list(sd_bus_message *m, Hypervisor *const *hs, size_t n, uint64_t flags, sd_bus_error *error);
