/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraHarness: one stage instance driven by hand, for tests of plugins. */

#include "sutra-harness.h"
#include "sutra-json-locations.h"

#include "sutra-executor.h"
#include "sutra-output-private.h"
#include "sutra-settings.h"

#include <glib/gstdio.h>

struct _SutraHarness
{
  const SutraStageInfo *stage;
  const SutraPlugin *plugin;
  SutraSettings *settings;
  char *work_dir;
  SutraExecutor *executor; /* the instance: plugin calls go through it */
  gint cancelled;
};

SutraHarness *
sutra_harness_new (SutraRegistry *registry,
                   const char *stage_name,
                   const char *params_json,
                   GError **error)
{
  g_autoptr (SutraHarness) harness = g_new0 (SutraHarness, 1);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *params = NULL;
  SutraExecutorConfig config;

  harness->stage = sutra_registry_find_stage (registry, stage_name, &harness->plugin);
  if (harness->stage == NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND,
                   "no stage named “%s” is loaded", stage_name);
      return NULL;
    }
  if (params_json != NULL)
    {
      JsonNode *root;
      guint line, column;

      /* json-glib's parser recurses per level: refuse what pipeline files
       * refuse before it sees the text. */
      if (!sutra_json_check_depth (params_json, strlen (params_json), SUTRA_JSON_MAX_DEPTH, &line,
                                   &column))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "params:%u:%u: nested deeper than %u levels of arrays and objects", line,
                       column, SUTRA_JSON_MAX_DEPTH);
          return NULL;
        }
      if (!json_parser_load_from_data (parser, params_json, -1, error))
        return NULL;
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "params must be a JSON object");
          return NULL;
        }
      params = json_node_get_object (root);
    }
  harness->settings = sutra_settings_new_checked (harness->stage, params, error);
  if (harness->settings == NULL)
    return NULL;

  harness->work_dir = g_dir_make_tmp ("sutra-harness-XXXXXX", error);
  if (harness->work_dir == NULL)
    return NULL;
  config = (SutraExecutorConfig){
    .info = harness->stage,
    .plugin_path = harness->plugin != NULL ? harness->plugin->path : NULL,
    .plugin_name = harness->stage->name,
    .settings = sutra_settings_get_data (harness->settings),
    .context = {
      .stage_name = harness->stage->name,
      .worker_index = 0,
      .n_workers = 1,
      .device = "cpu",
      .device_index = -1,
      .work_dir = harness->work_dir,
    },
    .cancelled = &harness->cancelled,
  };
  harness->executor = sutra_executor_new (SUTRA_ISOLATION_THREAD, &config, NULL, error);
  if (harness->executor == NULL)
    return NULL;
  return g_steal_pointer (&harness);
}

void
sutra_harness_free (SutraHarness *harness)
{
  if (harness == NULL)
    return;
  sutra_executor_free (harness->executor);
  if (harness->work_dir != NULL)
    {
      /* The work dir is a scratch space: remove what the stage left. */
      g_autoptr (GDir) dir = g_dir_open (harness->work_dir, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (harness->work_dir, name, NULL);
          (void) g_remove (path);
        }
      (void) g_rmdir (harness->work_dir);
      g_free (harness->work_dir);
    }
  sutra_settings_free (harness->settings);
  g_free (harness);
}

/* A streaming gather's calls for one group of @n_items members (none: no
 * calls, no output), as the scheduler makes them. */
static gboolean
harness_gather (SutraHarness *harness,
                SutraItem *const *items,
                guint n_items,
                SutraOutput *output,
                GError **error)
{
  gpointer group;

  if (n_items == 0)
    return TRUE;
  group = sutra_executor_gather_begin (harness->executor, items[0], output, error);
  if (group == NULL)
    return FALSE;
  for (guint i = 0; i < n_items; i++)
    if (!sutra_executor_gather_add (harness->executor, group, items[i], output, error))
      {
        sutra_executor_gather_abort (harness->executor, group);
        return FALSE;
      }
  return sutra_executor_gather_end (harness->executor, group, n_items, output, error);
}

GPtrArray *
sutra_harness_process (SutraHarness *harness,
                       SutraItem *const *items,
                       guint n_items,
                       GError **error)
{
  SutraOutput output;
  GPtrArray *result;

  sutra_output_init_collect (&output, &harness->cancelled);
  if (harness->stage->gather_begin != NULL
        ? !harness_gather (harness, items, n_items, &output, error)
        : !sutra_executor_process (harness->executor, items, n_items, &output, error))
    {
      sutra_output_clear (&output);
      return NULL;
    }
  result = g_steal_pointer (&output.items);
  return result;
}

gboolean
sutra_harness_finish (SutraHarness *harness, GError **error)
{
  SutraOutput output;
  gboolean ok = TRUE;

  sutra_output_init_collect (&output, &harness->cancelled);
  ok = sutra_executor_finish (harness->executor, &output, error);
  sutra_output_clear (&output);
  return ok;
}

void
sutra_harness_cancel (SutraHarness *harness)
{
  g_atomic_int_set (&harness->cancelled, 1);
}
