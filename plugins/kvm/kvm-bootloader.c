/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <bootloader> on KVM: a host-side bootloader (pygrub, see
 * plugins/common/pygrub.c) reads the guest's first disk and extracts the
 * kernel, initrd and arguments QEMU then boots directly, which libvirt
 * cannot do for QEMU.
 */
#include <errno.h>

#include "kvm-cmdline.h"
#include "kvm-ops.h"
#include "pygrub.h"

static void on_pygrub_done(void *userdata, const char *error, const char *kernel, const char *ramdisk,
                           const char *cmdline) {
        KvmGuest *g = userdata;
        g->bootloader = NULL;
        if (!error) {
                g_free(g->boot_kernel);
                g_free(g->boot_initrd);
                g_free(g->boot_cmdline);
                g->boot_kernel = g_strdup(kernel);
                g->boot_initrd = g_strdup(ramdisk);
                g->boot_cmdline = g_strdup(cmdline);
        }
        g->bootloader_then(g, error);
}

int kvm_bootloader_run(KvmGuest *g, void (*done)(KvmGuest *g, const char *error)) {
        const DomaindHost *host = g->hv->host;
        g_autofree char *bootloader = NULL, *args = NULL, *disk = NULL, *message = NULL;
        g_autoptr(GError) error = NULL;
        if (!kvm_xml_bootloader(host->guest_xml(g->guest), &bootloader, &args, &disk, &error)) {
                if (!error)
                        return 0;
                done(g, error->message);
                return -EINVAL;
        }
        if (!bootloader)
                return 0;
        if (!disk) {
                done(g, "<bootloader> needs a disk to read the kernel from");
                return -EINVAL;
        }
        g->bootloader_then = done;
        g->bootloader = pygrub_run(host->event, bootloader, args, disk, g->dir, on_pygrub_done, g, &message);
        if (!g->bootloader) {
                done(g, message);
                return -EIO;
        }
        return 1;
}

void kvm_bootloader_cancel(KvmGuest *g) {
        pygrub_cancel(g->bootloader);
        g->bootloader = NULL;
}
