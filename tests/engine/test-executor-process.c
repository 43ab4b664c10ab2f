/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for engine/sutra-executor-process.c: the process executor driven
 * directly, with the fault plugin crashing, aborting, exiting and hanging
 * in its worker process, and the process table checked after each stop. */

#include "sutra-executor-process.h"
#include "sutra-item-private.h"
#include "sutra-record.h"
#include "sutra-registry.h"
#include "sutra-settings.h"
#include "sutra-test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static SutraRegistry *registry;

/* One worker's configuration, with what it points to. */
typedef struct
{
  SutraExecutorConfig config;
  SutraSettings *settings;
  JsonObject *params;
  char *work_dir;
} Setup;

static Setup *
setup_new (const char *stage_name, const char *params_json, guint timeout_ms)
{
  Setup *setup = g_new0 (Setup, 1);
  const SutraPlugin *plugin = NULL;
  const SutraStageInfo *stage = sutra_registry_find_stage (registry, stage_name, &plugin);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (stage);
  json_parser_load_from_data (parser, params_json, -1, &error);
  g_assert_no_error (error);
  setup->params = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  setup->settings = sutra_settings_new_checked (stage, setup->params, &error);
  g_assert_no_error (error);
  /* What the pipeline gives executors: every parameter, resolved (unset
   * strings as null), as sutra_settings_to_json() makes them. */
  json_object_unref (setup->params);
  setup->params = sutra_settings_to_json (setup->settings);
  /* The killed-parent child runs outside g_test_init(): no test dir. */
  setup->work_dir = g_getenv ("SUTRA_TEST_BE_KILLED_PARENT") != NULL ? g_strdup (g_get_tmp_dir ())
                                                                     : sutra_test_dir ();
  setup->config = (SutraExecutorConfig){
    .info = stage,
    .plugin_path = plugin->path,
    .plugin_name = stage_name,
    .resolved_params = setup->params,
    .settings = sutra_settings_get_data (setup->settings),
    .context = { .stage_name = "under-test",
                 .worker_index = 0,
                 .n_workers = 1,
                 .device = "cpu",
                 .device_index = -1,
                 .work_dir = setup->work_dir },
    .timeout_ms = timeout_ms,
  };
  return setup;
}

static void
setup_free (Setup *setup)
{
  sutra_settings_free (setup->settings);
  json_object_unref (setup->params);
  g_free (setup->work_dir);
  g_free (setup);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Setup, setup_free)

/* Items "b:FIRST" .. "b:FIRST+N-1", text "line I". */
static GPtrArray *
make_items (guint first, guint n)
{
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *id = g_strdup_printf ("b:%u", i);
      g_autofree char *text = g_strdup_printf ("line %u", i);

      g_ptr_array_add (items, sutra_item_new_root (id, i, "text/plain",
                                                   g_bytes_new (text, strlen (text))));
    }
  return items;
}

/* Calls process and returns the outputs as one record body, for comparing
 * two executors byte for byte; NULL with @error on failure. */
static GBytes *
run_batch (SutraExecutor *executor, GPtrArray *items, gboolean *misused, GError **error)
{
  SutraOutput output;
  GBytes *body = NULL;

  sutra_output_init_collect (&output, NULL);
  if (sutra_executor_process (executor, (SutraItem *const *) items->pdata, items->len, &output,
                              error))
    body = sutra_record_encode (output.items, NULL);
  if (misused != NULL)
    *misused = sutra_output_was_misused (&output);
  sutra_output_clear (&output);
  return body;
}

/* The pids of this process's children, from /proc (every thread's list:
 * the spawner thread is their parent). */
static GArray *
list_children (void)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GDir) tasks = g_dir_open ("/proc/self/task", 0, NULL);
  const char *task;

  g_assert_nonnull (tasks);
  while ((task = g_dir_read_name (tasks)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/children", task);
      g_autofree char *text = NULL;
      g_auto (GStrv) fields = NULL;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      fields = g_strsplit (g_strstrip (text), " ", -1);
      for (guint i = 0; fields[i] != NULL; i++)
        if (fields[i][0] != '\0')
          {
            int pid = atoi (fields[i]);

            g_array_append_val (pids, pid);
          }
    }
  return pids;
}

/* Whether @pid runs (a zombie no longer runs: whoever adopted it reaps it). */
static gboolean
process_is_running (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  const char *end;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  end = strrchr (text, ')');
  return end != NULL && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

static void
test_executor_process_outputs_equal_thread (void)
{
  g_autoptr (Setup) setup = setup_new ("fault", "{ \"mark_on\": \"b:1*\", \"mark\": \"> \" }", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) thread = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  gboolean misused = TRUE;

  g_test_summary ("A batch through a worker process gives byte for byte the outputs of the "
                  "same batch through a thread: passed-on and derived items alike");
  thread = sutra_executor_new (SUTRA_ISOLATION_THREAD, &setup->config, NULL, &error);
  g_assert_no_error (error);
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, &misused, &error);
  g_assert_no_error (error);
  g_assert_false (misused);
  g_assert_cmpint (sutra_executor_get_isolation (process), ==, SUTRA_ISOLATION_PROCESS);
  for (guint batch = 0; batch < 3; batch++)
    {
      g_autoptr (GPtrArray) items = make_items (batch * 50, 50);
      g_autoptr (GBytes) expected = run_batch (thread, items, NULL, &error);
      g_autoptr (GBytes) got = NULL;

      g_assert_no_error (error);
      got = run_batch (process, items, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (g_bytes_equal (expected, got));
    }
  {
    /* An empty batch is a batch. */
    g_autoptr (GPtrArray) none = make_items (0, 0);
    g_autoptr (GBytes) got = run_batch (process, none, NULL, &error);

    g_assert_no_error (error);
    g_assert_nonnull (got);
  }
}

static const struct
{
  const char *mode;
  guint timeout_ms;
  gint code;
  const char *says;
} failures[] = {
  /* Under AddressSanitizer a crash is reported, then aborted (signal 6):
   * check the kind of ending, not the signal. */
  { "crash", 0, SUTRA_EXECUTOR_ERROR_CRASHED, "was killed by signal" },
  { "abort", 0, SUTRA_EXECUTOR_ERROR_CRASHED, "was killed by signal 6 (Aborted" },
  { "exit", 0, SUTRA_EXECUTOR_ERROR_CRASHED, "exited with status 3" },
  { "hang", 300, SUTRA_EXECUTOR_ERROR_TIMED_OUT, "ran past the stage's timeout_ms (300 ms)" },
};

static void
test_executor_process_survives (gconstpointer data)
{
  guint row = GPOINTER_TO_UINT (data);
  g_autofree char *params =
    g_strdup_printf ("{ \"fail_on\": \"b:15\", \"mode\": \"%s\" }", failures[row].mode);
  g_autoptr (Setup) setup = setup_new ("fault", params, failures[row].timeout_ms);
  g_autoptr (Setup) plain = setup_new ("fault", "{}", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) thread = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) good = make_items (0, 10);
  g_autoptr (GPtrArray) bad = make_items (10, 10);
  g_autoptr (GPtrArray) after = make_items (20, 10);
  g_autoptr (GBytes) expected = NULL;
  g_autoptr (GBytes) got = NULL;
  g_autoptr (GArray) children = NULL;
  GPid first_pid, second_pid;

  g_test_summary ("A worker process that crashes, aborts, exits or hangs fails only the batch "
                  "it was given, with the code and a message that says what happened; the next "
                  "call gets a fresh worker and right outputs, and the old one is gone");
  thread = sutra_executor_new (SUTRA_ISOLATION_THREAD, &plain->config, NULL, &error);
  g_assert_no_error (error);
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
  g_assert_no_error (error);
  first_pid = sutra_executor_process_get_pid (process);
  g_assert_cmpint (first_pid, >, 0);

  got = run_batch (process, good, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&got, g_bytes_unref);

  got = run_batch (process, bad, NULL, &error);
  g_assert_null (got);
  g_assert_error (error, SUTRA_EXECUTOR_ERROR, failures[row].code);
  sutra_assert_contains (error->message, "worker process 0");
  sutra_assert_contains (error->message, "of stage “under-test”");
  sutra_assert_contains (error->message, failures[row].says);
  sutra_assert_contains (error->message, "while processing 10 items from “b:10”");
  g_clear_error (&error);
  /* Killed and reaped before the call returned. */
  g_assert_false (process_is_running (first_pid));
  g_assert_cmpint (sutra_executor_process_get_pid (process), ==, 0);

  expected = run_batch (thread, after, NULL, &error);
  g_assert_no_error (error);
  got = run_batch (process, after, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (expected, got));
  second_pid = sutra_executor_process_get_pid (process);
  g_assert_cmpint (second_pid, >, 0);
  g_assert_cmpint (second_pid, !=, first_pid);

  g_clear_pointer (&process, sutra_executor_free);
  children = list_children ();
  g_assert_cmpuint (children->len, ==, 0);
  g_assert_false (process_is_running (second_pid));
}

static void
test_executor_process_plugin_error (void)
{
  g_autoptr (Setup) setup = setup_new ("fault", "{ \"fail_on\": \"b:3\" }", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) items = make_items (0, 5);
  g_autoptr (GBytes) got = NULL;
  GPid pid;

  g_test_summary ("A plugin's own error comes back with its domain, code and message, and the "
                  "worker process stays");
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
  g_assert_no_error (error);
  pid = sutra_executor_process_get_pid (process);
  got = run_batch (process, items, NULL, &error);
  g_assert_null (got);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_cmpstr (error->message, ==, "failing on purpose at item “b:3”");
  g_assert_cmpint (sutra_executor_process_get_pid (process), ==, pid);
}

static void
test_executor_process_misuse (void)
{
  g_autoptr (Setup) setup =
    setup_new ("fault", "{ \"fail_on\": \"b:1\", \"mode\": \"misuse\" }", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) items = make_items (0, 3);
  SutraOutput output;
  gboolean ok;

  g_test_summary ("A misuse of the plugin API in the worker marks the caller's output, with "
                  "the function and the rule, as a thread call would");
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
  g_assert_no_error (error);
  sutra_output_init_collect (&output, NULL);
  ok = sutra_executor_process (process, (SutraItem *const *) items->pdata, items->len, &output,
                               &error);
  /* The plugin returned TRUE: the misuse alone fails the call (the caller
   * checks the output, as it does after a thread call). */
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_true (sutra_output_was_misused (&output));
  g_assert_cmpstr (output.misused_function, ==, "sutra_output_push");
  g_assert_cmpstr (output.misused_rule, ==, "item != NULL");
  g_assert_cmpuint (output.items->len, ==, 2);
  sutra_output_clear (&output);
}

static void
test_executor_process_create_fails (void)
{
  g_autoptr (Setup) setup = setup_new ("fault", "{ \"fail_create\": true }", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) children = NULL;
  SutraExecutor *process;
  gboolean misused = TRUE;

  g_test_summary ("A create that fails in the worker fails sutra_executor_new with the plugin's "
                  "error, and leaves no process");
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, &misused, &error);
  g_assert_null (process);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED);
  sutra_assert_contains (error->message, "fail_create is set");
  g_assert_false (misused);
  children = list_children ();
  g_assert_cmpuint (children->len, ==, 0);
}

static void
test_executor_process_missing_worker (void)
{
  g_autoptr (Setup) setup = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A worker program that is not there is a start error naming it and the fix");
  if (g_test_subprocess ())
    {
      SutraExecutor *process;

      g_setenv ("SUTRA_WORKER", "/nonexistent/sutra-worker", TRUE);
      setup = setup_new ("fault", "{}", 0);
      process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
      g_assert_null (process);
      g_assert_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START);
      sutra_assert_contains (error->message, "“/nonexistent/sutra-worker”");
      sutra_assert_contains (error->message, "SUTRA_WORKER");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static const struct
{
  const char *name;
  const char *script; /* what the impostor worker does */
  gint code;
  const char *says;
} impostors[] = {
  { "text", "printf 'hello, this is not a frame' >&3; exec sleep 30", SUTRA_EXECUTOR_ERROR_PROTOCOL,
    "unknown frame type 104" },
  { "huge-length", "printf '\\020\\000\\000\\000\\377\\377\\377\\377' >&3; exec sleep 30",
    SUTRA_EXECUTOR_ERROR_PROTOCOL, "over the limit" },
  { "wrong-frame", "printf '\\002\\000\\000\\000\\000\\000\\000\\000' >&3; exec sleep 30",
    SUTRA_EXECUTOR_ERROR_PROTOCOL, "a “process” frame, which only sutra sends" },
  { "cut-short", "printf '\\021\\000\\000\\000\\010\\000\\000\\000abc' >&3",
    SUTRA_EXECUTOR_ERROR_START, "exited with status 0 while creating its instance" },
};

static void
test_executor_process_impostor (gconstpointer data)
{
  guint row = GPOINTER_TO_UINT (data);

  g_test_summary ("A worker that sends what is not the protocol (text, a huge length, a frame "
                  "only sutra sends, a frame cut short) is killed, and its call fails with an "
                  "error saying so, never a crash or a huge allocation");
  if (g_test_subprocess ())
    {
      g_autofree char *dir = sutra_test_dir ();
      g_autofree char *text = g_strdup_printf ("#!/bin/sh\n%s\n", impostors[row].script);
      g_autofree char *script = sutra_test_write (dir, "impostor", text, -1);
      g_autoptr (Setup) setup = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) children = NULL;

      g_assert_cmpint (g_chmod (script, 0755), ==, 0);
      g_setenv ("SUTRA_WORKER", script, TRUE);
      setup = setup_new ("fault", "{}", 0);
      g_assert_null (sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error));
      g_assert_error (error, SUTRA_EXECUTOR_ERROR, impostors[row].code);
      sutra_assert_contains (error->message, impostors[row].says);
      children = list_children ();
      g_assert_cmpuint (children->len, ==, 0);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_executor_process_source_streams (void)
{
  g_autofree char *dir = sutra_test_dir ();
  GString *text = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autofree char *params = NULL;
  g_autoptr (Setup) setup = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) thread = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) none = make_items (0, 0);
  g_autoptr (GBytes) expected = NULL;
  g_autoptr (GBytes) got = NULL;

  g_test_summary ("A source in a worker process sends its items in several frames as it makes "
                  "them; they arrive whole and in order");
  for (guint i = 0; i < 20000; i++)
    g_string_append_printf (text, "line %u of a source long enough to stream\n", i);
  path = sutra_test_write (dir, "in.txt", text->str, (gssize) text->len);
  g_string_free (text, TRUE);
  params = g_strdup_printf ("{ \"path\": \"%s\", \"count_lines\": true }", path);
  setup = setup_new ("text-source", params, 0);
  thread = sutra_executor_new (SUTRA_ISOLATION_THREAD, &setup->config, NULL, &error);
  g_assert_no_error (error);
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
  g_assert_no_error (error);
  expected = run_batch (thread, none, NULL, &error);
  g_assert_no_error (error);
  got = run_batch (process, none, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (got), >, 64 * 1024);
  g_assert_true (g_bytes_equal (expected, got));
}

static void
test_executor_process_sink_sync (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *out_thread = g_build_filename (dir, "thread.jsonl", NULL);
  g_autofree char *out_process = g_build_filename (dir, "process.jsonl", NULL);
  g_autofree char *params_thread = g_strdup_printf ("{ \"path\": \"%s\" }", out_thread);
  g_autofree char *params_process = g_strdup_printf ("{ \"path\": \"%s\" }", out_process);
  g_autoptr (Setup) setup_thread = setup_new ("jsonl-sink", params_thread, 0);
  g_autoptr (Setup) setup_process = setup_new ("jsonl-sink", params_process, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) thread = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) items = make_items (0, 100);
  g_autofree char *state_thread = NULL;
  g_autofree char *state_process = NULL;
  g_autofree char *text_thread = NULL;
  g_autofree char *text_process = NULL;
  SutraOutput output;

  g_test_summary ("A sink in a worker process syncs (its state comes back) and finishes, and "
                  "writes what the same sink in a thread writes");
  thread = sutra_executor_new (SUTRA_ISOLATION_THREAD, &setup_thread->config, NULL, &error);
  g_assert_no_error (error);
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup_process->config, NULL, &error);
  g_assert_no_error (error);
  g_bytes_unref (run_batch (thread, items, NULL, &error));
  g_assert_no_error (error);
  g_bytes_unref (run_batch (process, items, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_executor_sync (thread, &state_thread, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_executor_sync (process, &state_process, &error));
  g_assert_no_error (error);
  g_assert_nonnull (state_process);
  g_assert_cmpstr (state_thread, ==, state_process);
  sutra_output_init_collect (&output, NULL);
  g_assert_true (sutra_executor_finish (thread, &output, &error));
  g_assert_true (sutra_executor_finish (process, &output, &error));
  g_assert_no_error (error);
  sutra_output_clear (&output);
  g_clear_pointer (&thread, sutra_executor_free);
  g_clear_pointer (&process, sutra_executor_free);
  g_file_get_contents (out_thread, &text_thread, NULL, &error);
  g_assert_no_error (error);
  g_file_get_contents (out_process, &text_process, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text_thread, ==, text_process);
  g_assert_cmpuint (sutra_test_count (text_process, "\n"), ==, 100);
}

static void
test_executor_process_cuda_devices (void)
{
  g_test_summary ("A worker on cuda:N gets the N-th visible GPU alone in CUDA_VISIBLE_DEVICES "
                  "and keeps the device's name; an N past the visible GPUs is refused");
  if (g_test_subprocess ())
    {
      g_autoptr (Setup) setup = setup_new ("fault", "{}", 0);
      g_autoptr (GError) error = NULL;
      g_autoptr (SutraExecutor) process = NULL;
      g_autofree char *environ_path = NULL;
      g_autofree char *environ_text = NULL;
      gsize length;
      gboolean found = FALSE;

      g_setenv ("CUDA_VISIBLE_DEVICES", "5,7", TRUE);
      setup->config.context.device = "cuda:1";
      setup->config.context.device_index = 1;
      process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
      g_assert_no_error (error);
      environ_path = g_strdup_printf ("/proc/%d/environ", sutra_executor_process_get_pid (process));
      g_file_get_contents (environ_path, &environ_text, &length, &error);
      g_assert_no_error (error);
      for (gsize at = 0; at < length; at += strlen (environ_text + at) + 1)
        if (strcmp (environ_text + at, "CUDA_VISIBLE_DEVICES=7") == 0)
          found = TRUE;
      g_assert_true (found);

      setup->config.context.device = "cuda:2";
      setup->config.context.device_index = 2;
      g_assert_null (sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error));
      g_assert_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START);
      sutra_assert_contains (error->message, "cuda:2");
      sutra_assert_contains (error->message, "CUDA_VISIBLE_DEVICES=“5,7”");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The child side of the killed-parent test: starts a worker, says its
 * pid, and dies of @signal_name's signal. */
static int
be_killed_parent (const char *signal_name)
{
  g_autoptr (Setup) setup = setup_new ("fault", "{}", 0);
  g_autoptr (GError) error = NULL;
  SutraExecutor *process =
    sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);

  g_assert_no_error (error);
  printf ("worker %d\n", (int) sutra_executor_process_get_pid (process));
  fflush (stdout);
  raise (strcmp (signal_name, "SIGKILL") == 0 ? SIGKILL : SIGSEGV);
  return 1;
}

static void
test_executor_process_killed_parent (gconstpointer data)
{
  const char *signal_name = data;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { self, NULL };
  g_auto (GStrv) envp =
    g_environ_setenv (g_get_environ (), "SUTRA_TEST_BE_KILLED_PARENT", signal_name, TRUE);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  const char *line;
  int status = 0;
  int pid;
  gint64 give_up;

  g_test_summary ("A worker process ends when sutra is killed (kill -9 included) and cannot "
                  "clean up");
  g_assert_nonnull (self);
  g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_assert_true (WIFSIGNALED (status));
  line = strstr (out, "worker ");
  g_assert_nonnull (line);
  pid = atoi (line + strlen ("worker "));
  g_assert_cmpint (pid, >, 0);
  /* The worker's lifeline reads end of stream as soon as the kernel closes
   * the dead parent's descriptors; a loaded machine may take a while to
   * schedule it, so this waits, long, for the event rather than timing it. */
  give_up = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (process_is_running (pid) && g_get_monotonic_time () < give_up)
    g_usleep (10000);
  g_assert_false (process_is_running (pid));
}

/* The pids of the running sutra-worker processes whose parent is @parent,
 * from /proc/PID/stat ("pid (comm) state ppid ..."). */
static GArray *
list_workers_of (int parent)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *text = NULL;
      const char *end;
      int pid = atoi (name), ppid;

      if (pid <= 0)
        continue;
      path = g_strdup_printf ("/proc/%d/stat", pid);
      if (!g_file_get_contents (path, &text, NULL, NULL) || strstr (text, "(sutra-worker)") == NULL)
        continue;
      end = strrchr (text, ')');
      if (end == NULL || sscanf (end + 2, "%*c %d", &ppid) != 1 || ppid != parent)
        continue;
      if (process_is_running (pid))
        g_array_append_val (pids, pid);
    }
  return pids;
}

typedef enum
{
  STOP_SIGKILL,
  STOP_SIGINT,
  STOP_SIGTERM,
  STOP_FAILED_RUN,
} StopKind;

static void
test_executor_process_sutra_stops (gconstpointer data)
{
  StopKind kind = GPOINTER_TO_INT (data);
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  GString *lines = g_string_new (NULL);
  g_autofree char *input = NULL;
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *pipeline_text = NULL;
  g_autofree char *pipeline = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) workers = NULL;
  const char *argv[] = { sutra, "run", "--no-job", "-q", NULL, NULL };
  GPid pid;
  int status = 0;
  gboolean exited = FALSE;
  gint64 give_up;

  g_test_summary ("Worker processes of a stage with isolation \"process\" do not outlive sutra: "
                  "not after kill -9, SIGINT, SIGTERM or a failed run (checked in /proc)");
  for (guint i = 1; i <= 1000; i++)
    g_string_append_printf (lines, "line %u\n", i);
  input = sutra_test_write (dir, "in.txt", lines->str, (gssize) lines->len);
  g_string_free (lines, TRUE);
  /* Slow enough (2 ms an item) that the run is stopped in its middle. */
  pipeline_text = g_strdup_printf (
    "{ \"sutra\": 1, \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"%s\" } },\n"
    "  \"pass\": { \"plugin\": \"fault\", \"input\": \"read\", \"isolation\": \"process\", "
    "\"workers\": 2, \"batch\": 8, \"params\": { \"sleep_us\": 2000%s } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pass\", \"params\": "
    "{ \"path\": \"%s\" } } } }\n",
    input, kind == STOP_FAILED_RUN ? ", \"fail_on\": \"in:200\"" : "", output);
  pipeline = sutra_test_write (dir, "p.json", pipeline_text, -1);
  argv[4] = pipeline;
  g_spawn_async (NULL, (char **) argv, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                   G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);

  /* Wait for both workers (or for the end of a run that made none). */
  give_up = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  for (;;)
    {
      g_clear_pointer (&workers, g_array_unref);
      workers = list_workers_of (pid);
      if (workers->len >= 2 || g_get_monotonic_time () > give_up)
        break;
      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          exited = TRUE;
          break;
        }
      g_usleep (5000);
    }
  if (workers->len == 0)
    {
      if (!exited)
        {
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
        }
      g_spawn_close_pid (pid);
      /* The run ended as it would have with workers: with threads. */
      if (exited && WIFEXITED (status) && WEXITSTATUS (status) == (kind == STOP_FAILED_RUN ? 1 : 0))
        {
          g_test_skip ("sutra ran the stage without worker processes: the scheduler does not "
                       "use the process executor yet (issue 10, item 4: the lead wires it)");
          return;
        }
      g_test_fail_printf ("sutra made no worker process (wait status %d)", status);
      return;
    }
  g_assert_false (exited);

  switch (kind)
    {
    case STOP_SIGKILL:
      kill (pid, SIGKILL);
      break;
    case STOP_SIGINT:
      kill (pid, SIGINT);
      break;
    case STOP_SIGTERM:
      kill (pid, SIGTERM);
      break;
    case STOP_FAILED_RUN:
      break;
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  switch (kind)
    {
    case STOP_SIGKILL:
      g_assert_true (WIFSIGNALED (status));
      break;
    case STOP_SIGINT:
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 130);
      break;
    case STOP_SIGTERM:
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 143);
      break;
    case STOP_FAILED_RUN:
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 1);
      break;
    }
  /* After a clean stop sutra reaped its workers itself; after kill -9 the
   * lifeline ends them as soon as they are scheduled. */
  for (guint i = 0; i < workers->len; i++)
    {
      int worker = g_array_index (workers, int, i);

      give_up = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      while (process_is_running (worker) && g_get_monotonic_time () < give_up)
        g_usleep (10000);
      g_assert_false (process_is_running (worker));
    }
}

static void
test_executor_process_cancelled_hang (void)
{
  g_autoptr (Setup) setup = setup_new ("fault", "{ \"fail_on\": \"b:1\", \"mode\": \"hang\" }", 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraExecutor) process = NULL;
  g_autoptr (GPtrArray) items = make_items (0, 3);
  g_autoptr (GBytes) got = NULL;
  gint cancelled = 0;
  GPid pid;

  g_test_summary ("A worker that hangs with no timeout_ms is killed a few seconds after the run "
                  "is cancelled, so that a cancelled run ends");
  setup->config.cancelled = &cancelled;
  process = sutra_executor_new (SUTRA_ISOLATION_PROCESS, &setup->config, NULL, &error);
  g_assert_no_error (error);
  pid = sutra_executor_process_get_pid (process);
  g_atomic_int_set (&cancelled, 1);
  got = run_batch (process, items, NULL, &error);
  g_assert_null (got);
  g_assert_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_TIMED_OUT);
  sutra_assert_contains (error->message, "did not stop within 5 s of the run being cancelled");
  g_assert_false (process_is_running (pid));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *killed = g_getenv ("SUTRA_TEST_BE_KILLED_PARENT");
  int status;

  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    g_error ("cannot load the plugins: %s", error->message);
  if (killed != NULL)
    return be_killed_parent (killed);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/executor-process/outputs-equal-thread",
                   test_executor_process_outputs_equal_thread);
  for (guint i = 0; i < G_N_ELEMENTS (failures); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/executor-process/survives/%s", failures[i].mode);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_executor_process_survives);
    }
  g_test_add_func ("/engine/executor-process/plugin-error", test_executor_process_plugin_error);
  g_test_add_func ("/engine/executor-process/misuse", test_executor_process_misuse);
  g_test_add_func ("/engine/executor-process/create-fails", test_executor_process_create_fails);
  g_test_add_func ("/engine/executor-process/missing-worker", test_executor_process_missing_worker);
  for (guint i = 0; i < G_N_ELEMENTS (impostors); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/executor-process/impostor/%s", impostors[i].name);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_executor_process_impostor);
    }
  g_test_add_func ("/engine/executor-process/cancelled-hang", test_executor_process_cancelled_hang);
  g_test_add_func ("/engine/executor-process/source-streams", test_executor_process_source_streams);
  g_test_add_func ("/engine/executor-process/sink-sync", test_executor_process_sink_sync);
  g_test_add_func ("/engine/executor-process/cuda-devices", test_executor_process_cuda_devices);
  g_test_add_data_func ("/engine/executor-process/killed-parent/sigkill", "SIGKILL",
                        test_executor_process_killed_parent);
  g_test_add_data_func ("/engine/executor-process/killed-parent/sigsegv", "SIGSEGV",
                        test_executor_process_killed_parent);
  g_test_add_data_func ("/engine/executor-process/sutra-stops/sigkill",
                        GINT_TO_POINTER (STOP_SIGKILL), test_executor_process_sutra_stops);
  g_test_add_data_func ("/engine/executor-process/sutra-stops/sigint",
                        GINT_TO_POINTER (STOP_SIGINT), test_executor_process_sutra_stops);
  g_test_add_data_func ("/engine/executor-process/sutra-stops/sigterm",
                        GINT_TO_POINTER (STOP_SIGTERM), test_executor_process_sutra_stops);
  g_test_add_data_func ("/engine/executor-process/sutra-stops/failed-run",
                        GINT_TO_POINTER (STOP_FAILED_RUN), test_executor_process_sutra_stops);
  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
