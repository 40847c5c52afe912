/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon as a whole: loop, bus, directories, hypervisors. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct Hypervisor Hypervisor;
typedef struct Domain Domain;

#define MANAGER_PATH "/org/domaind1"

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *bus_address; /* "system", "session" or a D-Bus address */
        char *state_dir;
        char *runtime_dir;
        char *plugin_dir;
        char *config_path;
        GKeyFile *config;
        uint64_t job_wait_usec;

        GPtrArray *hypervisors;   /* Hypervisor*, in load order */
        GPtrArray *unavailable;   /* plugin name, reason, plugin name, reason, ... */
        GHashTable *uid_cache;    /* caller unique name → uid */
        GHashTable *auth_queries; /* sd_bus_message* → AuthQuery*, checks in flight or just decided */
        GHashTable *auth_cache;   /* caller unique name → set of "action + details" polkit said yes to */
        uint64_t polkit_timeout_usec;
        GPtrArray *workers;       /* threads running blocking work (worker.c) */
        GHashTable *pools;        /* storage pool name → StoragePool* (storage.c) */
        int stopping;             /* set (atomically) at exit: long storage work gives up */
        sd_bus_slot *name_owner_slot;
        bool published;           /* objects are on the bus: emit signals */
} Manager;

Manager *manager_new(void);
void manager_free(Manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

int manager_load_config(Manager *m);
int manager_connect_bus(Manager *m);
int manager_load_plugins(Manager *m);
int manager_publish(Manager *m);
void manager_autostart(Manager *m);

Hypervisor *manager_find_hypervisor(Manager *m, const char *name);

/* D-Bus objects of the Manager (manager-bus.c) */
int manager_bus_register(Manager *m);
