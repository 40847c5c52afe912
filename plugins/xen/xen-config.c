/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML → libxl_domain_config.
 *
 *   <domain type='xen'>          anything else is not ours
 *   <os><type>xen|linux</type>   PV;  xenpvh → PVH;  hvm → HVM
 *   <os><kernel|initrd|cmdline>  direct kernel boot (PV, PVH; HVM through QEMU)
 *   <os><boot dev>               HVM boot order (hd c, cdrom d, network n, fd a)
 *   <bootloader>                 run on the host by the plugin (pygrub); its
 *                                result arrives as XenBoot. libxl's own
 *                                bootloader is never used (see xen-bootloader.c)
 *   <memory>/<currentMemory>     max_memkb / target_memkb
 *   <vcpu current>               max_vcpus / avail_vcpus
 *   <features> acpi apic pae hap viridian(=hyperv)   HVM switches
 *   <clock offset>               utc, localtime, variable adjustment=
 *   <pm>                         HVM ACPI S3/S4
 *   <on_poweroff|reboot|crash>   libxl_action_on_shutdown (the core applies them)
 *   <disk type=file|block>       qdisk for files (phy when <driver name='phy'>),
 *                                phy for block devices; raw qcow qcow2 vhd qed;
 *                                cdrom (HVM; may be empty); <readonly/>
 *   <interface type=bridge|ethernet>   vif with bridge, mac, script, ifname;
 *                                HVM models e1000/rtl8139/... → emulated + PV
 *   <graphics type='vnc'>        PV: vfb + vkb;  HVM: the device model's VNC
 *   <console>/<serial type=pty>  PV: the xen console (always there);
 *                                HVM: serial pty/file
 *   <input>, <video>, <memballoon>, <controller>, <emulator>: HVM mouse/tablet
 *                                and VGA kind; the rest is implied by Xen
 *
 * Everything else is refused with NotSupported, naming the element.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "xen-config.h"

typedef struct Conv {
        libxl_domain_config *cfg;
        const XenBoot *boot;
        libxl_domain_type type;
        DomaindResult result;
        char *message;
} Conv;

static bool fail(Conv *c, DomaindResult r, const char *format, ...) __attribute__((format(printf, 3, 4)));
static bool fail(Conv *c, DomaindResult r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_free(c->message);
        c->message = g_strdup_vprintf(format, ap);
        va_end(ap);
        c->result = r;
        return false;
}

#define unsupported(c, ...) fail((c), DOMAIND_ERROR_NOT_SUPPORTED, __VA_ARGS__)
#define invalid(c, ...) fail((c), DOMAIND_ERROR_INVALID_XML, __VA_ARGS__)

/* ---- libxml2 helpers ---- */

static bool is_element(xmlNode *n, const char *name) {
        return n->type == XML_ELEMENT_NODE && (!name || xmlStrEqual(n->name, BAD_CAST name));
}

static xmlNode *child(xmlNode *n, const char *name) {
        for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
                if (is_element(c, name))
                        return c;
        return NULL;
}

static char *prop(xmlNode *n, const char *name) {
        xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
        char *s = v ? g_strdup((const char *) v) : NULL;
        xmlFree(v);
        return s;
}

static bool prop_is(xmlNode *n, const char *name, const char *value) {
        g_autofree char *v = prop(n, name);
        return v && g_str_equal(v, value);
}

static char *text(xmlNode *n) {
        xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
        char *s = g_strstrip(g_strdup(v ? (const char *) v : ""));
        xmlFree(v);
        return s;
}

static char *child_text(xmlNode *n, const char *name) {
        xmlNode *c = child(n, name);
        return c ? text(c) : NULL;
}

/* libxl frees with free(): glib's allocator is malloc */
static void set_string(char **field, const char *value) {
        free(*field);
        *field = value ? strdup(value) : NULL;
}

/* ---- top level ---- */

static bool parse_size_kib(Conv *c, xmlNode *n, const char *where, uint64_t *ret) {
        static const struct {
                const char *unit;
                uint64_t bytes;
        } units[] = {
                { "b", 1 },           { "bytes", 1 },       { "KB", 1000 },      { "k", 1024 },
                { "KiB", 1024 },      { "MB", 1000000 },    { "M", 1 << 20 },    { "MiB", 1 << 20 },
                { "GB", 1000000000 }, { "G", 1ull << 30 },  { "GiB", 1ull << 30 }, { "TB", 1000000000000ull },
                { "T", 1ull << 40 },  { "TiB", 1ull << 40 },
        };
        g_autofree char *value = text(n);
        g_autofree char *unit = prop(n, "unit");
        char *end = NULL;
        errno = 0;
        uint64_t v = g_ascii_strtoull(value, &end, 10);
        if (errno || !*value || *end)
                return invalid(c, "%s: '%s' is not a number", where, value);
        uint64_t factor = 1024;
        if (unit) {
                factor = 0;
                for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
                        if (g_ascii_strcasecmp(unit, units[i].unit) == 0)
                                factor = units[i].bytes;
                if (!factor)
                        return invalid(c, "%s: unknown unit '%s'", where, unit);
        }
        if (v > UINT64_MAX / factor)
                return invalid(c, "%s: too large", where);
        *ret = (v * factor + 1023) / 1024;
        return true;
}

static bool parse_memory(Conv *c, xmlNode *root) {
        libxl_domain_build_info *b = &c->cfg->b_info;
        xmlNode *mem = child(root, "memory"), *cur = child(root, "currentMemory");
        if (!mem)
                return invalid(c, "<domain>: missing <memory>");
        if (!parse_size_kib(c, mem, "<memory>", &b->max_memkb))
                return false;
        b->target_memkb = b->max_memkb;
        if (cur && !parse_size_kib(c, cur, "<currentMemory>", &b->target_memkb))
                return false;
        if (b->target_memkb > b->max_memkb)
                return invalid(c, "<currentMemory>: larger than <memory>");
        return true;
}

static bool parse_vcpus(Conv *c, xmlNode *root) {
        libxl_domain_build_info *b = &c->cfg->b_info;
        xmlNode *n = child(root, "vcpu");
        g_autofree char *value = n ? text(n) : g_strdup("1");
        g_autofree char *current = prop(n, "current");
        guint64 max = 0, cur = 0;
        if (!g_ascii_string_to_unsigned(value, 10, 1, 4096, &max, NULL))
                return invalid(c, "<vcpu>: '%s' is not a number of vCPUs (1-4096)", value);
        b->max_vcpus = (int) max;
        if (!current)
                return true; /* libxl brings all of them online */
        if (!g_ascii_string_to_unsigned(current, 10, 1, max, &cur, NULL))
                return invalid(c, "<vcpu current>: '%s' must be between 1 and %" PRIu64, current, (uint64_t) max);
        /* libxl_bitmap_alloc wants a ctx; the layout is public and freed with free() */
        b->avail_vcpus.size = (uint32_t) ((max + 7) / 8);
        b->avail_vcpus.map = calloc(b->avail_vcpus.size, 1);
        if (!b->avail_vcpus.map)
                return fail(c, DOMAIND_ERROR_FAILED, "out of memory");
        for (guint64 i = 0; i < cur; i++)
                b->avail_vcpus.map[i / 8] |= (uint8_t) (1u << (i % 8));
        return true;
}

static bool parse_action(Conv *c, xmlNode *root, const char *name, libxl_action_on_shutdown dflt,
                         libxl_action_on_shutdown *ret) {
        static const struct {
                const char *name;
                libxl_action_on_shutdown action;
        } actions[] = {
                { "destroy", LIBXL_ACTION_ON_SHUTDOWN_DESTROY },
                { "restart", LIBXL_ACTION_ON_SHUTDOWN_RESTART },
                { "rename-restart", LIBXL_ACTION_ON_SHUTDOWN_RESTART_RENAME },
                { "preserve", LIBXL_ACTION_ON_SHUTDOWN_PRESERVE },
                { "coredump-destroy", LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_DESTROY },
                { "coredump-restart", LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART },
        };
        g_autofree char *value = child_text(root, name);
        *ret = dflt;
        if (!value)
                return true;
        for (size_t i = 0; i < G_N_ELEMENTS(actions); i++)
                if (g_str_equal(value, actions[i].name)) {
                        *ret = actions[i].action;
                        return true;
                }
        return invalid(c, "<%s>: unknown action '%s'", name, value);
}

static bool parse_actions(Conv *c, xmlNode *root) {
        libxl_domain_config *cfg = c->cfg;
        return parse_action(c, root, "on_poweroff", LIBXL_ACTION_ON_SHUTDOWN_DESTROY, &cfg->on_poweroff) &&
               parse_action(c, root, "on_reboot", LIBXL_ACTION_ON_SHUTDOWN_RESTART, &cfg->on_reboot) &&
               parse_action(c, root, "on_crash", LIBXL_ACTION_ON_SHUTDOWN_DESTROY, &cfg->on_crash);
}

static bool parse_os_type(Conv *c, xmlNode *os) {
        g_autofree char *type = child_text(os, "type");
        g_autofree char *arch = prop(child(os, "type"), "arch");
        if (!type)
                return invalid(c, "<os>: missing <type>");
        if (g_str_equal(type, "xen") || g_str_equal(type, "linux"))
                c->type = LIBXL_DOMAIN_TYPE_PV;
        else if (g_str_equal(type, "xenpvh"))
                c->type = LIBXL_DOMAIN_TYPE_PVH;
        else if (g_str_equal(type, "hvm"))
                c->type = LIBXL_DOMAIN_TYPE_HVM;
        else
                return unsupported(c, "<os><type>%s</type>: the xen hypervisor runs xen (PV), xenpvh or hvm", type);
        if (arch && !g_str_equal(arch, "x86_64") && !g_str_equal(arch, "i686"))
                return unsupported(c, "<os><type arch='%s'>: this host runs x86_64 and i686 guests", arch);
        return true;
}

static bool parse_boot_order(Conv *c, xmlNode *os) {
        GString *order = g_string_new(NULL);
        for (xmlNode *n = os->children; n; n = n->next) {
                if (!is_element(n, "boot"))
                        continue;
                g_autofree char *dev = prop(n, "dev");
                char letter = !dev                          ? 0
                              : g_str_equal(dev, "hd")      ? 'c'
                              : g_str_equal(dev, "cdrom")   ? 'd'
                              : g_str_equal(dev, "network") ? 'n'
                              : g_str_equal(dev, "fd")      ? 'a'
                                                            : 0;
                if (!letter) {
                        g_string_free(order, true);
                        return invalid(c, "<os><boot dev='%s'>: unknown device", dev ? dev : "");
                }
                /* PV and PVH have no firmware: only "the disk" makes sense */
                if (c->type != LIBXL_DOMAIN_TYPE_HVM && letter != 'c') {
                        g_string_free(order, true);
                        return unsupported(c, "<os><boot dev='%s'>: PV and PVH domains boot a kernel, not a device",
                                           dev);
                }
                g_string_append_c(order, letter);
        }
        if (c->type == LIBXL_DOMAIN_TYPE_HVM && order->len > 0)
                set_string(&c->cfg->b_info.u.hvm.boot, order->str);
        g_string_free(order, true);
        return true;
}

static bool parse_kernel(Conv *c, xmlNode *root, xmlNode *os) {
        libxl_domain_build_info *b = &c->cfg->b_info;
        g_autofree char *bootloader = child_text(root, "bootloader");
        g_autofree char *kernel = child_text(os, "kernel");
        g_autofree char *initrd = child_text(os, "initrd");
        g_autofree char *cmdline = child_text(os, "cmdline");
        if (bootloader && *bootloader) {
                if (c->type == LIBXL_DOMAIN_TYPE_HVM)
                        return unsupported(c, "<bootloader>: HVM domains boot from their disks; a host-side "
                                              "bootloader is for PV and PVH domains");
                if (kernel)
                        return invalid(c, "<bootloader>: not together with <os><kernel>");
                if (!c->boot)
                        return true; /* restore, check: the kernel comes later or not at all */
                set_string(&b->kernel, c->boot->kernel);
                set_string(&b->ramdisk, c->boot->ramdisk);
                set_string(&b->cmdline, c->boot->cmdline);
                return true;
        }
        if (!kernel && (initrd || cmdline))
                return invalid(c, "<os>: <initrd> and <cmdline> need a <kernel>");
        if (!kernel && c->type != LIBXL_DOMAIN_TYPE_HVM)
                return invalid(c, "<os>: a %s domain needs <kernel> or a <bootloader>",
                               c->type == LIBXL_DOMAIN_TYPE_PV ? "PV" : "PVH");
        set_string(&b->kernel, kernel);
        set_string(&b->ramdisk, initrd);
        set_string(&b->cmdline, cmdline);
        return true;
}

static bool parse_os(Conv *c, xmlNode *root) {
        xmlNode *os = child(root, "os");
        if (!os)
                return invalid(c, "<domain>: missing <os>");
        if (!parse_os_type(c, os))
                return false;
        libxl_domain_build_info_init_type(&c->cfg->b_info, c->type);
        c->cfg->c_info.type = c->type;
        if (c->type == LIBXL_DOMAIN_TYPE_HVM) {
                /* libxl would give every HVM domain a VNC display: only <graphics> does */
                libxl_defbool_set(&c->cfg->b_info.u.hvm.vnc.enable, false);
                libxl_defbool_set(&c->cfg->b_info.u.hvm.nographic, true);
        }
        for (xmlNode *n = os->children; n; n = n->next) {
                if (!is_element(n, NULL))
                        continue;
                const char *name = (const char *) n->name;
                if (g_str_equal(name, "loader") || g_str_equal(name, "nvram") || g_str_equal(name, "dtb") ||
                    g_str_equal(name, "init") || g_str_equal(name, "smbios") || g_str_equal(name, "acpi"))
                        return unsupported(c, "<os><%s>: not supported by the xen plugin", name);
        }
        return parse_boot_order(c, os) && parse_kernel(c, root, os);
}

static bool parse_features(Conv *c, xmlNode *root) {
        xmlNode *f = child(root, "features");
        if (!f)
                return true;
        bool hvm = c->type == LIBXL_DOMAIN_TYPE_HVM;
        libxl_domain_build_info *b = &c->cfg->b_info;
        for (xmlNode *n = f->children; n; n = n->next) {
                if (!is_element(n, NULL))
                        continue;
                const char *name = (const char *) n->name;
                bool on = !prop_is(n, "state", "off");
                if (g_str_equal(name, "acpi")) {
                        if (hvm || c->type == LIBXL_DOMAIN_TYPE_PVH)
                                libxl_defbool_set(&b->acpi, on);
                } else if (g_str_equal(name, "apic")) {
                        if (hvm)
                                libxl_defbool_set(&b->apic, on);
                } else if (g_str_equal(name, "pae")) {
                        if (hvm)
                                libxl_defbool_set(&b->u.hvm.pae, on);
                } else if (g_str_equal(name, "hap")) {
                        libxl_defbool_set(&c->cfg->c_info.hap, on);
                } else if (g_str_equal(name, "hyperv") && hvm) {
                        libxl_defbool_set(&b->u.hvm.viridian, on);
                } else if (!g_str_equal(name, "pvspinlock") && !g_str_equal(name, "vmport"))
                        return unsupported(c, "<features><%s/>: not supported by the xen plugin", name);
        }
        return true;
}

/* <pm><suspend-to-mem|suspend-to-disk enabled='no'/>: the HVM ACPI S3/S4 states */
static bool parse_pm(Conv *c, xmlNode *root) {
        xmlNode *pm = child(root, "pm");
        xmlNode *mem = child(pm, "suspend-to-mem"), *disk = child(pm, "suspend-to-disk");
        if (!pm)
                return true;
        if (c->type != LIBXL_DOMAIN_TYPE_HVM)
                return unsupported(c, "<pm>: only HVM domains have ACPI sleep states");
        if (mem)
                libxl_defbool_set(&c->cfg->b_info.u.hvm.acpi_s3, !prop_is(mem, "enabled", "no"));
        if (disk)
                libxl_defbool_set(&c->cfg->b_info.u.hvm.acpi_s4, !prop_is(disk, "enabled", "no"));
        return true;
}

static bool parse_clock(Conv *c, xmlNode *root) {
        xmlNode *clock = child(root, "clock");
        g_autofree char *offset = prop(clock, "offset");
        libxl_domain_build_info *b = &c->cfg->b_info;
        if (!offset || g_str_equal(offset, "utc"))
                return true;
        if (g_str_equal(offset, "localtime")) {
                libxl_defbool_set(&b->localtime, true);
                return true;
        }
        if (g_str_equal(offset, "variable")) {
                g_autofree char *adj = prop(clock, "adjustment");
                gint64 seconds = 0;
                if (adj && !g_ascii_string_to_signed(adj, 10, INT32_MIN, INT32_MAX, &seconds, NULL))
                        return invalid(c, "<clock adjustment='%s'>: not a number of seconds", adj);
                b->rtc_timeoffset = (uint32_t) (int32_t) seconds;
                return true;
        }
        return unsupported(c, "<clock offset='%s'>: the xen plugin knows utc, localtime and variable", offset);
}

/* ---- devices ---- */

#define APPEND(array, count, init)                                                                 \
        ({                                                                                         \
                (array) = realloc((array), sizeof(*(array)) * ((size_t) (count) + 1));             \
                g_assert(array);                                                                   \
                init(&(array)[(count)]);                                                           \
                &(array)[(count)++];                                                               \
        })

static bool disk_format(Conv *c, const char *type, libxl_disk_format *ret) {
        static const struct {
                const char *name;
                libxl_disk_format format;
        } formats[] = {
                { "raw", LIBXL_DISK_FORMAT_RAW },     { "qcow", LIBXL_DISK_FORMAT_QCOW },
                { "qcow2", LIBXL_DISK_FORMAT_QCOW2 }, { "vhd", LIBXL_DISK_FORMAT_VHD },
                { "qed", LIBXL_DISK_FORMAT_QED },
        };
        *ret = LIBXL_DISK_FORMAT_RAW;
        if (!type)
                return true;
        for (size_t i = 0; i < G_N_ELEMENTS(formats); i++)
                if (g_str_equal(type, formats[i].name)) {
                        *ret = formats[i].format;
                        return true;
                }
        return unsupported(c, "<disk><driver type='%s'>: libxl reads raw, qcow, qcow2, vhd and qed", type);
}

/* <driver name>: qemu → qdisk, phy, tap; default by source kind */
static bool disk_backend(Conv *c, const char *name, bool block, libxl_disk_backend *ret) {
        if (!name || g_str_equal(name, "qemu") || g_str_equal(name, "qdisk"))
                *ret = name || !block ? LIBXL_DISK_BACKEND_QDISK : LIBXL_DISK_BACKEND_PHY;
        else if (g_str_equal(name, "phy") || g_str_equal(name, "file"))
                *ret = LIBXL_DISK_BACKEND_PHY;
        else if (g_str_equal(name, "tap") || g_str_equal(name, "tap2"))
                *ret = LIBXL_DISK_BACKEND_TAP;
        else
                return unsupported(c, "<disk><driver name='%s'>: use qemu, phy or tap", name);
        return true;
}

static bool parse_disk(Conv *c, xmlNode *n) {
        g_autofree char *type = prop(n, "type");
        g_autofree char *device = prop(n, "device");
        xmlNode *driver = child(n, "driver"), *source = child(n, "source"), *target = child(n, "target");
        g_autofree char *driver_name = prop(driver, "name");
        g_autofree char *driver_type = prop(driver, "type");
        g_autofree char *dev = prop(target, "dev");
        g_autofree char *bus = prop(target, "bus");
        bool block = type && g_str_equal(type, "block");
        bool cdrom = device && g_str_equal(device, "cdrom");
        if (!type || (!block && !g_str_equal(type, "file")))
                return unsupported(c, "<disk type='%s'>: the xen plugin takes file and block disks", type ? type : "");
        if (device && !cdrom && !g_str_equal(device, "disk"))
                return unsupported(c, "<disk device='%s'>: the xen plugin takes disks and cdroms", device);
        if (cdrom && c->type != LIBXL_DOMAIN_TYPE_HVM)
                return unsupported(c, "<disk device='cdrom'>: only HVM domains have emulated cdroms");
        if (!dev)
                return invalid(c, "<disk>: missing <target dev>");
        if (bus && !g_str_equal(bus, "xen") && !g_str_equal(bus, "ide") && !g_str_equal(bus, "scsi") &&
            !g_str_equal(bus, "sata"))
                return unsupported(c, "<disk><target bus='%s'>: Xen disks are xen, ide, scsi or sata", bus);
        g_autofree char *path = prop(source, block ? "dev" : "file");
        if (!path && !cdrom)
                return invalid(c, "<disk><target dev='%s'>: missing <source %s>", dev, block ? "dev" : "file");
        libxl_domain_config *cfg = c->cfg;
        libxl_device_disk *d = APPEND(cfg->disks, cfg->num_disks, libxl_device_disk_init);
        if (!disk_format(c, driver_type, &d->format) || !disk_backend(c, driver_name, block, &d->backend))
                return false;
        set_string(&d->vdev, dev);
        set_string(&d->pdev_path, path);
        d->readwrite = !child(n, "readonly") && !cdrom;
        d->is_cdrom = cdrom;
        d->removable = cdrom;
        if (cdrom && !path)
                d->format = LIBXL_DISK_FORMAT_EMPTY;
        g_autofree char *script = prop(child(n, "script"), "path");
        set_string(&d->script, script);
        return true;
}

static bool parse_mac(Conv *c, const char *text_mac, libxl_mac *mac) {
        unsigned v[6];
        char end;
        if (sscanf(text_mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6)
                return invalid(c, "<interface><mac address='%s'>: not a MAC address", text_mac);
        for (int i = 0; i < 6; i++)
                (*mac)[i] = (uint8_t) v[i];
        return true;
}

static bool parse_interface(Conv *c, xmlNode *n) {
        g_autofree char *type = prop(n, "type");
        g_autofree char *mac = prop(child(n, "mac"), "address");
        g_autofree char *bridge = prop(child(n, "source"), "bridge");
        g_autofree char *model = prop(child(n, "model"), "type");
        g_autofree char *script = prop(child(n, "script"), "path");
        g_autofree char *ifname = prop(child(n, "target"), "dev");
        bool is_bridge = type && g_str_equal(type, "bridge");
        if (!type || (!is_bridge && !g_str_equal(type, "ethernet")))
                return unsupported(c, "<interface type='%s'>: the xen plugin takes bridge and ethernet interfaces "
                                      "(there are no libvirt networks)",
                                   type ? type : "");
        if (is_bridge && !bridge)
                return invalid(c, "<interface type='bridge'>: missing <source bridge>");
        bool pv_model = !model || g_str_equal(model, "netfront") || g_str_equal(model, "xen");
        if (!pv_model && c->type != LIBXL_DOMAIN_TYPE_HVM)
                return unsupported(c, "<interface><model type='%s'>: PV and PVH domains have netfront only", model);
        libxl_domain_config *cfg = c->cfg;
        libxl_device_nic *nic = APPEND(cfg->nics, cfg->num_nics, libxl_device_nic_init);
        nic->devid = cfg->num_nics - 1;
        if (mac && !parse_mac(c, mac, &nic->mac))
                return false;
        set_string(&nic->bridge, bridge);
        set_string(&nic->script, script);
        set_string(&nic->ifname, ifname);
        if (c->type == LIBXL_DOMAIN_TYPE_HVM) {
                nic->nictype = pv_model ? LIBXL_NIC_TYPE_VIF : LIBXL_NIC_TYPE_VIF_IOEMU;
                set_string(&nic->model, pv_model ? NULL : model);
        } else
                nic->nictype = LIBXL_NIC_TYPE_VIF;
        return true;
}

static bool parse_vnc(Conv *c, xmlNode *n, libxl_vnc_info *vnc, char **keymap) {
        g_autofree char *port = prop(n, "port");
        g_autofree char *autoport = prop(n, "autoport");
        g_autofree char *listen = prop(n, "listen");
        g_autofree char *passwd = prop(n, "passwd");
        g_autofree char *km = prop(n, "keymap");
        if (!listen)
                listen = prop(child(n, "listen"), "address");
        libxl_defbool_set(&vnc->enable, true);
        set_string(&vnc->listen, listen);
        set_string(&vnc->passwd, passwd);
        set_string(keymap, km);
        gint64 p = -1;
        if (port && !g_ascii_string_to_signed(port, 10, -1, 65535, &p, NULL))
                return invalid(c, "<graphics port='%s'>: not a port", port);
        if (p >= 5900 && !(autoport && g_str_equal(autoport, "yes"))) {
                vnc->display = (int) (p - 5900);
                libxl_defbool_set(&vnc->findunused, false);
        } else
                libxl_defbool_set(&vnc->findunused, true);
        return true;
}

static bool parse_graphics(Conv *c, xmlNode *n) {
        g_autofree char *type = prop(n, "type");
        libxl_domain_config *cfg = c->cfg;
        if (!type || !g_str_equal(type, "vnc"))
                return unsupported(c, "<graphics type='%s'>: the xen plugin offers vnc", type ? type : "");
        if (c->type == LIBXL_DOMAIN_TYPE_HVM) {
                libxl_defbool_set(&cfg->b_info.u.hvm.nographic, false);
                return parse_vnc(c, n, &cfg->b_info.u.hvm.vnc, &cfg->b_info.u.hvm.keymap);
        }
        if (cfg->num_vfbs > 0)
                return unsupported(c, "<graphics>: one framebuffer per PV domain");
        /* a PV framebuffer comes with its keyboard and mouse */
        libxl_device_vfb *vfb = APPEND(cfg->vfbs, cfg->num_vfbs, libxl_device_vfb_init);
        APPEND(cfg->vkbs, cfg->num_vkbs, libxl_device_vkb_init);
        return parse_vnc(c, n, &vfb->vnc, &vfb->keymap);
}

/* <serial>/<console>: PV has its xen console anyway; HVM gets a serial port */
static bool parse_chardev(Conv *c, xmlNode *n) {
        g_autofree char *type = prop(n, "type");
        g_autofree char *target_type = prop(child(n, "target"), "type");
        const char *element = (const char *) n->name;
        if (c->type != LIBXL_DOMAIN_TYPE_HVM) {
                if (!type || !g_str_equal(type, "pty"))
                        return unsupported(c, "<%s type='%s'>: a PV console is a pty", element, type ? type : "");
                return true;
        }
        if (g_str_equal(element, "console") && target_type && !g_str_equal(target_type, "serial"))
                return true; /* the xen console of an HVM domain: always there */
        char **serial = &c->cfg->b_info.u.hvm.serial;
        if (*serial)
                return true; /* <console> repeats the first <serial> */
        if (type && g_str_equal(type, "pty"))
                set_string(serial, "pty");
        else if (type && g_str_equal(type, "file")) {
                g_autofree char *path = prop(child(n, "source"), "path");
                if (!path)
                        return invalid(c, "<%s type='file'>: missing <source path>", element);
                g_autofree char *spec = g_strdup_printf("file:%s", path);
                set_string(serial, spec);
        } else
                return unsupported(c, "<%s type='%s'>: HVM serial ports are pty or file", element, type ? type : "");
        return true;
}

static bool parse_input(Conv *c, xmlNode *n) {
        g_autofree char *type = prop(n, "type");
        g_autofree char *bus = prop(n, "bus");
        libxl_domain_build_info *b = &c->cfg->b_info;
        if (c->type != LIBXL_DOMAIN_TYPE_HVM || !bus || g_str_equal(bus, "ps2") || g_str_equal(bus, "xen"))
                return true; /* PV keyboards come with the framebuffer; PS/2 is built in */
        if (g_str_equal(bus, "usb") && type && (g_str_equal(type, "tablet") || g_str_equal(type, "mouse"))) {
                libxl_defbool_set(&b->u.hvm.usb, true);
                set_string(&b->u.hvm.usbdevice, type);
                return true;
        }
        return unsupported(c, "<input type='%s' bus='%s'>: HVM domains take a usb tablet or mouse",
                           type ? type : "", bus);
}

static bool parse_video(Conv *c, xmlNode *n) {
        g_autofree char *model = prop(child(n, "model"), "type");
        libxl_domain_build_info *b = &c->cfg->b_info;
        if (c->type != LIBXL_DOMAIN_TYPE_HVM || !model || g_str_equal(model, "xen"))
                return true;
        if (g_str_equal(model, "cirrus"))
                b->u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_CIRRUS;
        else if (g_str_equal(model, "vga"))
                b->u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_STD;
        else if (g_str_equal(model, "qxl"))
                b->u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_QXL;
        else if (g_str_equal(model, "none"))
                b->u.hvm.vga.kind = LIBXL_VGA_INTERFACE_TYPE_NONE;
        else
                return unsupported(c, "<video><model type='%s'>: Xen HVM video is vga, cirrus, qxl or none", model);
        return true;
}

static bool parse_device(Conv *c, xmlNode *n) {
        const char *name = (const char *) n->name;
        if (g_str_equal(name, "disk"))
                return parse_disk(c, n);
        if (g_str_equal(name, "interface"))
                return parse_interface(c, n);
        if (g_str_equal(name, "graphics"))
                return parse_graphics(c, n);
        if (g_str_equal(name, "console") || g_str_equal(name, "serial"))
                return parse_chardev(c, n);
        if (g_str_equal(name, "input"))
                return parse_input(c, n);
        if (g_str_equal(name, "video"))
                return parse_video(c, n);
        /* implied by Xen, or chosen by libxl */
        if (g_str_equal(name, "emulator") || g_str_equal(name, "controller") || g_str_equal(name, "memballoon"))
                return true;
        return unsupported(c, "<devices><%s>: not supported by the xen plugin", name);
}

static bool parse_devices(Conv *c, xmlNode *root) {
        xmlNode *devices = child(root, "devices");
        for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next)
                if (is_element(n, NULL) && !parse_device(c, n))
                        return false;
        return true;
}

/* Elements of <domain> the translation reads or may ignore. */
static bool parse_top_elements(Conv *c, xmlNode *root) {
        static const char *const known[] = {
                "name",     "uuid",     "title",      "description",     "metadata",    "memory",
                "currentMemory", "vcpu", "os",        "bootloader",      "bootloader_args", "features",
                "clock",    "on_poweroff", "on_reboot", "on_crash",      "devices",     "cpu",
                "seclabel", "resource", "genid",      "pm",              NULL,
        };
        for (xmlNode *n = root->children; n; n = n->next) {
                if (!is_element(n, NULL))
                        continue;
                if (!g_strv_contains(known, (const char *) n->name))
                        return unsupported(c, "<%s>: not supported by the xen plugin", (const char *) n->name);
        }
        return true;
}

static bool parse_identity(Conv *c, xmlNode *root) {
        g_autofree char *type = prop(root, "type");
        g_autofree char *name = child_text(root, "name");
        g_autofree char *uuid = child_text(root, "uuid");
        if (!type || !g_str_equal(type, "xen"))
                return invalid(c, "<domain type='%s'>: the xen hypervisor runs only type='xen' domains",
                               type ? type : "");
        if (!name || !*name)
                return invalid(c, "<domain>: missing <name>");
        set_string(&c->cfg->c_info.name, name);
        if (uuid && libxl_uuid_from_string(&c->cfg->c_info.uuid, uuid) != 0)
                return invalid(c, "<uuid>%s</uuid>: not a UUID", uuid);
        return true;
}

static bool parse_domain(Conv *c, xmlNode *root) {
        return parse_identity(c, root) && parse_top_elements(c, root) && parse_os(c, root) &&
               parse_memory(c, root) && parse_vcpus(c, root) && parse_features(c, root) && parse_pm(c, root) &&
               parse_clock(c, root) &&
               parse_actions(c, root) && parse_devices(c, root);
}

static xmlDoc *read_xml(const char *xml, char **message) {
        xmlDoc *doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                                  XML_PARSE_NOWARNING);
        xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
        if (!root || !is_element(root, "domain")) {
                *message = g_strdup("not a <domain> document");
                xmlFreeDoc(doc);
                return NULL;
        }
        return doc;
}

DomaindResult xen_config_from_xml(const char *xml, const XenBoot *boot, libxl_domain_config *cfg, char **message) {
        libxl_domain_config_init(cfg);
        xmlDoc *doc = read_xml(xml, message);
        if (!doc)
                return DOMAIND_ERROR_INVALID_XML;
        Conv c = { .cfg = cfg, .boot = boot, .result = DOMAIND_OK };
        bool ok = parse_domain(&c, xmlDocGetRootElement(doc));
        xmlFreeDoc(doc);
        if (ok)
                return DOMAIND_OK;
        *message = g_steal_pointer(&c.message);
        return c.result;
}

DomaindResult xen_config_bootloader(const char *xml, char **bootloader, char **args, char **disk, char **message) {
        *bootloader = *args = *disk = NULL;
        xmlDoc *doc = read_xml(xml, message);
        if (!doc)
                return DOMAIND_ERROR_INVALID_XML;
        xmlNode *root = xmlDocGetRootElement(doc);
        g_autofree char *bl = child_text(root, "bootloader");
        if (bl && *bl) {
                *bootloader = g_steal_pointer(&bl);
                *args = child_text(root, "bootloader_args");
                xmlNode *devices = child(root, "devices");
                for (xmlNode *n = devices ? devices->children : NULL; n && !*disk; n = n->next) {
                        g_autofree char *device = prop(n, "device");
                        if (!is_element(n, "disk") || (device && !g_str_equal(device, "disk")))
                                continue;
                        *disk = prop(child(n, "source"), prop_is(n, "type", "block") ? "dev" : "file");
                }
        }
        xmlFreeDoc(doc);
        return DOMAIND_OK;
}
