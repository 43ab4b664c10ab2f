/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* device-probe: maps that say which instance and device made each output. */

/*
 * test-worker loads this module by its path: with SUTRA_FAKE_DEVICES, a
 * stage given two devices must make two instances, one per device; every
 * output says in its metadata the device ("device") and the worker index
 * ("worker") of the instance that made it. "device-probe-single" declares
 * itself not thread-safe, for the validation of worker counts; the others
 * differ in the devices they declare (GPU preferred, CPU preferred, GPU
 * only) or cannot start on a GPU, for "auto" and device_fallback.
 */

#include <sutra/sutra.h>

typedef struct
{
  char *device;
  guint worker;
} Probe;

static gpointer
probe_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  Probe *probe = g_new0 (Probe, 1);

  probe->device = g_strdup (context->device);
  probe->worker = context->worker_index;
  return probe;
}

/* As if the GPU path could not start (no kernel, no memory): for
 * device_fallback when an instance cannot be made on its GPU. */
static gpointer
probe_create_cpu_only (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  if (context->device_index >= 0)
    {
      g_set_error (error, g_quark_from_static_string ("device-probe-error"), 1,
                   "device-probe-failing cannot start on %s (for tests)", context->device);
      return NULL;
    }
  return probe_create (context, settings, error);
}

static void
probe_destroy (gpointer instance)
{
  Probe *probe = instance;

  g_free (probe->device);
  g_free (probe);
}

static gboolean
probe_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  Probe *probe = instance;

  for (guint i = 0; i < n_items; i++)
    {
      SutraItem *item = sutra_item_new_derived (items[i], NULL, NULL);
      JsonObject *meta = sutra_item_ensure_meta (item);

      json_object_set_string_member (meta, "device", probe->device);
      json_object_set_int_member (meta, "worker", probe->worker);
      sutra_output_push (output, item);
    }
  return TRUE;
}

static const SutraParamInfo probe_params[] = { SUTRA_PARAM_ROW_END };
static const char *const probe_meta_keys[] = { "device", "worker", NULL };

static const SutraStageInfo probe_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "device-probe",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Says which device and instance made each item (for tests)",
    .params = probe_params,
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA | SUTRA_DEVICE_CUDA_PREFERRED,
    .create = probe_create,
    .destroy = probe_destroy,
    .process = probe_process,
    .meta_keys = probe_meta_keys,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "device-probe-cpu-first",
    .kind = SUTRA_STAGE_MAP,
    .summary = "The same, whose GPU path does not win: “auto” is the CPU (for tests)",
    .params = probe_params,
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA,
    .create = probe_create,
    .destroy = probe_destroy,
    .process = probe_process,
    .meta_keys = probe_meta_keys,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "device-probe-gpu-only",
    .kind = SUTRA_STAGE_MAP,
    .summary = "The same, on GPUs only (for tests)",
    .params = probe_params,
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CUDA,
    .create = probe_create,
    .destroy = probe_destroy,
    .process = probe_process,
    .meta_keys = probe_meta_keys,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "device-probe-failing",
    .kind = SUTRA_STAGE_MAP,
    .summary = "The same, whose instances cannot start on a GPU (for tests)",
    .params = probe_params,
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA | SUTRA_DEVICE_CUDA_PREFERRED,
    .create = probe_create_cpu_only,
    .destroy = probe_destroy,
    .process = probe_process,
    .meta_keys = probe_meta_keys,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "device-probe-single",
    .kind = SUTRA_STAGE_MAP,
    .summary = "The same, declared not thread-safe (for tests)",
    .params = probe_params,
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA,
    .create = probe_create,
    .destroy = probe_destroy,
    .process = probe_process,
    .meta_keys = probe_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo probe_plugin = {
  .name = "device-probe",
  .version = "1.0.0",
  .summary = "Maps that report their instance's device, for tests",
  .stages = probe_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (probe_plugin)
