/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest records: one per domain the core lent us, with its QEMU's paths. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kvm-ops.h"
#include "kvm.h"

KvmGuest *kvm_guest_get(KvmHv *hv, DomaindGuest *guest) {
        const DomaindHost *host = hv->host;
        KvmGuest *g = host->guest_get_data(guest);
        if (g)
                return g;
        g = g_new0(KvmGuest, 1);
        g->hv = hv;
        g->guest = guest;
        g->uuid = g_strdup(host->guest_uuid(guest));
        g->dir = g_strdup_printf("%s/%s.d", host->runtime_dir, g->uuid);
        g->qmp_path = g_strdup_printf("%s/qmp.sock", g->dir);
        g->log_path = g_strdup_printf("%s/%s.log", host->runtime_dir, g->uuid);
        g->console_log = g_strdup_printf("%s/console.log", g->dir);
        g->id = -1;
        g->pidfd = -1;
        g->op_fd = -1;
        g->ptys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_mkdir_with_parents(g->dir, 0700);
        host->guest_set_data(guest, g);
        g_hash_table_insert(hv->guests, g->uuid, g);
        return g;
}

/* QEMU is gone (or never came): drop everything that belonged to it. */
void kvm_guest_release(KvmGuest *g) {
        g->exit_source = sd_event_source_disable_unref(g->exit_source);
        g->connect_timer = sd_event_source_disable_unref(g->connect_timer);
        if (g->qmp) {
                qmp_free(g->qmp);
                g->qmp = NULL;
        }
        if (g->pidfd >= 0) {
                close(g->pidfd);
                g->pidfd = -1;
        }
        g->pid = 0;
        g->id = -1;
        g->running = false;
        g->fake_reboot = false;
        g_hash_table_remove_all(g->ptys);
        unlink(g->qmp_path);
}

/* gone: QEMU is no more, remove what it left; else only forget our record. */
void kvm_guest_free(KvmGuest *g, bool gone) {
        if (!g)
                return;
        if (gone)
                kvm_guest_release(g);
        else {
                g->exit_source = sd_event_source_disable_unref(g->exit_source);
                g->connect_timer = sd_event_source_disable_unref(g->connect_timer);
                if (g->qmp)
                        qmp_free(g->qmp);
                if (g->pidfd >= 0)
                        close(g->pidfd);
        }
        g->op_timer = sd_event_source_disable_unref(g->op_timer);
        kvm_bootloader_cancel(g);
        g_hash_table_remove(g->hv->guests, g->uuid);
        g_hash_table_unref(g->ptys);
        g_free(g->failure);
        g_free(g->boot_kernel);
        g_free(g->boot_initrd);
        g_free(g->boot_cmdline);
        g_free(g->uuid);
        g_free(g->dir);
        g_free(g->qmp_path);
        g_free(g->log_path);
        g_free(g->console_log);
        g_free(g);
}

/* What a restarted domaind needs to find this QEMU again. */
char *kvm_guest_status(KvmGuest *g) {
        if (g->pid <= 0)
                return NULL;
        return g_strdup_printf("pid=%d id=%" PRId32 " paused=%d", (int) g->pid, g->id, !g->running);
}

/* The process must still be this guest's QEMU: not a zombie, and with our
 * QMP socket on its command line (pids get reused). */
static bool process_is_ours(KvmGuest *g) {
        g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", (int) g->pid);
        g_autofree char *stat = NULL;
        if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
                return false;
        const char *close_paren = strrchr(stat, ')');
        if (!close_paren || close_paren[1] != ' ' || close_paren[2] == 'Z' || close_paren[2] == 'X')
                return false;
        g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int) g->pid);
        g_autofree char *cmdline = NULL;
        gsize len = 0;
        if (!g_file_get_contents(cmdline_path, &cmdline, &len, NULL))
                return false;
        for (gsize i = 0; i < len; i += strlen(cmdline + i) + 1)
                if (strstr(cmdline + i, g->qmp_path))
                        return true;
        return false;
}

bool kvm_guest_parse_status(KvmGuest *g, const char *status) {
        int pid = 0, paused = 0;
        int32_t id = -1;
        if (!status || sscanf(status, "pid=%d id=%" SCNd32 " paused=%d", &pid, &id, &paused) != 3 || pid <= 0)
                return false;
        g->pid = pid;
        g->id = id;
        g->running = !paused;
        g->child = false; /* init's now */
        if (!process_is_ours(g)) {
                g->pid = 0;
                return false;
        }
        if (g->hv->next_id <= id)
                g->hv->next_id = id + 1;
        return true;
}

uint64_t kvm_guest_cpu_time(KvmGuest *g) {
        if (g->pid <= 0)
                return 0;
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int) g->pid);
        g_autofree char *stat = NULL;
        if (!g_file_get_contents(path, &stat, NULL, NULL))
                return 0;
        const char *p = strrchr(stat, ')');
        unsigned long long utime = 0, stime = 0;
        /* fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return 0;
        long ticks = sysconf(_SC_CLK_TCK);
        return (utime + stime) * (G_USEC_PER_SEC * 1000ull / (uint64_t) (ticks > 0 ? ticks : 100));
}

void kvm_op_done(KvmGuest *g, DomaindResult r, const char *format, ...) {
        DomaindCall *call = g->call;
        g->call = NULL;
        g->op = KVM_OP_NONE;
        g->op_fd = -1;
        g->aborted = false;
        g->op_timer = sd_event_source_disable_unref(g->op_timer);
        if (!call)
                return;
        if (r == DOMAIND_OK) {
                g->hv->host->call_done(call, DOMAIND_OK, NULL);
                return;
        }
        va_list ap;
        va_start(ap, format);
        g_autofree char *text = g_strdup_vprintf(format, ap);
        va_end(ap);
        g->hv->host->call_done(call, r, "%s", text);
}
