/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* identity: a map that passes items through, optionally after a delay. */

#include <sutra/sutra.h>

typedef struct
{
  gint64 sleep_us;
} IdentitySettings;

static const SutraParamInfo identity_params[] = {
  SUTRA_PARAM_ROW_INT ("sleep_us",
                       IdentitySettings,
                       sleep_us,
                       0,
                       0,
                       G_MAXINT32,
                       0,
                       "Microseconds to sleep per item, to model a slow stage."),
  SUTRA_PARAM_ROW_END
};

static gpointer
identity_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  /* The settings outlive the instance, so the instance is just them. */
  return (gpointer) settings;
}

static gboolean
identity_process (gpointer instance,
                  SutraItem *const *items,
                  guint n_items,
                  SutraOutput *output,
                  GError **error)
{
  const IdentitySettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    {
      if (settings->sleep_us > 0)
        g_usleep ((gulong) settings->sleep_us);
      sutra_output_push (output, sutra_item_ref (items[i]));
    }
  return TRUE;
}

/* Items pass through as they are: any media type, no metadata of its own. */
static const char *const identity_meta_keys[] = { NULL };

static const SutraStageInfo identity_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "identity",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Passes every item through unchanged (after sleep_us, if set)",
    .params = identity_params,
    .settings_size = sizeof (IdentitySettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = identity_create,
    .process = identity_process,
    .meta_keys = identity_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo identity_plugin = {
  .name = "identity",
  .version = "1.0.0",
  .summary = "Pass-through map for tests and benchmarks",
  .stages = identity_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (identity_plugin)
