/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen plugin's private declarations: one XenHv (one libxl_ctx), one
 * XenGuest per domain the core lent us. */
#pragma once

#include <glib.h>
#include <libxl.h>
#include <stdbool.h>
#include <syslog.h>

#include "domaind/plugin.h"

typedef struct XenLogger XenLogger;
typedef struct XenAo XenAo;
typedef struct XenGuest XenGuest;

typedef struct XenHv {
        const DomaindHost *host;
        libxl_ctx *ctx;
        XenLogger *logger;
        char *version;
        GHashTable *guests;   /* uuid → XenGuest* */
        GHashTable *by_domid; /* domid → XenGuest* (for libxl's events) */
        unsigned aos;         /* libxl operations in flight */
        char *broken;         /* libxl's disaster: why no operation can work any more */
} XenHv;

typedef enum XenOp {
        XEN_OP_NONE,
        XEN_OP_START,
        XEN_OP_RESTORE,
        XEN_OP_SHUTDOWN,
        XEN_OP_REBOOT,
        XEN_OP_RESET,
        XEN_OP_DESTROY,
        XEN_OP_SUSPEND,
        XEN_OP_RESUME,
        XEN_OP_SAVE,
} XenOp;

struct XenGuest {
        XenHv *hv;
        DomaindGuest *guest;
        char *uuid;
        char *dir;                 /* <runtime>/xen/<uuid>.d: what pygrub extracted */
        uint32_t domid;            /* INVALID_DOMID while there is no Xen domain */
        libxl_evgen_domain_death *death;
        bool paused;
        bool shutdown_seen;        /* the guest shut down (reported or ours), awaiting destroy */
        bool expect_death;         /* we destroy it: its death is no news */

        /* the operation in progress (one at a time: the core serializes) */
        XenOp op;
        DomaindCall *call;
        uint32_t flags;
        int op_fd;                 /* save/restore image (the core's) */
        XenAo *ao;                 /* the libxl operation of op, if any */
        struct Pygrub *bootloader; /* pygrub running for op */
        bool aborted;              /* AbortJob asked */
        bool was_paused;           /* paused when op began: a reset or failed save leaves it paused */
        uint64_t errors_from;      /* the logger's mark when op began (xen_error_text) */
        char *failure;             /* why a start failed, told once its domain is destroyed */
        char *boot_kernel, *boot_initrd, *boot_cmdline;
};

/* xen-log.c: a xentoollog logger that forwards to host->log and keeps the
 * errors logged since the last clear, which become a failed call's message. */
XenLogger *xen_logger_new(const DomaindHost *host);
xentoollog_logger *xen_logger_xtl(XenLogger *l);
/* Errors are numbered: an operation notes the mark when it begins and
 * later asks for what came since, so one guest's operation neither clears
 * nor reads another's. keep filters by the domid libxl named ("Domain N:"),
 * INVALID_DOMID for an error that names none; NULL keeps all. */
uint64_t xen_logger_mark(XenLogger *l);
typedef bool (*XenLogKeep)(uint32_t domid, void *userdata);
char *xen_logger_errors_since(XenLogger *l, uint64_t mark, XenLogKeep keep, void *userdata); /* NULL when none */
void xen_logger_free(XenLogger *l);

/* xen-event.c: libxl on sd-event */
void xen_event_setup(XenHv *hv);
typedef void (*XenAoDone)(XenGuest *g, int rc, uint32_t domid);
/* Fills *how for a libxl operation of g; done runs later from the loop
 * (never inside libxl), unless the guest was forgotten meanwhile. */
XenAo *xen_ao_new(XenGuest *g, XenAoDone done, libxl_asyncop_how *how);
/* The initiating call failed at once: done is not called. */
void xen_ao_cancel(XenAo *ao);
/* What must live as long as the operation: the config, the new domid,
 * the restore parameters */
libxl_domain_config *xen_ao_config(XenAo *ao);
uint32_t *xen_ao_domid(XenAo *ao);
libxl_domain_restore_params *xen_ao_restore_params(XenAo *ao);
/* The save or restore itself: the only operations AbortJob may cancel (not
 * the destroy, resume or unpause around them) */
void xen_ao_set_abortable(XenAo *ao);
bool xen_ao_abortable(XenAo *ao); /* false for NULL */
/* AbortJob: libxl finishes the operation with ERROR_ABORTED, or not at all
 * if it is past the point of no return */
int xen_ao_abort(XenAo *ao);
void xen_ao_forget_guest(XenAo *ao);
int xen_watch_death(XenGuest *g);
void xen_unwatch_death(XenGuest *g);

/* xen-guest.c */
XenGuest *xen_guest_get(XenHv *hv, DomaindGuest *guest);
void xen_guest_free(XenGuest *g);
void xen_guest_set_domid(XenGuest *g, uint32_t domid);
void xen_guest_release(XenGuest *g); /* the Xen domain is gone */
void xen_guest_clear_boot(XenGuest *g);
char *xen_guest_status(XenGuest *g);
bool xen_guest_attach(XenGuest *g, const char *status, DomaindState *state);
/* Whether g is still the record of uuid: host->guest_event and
 * host->call_done may drop the domain, and the core's forget() then frees
 * g; after those calls only this (on copies) may tell whether g lives. */
bool xen_guest_alive(XenHv *hv, const char *uuid, XenGuest *g);
void xen_op_abandon(XenGuest *g);
/* false: libxl is broken (on_disaster) and the operation has ended already */
bool xen_op_begin(XenGuest *g, XenOp op, uint32_t flags, DomaindCall *call);
/* Ends the operation: the last use of g, which may be freed by the time
 * this returns (see xen_guest_alive). A failed reset that left no domain
 * reports the guest gone. */
void xen_op_done(XenGuest *g, DomaindResult r, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* The same, when the domain died under the operation: the caller reports
 * DOMAIND_GUEST_GONE itself (with the real reason), afterwards. */
void xen_op_done_died(XenGuest *g, const char *message);
/* what libxl logged as errors for g since its operation began (or since
 * mark), or rc */
char *xen_error_text(XenGuest *g, int rc);
char *xen_error_text_since(XenGuest *g, uint64_t mark, int rc);

/* xen-ops.c: what libxl tells about a domain on its own */
void xen_on_domain_shutdown(XenGuest *g, int reason);
void xen_on_domain_death(XenGuest *g);
