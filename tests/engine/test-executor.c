/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-executor.c and sutra-executor-thread.c: the seam
 * every plugin call goes through, with threads. */

#include "sutra-executor-private.h"
#include "sutra-registry.h"
#include "sutra-run.h"
#include "sutra-settings.h"
#include "sutra-test-util.h"

#include <json-glib/json-glib.h>

static SutraRegistry *registry;
static char *registry_problem;

/* A stage of the registry with its settings, and a config to make its
 * executor with (a context on the CPU, a work dir of the test's own). */
typedef struct
{
  const SutraStageInfo *info;
  SutraSettings *settings;
  char *work_dir;
  gint cancelled;
  SutraExecutorConfig config;
} Stage;

static void
stage_init (Stage *stage, const char *name, const char *params_json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) params = NULL;

  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  *stage = (Stage){ 0 };
  stage->info = sutra_registry_find_stage (registry, name, NULL);
  g_assert_nonnull (stage->info);
  params = json_from_string (params_json != NULL ? params_json : "{}", &error);
  g_assert_no_error (error);
  stage->settings = sutra_settings_new_checked (stage->info, json_node_get_object (params), &error);
  g_assert_no_error (error);
  stage->work_dir = sutra_test_dir ();
  stage->config = (SutraExecutorConfig){
    .info = stage->info,
    .plugin_name = name,
    .settings = sutra_settings_get_data (stage->settings),
    .context = {
      .stage_name = "under-test",
      .worker_index = 0,
      .n_workers = 1,
      .device = "cpu",
      .device_index = -1,
      .work_dir = stage->work_dir,
    },
    .cancelled = &stage->cancelled,
  };
}

static void
stage_clear (Stage *stage)
{
  g_clear_pointer (&stage->settings, sutra_settings_free);
  g_free (stage->work_dir);
}

static GPtrArray *
make_items (guint n)
{
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);

      g_ptr_array_add (items, sutra_item_new_root ("in", i, "text/plain",
                                                   g_bytes_new (text, strlen (text))));
    }
  return items;
}

static void
test_executor_thread_process (void)
{
  Stage stage;
  g_autoptr (SutraExecutor) executor = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = make_items (5);
  gboolean misused = TRUE;
  SutraOutput output;

  g_test_summary ("The thread executor makes the instance and calls process on this thread: "
                  "a map's outputs are its inputs, in order");
  stage_init (&stage, "identity", NULL);
  if (g_test_failed () || registry_problem != NULL)
    return;
  executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &stage.config, &misused, &error);
  g_assert_no_error (error);
  g_assert_nonnull (executor);
  g_assert_false (misused);
  g_assert_cmpint (sutra_executor_get_isolation (executor), ==, SUTRA_ISOLATION_THREAD);

  sutra_output_init_collect (&output, &stage.cancelled);
  g_assert_true (sutra_executor_process (executor, (SutraItem *const *) items->pdata, items->len,
                                         &output, &error));
  g_assert_no_error (error);
  g_assert_false (sutra_output_was_misused (&output));
  g_assert_cmpuint (output.items->len, ==, 5);
  for (guint i = 0; i < items->len; i++)
    g_assert_cmpstr (sutra_item_get_id (output.items->pdata[i]), ==,
                     sutra_item_get_id (items->pdata[i]));
  sutra_output_clear (&output);
  stage_clear (&stage);
}

static void
test_executor_thread_context (void)
{
  Stage stage;
  g_autoptr (SutraExecutor) executor = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = make_items (1);
  SutraOutput output;
  JsonObject *meta;

  g_test_summary ("create gets the config's context (worker index, device), copied: the "
                  "caller's config may go away");
  stage_init (&stage, "device-probe", NULL);
  if (g_test_failed () || registry_problem != NULL)
    return;
  stage.config.context.worker_index = 3;
  stage.config.context.device = "cuda:1";
  stage.config.context.device_index = 1;
  {
    SutraExecutorConfig copy = stage.config;

    executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &copy, NULL, &error);
    memset (&copy, 0, sizeof copy);
  }
  g_assert_no_error (error);
  sutra_output_init_collect (&output, &stage.cancelled);
  g_assert_true (
    sutra_executor_process (executor, (SutraItem *const *) items->pdata, 1, &output, &error));
  g_assert_cmpuint (output.items->len, ==, 1);
  meta = sutra_item_get_meta (output.items->pdata[0]);
  g_assert_nonnull (meta);
  g_assert_cmpstr (json_object_get_string_member (meta, "device"), ==, "cuda:1");
  g_assert_cmpint (json_object_get_int_member (meta, "worker"), ==, 3);
  sutra_output_clear (&output);
  stage_clear (&stage);
}

static void
test_executor_thread_misuse (void)
{
  g_test_summary ("A process call that breaks an API rule marks its output (the call is "
                  "bracketed), and the misuse error names the stage, plugin and function");
  /* The critical is expected: in a subprocess, where it is not fatal. */
  if (g_test_subprocess ())
    {
      Stage stage;
      g_autoptr (SutraExecutor) executor = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GError) misuse = NULL;
      g_autoptr (GPtrArray) items = make_items (2);
      SutraOutput output;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      stage_init (&stage, "rogue-map", "{ \"mode\": \"push-null\" }");
      executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &stage.config, NULL, &error);
      g_assert_no_error (error);
      sutra_output_init_collect (&output, &stage.cancelled);
      (void) sutra_executor_process (executor, (SutraItem *const *) items->pdata, items->len,
                                     &output, &error);
      g_assert_true (sutra_output_was_misused (&output));
      misuse = sutra_executor_misuse_error ("bad", "rogue-map", &output);
      g_assert_error (misuse, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT);
      g_print ("%s\n", misuse->message);
      sutra_output_clear (&output);
      stage_clear (&stage);
      return;
    }
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*item != NULL*");
  /* g_print() converts to the locale's charset: match the ASCII parts. */
  g_test_trap_assert_stdout ("*bad*rogue-map*misused the plugin API: it called "
                             "sutra_output_push() and failed its check*item != NULL*");
}

static void
test_executor_thread_create_failed (void)
{
  Stage stage;
  g_autoptr (GError) error = NULL;
  gboolean misused = TRUE;
  SutraExecutor *executor;

  g_test_summary ("A create that fails gives no executor, the plugin's own error, and no "
                  "misuse");
  stage_init (&stage, "jsonl-sink", "{ \"path\": \"/nonexistent-sutra-dir/out.jsonl\" }");
  if (g_test_failed () || registry_problem != NULL)
    return;
  executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &stage.config, &misused, &error);
  g_assert_null (executor);
  g_assert_nonnull (error);
  g_assert_false (misused);
  sutra_assert_contains (error->message, "/nonexistent-sutra-dir/out.jsonl");
  stage_clear (&stage);
}

static void
test_executor_thread_finish_sync_absent (void)
{
  Stage stage;
  g_autoptr (SutraExecutor) executor = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_strdup ("stale");
  SutraOutput output;

  g_test_summary ("finish and sync of a stage that has neither succeed, pushing nothing, "
                  "with no state");
  stage_init (&stage, "identity", NULL);
  if (g_test_failed () || registry_problem != NULL)
    return;
  executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &stage.config, NULL, &error);
  g_assert_no_error (error);
  sutra_output_init_collect (&output, &stage.cancelled);
  g_assert_true (sutra_executor_finish (executor, &output, &error));
  g_assert_cmpuint (output.items->len, ==, 0);
  sutra_output_clear (&output);
  g_clear_pointer (&state, g_free);
  g_assert_true (sutra_executor_sync (executor, &state, &error));
  g_assert_no_error (error);
  g_assert_null (state);
  stage_clear (&stage);
}

static void
test_executor_sync_sink (void)
{
  Stage stage;
  g_autoptr (SutraExecutor) executor = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *params = NULL;
  g_autofree char *state = NULL;

  g_test_summary ("sync reaches a sink's sync through the executor and returns its state");
  path = g_build_filename (g_get_user_cache_dir (), "out.jsonl", NULL);
  params = g_strdup_printf ("{ \"path\": \"%s\" }", path);
  stage_init (&stage, "jsonl-sink", params);
  if (g_test_failed () || registry_problem != NULL)
    return;
  if (stage.info->sync == NULL)
    {
      g_test_skip ("jsonl-sink has no sync in this build");
      stage_clear (&stage);
      return;
    }
  executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &stage.config, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_executor_sync (executor, &state, &error));
  g_assert_no_error (error);
  g_assert_nonnull (state);
  g_clear_pointer (&executor, sutra_executor_free);
  stage_clear (&stage);
}

static void
test_executor_process_unavailable (void)
{
  Stage stage;
  g_autoptr (GError) error = NULL;

  g_test_summary ("Until the process executor is built in, isolation “process” is refused "
                  "with a clear error");
  stage_init (&stage, "identity", NULL);
  if (g_test_failed () || registry_problem != NULL)
    return;
  g_assert_null (sutra_executor_new (SUTRA_ISOLATION_PROCESS, &stage.config, NULL, &error));
  g_assert_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START);
  sutra_assert_contains (error->message, "isolation \"process\" is not available");
  stage_clear (&stage);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *extra = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);
  for (const char *const *m = (const char *const[]){ "rogue", "device-probe", NULL };
       registry_problem == NULL && *m != NULL; m++)
    {
      g_autofree char *name = g_strconcat (*m, "." G_MODULE_SUFFIX, NULL);

      g_free (extra);
      extra =
        g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine", "plugins", name, NULL);
      if (!sutra_registry_load_file (registry, extra, &error))
        registry_problem = g_strdup (error->message);
    }

  g_test_add_func ("/engine/executor/thread/process", test_executor_thread_process);
  g_test_add_func ("/engine/executor/thread/context", test_executor_thread_context);
  g_test_add_func ("/engine/executor/thread/misuse", test_executor_thread_misuse);
  g_test_add_func ("/engine/executor/thread/create-failed", test_executor_thread_create_failed);
  g_test_add_func ("/engine/executor/thread/finish-sync-absent",
                   test_executor_thread_finish_sync_absent);
  g_test_add_func ("/engine/executor/thread/sync-sink", test_executor_sync_sink);
  g_test_add_func ("/engine/executor/process/unavailable", test_executor_process_unavailable);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
