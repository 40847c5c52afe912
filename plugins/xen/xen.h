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
        char *failure;             /* why a start failed, told once its domain is destroyed */
        char *boot_kernel, *boot_initrd, *boot_cmdline;
};

/* xen-log.c: a xentoollog logger that forwards to host->log and keeps the
 * errors logged since the last clear, which become a failed call's message. */
XenLogger *xen_logger_new(const DomaindHost *host);
xentoollog_logger *xen_logger_xtl(XenLogger *l);
const char *xen_logger_errors(XenLogger *l); /* "" when none */
void xen_logger_clear(XenLogger *l);
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
void xen_op_abandon(XenGuest *g);
void xen_op_begin(XenGuest *g, XenOp op, uint32_t flags, DomaindCall *call);
void xen_op_done(XenGuest *g, DomaindResult r, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* what libxl logged as errors since the operation began, or its error code */
char *xen_error_text(XenHv *hv, int rc);

/* xen-ops.c: what libxl tells about a domain on its own */
void xen_on_domain_shutdown(XenGuest *g, int reason);
void xen_on_domain_death(XenGuest *g);
