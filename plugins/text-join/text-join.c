/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text-join: the text children of a parent, joined back into one item. */

#include <sutra/sutra.h>

typedef struct
{
  const char *separator;
} TextJoinSettings;

static const SutraParamInfo text_join_params[] = {
  SUTRA_PARAM_ROW_STRING ("separator",
                          TextJoinSettings,
                          separator,
                          "\n",
                          0,
                          "Put between consecutive children."),
  SUTRA_PARAM_ROW_END
};

static gpointer
text_join_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static gboolean
text_join_process (gpointer instance,
                   SutraItem *const *items,
                   guint n_items,
                   SutraOutput *output,
                   GError **error)
{
  const TextJoinSettings *settings = instance;
  g_autoptr (GByteArray) joined = g_byte_array_new ();
  gsize separator_length = strlen (settings->separator);
  SutraItem *parent;
  gsize length;

  for (guint i = 0; i < n_items; i++)
    {
      gsize size;
      const guint8 *data = sutra_item_get_data (items[i], &size);

      if (i > 0)
        g_byte_array_append (joined, (const guint8 *) settings->separator, separator_length);
      g_byte_array_append (joined, data, size);
    }
  length = joined->len;
  parent =
    sutra_item_new_parent (items[0], NULL,
                           g_bytes_new_take (g_byte_array_free (g_steal_pointer (&joined), FALSE),
                                             length));
  sutra_item_set_meta (parent, sutra_item_dup_meta (items[0]));
  sutra_output_push (output, parent);
  return TRUE;
}

static const char *const text_join_input_types[] = { "text/*", NULL };
static const char *const text_join_output_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
/* The joined item carries its first member's metadata. */
static const char *const text_join_meta_keys[] = { "*", NULL };

static const SutraStageInfo text_join_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "text-join",
    .kind = SUTRA_STAGE_GATHER,
    .summary = "Joins the text children of each parent, in order, into one item",
    .params = text_join_params,
    .settings_size = sizeof (TextJoinSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = text_join_create,
    .process = text_join_process,
    .input_media_types = text_join_input_types,
    .output_media_types = text_join_output_types,
    .meta_keys = text_join_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo text_join_plugin = {
  .name = "text-join",
  .version = "1.0.0",
  .summary = "Join text children back into their parent",
  .stages = text_join_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (text_join_plugin)
