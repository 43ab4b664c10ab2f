/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pipelines/audiobook.json end to end on data/sample-book.txt: the real
 * speech (tts), encode (audio-encode) and book (audio-concat) stages run by
 * the `sutra` binary, the M4B read back with ffprobe; byte-identical across
 * encode worker counts and after a run killed with SIGKILL and run again. */

#include "sutra-test-png.h"
#include "sutra-test-util.h"
#include <archive.h>
#include <archive_entry.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libavformat/avformat.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* The sample book's chapters, as the segmenter titles them. */
static const char *const chapter_titles[] = {
  "CHAPTER I. The Last Lamp",
  "CHAPTER II. The Engineer",
  "CHAPTER III. Light Without Fire",
  "CHAPTER IV. The Forty-First Lamp",
};

static char *
source_path (const char *relative)
{
  return g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), relative, NULL);
}

/* argv for `sutra run pipelines/audiobook.json` on @input (NULL: the
 * sample book) into @output, with @job (or --no-job) and extra `--set`s
 * (NULL-terminated, or NULL). */
static GPtrArray *
audiobook_args_for (const char *input, const char *output, const char *job, const char *const *sets)
{
  GPtrArray *args = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (args, g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL));
  g_ptr_array_add (args, g_strdup ("run"));
  g_ptr_array_add (args, source_path ("pipelines/audiobook.json"));
  {
    g_autofree char *book = input != NULL ? g_strdup (input) : source_path ("data/sample-book.txt");

    g_ptr_array_add (args, g_strdup_printf ("--set=input=%s", book));
  }
  g_ptr_array_add (args, g_strdup_printf ("--set=output=%s", output));
  for (guint i = 0; sets != NULL && sets[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup_printf ("--set=%s", sets[i]));
  g_ptr_array_add (args, job != NULL ? g_strdup_printf ("--job=%s", job) : g_strdup ("--no-job"));
  g_ptr_array_add (args, g_strdup ("--quiet"));
  g_ptr_array_add (args, NULL);
  return args;
}

/* The sample book into @output, with @job and one `--set` (or NULL). */
static GPtrArray *
audiobook_args (const char *output, const char *job, const char *set)
{
  const char *const sets[] = { set, NULL };

  return audiobook_args_for (NULL, output, job, sets);
}

/* Runs sutra to the end; it must succeed. */
static void
run_ok (GPtrArray *args)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("sutra run failed (wait status %d): %s", status, err);
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize length = 0;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, length);
}

static void
assert_same_bytes (const char *a, const char *b)
{
  g_autoptr (GBytes) x = read_bytes (a);
  g_autoptr (GBytes) y = read_bytes (b);

  g_assert_cmpuint (g_bytes_get_size (x), >, 0);
  if (!g_bytes_equal (x, y))
    g_error ("%s (%zu bytes) and %s (%zu bytes) differ", a, g_bytes_get_size (x), b,
             g_bytes_get_size (y));
}

/* Checks the M4B as ffprobe reads it: the brand, the book's title, four
 * chapters with the book's titles, back to back from 0 to the end, and a
 * duration that 712 words of speech plus the silences make plausible. */
static void
check_m4b (const char *path)
{
  const char *argv[] = { "ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of",
                         "json",    path, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *format, *tags;
  JsonArray *chapters;
  double duration, previous_end = 0;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("ffprobe %s failed: %s", path, err);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  format = json_object_get_object_member (root, "format");
  tags = json_object_get_object_member (format, "tags");
  g_assert_cmpstr (json_object_get_string_member (tags, "major_brand"), ==, "M4B ");
  g_assert_cmpstr (json_object_get_string_member (tags, "title"), ==,
                   "THE LAMPLIGHTER OF CALDER STREET");
  g_assert_cmpstr (json_object_get_string_member (tags, "genre"), ==, "Audiobook");
  duration = g_ascii_strtod (json_object_get_string_member (format, "duration"), NULL);
  /* 712 words at espeak-ng's 175 words a minute are about 4 minutes,
   * silences included; a broken concatenation (a chapter lost or doubled)
   * falls outside. */
  g_assert_cmpfloat (duration, >, 150.0);
  g_assert_cmpfloat (duration, <, 330.0);

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
      /* Back to back (QuickTime chapter times are milliseconds), and every
       * chapter long enough to hold its speech. */
      g_assert_cmpfloat (fabs (start - previous_end), <=, 0.001);
      g_assert_cmpfloat (end - start, >, 20.0);
      previous_end = end;
    }
  g_assert_cmpfloat (fabs (previous_end - duration), <=, 0.01);
}

static gboolean
have_ffprobe (void)
{
  g_autofree char *ffprobe = g_find_program_in_path ("ffprobe");

  if (ffprobe == NULL)
    g_test_skip ("ffprobe is not installed (Debian: apt-get install ffmpeg; "
                 "scripts/setup-debian.sh installs it)");
  return ffprobe != NULL;
}

static void
test_audiobook_workers (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *one = g_build_filename (dir, "one.m4b", NULL);
  g_autofree char *two = g_build_filename (dir, "two.m4b", NULL);
  g_autofree char *four = g_build_filename (dir, "four.m4b", NULL);

  g_test_summary ("pipelines/audiobook.json makes an M4B of the sample book with its four "
                  "chapters, titles and a plausible duration, byte-identical with 1, 2 and 4 "
                  "speech processes, 1, 2 and 4 chapter encoders and 1, 2 and 3 threads "
                  "encoding a chapter's segments (of 5 s, so every chapter has several)");
  if (!have_ffprobe ())
    return;
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (NULL, one, NULL,
                          (const char *const[]){ "speak.workers=1", "encode.workers=1",
                                                 "encode.threads=1", "encode.segment_s=5", NULL });
    run_ok (args);
  }
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (NULL, two, NULL,
                          (const char *const[]){ "speak.workers=2", "encode.workers=2",
                                                 "encode.threads=2", "encode.segment_s=5", NULL });
    run_ok (args);
  }
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (NULL, four, NULL,
                          (const char *const[]){ "speak.workers=4", "encode.workers=4",
                                                 "encode.threads=3", "encode.segment_s=5", NULL });
    run_ok (args);
  }
  check_m4b (two);
  assert_same_bytes (one, two);
  assert_same_bytes (one, four);
}

/* Spawns @args; kills it with SIGKILL after @delay_us unless it ended
 * first (successfully). Returns TRUE if it was killed. */
static gboolean
run_and_kill (GPtrArray *args, gulong delay_us)
{
  g_autoptr (GError) error = NULL;
  gint64 deadline;
  GPid pid = 0;
  int status = 0;

  g_spawn_async (NULL, (char **) args->pdata, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                   G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + delay_us;
  while (g_get_monotonic_time () < deadline)
    {
      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          g_assert_true (WIFEXITED (status));
          g_assert_cmpint (WEXITSTATUS (status), ==, 0);
          return FALSE;
        }
      g_usleep (10000);
    }
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (WIFEXITED (status))
    {
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
      return FALSE;
    }
  g_assert_true (WIFSIGNALED (status));
  return TRUE;
}

/* `sutra status --json JOB`, parsed. */
static JsonNode *
job_status (const char *job)
{
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  const char *argv[] = { sutra, "status", "--json", job, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  JsonNode *root;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &out, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  root = json_from_string (out, &error);
  g_assert_no_error (error);
  return root;
}

/* The stage named @name in a job's status. */
static JsonObject *
status_stage (JsonNode *status, const char *name)
{
  JsonArray *stages = json_object_get_array_member (json_node_get_object (status), "stages");

  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonObject *stage = json_array_get_object_element (stages, i);

      if (g_str_equal (json_object_get_string_member (stage, "stage"), name))
        return stage;
    }
  g_error ("no stage %s in the job's status", name);
}

static void
test_audiobook_killed_and_run_again (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *reference = g_build_filename (dir, "reference.m4b", NULL);
  g_autofree char *output = g_build_filename (dir, "resumed.m4b", NULL);
  gint64 started, elapsed_us;
  gboolean killed = FALSE;

  g_test_summary ("pipelines/audiobook.json killed with SIGKILL part way and run again on "
                  "its job gives the same M4B bytes as an uninterrupted run");
  if (!have_ffprobe ())
    return;
  started = g_get_monotonic_time ();
  {
    g_autoptr (GPtrArray) args = audiobook_args (reference, NULL, NULL);
    run_ok (args);
  }
  /* The kill lands part way through a run: a fraction of how long one took
   * here, smaller on each try in case a run went faster than that (the
   * machine's load is not the test's to know). */
  elapsed_us = g_get_monotonic_time () - started;
  for (guint attempt = 0; attempt < 4 && !killed; attempt++)
    {
      g_autofree char *job = g_strdup_printf ("%s/job-%u", dir, attempt);
      g_autoptr (GPtrArray) args = audiobook_args (output, job, NULL);

      g_unlink (output);
      killed = run_and_kill (args, (gulong) (elapsed_us / (2 << attempt)));
      if (killed)
        {
          /* A stage whose state is "done" committed all its outputs: the
           * run again takes every one of them from the job's store and
           * speaks none again. (A stage still running when the kill came
           * may have finished batches it had not yet committed: those are
           * computed again, and a gather's "done" counts the members it
           * took, while a chapter is committed only once whole.) */
          g_autoptr (JsonNode) before = job_status (job);
          g_autoptr (JsonNode) after = NULL;
          JsonObject *speak_before = status_stage (before, "speak");
          JsonObject *speak_after;

          run_ok (args);
          after = job_status (job);
          speak_after = status_stage (after, "speak");
          g_assert_cmpstr (json_object_get_string_member (json_node_get_object (after), "state"),
                           ==, "done");
          g_test_message ("before the run again: job %s, speak %s with %" G_GINT64_FORMAT
                          " chunks; after: %" G_GINT64_FORMAT " chunks from the store",
                          json_object_get_string_member (json_node_get_object (before), "state"),
                          json_object_get_string_member (speak_before, "state"),
                          json_object_get_int_member (speak_before, "done"),
                          json_object_get_int_member (speak_after, "cached"));
          if (g_str_equal (json_object_get_string_member (speak_before, "state"), "done") &&
              !g_str_equal (json_object_get_string_member (json_node_get_object (before), "state"),
                            "done"))
            g_assert_cmpint (json_object_get_int_member (speak_after, "cached"), ==,
                             json_object_get_int_member (speak_before, "done"));
        }
    }
  if (!killed)
    {
      g_test_skip ("every run finished before its kill (at 1/2 to 1/16 of a run's time): "
                   "nothing was interrupted");
      return;
    }
  check_m4b (output);
  assert_same_bytes (reference, output);
}

/* The files under @dir whose names end in @suffix, counted. */
static guint
count_files (const char *dir, const char *suffix)
{
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        n += count_files (path, suffix);
      else if (g_str_has_suffix (name, suffix))
        n++;
    }
  return n;
}

static void
test_audiobook_long_chapter_from_store (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *book = g_build_filename (dir, "long.txt", NULL);
  g_autofree char *job = g_build_filename (dir, "job", NULL);
  g_autofree char *first = g_build_filename (dir, "first.m4b", NULL);
  g_autofree char *again = g_build_filename (dir, "again.m4b", NULL);
  g_autofree char *reference = g_build_filename (dir, "reference.m4b", NULL);
  g_autoptr (GString) text = g_string_new ("THE LONG ROAD\n\n\nCHAPTER I. The Road\n\n");
  g_autoptr (GError) error = NULL;

  g_test_summary ("A chapter whose encoded audio is a large store entry (over 4 MiB, ten "
                  "minutes) is taken from the job's store as a file when only the book stage "
                  "changed (its title), and the M4B is byte-identical to a fresh run's");
  if (!have_ffprobe ())
    return;
  /* About 1,700 words: eleven minutes of speech and its silences, some
   * 5.5 MB of AAC at 64 kb/s. */
  for (guint i = 0; i < 110; i++)
    g_string_append_printf (text,
                            "The road went on past milestone %u, and the walkers counted "
                            "every stone they passed.%s",
                            i + 1, i % 6 == 5 ? "\n\n" : " ");
  g_file_set_contents (book, text->str, (gssize) text->len, &error);
  g_assert_no_error (error);
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (book, first, job, (const char *const[]){ "title=First", NULL });
    run_ok (args);
  }
  /* The chapter was stored as an entry of its own, not in a pack. */
  g_assert_cmpuint (count_files (job, ".entry"), >=, 1);
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (book, again, job, (const char *const[]){ "title=Second", NULL });
    g_autoptr (JsonNode) status = NULL;

    /* Before the terminating NULL: the book stage changed, on purpose. */
    g_ptr_array_insert (args, (gint) args->len - 1, g_strdup ("--force"));
    run_ok (args);
    status = job_status (job);
    /* Nothing was spoken or encoded again: only the book was made. */
    for (guint i = 0; i < 2; i++)
      {
        JsonObject *stage = status_stage (status, i == 0 ? "speak" : "encode");

        g_assert_cmpint (json_object_get_int_member (stage, "cached"), ==,
                         json_object_get_int_member (stage, "done"));
      }
  }
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (book, reference, NULL, (const char *const[]){ "title=Second", NULL });
    run_ok (args);
  }
  assert_same_bytes (reference, again);
}

/* A short book of the test's own: three chapters, a few sentences each. */
static const char short_book[] =
  "THE THREE BELLS\n\n"
  "A short book written for sutra's tests.\n\n\n"
  "CHAPTER I. The Small Bell\n\n"
  "The small bell hung over the bakery door. It rang whenever anyone came in, "
  "and the baker knew every customer by the way the bell sounded.\n\n\n"
  "CHAPTER II. The Ship's Bell\n\n"
  "Down at the harbour, the ship's bell rang the hours of the watch. Sailors "
  "slept and woke by it, and nobody on board ever needed a clock.\n\n\n"
  "CHAPTER III. The Great Bell\n\n"
  "The great bell in the tower rang only on feast days. When it did, the "
  "whole town stopped to listen, and the pigeons rose from every roof.\n";

/* The book's integrated loudness and true peak as FFmpeg's ebur128
 * filter measures the file (a meter other than the plugin's). */
static void
measure_with_ffmpeg (const char *path, double *lufs, double *true_peak)
{
  const char *argv[] = { "ffmpeg", "-nostats",          "-hide_banner", "-i",   path,
                         "-af",    "ebur128=peak=true", "-f",           "null", "-",
                         NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  const char *summary, *at;
  int status = 0;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                NULL, NULL, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("ffmpeg ebur128 on %s failed: %s", path, err);
  summary = strstr (err, "Summary:");
  g_assert_nonnull (summary);
  at = strstr (summary, "I:");
  g_assert_nonnull (at);
  *lufs = g_ascii_strtod (at + 2, NULL);
  at = strstr (summary, "Peak:");
  g_assert_nonnull (at);
  *true_peak = g_ascii_strtod (at + 5, NULL);
}

static void
test_audiobook_loudness (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *book = sutra_test_write (dir, "three-bells.txt", short_book, -1);
  g_autofree char *one = g_build_filename (dir, "one.m4b", NULL);
  g_autofree char *two = g_build_filename (dir, "two.m4b", NULL);
  const char *const sets_one[] = { "loudness=r128", "book.encode_threads=1", NULL };
  const char *const sets_two[] = { "loudness=r128", "book.encode_threads=2", NULL };
  const char *probe[] = { "ffprobe", "-v", "error", "-show_chapters", "-of", "json", two, NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  JsonArray *chapters;
  double lufs = 0, true_peak = 0;
  int status = 0;

  g_test_summary ("pipelines/audiobook.json with --set loudness=r128 on a short book: chapters "
                  "encoded in parallel after one gain, the M4B at -23 LUFS (within 1 LU, as "
                  "FFmpeg's ebur128 filter measures it) with its three chapters, byte-identical "
                  "with 1 and 2 encoding threads");
  if (!have_ffprobe ())
    return;
  {
    g_autoptr (GPtrArray) args = audiobook_args_for (book, one, NULL, sets_one);
    run_ok (args);
  }
  {
    g_autoptr (GPtrArray) args = audiobook_args_for (book, two, NULL, sets_two);
    run_ok (args);
  }
  assert_same_bytes (one, two);

  g_spawn_sync (NULL, (char **) probe, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                NULL, &out, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  chapters =
    json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "chapters");
  g_assert_cmpuint (json_array_get_length (chapters), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (
                     json_object_get_object_member (json_array_get_object_element (chapters, 1),
                                                    "tags"),
                     "title"),
                   ==, "CHAPTER II. The Ship's Bell");

  measure_with_ffmpeg (two, &lufs, &true_peak);
  g_test_message ("r128 book: %.1f LUFS, true peak %.1f dBTP", lufs, true_peak);
  g_assert_cmpfloat (fabs (lufs - -23.0), <=, 1.0);
  g_assert_cmpfloat (true_peak, <=, -1.0 + 0.5);
}

/* An EPUB 3 with a cover, made here: a nested table of contents (two
 * parts holding three chapters), as publishers write one: Part One has a
 * title page of its own, Part Two's entry and its first chapter share a
 * document. */

#define XHTML(body)                                                                 \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?><!DOCTYPE html><html "                 \
  "xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>t</title></head><body>" body \
  "</body></html>"

#define SPEECH                                                                         \
  "<p>The lamps of the old quarter were lit by hand, one after another, as the light " \
  "went out of the sky.</p><p>Nobody remembered who had started it, and nobody "       \
  "asked.</p>"

static const char *const epub_texts[] = {
  "mimetype",
  "application/epub+zip",
  "META-INF/container.xml",
  "<?xml version=\"1.0\"?><container version=\"1.0\" "
  "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
  "full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/></rootfiles>"
  "</container>",
  "OEBPS/content.opf",
  "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/2007/opf\" version=\"3.0\">"
  "<metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Lamps in Two "
  "Parts</dc:title><dc:creator>A. Writer</dc:creator><dc:language>en</dc:language></metadata>"
  "<manifest><item id=\"nav\" href=\"nav.xhtml\" media-type=\"application/xhtml+xml\" "
  "properties=\"nav\"/><item id=\"cover\" href=\"images/cover.png\" media-type=\"image/png\" "
  "properties=\"cover-image\"/>"
  "<item id=\"p1\" href=\"part1.xhtml\" media-type=\"application/xhtml+xml\"/>"
  "<item id=\"c1\" href=\"c1.xhtml\" media-type=\"application/xhtml+xml\"/>"
  "<item id=\"c2\" href=\"c2.xhtml\" media-type=\"application/xhtml+xml\"/>"
  "<item id=\"c3\" href=\"c3.xhtml\" media-type=\"application/xhtml+xml\"/></manifest>"
  "<spine><itemref idref=\"p1\"/><itemref idref=\"c1\"/><itemref idref=\"c2\"/>"
  "<itemref idref=\"c3\"/></spine></package>",
  "OEBPS/nav.xhtml",
  "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\" "
  "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>"
  "<li><a href=\"part1.xhtml\">Part One</a><ol>"
  "<li><a href=\"c1.xhtml\">1. The Lamplighter</a></li>"
  "<li><a href=\"c2.xhtml#start\">2. The Engineer</a></li></ol></li>"
  "<li><a href=\"c3.xhtml\">Part Two</a><ol>"
  "<li><a href=\"c3.xhtml#c3\">3. L\xe2\x80\x99\xc3\xa9t\xc3\xa9 sans feu</a></li></ol></li>"
  "</ol></nav></body></html>",
  "OEBPS/part1.xhtml",
  XHTML ("<h1>Part One</h1>"),
  "OEBPS/c1.xhtml",
  XHTML ("<h2>1. The Lamplighter</h2>" SPEECH),
  "OEBPS/c2.xhtml",
  XHTML ("<h2 id=\"start\">2. The Engineer</h2>" SPEECH),
  "OEBPS/c3.xhtml",
  XHTML ("<h1>Part Two</h1><h2 id=\"c3\">3. L\xe2\x80\x99\xc3\xa9t\xc3\xa9 sans feu</h2>" SPEECH),
  NULL,
};

static const char *const epub_chapter_titles[] = {
  "1. The Lamplighter",
  "2. The Engineer",
  "3. L\xe2\x80\x99\xc3\xa9t\xc3\xa9 sans feu",
};

static la_ssize_t
zip_write_cb (struct archive *archive, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, (guint) length);
  return (la_ssize_t) length;
}

static void
zip_add (struct archive *archive, const char *name, const void *data, gsize size)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_size (entry, (la_int64_t) size);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_data (archive, data, size), ==, (la_ssize_t) size);
  archive_entry_free (entry);
}

/* Writes the EPUB, with @cover as its cover image, to @path. */
static void
write_epub (const char *path, GBytes *cover)
{
  struct archive *archive = archive_write_new ();
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) error = NULL;

  archive_write_set_format_zip (archive);
  g_assert_cmpint (archive_write_open (archive, bytes, NULL, zip_write_cb, NULL), ==, ARCHIVE_OK);
  for (guint i = 0; epub_texts[i] != NULL; i += 2)
    zip_add (archive, epub_texts[i], epub_texts[i + 1], strlen (epub_texts[i + 1]));
  zip_add (archive, "OEBPS/images/cover.png", g_bytes_get_data (cover, NULL),
           g_bytes_get_size (cover));
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error);
  g_assert_no_error (error);
}

/* Reads the M4B back with libavformat: its chapters' titles and its
 * attached picture, which must be @cover's bytes. */
static void
check_epub_m4b (const char *path, GBytes *cover)
{
  AVFormatContext *format = NULL;
  const AVStream *picture = NULL;

  g_assert_cmpint (avformat_open_input (&format, path, NULL, NULL), ==, 0);
  g_assert_cmpint (avformat_find_stream_info (format, NULL), >=, 0);
  g_assert_cmpstr (av_dict_get (format->metadata, "title", NULL, 0)->value, ==,
                   "Lamps in Two Parts");
  g_assert_cmpuint (format->nb_chapters, ==, G_N_ELEMENTS (epub_chapter_titles));
  for (guint i = 0; i < format->nb_chapters; i++)
    {
      const AVDictionaryEntry *title =
        av_dict_get (format->chapters[i]->metadata, "title", NULL, 0);

      g_assert_nonnull (title);
      g_assert_cmpstr (title->value, ==, epub_chapter_titles[i]);
    }
  for (guint i = 0; i < format->nb_streams; i++)
    if (format->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)
      picture = format->streams[i];
  g_assert_nonnull (picture);
  g_assert_cmpint (picture->codecpar->codec_id, ==, AV_CODEC_ID_PNG);
  g_assert_cmpmem (picture->attached_pic.data, picture->attached_pic.size,
                   g_bytes_get_data (cover, NULL), g_bytes_get_size (cover));
  avformat_close_input (&format);
}

static void
test_audiobook_epub_cover (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *epub = g_build_filename (dir, "lamps.epub", NULL);
  g_autofree char *job = g_build_filename (dir, "job", NULL);
  g_autofree char *book = g_build_filename (dir, "lamps.m4b", NULL);
  g_autofree char *retitled = g_build_filename (dir, "retitled.m4b", NULL);
  g_autofree char *overridden = g_build_filename (dir, "overridden.m4b", NULL);
  g_autofree char *other_path = g_build_filename (dir, "other.png", NULL);
  g_autofree char *cover_dir = g_build_filename (job, "work", "segment", NULL);
  g_autoptr (GBytes) cover = sutra_test_png (24, 32, 200, 40, 30);
  g_autoptr (GBytes) other = sutra_test_png (16, 16, 20, 40, 220);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) kept = NULL;

  g_test_summary ("An EPUB 3 with a cover and a nested table of contents (parts holding "
                  "chapters) becomes an M4B whose attached picture is the cover's bytes and "
                  "whose chapters are the TOC's chapters with their titles; the cover stays "
                  "with the job, so a later run that takes the segmenter's output from the "
                  "store still has it; the `cover` parameter overrides the EPUB's");
  write_epub (epub, cover);
  g_file_set_contents (other_path, g_bytes_get_data (other, NULL), g_bytes_get_size (other),
                       &error);
  g_assert_no_error (error);
  {
    g_autoptr (GPtrArray) args = audiobook_args_for (epub, book, job, NULL);
    run_ok (args);
  }
  check_epub_m4b (book, cover);
  /* The cover is in the job's work directory, not in a run's. */
  kept = g_dir_open (cover_dir, 0, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (g_dir_read_name (kept), "cover-"));

  /* Another title recomputes the book stage only: the chunks, and the
   * cover path in their metadata, come from the job's store. */
  {
    g_autoptr (GPtrArray) args =
      audiobook_args_for (epub, retitled, job, (const char *const[]){ "title=Retitled", NULL });
    g_ptr_array_insert (args, (gint) args->len - 1, g_strdup ("--force"));
    run_ok (args);
  }
  {
    AVFormatContext *format = NULL;
    gboolean has_picture = FALSE;

    g_assert_cmpint (avformat_open_input (&format, retitled, NULL, NULL), ==, 0);
    g_assert_cmpstr (av_dict_get (format->metadata, "title", NULL, 0)->value, ==, "Retitled");
    for (guint i = 0; i < format->nb_streams; i++)
      if (format->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)
        {
          has_picture = TRUE;
          g_assert_cmpmem (format->streams[i]->attached_pic.data,
                           format->streams[i]->attached_pic.size, g_bytes_get_data (cover, NULL),
                           g_bytes_get_size (cover));
        }
    g_assert_true (has_picture);
    avformat_close_input (&format);
  }

  /* The parameter wins over the book's own cover. */
  {
    g_autofree char *set = g_strdup_printf ("cover=%s", other_path);
    g_autoptr (GPtrArray) args =
      audiobook_args_for (epub, overridden, NULL, (const char *const[]){ set, NULL });
    AVFormatContext *format = NULL;
    gboolean has_picture = FALSE;

    run_ok (args);
    g_assert_cmpint (avformat_open_input (&format, overridden, NULL, NULL), ==, 0);
    for (guint i = 0; i < format->nb_streams; i++)
      if (format->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)
        {
          has_picture = TRUE;
          g_assert_cmpmem (format->streams[i]->attached_pic.data,
                           format->streams[i]->attached_pic.size, g_bytes_get_data (other, NULL),
                           g_bytes_get_size (other));
        }
    g_assert_true (has_picture);
    avformat_close_input (&format);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* libavformat's notes on reading the M4B back are not the test's. */
  av_log_set_level (AV_LOG_ERROR);
  g_test_add_func ("/pipelines/audiobook/workers", test_audiobook_workers);
  g_test_add_func ("/pipelines/audiobook/loudness", test_audiobook_loudness);
  g_test_add_func ("/pipelines/audiobook/epub-cover-nested-toc", test_audiobook_epub_cover);
  g_test_add_func ("/pipelines/audiobook/killed-and-run-again",
                   test_audiobook_killed_and_run_again);
  g_test_add_func ("/pipelines/audiobook/long-chapter-from-store",
                   test_audiobook_long_chapter_from_store);
  return g_test_run ();
}
