/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text-split: a text item into its parts at a separator, as children. */

#include <sutra/sutra.h>

#include <string.h>

typedef struct
{
  const char *separator;
  gboolean skip_empty;
} TextSplitSettings;

static const SutraParamInfo text_split_params[] = {
  SUTRA_PARAM_ROW_STRING ("separator",
                          TextSplitSettings,
                          separator,
                          "\n",
                          0,
                          "Where to cut; not part of any child."),
  SUTRA_PARAM_ROW_BOOL ("skip_empty",
                        TextSplitSettings,
                        skip_empty,
                        FALSE,
                        0,
                        "Make no child for an empty part (the indices stay dense)."),
  SUTRA_PARAM_ROW_END
};

static gpointer
text_split_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const TextSplitSettings *s = settings;

  if (s->separator == NULL || s->separator[0] == '\0')
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "parameter “separator” must not be empty");
      return NULL;
    }
  return (gpointer) settings;
}

static gboolean
text_split_process (gpointer instance,
                    SutraItem *const *items,
                    guint n_items,
                    SutraOutput *output,
                    GError **error)
{
  const TextSplitSettings *settings = instance;
  gsize separator_length = strlen (settings->separator);

  for (guint i = 0; i < n_items; i++)
    {
      gsize size;
      const char *data = (const char *) sutra_item_get_data (items[i], &size);
      const char *end = data + size, *start = data;
      guint64 index = 0;

      for (;;)
        {
          const char *cut = separator_length <= (gsize) (end - start)
                              ? memmem (start, end - start, settings->separator, separator_length)
                              : NULL;
          const char *part_end = cut != NULL ? cut : end;

          if (part_end > start || !settings->skip_empty)
            {
              SutraItem *child = sutra_item_new_child (items[i], index++, NULL,
                                                       g_bytes_new (start, part_end - start));

              sutra_item_set_meta (child, sutra_item_dup_meta (items[i]));
              sutra_output_push (output, child);
            }
          if (cut == NULL)
            break;
          start = cut + separator_length;
        }
    }
  return TRUE;
}

static const char *const text_split_input_types[] = { "text/*", NULL };
static const char *const text_split_output_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
/* Each child carries a copy of its parent's metadata. */
static const char *const text_split_meta_keys[] = { "*", NULL };

static const SutraStageInfo text_split_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "text-split",
    .kind = SUTRA_STAGE_SPLIT,
    .summary = "Splits text at a separator; each part becomes a child item",
    .params = text_split_params,
    .settings_size = sizeof (TextSplitSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = text_split_create,
    .process = text_split_process,
    .input_media_types = text_split_input_types,
    .output_media_types = text_split_output_types,
    .meta_keys = text_split_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo text_split_plugin = {
  .name = "text-split",
  .version = "1.0.0",
  .summary = "Split text items at a separator",
  .stages = text_split_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (text_split_plugin)
