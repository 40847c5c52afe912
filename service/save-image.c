/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "save-image.h"

#define SAVE_IMAGE_VERSION 1u
#define SAVE_FLAG_PAUSED 1u

int save_image_write_header(int fd, const char *xml, bool paused) {
        size_t len = strlen(xml);
        uint32_t fields[4] = {
                GUINT32_TO_LE(SAVE_IMAGE_VERSION),
                GUINT32_TO_LE(paused ? SAVE_FLAG_PAUSED : 0),
                GUINT32_TO_LE((uint32_t) len),
                0,
        };
        int r = write_all(fd, SAVE_IMAGE_MAGIC, strlen(SAVE_IMAGE_MAGIC));
        if (r == 0)
                r = write_all(fd, fields, sizeof(fields));
        if (r == 0)
                r = write_all(fd, xml, len);
        return r;
}

bool save_image_read_header(int fd, char **xml, bool *paused, GError **error) {
        char magic[sizeof(SAVE_IMAGE_MAGIC) - 1];
        uint32_t fields[4];
        if (read_all(fd, magic, sizeof(magic)) != (ssize_t) sizeof(magic) ||
            memcmp(magic, SAVE_IMAGE_MAGIC, sizeof(magic)) != 0) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not a domaind save image (bad magic)");
                return false;
        }
        if (read_all(fd, fields, sizeof(fields)) != (ssize_t) sizeof(fields)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "save image header is truncated");
                return false;
        }
        uint32_t version = GUINT32_FROM_LE(fields[0]);
        uint32_t len = GUINT32_FROM_LE(fields[2]);
        if (version != SAVE_IMAGE_VERSION) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "save image version %u is not supported",
                            version);
                return false;
        }
        if (len == 0 || len > SAVE_IMAGE_MAX_XML) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "save image header has a bad XML length");
                return false;
        }
        g_autofree char *text = g_malloc(len + 1);
        if (read_all(fd, text, len) != (ssize_t) len) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "save image is truncated inside its XML");
                return false;
        }
        text[len] = 0;
        *paused = GUINT32_FROM_LE(fields[1]) & SAVE_FLAG_PAUSED;
        *xml = g_steal_pointer(&text);
        return true;
}
