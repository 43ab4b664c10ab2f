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

/* The output buffer: appends are inline and check room once per run of
 * bytes, where a GString call per piece cost more than the escaping. */
typedef struct
{
  char *data;
  gsize len;
  gsize size;
} Buffer;

static void
buffer_grow (Buffer *buffer, gsize n)
{
  buffer->size = MAX (buffer->size * 2, buffer->len + n);
  buffer->data = g_realloc (buffer->data, buffer->size);
}

static inline void
buffer_append (Buffer *buffer, const void *data, gsize n)
{
  if (G_UNLIKELY (buffer->size - buffer->len < n))
    buffer_grow (buffer, n);
  memcpy (buffer->data + buffer->len, data, n);
  buffer->len += n;
}

#define buffer_append_literal(buffer, literal) \
  buffer_append ((buffer), (literal), sizeof (literal) - 1)

static inline void
buffer_append_c (Buffer *buffer, char c)
{
  if (G_UNLIKELY (buffer->size == buffer->len))
    buffer_grow (buffer, 1);
  buffer->data[buffer->len++] = c;
}

typedef struct
{
  const JsonlSinkSettings *settings;
  char *part_path;
  int fd;
  Buffer buffer;
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
  g_free (sink->buffer.data);
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
  gboolean ok = write_all (sink, sink->buffer.data, sink->buffer.len, error);

  sink->buffer.len = 0;
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
  sink->buffer.size = FLUSH_AT + 4096;
  sink->buffer.data = g_malloc (sink->buffer.size);
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

/* The bytes a JSON string cannot hold as they are: controls, the quote, the
 * backslash, and (to be checked as UTF-8) every byte from 0x80. */
static const guint8 needs_care[256] = {
  [0x00 ... 0x1f] = 1,
  ['"'] = 1,
  ['\\'] = 1,
  [0x80 ... 0xff] = 1,
};

/* Appends @data as a JSON string. Invalid UTF-8 becomes U+FFFD: JSON text
 * must be Unicode. */
static void
append_json_string (Buffer *out, const char *data, gsize length)
{
  static const char hex[] = "0123456789abcdef";
  const guchar *p = (const guchar *) data, *end = p + length;

  buffer_append_c (out, '"');
  while (p < end)
    {
      const guchar *run = p;

      /* Copy the bytes that need nothing in runs: the common case. */
      while (p < end && !needs_care[*p])
        p++;
      buffer_append (out, run, p - run);
      if (p == end)
        break;
      if (*p >= 0x80)
        {
          const char *c_start = (const char *) p, *valid_end;

          if (g_utf8_validate (c_start, MIN (end - p, 4), &valid_end) || valid_end > c_start)
            {
              gunichar c = g_utf8_get_char_validated (c_start, end - p);

              if (c != (gunichar) -1 && c != (gunichar) -2)
                {
                  const char *next = g_utf8_next_char (c_start);

                  buffer_append (out, c_start, next - c_start);
                  p = (const guchar *) next;
                  continue;
                }
            }
          buffer_append_literal (out, "\xef\xbf\xbd");
          p++;
          continue;
        }
      switch (*p)
        {
        case '"':
          buffer_append_literal (out, "\\\"");
          break;
        case '\\':
          buffer_append_literal (out, "\\\\");
          break;
        case '\n':
          buffer_append_literal (out, "\\n");
          break;
        case '\r':
          buffer_append_literal (out, "\\r");
          break;
        case '\t':
          buffer_append_literal (out, "\\t");
          break;
        default:
          {
            char escape[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 0xf] };

            buffer_append (out, escape, sizeof escape);
          }
        }
      p++;
    }
  buffer_append_c (out, '"');
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
  Buffer *buffer = &sink->buffer;

  for (guint i = 0; i < n_items; i++)
    {
      SutraItem *item = items[i];
      const char *id = sutra_item_get_id (item);
      const char *media_type = sutra_item_get_media_type (item);
      JsonObject *meta = sutra_item_get_meta (item);
      gsize size;
      const guint8 *data = sutra_item_get_data (item, &size);

      buffer_append_literal (buffer, "{\"id\":");
      append_json_string (buffer, id, strlen (id));
      if (meta != NULL && sink->settings->include_meta)
        {
          g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), meta);
          gsize length;
          g_autofree char *text = NULL;

          /* Doubles as short decimals: 0.1, not 0.10000000000000001. */
          text = sutra_json_to_data (node, FALSE, &length);
          buffer_append_literal (buffer, ",\"meta\":");
          buffer_append (buffer, text, length);
        }
      if (is_json_object (media_type, data, size))
        {
          /* A JSON object (the dhatu stage's results): its members follow
           * the id, as they are. */
          if (size > 2)
            buffer_append_c (buffer, ',');
          buffer_append (buffer, (const char *) data + 1, size - 2);
        }
      else if (is_text (media_type))
        {
          if (strcmp (media_type, SUTRA_MEDIA_TEXT_PLAIN) != 0)
            {
              buffer_append_literal (buffer, ",\"media_type\":");
              append_json_string (buffer, media_type, strlen (media_type));
            }
          buffer_append_literal (buffer, ",\"text\":");
          append_json_string (buffer, (const char *) data, size);
        }
      else
        {
          char number[32];

          buffer_append_literal (buffer, ",\"media_type\":");
          append_json_string (buffer, media_type, strlen (media_type));
          buffer_append (buffer, number,
                         (gsize) g_snprintf (number, sizeof number, ",\"size\":%" G_GSIZE_FORMAT,
                                             size));
        }
      buffer_append_literal (buffer, "}\n");
      if (buffer->len >= FLUSH_AT && !flush_buffer (sink, error))
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
