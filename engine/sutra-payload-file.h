/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraPayloadFile: a payload that lives in a file, not in memory. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* An open file whose whole content is an item's payload (a chapter of
 * encoded audio, hundreds of MB): items, records and the store refer to
 * it and read it a block at a time, so that it never has to be in memory
 * whole. Immutable once made; reference-counted (atomically: items that
 * share it cross threads). */
typedef struct _SutraPayloadFile SutraPayloadFile;

/* Takes @fd (transfer full: closed with the last reference). Fails when
 * @fd is not a regular file that can be read. */
SutraPayloadFile *sutra_payload_file_new (int fd, GError **error);
/* The same for @size bytes at @offset of the file (a payload inside a
 * store entry); @size G_MAXUINT64: to the file's end. */
SutraPayloadFile *sutra_payload_file_new_range (int fd,
                                                guint64 offset,
                                                guint64 size,
                                                GError **error);
/* @size bytes at @offset of @whole's payload, sharing its descriptor
 * (and keeping it open): the payloads of one store entry take one
 * descriptor between them, not one each. */
SutraPayloadFile *sutra_payload_file_new_within (SutraPayloadFile *whole,
                                                 guint64 offset,
                                                 guint64 size);
SutraPayloadFile *sutra_payload_file_ref (SutraPayloadFile *file);
void sutra_payload_file_unref (SutraPayloadFile *file);

guint64 sutra_payload_file_get_size (const SutraPayloadFile *file);
/* The descriptor, and where in it the payload starts. */
int sutra_payload_file_get_fd (const SutraPayloadFile *file);
guint64 sutra_payload_file_get_offset (const SutraPayloadFile *file);

/* Reads up to @size bytes at @offset; fewer only at the end. Returns the
 * bytes read, or -1 with @error set. */
gssize sutra_payload_file_read (const SutraPayloadFile *file,
                                guint64 offset,
                                void *buffer,
                                gsize size,
                                GError **error);

/* Reads the whole file. Returns: (transfer full): its bytes, or %NULL with
 * @error set. */
GBytes *sutra_payload_file_load (const SutraPayloadFile *file, GError **error);

/* The block the engine reads a payload file by. */
#define SUTRA_PAYLOAD_FILE_BLOCK (1u << 20)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraPayloadFile, sutra_payload_file_unref)

G_END_DECLS
