/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* jsonl-sink: one JSON object per item, in stream order, to one file. */

#include <sutra/sutra.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  const char *path;
  gboolean include_meta;
} JsonlSinkSettings;

static const SutraParamInfo jsonl_sink_params[] = {
  SUTRA_PARAM_ROW_STRING ("path",
                          JsonlSinkSettings,
                          path,
                          NULL,
                          SUTRA_PARAM_REQUIRED | SUTRA_PARAM_OUTPUT_PATH,
                          "The file to write, or “-” for standard output. It is written as "
                          "PATH.part and renamed to PATH when the run succeeds."),
  SUTRA_PARAM_ROW_BOOL ("include_meta",
                        JsonlSinkSettings,
                        include_meta,
                        TRUE,
                        0,
                        "Write each item's metadata as the member “meta”."),
  SUTRA_PARAM_ROW_END
};

#define FLUSH_AT (1 << 20)
/* How much written output may wait for the kernel's own writeback: see
 * start_writeback(). */
#define WRITEBACK_EVERY (8 << 20)

typedef struct
{
  const JsonlSinkSettings *settings;
  char *part_path;
  int fd;
  GString *buffer;
  guint64 offset;    /* bytes written to fd so far */
  guint64 writeback; /* bytes whose writeback has been started */
} JsonlSink;

static void
jsonl_sink_destroy (gpointer instance)
{
  JsonlSink *sink = instance;

  if (sink->fd >= 0 && sink->fd != STDOUT_FILENO)
    close (sink->fd);
  g_free (sink->part_path);
  g_string_free (sink->buffer, TRUE);
  g_free (sink);
}

static gboolean
write_all (JsonlSink *sink, const char *data, gsize length, GError **error)
{
  while (length > 0)
    {
      ssize_t n = write (sink->fd, data, length);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                       "cannot write “%s”: %s", sink->part_path ? sink->part_path : "stdout",
                       g_strerror (errno));
          return FALSE;
        }
      data += n;
      length -= n;
      sink->offset += n;
    }
  return TRUE;
}

/* Starts writing what was written since the last call to the disk, without
 * waiting for it. The kernel would otherwise hold megabytes of output until
 * a sync (each one the sink's thread waits for: at the end, and in a job
 * every few seconds) or its own writeback, seconds later; started early, the
 * disk works while the pipeline does, and a sync finds little left. */
static void
start_writeback (JsonlSink *sink)
{
#ifdef SYNC_FILE_RANGE_WRITE
  if (sink->fd == STDOUT_FILENO || sink->offset - sink->writeback < WRITEBACK_EVERY)
    return;
  /* A hint: where it is not supported (a pipe, some file systems), the
   * syncs do the work. */
  (void) sync_file_range (sink->fd, (off_t) sink->writeback,
                          (off_t) (sink->offset - sink->writeback), SYNC_FILE_RANGE_WRITE);
  sink->writeback = sink->offset;
#endif
}

static gboolean
flush_buffer (JsonlSink *sink, GError **error)
{
  gboolean ok = write_all (sink, sink->buffer->str, sink->buffer->len, error);

  g_string_truncate (sink->buffer, 0);
  if (ok)
    start_writeback (sink);
  return ok;
}

static gpointer
jsonl_sink_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const JsonlSinkSettings *s = settings;
  JsonlSink *sink = g_new0 (JsonlSink, 1);

  sink->settings = s;
  sink->buffer = g_string_sized_new (FLUSH_AT + 4096);
  if (strcmp (s->path, "-") == 0)
    {
      sink->fd = STDOUT_FILENO;
      return sink;
    }
  sink->part_path = g_strconcat (s->path, ".part", NULL);
  if (context->resume_state != NULL)
    {
      /* Resuming: keep what an earlier run made durable, drop the rest. */
      guint64 offset = g_ascii_strtoull (context->resume_state, NULL, 10);

      sink->fd = open (sink->part_path, O_WRONLY | O_CLOEXEC);
      if (sink->fd < 0 || ftruncate (sink->fd, (off_t) offset) != 0 ||
          lseek (sink->fd, (off_t) offset, SEEK_SET) < 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                       "cannot resume “%s” at byte %" G_GUINT64_FORMAT ": %s", sink->part_path,
                       offset, g_strerror (errno));
          jsonl_sink_destroy (sink);
          return NULL;
        }
      sink->offset = sink->writeback = offset;
      return sink;
    }
  sink->fd = open (sink->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (sink->fd < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot create “%s”: %s",
                   sink->part_path, g_strerror (errno));
      jsonl_sink_destroy (sink);
      return NULL;
    }
  return sink;
}

/* Appends @data as a JSON string. Invalid UTF-8 becomes U+FFFD: JSON text
 * must be Unicode. */
static void
append_json_string (GString *out, const char *data, gsize length)
{
  static const char hex[] = "0123456789abcdef";
  const char *p = data, *end = data + length;

  g_string_append_c (out, '"');
  while (p < end)
    {
      const char *run = p;

      /* Copy plain ASCII in runs: the common case. */
      while (p < end && (guchar) *p >= 0x20 && (guchar) *p < 0x80 && *p != '"' && *p != '\\')
        p++;
      g_string_append_len (out, run, p - run);
      if (p == end)
        break;
      if ((guchar) *p >= 0x80)
        {
          const char *valid_end;

          if (g_utf8_validate (p, MIN (end - p, 4), &valid_end) || valid_end > p)
            {
              gunichar c = g_utf8_get_char_validated (p, end - p);

              if (c != (gunichar) -1 && c != (gunichar) -2)
                {
                  const char *next = g_utf8_next_char (p);

                  g_string_append_len (out, p, next - p);
                  p = next;
                  continue;
                }
            }
          g_string_append (out, "\xef\xbf\xbd");
          p++;
          continue;
        }
      switch (*p)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          g_string_append (out, "\\u00");
          g_string_append_c (out, hex[(guchar) *p >> 4]);
          g_string_append_c (out, hex[(guchar) *p & 0xf]);
        }
      p++;
    }
  g_string_append_c (out, '"');
}

static gboolean
is_text (const char *media_type)
{
  return g_str_has_prefix (media_type, "text/");
}

/* An application/json payload holding one object, written by the stage
 * before: "{...}", no whitespace around. */
static gboolean
is_json_object (const char *media_type, const guint8 *data, gsize size)
{
  return size >= 2 && data[0] == '{' && data[size - 1] == '}' &&
         strcmp (media_type, "application/json") == 0;
}

static gboolean
jsonl_sink_process (gpointer instance,
                    SutraItem *const *items,
                    guint n_items,
                    SutraOutput *output,
                    GError **error)
{
  JsonlSink *sink = instance;

  for (guint i = 0; i < n_items; i++)
    {
      SutraItem *item = items[i];
      const char *id = sutra_item_get_id (item);
      const char *media_type = sutra_item_get_media_type (item);
      JsonObject *meta = sutra_item_get_meta (item);
      gsize size;
      const guint8 *data = sutra_item_get_data (item, &size);

      g_string_append (sink->buffer, "{\"id\":");
      append_json_string (sink->buffer, id, strlen (id));
      if (meta != NULL && sink->settings->include_meta)
        {
          g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), meta);
          gsize length;
          g_autofree char *text = NULL;

          /* Doubles as short decimals: 0.1, not 0.10000000000000001. */
          text = sutra_json_to_data (node, FALSE, &length);
          g_string_append (sink->buffer, ",\"meta\":");
          g_string_append_len (sink->buffer, text, length);
        }
      if (is_json_object (media_type, data, size))
        {
          /* A JSON object (the dhatu stage's results): its members follow
           * the id, as they are. */
          if (size > 2)
            g_string_append_c (sink->buffer, ',');
          g_string_append_len (sink->buffer, (const char *) data + 1, size - 2);
        }
      else if (is_text (media_type))
        {
          if (strcmp (media_type, SUTRA_MEDIA_TEXT_PLAIN) != 0)
            {
              g_string_append (sink->buffer, ",\"media_type\":");
              append_json_string (sink->buffer, media_type, strlen (media_type));
            }
          g_string_append (sink->buffer, ",\"text\":");
          append_json_string (sink->buffer, (const char *) data, size);
        }
      else
        {
          g_string_append (sink->buffer, ",\"media_type\":");
          append_json_string (sink->buffer, media_type, strlen (media_type));
          g_string_append_printf (sink->buffer, ",\"size\":%" G_GSIZE_FORMAT, size);
        }
      g_string_append (sink->buffer, "}\n");
      if (sink->buffer->len >= FLUSH_AT && !flush_buffer (sink, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
jsonl_sink_sync (gpointer instance, char **state, GError **error)
{
  JsonlSink *sink = instance;

  if (!flush_buffer (sink, error))
    return FALSE;
  if (sink->fd != STDOUT_FILENO && fsync (sink->fd) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot sync “%s”: %s",
                   sink->part_path, g_strerror (errno));
      return FALSE;
    }
  *state = g_strdup_printf ("%" G_GUINT64_FORMAT, sink->offset);
  return TRUE;
}

static gboolean
jsonl_sink_finish (gpointer instance, SutraOutput *output, GError **error)
{
  JsonlSink *sink = instance;
  g_autofree char *state = NULL;

  if (!jsonl_sink_sync (sink, &state, error))
    return FALSE;
  if (sink->fd == STDOUT_FILENO)
    return TRUE;
  if (close (sink->fd) != 0)
    {
      sink->fd = -1;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot close “%s”: %s",
                   sink->part_path, g_strerror (errno));
      return FALSE;
    }
  sink->fd = -1;
  if (g_rename (sink->part_path, sink->settings->path) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                   "cannot rename “%s” to “%s”: %s", sink->part_path, sink->settings->path,
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static const SutraStageInfo jsonl_sink_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "jsonl-sink",
    .kind = SUTRA_STAGE_SINK,
    .summary = "Writes one JSON object per item (id, meta, text) in stream order",
    .params = jsonl_sink_params,
    .settings_size = sizeof (JsonlSinkSettings),
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU,
    .create = jsonl_sink_create,
    .process = jsonl_sink_process,
    .finish = jsonl_sink_finish,
    .sync = jsonl_sink_sync,
    .destroy = jsonl_sink_destroy,
    /* Any media type: text as "text", other payloads as their type and size. */
    .input_media_types = NULL,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo jsonl_sink_plugin = {
  .name = "jsonl-sink",
  .version = "1.0.0",
  .summary = "JSON-lines output",
  .stages = jsonl_sink_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (jsonl_sink_plugin)
