/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plugin table's lifecycle operations (kvm-ops.c) and bootloader (kvm-bootloader.c). */
#pragma once

#include "kvm.h"

void kvm_op_start(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
void kvm_op_restore(void *hv, DomaindGuest *guest, int fd, uint32_t flags, DomaindCall *call);
void kvm_op_destroy(void *hv, DomaindGuest *guest, uint32_t flags, DomaindCall *call);
void kvm_op_shutdown(void *hv, DomaindGuest *guest, DomaindCall *call);
void kvm_op_reboot(void *hv, DomaindGuest *guest, DomaindCall *call);
void kvm_op_reset(void *hv, DomaindGuest *guest, DomaindCall *call);
void kvm_op_suspend(void *hv, DomaindGuest *guest, DomaindCall *call);
void kvm_op_resume(void *hv, DomaindGuest *guest, DomaindCall *call);
void kvm_op_save(void *hv, DomaindGuest *guest, int fd, DomaindCall *call);
DomaindResult kvm_op_abort_job(void *hv, DomaindGuest *guest, char **message);

/* Runs the domain's <bootloader> (pygrub) on its first disk, asynchronously,
 * and stores the kernel, initrd and arguments it extracted in the guest.
 * Returns 0 when the domain has no bootloader, 1 when it runs (done is
 * called later), negative when it failed (done was called). */
int kvm_bootloader_run(KvmGuest *g, void (*done)(KvmGuest *g, const char *error));
void kvm_bootloader_cancel(KvmGuest *g);
