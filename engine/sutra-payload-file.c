/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraPayloadFile: a payload that lives in a file, not in memory. */

#include "sutra-payload-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sys/stat.h>
#include <unistd.h>

/* An item's size is a gsize: a file's must fit. */
G_STATIC_ASSERT (sizeof (gsize) >= sizeof (guint64));

struct _SutraPayloadFile
{
  gint ref_count;
  int fd;
  SutraPayloadFile *owner; /* whose fd this is, or NULL: our own */
  guint64 offset;          /* where the payload starts in the file */
  guint64 size;
};

static gboolean
file_error (GError **error, int saved, const char *operation)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
               "cannot %s an item's payload file: %s", operation, g_strerror (saved));
  return FALSE;
}

SutraPayloadFile *
sutra_payload_file_new (int fd, GError **error)
{
  return sutra_payload_file_new_range (fd, 0, G_MAXUINT64, error);
}

SutraPayloadFile *
sutra_payload_file_new_range (int fd, guint64 offset, guint64 size, GError **error)
{
  SutraPayloadFile *file;
  struct stat st;

  if (fstat (fd, &st) != 0)
    {
      file_error (error, errno, "inspect");
      close (fd);
      return NULL;
    }
  if (!S_ISREG (st.st_mode) || (fcntl (fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "an item's payload file must be a regular file open for reading (a pipe or "
                   "a socket cannot be read twice)");
      close (fd);
      return NULL;
    }
  if (size == G_MAXUINT64)
    size = (guint64) st.st_size - MIN (offset, (guint64) st.st_size);
  if (offset > (guint64) st.st_size || size > (guint64) st.st_size - offset)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "an item's payload (%" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT
                   ") lies past its file's end (%" G_GUINT64_FORMAT " bytes)",
                   size, offset, (guint64) st.st_size);
      close (fd);
      return NULL;
    }
  file = g_new0 (SutraPayloadFile, 1);
  file->ref_count = 1;
  file->fd = fd;
  file->offset = offset;
  file->size = size;
  return file;
}

SutraPayloadFile *
sutra_payload_file_new_within (SutraPayloadFile *whole, guint64 offset, guint64 size)
{
  SutraPayloadFile *file;

  g_return_val_if_fail (offset <= whole->size && size <= whole->size - offset, NULL);
  file = g_new0 (SutraPayloadFile, 1);
  file->ref_count = 1;
  file->fd = whole->fd;
  file->owner = sutra_payload_file_ref (whole->owner != NULL ? whole->owner : whole);
  file->offset = whole->offset + offset;
  file->size = size;
  return file;
}

SutraPayloadFile *
sutra_payload_file_ref (SutraPayloadFile *file)
{
  g_atomic_int_inc (&file->ref_count);
  return file;
}

void
sutra_payload_file_unref (SutraPayloadFile *file)
{
  if (file == NULL || !g_atomic_int_dec_and_test (&file->ref_count))
    return;
  if (file->owner != NULL)
    sutra_payload_file_unref (file->owner);
  else
    close (file->fd);
  g_free (file);
}

guint64
sutra_payload_file_get_size (const SutraPayloadFile *file)
{
  return file->size;
}

int
sutra_payload_file_get_fd (const SutraPayloadFile *file)
{
  return file->fd;
}

guint64
sutra_payload_file_get_offset (const SutraPayloadFile *file)
{
  return file->offset;
}

gssize
sutra_payload_file_read (const SutraPayloadFile *file,
                         guint64 offset,
                         void *buffer,
                         gsize size,
                         GError **error)
{
  guint8 *p = buffer;
  gsize done = 0;

  if (offset >= file->size)
    return 0;
  size = (gsize) MIN ((guint64) size, file->size - offset);
  /* pread, not read: readers on several threads share the descriptor. */
  while (done < size)
    {
      ssize_t n = pread (file->fd, p + done, size - done, (off_t) (file->offset + offset + done));

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          file_error (error, errno, "read");
          return -1;
        }
      if (n == 0)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO,
                       "an item's payload file is shorter than it was (%" G_GUINT64_FORMAT
                       " bytes, now ends at %" G_GUINT64_FORMAT "): something truncated it",
                       file->size, offset + done);
          return -1;
        }
      done += (gsize) n;
    }
  return (gssize) done;
}

GBytes *
sutra_payload_file_load (const SutraPayloadFile *file, GError **error)
{
  g_autofree guint8 *data = NULL;

  data = g_malloc (MAX (file->size, 1));
  if (sutra_payload_file_read (file, 0, data, (gsize) file->size, error) < 0)
    return NULL;
  return g_bytes_new_take (g_steal_pointer (&data), (gsize) file->size);
}
