/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stamp: a map that appends STAMP_SUFFIX to every text, built twice with
 * different suffixes and the same name and version, as a plugin rebuilt
 * with a change but not a new version would be (test-resume). */

#include <sutra/sutra.h>

#include <string.h>

#ifndef STAMP_SUFFIX
#error "build with -DSTAMP_SUFFIX=\"...\""
#endif

typedef struct
{
  gint64 unused;
} StampSettings;

static const SutraParamInfo stamp_params[] = { SUTRA_PARAM_ROW_END };

static gpointer
stamp_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static gboolean
stamp_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  for (guint i = 0; i < n_items; i++)
    {
      gsize length = 0;
      const guint8 *text = sutra_item_get_data (items[i], &length);
      GByteArray *stamped = g_byte_array_sized_new (length + strlen (STAMP_SUFFIX));

      g_byte_array_append (stamped, text, length);
      g_byte_array_append (stamped, (const guint8 *) STAMP_SUFFIX, strlen (STAMP_SUFFIX));
      sutra_output_push (output, sutra_item_new_derived (items[i], NULL,
                                                         g_byte_array_free_to_bytes (stamped)));
    }
  return TRUE;
}

static const SutraStageInfo stamp_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "stamp",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Appends a suffix fixed when the module was built to every text",
    .params = stamp_params,
    .settings_size = sizeof (StampSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = stamp_create,
    .process = stamp_process,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo stamp_plugin = {
  .name = "stamp",
  .version = "1.0.0",
  .summary = "Suffix-appending map for the module-change tests",
  .stages = stamp_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (stamp_plugin)
