/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-progress.c: the display of real runs, written to
 * files in place of a terminal or a log, and the counters it reads. */

#include "sutra-progress.h"
#include "sutra-registry.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>

static SutraRegistry *registry;
static char *registry_problem;

/* read (one document) → segment (segmenter) → slow (identity) → write. */
static const char book_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"book\", \"stages\": {"
  "  \"read\": { \"plugin\": \"text-source\","
  "            \"params\": { \"path\": \"${input}\", \"format\": \"document\" } },"
  "  \"segment\": { \"plugin\": \"segmenter\", \"input\": \"read\","
  "               \"params\": { \"max_chars\": 80 } },"
  "  \"slow\": { \"plugin\": \"identity\", \"input\": \"segment\", \"batch\": 4 },"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"slow\","
  "             \"params\": { \"path\": \"${output}\" } } } }";

typedef struct
{
  char *dir;
  char *input;
  char *output;
  gsize input_size;
  SutraPipeline *pipeline;
  SutraRun *run;
} Fixture;

static gboolean
fixture_init (Fixture *fixture)
{
  g_autoptr (GString) book = g_string_new ("Chapter 1\n\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *set_input = NULL;
  g_autofree char *set_output = NULL;
  const char *sets[3];

  if (registry_problem != NULL)
    {
      g_test_skip_printf ("the plugins could not be loaded: %s", registry_problem);
      return FALSE;
    }
  fixture->dir = sutra_test_dir ();
  for (guint i = 0; i < 400; i++)
    g_string_append_printf (book, "Sentence number %u of the book goes here. %s", i,
                            i % 10 == 9 ? "\n\n" : "");
  fixture->input = sutra_test_write (fixture->dir, "book.txt", book->str, book->len);
  fixture->input_size = book->len;
  fixture->output = g_build_filename (fixture->dir, "out.jsonl", NULL);
  set_input = g_strconcat ("input=", fixture->input, NULL);
  set_output = g_strconcat ("output=", fixture->output, NULL);
  sets[0] = set_input;
  sets[1] = set_output;
  sets[2] = NULL;
  fixture->pipeline =
    sutra_pipeline_load_from_data ("book.json", book_pipeline, -1, registry, sets, &error);
  g_assert_no_error (error);
  fixture->run = sutra_run_new (fixture->pipeline);
  return TRUE;
}

static void
fixture_clear (Fixture *fixture)
{
  g_clear_pointer (&fixture->run, sutra_run_free);
  g_clear_pointer (&fixture->pipeline, sutra_pipeline_free);
  g_free (fixture->input);
  g_free (fixture->output);
  g_free (fixture->dir);
}

static char *
read_stream (FILE *file)
{
  g_autoptr (GString) text = g_string_new (NULL);
  char buffer[4096];
  size_t n;

  fflush (file);
  rewind (file);
  while ((n = fread (buffer, 1, sizeof buffer, file)) > 0)
    g_string_append_len (text, buffer, n);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
test_progress_split_counters (void)
{
  Fixture fixture = { 0 };
  g_autoptr (GError) error = NULL;
  SutraStageStats stats;

  g_test_summary ("A split's counters: its input and children, in flight while it works "
                  "and done after, with their payload bytes");
  if (!fixture_init (&fixture))
    return;
  g_assert_true (sutra_run_execute (fixture.run, &error));
  g_assert_no_error (error);

  sutra_run_get_stats (fixture.run, 1, &stats);
  g_assert_cmpstr (stats.name, ==, "segment");
  g_assert_cmpuint (stats.n_out, >, 10);
  g_assert_cmpuint (stats.split.n_in_done, ==, 1);
  g_assert_cmpuint (stats.split.bytes_in_done, ==, fixture.input_size);
  g_assert_cmpuint (stats.split.n_out_done, ==, stats.n_out);
  g_assert_cmpuint (stats.split.n_pushed, ==, stats.n_out);
  /* The chunks carry the book's text, less the blanks between them. */
  g_assert_cmpuint (stats.split.bytes_out_done, >, fixture.input_size / 2);
  g_assert_cmpuint (stats.split.bytes_out_done, <=, fixture.input_size);
  g_assert_cmpuint (stats.split.n_in_flight, ==, 0);
  g_assert_cmpuint (stats.split.bytes_in_flight, ==, 0);
  g_assert_cmpuint (stats.split.n_out_in_flight, ==, 0);
  g_assert_cmpuint (stats.split.bytes_out_in_flight, ==, 0);

  /* Other kinds have none. */
  sutra_run_get_stats (fixture.run, 2, &stats);
  g_assert_cmpuint (stats.split.n_in_done + stats.split.n_pushed, ==, 0);
  fixture_clear (&fixture);
}

/* Checks a terminal's byte stream: every redraw moves up over exactly the
 * table lines drawn since the previous one (messages stay above), and
 * returns how many times @needle was printed. */
static guint
check_redraws (const char *stream, const char *needle)
{
  guint table_lines = 0;
  gboolean in_table = FALSE;
  const char *p = stream;

  while (*p != '\0')
    {
      if (g_str_has_prefix (p, "\r\033["))
        {
          char *end;
          guint64 up = 0;

          p += 3;
          if (g_ascii_isdigit (*p))
            {
              up = g_ascii_strtoull (p, &end, 10);
              g_assert_true (g_str_has_prefix (end, "A\033["));
              p = end + 3;
            }
          g_assert_true (*p == 'J');
          p++;
          g_assert_cmpuint (up, ==, table_lines);
          table_lines = 0;
          in_table = FALSE;
          continue;
        }
      /* A line: the table's start with two blanks, messages do not and
       * come before the table. */
      if (g_str_has_prefix (p, "  "))
        {
          in_table = TRUE;
          table_lines++;
        }
      else
        g_assert_false (in_table);
      p = strchr (p, '\n');
      g_assert_nonnull (p);
      p++;
    }
  /* At the end the table is erased: the summary takes its place. */
  g_assert_cmpuint (table_lines, ==, 0);
  return sutra_test_count (stream, needle);
}

static void
test_progress_terminal_notice (void)
{
  Fixture fixture = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *stream = NULL;
  g_autofree char *summary = NULL;
  SutraProgress *progress;
  FILE *tty;
  FILE *out;

  g_test_summary ("On a terminal, notices and g_printerr() go above the table, once, and "
                  "every redraw covers the table exactly: nothing is drawn twice");
  if (!fixture_init (&fixture))
    return;
  tty = tmpfile ();
  out = tmpfile ();
  progress = sutra_progress_new (fixture.run, fixture.pipeline, tty, NULL, NULL);
  sutra_progress_start (progress);
  sutra_progress_notice (progress,
                         "sutra: interrupted: finishing the items in flight (Ctrl-C again "
                         "abandons them)",
                         "stopping: finishing the items in flight");
  g_printerr ("\nsutra: a message from the engine\n");
  g_assert_true (sutra_run_execute (fixture.run, &error));
  sutra_progress_stop (progress, TRUE, NULL);
  sutra_progress_print_summary (progress, SUTRA_PROGRESS_SUCCEEDED, out);
  sutra_progress_free (progress);

  stream = read_stream (tty);
  g_assert_cmpuint (check_redraws (stream, "finishing the items in flight (Ctrl-C"), ==, 1);
  g_assert_cmpuint (sutra_test_count (stream, "sutra: a message from the engine\n"), ==, 1);
  /* At least the table after the notice was moved up over and erased. */
  g_assert_cmpuint (sutra_test_count (stream, "A\033[J"), >=, 1);
  /* The table drawn after the notice says it in its footer. */
  sutra_assert_contains (stream, "  elapsed 0:00, stopping: finishing the items in flight\n");

  summary = read_stream (out);
  sutra_assert_contains (summary, "sutra: finished in ");
  sutra_assert_contains (summary, "  segment 1 done → ");
  sutra_assert_contains (summary, "sutra: output: ");
  sutra_assert_contains (summary, fixture.output);
  fclose (tty);
  fclose (out);
  fixture_clear (&fixture);
}

static void
test_progress_log_plain (void)
{
  Fixture fixture = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  SutraProgress *progress;
  FILE *log;

  g_test_summary ("Without a terminal nothing is cursor-based: notices and the summary are "
                  "plain lines");
  if (!fixture_init (&fixture))
    return;
  log = tmpfile ();
  progress = sutra_progress_new (fixture.run, fixture.pipeline, NULL, log, NULL);
  sutra_progress_start (progress);
  g_assert_true (sutra_run_execute (fixture.run, &error));
  sutra_progress_stop (progress, TRUE, NULL);
  sutra_progress_print_summary (progress, SUTRA_PROGRESS_SUCCEEDED, log);
  sutra_progress_free (progress);
  text = read_stream (log);
  g_assert_null (strchr (text, '\033'));
  g_assert_null (strchr (text, '\r'));
  sutra_assert_contains (text, "sutra: finished in ");
  sutra_assert_contains (text, "  write ");
  fclose (log);
  fixture_clear (&fixture);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);

  g_test_add_func ("/engine/progress/split-counters", test_progress_split_counters);
  g_test_add_func ("/engine/progress/terminal-notice", test_progress_terminal_notice);
  g_test_add_func ("/engine/progress/log-plain", test_progress_log_plain);
  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
