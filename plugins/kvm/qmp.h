/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An asynchronous QMP (QEMU Machine Protocol) client on sd-event.
 *
 * One Qmp is one connection to one QEMU's QMP unix socket. Nothing here
 * blocks: the socket is non-blocking, output that does not fit is buffered
 * and written when the socket becomes writable, and every answer arrives
 * through a callback from the event loop. Commands are pipelined; replies
 * are matched to their commands by "id".
 */
#pragma once

#include <stdbool.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-event.h>

typedef struct Qmp Qmp;

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

typedef enum QmpErrorCode {
        QMP_ERROR_COMMAND,  /* QEMU answered {"error": {class, desc}}: message = desc, class in qmp_error_class() */
        QMP_ERROR_CLOSED,   /* connection lost/closed before the answer */
        QMP_ERROR_PROTOCOL, /* garbage: bad greeting, a reply that is neither "return" nor "error", a line too long */
} QmpErrorCode;

/* result is NULL on error and borrowed: take a reference to keep it. */
typedef void (*QmpReplyFunc)(Qmp *qmp, JsonNode *result, const GError *error, void *userdata);

typedef struct QmpCallbacks {
        /* The greeting arrived and qmp_capabilities succeeded. qemu_version is
         * the greeting's QMP.version.qemu {major, minor, micro} (borrowed). */
        void (*ready)(Qmp *qmp, JsonObject *qemu_version, void *userdata);
        /* An asynchronous event; data may be NULL. Events and replies are
         * dispatched in the order QEMU sent them. */
        void (*event)(Qmp *qmp, const char *name, JsonObject *data, void *userdata);
        /* Called once when the connection ends on its own; pending replies
         * were failed with QMP_ERROR_CLOSED before. why: QMP_ERROR_CLOSED
         * (EOF, hang-up, I/O error), QMP_ERROR_PROTOCOL (no greeting, a line
         * too long) or QMP_ERROR_COMMAND (qmp_capabilities failed). Lines
         * that are not JSON, and replies without or with an unknown id, are
         * logged and skipped, not fatal. Not called after qmp_free(). */
        void (*closed)(Qmp *qmp, const GError *why, void *userdata);
} QmpCallbacks;

/* priority is a syslog LOG_* level; host->log fits. */
typedef void (*QmpLogFunc)(int priority, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* callbacks is copied; any of its members may be NULL. */
Qmp *qmp_new(sd_event *event, const QmpCallbacks *callbacks, void *userdata);

/* Default: silent. */
void qmp_set_log(Qmp *qmp, QmpLogFunc log);

/* Non-blocking connect to QEMU's QMP unix socket. 0 = connecting (ready()
 * follows after the greeting and qmp_capabilities), negative errno = failed
 * now: -ENOENT/-ECONNREFUSED (QEMU not listening yet) and -EAGAIN (its
 * backlog is full) mean the caller may retry with the same Qmp.
 * -EISCONN if this Qmp was connected before (a Qmp connects once). */
int qmp_connect(Qmp *qmp, const char *socket_path);

/* Queues a command (sent at once when connected and ready; commands issued
 * before ready() are queued and sent after the handshake). arguments may be
 * NULL; the function takes its own reference. fd >= 0 is sent along with
 * the command as SCM_RIGHTS (for "getfd"/"add-fd"); the caller keeps its fd.
 * reply may be NULL. Returns 0 or negative errno (-ESHUTDOWN once closed,
 * -EBADF if fd cannot be duplicated). */
int qmp_execute(Qmp *qmp, const char *command, JsonObject *arguments, int fd, QmpReplyFunc reply,
                void *userdata);

/* The QMP error class ("GenericError", "CommandNotFound", ...) of a
 * QMP_ERROR_COMMAND error, else NULL. */
const char *qmp_error_class(const GError *error);

bool qmp_is_ready(Qmp *qmp);

/* Frees; pending replies are dropped WITHOUT calling them, closed() is not
 * called. Safe to call from inside any callback of this Qmp (the memory is
 * released when the callback returns). NULL is fine. */
void qmp_free(Qmp *qmp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Qmp, qmp_free)
