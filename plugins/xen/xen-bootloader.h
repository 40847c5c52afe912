/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host-side bootloader (pygrub) of PV and PVH domains, run by the
 * plugin itself rather than by libxl: see xen-bootloader.c for why.
 */
#pragma once

#include <systemd/sd-event.h>

typedef struct XenBootloader XenBootloader;

/* error is NULL on success; kernel (never NULL then), ramdisk and cmdline
 * are the bootloader's answer, valid during the call only. */
typedef void (*XenBootloaderDone)(void *userdata, const char *error, const char *kernel, const char *ramdisk,
                                  const char *cmdline);

/* Starts `bootloader [args] -q --output-format=simple --output-directory=DIR
 * DISK` on the loop. Returns NULL with *error (malloc'd) when it cannot
 * start; done is then not called. */
XenBootloader *xen_bootloader_run(sd_event *event, const char *bootloader, const char *args, const char *disk,
                                  const char *dir, XenBootloaderDone done, void *userdata, char **error);
/* Kills a running bootloader and forgets it: done is not called. */
void xen_bootloader_cancel(XenBootloader *b);
