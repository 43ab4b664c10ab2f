/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content digest of an input file, hashed in parallel. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SUTRA_FILE_DIGEST_CHUNK (8u << 20)

/*
 * A file's digest is the SHA-256 of its size (u64, little-endian) and the
 * SHA-256 of each of its SUTRA_FILE_DIGEST_CHUNK-byte chunks in order. The
 * chunks are hashed on up to @n_threads threads (0: one per processor), so
 * a large input is hashed at several times SHA-256's speed; the digest is
 * the same whatever the number of threads.
 *
 * Returns: FALSE with @error set when the file cannot be read.
 */
gboolean sutra_file_digest (const char *path, guint n_threads, guint8 digest[32], GError **error);

G_END_DECLS
