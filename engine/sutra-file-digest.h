/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content digest of an input file. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A file's digest is the SHA-256 of its size (u64, little-endian) and the
 * XXH3-128 of its content (canonical, big-endian form).
 *
 * Why not the SHA-256 of the content: a checkpointed job hashes its inputs
 * before it starts, and SHA-256 (1.6 GB/s here, with SHA-NI) made that the
 * largest fixed cost of checkpointing a fast pipeline; XXH3 reads at memory
 * speed. The digest detects changed inputs and names what derives from
 * them; 128 bits make an accidental collision negligible, as Nextflow's
 * task hashes (Murmur3-128) do. The keys built on it are SHA-256.
 *
 * Returns: FALSE with @error set when the file cannot be read.
 */
gboolean sutra_file_digest (const char *path, guint8 digest[32], GError **error);

/* The same, of what is left to read from @fd (not closed); @name is for
 * the error message. */
gboolean sutra_file_digest_fd (int fd, const char *name, guint8 digest[32], GError **error);

G_END_DECLS
