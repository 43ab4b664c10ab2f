/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Spool files: unlinked temporary files in the work directory, for what a
 * stage must keep longer than memory should (a book's PCM between the two
 * loudness passes, its encoded packets until the muxer is opened). Being
 * unlinked, they go away with the process however the run ends. */

#include "ac.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

FILE *
ac_spool_open (const char *work_dir, GError **error)
{
  g_autofree char *template =
    g_build_filename (work_dir != NULL ? work_dir : g_get_tmp_dir (), "audio-concat-XXXXXX", NULL);
  int fd = g_mkstemp (template);
  FILE *file;

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot make a spool file in %s: %s",
                   work_dir != NULL ? work_dir : g_get_tmp_dir (), g_strerror (saved));
      return NULL;
    }
  g_unlink (template);
  file = fdopen (fd, "w+b");
  if (file == NULL)
    {
      int saved = errno;

      close (fd);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot open a spool file: %s", g_strerror (saved));
    }
  return file;
}

gboolean
ac_spool_write (FILE *spool, const void *data, gsize size, GError **error)
{
  if (fwrite (data, 1, size, spool) != size)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write the spool file: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Flushes what was written and goes back to the start, to read it. */
gboolean
ac_spool_rewind (FILE *spool, GError **error)
{
  if (fflush (spool) != 0 || fseeko (spool, 0, SEEK_SET) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot read the spool file back: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
