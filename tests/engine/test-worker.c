/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-worker.c: instances per stage, devices round-robin,
 * one instance per device (on fake GPUs: SUTRA_FAKE_DEVICES). */

#include "sutra-pipeline.h"
#include "sutra-registry.h"
#include "sutra-run-private.h"
#include "sutra-settings.h"
#include "sutra-test-util.h"
#include "sutra-worker.h"

static SutraRegistry *registry;
static char *registry_problem;

typedef struct
{
  SutraThreading threading;
  guint n_workers;
  guint n_devices;
  guint expected;
} CountCase;

static const CountCase count_cases[] = {
  { SUTRA_THREADING_PER_WORKER, 4, 0, 4 }, /* one per worker */
  { SUTRA_THREADING_PER_WORKER, 3, 2, 3 }, /* devices round-robin over them */
  { SUTRA_THREADING_SHARED, 4, 0, 1 },     /* one serves all */
  { SUTRA_THREADING_SHARED, 4, 2, 2 },     /* one per device */
  { SUTRA_THREADING_SHARED, 2, 3, 2 },     /* no more than workers use */
  { SUTRA_THREADING_SHARED, 1, 2, 1 },     { SUTRA_THREADING_SINGLE, 1, 2, 1 },
};

static void
test_worker_count_instances (void)
{
  g_test_summary ("A per-worker stage has one instance per worker; a shared one, one per "
                  "device (at most one per worker), at least one");
  for (gsize i = 0; i < G_N_ELEMENTS (count_cases); i++)
    {
      const CountCase *row = &count_cases[i];

      g_test_message ("threading %d, %u workers, %u devices", row->threading, row->n_workers,
                      row->n_devices);
      g_assert_cmpuint (sutra_worker_count_instances (row->threading, row->n_workers,
                                                      row->n_devices),
                        ==, row->expected);
    }
}

static void
test_worker_assign_device (void)
{
  char *devices[] = { "cuda:0", "cuda:1", NULL };
  char *none[] = { NULL };

  g_test_summary ("Devices go to instances round-robin; no devices means the CPU");
  g_assert_cmpstr (sutra_worker_assign_device (devices, 0), ==, "cuda:0");
  g_assert_cmpstr (sutra_worker_assign_device (devices, 1), ==, "cuda:1");
  g_assert_cmpstr (sutra_worker_assign_device (devices, 2), ==, "cuda:0");
  g_assert_cmpstr (sutra_worker_assign_device (devices, 5), ==, "cuda:1");
  g_assert_cmpstr (sutra_worker_assign_device (NULL, 3), ==, "cpu");
  g_assert_cmpstr (sutra_worker_assign_device (none, 0), ==, "cpu");
}

static void
test_worker_new_context (void)
{
  const SutraStageInfo *info;
  g_autoptr (SutraSettings) settings = NULL;
  g_autoptr (SutraWorker) worker = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) params = json_object_new ();
  char *devices[] = { "cpu", "cuda:3", NULL };
  SutraExecutorConfig config = { 0 };
  const SutraStageContext *context;
  gint cancelled = 0;

  g_test_summary ("A worker holds its index, its device (parsed once, here) and its "
                  "instance, whose context says the same");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  info = sutra_registry_find_stage (registry, "device-probe", NULL);
  g_assert_nonnull (info);
  settings = sutra_settings_new_checked (info, params, &error);
  g_assert_no_error (error);
  config = (SutraExecutorConfig){
    .info = info,
    .plugin_name = "device-probe",
    .settings = sutra_settings_get_data (settings),
    .context = { .stage_name = "probe", .n_workers = 4, .device = "ignored" },
    .cancelled = &cancelled,
  };
  worker = sutra_worker_new (3, devices, SUTRA_ISOLATION_THREAD, &config, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (worker);
  g_assert_cmpuint (worker->index, ==, 3);
  g_assert_cmpstr (worker->device, ==, "cuda:3");
  g_assert_cmpint (worker->device_index, ==, 3);
  g_assert_nonnull (worker->executor);
  context = sutra_worker_get_context (worker);
  g_assert_cmpuint (context->worker_index, ==, 3);
  g_assert_cmpstr (context->device, ==, "cuda:3");
  g_assert_cmpint (context->device_index, ==, 3);
  g_assert_cmpuint (context->n_workers, ==, 4);
  g_clear_pointer (&worker, sutra_worker_free);

  worker = sutra_worker_new (2, devices, SUTRA_ISOLATION_THREAD, &config, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (worker->device, ==, "cpu");
  g_assert_cmpint (worker->device_index, ==, -1);
}

/* text-source → device-probe → jsonl-sink (metadata included), in @dir. */
static char *
probe_pipeline (const char *dir, const char *probe_stage, guint workers)
{
  return g_strdup_printf (
    "{ \"sutra\": 1, \"name\": \"probe\", \"stages\": { "
    "\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"%s/in.txt\" } }, "
    "\"probe\": { \"plugin\": \"%s\", \"input\": \"read\", \"workers\": %u, \"batch\": 1, "
    "\"devices\": [\"cuda:0\", \"cuda:1\"] }, "
    "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"probe\", \"params\": "
    "{ \"path\": \"%s/out.jsonl\", \"include_meta\": true } } } }",
    dir, probe_stage, workers, dir);
}

static void
test_worker_one_instance_per_device (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *text = NULL;
  g_autofree char *out_path = NULL;
  g_autofree char *out = NULL;
  g_autoptr (GString) input = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  SutraPipeline *pipeline;
  SutraRun *run;
  StageRuntime *stage;
  guint n_lines = 0;

  g_test_summary ("A shared stage given two (fake) GPUs and two workers makes two instances, "
                  "one on each device, and each output names the device that made it");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  for (guint i = 0; i < 200; i++)
    g_string_append_printf (input, "line %u\n", i);
  g_free (sutra_test_write (dir, "in.txt", input->str, input->len));
  text = probe_pipeline (dir, "device-probe", 2);
  pipeline = sutra_pipeline_load_from_data ("probe.json", text, -1, registry, NULL, &error);
  g_assert_no_error (error);
  run = sutra_run_new (pipeline);
  g_assert_true (sutra_run_execute (run, &error));
  g_assert_no_error (error);

  stage = run->stages->pdata[sutra_pipeline_get_stage (pipeline, "probe")->index];
  g_assert_cmpuint (stage->workers.list->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      SutraWorker *worker = stage->workers.list->pdata[i];
      g_autofree char *device = g_strdup_printf ("cuda:%u", i);

      g_assert_cmpuint (worker->index, ==, i);
      g_assert_cmpstr (worker->device, ==, device);
      g_assert_cmpint (worker->device_index, ==, (int) i);
      g_assert_cmpstr (sutra_worker_get_context (worker)->device, ==, device);
    }

  /* Which worker takes which batch depends on timing, but every output was
   * made by one of the two instances, on its own device. */
  out_path = g_build_filename (dir, "out.jsonl", NULL);
  g_assert_true (g_file_get_contents (out_path, &out, NULL, &error));
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++, n_lines++)
    {
      g_autoptr (JsonNode) node = json_from_string (lines[i], &error);
      JsonObject *meta;
      const char *device;
      gint64 worker;

      g_assert_no_error (error);
      meta = json_object_get_object_member (json_node_get_object (node), "meta");
      g_assert_nonnull (meta);
      device = json_object_get_string_member (meta, "device");
      worker = json_object_get_int_member (meta, "worker");
      g_assert_true (g_strcmp0 (device, "cuda:0") == 0 || g_strcmp0 (device, "cuda:1") == 0);
      g_assert_cmpint (worker, ==, device[5] - '0');
    }
  g_assert_cmpuint (n_lines, ==, 200);
  sutra_run_free (run);
  sutra_pipeline_free (pipeline);
}

static void
test_worker_single_refused (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  SutraPipeline *pipeline;

  g_test_summary ("A plugin that is not thread-safe asked for several thread workers is "
                  "refused, and the message names “isolation”: “process”");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  g_free (sutra_test_write (dir, "in.txt", "a\n", -1));
  text = probe_pipeline (dir, "device-probe-single", 2);
  pipeline = sutra_pipeline_load_from_data ("probe.json", text, -1, registry, NULL, &error);
  g_assert_null (pipeline);
  g_assert_nonnull (error);
  sutra_assert_contains (error->message, "plugin “device-probe-single” is not thread-safe");
  sutra_assert_contains (error->message, "\"isolation\": \"process\"");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  /* Two GPUs that are not there: validation accepts them and workers get
   * them; device-probe runs no GPU code. Set before any thread starts. */
  g_setenv ("SUTRA_FAKE_DEVICES", "cuda:0,cuda:1,cuda:2,cuda:3", TRUE);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);
  else
    {
      g_autofree char *probe = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                                 "plugins", "device-probe." G_MODULE_SUFFIX, NULL);

      if (!sutra_registry_load_file (registry, probe, &error))
        registry_problem = g_strdup (error->message);
    }

  g_test_add_func ("/engine/worker/count-instances", test_worker_count_instances);
  g_test_add_func ("/engine/worker/assign-device", test_worker_assign_device);
  g_test_add_func ("/engine/worker/new-context", test_worker_new_context);
  g_test_add_func ("/engine/worker/one-instance-per-device", test_worker_one_instance_per_device);
  g_test_add_func ("/engine/worker/single-refused", test_worker_single_refused);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
