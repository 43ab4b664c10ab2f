/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plugin as the ABI 1.1 headers built it, for the refusal test. */

/*
 * ABI 2.0 put a size at the head of every descriptor row, so a 1.x plugin's
 * tables cannot be read at all: the engine must refuse it, naming the ABI
 * it was built for and the one it loads, before it reads anything past the
 * version stamp. The structs below are the 1.1 layouts exactly (they were
 * include/sutra/sutra-plugin.h until 2.0), and the descriptor is complete
 * and valid as 1.1 saw it, so that the refusal is for the ABI alone.
 */

#include <sutra/sutra.h>

typedef struct
{
  const char *name;
  SutraParamType type;
  gsize offset;
  gint64 default_int;
  double default_double;
  const char *default_string;
  double min;
  double max;
  const char *const *choices;
  guint flags;
  const char *doc;
} ParamInfo_1_1;

typedef struct
{
  const char *name;
  SutraStageKind kind;
  const char *summary;
  const ParamInfo_1_1 *params;
  gsize settings_size;
  SutraThreading threading;
  guint devices;
  gpointer (*create) (const SutraStageContext *context, gconstpointer settings, GError **error);
  gboolean (*process) (gpointer instance,
                       SutraItem *const *items,
                       guint n_items,
                       SutraOutput *output,
                       GError **error);
  gboolean (*finish) (gpointer instance, SutraOutput *output, GError **error);
  gboolean (*sync) (gpointer instance, char **state, GError **error);
  void (*destroy) (gpointer instance);
  const char *const *input_media_types;
  const char *const *output_media_types;
  const char *const *meta_keys;
} StageInfo_1_1;

typedef struct
{
  guint16 abi_major;
  guint16 abi_minor;
  const char *name;
  const char *version;
  const char *summary;
  const StageInfo_1_1 *stages;
} PluginInfo_1_1;

typedef struct
{
  gint64 count;
} MapSettings;

static const ParamInfo_1_1 map_params[] = {
  { "count", SUTRA_PARAM_INT, G_STRUCT_OFFSET (MapSettings, count), 3, 0, NULL, 1, 100, NULL, 0,
    "How many." },
  { NULL, 0, 0, 0, 0, NULL, 0, 0, NULL, 0, NULL },
};

static gboolean
map_process (gpointer instance,
             SutraItem *const *items,
             guint n_items,
             SutraOutput *output,
             GError **error)
{
  for (guint i = 0; i < n_items; i++)
    sutra_output_push (output, sutra_item_ref (items[i]));
  return TRUE;
}

static const char *const map_types[] = { "text/plain", NULL };

static const StageInfo_1_1 abi_1_1_stages[] = {
  {
    .name = "abi-1-1-map",
    .kind = SUTRA_STAGE_MAP,
    .summary = "A 1.1 map",
    .params = map_params,
    .settings_size = sizeof (MapSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .process = map_process,
    .input_media_types = map_types,
    .output_media_types = map_types,
  },
  { NULL },
};

static const PluginInfo_1_1 abi_1_1_plugin = {
  .abi_major = 1,
  .abi_minor = 1,
  .name = "abi-1-1",
  .version = "1.1.0",
  .summary = "Built with the ABI 1.1 struct layouts",
  .stages = abi_1_1_stages,
};

/* What SUTRA_PLUGIN_DEFINE expanded to in 1.1. */
SUTRA_EXPORT const SutraPluginInfo *sutra_plugin_get_info (void);

const SutraPluginInfo *
sutra_plugin_get_info (void)
{
  return (const SutraPluginInfo *) &abi_1_1_plugin;
}
