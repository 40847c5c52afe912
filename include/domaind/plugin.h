/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domaind hypervisor plugin ABI.
 *
 * A plugin is a shared object in domaind's plugin directory that exports one
 * function, domaind_plugin_entry(), returning a static DomaindPlugin table.
 * The core refuses a table whose abi_version differs from the
 * DOMAIND_PLUGIN_ABI_VERSION it was built with.
 *
 * Division of labour:
 *   - The core owns D-Bus, the domain registry, the state machine, domain XML
 *     parsing/validation, persistent configs, save-image headers, snapshot
 *     metadata, job serialization and the on_poweroff/on_reboot/on_crash
 *     policy. A plugin never touches D-Bus.
 *   - The plugin turns a domain (its XML) into a running guest and back.
 *
 * Threading: everything runs on the core's single sd-event loop (host->event).
 * A plugin must never block it: long work is driven by fd/timer sources on
 * that loop, or done on a thread of the plugin's own that posts its result
 * back to the loop (sd_event_add_defer from the loop thread, or an eventfd).
 * Host functions may only be called from the loop thread.
 *
 * Asynchronous operations take a DomaindCall *. The plugin ends every such
 * operation by calling host->call_done(call, ...) exactly once, either before
 * the operation function returns or later from the loop. After call_done the
 * call pointer is invalid. Strings the plugin returns as "malloc'd" are
 * released with free() (g_malloc'd memory is fine: GLib uses malloc).
 *
 * A NULL operation pointer means "this hypervisor cannot do that": the core
 * answers org.domaind1.Error.NotSupported on its own.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOMAIND_PLUGIN_ABI_VERSION 2u /* 2: open_console */

/* The one symbol every plugin exports. */
#define DOMAIND_PLUGIN_ENTRY_SYMBOL "domaind_plugin_entry"

typedef struct DomaindPlugin DomaindPlugin;
typedef struct DomaindHost DomaindHost;
typedef struct DomaindGuest DomaindGuest; /* a domain, as the core lends it (opaque) */
typedef struct DomaindCall DomaindCall;   /* one pending operation (opaque) */

/* How an operation ended. Each maps onto one org.domaind1.Error.* name. */
typedef enum DomaindResult {
        DOMAIND_OK = 0,
        DOMAIND_ERROR_FAILED,           /* HypervisorFailed: give the hypervisor's own words */
        DOMAIND_ERROR_NOT_SUPPORTED,    /* NotSupported */
        DOMAIND_ERROR_INVALID_ARGUMENT, /* InvalidArgument */
        DOMAIND_ERROR_INVALID_XML,      /* InvalidXML: name the element and the problem */
        DOMAIND_ERROR_INVALID_STATE,    /* InvalidState: name the current state */
        DOMAIND_ERROR_BUSY,             /* Busy */
        DOMAIND_ERROR_MIGRATION_FAILED, /* MigrationFailed */
        DOMAIND_ERROR_ABORTED,          /* the job was cancelled by AbortJob (HypervisorFailed) */
} DomaindResult;

/* Guest states as the plugin reports them when attaching after a restart. */
typedef enum DomaindState {
        DOMAIND_STATE_SHUTOFF,
        DOMAIND_STATE_RUNNING,
        DOMAIND_STATE_PAUSED,
        DOMAIND_STATE_SHUTDOWN, /* guest OS powered off, VM still held */
        DOMAIND_STATE_CRASHED,  /* guest panicked, VM still held */
        DOMAIND_STATE_PMSUSPENDED,
} DomaindState;

/* Things that happen to a guest on their own, reported by host->guest_event. */
typedef enum DomaindGuestEvent {
        /* The guest OS powered off. The VM is held (not gone): the core then
         * applies on_poweroff by calling destroy (and start, for restart). */
        DOMAIND_GUEST_SHUTDOWN,
        /* The guest asked to reboot and is held before the reset: the core
         * applies on_reboot by calling reset (restart) or destroy. */
        DOMAIND_GUEST_REBOOT,
        /* The guest panicked and is held: the core applies on_crash. */
        DOMAIND_GUEST_CRASHED,
        /* The hypervisor paused the guest; detail is the reason
         * ("ioerror", "watchdog", ...). */
        DOMAIND_GUEST_PAUSED,
        /* The hypervisor resumed the guest on its own. */
        DOMAIND_GUEST_RESUMED,
        /* The guest is gone (its process died, it was killed from outside).
         * detail is the shutoff reason: "crashed", "failed", "shutdown" or
         * "destroyed". The plugin has already released what it held. */
        DOMAIND_GUEST_GONE,
} DomaindGuestEvent;

/* Start flags (values of Domain.Start that reach plugins) */
#define DOMAIND_START_PAUSED 1u
/* Destroy flags */
#define DOMAIND_DESTROY_GRACEFUL 1u

typedef struct DomaindGuestInfo {
        int32_t id;            /* hypervisor's domain id, -1 if none */
        uint64_t cpu_time_ns;  /* 0 when unknown */
        uint64_t memory_kib;   /* current balloon size, 0 = take it from the XML */
} DomaindGuestInfo;

/* Services the core lends a plugin. Valid from open() until close(). */
struct DomaindHost {
        uint32_t abi_version;
        sd_event *event;         /* the core's loop */
        const char *state_dir;   /* <state-dir>/<plugin>, exists, persistent */
        const char *runtime_dir; /* <runtime-dir>/<plugin>, exists, cleared at boot */

        /* Value of `key` in the [<plugin name>] group of domaind.conf, or
         * NULL. Pass the host pointer open() received. */
        const char *(*config_get)(const DomaindHost *host, const char *key);
        /* priority is a syslog LOG_* level. */
        void (*log)(int priority, const char *format, ...) __attribute__((format(printf, 2, 3)));

        const char *(*guest_uuid)(DomaindGuest *guest); /* dashed form */
        const char *(*guest_name)(DomaindGuest *guest);
        /* The config to act on: the live XML while active, else the
         * persistent one. Canonical libvirt domain XML, already validated. */
        const char *(*guest_xml)(DomaindGuest *guest);
        void *(*guest_get_data)(DomaindGuest *guest);
        void (*guest_set_data)(DomaindGuest *guest, void *data);

        /* Ends an asynchronous operation. message (printf format) is
         * required for errors and ignored on DOMAIND_OK. */
        void (*call_done)(DomaindCall *call, DomaindResult result, const char *format, ...)
                __attribute__((format(printf, 3, 4)));
        /* Reports something the guest or hypervisor did on its own. May be
         * called at any time from the loop, also during an operation. */
        void (*guest_event)(DomaindGuest *guest, DomaindGuestEvent event, const char *detail);
        /* Progress of the running job (save, restore, snapshot, migrate). */
        void (*job_progress)(DomaindGuest *guest, uint64_t processed, uint64_t total);
        /* The plugin's runtime status text for this guest changed: the
         * core calls status() again and rewrites its runtime file. */
        void (*status_changed)(DomaindGuest *guest);
};

typedef struct DomaindPlugin {
        uint32_t abi_version; /* DOMAIND_PLUGIN_ABI_VERSION */
        const char *name;     /* "kvm", "xen", "test": object path element */
        const char *uri;      /* "kvm:///system" */

        /* Opens the hypervisor. On failure return a negative errno and set
         * *why (malloc'd) to the reason shown in Manager.UnavailablePlugins. */
        int (*open)(const DomaindHost *host, void **hv, char **why);
        /* domaind is stopping: free everything. Guests keep running (a
         * restarted domaind attaches to them again). Calls still pending are
         * dropped without call_done: the core has already answered them. */
        void (*close)(void *hv);
        char *(*version)(void *hv);      /* malloc'd, e.g. "7.2.0" */
        char *(*capabilities)(void *hv); /* malloc'd libvirt capabilities XML */

        /* Synchronous, fast. Checks that this hypervisor can run the
         * (already generically valid) domain XML; on refusal return an
         * error and set *message (malloc'd). May be NULL. */
        DomaindResult (*check_config)(void *hv, const char *xml, char **message);

        /* After a domaind restart: the core found this guest active in its
         * runtime status (status is what status() returned). Return true and
         * set *state if the guest is still there, false if it is gone. */
        bool (*attach)(void *hv, DomaindGuest *guest, const char *status, DomaindState *state);
        /* malloc'd opaque text stored in the runtime status file (pid,
         * sockets...); NULL for nothing. May be NULL. */
        char *(*status)(void *hv, DomaindGuest *guest);
        /* Synchronous, fast (called for property reads). */
        void (*get_info)(void *hv, DomaindGuest *guest, DomaindGuestInfo *info);
        /* The core drops the guest (undefined, transient and stopped): free
         * the guest's plugin data. May come while an operation of that guest
         * is still pending (a transient guest that died): that operation
         * must still end with call_done. May be NULL. */
        void (*forget)(void *hv, DomaindGuest *guest);

        /* Lifecycle, asynchronous. The core has already checked the state
         * and holds the domain's job: at most one of these runs per guest. */
        void (*start)(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
        /* Asks the guest OS to power off; done once the request is
         * delivered. The power-off itself arrives as DOMAIND_GUEST_SHUTDOWN. */
        void (*shutdown)(void *hv, DomaindGuest *guest, DomaindCall *call);
        /* Asks the guest OS to reboot; done once the request is delivered. */
        void (*reboot)(void *hv, DomaindGuest *guest, DomaindCall *call);
        void (*reset)(void *hv, DomaindGuest *guest, DomaindCall *call);
        /* Stops the guest and releases it; done when it is gone. */
        void (*destroy)(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
        void (*suspend)(void *hv, DomaindGuest *guest, DomaindCall *call);
        void (*resume)(void *hv, DomaindGuest *guest, DomaindCall *call);

        /* Writes the guest's state to fd (already positioned after the
         * core's header; the plugin owns what follows) and releases the
         * guest, which is then off. fd stays the core's: do not close it. */
        void (*save)(void *hv, DomaindGuest *guest, int fd, DomaindCall *call);
        /* Brings a guest back from what save() wrote, read from fd at its
         * current position; paused if flags has DOMAIND_START_PAUSED. */
        void (*restore)(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call);

        /* Snapshots: the core keeps the metadata (names, tree, XML); the
         * plugin keeps the guest state under `name`. with_memory is true
         * when the guest is active (memory and device state are captured). */
        void (*snapshot_create)(void *hv, DomaindGuest *guest, const char *name, bool with_memory,
                                DomaindCall *call);
        /* Brings the guest to snapshot `name` and leaves it in `target`
         * (RUNNING, PAUSED or SHUTOFF). guest_xml() already returns the
         * snapshot's domain XML. */
        void (*snapshot_revert)(void *hv, DomaindGuest *guest, const char *name, DomaindState target,
                                DomaindCall *call);
        void (*snapshot_delete)(void *hv, DomaindGuest *guest, const char *name, DomaindCall *call);

        /* Cancels the running save/restore/snapshot/migrate job, whose call
         * then ends with DOMAIND_ERROR_ABORTED. Synchronous request. */
        DomaindResult (*abort_job)(void *hv, DomaindGuest *guest, char **message);

        /* Synchronous, fast: a new file descriptor connected to the guest's
         * console `device` ("" = the first serial console, else a device
         * alias such as "serial0" or "console0"), for the caller to read
         * and write. On error set *message (malloc'd). */
        DomaindResult (*open_console)(void *hv, DomaindGuest *guest, const char *device, int *ret_fd,
                                      char **message);
} DomaindPlugin;

/* What a plugin exports. */
const DomaindPlugin *domaind_plugin_entry(void);

#ifdef __cplusplus
}
#endif
