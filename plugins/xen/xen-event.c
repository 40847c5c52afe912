/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxl on domaind's sd-event loop.
 *
 * libxl asks for fds and timeouts through libxl_osevent_hooks; we keep one
 * sd-event source per registration and tell libxl about activity with
 * libxl_osevent_occurred_fd/_timeout, only ever from sd-event's dispatch
 * (never from inside a hook: libxl forbids that reentrancy, and libxl calls
 * the hooks from within any of its functions).
 *
 * Timeouts are absolute struct timevals of gettimeofday(): CLOCK_REALTIME
 * sources. timeout_modify only ever says {0,0}, "as soon as possible".
 * A timeout that fired is deregistered implicitly (libxl registers anew if
 * it wants another), so its record goes before we tell libxl.
 *
 * Asynchronous operations (XenAo) complete through libxl_asyncop_how's
 * callback, which libxl may make even before the initiating call returns.
 * The callback only records the result; the plugin's continuation runs from
 * a defer source, on a clean stack, never inside libxl.
 *
 * Children: libxl forks (hotplug scripts, libxl-save-helper, the QEMU of
 * qdisk and HVM). domaind reaps its own children by pid (pidfds, g_spawn)
 * and nobody else in the process touches SIGCHLD, which is exactly
 * libxl_sigchld_owner_libxl_always_selective_reap: libxl installs its
 * SIGCHLD handler (a self-pipe on our loop) and reaps only its own children.
 * The plain libxl mode would reap every child, stealing QEMU's and
 * pygrub's exit statuses from the kvm plugin and from us.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

#include "xen.h"

typedef struct XenFd {
        XenHv *hv;
        sd_event_source *source;
        void *for_libxl;
        int fd;      /* libxl's fd */
        int dup_fd;  /* ours, when libxl registered one fd twice (epoll takes an fd once) */
        bool always_ready; /* a regular file: source is a defer source, not an io one */
        short events;
} XenFd;

typedef struct XenTimeout {
        XenHv *hv;
        sd_event_source *source;
        void *for_libxl;
} XenTimeout;

struct XenAo {
        XenHv *hv;
        XenGuest *g; /* NULL once the guest was forgotten */
        XenAoDone done;
        int rc;
        uint32_t domid;
        sd_event_source *defer;
        bool abortable; /* the save or restore itself, which AbortJob may cancel */
        libxl_domain_config cfg;
        libxl_domain_restore_params restore_params;
};

/* ---- fds ---- */

static uint32_t epoll_events(short events) {
        return (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0) |
               (events & POLLPRI ? EPOLLPRI : 0);
}

static short poll_events(uint32_t revents) {
        return (short) ((revents & EPOLLIN ? POLLIN : 0) | (revents & EPOLLOUT ? POLLOUT : 0) |
                        (revents & EPOLLPRI ? POLLPRI : 0) | (revents & EPOLLERR ? POLLERR : 0) |
                        (revents & EPOLLHUP ? POLLHUP : 0));
}

static int on_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        XenFd *f = userdata;
        /* libxl may deregister f from inside: copy first */
        XenHv *hv = f->hv;
        libxl_osevent_occurred_fd(hv->ctx, f->for_libxl, f->fd, f->events, poll_events(revents));
        return 0;
}

/* A regular file is what poll() calls always ready for whatever was asked;
 * libxl polls the fd itself again before it acts, so telling it "ready"
 * on every loop iteration while it wants events is exactly poll's answer. */
static int on_fd_always_ready(sd_event_source *s, void *userdata) {
        XenFd *f = userdata;
        XenHv *hv = f->hv;
        libxl_osevent_occurred_fd(hv->ctx, f->for_libxl, f->fd, f->events, f->events);
        return 0;
}

/* events == 0 must work but report nothing: the source is then off */
static int fd_apply(XenFd *f, short events) {
        int r = f->always_ready ? 0 : sd_event_source_set_io_events(f->source, epoll_events(events));
        if (r >= 0)
                r = sd_event_source_set_enabled(f->source, events ? SD_EVENT_ON : SD_EVENT_OFF);
        if (r >= 0)
                f->events = events;
        return r;
}

static void fd_free(XenFd *f) {
        sd_event_source_disable_unref(f->source);
        if (f->dup_fd >= 0)
                close(f->dup_fd);
        g_free(f);
}

/* epoll takes an fd once: a second registration of the same fd watches a
 * duplicate of it (libxl still hears of its own fd number) */
static int fd_watch_dup(XenFd *f, short events, sd_event_source **ret) {
        int dup_fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        int r = sd_event_add_io(f->hv->host->event, ret, dup_fd, epoll_events(events), on_fd, f);
        if (r < 0) {
                close(dup_fd);
                return r;
        }
        if (f->dup_fd >= 0)
                close(f->dup_fd);
        f->dup_fd = dup_fd;
        return r;
}

/* The source for a new registration: an io source, on a duplicate if the
 * fd is watched already, or an always-ready one for a regular file (the
 * save/restore image), which epoll refuses with EPERM. */
static int fd_watch(XenFd *f, short events) {
        sd_event *e = f->hv->host->event;
        int r = sd_event_add_io(e, &f->source, f->fd, epoll_events(events), on_fd, f);
        if (r == -EEXIST)
                r = fd_watch_dup(f, events, &f->source);
        else if (r == -EPERM) {
                f->always_ready = true;
                r = sd_event_add_defer(e, &f->source, on_fd_always_ready, f);
                /* a pending defer source outranks every other source of its
                 * priority for good (sd-event dispatches the oldest pending
                 * first): at idle priority it yields to the fds libxl also
                 * waits on (libxl-save-helper's pipe, xenstore) */
                if (r >= 0)
                        r = sd_event_source_set_priority(f->source, SD_EVENT_PRIORITY_IDLE);
        }
        return r;
}

static int hook_fd_register(void *user, int fd, void **out, short events, void *for_libxl) {
        XenHv *hv = user;
        XenFd *f = g_new0(XenFd, 1);
        *f = (XenFd){ .hv = hv, .for_libxl = for_libxl, .fd = fd, .dup_fd = -1 };
        int r = fd_watch(f, events);
        if (r >= 0)
                r = fd_apply(f, events);
        if (r < 0) {
                hv->host->log(LOG_ERR, "xen: cannot watch fd %d for libxl: %s", fd, g_strerror(-r));
                fd_free(f);
                return ERROR_OSEVENT_REG_FAIL;
        }
        sd_event_source_set_description(f->source, "xen-libxl-fd");
        *out = f;
        return 0;
}

/* A source turned off (events 0) left epoll; if libxl registered the same
 * fd number meanwhile, turning it on again finds the fd taken (EEXIST):
 * the registration moves to a duplicate, as a second registration would. */
static int fd_rewatch_dup(XenFd *f, short events) {
        sd_event_source *source = NULL;
        int r = fd_watch_dup(f, events, &source);
        if (r < 0)
                return r;
        sd_event_source_set_description(source, "xen-libxl-fd");
        sd_event_source_disable_unref(f->source);
        f->source = source;
        f->events = events;
        return 0;
}

static int hook_fd_modify(void *user, int fd, void **upd, short events) {
        XenFd *f = *upd;
        int r = fd_apply(f, events);
        if (r == -EEXIST && !f->always_ready)
                r = fd_rewatch_dup(f, events);
        if (r < 0) {
                f->hv->host->log(LOG_ERR, "xen: cannot watch fd %d for libxl: %s", fd, g_strerror(-r));
                return ERROR_OSEVENT_REG_FAIL;
        }
        return 0;
}

static void hook_fd_deregister(void *user, int fd, void *reg) {
        fd_free(reg);
}

/* ---- timeouts ---- */

static uint64_t timeval_usec(struct timeval tv) {
        /* {0,0} is "as soon as possible": any time in the past; 0 would be the epoch too */
        if (tv.tv_sec <= 0 && tv.tv_usec <= 0)
                return 1;
        return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        XenTimeout *t = userdata;
        XenHv *hv = t->hv;
        void *for_libxl = t->for_libxl;
        /* implicitly deregistered: gone before libxl hears of it */
        sd_event_source_disable_unref(t->source);
        g_free(t);
        libxl_osevent_occurred_timeout(hv->ctx, for_libxl);
        return 0;
}

static int hook_timeout_register(void *user, void **out, struct timeval abs, void *for_libxl) {
        XenHv *hv = user;
        XenTimeout *t = g_new0(XenTimeout, 1);
        *t = (XenTimeout){ .hv = hv, .for_libxl = for_libxl };
        int r = sd_event_add_time(hv->host->event, &t->source, CLOCK_REALTIME, timeval_usec(abs), 1, on_timeout, t);
        if (r < 0) {
                hv->host->log(LOG_ERR, "xen: cannot add a timer for libxl: %s", g_strerror(-r));
                g_free(t);
                return ERROR_OSEVENT_REG_FAIL;
        }
        sd_event_source_set_description(t->source, "xen-libxl-timeout");
        *out = t;
        return 0;
}

static int hook_timeout_modify(void *user, void **upd, struct timeval abs) {
        XenTimeout *t = *upd;
        int r = sd_event_source_set_time(t->source, timeval_usec(abs));
        if (r >= 0)
                r = sd_event_source_set_enabled(t->source, SD_EVENT_ONESHOT);
        return r < 0 ? ERROR_OSEVENT_REG_FAIL : 0;
}

static void hook_timeout_deregister(void *user, void *reg) {
        XenTimeout *t = reg;
        sd_event_source_disable_unref(t->source);
        g_free(t);
}

static const libxl_osevent_hooks osevent_hooks = {
        .fd_register = hook_fd_register,
        .fd_modify = hook_fd_modify,
        .fd_deregister = hook_fd_deregister,
        .timeout_register = hook_timeout_register,
        .timeout_modify = hook_timeout_modify,
        .timeout_deregister = hook_timeout_deregister,
};

/* ---- domain events ---- */

static void on_event(void *user, libxl_event *event) {
        XenHv *hv = user;
        XenGuest *g = g_hash_table_lookup(hv->by_domid, GUINT_TO_POINTER(event->domid));
        if (!g)
                hv->host->log(LOG_DEBUG, "xen: event %d for domain %u, which is not ours (any more)", event->type,
                              event->domid);
        else if (event->type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN)
                xen_on_domain_shutdown(g, event->u.domain_shutdown.shutdown_reason);
        else if (event->type == LIBXL_EVENT_TYPE_DOMAIN_DEATH)
                xen_on_domain_death(g);
        libxl_event_free(hv->ctx, event);
}

static void on_disaster(void *user, libxl_event_type type, const char *msg, int errnoval) {
        XenHv *hv = user;
        /* no libxl calls allowed here; domain events may be lost from now on,
         * and no operation would ever hear of its completion: new ones fail */
        hv->host->log(LOG_CRIT, "xen: libxl cannot deliver events any more (type %d): %s: %s", type, msg,
                      g_strerror(errnoval));
        if (!hv->broken)
                hv->broken = g_strdup_printf("libxl cannot deliver events any more: %s: %s", msg ? msg : "",
                                             g_strerror(errnoval));
}

static const libxl_event_hooks event_hooks = {
        .event_occurs_mask = (1ull << LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN) | (1ull << LIBXL_EVENT_TYPE_DOMAIN_DEATH),
        .event_occurs = on_event,
        .disaster = on_disaster,
};

static const libxl_childproc_hooks childproc_hooks = {
        .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

void xen_event_setup(XenHv *hv) {
        libxl_osevent_register_hooks(hv->ctx, &osevent_hooks, hv);
        libxl_event_register_callbacks(hv->ctx, &event_hooks, hv);
        libxl_childproc_setmode(hv->ctx, &childproc_hooks, hv);
}

int xen_watch_death(XenGuest *g) {
        if (g->death || g->domid == (uint32_t) INVALID_DOMID)
                return 0;
        int rc = libxl_evenable_domain_death(g->hv->ctx, g->domid, g->domid, &g->death);
        if (rc)
                g->death = NULL;
        return rc;
}

void xen_unwatch_death(XenGuest *g) {
        if (!g->death)
                return;
        libxl_evdisable_domain_death(g->hv->ctx, g->death);
        g->death = NULL;
}

/* ---- asynchronous operations ---- */

static void ao_free(XenAo *ao) {
        sd_event_source_disable_unref(ao->defer);
        libxl_domain_config_dispose(&ao->cfg);
        libxl_domain_restore_params_dispose(&ao->restore_params);
        g_free(ao);
}

static void ao_finish(XenAo *ao) {
        XenGuest *g = ao->g;
        ao->hv->aos--;
        if (g && g->ao == ao)
                g->ao = NULL;
        if (g)
                ao->done(g, ao->rc, ao->domid);
        ao_free(ao);
}

static int on_ao_defer(sd_event_source *s, void *userdata) {
        ao_finish(userdata);
        return 0;
}

static void ao_callback(libxl_ctx *ctx, int rc, void *for_callback) {
        XenAo *ao = for_callback;
        ao->rc = rc;
        /* maybe still inside the initiating call: go on from the loop */
        if (sd_event_add_defer(ao->hv->host->event, &ao->defer, on_ao_defer, ao) < 0)
                ao_finish(ao);
}

XenAo *xen_ao_new(XenGuest *g, XenAoDone done, libxl_asyncop_how *how) {
        XenAo *ao = g_new0(XenAo, 1);
        *ao = (XenAo){ .hv = g->hv, .g = g, .done = done, .domid = INVALID_DOMID };
        libxl_domain_config_init(&ao->cfg);
        libxl_domain_restore_params_init(&ao->restore_params);
        g->hv->aos++;
        g->ao = ao;
        *how = (libxl_asyncop_how){ .callback = ao_callback, .u.for_callback = ao };
        return ao;
}

void xen_ao_cancel(XenAo *ao) {
        ao->hv->aos--;
        if (ao->g && ao->g->ao == ao)
                ao->g->ao = NULL;
        ao_free(ao);
}

libxl_domain_config *xen_ao_config(XenAo *ao) {
        return &ao->cfg;
}

uint32_t *xen_ao_domid(XenAo *ao) {
        return &ao->domid;
}

libxl_domain_restore_params *xen_ao_restore_params(XenAo *ao) {
        return &ao->restore_params;
}

void xen_ao_set_abortable(XenAo *ao) {
        ao->abortable = true;
}

bool xen_ao_abortable(XenAo *ao) {
        return ao && ao->abortable;
}

int xen_ao_abort(XenAo *ao) {
        /* libxl finds the operation by an identical ao_how */
        libxl_asyncop_how how = { .callback = ao_callback, .u.for_callback = ao };
        return libxl_ao_abort(ao->hv->ctx, &how);
}

void xen_ao_forget_guest(XenAo *ao) {
        ao->g = NULL;
}
