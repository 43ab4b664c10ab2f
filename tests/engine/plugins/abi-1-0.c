/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plugin as the ABI 1.0 headers built it: three stages, several params each. */

/*
 * Its tables use the frozen 1.0 structs (engine/sutra-abi-frozen.h), so
 * their rows lie sizeof (SutraStageInfo_1_0) apart, shorter than today's
 * SutraStageInfo: an engine that stepped through them at its own stride
 * would read the second and third stages from the middle of the first.
 * test-registry checks every field of the later stages and parameters,
 * and runs the map, whose output depends on its parameters landing at the
 * right offsets.
 */

#include <sutra/sutra.h>

#include "sutra-abi-frozen.h"

#include <string.h>

typedef struct
{
  const char *path;
  gint64 count;
} SourceSettings;

typedef struct
{
  double ratio;
  const char *mode;
  gboolean shout;
  const char *prefix;
} MapSettings;

typedef struct
{
  gint64 pieces;
  const char *separator;
  gboolean keep_empty;
} SplitSettings;

static const char *const map_modes[] = { "keep", "prefix", "suffix", NULL };

static const SutraParamInfo_1_0 source_params[] = {
  SUTRA_PARAM_ROW_STRING ("path", SourceSettings, path, "-", 0, "Where to read."),
  SUTRA_PARAM_ROW_INT ("count", SourceSettings, count, 3, 1, 100, 0, "How many items."),
  SUTRA_PARAM_ROW_END
};

static const SutraParamInfo_1_0 map_params[] = {
  SUTRA_PARAM_ROW_DOUBLE ("ratio", MapSettings, ratio, 0.5, 0, 1, 0, "A ratio."),
  SUTRA_PARAM_ROW_ENUM ("mode", MapSettings, mode, "keep", map_modes, 0, "Where the mark goes."),
  SUTRA_PARAM_ROW_BOOL ("shout", MapSettings, shout, FALSE, 0, "Upper-case the mark."),
  SUTRA_PARAM_ROW_STRING ("prefix", MapSettings, prefix, "mark:", 0, "The mark."),
  SUTRA_PARAM_ROW_END
};

static const SutraParamInfo_1_0 split_params[] = {
  SUTRA_PARAM_ROW_INT ("pieces", SplitSettings, pieces, 2, 1, 64, 0, "Children per item."),
  SUTRA_PARAM_ROW_STRING ("separator", SplitSettings, separator, "|", 0, "Unused."),
  SUTRA_PARAM_ROW_BOOL ("keep_empty", SplitSettings, keep_empty, TRUE, 0, "Unused too."),
  SUTRA_PARAM_ROW_END
};

static gboolean
source_process (gpointer instance,
                SutraItem *const *items,
                guint n_items,
                SutraOutput *output,
                GError **error)
{
  return TRUE;
}

/* Pushes "<prefix><mode><payload>" (prefix upper-cased when shouting), so
 * that the output shows every parameter the engine stored. */
static gboolean
map_process (gpointer instance,
             SutraItem *const *items,
             guint n_items,
             SutraOutput *output,
             GError **error)
{
  const MapSettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    {
      gsize size;
      const guint8 *data = sutra_item_get_data (items[i], &size);
      g_autofree char *prefix =
        settings->shout ? g_ascii_strup (settings->prefix, -1) : g_strdup (settings->prefix);
      GString *text = g_string_new (prefix);

      g_string_append_printf (text, "%s@%.2f:", settings->mode, settings->ratio);
      g_string_append_len (text, (const char *) data, (gssize) size);
      sutra_output_push (output,
                         sutra_item_new_derived (items[i], NULL, g_string_free_to_bytes (text)));
    }
  return TRUE;
}

static gpointer
map_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static gboolean
split_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  const SplitSettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    for (gint64 k = 0; k < settings->pieces; k++)
      sutra_output_push (output, sutra_item_new_child (items[i], (guint64) k, NULL, NULL));
  return TRUE;
}

static const SutraStageInfo_1_0 abi_1_0_stages[] = {
  {
    .name = "abi-1-0-source",
    .kind = SUTRA_STAGE_SOURCE,
    .summary = "A 1.0 source",
    .params = source_params,
    .settings_size = sizeof (SourceSettings),
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU,
    .process = source_process,
  },
  {
    .name = "abi-1-0-map",
    .kind = SUTRA_STAGE_MAP,
    .summary = "A 1.0 map that marks its items",
    .params = map_params,
    .settings_size = sizeof (MapSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA,
    .create = map_create,
    .process = map_process,
  },
  {
    .name = "abi-1-0-split",
    .kind = SUTRA_STAGE_SPLIT,
    .summary = "A 1.0 split into empty pieces",
    .params = split_params,
    .settings_size = sizeof (SplitSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = map_create,
    .process = split_process,
  },
  { NULL },
};

static const SutraPluginInfo_1_0 abi_1_0_plugin = {
  .abi_major = 1,
  .abi_minor = 0,
  .name = "abi-1-0",
  .version = "1.0.0",
  .summary = "Built with the ABI 1.0 struct layouts",
  .stages = abi_1_0_stages,
};

/* What SUTRA_PLUGIN_DEFINE expanded to in 1.0: the engine reads the
 * descriptor as its abi_minor says, whatever type this function names. */
SUTRA_EXPORT const SutraPluginInfo *sutra_plugin_get_info (void);

const SutraPluginInfo *
sutra_plugin_get_info (void)
{
  return (const SutraPluginInfo *) &abi_1_0_plugin;
}
