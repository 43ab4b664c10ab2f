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

/* One group being joined: the text so far, and the first member, whose id
 * and metadata the joined item takes. Only the text grows with the group. */
typedef struct
{
  GByteArray *joined;
  SutraItem *first;
  guint n_added;
} TextJoinGroup;

static void
text_join_group_free (TextJoinGroup *group)
{
  g_byte_array_unref (group->joined);
  sutra_item_unref (group->first);
  g_free (group);
}

static gpointer
text_join_begin (gpointer instance, SutraItem *first, GError **error)
{
  TextJoinGroup *group = g_new0 (TextJoinGroup, 1);

  group->joined = g_byte_array_new ();
  group->first = sutra_item_ref (first);
  return group;
}

static gboolean
text_join_add (gpointer instance, gpointer data, SutraItem *member, GError **error)
{
  const TextJoinSettings *settings = instance;
  TextJoinGroup *group = data;
  gsize size;
  const guint8 *bytes = sutra_item_get_data (member, &size);

  if (group->n_added++ > 0)
    g_byte_array_append (group->joined, (const guint8 *) settings->separator,
                         strlen (settings->separator));
  g_byte_array_append (group->joined, bytes, size);
  return TRUE;
}

static gboolean
text_join_end (gpointer instance,
               gpointer data,
               guint n_members,
               SutraOutput *output,
               GError **error)
{
  TextJoinGroup *group = data;
  gsize length = group->joined->len;
  SutraItem *parent =
    sutra_item_new_parent (group->first, NULL,
                           g_bytes_new_take (g_byte_array_free (g_steal_pointer (&group->joined),
                                                                FALSE),
                                             length));

  sutra_item_set_meta (parent, sutra_item_dup_meta (group->first));
  sutra_output_push (output, parent);
  group->joined = g_byte_array_new ();
  text_join_group_free (group);
  return TRUE;
}

static void
text_join_abort (gpointer instance, gpointer data)
{
  text_join_group_free (data);
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
    .gather_begin = text_join_begin,
    .gather_add = text_join_add,
    .gather_end = text_join_end,
    .gather_abort = text_join_abort,
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
