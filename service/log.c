/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static int max_level = LOG_INFO;

void log_set_max_level(int priority) {
        max_level = priority;
}

void log_atv(int priority, const char *format, va_list ap) {
        if (priority > max_level)
                return;
        /* "<N>" lets journald (stderr of a systemd service) keep the priority. */
        fprintf(stderr, "<%d>domaind: ", priority);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
}

void log_at(int priority, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        log_atv(priority, format, ap);
        va_end(ap);
}
