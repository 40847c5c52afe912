/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A host-side bootloader (pygrub) run on the loop: it reads a guest's disk
 * and names the kernel, initrd and arguments to boot with. Shared by the
 * kvm plugin (<bootloader> on QEMU) and the xen plugin (PV, PVH).
 */
#pragma once

#include <systemd/sd-event.h>

typedef struct Pygrub Pygrub;

/* error is NULL on success; kernel (never NULL then), ramdisk and cmdline
 * are the bootloader's answer, valid during the call only. */
typedef void (*PygrubDone)(void *userdata, const char *error, const char *kernel, const char *ramdisk,
                                  const char *cmdline);

/* Starts `bootloader [args] -q --output-format=simple --output-directory=DIR
 * DISK` on the loop. Returns NULL with *error (malloc'd) when it cannot
 * start; done is then not called. */
Pygrub *pygrub_run(sd_event *event, const char *bootloader, const char *args, const char *disk,
                                  const char *dir, PygrubDone done, void *userdata, char **error);
/* Kills a running bootloader and forgets it: done is not called. */
void pygrub_cancel(Pygrub *b);
