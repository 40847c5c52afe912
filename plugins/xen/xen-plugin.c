/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Xen plugin: domains are Xen domains, built and driven through
 * libxenlight on domaind's loop (xen-event.c). No configuration keys: libxl
 * finds the hypervisor, xenstore and its scripts by itself.
 *
 * Without a hypervisor (not a dom0, or xenstored not running) open()
 * fails with libxl's own words, and domaind lists "xen" in
 * Manager.UnavailablePlugins.
 */
#define _GNU_SOURCE /* dladdr, RTLD_NOLOAD, RTLD_NODELETE */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "xen-config.h"
#include "xen-ops.h"
#include "xen.h"

static void hv_free(XenHv *hv) {
        if (hv->guests) {
                GList *guests = g_hash_table_get_values(hv->guests);
                for (GList *l = guests; l; l = l->next)
                        xen_guest_free(l->data); /* the domains run on for the next domaind */
                g_list_free(guests);
                g_hash_table_unref(hv->guests);
        }
        if (hv->by_domid)
                g_hash_table_unref(hv->by_domid);
        /* libxl_ctx_free asserts that no operation holds fds or timers: with
         * one still running (domaind stops mid-operation) the ctx is left to
         * the process's exit */
        if (hv->aos == 0)
                libxl_ctx_free(hv->ctx);
        else
                hv->host->log(LOG_WARNING, "xen: %u libxl operations still running at exit", hv->aos);
        xen_logger_free(hv->logger);
        g_free(hv->broken);
        g_free(hv->version);
        g_free(hv);
}

static char *errors_or(XenLogger *l, const char *fallback) {
        char *text = xen_logger_errors_since(l, 0, NULL, NULL);
        return text ? text : g_strdup(fallback);
}

/* Once libxl runs, this module must never be unmapped. hv_free leaves a
 * ctx with operations in flight to the process's exit, and libxl's
 * SIGCHLD handler and the xenstore reader thread of that ctx live in
 * libxenlight/libxenstore, which are unloaded with us when the core
 * g_module_close()s the plugin: a late SIGCHLD or xenstore message would
 * then run unmapped code. RTLD_NODELETE on our own, already loaded, object
 * (found by an address inside it; RTLD_NOLOAD: no second load) keeps it and
 * its dependencies mapped until exit. The handle is deliberately never
 * dlclose()d. */
static void pin_module(const DomaindHost *host) {
        static void *pinned;
        Dl_info info;
        if (pinned)
                return;
        if (dladdr((void *) domaind_plugin_entry, &info) == 0 || !info.dli_fname) {
                host->log(LOG_WARNING, "xen: cannot find the plugin's own file to keep it loaded");
                return;
        }
        pinned = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
        if (!pinned)
                host->log(LOG_WARNING, "xen: cannot keep %s loaded: %s", info.dli_fname, dlerror());
}

static int xen_open(const DomaindHost *host, void **ret, char **why) {
        XenHv *hv = g_new0(XenHv, 1);
        hv->host = host;
        hv->logger = xen_logger_new(host);
        int rc = libxl_ctx_alloc(&hv->ctx, LIBXL_VERSION, 0, xen_logger_xtl(hv->logger));
        if (rc) {
                g_autofree char *errors = errors_or(hv->logger, "no reason given");
                *why = g_strdup_printf("libxl cannot reach the Xen hypervisor (error %d): %s", rc, errors);
                hv->ctx = NULL;
                hv_free(hv);
                return -ENODEV;
        }
        pin_module(host);
        /* before anything that could want an fd or a timer */
        xen_event_setup(hv);
        hv->guests = g_hash_table_new(g_str_hash, g_str_equal);
        hv->by_domid = g_hash_table_new(g_direct_hash, g_direct_equal);
        libxl_physinfo info;
        libxl_physinfo_init(&info);
        rc = libxl_get_physinfo(hv->ctx, &info);
        libxl_physinfo_dispose(&info);
        const libxl_version_info *v = libxl_get_version_info(hv->ctx);
        if (rc || !v) {
                g_autofree char *errors = errors_or(hv->logger, "no reason given");
                *why = g_strdup_printf("libxl cannot ask the Xen hypervisor about the host (error %d): %s", rc, errors);
                hv_free(hv);
                return -EIO;
        }
        hv->version = g_strdup_printf("%d.%d%s", v->xen_version_major, v->xen_version_minor,
                                      v->xen_version_extra ? v->xen_version_extra : "");
        host->log(LOG_INFO, "xen: Xen %s", hv->version);
        *ret = hv;
        return 0;
}

static void xen_close(void *p) {
        hv_free(p);
}

static char *xen_version(void *p) {
        return g_strdup(((XenHv *) p)->version);
}

static char *xen_capabilities(void *p) {
        static const char guest_fmt[] = "  <guest>\n    <os_type>%s</os_type>\n"
                                        "    <arch name='x86_64'>\n      <wordsize>64</wordsize>\n"
                                        "      <machine>%s</machine>\n      <domain type='xen'/>\n"
                                        "    </arch>\n  </guest>\n";
        g_autofree char *pv = g_strdup_printf(guest_fmt, "xen", "xenpv");
        g_autofree char *pvh = g_strdup_printf(guest_fmt, "xenpvh", "xenpvh");
        g_autofree char *hvm = g_strdup_printf(guest_fmt, "hvm", "xenfv");
        return g_strdup_printf("<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n    </cpu>\n"
                               "  </host>\n%s%s%s</capabilities>\n",
                               pv, pvh, hvm);
}

static DomaindResult xen_check_config(void *p, const char *xml, char **message) {
        libxl_domain_config cfg;
        DomaindResult r = xen_config_from_xml(xml, NULL, &cfg, message);
        libxl_domain_config_dispose(&cfg);
        return r;
}

static bool xen_attach(void *p, DomaindGuest *guest, const char *status, DomaindState *state) {
        return xen_guest_attach(xen_guest_get(p, guest), status, state);
}

static char *xen_status(void *p, DomaindGuest *guest) {
        return xen_guest_status(xen_guest_get(p, guest));
}

static void xen_forget(void *p, DomaindGuest *guest) {
        XenHv *hv = p;
        const DomaindHost *host = hv->host;
        XenGuest *g = host->guest_get_data(guest);
        if (!g)
                return;
        /* Detached and freed before the pending call ends: call_done re-enters
         * the core, which may forget this guest again or end the job that
         * holds the domain; neither may find g. */
        host->guest_set_data(guest, NULL);
        DomaindCall *call = g_steal_pointer(&g->call);
        bool destroying = g->op == XEN_OP_DESTROY;
        xen_guest_free(g); /* libxl's and pygrub's work for it finishes unheard */
        if (!call)
                return;
        if (destroying) /* what it asked for */
                host->call_done(call, DOMAIND_OK, NULL);
        else
                host->call_done(call, DOMAIND_ERROR_FAILED, "the domain went away");
}

static const DomaindPlugin xen_plugin = {
        .abi_version = DOMAIND_PLUGIN_ABI_VERSION,
        .name = "xen",
        .uri = "xen:///system",
        .open = xen_open,
        .close = xen_close,
        .version = xen_version,
        .capabilities = xen_capabilities,
        .check_config = xen_check_config,
        .attach = xen_attach,
        .status = xen_status,
        .get_info = xen_get_info,
        .forget = xen_forget,
        .start = xen_op_start,
        .shutdown = xen_op_shutdown,
        .reboot = xen_op_reboot,
        .reset = xen_op_reset,
        .destroy = xen_op_destroy,
        .suspend = xen_op_suspend,
        .resume = xen_op_resume,
        .save = xen_op_save,
        .restore = xen_op_restore,
        .abort_job = xen_op_abort_job,
        .open_console = xen_open_console,
};

__attribute__((visibility("default"))) const DomaindPlugin *domaind_plugin_entry(void) {
        return &xen_plugin;
}
