/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* KVM plugin: libvirt domain XML → QEMU 7.2 command line (argument vector).
 *
 * The XML handed in is the core's normalized XML (service/domain-xml.h), but
 * nothing here relies on more than well-formedness: every element this file
 * interprets is checked again, and what QEMU or this plugin cannot do is
 * refused with KVM_CMDLINE_ERROR_INVALID naming the element and the value.
 *
 * What the plugin does over QMP after exec, because the command line does
 * not (or must not) carry it:
 *   - `cont` (the guest always starts with -S);
 *   - the VNC password: <graphics passwd=...> only yields `password=on` on
 *     -vnc (the secret never appears in argv, which /proc shows to anyone);
 *     send `set_password {protocol: vnc, password}` before `cont`;
 *   - the VNC port chosen with autoport: `query-vnc`;
 *   - the pty behind a pty serial/console: `query-chardev`, label = the
 *     KvmConsole's chardev id;
 *   - <currentMemory> below <memory>: `balloon` (needs <memballoon model='virtio'>);
 *   - migrate-incoming when launched with `incoming`.
 *
 * QEMU object ids the plugin may rely on:
 *   monitor chardev "charmonitor"; disks: device id = <target dev> (e.g.
 *   "vda"), format node "drive-<dev>", protocol node "file-<dev>"; network:
 *   netdev "netN", device "nicN" (N = the interface's index in the XML);
 *   serial chardevs "charserialN", device "serialN"; virtio consoles
 *   "charconsoleN", device "consoleN"; video "videoN"; sound "soundN";
 *   balloon "balloon0". */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct KvmLaunch {
        const char *emulator;     /* fallback when the XML has no <emulator>: from config, e.g. /usr/bin/qemu-system-x86_64 */
        const char *accel;        /* "kvm" or "tcg" (already decided by the plugin) */
        const char *qmp_socket;   /* path: -chardev socket,server=on,wait=off + -mon control; NULL = no monitor (validation) */
        const char *console_log;  /* file that receives a copy of the first serial console's output (chardev logfile=), may be NULL */
        const char *runtime_dir;  /* per-guest dir for other sockets the command line needs (e.g. a unix serial without path) */
        bool incoming;            /* add -incoming defer (restore) */
        /* <bootloader> resolved by the plugin (pygrub ran already): override <os> kernel/initrd/cmdline; NULL = none */
        const char *boot_kernel, *boot_initrd, *boot_cmdline;
} KvmLaunch;

#define KVM_CMDLINE_ERROR (kvm_cmdline_error_quark())
GQuark kvm_cmdline_error_quark(void);
typedef enum KvmCmdlineError {
        /* the XML asks for what QEMU/this plugin cannot do: the message names
         * element and value, e.g. "<disk><target bus='foo'>: unknown bus" */
        KVM_CMDLINE_ERROR_INVALID,
        /* a file the guest needs does not exist or is not readable:
         * "<disk><source file='/x'>: No such file or directory" */
        KVM_CMDLINE_ERROR_MISSING,
} KvmCmdlineError;

/* Builds the argv (NULL-terminated GStrv, argv[0] = the emulator).
 * check_files: check that disk sources, kernel and initrd (and a
 * <domaind:tftp root>) exist and are accessible — false for a
 * validation-only pass at define time. `launch` may leave qmp_socket,
 * console_log and runtime_dir NULL for such a pass. */
char **kvm_build_argv(const char *domain_xml, const KvmLaunch *launch, bool check_files, GError **error);

/* For <bootloader>: the bootloader path, its arguments (<bootloader_args>
 * with runs of whitespace collapsed to one space, NULL when absent; split
 * them with kvm_split_args()), and the first <disk device='disk'>'s source
 * file or device. Returns true with all three NULL when there is no
 * <bootloader>; false with `error` set when the XML is malformed or a
 * bootloader has no disk to read. Any out pointer may be NULL. */
bool kvm_xml_bootloader(const char *domain_xml, char **bootloader, char **bootloader_args, char **first_disk,
                        GError **error);

/* Splits on whitespace, dropping empty words; NULL yields an empty vector. */
char **kvm_split_args(const char *args);

/* Serial/console devices, for OpenConsole: the <serial>s in order
 * ("serial0", "serial1", ...), then the <console>s ("console0", ...). A
 * <console> with target type serial (libvirt's convention for the primary
 * console) names the same device as the <serial> with its port, so
 * "console0" and "serial0" then share type, path and chardev. The first
 * entry is the primary console.
 *   type:    "pty", "file" or "unix"
 *   path:    file: the file; unix: the socket (generated in
 *            launch->runtime_dir when the XML has none; NULL if launch or its
 *            runtime_dir is NULL); pty: NULL (ask QMP query-chardev)
 *   chardev: the QEMU chardev id (query-chardev's label) */
typedef struct KvmConsole {
        char *alias;
        char *type;
        char *path;
        char *chardev;
} KvmConsole;
void kvm_console_free(KvmConsole *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KvmConsole, kvm_console_free)

/* Of KvmConsole*, with free func. NULL when the XML is malformed or
 * kvm_build_argv() would refuse one of its serial/console elements. */
GPtrArray *kvm_xml_consoles(const char *domain_xml, const KvmLaunch *launch);

/* QEMU option syntax: doubles every ',' so that `s` can be the value of a
 * key=value option (-device, -blockdev, -chardev, -netdev, ...). */
char *kvm_qemu_opt_escape(const char *s);
