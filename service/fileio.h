/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes data to path atomically: a temp file in the same folder, fsync,
 * rename, fsync of the folder. Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const char *data, size_t size);

/* mkdir -p with the given mode. Returns 0 or a negative errno. */
int mkdir_parents(const char *path, int mode);

/* Removes path; a missing file is not an error. */
int unlink_if_exists(const char *path);
