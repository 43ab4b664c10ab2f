/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for audio-concat.c, the stage table: the whole audiobook pipeline
 * (text-source, segmenter, a tone for speech, audio-encode, audio-concat)
 * run by `sutra run`; the M4B read back; byte-identical for 1 and 2
 * encode workers; bad parameters refused. */

#include "ac-test.h"

static char *
run_sutra (const char *output, const char *const *extra, int *status)
{
  const char *build = g_getenv ("SUTRA_BUILD_ROOT");
  const char *source = g_getenv ("SUTRA_SOURCE_ROOT");
  g_autofree char *sutra = g_build_filename (build, "engine", "sutra", NULL);
  g_autofree char *tone = g_build_filename (build, "tests", "plugins", "audio-concat", NULL);
  g_autofree char *pipeline =
    g_build_filename (source, "tests", "plugins", "audio-concat", "audiobook-tone.json", NULL);
  g_autofree char *book = g_build_filename (source, "data", "sample-book.txt", NULL);
  g_autofree char *set_input = g_strconcat ("input=", book, NULL);
  g_autofree char *set_output = g_strconcat ("output=", output, NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  char *err = NULL;

  g_ptr_array_add (argv, sutra);
  g_ptr_array_add (argv, (gpointer) "run");
  g_ptr_array_add (argv, (gpointer) "--quiet");
  g_ptr_array_add (argv, (gpointer) "--no-job");
  g_ptr_array_add (argv, (gpointer) "--plugin-path");
  g_ptr_array_add (argv, tone);
  g_ptr_array_add (argv, (gpointer) "--set");
  g_ptr_array_add (argv, set_input);
  g_ptr_array_add (argv, (gpointer) "--set");
  g_ptr_array_add (argv, set_output);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) extra[i]);
  g_ptr_array_add (argv, pipeline);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, status, &error));
  g_assert_no_error (error);
  return err;
}

static void
test_pipeline (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-audio-concat-XXXXXX", NULL);
  g_autofree char *one = g_build_filename (dir, "one.m4b", NULL);
  g_autofree char *two = g_build_filename (dir, "two.m4b", NULL);
  const char *const workers_one[] = { "--set", "encode.workers=1", NULL };
  const char *const workers_two[] = { "--set", "encode.workers=2", NULL };
  g_autofree char *err1 = NULL, *err2 = NULL;
  AVFormatContext *s;
  int status = -1;

  err1 = run_sutra (one, workers_one, &status);
  g_assert_cmpstr (err1, ==, "");
  g_assert_cmpint (status, ==, 0);
  err2 = run_sutra (two, workers_two, &status);
  g_assert_cmpstr (err2, ==, "");
  g_assert_cmpint (status, ==, 0);
  /* Chapters encoded in parallel, the same book. */
  g_assert_true (ac_test_files_equal (one, two));

  s = ac_test_open (one);
  g_assert_cmpuint (s->nb_chapters, >=, 2);
  for (guint i = 0; i < s->nb_chapters; i++)
    {
      g_assert_nonnull (ac_test_tag (s->chapters[i]->metadata, "title"));
      if (i > 0)
        g_assert_cmpint (s->chapters[i]->start, >, s->chapters[i - 1]->start);
    }
  g_assert_cmpstr (ac_test_tag (s->metadata, "genre"), ==, "Audiobook");
  g_assert_cmpstr (ac_test_tag (s->metadata, "composer"), ==, "tone");
  g_assert_cmpint (s->duration, >, 0);
  avformat_close_input (&s);
  g_unlink (one);
  g_unlink (two);
  g_rmdir (dir);
}

/* An output whose format cannot be told fails the run and says why. */
static void
test_bad_output (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-audio-concat-XXXXXX", NULL);
  g_autofree char *output = g_build_filename (dir, "book.xyz", NULL);
  g_autofree char *err = NULL;
  int status = 0;

  err = run_sutra (output, NULL, &status);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (err, "unknown audio format “xyz”"));
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (g_getenv ("SUTRA_BUILD_ROOT") == NULL)
    {
      g_print ("1..0 # SKIP SUTRA_BUILD_ROOT is not set: run this test with meson test\n");
      return 77;
    }
  g_test_add_func ("/audio-concat/pipeline/m4b", test_pipeline);
  g_test_add_func ("/audio-concat/pipeline/bad-output", test_bad_output);
  return g_test_run ();
}
