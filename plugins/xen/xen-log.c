/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxl (and libxc below it) report through a xentoollog logger. Ours sends
 * everything to domaind's log and keeps the last error: libxl's return codes
 * say little ("-3"), its log says why, and that is what a failed call and
 * Manager.UnavailablePlugins should show.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xentoollog.h>

#include "xen.h"

struct XenLogger {
        xentoollog_logger xtl; /* first: libxl hands us back this pointer */
        const DomaindHost *host;
        GString *errors;
};

#define ERRORS_MAX 2048

static int syslog_level(xentoollog_level level) {
        switch (level) {
        case XTL_CRITICAL:
                return LOG_CRIT;
        case XTL_ERROR:
                return LOG_ERR;
        case XTL_WARN:
                return LOG_WARNING;
        case XTL_NOTICE:
                return LOG_NOTICE;
        case XTL_INFO:
        case XTL_PROGRESS:
                return LOG_INFO;
        default:
                return LOG_DEBUG;
        }
}

static void logger_vmessage(xentoollog_logger *xtl, xentoollog_level level, int errnoval, const char *context,
                            const char *format, va_list ap) {
        XenLogger *l = (XenLogger *) xtl;
        g_autofree char *text = g_strdup_vprintf(format, ap);
        g_autofree char *line = errnoval >= 0 ? g_strdup_printf("%s: %s", text, g_strerror(errnoval))
                                              : g_strdup(text);
        l->host->log(syslog_level(level), "xen: %s%s%s", context ? context : "", context ? ": " : "", line);
        /* every error since the operation began: the first is often the cause,
         * the last what libxl made of it */
        if (level >= XTL_ERROR && (!l->errors || l->errors->len < ERRORS_MAX)) {
                if (!l->errors)
                        l->errors = g_string_new(NULL);
                g_string_append_printf(l->errors, "%s%s%s%s", l->errors->len ? "; " : "", context ? context : "",
                                       context ? ": " : "", line);
        }
}

static void logger_progress(xentoollog_logger *xtl, const char *context, const char *doing_what, int percent,
                            unsigned long done, unsigned long total) {
        XenLogger *l = (XenLogger *) xtl;
        if (percent == 0 || percent == 100)
                l->host->log(LOG_DEBUG, "xen: %s: %s: %d%%", context ? context : "", doing_what, percent);
}

static void logger_destroy(xentoollog_logger *xtl) {
        /* freed by xen_logger_free: libxl never destroys a logger it was lent */
}

XenLogger *xen_logger_new(const DomaindHost *host) {
        XenLogger *l = g_new0(XenLogger, 1);
        l->xtl.vmessage = logger_vmessage;
        l->xtl.progress = logger_progress;
        l->xtl.destroy = logger_destroy;
        l->host = host;
        return l;
}

xentoollog_logger *xen_logger_xtl(XenLogger *l) {
        return &l->xtl;
}

const char *xen_logger_errors(XenLogger *l) {
        return l->errors ? l->errors->str : "";
}

void xen_logger_clear(XenLogger *l) {
        if (l->errors)
                g_string_truncate(l->errors, 0);
}

void xen_logger_free(XenLogger *l) {
        if (!l)
                return;
        if (l->errors)
                g_string_free(l->errors, true);
        g_free(l);
}
