/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's process: launched from an argument vector in a session of its own
 * (it must outlive domaind), watched through a pidfd (readable when it
 * exits, child of ours or not: after a restart of domaind it is not), and
 * reached over its QMP socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvm-cmdline.h"
#include "kvm.h"

#define QMP_CONNECT_RETRY_USEC (5 * 1000)
#define QMP_CONNECT_TIMEOUT_USEC (30 * G_USEC_PER_SEC)
#define LOG_TAIL_BYTES 2048

static int pidfd_open_compat(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static void log_command_line(KvmGuest *g, char **argv) {
        FILE *f = fopen(g->log_path, "ae");
        if (!f)
                return;
        time_t now = time(NULL);
        char stamp[64];
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&now));
        fprintf(f, "%s: starting QEMU:", stamp);
        for (char **a = argv; *a; a++) {
                g_autofree char *quoted = g_shell_quote(*a); /* for the reader only: never run */
                fprintf(f, " %s", quoted);
        }
        fputc('\n', f);
        fclose(f);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_qemu(char **argv, int log_fd) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* domaind blocks SIGTERM for its loop */
        signal(SIGPIPE, SIG_DFL);
        setsid(); /* not in domaind's session: QEMU outlives it */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0)
                dup2(null, STDIN_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
        for (int fd = 3; fd < 1024; fd++)
                close(fd);
        execv(argv[0], argv);
        _exit(127);
}

static void resolve_bootloader(KvmGuest *g, KvmLaunch *launch) {
        launch->boot_kernel = g->boot_kernel;
        launch->boot_initrd = g->boot_initrd;
        launch->boot_cmdline = g->boot_cmdline;
}

int kvm_process_launch(KvmGuest *g, bool incoming, char **error) {
        const DomaindHost *host = g->hv->host;
        KvmLaunch launch = {
                .emulator = g->hv->emulator,
                .accel = g->hv->accel,
                .qmp_socket = g->qmp_path,
                .console_log = g->console_log,
                .runtime_dir = g->dir,
                .incoming = incoming,
        };
        resolve_bootloader(g, &launch);
        g_autoptr(GError) gerror = NULL;
        g_auto(GStrv) argv = kvm_build_argv(host->guest_xml(g->guest), &launch, true, &gerror);
        if (!argv) {
                *error = g_strdup(gerror->message);
                return gerror->code == KVM_CMDLINE_ERROR_INVALID ? -EINVAL : -ENOENT;
        }
        /* exec failing in the child could only say "127": check here */
        if (access(argv[0], X_OK) < 0) {
                int e = errno;
                *error = g_strdup_printf("<emulator>%s</emulator>: %s", argv[0], g_strerror(e));
                return -ENOENT;
        }
        unlink(g->qmp_path);
        log_command_line(g, argv);
        int log_fd = open(g->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (log_fd < 0) {
                *error = g_strdup_printf("cannot open %s: %s", g->log_path, g_strerror(errno));
                return -errno;
        }
        pid_t pid = fork();
        if (pid == 0)
                exec_qemu(argv, log_fd);
        int e = errno;
        close(log_fd);
        if (pid < 0) {
                *error = g_strdup_printf("cannot fork: %s", g_strerror(e));
                return -e;
        }
        g->pid = pid;
        g->child = true;
        g->expect_exit = false;
        host->log(LOG_INFO, "kvm: %s: QEMU started, pid %d", g->uuid, (int) pid);
        return 0;
}

/* ---- exit ---- */

static int on_process_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        KvmGuest *g = userdata;
        int code = -1, by_signal = 0;
        if (g->child) {
                siginfo_t info = { 0 };
                if (waitid(P_PIDFD, (id_t) fd, &info, WEXITED | WNOHANG) >= 0 && info.si_pid != 0) {
                        code = info.si_status;
                        by_signal = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
                }
        }
        g->exit_source = sd_event_source_disable_unref(g->exit_source);
        kvm_on_process_exit(g, code, by_signal);
        return 0;
}

/* ---- QMP ---- */

static void on_ready(Qmp *qmp, JsonObject *version, void *userdata) {
        kvm_on_qmp_ready(userdata);
}

static void on_event(Qmp *qmp, const char *name, JsonObject *data, void *userdata) {
        kvm_on_qmp_event(userdata, name, data);
}

static void on_closed(Qmp *qmp, const GError *why, void *userdata) {
        kvm_on_qmp_closed(userdata);
}

static const QmpCallbacks qmp_callbacks = {
        .ready = on_ready,
        .event = on_event,
        .closed = on_closed,
};

static int on_connect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        KvmGuest *g = userdata;
        if (!g->qmp) {
                g->qmp = qmp_new(g->hv->host->event, &qmp_callbacks, g);
                qmp_set_log(g->qmp, g->hv->host->log);
        }
        int r = qmp_connect(g->qmp, g->qmp_path);
        if (r >= 0) {
                g->connect_timer = sd_event_source_disable_unref(g->connect_timer);
                return 0;
        }
        if (usec >= g->connect_deadline) {
                g->connect_timer = sd_event_source_disable_unref(g->connect_timer);
                g->hv->host->log(LOG_ERR, "kvm: %s: no QMP socket at %s: %s", g->uuid, g->qmp_path, g_strerror(-r));
                kvm_on_qmp_closed(g);
                return 0;
        }
        /* QEMU creates its socket right after exec; try again shortly */
        qmp_free(g->qmp);
        g->qmp = NULL;
        sd_event_source_set_time_relative(s, QMP_CONNECT_RETRY_USEC);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

void kvm_process_watch(KvmGuest *g) {
        sd_event *e = g->hv->host->event;
        if (g->pidfd < 0)
                g->pidfd = pidfd_open_compat(g->pid);
        if (g->pidfd >= 0 && !g->exit_source)
                sd_event_add_io(e, &g->exit_source, g->pidfd, EPOLLIN, on_process_exit, g);
        uint64_t now;
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        g->connect_deadline = now + QMP_CONNECT_TIMEOUT_USEC;
        sd_event_add_time_relative(e, &g->connect_timer, CLOCK_MONOTONIC, 0, 1000, on_connect_timer, g);
}

void kvm_process_kill(KvmGuest *g, int sig) {
        if (g->pid <= 0)
                return;
        g->expect_exit = true;
        if (g->pidfd >= 0)
                syscall(SYS_pidfd_send_signal, g->pidfd, sig, NULL, 0);
        else
                kill(g->pid, sig);
}

char *kvm_process_log_tail(KvmGuest *g) {
        g_autofree char *text = NULL;
        gsize len = 0;
        if (!g_file_get_contents(g->log_path, &text, &len, NULL) || len == 0)
                return g_strdup("");
        const char *start = len > LOG_TAIL_BYTES ? text + len - LOG_TAIL_BYTES : text;
        /* the last lines QEMU wrote, without the command line we logged */
        const char *last_start = g_strrstr(start, ": starting QEMU:");
        if (last_start) {
                const char *nl = strchr(last_start, '\n');
                start = nl ? nl + 1 : start;
        }
        return g_strstrip(g_strdup(start));
}
