/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* KVM plugin: libvirt domain XML → QEMU 7.2 command line.
 *
 * The result is an argument vector for execve(): nothing is ever quoted for
 * a shell. Values inside QEMU's key=value options (-device, -blockdev,
 * -chardev, -netdev, -name, -vnc ...) go through kvm_qemu_opt_escape(),
 * which doubles commas; -kernel, -initrd and -append take their argument
 * verbatim (QEMU does not split them), so those are not escaped.
 *
 * What the XML turns into (everything else in <devices> — <controller>,
 * <channel>, <watchdog>, <rng>, <panic>, ... — is ignored; controllers are
 * added as the devices need them):
 *
 *   always       -name guest=N,debug-threads=on -uuid -S -no-user-config
 *                -nodefaults -no-shutdown -msg timestamp=on -device pvpanic
 *                -boot menu=off|on; -display none without <graphics>
 *   <os><type machine>   -machine TYPE,accel=kvm|tcg (pc, q35, pc-i440fx-*,
 *                pc-q35-*; default pc); no <features><acpi/> → acpi=off;
 *                <memory dumpCore='off'> → dump-guest-core=off
 *   <cpu>        none: qemu64; kvm: host; tcg: qemu64 (never "max"); mode='custom' with
 *                <model> uses that model; <feature policy='require|force|
 *                disable|forbid' name=X> → X=on|off on a custom model, and on
 *                "host" under kvm (e.g. disable arch-capabilities, which this
 *                host's software KVM cannot set); <topology> → -smp sockets=...
 *   <memory>     -m size=Nk;  <vcpu current=C>N</vcpu> → -smp C,maxcpus=N
 *   <clock offset='utc|localtime|variable'> → -rtc base=...; <timer name='rtc'
 *                tickpolicy='catchup'/> → driftfix=slew
 *   <os><boot dev> → bootindex= on the first device of each kind, in order
 *                (the pc machine's -boot order= takes at most three); per-device
 *                <boot order='N'/> → bootindex=N (the two cannot be mixed)
 *   <os><kernel|initrd|cmdline> → -kernel/-initrd/-append (KvmLaunch's
 *                boot_* replace all three when boot_kernel is set)
 *   <disk>       -blockdev file|host_device (node "file-DEV") + raw|qcow2 (node
 *                "drive-DEV") + -device with id=DEV: virtio-blk-pci; ide-hd/
 *                ide-cd on the pc's ide.0/ide.1 (hda..hdd); sata → ich9-ahci
 *                "sata0" on pc, the built-in AHCI on q35 (sda..sdf); scsi →
 *                virtio-scsi-pci "scsi0" + scsi-hd/scsi-cd (scsi-id from the
 *                name); usb → usb-storage on qemu-xhci "usb"; fdc → floppy.
 *                <driver cache|discard>, <readonly/>, <serial>, empty cdroms.
 *   <interface>  user → -netdev user; bridge → -netdev bridge,br= (qemu-bridge-
 *                helper); network: domaind has no libvirt networks, so only
 *                <source network='default'> is accepted and means user
 *                networking (as libvirt's default NAT network would give a
 *                guest outgoing access); + -device virtio-net-pci|e1000|
 *                e1000e|rtl8139 with mac=. PXE uses the NIC's default option ROM.
 *   <serial>/<console>   pty, file, unix (mode='bind': QEMU listens; without
 *                path the socket goes to the runtime dir) → -chardev + isa-serial
 *                (target port = ISA index 0-3); <console> with target type
 *                serial is the <serial> with that port (one is made when none
 *                exists); target type virtio → virtconsole. KvmLaunch's
 *                console_log becomes logfile= of the first one.
 *   <graphics type='vnc'> → -vnc ADDR:DISPLAY (autoport/port='-1' → :0,to=100),
 *                <listen type='socket'> → unix:PATH, passwd → password=on
 *   <video>      vga, cirrus, virtio, qxl, bochs, vmvga, none; a VGA when
 *                <graphics> has no <video>
 *   <input>      usb/virtio tablet, mouse, keyboard; ps2 mouse/keyboard are
 *                built in
 *   <sound>      ich6, ich9 (+ <codec> duplex|micro|output), ac97, es1370,
 *                sb16, usb — all on "-audiodev none" (no host sound here)
 *   <memballoon model='virtio'> → virtio-balloon-pci
 *
 * domaind extension — PXE boot over user networking. libvirt has no element
 * for QEMU's built-in TFTP server, so an interface of type 'user' (or
 * 'network' with source 'default') may carry, in domaind's namespace:
 *
 *   <interface type='user'>
 *     <domaind:tftp xmlns:domaind='https://domaind.org/xmlns/kvm'
 *                   root='/srv/tftp' bootfile='pxelinux.0'/>
 *   </interface>
 *
 * which becomes -netdev user,...,tftp=/srv/tftp,bootfile=pxelinux.0. */

#include "kvm-cmdline.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define DOMAIND_KVM_NS "https://domaind.org/xmlns/kvm"
#define SHOWN_MAX_CHARS 64
#define ISA_SERIAL_PORTS 4
#define AHCI_PORTS 6
#define SCSI_TARGETS 256

G_DEFINE_QUARK(kvm-cmdline-error-quark, kvm_cmdline_error)

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* ---- escaping ---------------------------------------------------------- */

char *kvm_qemu_opt_escape(const char *s) {
        GString *out;

        if (!s)
                return NULL;
        out = g_string_sized_new(strlen(s) + 8);
        for (; *s; s++) {
                if (*s == ',')
                        g_string_append_c(out, ',');
                g_string_append_c(out, *s);
        }
        return g_string_free(out, false);
}

char **kvm_split_args(const char *args) {
        g_auto(GStrv) words = NULL;
        GPtrArray *out = g_ptr_array_new();

        if (args) {
                words = g_strsplit_set(args, " \t\n\r\v\f", -1);
                for (char **w = words; *w; w++)
                        if (**w)
                                g_ptr_array_add(out, g_strdup(*w));
        }
        g_ptr_array_add(out, NULL);
        return (char **) g_ptr_array_free(out, false);
}

/* ---- the builder ----------------------------------------------------------
 * Strings handed around while building are owned by `pool` and live as long
 * as the builder: no ownership bookkeeping in the device code. */

typedef enum Bus {
        BUS_VIRTIO,
        BUS_IDE,
        BUS_SATA,
        BUS_SCSI,
        BUS_USB,
        BUS_FDC,
        _BUS_MAX,
} Bus;

static const char *const bus_names[_BUS_MAX] = {
        [BUS_VIRTIO] = "virtio", [BUS_IDE] = "ide", [BUS_SATA] = "sata",
        [BUS_SCSI] = "scsi",     [BUS_USB] = "usb", [BUS_FDC] = "fdc",
};

/* One serial port or console as QEMU sees it. */
typedef struct Chardev {
        const char *alias;  /* serialN, consoleN */
        const char *id;     /* QEMU chardev id */
        const char *type;   /* pty, file, unix */
        const char *path;   /* file or socket; NULL for pty */
        bool append;        /* file: <source append='on'> */
        int isa_index;      /* ISA serial index, -1 for a virtio console */
        bool duplicate;     /* names a device listed earlier: nothing to create */
        bool placeholder;   /* path made up for a validation pass (no runtime dir) */
} Chardev;

typedef struct Builder {
        const KvmLaunch *launch;
        bool check_files;
        GError **error;
        GPtrArray *pool;

        xmlDoc *doc;
        xmlNode *root, *os, *devices;
        bool q35;

        GPtrArray *head;    /* machine-wide options */
        GPtrArray *ctrl;    /* controllers: created before the devices on their buses */
        GPtrArray *dev;     /* devices */

        GHashTable *bootindex;   /* xmlNode* → bootindex */
        GHashTable *slots;       /* "bus:index" taken by a disk */
        bool usb, sata, scsi, virtio_serial, audio, fdc;
        unsigned fdc_bootindex[2];
} Builder;

static void builder_init(Builder *b, const KvmLaunch *launch, bool check_files, GError **error) {
        *b = (Builder) {
                .launch = launch,
                .check_files = check_files,
                .error = error,
                .pool = g_ptr_array_new_with_free_func(g_free),
                .head = g_ptr_array_new_with_free_func(g_free),
                .ctrl = g_ptr_array_new_with_free_func(g_free),
                .dev = g_ptr_array_new_with_free_func(g_free),
                .bootindex = g_hash_table_new(g_direct_hash, g_direct_equal),
                .slots = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
        };
}

static void builder_done(Builder *b) {
        g_clear_pointer(&b->pool, g_ptr_array_unref);
        g_clear_pointer(&b->head, g_ptr_array_unref);
        g_clear_pointer(&b->ctrl, g_ptr_array_unref);
        g_clear_pointer(&b->dev, g_ptr_array_unref);
        g_clear_pointer(&b->bootindex, g_hash_table_unref);
        g_clear_pointer(&b->slots, g_hash_table_unref);
        g_clear_pointer(&b->doc, xmlFreeDoc);
}

/* takes ownership of s */
static const char *pooled(Builder *b, char *s) {
        if (s)
                g_ptr_array_add(b->pool, s);
        return s;
}

static const char *fmt(Builder *b, const char *format, ...) G_GNUC_PRINTF(2, 3);
static const char *fmt(Builder *b, const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        s = g_strdup_vprintf(format, ap);
        va_end(ap);
        return pooled(b, s);
}

static const char *esc(Builder *b, const char *s) {
        return pooled(b, kvm_qemu_opt_escape(s));
}

/* A value quoted in an error message: short, and valid UTF-8 because the
 * message ends up in a D-Bus error. */
static const char *clip(Builder *b, const char *value) {
        g_autofree char *valid = g_utf8_make_valid(value ? value : "", -1);

        if (g_utf8_strlen(valid, -1) > SHOWN_MAX_CHARS) {
                g_autofree char *prefix = g_utf8_substring(valid, 0, SHOWN_MAX_CHARS);
                return pooled(b, g_strconcat(prefix, "...", NULL));
        }
        return pooled(b, g_steal_pointer(&valid));
}

static bool invalid(Builder *b, const char *format, ...) G_GNUC_PRINTF(2, 3);
static bool invalid(Builder *b, const char *format, ...) {
        va_list ap;

        if (b->error && !*b->error) {
                va_start(ap, format);
                *b->error = g_error_new_valist(KVM_CMDLINE_ERROR, KVM_CMDLINE_ERROR_INVALID, format, ap);
                va_end(ap);
        }
        return false;
}

static bool missing(Builder *b, const char *format, ...) G_GNUC_PRINTF(2, 3);
static bool missing(Builder *b, const char *format, ...) {
        va_list ap;

        if (b->error && !*b->error) {
                va_start(ap, format);
                *b->error = g_error_new_valist(KVM_CMDLINE_ERROR, KVM_CMDLINE_ERROR_MISSING, format, ap);
                va_end(ap);
        }
        return false;
}

static void add(GPtrArray *a, const char *s) {
        g_ptr_array_add(a, g_strdup(s));
}

/* "-option" followed by a formatted value */
static void opt(GPtrArray *a, const char *option, const char *format, ...) G_GNUC_PRINTF(3, 4);
static void opt(GPtrArray *a, const char *option, const char *format, ...) {
        va_list ap;

        g_ptr_array_add(a, g_strdup(option));
        va_start(ap, format);
        g_ptr_array_add(a, g_strdup_vprintf(format, ap));
        va_end(ap);
}

/* ---- XML access -------------------------------------------------------- */

/* libvirt's elements carry no namespace; namespaced ones (<qemu:...>,
 * metadata) are never mistaken for them. */
static bool is_el(const xmlNode *n, const char *name) {
        return n && n->type == XML_ELEMENT_NODE && !n->ns && strcmp((const char *) n->name, name) == 0;
}

static xmlNode *child(const xmlNode *n, const char *name) {
        if (!n)
                return NULL;
        for (xmlNode *c = n->children; c; c = c->next)
                if (is_el(c, name))
                        return c;
        return NULL;
}

#define FOREACH_CHILD(c, parent, name) \
        for (xmlNode *c = (parent) ? (parent)->children : NULL; c; c = c->next) \
                if (is_el(c, name))

static const char *prop(Builder *b, const xmlNode *n, const char *name) {
        xmlChar *v;
        const char *s;

        if (!n)
                return NULL;
        v = xmlGetNoNsProp(n, BAD_CAST name);
        if (!v)
                return NULL;
        s = pooled(b, g_strdup((const char *) v));
        xmlFree(v);
        return s;
}

/* element content without surrounding blanks; NULL when n is NULL */
static const char *text(Builder *b, const xmlNode *n) {
        xmlChar *v;
        char *s;

        if (!n)
                return NULL;
        v = xmlNodeGetContent(n);
        s = g_strstrip(g_strdup(v ? (const char *) v : ""));
        xmlFree(v);
        return pooled(b, s);
}

static bool streq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

static bool one_of(const char *value, const char *const *allowed) {
        return value && g_strv_contains(allowed, value);
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!s)
                return false;
        while (g_ascii_isspace(*s))
                s++;
        if (!g_ascii_isdigit(*s))
                return false;
        for (; g_ascii_isdigit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');

                if (d > max || v > (max - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        while (g_ascii_isspace(*s))
                s++;
        if (*s)
                return false;
        *ret = v;
        return true;
}

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *ret) {
        uint64_t u;
        bool negative;

        if (!s)
                return false;
        while (g_ascii_isspace(*s))
                s++;
        negative = *s == '-';
        if (!parse_uint(negative ? s + 1 : s, (uint64_t) INT64_MAX, &u))
                return false;
        *ret = negative ? -(int64_t) u : (int64_t) u;
        return *ret >= min && *ret <= max;
}

/* Names QEMU takes as a bare word: machine types, CPU models and features. */
static bool is_simple_name(const char *s) {
        if (!s || !*s)
                return false;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr("._-", *s))
                        return false;
        return true;
}

static void init_libxml(void) {
        static gsize initialized = 0;

        if (g_once_init_enter(&initialized)) {
                xmlInitParser();
                g_once_init_leave(&initialized, 1);
        }
}

static bool load(Builder *b, const char *xml) {
        size_t len;

        if (!xml || !*xml)
                return invalid(b, "empty XML document");
        len = strlen(xml);
        if (len > INT_MAX)
                return invalid(b, "XML document too large");

        init_libxml();
        /* no NOENT/DTDLOAD: entities are never substituted nor fetched */
        b->doc = xmlReadMemory(xml, (int) len, NULL, NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!b->doc)
                return invalid(b, "malformed XML");
        if (b->doc->intSubset || b->doc->extSubset)
                return invalid(b, "<!DOCTYPE>: not allowed in domain XML");
        b->root = xmlDocGetRootElement(b->doc);
        if (!is_el(b->root, "domain"))
                return invalid(b, "<domain>: expected as root element");
        b->os = child(b->root, "os");
        b->devices = child(b->root, "devices");
        return true;
}

/* ---- files ----------------------------------------------------------------- */

/* `what` names the element, e.g. "<disk><source file='/x'>" */
static bool check_access(Builder *b, const char *what, const char *path, bool writable, bool want_dir) {
        struct stat st;

        if (!b->check_files)
                return true;
        if (stat(path, &st) < 0 || access(path, writable ? R_OK | W_OK : R_OK) < 0)
                return missing(b, "%s: %s", what, g_strerror(errno));
        if (want_dir && !S_ISDIR(st.st_mode))
                return missing(b, "%s: %s", what, g_strerror(ENOTDIR));
        if (!want_dir && S_ISDIR(st.st_mode))
                return missing(b, "%s: %s", what, g_strerror(EISDIR));
        return true;
}

/* ---- machine-wide options -------------------------------------------------- */

static bool build_machine(Builder *b) {
        xmlNode *type = child(b->os, "type");
        const char *machine = prop(b, type, "machine");
        const char *arch = prop(b, type, "arch");
        const char *os_type = text(b, type);
        const char *accel = b->launch->accel;
        const char *dump = prop(b, child(b->root, "memory"), "dumpCore");
        xmlNode *features = child(b->root, "features");

        if (os_type && *os_type && !streq(os_type, "hvm"))
                return invalid(b, "<os><type>%s</type>: QEMU runs hvm guests only", clip(b, os_type));
        if (arch && !one_of(arch, STRV("x86_64", "i686")))
                return invalid(b, "<os><type arch='%s'>: unsupported architecture (x86_64, i686)",
                               clip(b, arch));
        if (!machine)
                machine = "pc";
        if (!is_simple_name(machine) ||
            !(streq(machine, "pc") || streq(machine, "q35") || g_str_has_prefix(machine, "pc-i440fx-") ||
              g_str_has_prefix(machine, "pc-q35-")))
                return invalid(b, "<os><type machine='%s'>: unsupported machine type (pc, q35, pc-i440fx-*, pc-q35-*)",
                               clip(b, machine));
        b->q35 = strstr(machine, "q35") != NULL;

        if (!one_of(accel, STRV("kvm", "tcg")))
                return invalid(b, "accelerator '%s': expected kvm or tcg", clip(b, accel));

        opt(b->head, "-machine", "%s,accel=%s%s%s", machine, accel,
            child(features, "acpi") ? "" : ",acpi=off", streq(dump, "off") ? ",dump-guest-core=off" : "");
        return true;
}

static bool build_cpu(Builder *b) {
        xmlNode *cpu = child(b->root, "cpu");
        const char *mode = prop(b, cpu, "mode");
        bool kvm = streq(b->launch->accel, "kvm");
        const char *model;
        bool with_features;
        GString *s;

        /* No <cpu>: QEMU's default model, as libvirt does. "host" needs a
         * real hardware CPU model under KVM, which asks for <cpu>. */
        if (!cpu) {
                add(b->head, "-cpu");
                g_ptr_array_add(b->head, g_strdup("qemu64"));
                return true;
        }

        if (!mode)
                mode = child(cpu, "model") ? "custom" : "host-model";

        if (streq(mode, "custom")) {
                model = text(b, child(cpu, "model"));
                if (!model || !*model) {
                        /* <cpu> with only <topology> or features, libvirt style */
                        model = kvm ? "host" : "qemu64";
                        with_features = kvm;
                } else if (!is_simple_name(model))
                        return invalid(b, "<cpu><model>%s</model>: not a CPU model name", clip(b, model));
                else
                        with_features = true;
        } else if (one_of(mode, STRV("host-passthrough", "host-model", "maximum"))) {
                /* "host" only exists with KVM; "max" is never wanted here */
                model = kvm ? "host" : "qemu64";
                with_features = kvm;
        } else
                return invalid(b, "<cpu mode='%s'>: unknown mode", clip(b, mode));

        s = g_string_new(model);
        if (with_features)
                FOREACH_CHILD(f, cpu, "feature") {
                        const char *name = prop(b, f, "name");
                        const char *policy = prop(b, f, "policy");

                        if (!is_simple_name(name)) {
                                g_string_free(s, true);
                                return invalid(b, "<cpu><feature name='%s'>: not a CPU feature name", clip(b, name));
                        }
                        if (!policy)
                                policy = "require";
                        if (one_of(policy, STRV("require", "force")))
                                g_string_append_printf(s, ",%s=on", name);
                        else if (one_of(policy, STRV("disable", "forbid")))
                                g_string_append_printf(s, ",%s=off", name);
                        else if (!streq(policy, "optional")) {
                                g_string_free(s, true);
                                return invalid(b, "<cpu><feature policy='%s'>: unknown policy", clip(b, policy));
                        }
                }
        add(b->head, "-cpu");
        g_ptr_array_add(b->head, g_string_free(s, false));
        return true;
}

static bool unit_scale(const char *unit, uint64_t *ret) {
        static const struct {
                const char *names[3];
                uint64_t bytes;
        } units[] = {
                { { "b", "bytes", "byte" }, 1 },
                { { "k", "KiB" }, 1ull << 10 },
                { { "M", "MiB" }, 1ull << 20 },
                { { "G", "GiB" }, 1ull << 30 },
                { { "T", "TiB" }, 1ull << 40 },
                { { "KB" }, 1000ull },
                { { "MB" }, 1000000ull },
                { { "GB" }, 1000000000ull },
                { { "TB" }, 1000000000000ull },
        };

        if (!unit) {
                *ret = 1024;
                return true;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
                for (size_t j = 0; j < G_N_ELEMENTS(units[i].names) && units[i].names[j]; j++)
                        if (g_ascii_strcasecmp(unit, units[i].names[j]) == 0) {
                                *ret = units[i].bytes;
                                return true;
                        }
        return false;
}

static bool build_memory(Builder *b) {
        xmlNode *memory = child(b->root, "memory");
        const char *value = text(b, memory);
        const char *unit = prop(b, memory, "unit");
        uint64_t n, scale, kib;

        if (!memory)
                return invalid(b, "<domain>: missing <memory>");
        if (!unit_scale(unit, &scale))
                return invalid(b, "<memory unit='%s'>: unknown unit", clip(b, unit));
        if (!parse_uint(value, UINT64_MAX, &n) || n > UINT64_MAX / scale)
                return invalid(b, "<memory>%s</memory>: not a size", clip(b, value));
        kib = (n * scale + 1023) / 1024;
        if (kib == 0)
                return invalid(b, "<memory>%s</memory>: must be greater than zero", clip(b, value));
        opt(b->head, "-m", "size=%" PRIu64 "k", kib);
        return true;
}

static bool build_smp(Builder *b) {
        xmlNode *vcpu = child(b->root, "vcpu");
        const char *max_s = text(b, vcpu);
        const char *cur_s = prop(b, vcpu, "current");
        xmlNode *topology = child(child(b->root, "cpu"), "topology");
        uint64_t max = 1, cur;
        GString *s;

        if (vcpu && !parse_uint(max_s, 4096, &max))
                return invalid(b, "<vcpu>%s</vcpu>: not a number of vCPUs", clip(b, max_s));
        if (max < 1)
                return invalid(b, "<vcpu>%s</vcpu>: must be at least 1", clip(b, max_s));
        cur = max;
        if (cur_s && (!parse_uint(cur_s, max, &cur) || cur < 1))
                return invalid(b, "<vcpu current='%s'>: must be between 1 and <vcpu>", clip(b, cur_s));

        s = g_string_new(NULL);
        g_string_append_printf(s, "%" PRIu64, cur);
        if (cur != max)
                g_string_append_printf(s, ",maxcpus=%" PRIu64, max);
        if (topology) {
                uint64_t product = 1;
                unsigned given = 0;

                for (const char *const *a = STRV("sockets", "dies", "cores", "threads"); *a; a++) {
                        const char *v = prop(b, topology, *a);
                        uint64_t n;

                        if (!v)
                                continue;
                        if (!parse_uint(v, 4096, &n) || n < 1) {
                                g_string_free(s, true);
                                return invalid(b, "<cpu><topology %s='%s'>: not a positive number", *a, clip(b, v));
                        }
                        g_string_append_printf(s, ",%s=%" PRIu64, *a, n);
                        product *= n;
                        if (!streq(*a, "dies"))
                                given++;
                }
                /* QEMU derives a missing one; with all three they must add up */
                if (given == 3 && product != max) {
                        g_string_free(s, true);
                        return invalid(b, "<cpu><topology>: %" PRIu64 " vCPUs in the topology, <vcpu> says %" PRIu64,
                                       product, max);
                }
        }
        add(b->head, "-smp");
        g_ptr_array_add(b->head, g_string_free(s, false));
        return true;
}

static bool build_clock(Builder *b) {
        xmlNode *clock = child(b->root, "clock");
        const char *offset = prop(b, clock, "offset");
        const char *base, *driftfix = "";

        if (!offset || streq(offset, "utc"))
                base = "utc";
        else if (streq(offset, "localtime"))
                base = "localtime";
        else if (streq(offset, "variable")) {
                const char *adjustment = prop(b, clock, "adjustment");
                const char *basis = prop(b, clock, "basis");
                g_autoptr(GDateTime) now = NULL, start = NULL;
                int64_t seconds = 0;

                if (adjustment && !parse_int(adjustment, -(INT64_C(1) << 40), INT64_C(1) << 40, &seconds))
                        return invalid(b, "<clock adjustment='%s'>: not a number of seconds", clip(b, adjustment));
                if (!basis || streq(basis, "utc"))
                        now = g_date_time_new_now_utc();
                else if (streq(basis, "localtime"))
                        now = g_date_time_new_now_local();
                else
                        return invalid(b, "<clock basis='%s'>: expected utc or localtime", clip(b, basis));
                start = g_date_time_add_seconds(now, (gdouble) seconds);
                if (!start)
                        return invalid(b, "<clock adjustment='%s'>: out of range", clip(b, adjustment));
                base = pooled(b, g_date_time_format(start, "%Y-%m-%dT%H:%M:%S"));
        } else
                return invalid(b, "<clock offset='%s'>: not supported (utc, localtime, variable)", clip(b, offset));

        FOREACH_CHILD(t, clock, "timer")
                if (streq(prop(b, t, "name"), "rtc") && streq(prop(b, t, "tickpolicy"), "catchup"))
                        driftfix = ",driftfix=slew";
        opt(b->head, "-rtc", "base=%s%s", base, driftfix);
        return true;
}

static bool build_kernel(Builder *b) {
        const KvmLaunch *l = b->launch;
        const char *kernel, *initrd, *cmdline;
        const char *kernel_what, *initrd_what;

        if (l->boot_kernel) {
                kernel = l->boot_kernel;
                initrd = l->boot_initrd;
                cmdline = l->boot_cmdline;
                kernel_what = fmt(b, "<bootloader> kernel '%s'", clip(b, kernel));
                initrd_what = fmt(b, "<bootloader> initrd '%s'", clip(b, initrd));
        } else {
                kernel = text(b, child(b->os, "kernel"));
                initrd = text(b, child(b->os, "initrd"));
                cmdline = text(b, child(b->os, "cmdline"));
                if (kernel && !*kernel)
                        return invalid(b, "<os><kernel>: must not be empty");
                if (initrd && !*initrd)
                        return invalid(b, "<os><initrd>: must not be empty");
                if (!kernel && initrd)
                        return invalid(b, "<os><initrd>%s</initrd>: needs an <os><kernel>", clip(b, initrd));
                if (!kernel && cmdline && *cmdline)
                        return invalid(b, "<os><cmdline>: needs an <os><kernel>");
                kernel_what = fmt(b, "<os><kernel>%s</kernel>", clip(b, kernel));
                initrd_what = fmt(b, "<os><initrd>%s</initrd>", clip(b, initrd));
        }
        if (!kernel)
                return true;

        /* -kernel/-initrd/-append values are taken verbatim: no escaping */
        if (!check_access(b, kernel_what, kernel, false, false))
                return false;
        add(b->head, "-kernel");
        add(b->head, kernel);
        if (initrd) {
                if (!check_access(b, initrd_what, initrd, false, false))
                        return false;
                add(b->head, "-initrd");
                add(b->head, initrd);
        }
        if (cmdline && *cmdline) {
                add(b->head, "-append");
                add(b->head, cmdline);
        }
        return true;
}

/* ---- boot order ------------------------------------------------------------ */

static const char *disk_device(Builder *b, xmlNode *disk) {
        const char *device = prop(b, disk, "device");
        return device ? device : "disk";
}

/* <boot order='N'/> inside a <disk> or <interface> */
static bool device_boot_order(Builder *b, xmlNode *n, GHashTable *orders) {
        xmlNode *boot = child(n, "boot");
        const char *order = prop(b, boot, "order");
        uint64_t v;

        if (!boot)
                return true;
        if (!parse_uint(order, 65535, &v) || v < 1)
                return invalid(b, "<%s><boot order='%s'>: not a positive number", (const char *) n->name,
                               clip(b, order));
        if (g_hash_table_contains(orders, GUINT_TO_POINTER(v)))
                return invalid(b, "<%s><boot order='%s'>: used twice", (const char *) n->name, clip(b, order));
        g_hash_table_add(orders, GUINT_TO_POINTER(v));
        g_hash_table_insert(b->bootindex, n, GUINT_TO_POINTER(v));
        return true;
}

/* Fills b->bootindex from <os><boot dev> or from per-device <boot order>. */
static bool plan_boot(Builder *b) {
        g_autoptr(GHashTable) orders = g_hash_table_new(g_direct_hash, g_direct_equal);
        unsigned next = 1;

        for (xmlNode *n = b->devices ? b->devices->children : NULL; n; n = n->next)
                if ((is_el(n, "disk") || is_el(n, "interface")) && !device_boot_order(b, n, orders))
                        return false;

        FOREACH_CHILD(boot, b->os, "boot") {
                const char *dev = prop(b, boot, "dev");
                xmlNode *target = NULL;

                if (!one_of(dev, STRV("hd", "cdrom", "network", "fd")))
                        return invalid(b, "<os><boot dev='%s'>: unknown boot device (hd, cdrom, network, fd)",
                                       clip(b, dev));
                if (g_hash_table_size(orders) > 0)
                        return invalid(b, "<os><boot dev='%s'>: cannot be combined with per-device <boot order>",
                                       dev);
                if (streq(dev, "network"))
                        target = child(b->devices, "interface");
                else {
                        const char *want = streq(dev, "hd") ? "disk" : streq(dev, "cdrom") ? "cdrom" : "floppy";

                        FOREACH_CHILD(n, b->devices, "disk")
                                if (streq(disk_device(b, n), want)) {
                                        target = n;
                                        break;
                                }
                }
                /* a kind listed twice or with no such device: nothing to mark */
                if (target && !g_hash_table_contains(b->bootindex, target))
                        g_hash_table_insert(b->bootindex, target, GUINT_TO_POINTER(next++));
        }
        return true;
}

static unsigned bootindex_of(Builder *b, xmlNode *n) {
        return GPOINTER_TO_UINT(g_hash_table_lookup(b->bootindex, n));
}

/* ",bootindex=N" or "" */
static const char *bootindex_opt(Builder *b, xmlNode *n) {
        unsigned i = bootindex_of(b, n);
        return i ? fmt(b, ",bootindex=%u", i) : "";
}

static bool build_boot_menu(Builder *b) {
        xmlNode *menu = child(b->os, "bootmenu");
        const char *enable = prop(b, menu, "enable");
        const char *timeout = prop(b, menu, "timeout");
        uint64_t ms;

        if (!streq(enable, "yes")) {
                add(b->head, "-boot");
                add(b->head, "menu=off");
                return true;
        }
        if (timeout) {
                if (!parse_uint(timeout, 65535, &ms))
                        return invalid(b, "<os><bootmenu timeout='%s'>: not a number of milliseconds", clip(b, timeout));
                opt(b->head, "-boot", "menu=on,splash-time=%" PRIu64, ms);
        } else
                opt(b->head, "-boot", "menu=on");
        return true;
}

/* ---- controllers ----------------------------------------------------------- */

static void need_usb(Builder *b) {
        if (!b->usb)
                opt(b->ctrl, "-device", "qemu-xhci,id=usb");
        b->usb = true;
}

static void need_scsi(Builder *b) {
        if (!b->scsi)
                opt(b->ctrl, "-device", "virtio-scsi-pci,id=scsi0");
        b->scsi = true;
}

/* q35 has an AHCI controller built in (buses ide.0 .. ide.5) */
static const char *sata_bus(Builder *b) {
        if (b->q35)
                return "ide";
        if (!b->sata)
                opt(b->ctrl, "-device", "ich9-ahci,id=sata0");
        b->sata = true;
        return "sata0";
}

static void need_virtio_serial(Builder *b) {
        if (!b->virtio_serial)
                opt(b->ctrl, "-device", "virtio-serial-pci,id=virtio-serial0");
        b->virtio_serial = true;
}

static void need_audio(Builder *b) {
        if (!b->audio)
                opt(b->head, "-audiodev", "none,id=audio0");
        b->audio = true;
}

/* The floppy controller needs the boot indexes of both drives, so it comes
 * after all disks: on pc it is built in (-global), on q35 an isa-fdc. */
static void finish_fdc(Builder *b) {
        if (!b->fdc)
                return;
        if (b->q35)
                opt(b->ctrl, "-device", "isa-fdc,id=fdc0%s%s",
                    b->fdc_bootindex[0] ? fmt(b, ",bootindexA=%u", b->fdc_bootindex[0]) : "",
                    b->fdc_bootindex[1] ? fmt(b, ",bootindexB=%u", b->fdc_bootindex[1]) : "");
        else
                for (unsigned u = 0; u < 2; u++)
                        if (b->fdc_bootindex[u])
                                opt(b->ctrl, "-global", "isa-fdc.bootindex%c=%u", 'A' + u, b->fdc_bootindex[u]);
}

/* ---- disks ----------------------------------------------------------------- */

/* libvirt's disk names: a prefix and a base-26 letter index (vda=0,
 * vdz=25, vdaa=26). */
static bool disk_index(const char *dev, const char **ret_prefix, unsigned *ret_index) {
        static const char *const prefixes[] = { "xvd", "hd", "sd", "vd", "fd" };
        const char *p = NULL, *s;
        unsigned index = 0;

        if (!dev)
                return false;
        for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++)
                if (g_str_has_prefix(dev, prefixes[i])) {
                        p = prefixes[i];
                        break;
                }
        if (!p)
                return false;
        s = dev + strlen(p);
        if (!*s || strlen(s) > 3)
                return false;
        for (; *s; s++) {
                if (*s < 'a' || *s > 'z')
                        return false;
                index = index * 26 + (unsigned) (*s - 'a' + 1);
        }
        *ret_prefix = p;
        *ret_index = index - 1;
        return true;
}

static bool take_slot(Builder *b, Bus bus, unsigned index, const char *dev) {
        char *key = g_strdup_printf("%s:%u", bus_names[bus], index);

        if (g_hash_table_contains(b->slots, key)) {
                g_free(key);
                return invalid(b, "<disk><target dev='%s'>: a second disk on the same %s unit", clip(b, dev),
                               bus_names[bus]);
        }
        g_hash_table_add(b->slots, key);
        return true;
}

static bool build_disk(Builder *b, xmlNode *disk) {
        const char *type = prop(b, disk, "type");
        const char *device = disk_device(b, disk);
        xmlNode *driver = child(disk, "driver");
        xmlNode *source = child(disk, "source");
        xmlNode *target = child(disk, "target");
        const char *dev = prop(b, target, "dev");
        const char *bus_s = prop(b, target, "bus");
        const char *driver_name = prop(b, driver, "name");
        const char *format = prop(b, driver, "type");
        const char *cache = prop(b, driver, "cache");
        const char *discard = prop(b, driver, "discard");
        const char *serial = text(b, child(disk, "serial"));
        bool cdrom = streq(device, "cdrom"), floppy = streq(device, "floppy");
        bool readonly = cdrom || child(disk, "readonly");
        const char *path = NULL, *path_what = NULL, *prefix = NULL, *node_opts = "", *dev_opts = "";
        const char *drive = "", *model, *where;
        unsigned index = 0;
        Bus bus;

        if (!type)
                type = "file";
        if (!one_of(type, STRV("file", "block")))
                return invalid(b, "<disk type='%s'>: not supported (file, block)", clip(b, type));
        if (!one_of(device, STRV("disk", "cdrom", "floppy")))
                return invalid(b, "<disk device='%s'>: not supported (disk, cdrom, floppy)", clip(b, device));

        /* target */
        if (!target || !dev)
                return invalid(b, "<disk><target>: missing dev attribute");
        if (!disk_index(dev, &prefix, &index))
                return invalid(b, "<disk><target dev='%s'>: not a disk name like vda, sda, hda or fda", clip(b, dev));
        if (!bus_s)
                bus_s = streq(prefix, "hd") ? "ide" : streq(prefix, "sd") ? "scsi" : streq(prefix, "vd") ? "virtio" :
                        streq(prefix, "fd") ? "fdc" : "xen";
        for (bus = 0; bus < _BUS_MAX; bus++)
                if (streq(bus_s, bus_names[bus]))
                        break;
        if (bus == _BUS_MAX)
                return invalid(b, "<disk><target bus='%s'>: unknown bus (virtio, ide, sata, scsi, usb, fdc)",
                               clip(b, bus_s));

        /* driver */
        if (driver_name && !streq(driver_name, "qemu"))
                return invalid(b, "<disk><driver name='%s'>: only 'qemu'", clip(b, driver_name));
        if (!format)
                format = "raw";
        if (!one_of(format, STRV("raw", "qcow2")))
                return invalid(b, "<disk><driver type='%s'>: unknown format (raw, qcow2)", clip(b, format));
        if (!cache || one_of(cache, STRV("default", "writeback")))
                ;
        else if (streq(cache, "none"))
                node_opts = ",cache.direct=on";
        else if (streq(cache, "writethrough"))
                dev_opts = ",write-cache=off";
        else if (streq(cache, "directsync")) {
                node_opts = ",cache.direct=on";
                dev_opts = ",write-cache=off";
        } else if (streq(cache, "unsafe"))
                node_opts = ",cache.no-flush=on";
        else
                return invalid(b, "<disk><driver cache='%s'>: unknown cache mode", clip(b, cache));
        if (discard && !one_of(discard, STRV("ignore", "unmap")))
                return invalid(b, "<disk><driver discard='%s'>: expected ignore or unmap", clip(b, discard));
        if (streq(discard, "unmap"))
                node_opts = fmt(b, "%s,discard=unmap", node_opts);
        if (serial && *serial)
                dev_opts = fmt(b, "%s,serial=%s", dev_opts, esc(b, serial));

        /* source */
        if (source) {
                const char *attr = streq(type, "file") ? "file" : "dev";

                path = prop(b, source, attr);
                if (path && !*path)
                        return invalid(b, "<disk><source %s=''>: must not be empty", attr);
                path_what = fmt(b, "<disk><source %s='%s'>", attr, clip(b, path));
        }
        if (!path && !cdrom && !floppy)
                return invalid(b, "<disk><target dev='%s'>: a disk needs a <source %s=...>", clip(b, dev),
                               streq(type, "file") ? "file" : "dev");

        /* device model and address */
        where = fmt(b, "<disk device='%s'><target dev='%s' bus='%s'>", device, clip(b, dev), bus_names[bus]);
        switch (bus) {
        case BUS_VIRTIO:
                if (cdrom || floppy)
                        return invalid(b, "%s: a virtio disk cannot be a %s", where, device);
                model = "virtio-blk-pci";
                break;
        case BUS_IDE:
                if (b->q35)
                        return invalid(b, "%s: q35 has no IDE bus, use bus='sata'", where);
                if (floppy)
                        return invalid(b, "%s: a floppy goes on bus='fdc'", where);
                if (index >= 4)
                        return invalid(b, "%s: IDE has hda to hdd only", where);
                model = fmt(b, "%s,bus=ide.%u,unit=%u", cdrom ? "ide-cd" : "ide-hd", index / 2, index % 2);
                break;
        case BUS_SATA:
                if (floppy)
                        return invalid(b, "%s: a floppy goes on bus='fdc'", where);
                if (index >= AHCI_PORTS)
                        return invalid(b, "%s: SATA has %d ports (sda to sdf)", where, AHCI_PORTS);
                model = fmt(b, "%s,bus=%s.%u", cdrom ? "ide-cd" : "ide-hd", sata_bus(b), index);
                break;
        case BUS_SCSI:
                if (floppy)
                        return invalid(b, "%s: a floppy goes on bus='fdc'", where);
                if (index >= SCSI_TARGETS)
                        return invalid(b, "%s: too many SCSI targets", where);
                need_scsi(b);
                model = fmt(b, "%s,bus=scsi0.0,channel=0,scsi-id=%u,lun=0", cdrom ? "scsi-cd" : "scsi-hd", index);
                break;
        case BUS_USB:
                if (floppy)
                        return invalid(b, "%s: a floppy goes on bus='fdc'", where);
                if (!path)
                        return invalid(b, "%s: a USB cdrom needs a <source>", where);
                need_usb(b);
                model = cdrom ? "usb-storage,bus=usb.0,removable=on" : "usb-storage,bus=usb.0";
                break;
        case BUS_FDC:
                if (!floppy)
                        return invalid(b, "%s: only floppies go on bus='fdc'", where);
                if (index >= 2)
                        return invalid(b, "%s: there are two floppy drives, fda and fdb", where);
                b->fdc = true;
                b->fdc_bootindex[index] = bootindex_of(b, disk);
                model = fmt(b, "floppy%s,unit=%u", b->q35 ? ",bus=fdc0.0" : "", index);
                break;
        default:
                g_assert_not_reached();
        }
        if (readonly && !cdrom && (bus == BUS_IDE || bus == BUS_SATA))
                return invalid(b, "%s<readonly/>: IDE and SATA hard disks cannot be read-only", where);
        if (!take_slot(b, bus, index, dev))
                return false;

        if (path) {
                if (!check_access(b, path_what, path, !readonly, false))
                        return false;
                if (b->check_files && streq(type, "block")) {
                        struct stat st;

                        if (stat(path, &st) == 0 && !S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode))
                                return invalid(b, "%s: not a block device (use <disk type='file'>)", path_what);
                }
                opt(b->dev, "-blockdev", "driver=%s,node-name=file-%s,filename=%s%s%s",
                    streq(type, "file") ? "file" : "host_device", dev, esc(b, path),
                    readonly ? ",read-only=on" : "", node_opts);
                opt(b->dev, "-blockdev", "driver=%s,node-name=drive-%s,file=file-%s%s%s", format, dev, dev,
                    readonly ? ",read-only=on" : "", node_opts);
                drive = fmt(b, ",drive=drive-%s", dev);
        }

        /* floppies boot through the controller's bootindexA/B */
        opt(b->dev, "-device", "%s,id=%s%s%s%s", model, dev, drive, floppy ? "" : bootindex_opt(b, disk),
            floppy ? "" : dev_opts);
        return true;
}

/* ---- network --------------------------------------------------------------- */

static bool build_interface(Builder *b, xmlNode *iface, unsigned n) {
        const char *type = prop(b, iface, "type");
        xmlNode *source = child(iface, "source");
        const char *model = prop(b, child(iface, "model"), "type");
        const char *mac = prop(b, child(iface, "mac"), "address");
        xmlNode *tftp = NULL;
        const char *netdev, *qemu_model;

        for (xmlNode *c = iface->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE || !c->ns || !streq((const char *) c->ns->href, DOMAIND_KVM_NS))
                        continue;
                if (!streq((const char *) c->name, "tftp") || tftp)
                        return invalid(b, "<interface><domaind:%s>: unknown or repeated domaind element",
                                       clip(b, (const char *) c->name));
                tftp = c;
        }

        if (!type)
                type = "user";
        if (streq(type, "network")) {
                const char *network = prop(b, source, "network");

                if (!streq(network, "default"))
                        return invalid(b, "<interface type='network'><source network='%s'>: domaind has no libvirt "
                                       "networks; only 'default' (user networking) exists", clip(b, network));
                type = "user";
        }
        if (streq(type, "user")) {
                const char *tftp_opts = "";

                if (tftp) {
                        const char *root = prop(b, tftp, "root");
                        const char *bootfile = prop(b, tftp, "bootfile");

                        if (!root || !*root)
                                return invalid(b, "<interface><domaind:tftp>: missing root attribute");
                        if (!check_access(b, fmt(b, "<interface><domaind:tftp root='%s'>", clip(b, root)), root,
                                          false, true))
                                return false;
                        tftp_opts = fmt(b, ",tftp=%s", esc(b, root));
                        if (bootfile && *bootfile)
                                tftp_opts = fmt(b, "%s,bootfile=%s", tftp_opts, esc(b, bootfile));
                }
                netdev = fmt(b, "user,id=net%u%s", n, tftp_opts);
        } else if (streq(type, "bridge")) {
                const char *bridge = prop(b, source, "bridge");

                if (!bridge || !*bridge)
                        return invalid(b, "<interface type='bridge'><source>: missing bridge attribute");
                if (tftp)
                        return invalid(b, "<interface type='bridge'><domaind:tftp>: TFTP is for user networking only");
                netdev = fmt(b, "bridge,id=net%u,br=%s", n, esc(b, bridge));
        } else
                return invalid(b, "<interface type='%s'>: not supported (user, bridge, network)", clip(b, type));

        if (!model || streq(model, "virtio"))
                qemu_model = "virtio-net-pci";
        else if (one_of(model, STRV("e1000", "e1000e", "rtl8139")))
                qemu_model = model;
        else
                return invalid(b, "<interface><model type='%s'>: unknown model (virtio, e1000, e1000e, rtl8139)",
                               clip(b, model));

        opt(b->dev, "-netdev", "%s", netdev);
        opt(b->dev, "-device", "%s,id=nic%u,netdev=net%u%s%s", qemu_model, n, n,
            mac ? fmt(b, ",mac=%s", esc(b, mac)) : "", bootindex_opt(b, iface));
        return true;
}

/* ---- serial ports and consoles --------------------------------------------- */

/* type and path of a <serial>/<console> */
static bool chardev_source(Builder *b, xmlNode *n, const char *element, Chardev *c) {
        const char *type = prop(b, n, "type");
        xmlNode *source = child(n, "source");

        if (!type)
                type = "pty";
        c->type = type;
        if (streq(type, "pty"))
                return true;
        if (streq(type, "file")) {
                c->path = prop(b, source, "path");
                if (!c->path || !*c->path)
                        return invalid(b, "<%s type='file'><source>: missing path attribute", element);
                c->append = streq(prop(b, source, "append"), "on");
                return true;
        }
        if (streq(type, "unix")) {
                const char *mode = prop(b, source, "mode");
                const char *dir = b->launch ? b->launch->runtime_dir : NULL;

                /* QEMU listens: that is what a console wants */
                if (mode && !streq(mode, "bind"))
                        return invalid(b, "<%s type='unix'><source mode='%s'>: only mode='bind' is supported",
                                       element, clip(b, mode));
                c->path = prop(b, source, "path");
                if (c->path && !*c->path)
                        return invalid(b, "<%s type='unix'><source path=''>: must not be empty", element);
                if (!c->path && dir)
                        c->path = pooled(b, g_strdup_printf("%s/%s.sock", dir, c->alias));
                else if (!c->path) {
                        /* validation only: the argv is not meant to run */
                        c->path = fmt(b, "%s.sock", c->alias);
                        c->placeholder = true;
                }
                return true;
        }
        return invalid(b, "<%s type='%s'>: not supported (pty, file, unix)", element, clip(b, type));
}

static bool serial_port(Builder *b, xmlNode *n, const char *element, int dflt, int *ret) {
        const char *port = prop(b, child(n, "target"), "port");
        uint64_t v;

        if (!port) {
                *ret = dflt;
                return true;
        }
        if (!parse_uint(port, ISA_SERIAL_PORTS - 1, &v))
                return invalid(b, "<%s><target port='%s'>: ISA serial ports are 0 to %d", element, clip(b, port),
                               ISA_SERIAL_PORTS - 1);
        *ret = (int) v;
        return true;
}

static int free_isa_index(GArray *chardevs) {
        for (int i = 0; i < ISA_SERIAL_PORTS; i++) {
                bool taken = false;

                for (guint k = 0; k < chardevs->len; k++)
                        if (g_array_index(chardevs, Chardev, k).isa_index == i)
                                taken = true;
                if (!taken)
                        return i;
        }
        return -1;
}

static Chardev *find_isa(GArray *chardevs, int index) {
        for (guint k = 0; k < chardevs->len; k++) {
                Chardev *c = &g_array_index(chardevs, Chardev, k);

                if (!c->duplicate && c->isa_index == index)
                        return c;
        }
        return NULL;
}

static bool add_serial(Builder *b, GArray *chardevs, xmlNode *n, const char *element, int port) {
        unsigned k = 0;
        Chardev c = {};

        for (guint i = 0; i < chardevs->len; i++)
                if (g_str_has_prefix(g_array_index(chardevs, Chardev, i).alias, "serial"))
                        k++;
        if (port < 0)
                port = free_isa_index(chardevs);
        if (port < 0)
                return invalid(b, "<%s>: more than %d serial ports", element, ISA_SERIAL_PORTS);
        if (find_isa(chardevs, port))
                return invalid(b, "<%s><target port='%d'>: used by two serial ports", element, port);
        c.alias = fmt(b, "serial%u", k);
        c.id = fmt(b, "charserial%u", k);
        c.isa_index = port;
        if (!chardev_source(b, n, element, &c))
                return false;
        g_array_append_val(chardevs, c);
        return true;
}

/* The serial ports and consoles, in the order kvm_xml_consoles() lists them. */
static GArray *collect_chardevs(Builder *b) {
        g_autoptr(GArray) chardevs = g_array_new(false, true, sizeof(Chardev));
        unsigned j = 0;

        FOREACH_CHILD(n, b->devices, "serial") {
                const char *ttype = prop(b, child(n, "target"), "type");
                int port = -1;

                if (ttype && !streq(ttype, "isa-serial")) {
                        invalid(b, "<serial><target type='%s'>: only isa-serial", clip(b, ttype));
                        return NULL;
                }
                if (!serial_port(b, n, "serial", -1, &port) || !add_serial(b, chardevs, n, "serial", port))
                        return NULL;
        }

        /* a serial console without its <serial> makes one, as libvirt does */
        FOREACH_CHILD(n, b->devices, "console") {
                const char *ttype = prop(b, child(n, "target"), "type");
                int port = -1;

                if (ttype && !streq(ttype, "serial"))
                        continue;
                if (!serial_port(b, n, "console", 0, &port))
                        return NULL;
                if (!find_isa(chardevs, port) && !add_serial(b, chardevs, n, "console", port))
                        return NULL;
        }

        FOREACH_CHILD(n, b->devices, "console") {
                const char *ttype = prop(b, child(n, "target"), "type");
                Chardev c = {};

                c.alias = fmt(b, "console%u", j);
                if (!ttype || streq(ttype, "serial")) {
                        int port = -1;
                        Chardev *serial;

                        if (!serial_port(b, n, "console", 0, &port))
                                return NULL;
                        serial = find_isa(chardevs, port);
                        g_assert(serial);
                        c.id = serial->id;
                        c.type = serial->type;
                        c.path = serial->path;
                        c.placeholder = serial->placeholder;
                        c.isa_index = port;
                        c.duplicate = true;
                } else if (streq(ttype, "virtio")) {
                        c.id = fmt(b, "charconsole%u", j);
                        c.isa_index = -1;
                        if (!chardev_source(b, n, "console", &c))
                                return NULL;
                } else {
                        invalid(b, "<console><target type='%s'>: not supported (serial, virtio)", clip(b, ttype));
                        return NULL;
                }
                g_array_append_val(chardevs, c);
                j++;
        }
        return g_steal_pointer(&chardevs);
}

static bool build_chardevs(Builder *b) {
        g_autoptr(GArray) chardevs = collect_chardevs(b);
        bool first = true;

        if (!chardevs)
                return false;
        for (guint k = 0; k < chardevs->len; k++) {
                Chardev *c = &g_array_index(chardevs, Chardev, k);
                const char *backend, *log = "";

                if (c->duplicate)
                        continue;
                if (first && b->launch->console_log)
                        log = fmt(b, ",logfile=%s,logappend=on", esc(b, b->launch->console_log));
                first = false;

                if (streq(c->type, "pty"))
                        backend = fmt(b, "pty,id=%s", c->id);
                else if (streq(c->type, "file"))
                        backend = fmt(b, "file,id=%s,path=%s%s", c->id, esc(b, c->path), c->append ? ",append=on" : "");
                else
                        backend = fmt(b, "socket,id=%s,path=%s,server=on,wait=off", c->id, esc(b, c->path));
                opt(b->dev, "-chardev", "%s%s", backend, log);

                if (c->isa_index >= 0)
                        opt(b->dev, "-device", "isa-serial,chardev=%s,id=%s,index=%d", c->id, c->alias, c->isa_index);
                else {
                        need_virtio_serial(b);
                        opt(b->dev, "-device", "virtconsole,chardev=%s,id=%s", c->id, c->alias);
                }
        }
        return true;
}

/* ---- graphics, video, input, sound, balloon ---------------------------------- */

static bool build_graphics(Builder *b) {
        xmlNode *graphics = NULL;
        const char *type, *listen_type = NULL, *address, *socket = NULL, *port, *autoport, *vnc;
        xmlNode *listen;
        int64_t p = -1;

        FOREACH_CHILD(n, b->devices, "graphics") {
                if (graphics)
                        return invalid(b, "<graphics>: only one is supported");
                graphics = n;
        }
        if (!graphics) {
                add(b->head, "-display");
                add(b->head, "none");
                return true;
        }

        type = prop(b, graphics, "type");
        if (!streq(type, "vnc"))
                return invalid(b, "<graphics type='%s'>: not supported (vnc)", clip(b, type));

        address = prop(b, graphics, "listen");
        listen = child(graphics, "listen");
        if (listen) {
                listen_type = prop(b, listen, "type");
                if (!listen_type || streq(listen_type, "address"))
                        address = prop(b, listen, "address") ?: address;
                else if (streq(listen_type, "socket"))
                        socket = prop(b, listen, "socket");
                else if (!streq(listen_type, "none"))
                        return invalid(b, "<graphics><listen type='%s'>: not supported (address, socket, none)",
                                       clip(b, listen_type));
        }

        if (streq(listen_type, "none"))
                vnc = "none";
        else if (streq(listen_type, "socket")) {
                const char *dir = b->launch->runtime_dir;

                if (!socket)
                        socket = dir ? pooled(b, g_build_filename(dir, "vnc.sock", NULL)) : "vnc.sock";
                vnc = fmt(b, "unix:%s", esc(b, socket));
        } else {
                port = prop(b, graphics, "port");
                autoport = prop(b, graphics, "autoport");
                if (port && !parse_int(port, -1, 65535, &p))
                        return invalid(b, "<graphics port='%s'>: not a port number", clip(b, port));
                if (!address || !*address)
                        address = "127.0.0.1";
                if (strchr(address, ':') && address[0] != '[')
                        address = fmt(b, "[%s]", address);
                if (!is_simple_name(address) && !(address[0] == '[' && strchr(address, ']')))
                        return invalid(b, "<graphics listen='%s'>: not an IP address", clip(b, address));
                if (streq(autoport, "yes") || p < 0)
                        vnc = fmt(b, "%s:0,to=100", address);
                else if (p < 5900)
                        return invalid(b, "<graphics port='%s'>: VNC ports start at 5900", clip(b, port));
                else
                        vnc = fmt(b, "%s:%" PRId64, address, p - 5900);
        }
        opt(b->head, "-vnc", "%s%s", vnc, prop(b, graphics, "passwd") ? ",password=on" : "");
        return true;
}

static bool build_video(Builder *b) {
        unsigned k = 0;
        bool none = false;

        FOREACH_CHILD(n, b->devices, "video") {
                const char *model = prop(b, child(n, "model"), "type");
                const char *qemu;

                if (!model)
                        model = "vga";
                if (streq(model, "none")) {
                        none = true;
                        continue;
                }
                if (k == 0) {
                        if (streq(model, "vga"))
                                qemu = "VGA";
                        else if (streq(model, "cirrus"))
                                qemu = "cirrus-vga";
                        else if (streq(model, "virtio"))
                                qemu = "virtio-vga";
                        else if (streq(model, "qxl"))
                                qemu = "qxl-vga";
                        else if (streq(model, "bochs"))
                                qemu = "bochs-display";
                        else if (streq(model, "vmvga"))
                                qemu = "vmware-svga";
                        else
                                return invalid(b, "<video><model type='%s'>: unknown model "
                                               "(vga, cirrus, virtio, qxl, bochs, vmvga, none)", clip(b, model));
                } else {
                        if (streq(model, "virtio"))
                                qemu = "virtio-gpu-pci";
                        else if (streq(model, "qxl"))
                                qemu = "qxl";
                        else
                                return invalid(b, "<video><model type='%s'>: only virtio and qxl can be a secondary "
                                               "video device", clip(b, model));
                }
                opt(b->dev, "-device", "%s,id=video%u", qemu, k);
                k++;
        }
        if (none && k > 0)
                return invalid(b, "<video><model type='none'>: cannot be combined with other video devices");
        /* libvirt gives a VNC display a VGA when the XML names none */
        if (!none && k == 0 && child(b->devices, "graphics"))
                opt(b->dev, "-device", "VGA,id=video0");
        return true;
}

static bool build_input(Builder *b) {
        unsigned k = 0;

        FOREACH_CHILD(n, b->devices, "input") {
                const char *type = prop(b, n, "type");
                const char *bus = prop(b, n, "bus");

                if (!one_of(type, STRV("tablet", "mouse", "keyboard")))
                        return invalid(b, "<input type='%s'>: not supported (tablet, mouse, keyboard)", clip(b, type));
                if (!bus)
                        bus = streq(type, "tablet") ? "usb" : "ps2";
                if (streq(bus, "ps2")) {
                        /* the i8042 of pc and q35 */
                        if (streq(type, "tablet"))
                                return invalid(b, "<input type='tablet' bus='ps2'>: a tablet is usb or virtio");
                        continue;
                }
                if (streq(bus, "usb")) {
                        need_usb(b);
                        opt(b->dev, "-device", "%s,bus=usb.0,id=input%u",
                            streq(type, "tablet") ? "usb-tablet" : streq(type, "mouse") ? "usb-mouse" : "usb-kbd", k);
                } else if (streq(bus, "virtio"))
                        opt(b->dev, "-device", "virtio-%s-pci,id=input%u", type, k);
                else
                        return invalid(b, "<input bus='%s'>: not supported (ps2, usb, virtio)", clip(b, bus));
                k++;
        }
        return true;
}

static bool build_sound(Builder *b) {
        unsigned k = 0;

        FOREACH_CHILD(n, b->devices, "sound") {
                const char *model = prop(b, n, "model");
                const char *id = fmt(b, "sound%u", k++);

                if (one_of(model, STRV("ich6", "ich9"))) {
                        unsigned c = 0;

                        need_audio(b);
                        opt(b->dev, "-device", "%s,id=%s", streq(model, "ich6") ? "intel-hda" : "ich9-intel-hda", id);
                        FOREACH_CHILD(codec, n, "codec") {
                                const char *ctype = prop(b, codec, "type");

                                if (!one_of(ctype, STRV("duplex", "micro", "output")))
                                        return invalid(b, "<sound><codec type='%s'>: unknown codec (duplex, micro, output)",
                                                       clip(b, ctype));
                                opt(b->dev, "-device", "hda-%s,id=%s-codec%u,bus=%s.0,cad=%u,audiodev=audio0", ctype,
                                    id, c, id, c);
                                c++;
                        }
                        if (c == 0)
                                opt(b->dev, "-device", "hda-duplex,id=%s-codec0,bus=%s.0,cad=0,audiodev=audio0", id, id);
                } else if (one_of(model, STRV("ac97", "es1370", "sb16"))) {
                        need_audio(b);
                        opt(b->dev, "-device", "%s,id=%s,audiodev=audio0",
                            streq(model, "ac97") ? "AC97" : streq(model, "es1370") ? "ES1370" : "sb16", id);
                } else if (streq(model, "usb")) {
                        need_audio(b);
                        need_usb(b);
                        opt(b->dev, "-device", "usb-audio,id=%s,bus=usb.0,audiodev=audio0", id);
                } else
                        return invalid(b, "<sound model='%s'>: not supported (ich6, ich9, ac97, es1370, sb16, usb)",
                                       clip(b, model));
        }
        return true;
}

static bool build_balloon(Builder *b) {
        xmlNode *balloon = child(b->devices, "memballoon");
        const char *model = prop(b, balloon, "model");

        if (!balloon || streq(model, "none"))
                return true;
        if (!streq(model, "virtio"))
                return invalid(b, "<memballoon model='%s'>: not supported (virtio, none)", clip(b, model));
        opt(b->dev, "-device", "virtio-balloon-pci,id=balloon0");
        return true;
}

/* ---- the whole command line ------------------------------------------------ */

static bool build(Builder *b, const char *xml, GPtrArray *argv) {
        const char *name, *uuid, *emulator;
        unsigned n = 0;

        if (!load(b, xml))
                return false;

        name = text(b, child(b->root, "name"));
        if (!name || !*name)
                return invalid(b, "<domain>: missing <name>");
        uuid = text(b, child(b->root, "uuid"));
        if (!uuid || !*uuid)
                return invalid(b, "<domain>: missing <uuid>");
        if (strlen(uuid) != 36 || !is_simple_name(uuid))
                return invalid(b, "<uuid>%s</uuid>: not a dashed UUID", clip(b, uuid));

        emulator = text(b, child(b->devices, "emulator"));
        if (!emulator || !*emulator)
                emulator = b->launch->emulator;
        if (!emulator || !*emulator)
                return invalid(b, "<devices><emulator>: none given and none configured");

        add(argv, emulator);
        add(argv, "-name");
        g_ptr_array_add(argv, g_strdup_printf("guest=%s,debug-threads=on", esc(b, name)));
        add(argv, "-uuid");
        add(argv, uuid);
        add(argv, "-S");
        add(argv, "-no-user-config");
        add(argv, "-nodefaults");
        add(argv, "-no-shutdown");
        add(argv, "-msg");
        add(argv, "timestamp=on");
        if (b->launch->qmp_socket) {
                opt(argv, "-chardev", "socket,id=charmonitor,path=%s,server=on,wait=off",
                    esc(b, b->launch->qmp_socket));
                add(argv, "-mon");
                add(argv, "chardev=charmonitor,id=monitor,mode=control");
        }

        if (!build_machine(b) || !build_cpu(b) || !build_memory(b) || !build_smp(b) || !build_clock(b) ||
            !build_boot_menu(b) || !build_kernel(b) || !plan_boot(b) || !build_graphics(b))
                return false;

        FOREACH_CHILD(disk, b->devices, "disk")
                if (!build_disk(b, disk))
                        return false;
        finish_fdc(b);
        FOREACH_CHILD(iface, b->devices, "interface")
                if (!build_interface(b, iface, n++))
                        return false;
        if (!build_chardevs(b) || !build_input(b) || !build_video(b) || !build_sound(b) || !build_balloon(b))
                return false;
        opt(b->dev, "-device", "pvpanic");

        g_ptr_array_extend_and_steal(argv, g_steal_pointer(&b->head));
        g_ptr_array_extend_and_steal(argv, g_steal_pointer(&b->ctrl));
        g_ptr_array_extend_and_steal(argv, g_steal_pointer(&b->dev));
        if (b->launch->incoming) {
                add(argv, "-incoming");
                add(argv, "defer");
        }
        return true;
}

char **kvm_build_argv(const char *domain_xml, const KvmLaunch *launch, bool check_files, GError **error) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        Builder b;
        bool ok;

        g_return_val_if_fail(launch, NULL);
        g_return_val_if_fail(!error || !*error, NULL);

        builder_init(&b, launch, check_files, error);
        ok = build(&b, domain_xml, argv);
        builder_done(&b);
        if (!ok)
                return NULL;

        g_ptr_array_set_free_func(argv, NULL);
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(g_steal_pointer(&argv), false);
}

/* ---- bootloader and consoles ------------------------------------------------ */

bool kvm_xml_bootloader(const char *domain_xml, char **bootloader, char **bootloader_args, char **first_disk,
                        GError **error) {
        static const KvmLaunch none = {};
        g_autofree char *loader = NULL, *args = NULL, *disk_path = NULL;
        const char *text_args;
        Builder b;
        bool ok = false;

        g_return_val_if_fail(!error || !*error, false);

        builder_init(&b, &none, false, error);
        if (!load(&b, domain_xml))
                goto out;

        if (child(b.root, "bootloader")) {
                loader = g_strdup(text(&b, child(b.root, "bootloader")));
                if (!*loader) {
                        invalid(&b, "<bootloader>: must not be empty");
                        goto out;
                }
                text_args = text(&b, child(b.root, "bootloader_args"));
                if (text_args) {
                        g_auto(GStrv) words = kvm_split_args(text_args);
                        args = g_strjoinv(" ", words);
                }

                FOREACH_CHILD(disk, b.devices, "disk") {
                        const char *path;

                        if (!streq(disk_device(&b, disk), "disk"))
                                continue;
                        path = prop(&b, child(disk, "source"), "file") ?: prop(&b, child(disk, "source"), "dev");
                        if (path && *path) {
                                disk_path = g_strdup(path);
                                break;
                        }
                }
                if (!disk_path) {
                        invalid(&b, "<bootloader>%s</bootloader>: no <disk> with a <source> to boot from",
                                clip(&b, loader));
                        goto out;
                }
        }

        if (bootloader)
                *bootloader = g_steal_pointer(&loader);
        if (bootloader_args)
                *bootloader_args = g_steal_pointer(&args);
        if (first_disk)
                *first_disk = g_steal_pointer(&disk_path);
        ok = true;
out:
        builder_done(&b);
        return ok;
}

void kvm_console_free(KvmConsole *c) {
        if (!c)
                return;
        g_free(c->alias);
        g_free(c->type);
        g_free(c->path);
        g_free(c->chardev);
        g_free(c);
}

GPtrArray *kvm_xml_consoles(const char *domain_xml, const KvmLaunch *launch) {
        static const KvmLaunch none = {};
        g_autoptr(GPtrArray) consoles = NULL;
        g_autoptr(GArray) chardevs = NULL;
        Builder b;

        builder_init(&b, launch ?: &none, false, NULL);
        if (load(&b, domain_xml))
                chardevs = collect_chardevs(&b);
        if (chardevs) {
                consoles = g_ptr_array_new_with_free_func((GDestroyNotify) kvm_console_free);
                for (guint k = 0; k < chardevs->len; k++) {
                        const Chardev *c = &g_array_index(chardevs, Chardev, k);
                        KvmConsole *kc = g_new0(KvmConsole, 1);

                        kc->alias = g_strdup(c->alias);
                        kc->type = g_strdup(c->type);
                        kc->path = c->placeholder ? NULL : g_strdup(c->path);
                        kc->chardev = g_strdup(c->id);
                        g_ptr_array_add(consoles, kc);
                }
        }
        builder_done(&b);
        return g_steal_pointer(&consoles);
}
