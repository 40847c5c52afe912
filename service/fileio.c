/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

int fsync_folder_of(const char *path) {
        g_autofree char *dir = g_path_get_dirname(path);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        return r;
}

int write_all(int fd, const void *buf, size_t size) {
        const char *data = buf;
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

ssize_t read_all(int fd, void *buf, size_t size) {
        char *p = buf;
        size_t done = 0;
        while (done < size) {
                ssize_t n = read(fd, p + done, size - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

static int write_file(const char *path, const char *data, size_t size, bool durable) {
        g_autofree char *tmp = g_strdup_printf("%s.tmpXXXXXX", path);
        /* 0600: configs may hold secrets (graphics passwords) */
        int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;

        int r = write_all(fd, data, size);
        if (r == 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return durable ? fsync_folder_of(path) : 0;
}

int write_file_atomic(const char *path, const char *data, size_t size) {
        return write_file(path, data, size, true);
}

int write_file_replace(const char *path, const char *data, size_t size) {
        return write_file(path, data, size, false);
}

int mkdir_parents(const char *path, int mode) {
        return g_mkdir_with_parents(path, mode) < 0 ? -errno : 0;
}

int unlink_if_exists(const char *path) {
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
