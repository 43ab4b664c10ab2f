/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-progress.c: the display of real runs, written to
 * files in place of a terminal or a log, and the counters it reads. */

#include "sutra-progress.h"
#include "sutra-registry.h"
#include "sutra-test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>

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

  g_test_summary ("On a terminal, notices, g_printerr() and GLib's messages go above the "
                  "table, once, and every redraw covers the table exactly: nothing is drawn "
                  "twice");
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
  g_message ("a GLib message, written where GLib writes it, the table erased first");
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

/* The CLI ------------------------------------------------------------------ */

static char *
read_all (GInputStream *stream)
{
  g_autoptr (GOutputStream) memory = g_memory_output_stream_new_resizable ();
  g_autoptr (GError) error = NULL;

  g_output_stream_splice (memory, stream, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write (memory, "", 1, NULL, NULL);
  return g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (memory));
}

/* Runs the sutra built beside the test in @dir with @argv, standard error
 * to a pipe (no terminal). @interrupt: sends SIGINT once the sink has
 * written items (a progress event says so; @argv has "--events -"). Returns the exit status; *@err:
 * standard error. */
static int
run_cli (const char *dir, const char *const *argv, gboolean interrupt, char **err)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *rest = NULL;

  g_subprocess_launcher_set_cwd (launcher, dir);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  if (interrupt)
    for (;;)
      {
        g_autofree char *line = g_data_input_stream_read_line (out, NULL, NULL, &error);

        g_assert_no_error (error);
        g_assert_nonnull (line); /* the run ended before it started? */
        g_autoptr (JsonParser) parser = json_parser_new ();
        JsonObject *event;

        /* Once the sink has written something: there is something to
         * resume from, and more to do. */
        json_parser_load_from_data (parser, line, -1, &error);
        g_assert_no_error (error);
        event = json_node_get_object (json_parser_get_root (parser));
        if (g_strcmp0 (json_object_get_string_member_with_default (event, "event", ""),
                       "progress") == 0 &&
            g_strcmp0 (json_object_get_string_member_with_default (event, "stage", ""), "write") ==
              0 &&
            json_object_get_int_member_with_default (event, "items_in", 0) > 0)
          break;
      }
  if (interrupt)
    g_subprocess_send_signal (process, SIGINT);
  /* Standard output first: the events are many, standard error is small. */
  rest = read_all (G_INPUT_STREAM (out));
  *err = read_all (g_subprocess_get_stderr_pipe (process));
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

static void
test_progress_cli_interrupt_and_resume (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *sutra = NULL;
  g_autofree char *pipeline = NULL;
  g_autofree char *input = NULL;
  g_autofree char *job = NULL;
  g_autofree char *interrupted = NULL;
  g_autofree char *resumed = NULL;
  g_autofree char *output_line = NULL;
  g_autoptr (GString) book = g_string_new ("Chapter 1\n\n");
  int status;

  g_test_summary ("sutra run without a terminal: a Ctrl-C notice printed once, a summary "
                  "that says it stopped, nothing cursor-based; the resumed run counts what "
                  "it took from the store and names its output");
  if (registry_problem != NULL)
    {
      g_test_skip_printf ("the plugins could not be loaded: %s", registry_problem);
      return;
    }
  dir = sutra_test_dir ();
  sutra = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  for (guint i = 0; i < 3000; i++)
    g_string_append_printf (book, "Sentence number %u of the book goes here. %s", i,
                            i % 10 == 9 ? "\n\n" : "");
  input = sutra_test_write (dir, "book.txt", book->str, book->len);
  /* Slow enough (3,000 chunks, 2 ms each) that the run is still going when
   * the signal comes; the signal waits for the sink's first items, not a
   * time. */
  pipeline = sutra_test_write (
    dir, "book.json",
    "{ \"sutra\": 1, \"name\": \"book\", \"stages\": {"
    "  \"read\": { \"plugin\": \"text-source\","
    "            \"params\": { \"path\": \"book.txt\", \"format\": \"document\" } },"
    "  \"segment\": { \"plugin\": \"segmenter\", \"input\": \"read\","
    "               \"params\": { \"max_chars\": 50 } },"
    "  \"slow\": { \"plugin\": \"identity\", \"input\": \"segment\", \"batch\": 8,"
    "            \"params\": { \"sleep_us\": 2000 } },"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"slow\","
    "             \"params\": { \"path\": \"out.jsonl\" } } } }",
    -1);
  job = g_build_filename (dir, "job", NULL);

  {
    const char *argv[] = { sutra, "run", pipeline, "--job", job, "--events", "-", NULL };

    status = run_cli (dir, argv, TRUE, &interrupted);
  }
  g_test_message ("stderr of the interrupted run:\n%s", interrupted);
  g_assert_cmpint (status, ==, 130);
  g_assert_cmpuint (sutra_test_count (interrupted, "finishing the items in flight"), ==, 1);
  sutra_assert_contains (interrupted, "sutra: stopped after ");
  sutra_assert_contains (interrupted, "(stopped)");
  sutra_assert_contains (interrupted, "sutra resume ");
  g_assert_null (strchr (interrupted, '\033'));
  g_assert_null (strchr (interrupted, '\r'));

  {
    const char *argv[] = { sutra, "resume", job, NULL };

    status = run_cli (dir, argv, FALSE, &resumed);
  }
  g_test_message ("stderr of the resumed run:\n%s", resumed);
  g_assert_cmpint (status, ==, 0);
  sutra_assert_contains (resumed, "sutra: finished in ");
  sutra_assert_contains (resumed, " resumed");
  output_line = g_strdup_printf ("sutra: output: out.jsonl\n");
  sutra_assert_contains (resumed, output_line);
  g_assert_null (strchr (resumed, '\033'));
}

static void
test_progress_cli_many_failures (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *sutra = NULL;
  g_autofree char *pipeline = NULL;
  g_autofree char *input = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GString) lines = g_string_new (NULL);
  int status;

  g_test_summary ("A run with many failed items: the summary counts them, the first 20 are "
                  "listed and the rest counted, with where to find them all");
  if (registry_problem != NULL)
    {
      g_test_skip_printf ("the plugins could not be loaded: %s", registry_problem);
      return;
    }
  dir = sutra_test_dir ();
  sutra = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  for (guint i = 1; i <= 200; i++)
    g_string_append_printf (lines, "line %u\n", i);
  input = sutra_test_write (dir, "in.txt", lines->str, lines->len);
  /* in:1, in:10 to in:19 and in:100 to in:199 fail: 111 items. */
  pipeline = sutra_test_write (
    dir, "fail.json",
    "{ \"sutra\": 1, \"name\": \"fail\", \"stages\": {"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },"
    "  \"boom\": { \"plugin\": \"fault\", \"input\": \"read\", \"on_error\": \"skip\","
    "            \"params\": { \"fail_on\": \"in:1*\" } },"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"boom\","
    "             \"params\": { \"path\": \"out.jsonl\" } } } }",
    -1);
  {
    const char *argv[] = { sutra, "run", pipeline, "--job", "job", NULL };

    status = run_cli (dir, argv, FALSE, &err);
  }
  g_test_message ("stderr:\n%s", err);
  g_assert_cmpint (status, ==, 0);
  sutra_assert_contains (err, "  boom  89 done, 111 failed");
  g_assert_cmpuint (sutra_test_count (err, "failed and was skipped"), ==, 20);
  sutra_assert_contains (err, "sutra: … and 91 more failures; all of them: sutra status ");
  sutra_assert_contains (err, "sutra: 111 items failed; try them again with");
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
  g_test_add_func ("/engine/progress/cli-interrupt-and-resume",
                   test_progress_cli_interrupt_and_resume);
  g_test_add_func ("/engine/progress/cli-many-failures", test_progress_cli_many_failures);
  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
