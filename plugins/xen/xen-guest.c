/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest records: one per domain the core lent us, with its Xen domid. The
 * runtime status holds the domid, so that a restarted domaind finds the
 * domain again (checked against the UUID: domids get reused).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pygrub.h"
#include "xen.h"

XenGuest *xen_guest_get(XenHv *hv, DomaindGuest *guest) {
        const DomaindHost *host = hv->host;
        XenGuest *g = host->guest_get_data(guest);
        if (g)
                return g;
        g = g_new0(XenGuest, 1);
        g->hv = hv;
        g->guest = guest;
        g->uuid = g_strdup(host->guest_uuid(guest));
        g->dir = g_strdup_printf("%s/%s.d", host->runtime_dir, g->uuid);
        g->domid = INVALID_DOMID;
        g->op_fd = -1;
        host->guest_set_data(guest, g);
        g_hash_table_insert(hv->guests, g->uuid, g);
        return g;
}

void xen_guest_set_domid(XenGuest *g, uint32_t domid) {
        if (g->domid != (uint32_t) INVALID_DOMID)
                g_hash_table_remove(g->hv->by_domid, GUINT_TO_POINTER(g->domid));
        g->domid = domid;
        if (domid != (uint32_t) INVALID_DOMID)
                g_hash_table_insert(g->hv->by_domid, GUINT_TO_POINTER(domid), g);
}

void xen_guest_clear_boot(XenGuest *g) {
        /* libxl has read them into the domain: the files can go */
        if (g->boot_kernel)
                unlink(g->boot_kernel);
        if (g->boot_initrd)
                unlink(g->boot_initrd);
        g_clear_pointer(&g->boot_kernel, g_free);
        g_clear_pointer(&g->boot_initrd, g_free);
        g_clear_pointer(&g->boot_cmdline, g_free);
}

/* The Xen domain is gone (or never came): forget it. */
void xen_guest_release(XenGuest *g) {
        xen_unwatch_death(g);
        xen_guest_set_domid(g, INVALID_DOMID);
        g->paused = false;
        g->shutdown_seen = false;
        g->expect_death = false;
}

/* The operation ends early (the domain died): whatever libxl or pygrub
 * still does for it must not touch the next operation. */
void xen_op_abandon(XenGuest *g) {
        if (g->ao)
                xen_ao_forget_guest(g->ao);
        g->ao = NULL;
        pygrub_cancel(g->bootloader);
        g->bootloader = NULL;
}

/* Only our record goes: the Xen domain stays for the next domaind. */
void xen_guest_free(XenGuest *g) {
        if (!g)
                return;
        if (g->ao)
                xen_ao_forget_guest(g->ao); /* it completes inside libxl; nobody to tell */
        pygrub_cancel(g->bootloader);
        xen_unwatch_death(g);
        xen_guest_set_domid(g, INVALID_DOMID);
        xen_guest_clear_boot(g);
        g_hash_table_remove(g->hv->guests, g->uuid);
        rmdir(g->dir);
        g_free(g->uuid);
        g_free(g->dir);
        g_free(g);
}

char *xen_guest_status(XenGuest *g) {
        if (g->domid == (uint32_t) INVALID_DOMID)
                return NULL;
        return g_strdup_printf("domid=%" PRIu32, g->domid);
}

/* The domid of the domain with our UUID: the recorded one if it still
 * matches, else a search (INVALID_DOMID when there is none). */
static uint32_t find_domain(XenGuest *g, uint32_t recorded, libxl_dominfo *ret) {
        libxl_uuid uuid;
        if (libxl_uuid_from_string(&uuid, g->uuid) != 0)
                return INVALID_DOMID;
        libxl_dominfo_init(ret);
        if (recorded != (uint32_t) INVALID_DOMID && libxl_domain_info(g->hv->ctx, ret, recorded) == 0 &&
            libxl_uuid_compare(&ret->uuid, &uuid) == 0)
                return recorded;
        libxl_dominfo_dispose(ret);
        libxl_dominfo_init(ret);
        int n = 0;
        libxl_dominfo *list = libxl_list_domain(g->hv->ctx, &n);
        uint32_t found = INVALID_DOMID;
        for (int i = 0; i < n && found == (uint32_t) INVALID_DOMID; i++)
                if (list[i].domid != 0 && libxl_uuid_compare(&list[i].uuid, &uuid) == 0) {
                        found = list[i].domid;
                        libxl_domain_info(g->hv->ctx, ret, found);
                }
        libxl_dominfo_list_free(list, n);
        return found;
}

/* domaind died in the middle of a save: the domain is held, suspended.
 * The core's runtime status still calls it active; the save it never
 * finished left no image it would use, so the guest goes on where it was
 * (a cooperative resume, as after a failed save). Synchronous (attach is):
 * xc_domain_resume is quick. */
static bool resume_suspended(XenGuest *g, uint32_t domid) {
        const DomaindHost *host = g->hv->host;
        host->log(LOG_WARNING, "xen: %s: domain %" PRIu32 " was left suspended by an unfinished save: resuming it",
                  g->uuid, domid);
        uint64_t mark = xen_logger_mark(g->hv->logger);
        int rc = libxl_domain_resume(g->hv->ctx, domid, 1, NULL);
        if (rc == 0)
                return true;
        g_autofree char *why = xen_logger_errors_since(g->hv->logger, mark, NULL, NULL);
        host->log(LOG_ERR, "xen: %s: cannot resume domain %" PRIu32 ", reporting it crashed: %s", g->uuid, domid,
                  why ? why : "no reason given");
        return false;
}

/* What a domain held in shutdown is, for the core (which then resumes its
 * on_poweroff/on_crash itself); a held reboot is reported anew by the
 * death watch. */
static void attach_held(XenGuest *g, uint32_t domid, libxl_shutdown_reason reason, DomaindState *state) {
        switch (reason) {
        case LIBXL_SHUTDOWN_REASON_POWEROFF:
                *state = DOMAIND_STATE_SHUTDOWN;
                g->shutdown_seen = true;
                break;
        case LIBXL_SHUTDOWN_REASON_CRASH:
        case LIBXL_SHUTDOWN_REASON_WATCHDOG:
                *state = DOMAIND_STATE_CRASHED;
                g->shutdown_seen = true;
                break;
        case LIBXL_SHUTDOWN_REASON_SUSPEND:
                if (!resume_suspended(g, domid)) {
                        *state = DOMAIND_STATE_CRASHED;
                        g->shutdown_seen = true;
                }
                break;
        default:
                break;
        }
}

bool xen_guest_attach(XenGuest *g, const char *status, DomaindState *state) {
        uint32_t recorded = INVALID_DOMID;
        /* no (usable) status: the UUID still finds the domain */
        if (status && sscanf(status, "domid=%" SCNu32, &recorded) != 1)
                recorded = INVALID_DOMID;
        libxl_dominfo info;
        uint32_t domid = find_domain(g, recorded, &info);
        bool dying = info.dying;
        bool paused = info.paused, shutdown = info.shutdown;
        libxl_shutdown_reason reason = info.shutdown_reason;
        libxl_dominfo_dispose(&info);
        if (domid == (uint32_t) INVALID_DOMID || dying)
                return false;
        xen_guest_set_domid(g, domid);
        g->paused = paused;
        *state = paused ? DOMAIND_STATE_PAUSED : DOMAIND_STATE_RUNNING;
        if (shutdown)
                attach_held(g, domid, reason, state);
        /* after a resume: libxl reports a domain's shutdown once per watch */
        int rc = xen_watch_death(g);
        if (rc)
                g->hv->host->log(LOG_WARNING, "xen: %s: cannot watch domain %" PRIu32 ": libxl error %d", g->uuid,
                                 domid, rc);
        if (domid != recorded)
                g->hv->host->status_changed(g->guest);
        return true;
}

bool xen_guest_alive(XenHv *hv, const char *uuid, XenGuest *g) {
        return g_hash_table_lookup(hv->guests, uuid) == g;
}

/* The state of one operation must not leak into the next */
static void op_clear(XenGuest *g) {
        g->call = NULL;
        g->op = XEN_OP_NONE;
        g->op_fd = -1;
        g->aborted = false;
        g->was_paused = false;
}

bool xen_op_begin(XenGuest *g, XenOp op, uint32_t flags, DomaindCall *call) {
        op_clear(g);
        g->op = op;
        g->flags = flags;
        g->call = call;
        g->errors_from = xen_logger_mark(g->hv->logger);
        if (!g->hv->broken)
                return true;
        g->hv->host->log(LOG_ERR, "xen: %s: refusing an operation: %s", g->uuid, g->hv->broken);
        xen_op_done(g, DOMAIND_ERROR_FAILED, "%s", g->hv->broken);
        return false;
}

/* Everything it needs is copied before the first call into the core,
 * which may free g (see xen_guest_alive) */
static void op_end(XenGuest *g, bool report_lost, DomaindResult r, const char *text) {
        const DomaindHost *host = g->hv->host;
        DomaindGuest *guest = g->guest;
        DomaindCall *call = g->call;
        /* a reset destroys first: if the new domain never came, the guest is off */
        bool lost = report_lost && g->op == XEN_OP_RESET && r != DOMAIND_OK && g->domid == (uint32_t) INVALID_DOMID;
        op_clear(g);
        if (lost)
                host->guest_event(guest, DOMAIND_GUEST_GONE, "failed");
        if (!call)
                return;
        if (r == DOMAIND_OK)
                host->call_done(call, DOMAIND_OK, NULL);
        else
                host->call_done(call, r, "%s", text);
}

void xen_op_done(XenGuest *g, DomaindResult r, const char *format, ...) {
        g_autofree char *text = NULL;
        if (r != DOMAIND_OK) {
                va_list ap;
                va_start(ap, format);
                text = g_strdup_vprintf(format, ap);
                va_end(ap);
        }
        op_end(g, true, r, text);
}

void xen_op_done_died(XenGuest *g, const char *message) {
        op_end(g, false, DOMAIND_ERROR_FAILED, message);
}

/* Errors that name no domain, g's, or one that is nobody else's (the
 * domain a failed create made and libxl removed again) */
static bool error_is_guests(uint32_t domid, void *userdata) {
        XenGuest *g = userdata;
        if (domid == (uint32_t) INVALID_DOMID || domid == g->domid)
                return true;
        XenGuest *owner = g_hash_table_lookup(g->hv->by_domid, GUINT_TO_POINTER(domid));
        return !owner || owner == g;
}

char *xen_error_text_since(XenGuest *g, uint64_t mark, int rc) {
        char *errors = xen_logger_errors_since(g->hv->logger, mark, error_is_guests, g);
        if (errors)
                return errors;
        return g_strdup_printf("libxl error %d", rc);
}

char *xen_error_text(XenGuest *g, int rc) {
        return xen_error_text_since(g, g->errors_from, rc);
}
