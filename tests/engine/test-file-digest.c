/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-file-digest.c: content digests of input files. */

#include "sutra-file-digest.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* The digest as its definition says, computed in one call. */
static void
reference_digest (const guint8 *data, gsize length, guint8 digest[32])
{
  guint8 text[8 + 16];
  guint64 le_size = GUINT64_TO_LE ((guint64) length);
  XXH128_canonical_t canonical;

  XXH128_canonicalFromHash (&canonical, XXH3_128bits (data, length));
  memcpy (text, &le_size, 8);
  memcpy (text + 8, canonical.digest, 16);
  SHA256 (text, sizeof text, digest);
}

#define READ_SIZE (1u << 20) /* as the file is read */

static char *
write_temp (const guint8 *data, gsize length)
{
  g_autoptr (GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("sutra-digest-XXXXXX", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, (const char *) data, length, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_file_digest_matches_definition (void)
{
  /* Sizes around the size of one read, and a few reads. */
  const gsize sizes[] = { 0, 1, READ_SIZE - 1, READ_SIZE, READ_SIZE + 1, 3 * READ_SIZE + 12345 };
  gsize largest = sizes[G_N_ELEMENTS (sizes) - 1];
  g_autofree guint8 *data = g_malloc (largest);

  g_test_summary ("The digest is SHA-256(size, XXH3-128 of the content) for empty files, "
                  "files around the size of one read, and files of several reads");
  for (gsize i = 0; i < largest; i++)
    data[i] = (guint8) (i * 2654435761u >> 13);
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autofree char *path = write_temp (data, sizes[s]);
      guint8 expected[32];

      g_autoptr (GError) error = NULL;
      guint8 digest[32];

      reference_digest (data, sizes[s], expected);
      g_assert_true (sutra_file_digest (path, digest, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (digest, 32, expected, 32);
      g_unlink (path);
    }
}

static void
test_file_digest_sees_every_byte (void)
{
  gsize length = 2 * READ_SIZE + 100;
  g_autofree guint8 *data = g_malloc0 (length);
  const gsize positions[] = { 0, READ_SIZE - 1, READ_SIZE, 2 * READ_SIZE + 99 };
  g_autofree char *path = write_temp (data, length);
  g_autofree char *shorter = write_temp (data, length - 1);
  guint8 original[32], changed[32];

  g_test_summary ("Changing one byte anywhere, or the length, changes the digest");
  g_assert_true (sutra_file_digest (path, original, NULL));
  g_assert_true (sutra_file_digest (shorter, changed, NULL));
  g_assert_true (memcmp (original, changed, 32) != 0);
  for (guint p = 0; p < G_N_ELEMENTS (positions); p++)
    {
      data[positions[p]] = 1;
      g_assert_true (g_file_set_contents (path, (const char *) data, length, NULL));
      g_assert_true (sutra_file_digest (path, changed, NULL));
      g_assert_true (memcmp (original, changed, 32) != 0);
      data[positions[p]] = 0;
    }
  g_unlink (path);
  g_unlink (shorter);
}

static void
test_file_digest_reads_pipes (void)
{
  const char text[] = "not a regular file: read, not mapped\n";
  g_autofree char *dir = g_dir_make_tmp ("sutra-digest-XXXXXX", NULL);
  g_autofree char *fifo = g_build_filename (dir, "fifo", NULL);
  g_autoptr (GError) error = NULL;
  guint8 expected[32], digest[32];
  GPid writer;
  const char *argv[] = { "/bin/sh", "-c", "printf '%s' \"$1\" > \"$2\"", "sh", text, fifo, NULL };

  g_test_summary ("A FIFO (read as it comes, in short reads) gives the same digest as a file");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_true (
    g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &writer, &error));
  g_assert_true (sutra_file_digest (fifo, digest, &error));
  g_assert_no_error (error);
  reference_digest ((const guint8 *) text, strlen (text), expected);
  g_assert_cmpmem (digest, 32, expected, 32);
  g_spawn_close_pid (writer);
  g_unlink (fifo);
  g_rmdir (dir);
}

static void
test_file_digest_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  guint8 digest[32];

  g_test_summary ("A file that cannot be opened is an error that names it");
  g_assert_false (sutra_file_digest ("/nonexistent/input.txt", digest, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/input.txt"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/file-digest/matches-definition", test_file_digest_matches_definition);
  g_test_add_func ("/file-digest/sees-every-byte", test_file_digest_sees_every_byte);
  g_test_add_func ("/file-digest/reads-pipes", test_file_digest_reads_pipes);
  g_test_add_func ("/file-digest/missing-file", test_file_digest_missing_file);
  return g_test_run ();
}
