/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Logging to stderr with syslog priority prefixes (journald reads them). */
#pragma once

#include <stdarg.h>
#include <syslog.h>

void log_at(int priority, const char *format, ...) __attribute__((format(printf, 2, 3)));
void log_atv(int priority, const char *format, va_list ap);
void log_set_max_level(int priority);

#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERR, __VA_ARGS__)
