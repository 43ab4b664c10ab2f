/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-writer-sndfile.c: WAV (RF64 that downgrades to RIFF under
 * 4 GB), forced RF64 and FLAC, read back with libsndfile; byte-identical
 * runs; an unwritable path. Writing 4 GB to see the RF64 switch happen is
 * left to libsndfile's own tests: here the two header kinds are checked. */

#include "ac-test.h"

static char *
write_file (const char *dir, const char *name, AcFormat format)
{
  char *path = g_build_filename (dir, name, NULL);
  AcTags tags = { .title = "Tïtle", .artist = "Author", .album = "Tïtle", .genre = "Audiobook" };
  g_autoptr (GError) error = NULL;
  g_autoptr (AcSndWriter) writer = ac_snd_writer_open (path, format, 22050, 1, &tags, &error);
  float pcm[2205];

  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (pcm); i++)
    pcm[i] = (float) (0.5 * sin (2 * G_PI * 440 * i / 22050.0));
  for (guint k = 0; k < 10; k++)
    g_assert_true (ac_snd_writer_write (writer, pcm, G_N_ELEMENTS (pcm), &error));
  g_assert_true (ac_snd_writer_close (writer, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_formats (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-ac-sndfile-XXXXXX", NULL);
  static const struct
  {
    const char *name;
    AcFormat format;
    const char *magic;
  } cases[] = {
    { "a.wav", AC_FORMAT_WAV, "RIFF" },
    { "b.wav", AC_FORMAT_RF64, "RF64" },
    { "c.flac", AC_FORMAT_FLAC, "fLaC" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = write_file (dir, cases[i].name, cases[i].format);
      g_autofree char *again = write_file (dir, "again", cases[i].format);
      g_autofree char *data = NULL;
      SF_INFO info = { 0 };
      SNDFILE *file;

      g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
      g_assert_cmpmem (data, 4, cases[i].magic, 4);
      file = sf_open (path, SFM_READ, &info);
      g_assert_nonnull (file);
      g_assert_cmpint (info.frames, ==, 22050);
      g_assert_cmpint (info.samplerate, ==, 22050);
      g_assert_cmpint (info.format & SF_FORMAT_SUBMASK, ==, SF_FORMAT_PCM_16);
      g_assert_cmpstr (sf_get_string (file, SF_STR_TITLE), ==, "Tïtle");
      g_assert_cmpstr (sf_get_string (file, SF_STR_ARTIST), ==, "Author");
      sf_close (file);
      g_assert_true (ac_test_files_equal (path, again));
      g_unlink (path);
      g_unlink (again);
    }
  g_rmdir (dir);
}

static void
test_unwritable (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AcSndWriter) writer =
    ac_snd_writer_open ("/nonexistent-dir/book.wav", AC_FORMAT_WAV, 22050, 1, NULL, &error);

  g_assert_null (writer);
  g_assert_nonnull (strstr (error->message, "/nonexistent-dir/book.wav"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-concat/sndfile/formats", test_formats);
  g_test_add_func ("/audio-concat/sndfile/unwritable", test_unwritable);
  return g_test_run ();
}
