/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-worker.c: instances per stage, devices round-robin,
 * one instance per device (on fake GPUs: SUTRA_FAKE_DEVICES). */

#include "sutra-devices.h"
#include "sutra-pipeline.h"
#include "sutra-registry.h"
#include "sutra-run-private.h"
#include "sutra-settings.h"
#include "sutra-test-util.h"
#include "sutra-worker.h"

#include <dlfcn.h>
#include <string.h>

static SutraRegistry *registry;
static char *registry_problem;

static void
record_event (JsonObject *event, gpointer data)
{
  g_ptr_array_add (data, json_object_ref (event));
}

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

/* text-source → @plugin (with @stage_keys, e.g. "\"devices\": \"auto\"")
 * → jsonl-sink (metadata included), in @dir. */
static char *
devices_pipeline (const char *dir, const char *plugin, const char *stage_keys)
{
  return g_strdup_printf (
    "{ \"sutra\": 1, \"name\": \"probe\", \"stages\": {\n"
    "\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"%s/in.txt\" } },\n"
    "\"probe\": { \"plugin\": \"%s\", \"input\": \"read\", \"batch\": 1, %s },\n"
    "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"probe\", \"params\": "
    "{ \"path\": \"%s/out.jsonl\", \"include_meta\": true } } } }\n",
    dir, plugin, stage_keys, dir);
}

static void
write_lines (const char *dir, guint n)
{
  g_autoptr (GString) input = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (input, "line %u\n", i);
  g_free (sutra_test_write (dir, "in.txt", input->str, input->len));
}

static SutraPipeline *
load_devices_pipeline (const char *dir, const char *plugin, const char *stage_keys, GError **error)
{
  g_autofree char *text = devices_pipeline (dir, plugin, stage_keys);

  return sutra_pipeline_load_from_data ("probe.json", text, -1, registry, NULL, error);
}

typedef struct
{
  const char *name;
  const char *plugin;
  const char *stage_keys;
  const char *expected[4]; /* in the message, in order */
} RefusedCase;

static const RefusedCase refused_cases[] = {
  /* The fake machine has cuda:0 to cuda:3. */
  { "missing-gpu",
    "device-probe",
    "\"devices\": [\"cuda:0\", \"cuda:7\"]",
    { "probe.json:3:", "stage “probe”: device “cuda:7” does not exist: this machine has 4 GPUs",
      "\"device_fallback\": \"cpu\"" } },
  { "cpu-only-plugin",
    "identity",
    "\"devices\": [\"cuda:0\"]",
    { "probe.json:3:", "stage “probe”: plugin “identity” runs on the CPU only, not on “cuda:0”" } },
  /* A plugin without a GPU path is the file's mistake: no fallback for it. */
  { "cpu-only-plugin-with-fallback",
    "identity",
    "\"devices\": [\"cuda:0\"], \"device_fallback\": \"cpu\"",
    { "plugin “identity” runs on the CPU only, not on “cuda:0”" } },
  { "gpu-only-plugin-fallback",
    "device-probe-gpu-only",
    "\"devices\": [\"cuda:0\"], \"device_fallback\": \"cpu\"",
    { "key “device_fallback”: plugin “device-probe-gpu-only” cannot run on the CPU" } },
  { "gpu-only-plugin-cpu",
    "device-probe-gpu-only",
    "\"devices\": [\"cpu\"]",
    { "plugin “device-probe-gpu-only” cannot run on the CPU" } },
  { "bad-fallback",
    "device-probe",
    "\"devices\": [\"cuda:0\"], \"device_fallback\": \"gpu\"",
    { "key “device_fallback”: expected one of “none” or “cpu”" } },
  { "bad-devices-string",
    "device-probe",
    "\"devices\": \"all\"",
    { "key “devices”: expected \"auto\" or an array" } },
};

static void
test_worker_devices_refused (gconstpointer data)
{
  const RefusedCase *row = data;
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  SutraPipeline *pipeline;
  const char *at;

  g_test_summary ("A device that does not exist, or that the plugin cannot use, fails "
                  "validation with a message naming the file position, the stage, the device "
                  "and the fix; device_fallback does not excuse a plugin without a GPU path");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  write_lines (dir, 1);
  pipeline = load_devices_pipeline (dir, row->plugin, row->stage_keys, &error);
  g_assert_null (pipeline);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  at = error->message;
  for (guint i = 0; i < G_N_ELEMENTS (row->expected) && row->expected[i] != NULL; i++)
    {
      const char *found = strstr (at, row->expected[i]);

      if (found == NULL)
        g_test_message ("“%s” not found (in order) in the message", row->expected[i]);
      g_assert_nonnull (found);
      at = found;
    }
}

/* Runs @pipeline, recording its events; the probe stage's device summary in
 * *@summary. Returns: (transfer full): the events. */
static GPtrArray *
run_recording (SutraPipeline *pipeline, char **summary, gboolean *ok, GError **error)
{
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  SutraRun *run = sutra_run_new (pipeline);

  sutra_run_set_event_func (run, record_event, events);
  *ok = sutra_run_execute (run, error);
  *summary =
    sutra_run_dup_device_summary (run, sutra_pipeline_get_stage (pipeline, "probe")->index);
  sutra_run_free (run);
  return events;
}

/* How many outputs each device made, from out.jsonl's metadata. */
static GHashTable *
count_output_devices (const char *dir, guint *n_lines)
{
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  GHashTable *counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_assert_true (g_file_get_contents (path, &out, NULL, &error));
  lines = g_strsplit (out, "\n", -1);
  *n_lines = 0;
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++, (*n_lines)++)
    {
      g_autoptr (JsonNode) node = json_from_string (lines[i], &error);
      JsonObject *meta;
      const char *device;

      g_assert_no_error (error);
      meta = json_object_get_object_member (json_node_get_object (node), "meta");
      device = json_object_get_string_member (meta, "device");
      g_hash_table_insert (counts, g_strdup (device),
                           GUINT_TO_POINTER (
                             GPOINTER_TO_UINT (g_hash_table_lookup (counts, device)) + 1));
    }
  return counts;
}

static JsonObject *
find_event (GPtrArray *events, const char *name, const char *stage, guint nth)
{
  for (guint i = 0; i < events->len; i++)
    {
      JsonObject *event = events->pdata[i];

      if (g_strcmp0 (json_object_get_string_member (event, "event"), name) == 0 &&
          g_strcmp0 (json_object_get_string_member_with_default (event, "stage", ""), stage) == 0 &&
          nth-- == 0)
        return event;
    }
  return NULL;
}

static void
test_worker_devices_fallback_missing (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GHashTable) made = NULL;
  g_autofree char *summary = NULL;
  SutraPipeline *pipeline;
  SutraStageSpec *spec;
  JsonObject *event, *devices;
  gboolean ok;
  guint n_lines;

  g_test_summary ("With \"device_fallback\": \"cpu\", a listed GPU that does not exist "
                  "runs its workers on the CPU: a warning at validation (file position) and "
                  "a device-fallback event; workers default to one per device; the summary "
                  "and the stage-finished event say which device did what");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  write_lines (dir, 200);
  pipeline =
    load_devices_pipeline (dir, "device-probe",
                           "\"devices\": [\"cuda:1\", \"cuda:7\"], \"device_fallback\": \"cpu\"",
                           &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, "probe");
  g_assert_cmpuint (g_strv_length (spec->devices), ==, 2);
  g_assert_cmpstr (spec->devices[0], ==, "cuda:1");
  g_assert_cmpstr (spec->devices[1], ==, "cpu");
  g_assert_cmpuint (spec->workers, ==, 2);
  g_assert_nonnull (spec->device_warnings);
  g_assert_cmpuint (spec->device_warnings->len, ==, 1);
  sutra_assert_contains (spec->device_warnings->pdata[0], "probe.json:3:");
  sutra_assert_contains (spec->device_warnings->pdata[0],
                         "stage “probe”: device “cuda:7” does not exist");

  events = run_recording (pipeline, &summary, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  event = find_event (events, "device-fallback", "probe", 0);
  g_assert_nonnull (event);
  sutra_assert_contains (json_object_get_string_member (event, "message"), "cuda:7");
  g_assert_null (find_event (events, "device-fallback", "probe", 1));

  /* Every output was made on cuda:1 or the CPU, and the counts agree. */
  made = count_output_devices (dir, &n_lines);
  g_assert_cmpuint (n_lines, ==, 200);
  event = find_event (events, "stage-finished", "probe", 0);
  g_assert_nonnull (event);
  devices = json_object_get_object_member (event, "devices");
  g_assert_nonnull (devices);
  g_assert_cmpuint (json_object_get_size (devices), ==, 2);
  g_assert_cmpint (json_object_get_int_member (devices, "cuda:1"), ==,
                   GPOINTER_TO_UINT (g_hash_table_lookup (made, "cuda:1")));
  g_assert_cmpint (json_object_get_int_member (devices, "cpu"), ==,
                   GPOINTER_TO_UINT (g_hash_table_lookup (made, "cpu")));
  g_assert_cmpint (json_object_get_int_member (devices, "cuda:1") +
                     json_object_get_int_member (devices, "cpu"),
                   ==, 200);
  g_assert_nonnull (summary);
  g_test_message ("summary: %s", summary);
  g_assert_true (g_str_has_prefix (summary, "cuda:1 "));
  sutra_assert_contains (summary, ", cpu ");
  /* A stage given no devices has nothing to say. */
  event = find_event (events, "stage-finished", "write", 0);
  g_assert_nonnull (event);
  g_assert_false (json_object_has_member (event, "devices"));
  sutra_pipeline_free (pipeline);
}

static void
test_worker_devices_fallback_create (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) refused_events = NULL;
  g_autoptr (GHashTable) made = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *refused_summary = NULL;
  SutraPipeline *pipeline;
  JsonObject *event;
  gboolean ok;
  guint n_lines;

  g_test_summary ("A GPU that exists but cannot take the instance: with device_fallback the "
                  "worker runs on the CPU and the run says so; without it the run fails before "
                  "anything runs, naming the stage and the device");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  write_lines (dir, 50);
  pipeline =
    load_devices_pipeline (dir, "device-probe-failing",
                           "\"devices\": [\"cuda:0\", \"cuda:1\"], \"device_fallback\": \"cpu\"",
                           &error);
  g_assert_no_error (error);
  g_assert_null (sutra_pipeline_get_stage (pipeline, "probe")->device_warnings);
  events = run_recording (pipeline, &summary, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *device = g_strdup_printf ("cuda:%u", i);

      event = find_event (events, "device-fallback", "probe", i);
      g_assert_nonnull (event);
      g_assert_cmpstr (json_object_get_string_member (event, "device"), ==, device);
      sutra_assert_contains (json_object_get_string_member (event, "message"),
                             "could not start on");
      sutra_assert_contains (json_object_get_string_member (event, "message"),
                             "device-probe-failing cannot start on");
    }
  made = count_output_devices (dir, &n_lines);
  g_assert_cmpuint (n_lines, ==, 50);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (made, "cpu")), ==, 50);
  g_assert_cmpstr (summary, ==, "cpu 50");
  sutra_pipeline_free (pipeline);

  pipeline = load_devices_pipeline (dir, "device-probe-failing",
                                    "\"devices\": [\"cuda:0\", \"cuda:1\"]", &error);
  g_assert_no_error (error);
  refused_events = run_recording (pipeline, &refused_summary, &ok, &error);
  g_assert_false (ok);
  g_assert_nonnull (error);
  sutra_assert_contains (error->message, "stage “probe” (plugin “device-probe-failing”) could "
                                         "not start: device-probe-failing cannot start on cuda:0");
  g_assert_null (find_event (refused_events, "device-fallback", "probe", 0));
  sutra_pipeline_free (pipeline);
}

static void
test_worker_devices_auto (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autofree char *summary = NULL;
  SutraPipeline *pipeline;
  SutraStageSpec *spec;
  gboolean ok;

  g_test_summary ("\"devices\": \"auto\" is every GPU there is for a plugin whose GPU path "
                  "wins (one worker each), the CPU for one whose GPU path does not, whatever "
                  "GPUs there are; given workers are kept");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  write_lines (dir, 40);
  pipeline = load_devices_pipeline (dir, "device-probe", "\"devices\": \"auto\"", &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, "probe");
  g_assert_true (spec->devices_auto);
  g_assert_cmpuint (g_strv_length (spec->devices), ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *device = g_strdup_printf ("cuda:%u", i);

      g_assert_cmpstr (spec->devices[i], ==, device);
    }
  g_assert_cmpuint (spec->workers, ==, 4);
  events = run_recording (pipeline, &summary, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_test_message ("summary: %s", summary);
  sutra_assert_contains (summary, "cuda:0 ");
  sutra_assert_contains (summary, "cuda:3 ");
  sutra_pipeline_free (pipeline);

  pipeline =
    load_devices_pipeline (dir, "device-probe", "\"devices\": \"auto\", \"workers\": 2", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_pipeline_get_stage (pipeline, "probe")->workers, ==, 2);
  sutra_pipeline_free (pipeline);

  pipeline = load_devices_pipeline (dir, "device-probe-cpu-first", "\"devices\": \"auto\"", &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, "probe");
  g_assert_cmpuint (g_strv_length (spec->devices), ==, 1);
  g_assert_cmpstr (spec->devices[0], ==, "cpu");
  g_assert_cmpuint (spec->workers, ==, 1);
  sutra_pipeline_free (pipeline);

  /* The dhātu kernel's GPU path has not been shown to win end to end
   * (docs/benchmarks.md): "auto" runs it on the CPU. */
  if (sutra_registry_find_stage (registry, "dhatu", NULL) != NULL)
    {
      pipeline = load_devices_pipeline (dir, "dhatu", "\"devices\": \"auto\"", &error);
      g_assert_no_error (error);
      g_assert_cmpstr (sutra_pipeline_get_stage (pipeline, "probe")->devices[0], ==, "cpu");
      g_assert_null (sutra_pipeline_get_stage (pipeline, "probe")->devices[1]);
      sutra_pipeline_free (pipeline);
    }
}

static void
test_worker_devices_dhatu_fallback (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) events = NULL;
  g_autoptr (GPtrArray) refused_events = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *refused_summary = NULL;
  SutraPipeline *pipeline;
  JsonObject *event;
  gboolean ok;
  void *driver;

  g_test_summary ("The dhatu plugin on a (fake) cuda:0 of a machine without the CUDA driver: "
                  "its GPU instance cannot start; with device_fallback it runs on the CPU and "
                  "says why, without it the run fails naming the stage, the device and why");
  if (registry_problem != NULL || sutra_registry_find_stage (registry, "dhatu", NULL) == NULL)
    {
      g_test_skip (registry_problem != NULL ? registry_problem : "no dhatu plugin built");
      return;
    }
  driver = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver != NULL)
    {
      dlclose (driver);
      g_test_skip ("the CUDA driver is installed here: dhatu may well start on cuda:0");
      return;
    }
  write_lines (dir, 20);
  pipeline = load_devices_pipeline (dir, "dhatu",
                                    "\"devices\": [\"cuda:0\"], \"device_fallback\": \"cpu\", "
                                    "\"params\": { \"format\": \"json\" }",
                                    &error);
  g_assert_no_error (error);
  events = run_recording (pipeline, &summary, &ok, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  event = find_event (events, "device-fallback", "probe", 0);
  g_assert_nonnull (event);
  g_test_message ("%s", json_object_get_string_member (event, "message"));
  sutra_assert_contains (json_object_get_string_member (event, "message"),
                         "could not start on “cuda:0”");
  g_assert_cmpstr (summary, ==, "cpu 20");
  sutra_pipeline_free (pipeline);

  pipeline =
    load_devices_pipeline (dir, "dhatu",
                           "\"devices\": [\"cuda:0\"], \"params\": { \"format\": \"json\" }",
                           &error);
  g_assert_no_error (error);
  refused_events = run_recording (pipeline, &refused_summary, &ok, &error);
  g_assert_false (ok);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  sutra_assert_contains (error->message, "stage “probe” (plugin “dhatu”) could not start: ");
  sutra_assert_contains (error->message, "cuda:0");
  sutra_assert_contains (error->message, "add \"device_fallback\": \"cpu\" to the stage");
  sutra_pipeline_free (pipeline);
}

/* The real machine, no fake GPUs: in a subprocess, where the environment
 * can change. */
static void
no_gpu_subprocess (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) found = NULL;
  g_autofree char *why = NULL;
  SutraPipeline *pipeline;
  SutraStageSpec *spec;

  g_unsetenv ("SUTRA_FAKE_DEVICES");
  found = sutra_devices_enumerate (&why);
  g_assert_cmpuint (found->len, ==, 0);
  write_lines (dir, 3);
  /* "auto" without a GPU is the CPU, without a warning: not a fallback. */
  pipeline = load_devices_pipeline (dir, "device-probe", "\"devices\": \"auto\"", &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, "probe");
  g_assert_cmpstr (spec->devices[0], ==, "cpu");
  g_assert_null (spec->devices[1]);
  g_assert_cmpuint (spec->workers, ==, 1);
  g_assert_null (spec->device_warnings);
  sutra_pipeline_free (pipeline);

  pipeline = load_devices_pipeline (dir, "device-probe", "\"devices\": [\"cuda:0\"]", &error);
  g_assert_null (pipeline);
  sutra_assert_contains (error->message,
                         "stage “probe”: device “cuda:0” does not exist: this machine has 0 GPUs");
  sutra_assert_contains (error->message, why);
  g_clear_error (&error);

  pipeline = load_devices_pipeline (dir, "device-probe-gpu-only", "\"devices\": \"auto\"", &error);
  g_assert_null (pipeline);
  sutra_assert_contains (error->message, "“auto” found no GPU");
  sutra_assert_contains (error->message, "runs on GPUs only");
  g_clear_error (&error);

  pipeline =
    load_devices_pipeline (dir, "device-probe",
                           "\"devices\": [\"cuda:0\"], \"device_fallback\": \"cpu\"", &error);
  g_assert_no_error (error);
  spec = sutra_pipeline_get_stage (pipeline, "probe");
  g_assert_cmpstr (spec->devices[0], ==, "cpu");
  g_assert_cmpuint (spec->device_warnings->len, ==, 1);
  sutra_pipeline_free (pipeline);
  g_print ("PASSED\n");
}

static void
test_worker_devices_no_gpu (void)
{
  void *driver;

  g_test_summary ("On this machine as it is (no fake GPUs): “auto” is the CPU, a listed GPU "
                  "fails validation saying why none was found, device_fallback runs it on the "
                  "CPU, a GPU-only plugin with “auto” is refused");
  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return;
    }
  if (g_test_subprocess ())
    {
      no_gpu_subprocess ();
      return;
    }
  /* No driver, no GPU. (A machine with the driver and no GPU is not told
   * apart here: the enumeration's own test covers it.) */
  driver = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver != NULL)
    {
      dlclose (driver);
      g_test_skip ("the CUDA driver is installed here: this machine may have a GPU, and the "
                   "no-GPU case needs one without");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*PASSED*");
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
  for (gsize i = 0; i < G_N_ELEMENTS (refused_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/worker/devices/refused/%s", refused_cases[i].name);

      g_test_add_data_func (path, &refused_cases[i], test_worker_devices_refused);
    }
  g_test_add_func ("/engine/worker/devices/fallback-missing", test_worker_devices_fallback_missing);
  g_test_add_func ("/engine/worker/devices/fallback-create", test_worker_devices_fallback_create);
  g_test_add_func ("/engine/worker/devices/auto", test_worker_devices_auto);
  g_test_add_func ("/engine/worker/devices/no-gpu", test_worker_devices_no_gpu);
  g_test_add_func ("/engine/worker/devices/dhatu-fallback", test_worker_devices_dhatu_fallback);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
