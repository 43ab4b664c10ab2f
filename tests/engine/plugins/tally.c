/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A wide split and a streaming gather that keeps only a count and a digest. */

/*
 * For the big-gather test (test-run): tally-split gives each input
 * `children` children of `child_bytes` bytes each, and tally-gather joins a
 * group into one item, "members=N sha256=HEX", keeping nothing of a member
 * once it has hashed it. Held at once, 100000 children of 4 KiB would be
 * 400 MB; streamed, the run's peak memory is the queues'.
 */

#include <sutra/sutra.h>

#include <string.h>

typedef struct
{
  gint64 children;
  gint64 child_bytes;
} TallySplitSettings;

static const SutraParamInfo tally_split_params[] = {
  SUTRA_PARAM_ROW_INT ("children",
                       TallySplitSettings,
                       children,
                       100000,
                       1,
                       10000000,
                       0,
                       "Children per input."),
  SUTRA_PARAM_ROW_INT ("child_bytes",
                       TallySplitSettings,
                       child_bytes,
                       4096,
                       1,
                       1 << 20,
                       0,
                       "Bytes per child: its index, then filler."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  gint64 fail_at;
} TallyGatherSettings;

static const SutraParamInfo tally_gather_params[] = {
  SUTRA_PARAM_ROW_INT ("fail_at",
                       TallyGatherSettings,
                       fail_at,
                       -1,
                       -1,
                       10000000,
                       0,
                       "gather_add fails on the member of this index in its group (-1: never)."),
  SUTRA_PARAM_ROW_END
};

static gpointer
tally_split_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

/* Child @k's payload: its index in decimal, then 'a' + k % 26 to the end. */
static GBytes *
tally_child_payload (gint64 k, gsize size)
{
  char *data = g_malloc (size);
  int n = g_snprintf (data, size, "%" G_GINT64_FORMAT " ", k);

  if ((gsize) n < size)
    memset (data + n, 'a' + (int) (k % 26), size - (gsize) n);
  return g_bytes_new_take (data, size);
}

static gboolean
tally_split_process (gpointer instance,
                     SutraItem *const *items,
                     guint n_items,
                     SutraOutput *output,
                     GError **error)
{
  const TallySplitSettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    for (gint64 k = 0; k < settings->children; k++)
      sutra_output_push (output,
                         sutra_item_new_child (items[i], (guint64) k, NULL,
                                               tally_child_payload (k, settings->child_bytes)));
  return TRUE;
}

typedef struct
{
  SutraItem *first;
  GChecksum *digest;
  guint n_added;
} TallyGroup;

static void
tally_group_free (TallyGroup *group)
{
  sutra_item_unref (group->first);
  g_checksum_free (group->digest);
  g_free (group);
}

static gpointer
tally_begin (gpointer instance, SutraItem *first, GError **error)
{
  TallyGroup *group = g_new0 (TallyGroup, 1);

  group->first = sutra_item_ref (first);
  group->digest = g_checksum_new (G_CHECKSUM_SHA256);
  return group;
}

static gboolean
tally_add (gpointer instance, gpointer data, SutraItem *member, GError **error)
{
  const TallyGatherSettings *settings = instance;
  TallyGroup *group = data;
  gsize size;
  const guint8 *bytes = sutra_item_get_data (member, &size);

  if ((gint64) group->n_added == settings->fail_at)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "failing on purpose at member %u", group->n_added);
      return FALSE;
    }
  g_checksum_update (group->digest, bytes, (gssize) size);
  group->n_added++;
  return TRUE;
}

static gboolean
tally_end (gpointer instance, gpointer data, guint n_members, SutraOutput *output, GError **error)
{
  TallyGroup *group = data;
  char *text;

  if (n_members != group->n_added)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "gather_end says %u members, gather_add had %u", n_members, group->n_added);
      tally_group_free (group);
      return FALSE;
    }
  text = g_strdup_printf ("members=%u sha256=%s", n_members, g_checksum_get_string (group->digest));
  sutra_output_push (output, sutra_item_new_parent (group->first, SUTRA_MEDIA_TEXT_PLAIN,
                                                    g_bytes_new_take (text, strlen (text))));
  tally_group_free (group);
  return TRUE;
}

static void
tally_abort (gpointer instance, gpointer data)
{
  tally_group_free (data);
}

static const SutraStageInfo tally_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "tally-split",
    .kind = SUTRA_STAGE_SPLIT,
    .summary = "Gives each input many children of a chosen size",
    .params = tally_split_params,
    .settings_size = sizeof (TallySplitSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = tally_split_create,
    .process = tally_split_process,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "tally-gather",
    .kind = SUTRA_STAGE_GATHER,
    .summary = "Counts and hashes a group's members, keeping none",
    .params = tally_gather_params,
    .settings_size = sizeof (TallyGatherSettings),
    .create = tally_split_create,
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .gather_begin = tally_begin,
    .gather_add = tally_add,
    .gather_end = tally_end,
    .gather_abort = tally_abort,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo tally_plugin = {
  .name = "tally",
  .version = "0.0.1",
  .summary = "A wide split and a streaming gather, for the big-gather test",
  .stages = tally_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (tally_plugin)
