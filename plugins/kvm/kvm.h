/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The KVM plugin's private declarations: one KvmHv, one KvmGuest per QEMU. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "domaind/plugin.h"
#include "qmp.h"

#include <syslog.h>

typedef struct KvmHv {
        const DomaindHost *host;
        char *emulator; /* default emulator */
        char *accel;    /* "kvm" or "tcg" */
        char *version;  /* QEMU's version */
        int32_t next_id;
        GHashTable *guests; /* uuid → KvmGuest* */
} KvmHv;

typedef enum KvmOp {
        KVM_OP_NONE,
        KVM_OP_START,
        KVM_OP_RESTORE,
        KVM_OP_SHUTDOWN,
        KVM_OP_REBOOT,
        KVM_OP_RESET,
        KVM_OP_DESTROY,
        KVM_OP_SUSPEND,
        KVM_OP_RESUME,
        KVM_OP_SAVE,
} KvmOp;

typedef struct KvmGuest {
        KvmHv *hv;
        DomaindGuest *guest;
        char *uuid;
        char *dir;         /* <runtime>/kvm/<uuid>.d: QMP socket, console log, pygrub output */
        char *qmp_path;
        char *log_path;    /* command line + QEMU's stderr */
        char *console_log; /* copy of the first serial console */
        int32_t id;
        pid_t pid;
        int pidfd;
        bool child;        /* our child: reap it */
        sd_event_source *exit_source;
        sd_event_source *connect_timer;
        uint64_t connect_deadline;
        Qmp *qmp;
        bool running;      /* vCPUs running, as last known */
        bool expect_exit;  /* we asked QEMU to go */
        uint64_t quiet_reset_until; /* RESET events before this are echoes (SeaBIOS) */
        GHashTable *ptys;  /* console alias → /dev/pts/N */

        /* the operation in progress (one at a time: the core serializes) */
        KvmOp op;
        DomaindCall *call;
        uint32_t flags;
        int op_fd;         /* save/restore image (the core's; not ours to close) */
        bool was_running;  /* save: resume on failure/abort */
        bool aborted;
        char *failure;     /* why the start failed, reported when QEMU is gone */
        sd_event_source *op_timer;  /* progress polling, kill grace, powerdown retry */
        int retries;
        bool fake_reboot;  /* Reboot(): the next guest power-off is a reboot */
        bool bootloader_done;
        struct Pygrub *bootloader;  /* pygrub running (plugins/common/pygrub.c) */
        void (*bootloader_then)(struct KvmGuest *g, const char *error);
        char *boot_kernel, *boot_initrd, *boot_cmdline;
} KvmGuest;

/* kvm-guest.c */
KvmGuest *kvm_guest_get(KvmHv *hv, DomaindGuest *guest);
void kvm_guest_free(KvmGuest *g, bool gone);
void kvm_guest_release(KvmGuest *g);         /* QEMU is gone: forget the process */
char *kvm_guest_status(KvmGuest *g);
bool kvm_guest_parse_status(KvmGuest *g, const char *status);
uint64_t kvm_guest_cpu_time(KvmGuest *g);
void kvm_op_done(KvmGuest *g, DomaindResult r, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* kvm-process.c: QEMU's process and its QMP connection */
int kvm_process_launch(KvmGuest *g, bool incoming, char **error);
void kvm_process_watch(KvmGuest *g);         /* pidfd + QMP connect (also after attach) */
void kvm_process_kill(KvmGuest *g, int sig);
char *kvm_process_log_tail(KvmGuest *g);

/* kvm-qmp-events.c / ops */
void kvm_on_qmp_ready(KvmGuest *g);
void kvm_on_qmp_event(KvmGuest *g, const char *name, JsonObject *data);
void kvm_on_qmp_closed(KvmGuest *g);
void kvm_on_process_exit(KvmGuest *g, int code, int status_is_signal);
/* Sends a command for the guest's current operation; reply gets g as userdata. */
void kvm_qmp(KvmGuest *g, const char *command, JsonObject *args, int fd, QmpReplyFunc reply);
/* {"key": "value"} */
JsonObject *kvm_args_string(const char *key, const char *value);
