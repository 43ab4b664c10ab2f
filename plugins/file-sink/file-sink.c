/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* file-sink: each item's payload to a file of its own, named by a template. */

#include <sutra/sutra.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  const char *dir;
  const char *name;
} FileSinkSettings;

static const SutraParamInfo file_sink_params[] = {
  SUTRA_PARAM_ROW_STRING ("dir",
                          FileSinkSettings,
                          dir,
                          NULL,
                          SUTRA_PARAM_REQUIRED | SUTRA_PARAM_OUTPUT_DIR,
                          "The directory to write into; made if missing."),
  SUTRA_PARAM_ROW_STRING ("name",
                          FileSinkSettings,
                          name,
                          "{id}{ext}",
                          0,
                          "File name template: {id} (slashes make subdirectories), {index} "
                          "(the item's index among its siblings), {position} (its source "
                          "position), {ext} (from the media type: .txt, .md, .wav ...)."),
  SUTRA_PARAM_ROW_END
};

static const char *
extension_for (const char *media_type)
{
  static const struct
  {
    const char *type;
    const char *ext;
  } table[] = {
    { "text/plain", ".txt" }, { "text/markdown", ".md" },          { "application/json", ".json" },
    { "audio/wav", ".wav" },  { "audio/x-wav", ".wav" },           { "audio/mp4", ".m4a" },
    { "audio/mpeg", ".mp3" }, { "application/epub+zip", ".epub" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (strcmp (table[i].type, media_type) == 0)
      return table[i].ext;
  return ".bin";
}

/* The id as a relative path that cannot leave the output directory. */
static char *
safe_id_path (const char *id)
{
  g_auto (GStrv) parts = g_strsplit (id, "/", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *part = parts[i];

      if (part[0] == '\0' || strcmp (part, ".") == 0 || strcmp (part, "..") == 0)
        part = "_";
      if (out->len > 0)
        g_string_append_c (out, '/');
      g_string_append (out, part);
    }
  return g_string_free (out, FALSE);
}

static char *
expand_name (const FileSinkSettings *settings, SutraItem *item)
{
  GString *out = g_string_new (NULL);

  for (const char *p = settings->name; *p != '\0';)
    {
      if (g_str_has_prefix (p, "{id}"))
        {
          g_autofree char *id = safe_id_path (sutra_item_get_id (item));
          g_string_append (out, id);
          p += 4;
        }
      else if (g_str_has_prefix (p, "{index}"))
        {
          g_string_append_printf (out, "%04" G_GUINT64_FORMAT, sutra_item_get_index (item));
          p += 7;
        }
      else if (g_str_has_prefix (p, "{position}"))
        {
          g_string_append_printf (out, "%" G_GUINT64_FORMAT, sutra_item_get_position (item, 0));
          p += 10;
        }
      else if (g_str_has_prefix (p, "{ext}"))
        {
          g_string_append (out, extension_for (sutra_item_get_media_type (item)));
          p += 5;
        }
      else
        g_string_append_c (out, *p++);
    }
  return g_string_free (out, FALSE);
}

static gpointer
file_sink_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const FileSinkSettings *s = settings;

  if (g_mkdir_with_parents (s->dir, 0777) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot make directory “%s”: %s", s->dir, g_strerror (errno));
      return NULL;
    }
  return (gpointer) settings;
}

static gboolean
file_sink_process (gpointer instance,
                   SutraItem *const *items,
                   guint n_items,
                   SutraOutput *output,
                   GError **error)
{
  const FileSinkSettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    {
      g_autofree char *name = expand_name (settings, items[i]);
      g_autofree char *path = g_build_filename (settings->dir, name, NULL);
      g_autofree char *dir = g_path_get_dirname (path);
      gsize size;
      const guint8 *data = sutra_item_get_data (items[i], &size);

      if (g_mkdir_with_parents (dir, 0777) != 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                       "cannot make directory “%s”: %s", dir, g_strerror (errno));
          return FALSE;
        }
      /* g_file_set_contents writes a temporary file and renames it: a
       * reader never sees half a file. */
      if (!g_file_set_contents_full (path, (const char *) data, size,
                                     G_FILE_SET_CONTENTS_CONSISTENT, 0666, error))
        return FALSE;
    }
  return TRUE;
}

static const SutraStageInfo file_sink_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "file-sink",
    .kind = SUTRA_STAGE_SINK,
    .summary = "Writes each item's payload to a file of its own",
    .params = file_sink_params,
    .settings_size = sizeof (FileSinkSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = file_sink_create,
    .process = file_sink_process,
    /* Any media type: the payload is written as it is; the extension follows
     * the type. */
    .input_media_types = NULL,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo file_sink_plugin = {
  .name = "file-sink",
  .version = "1.0.0",
  .summary = "One file per item",
  .stages = file_sink_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (file_sink_plugin)
