/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rogue: test stages that break their kind's rules, or take uneven time. */

/*
 * test-run loads this module by its path to check that the engine notices
 * a plugin breaking the push rules of its kind (and says which stage and
 * which rule), and, with mode "jitter", that the order of a stream never
 * depends on which worker finishes first.
 */

#include <sutra/sutra.h>

#include <string.h>

typedef struct
{
  const char *mode;
} RogueSettings;

static const char *const map_modes[] = { "pass", "jitter",     "twice",
                                         "none", "wrong-path", "false-without-error",
                                         NULL };
static const char *const split_modes[] = { "pass", "unordered", "stranger", NULL };
static const char *const gather_modes[] = { "pass", "none", "two", NULL };
static const char *const sink_modes[] = { "pass", "push", NULL };

#define MODE_PARAM(choices)                                                \
  {                                                                        \
    SUTRA_PARAM_ROW_ENUM ("mode", RogueSettings, mode, "pass", choices, 0, \
                          "Which rule to break (“pass” breaks none)."),    \
      SUTRA_PARAM_ROW_END                                                  \
  }

static const SutraParamInfo map_params[] = MODE_PARAM (map_modes);
static const SutraParamInfo split_params[] = MODE_PARAM (split_modes);
static const SutraParamInfo gather_params[] = MODE_PARAM (gather_modes);
static const SutraParamInfo sink_params[] = MODE_PARAM (sink_modes);

static gpointer
rogue_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static gboolean
is_mode (gpointer instance, const char *mode)
{
  return strcmp (((const RogueSettings *) instance)->mode, mode) == 0;
}

static gboolean
rogue_map (gpointer instance,
           SutraItem *const *items,
           guint n_items,
           SutraOutput *output,
           GError **error)
{
  if (is_mode (instance, "false-without-error"))
    return FALSE;
  for (guint i = 0; i < n_items; i++)
    {
      if (is_mode (instance, "jitter"))
        {
          /* 0 to 2 ms, by a hash of the position: early items may finish
           * after later ones whatever the worker count. */
          guint hash = (guint) sutra_item_get_index (items[i]) * 2654435761u;

          g_usleep ((hash >> 16) % 2000);
        }
      if (is_mode (instance, "none"))
        continue;
      if (is_mode (instance, "wrong-path"))
        {
          sutra_output_push (output, sutra_item_new_root ("elsewhere",
                                                          sutra_item_get_index (items[i]) + 1000,
                                                          NULL, NULL));
          continue;
        }
      sutra_output_push (output, sutra_item_ref (items[i]));
      if (is_mode (instance, "twice"))
        sutra_output_push (output, sutra_item_ref (items[i]));
    }
  return TRUE;
}

static gboolean
rogue_split (gpointer instance,
             SutraItem *const *items,
             guint n_items,
             SutraOutput *output,
             GError **error)
{
  for (guint i = 0; i < n_items; i++)
    {
      if (is_mode (instance, "stranger"))
        {
          sutra_output_push (output, sutra_item_new_root ("stranger", 99, NULL, NULL));
          continue;
        }
      if (is_mode (instance, "unordered"))
        {
          sutra_output_push (output, sutra_item_new_child (items[i], 1, NULL, NULL));
          sutra_output_push (output, sutra_item_new_child (items[i], 0, NULL, NULL));
          continue;
        }
      sutra_output_push (output, sutra_item_new_child (items[i], 0, NULL, NULL));
      sutra_output_push (output, sutra_item_new_child (items[i], 1, NULL, NULL));
    }
  return TRUE;
}

static gboolean
rogue_gather (gpointer instance,
              SutraItem *const *items,
              guint n_items,
              SutraOutput *output,
              GError **error)
{
  if (is_mode (instance, "none"))
    return TRUE;
  sutra_output_push (output, sutra_item_new_parent (items[0], NULL, NULL));
  if (is_mode (instance, "two"))
    sutra_output_push (output, sutra_item_new_parent (items[0], NULL, NULL));
  return TRUE;
}

static gboolean
rogue_sink (gpointer instance,
            SutraItem *const *items,
            guint n_items,
            SutraOutput *output,
            GError **error)
{
  if (is_mode (instance, "push"))
    for (guint i = 0; i < n_items; i++)
      sutra_output_push (output, sutra_item_ref (items[i]));
  return TRUE;
}

#define ROGUE_STAGE(stage_name, stage_kind, params_table, function, what)            \
  {                                                                                  \
    .name = stage_name, .kind = stage_kind, .summary = what, .params = params_table, \
    .settings_size = sizeof (RogueSettings), .threading = SUTRA_THREADING_SHARED,    \
    .devices = SUTRA_DEVICE_CPU, .create = rogue_create, .process = function,        \
  }

static const SutraStageInfo rogue_stages[] = {
  ROGUE_STAGE ("rogue-map", SUTRA_STAGE_MAP, map_params, rogue_map, "A map that misbehaves"),
  ROGUE_STAGE ("rogue-split",
               SUTRA_STAGE_SPLIT,
               split_params,
               rogue_split,
               "A split into two children that misbehaves"),
  ROGUE_STAGE ("rogue-gather",
               SUTRA_STAGE_GATHER,
               gather_params,
               rogue_gather,
               "A gather that misbehaves"),
  ROGUE_STAGE ("rogue-sink",
               SUTRA_STAGE_SINK,
               sink_params,
               rogue_sink,
               "A sink that writes nothing and may push"),
  { NULL }
};

static const SutraPluginInfo rogue_plugin = {
  .abi_major = SUTRA_ABI_MAJOR,
  .abi_minor = SUTRA_ABI_MINOR,
  .name = "rogue",
  .version = "0.0.1",
  .summary = "Stages that break the rules, for the scheduler's tests",
  .stages = rogue_stages,
};

SUTRA_PLUGIN_DEFINE (rogue_plugin)
