/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers around sd-bus: cleanup attributes and error replies. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "domaind/plugin.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

/* sd-bus and sd-event headers provide sd_*_unrefp for _cleanup_. */
static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

/* org.domaind1.Error.* — names from DESIGN.md */
#define ERROR_NO_SUCH_DOMAIN "org.domaind1.Error.NoSuchDomain"
#define ERROR_NO_SUCH_SNAPSHOT "org.domaind1.Error.NoSuchSnapshot"
#define ERROR_NO_SUCH_POOL "org.domaind1.Error.NoSuchPool"
#define ERROR_NO_SUCH_VOLUME "org.domaind1.Error.NoSuchVolume"
#define ERROR_INVALID_XML "org.domaind1.Error.InvalidXML"
#define ERROR_INVALID_ARGUMENT "org.domaind1.Error.InvalidArgument"
#define ERROR_INVALID_STATE "org.domaind1.Error.InvalidState"
#define ERROR_ALREADY_EXISTS "org.domaind1.Error.AlreadyExists"
#define ERROR_BUSY "org.domaind1.Error.Busy"
#define ERROR_NOT_SUPPORTED "org.domaind1.Error.NotSupported"
#define ERROR_MIGRATION_FAILED "org.domaind1.Error.MigrationFailed"
#define ERROR_HYPERVISOR_FAILED "org.domaind1.Error.HypervisorFailed"

/* The D-Bus error name for a plugin result. */
const char *result_to_error_name(DomaindResult r);

/* Sets *error and returns -EINVAL style negative errno, as sd-bus handlers do. */
int bus_error_setf(sd_bus_error *error, const char *name, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Rejects flag bits outside `supported` with InvalidArgument. */
int check_flags(uint64_t flags, uint64_t supported, sd_bus_error *error);

/* Getter for a C bool field given by offset (sd-bus's default reads an int). */
int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error);

/* A caller's value quoted in an error message: valid UTF-8 (D-Bus needs
 * it) and at most 64 characters, "..." marking the cut. */
char *clip_for_message(const char *s);
