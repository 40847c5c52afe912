/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML → libxl_domain_config. Pure: no libxl_ctx, no I/O, so
 * the unit tests run it on any host and compare libxl's own JSON of the
 * result (libxl_domain_config_to_json(NULL, ...)).
 */
#pragma once

#include <libxl.h>

#include "domaind/plugin.h"

/* What the host-side bootloader (pygrub) found on the guest's disk. These
 * replace <kernel>/<initrd>/<cmdline> of a domain with a <bootloader>. */
typedef struct XenBoot {
        const char *kernel;
        const char *ramdisk;
        const char *cmdline;
} XenBoot;

/* Fills *cfg (which it initializes; the caller disposes it, also on
 * error) from the domain XML. boot may be NULL: then a domain with a
 * <bootloader> gets no kernel (right for a restore, which needs none, and
 * for check_config). Returns DOMAIND_OK, or DOMAIND_ERROR_INVALID_XML /
 * DOMAIND_ERROR_NOT_SUPPORTED with *message (malloc'd) naming the element. */
DomaindResult xen_config_from_xml(const char *xml, const XenBoot *boot, libxl_domain_config *cfg, char **message);

/* The domain's <bootloader>, <bootloader_args> and the source of its first
 * disk (what pygrub reads). *bootloader is NULL when there is none. */
DomaindResult xen_config_bootloader(const char *xml, char **bootloader, char **args, char **disk, char **message);
