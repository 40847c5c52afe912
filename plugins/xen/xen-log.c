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

typedef struct XenLogError {
        uint64_t seq;
        uint32_t domid; /* the domain libxl named, INVALID_DOMID if none */
        char *text;
} XenLogError;

struct XenLogger {
        xentoollog_logger xtl; /* first: libxl hands us back this pointer */
        const DomaindHost *host;
        GQueue errors; /* XenLogError*, oldest first, at most ERRORS_KEPT */
        uint64_t next_seq;
};

#define ERRORS_KEPT 64
#define ERRORS_MAX 2048 /* characters of one message */

/* libxl prefixes what concerns one domain with "Domain N:" (after its
 * file:line:function) */
static uint32_t error_domid(const char *text) {
        const char *p = strstr(text, "Domain ");
        unsigned domid;
        char colon;
        if (!p || sscanf(p, "Domain %u%c", &domid, &colon) != 2 || colon != ':')
                return INVALID_DOMID;
        return domid;
}

static void error_free(gpointer p) {
        XenLogError *e = p;
        g_free(e->text);
        g_free(e);
}

static void keep_error(XenLogger *l, char *text) {
        XenLogError *e = g_new0(XenLogError, 1);
        *e = (XenLogError){ .seq = l->next_seq++, .domid = error_domid(text), .text = text };
        g_queue_push_tail(&l->errors, e);
        while (l->errors.length > ERRORS_KEPT)
                error_free(g_queue_pop_head(&l->errors));
}

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
        /* every error since an operation began: the first is often the cause,
         * the last what libxl made of it */
        if (level >= XTL_ERROR)
                keep_error(l, g_strdup_printf("%s%s%s", context ? context : "", context ? ": " : "", line));
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

uint64_t xen_logger_mark(XenLogger *l) {
        return l->next_seq;
}

char *xen_logger_errors_since(XenLogger *l, uint64_t mark, XenLogKeep keep, void *userdata) {
        GString *text = NULL;
        for (GList *i = l->errors.head; i; i = i->next) {
                XenLogError *e = i->data;
                if (e->seq < mark || (keep && !keep(e->domid, userdata)))
                        continue;
                if (!text)
                        text = g_string_new(NULL);
                else if (text->len >= ERRORS_MAX)
                        break;
                else
                        g_string_append(text, "; ");
                g_string_append(text, e->text);
        }
        return text ? g_string_free(text, false) : NULL;
}

void xen_logger_free(XenLogger *l) {
        if (!l)
                return;
        g_queue_clear_full(&l->errors, error_free);
        g_free(l);
}
