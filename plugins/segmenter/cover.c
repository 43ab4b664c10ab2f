/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The book's cover as a file later stages read (the `cover` metadata). */

#include "segmenter.h"

#include <glib/gstdio.h>

/*
 * Writes @image into @work_dir as cover-SHA256.EXT and returns its path.
 *
 * The name comes from the content: the same cover is one file however many
 * times the book is segmented, workers writing it at once write the same
 * bytes, and a file already there (an earlier run of the job) is the
 * cover itself. It is written atomically (a temporary file, fsync, rename),
 * so a run killed mid-write leaves either no file or the whole one: the
 * chunks that name it are committed only after this returns.
 *
 * The engine gives a job's stages a work directory that lasts as long as
 * the job (JOB/work/STAGE), so a later run that takes the segmenter's
 * output from the store, without segmenting again, still finds the file.
 */
char *
segmenter_cover_save (const char *work_dir, GBytes *image, const char *extension, GError **error)
{
  g_autofree char *digest = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, image);
  g_autofree char *name = g_strdup_printf ("cover-%s.%s", digest, extension);
  g_autofree char *path = g_build_filename (work_dir, name, NULL);
  gsize size;
  const char *data = g_bytes_get_data (image, &size);
  GStatBuf st;

  if (g_stat (path, &st) == 0 && S_ISREG (st.st_mode) && (gsize) st.st_size == size)
    return g_steal_pointer (&path);
  if (!g_file_set_contents_full (path, data, (gssize) size, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                 error))
    return NULL;
  return g_steal_pointer (&path);
}
