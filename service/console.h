/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One console session per domain, proxied through a socket pair. */
#pragma once

#include <systemd/sd-bus.h>

#include "domain.h"

/* Busy while the domain has a session: ask before the plugin opens anything. */
int console_check_free(Domain *d, sd_bus_error *error);
/* Takes guest_fd (also on failure). The domain must have no session. On
 * success *ret_client_fd is the caller's end. */
int console_session_open(Domain *d, int guest_fd, int *ret_client_fd, sd_bus_error *error);
void console_session_close(ConsoleSession *s);
