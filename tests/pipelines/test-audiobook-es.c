/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pipelines/audiobook-es.json end to end on a short English book the test
 * writes: translated by Apertium (eng-spa), spoken by espeak-ng with the
 * voice the translation's `language` picks, encoded and remuxed into an
 * M4B by the `sutra` binary, read back with ffprobe (libavformat). */

#include "sutra-test-util.h"
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

/* Two chapters of plain sentences Apertium knows every word of. */
static const char book[] =
  "THE GREEN HOUSE\n\n\n"
  "CHAPTER I. The Garden\n\n"
  "The house is green and the garden is big. My sister reads a book under the old tree. "
  "The dog sleeps in the sun.\n\n"
  "In the morning the children eat bread and drink milk. Then they go to school with their "
  "friends.\n\n\n"
  "CHAPTER II. The Night\n\n"
  "At night the city is quiet. My father closes the door and the windows. "
  "The cat looks at the moon.\n\n"
  "We sleep well because the house is warm. Tomorrow we will work in the garden again.\n";

/* The chapter marks keep the book's titles (docs/audiobook.md says why). */
static const char *const chapter_titles[] = {
  "CHAPTER I. The Garden",
  "CHAPTER II. The Night",
};

static char *
source_path (const char *relative)
{
  return g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), relative, NULL);
}

/* Runs @argv and returns its standard output; it must succeed. */
static char *
run_ok (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed (wait status %d): %s", argv[0], status, err);
  return out;
}

/* Why this machine cannot run the pipeline, or NULL. */
static char *
missing_tools (void)
{
  const char *const tools[] = { "ffprobe", "apertium", "espeak-ng", NULL };
  const char *const pairs[] = { "apertium", "-l", NULL };
  const char *const voices[] = { "espeak-ng", "--voices=es", NULL };
  g_autofree char *installed = NULL;
  g_autofree char *spanish = NULL;

  for (guint i = 0; tools[i] != NULL; i++)
    {
      g_autofree char *path = g_find_program_in_path (tools[i]);

      if (path == NULL)
        return g_strdup_printf ("%s is not installed (Debian: scripts/setup-debian.sh installs "
                                "ffmpeg, apertium-en-es and espeak-ng)",
                                tools[i]);
    }
  installed = run_ok (pairs);
  if (strstr (installed, "eng-spa") == NULL)
    return g_strdup ("Apertium's eng-spa pair is not installed (Debian: apt-get install "
                     "apertium-en-es)");
  spanish = run_ok (voices);
  if (strstr (spanish, " roa/es") == NULL)
    return g_strdup ("espeak-ng has no Spanish voice (roa/es)");
  return NULL;
}

static void
test_audiobook_es (void)
{
  g_autofree char *why = missing_tools ();
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *input = g_build_filename (dir, "green-house.txt", NULL);
  g_autofree char *output = g_build_filename (dir, "green-house-es.m4b", NULL);
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  g_autofree char *pipeline = source_path ("pipelines/audiobook-es.json");
  g_autofree char *set_input = g_strdup_printf ("--set=input=%s", input);
  g_autofree char *set_output = g_strdup_printf ("--set=output=%s", output);
  const char *const run[] = { sutra,      "run",      pipeline,  set_input,
                              set_output, "--no-job", "--quiet", NULL };
  const char *const probe[] = { "ffprobe", "-v",   "error", "-show_chapters", "-show_format", "-of",
                                "json",    output, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *sutra_out = NULL;
  g_autofree char *out = NULL;
  JsonObject *root, *format, *tags;
  JsonArray *chapters;
  double duration, previous_end = 0;

  g_test_summary ("pipelines/audiobook-es.json turns an English book into an M4B spoken with "
                  "espeak-ng's Spanish voice (voice auto, from the language the translation "
                  "sets), with one chapter mark per chapter, back to back");
  if (why != NULL)
    {
      g_test_skip (why);
      return;
    }
  g_file_set_contents (input, book, -1, &error);
  g_assert_no_error (error);
  sutra_out = run_ok (run);
  out = run_ok (probe);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  g_test_message ("ffprobe: %s", out);
  root = json_node_get_object (json_parser_get_root (parser));
  format = json_object_get_object_member (root, "format");
  tags = json_object_get_object_member (format, "tags");
  g_assert_cmpstr (json_object_get_string_member (tags, "major_brand"), ==, "M4B ");
  /* The narrator (composer) is the voice the tts stage used: Spanish. */
  g_assert_cmpstr (json_object_get_string_member_with_default (tags, "composer", NULL), ==, "es");
  duration = g_ascii_strtod (json_object_get_string_member (format, "duration"), NULL);
  /* About 80 words of Spanish at espeak-ng's 175 words a minute, and the
   * silences: far from a lost or a doubled chapter. */
  g_assert_cmpfloat (duration, >, 15.0);
  g_assert_cmpfloat (duration, <, 90.0);

  chapters = json_object_get_array_member (root, "chapters");
  g_assert_cmpuint (json_array_get_length (chapters), ==, G_N_ELEMENTS (chapter_titles));
  for (guint i = 0; i < json_array_get_length (chapters); i++)
    {
      JsonObject *c = json_array_get_object_element (chapters, i);
      double start = g_ascii_strtod (json_object_get_string_member (c, "start_time"), NULL);
      double end = g_ascii_strtod (json_object_get_string_member (c, "end_time"), NULL);

      g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (c, "tags"),
                                                      "title"),
                       ==, chapter_titles[i]);
      g_assert_cmpfloat (fabs (start - previous_end), <=, 0.001);
      g_assert_cmpfloat (end - start, >, 5.0);
      previous_end = end;
    }
  g_assert_cmpfloat (fabs (previous_end - duration), <=, 0.01);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/pipelines/audiobook-es/spanish-voice-and-chapters", test_audiobook_es);
  return g_test_run ();
}
