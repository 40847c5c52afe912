/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The KVM plugin: every domain is a QEMU process driven over QMP.
 * Configuration ([kvm] in domaind.conf): Emulator=PATH, Accelerator=auto|kvm|tcg.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kvm-cmdline.h"
#include "kvm-ops.h"
#include "kvm.h"

#define DEFAULT_EMULATOR "/usr/bin/qemu-system-x86_64"

/* KVM only where it can run a guest: /dev/kvm opens and the CPU has
 * hardware virtualization (a software-only /dev/kvm cannot boot Linux). */
static bool kvm_usable(void) {
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return false;
        close(fd);
        g_autofree char *cpuinfo = NULL;
        if (!g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL))
                return false;
        return strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
}

static char *emulator_version(const char *emulator) {
        const char *argv[] = { emulator, "--version", NULL };
        g_autofree char *out = NULL;
        int status = 0;
        /* once, at start-up, before domaind serves anybody */
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
                          NULL) ||
            status != 0)
                return NULL;
        const char *v = strstr(out, "version ");
        if (!v)
                return NULL;
        v += strlen("version ");
        return g_strndup(v, strcspn(v, " \n("));
}

static int kvm_open(const DomaindHost *host, void **ret, char **why) {
        const char *emulator = host->config_get(host, "Emulator");
        const char *accel = host->config_get(host, "Accelerator");
        emulator = emulator ? emulator : DEFAULT_EMULATOR;
        if (access(emulator, X_OK) < 0) {
                *why = g_strdup_printf("no QEMU at %s (install qemu-system-x86 or set Emulator= in [kvm])", emulator);
                return -ENOENT;
        }
        g_autofree char *version = emulator_version(emulator);
        if (!version) {
                *why = g_strdup_printf("%s --version gave no version", emulator);
                return -EIO;
        }
        if (accel && !g_str_equal(accel, "auto") && !g_str_equal(accel, "kvm") && !g_str_equal(accel, "tcg")) {
                *why = g_strdup_printf("Accelerator=%s: use auto, kvm or tcg", accel);
                return -EINVAL;
        }
        KvmHv *hv = g_new0(KvmHv, 1);
        hv->host = host;
        hv->emulator = g_strdup(emulator);
        hv->accel = g_strdup(!accel || g_str_equal(accel, "auto") ? (kvm_usable() ? "kvm" : "tcg") : accel);
        hv->version = g_steal_pointer(&version);
        hv->next_id = 1;
        hv->guests = g_hash_table_new(g_str_hash, g_str_equal);
        host->log(LOG_INFO, "kvm: QEMU %s at %s, accelerator %s", hv->version, hv->emulator, hv->accel);
        *ret = hv;
        return 0;
}

static void kvm_close(void *p) {
        KvmHv *hv = p;
        /* Guests keep running: only our records go. */
        GList *guests = g_hash_table_get_values(hv->guests);
        for (GList *l = guests; l; l = l->next)
                kvm_guest_free(l->data, false); /* QEMU and its socket stay for the next domaind */
        g_list_free(guests);
        g_hash_table_unref(hv->guests);
        g_free(hv->emulator);
        g_free(hv->accel);
        g_free(hv->version);
        g_free(hv);
}

static char *kvm_version(void *p) {
        return g_strdup(((KvmHv *) p)->version);
}

static char *kvm_capabilities(void *p) {
        KvmHv *hv = p;
        return g_strdup_printf("<capabilities>\n"
                               "  <host>\n    <cpu>\n      <arch>x86_64</arch>\n    </cpu>\n  </host>\n"
                               "  <guest>\n    <os_type>hvm</os_type>\n"
                               "    <arch name='x86_64'>\n      <wordsize>64</wordsize>\n"
                               "      <emulator>%s</emulator>\n      <machine>pc</machine>\n      <machine>q35</machine>\n"
                               "      <domain type='qemu'/>\n%s"
                               "    </arch>\n  </guest>\n</capabilities>\n",
                               hv->emulator, g_str_equal(hv->accel, "kvm") ? "      <domain type='kvm'/>\n" : "");
}

static DomaindResult kvm_check_config(void *p, const char *xml, char **message) {
        KvmHv *hv = p;
        KvmLaunch launch = { .emulator = hv->emulator, .accel = hv->accel, .qmp_socket = "/nonexistent/qmp.sock",
                             .runtime_dir = "/nonexistent" };
        if (!strstr(xml, "type=\"kvm\"") && !strstr(xml, "type=\"qemu\"") && !strstr(xml, "type='kvm'") &&
            !strstr(xml, "type='qemu'")) {
                /* the normalized root element comes first */
                const char *root = strstr(xml, "<domain");
                const char *end = root ? strchr(root, '>') : NULL;
                g_autofree char *head = root && end ? g_strndup(root, end - root + 1) : g_strdup("<domain>");
                *message = g_strdup_printf("%s: the kvm hypervisor runs only type='kvm' or type='qemu' domains", head);
                return DOMAIND_ERROR_INVALID_XML;
        }
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = kvm_build_argv(xml, &launch, false, &error);
        if (!argv) {
                *message = g_strdup(error->message);
                return DOMAIND_ERROR_INVALID_XML;
        }
        return DOMAIND_OK;
}

static bool kvm_attach(void *p, DomaindGuest *guest, const char *status, DomaindState *state) {
        KvmGuest *g = kvm_guest_get(p, guest);
        if (!kvm_guest_parse_status(g, status))
                return false;
        kvm_process_watch(g); /* QMP: a fresh greeting; query-status tells what we missed */
        *state = g->running ? DOMAIND_STATE_RUNNING : DOMAIND_STATE_PAUSED;
        return true;
}

static char *kvm_status(void *p, DomaindGuest *guest) {
        return kvm_guest_status(kvm_guest_get(p, guest));
}

static void kvm_get_info(void *p, DomaindGuest *guest, DomaindGuestInfo *info) {
        KvmGuest *g = kvm_guest_get(p, guest);
        info->id = g->pid > 0 ? g->id : -1;
        info->cpu_time_ns = kvm_guest_cpu_time(g);
}

static void kvm_forget(void *p, DomaindGuest *guest) {
        KvmHv *hv = p;
        KvmGuest *g = hv->host->guest_get_data(guest);
        if (!g)
                return;
        hv->host->guest_set_data(guest, NULL);
        if (g->call) { /* the core still waits for this: end it */
                kvm_op_done(g, g->op == KVM_OP_DESTROY ? DOMAIND_OK : DOMAIND_ERROR_FAILED, "the domain went away");
        }
        kvm_guest_free(g, true);
}

/* ---- consoles ---- */

static int connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

static DomaindResult kvm_open_console(void *p, DomaindGuest *guest, const char *device, int *ret_fd,
                                      char **message) {
        KvmHv *hv = p;
        KvmGuest *g = kvm_guest_get(hv, guest);
        KvmLaunch launch = { .runtime_dir = g->dir, .console_log = g->console_log };
        g_autoptr(GPtrArray) consoles = kvm_xml_consoles(hv->host->guest_xml(guest), &launch);
        KvmConsole *c = NULL;
        for (guint i = 0; consoles && i < consoles->len && !c; i++) {
                KvmConsole *k = consoles->pdata[i];
                if (!*device || g_str_equal(device, k->alias))
                        c = k;
        }
        if (!c) {
                *message = g_strdup_printf("the domain has no console '%s'", *device ? device : "serial0");
                return DOMAIND_ERROR_INVALID_ARGUMENT;
        }
        int fd = -ENOTSUP;
        if (g_str_equal(c->type, "pty")) {
                /* console0 and serial0 may share one chardev */
                const char *pty = c->chardev && g_str_has_prefix(c->chardev, "char")
                                          ? g_hash_table_lookup(g->ptys, c->chardev + 4)
                                          : g_hash_table_lookup(g->ptys, c->alias);
                fd = pty ? open(pty, O_RDWR | O_NOCTTY | O_CLOEXEC) : -ENOENT;
                if (pty && fd < 0)
                        fd = -errno;
        } else if (g_str_equal(c->type, "unix") && c->path)
                fd = connect_unix(c->path);
        if (fd < 0) {
                *message = g_strdup_printf("cannot open console '%s' (%s): %s", c->alias, c->type, g_strerror(-fd));
                return fd == -ENOTSUP ? DOMAIND_ERROR_NOT_SUPPORTED : DOMAIND_ERROR_FAILED;
        }
        *ret_fd = fd;
        return DOMAIND_OK;
}

static const DomaindPlugin kvm_plugin = {
        .abi_version = DOMAIND_PLUGIN_ABI_VERSION,
        .name = "kvm",
        .uri = "kvm:///system",
        .open = kvm_open,
        .close = kvm_close,
        .version = kvm_version,
        .capabilities = kvm_capabilities,
        .check_config = kvm_check_config,
        .attach = kvm_attach,
        .status = kvm_status,
        .get_info = kvm_get_info,
        .forget = kvm_forget,
        .start = kvm_op_start,
        .shutdown = kvm_op_shutdown,
        .reboot = kvm_op_reboot,
        .reset = kvm_op_reset,
        .destroy = kvm_op_destroy,
        .suspend = kvm_op_suspend,
        .resume = kvm_op_resume,
        .save = kvm_op_save,
        .restore = kvm_op_restore,
        .abort_job = kvm_op_abort_job,
        .open_console = kvm_open_console,
};

__attribute__((visibility("default"))) const DomaindPlugin *domaind_plugin_entry(void) {
        return &kvm_plugin;
}
