/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pygrub as a child process with an argument vector (never a shell): its
 * stdout (--output-format=simple) and stderr are read on the loop, its exit
 * is watched through a pidfd, so the loop never waits for it. On failure
 * pygrub's own last words become the error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib.h>

#include "pygrub.h"

struct Pygrub {
        PygrubDone done;
        void *userdata;
        GString *out, *err;
        pid_t pid;
        int out_fd, err_fd, pidfd;
        sd_event_source *out_source, *err_source, *exit_source;
        int status;
        bool exited;
};

static void bootloader_free(Pygrub *b) {
        sd_event_source_disable_unref(b->out_source);
        sd_event_source_disable_unref(b->err_source);
        sd_event_source_disable_unref(b->exit_source);
        if (b->out_fd >= 0)
                close(b->out_fd);
        if (b->err_fd >= 0)
                close(b->err_fd);
        if (b->pidfd >= 0)
                close(b->pidfd);
        g_string_free(b->out, true);
        g_string_free(b->err, true);
        g_free(b);
}

/* pygrub's complaint: the last line it wrote to stderr (Python's exception) */
static char *last_line(const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (int i = (int) g_strv_length(lines) - 1; i >= 0; i--) {
                g_strstrip(lines[i]);
                if (*lines[i])
                        return g_strdup(lines[i]);
        }
        return g_strdup("no message");
}

static void finish(Pygrub *b) {
        if (b->out_source || b->err_source || !b->exited)
                return;
        g_autofree char *error = NULL, *kernel = NULL, *ramdisk = NULL, *cmdline = NULL;
        g_auto(GStrv) lines = g_strsplit(b->out->str, "\n", -1);
        for (char **l = lines; *l; l++) {
                if (g_str_has_prefix(*l, "kernel "))
                        g_free(kernel), kernel = g_strstrip(g_strdup(*l + 7));
                else if (g_str_has_prefix(*l, "ramdisk "))
                        g_free(ramdisk), ramdisk = g_strstrip(g_strdup(*l + 8));
                else if (g_str_has_prefix(*l, "args "))
                        g_free(cmdline), cmdline = g_strstrip(g_strdup(*l + 5));
        }
        if (!WIFEXITED(b->status) || WEXITSTATUS(b->status) != 0) {
                g_autofree char *why = last_line(b->err->str);
                error = WIFSIGNALED(b->status)
                                ? g_strdup_printf("killed by signal %d: %s", WTERMSIG(b->status), why)
                                : g_strdup_printf("exit status %d: %s", WEXITSTATUS(b->status), why);
        } else if (!kernel || !*kernel)
                error = g_strdup("it found no kernel to boot");
        PygrubDone done = b->done;
        void *userdata = b->userdata;
        bootloader_free(b);
        done(userdata, error, error ? NULL : kernel, ramdisk, cmdline);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Pygrub *b = userdata;
        GString *buf = fd == b->out_fd ? b->out : b->err;
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
                g_string_append_len(buf, chunk, n);
                return 0;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (fd == b->out_fd)
                b->out_source = sd_event_source_disable_unref(b->out_source);
        else
                b->err_source = sd_event_source_disable_unref(b->err_source);
        finish(b);
        return 0;
}

static int on_child_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Pygrub *b = userdata;
        siginfo_t info = { 0 };
        if (waitid(P_PIDFD, (id_t) fd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0)
                return 0;
        b->status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0) : info.si_status;
        b->exited = true;
        b->exit_source = sd_event_source_disable_unref(b->exit_source);
        finish(b);
        return 0;
}

static char **make_argv(const char *bootloader, const char *args, const char *disk, const char *dir) {
        GPtrArray *a = g_ptr_array_new();
        g_ptr_array_add(a, g_strdup(bootloader));
        g_auto(GStrv) extra = args ? g_strsplit_set(args, " \t\n", -1) : NULL;
        for (char **e = extra; e && *e; e++)
                if (**e)
                        g_ptr_array_add(a, g_strdup(*e));
        /* no menu without a terminal, a parsable answer, files in our folder */
        g_ptr_array_add(a, g_strdup("-q"));
        g_ptr_array_add(a, g_strdup("--output-format=simple"));
        g_ptr_array_add(a, g_strdup_printf("--output-directory=%s", dir));
        g_ptr_array_add(a, g_strdup(disk));
        g_ptr_array_add(a, NULL);
        return (char **) g_ptr_array_free(a, false);
}

Pygrub *pygrub_run(sd_event *event, const char *bootloader, const char *args, const char *disk,
                                  const char *dir, PygrubDone done, void *userdata, char **error) {
        g_auto(GStrv) argv = make_argv(bootloader, args, disk, dir);
        g_autoptr(GError) gerror = NULL;
        Pygrub *b = g_new0(Pygrub, 1);
        *b = (Pygrub){ .done = done, .userdata = userdata, .out = g_string_new(NULL),
                              .err = g_string_new(NULL), .out_fd = -1, .err_fd = -1, .pidfd = -1 };
        if (g_mkdir_with_parents(dir, 0700) < 0) {
                *error = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
                bootloader_free(b);
                return NULL;
        }
        if (!g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                                      NULL, &b->pid, NULL, &b->out_fd, &b->err_fd, &gerror)) {
                *error = g_strdup_printf("cannot run %s: %s", bootloader, gerror->message);
                bootloader_free(b);
                return NULL;
        }
        b->pidfd = (int) syscall(SYS_pidfd_open, b->pid, 0);
        g_unix_set_fd_nonblocking(b->out_fd, true, NULL);
        g_unix_set_fd_nonblocking(b->err_fd, true, NULL);
        int r = b->pidfd < 0 ? -errno : 0;
        if (r >= 0)
                r = sd_event_add_io(event, &b->out_source, b->out_fd, EPOLLIN, on_output, b);
        if (r >= 0)
                r = sd_event_add_io(event, &b->err_source, b->err_fd, EPOLLIN, on_output, b);
        if (r >= 0)
                r = sd_event_add_io(event, &b->exit_source, b->pidfd, EPOLLIN, on_child_exit, b);
        if (r < 0) {
                *error = g_strdup_printf("cannot watch %s: %s", bootloader, g_strerror(-r));
                pygrub_cancel(b);
                return NULL;
        }
        return b;
}

void pygrub_cancel(Pygrub *b) {
        if (!b)
                return;
        if (!b->exited && b->pid > 0) {
                kill(b->pid, SIGKILL);
                /* a short wait: pygrub dies at once on SIGKILL, and leaves no zombie */
                waitpid(b->pid, NULL, 0);
        }
        bootloader_free(b);
}
