/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <bootloader> on KVM: a host-side bootloader (pygrub) reads the guest's
 * first disk and extracts the kernel, initrd and arguments to boot with,
 * which libvirt cannot do for QEMU. It runs as a child process with an
 * argument vector; its output is read on the loop.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <glib-unix.h>
#include <unistd.h>

#include "kvm-cmdline.h"
#include "kvm-ops.h"

typedef struct BootloaderRun {
        KvmGuest *g;
        void (*done)(KvmGuest *g, const char *error);
        GString *out;
        pid_t pid;
        int out_fd, pidfd;
        sd_event_source *out_source, *exit_source;
        bool out_closed, exited;
        int status;
} BootloaderRun;

static void run_free(BootloaderRun *b) {
        sd_event_source_disable_unref(b->out_source);
        sd_event_source_disable_unref(b->exit_source);
        if (b->out_fd >= 0)
                close(b->out_fd);
        if (b->pidfd >= 0)
                close(b->pidfd);
        g_string_free(b->out, true);
        g_free(b);
}

/* "kernel PATH", "ramdisk PATH", "args TEXT" lines (--output-format=simple) */
static const char *parse_output(KvmGuest *g, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                if (g_str_has_prefix(*l, "kernel ")) {
                        g_free(g->boot_kernel);
                        g->boot_kernel = g_strstrip(g_strdup(*l + 7));
                } else if (g_str_has_prefix(*l, "ramdisk ")) {
                        g_free(g->boot_initrd);
                        g->boot_initrd = g_strstrip(g_strdup(*l + 8));
                } else if (g_str_has_prefix(*l, "args ")) {
                        g_free(g->boot_cmdline);
                        g->boot_cmdline = g_strstrip(g_strdup(*l + 5));
                }
        }
        return g->boot_kernel ? NULL : "the bootloader found no kernel to boot";
}

static void finish(BootloaderRun *b) {
        if (!b->out_closed || !b->exited)
                return;
        KvmGuest *g = b->g;
        const char *error = NULL;
        g_autofree char *text = NULL;
        if (!WIFEXITED(b->status) || WEXITSTATUS(b->status) != 0)
                error = text = g_strdup_printf("it failed (status %d): %s", b->status, b->out->str);
        else
                error = parse_output(g, b->out->str);
        void (*done)(KvmGuest *, const char *) = b->done;
        run_free(b);
        done(g, error);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        BootloaderRun *b = userdata;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
                g_string_append_len(b->out, buf, n);
                return 0;
        }
        if (n < 0 && errno == EAGAIN)
                return 0;
        b->out_closed = true;
        b->out_source = sd_event_source_disable_unref(b->out_source);
        finish(b);
        return 0;
}

static int on_bootloader_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        BootloaderRun *b = userdata;
        siginfo_t info = { 0 };
        if (waitid(P_PIDFD, (id_t) fd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0)
                return 0;
        b->status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
        b->exited = true;
        b->exit_source = sd_event_source_disable_unref(b->exit_source);
        finish(b);
        return 0;
}

static char **bootloader_argv(KvmGuest *g, const char *bootloader, const char *args, const char *disk) {
        GPtrArray *a = g_ptr_array_new();
        g_ptr_array_add(a, g_strdup(bootloader));
        /* pygrub: no curses menu without a terminal, a parsable answer, files in our folder */
        g_ptr_array_add(a, g_strdup("-q"));
        g_ptr_array_add(a, g_strdup("--output-format=simple"));
        g_ptr_array_add(a, g_strdup_printf("--output-directory=%s", g->dir));
        g_auto(GStrv) extra = args ? g_strsplit_set(args, " \t", -1) : NULL;
        for (char **e = extra; e && *e; e++)
                if (**e)
                        g_ptr_array_add(a, g_strdup(*e));
        g_ptr_array_add(a, g_strdup(disk));
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, false);
}

int kvm_bootloader_run(KvmGuest *g, void (*done)(KvmGuest *g, const char *error)) {
        const DomaindHost *host = g->hv->host;
        g_autofree char *bootloader = NULL, *args = NULL, *disk = NULL;
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
        g_auto(GStrv) argv = bootloader_argv(g, bootloader, args, disk);
        BootloaderRun *b = g_new0(BootloaderRun, 1);
        *b = (BootloaderRun){ .g = g, .done = done, .out = g_string_new(NULL), .out_fd = -1, .pidfd = -1 };
        if (!g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL,
                                      NULL, NULL, &b->pid, NULL, &b->out_fd, NULL, &error)) {
                run_free(b);
                done(g, error->message);
                return -EIO;
        }
        g_unix_set_fd_nonblocking(b->out_fd, true, NULL);
        b->pidfd = (int) syscall(SYS_pidfd_open, b->pid, 0);
        sd_event_add_io(host->event, &b->out_source, b->out_fd, EPOLLIN, on_output, b);
        sd_event_add_io(host->event, &b->exit_source, b->pidfd, EPOLLIN, on_bootloader_exit, b);
        return 1;
}
