/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The core operations behind the Domain and Hypervisor methods. Each takes
 * the D-Bus call it answers (NULL for internal work), checks what can be
 * checked at once (returning a negative errno with *error set), and
 * otherwise queues a job and returns 1: the reply is sent when the job ends.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "domain.h"

/* Domain.Start */
#define START_PAUSED 1u
#define START_AUTODESTROY 2u
#define START_BYPASS_CACHE 4u
#define START_FORCE_BOOT 8u
/* Hypervisor.CreateXML */
#define CREATE_START_PAUSED 1u
#define CREATE_START_AUTODESTROY 2u
/* Domain.Destroy */
#define DESTROY_GRACEFUL 1u
/* Domain.Shutdown / Reboot (libvirt's ACPI_POWER_BTN) */
#define SHUTDOWN_ACPI_POWER_BTN 1u
/* Domain.Save, ManagedSave, Hypervisor.Restore */
#define SAVE_BYPASS_CACHE 1u
#define SAVE_RUNNING 2u
#define SAVE_PAUSED 4u
/* Domain.Undefine */
#define UNDEFINE_MANAGED_SAVE 1u
#define UNDEFINE_SNAPSHOTS_METADATA 2u
#define UNDEFINE_NVRAM 4u
#define UNDEFINE_KEEP_NVRAM 8u
#define UNDEFINE_REMOVE_STORAGE 1024u
#define UNDEFINE_WIPE_STORAGE 2048u

int domain_op_start(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
/* CreateXML: starts d with `live` as its config (taken); created: d is new
 * and goes away again if it cannot start. Replies "(o)". */
int domain_op_start_created(Domain *d, sd_bus_message *m, uint64_t flags, DomainDef *live, bool created);
int domain_op_shutdown(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_reboot(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_reset(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_destroy(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_suspend(Domain *d, sd_bus_message *m, sd_bus_error *error);
int domain_op_resume(Domain *d, sd_bus_message *m, sd_bus_error *error);
int domain_op_save(Domain *d, sd_bus_message *m, const char *path, const char *xml, uint64_t flags,
                   sd_bus_error *error);
int domain_op_managed_save(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_managed_save_remove(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_undefine(Domain *d, sd_bus_message *m, uint64_t flags, sd_bus_error *error);
int domain_op_abort_job(Domain *d, sd_bus_error *error);
/* Domain.OpenConsole: replies "(h)" at once. */
int domain_op_open_console(Domain *d, sd_bus_message *m, const char *device, sd_bus_error *error);

/* Domain XML checked by the core and by the hypervisor's plugin. */
int hypervisor_parse_xml(Hypervisor *h, const char *xml, DomainDef **ret, sd_bus_error *error);
/* Hypervisor.DefineXML / CreateXML (def parsed by hypervisor_parse_xml, taken) / Restore; reply "(o)" */
int hypervisor_op_define(Hypervisor *h, sd_bus_message *m, DomainDef *def, uint64_t flags, sd_bus_error *error);
int hypervisor_op_create(Hypervisor *h, sd_bus_message *m, DomainDef *def, uint64_t flags, sd_bus_error *error);
int hypervisor_op_restore(Hypervisor *h, sd_bus_message *m, const char *path, const char *xml, uint64_t flags,
                          sd_bus_error *error);

/* Internal: autostart at boot, autodestroy when the owner left. */
void domain_autostart(Domain *d);
void domain_autodestroy(Domain *d);
/* After a restart: a guest found held (shut down, crashed) gets the
 * on_poweroff / on_crash action it was waiting for. */
void domain_resume_lifecycle_action(Domain *d);
/* Destroys d when the sender of m (or the bus name owner) leaves the bus. */
int domain_watch_autodestroy(Domain *d, sd_bus_message *m, const char *owner);
/* host->guest_event */
void domain_host_guest_event(DomaindGuest *guest, DomaindGuestEvent event, const char *detail);

/* Helpers shared with snapshot operations */
void job_fail_state(Job *job, const char *what);
bool job_plugin_has(Job *job, const void *op, const char *what);
void domain_destroy_then(Job *job, void (*next)(Job *job, DomaindResult r, const char *message));
