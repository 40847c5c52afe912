/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test hypervisor (test:///default), like libvirt's test driver: guests
 * exist only in domaind's memory. It lets the core, the clients and the
 * integration tests exercise every lifecycle path without a real VM, and
 * the hooks in test-hooks.c let tests make things happen inside a guest.
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <string.h>
#include <syslog.h>

#include "test-plugin.h"

#ifndef TEST_HV_VERSION
#define TEST_HV_VERSION "0.1.0"
#endif

static TestHv *hv_free(TestHv *hv) {
        g_autoptr(GList) ops = NULL;

        if (!hv)
                return NULL;

        /* The core is done with us: pending calls are dropped, not ended,
         * and the guests it lent us are not touched any more. */
        if (hv->ops) {
                ops = g_hash_table_get_keys(hv->ops);
                for (GList *l = ops; l; l = l->next)
                        test_op_free(l->data);
        }
        test_hooks_close(hv);
        g_clear_pointer(&hv->by_uuid, g_hash_table_unref);
        g_clear_pointer(&hv->guests, g_hash_table_unref);
        g_clear_pointer(&hv->knobs, g_hash_table_unref);
        g_clear_pointer(&hv->ops, g_hash_table_unref);
        g_free(hv);
        return NULL;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestHv, hv_free)

static int test_open(const DomaindHost *host, void **ret, char **why) {
        g_autoptr(TestHv) hv = NULL;
        g_autofree char *uuid = NULL;
        int r;

        if (host->abi_version != DOMAIND_PLUGIN_ABI_VERSION) {
                *why = g_strdup_printf("host ABI version %u, plugin built for %u", host->abi_version,
                                       DOMAIND_PLUGIN_ABI_VERSION);
                return -EPROTO;
        }

        hv = g_new0(TestHv, 1);
        hv->host = host;
        hv->next_id = 1;
        hv->guests = g_hash_table_new_full(NULL, NULL, (GDestroyNotify) test_guest_free, NULL);
        hv->by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
        hv->knobs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) test_knobs_free);
        hv->ops = g_hash_table_new(NULL, NULL);

        /* a fresh host per run, as the simulated hardware is */
        uuid = g_uuid_string_random();
        g_strlcpy(hv->host_uuid, uuid, sizeof(hv->host_uuid));

        r = test_hooks_open(hv, why);
        if (r < 0)
                return r;

        *ret = g_steal_pointer(&hv);
        return 0;
}

static void test_close(void *p) {
        hv_free(p);
}

static char *test_version(void *p) {
        return g_strdup(TEST_HV_VERSION);
}

static char *test_capabilities(void *p) {
        TestHv *hv = p;

        return g_strdup_printf("<capabilities>\n"
                               "  <host>\n"
                               "    <uuid>%s</uuid>\n"
                               "    <cpu>\n"
                               "      <arch>x86_64</arch>\n"
                               "    </cpu>\n"
                               "  </host>\n"
                               "  <guest>\n"
                               "    <os_type>hvm</os_type>\n"
                               "    <arch name='x86_64'>\n"
                               "      <wordsize>64</wordsize>\n"
                               "      <domain type='test'/>\n"
                               "    </arch>\n"
                               "  </guest>\n"
                               "</capabilities>\n",
                               hv->host_uuid);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

static void xml_char_freep(xmlChar **p) {
        if (*p)
                xmlFree(*p);
}

static DomaindResult test_check_config(void *p, const char *xml, char **message) {
        __attribute__((cleanup(xml_char_freep))) xmlChar *type = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        size_t len = strlen(xml);
        xmlNode *root;

        /* The core validated the XML already; all we need is the root's
         * type, and a real parser is the only reliable way to get it. */
        if (len <= INT_MAX)
                doc = xmlReadMemory(xml, (int) len, "domain.xml", NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        root = doc ? xmlDocGetRootElement(doc) : NULL;
        if (!root || !xmlStrEqual(root->name, BAD_CAST "domain")) {
                *message = g_strdup("<domain>: not a domain XML document");
                return DOMAIND_ERROR_INVALID_XML;
        }

        type = xmlGetProp(root, BAD_CAST "type");
        if (!type) {
                *message = g_strdup("<domain>: no type attribute; the test hypervisor runs only "
                                    "type='test' domains");
                return DOMAIND_ERROR_INVALID_XML;
        }
        if (!xmlStrEqual(type, BAD_CAST "test")) {
                *message = g_strdup_printf("<domain type='%s'>: the test hypervisor runs only "
                                           "type='test' domains",
                                           (const char *) type);
                return DOMAIND_ERROR_INVALID_XML;
        }
        return DOMAIND_OK;
}

static DomaindState guest_state(const TestGuest *g) {
        if (!g->active)
                return DOMAIND_STATE_SHUTOFF;
        if (g->held == TEST_HELD_SHUTDOWN)
                return DOMAIND_STATE_SHUTDOWN;
        if (g->held == TEST_HELD_CRASHED)
                return DOMAIND_STATE_CRASHED;
        return g->paused ? DOMAIND_STATE_PAUSED : DOMAIND_STATE_RUNNING;
}

static bool test_attach(void *p, DomaindGuest *guest, const char *status, DomaindState *state) {
        TestHv *hv = p;
        TestGuest *g = test_guest_get(hv, guest);
        g_autofree char *error = NULL;

        /* The simulated VM lived in the old domaind's memory, but the core
         * kept our status text: take the guest back as it was. */
        if (!test_guest_parse_status(g, status, &error)) {
                hv->host->log(LOG_WARNING, "cannot re-attach test guest %s: %s", g->uuid, error);
                return false;
        }
        *state = guest_state(g);
        return true;
}

static char *test_status(void *p, DomaindGuest *guest) {
        return test_guest_status(test_guest_get(p, guest));
}

static void test_get_info(void *p, DomaindGuest *guest, DomaindGuestInfo *info) {
        TestGuest *g = test_guest_get(p, guest);

        info->id = g->active ? g->id : -1;
        info->cpu_time_ns = test_guest_cpu_ns(g);
        info->memory_kib = 0;
}

static void test_forget(void *p, DomaindGuest *guest) {
        TestHv *hv = p;
        TestGuest *g = hv->host->guest_get_data(guest);

        if (g)
                test_guest_forget(g);
}

static TestOp *op_new(void *p, DomaindGuest *guest, TestOpKind kind, DomaindCall *call) {
        return test_op_new(test_guest_get(p, guest), kind, call);
}

static void test_start(void *p, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_START, call);

        op->flags = flags;
        test_op_submit(op);
}

static void test_shutdown(void *p, DomaindGuest *guest, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_SHUTDOWN, call));
}

static void test_reboot(void *p, DomaindGuest *guest, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_REBOOT, call));
}

static void test_reset(void *p, DomaindGuest *guest, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_RESET, call));
}

static void test_destroy(void *p, DomaindGuest *guest, uint32_t flags, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_DESTROY, call));
}

static void test_suspend(void *p, DomaindGuest *guest, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_SUSPEND, call));
}

static void test_resume(void *p, DomaindGuest *guest, DomaindCall *call) {
        test_op_submit(op_new(p, guest, TEST_OP_RESUME, call));
}

static void test_save(void *p, DomaindGuest *guest, int fd, DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_SAVE, call);

        op->fd = fd;
        test_op_submit(op);
}

static void test_restore(void *p, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_RESTORE, call);

        op->fd = fd;
        op->flags = flags;
        test_op_submit(op);
}

static void test_snapshot_create(void *p, DomaindGuest *guest, const char *name, bool with_memory,
                                 DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_SNAPSHOT_CREATE, call);

        op->name = g_strdup(name);
        op->with_memory = with_memory;
        test_op_submit(op);
}

static void test_snapshot_revert(void *p, DomaindGuest *guest, const char *name, DomaindState target,
                                 DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_SNAPSHOT_REVERT, call);

        op->name = g_strdup(name);
        op->target = target;
        test_op_submit(op);
}

static void test_snapshot_delete(void *p, DomaindGuest *guest, const char *name, DomaindCall *call) {
        TestOp *op = op_new(p, guest, TEST_OP_SNAPSHOT_DELETE, call);

        op->name = g_strdup(name);
        test_op_submit(op);
}

static const char *state_name(const TestGuest *g) {
        static const char *const names[] = {
                [DOMAIND_STATE_SHUTOFF] = "shut off",
                [DOMAIND_STATE_RUNNING] = "running",
                [DOMAIND_STATE_PAUSED] = "paused",
                [DOMAIND_STATE_SHUTDOWN] = "shut down",
                [DOMAIND_STATE_CRASHED] = "crashed",
                [DOMAIND_STATE_PMSUSPENDED] = "pmsuspended",
        };

        return names[guest_state(g)];
}

static DomaindResult test_abort_job(void *p, DomaindGuest *guest, char **message) {
        TestGuest *g = test_guest_get(p, guest);

        if (!g->op) {
                *message = g_strdup_printf("no job to abort: the test guest is %s and idle", state_name(g));
                return DOMAIND_ERROR_INVALID_STATE;
        }
        if (test_op_abort(g->op) != DOMAIND_OK) {
                *message = g_strdup_printf("no job to abort: the test guest is %s and its pending %s "
                                           "cannot be aborted",
                                           state_name(g), test_op_name(g->op->kind));
                return DOMAIND_ERROR_INVALID_STATE;
        }
        return DOMAIND_OK;
}

static const DomaindPlugin test_plugin = {
        .abi_version = DOMAIND_PLUGIN_ABI_VERSION,
        .name = "test",
        .uri = "test:///default",

        .open = test_open,
        .close = test_close,
        .version = test_version,
        .capabilities = test_capabilities,
        .check_config = test_check_config,

        .attach = test_attach,
        .status = test_status,
        .get_info = test_get_info,
        .forget = test_forget,

        .start = test_start,
        .shutdown = test_shutdown,
        .reboot = test_reboot,
        .reset = test_reset,
        .destroy = test_destroy,
        .suspend = test_suspend,
        .resume = test_resume,

        .save = test_save,
        .restore = test_restore,

        .snapshot_create = test_snapshot_create,
        .snapshot_revert = test_snapshot_revert,
        .snapshot_delete = test_snapshot_delete,

        .abort_job = test_abort_job,
};

__attribute__((visibility("default"))) const DomaindPlugin *domaind_plugin_entry(void) {
        return &test_plugin;
}
