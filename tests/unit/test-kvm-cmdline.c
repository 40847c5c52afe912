/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for plugins/kvm/kvm-cmdline.c: argv from domain XML, checked
 * element by element, plus runs of the real qemu-system-x86_64 (skipped
 * when it is not installed) proving QEMU accepts what is generated. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "../../plugins/kvm/kvm-cmdline.h"
#include "domain-xml.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must point at tests/data"
#endif

#define UUID "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
#define HEAD "<name>t</name><uuid>" UUID "</uuid><memory unit='KiB'>131072</memory>"
#define DOM(body) "<domain type='kvm'>" HEAD body "</domain>"
#define DEVICES(body) DOM("<devices>" body "</devices>")
#define Q35(body) "<domain type='kvm'>" HEAD "<os><type machine='q35'>hvm</type></os><devices>" body "</devices></domain>"
#define DISK(attrs, body) DEVICES("<disk " attrs ">" body "</disk>")

static const KvmLaunch base_launch = {
        .emulator = "/usr/bin/qemu-system-x86_64",
        .accel = "tcg",
        .qmp_socket = "/run/domaind/kvm/t/qmp.sock",
        .runtime_dir = "/run/domaind/kvm/t",
};

/* ---- helpers --------------------------------------------------------------- */

static char *joined(char **argv) {
        return g_strjoinv(" ", argv);
}

static char **build_with(const char *xml, const KvmLaunch *launch, bool check_files) {
        g_autoptr(GError) error = NULL;
        char **argv = kvm_build_argv(xml, launch, check_files, &error);

        if (!argv)
                fail_msg("kvm_build_argv failed: %s\nXML: %s", error->message, xml);
        assert_null(error);
        return argv;
}

static char **build(const char *xml) {
        return build_with(xml, &base_launch, false);
}

static void check_error_with(const char *xml, const KvmLaunch *launch, bool check_files, int code,
                             const char *expected) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = kvm_build_argv(xml, launch, check_files, &error);

        if (argv) {
                g_autofree char *s = joined(argv);
                fail_msg("accepted, expected '%s'\nXML: %s\nargv: %s", expected, xml, s);
        }
        assert_non_null(error);
        if (!g_error_matches(error, KVM_CMDLINE_ERROR, code))
                fail_msg("error '%s' has code %d, expected %d", error->message, error->code, code);
        if (!strstr(error->message, expected))
                fail_msg("message '%s' lacks '%s'\nXML: %s", error->message, expected, xml);
}

static void check_invalid(const char *xml, const char *expected) {
        check_error_with(xml, &base_launch, false, KVM_CMDLINE_ERROR_INVALID, expected);
}

static ssize_t find(char **argv, const char *s) {
        for (ssize_t i = 0; argv[i]; i++)
                if (strcmp(argv[i], s) == 0)
                        return i;
        return -1;
}

/* `option` immediately followed by `value`, somewhere; returns the position */
static ssize_t find_pair(char **argv, const char *option, const char *value) {
        for (ssize_t i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], option) == 0 && strcmp(argv[i + 1], value) == 0)
                        return i;
        return -1;
}

static ssize_t assert_pair(char **argv, const char *option, const char *value) {
        ssize_t i = find_pair(argv, option, value);

        if (i < 0) {
                g_autofree char *s = joined(argv);
                fail_msg("'%s' '%s' not in argv: %s", option, value, s);
        }
        return i;
}

static void assert_no_pair(char **argv, const char *option, const char *value) {
        if (find_pair(argv, option, value) >= 0) {
                g_autofree char *s = joined(argv);
                fail_msg("'%s' '%s' unexpectedly in argv: %s", option, value, s);
        }
}

static void assert_has(char **argv, const char *s) {
        if (find(argv, s) < 0) {
                g_autofree char *j = joined(argv);
                fail_msg("'%s' not in argv: %s", s, j);
        }
}

static void assert_lacks(char **argv, const char *s) {
        if (find(argv, s) >= 0) {
                g_autofree char *j = joined(argv);
                fail_msg("'%s' unexpectedly in argv: %s", s, j);
        }
}

/* number of `option` arguments whose value starts with `prefix` */
static unsigned count_opt(char **argv, const char *option, const char *prefix) {
        unsigned n = 0;

        for (size_t i = 0; argv[i] && argv[i + 1]; i++)
                if (strcmp(argv[i], option) == 0 && g_str_has_prefix(argv[i + 1], prefix))
                        n++;
        return n;
}

static unsigned count_arg(char **argv, const char *s) {
        unsigned n = 0;

        for (size_t i = 0; argv[i]; i++)
                if (strcmp(argv[i], s) == 0)
                        n++;
        return n;
}

/* no argument anywhere contains `needle` */
static void assert_nowhere(char **argv, const char *needle) {
        for (size_t i = 0; argv[i]; i++)
                if (strstr(argv[i], needle)) {
                        g_autofree char *j = joined(argv);
                        fail_msg("'%s' unexpectedly in argv: %s", needle, j);
                }
}

static char *read_sample(const char *name) {
        g_autofree char *path = g_build_filename(TEST_DATA_DIR, name, NULL);
        g_autoptr(GError) error = NULL;
        char *contents = NULL;

        if (!g_file_get_contents(path, &contents, NULL, &error))
                fail_msg("cannot read %s: %s", path, error->message);
        return contents;
}

/* what the core hands the plugin: the normalized XML */
static char *normalized(const char *xml) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DomainDef) def = domain_def_parse(xml, &error);

        if (!def)
                fail_msg("domain_def_parse: %s", error->message);
        return g_strdup(def->xml);
}

/* ---- machine-wide options ------------------------------------------------- */

static void test_basics(void **state) {
        g_auto(GStrv) argv = build(DOM(""));

        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_pair(argv, "-name", "guest=t,debug-threads=on");
        assert_pair(argv, "-uuid", UUID);
        assert_has(argv, "-S");
        assert_has(argv, "-no-user-config");
        assert_has(argv, "-nodefaults");
        assert_has(argv, "-no-shutdown");
        assert_pair(argv, "-display", "none");
        assert_pair(argv, "-machine", "pc,accel=tcg,acpi=off");
        assert_pair(argv, "-cpu", "qemu64");
        assert_pair(argv, "-m", "size=131072k");
        assert_pair(argv, "-smp", "1");
        assert_pair(argv, "-device", "pvpanic");
        assert_pair(argv, "-rtc", "base=utc");
        assert_pair(argv, "-boot", "menu=off");
        assert_pair(argv, "-msg", "timestamp=on");
        assert_pair(argv, "-chardev", "socket,id=charmonitor,path=/run/domaind/kvm/t/qmp.sock,server=on,wait=off");
        assert_pair(argv, "-mon", "chardev=charmonitor,id=monitor,mode=control");
        assert_lacks(argv, "-incoming");
        assert_lacks(argv, "-kernel");
        assert_lacks(argv, "-vnc");
        assert_lacks(argv, "-audiodev");
        assert_no_pair(argv, "-cpu", "max");
        assert_nowhere(argv, "max");
        assert_nowhere(argv, "bootindex");
        /* the default devices QEMU would add are all off */
        assert_int_equal(count_opt(argv, "-device", ""), 1);
}

static void test_emulator_and_launch(void **state) {
        KvmLaunch l = base_launch;
        g_auto(GStrv) a = build(DEVICES("<emulator> /opt/qemu/bin/qemu-system-x86_64 </emulator>"));
        g_auto(GStrv) b = NULL, c = NULL;

        assert_string_equal(a[0], "/opt/qemu/bin/qemu-system-x86_64");

        l.incoming = true;
        l.qmp_socket = NULL;
        b = build_with(DOM(""), &l, false);
        assert_pair(b, "-incoming", "defer");
        assert_string_equal(b[g_strv_length(b) - 1], "defer");
        assert_lacks(b, "-mon");

        l.emulator = NULL;
        check_error_with(DOM(""), &l, false, KVM_CMDLINE_ERROR_INVALID, "<devices><emulator>");

        l = base_launch;
        l.accel = "kvm";
        c = build_with(DOM(""), &l, false);
        assert_pair(c, "-machine", "pc,accel=kvm,acpi=off");
        /* no <cpu>: QEMU's default model, also under KVM ("host" aborts on a software-only KVM) */
        assert_pair(c, "-cpu", "qemu64");
        l.accel = "hvf";
        check_error_with(DOM(""), &l, false, KVM_CMDLINE_ERROR_INVALID, "accelerator 'hvf'");
}

static void test_machine(void **state) {
        g_auto(GStrv) a = build(DOM("<os><type arch='x86_64' machine='q35'>hvm</type></os>"
                                    "<features><acpi/><apic/></features>"));
        g_auto(GStrv) b = build(DOM("<os><type machine='pc-i440fx-7.2'>hvm</type></os><features><acpi/></features>"));
        g_auto(GStrv) c = build("<domain type='kvm'><name>t</name><uuid>" UUID "</uuid>"
                                "<memory unit='KiB' dumpCore='off'>1024</memory>"
                                "<os><type machine='pc-q35-7.2'>hvm</type></os></domain>");

        assert_pair(a, "-machine", "q35,accel=tcg");
        assert_pair(b, "-machine", "pc-i440fx-7.2,accel=tcg");
        assert_pair(c, "-machine", "pc-q35-7.2,accel=tcg,acpi=off,dump-guest-core=off");

        check_invalid(DOM("<os><type machine='microvm'>hvm</type></os>"), "<os><type machine='microvm'>");
        check_invalid(DOM("<os><type machine='pc,usb=on'>hvm</type></os>"), "<os><type machine='pc,usb=on'>");
        check_invalid(DOM("<os><type>xen</type></os>"), "<os><type>xen</type>");
        check_invalid(DOM("<os><type arch='aarch64'>hvm</type></os>"), "<os><type arch='aarch64'>");
}

static void test_cpu(void **state) {
        KvmLaunch kvm = base_launch;
        const char *passthrough = DOM("<cpu mode='host-passthrough'>"
                                      "<feature policy='disable' name='arch-capabilities'/>"
                                      "<feature policy='require' name='pdpe1gb'/>"
                                      "<feature policy='optional' name='x2apic'/></cpu>");
        const char *custom = DOM("<cpu mode='custom' match='exact'><model fallback='allow'>Nehalem</model>"
                                 "<feature policy='forbid' name='vmx'/></cpu>");
        g_auto(GStrv) a = NULL, b = NULL, c = NULL, d = NULL;

        kvm.accel = "kvm";
        a = build_with(passthrough, &kvm, false);
        assert_pair(a, "-cpu", "host,arch-capabilities=off,pdpe1gb=on");
        /* never "max", and host features mean nothing to TCG */
        b = build(passthrough);
        assert_pair(b, "-cpu", "qemu64");
        c = build(custom);
        assert_pair(c, "-cpu", "Nehalem,vmx=off");
        d = build_with(DOM("<cpu mode='host-model'/>"), &kvm, false);
        assert_pair(d, "-cpu", "host");

        check_invalid(DOM("<cpu mode='weird'/>"), "<cpu mode='weird'>");
        check_invalid(DOM("<cpu mode='custom'><model>a,b</model></cpu>"), "<cpu><model>a,b</model>");
        check_invalid(DOM("<cpu mode='custom'><model>qemu64</model><feature policy='x' name='y'/></cpu>"),
                      "<cpu><feature policy='x'>");
}

static void test_memory_vcpus(void **state) {
        g_auto(GStrv) a = build("<domain type='kvm'><name>t</name><uuid>" UUID "</uuid>"
                                "<memory unit='GiB'>2</memory><vcpu current='2'>4</vcpu></domain>");
        g_auto(GStrv) b = build(DOM("<vcpu>4</vcpu><cpu><topology sockets='1' dies='1' cores='2' threads='2'/></cpu>"));
        g_auto(GStrv) c = build("<domain type='kvm'><name>t</name><uuid>" UUID "</uuid>"
                                "<memory>524288</memory></domain>");

        assert_pair(a, "-m", "size=2097152k");
        assert_pair(a, "-smp", "2,maxcpus=4");
        assert_pair(b, "-smp", "4,sockets=1,dies=1,cores=2,threads=2");
        assert_pair(c, "-m", "size=524288k"); /* libvirt's default unit is KiB */

        check_invalid(DOM("<vcpu>many</vcpu>"), "<vcpu>many</vcpu>");
        check_invalid(DOM("<vcpu>4</vcpu><cpu><topology sockets='2' cores='4' threads='1'/></cpu>"),
                      "<cpu><topology>: 8 vCPUs in the topology, <vcpu> says 4");
        check_invalid(DOM("<vcpu>4</vcpu><cpu><topology sockets='0'/></cpu>"), "<cpu><topology sockets='0'>");
        check_invalid(DOM("<vcpu current='5'>4</vcpu>"), "<vcpu current='5'>");
        check_invalid("<domain type='kvm'><name>t</name><uuid>" UUID "</uuid><memory unit='parsec'>1</memory></domain>",
                      "<memory unit='parsec'>");
        check_invalid("<domain type='kvm'><name>t</name><uuid>" UUID "</uuid></domain>", "<domain>: missing <memory>");
}

static void test_clock(void **state) {
        g_auto(GStrv) a = build(DOM("<clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/>"
                                    "<timer name='pit' tickpolicy='delay'/></clock>"));
        g_auto(GStrv) b = build(DOM("<clock offset='utc'/>"));
        g_auto(GStrv) c = build(DOM("<clock offset='variable' adjustment='-86400' basis='utc'/>"));
        ssize_t i;

        assert_pair(a, "-rtc", "base=localtime,driftfix=slew");
        assert_pair(b, "-rtc", "base=utc");
        i = find(c, "-rtc");
        assert_true(i > 0);
        assert_true(g_regex_match_simple("^base=\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d$", c[i + 1], 0, 0));

        check_invalid(DOM("<clock offset='timezone' timezone='Europe/Paris'/>"), "<clock offset='timezone'>");
        check_invalid(DOM("<clock offset='variable' adjustment='soon'/>"), "<clock adjustment='soon'>");
}

/* ---- boot ------------------------------------------------------------------- */

#define BOOT_DEVICES \
        "<devices>" \
        "<disk type='file' device='disk'><source file='/i/hd.img'/><target dev='vda' bus='virtio'/></disk>" \
        "<disk type='file' device='cdrom'><source file='/i/cd.iso'/><target dev='hdc' bus='ide'/></disk>" \
        "<disk type='file' device='floppy'><source file='/i/fd.img'/><target dev='fda' bus='fdc'/></disk>" \
        "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>" \
        "</devices>"

static void test_boot_order(void **state) {
        g_auto(GStrv) a = build(DOM("<os><type>hvm</type><boot dev='cdrom'/><boot dev='hd'/><boot dev='network'/>"
                                    "<boot dev='fd'/></os>" BOOT_DEVICES));
        g_auto(GStrv) b = build(DOM("<os><type>hvm</type><boot dev='network'/></os>" BOOT_DEVICES));
        g_auto(GStrv) c = build("<domain type='kvm'>" HEAD
                                "<os><type machine='q35'>hvm</type><boot dev='fd'/><bootmenu enable='yes' timeout='3000'/></os>"
                                "<devices><disk device='floppy'><source file='/i/fd.img'/><target dev='fdb'/></disk></devices>"
                                "</domain>");
        g_auto(GStrv) d = build(DEVICES(
                "<disk type='file' device='disk'><source file='/i/hd.img'/><target dev='vda' bus='virtio'/><boot order='2'/></disk>"
                "<interface type='user'><mac address='52:54:00:00:00:01'/><boot order='1'/></interface>"));

        /* cdrom before hd, then the network, then the floppy */
        assert_pair(a, "-device", "ide-cd,bus=ide.1,unit=0,id=hdc,drive=drive-hdc,bootindex=1");
        assert_pair(a, "-device", "virtio-blk-pci,id=vda,drive=drive-vda,bootindex=2");
        assert_pair(a, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:00:00:01,bootindex=3");
        assert_pair(a, "-global", "isa-fdc.bootindexA=4");
        assert_pair(a, "-device", "floppy,unit=0,id=fda,drive=drive-fda");
        assert_pair(a, "-boot", "menu=off");

        assert_pair(b, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:00:00:01,bootindex=1");
        assert_pair(b, "-device", "virtio-blk-pci,id=vda,drive=drive-vda");
        assert_lacks(b, "-global");

        /* q35 has no built-in floppy controller */
        assert_pair(c, "-device", "isa-fdc,id=fdc0,bootindexB=1");
        assert_pair(c, "-device", "floppy,bus=fdc0.0,unit=1,id=fdb,drive=drive-fdb");
        assert_pair(c, "-boot", "menu=on,splash-time=3000");
        assert_true(find_pair(c, "-device", "isa-fdc,id=fdc0,bootindexB=1") <
                    find_pair(c, "-device", "floppy,bus=fdc0.0,unit=1,id=fdb,drive=drive-fdb"));

        /* per-device <boot order> */
        assert_pair(d, "-device", "virtio-blk-pci,id=vda,drive=drive-vda,bootindex=2");
        assert_pair(d, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:00:00:01,bootindex=1");

        check_invalid(DOM("<os><type>hvm</type><boot dev='usb'/></os>"), "<os><boot dev='usb'>");
        check_invalid(DOM("<os><type>hvm</type><boot dev='hd'/></os>"
                          "<devices><disk><source file='/i/a'/><target dev='vda'/><boot order='1'/></disk></devices>"),
                      "<os><boot dev='hd'>: cannot be combined with per-device <boot order>");
        check_invalid(DEVICES("<disk><source file='/i/a'/><target dev='vda'/><boot order='1'/></disk>"
                              "<disk><source file='/i/b'/><target dev='vdb'/><boot order='1'/></disk>"),
                      "<disk><boot order='1'>: used twice");
        check_invalid(DEVICES("<interface type='user'><boot order='first'/></interface>"),
                      "<interface><boot order='first'>");
}

static void test_kernel(void **state) {
        KvmLaunch l = base_launch;
        g_auto(GStrv) a = build(DOM("<os><type>hvm</type><kernel>/boot/a,b/vmlinuz</kernel><initrd>/boot/initrd,1</initrd>"
                                    "<cmdline>console=ttyS0,115200 root=/dev/vda1</cmdline></os>"));
        g_auto(GStrv) b = NULL;

        /* verbatim: QEMU does not split these */
        assert_pair(a, "-kernel", "/boot/a,b/vmlinuz");
        assert_pair(a, "-initrd", "/boot/initrd,1");
        assert_pair(a, "-append", "console=ttyS0,115200 root=/dev/vda1");

        /* what pygrub found replaces <os> */
        l.boot_kernel = "/run/g/vmlinuz-pygrub";
        l.boot_initrd = NULL;
        l.boot_cmdline = "root=/dev/xvda1";
        b = build_with(DOM("<os><type>hvm</type><kernel>/boot/k</kernel><initrd>/boot/i</initrd></os>"), &l, false);
        assert_pair(b, "-kernel", "/run/g/vmlinuz-pygrub");
        assert_pair(b, "-append", "root=/dev/xvda1");
        assert_lacks(b, "-initrd");
        assert_lacks(b, "/boot/k");

        check_invalid(DOM("<os><type>hvm</type><initrd>/boot/i</initrd></os>"), "<os><initrd>/boot/i</initrd>: needs");
        check_invalid(DOM("<os><type>hvm</type><cmdline>quiet</cmdline></os>"), "<os><cmdline>: needs");
}

/* ---- disks ------------------------------------------------------------------ */

static void test_disk_virtio(void **state) {
        g_auto(GStrv) a = build(DISK("type='file' device='disk'",
                                     "<driver name='qemu' type='qcow2' cache='none' discard='unmap'/>"
                                     "<source file='/var/lib/domaind/images/a.qcow2'/><target dev='vda' bus='virtio'/>"
                                     "<serial>SN,1</serial>"));
        g_auto(GStrv) b = build(DISK("type='block' device='disk'",
                                     "<source dev='/dev/vg0/data'/><target dev='vdb' bus='virtio'/><readonly/>"));
        g_auto(GStrv) c = build(DISK("type='file'", "<driver cache='writethrough'/><source file='/i/c'/>"
                                     "<target dev='vdc'/>"));
        ssize_t file, fmt, dev;

        file = assert_pair(a, "-blockdev", "driver=file,node-name=file-vda,filename=/var/lib/domaind/images/a.qcow2,"
                                           "cache.direct=on,discard=unmap");
        fmt = assert_pair(a, "-blockdev", "driver=qcow2,node-name=drive-vda,file=file-vda,cache.direct=on,discard=unmap");
        dev = assert_pair(a, "-device", "virtio-blk-pci,id=vda,drive=drive-vda,serial=SN,,1");
        assert_true(file < fmt && fmt < dev);

        assert_pair(b, "-blockdev", "driver=host_device,node-name=file-vdb,filename=/dev/vg0/data,read-only=on");
        assert_pair(b, "-blockdev", "driver=raw,node-name=drive-vdb,file=file-vdb,read-only=on");
        assert_pair(b, "-device", "virtio-blk-pci,id=vdb,drive=drive-vdb");

        /* bus from the name; writethrough is the guest-visible write cache */
        assert_pair(c, "-device", "virtio-blk-pci,id=vdc,drive=drive-vdc,write-cache=off");

        check_invalid(DISK("device='cdrom'", "<source file='/i/x.iso'/><target dev='vdd' bus='virtio'/>"),
                      "<disk device='cdrom'><target dev='vdd' bus='virtio'>: a virtio disk cannot be a cdrom");
        check_invalid(DISK("", "<driver type='vmdk'/><source file='/i/x'/><target dev='vda'/>"),
                      "<disk><driver type='vmdk'>");
        check_invalid(DISK("", "<driver cache='sometimes'/><source file='/i/x'/><target dev='vda'/>"),
                      "<disk><driver cache='sometimes'>");
        check_invalid(DISK("type='network'", "<source protocol='nbd'/><target dev='vda'/>"), "<disk type='network'>");
        check_invalid(DISK("device='lun'", "<source dev='/dev/sda'/><target dev='sda'/>"), "<disk device='lun'>");
        check_invalid(DISK("", "<target dev='vda'/>"), "a disk needs a <source file=...>");
}

static void test_disk_buses(void **state) {
        g_auto(GStrv) ide = build(DEVICES(
                "<disk><source file='/i/a'/><target dev='hda' bus='ide'/></disk>"
                "<disk><source file='/i/b'/><target dev='hdb' bus='ide'/></disk>"
                "<disk device='cdrom'><source file='/i/c.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>"
                "<disk device='cdrom'><target dev='hdd' bus='ide'/></disk>"));
        g_auto(GStrv) sata = build(DEVICES(
                "<disk><source file='/i/a'/><target dev='sda' bus='sata'/></disk>"
                "<disk device='cdrom'><target dev='sdb' bus='sata'/></disk>"));
        g_auto(GStrv) sata_q35 = build(Q35("<disk><source file='/i/a'/><target dev='sda' bus='sata'/></disk>"
                                           "<disk device='cdrom'><target dev='sdf' bus='sata'/></disk>"));
        g_auto(GStrv) scsi = build(DEVICES(
                "<disk type='block'><source dev='/dev/sdz'/><target dev='sdc' bus='scsi'/></disk>"
                "<disk device='cdrom'><source file='/i/c.iso'/><target dev='sdd' bus='scsi'/></disk>"
                "<disk><source file='/i/b'/><target dev='sde'/></disk>"));
        g_auto(GStrv) usb = build(DEVICES("<disk><source file='/i/u'/><target dev='sda' bus='usb'/></disk>"
                                          "<input type='tablet' bus='usb'/>"));

        assert_pair(ide, "-device", "ide-hd,bus=ide.0,unit=0,id=hda,drive=drive-hda");
        assert_pair(ide, "-device", "ide-hd,bus=ide.0,unit=1,id=hdb,drive=drive-hdb");
        assert_pair(ide, "-device", "ide-cd,bus=ide.1,unit=0,id=hdc,drive=drive-hdc");
        assert_pair(ide, "-blockdev", "driver=file,node-name=file-hdc,filename=/i/c.iso,read-only=on");
        /* an empty drive: no -blockdev at all */
        assert_pair(ide, "-device", "ide-cd,bus=ide.1,unit=1,id=hdd");
        assert_int_equal(count_opt(ide, "-blockdev", ""), 6);
        assert_nowhere(ide, "ahci");

        assert_int_equal(count_opt(sata, "-device", "ich9-ahci"), 1);
        assert_true(find_pair(sata, "-device", "ich9-ahci,id=sata0") <
                    find_pair(sata, "-device", "ide-hd,bus=sata0.0,id=sda,drive=drive-sda"));
        assert_pair(sata, "-device", "ide-cd,bus=sata0.1,id=sdb");

        /* q35's own AHCI */
        assert_pair(sata_q35, "-device", "ide-hd,bus=ide.0,id=sda,drive=drive-sda");
        assert_pair(sata_q35, "-device", "ide-cd,bus=ide.5,id=sdf");
        assert_nowhere(sata_q35, "ich9-ahci");

        assert_int_equal(count_opt(scsi, "-device", "virtio-scsi-pci"), 1);
        assert_pair(scsi, "-device", "virtio-scsi-pci,id=scsi0");
        assert_pair(scsi, "-device", "scsi-hd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,id=sdc,drive=drive-sdc");
        assert_pair(scsi, "-device", "scsi-cd,bus=scsi0.0,channel=0,scsi-id=3,lun=0,id=sdd,drive=drive-sdd");
        assert_pair(scsi, "-device", "scsi-hd,bus=scsi0.0,channel=0,scsi-id=4,lun=0,id=sde,drive=drive-sde");
        assert_true(find_pair(scsi, "-device", "virtio-scsi-pci,id=scsi0") < find(scsi, "-blockdev"));

        assert_int_equal(count_opt(usb, "-device", "qemu-xhci"), 1);
        assert_pair(usb, "-device", "usb-storage,bus=usb.0,id=sda,drive=drive-sda");
        assert_pair(usb, "-device", "usb-tablet,bus=usb.0,id=input0");

        check_invalid(DISK("", "<source file='/i/a'/><target dev='sda' bus='foo'/>"),
                      "<disk><target bus='foo'>: unknown bus");
        check_invalid(DISK("", "<source file='/i/a'/><target dev='xvda'/>"), "<disk><target bus='xen'>: unknown bus");
        check_invalid(DISK("", "<source file='/i/a'/><target dev='disk0' bus='virtio'/>"),
                      "<disk><target dev='disk0'>: not a disk name");
        check_invalid(Q35("<disk><source file='/i/a'/><target dev='hda' bus='ide'/></disk>"), "q35 has no IDE bus");
        check_invalid(DISK("", "<source file='/i/a'/><target dev='hde' bus='ide'/>"), "IDE has hda to hdd only");
        check_invalid(DISK("", "<source file='/i/a'/><target dev='sdg' bus='sata'/>"), "SATA has 6 ports");
        check_invalid(DISK("", "<source file='/i/a'/><target dev='hda' bus='ide'/><readonly/>"),
                      "IDE and SATA hard disks cannot be read-only");
        check_invalid(DEVICES("<disk><source file='/i/a'/><target dev='sda' bus='sata'/></disk>"
                              "<disk><source file='/i/b'/><target dev='hda' bus='sata'/></disk>"),
                      "<disk><target dev='hda'>: a second disk on the same sata unit");
        check_invalid(DISK("device='cdrom'", "<target dev='sda' bus='usb'/>"), "a USB cdrom needs a <source>");
        check_invalid(DISK("device='floppy'", "<source file='/i/f'/><target dev='fdc' bus='fdc'/>"),
                      "two floppy drives, fda and fdb");
        check_invalid(DISK("device='floppy'", "<source file='/i/f'/><target dev='sda' bus='scsi'/>"),
                      "a floppy goes on bus='fdc'");
        check_invalid(DISK("", "<source file='/i/f'/><target dev='fda' bus='fdc'/>"), "only floppies go on bus='fdc'");
}

/* check_files: every file the guest needs is there */
static void test_missing_files(void **state) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("kvm-cmdline-XXXXXX", &error);
        g_autofree char *disk = g_build_filename(dir, "disk,1.img", NULL);
        g_autofree char *ro = g_build_filename(dir, "ro.iso", NULL);
        g_autofree char *xml = NULL, *xml_ro = NULL, *xml_block = NULL, *xml_dir = NULL, *xml_tftp = NULL;
        g_auto(GStrv) a = NULL, b = NULL;
        KvmLaunch l = base_launch;

        assert_non_null(dir);
        assert_true(g_file_set_contents(disk, "", 0, NULL));
        assert_true(g_file_set_contents(ro, "", 0, NULL));

        xml = g_strdup_printf(DEVICES("<disk><source file='%s'/><target dev='vda'/></disk>"), disk);
        a = build_with(xml, &base_launch, true);
        g_free(xml);

        xml = g_strdup(DEVICES("<disk><source file='/nonexistent/x.img'/><target dev='vda'/></disk>"));
        check_error_with(xml, &base_launch, true, KVM_CMDLINE_ERROR_MISSING,
                         "<disk><source file='/nonexistent/x.img'>: No such file or directory");
        /* a validation pass does not look */
        b = build_with(xml, &base_launch, false);

        if (geteuid() != 0) {
                /* a read-only file is fine for a cdrom, not for a writable disk */
                assert_int_equal(chmod(ro, 0444), 0);
                xml_ro = g_strdup_printf(DEVICES("<disk><source file='%s'/><target dev='vda'/></disk>"), ro);
                check_error_with(xml_ro, &base_launch, true, KVM_CMDLINE_ERROR_MISSING, "Permission denied");
        }

        xml_block = g_strdup_printf(DEVICES("<disk type='block'><source dev='%s'/><target dev='vda'/></disk>"), disk);
        check_error_with(xml_block, &base_launch, true, KVM_CMDLINE_ERROR_INVALID, "not a block device");

        xml_dir = g_strdup_printf(DEVICES("<disk device='cdrom'><source file='%s'/><target dev='hdc'/></disk>"), dir);
        check_error_with(xml_dir, &base_launch, true, KVM_CMDLINE_ERROR_MISSING, "Is a directory");

        check_error_with(DOM("<os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel></os>"), &base_launch, true,
                         KVM_CMDLINE_ERROR_MISSING, "<os><kernel>/nonexistent/vmlinuz</kernel>: No such file");
        l.boot_kernel = disk;
        l.boot_initrd = "/nonexistent/initrd";
        check_error_with(DOM(""), &l, true, KVM_CMDLINE_ERROR_MISSING,
                         "<bootloader> initrd '/nonexistent/initrd': No such file");

        xml_tftp = g_strdup(DEVICES("<interface type='user'><domaind:tftp xmlns:domaind='https://domaind.org/xmlns/kvm' "
                                    "root='/nonexistent/tftp'/></interface>"));
        check_error_with(xml_tftp, &base_launch, true, KVM_CMDLINE_ERROR_MISSING,
                         "<interface><domaind:tftp root='/nonexistent/tftp'>: No such file");

        g_unlink(disk);
        g_unlink(ro);
        g_rmdir(dir);
}

/* ---- network ----------------------------------------------------------------- */

#define TFTP_NS "xmlns:domaind='https://domaind.org/xmlns/kvm'"

static void test_interfaces(void **state) {
        g_auto(GStrv) a = build(DEVICES(
                "<interface type='user'><mac address='52:54:00:ab:cd:ef'/></interface>"
                "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>"
                "<model type='e1000'/></interface>"
                "<interface type='bridge'><mac address='52:54:00:00:00:03'/><source bridge='br0'/>"
                "<model type='rtl8139'/></interface>"
                "<interface type='user'><mac address='52:54:00:00:00:04'/><model type='virtio'/>"
                "<domaind:tftp " TFTP_NS " root='/srv/tftp,x' bootfile='pxelinux.0'/></interface>"));

        assert_pair(a, "-netdev", "user,id=net0");
        assert_pair(a, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:ab:cd:ef");
        /* libvirt's 'default' network is user networking here */
        assert_pair(a, "-netdev", "user,id=net1");
        assert_pair(a, "-device", "e1000,id=nic1,netdev=net1,mac=52:54:00:12:34:56");
        assert_pair(a, "-netdev", "bridge,id=net2,br=br0");
        assert_pair(a, "-device", "rtl8139,id=nic2,netdev=net2,mac=52:54:00:00:00:03");
        assert_pair(a, "-netdev", "user,id=net3,tftp=/srv/tftp,,x,bootfile=pxelinux.0");
        assert_pair(a, "-device", "virtio-net-pci,id=nic3,netdev=net3,mac=52:54:00:00:00:04");
        assert_true(find_pair(a, "-netdev", "user,id=net0") <
                    find_pair(a, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:ab:cd:ef"));

        check_invalid(DEVICES("<interface type='network'><source network='lan'/></interface>"),
                      "<interface type='network'><source network='lan'>: domaind has no libvirt networks");
        check_invalid(DEVICES("<interface type='user'><model type='ne2k_isa'/></interface>"),
                      "<interface><model type='ne2k_isa'>: unknown model");
        check_invalid(DEVICES("<interface type='direct'><source dev='eth0'/></interface>"), "<interface type='direct'>");
        check_invalid(DEVICES("<interface type='bridge'><source/></interface>"), "missing bridge attribute");
        check_invalid(DEVICES("<interface type='bridge'><source bridge='br0'/>"
                              "<domaind:tftp " TFTP_NS " root='/srv'/></interface>"),
                      "<interface type='bridge'><domaind:tftp>");
        check_invalid(DEVICES("<interface type='user'><domaind:dhcp " TFTP_NS "/></interface>"),
                      "<interface><domaind:dhcp>");
        check_invalid(DEVICES("<interface type='user'><domaind:tftp " TFTP_NS "/></interface>"),
                      "<interface><domaind:tftp>: missing root");
}

/* ---- serial ports, consoles ---------------------------------------------------- */

static void test_serial(void **state) {
        KvmLaunch l = base_launch;
        g_auto(GStrv) a = NULL, b = NULL, c = NULL, d = NULL;

        l.console_log = "/var/log/domaind/t,console.log";
        a = build_with(DEVICES("<serial type='pty'><target port='0'/></serial>"
                               "<serial type='file'><source path='/var/log/t/ser,1.log'/><target port='1'/></serial>"
                               "<serial type='unix'><source mode='bind' path='/run/t/ser2.sock'/></serial>"
                               "<serial type='unix'/>"
                               "<console type='pty'><target type='serial' port='0'/></console>"),
                       &l, false);
        assert_pair(a, "-chardev", "pty,id=charserial0,logfile=/var/log/domaind/t,,console.log,logappend=on");
        assert_pair(a, "-device", "isa-serial,chardev=charserial0,id=serial0,index=0");
        assert_pair(a, "-chardev", "file,id=charserial1,path=/var/log/t/ser,,1.log");
        assert_pair(a, "-device", "isa-serial,chardev=charserial1,id=serial1,index=1");
        assert_pair(a, "-chardev", "socket,id=charserial2,path=/run/t/ser2.sock,server=on,wait=off");
        assert_pair(a, "-device", "isa-serial,chardev=charserial2,id=serial2,index=2");
        assert_pair(a, "-chardev", "socket,id=charserial3,path=/run/domaind/kvm/t/serial3.sock,server=on,wait=off");
        assert_pair(a, "-device", "isa-serial,chardev=charserial3,id=serial3,index=3");
        /* the console is serial0: no second device, one logfile */
        assert_int_equal(count_opt(a, "-device", "isa-serial"), 4);
        assert_int_equal(count_opt(a, "-chardev", "pty"), 1);
        assert_int_equal(count_opt(a, "-chardev", "socket,id=charserial"), 2);

        /* a console alone is serial0 */
        b = build(DEVICES("<console type='pty'/>"));
        assert_pair(b, "-chardev", "pty,id=charserial0");
        assert_pair(b, "-device", "isa-serial,chardev=charserial0,id=serial0,index=0");
        assert_int_equal(count_opt(b, "-device", "isa-serial"), 1);

        /* virtio console next to a serial */
        c = build(DEVICES("<serial type='pty'/><console type='pty'><target type='virtio' port='0'/></console>"));
        assert_pair(c, "-device", "virtio-serial-pci,id=virtio-serial0");
        assert_pair(c, "-chardev", "pty,id=charconsole0");
        assert_pair(c, "-device", "virtconsole,chardev=charconsole0,id=console0");
        assert_true(find_pair(c, "-device", "virtio-serial-pci,id=virtio-serial0") <
                    find_pair(c, "-device", "virtconsole,chardev=charconsole0,id=console0"));

        /* serial ports without target port take the free ISA indexes */
        d = build(DEVICES("<serial type='pty'><target port='1'/></serial><serial type='pty'/>"));
        assert_pair(d, "-device", "isa-serial,chardev=charserial0,id=serial0,index=1");
        assert_pair(d, "-device", "isa-serial,chardev=charserial1,id=serial1,index=0");

        check_invalid(DEVICES("<serial type='tcp'><source mode='bind' host='0' service='4555'/></serial>"),
                      "<serial type='tcp'>: not supported");
        check_invalid(DEVICES("<serial type='unix'><source mode='connect' path='/x'/></serial>"),
                      "<serial type='unix'><source mode='connect'>");
        check_invalid(DEVICES("<serial type='file'/>"), "<serial type='file'><source>: missing path");
        check_invalid(DEVICES("<serial type='pty'><target port='7'/></serial>"), "<serial><target port='7'>");
        check_invalid(DEVICES("<serial type='pty'><target port='1'/></serial><serial type='pty'><target port='1'/></serial>"),
                      "<serial><target port='1'>: used by two serial ports");
        check_invalid(DEVICES("<serial/><serial/><serial/><serial/><serial/>"), "more than 4 serial ports");
        check_invalid(DEVICES("<console type='pty'><target type='xen'/></console>"), "<console><target type='xen'>");
        check_invalid(DEVICES("<serial type='pty'><target type='usb-serial'/></serial>"),
                      "<serial><target type='usb-serial'>");
}

static void test_consoles(void **state) {
        KvmLaunch l = base_launch;
        const char *xml = DEVICES("<console type='pty'><target type='serial' port='0'/></console>"
                                  "<serial type='pty'><target port='0'/></serial>"
                                  "<serial type='unix'/>"
                                  "<serial type='file'><source path='/var/log/s.log'/></serial>"
                                  "<console type='unix'><source mode='bind' path='/run/c.sock'/><target type='virtio'/></console>");
        g_autoptr(GPtrArray) a = kvm_xml_consoles(xml, &l);
        g_autoptr(GPtrArray) b = kvm_xml_consoles(DEVICES("<console type='pty'/>"), NULL);
        g_autoptr(GPtrArray) c = kvm_xml_consoles(DOM(""), &l);
        g_autoptr(GPtrArray) d = kvm_xml_consoles(DEVICES("<serial type='unix'/>"), NULL);
        static const char *const expect[][4] = {
                { "serial0", "pty", NULL, "charserial0" },
                { "serial1", "unix", "/run/domaind/kvm/t/serial1.sock", "charserial1" },
                { "serial2", "file", "/var/log/s.log", "charserial2" },
                { "console0", "pty", NULL, "charserial0" },
                { "console1", "unix", "/run/c.sock", "charconsole1" },
        };
        KvmConsole *k;

        assert_non_null(a);
        assert_int_equal(a->len, G_N_ELEMENTS(expect));
        for (guint i = 0; i < a->len; i++) {
                k = a->pdata[i];
                assert_string_equal(k->alias, expect[i][0]);
                assert_string_equal(k->type, expect[i][1]);
                if (expect[i][2])
                        assert_string_equal(k->path, expect[i][2]);
                else
                        assert_null(k->path);
                assert_string_equal(k->chardev, expect[i][3]);
        }

        /* a console alone: a serial0 is made for it */
        assert_non_null(b);
        assert_int_equal(b->len, 2);
        k = b->pdata[0];
        assert_string_equal(k->alias, "serial0");
        k = b->pdata[1];
        assert_string_equal(k->alias, "console0");
        assert_string_equal(k->chardev, "charserial0");

        assert_non_null(c);
        assert_int_equal(c->len, 0);

        /* no runtime dir: no made-up path */
        assert_non_null(d);
        k = d->pdata[0];
        assert_string_equal(k->type, "unix");
        assert_null(k->path);

        assert_null(kvm_xml_consoles(DEVICES("<serial type='tcp'/>"), &l));
        assert_null(kvm_xml_consoles("<domain", &l));
}

/* ---- graphics, video, input, sound, balloon -------------------------------------- */

static void test_graphics(void **state) {
        g_auto(GStrv) a = build(DEVICES("<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='s3cret'/>"));
        g_auto(GStrv) b = build(DEVICES("<graphics type='vnc' port='5901' autoport='no'><listen type='address' address='0.0.0.0'/></graphics>"
                                        "<video><model type='cirrus'/></video>"));
        g_auto(GStrv) c = build(DEVICES("<graphics type='vnc'><listen type='socket'/></graphics><video><model type='none'/></video>"));
        g_auto(GStrv) d = build(DEVICES("<graphics type='vnc' port='5900' listen='::1'/>"));
        g_auto(GStrv) e = build(DEVICES("<graphics type='vnc'><listen type='socket' socket='/run/v,1.sock'/></graphics>"));

        assert_pair(a, "-vnc", "127.0.0.1:0,to=100,password=on");
        assert_nowhere(a, "s3cret");
        assert_lacks(a, "-display");
        assert_pair(a, "-device", "VGA,id=video0"); /* a display needs a video card */

        assert_pair(b, "-vnc", "0.0.0.0:1");
        assert_pair(b, "-device", "cirrus-vga,id=video0");
        assert_int_equal(count_opt(b, "-device", "VGA"), 0);

        assert_pair(c, "-vnc", "unix:/run/domaind/kvm/t/vnc.sock");
        assert_int_equal(count_opt(c, "-device", "VGA"), 0);

        assert_pair(d, "-vnc", "[::1]:0");
        assert_pair(e, "-vnc", "unix:/run/v,,1.sock");

        check_invalid(DEVICES("<graphics type='spice' autoport='yes'/>"), "<graphics type='spice'>: not supported");
        check_invalid(DEVICES("<graphics type='vnc' port='5800'/>"), "<graphics port='5800'>");
        check_invalid(DEVICES("<graphics type='vnc'/><graphics type='vnc'/>"), "only one");
        check_invalid(DEVICES("<graphics type='vnc' listen='a,b'/>"), "<graphics listen='a,b'>");
        check_invalid(DEVICES("<graphics type='vnc'><listen type='network' network='x'/></graphics>"),
                      "<graphics><listen type='network'>");
}

static void test_video_input_sound(void **state) {
        g_auto(GStrv) a = build(DEVICES("<video><model type='virtio' heads='1'/></video><video><model type='qxl'/></video>"
                                        "<input type='tablet' bus='usb'/><input type='keyboard' bus='ps2'/>"
                                        "<input type='mouse'/><input type='keyboard' bus='virtio'/><input type='mouse' bus='usb'/>"
                                        "<sound model='ich9'/><sound model='ac97'/>"
                                        "<sound model='ich6'><codec type='micro'/><codec type='output'/></sound>"
                                        "<memballoon model='virtio'/>"));
        g_auto(GStrv) b = build(DEVICES("<video><model type='vga'/></video><sound model='es1370'/><memballoon model='none'/>"));

        assert_pair(a, "-device", "virtio-vga,id=video0");
        assert_pair(a, "-device", "qxl,id=video1");
        assert_int_equal(count_opt(a, "-device", "qemu-xhci"), 1);
        assert_pair(a, "-device", "usb-tablet,bus=usb.0,id=input0");
        assert_pair(a, "-device", "virtio-keyboard-pci,id=input1");
        assert_pair(a, "-device", "usb-mouse,bus=usb.0,id=input2");
        assert_true(find_pair(a, "-device", "qemu-xhci,id=usb") < find_pair(a, "-device", "usb-tablet,bus=usb.0,id=input0"));
        assert_int_equal(count_opt(a, "-audiodev", ""), 1);
        assert_pair(a, "-audiodev", "none,id=audio0");
        assert_pair(a, "-device", "ich9-intel-hda,id=sound0");
        assert_pair(a, "-device", "hda-duplex,id=sound0-codec0,bus=sound0.0,cad=0,audiodev=audio0");
        assert_pair(a, "-device", "AC97,id=sound1,audiodev=audio0");
        assert_pair(a, "-device", "intel-hda,id=sound2");
        assert_pair(a, "-device", "hda-micro,id=sound2-codec0,bus=sound2.0,cad=0,audiodev=audio0");
        assert_pair(a, "-device", "hda-output,id=sound2-codec1,bus=sound2.0,cad=1,audiodev=audio0");
        assert_pair(a, "-device", "virtio-balloon-pci,id=balloon0");
        assert_pair(a, "-display", "none"); /* a video card without <graphics> */

        assert_pair(b, "-device", "VGA,id=video0");
        assert_pair(b, "-device", "ES1370,id=sound0,audiodev=audio0");
        assert_nowhere(b, "balloon");

        check_invalid(DEVICES("<video><model type='xen'/></video>"), "<video><model type='xen'>: unknown model");
        check_invalid(DEVICES("<video><model type='vga'/></video><video><model type='vga'/></video>"),
                      "<video><model type='vga'>: only virtio and qxl");
        check_invalid(DEVICES("<video><model type='none'/></video><video/>"), "<video><model type='none'>");
        check_invalid(DEVICES("<input type='tablet' bus='ps2'/>"), "<input type='tablet' bus='ps2'>");
        check_invalid(DEVICES("<input type='mouse' bus='xen'/>"), "<input bus='xen'>");
        check_invalid(DEVICES("<input type='passthrough' bus='virtio'/>"), "<input type='passthrough'>");
        check_invalid(DEVICES("<sound model='pcspk'/>"), "<sound model='pcspk'>: not supported");
        check_invalid(DEVICES("<sound model='ich9'><codec type='surround'/></sound>"), "<sound><codec type='surround'>");
        check_invalid(DEVICES("<memballoon model='xen'/>"), "<memballoon model='xen'>");
}

/* ---- escaping, malformed input ----------------------------------------------------- */

static void test_comma_escaping(void **state) {
        KvmLaunch l = base_launch;
        g_autofree char *e1 = kvm_qemu_opt_escape("a,b,,c");
        g_autofree char *e2 = kvm_qemu_opt_escape("");
        g_autofree char *e3 = kvm_qemu_opt_escape(",");
        g_auto(GStrv) a = NULL;

        assert_string_equal(e1, "a,,b,,,,c");
        assert_string_equal(e2, "");
        assert_string_equal(e3, ",,");
        assert_null(kvm_qemu_opt_escape(NULL));

        l.qmp_socket = "/run/a,b/qmp.sock";
        a = build_with("<domain type='kvm'><name>web,server=on</name><uuid>" UUID "</uuid><memory>1024</memory>"
                       "<devices><disk><source file='/i/x,file=/etc/shadow'/><target dev='vda'/></disk>"
                       "<interface type='bridge'><source bridge='br,0'/></interface></devices></domain>",
                       &l, false);
        assert_pair(a, "-name", "guest=web,,server=on,debug-threads=on");
        assert_pair(a, "-chardev", "socket,id=charmonitor,path=/run/a,,b/qmp.sock,server=on,wait=off");
        assert_pair(a, "-blockdev", "driver=file,node-name=file-vda,filename=/i/x,,file=/etc/shadow");
        assert_pair(a, "-netdev", "bridge,id=net0,br=br,,0");
}

static void test_malformed(void **state) {
        check_invalid("", "empty XML document");
        check_invalid("<domain><name>", "malformed XML");
        check_invalid("<vm/>", "<domain>: expected as root element");
        check_invalid("<!DOCTYPE domain [<!ENTITY x 'y'>]><domain><name>&x;</name></domain>", "<!DOCTYPE>");
        check_invalid("<domain type='kvm'><uuid>" UUID "</uuid><memory>1</memory></domain>", "missing <name>");
        check_invalid("<domain type='kvm'><name>t</name><memory>1</memory></domain>", "missing <uuid>");
        check_invalid("<domain type='kvm'><name>t</name><uuid>x,y</uuid><memory>1</memory></domain>",
                      "<uuid>x,y</uuid>: not a dashed UUID");
        /* long values are cut in messages */
        check_invalid(DEVICES("<sound model='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'/>"),
                      "aaaaaaaa...'>");
}

/* ---- the full sample ---------------------------------------------------------------- */

static void test_full_sample(void **state) {
        g_autofree char *raw = read_sample("kvm-full.xml");
        g_autofree char *xml = normalized(raw);
        KvmLaunch l = base_launch;
        g_auto(GStrv) a = NULL;

        l.console_log = "/var/log/domaind/kvm-full.console";
        a = build_with(xml, &l, false);

        assert_string_equal(a[0], "/usr/bin/qemu-system-x86_64");
        assert_pair(a, "-name", "guest=kvm-full,debug-threads=on");
        assert_pair(a, "-uuid", UUID);
        assert_pair(a, "-machine", "pc-q35-7.2,accel=tcg,dump-guest-core=off");
        assert_pair(a, "-cpu", "qemu64");
        assert_pair(a, "-m", "size=2097152k");
        assert_pair(a, "-smp", "2,maxcpus=4");
        assert_pair(a, "-rtc", "base=localtime,driftfix=slew");
        assert_pair(a, "-kernel", "/var/lib/domaind/boot/vmlinuz");
        assert_pair(a, "-initrd", "/var/lib/domaind/boot/initrd.img");
        assert_pair(a, "-append", "console=ttyS0 root=/dev/vda1");

        /* boot: hd, cdrom, network (no floppy in the sample) */
        assert_pair(a, "-blockdev", "driver=file,node-name=file-vda,filename=/var/lib/domaind/images/kvm-full.qcow2,cache.direct=on");
        assert_pair(a, "-blockdev", "driver=qcow2,node-name=drive-vda,file=file-vda,cache.direct=on");
        assert_pair(a, "-device", "virtio-blk-pci,id=vda,drive=drive-vda,bootindex=1");
        assert_pair(a, "-blockdev", "driver=host_device,node-name=file-vdb,filename=/dev/vg0/kvm-full-data");
        assert_pair(a, "-device", "virtio-blk-pci,id=vdb,drive=drive-vdb");
        assert_pair(a, "-device", "ide-cd,bus=ide.0,id=sda,drive=drive-sda,bootindex=2");
        assert_pair(a, "-device", "ide-cd,bus=ide.1,id=sdb");
        assert_pair(a, "-device", "virtio-scsi-pci,id=scsi0");
        assert_pair(a, "-device", "scsi-hd,bus=scsi0.0,channel=0,scsi-id=2,lun=0,id=sdc,drive=drive-sdc");
        assert_nowhere(a, "floppy");

        assert_pair(a, "-netdev", "user,id=net0");
        assert_pair(a, "-device", "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:12:34:56,bootindex=3");
        assert_pair(a, "-netdev", "bridge,id=net1,br=br0");
        assert_int_equal(count_opt(a, "-device", "e1000,id=nic1,netdev=net1,mac=52:54:00:"), 1); /* generated MAC */
        assert_pair(a, "-netdev", "user,id=net2");
        assert_pair(a, "-device", "virtio-net-pci,id=nic2,netdev=net2,mac=52:54:00:ab:cd:ef");

        assert_pair(a, "-device", "usb-tablet,bus=usb.0,id=input0");
        assert_pair(a, "-vnc", "127.0.0.1:0,to=100,password=on");
        assert_nowhere(a, "s3cret");
        assert_pair(a, "-chardev", "pty,id=charserial0,logfile=/var/log/domaind/kvm-full.console,logappend=on");
        assert_int_equal(count_opt(a, "-device", "isa-serial"), 1);
        assert_pair(a, "-device", "ich9-intel-hda,id=sound0");
        assert_pair(a, "-device", "virtio-vga,id=video0");
        assert_pair(a, "-device", "virtio-balloon-pci,id=balloon0");
        assert_pair(a, "-device", "pvpanic");
        /* <qemu:commandline> is not interpreted: -no-user-config once */
        assert_int_equal(count_arg(a, "-no-user-config"), 1);

        {
                g_autoptr(GPtrArray) consoles = kvm_xml_consoles(xml, &l);
                KvmConsole *k;

                assert_int_equal(consoles->len, 2);
                k = consoles->pdata[0];
                assert_string_equal(k->alias, "serial0");
                k = consoles->pdata[1];
                assert_string_equal(k->alias, "console0");
                assert_string_equal(k->chardev, "charserial0");
        }
}

/* ---- bootloader --------------------------------------------------------------------- */

static void test_bootloader(void **state) {
        g_autofree char *raw = read_sample("xen-pv-pygrub.xml");
        g_autofree char *loader = NULL, *args = NULL, *disk = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) words = NULL, none = NULL;

        assert_true(kvm_xml_bootloader(raw, &loader, &args, &disk, &error));
        assert_string_equal(loader, "/usr/lib/xen-4.17/bin/pygrub");
        assert_string_equal(args, "-q");
        assert_string_equal(disk, "/var/lib/domaind/images/xen-pv-pygrub.img");
        g_clear_pointer(&loader, g_free);
        g_clear_pointer(&args, g_free);
        g_clear_pointer(&disk, g_free);

        /* cdroms are skipped, block devices count, arguments are normalized */
        assert_true(kvm_xml_bootloader(DOM("<bootloader> /usr/bin/pygrub </bootloader>"
                                           "<bootloader_args>  -q\t --entry=1 \n</bootloader_args>"
                                           "<devices><disk device='cdrom'><source file='/i/cd.iso'/><target dev='hdc'/></disk>"
                                           "<disk type='block'><source dev='/dev/vg/root'/><target dev='vda'/></disk></devices>"),
                                       &loader, &args, &disk, &error));
        assert_string_equal(loader, "/usr/bin/pygrub");
        assert_string_equal(args, "-q --entry=1");
        assert_string_equal(disk, "/dev/vg/root");
        g_clear_pointer(&loader, g_free);
        g_clear_pointer(&args, g_free);
        g_clear_pointer(&disk, g_free);

        /* none: true, all NULL */
        loader = g_strdup("x");
        g_clear_pointer(&loader, g_free);
        assert_true(kvm_xml_bootloader(DOM(""), &loader, &args, &disk, &error));
        assert_null(loader);
        assert_null(args);
        assert_null(disk);
        assert_true(kvm_xml_bootloader(DOM("<bootloader>/usr/bin/pygrub</bootloader><devices>"
                                           "<disk><source file='/i/a'/><target dev='vda'/></disk></devices>"),
                                       NULL, NULL, NULL, &error));

        assert_false(kvm_xml_bootloader(DOM("<bootloader>/usr/bin/pygrub</bootloader>"), &loader, &args, &disk, &error));
        assert_true(g_error_matches(error, KVM_CMDLINE_ERROR, KVM_CMDLINE_ERROR_INVALID));
        assert_non_null(strstr(error->message, "<bootloader>/usr/bin/pygrub</bootloader>: no <disk>"));
        assert_null(loader);
        g_clear_error(&error);
        assert_false(kvm_xml_bootloader(DOM("<bootloader/>"), &loader, &args, &disk, &error));
        assert_non_null(strstr(error->message, "<bootloader>: must not be empty"));
        g_clear_error(&error);
        assert_false(kvm_xml_bootloader("<domain>", &loader, &args, &disk, &error));
        assert_true(g_error_matches(error, KVM_CMDLINE_ERROR, KVM_CMDLINE_ERROR_INVALID));
        g_clear_error(&error);

        words = kvm_split_args(" -q  --entry=1\t-n ");
        assert_int_equal(g_strv_length(words), 3);
        assert_string_equal(words[0], "-q");
        assert_string_equal(words[1], "--entry=1");
        assert_string_equal(words[2], "-n");
        none = kvm_split_args(NULL);
        assert_int_equal(g_strv_length(none), 0);
}

/* ---- real QEMU ---------------------------------------------------------------------- */

static char *qemu_binary(void) {
        return g_find_program_in_path("qemu-system-x86_64");
}

static void rm_rf(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        if (!d)
                return;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, name, NULL);

                if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                        rm_rf(p);
                else
                        g_unlink(p);
        }
        g_rmdir(dir);
}

static void make_sparse(const char *path, off_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

static int64_t now_ms(void) {
        return g_get_monotonic_time() / 1000;
}

/* Reads one line (up to '\n') from a blocking socket with a deadline. */
static char *read_line(int fd, int64_t deadline) {
        GString *s = g_string_new(NULL);
        char c;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - now_ms();

                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        break;
                if (read(fd, &c, 1) != 1)
                        break;
                if (c == '\n')
                        return g_string_free(s, false);
                g_string_append_c(s, c);
        }
        g_string_free(s, true);
        return NULL;
}

/* Sends a QMP command and returns the first line carrying "return" or
 * "error"; NULL when QEMU does not answer in time. */
static char *qmp(int fd, const char *command, int64_t deadline) {
        if (write(fd, command, strlen(command)) != (ssize_t) strlen(command))
                return NULL;
        for (;;) {
                char *line = read_line(fd, deadline);

                if (!line || strstr(line, "\"return\"") || strstr(line, "\"error\""))
                        return line;
                g_free(line); /* an event */
        }
}

/* Kills QEMU and fails with what it said. */
static void qemu_failed(pid_t pid, const char *err_path, const char *what, const char *args) {
        g_autofree char *err = NULL;

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        g_file_get_contents(err_path, &err, NULL, NULL);
        fail_msg("%s\nQEMU said: %s\nargv: %s", what, err ? err : "", args);
}

/* Starts QEMU with argv (stdout+stderr into dir/qemu.err), waits for the QMP
 * socket, checks the greeting and the paused state, quits it, and checks
 * that stderr holds no error or warning. */
static void run_qemu(char **argv, const char *dir, const char *qmp_path, const char *want_status) {
        g_autofree char *err_path = g_build_filename(dir, "qemu.err", NULL);
        g_autofree char *err = NULL, *greeting = NULL, *reply = NULL, *args = joined(argv);
        g_autofree char *status_json = g_strdup_printf("\"status\": \"%s\"", want_status);
        g_auto(GStrv) lines = NULL;
        int64_t deadline = now_ms() + 20000;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int status = 0, fd = -1;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int out = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                int in = open("/dev/null", O_RDONLY);

                if (out < 0 || in < 0)
                        _exit(126);
                dup2(in, STDIN_FILENO);
                dup2(out, STDOUT_FILENO);
                dup2(out, STDERR_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }

        /* the socket appears once QEMU is up to the monitor */
        while (!g_file_test(qmp_path, G_FILE_TEST_EXISTS)) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        g_file_get_contents(err_path, &err, NULL, NULL);
                        fail_msg("QEMU exited (status %d) before its QMP socket appeared:\n%s\nargv: %s", status,
                                 err ? err : "", args);
                }
                if (now_ms() > deadline)
                        qemu_failed(pid, err_path, "no QMP socket after 20 s", args);
                g_usleep(10 * 1000);
        }

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_true(strlen(qmp_path) < sizeof sa.sun_path);
        strcpy(sa.sun_path, qmp_path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                qemu_failed(pid, err_path, "cannot connect to the QMP socket", args);
        greeting = read_line(fd, deadline);
        if (!greeting || !strstr(greeting, "\"QMP\""))
                qemu_failed(pid, err_path, "no QMP greeting", args);
        reply = qmp(fd, "{\"execute\":\"qmp_capabilities\"}\n", deadline);
        if (!reply || !strstr(reply, "\"return\""))
                qemu_failed(pid, err_path, "qmp_capabilities failed", args);
        g_free(reply);
        /* -S: created, not running (prelaunch; inmigrate with -incoming defer) */
        reply = qmp(fd, "{\"execute\":\"query-status\"}\n", deadline);
        if (!reply || !strstr(reply, status_json))
                qemu_failed(pid, err_path, reply ? reply : "no answer to query-status", args);
        g_free(reply);
        reply = qmp(fd, "{\"execute\":\"quit\"}\n", deadline);
        close(fd);

        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        /* only QEMU's informational lines; anything else is a warning or an error */
        assert_true(g_file_get_contents(err_path, &err, NULL, NULL));
        lines = g_strsplit(err, "\n", -1);
        for (char **l = lines; *l; l++)
                if (**l && !g_str_has_prefix(*l, "char device redirected to ") &&
                    !g_str_has_prefix(*l, "VNC server running on "))
                        fail_msg("QEMU said: %s\nargv: %s", *l, args);
}

/* disk + cdrom + serial + user network, files whose names need escaping */
static void test_qemu_accepts(void **state) {
        g_autofree char *qemu = qemu_binary();
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = NULL, *disk = NULL, *iso = NULL, *qmp_path = NULL, *log = NULL, *xml = NULL;
        g_auto(GStrv) argv = NULL;
        KvmLaunch l = base_launch;

        if (!qemu)
                skip();
        dir = g_dir_make_tmp("kvm-cmdline-XXXXXX", &error);
        assert_non_null(dir);
        disk = g_build_filename(dir, "disk,1.img", NULL);
        iso = g_build_filename(dir, "install.iso", NULL);
        qmp_path = g_build_filename(dir, "qmp.sock", NULL);
        log = g_build_filename(dir, "console,log", NULL);
        make_sparse(disk, 64 << 20);
        make_sparse(iso, 1 << 20);

        xml = g_strdup_printf(
                "<domain type='kvm'><name>accept,test</name><uuid>" UUID "</uuid>"
                "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='cdrom'/><boot dev='hd'/></os>"
                "<features><acpi/></features>"
                "<devices>"
                "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>"
                "<disk type='file' device='cdrom'><source file='%s'/><target dev='hdc' bus='ide'/><readonly/></disk>"
                "<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>"
                "<serial type='pty'><target port='0'/></serial>"
                "<console type='pty'><target type='serial' port='0'/></console>"
                "</devices></domain>",
                disk, iso);

        l.emulator = qemu;
        l.qmp_socket = qmp_path;
        l.console_log = log;
        l.runtime_dir = dir;
        argv = build_with(xml, &l, true);
        run_qemu(argv, dir, qmp_path, "prelaunch");
        /* the console log was opened by QEMU under its escaped name */
        assert_true(g_file_test(log, G_FILE_TEST_EXISTS));
        rm_rf(dir);
}

/* every other kind of device, on pc and on q35 */
static void test_qemu_accepts_everything(void **state) {
        static const char *const machines[] = { "pc", "q35" };
        g_autofree char *qemu = qemu_binary();

        if (!qemu)
                skip();
        for (size_t m = 0; m < G_N_ELEMENTS(machines); m++) {
                bool q35 = strcmp(machines[m], "q35") == 0;
                g_autoptr(GError) error = NULL;
                g_autofree char *dir = g_dir_make_tmp("kvm-cmdline-XXXXXX", &error);
                g_autofree char *qmp_path = NULL, *xml = NULL, *tftp = NULL, *kernel = NULL, *ide = NULL;
                g_auto(GStrv) argv = NULL;
                KvmLaunch l = base_launch;

                assert_non_null(dir);
                tftp = g_build_filename(dir, "tftp,root", NULL);
                kernel = g_build_filename(dir, "vmlinuz,1", NULL);
                qmp_path = g_build_filename(dir, "qmp.sock", NULL);
                for (const char *const *d = (const char *const[]) { "vda", "vdb", "sda", "sdc", "sdd", "sde", "fda", "hda", NULL };
                     *d; d++) {
                        g_autofree char *img = g_strdup_printf("%s/%s.img", dir, *d);
                        make_sparse(img, strcmp(*d, "fda") == 0 ? 1474560 : 16 << 20);
                }
                make_sparse(kernel, 4096);
                /* q35 has no IDE bus: the pc run covers ide-hd */
                ide = q35 ? g_strdup("") : g_strdup_printf("<disk><source file='%s/hda.img'/><target dev='hda' bus='ide'/></disk>", dir);
                assert_int_equal(g_mkdir(tftp, 0755), 0);

                xml = g_strdup_printf(
                        "<domain type='kvm'><name>everything</name><uuid>" UUID "</uuid>"
                        "<memory unit='MiB'>256</memory><currentMemory unit='MiB'>128</currentMemory>"
                        "<vcpu current='1'>2</vcpu>"
                        "<os><type arch='x86_64' machine='%s'>hvm</type><kernel>%s</kernel><cmdline>console=ttyS0,115200</cmdline>"
                        "<boot dev='fd'/><boot dev='cdrom'/><boot dev='hd'/><boot dev='network'/>"
                        "<bootmenu enable='yes' timeout='100'/></os>"
                        "<features><acpi/><apic/></features>"
                        "<cpu mode='custom'><model>qemu64</model><feature policy='require' name='ssse3'/>"
                        "<topology sockets='1' cores='2' threads='1'/></cpu>"
                        "<clock offset='variable' adjustment='3600' basis='localtime'><timer name='rtc' tickpolicy='catchup'/></clock>"
                        "<devices>"
                        "<disk><driver type='raw' cache='unsafe' discard='unmap'/><source file='%s/vda.img'/><target dev='vda'/><serial>abc</serial></disk>"
                        "<disk><source file='%s/vdb.img'/><target dev='vdb'/><readonly/></disk>"
                        "<disk><driver cache='writethrough'/><source file='%s/sda.img'/><target dev='sda' bus='sata'/></disk>"
                        "<disk device='cdrom'><target dev='sdb' bus='sata'/></disk>"
                        "<disk><driver cache='directsync'/><source file='%s/sdc.img'/><target dev='sdc' bus='scsi'/></disk>"
                        "<disk device='cdrom'><source file='%s/sdd.img'/><target dev='sdd' bus='scsi'/></disk>"
                        "<disk><source file='%s/sde.img'/><target dev='sde' bus='usb'/></disk>"
                        "<disk device='floppy'><source file='%s/fda.img'/><target dev='fda'/></disk>"
                        "<disk device='floppy'><target dev='fdb'/></disk>"
                        "%s"
                        "<interface type='user'><model type='e1000'/><mac address='52:54:00:00:00:01'/>"
                        "<domaind:tftp xmlns:domaind='https://domaind.org/xmlns/kvm' root='%s' bootfile='pxelinux.0'/></interface>"
                        "<interface type='network'><source network='default'/><model type='rtl8139'/><mac address='52:54:00:00:00:02'/></interface>"
                        "<interface type='user'><model type='e1000e'/><mac address='52:54:00:00:00:03'/></interface>"
                        "<serial type='pty'/><serial type='file'><source path='%s/ser,1.log'/></serial><serial type='unix'/>"
                        "<console type='pty'><target type='serial'/></console>"
                        "<console type='unix'><target type='virtio'/></console>"
                        "<input type='tablet' bus='usb'/><input type='mouse' bus='ps2'/><input type='keyboard' bus='virtio'/>"
                        "<graphics type='vnc' passwd='x'><listen type='socket'/></graphics>"
                        "<video><model type='qxl'/></video><video><model type='virtio'/></video>"
                        "<sound model='ich6'><codec type='micro'/></sound><sound model='ich9'/><sound model='ac97'/>"
                        "<sound model='es1370'/><sound model='sb16'/><sound model='usb'/>"
                        "<memballoon model='virtio'/>"
                        "</devices></domain>",
                        machines[m], kernel, dir, dir, dir, dir, dir, dir, dir,
                        ide, tftp, dir);
                l.emulator = qemu;
                l.qmp_socket = qmp_path;
                l.runtime_dir = dir;
                l.incoming = q35;
                argv = build_with(xml, &l, true);
                run_qemu(argv, dir, qmp_path, q35 ? "inmigrate" : "prelaunch");
                rm_rf(dir);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basics),
                cmocka_unit_test(test_emulator_and_launch),
                cmocka_unit_test(test_machine),
                cmocka_unit_test(test_cpu),
                cmocka_unit_test(test_memory_vcpus),
                cmocka_unit_test(test_clock),
                cmocka_unit_test(test_boot_order),
                cmocka_unit_test(test_kernel),
                cmocka_unit_test(test_disk_virtio),
                cmocka_unit_test(test_disk_buses),
                cmocka_unit_test(test_missing_files),
                cmocka_unit_test(test_interfaces),
                cmocka_unit_test(test_serial),
                cmocka_unit_test(test_consoles),
                cmocka_unit_test(test_graphics),
                cmocka_unit_test(test_video_input_sound),
                cmocka_unit_test(test_comma_escaping),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_full_sample),
                cmocka_unit_test(test_bootloader),
                cmocka_unit_test(test_qemu_accepts),
                cmocka_unit_test(test_qemu_accepts_everything),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
