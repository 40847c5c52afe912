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
        g_autofree char *why = xen_error_text(g, rc);
        if (g->aborted || rc == ERROR_ABORTED)
                return xen_op_done(g, DOMAIND_ERROR_ABORTED, "%s aborted by AbortJob", what);
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
        if (!xen_op_begin(g, XEN_OP_DESTROY, flags, call))
                return;
        if (!has_domain(g))
                return xen_op_done(g, DOMAIND_OK, NULL);
        /* GRACEFUL: Xen has no gentler kill than destroy */
        destroy_domain(g, on_destroyed);
}

/* The half-built domain of a failed start would not go: it stays ours and
 * watched (its death releases it; the next start destroys it first), and
 * the caller and the log say so. */
static void keep_failed_domain(XenGuest *g, int rc, DomaindResult r, const char *failure) {
        g_autofree char *why = xen_error_text(g, rc);
        uint32_t domid = g->domid;
        g->expect_death = false;
        xen_watch_death(g);
        g->hv->host->log(LOG_ERR, "xen: %s: domain %" PRIu32 " of a failed start cannot be destroyed, left behind: %s",
                         g->uuid, domid, why);
        xen_op_done(g, r, "%s; its domain %" PRIu32 " cannot be destroyed: %s", failure, domid, why);
}

/* A start that cannot go on leaves no domain behind (if it can help it). */
static void on_failed_start_destroyed(XenGuest *g, int rc, uint32_t domid) {
        g_autofree char *failure = g_steal_pointer(&g->failure);
        DomaindResult r = g->aborted ? DOMAIND_ERROR_ABORTED : DOMAIND_ERROR_FAILED;
        if (rc && rc != ERROR_DOMAIN_NOTFOUND)
                return keep_failed_domain(g, rc, r, failure);
        xen_guest_release(g);
        g->hv->host->status_changed(g->guest);
        xen_op_done(g, r, "%s", failure);
}

static void fail_start(XenGuest *g, int rc, const char *what) {
        g_autofree char *why = xen_error_text(g, rc);
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
        /* Reset changes no state: a paused guest's new domain stays paused */
        bool stay_paused = g->op == XEN_OP_RESET ? g->was_paused : (g->flags & DOMAIND_START_PAUSED) != 0;
        if (stay_paused)
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
                xen_ao_set_abortable(ao);
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

/* The domain before a reset's new one, or one a failed start could not
 * destroy (keep_failed_domain): it goes first. */
static void on_old_domain_destroyed(XenGuest *g, int rc, uint32_t domid) {
        if (rc && rc != ERROR_DOMAIN_NOTFOUND) {
                g->expect_death = false;
                xen_watch_death(g);
                return fail_op(g, rc,
                               g->op == XEN_OP_RESET ? "cannot reset the domain"
                                                     : "cannot destroy the domain a failed start left behind");
        }
        xen_guest_release(g);
        boot_domain(g);
}

static void replace_domain(XenGuest *g) {
        if (!has_domain(g))
                return boot_domain(g);
        destroy_domain(g, on_old_domain_destroyed);
}

void xen_op_start(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_START, flags, call))
                return;
        replace_domain(g);
}

void xen_op_restore(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_RESTORE, flags, call))
                return;
        g->op_fd = fd;
        replace_domain(g);
}

/* ---- Reset: a new domain with the same config ---- */

void xen_op_reset(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_RESET, 0, call))
                return;
        g->was_paused = g->paused; /* the destroy forgets it */
        replace_domain(g);
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
        if (!xen_op_begin(g, XEN_OP_SHUTDOWN, 0, call))
                return;
        request(g, false);
}

void xen_op_reboot(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_REBOOT, 0, call))
                return;
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
        if (!xen_op_begin(g, XEN_OP_SUSPEND, 0, call))
                return;
        pause_or_unpause(g, true);
}

void xen_op_resume(void *hv, DomaindGuest *guest, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_RESUME, 0, call))
                return;
        pause_or_unpause(g, false);
}

/* ---- Save: libxl's stream into the core's fd, then the domain goes ----
 *
 * libxl_domain_suspend asks the guest to suspend itself and waits for it
 * (up to a minute): a paused guest cannot answer, so it is unpaused first
 * (the core's save header says "paused", and a restore pauses it again).
 * A failed save leaves the guest as it was: resumed, and paused again if
 * it was paused. */

static void end_failed_save(XenGuest *g) {
        g_autofree char *failure = g_steal_pointer(&g->failure);
        xen_op_done(g, g->aborted ? DOMAIND_ERROR_ABORTED : DOMAIND_ERROR_FAILED, "%s", failure);
}

static void on_save_repaused(XenGuest *g, int rc, uint32_t domid) {
        if (rc) {
                g->hv->host->log(LOG_WARNING, "xen: %s: cannot pause the domain again after a failed save", g->uuid);
                /* the core thought it paused; never drops the domain */
                g->hv->host->guest_event(g->guest, DOMAIND_GUEST_RESUMED, NULL);
        } else
                g->paused = true;
        end_failed_save(g);
}

static void repause_after_failed_save(XenGuest *g) {
        if (!g->was_paused)
                return end_failed_save(g);
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_save_repaused, &how);
        int rc = libxl_domain_pause(g->hv->ctx, g->domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_save_repaused(g, rc, g->domid);
        }
}

static void on_save_resumed(XenGuest *g, int rc, uint32_t domid) {
        if (rc) {
                g->hv->host->log(LOG_ERR, "xen: %s: the domain stays suspended after a failed save", g->uuid);
                return end_failed_save(g);
        }
        /* libxl's death watch reported the SUSPEND shutdown and reports one
         * shutdown per watch: a new watch hears the next poweroff or crash */
        xen_unwatch_death(g);
        rc = xen_watch_death(g);
        if (rc)
                g->hv->host->log(LOG_ERR, "xen: %s: cannot watch domain %" PRIu32 " again: libxl error %d", g->uuid,
                                 g->domid, rc);
        repause_after_failed_save(g);
}

/* Only a domain the save suspended is resumed: a cooperative resume of a
 * running one would rewrite the return value of whatever hypercall it is in */
static bool is_suspended(XenGuest *g) {
        libxl_dominfo info;
        libxl_dominfo_init(&info);
        bool suspended = libxl_domain_info(g->hv->ctx, &info, g->domid) == 0 && info.shutdown &&
                         info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND;
        libxl_dominfo_dispose(&info);
        return suspended;
}

static void save_failed(XenGuest *g, int rc) {
        g_autofree char *why = xen_error_text(g, rc);
        g->aborted = g->aborted || rc == ERROR_ABORTED;
        g_free(g->failure);
        g->failure = g->aborted ? g_strdup("save aborted by AbortJob") : g_strdup_printf("cannot save: %s", why);
        if (!is_suspended(g))
                return repause_after_failed_save(g);
        /* the guest goes on where it was (a cooperative resume) */
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_save_resumed, &how);
        rc = libxl_domain_resume(g->hv->ctx, g->domid, 1, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_save_resumed(g, rc, g->domid);
        }
}

static void on_saved(XenGuest *g, int rc, uint32_t domid) {
        if (rc)
                return save_failed(g, rc);
        destroy_domain(g, on_destroyed);
}

static void suspend_to_image(XenGuest *g) {
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_saved, &how);
        xen_ao_set_abortable(ao);
        int rc = libxl_domain_suspend(g->hv->ctx, g->domid, g->op_fd, 0, &how);
        if (rc) {
                xen_ao_cancel(ao);
                save_failed(g, rc);
        }
}

static void on_unpaused_for_save(XenGuest *g, int rc, uint32_t domid) {
        if (rc)
                return fail_op(g, rc, "cannot save: cannot unpause the domain");
        g->paused = false;
        suspend_to_image(g);
}

void xen_op_save(void *hv, DomaindGuest *guest, int fd, DomaindCall *call) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (!xen_op_begin(g, XEN_OP_SAVE, 0, call))
                return;
        g->op_fd = fd;
        g->was_paused = g->paused;
        if (!g->paused)
                return suspend_to_image(g);
        libxl_asyncop_how how;
        XenAo *ao = xen_ao_new(g, on_unpaused_for_save, &how);
        int rc = libxl_domain_unpause(g->hv->ctx, g->domid, &how);
        if (rc) {
                xen_ao_cancel(ao);
                on_unpaused_for_save(g, rc, g->domid);
        }
}

/* Only the save or restore stream itself: not the unpause before a save,
 * the destroy after it, a resume, or a failed start's cleanup */
DomaindResult xen_op_abort_job(void *hv, DomaindGuest *guest, char **message) {
        XenGuest *g = xen_guest_get(hv, guest);
        if (g->op != XEN_OP_SAVE && g->op != XEN_OP_RESTORE) {
                *message = g_strdup("no save or restore is running");
                return DOMAIND_ERROR_INVALID_STATE;
        }
        const char *what = g->op == XEN_OP_SAVE ? "save" : "restore";
        if (!xen_ao_abortable(g->ao)) {
                *message = g_strdup_printf("the %s cannot be aborted at this stage", what);
                return DOMAIND_ERROR_FAILED;
        }
        int rc = xen_ao_abort(g->ao);
        if (rc) {
                *message = g_strdup_printf("libxl cannot abort the %s any more (error %d)", what, rc);
                return DOMAIND_ERROR_FAILED;
        }
        g->aborted = true;
        return DOMAIND_OK;
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

/* The running operation ends before the core hears of the death: ending
 * it or reporting GONE may each drop a transient domain (and free g), so
 * g is checked for after the first and not touched after the second. */
void xen_on_domain_death(XenGuest *g) {
        XenHv *hv = g->hv;
        const DomaindHost *host = hv->host;
        if (g->expect_death)
                return; /* our destroy: its completion tells */
        const char *reason = g->shutdown_seen ? "shutdown" : "destroyed";
        host->log(LOG_WARNING, "xen: %s: domain %" PRIu32 " went away (%s)", g->uuid, g->domid, reason);
        DomaindGuest *guest = g->guest;
        g_autofree char *uuid = g_strdup(g->uuid);
        xen_op_abandon(g);
        xen_guest_release(g);
        if (g->op != XEN_OP_NONE && g->call) {
                xen_op_done_died(g, "the domain went away during the operation");
                if (!xen_guest_alive(hv, uuid, g))
                        return; /* the core dropped the domain with the call */
        }
        host->guest_event(guest, DOMAIND_GUEST_GONE, reason);
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

/* "": the first serial console (plugin.h): an HVM domain's emulated
 * <serial> if it has one, else (PV, PVH) the xen console */
static libxl_console_type default_console(XenGuest *g) {
        libxl_domain_config cfg;
        g_autofree char *message = NULL;
        libxl_console_type type = LIBXL_CONSOLE_TYPE_PV;
        if (xen_config_from_xml(g->hv->host->guest_xml(g->guest), NULL, &cfg, &message) == DOMAIND_OK &&
            cfg.c_info.type == LIBXL_DOMAIN_TYPE_HVM && cfg.b_info.u.hvm.serial)
                type = LIBXL_CONSOLE_TYPE_SERIAL;
        libxl_domain_config_dispose(&cfg);
        return type;
}

DomaindResult xen_open_console(void *p, DomaindGuest *guest, const char *device, int *ret_fd, char **message) {
        XenGuest *g = xen_guest_get(p, guest);
        libxl_console_type type;
        if (!*device)
                type = default_console(g);
        else if (g_str_equal(device, "console0"))
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
        /* a mark, not a clear: the errors of a running operation stay its own */
        uint64_t mark = xen_logger_mark(g->hv->logger);
        int rc = libxl_console_get_tty(g->hv->ctx, g->domid, 0, type, &path);
        if (rc) {
                g_autofree char *why = xen_error_text_since(g, mark, rc);
                const char *name = *device ? device : type == LIBXL_CONSOLE_TYPE_SERIAL ? "serial0" : "console0";
                *message = g_strdup_printf("no console '%s': %s", name, why);
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
