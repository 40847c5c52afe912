/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bus-util.h"

const char *result_to_error_name(DomaindResult r) {
        switch (r) {
        case DOMAIND_OK:
                return NULL;
        case DOMAIND_ERROR_NOT_SUPPORTED:
                return ERROR_NOT_SUPPORTED;
        case DOMAIND_ERROR_INVALID_ARGUMENT:
                return ERROR_INVALID_ARGUMENT;
        case DOMAIND_ERROR_INVALID_XML:
                return ERROR_INVALID_XML;
        case DOMAIND_ERROR_INVALID_STATE:
                return ERROR_INVALID_STATE;
        case DOMAIND_ERROR_BUSY:
                return ERROR_BUSY;
        case DOMAIND_ERROR_MIGRATION_FAILED:
                return ERROR_MIGRATION_FAILED;
        case DOMAIND_ERROR_FAILED:
        case DOMAIND_ERROR_ABORTED:
        default:
                return ERROR_HYPERVISOR_FAILED;
        }
}

int bus_error_setf(sd_bus_error *error, const char *name, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        int r = sd_bus_error_setfv(error, name, format, ap);
        va_end(ap);
        return r;
}

int check_flags(uint64_t flags, uint64_t supported, sd_bus_error *error) {
        if (flags & ~supported)
                return bus_error_setf(error, ERROR_INVALID_ARGUMENT, "unsupported flags 0x%" PRIx64,
                                      flags & ~supported);
        return 0;
}

int bus_property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        int b = *(bool *) userdata;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

char *clip_for_message(const char *s) {
        g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
        if (g_utf8_strlen(valid, -1) <= 64)
                return g_steal_pointer(&valid);
        g_autofree char *prefix = g_utf8_substring(valid, 0, 64);
        return g_strconcat(prefix, "...", NULL);
}
