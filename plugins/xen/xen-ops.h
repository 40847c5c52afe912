/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plugin table's lifecycle operations (xen-ops.c). */
#pragma once

#include "domaind/plugin.h"

void xen_op_start(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
void xen_op_restore(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call);
void xen_op_destroy(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
void xen_op_shutdown(void *hv, DomaindGuest *guest, DomaindCall *call);
void xen_op_reboot(void *hv, DomaindGuest *guest, DomaindCall *call);
void xen_op_reset(void *hv, DomaindGuest *guest, DomaindCall *call);
void xen_op_suspend(void *hv, DomaindGuest *guest, DomaindCall *call);
void xen_op_resume(void *hv, DomaindGuest *guest, DomaindCall *call);
void xen_op_save(void *hv, DomaindGuest *guest, int fd, DomaindCall *call);
DomaindResult xen_op_abort_job(void *hv, DomaindGuest *guest, char **message);
void xen_get_info(void *hv, DomaindGuest *guest, DomaindGuestInfo *info);
DomaindResult xen_open_console(void *hv, DomaindGuest *guest, const char *device, int *ret_fd, char **message);
