/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP client: one non-blocking unix socket on the caller's sd-event loop.
 *
 * QEMU speaks one JSON object per line ("\r\n"-terminated). After connecting
 * it sends a greeting; we answer with qmp_capabilities (enabling nothing:
 * without "oob" QEMU answers commands strictly in order) and only then send
 * the commands the user queued. Each command carries an integer "id" that
 * QEMU echoes in its reply. Events interleave with replies and are handed
 * out in the order they arrive.
 *
 * Re-entrancy: every callback may call qmp_execute() or qmp_free(). Code
 * that calls out holds a reference; qmp_free() only marks the Qmp freed and
 * cuts it loose (socket, pending commands, callbacks), and the memory goes
 * with the last reference. After each call out, dispatching code checks
 * qmp->freed and the state before touching anything again.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "qmp.h"

/* The longest line we accept. QEMU's longest answers (query-qmp-schema) are
 * a few hundred KiB; a line past this is a runaway peer, not QMP. */
#define QMP_LINE_MAX (64u * 1024u * 1024u)
#define QMP_READ_SIZE (64u * 1024u)
#define QMP_IOV_MAX 64u
/* How much of a bad line goes into the log. */
#define QMP_LOG_EXCERPT 200

typedef enum QmpState {
        QMP_STATE_NEW,        /* no socket yet (or connecting failed: may retry) */
        QMP_STATE_CONNECTING, /* connect() in progress */
        QMP_STATE_GREETING,   /* connected, waiting for QEMU's greeting */
        QMP_STATE_HANDSHAKE,  /* qmp_capabilities sent */
        QMP_STATE_READY,
        QMP_STATE_CLOSED,
} QmpState;

typedef struct QmpCommand {
        int64_t id;
        char *name; /* for the log */
        QmpReplyFunc reply;
        void *userdata;
        /* The serialized command (with its newline) until it moves to the
         * output queue; NULL afterwards, i.e. "sent". */
        char *line;
        size_t size;
        int fd; /* our duplicate of the fd to pass along, or -1; moves with line */
} QmpCommand;

/* One command's bytes on their way out. */
typedef struct QmpChunk {
        char *data;
        size_t size;
        size_t done;
        int fd; /* travels with the first byte of data, then closed */
} QmpChunk;

struct Qmp {
        unsigned n_ref;
        bool freed;
        QmpState state;

        sd_event *event;
        sd_event_source *io;
        int fd;
        char *path;

        QmpCallbacks callbacks;
        void *userdata;
        QmpLogFunc log;

        int64_t next_id;
        GQueue commands; /* QmpCommand waiting for their replies, in the order issued */
        GQueue output;   /* QmpChunk not completely written yet */

        char *in;
        size_t in_size;
        size_t in_used;
        size_t in_scanned; /* in[0..in_scanned) holds no newline */
        JsonParser *parser;

        JsonObject *qemu_version; /* from the greeting */
};

#define log_qmp(qmp, priority, fmt, ...)                                                                   \
        do {                                                                                               \
                if ((qmp)->log)                                                                            \
                        (qmp)->log((priority), "QMP %s: " fmt, (qmp)->path ?: "(unconnected)", ##__VA_ARGS__); \
        } while (0)

/* ==== errors ================================================================ */

/* GLib keeps pointers into this object for the rest of the process: the
 * error domain's functions below and json-glib's GTypes (libjson-glib is
 * not NODELETE). domaind unloads plugins with g_module_close(), and a
 * reload would then meet stale registrations; so the object holding this
 * code pins itself, and with it its libraries. A no-op in an executable. */
static void qmp_pin(void) {
        Dl_info info;

        if (dladdr((void *) qmp_pin, &info) == 0 || !info.dli_fname)
                return;
        (void) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

/* The QMP error class rides along with the GError as its private data. */
typedef struct QmpErrorDomainPrivate {
        char *class;
} QmpErrorDomainPrivate;

static void qmp_error_domain_private_init(QmpErrorDomainPrivate *priv) {
        priv->class = NULL;
}

static void qmp_error_domain_private_copy(const QmpErrorDomainPrivate *src, QmpErrorDomainPrivate *dest) {
        dest->class = g_strdup(src->class);
}

static void qmp_error_domain_private_clear(QmpErrorDomainPrivate *priv) {
        g_clear_pointer(&priv->class, g_free);
}

/* Defined by the macro below without "static": this makes it file-local,
 * as qmp_error_quark() must pin before the domain is registered. */
static GQuark qmp_error_domain_quark(void);
G_DEFINE_EXTENDED_ERROR(QmpErrorDomain, qmp_error_domain)

GQuark qmp_error_quark(void) {
        static gsize pinned = 0;

        if (g_once_init_enter(&pinned)) {
                qmp_pin();
                g_once_init_leave(&pinned, 1);
        }
        return qmp_error_domain_quark();
}

const char *qmp_error_class(const GError *error) {
        if (!error || error->domain != QMP_ERROR || error->code != QMP_ERROR_COMMAND)
                return NULL;
        return qmp_error_domain_get_private(error)->class;
}

static GError *qmp_command_error_new(const char *class, const char *desc) {
        GError *error;

        error = g_error_new_literal(QMP_ERROR, QMP_ERROR_COMMAND, desc ?: class ?: "QEMU reported an error");
        qmp_error_domain_get_private(error)->class = g_strdup(class);
        return error;
}

/* ==== small helpers ========================================================= */

static void close_fdp(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
        *fd = -1;
}

static JsonObject *object_get_object(JsonObject *o, const char *name) {
        JsonNode *n = json_object_get_member(o, name);

        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static const char *object_get_string(JsonObject *o, const char *name) {
        JsonNode *n = json_object_get_member(o, name);

        return n && json_node_get_value_type(n) == G_TYPE_STRING ? json_node_get_string(n) : NULL;
}

static void qmp_command_free(QmpCommand *c) {
        if (!c)
                return;
        g_free(c->name);
        g_free(c->line);
        close_fdp(&c->fd);
        g_free(c);
}

static void qmp_chunk_free(QmpChunk *chunk) {
        if (!chunk)
                return;
        g_free(chunk->data);
        close_fdp(&chunk->fd);
        g_free(chunk);
}

static char *qmp_serialize(const char *command, JsonObject *arguments, int64_t id, size_t *ret_size) {
        g_autoptr(JsonObject) o = json_object_new();
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
        g_autoptr(JsonGenerator) generator = json_generator_new();
        g_autofree char *text = NULL;
        gsize size;
        char *line;

        json_object_set_string_member(o, "execute", command);
        if (arguments)
                json_object_set_object_member(o, "arguments", json_object_ref(arguments));
        json_object_set_int_member(o, "id", id);
        json_node_set_object(root, o);
        json_generator_set_root(generator, root);
        text = json_generator_to_data(generator, &size);

        /* QEMU's parser splits on complete JSON values, not lines; the
         * newline just keeps traces readable. The generator escapes
         * newlines inside strings, so this stays one line. */
        line = g_malloc(size + 2);
        memcpy(line, text, size);
        line[size] = '\n';
        line[size + 1] = '\0';
        *ret_size = size + 1;
        return line;
}

/* ==== reference counting ==================================================== */

static Qmp *qmp_ref(Qmp *qmp) {
        qmp->n_ref++;
        return qmp;
}

static void qmp_disconnect(Qmp *qmp) {
        QmpChunk *chunk;

        /* The source goes before the fd it watches. */
        qmp->io = sd_event_source_disable_unref(qmp->io);
        close_fdp(&qmp->fd);
        while ((chunk = g_queue_pop_head(&qmp->output)))
                qmp_chunk_free(chunk);
}

static void qmp_unref(Qmp *qmp) {
        if (!qmp)
                return;
        g_assert(qmp->n_ref > 0);
        if (--qmp->n_ref > 0)
                return;

        qmp_disconnect(qmp);
        g_queue_clear_full(&qmp->commands, (GDestroyNotify) qmp_command_free);
        g_clear_object(&qmp->parser);
        g_clear_pointer(&qmp->qemu_version, json_object_unref);
        g_free(qmp->in);
        g_free(qmp->path);
        sd_event_unref(qmp->event);
        g_free(qmp);
}

static void qmp_unrefp(Qmp **qmp) {
        qmp_unref(*qmp);
}

/* Holds a reference for the scope of a function that calls out. */
#define QMP_HOLD(qmp) __attribute__((cleanup(qmp_unrefp), unused)) Qmp *_qmp_hold_ = qmp_ref(qmp)

Qmp *qmp_new(sd_event *event, const QmpCallbacks *callbacks, void *userdata) {
        Qmp *qmp;

        g_return_val_if_fail(event, NULL);

        /* registers the error domain and pins this object before
         * json-glib registers its types */
        (void) qmp_error_quark();

        qmp = g_new0(Qmp, 1);
        qmp->n_ref = 1;
        qmp->event = sd_event_ref(event);
        qmp->fd = -1;
        if (callbacks)
                qmp->callbacks = *callbacks;
        qmp->userdata = userdata;
        qmp->next_id = 1;
        g_queue_init(&qmp->commands);
        g_queue_init(&qmp->output);
        qmp->parser = json_parser_new();
        return qmp;
}

void qmp_set_log(Qmp *qmp, QmpLogFunc log) {
        g_return_if_fail(qmp);
        qmp->log = log;
}

bool qmp_is_ready(Qmp *qmp) {
        return qmp && !qmp->freed && qmp->state == QMP_STATE_READY;
}

void qmp_free(Qmp *qmp) {
        if (!qmp || qmp->freed)
                return;

        /* A callback on the stack may still hold references: it needs the
         * struct and the input buffer until it returns. Everything that
         * could call out or talk to QEMU goes now. */
        qmp->freed = true;
        qmp->state = QMP_STATE_CLOSED;
        qmp->callbacks = (QmpCallbacks) {};
        qmp_disconnect(qmp);
        g_queue_clear_full(&qmp->commands, (GDestroyNotify) qmp_command_free);
        qmp_unref(qmp);
}

/* ==== closing =============================================================== */

/* Ends a command: calls its reply function (if any) and frees it. The
 * command is no longer in qmp->commands. */
static void qmp_command_done(Qmp *qmp, QmpCommand *c, JsonNode *result, const GError *error) {
        if (c->reply)
                c->reply(qmp, result, error, c->userdata);
        qmp_command_free(c);
}

/* The connection is gone: pending replies learn it first, then closed(). */
static void qmp_close(Qmp *qmp, const GError *why) {
        g_autoptr(GError) closed = NULL;
        QmpCommand *c;

        if (qmp->state == QMP_STATE_CLOSED)
                return;

        QMP_HOLD(qmp);
        qmp->state = QMP_STATE_CLOSED;
        qmp_disconnect(qmp);
        log_qmp(qmp, LOG_DEBUG, "connection closed: %s", why->message);

        closed = g_error_new(QMP_ERROR, QMP_ERROR_CLOSED, "QMP connection closed before QEMU answered: %s",
                             why->message);
        while ((c = g_queue_pop_head(&qmp->commands))) {
                qmp_command_done(qmp, c, NULL, closed);
                if (qmp->freed)
                        return;
        }

        if (qmp->callbacks.closed)
                qmp->callbacks.closed(qmp, why, qmp->userdata);
}

static void qmp_close_with(Qmp *qmp, QmpErrorCode code, const char *format, ...) G_GNUC_PRINTF(3, 4);
static void qmp_close_with(Qmp *qmp, QmpErrorCode code, const char *format, ...) {
        g_autoptr(GError) why = NULL;
        g_autofree char *message = NULL;
        va_list ap;

        va_start(ap, format);
        message = g_strdup_vprintf(format, ap);
        va_end(ap);

        if (code != QMP_ERROR_CLOSED)
                log_qmp(qmp, LOG_WARNING, "%s", message);
        why = g_error_new_literal(QMP_ERROR, code, message);
        qmp_close(qmp, why);
}

/* ==== output ================================================================ */

static void qmp_output_push(Qmp *qmp, QmpCommand *c) {
        QmpChunk *chunk = g_new0(QmpChunk, 1);

        /* Not the arguments: they may hold secrets (passwords, keys). */
        log_qmp(qmp, LOG_DEBUG, "-> %s (id %" PRIi64 "%s)", c->name, c->id, c->fd >= 0 ? ", with an fd" : "");
        chunk->data = g_steal_pointer(&c->line);
        chunk->size = c->size;
        chunk->fd = c->fd;
        c->fd = -1;
        g_queue_push_tail(&qmp->output, chunk);
}

/* Gathers what the next sendmsg() carries. A chunk with an fd always goes
 * alone at the head of its own sendmsg(): the kernel attaches SCM_RIGHTS to
 * that message's first byte, and QEMU (which reads its monitor byte by
 * byte) hands the fd to the command being parsed when it arrives. */
static size_t qmp_gather(Qmp *qmp, struct iovec *iov) {
        size_t n = 0;

        for (GList *l = qmp->output.head; l && n < QMP_IOV_MAX; l = l->next) {
                QmpChunk *chunk = l->data;

                if (chunk->fd >= 0 && n > 0)
                        break;
                iov[n++] = (struct iovec) { chunk->data + chunk->done, chunk->size - chunk->done };
                if (chunk->fd >= 0)
                        break;
        }
        return n;
}

static void qmp_advance(Qmp *qmp, size_t written) {
        QmpChunk *head = g_queue_peek_head(&qmp->output);

        /* Whatever part went out, the fd went with its first byte. */
        close_fdp(&head->fd);

        while (written > 0) {
                QmpChunk *chunk = g_queue_peek_head(&qmp->output);
                size_t left = chunk->size - chunk->done;

                if (written < left) {
                        chunk->done += written;
                        return;
                }
                written -= left;
                qmp_chunk_free(g_queue_pop_head(&qmp->output));
        }
}

/* Writes as much as the socket takes. 0 when done or it would block. */
static int qmp_write(Qmp *qmp) {
        while (!g_queue_is_empty(&qmp->output)) {
                union {
                        struct cmsghdr cmsghdr;
                        uint8_t buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                struct iovec iov[QMP_IOV_MAX];
                struct msghdr mh = { .msg_iov = iov };
                QmpChunk *head = g_queue_peek_head(&qmp->output);
                ssize_t k;

                mh.msg_iovlen = qmp_gather(qmp, iov);
                if (head->fd >= 0) {
                        struct cmsghdr *cmsg;

                        mh.msg_control = &control;
                        mh.msg_controllen = sizeof(control.buf);
                        cmsg = CMSG_FIRSTHDR(&mh);
                        cmsg->cmsg_level = SOL_SOCKET;
                        cmsg->cmsg_type = SCM_RIGHTS;
                        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cmsg), &head->fd, sizeof(int));
                }

                /* MSG_NOSIGNAL: a QEMU gone away is an error here, not SIGPIPE. */
                k = sendmsg(qmp->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                qmp_advance(qmp, (size_t) k);
        }
        return 0;
}

static int qmp_update_events(Qmp *qmp) {
        return sd_event_source_set_io_events(qmp->io, EPOLLIN | (g_queue_is_empty(&qmp->output) ? 0 : EPOLLOUT));
}

/* For callers that must not call out (qmp_execute() runs in user code):
 * on failure the output stays queued with EPOLLOUT on, and the io handler
 * meets the error again and closes from the loop. */
static void qmp_flush_quietly(Qmp *qmp) {
        int r;

        r = qmp_write(qmp);
        if (r < 0)
                log_qmp(qmp, LOG_DEBUG, "writing failed, closing from the loop: %s", g_strerror(-r));
        r = qmp_update_events(qmp);
        if (r < 0)
                log_qmp(qmp, LOG_ERR, "cannot watch the socket: %s", g_strerror(-r));
}

/* ==== commands ============================================================== */

static QmpCommand *qmp_command_new(Qmp *qmp, const char *command, JsonObject *arguments, int fd,
                                   QmpReplyFunc reply, void *userdata) {
        QmpCommand *c = g_new0(QmpCommand, 1);

        c->id = qmp->next_id++;
        c->name = g_strdup(command);
        c->reply = reply;
        c->userdata = userdata;
        c->fd = fd;
        c->line = qmp_serialize(command, arguments, c->id, &c->size);
        return c;
}

int qmp_execute(Qmp *qmp, const char *command, JsonObject *arguments, int fd, QmpReplyFunc reply,
                void *userdata) {
        QmpCommand *c;
        int copy = -1;

        g_return_val_if_fail(qmp, -EINVAL);
        g_return_val_if_fail(command, -EINVAL);

        if (qmp->state == QMP_STATE_CLOSED)
                return -ESHUTDOWN;

        /* Our own copy: the caller may close theirs before it is sent. */
        if (fd >= 0) {
                copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (copy < 0)
                        return -errno;
        }

        c = qmp_command_new(qmp, command, arguments, copy, reply, userdata);
        g_queue_push_tail(&qmp->commands, c);
        if (qmp->state == QMP_STATE_READY) {
                qmp_output_push(qmp, c);
                qmp_flush_quietly(qmp);
        }
        return 0;
}

static void qmp_on_capabilities(Qmp *qmp, JsonNode *result, const GError *error, void *userdata) {
        if (error) {
                /* A close in progress fails us too; it needs no help. */
                if (!g_error_matches(error, QMP_ERROR, QMP_ERROR_CLOSED)) {
                        log_qmp(qmp, LOG_WARNING, "qmp_capabilities failed: %s", error->message);
                        qmp_close(qmp, error);
                }
                return;
        }

        qmp->state = QMP_STATE_READY;
        log_qmp(qmp, LOG_DEBUG, "ready");

        /* What the user queued meanwhile goes out first, in order, so that
         * commands ready() issues come after it. */
        for (GList *l = qmp->commands.head; l; l = l->next) {
                QmpCommand *c = l->data;

                if (c->line)
                        qmp_output_push(qmp, c);
        }
        qmp_flush_quietly(qmp);

        if (qmp->callbacks.ready)
                qmp->callbacks.ready(qmp, qmp->qemu_version, qmp->userdata);
}

/* ==== input ================================================================= */

static void qmp_handle_greeting(Qmp *qmp, JsonObject *o) {
        JsonObject *greeting, *version, *qemu = NULL;
        QmpCommand *c;

        greeting = object_get_object(o, "QMP");
        version = greeting ? object_get_object(greeting, "version") : NULL;
        if (version)
                qemu = object_get_object(version, "qemu");
        if (!qemu) {
                qmp_close_with(qmp, QMP_ERROR_PROTOCOL, "QEMU sent no QMP greeting");
                return;
        }

        qmp->qemu_version = json_object_ref(qemu);
        qmp->state = QMP_STATE_HANDSHAKE;

        /* No capabilities asked for: with "oob" replies could overtake each
         * other, and nothing here needs out-of-band commands. The handshake
         * goes ahead of everything the user queued. */
        c = qmp_command_new(qmp, "qmp_capabilities", NULL, -1, qmp_on_capabilities, NULL);
        g_queue_push_head(&qmp->commands, c);
        qmp_output_push(qmp, c);
        qmp_flush_quietly(qmp);
}

static void qmp_handle_event(Qmp *qmp, JsonObject *o) {
        const char *name = object_get_string(o, "event");

        if (!name) {
                log_qmp(qmp, LOG_WARNING, "ignoring an event without a name");
                return;
        }
        log_qmp(qmp, LOG_DEBUG, "<- event %s", name);
        if (qmp->callbacks.event)
                qmp->callbacks.event(qmp, name, object_get_object(o, "data"), qmp->userdata);
}

/* Finds the sent command a reply answers and takes it out of the queue. */
static QmpCommand *qmp_take_command(Qmp *qmp, JsonObject *o) {
        JsonNode *n = json_object_get_member(o, "id");
        int64_t id;

        if (!n || json_node_get_value_type(n) != G_TYPE_INT64)
                return NULL;
        id = json_node_get_int(n);

        /* QEMU answers in order: the head is almost always it. */
        for (GList *l = qmp->commands.head; l; l = l->next) {
                QmpCommand *c = l->data;

                if (c->id != id)
                        continue;
                if (c->line) /* not even sent yet */
                        return NULL;
                g_queue_delete_link(&qmp->commands, l);
                return c;
        }
        return NULL;
}

static void qmp_handle_reply(Qmp *qmp, JsonObject *o, const char *line, size_t size) {
        g_autoptr(GError) error = NULL;
        JsonObject *e;
        JsonNode *result;
        QmpCommand *c;

        c = qmp_take_command(qmp, o);
        if (!c) {
                log_qmp(qmp, LOG_WARNING, "ignoring a message that answers no command of ours: %.*s",
                        (int) MIN(size, QMP_LOG_EXCERPT), line);
                return;
        }

        result = json_object_get_member(o, "return");
        e = object_get_object(o, "error");
        if (!result && e)
                error = qmp_command_error_new(object_get_string(e, "class"), object_get_string(e, "desc"));
        else if (!result)
                error = g_error_new(QMP_ERROR, QMP_ERROR_PROTOCOL,
                                    "QEMU's answer to command %" PRIi64 " holds neither \"return\" nor \"error\"",
                                    c->id);

        if (error)
                log_qmp(qmp, LOG_DEBUG, "<- %s (id %" PRIi64 ") failed: %s", c->name, c->id, error->message);
        qmp_command_done(qmp, c, error ? NULL : result, error);
}

static void qmp_handle_line(Qmp *qmp, const char *line, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) root = NULL;
        JsonObject *o;

        if (size == 0)
                return;

        /* A bad line is dropped, not fatal: lines are self-contained, so
         * the next one is still good. */
        if (!json_parser_load_from_data(qmp->parser, line, (gssize) size, &error)) {
                log_qmp(qmp, LOG_WARNING, "ignoring a line that is not JSON (%s): %.*s", error->message,
                        (int) MIN(size, QMP_LOG_EXCERPT), line);
                return;
        }
        /* Stolen: our node outlives whatever the callbacks do. */
        root = json_parser_steal_root(qmp->parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                log_qmp(qmp, LOG_WARNING, "ignoring a line that is not a JSON object: %.*s",
                        (int) MIN(size, QMP_LOG_EXCERPT), line);
                return;
        }
        o = json_node_get_object(root);

        if (qmp->state == QMP_STATE_GREETING)
                qmp_handle_greeting(qmp, o);
        else if (json_object_has_member(o, "event"))
                qmp_handle_event(qmp, o);
        else
                qmp_handle_reply(qmp, o, line, size);
}

static bool qmp_gone(Qmp *qmp) {
        return qmp->freed || qmp->state == QMP_STATE_CLOSED;
}

/* Hands out every complete line in the input buffer. Negative once the
 * connection is gone. */
static int qmp_process_input(Qmp *qmp) {
        size_t start = 0;
        char *nl;

        while ((nl = memchr(qmp->in + qmp->in_scanned, '\n', qmp->in_used - qmp->in_scanned))) {
                size_t end = (size_t) (nl - qmp->in), size = end - start;

                if (size > 0 && qmp->in[end - 1] == '\r')
                        size--;
                qmp->in_scanned = end + 1;
                qmp_handle_line(qmp, qmp->in + start, size);
                if (qmp_gone(qmp))
                        return -ECONNRESET;
                start = end + 1;
        }

        memmove(qmp->in, qmp->in + start, qmp->in_used - start);
        qmp->in_used -= start;
        qmp->in_scanned = qmp->in_used;

        if (qmp->in_used > QMP_LINE_MAX) {
                qmp_close_with(qmp, QMP_ERROR_PROTOCOL, "QEMU sent a line longer than %u bytes", QMP_LINE_MAX);
                return -E2BIG;
        }
        return 0;
}

/* One read. 1 if something came, 0 if nothing was there, negative once the
 * connection is gone. */
static int qmp_read(Qmp *qmp) {
        ssize_t k;

        if (qmp->in_size - qmp->in_used < QMP_READ_SIZE) {
                qmp->in_size = MAX(qmp->in_size * 2, qmp->in_used + QMP_READ_SIZE);
                qmp->in = g_realloc(qmp->in, qmp->in_size);
        }

        k = recv(qmp->fd, qmp->in + qmp->in_used, qmp->in_size - qmp->in_used, MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                qmp_close_with(qmp, QMP_ERROR_CLOSED, "Reading from QEMU failed: %s", g_strerror(errno));
                return -ECONNRESET;
        }
        if (k == 0) {
                qmp_close_with(qmp, QMP_ERROR_CLOSED, "QEMU closed the QMP connection");
                return -ECONNRESET;
        }

        qmp->in_used += (size_t) k;
        return qmp_process_input(qmp) < 0 ? -ECONNRESET : 1;
}

static void qmp_finish_connect(Qmp *qmp) {
        socklen_t len = sizeof(int);
        int error = 0, r;

        if (getsockopt(qmp->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                error = errno;
        if (error != 0) {
                qmp_close_with(qmp, QMP_ERROR_CLOSED, "Connecting to QEMU failed: %s", g_strerror(error));
                return;
        }

        qmp->state = QMP_STATE_GREETING;
        r = sd_event_source_set_io_events(qmp->io, EPOLLIN);
        if (r < 0)
                qmp_close_with(qmp, QMP_ERROR_CLOSED, "Cannot watch the QMP socket: %s", g_strerror(-r));
}

static int qmp_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Qmp *qmp = userdata;
        int r;

        QMP_HOLD(qmp);

        if (qmp->state == QMP_STATE_CONNECTING) {
                qmp_finish_connect(qmp);
                return 0;
        }

        /* Reading goes first: after a hang-up, what QEMU said last (its
         * SHUTDOWN event, replies) must be seen before the end. */
        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && qmp_read(qmp) < 0)
                return 0;

        r = qmp_write(qmp);
        if (r < 0) {
                /* The peer may still have said something before it went. */
                while (qmp_read(qmp) > 0)
                        ;
                if (!qmp_gone(qmp))
                        qmp_close_with(qmp, QMP_ERROR_CLOSED, "Writing to QEMU failed: %s", g_strerror(-r));
                return 0;
        }
        r = qmp_update_events(qmp);
        if (r < 0)
                qmp_close_with(qmp, QMP_ERROR_CLOSED, "Cannot watch the QMP socket: %s", g_strerror(-r));
        return 0;
}

/* ==== connecting ============================================================ */

int qmp_connect(Qmp *qmp, const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len;
        int fd, r;

        g_return_val_if_fail(qmp, -EINVAL);
        g_return_val_if_fail(socket_path, -EINVAL);

        if (qmp->state != QMP_STATE_NEW)
                return -EISCONN;
        len = strlen(socket_path);
        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, len);

        g_free(qmp->path);
        qmp->path = g_strdup(socket_path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;

        /* A listening unix socket accepts at once into its backlog; a full
         * backlog is EAGAIN (retry). EINPROGRESS is handled anyway. */
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0) {
                r = -errno;
                if (r != -EINPROGRESS) {
                        close_fdp(&fd);
                        return r;
                }
                qmp->state = QMP_STATE_CONNECTING;
        } else
                qmp->state = QMP_STATE_GREETING;

        r = sd_event_add_io(qmp->event, &qmp->io, fd, qmp->state == QMP_STATE_CONNECTING ? EPOLLOUT : EPOLLIN,
                            qmp_on_io, qmp);
        if (r < 0) {
                qmp->state = QMP_STATE_NEW;
                close_fdp(&fd);
                return r;
        }
        (void) sd_event_source_set_description(qmp->io, "qmp");
        qmp->fd = fd;
        log_qmp(qmp, LOG_DEBUG, "connected, waiting for the greeting");
        return 0;
}
