/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A domain in the core registry: configs, state machine, persistence. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "domain-xml.h"
#include "hypervisor.h"

typedef enum DomainState {
        STATE_SHUTOFF,
        STATE_RUNNING,
        STATE_PAUSED,
        STATE_SAVED, /* inactive with a managed save image (shown as its own state) */
        STATE_SHUTDOWN,
        STATE_CRASHED,
        STATE_PMSUSPENDED,
} DomainState;

typedef enum JobType {
        JOB_NONE,
        JOB_SAVING,
        JOB_RESTORING,
        JOB_MIGRATING,
        JOB_SNAPSHOT,
        JOB_DUMP,
} JobType;

typedef struct Job Job;
typedef struct Snapshot Snapshot;
typedef struct ConsoleSession ConsoleSession;

struct Domain {
        Hypervisor *hv;
        char *path;
        char uuid[37];
        DomainDef *def;  /* persistent (next boot) config; for transient domains the one they were created with */
        DomainDef *live; /* while active: the config the guest runs with */
        bool persistent;
        bool autostart;
        bool has_managed_save;
        DomainState state;
        const char *reason; /* static string */
        int id;

        Job *job;            /* the job holding the domain, NULL when idle */
        GQueue waiting;      /* Job* waiting for it */
        sd_event_source *run_next; /* starts the next waiting job from the loop */
        JobType job_type;    /* Job property: long jobs only */
        uint64_t job_started_usec, job_processed, job_total;

        void *plugin_data;
        sd_bus_track *autodestroy;

        GHashTable *snapshots; /* name → Snapshot*, NULL until the first */
        Snapshot *current_snapshot;
        bool gone;             /* removed from the registry, freed when the last job ends */
        ConsoleSession *console; /* OpenConsole's caller, while attached (console.c) */
};

const char *domain_state_to_string(DomainState s);
const char *job_type_to_string(JobType t);
static inline bool domain_is_active(const Domain *d) {
        return d->state != STATE_SHUTOFF && d->state != STATE_SAVED;
}
/* The config the guest runs with when active, else the persistent one. */
static inline const DomainDef *domain_current_def(const Domain *d) {
        return d->live ? d->live : d->def;
}
static inline const char *domain_name(const Domain *d) {
        return domain_current_def(d)->name;
}

/* Creates a domain in h's registry (not yet on the bus). Takes def. */
Domain *domain_new(Hypervisor *h, DomainDef *def, bool persistent);
/* Publishes it: InterfacesAdded. */
void domain_publish(Domain *d);
/* Removes it from the registry and the bus (InterfacesRemoved); frees it
 * now or when its running job ends. */
void domain_remove(Domain *d);
void domain_free(Domain *d);

/* State changes: PropertiesChanged then DomainEvent (event may be NULL). */
void domain_set_state(Domain *d, DomainState state, const char *reason, const char *event,
                      const char *detail);
void domain_emit_changed(Domain *d, const char *property, ...) __attribute__((sentinel));

/* Persistence */
int domain_save_config(Domain *d);
int domain_write_config(Domain *d, const DomainDef *def);
int domain_delete_config(Domain *d);
int domain_save_status(Domain *d);
void domain_delete_status(Domain *d);
char *domain_config_path(Domain *d);
char *domain_autostart_path(Domain *d);
char *domain_managed_save_path(Domain *d);
int domain_set_autostart(Domain *d, bool enable);

/* Drops the live state after the guest went away: transient domains are
 * removed, persistent ones go back to their persistent config. */
void domain_went_inactive(Domain *d, DomainState state, const char *reason, const char *detail);
/* Records that the guest is now up with config `live` (taken). */
void domain_went_active(Domain *d, DomainDef *live);

/* Replaces the persistent config (DefineXML). */
void domain_replace_def(Domain *d, DomainDef *def);

/* Plugin info (id, cpu time, memory) */
void domain_get_info(Domain *d, DomaindGuestInfo *info);

/* D-Bus (domain-bus.c) */
int domain_bus_register(Hypervisor *h);
Domain *domain_from_guest(DomaindGuest *g);
static inline DomaindGuest *domain_to_guest(Domain *d) {
        return (DomaindGuest *) d;
}
