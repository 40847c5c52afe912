/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Writes data to path atomically: a temp file in the same folder, fsync,
 * rename, fsync of the folder. Returns 0 or a negative errno. */
int write_file_atomic(const char *path, const char *data, size_t size);

/* write(2) until everything is written. Returns 0 or a negative errno. */
int write_all(int fd, const void *data, size_t size);
/* read(2) until size bytes or end of file. Returns the count or -errno. */
ssize_t read_all(int fd, void *data, size_t size);

/* Like write_file_atomic() without the fsyncs: for the runtime folder
 * (tmpfs), where a reader must never see half a file but nothing survives
 * a power loss anyway. */
int write_file_replace(const char *path, const char *data, size_t size);

/* fsync of the folder holding path (makes a rename durable). Thread-safe. */
int fsync_folder_of(const char *path);

/* mkdir -p with the given mode. Returns 0 or a negative errno. */
int mkdir_parents(const char *path, int mode);

/* Removes path; a missing file is not an error. */
int unlink_if_exists(const char *path);
