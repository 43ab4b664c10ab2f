/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checkpointed resume, end to end: kills, resumes, caches, damage, full disks. */

#include "sutra-test-util.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_LINES 6000

/* A multi-stage pipeline with several workers: a counted map, a split and
 * a gather, so that every kind of stage is killed somewhere. */
static const char crash_pipeline[] =
  "{\n"
  "  \"sutra\": 1,\n"
  "  \"name\": \"crash\",\n"
  "  \"stages\": {\n"
  "    \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\" } },\n"
  "    \"work\": { \"plugin\": \"fault\", \"input\": \"read\", \"workers\": 3, \"batch\": 16,\n"
  "              \"params\": { \"count_file\": \"${count}\", \"sleep_us\": \"${sleep}\" } },\n"
  "    \"split\": { \"plugin\": \"text-split\", \"input\": \"work\", \"workers\": 2, \"batch\": "
  "8,\n"
  "               \"params\": { \"separator\": \" \" } },\n"
  "    \"again\": { \"plugin\": \"fault\", \"input\": \"split\", \"workers\": 2, \"batch\": 32,\n"
  "               \"params\": { \"count_file\": \"${count2}\", \"fail_on\": \"${fail_on}\",\n"
  "                           \"fail_while\": \"${fail_while}\", \"mark_on\": \"${mark_on}\",\n"
  "                           \"mark\": \"${mark}\" },\n"
  "               \"on_error\": \"skip\" },\n"
  "    \"join\": { \"plugin\": \"text-join\", \"input\": \"again\", \"workers\": 2,\n"
  "              \"params\": { \"separator\": \"_\" }, \"on_missing\": \"skip\" },\n"
  "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"join\", \"batch\": 8,\n"
  "               \"params\": { \"path\": \"${output}\" } }\n"
  "  },\n"
  "  \"vars\": { \"sleep\": \"0\", \"count2\": \"/dev/null\", \"fail_on\": \"-none-\",\n"
  "            \"fail_while\": \"\", \"mark_on\": \"-none-\", \"mark\": \"*\" }\n"
  "}\n";

typedef struct
{
  char *dir;
  char *pipeline;
  char *input;
  char *count;
  char *count2;
} Fixture;

static const char *
sutra_binary (void)
{
  static char *path;

  if (path == NULL)
    path = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  return path;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GString) input = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("sutra-resume-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->pipeline = g_build_filename (fixture->dir, "crash.json", NULL);
  fixture->input = g_build_filename (fixture->dir, "input.txt", NULL);
  fixture->count = g_build_filename (fixture->dir, "count.txt", NULL);
  fixture->count2 = g_build_filename (fixture->dir, "count2.txt", NULL);
  g_file_set_contents (fixture->pipeline, crash_pipeline, -1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_LINES; i++)
    g_string_append_printf (input, "line %u alpha beta %u\n", i, i * 7 % 13);
  g_file_set_contents (fixture->input, input->str, input->len, &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer data)
{
  remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->pipeline);
  g_free (fixture->input);
  g_free (fixture->count);
  g_free (fixture->count2);
}

static char *
path_in (Fixture *fixture, const char *name)
{
  return g_build_filename (fixture->dir, name, NULL);
}

/* What `sutra ARGS...` (NULL-terminated) printed on stdout; it must succeed. */
static char *
sutra_says (const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  int exit_status;
  va_list args;

  g_ptr_array_add (argv, (gpointer) sutra_binary ());
  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                NULL, &exit_status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (exit_status, NULL));
  return out;
}

/* argv for `sutra COMMAND ...` with the fixture's variables. */
static GPtrArray *
sutra_args (Fixture *fixture, const char *command, const char *job, const char *output)
{
  GPtrArray *args = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (args, g_strdup (sutra_binary ()));
  g_ptr_array_add (args, g_strdup (command));
  if (strcmp (command, "run") == 0)
    {
      g_ptr_array_add (args, g_strdup (fixture->pipeline));
      g_ptr_array_add (args, g_strdup_printf ("--set=input=%s", fixture->input));
      g_ptr_array_add (args, g_strdup_printf ("--set=count=%s", fixture->count));
      g_ptr_array_add (args, g_strdup_printf ("--set=output=%s", output));
      g_ptr_array_add (args, g_strdup_printf ("--job=%s", job));
    }
  else
    g_ptr_array_add (args, g_strdup (job));
  if (strcmp (command, "run") == 0 || strcmp (command, "resume") == 0)
    g_ptr_array_add (args, g_strdup ("--quiet"));
  return args;
}

static void
add_arg (GPtrArray *args, const char *arg)
{
  g_ptr_array_add (args, g_strdup (arg));
}

/* argv to go on with @job after a kill: `sutra resume`, or, when the kill
 * came before the job existed (it has no job.json yet), `sutra run` again,
 * as a user would, with @run_arg (or NULL) as the first run had: the job
 * may already hold that run's pipeline snapshot. Resuming a job that does
 * not exist fails with exit status 5 (EXIT_JOB), as it should. */
static GPtrArray *
continue_args (Fixture *fixture, const char *job, const char *output, const char *run_arg)
{
  g_autofree char *settings = g_build_filename (job, "job.json", NULL);
  GPtrArray *args;

  if (g_file_test (settings, G_FILE_TEST_EXISTS))
    return sutra_args (fixture, "resume", job, NULL);
  args = sutra_args (fixture, "run", job, output);
  if (run_arg != NULL)
    add_arg (args, run_arg);
  return args;
}

typedef struct
{
  rlim_t file_size_limit;
} ChildSetup;

static void
child_setup (gpointer data)
{
  ChildSetup *setup = data;

  /* A full disk, as far as this process can tell: writes past the limit
   * fail with EFBIG instead of killing it. */
  if (setup != NULL && setup->file_size_limit > 0)
    {
      struct rlimit limit = { setup->file_size_limit, setup->file_size_limit };

      signal (SIGXFSZ, SIG_IGN);
      setrlimit (RLIMIT_FSIZE, &limit);
    }
}

/* Runs sutra to the end; returns its exit status, and its stderr. */
static int
run_sutra (GPtrArray *args, char **err, ChildSetup *setup)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *errors = NULL;
  int status = 0;

  g_ptr_array_add (args, NULL);
  g_spawn_sync (NULL, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, child_setup, setup, &out,
                &errors, &status, &error);
  g_assert_no_error (error);
  g_ptr_array_set_size (args, args->len - 1);
  if (err != NULL)
    *err = g_steal_pointer (&errors);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return 128 + WTERMSIG (status);
}

static GPid
spawn_sutra (GPtrArray *args)
{
  g_autoptr (GError) error = NULL;
  GPid pid = 0;

  g_ptr_array_add (args, NULL);
  g_spawn_async (NULL, (char **) args->pdata, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                   G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  g_ptr_array_set_size (args, args->len - 1);
  return pid;
}

/* The pid that @job's lock file names: the sutra that last took the job
 * (it writes its pid there once it holds the lock), or 0. */
static GPid
job_lock_holder (const char *job)
{
  g_autofree char *path = g_build_filename (job, "lock", NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  return (GPid) atoi (text);
}

/* Kills @pid after @delay_us unless it ended before; returns TRUE if it
 * was killed, FALSE if it had finished (with exit status 0). With @job,
 * the delay counts from when @pid holds the job's lock, not from its
 * start: under load (a shared CI machine) a sutra can take seconds of
 * wall time to load its plugins and take its job, and a delay counted
 * from the start would then kill every run before it did any work. */
static gboolean
kill_after (GPid pid, gulong delay_us, const char *job)
{
  gint64 deadline = job == NULL ? g_get_monotonic_time () + (gint64) delay_us : G_MAXINT64;
  int status = 0;

  for (;;)
    {
      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          g_assert_true (WIFEXITED (status));
          g_assert_cmpint (WEXITSTATUS (status), ==, 0);
          return FALSE;
        }
      if (deadline == G_MAXINT64 && job_lock_holder (job) == pid)
        deadline = g_get_monotonic_time () + (gint64) delay_us;
      if (g_get_monotonic_time () >= deadline)
        break;
      g_usleep (1000);
    }
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (WIFEXITED (status))
    {
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
      return FALSE;
    }
  return TRUE;
}

static guint
count_lines (const char *path)
{
  g_autofree char *contents = NULL;
  guint n = 0;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  for (const char *p = contents; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

/* What the journal durably says is done for @stage: the items of its
 * committed batches. */
static guint64
committed_items (const char *job, const char *stage)
{
  g_autofree char *path = g_build_filename (job, "journal.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *statement = NULL;
  guint64 n = 0;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return 0;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  if (sqlite3_prepare_v2 (db, "SELECT COALESCE(SUM(n_in), 0) FROM batches WHERE stage = ?", -1,
                          &statement, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (statement, 1, stage, -1, SQLITE_STATIC);
      if (sqlite3_step (statement) == SQLITE_ROW)
        n = sqlite3_column_int64 (statement, 0);
      sqlite3_finalize (statement);
    }
  sqlite3_close (db);
  return n;
}

static char *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* Compares two outputs; on a difference, reports where, not the whole files. */
#define assert_same_output(actual, expected) \
  assert_same_output_at (__FILE__, __LINE__, (actual), (expected))

static void
assert_same_output_at (const char *file, int line, const char *actual, const char *expected)
{
  gsize i = 0;
  g_autofree char *message = NULL;

  if (strcmp (actual, expected) == 0)
    return;
  while (actual[i] != '\0' && actual[i] == expected[i])
    i++;
  message = g_strdup_printf ("outputs differ at byte %" G_GSIZE_FORMAT " (lengths %" G_GSIZE_FORMAT
                             " and %" G_GSIZE_FORMAT "): got “%.60s”, expected “%.60s”",
                             i, strlen (actual), strlen (expected), actual + (i > 20 ? i - 20 : 0),
                             expected + (i > 20 ? i - 20 : 0));
  g_assertion_message (G_LOG_DOMAIN, file, line, G_STRFUNC, message);
}

/* The output of an uninterrupted run, for comparison. */
static char *
reference_output (Fixture *fixture)
{
  g_autofree char *job = path_in (fixture, "reference-job");
  g_autofree char *output = path_in (fixture, "reference.jsonl");
  g_autoptr (GPtrArray) args = sutra_args (fixture, "run", job, output);
  g_autofree char *err = NULL;
  int status = run_sutra (args, &err, NULL);

  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (status, ==, 0);
  return read_file (output);
}

/* A split whose batch has more children than a record holds (65536): its
 * outputs are not stored, and a resume makes them again. */
static const char wide_split_pipeline[] =
  "{\n"
  "  \"sutra\": 1,\n"
  "  \"name\": \"wide-split\",\n"
  "  \"stages\": {\n"
  "    \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\" } },\n"
  "    \"split\": { \"plugin\": \"text-split\", \"input\": \"read\", \"workers\": 2,\n"
  "               \"batch\": 8, \"params\": { \"separator\": \" \" } },\n"
  "    \"slow\": { \"plugin\": \"fault\", \"input\": \"split\", \"workers\": 4, \"batch\": 64,\n"
  "              \"params\": { \"count_file\": \"${count}\", \"sleep_us\": 1 } },\n"
  "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"slow\", \"batch\": 256,\n"
  "               \"params\": { \"path\": \"${output}\" } }\n"
  "  }\n"
  "}\n";

static void
test_resume_split_too_large_to_store (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GString) input = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *actual = NULL;
  guint n_kills = 0, attempts = 0;

  g_test_bug ("15");
  g_test_summary ("SIGKILL a run whose split streams a batch of 80000 children (too many to "
                  "store: it is made again on resume) and then small ones (stored), at "
                  "random moments; the resumed output is byte-identical to an uninterrupted "
                  "run's");
  /* Eight lines of 10000 words: the first batch; then eight short ones. */
  for (guint i = 0; i < 16; i++)
    {
      for (guint w = 0; w < (i < 8 ? 10000u : 3u); w++)
        g_string_append_printf (input, "%sw%u.%u", w > 0 ? " " : "", i, w);
      g_string_append_c (input, '\n');
    }
  g_file_set_contents (fixture->input, input->str, input->len, &error);
  g_assert_no_error (error);
  g_file_set_contents (fixture->pipeline, wide_split_pipeline, -1, &error);
  g_assert_no_error (error);
  expected = reference_output (fixture);
  {
    guint n_records = 0;

    for (const char *p = expected; *p != '\0'; p++)
      n_records += *p == '\n';
    g_assert_cmpuint (n_records, ==, 80000 + 24);
  }

  while (n_kills < 6)
    {
      g_autoptr (GPtrArray) args = continue_args (fixture, job, output, NULL);
      GPid pid = spawn_sutra (args);

      if (kill_after (pid, g_random_int_range (50000, 1500000), job))
        n_kills++;
      else
        {
          /* It finished first: check, and start over to kill more. */
          actual = read_file (output);
          assert_same_output (actual, expected);
          g_clear_pointer (&actual, g_free);
          remove_tree (job);
          g_unlink (output);
        }
      g_spawn_close_pid (pid);
      g_assert_cmpuint (++attempts, <, 100);
    }
  {
    g_autoptr (GPtrArray) args = continue_args (fixture, job, output, NULL);
    g_autofree char *err = NULL;
    int status = run_sutra (args, &err, NULL);

    if (status != 0)
      g_test_message ("sutra resume: %s", err);
    g_assert_cmpint (status, ==, 0);
  }
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_survives_random_kills (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *actual = NULL;
  guint n_kills = 0, attempts = 0;
  guint64 invocations_before = 0;

  g_test_summary ("SIGKILL `sutra run` at 20 random moments of a multi-stage pipeline with "
                  "several workers, resume each time: the output is byte-identical to an "
                  "uninterrupted run, and no item the journal had committed before a kill is "
                  "computed again");

  expected = reference_output (fixture);
  g_unlink (fixture->count);

  while (n_kills < 20)
    {
      /* Slow the work stage so that a run lasts about a second: kills land
       * before, between and after the sink's checkpoints (every 0.5 s). A
       * kill can come before the job exists: then the run starts again. */
      g_autoptr (GPtrArray) args = continue_args (fixture, job, output, "--set=sleep=400");
      guint64 committed = committed_items (job, "work");
      guint invocations;
      gboolean killed;
      GPid pid;

      pid = spawn_sutra (args);
      /* One kill in four counts from the start, to land in the start-up
       * too (before the job exists, while it is being made); the others
       * count from when the run holds the job, so that a loaded machine,
       * where the start-up alone can outlast the delay, still kills runs
       * that work. */
      killed = kill_after (pid, g_random_int_range (20000, 1200000),
                           g_random_int_range (0, 4) == 0 ? NULL : job);
      g_spawn_close_pid (pid);
      attempts++;

      /* What this run computed in the work stage must not include what was
       * committed before it started: at most the rest. */
      invocations = count_lines (fixture->count);
      g_assert_cmpuint (invocations - invocations_before, <=, N_LINES - committed);
      invocations_before = invocations;

      if (killed)
        n_kills++;
      else
        {
          /* It finished before the kill: start the job over to kill more. */
          g_autoptr (GPtrArray) check = NULL;

          actual = read_file (output);
          assert_same_output (actual, expected);
          g_clear_pointer (&actual, g_free);
          remove_tree (job);
          g_unlink (output);
          attempts = 0;
          invocations_before = 0;
          g_unlink (fixture->count);
        }
      g_assert_cmpuint (attempts, <, 200);
    }

  {
    /* The last kill may have come before the job existed, too (under
     * load, all of them did): resuming would rightly fail with exit 5. */
    g_autoptr (GPtrArray) args = continue_args (fixture, job, output, "--set=sleep=400");
    g_autofree char *err = NULL;
    int status = run_sutra (args, &err, NULL);

    if (status != 0)
      g_test_message ("sutra %s: %s", (char *) args->pdata[1], err);
    g_assert_cmpint (status, ==, 0);
  }
  actual = read_file (output);
  assert_same_output (actual, expected);
  {
    g_autofree char *part = g_strconcat (output, ".part", NULL);
    g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  }
}

/* A run killed in its first moments, after it took the job's lock and
 * wrote the snapshot but before job.json: what survives-random-kills hits
 * on a loaded machine, made here without a race. */
static void
test_resume_killed_before_job_exists (Fixture *fixture, gconstpointer data)
{
  const char *const kept[] = { "lock", "pipeline.json", "pipeline.sha256", NULL };
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) resume = sutra_args (fixture, "resume", job, NULL);
  g_autoptr (GPtrArray) again = NULL;

  g_test_summary ("A run killed before it made its job (lock and snapshot written, no job.json) "
                  "kept nothing: `sutra resume` exits 5 saying to run the same command again, "
                  "and running it again does the whole job");
  expected = reference_output (fixture);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  {
    g_autoptr (GDir) dir = g_dir_open (job, 0, NULL);
    g_autoptr (GPtrArray) doomed = g_ptr_array_new_with_free_func (g_free);
    const char *name;

    g_assert_nonnull (dir);
    while ((name = g_dir_read_name (dir)) != NULL)
      if (!g_strv_contains (kept, name))
        g_ptr_array_add (doomed, g_build_filename (job, name, NULL));
    for (guint i = 0; i < doomed->len; i++)
      if (g_file_test (doomed->pdata[i], G_FILE_TEST_IS_DIR))
        remove_tree (doomed->pdata[i]);
      else
        g_unlink (doomed->pdata[i]);
    for (guint i = 0; kept[i] != NULL; i++)
      {
        g_autofree char *path = g_build_filename (job, kept[i], NULL);
        g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
      }
  }
  g_unlink (output);
  g_unlink (fixture->count);

  g_assert_cmpint (run_sutra (resume, &err, NULL), ==, 5);
  g_assert_nonnull (strstr (err, "was never started"));
  g_assert_nonnull (strstr (err, "sutra run"));

  again = continue_args (fixture, job, output, NULL);
  g_assert_cmpstr (again->pdata[1], ==, "run");
  g_assert_cmpint (run_sutra (again, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
}

static void
test_resume_finished_job_computes_nothing (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) second = sutra_args (fixture, "run", job, output);
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  g_autofree char *report = NULL;

  g_test_summary ("Running a finished job again computes nothing and leaves the output as "
                  "it was; `sutra status` says it is done");
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  expected = read_file (output);
  g_assert_cmpint (run_sutra (second, NULL, NULL), ==, 0);
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  actual = read_file (output);
  assert_same_output (actual, expected);
  report = sutra_says ("status", job, "--json", NULL);
  g_assert_nonnull (strstr (report, "\"state\" : \"done\""));
}

static void
test_resume_changed_parameter_recomputes_downstream (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) changed = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) forced = NULL;
  g_autofree char *count2 = g_strdup_printf ("--set=count2=%s", fixture->count2);
  g_autofree char *err = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("Changing one stage's parameter is refused without --force, naming the "
                  "stage; with --force it recomputes that stage and what is downstream, "
                  "nothing upstream");
  add_arg (first, count2);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, N_LINES * 5);

  add_arg (changed, count2);
  add_arg (changed, "--set=split.separator=a");
  g_assert_cmpint (run_sutra (changed, &err, NULL), ==, 5);
  g_assert_nonnull (strstr (err, "split: changed"));
  g_assert_nonnull (strstr (err, "--force"));

  forced = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < changed->len; i++)
    add_arg (forced, changed->pdata[i]);
  add_arg (forced, "--force");
  g_assert_cmpint (run_sutra (forced, NULL, NULL), ==, 0);
  /* Upstream of the change: not one more invocation. */
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  /* Downstream: everything again (the new split makes other children). */
  g_assert_cmpuint (count_lines (fixture->count2), >, N_LINES * 5);
  text = read_file (output);
  g_assert_nonnull (strstr (text, "\"text\":\"line 0 _lph_ bet_ 0\""));
}

static void
test_resume_cache_is_shared_between_jobs (Fixture *fixture, gconstpointer data)
{
  g_autofree char *cache = path_in (fixture, "cache");
  g_autofree char *job1 = path_in (fixture, "job1");
  g_autofree char *job2 = path_in (fixture, "job2");
  g_autofree char *out1 = path_in (fixture, "out1.jsonl");
  g_autofree char *out2 = path_in (fixture, "out2.jsonl");
  g_autofree char *cache_arg = g_strdup_printf ("--cache=%s", cache);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job1, out1);
  g_autoptr (GPtrArray) second = sutra_args (fixture, "run", job2, out2);
  g_autoptr (GPtrArray) status = NULL;
  g_autofree char *a = NULL, *b = NULL;
  g_autofree char *report = NULL;

  g_test_summary ("Two jobs sharing a --cache: the second takes what the first computed and "
                  "`sutra status` counts the hits");
  add_arg (first, cache_arg);
  add_arg (second, cache_arg);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  g_assert_cmpint (run_sutra (second, NULL, NULL), ==, 0);
  /* The second job computed nothing in the counted stage. */
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  a = read_file (out1);
  b = read_file (out2);
  assert_same_output (a, b);

  report = sutra_says ("status", job2, "--json", NULL);
  g_assert_nonnull (strstr (report, "\"stage\" : \"work\""));
  g_assert_nonnull (g_strrstr (report, "\"cached\" : 6000"));
}

static void
test_resume_job_waits_for_gc (Fixture *fixture, gconstpointer data)
{
  g_autofree char *cache = path_in (fixture, "cache");
  g_autofree char *packs = g_build_filename (cache, "packs", NULL);
  g_autofree char *users = g_build_filename (cache, "users", NULL);
  g_autofree char *job1 = path_in (fixture, "job1");
  g_autofree char *job2 = path_in (fixture, "job2");
  g_autofree char *out1 = path_in (fixture, "out1.jsonl");
  g_autofree char *out2 = path_in (fixture, "out2.jsonl");
  g_autofree char *cache_arg = g_strdup_printf ("--cache=%s", cache);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job1, out1);
  g_autoptr (GPtrArray) second = sutra_args (fixture, "run", job2, out2);
  g_autoptr (GString) said = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *a = NULL, *b = NULL;
  GDir *listing;
  const char *name;
  char chunk[4096];
  ssize_t n;
  int gc_lock, err_fd, status;
  GPid pid;

  g_test_summary ("A job that starts while `sutra gc` holds its store says that it waits, and "
                  "then reads the store as gc left it: no entry gc removed is looked for");
  add_arg (first, cache_arg);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);

  /* Play gc: hold the store exclusively, start a job on it. */
  gc_lock = open (users, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (gc_lock, >=, 0);
  g_assert_cmpint (flock (gc_lock, LOCK_EX), ==, 0);
  add_arg (second, cache_arg);
  g_ptr_array_add (second, NULL);
  g_spawn_async_with_pipes (NULL, (char **) second->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                            NULL, &pid, NULL, NULL, &err_fd, &error);
  g_assert_no_error (error);
  while (strstr (said->str, "waiting for") == NULL && (n = read (err_fd, chunk, sizeof chunk)) > 0)
    g_string_append_len (said, chunk, n);
  g_assert_nonnull (strstr (said->str, "waiting for “sutra gc”"));

  /* ...which removes every pack (as if the first job were gone), and ends. */
  listing = g_dir_open (packs, 0, NULL);
  g_assert_nonnull (listing);
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (packs, name, NULL);

      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_dir_close (listing);
  close (gc_lock);

  while ((n = read (err_fd, chunk, sizeof chunk)) > 0)
    g_string_append_len (said, chunk, n);
  close (err_fd);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_test_message ("sutra said: %s", said->str);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  g_assert_null (strstr (said->str, "computing it again"));
  a = read_file (out1);
  b = read_file (out2);
  assert_same_output (a, b);
}

static void
test_resume_fifo_input (Fixture *fixture, gconstpointer data)
{
  g_autofree char *fifo_dir = path_in (fixture, "fifo");
  /* Named as the usual input: item ids come from the file's name. */
  g_autofree char *fifo = g_build_filename (fifo_dir, "input.txt", NULL);
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *set_input = g_strdup_printf ("--set=input=%s", fifo);
  g_autoptr (GPtrArray) args = sutra_args (fixture, "run", job, output);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  const char *writer[] = {
    "/bin/sh", "-c", "cat \"$1\" > \"$2\"", "sh", fixture->input, fifo, NULL
  };
  GPid writer_pid, pid;

  g_test_summary ("A job reading a FIFO: its content is not consumed to digest it, the source "
                  "gets every line");
  expected = reference_output (fixture);
  g_assert_cmpint (g_mkdir (fifo_dir, 0700), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_spawn_async (NULL, (char **) writer, NULL, G_SPAWN_DEFAULT, NULL, NULL, &writer_pid, &error);
  g_assert_no_error (error);
  g_spawn_close_pid (writer_pid);
  add_arg (args, set_input);
  pid = spawn_sutra (args);
  /* Reading the FIFO to digest it left the source nothing to read, and
   * it waited for a writer for ever. */
  g_assert_false (kill_after (pid, 60 * G_USEC_PER_SEC, NULL));
  g_spawn_close_pid (pid);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_refuses_running_job (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) slow = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) second = NULL;
  g_autofree char *err = NULL;
  g_autofree char *gc_err = NULL;
  g_autofree char *report = NULL;
  g_autofree char *running = NULL;
  g_autofree char *resume_hint = NULL;
  g_autofree char *part = g_strconcat (output, ".part", NULL);
  g_autoptr (GPtrArray) gc = g_ptr_array_new_with_free_func (g_free);
  int status;
  GPid pid;

  g_test_summary ("A running job: a second sutra on it is refused with a clear message, "
                  "`sutra status` names the process that runs it, `sutra gc` leaves its store "
                  "alone; once killed, `sutra status` calls it interrupted and says how to go on");
  add_arg (slow, "--set=sleep=2000");
  pid = spawn_sutra (slow);
  /* Wait for the run to be under way (its sink started): it holds the
   * job's lock and uses its store. */
  for (guint i = 0; i < 1000 && !g_file_test (part, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  second = sutra_args (fixture, "resume", job, NULL);
  g_assert_cmpint (run_sutra (second, &err, NULL), ==, 5);
  g_assert_nonnull (strstr (err, "is being run by another sutra"));

  report = sutra_says ("status", job, NULL);
  running = g_strdup_printf ("running (process %d)", (int) pid);
  g_assert_nonnull (strstr (report, running));
  /* The job writes store entries before its journal refers to them. */
  add_arg (gc, sutra_binary ());
  add_arg (gc, "gc");
  add_arg (gc, job);
  g_ptr_array_add (gc, NULL);
  g_assert_cmpint (run_sutra (gc, &gc_err, NULL), ==, 5);
  g_assert_nonnull (strstr (gc_err, "in use by a running job"));
  g_assert_nonnull (strstr (gc_err, "Nothing was removed"));

  kill (pid, SIGKILL);
  waitpid (pid, &status, 0);
  g_spawn_close_pid (pid);
  g_clear_pointer (&report, g_free);
  report = sutra_says ("status", job, NULL);
  g_test_message ("%s", report);
  resume_hint = g_strdup_printf ("interrupted; go on with “sutra resume %s”", job);
  g_assert_nonnull (strstr (report, resume_hint));
  g_assert_null (strstr (report, "running"));
  g_clear_pointer (&report, g_free);
  report = sutra_says ("status", job, "--json", NULL);
  g_assert_nonnull (strstr (report, "\"state\" : \"interrupted\""));
  g_assert_nonnull (strstr (report, "\"pid\" : null"));
}

static void
test_resume_after_sigint (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) resume = NULL;
  g_autofree char *actual = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int stderr_fd, status;
  GPid pid;

  g_test_summary ("SIGINT lets the items in flight finish, commits, exits with 130 and the "
                  "command that resumes; the resumed output is byte-identical");
  expected = reference_output (fixture);
  args = sutra_args (fixture, "run", job, output);
  add_arg (args, "--set=sleep=300");
  g_ptr_array_add (args, NULL);
  g_spawn_async_with_pipes (NULL, (char **) args->pdata, NULL,
                            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                            &pid, NULL, NULL, &stderr_fd, &error);
  g_assert_no_error (error);
  /* Signal once sutra is running its stages (the sink has made its .part
   * file): before that, it has not yet set up its signal handling. */
  {
    g_autofree char *part = g_strconcat (output, ".part", NULL);

    for (guint i = 0; i < 1000 && !g_file_test (part, G_FILE_TEST_EXISTS); i++)
      g_usleep (10 * 1000);
    g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  }
  g_usleep (200 * 1000);
  kill (pid, SIGINT);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  {
    g_autoptr (GIOChannel) channel = g_io_channel_unix_new (stderr_fd);

    g_io_channel_set_close_on_unref (channel, TRUE);
    g_io_channel_read_to_end (channel, &err, NULL, NULL);
  }
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 130);
  g_assert_nonnull (strstr (err, "sutra resume"));
  g_assert_cmpuint (committed_items (job, "work"), >, 0);

  resume = sutra_args (fixture, "resume", job, NULL);
  g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_corrupt_store_entry_is_recomputed (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *output2 = path_in (fixture, "out2.jsonl");
  g_autofree char *packs = NULL;
  g_autoptr (GPtrArray) first = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *actual = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;
  guint damaged = 0;

  g_test_summary ("A store entry that fails its hash check is recomputed, never used; a "
                  "truncated pack likewise");
  first = sutra_args (fixture, "run", job, output);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  expected = read_file (output);

  /* Flip one byte in the middle of every pack, and cut one pack short. */
  packs = g_build_filename (job, "store", "packs", NULL);
  dir = g_dir_open (packs, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (packs, name, NULL);
      g_autofree char *contents = NULL;
      gsize length;

      if (!g_str_has_suffix (name, ".pack"))
        continue;
      g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
      contents[length / 2] ^= 0x55;
      if (damaged == 0)
        length = length * 3 / 4;
      g_assert_true (g_file_set_contents (path, contents, length, NULL));
      damaged++;
    }
  g_assert_cmpuint (damaged, >, 0);

  /* A new output makes the sink run again, reading everything upstream
   * back from the store. */
  again = sutra_args (fixture, "run", job, output2);
  add_arg (again, "--force");
  g_assert_cmpint (run_sutra (again, NULL, NULL), ==, 0);
  actual = read_file (output2);
  assert_same_output (actual, expected);
  /* Some work items were recomputed, but not all of them. */
  g_assert_cmpuint (count_lines (fixture->count), >, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count), <, 2 * N_LINES);
}

static void
test_resume_damaged_journal (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *journal = g_build_filename (job, "journal.db", NULL);
  g_autofree char *settings = g_build_filename (job, "job.json", NULL);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) resume = sutra_args (fixture, "resume", job, NULL);
  g_autoptr (GPtrArray) status = sutra_args (fixture, "status", job, NULL);
  g_autofree char *err = NULL;
  g_autofree char *err2 = NULL;
  g_autofree char *err3 = NULL;
  g_autofree char *err4 = NULL;
  struct stat st;

  g_test_summary ("A truncated journal, a journal that is not one, and a job of another "
                  "version get a clear message, never a crash");
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  g_assert_cmpint (g_stat (journal, (GStatBuf *) &st), ==, 0);
  g_assert_cmpint (truncate (journal, st.st_size / 3), ==, 0);
  g_assert_cmpint (run_sutra (resume, &err, NULL), ==, 5);
  g_assert_nonnull (strstr (err, "damaged"));
  g_assert_cmpint (run_sutra (status, &err2, NULL), ==, 5);
  g_assert_nonnull (strstr (err2, "damaged"));

  g_assert_true (g_file_set_contents (journal, "not a database at all", -1, NULL));
  g_assert_cmpint (run_sutra (resume, &err3, NULL), ==, 5);
  g_assert_nonnull (strstr (err3, "damaged"));

  g_assert_true (g_file_set_contents (settings, "{\"format\": 99, \"sutra\": \"9.0\"}", -1, NULL));
  g_assert_cmpint (run_sutra (resume, &err4, NULL), ==, 5);
  g_assert_nonnull (strstr (err4, "job format 99"));
}

static void
test_resume_full_disk_under_journal (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *err = NULL;
  g_autofree char *actual = NULL;
  ChildSetup full = { 64 * 1024 };
  int status;

  g_test_summary ("A disk that fills under the journal (a slow run commits often and stores "
                  "little) fails the run cleanly, leaking nothing held mid-group; run again "
                  "with room, the output is byte-identical to an uninterrupted run");
  expected = reference_output (fixture);
  args = sutra_args (fixture, "run", job, output);
  add_arg (args, "--set=sleep=20000");
  status = run_sutra (args, &err, &full);
  if (status != 1)
    g_test_message ("sutra said: %s", err);
  /* 1, not an abort: under LeakSanitizer a leak at exit aborts. Which file
   * fills first (the journal, most often) depends on the machine's speed. */
  g_assert_cmpint (status, ==, 1);
  g_assert_true (strstr (err, "journal") != NULL || strstr (err, "File too large") != NULL);
  g_assert_nonnull (strstr (err, "sutra resume"));

  again = sutra_args (fixture, "run", job, output);
  add_arg (again, "--force");
  g_assert_cmpint (run_sutra (again, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_half_made_journal (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *journal = g_build_filename (job, "journal.db", NULL);
  g_autofree char *half_made = g_build_filename (job, "journal.db.new", NULL);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) resume = sutra_args (fixture, "resume", job, NULL);
  g_autofree char *actual = NULL;
  const char *const suffixes[] = { "", "-wal", "-shm" };

  g_test_summary ("A job stopped while its journal was being made (no journal.db, a "
                  "half-written journal.db.new) resumes: the journal is made again");
  expected = reference_output (fixture);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (journal, suffixes[i], NULL);

      g_unlink (file);
    }
  g_assert_true (g_file_set_contents (half_made, "SQLite format 3\0half", 20, NULL));
  g_unlink (output);
  g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
  g_assert_false (g_file_test (half_made, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (journal, G_FILE_TEST_EXISTS));
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_full_disk (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) resume = NULL;
  g_autofree char *err = NULL;
  g_autofree char *actual = NULL;
  ChildSetup full = { 64 * 1024 };
  int status;

  g_test_summary ("A full disk (RLIMIT_FSIZE) fails the run with a clear message and loses "
                  "nothing: once there is room, resuming gives the uninterrupted output");
  expected = reference_output (fixture);
  args = sutra_args (fixture, "run", job, output);
  status = run_sutra (args, &err, &full);
  if (status != 1)
    g_test_message ("sutra said: %s", err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "File too large"));
  g_assert_nonnull (strstr (err, "sutra resume"));

  resume = sutra_args (fixture, "resume", job, NULL);
  g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_retry_failed (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) status = sutra_args (fixture, "status", job, NULL);
  g_autoptr (GPtrArray) retry = sutra_args (fixture, "resume", job, NULL);
  g_autofree char *err = NULL;
  g_autofree char *text = NULL;
  g_autofree char *report = NULL;

  g_autofree char *set_count2 = g_strdup_printf ("--set=count2=%s", fixture->count2);
  guint computed;

  g_test_summary ("on_error skip records failures that `sutra status` lists; a gather with "
                  "on_missing skip drops the group; --retry-failed tries them again, and "
                  "only the batch that held them");
  add_arg (first, "--set=fail_on=input:17/0002");
  add_arg (first, set_count2);
  g_assert_cmpint (run_sutra (first, &err, NULL), ==, 0);
  g_assert_nonnull (strstr (err, "input:17/0002"));
  text = read_file (output);
  g_assert_null (strstr (text, "\"id\":\"input:17\""));
  g_assert_nonnull (strstr (text, "\"id\":\"input:18\""));

  report = sutra_says ("status", job, NULL);
  g_assert_nonnull (strstr (report, "input:17/0002: failing on purpose"));

  /* The snapshot still says fail_on; resuming with --retry-failed tries
   * the item again (and fails it again): the failure stays recorded once. */
  add_arg (retry, "--retry-failed");
  computed = count_lines (fixture->count2);
  g_assert_cmpint (run_sutra (retry, NULL, NULL), ==, 0);
  /* One batch of "again" (32 items) holds the failed item: it is computed
   * whole up to the failure, then item by item to isolate it (fewer than
   * 64 calls). A batch that failed nothing is not computed again. */
  computed = count_lines (fixture->count2) - computed;
  g_test_message ("--retry-failed computed %u items again", computed);
  g_assert_cmpuint (computed, >=, 32);
  g_assert_cmpuint (computed, <, 64);
  g_clear_pointer (&report, g_free);
  report = sutra_says ("status", job, "--json", NULL);
  g_assert_nonnull (strstr (report, "\"item\" : \"input:17/0002\""));
  g_assert_null (
    strstr (strstr (report, "\"item\" : \"input:17/0002\"") + 1, "\"item\" : \"input:17/0002\""));
}

static void
test_resume_failed_run_status (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autofree char *report = NULL;
  g_autofree char *hint = NULL;

  g_test_summary ("A run that fails on an item: `sutra status` calls the job failed, names "
                  "the stage that failed, and says how to go on");
  add_arg (first, "--set=fail_on=input:17/0002");
  add_arg (first, "--set=again.on_error=fail");
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 1);
  report = sutra_says ("status", job, NULL);
  g_test_message ("%s", report);
  hint = g_strdup_printf ("job %s: failed; go on with “sutra resume %s”", job, job);
  g_assert_nonnull (strstr (report, hint));
  g_assert_nonnull (strstr (report, "  again            failed"));
  g_clear_pointer (&report, g_free);
  report = sutra_says ("status", job, "--json", NULL);
  g_assert_nonnull (strstr (report, "\"state\" : \"failed\""));
}

/* Runs @args (NULL-terminated) until @output's .part file holds @needle,
 * then stops it with SIGINT. Returns its exit status. */
static int
interrupt_when_written (GPtrArray *args, const char *output, const char *needle)
{
  g_autofree char *part = g_strconcat (output, ".part", NULL);
  g_autoptr (GError) error = NULL;
  gboolean written = FALSE;
  int status;
  GPid pid;

  g_spawn_async (NULL, (char **) args->pdata, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                   G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2000 && !written; i++)
    {
      g_autofree char *text = NULL;

      g_usleep (5 * 1000);
      written = g_file_get_contents (part, &text, NULL, NULL) && strstr (text, needle) != NULL;
    }
  g_assert_true (written);
  kill (pid, SIGINT);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* Runs the crash pipeline with item input:17/0002 failing (and skipped)
 * while a marker file exists, plus @extra_run; stops it once the sink wrote
 * past that item; removes the marker, so that the item now succeeds; resumes
 * it (plus @extra_resume) and checks the output against a run without the
 * failure. */
static void
check_failure_that_goes_away (Fixture *fixture, const char *extra_run, const char *extra_resume)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *marker = path_in (fixture, "still-failing");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) resume = NULL;
  g_autofree char *actual = NULL;
  g_autofree char *report = NULL;

  expected = reference_output (fixture);
  g_assert_true (g_file_set_contents (marker, "", 0, NULL));
  args = sutra_args (fixture, "run", job, output);
  add_arg (args, "--set=fail_on=input:17/0002");
  g_ptr_array_add (args, g_strdup_printf ("--set=fail_while=%s", marker));
  if (extra_run != NULL)
    add_arg (args, extra_run);
  add_arg (args, "--set=sleep=300");
  g_ptr_array_add (args, NULL);
  g_assert_cmpint (interrupt_when_written (args, output, "\"id\":\"input:18\""), ==, 130);

  g_unlink (marker);
  resume = sutra_args (fixture, "resume", job, NULL);
  if (extra_resume != NULL)
    add_arg (resume, extra_resume);
  g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
  /* The failure went away: `sutra status` no longer counts it. */
  report = sutra_says ("status", job, "--json", NULL);
  g_test_message ("%s", report);
  g_assert_null (strstr (report, "input:17/0002"));
}

static void
test_resume_retry_failed_after_interruption (Fixture *fixture, gconstpointer data)
{
  g_test_summary ("A run stopped after its sink wrote past a skipped item, resumed with "
                  "--retry-failed once the item succeeds: the sink starts again and the output "
                  "is byte-identical to a run without the failure");
  check_failure_that_goes_away (fixture, NULL, "--retry-failed");
}

static void
test_resume_failure_in_uncheckpointed_stage (Fixture *fixture, gconstpointer data)
{
  g_test_summary ("An item skipped by a stage that stores nothing succeeds when the resume "
                  "computes it again: the sink, whose input stream changed, starts again, and "
                  "the output is byte-identical to a run without the failure");
  check_failure_that_goes_away (fixture, "--set=again.checkpoint=false", NULL);
}

static void
test_resume_sink_batch_changed (Fixture *fixture, gconstpointer data)
{
  g_autofree char *expected = NULL;
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) again = NULL;
  g_autofree char *actual = NULL;

  g_test_summary ("A stopped job run again with another batch size for its sink (--force): "
                  "the sink's batches are other batches, so it starts again; the output is "
                  "byte-identical to an uninterrupted run");
  expected = reference_output (fixture);
  args = sutra_args (fixture, "run", job, output);
  add_arg (args, "--set=sleep=300");
  g_ptr_array_add (args, NULL);
  g_assert_cmpint (interrupt_when_written (args, output, "\"id\":\"input:40\""), ==, 130);

  again = sutra_args (fixture, "run", job, output);
  add_arg (again, "--set=sleep=300");
  add_arg (again, "--set=write.batch=13");
  add_arg (again, "--force");
  g_assert_cmpint (run_sutra (again, NULL, NULL), ==, 0);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

/* A gather whose groups a map upstream partly changed: "again" marks each
 * line's second word, passes the others on; "post" changes every joined
 * line, so its outputs are stored and found again by key. */
static const char group_pipeline[] =
  "{\n"
  "  \"sutra\": 1,\n"
  "  \"name\": \"groups\",\n"
  "  \"stages\": {\n"
  "    \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\" } },\n"
  "    \"split\": { \"plugin\": \"text-split\", \"input\": \"read\",\n"
  "               \"params\": { \"separator\": \" \" } },\n"
  "    \"again\": { \"plugin\": \"fault\", \"input\": \"split\",\n"
  "               \"params\": { \"mark_on\": \"*/0001\", \"mark\": \"${mark}\" } },\n"
  "    \"join\": { \"plugin\": \"text-join\", \"input\": \"again\",\n"
  "              \"params\": { \"separator\": \"_\" } },\n"
  "    \"post\": { \"plugin\": \"fault\", \"input\": \"join\",\n"
  "              \"params\": { \"mark_on\": \"*\", \"mark\": \"D:\" } },\n"
  "    \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"post\",\n"
  "               \"params\": { \"path\": \"${output}\" } }\n"
  "  },\n"
  "  \"vars\": { \"mark\": \"A\" }\n"
  "}\n";

static void
test_resume_gather_of_partly_changed_groups (Fixture *fixture, gconstpointer data)
{
  g_autofree char *pipeline = path_in (fixture, "groups.json");
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *set_input = g_strdup_printf ("--set=input=%s", fixture->input);
  g_autofree char *set_output = g_strdup_printf ("--set=output=%s", output);
  g_autofree char *set_job = g_strdup_printf ("--job=%s", job);
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) first = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) changed = NULL;

  g_test_summary ("A map that changes some members of each group and passes the others on: "
                  "after its parameter changes, the gather's outputs and what follows them are "
                  "computed again, not taken from the store under the old keys");
  g_assert_true (g_file_set_contents (pipeline, group_pipeline, -1, NULL));
  add_arg (first, sutra_binary ());
  add_arg (first, "run");
  add_arg (first, pipeline);
  add_arg (first, set_input);
  add_arg (first, set_output);
  add_arg (first, set_job);
  add_arg (first, "--quiet");
  changed = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < first->len; i++)
    add_arg (changed, first->pdata[i]);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  text = read_file (output);
  g_assert_nonnull (strstr (text, "\"text\":\"D:line_A0_alpha_beta_0\""));
  g_clear_pointer (&text, g_free);

  add_arg (changed, "--set=mark=B");
  add_arg (changed, "--force");
  g_assert_cmpint (run_sutra (changed, NULL, NULL), ==, 0);
  text = read_file (output);
  g_assert_nonnull (strstr (text, "\"text\":\"D:line_B0_alpha_beta_0\""));
  g_assert_null (strstr (text, "_A"));
}

static void
test_resume_gc_frees_unreferenced (Fixture *fixture, gconstpointer data)
{
  g_autofree char *cache = path_in (fixture, "cache");
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *cache_arg = g_strdup_printf ("--cache=%s", cache);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autofree char *report = NULL;

  g_test_summary ("sutra gc keeps what a job refers to and frees what none does");
  add_arg (first, cache_arg);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  report = sutra_says ("gc", cache_arg, NULL);
  g_assert_nonnull (strstr (report, "1 jobs use it; removed 0 files"));
  remove_tree (job);
  g_clear_pointer (&report, g_free);
  report = sutra_says ("gc", cache_arg, NULL);
  g_assert_nonnull (strstr (report, "0 jobs use it"));
  g_assert_null (strstr (report, "removed 0 files"));
}

/* The "recorded" member of the input-digested event in the events file
 * @path. */
static gint64
digests_recorded (const char *path)
{
  g_autofree char *events = read_file (path);
  const char *event = strstr (events, "\"event\":\"input-digested\"");
  const char *recorded;

  g_assert_nonnull (event);
  recorded = strstr (event, "\"recorded\":");
  g_assert_nonnull (recorded);
  return g_ascii_strtoll (recorded + strlen ("\"recorded\":"), NULL, 10);
}

static void
test_resume_input_digest_recorded (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *events = path_in (fixture, "events.jsonl");
  g_autofree char *set_events = g_strdup_printf ("--events=%s", events);
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  g_autofree char *unchanged = NULL;
  struct stat before, after;
  struct timespec times[2];
  int fd;

  g_test_summary ("An input file's digest is recorded in the journal and used again while "
                  "the file's stat fields are unchanged; a change that keeps the file's size, "
                  "inode and mtime is still seen (its ctime moved) and recomputed");
  /* A file changed in the last 2 s may change again unseen: wait that out. */
  g_usleep (2100 * 1000);
  for (guint run = 0; run < 2; run++)
    {
      g_autoptr (GPtrArray) args = sutra_args (fixture, "run", job, output);

      add_arg (args, set_events);
      g_ptr_array_add (args, NULL);
      g_assert_cmpint (run_sutra (args, NULL, NULL), ==, 0);
      g_assert_cmpint (digests_recorded (events), ==, run);
    }

  unchanged = read_file (output);

  /* Change a byte in place and put the mtime back. */
  g_assert_cmpint (g_stat (fixture->input, (GStatBuf *) &before), ==, 0);
  fd = open (fixture->input, O_WRONLY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, "A", 1, strlen ("line 0 ")), ==, 1);
  close (fd);
  times[0] = before.st_atim;
  times[1] = before.st_mtim;
  g_assert_cmpint (utimensat (AT_FDCWD, fixture->input, times, 0), ==, 0);
  g_assert_cmpint (g_stat (fixture->input, (GStatBuf *) &after), ==, 0);
  g_assert_cmpint (after.st_size, ==, before.st_size);
  g_assert_cmpint (after.st_ino, ==, before.st_ino);
  g_assert_cmpint (after.st_mtim.tv_nsec, ==, before.st_mtim.tv_nsec);

  {
    g_autoptr (GPtrArray) args = sutra_args (fixture, "run", job, output);

    add_arg (args, set_events);
    add_arg (args, "--force");
    g_ptr_array_add (args, NULL);
    g_assert_cmpint (run_sutra (args, NULL, NULL), ==, 0);
    g_assert_cmpint (digests_recorded (events), ==, 0);
  }
  actual = read_file (output);
  g_assert_cmpstr (actual, !=, unchanged);
  expected = reference_output (fixture);
  assert_same_output (actual, expected);
}

static const char diamond_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"diamond\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\" } },\n"
  "  \"left\": { \"plugin\": \"fault\", \"input\": \"read\", \"workers\": 2, \"batch\": 16,\n"
  "            \"params\": { \"count_file\": \"${count}\", \"sleep_us\": \"${sleep}\" } },\n"
  "  \"right\": { \"plugin\": \"text-split\", \"input\": \"read\", \"batch\": 8,\n"
  "             \"params\": { \"separator\": \" \" } },\n"
  "  \"back\": { \"plugin\": \"text-join\", \"input\": \"right\",\n"
  "            \"params\": { \"separator\": \"+\" } },\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": [\"left\", \"back\"], \"batch\": 8,\n"
  "             \"params\": { \"path\": \"${output}\" } }\n"
  "}, \"vars\": { \"sleep\": \"0\" } }\n";

static int
run_diamond (Fixture *fixture, const char *job, const char *output, const char *extra, GPid *pid)
{
  g_autofree char *path = path_in (fixture, "diamond.json");
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  g_assert_true (g_file_set_contents (path, diamond_pipeline, -1, NULL));
  add_arg (args, sutra_binary ());
  add_arg (args, "run");
  add_arg (args, path);
  g_ptr_array_add (args, g_strdup_printf ("--set=input=%s", fixture->input));
  g_ptr_array_add (args, g_strdup_printf ("--set=count=%s", fixture->count));
  g_ptr_array_add (args, g_strdup_printf ("--set=output=%s", output));
  g_ptr_array_add (args, g_strdup_printf ("--job=%s", job));
  add_arg (args, "--quiet");
  if (extra != NULL)
    add_arg (args, extra);
  if (pid != NULL)
    {
      *pid = spawn_sutra (args);
      return 0;
    }
  return run_sutra (args, NULL, NULL);
}

static void
test_resume_fan_out_and_in (Fixture *fixture, gconstpointer data)
{
  g_autofree char *reference_job = path_in (fixture, "reference-job");
  g_autofree char *reference = path_in (fixture, "reference.jsonl");
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  guint invocations;
  GPid pid;

  g_test_summary ("A diamond (fan-out to a map and a split/gather, fan-in at the sink, items "
                  "of equal paths and different lineages) resumes byte-identically after a "
                  "kill, and a re-run computes nothing");
  g_assert_cmpint (run_diamond (fixture, reference_job, reference, NULL, NULL), ==, 0);
  expected = read_file (reference);
  /* Each line twice: once through each branch, merged by position. */
  g_assert_nonnull (strstr (expected, "\"text\":\"line 0 alpha beta 0\"}\n"
                                      "{\"id\":\"input:1\",\"text\":\"line+0+alpha+beta+0\"}"));
  g_unlink (fixture->count);

  run_diamond (fixture, job, output, "--set=sleep=400", &pid);
  kill_after (pid, 600000, job);
  g_spawn_close_pid (pid);
  {
    g_autoptr (GPtrArray) resume = sutra_args (fixture, "resume", job, NULL);
    g_autofree char *settings = g_build_filename (job, "job.json", NULL);

    if (g_file_test (settings, G_FILE_TEST_EXISTS))
      g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
    else
      g_assert_cmpint (run_diamond (fixture, job, output, "--set=sleep=400", NULL), ==, 0);
  }
  actual = read_file (output);
  assert_same_output (actual, expected);

  invocations = count_lines (fixture->count);
  g_assert_cmpint (run_diamond (fixture, job, output, "--set=sleep=400", NULL), ==, 0);
  g_assert_cmpuint (count_lines (fixture->count), ==, invocations);
}

static void
drop_arg (GPtrArray *args, const char *arg)
{
  for (guint i = 0; i < args->len; i++)
    if (strcmp (args->pdata[i], arg) == 0)
      {
        g_ptr_array_remove_index (args, i);
        return;
      }
  g_assert_not_reached ();
}

/* A pipeline with the "stamp" test plugin between two counted maps. */
static const char stamp_pipeline[] =
  "{ \"sutra\": 1, \"name\": \"stamped\", \"stages\": {\n"
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${input}\" } },\n"
  "  \"work\": { \"plugin\": \"fault\", \"input\": \"read\", \"batch\": 16,\n"
  "            \"params\": { \"count_file\": \"${count}\" } },\n"
  "  \"tag\": { \"plugin\": \"stamp\", \"input\": \"work\", \"workers\": 2 },\n"
  "  \"after\": { \"plugin\": \"fault\", \"input\": \"tag\", \"batch\": 32,\n"
  "             \"params\": { \"count_file\": \"${count2}\" } },\n"
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"after\",\n"
  "             \"params\": { \"path\": \"${output}\" } }\n"
  "} }\n";

/* Installs the "stamp" module built as @variant ("old" or "new") in the
 * fixture's plugin directory, as a user rebuilding it in place would. */
static char *
install_stamp (Fixture *fixture, const char *variant)
{
  g_autofree char *built = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                             "stamp", variant, "stamp.so", NULL);
  g_autofree char *dir = path_in (fixture, "plugins");
  g_autofree char *installed = g_build_filename (dir, "stamp.so", NULL);
  g_autofree char *temporary = g_build_filename (dir, "stamp.so.new", NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_get_contents (built, &contents, &length, &error);
  g_assert_no_error (error);
  /* Written aside and renamed, as `make install` does: a module in use is
   * never overwritten in place. */
  g_file_set_contents (temporary, contents, length, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_rename (temporary, installed), ==, 0);
  return g_steal_pointer (&dir);
}

static int
run_stamped (Fixture *fixture, const char *job, const char *output, const char *extra, char **err)
{
  g_autofree char *path = path_in (fixture, "stamped.json");
  g_autofree char *plugins = path_in (fixture, "plugins");
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  g_assert_true (g_file_set_contents (path, stamp_pipeline, -1, NULL));
  add_arg (args, sutra_binary ());
  add_arg (args, "run");
  add_arg (args, path);
  g_ptr_array_add (args, g_strdup_printf ("--set=input=%s", fixture->input));
  g_ptr_array_add (args, g_strdup_printf ("--set=count=%s", fixture->count));
  g_ptr_array_add (args, g_strdup_printf ("--set=count2=%s", fixture->count2));
  g_ptr_array_add (args, g_strdup_printf ("--set=output=%s", output));
  g_ptr_array_add (args, g_strdup_printf ("--job=%s", job));
  g_ptr_array_add (args, g_strdup_printf ("--plugin-path=%s", plugins));
  if (extra != NULL)
    add_arg (args, extra);
  return run_sutra (args, err, NULL);
}

static void
test_resume_rebuilt_module_recomputes (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *cache = path_in (fixture, "cache");
  g_autofree char *cache_arg = g_strdup_printf ("--cache=%s", cache);
  g_autofree char *other_job = path_in (fixture, "other-job");
  g_autofree char *other_output = path_in (fixture, "other.jsonl");
  g_autofree char *plugins = NULL;
  g_autofree char *err = NULL;
  g_autofree char *text = NULL;

  g_test_bug ("9");
  g_test_summary ("A plugin module rebuilt with a change but the same declared version: the "
                  "job says which stages compute again, computes that stage and what is "
                  "downstream (nothing upstream), and its output changes; the next run is up "
                  "to date; a job sharing the store with the old module's results does not "
                  "take them; going back to the old module takes its results from the store");
  plugins = install_stamp (fixture, "old");
  g_assert_cmpint (run_stamped (fixture, job, output, cache_arg, &err), ==, 0);
  text = read_file (output);
  g_assert_nonnull (strstr (text, "\"id\":\"input:1\",\"text\":\"line 0 alpha beta 0 [old]\""));
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, N_LINES);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&text, g_free);

  g_clear_pointer (&plugins, g_free);
  plugins = install_stamp (fixture, "new");

  /* The shared store holds the old module's results, under the old
   * module's keys: another job with the new module computes its own from
   * the stage on, and takes what is upstream of it from the store. */
  g_assert_cmpint (run_stamped (fixture, other_job, other_output, cache_arg, NULL), ==, 0);
  text = read_file (other_output);
  g_assert_nonnull (strstr (text, "\"id\":\"input:1\",\"text\":\"line 0 alpha beta 0 [new]\""));
  g_assert_null (strstr (text, "[old]"));
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, 2 * N_LINES);
  g_clear_pointer (&text, g_free);

  /* The first job, run again: it says what its new module recomputes
   * (here the other job had computed it already). */
  g_assert_cmpint (run_stamped (fixture, job, output, NULL, &err), ==, 0);
  g_test_message ("%s", err);
  sutra_assert_contains (err, "plugin “stamp” 1.0.0 is not the module this job last ran");
  sutra_assert_contains (err, "stage “tag” and what is downstream of it compute again");
  sutra_assert_not_contains (err, "differs");
  sutra_assert_not_contains (err, "up to date");
  text = read_file (output);
  g_assert_nonnull (strstr (text, "\"id\":\"input:1\",\"text\":\"line 0 alpha beta 0 [new]\""));
  g_assert_null (strstr (text, "[old]"));
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_stamped (fixture, job, output, NULL, &err), ==, 0);
  sutra_assert_contains (err, "is up to date");
  sutra_assert_not_contains (err, "not the module");
  g_clear_pointer (&err, g_free);

  /* Back to the old module: its results are still in the store. */
  g_clear_pointer (&plugins, g_free);
  plugins = install_stamp (fixture, "old");
  g_assert_cmpint (run_stamped (fixture, job, output, NULL, &err), ==, 0);
  sutra_assert_contains (err, "stage “tag” and what is downstream of it compute again");
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, 2 * N_LINES);
  g_clear_pointer (&text, g_free);
  text = read_file (output);
  g_assert_nonnull (strstr (text, "[old]"));
}

static void
test_resume_execution_settings_are_no_change (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *count2 = g_strdup_printf ("--set=count2=%s", fixture->count2);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) tuned = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) rebatched = sutra_args (fixture, "run", job, output);
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  g_autofree char *err = NULL;
  guint computed;

  g_test_bug ("9");
  g_test_summary ("workers, queue and batch given with --set are not a pipeline change: no "
                  "--force, nothing computed again; with its output gone, a stage whose batch "
                  "changed computes its items again and the stages around it keep theirs");
  add_arg (first, count2);
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  expected = read_file (output);
  computed = count_lines (fixture->count2);

  add_arg (tuned, count2);
  add_arg (tuned, "--set=work.workers=1");
  add_arg (tuned, "--set=again.workers=4");
  add_arg (tuned, "--set=join.queue=4096");
  add_arg (tuned, "--set=write.batch=5");
  g_assert_cmpint (run_sutra (tuned, &err, NULL), ==, 0);
  g_test_message ("%s", err);
  sutra_assert_not_contains (err, "differs");
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, computed);
  g_clear_pointer (&err, g_free);

  /* The sink must run: its output is gone. The split's batches are other
   * batches now; the maps before and after it find theirs. */
  g_assert_cmpint (g_unlink (output), ==, 0);
  add_arg (rebatched, count2);
  add_arg (rebatched, "--set=split.batch=3");
  g_assert_cmpint (run_sutra (rebatched, &err, NULL), ==, 0);
  sutra_assert_not_contains (err, "differs");
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
  g_assert_cmpuint (count_lines (fixture->count2), ==, computed);
  actual = read_file (output);
  assert_same_output (actual, expected);
}

static void
test_resume_changed_on_error_reuses_work (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *count2 = g_strdup_printf ("--set=count2=%s", fixture->count2);
  g_autoptr (GPtrArray) failing = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) skipping = sutra_args (fixture, "run", job, output);
  g_autofree char *err = NULL;
  g_autofree char *text = NULL;
  guint before;

  g_test_bug ("9");
  g_test_summary ("A run that failed on an item, run again with on_error skip (no --force): "
                  "what was finished is taken from the job, the failed item is tried again "
                  "and skipped");
  add_arg (failing, count2);
  add_arg (failing, "--set=fail_on=input:4000/0002");
  add_arg (failing, "--set=again.on_error=fail");
  add_arg (failing, "--set=sleep=20");
  g_assert_cmpint (run_sutra (failing, NULL, NULL), ==, 1);
  before = count_lines (fixture->count2);
  g_test_message ("the failed run computed %u items of “again”", before);

  add_arg (skipping, count2);
  add_arg (skipping, "--set=fail_on=input:4000/0002");
  add_arg (skipping, "--set=sleep=20");
  /* Not --quiet: the notes are what this checks. */
  drop_arg (skipping, "--quiet");
  g_assert_cmpint (run_sutra (skipping, &err, NULL), ==, 0);
  g_test_message ("%s", err);
  sutra_assert_not_contains (err, "differs");
  sutra_assert_contains (err, "stage “again”: on_error changed");
  sutra_assert_contains (err, "input:4000/0002");
  /* Every item of the counted maps computed once in all, but for the
   * failed batch and those in flight when the run stopped: the failed run's
   * work was kept. */
  g_assert_cmpuint (count_lines (fixture->count2), <, N_LINES * 5 + 64 * 3);
  g_assert_cmpuint (count_lines (fixture->count2), >=, N_LINES * 5);
  g_assert_cmpuint (count_lines (fixture->count), <=, N_LINES + 16 * 3);
  text = read_file (output);
  g_assert_null (strstr (text, "\"id\":\"input:4000\""));
  g_assert_nonnull (strstr (text, "\"id\":\"input:4001\""));
}

static void
test_resume_changed_retry_tries_failed (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autofree char *count2 = g_strdup_printf ("--set=count2=%s", fixture->count2);
  g_autoptr (GPtrArray) first = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) retrying = sutra_args (fixture, "run", job, output);
  g_autofree char *err = NULL;
  guint computed;

  g_test_bug ("9");
  g_test_summary ("Items skipped on failure, run again with another retry policy: only the "
                  "batch that held the failure is computed again, without --retry-failed");
  add_arg (first, count2);
  add_arg (first, "--set=fail_on=input:17/0002");
  g_assert_cmpint (run_sutra (first, NULL, NULL), ==, 0);
  computed = count_lines (fixture->count2);

  add_arg (retrying, count2);
  add_arg (retrying, "--set=fail_on=input:17/0002");
  add_arg (retrying, "--set=again.retry=2");
  drop_arg (retrying, "--quiet");
  g_assert_cmpint (run_sutra (retrying, &err, NULL), ==, 0);
  g_test_message ("%s", err);
  sutra_assert_contains (err, "stage “again”: retry changed");
  computed = count_lines (fixture->count2) - computed;
  /* The batch of 32 with the failure, twice (two attempts), then item by
   * item: at least 32, and fewer than a batch's items four times. */
  g_test_message ("computed %u items again", computed);
  g_assert_cmpuint (computed, >=, 32);
  g_assert_cmpuint (computed, <, 4 * 32);
  g_assert_cmpuint (count_lines (fixture->count), ==, N_LINES);
}

/* One job of `sutra jobs --json DIR`'s list. */
static JsonObject *
listed_job (const char *job)
{
  g_autofree char *text = sutra_says ("jobs", "--json", job, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonArray *jobs;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  jobs = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (jobs), ==, 1);
  return json_object_ref (json_array_get_object_element (jobs, 0));
}

static void
test_resume_jobs_lists_killed_job (Fixture *fixture, gconstpointer data)
{
  g_autofree char *job = path_in (fixture, "job");
  g_autofree char *output = path_in (fixture, "out.jsonl");
  g_autoptr (GPtrArray) args = sutra_args (fixture, "run", job, output);
  g_autoptr (GPtrArray) resume = sutra_args (fixture, "resume", job, NULL);
  g_autoptr (JsonObject) killed = NULL;
  g_autoptr (JsonObject) resumed = NULL;
  JsonArray *command;
  int status;
  GPid pid;

  g_test_bug ("9");
  g_test_summary ("A job killed with SIGKILL is listed by `sutra jobs` as interrupted, with "
                  "its command and no end; resumed, it is done, its last command is the "
                  "resume, and its time includes both runs");
  add_arg (args, "--set=sleep=300");
  pid = spawn_sutra (args);
  /* Killed once it has committed work: its job and journal exist. */
  for (guint i = 0; i < 20000 && committed_items (job, "work") == 0; i++)
    g_usleep (1000);
  g_assert_cmpuint (committed_items (job, "work"), >, 0);
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  if (WIFEXITED (status))
    {
      /* It finished first: the machine is too fast for this test's input. */
      g_test_skip ("the run finished before it could be killed");
      return;
    }

  killed = listed_job (job);
  g_assert_cmpstr (json_object_get_string_member (killed, "state"), ==, "interrupted");
  g_assert_true (json_object_get_null_member (killed, "last_finished"));
  g_assert_nonnull (json_object_get_string_member (killed, "started"));
  command = json_object_get_array_member (killed, "command");
  g_assert_cmpstr (json_array_get_string_element (command, 1), ==, "run");

  g_assert_cmpint (run_sutra (resume, NULL, NULL), ==, 0);
  resumed = listed_job (job);
  g_assert_cmpstr (json_object_get_string_member (resumed, "state"), ==, "done");
  g_assert_nonnull (json_object_get_string_member (resumed, "last_finished"));
  g_assert_cmpstr (json_object_get_string_member (resumed, "started"), ==,
                   json_object_get_string_member (killed, "started"));
  command = json_object_get_array_member (resumed, "command");
  g_assert_cmpstr (json_array_get_string_element (command, 1), ==, "resume");
  g_assert_cmpfloat (json_object_get_double_member (resumed, "seconds"), >,
                     json_object_get_double_member (killed, "seconds"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/engine/resume/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("survives-random-kills", test_resume_survives_random_kills);
  ADD ("killed-before-job-exists", test_resume_killed_before_job_exists);
  ADD ("split-too-large-to-store", test_resume_split_too_large_to_store);
  ADD ("finished-job-computes-nothing", test_resume_finished_job_computes_nothing);
  ADD ("changed-parameter-recomputes-downstream",
       test_resume_changed_parameter_recomputes_downstream);
  ADD ("cache-is-shared-between-jobs", test_resume_cache_is_shared_between_jobs);
  ADD ("refuses-running-job", test_resume_refuses_running_job);
  ADD ("job-waits-for-gc", test_resume_job_waits_for_gc);
  ADD ("fifo-input", test_resume_fifo_input);
  ADD ("after-sigint", test_resume_after_sigint);
  ADD ("corrupt-store-entry-is-recomputed", test_resume_corrupt_store_entry_is_recomputed);
  ADD ("damaged-journal", test_resume_damaged_journal);
  ADD ("full-disk", test_resume_full_disk);
  ADD ("full-disk-under-journal", test_resume_full_disk_under_journal);
  ADD ("half-made-journal", test_resume_half_made_journal);
  ADD ("retry-failed", test_resume_retry_failed);
  ADD ("failed-run-status", test_resume_failed_run_status);
  ADD ("retry-failed-after-interruption", test_resume_retry_failed_after_interruption);
  ADD ("failure-in-uncheckpointed-stage", test_resume_failure_in_uncheckpointed_stage);
  ADD ("sink-batch-changed", test_resume_sink_batch_changed);
  ADD ("gather-of-partly-changed-groups", test_resume_gather_of_partly_changed_groups);
  ADD ("gc-frees-unreferenced", test_resume_gc_frees_unreferenced);
  ADD ("input-digest-recorded", test_resume_input_digest_recorded);
  ADD ("fan-out-and-in", test_resume_fan_out_and_in);
  ADD ("rebuilt-module-recomputes", test_resume_rebuilt_module_recomputes);
  ADD ("execution-settings-are-no-change", test_resume_execution_settings_are_no_change);
  ADD ("changed-on-error-reuses-work", test_resume_changed_on_error_reuses_work);
  ADD ("changed-retry-tries-failed", test_resume_changed_retry_tries_failed);
  ADD ("jobs-lists-killed-job", test_resume_jobs_lists_killed_job);
#undef ADD
  return g_test_run ();
}
