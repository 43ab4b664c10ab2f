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

static const char *const map_modes[] = { "pass",      "jitter",     "twice",
                                         "none",      "wrong-path", "false-without-error",
                                         "push-null", NULL };
/* push-null, null-parent: misuse the API. wide: 100000 children per input,
 * the last one saying how many items rogue-sink (mode count) took while
 * they were pushed. flaky: the first call that sees an input pushes three
 * of its five children and fails. fail-third: the same, every time, for
 * the inputs whose id ends in ":3". */
static const char *const split_modes[] = { "pass",      "unordered",   "stranger",
                                           "push-null", "null-parent", "wide",
                                           "flaky",     "fail-third",  NULL };
static const char *const gather_modes[] = { "pass", "none", "two", NULL };
static const char *const sink_modes[] = { "pass", "push", "count", NULL };

#define WIDE_CHILDREN 100000

/* Items rogue-sink took in mode count, in this process. */
static gint64 sink_counted;

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

typedef struct
{
  const RogueSettings *settings;
  GMutex lock;
  GHashTable *seen; /* flaky: ids of the inputs seen before */
} Rogue;

static gpointer
rogue_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  Rogue *rogue = g_new0 (Rogue, 1);

  rogue->settings = settings;
  g_mutex_init (&rogue->lock);
  rogue->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return rogue;
}

static void
rogue_destroy (gpointer instance)
{
  Rogue *rogue = instance;

  g_hash_table_unref (rogue->seen);
  g_mutex_clear (&rogue->lock);
  g_free (rogue);
}

static gboolean
is_mode (gpointer instance, const char *mode)
{
  return strcmp (((Rogue *) instance)->settings->mode, mode) == 0;
}

/* Whether this is the first call to see @item (flaky). */
static gboolean
first_sight (Rogue *rogue, SutraItem *item)
{
  gboolean first;

  g_mutex_lock (&rogue->lock);
  first = g_hash_table_add (rogue->seen, g_strdup (sutra_item_get_id (item)));
  g_mutex_unlock (&rogue->lock);
  return first;
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
      if (is_mode (instance, "push-null"))
        {
          sutra_output_push (output, NULL);
          continue;
        }
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
      if (is_mode (instance, "push-null"))
        {
          sutra_output_push (output, sutra_item_new_child (items[i], 0, NULL, NULL));
          sutra_output_push (output, NULL);
          continue;
        }
      if (is_mode (instance, "null-parent"))
        {
          sutra_output_push (output, sutra_item_new_child (NULL, 0, NULL, NULL));
          continue;
        }
      if (is_mode (instance, "wide"))
        {
          gint64 before = __atomic_load_n (&sink_counted, __ATOMIC_RELAXED);
          char *seen;

          for (guint k = 0; k + 1 < WIDE_CHILDREN; k++)
            sutra_output_push (output, sutra_item_new_child (items[i], k, NULL, NULL));
          seen = g_strdup_printf ("%" G_GINT64_FORMAT,
                                  __atomic_load_n (&sink_counted, __ATOMIC_RELAXED) - before);
          sutra_output_push (output, sutra_item_new_child (items[i], WIDE_CHILDREN - 1, NULL,
                                                           g_bytes_new_take (seen, strlen (seen))));
          continue;
        }
      if (is_mode (instance, "flaky") || is_mode (instance, "fail-third"))
        {
          gboolean fail = is_mode (instance, "flaky")
                            ? first_sight (instance, items[i])
                            : g_str_has_suffix (sutra_item_get_id (items[i]), ":3");

          for (guint k = 0; k < (fail ? 3 : 5); k++)
            sutra_output_push (output, sutra_item_new_child (items[i], k, NULL, NULL));
          if (fail)
            {
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                           "failing on purpose after three children of “%s”",
                           sutra_item_get_id (items[i]));
              return FALSE;
            }
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
  if (is_mode (instance, "count"))
    __atomic_fetch_add (&sink_counted, n_items, __ATOMIC_RELAXED);
  return TRUE;
}

#define ROGUE_STAGE(stage_name, stage_kind, params_table, function, what)                         \
  {                                                                                               \
    SUTRA_STAGE_INFO_INIT, .name = stage_name, .kind = stage_kind, .summary = what,               \
                           .params = params_table, .settings_size = sizeof (RogueSettings),       \
                           .threading = SUTRA_THREADING_SHARED, .devices = SUTRA_DEVICE_CPU,      \
                           .create = rogue_create, .destroy = rogue_destroy, .process = function, \
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
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo rogue_plugin = {
  .name = "rogue",
  .version = "0.0.1",
  .summary = "Stages that break the rules, for the scheduler's tests",
  .stages = rogue_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (rogue_plugin)
