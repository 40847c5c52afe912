/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Xen plugin without Xen: domain XML → libxl_domain_config, checked on
 * libxl's own JSON of the result (libxl_domain_config_to_json(NULL, ...)
 * needs no ctx), pygrub driven by the plugin's runner on real ext4
 * images made with mke2fs -d, and libxl's fd hooks on sd-event
 * (xen-event.c, included: its hooks are static; libxl's side is faked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "pygrub.h"
#include "xen-config.h"
#include "xen-event.c"

/* ---- helpers ---- */

/* libxl's JSON of the config the XML becomes; fails the test on refusal */
static JsonNode *config_json(const char *xml, const XenBoot *boot) {
        libxl_domain_config cfg;
        g_autofree char *message = NULL;
        DomaindResult r = xen_config_from_xml(xml, boot, &cfg, &message);
        if (r != DOMAIND_OK)
                fail_msg("refused (%d): %s", r, message);
        char *json = libxl_domain_config_to_json(NULL, &cfg);
        libxl_domain_config_dispose(&cfg);
        assert_non_null(json);
        JsonNode *root = json_from_string(json, NULL);
        free(json);
        assert_non_null(root);
        return root;
}

/* "b_info/type.hvm/boot", "disks/0/vdev": NULL when absent (libxl leaves out defaults) */
static JsonNode *at(JsonNode *root, const char *path) {
        g_auto(GStrv) parts = g_strsplit(path, "/", -1);
        JsonNode *n = root;
        for (char **p = parts; *p && n; p++) {
                if (JSON_NODE_HOLDS_OBJECT(n)) {
                        JsonObject *o = json_node_get_object(n);
                        n = json_object_has_member(o, *p) ? json_object_get_member(o, *p) : NULL;
                } else if (JSON_NODE_HOLDS_ARRAY(n)) {
                        JsonArray *a = json_node_get_array(n);
                        guint i = (guint) atoi(*p);
                        n = i < json_array_get_length(a) ? json_array_get_element(a, i) : NULL;
                } else
                        n = NULL;
        }
        return n;
}

static const char *str_at(JsonNode *root, const char *path) {
        JsonNode *n = at(root, path);
        return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_string(n) : NULL;
}

static int64_t int_at(JsonNode *root, const char *path) {
        JsonNode *n = at(root, path);
        return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : -1;
}

static void assert_str_at(JsonNode *root, const char *path, const char *want) {
        const char *got = str_at(root, path);
        if (!want) {
                if (at(root, path))
                        fail_msg("%s: expected nothing", path);
                return;
        }
        if (!got || !g_str_equal(got, want))
                fail_msg("%s: got '%s', expected '%s'", path, got ? got : "(none)", want);
}

static char *read_data(const char *name) {
        g_autofree char *path = g_build_filename(TEST_DATA_DIR, name, NULL);
        char *text = NULL;
        assert_true(g_file_get_contents(path, &text, NULL, NULL));
        return text;
}

/* <domain type='xen'> with the given <os> and <devices> contents */
static char *domain(const char *top, const char *os, const char *devices) {
        return g_strdup_printf("<domain type='xen'>\n"
                               "  <name>t</name>\n  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
                               "  <memory unit='KiB'>262144</memory>\n  <currentMemory unit='KiB'>131072</currentMemory>\n"
                               "  <vcpu current='1'>2</vcpu>\n%s"
                               "  <os>%s</os>\n  <devices>%s</devices>\n</domain>\n",
                               top, os, devices);
}

static void assert_refused(const char *xml, DomaindResult want, const char *needle) {
        libxl_domain_config cfg;
        g_autofree char *message = NULL;
        DomaindResult r = xen_config_from_xml(xml, NULL, &cfg, &message);
        libxl_domain_config_dispose(&cfg);
        if (r != want)
                fail_msg("result %d (%s), expected %d", r, message ? message : "", want);
        assert_non_null(message);
        if (!strstr(message, needle))
                fail_msg("message '%s' does not name '%s'", message, needle);
}

/* ---- PV ---- */

static void test_pv_pygrub(void **state) {
        g_autofree char *xml = read_data("xen-pv-pygrub.xml");
        XenBoot boot = { .kernel = "/run/x/boot_kernel.1", .ramdisk = "/run/x/boot_ramdisk.1",
                         .cmdline = "root=/dev/xvda ro" };
        g_autoptr(JsonNode) j = config_json(xml, &boot);
        assert_str_at(j, "c_info/type", "pv");
        assert_str_at(j, "c_info/name", "xen-pv-pygrub");
        assert_str_at(j, "c_info/uuid", "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
        assert_int_equal(int_at(j, "b_info/max_memkb"), 512 * 1024);
        assert_int_equal(int_at(j, "b_info/target_memkb"), 512 * 1024);
        assert_int_equal(int_at(j, "b_info/max_vcpus"), 1);
        /* what pygrub found, booted directly: libxl never runs a bootloader */
        assert_str_at(j, "b_info/kernel", "/run/x/boot_kernel.1");
        assert_str_at(j, "b_info/ramdisk", "/run/x/boot_ramdisk.1");
        assert_str_at(j, "b_info/cmdline", "root=/dev/xvda ro");
        assert_str_at(j, "b_info/bootloader", NULL);
        assert_str_at(j, "b_info/type.pv/bootloader", NULL);
        assert_str_at(j, "disks/0/pdev_path", "/var/lib/domaind/images/xen-pv-pygrub.img");
        assert_str_at(j, "disks/0/vdev", "xvda");
        assert_str_at(j, "disks/0/backend", "qdisk");
        assert_str_at(j, "disks/0/format", "raw");
        assert_int_equal(int_at(j, "disks/0/readwrite"), 1);
        assert_str_at(j, "nics/0/bridge", "xenbr0");
        assert_str_at(j, "nics/0/mac", "00:16:3e:5d:c7:9e");
        assert_str_at(j, "nics/0/nictype", "vif");
        assert_str_at(j, "on_reboot", "restart");
        assert_str_at(j, "on_crash", "preserve");
}

/* a restore (or check_config) has no pygrub result: no kernel at all */
static void test_pv_pygrub_without_boot(void **state) {
        g_autofree char *xml = read_data("xen-pv-pygrub.xml");
        g_autoptr(JsonNode) j = config_json(xml, NULL);
        assert_str_at(j, "c_info/type", "pv");
        assert_str_at(j, "b_info/kernel", NULL);
        assert_str_at(j, "b_info/bootloader", NULL);
}

static void test_bootloader_source(void **state) {
        g_autofree char *xml = read_data("xen-pv-pygrub.xml");
        g_autofree char *bootloader = NULL, *args = NULL, *disk = NULL, *message = NULL;
        assert_int_equal(xen_config_bootloader(xml, &bootloader, &args, &disk, &message), DOMAIND_OK);
        assert_string_equal(bootloader, "/usr/lib/xen-4.17/bin/pygrub");
        assert_string_equal(args, "-q");
        assert_string_equal(disk, "/var/lib/domaind/images/xen-pv-pygrub.img");
}

static void test_pv_direct_kernel(void **state) {
        g_autofree char *xml = domain(
                "  <on_poweroff>preserve</on_poweroff>\n  <on_crash>coredump-destroy</on_crash>\n",
                "<type arch='x86_64' machine='xenpv'>xen</type><kernel>/boot/vmlinuz</kernel>"
                "<initrd>/boot/initrd.img</initrd><cmdline>console=hvc0 root=/dev/xvda1</cmdline>",
                "<disk type='block' device='disk'><source dev='/dev/vg/root'/><target dev='xvda' bus='xen'/></disk>"
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/data.qcow2'/>"
                "<target dev='xvdb' bus='xen'/><readonly/></disk>"
                "<interface type='ethernet'><mac address='00:16:3e:00:00:01'/><script path='vif-route'/></interface>"
                "<graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1'/>"
                "<console type='pty'><target type='xen' port='0'/></console>"
                "<input type='keyboard' bus='xen'/><memballoon model='xen'/>");
        g_autoptr(JsonNode) j = config_json(xml, NULL);
        assert_str_at(j, "c_info/type", "pv");
        assert_str_at(j, "b_info/kernel", "/boot/vmlinuz");
        assert_str_at(j, "b_info/ramdisk", "/boot/initrd.img");
        assert_str_at(j, "b_info/cmdline", "console=hvc0 root=/dev/xvda1");
        assert_int_equal(int_at(j, "b_info/max_memkb"), 262144);
        assert_int_equal(int_at(j, "b_info/target_memkb"), 131072);
        assert_int_equal(int_at(j, "b_info/max_vcpus"), 2);
        /* one of two vCPUs online: a bitmap of vCPU numbers */
        JsonNode *avail = at(j, "b_info/avail_vcpus");
        assert_non_null(avail);
        assert_int_equal(json_array_get_length(json_node_get_array(avail)), 1);
        assert_int_equal(json_array_get_int_element(json_node_get_array(avail), 0), 0);
        assert_str_at(j, "disks/0/pdev_path", "/dev/vg/root");
        assert_str_at(j, "disks/0/backend", "phy");
        assert_str_at(j, "disks/1/backend", "qdisk");
        assert_str_at(j, "disks/1/format", "qcow2");
        assert_int_equal(int_at(j, "disks/1/readwrite"), -1); /* 0: left out */
        assert_str_at(j, "nics/0/script", "vif-route");
        assert_str_at(j, "nics/0/bridge", NULL);
        assert_str_at(j, "vfbs/0/vnc/listen", "127.0.0.1");
        assert_int_equal(int_at(j, "vfbs/0/vnc/display"), 1);
        assert_non_null(at(j, "vkbs/0"));
        assert_str_at(j, "on_poweroff", "preserve");
        assert_str_at(j, "on_crash", "coredump_destroy");
}

static void test_pvh(void **state) {
        g_autofree char *xml = domain("", "<type>xenpvh</type><kernel>/boot/vmlinuz</kernel><cmdline>console=hvc0</cmdline>",
                                      "<disk type='file' device='disk'><source file='/img/pvh.img'/>"
                                      "<target dev='xvda' bus='xen'/></disk>");
        g_autoptr(JsonNode) j = config_json(xml, NULL);
        assert_str_at(j, "c_info/type", "pvh");
        assert_str_at(j, "b_info/kernel", "/boot/vmlinuz");
        assert_str_at(j, "b_info/cmdline", "console=hvc0");
        assert_str_at(j, "disks/0/vdev", "xvda");
}

/* ---- HVM ---- */

static void test_hvm(void **state) {
        g_autofree char *xml = domain(
                "  <features><acpi/><apic/><pae/></features>\n  <clock offset='localtime'/>\n",
                "<type arch='x86_64' machine='xenfv'>hvm</type><boot dev='cdrom'/><boot dev='hd'/>"
                "<boot dev='network'/>",
                "<emulator>/usr/lib/xen-4.17/bin/qemu-system-i386</emulator>"
                "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/img/hvm.img'/>"
                "<target dev='hda' bus='ide'/></disk>"
                "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='hdc' bus='ide'/>"
                "<readonly/></disk>"
                "<interface type='bridge'><source bridge='xenbr0'/><mac address='00:16:3e:00:00:02'/>"
                "<model type='e1000'/></interface>"
                "<interface type='bridge'><source bridge='xenbr1'/></interface>"
                "<graphics type='vnc' autoport='yes'/>"
                "<serial type='pty'><target port='0'/></serial>"
                "<console type='pty'><target type='serial' port='0'/></console>"
                "<input type='tablet' bus='usb'/><video><model type='cirrus'/></video>");
        g_autoptr(JsonNode) j = config_json(xml, NULL);
        assert_str_at(j, "c_info/type", "hvm");
        assert_str_at(j, "b_info/type.hvm/boot", "dcn");
        assert_str_at(j, "b_info/type.hvm/acpi", NULL); /* b_info/acpi, the non-deprecated one */
        assert_str_at(j, "b_info/localtime", "True");
        assert_str_at(j, "b_info/type.hvm/pae", "True");
        assert_str_at(j, "b_info/type.hvm/vnc/enable", "True");
        assert_str_at(j, "b_info/type.hvm/vnc/findunused", "True");
        assert_str_at(j, "b_info/type.hvm/nographic", "False");
        assert_str_at(j, "b_info/type.hvm/serial", "pty");
        assert_str_at(j, "b_info/type.hvm/usbdevice", "tablet");
        assert_str_at(j, "b_info/type.hvm/vga/kind", "cirrus");
        assert_str_at(j, "disks/0/vdev", "hda");
        assert_str_at(j, "disks/1/vdev", "hdc");
        assert_int_equal(int_at(j, "disks/1/is_cdrom"), 1);
        assert_str_at(j, "disks/1/format", "empty");
        assert_str_at(j, "nics/0/nictype", "vif_ioemu");
        assert_str_at(j, "nics/0/model", "e1000");
        assert_str_at(j, "nics/1/nictype", "vif");
        assert_int_equal(int_at(j, "nics/1/devid"), 1);
}

static void test_hvm_without_graphics_has_no_vnc(void **state) {
        g_autofree char *xml = domain("", "<type>hvm</type>", "");
        g_autoptr(JsonNode) j = config_json(xml, NULL);
        assert_str_at(j, "b_info/type.hvm/vnc/enable", "False");
        assert_str_at(j, "b_info/type.hvm/nographic", "True");
}

/* ---- refusals ---- */

static void test_errors(void **state) {
        const char *pv = "<type>xen</type><kernel>/k</kernel>";
        g_autofree char *kvm = g_strdup("<domain type='kvm'><name>k</name><memory>1024</memory>"
                                        "<os><type>hvm</type></os></domain>");
        assert_refused(kvm, DOMAIND_ERROR_INVALID_XML, "<domain type='kvm'>");

        g_autofree char *hostdev = domain("", pv, "<hostdev mode='subsystem' type='pci'/>");
        assert_refused(hostdev, DOMAIND_ERROR_NOT_SUPPORTED, "<devices><hostdev>");
        g_autofree char *network = domain("", pv, "<interface type='network'><source network='default'/></interface>");
        assert_refused(network, DOMAIND_ERROR_NOT_SUPPORTED, "<interface type='network'>");
        g_autofree char *hvm_bootloader = domain("<bootloader>/usr/bin/pygrub</bootloader>", "<type>hvm</type>", "");
        assert_refused(hvm_bootloader, DOMAIND_ERROR_NOT_SUPPORTED, "<bootloader>");
        g_autofree char *no_kernel = domain("", "<type>xen</type>", "");
        assert_refused(no_kernel, DOMAIND_ERROR_INVALID_XML, "<kernel> or a <bootloader>");
        g_autofree char *pv_cdrom = domain("", pv, "<disk type='file' device='cdrom'><target dev='xvdc'/></disk>");
        assert_refused(pv_cdrom, DOMAIND_ERROR_NOT_SUPPORTED, "<disk device='cdrom'>");
        g_autofree char *spice = domain("", pv, "<graphics type='spice'/>");
        assert_refused(spice, DOMAIND_ERROR_NOT_SUPPORTED, "<graphics type='spice'>");
        g_autofree char *net_disk = domain("", pv, "<disk type='network' device='disk'><target dev='xvda'/></disk>");
        assert_refused(net_disk, DOMAIND_ERROR_NOT_SUPPORTED, "<disk type='network'>");
        g_autofree char *exe = domain("", "<type>exe</type>", "");
        assert_refused(exe, DOMAIND_ERROR_NOT_SUPPORTED, "<os><type>exe</type>");
        g_autofree char *pv_boot = domain("", "<type>xen</type><kernel>/k</kernel><boot dev='network'/>", "");
        assert_refused(pv_boot, DOMAIND_ERROR_NOT_SUPPORTED, "<os><boot dev='network'>");
        g_autofree char *loader = domain("", "<type>hvm</type><loader>/usr/share/OVMF/OVMF_CODE.fd</loader>", "");
        assert_refused(loader, DOMAIND_ERROR_NOT_SUPPORTED, "<os><loader>");
        g_autofree char *pv_model = domain("", pv, "<interface type='bridge'><source bridge='b'/><model type='e1000'/></interface>");
        assert_refused(pv_model, DOMAIND_ERROR_NOT_SUPPORTED, "<model type='e1000'>");
        g_autofree char *bad_mac = domain("", pv, "<interface type='bridge'><source bridge='b'/><mac address='zz'/></interface>");
        assert_refused(bad_mac, DOMAIND_ERROR_INVALID_XML, "<mac address='zz'>");
        g_autofree char *no_target = domain("", pv, "<disk type='file'><source file='/x'/></disk>");
        assert_refused(no_target, DOMAIND_ERROR_INVALID_XML, "<target dev>");
        g_autofree char *iothreads = domain("<iothreads>2</iothreads>", pv, "");
        assert_refused(iothreads, DOMAIND_ERROR_NOT_SUPPORTED, "<iothreads>");
        g_autofree char *timezone = domain("<clock offset='timezone' timezone='Europe/Paris'/>", pv, "");
        assert_refused(timezone, DOMAIND_ERROR_NOT_SUPPORTED, "<clock offset='timezone'>");
        assert_refused("<notadomain/>", DOMAIND_ERROR_INVALID_XML, "<domain>");
}

/* ---- pygrub on real ext4 images ---- */

#define PYGRUB "/usr/lib/xen-4.17/bin/pygrub"

typedef struct BootResult {
        bool done;
        char *error, *kernel, *ramdisk, *cmdline;
} BootResult;

static void on_boot(void *userdata, const char *error, const char *kernel, const char *ramdisk, const char *cmdline) {
        BootResult *r = userdata;
        r->done = true;
        r->error = g_strdup(error);
        r->kernel = g_strdup(kernel);
        r->ramdisk = g_strdup(ramdisk);
        r->cmdline = g_strdup(cmdline);
}

static void boot_result_clear(BootResult *r) {
        g_free(r->error);
        g_free(r->kernel);
        g_free(r->ramdisk);
        g_free(r->cmdline);
}

static void run_pygrub(const char *disk, const char *dir, BootResult *r) {
        sd_event *e = NULL;
        assert_int_equal(sd_event_new(&e), 0);
        g_autofree char *error = NULL;
        Pygrub *b = pygrub_run(e, PYGRUB, NULL, disk, dir, on_boot, r, &error);
        if (!b)
                fail_msg("cannot run pygrub: %s", error);
        for (int i = 0; i < 3000 && !r->done; i++)
                assert_true(sd_event_run(e, 10 * 1000) >= 0);
        assert_true(r->done);
        sd_event_unref(e);
}

static bool have(const char *path) {
        return access(path, X_OK) == 0;
}

static void write_file(const char *path, const char *text) {
        assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* A fresh image: grub.cfg picks the second entry; kernel and initrd are
 * small marker files (pygrub copies, it does not boot). */
static void test_pygrub_made_image(void **state) {
        if (!have(PYGRUB) || !have("/usr/sbin/mke2fs"))
                skip();
        g_autofree char *tmp = g_dir_make_tmp("xen-pygrub-XXXXXX", NULL);
        g_autofree char *root = g_build_filename(tmp, "root", NULL);
        g_autofree char *grub = g_build_filename(root, "boot", "grub", NULL);
        assert_int_equal(g_mkdir_with_parents(grub, 0755), 0);
        g_autofree char *cfg = g_build_filename(grub, "grub.cfg", NULL);
        write_file(cfg, "set default=1\nset timeout=0\n"
                        "menuentry 'old' {\n\tlinux /boot/vmlinuz-old root=/dev/xvda1\n\tinitrd /boot/initrd-old\n}\n"
                        "menuentry 'new' {\n\tlinux /boot/vmlinuz-new root=/dev/xvda1 console=hvc0\n"
                        "\tinitrd /boot/initrd-new\n}\n");
        const char *files[][2] = { { "vmlinuz-old", "OLD KERNEL" }, { "initrd-old", "OLD INITRD" },
                                   { "vmlinuz-new", "NEW KERNEL" }, { "initrd-new", "NEW INITRD" } };
        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *p = g_build_filename(root, "boot", files[i][0], NULL);
                write_file(p, files[i][1]);
        }
        g_autofree char *image = g_build_filename(tmp, "disk.ext4", NULL);
        g_autofree char *cmd = g_strdup_printf("mke2fs -q -t ext4 -d '%s' -F '%s' 16M", root, image);
        int status = 0;
        assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
        assert_int_equal(status, 0);

        g_autofree char *out = g_build_filename(tmp, "out", NULL);
        BootResult r = { 0 };
        run_pygrub(image, out, &r);
        if (r.error)
                fail_msg("pygrub: %s", r.error);
        g_autofree char *kernel = NULL, *initrd = NULL;
        assert_true(g_str_has_prefix(r.kernel, out));
        assert_true(g_file_get_contents(r.kernel, &kernel, NULL, NULL));
        assert_string_equal(kernel, "NEW KERNEL");
        assert_true(g_file_get_contents(r.ramdisk, &initrd, NULL, NULL));
        assert_string_equal(initrd, "NEW INITRD");
        assert_string_equal(r.cmdline, "root=/dev/xvda1 console=hvc0");

        /* and that is what the domain boots */
        g_autofree char *xml = read_data("xen-pv-pygrub.xml");
        XenBoot boot = { .kernel = r.kernel, .ramdisk = r.ramdisk, .cmdline = r.cmdline };
        g_autoptr(JsonNode) j = config_json(xml, &boot);
        assert_str_at(j, "b_info/kernel", r.kernel);
        assert_str_at(j, "b_info/cmdline", "root=/dev/xvda1 console=hvc0");
        boot_result_clear(&r);
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmp);
        g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
}

/* tests/images/build's pygrub.ext4 (the kvm tests' image), when there */
static void test_pygrub_test_image(void **state) {
        const char *dir = getenv("DOMAIND_TEST_IMAGES");
        g_autofree char *image = dir ? g_build_filename(dir, "pygrub.ext4", NULL) : NULL;
        if (!have(PYGRUB) || !image || access(image, R_OK) < 0)
                skip();
        g_autofree char *out = g_dir_make_tmp("xen-pygrub-out-XXXXXX", NULL);
        BootResult r = { 0 };
        run_pygrub(image, out, &r);
        if (r.error)
                fail_msg("pygrub: %s", r.error);
        assert_string_equal(r.cmdline, "console=ttyS0 panic=-1");
        assert_non_null(r.ramdisk);
        unlink(r.kernel);
        unlink(r.ramdisk);
        rmdir(out);
        boot_result_clear(&r);
}

static void test_pygrub_failure(void **state) {
        if (!have(PYGRUB))
                skip();
        g_autofree char *out = g_dir_make_tmp("xen-pygrub-out-XXXXXX", NULL);
        BootResult r = { 0 };
        run_pygrub("/nonexistent/disk.img", out, &r);
        assert_non_null(r.error);
        /* pygrub's own last words */
        if (!strstr(r.error, "No such file or directory"))
                fail_msg("unexpected error: %s", r.error);
        assert_null(r.kernel);
        rmdir(out);
        boot_result_clear(&r);
}

/* ---- libxl's fd hooks (xen-event.c) without a libxl ctx ---- */

/* what xen-event.c refers to outside itself */
void xen_on_domain_shutdown(XenGuest *g, int reason) {
}

void xen_on_domain_death(XenGuest *g) {
}

/* libxl's side, interposed: which registrations libxl heard of */
static struct {
        unsigned seen; /* bit per registration (its for_libxl is a bit number) */
        short revents;
} occurred;

void libxl_osevent_occurred_fd(libxl_ctx *ctx, void *for_libxl, int fd, short events, short revents) {
        occurred.seen |= 1u << GPOINTER_TO_UINT(for_libxl);
        occurred.revents = revents;
}

static void quiet_log(int priority, const char *format, ...) {
}

typedef struct HookFixture {
        DomaindHost host;
        XenHv hv;
} HookFixture;

static void hook_fixture_init(HookFixture *fx) {
        *fx = (HookFixture){ .host = { .abi_version = DOMAIND_PLUGIN_ABI_VERSION, .log = quiet_log } };
        assert_int_equal(sd_event_new(&fx->host.event), 0);
        fx->hv.host = &fx->host;
}

static unsigned run_loop(HookFixture *fx) {
        occurred.seen = 0;
        occurred.revents = 0;
        for (int i = 0; i < 10; i++)
                assert_true(sd_event_run(fx->host.event, 0) >= 0);
        return occurred.seen;
}

/* The save/restore image is a regular file, which epoll refuses (EPERM):
 * it is always ready, as poll() says, while libxl wants events */
static void test_fd_hook_regular_file(void **state) {
        HookFixture fx;
        hook_fixture_init(&fx);
        char path[] = "/tmp/xen-fd-hook-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        void *reg = NULL;
        assert_int_equal(osevent_hooks.fd_register(&fx.hv, fd, &reg, POLLOUT, GUINT_TO_POINTER(1)), 0);
        assert_int_equal(run_loop(&fx), 1u << 1);
        assert_int_equal(occurred.revents, POLLOUT);
        assert_int_equal(osevent_hooks.fd_modify(&fx.hv, fd, &reg, 0), 0);
        assert_int_equal(run_loop(&fx), 0);
        assert_int_equal(osevent_hooks.fd_modify(&fx.hv, fd, &reg, POLLIN), 0);
        assert_int_equal(run_loop(&fx), 1u << 1);
        assert_int_equal(occurred.revents, POLLIN);
        osevent_hooks.fd_deregister(&fx.hv, fd, reg);
        assert_int_equal(run_loop(&fx), 0);
        close(fd);
        sd_event_unref(fx.host.event);
}

/* A registration turned off leaves epoll; libxl registering the same fd
 * meanwhile must not make turning the first on again fail (EEXIST) */
static void test_fd_hook_reenable_same_fd(void **state) {
        HookFixture fx;
        hook_fixture_init(&fx);
        int p[2];
        assert_int_equal(pipe(p), 0);
        void *first = NULL, *second = NULL;
        assert_int_equal(osevent_hooks.fd_register(&fx.hv, p[0], &first, POLLIN, GUINT_TO_POINTER(1)), 0);
        assert_int_equal(osevent_hooks.fd_modify(&fx.hv, p[0], &first, 0), 0);
        assert_int_equal(osevent_hooks.fd_register(&fx.hv, p[0], &second, POLLIN, GUINT_TO_POINTER(2)), 0);
        assert_int_equal(osevent_hooks.fd_modify(&fx.hv, p[0], &first, POLLIN), 0);
        assert_int_equal(run_loop(&fx), 0);
        assert_int_equal(write(p[1], "x", 1), 1);
        assert_int_equal(run_loop(&fx), (1u << 1) | (1u << 2));
        assert_int_equal(occurred.revents, POLLIN);
        osevent_hooks.fd_deregister(&fx.hv, p[0], first);
        osevent_hooks.fd_deregister(&fx.hv, p[0], second);
        close(p[0]);
        close(p[1]);
        sd_event_unref(fx.host.event);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pv_pygrub),
                cmocka_unit_test(test_pv_pygrub_without_boot),
                cmocka_unit_test(test_bootloader_source),
                cmocka_unit_test(test_pv_direct_kernel),
                cmocka_unit_test(test_pvh),
                cmocka_unit_test(test_hvm),
                cmocka_unit_test(test_hvm_without_graphics_has_no_vnc),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_pygrub_made_image),
                cmocka_unit_test(test_pygrub_test_image),
                cmocka_unit_test(test_pygrub_failure),
                cmocka_unit_test(test_fd_hook_regular_file),
                cmocka_unit_test(test_fd_hook_reenable_same_fd),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
