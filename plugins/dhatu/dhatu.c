/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dhatu: a map from texts to dhātu vectors, prime bases and ambiguity
 * (../shared/data/dhatu/README.md), on the CPU or on a CUDA GPU. */

#include <sutra/sutra.h>

#include <string.h>

#include "dhatu-cpu.h"
#include "dhatu-gpu.h"

/* The binary payload: DHATU_RESULT_FLOATS little-endian float32 (vector,
 * bases, ambiguity), 80 bytes; what npy-sink takes. */
#define DHATU_MEDIA_BINARY "application/x-dhatu"
#define DHATU_MEDIA_JSON "application/json"

G_STATIC_ASSERT (sizeof (DhatuResult) == DHATU_RESULT_FLOATS * sizeof (float));
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

typedef struct
{
  const char *format;
} DhatuSettings;

static const char *const dhatu_formats[] = { "binary", "json", NULL };

static const SutraParamInfo dhatu_params[] = {
  SUTRA_PARAM_ROW_ENUM ("format",
                        DhatuSettings,
                        format,
                        "binary",
                        dhatu_formats,
                        0,
                        "“binary”: application/x-dhatu, 20 little-endian float32 per text "
                        "(vector, bases, ambiguity), for npy-sink; “json”: application/json, "
                        "an object with “vector”, “bases” and “ambiguity”, for jsonl-sink."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  gboolean json;
  DhatuCpu *cpu;
  DhatuGpu *gpu;
  /* Per-batch arrays, kept between batches: no allocation per text. */
  const guint8 **texts;
  gsize *lengths;
  gsize capacity;
  GString *text;
} Dhatu;

static void
dhatu_destroy (gpointer instance)
{
  Dhatu *dhatu = instance;

  dhatu_cpu_free (dhatu->cpu);
  dhatu_gpu_free (dhatu->gpu);
  g_free (dhatu->texts);
  g_free (dhatu->lengths);
  g_string_free (dhatu->text, TRUE);
  g_free (dhatu);
}

static gpointer
dhatu_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const DhatuSettings *s = settings;
  Dhatu *dhatu = g_new0 (Dhatu, 1);

  dhatu->json = strcmp (s->format, "json") == 0;
  dhatu->text = g_string_new (NULL);
  if (context->device_index >= 0)
    {
      dhatu->gpu = dhatu_gpu_new (context->device_index, error);
      if (dhatu->gpu == NULL)
        {
          dhatu_destroy (dhatu);
          return NULL;
        }
    }
  else
    dhatu->cpu = dhatu_cpu_new ();
  return dhatu;
}

/* Appends a float32 as JSON: the shortest decimal of its double value, as
 * Python's json writes float(numpy.float32). */
static void
append_float (GString *out, float value)
{
  char buffer[SUTRA_DOUBLE_BUFFER_SIZE];

  g_string_append (out, sutra_format_double (buffer, value));
}

static void
append_floats (GString *out, const char *name, const float *values, int n)
{
  g_string_append_printf (out, "\"%s\":[", name);
  for (int i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      append_float (out, values[i]);
    }
  g_string_append_c (out, ']');
}

static GBytes *
result_json (GString *out, const DhatuResult *result)
{
  g_string_truncate (out, 0);
  g_string_append_c (out, '{');
  append_floats (out, "vector", result->vector, DHATU_N_DHATUS);
  g_string_append_c (out, ',');
  append_floats (out, "bases", result->bases, DHATU_N_BASES);
  g_string_append (out, ",\"ambiguity\":");
  append_float (out, result->ambiguity);
  g_string_append_c (out, '}');
  return g_bytes_new (out->str, out->len);
}

static gboolean
dhatu_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  Dhatu *dhatu = instance;
  g_autoptr (GBytes) results = NULL;
  DhatuResult *out;

  if (n_items == 0)
    return TRUE;
  if (n_items > dhatu->capacity)
    {
      dhatu->capacity = MAX (n_items, 2 * dhatu->capacity);
      dhatu->texts = g_renew (const guint8 *, dhatu->texts, dhatu->capacity);
      dhatu->lengths = g_renew (gsize, dhatu->lengths, dhatu->capacity);
    }
  for (guint i = 0; i < n_items; i++)
    dhatu->texts[i] = sutra_item_get_data (items[i], &dhatu->lengths[i]);
  /* One buffer for the batch's results; each item's payload is a slice. */
  out = g_new (DhatuResult, n_items);
  results = g_bytes_new_take (out, n_items * sizeof (DhatuResult));
  if (dhatu->gpu != NULL)
    {
      if (!dhatu_gpu_run (dhatu->gpu, dhatu->texts, dhatu->lengths, n_items, out, error))
        return FALSE;
    }
  else
    dhatu_cpu_run (dhatu->cpu, dhatu->texts, dhatu->lengths, n_items, out);
  for (guint i = 0; i < n_items; i++)
    {
      GBytes *payload;

      if (dhatu->json)
        payload = result_json (dhatu->text, &out[i]);
      else
        payload = g_bytes_new_from_bytes (results, i * sizeof (DhatuResult), sizeof (DhatuResult));
      sutra_output_push (output, sutra_item_new_derived (items[i],
                                                         dhatu->json ? DHATU_MEDIA_JSON
                                                                     : DHATU_MEDIA_BINARY,
                                                         payload));
    }
  return TRUE;
}

static const char *const dhatu_input_types[] = { "text/*", NULL };
static const char *const dhatu_output_types[] = { DHATU_MEDIA_BINARY, DHATU_MEDIA_JSON, NULL };
/* The input's metadata travels on, shared. */
static const char *const dhatu_meta_keys[] = { "*", NULL };

static const SutraStageInfo dhatu_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "dhatu",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Dhātu vector (9), prime bases (10) and ambiguity of each text (sha256-9)",
    .params = dhatu_params,
    .settings_size = sizeof (DhatuSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA,
    .create = dhatu_create,
    .process = dhatu_process,
    .destroy = dhatu_destroy,
    .input_media_types = dhatu_input_types,
    .output_media_types = dhatu_output_types,
    .meta_keys = dhatu_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo dhatu_plugin = {
  .name = "dhatu",
  .version = "1.0.0",
  .summary = "The dhātu kernel (sha256-9): SHA-NI on the CPU, or CUDA",
  .stages = dhatu_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (dhatu_plugin)
