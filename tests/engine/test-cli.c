/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-main.c: the sutra command line, end to end. */

/*
 * Each test runs the sutra built beside it ($SUTRA_BUILD_ROOT/engine/sutra)
 * as a child process in a directory of the test's own, and checks its exit
 * status, what it prints and the files it writes.
 */

#include "sutra-test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>

#define TIMEOUT_S 60

typedef struct
{
  int status; /* the exit status, or 1000 + the signal that killed it */
  char *out;
  char *err;
} Result;

static void
result_clear (Result *result)
{
  g_free (result->out);
  g_free (result->err);
}

static char *
sutra_path (void)
{
  return g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
}

static GSubprocessLauncher *
launcher_new (const char *cwd, GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_cwd (launcher, cwd);
  /* Messages quote with “ ” and GOption converts to the locale's charset. */
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  return launcher;
}

/* Cancels @data (a GCancellable) unless the test finishes first. */
typedef struct
{
  GCancellable *cancellable;
  gint done;
  guint seconds;
} Watchdog;

static gpointer
watchdog_thread (gpointer data)
{
  Watchdog *watchdog = data;

  for (guint i = 0; i < watchdog->seconds * 20; i++)
    {
      if (g_atomic_int_get (&watchdog->done))
        return NULL;
      g_usleep (50000);
    }
  g_cancellable_cancel (watchdog->cancellable);
  return NULL;
}

static int
exit_status (GSubprocess *process)
{
  if (g_subprocess_get_if_exited (process))
    return g_subprocess_get_exit_status (process);
  return 1000 + g_subprocess_get_term_sig (process);
}

/* Waits for @process, at most TIMEOUT_S seconds (then kills it and fails). */
static int
wait_process (GSubprocess *process)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  Watchdog watchdog = { cancellable, 0, TIMEOUT_S };
  GThread *thread = g_thread_new ("watchdog", watchdog_thread, &watchdog);

  g_subprocess_wait (process, cancellable, &error);
  g_atomic_int_set (&watchdog.done, 1);
  g_thread_join (thread);
  if (error != NULL)
    {
      g_subprocess_force_exit (process);
      g_subprocess_wait (process, NULL, NULL);
    }
  g_assert_no_error (error);
  return exit_status (process);
}

/* Where the next run's stdout or stderr goes: a file beside the test's
 * working directory (the tests look at what sutra leaves in it). */
static char *
capture_path (const char *stream)
{
  static guint runs;
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "captured", NULL);
  g_autofree char *name = g_strdup_printf ("%u.%s", runs++ / 2, stream);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  return g_build_filename (dir, name, NULL);
}

static char *
read_capture (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* Runs sutra with @args (NULL-terminated) in @cwd.
 *
 * Its stdout and stderr go to files, not pipes: g_subprocess_communicate()
 * closes the pipes from GTask's thread pool, and one run of this test in
 * about forty aborted on a damaged heap when a pool thread exited
 * ("tcache_thread_shutdown(): unaligned tcache chunk detected", GLib 2.74).
 * Waiting alone uses no pool thread. */
static void
run_sutra (Result *result, const char *cwd, const char *const *args)
{
  g_autoptr (GSubprocessLauncher) launcher = launcher_new (cwd, G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) line = g_string_new ("sutra");
  g_autofree char *out_path = capture_path ("out");
  g_autofree char *err_path = capture_path ("err");

  g_ptr_array_add (argv, sutra_path ());
  for (guint i = 0; args[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup (args[i]));
      g_string_append_printf (line, " %s", args[i]);
    }
  g_ptr_array_add (argv, NULL);
  g_test_message ("$ %s", line->str);
  g_subprocess_launcher_set_stdout_file_path (launcher, out_path);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);

  result->status = wait_process (process);
  result->out = read_capture (out_path);
  result->err = read_capture (err_path);
  g_test_message ("exit %d\nstdout:\n%s\nstderr:\n%s", result->status, result->out, result->err);
}

#define RUN(result, cwd, ...)                     \
  G_STMT_START                                    \
  {                                               \
    const char *args__[] = { __VA_ARGS__, NULL }; \
    run_sutra (result, cwd, args__);              \
  }                                               \
  G_STMT_END

static char *
source_file (const char *relative)
{
  return g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), relative, NULL);
}

static const char *const commands[] = {
  "run",      "resume", "status",  "jobs",    "report",  "gc",
  "validate", "graph",  "plugins", "inspect", "devices", NULL,
};

/* The exit statuses each command's --help lists, and only those. */
static const struct
{
  const char *command;
  const char *listed;   /* statuses it can return */
  const char *unlisted; /* statuses it cannot */
} command_statuses[] = {
  { "run", "0 1 2 3 5 130", "4" },      { "resume", "0 1 2 3 5 130", "4" },
  { "status", "0 2 5", "1 3 4 130" },   { "jobs", "0 2 5", "1 3 4 130" },
  { "report", "0 2 5", "1 3 4 130" },   { "gc", "0 2 5", "1 3 4 130" },
  { "validate", "0 2 3", "1 4 5 130" }, { "graph", "0 2 3", "1 4 5 130" },
  { "plugins", "0 2", "1 3 4 5 130" },  { "inspect", "0 2 4", "1 3 5 130" },
  { "devices", "0 2", "1 3 4 5 130" },
};

static const char *const exit_statuses[] = { "  0 ", "  1 ",   "  2 ", "  3 ",
                                             "  4 ", "  130 ", "143",  NULL };

/* A pipeline with three problems: a typo in a key, a bad enum value and an
 * input that names no stage. */
static const char broken_pipeline[] =
  "{\n"
  "  \"sutra\": 1,\n"
  "  \"stages\": {\n"
  "    \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\", \"format\": "
  "\"line\" } },\n"
  "    \"pass\": { \"plugin\": \"identity\", \"input\": \"read\", \"wokers\": 2 },\n"
  "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pas\", \"params\": { \"path\": "
  "\"out.jsonl\" } }\n"
  "  }\n"
  "}\n";

static const char fault_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"faulty\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },\n"
  "  \"bad\": { \"plugin\": \"fault\", \"input\": \"read\", \"params\": { \"fail_on\": "
  "\"in:3\", \"sleep_us\": \"${sleep}\" } },\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"bad\", \"params\": { \"path\": "
  "\"out.jsonl\" } }\n"
  "} }\n";

static void
test_cli_version (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("sutra --version prints the release and the plugin ABI");
  RUN (&result, dir, "--version");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.out, ==, "sutra 0.1.0 (plugin ABI 2.3)\n");
  result_clear (&result);
}

static void
test_cli_help (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("sutra --help lists every command and every exit status");
  RUN (&result, dir, "--help");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "Usage: sutra COMMAND");
  for (guint i = 0; commands[i] != NULL; i++)
    {
      g_autofree char *entry = g_strdup_printf ("\n  %s ", commands[i]);
      sutra_assert_contains (result.out, entry);
    }
  sutra_assert_contains (result.out, "Exit status:");
  for (guint i = 0; exit_statuses[i] != NULL; i++)
    sutra_assert_contains (result.out, exit_statuses[i]);
  sutra_assert_contains (result.out, "SIGINT");
  result_clear (&result);

  RUN (&result, dir, "help");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "Commands:");
  result_clear (&result);
}

static void
test_cli_no_command (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;
  const char *args[] = { NULL };

  g_test_summary ("sutra with no command prints the usage on stderr and exits 2");
  run_sutra (&result, dir, args);
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "Usage: sutra COMMAND");
  g_assert_cmpstr (result.out, ==, "");
  result_clear (&result);
}

static void
test_cli_command_help (gconstpointer data)
{
  const char *command = data;
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *usage = g_strdup_printf ("sutra %s [OPTION", command);
  Result result;

  g_test_summary ("Every command has --help: its usage, options and the exit statuses it can "
                  "return, and no other");
  RUN (&result, dir, command, "--help");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "Usage:");
  sutra_assert_contains (result.out, usage);
  sutra_assert_contains (result.out, "--help");
  sutra_assert_contains (result.out, "Exit status:");
  for (guint i = 0; i < G_N_ELEMENTS (command_statuses); i++)
    {
      g_auto (GStrv) listed = NULL;
      g_auto (GStrv) unlisted = NULL;

      if (strcmp (command_statuses[i].command, command) != 0)
        continue;
      listed = g_strsplit (command_statuses[i].listed, " ", -1);
      unlisted = g_strsplit (command_statuses[i].unlisted, " ", -1);
      for (guint j = 0; listed[j] != NULL; j++)
        {
          g_autofree char *line = g_strdup_printf ("\n  %-4s ", listed[j]);
          sutra_assert_contains (result.out, line);
        }
      for (guint j = 0; unlisted[j] != NULL; j++)
        {
          g_autofree char *line = g_strdup_printf ("\n  %-4s ", unlisted[j]);
          sutra_assert_not_contains (result.out, line);
        }
    }
  result_clear (&result);
}

static void
test_cli_unknown_command (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("An unknown command exits 2, suggesting the command that was meant");
  RUN (&result, dir, "rnu", "x.json");
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "unknown command “rnu”; did you mean “run”?");
  result_clear (&result);

  RUN (&result, dir, "validat", "x.json");
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "did you mean “validate”?");
  result_clear (&result);

  RUN (&result, dir, "frobnicate");
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "unknown command “frobnicate”");
  sutra_assert_not_contains (result.err, "did you mean");
  result_clear (&result);
}

static void
test_cli_bad_usage (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("An unknown option or a missing argument exits 2");
  RUN (&result, dir, "run", "--frobnicate", "x.json");
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "--frobnicate");
  result_clear (&result);

  RUN (&result, dir, "validate");
  g_assert_cmpint (result.status, ==, 2);
  result_clear (&result);

  RUN (&result, dir, "inspect", "a", "b");
  g_assert_cmpint (result.status, ==, 2);
  result_clear (&result);
}

static void
test_cli_validate_broken (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *in = sutra_test_write (dir, "in.txt", "a\n", -1);
  g_autofree char *path = sutra_test_write (dir, "broken.json", broken_pipeline, -1);
  g_autofree char *part = g_build_filename (dir, "out.jsonl.part", NULL);
  Result result;

  g_test_summary ("sutra validate on a file with three problems exits 3 and prints all three "
                  "with line, column, stage and key");
  RUN (&result, dir, "validate", "broken.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "broken.json: 3 problems:");
  sutra_assert_contains (result.err, "broken.json:4:70: stage “read”: parameter “format”: “line” "
                                     "is not a valid choice; did you mean “lines”?");
  sutra_assert_contains (result.err, "broken.json:5:54: stage “pass”: unknown stage key “wokers”; "
                                     "did you mean “workers”?");
  sutra_assert_contains (result.err, "broken.json:6:40: stage “write”: input “pas” names no "
                                     "stage; did you mean “pass”?");
  g_assert_cmpstr (result.out, ==, "");
  result_clear (&result);

  /* The same problems stop `run` before anything runs. */
  RUN (&result, dir, "run", "--no-job", "broken.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "3 problems");
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  result_clear (&result);
}

static void
test_cli_validate (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  Result result;

  g_test_summary ("sutra validate accepts a valid file, with --set; a --set naming no stage "
                  "and a file that does not exist exit 3");
  RUN (&result, dir, "validate", demo, "--set", set_input, "--set", "output=out.jsonl");
  if (result.status != 0)
    g_test_message ("sutra validate said: %s", result.err);
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "valid: 3 stages");
  result_clear (&result);

  RUN (&result, dir, "validate", demo, "--set", set_input, "--set", "nosuch.workers=2");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "--set “nosuch.workers=2”: no stage named “nosuch”");
  result_clear (&result);

  RUN (&result, dir, "validate", "--set", set_input, "-s", "pass.workers=0", demo);
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "stage “pass”: key “workers”: 0 is out of range");
  result_clear (&result);

  RUN (&result, dir, "validate", "nosuch.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "cannot read pipeline file");
  sutra_assert_contains (result.err, "nosuch.json");
  result_clear (&result);
}

static GString *
expected_lines (const char *path, const char *stem)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  GString *out = g_string_new (NULL);
  guint n;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  n = g_strv_length (lines);
  if (n > 0 && lines[n - 1][0] == '\0')
    n--; /* the text ends with a newline */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("%s:%u", stem, i + 1);
      sutra_test_append_record (out, id, lines[i], strlen (lines[i]));
    }
  return out;
}

static void
test_cli_run_demo (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autofree char *output = g_build_filename (dir, "demo.jsonl", NULL);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GString) expected = expected_lines (sample, "sample");
  Result result;

  g_test_summary ("sutra run of pipelines/lines.json with --set input= output= exits 0 and "
                  "writes every line of the input as JSON, in order; running it again "
                  "gives the same file");
  RUN (&result, dir, "run", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_file_get_contents (output, &first, NULL, NULL));
  g_assert_cmpstr (first, ==, expected->str);
  {
    g_autofree char *part = g_strconcat (output, ".part", NULL);
    g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  }
  result_clear (&result);

  RUN (&result, dir, "run", "-q", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_file_get_contents (output, &second, NULL, NULL));
  g_assert_cmpstr (second, ==, first);
  result_clear (&result);

  RUN (&result, dir, "run", "--no-job", "-q", demo, "--set", set_input, "--set",
       "output=demo.jsonl", "--set", "pass.workers=4", "--set", "pass.batch=1");
  g_assert_cmpint (result.status, ==, 0);
  g_clear_pointer (&second, g_free);
  g_assert_true (g_file_get_contents (output, &second, NULL, NULL));
  g_assert_cmpstr (second, ==, first);
  result_clear (&result);
}

static void
test_cli_run_failing (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *in = sutra_test_write (dir, "in.txt", "one\ntwo\nthree\nfour\n", -1);
  g_autofree char *path = sutra_test_write (dir, "faulty.json", fault_pipeline, -1);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *part = g_build_filename (dir, "out.jsonl.part", NULL);
  Result result;

  g_test_summary ("sutra run with a stage that fails an item exits 1, names the stage and "
                  "the item, and leaves the sink's output as a .part file");
  RUN (&result, dir, "run", "--no-job", "faulty.json", "--set", "sleep=0");
  g_assert_cmpint (result.status, ==, 1);
  sutra_assert_contains (result.err, "stage “bad”, item “in:3”");
  sutra_assert_contains (result.err, "failing on purpose at item “in:3”");
  sutra_assert_contains (result.err, ".part");
  /* With no job there is nothing to resume: no "sutra resume" hint. */
  sutra_assert_not_contains (result.err, "sutra resume");
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  result_clear (&result);
}

static void
test_cli_run_skip (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *in = sutra_test_write (dir, "in.txt", "one\ntwo\nthree\nfour\n", -1);
  g_autofree char *path = sutra_test_write (dir, "faulty.json", fault_pipeline, -1);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *contents = NULL;
  Result result;

  g_test_summary ("With on_error skip the run succeeds, writes the other items and reports "
                  "the skipped one on stderr");
  RUN (&result, dir, "run", "--no-job", "-q", "faulty.json", "--set", "sleep=0", "--set",
       "bad.on_error=skip");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err, "stage “bad”: item “in:3” failed and was skipped");
  g_assert_true (g_file_get_contents (output, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==,
                   "{\"id\":\"in:1\",\"text\":\"one\"}\n{\"id\":\"in:2\",\"text\":\"two\"}\n"
                   "{\"id\":\"in:4\",\"text\":\"four\"}\n");
  result_clear (&result);
}

/* A map whose batches shards divide: work, a fault stage that fails on the
 * item ${fail} ("none" for none), 4 items a batch. */
static const char shard_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"sharded\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } },\n"
  "  \"work\": { \"plugin\": \"fault\", \"input\": \"read\", \"batch\": 4, \"params\": { "
  "\"fail_on\": \"${fail}\" } },\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"work\", \"params\": { \"path\": "
  "\"out.jsonl\" } }\n"
  "} }\n";

static void
test_cli_shards (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autofree char *in = NULL;
  g_autofree char *path = sutra_test_write (dir, "sharded.json", shard_pipeline, -1);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *plain = NULL;
  g_autofree char *gathered = NULL;
  Result result;

  g_test_bug ("14");
  g_test_summary ("Three shards and a gather write what one run writes; the gather with "
                  "--missing fail names the shard that has not finished; a shard that fails "
                  "names its own command to resume it, and `sutra resume` and a run without "
                  "its --shard refuse its job directory");
  /* 30 items, 8 batches: shard 1 of 3 has batches 1, 4 and 7 (in:5 to in:8 ...). */
  for (guint i = 1; i <= 30; i++)
    g_string_append_printf (lines, "line %u\n", i);
  in = sutra_test_write (dir, "in.txt", lines->str, -1);
  RUN (&result, dir, "run", "--no-job", "-q", "sharded.json", "--set", "fail=none");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_file_get_contents (output, &plain, NULL, NULL));
  g_assert_cmpint (g_unlink (output), ==, 0);
  result_clear (&result);

  RUN (&result, dir, "run", "sharded.json", "--set", "fail=none", "--cache", "store", "--shard",
       "gather", "--missing", "fail");
  g_assert_cmpint (result.status, ==, 1);
  sutra_assert_contains (result.err, "--missing fail: no shard has finished");
  result_clear (&result);

  RUN (&result, dir, "run", "sharded.json", "--set", "fail=none", "--cache", "store", "--shard",
       "0/3", "--job", "j0");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err, "shard 0 of 3");
  sutra_assert_contains (result.err, "left to other shards");
  result_clear (&result);
  RUN (&result, dir, "run", "-q", "sharded.json", "--set", "fail=none", "--cache", "store",
       "--shard", "2/3", "--job", "j2");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);
  /* The shards left the output to the gather. */
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));

  RUN (&result, dir, "run", "sharded.json", "--set", "fail=none", "--cache", "store", "--shard",
       "gather", "--missing", "fail");
  g_assert_cmpint (result.status, ==, 1);
  sutra_assert_contains (result.err, "shard 1-of-3 of this work has not finished");
  sutra_assert_contains (result.err, "--array=1");
  /* Nothing ran: the advice is the shard, not a resume of the gather. */
  sutra_assert_not_contains (result.err, "sutra resume");
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  result_clear (&result);

  RUN (&result, dir, "run", "sharded.json", "--set", "fail=in:6", "--cache", "store", "--shard",
       "1/3", "--job", "jfail");
  g_assert_cmpint (result.status, ==, 1);
  sutra_assert_contains (result.err, "failing on purpose at item “in:6”");
  sutra_assert_contains (result.err, "the command that ran this shard, again: sutra run "
                                     "PIPELINE --shard 1/3 --cache DIR");
  sutra_assert_not_contains (result.err, "sutra resume");
  result_clear (&result);
  RUN (&result, dir, "resume", "jfail");
  g_assert_cmpint (result.status, ==, 2);
  sutra_assert_contains (result.err, "is shard 1/3 of a sharded run");
  result_clear (&result);
  RUN (&result, dir, "run", "sharded.json", "--set", "fail=none", "--cache", "store", "--job",
       "j0");
  g_assert_cmpint (result.status, ==, 5);
  sutra_assert_contains (result.err, "is shard 0/3 of a sharded run");
  result_clear (&result);

  RUN (&result, dir, "run", "-q", "sharded.json", "--set", "fail=none", "--cache", "store",
       "--shard", "1/3", "--job", "j1");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);
  RUN (&result, dir, "run", "-q", "sharded.json", "--set", "fail=none", "--cache", "store",
       "--shard", "gather", "--missing", "fail");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_file_get_contents (output, &gathered, NULL, NULL));
  g_assert_cmpstr (gathered, ==, plain);
  result_clear (&result);
}

/* The job directory a run printed ("sutra: job directory: DIR"). */
static char *
printed_job_dir (const char *err)
{
  const char *start = strstr (err, "job directory: ");
  const char *end;

  g_assert_nonnull (start);
  start += strlen ("job directory: ");
  end = strchr (start, '\n');
  g_assert_nonnull (end);
  return g_strndup (start, end - start);
}

static void
test_cli_run_up_to_date (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autofree char *output = g_build_filename (dir, "demo.jsonl", NULL);
  g_autofree char *output_line = g_strdup_printf ("\n  %s\n", output);
  g_autofree char *job = NULL;
  g_autofree char *tuned_job = NULL;
  g_autofree char *in = g_build_filename (dir, "in.txt", NULL);
  g_autofree char *faulty = sutra_test_write (dir, "faulty.json", fault_pipeline, -1);
  Result result;

  g_test_bug ("9");
  g_test_summary ("Running a finished job again says it is up to date and where its output "
                  "is, not a table of zeros, and exits 0; --quiet prints nothing; tuning "
                  "workers and queue with --set finds the same job, up to date");
  RUN (&result, dir, "run", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  job = printed_job_dir (result.err);
  result_clear (&result);

  RUN (&result, dir, "run", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err, "is up to date: nothing to compute");
  sutra_assert_contains (result.err, output_line);
  /* No per-stage table: every stage would say 0 computed. */
  sutra_assert_not_contains (result.err, "done");
  sutra_assert_not_contains (result.err, "/s ");
  result_clear (&result);

  RUN (&result, dir, "run", "--quiet", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  result_clear (&result);

  RUN (&result, dir, "run", demo, "--set", set_input, "--set", "output=demo.jsonl", "--set",
       "pass.workers=3", "--set", "pass.queue=64", "--set", "pass.batch=2");
  g_assert_cmpint (result.status, ==, 0);
  tuned_job = printed_job_dir (result.err);
  g_assert_cmpstr (tuned_job, ==, job);
  sutra_assert_not_contains (result.err, "differs");
  sutra_assert_contains (result.err, "is up to date");
  result_clear (&result);

  /* Up to date with items skipped: it says so, and how to retry them. */
  g_assert_true (g_file_set_contents (in, "one\ntwo\nthree\nfour\n", -1, NULL));
  for (guint run = 0; run < 2; run++)
    {
      RUN (&result, dir, "run", "faulty.json", "--set", "sleep=0", "--set", "bad.on_error=skip");
      g_assert_cmpint (result.status, ==, 0);
      if (run == 1)
        {
          sutra_assert_contains (result.err, "is up to date");
          sutra_assert_contains (result.err, "1 item failed in earlier runs and was skipped");
          sutra_assert_contains (result.err, "sutra resume --retry-failed");
        }
      result_clear (&result);
    }
}

static void
test_cli_jobs (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *empty = g_build_filename (dir, "empty", NULL);
  g_autofree char *in = sutra_test_write (dir, "in.txt", "one\ntwo\nthree\nfour\n", -1);
  g_autofree char *path = sutra_test_write (dir, "faulty.json", fault_pipeline, -1);
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *faulty_job = NULL;
  JsonArray *jobs;
  JsonObject *first;
  const char *faulty_row, *demo_row;
  Result result;

  g_test_bug ("9");
  g_test_summary ("sutra jobs lists the jobs in .sutra/jobs, oldest first: directory, "
                  "pipeline file, inputs, state, start and duration (--json: all of it); "
                  "sutra jobs DIR lists a job kept elsewhere; a missing DIR exits 5");
  g_assert_cmpint (g_mkdir (empty, 0700), ==, 0);
  RUN (&result, empty, "jobs");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "no jobs in .sutra/jobs");
  result_clear (&result);

  /* The failing job first, so that time order and name order differ. */
  RUN (&result, dir, "run", "faulty.json", "--set", "sleep=0");
  g_assert_cmpint (result.status, ==, 1);
  faulty_job = printed_job_dir (result.err);
  result_clear (&result);
  RUN (&result, dir, "run", "-q", demo, "--set", set_input, "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);
  RUN (&result, dir, "run", "-q", demo, "--set", set_input, "--set", "output=other.jsonl", "--job",
       "elsewhere/mine", "--cache", "shared");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);

  RUN (&result, dir, "jobs");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "JOB");
  sutra_assert_contains (result.out, "PIPELINE");
  sutra_assert_contains (result.out, "INPUTS");
  sutra_assert_contains (result.out, "STATE");
  sutra_assert_contains (result.out, "STARTED");
  sutra_assert_contains (result.out, "DURATION");
  faulty_row = strstr (result.out, faulty_job);
  demo_row = strstr (result.out, ".sutra/jobs/lines-");
  g_assert_nonnull (faulty_row);
  g_assert_nonnull (demo_row);
  g_assert_true (faulty_row < demo_row);
  sutra_assert_contains (faulty_row, "faulty.json");
  sutra_assert_contains (faulty_row, "in.txt");
  sutra_assert_contains (faulty_row, "failed");
  sutra_assert_contains (demo_row, "lines.json");
  sutra_assert_contains (demo_row, "sample.txt");
  sutra_assert_contains (demo_row, "done");
  /* Not there: it was kept elsewhere with --job. */
  sutra_assert_not_contains (result.out, "mine");
  result_clear (&result);

  RUN (&result, dir, "jobs", "--json");
  g_assert_cmpint (result.status, ==, 0);
  json_parser_load_from_data (parser, result.out, -1, &error);
  g_assert_no_error (error);
  jobs = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (jobs), ==, 2);
  first = json_array_get_object_element (jobs, 0);
  g_assert_cmpstr (json_object_get_string_member (first, "job"), ==, faulty_job);
  g_assert_cmpstr (json_object_get_string_member (first, "state"), ==, "failed");
  g_assert_true (
    g_str_has_suffix (json_object_get_string_member (first, "pipeline_file"), "/faulty.json"));
  g_assert_true (
    g_str_has_suffix (json_array_get_string_element (json_object_get_array_member (first, "inputs"),
                                                     0),
                      "/in.txt"));
  g_assert_true (g_str_has_suffix (
    json_array_get_string_element (json_object_get_array_member (first, "outputs"), 0),
    "/out.jsonl"));
  g_assert_nonnull (json_object_get_string_member (first, "started"));
  g_assert_cmpfloat (json_object_get_double_member (first, "seconds"), >=, 0);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (first, "command"),
                                                  1),
                   ==, "run");
  result_clear (&result);

  RUN (&result, dir, "jobs", "elsewhere");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "elsewhere/mine");
  sutra_assert_contains (result.out, "done");
  result_clear (&result);

  /* The jobs that use a shared store. */
  RUN (&result, dir, "jobs", "--cache", "shared");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "/elsewhere/mine");
  sutra_assert_not_contains (result.out, faulty_job);
  result_clear (&result);

  RUN (&result, dir, "jobs", "no-such-dir");
  g_assert_cmpint (result.status, ==, 5);
  sutra_assert_contains (result.err, "“no-such-dir”");
  result_clear (&result);
}

static void
test_cli_status_run_record (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autofree char *output = g_build_filename (dir, "demo.jsonl", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *report;
  Result result;

  g_test_bug ("9");
  g_test_summary ("sutra status shows when the job started, the command that ran it, its "
                  "pipeline file, inputs and outputs");
  RUN (&result, dir, "run", "-q", demo, "--set", set_input, "--set", "output=demo.jsonl", "--job",
       "job");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);

  RUN (&result, dir, "status", "job");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "job job: done");
  sutra_assert_contains (result.out, "\n  started   ");
  sutra_assert_contains (result.out, "\n  command   sutra run -q ");
  sutra_assert_contains (result.out, "output=demo.jsonl --job job\n");
  sutra_assert_contains (result.out, demo);
  sutra_assert_contains (result.out, sample);
  sutra_assert_contains (result.out, output);
  result_clear (&result);

  RUN (&result, dir, "status", "--json", "job");
  g_assert_cmpint (result.status, ==, 0);
  json_parser_load_from_data (parser, result.out, -1, &error);
  g_assert_no_error (error);
  report = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (report, "pipeline_file"), ==, demo);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (report, "inputs"),
                                                  0),
                   ==, sample);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (report, "outputs"),
                                                  0),
                   ==, output);
  g_assert_nonnull (json_object_get_string_member (report, "started"));
  g_assert_nonnull (json_object_get_string_member (report, "last_finished"));
  result_clear (&result);
}

static void
test_cli_devices_summary (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonArray *stages;
  gint64 done = -1;
  gboolean seen = FALSE;
  Result result;

  g_test_summary ("A stage given devices: the run's summary, sutra status (text and "
                  "--json) and sutra report say how many items each device computed; stages "
                  "given none say nothing of devices");
  RUN (&result, dir, "run", demo, "--set", set_input, "--set", "output=out.jsonl", "--set",
       "pass.devices=[\"cpu\", \"cpu\"]", "--job", "job");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err, " on cpu ");
  g_assert_null (strstr (result.err, "cuda"));
  result_clear (&result);

  RUN (&result, dir, "status", "job");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, " on cpu ");
  result_clear (&result);

  RUN (&result, dir, "status", "--json", "job");
  g_assert_cmpint (result.status, ==, 0);
  json_parser_load_from_data (parser, result.out, -1, &error);
  g_assert_no_error (error);
  stages =
    json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "stages");
  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonObject *stage = json_array_get_object_element (stages, i);
      const char *name = json_object_get_string_member (stage, "stage");

      if (g_strcmp0 (name, "pass") == 0)
        {
          JsonObject *devices = json_object_get_object_member (stage, "devices");

          g_assert_nonnull (devices);
          done = json_object_get_int_member (stage, "done");
          g_assert_cmpint (done, >, 0);
          g_assert_cmpint (json_object_get_int_member (devices, "cpu"), ==, done);
          seen = TRUE;
        }
      else
        g_assert_false (json_object_has_member (stage, "devices"));
    }
  g_assert_true (seen);
  result_clear (&result);

  RUN (&result, dir, "report", "job", "-o", "report.html");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);
  {
    g_autofree char *html_path = g_build_filename (dir, "report.html", NULL);
    g_autofree char *html = NULL;

    g_assert_true (g_file_get_contents (html_path, &html, NULL, &error));
    sutra_assert_contains (html, "<span class=\"devices\">on cpu ");
  }

  /* A GPU no machine has (cuda:1024), with device_fallback: valid, with a
   * warning that names the file position, the stage and the device. */
  RUN (&result, dir, "validate", demo, "--set", set_input, "--set", "pass.plugin=dhatu", "--set",
       "pass.format=json", "--set", "pass.devices=[\"cuda:1024\"]", "--set",
       "pass.device_fallback=cpu");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "valid: 3 stages");
  sutra_assert_contains (result.err, "warning: ");
  sutra_assert_contains (result.err, "lines.json:");
  sutra_assert_contains (result.err, "stage “pass”: device “cuda:1024” does not exist");
  result_clear (&result);
}

static void
test_cli_inspect (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("sutra inspect prints a stage's parameters with type, default, range and "
                  "doc; a plugin's stages; and exits 4 with a suggestion for an unknown name");
  RUN (&result, dir, "inspect", "identity");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "identity");
  sutra_assert_contains (result.out, "map");
  sutra_assert_contains (result.out, "sleep_us");
  sutra_assert_contains (result.out, "int");
  sutra_assert_contains (result.out, "default 0");
  sutra_assert_contains (result.out, "range 0..2147483647");
  sutra_assert_contains (result.out, "Microseconds to sleep per item");
  sutra_assert_contains (result.out, "threading:");
  sutra_assert_contains (result.out, "devices:   cpu");
  result_clear (&result);

  RUN (&result, dir, "inspect", "text-source");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "path");
  sutra_assert_contains (result.out, "required");
  sutra_assert_contains (result.out, "range lines|jsonl|document");
  sutra_assert_contains (result.out, "default \"lines\"");
  result_clear (&result);

  RUN (&result, dir, "inspect", "nosuch");
  g_assert_cmpint (result.status, ==, 4);
  sutra_assert_contains (result.err, "no plugin or stage named “nosuch”");
  sutra_assert_contains (result.err, "Known: ");
  sutra_assert_contains (result.err, "“identity”");
  g_assert_cmpstr (result.out, ==, "");
  result_clear (&result);

  RUN (&result, dir, "inspect", "identiy");
  g_assert_cmpint (result.status, ==, 4);
  sutra_assert_contains (result.err, "did you mean “identity”?");
  result_clear (&result);
}

static void
test_cli_graph (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  Result result;

  g_test_summary ("sutra graph prints the pipeline as DOT");
  RUN (&result, dir, "graph", demo, "--set", set_input);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_str_has_prefix (result.out, "digraph \"lines\" {"));
  sutra_assert_contains (result.out, "\"read\" -> \"pass\"");
  sutra_assert_contains (result.out, "\"pass\" -> \"write\"");
  sutra_assert_contains (result.out, "workers 2, batch 256");
  g_assert_true (g_str_has_suffix (result.out, "}\n"));
  result_clear (&result);

  RUN (&result, dir, "graph", "nosuch.json");
  g_assert_cmpint (result.status, ==, 3);
  result_clear (&result);
}

static void
test_cli_graph_unset_variables (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/demo.json");
  g_autofree char *path = sutra_test_write (
    dir, "vars.json",
    "{ \"sutra\": 1, \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${book}\" } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"read\",\n"
    "             \"params\": { \"path\": \"${out}/x.jsonl\" } } } }\n",
    -1);
  Result result;

  g_test_summary ("sutra graph draws a pipeline whose ${vars} are unset and whose files do "
                  "not exist; validate refuses it");
  RUN (&result, dir, "graph", "vars.json");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "\"read\" -> \"write\"");
  result_clear (&result);

  /* demo.json's default input is relative to the source tree, not to @dir. */
  RUN (&result, dir, "graph", demo);
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "\"pace\" -> \"write\"");
  result_clear (&result);

  RUN (&result, dir, "validate", "vars.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "unresolved variable ${book}");
  result_clear (&result);
}

static void
test_cli_validate_limits (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GString) deep = g_string_new ("{ \"sutra\": 1, \"stages\": ");
  g_autofree char *path = NULL;
  g_autofree char *part = g_build_filename (dir, ".part", NULL);
  Result result;

  g_test_bug ("15");
  g_test_summary ("sutra validate refuses an array nested 100,000 deep (it crashed) with "
                  "file:line:col and the limit; run refuses an empty output path before "
                  "running (it left a .part file)");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, "}\n");
  path = sutra_test_write (dir, "deep.json", deep->str, deep->len);
  RUN (&result, dir, "validate", "deep.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "deep.json:1:88: nested deeper than 64 levels");
  result_clear (&result);

  g_free (path);
  path = sutra_test_write (dir, "empty.json",
                           "{ \"sutra\": 1, \"stages\": {\n"
                           "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": "
                           "\"empty.json\" } },\n"
                           "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"read\", "
                           "\"params\": { \"path\": \"\" } } } }\n",
                           -1);
  RUN (&result, dir, "run", "--no-job", "empty.json");
  g_assert_cmpint (result.status, ==, 3);
  sutra_assert_contains (result.err, "empty.json:3:");
  sutra_assert_contains (result.err, "stage “write”: parameter “path” is empty");
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  result_clear (&result);
}

static void
test_cli_plugins (void)
{
  g_autofree char *dir = sutra_test_dir ();
  static const char *const expected[] = { "fault",     "file-sink",   "identity",   "jsonl-sink",
                                          "text-join", "text-source", "text-split", NULL };
  Result result;

  g_test_summary ("sutra plugins lists each plugin with its version, path and stages");
  RUN (&result, dir, "plugins");
  g_assert_cmpint (result.status, ==, 0);
  for (guint i = 0; expected[i] != NULL; i++)
    {
      g_autofree char *heading = g_strdup_printf ("%s 1.0.0 — ", expected[i]);
      g_autofree char *stage = g_strdup_printf ("    stage %s ", expected[i]);
      g_autofree char *file = g_strdup_printf ("/%s.so", expected[i]);

      sutra_assert_contains (result.out, heading);
      sutra_assert_contains (result.out, stage);
      sutra_assert_contains (result.out, file);
    }
  g_assert_cmpstr (result.err, ==, "");
  result_clear (&result);
}

static void
test_cli_plugin_path (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *extra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine", "plugins", "dup-a", NULL);
  g_autofree char *broken = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                              "plugins", "abi-major.so", NULL);
  Result result;

  g_test_summary ("--plugin-path loads more plugins; a broken one is a warning that names "
                  "it, and the others still work");
  RUN (&result, dir, "plugins", "--plugin-path", extra);
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, "twin 0.0.1");
  sutra_assert_contains (result.out, "stage twin-a");
  result_clear (&result);

  RUN (&result, dir, "inspect", "-P", broken, "identity");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err, "warning");
  sutra_assert_contains (result.err, "abi-major.so: built for sutra plugin ABI 3.3");
  sutra_assert_contains (result.out, "sleep_us");
  result_clear (&result);
}

static void
test_cli_devices (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("sutra devices lists the CPU and the GPUs, or why there are none");
  RUN (&result, dir, "devices");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_true (g_str_has_prefix (result.out, "cpu "));
  result_clear (&result);
}

static void
test_cli_events (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *demo = source_file ("pipelines/lines.json");
  g_autofree char *sample = source_file ("data/sample.txt");
  g_autofree char *set_input = g_strconcat ("input=", sample, NULL);
  g_autofree char *events_path = g_build_filename (dir, "events.jsonl", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GHashTable) kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *first = NULL, *last = NULL;
  guint n = 0;
  Result result;

  g_test_summary ("--events FILE writes one JSON object per line: run-started, each stage's "
                  "stage-started, progress and stage-finished, then run-finished");
  RUN (&result, dir, "run", "--no-job", "-q", "--events", "events.jsonl", demo, "--set", set_input,
       "--set", "output=demo.jsonl");
  g_assert_cmpint (result.status, ==, 0);
  result_clear (&result);

  g_assert_true (g_file_get_contents (events_path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      JsonObject *event;
      const char *kind;
      guint count;

      if (lines[i][0] == '\0')
        {
          g_assert_null (lines[i + 1]); /* only after the last newline */
          break;
        }
      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
      event = json_node_get_object (json_parser_get_root (parser));
      kind = json_object_get_string_member_with_default (event, "event", NULL);
      g_assert_nonnull (kind);
      count = GPOINTER_TO_UINT (g_hash_table_lookup (kinds, kind));
      g_hash_table_replace (kinds, g_strdup (kind), GUINT_TO_POINTER (count + 1));
      if (first == NULL)
        first = g_intern_string (kind);
      last = g_intern_string (kind);
      if (g_str_has_prefix (kind, "stage-") || strcmp (kind, "progress") == 0)
        g_assert_true (json_object_has_member (event, "stage"));
      if (strcmp (kind, "run-finished") == 0)
        g_assert_true (json_object_get_boolean_member (event, "ok"));
      n++;
    }
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpstr (first, ==, "run-started");
  g_assert_cmpstr (last, ==, "run-finished");
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (kinds, "stage-started")), ==, 3);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (kinds, "stage-finished")), ==, 3);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (kinds, "progress")), >=, 3);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (kinds, "run-finished")), ==, 1);
}

typedef struct
{
  const char *name;
  int signal_number;
  int status;
  const char *word;
} SignalCase;

static const SignalCase signal_cases[] = {
  { "sigint", SIGINT, 130, "SIGINT" },
  { "sigterm", SIGTERM, 143, "SIGTERM" },
};

static void
test_cli_signal (gconstpointer data)
{
  const SignalCase *row = data;
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autofree char *in = NULL;
  g_autofree char *path = sutra_test_write (dir, "faulty.json", fault_pipeline, -1);
  g_autofree char *part = g_build_filename (dir, "out.jsonl.part", NULL);
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *err_path = g_build_filename (dir, "stderr.txt", NULL);
  g_autofree char *err = NULL;
  g_autofree char *sutra = sutra_path ();
  g_autoptr (GSubprocessLauncher) launcher = launcher_new (dir, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  gint64 deadline, sent;
  int status;

  g_test_summary ("A signal during a slow run stops it cleanly: the exit status says which "
                  "(130 for SIGINT, 143 for SIGTERM) and the output stays a .part file");
  for (guint i = 0; i < 100000; i++)
    g_string_append_printf (lines, "line %u\n", i);
  in = sutra_test_write (dir, "in.txt", lines->str, lines->len);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  /* 1 ms an item, failing none (no item is called "none"): 100 s in all. */
  process =
    g_subprocess_launcher_spawn (launcher, &error, sutra, "run", "--no-job", "-q", "faulty.json",
                                 "--set", "sleep=1000", "--set", "bad.fail_on=none", NULL);
  g_assert_no_error (error);

  /* Wait until the run is under way: the sink has made its .part file. */
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!g_file_test (part, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  g_usleep (200000);
  sent = g_get_monotonic_time ();
  g_subprocess_send_signal (process, row->signal_number);
  status = wait_process (process);
  g_test_message ("stopped %.3f s after the signal", (g_get_monotonic_time () - sent) / 1e6);
  g_assert_true (g_file_get_contents (err_path, &err, NULL, NULL));
  g_test_message ("stderr:\n%s", err);
  g_assert_cmpint (status, ==, row->status);
  sutra_assert_contains (err, row->word);
  /* 100k items at 1 ms each would take 100 s. */
  g_assert_cmpint (g_get_monotonic_time () - sent, <, 15 * G_USEC_PER_SEC);
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/cli/version", test_cli_version);
  g_test_add_func ("/engine/cli/help", test_cli_help);
  g_test_add_func ("/engine/cli/no-command", test_cli_no_command);
  for (guint i = 0; commands[i] != NULL; i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/cli/command-help/%s", commands[i]);
      g_test_add_data_func (path, commands[i], test_cli_command_help);
    }
  g_test_add_func ("/engine/cli/unknown-command", test_cli_unknown_command);
  g_test_add_func ("/engine/cli/bad-usage", test_cli_bad_usage);
  g_test_add_func ("/engine/cli/validate-broken", test_cli_validate_broken);
  g_test_add_func ("/engine/cli/validate", test_cli_validate);
  g_test_add_func ("/engine/cli/run-demo", test_cli_run_demo);
  g_test_add_func ("/engine/cli/run-failing", test_cli_run_failing);
  g_test_add_func ("/engine/cli/run-skip", test_cli_run_skip);
  g_test_add_func ("/engine/cli/run-up-to-date", test_cli_run_up_to_date);
  g_test_add_func ("/engine/cli/shards", test_cli_shards);
  g_test_add_func ("/engine/cli/jobs", test_cli_jobs);
  g_test_add_func ("/engine/cli/status-run-record", test_cli_status_run_record);
  g_test_add_func ("/engine/cli/devices-summary", test_cli_devices_summary);
  g_test_add_func ("/engine/cli/inspect", test_cli_inspect);
  g_test_add_func ("/engine/cli/graph", test_cli_graph);
  g_test_add_func ("/engine/cli/graph-unset-variables", test_cli_graph_unset_variables);
  g_test_add_func ("/engine/cli/validate-limits", test_cli_validate_limits);
  g_test_add_func ("/engine/cli/plugins", test_cli_plugins);
  g_test_add_func ("/engine/cli/plugin-path", test_cli_plugin_path);
  g_test_add_func ("/engine/cli/devices", test_cli_devices);
  g_test_add_func ("/engine/cli/events", test_cli_events);
  for (gsize i = 0; i < G_N_ELEMENTS (signal_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/cli/signal/%s", signal_cases[i].name);
      g_test_add_data_func (path, &signal_cases[i], test_cli_signal);
    }

  return g_test_run ();
}
