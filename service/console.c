/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain.OpenConsole hands the caller one end of a socket pair and copies
 * bytes between the other end and the guest's console (a pty or a socket
 * the plugin opened). Going through us is what lets a second OpenConsole be
 * refused with Busy while the first caller is still attached, and lets us
 * notice when that caller goes away (the socket closes).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "bus-util.h"
#include "console.h"
#include "log.h"

#define CONSOLE_BUFFER 4096

typedef struct Pipe {
        int from, to;
        char buf[CONSOLE_BUFFER];
        size_t len;
} Pipe;

struct ConsoleSession {
        Domain *domain;
        int guest_fd, client_fd;
        sd_event_source *guest_source, *client_source;
        Pipe to_client, to_guest;
};

void console_session_close(ConsoleSession *s) {
        if (!s)
                return;
        if (s->domain->console == s)
                s->domain->console = NULL;
        sd_event_source_disable_unref(s->guest_source);
        sd_event_source_disable_unref(s->client_source);
        close(s->guest_fd);
        close(s->client_fd);
        g_free(s);
}

/* Each fd waits for input while its outgoing buffer has room and for
 * output while the other direction has bytes queued for it. */
static void update_events(ConsoleSession *s) {
        sd_event_source_set_io_events(s->guest_source, (s->to_client.len < CONSOLE_BUFFER ? EPOLLIN : 0) |
                                                               (s->to_guest.len ? EPOLLOUT : 0));
        sd_event_source_set_io_events(s->client_source, (s->to_guest.len < CONSOLE_BUFFER ? EPOLLIN : 0) |
                                                                (s->to_client.len ? EPOLLOUT : 0));
}

/* Returns false when the session is over (EOF or error). */
static bool pipe_fill(Pipe *p) {
        ssize_t n = read(p->from, p->buf + p->len, CONSOLE_BUFFER - p->len);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        p->len += (size_t) n;
        return n > 0;
}

static bool pipe_drain(Pipe *p) {
        ssize_t n = write(p->to, p->buf, p->len);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        memmove(p->buf, p->buf + n, p->len - (size_t) n);
        p->len -= (size_t) n;
        return true;
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        ConsoleSession *s = userdata;
        bool guest = fd == s->guest_fd;
        Pipe *in = guest ? &s->to_client : &s->to_guest;
        Pipe *out = guest ? &s->to_guest : &s->to_client;
        bool alive = true;
        if (revents & EPOLLIN)
                alive = pipe_fill(in);
        if (alive && (revents & EPOLLOUT))
                alive = pipe_drain(out);
        if (alive && (revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN))
                alive = false;
        if (!alive) {
                /* what one side said last still goes to the other (best effort:
                 * the fds are non-blocking) */
                pipe_drain(in);
                log_debug("%s: console session closed (%s side)", domain_name(s->domain), guest ? "guest" : "client");
                console_session_close(s);
                return 0;
        }
        update_events(s);
        return 0;
}

int console_check_free(Domain *d, sd_bus_error *error) {
        if (d->console)
                return bus_error_setf(error, ERROR_BUSY,
                                      "a console of domain '%s' is already open by another client: close it first",
                                      domain_name(d));
        return 0;
}

int console_session_open(Domain *d, int guest_fd, int *ret_client_fd, sd_bus_error *error) {
        _cleanup_(closep) int fd = guest_fd;
        int pair[2];
        g_assert(!d->console); /* the caller asked console_check_free() first */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
                return -errno;
        fd = -1; /* the session owns it from here */
        struct termios t;
        if (isatty(guest_fd) && tcgetattr(guest_fd, &t) == 0) {
                /* a pty in cooked mode would echo the guest's output back to it */
                cfmakeraw(&t);
                (void) tcsetattr(guest_fd, TCSANOW, &t);
        }
        ConsoleSession *s = g_new0(ConsoleSession, 1);
        *s = (ConsoleSession){ .domain = d, .guest_fd = guest_fd, .client_fd = pair[0] };
        s->to_client = (Pipe){ .from = guest_fd, .to = pair[0] };
        s->to_guest = (Pipe){ .from = pair[0], .to = guest_fd };
        sd_event *event = d->hv->manager->event;
        int r = sd_event_add_io(event, &s->guest_source, guest_fd, EPOLLIN, on_io, s);
        if (r >= 0)
                r = sd_event_add_io(event, &s->client_source, pair[0], EPOLLIN, on_io, s);
        if (r < 0) {
                close(pair[1]);
                console_session_close(s);
                return r;
        }
        d->console = s;
        *ret_client_fd = pair[1];
        return 0;
}
