/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Save images (Domain.Save, ManagedSave): a domaind header, then the
 * plugin's payload. The header makes an image self-describing, so Restore
 * works on any domaind, after a restart, and for every plugin:
 *
 *   "DomaindSave1\n"                      magic (13 bytes)
 *   uint32 LE  header version (1)
 *   uint32 LE  flags: 1 = restore paused
 *   uint32 LE  length of the XML that follows
 *   uint32 LE  reserved (0)
 *   XML        the domain config (no NUL)
 *   ...        plugin payload
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define SAVE_IMAGE_MAGIC "DomaindSave1\n"
#define SAVE_IMAGE_MAX_XML (16u * 1024 * 1024)

/* Writes the header at the current position of fd. Returns 0 or -errno. */
int save_image_write_header(int fd, const char *xml, bool paused);
/* Reads and checks the header; on success fd stands at the payload. */
bool save_image_read_header(int fd, char **xml, bool *paused, GError **error);
