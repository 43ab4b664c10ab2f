/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The content digest of an input file. */

#include "sutra-file-digest.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <openssl/sha.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define READ_SIZE (1u << 20)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (XXH3_state_t, XXH3_freeState)

gboolean
sutra_file_digest_fd (int fd, const char *name, guint8 digest[32], GError **error)
{
  g_autoptr (XXH3_state_t) state = XXH3_createState ();
  g_autofree guint8 *buffer = g_malloc (READ_SIZE);
  guint8 text[8 + sizeof (XXH128_canonical_t)];
  XXH128_canonical_t canonical;
  guint64 size = 0;
  ssize_t n;

  XXH3_128bits_reset (state);
  while ((n = read (fd, buffer, READ_SIZE)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read “%s”: %s",
                       name, g_strerror (saved));
          return FALSE;
        }
      XXH3_128bits_update (state, buffer, n);
      size += n;
    }

  size = GUINT64_TO_LE (size);
  memcpy (text, &size, 8);
  XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (state));
  memcpy (text + 8, canonical.digest, sizeof canonical.digest);
  SHA256 (text, sizeof text, digest);
  return TRUE;
}

gboolean
sutra_file_digest (const char *path, guint8 digest[32], GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  gboolean ok;

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read “%s”: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  ok = sutra_file_digest_fd (fd, path, digest, error);
  close (fd);
  return ok;
}
