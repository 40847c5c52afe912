/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lifecycle operations, each a chain of asynchronous libxl calls ending in
 * xen_op_done(), and what libxl reports about a domain on its own.
 *
 * libxl leaves a created domain paused and a shut-down domain in place
 * (the toolstack decides, not libxl): the core's on_poweroff/on_reboot/
 * on_crash policy then calls destroy, reset or start. Reset is a new
 * domain with the same config (a new domid), as xl does on reboot: Xen
 * cannot reset a PV domain in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "pygrub.h"
#include "xen-config.h"
#include "xen-ops.h"
#include "xen.h"

static bool has_domain(XenGuest *g) {
        return g->domid != (uint32_t) INVALID_DOMID;
}

static void fail_op(XenGuest *g, int rc, const char *what) {
        g_autofree char *why = xen_error_text(g->hv, rc);
        if (g->aborted || rc == ERROR_ABORTED) {
                g->aborted = false;
                return xen_op_done(g, DOMAIND_ERROR_ABORTED, "%s aborted by AbortJob", what);
        }
        xen_op_done(g, DOMAIND_ERROR_FAILED, "%s: %s", what, why);
}

/* An operation whose libxl call failed at once or completed: OK or the error */
static void ends_op(XenGuest *g, int rc, const char *what) {
        if (rc)
                return fail_op(g, rc, what);
        xen_op_done(g, DOMAIND_OK, NULL);
}

/* ---- destroying (Destroy, and the first half of Reset, Save, a failed start) ---- */

static void destroy_domain(XenGuest *g, XenAoDone done) {
        XenHv *hv = g->hv;
        libxl_asyncop_how how;
        /* its death is ours: not news for the core */
        g->expect_death = true;
        xen_unwatch_death(g);
        XenAo *ao = xen_ao_new(g, done, &how);
        int rc = libxl_domain_destroy(hv->ctx, g->domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                done(g, rc, g->domid);
        }
}

static void on_destroyed(XenGuest *g, int rc, uint32_t domid) {
        if (rc && rc != ERROR_DOMAIN_NOTFOUND) {
                g->expect_death = false;
                xen_watch_death(g);
                return fail_op(g, rc, "cannot destroy the domain");
        }
        xen_guest_release(g);
        g->hv->host->status_changed(g->guest);
        xen_op_done(g, DOMAIND_OK, NULL);
}

void xen_op_destroy(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_DESTROY, flags, call);
        if (!has_domain(g))
                return xen_op_done(g, DOMAIND_OK, NULL);
        /* GRACEFUL: Xen has no gentler kill than destroy */
        destroy_domain(g, on_destroyed);
}

/* A start that cannot go on leaves no domain behind. */
static void on_failed_start_destroyed(XenGuest *g, int rc, uint32_t domid) {
        g_autofree char *failure = g_steal_pointer(&g->failure);
        xen_guest_release(g);
        g->hv->host->status_changed(g->guest);
        xen_op_done(g, g->aborted ? DOMAIND_ERROR_ABORTED : DOMAIND_ERROR_FAILED, "%s", failure);
        g->aborted = false;
}

static void fail_start(XenGuest *g, int rc, const char *what) {
        g_autofree char *why = xen_error_text(g->hv, rc);
        g->failure = g_strdup_printf("%s: %s", what, why);
        if (!has_domain(g))
                return on_failed_start_destroyed(g, 0, INVALID_DOMID);
        destroy_domain(g, on_failed_start_destroyed);
}

/* ---- starting: pygrub, create (or restore), unpause ---- */

static void on_unpaused_after_start(XenGuest *g, int rc, uint32_t domid) {
        if (rc)
                return fail_start(g, rc, "cannot unpause the new domain");
        g->paused = false;
        xen_op_done(g, DOMAIND_OK, NULL);
}

static void on_created(XenGuest *g, int rc, uint32_t domid) {
        xen_guest_clear_boot(g);
        if (rc) {
                /* libxl removed what it half-built */
                const char *what = g->op == XEN_OP_RESTORE ? "cannot restore the domain" : "cannot create the domain";
                g->aborted = g->aborted || rc == ERROR_ABORTED;
                /* an aborted create may leave a half-built domain: it goes too */
                if (rc == ERROR_ABORTED && domid != (uint32_t) INVALID_DOMID)
                        xen_guest_set_domid(g, domid);
                return fail_start(g, rc, what);
        }
        xen_guest_set_domid(g, domid);
        g->paused = true; /* libxl leaves new domains paused */
        g->hv->host->status_changed(g->guest);
        rc = xen_watch_death(g);
        if (rc)
                return fail_start(g, rc, "cannot watch the new domain");
        g->hv->host->log(LOG_INFO, "xen: %s: domain %" PRIu32 " created", g->uuid, domid);
        if (g->op != XEN_OP_RESET && (g->flags & DOMAIND_START_PAUSED))
                return xen_op_done(g, DOMAIND_OK, NULL);
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_unpaused_after_start, &how);
        rc = libxl_domain_unpause(g->hv->ctx, domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                fail_start(g, rc, "cannot unpause the new domain");
        }
}

static void create_domain(XenGuest *g) {
        XenHv *hv = g->hv;
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_created, &how);
        libxl_domain_config *cfg = xen_ao_config(ao);
        XenBoot boot = { .kernel = g->boot_kernel, .ramdisk = g->boot_initrd, .cmdline = g->boot_cmdline };
        g_autofree char *message = NULL;
        DomaindResult r = xen_config_from_xml(hv->host->guest_xml(g->guest), g->boot_kernel ? &boot : NULL, cfg,
                                              &message);
        if (r != DOMAIND_OK) {
                xen_ao_cancel(ao);
                xen_guest_clear_boot(g);
                return xen_op_done(g, r, "%s", message);
        }
        int rc;
        if (g->op == XEN_OP_RESTORE) {
                libxl_domain_restore_params *params = xen_ao_restore_params(ao);
                params->stream_version = 2; /* what libxl_domain_suspend writes */
                rc = libxl_domain_create_restore(hv->ctx, cfg, xen_ao_domid(ao), g->op_fd, -1, params, &how, NULL);
        } else
                rc = libxl_domain_create_new(hv->ctx, cfg, xen_ao_domid(ao), &how, NULL);
        if (rc) {
                xen_ao_cancel(ao);
                xen_guest_clear_boot(g);
                fail_op(g, rc, "cannot create the domain");
        }
}

static void on_bootloader_done(void *userdata, const char *error, const char *kernel, const char *ramdisk,
                               const char *cmdline) {
        XenGuest *g = userdata;
        g->bootloader = NULL;
        if (error)
                return xen_op_done(g, DOMAIND_ERROR_FAILED, "bootloader: %s", error);
        g->boot_kernel = g_strdup(kernel);
        g->boot_initrd = g_strdup(ramdisk);
        g->boot_cmdline = g_strdup(cmdline);
        create_domain(g);
}

/* A fresh boot runs the <bootloader> first; a restore never does. */
static void boot_domain(XenGuest *g) {
        const DomaindHost *host = g->hv->host;
        g_autofree char *bootloader = NULL, *args = NULL, *disk = NULL, *message = NULL;
        xen_guest_clear_boot(g);
        g->expect_death = false;
        g->shutdown_seen = false;
        DomaindResult r = xen_config_bootloader(host->guest_xml(g->guest), &bootloader, &args, &disk, &message);
        if (r != DOMAIND_OK)
                return xen_op_done(g, r, "%s", message);
        /* pygrub runs here, not inside libxl (b_info->bootloader): libxl would
         * report its failure as a bare ERROR_FAIL with the reason only in its
         * log, and run it on restore too; we run it per operation (a reboot
         * picks up a new kernel) and hand pygrub's own words to the caller.
         * The price: <bootloader> disks must be raw images or block devices. */
        if (!bootloader || g->op == XEN_OP_RESTORE)
                return create_domain(g);
        if (!disk)
                return xen_op_done(g, DOMAIND_ERROR_INVALID_XML, "<bootloader>: needs a disk to read the kernel from");
        g->bootloader = pygrub_run(host->event, bootloader, args, disk, g->dir, on_bootloader_done, g,
                                           &message);
        if (!g->bootloader)
                xen_op_done(g, DOMAIND_ERROR_FAILED, "bootloader: %s", message);
}

void xen_op_start(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_START, flags, call);
        boot_domain(g);
}

void xen_op_restore(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_RESTORE, flags, call);
        g->op_fd = fd;
        boot_domain(g);
}

/* ---- Reset: a new domain with the same config ---- */

static void on_reset_destroyed(XenGuest *g, int rc, uint32_t domid) {
        if (rc && rc != ERROR_DOMAIN_NOTFOUND) {
                g->expect_death = false;
                xen_watch_death(g);
                return fail_op(g, rc, "cannot reset the domain");
        }
        xen_guest_release(g);
        boot_domain(g);
}

void xen_op_reset(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_RESET, 0, call);
        if (!has_domain(g))
                return boot_domain(g);
        destroy_domain(g, on_reset_destroyed);
}

/* ---- Shutdown, Reboot: asked through the PV control node; HVM guests
 * without PV drivers get the ACPI power button (or a reset) ---- */

static void on_request_delivered(XenGuest *g, int rc, uint32_t domid);

static void send_trigger(XenGuest *g, libxl_trigger trigger) {
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_request_delivered, &how);
        int rc = libxl_send_trigger(g->hv->ctx, g->domid, trigger, 0, &how);
        if (rc) {
                xen_ao_cancel(ao);
                fail_op(g, rc, "cannot send the ACPI event");
        }
}

static void on_request_delivered(XenGuest *g, int rc, uint32_t domid) {
        if (rc == ERROR_NOPARAVIRT && g->op == XEN_OP_SHUTDOWN)
                return send_trigger(g, LIBXL_TRIGGER_POWER);
        if (rc == ERROR_NOPARAVIRT && g->op == XEN_OP_REBOOT)
                return send_trigger(g, LIBXL_TRIGGER_RESET);
        ends_op(g, rc, g->op == XEN_OP_REBOOT ? "cannot ask the guest to reboot" : "cannot ask the guest to power off");
}

static void request(XenGuest *g, bool reboot) {
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_request_delivered, &how);
        int rc = reboot ? libxl_domain_reboot(g->hv->ctx, g->domid, &how)
                        : libxl_domain_shutdown(g->hv->ctx, g->domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_request_delivered(g, rc, g->domid);
        }
}

void xen_op_shutdown(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_SHUTDOWN, 0, call);
        request(g, false);
}

void xen_op_reboot(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_REBOOT, 0, call);
        request(g, true);
}

/* ---- Suspend, Resume: pause and unpause ---- */

static void on_paused(XenGuest *g, int rc, uint32_t domid) {
        if (!rc)
                g->paused = g->op == XEN_OP_SUSPEND;
        ends_op(g, rc, g->op == XEN_OP_SUSPEND ? "cannot pause the domain" : "cannot unpause the domain");
}

static void pause_or_unpause(XenGuest *g, bool pause) {
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_paused, &how);
        int rc = pause ? libxl_domain_pause(g->hv->ctx, g->domid, &how)
                       : libxl_domain_unpause(g->hv->ctx, g->domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_paused(g, rc, g->domid);
        }
}

void xen_op_suspend(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_SUSPEND, 0, call);
        pause_or_unpause(g, true);
}

void xen_op_resume(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_RESUME, 0, call);
        pause_or_unpause(g, false);
}

/* ---- Save: libxl's stream into the core's fd, then the domain goes ---- */

static void on_save_resumed(XenGuest *g, int rc, uint32_t domid) {
        if (rc)
                g->hv->host->log(LOG_ERR, "xen: %s: the domain stays suspended after a failed save", g->uuid);
        g_autofree char *failure = g_steal_pointer(&g->failure);
        xen_op_done(g, g->aborted ? DOMAIND_ERROR_ABORTED : DOMAIND_ERROR_FAILED, "%s", failure);
        g->aborted = false;
}

static void on_saved(XenGuest *g, int rc, uint32_t domid) {
        if (!rc)
                return destroy_domain(g, on_destroyed);
        g_autofree char *why = xen_error_text(g->hv, rc);
        g->aborted = g->aborted || rc == ERROR_ABORTED;
        g->failure = g->aborted ? g_strdup("save aborted by AbortJob") : g_strdup_printf("cannot save: %s", why);
        /* the guest goes on where it was (a cooperative resume) */
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_save_resumed, &how);
        rc = libxl_domain_resume(g->hv->ctx, g->domid, 1, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_save_resumed(g, rc, g->domid);
        }
}

void xen_op_save(void *hv, DomaindGuest *guest, int fd, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        xen_op_begin(g, XEN_OP_SAVE, 0, call);
        g->op_fd = fd;
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_saved, &how);
        int rc = libxl_domain_suspend(g->hv->ctx, g->domid, fd, 0, &how);
        if (rc) {
                xen_ao_cancel(ao);
                fail_op(g, rc, "cannot save");
        }
}

DomaindResult xen_op_abort_job(void *hv, DomaindGuest *guest, char **message) {
        XenGuest *g = xen_guest_get(hv, guest);
        if ((g->op == XEN_OP_SAVE || g->op == XEN_OP_RESTORE) && g->ao) {
                int rc = xen_ao_abort(g->ao);
                if (rc) {
                        *message = g_strdup_printf("libxl cannot abort the %s any more (error %d)",
                                                   g->op == XEN_OP_SAVE ? "save" : "restore", rc);
                        return DOMAIND_ERROR_FAILED;
                }
                g->aborted = true;
                return DOMAIND_OK;
        }
        *message = g_strdup("no save or restore is running");
        return DOMAIND_ERROR_INVALID_STATE;
}

/* ---- what the domain does on its own ---- */

void xen_on_domain_shutdown(XenGuest *g, int reason) {
        const DomaindHost *host = g->hv->host;
        if (g->shutdown_seen || g->expect_death)
                return;
        switch (reason) {
        case LIBXL_SHUTDOWN_REASON_SUSPEND:
                /* ours during a save; else somebody else saves it: its death will tell */
                return;
        case LIBXL_SHUTDOWN_REASON_POWEROFF:
                g->shutdown_seen = true;
                return host->guest_event(g->guest, DOMAIND_GUEST_SHUTDOWN, NULL);
        case LIBXL_SHUTDOWN_REASON_REBOOT:
        case LIBXL_SHUTDOWN_REASON_SOFT_RESET:
                g->shutdown_seen = true;
                return host->guest_event(g->guest, DOMAIND_GUEST_REBOOT, NULL);
        case LIBXL_SHUTDOWN_REASON_CRASH:
        case LIBXL_SHUTDOWN_REASON_WATCHDOG:
                g->shutdown_seen = true;
                return host->guest_event(g->guest, DOMAIND_GUEST_CRASHED,
                                         reason == LIBXL_SHUTDOWN_REASON_CRASH ? "panicked" : "watchdog");
        default:
                host->log(LOG_WARNING, "xen: %s: domain %" PRIu32 " shut down for reason %d", g->uuid, g->domid,
                          reason);
        }
}

void xen_on_domain_death(XenGuest *g) {
        const DomaindHost *host = g->hv->host;
        if (g->expect_death)
                return; /* our destroy: its completion tells */
        const char *reason = g->shutdown_seen ? "shutdown" : "destroyed";
        host->log(LOG_WARNING, "xen: %s: domain %" PRIu32 " went away (%s)", g->uuid, g->domid, reason);
        xen_guest_release(g);
        host->guest_event(g->guest, DOMAIND_GUEST_GONE, reason);
        if (g->op != XEN_OP_NONE && g->call) {
                xen_op_abandon(g);
                xen_op_done(g, DOMAIND_ERROR_FAILED, "the domain went away during the operation");
        }
}

/* ---- Reading ---- */

void xen_get_info(void *p, DomaindGuest *guest, DomaindGuestInfo *info) {
        XenGuest *g = xen_guest_get(p, guest);
        info->id = has_domain(g) ? (int32_t) g->domid : -1;
        if (!has_domain(g))
                return;
        libxl_dominfo di;
        libxl_dominfo_init(&di);
        if (libxl_domain_info(g->hv->ctx, &di, g->domid) == 0) {
                info->cpu_time_ns = di.cpu_time;
                info->memory_kib = di.current_memkb;
        }
        libxl_dominfo_dispose(&di);
}

DomaindResult xen_open_console(void *p, DomaindGuest *guest, const char *device, int *ret_fd, char **message) {
        XenGuest *g = xen_guest_get(p, guest);
        libxl_console_type type;
        if (!*device || g_str_equal(device, "console0"))
                type = LIBXL_CONSOLE_TYPE_PV;
        else if (g_str_equal(device, "serial0"))
                type = LIBXL_CONSOLE_TYPE_SERIAL;
        else {
                *message = g_strdup_printf("the domain has no console '%s' (console0, serial0)", device);
                return DOMAIND_ERROR_INVALID_ARGUMENT;
        }
        if (!has_domain(g)) {
                *message = g_strdup("the domain is not running");
                return DOMAIND_ERROR_INVALID_STATE;
        }
        char *path = NULL;
        xen_logger_clear(g->hv->logger);
        int rc = libxl_console_get_tty(g->hv->ctx, g->domid, 0, type, &path);
        if (rc) {
                g_autofree char *why = xen_error_text(g->hv, rc);
                *message = g_strdup_printf("no console '%s': %s", *device ? device : "console0", why);
                return DOMAIND_ERROR_FAILED;
        }
        int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        int e = errno;
        if (fd < 0) {
                *message = g_strdup_printf("cannot open %s: %s", path, g_strerror(e));
                free(path);
                return DOMAIND_ERROR_FAILED;
        }
        free(path);
        *ret_fd = fd;
        return DOMAIND_OK;
}
