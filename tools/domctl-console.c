/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — console: Domain.OpenConsole, then copy bytes between the terminal
 * (or whatever stdin/stdout are) and the guest's character device until the
 * escape character, the end of the console, or a signal.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>

#include <glib-unix.h>

#include "domctl.h"

#define ESCAPE_CHAR     0x1d    /* Ctrl-] */
#define CHUNK           4096    /* ≤ PIPE_BUF: a write after POLLOUT does not block */

/* One direction of the copy: bytes read from one fd, not yet written to the
 * other. We read again only once the buffer is empty. */
typedef struct Buffer {
        char data[CHUNK];
        size_t len, off;
} Buffer;

typedef enum ConsoleEnd {
        END_NONE,
        END_ESCAPE,             /* Ctrl-] read from stdin, earlier bytes flushed */
        END_CONSOLE_EOF,        /* the guest's side went away */
        END_OUTPUT_GONE,        /* nobody reads our stdout any more */
        END_SIGNAL,
} ConsoleEnd;

typedef struct Console {
        int fd;                 /* from OpenConsole, non-blocking */
        Buffer to_guest, to_user;
        bool stdin_eof;
        bool escape_seen;       /* stop reading stdin, end once to_guest is written */
        ConsoleEnd end;
} Console;

/* ---- signals: a self-pipe, so that poll() wakes up ---- */

static const int exit_signals[] = { SIGINT, SIGTERM, SIGHUP };
typedef struct sigaction SavedSignals[G_N_ELEMENTS(exit_signals)];

static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig) {
        int saved = errno;
        char c = (char) sig;

        (void) !write(signal_pipe[1], &c, 1);
        errno = saved;
}

static void signal_pipe_close(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(signal_pipe); i++)
                if (signal_pipe[i] >= 0) {
                        (void) close(signal_pipe[i]);
                        signal_pipe[i] = -1;
                }
}

/* No SA_RESTART: a blocked read or write returns EINTR at once. */
static int signals_install(SavedSignals old) {
        struct sigaction sa = { .sa_handler = on_signal };
        g_autoptr(GError) error = NULL;

        if (!g_unix_open_pipe(signal_pipe, FD_CLOEXEC, &error) ||
            !g_unix_set_fd_nonblocking(signal_pipe[0], true, &error) ||
            !g_unix_set_fd_nonblocking(signal_pipe[1], true, &error)) {
                signal_pipe_close();
                return log_error_errno(-EIO, "failed to create a pipe: %s", error->message);
        }

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < G_N_ELEMENTS(exit_signals); i++)
                (void) sigaction(exit_signals[i], &sa, &old[i]);
        (void) signal(SIGPIPE, SIG_IGN);
        return 0;
}

static void signals_restore(const SavedSignals old) {
        for (size_t i = 0; i < G_N_ELEMENTS(exit_signals); i++)
                (void) sigaction(exit_signals[i], &old[i], NULL);
        signal_pipe_close();
}

/* ---- the terminal ---- */

typedef struct RawTerminal {
        bool active;
        struct termios saved;
} RawTerminal;

static int terminal_make_raw(RawTerminal *t) {
        struct termios raw;

        if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
                return log_error_errno(-errno, "failed to read the terminal attributes: %s",
                                       g_strerror(errno));
        raw = t->saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
                return log_error_errno(-errno, "failed to put the terminal into raw mode: %s",
                                       g_strerror(errno));
        t->active = true;
        return 0;
}

static void terminal_restore(RawTerminal *t) {
        if (!t->active)
                return;
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &t->saved);
        t->active = false;
}

/* ---- the copy loop ---- */

static bool errno_is_transient(int e) {
        return e == EINTR || e == EAGAIN || e == EWOULDBLOCK;
}

/* Writes what b holds to fd; false when fd no longer takes data. */
static bool buffer_flush(Buffer *b, int fd) {
        ssize_t n = write(fd, b->data + b->off, b->len - b->off);

        if (n < 0)
                return errno_is_transient(errno);
        b->off += (size_t) n;
        if (b->off == b->len)
                b->off = b->len = 0;
        return true;
}

static void console_read_stdin(Console *c) {
        Buffer *b = &c->to_guest;
        ssize_t n = read(STDIN_FILENO, b->data, sizeof b->data);
        char *esc;

        if (n < 0 && errno_is_transient(errno))
                return;
        if (n <= 0) {           /* EOF, or a terminal that hung up (EIO) */
                c->stdin_eof = true;
                return;
        }

        b->off = 0;
        b->len = (size_t) n;
        esc = memchr(b->data, ESCAPE_CHAR, b->len);
        if (esc) {
                b->len = (size_t) (esc - b->data);
                c->escape_seen = true;
        }
}

static void console_read_guest(Console *c) {
        Buffer *b = &c->to_user;
        ssize_t n = read(c->fd, b->data, sizeof b->data);

        if (n < 0 && errno_is_transient(errno))
                return;
        if (n <= 0) {           /* a closed socket (0), a pty without its QEMU (EIO) */
                c->end = END_CONSOLE_EOF;
                return;
        }
        b->off = 0;
        b->len = (size_t) n;
}

enum { PFD_SIGNAL, PFD_STDIN, PFD_GUEST, PFD_STDOUT, _PFD_MAX };

static void console_poll_setup(const Console *c, struct pollfd p[_PFD_MAX]) {
        bool read_stdin = !c->stdin_eof && !c->escape_seen && c->to_guest.len == 0;

        p[PFD_SIGNAL] = (struct pollfd) { .fd = signal_pipe[0], .events = POLLIN };
        /* a negative fd is skipped by poll() */
        p[PFD_STDIN] = (struct pollfd) { .fd = read_stdin ? STDIN_FILENO : -1,
                                         .events = POLLIN };
        p[PFD_GUEST] = (struct pollfd) {
                .events = (c->to_user.len == 0 ? POLLIN : 0) |
                          (c->to_guest.len > 0 ? POLLOUT : 0),
        };
        /* not at all while we want nothing of it: a hung-up pty would wake us */
        p[PFD_GUEST].fd = p[PFD_GUEST].events ? c->fd : -1;
        p[PFD_STDOUT] = (struct pollfd) { .fd = c->to_user.len > 0 ? STDOUT_FILENO : -1,
                                          .events = POLLOUT };
}

static bool revents_ready(const struct pollfd *p, short what) {
        return p->revents & (what | POLLHUP | POLLERR | POLLNVAL);
}

static void console_dispatch(Console *c, const struct pollfd p[_PFD_MAX]) {
        if (p[PFD_SIGNAL].revents) {
                c->end = END_SIGNAL;
                return;
        }

        if (p[PFD_STDOUT].fd >= 0 && revents_ready(&p[PFD_STDOUT], POLLOUT) &&
            !buffer_flush(&c->to_user, STDOUT_FILENO)) {
                c->end = END_OUTPUT_GONE;
                return;
        }

        if ((p[PFD_GUEST].events & POLLOUT) && revents_ready(&p[PFD_GUEST], POLLOUT) &&
            !buffer_flush(&c->to_guest, c->fd)) {
                c->end = END_CONSOLE_EOF;
                return;
        }

        if ((p[PFD_GUEST].events & POLLIN) && revents_ready(&p[PFD_GUEST], POLLIN))
                console_read_guest(c);
        else if (p[PFD_GUEST].revents & (POLLERR | POLLNVAL))
                c->end = END_CONSOLE_EOF;

        if (p[PFD_STDIN].fd >= 0 && revents_ready(&p[PFD_STDIN], POLLIN))
                console_read_stdin(c);
}

/* What the guest wrote before the end: out, unless stdout stalls for a second
 * or a signal asks us to stop. */
static void console_flush_output(Console *c) {
        while (c->to_user.len > 0) {
                struct pollfd p[2] = {
                        { .fd = STDOUT_FILENO, .events = POLLOUT },
                        { .fd = signal_pipe[0], .events = POLLIN },
                };

                if (poll(p, 2, 1000) <= 0 || p[1].revents)
                        return;
                if (!buffer_flush(&c->to_user, STDOUT_FILENO))
                        return;
        }
}

static int console_run(Console *c) {
        while (c->end == END_NONE) {
                struct pollfd p[_PFD_MAX];

                if (c->escape_seen && c->to_guest.len == 0) {
                        c->end = END_ESCAPE;
                        break;
                }

                console_poll_setup(c, p);
                if (poll(p, _PFD_MAX, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno, "poll() failed: %s", g_strerror(errno));
                }
                console_dispatch(c, p);
        }

        if (c->end != END_OUTPUT_GONE)
                console_flush_output(c);
        return 0;
}

/* ---- the verb ---- */

static int console_open(Context *ctx, const Domain *dom, const char *device, int *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int fd, r;

        r = bus_call(ctx, dom->path, IFACE_DOMAIN, "OpenConsole", CALL_TIMEOUT_DEFAULT, &reply,
                     "st", device ?: "", UINT64_C(0));
        if (r < 0)
                return r;

        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return log_error_errno(r, "failed to parse reply: %s", g_strerror(-r));

        /* the message owns fd: keep a copy of our own */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_error_errno(-errno, "failed to duplicate the console fd: %s",
                                       g_strerror(errno));

        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
                r = -errno;
                (void) close(fd);
                return log_error_errno(r, "failed to set up the console fd: %s", g_strerror(-r));
        }

        /* A pty must not echo the guest's output back to the guest, nor wait
         * for whole lines: raw, as QEMU made it (harmless when it is). */
        if (isatty(fd)) {
                struct termios t;

                if (tcgetattr(fd, &t) >= 0) {
                        cfmakeraw(&t);
                        (void) tcsetattr(fd, TCSANOW, &t);
                }
        }

        *ret = fd;
        return 0;
}

int verb_console(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(closep) int fd = -1;
        g_autofree Console *c = NULL;
        SavedSignals old;
        RawTerminal term = {};
        bool tty = isatty(STDIN_FILENO);
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;
        r = console_open(ctx, &dom, cmd_str(cmd, "devname"), &fd);
        if (r < 0)
                return r;

        fprintf(stderr, "Connected to domain %s\nEscape character is ^]\n", dom.name);

        r = signals_install(old);
        if (r < 0)
                return r;

        if (tty) {
                r = terminal_make_raw(&term);
                if (r < 0) {
                        signals_restore(old);
                        return r;
                }
        }

        c = g_new0(Console, 1);
        c->fd = fd;
        r = console_run(c);

        terminal_restore(&term);
        signals_restore(old);
        if (r < 0)
                return r;

        /* the shell's prompt on a line of its own */
        if (tty)
                fputc('\n', stderr);
        return 0;
}
