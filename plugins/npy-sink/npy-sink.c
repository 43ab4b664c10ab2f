/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* npy-sink: the dhatu stage's results as NumPy .npy files, streamed.
 *
 * In `dir`: vectors.npy (float32, N×9), bases.npy (N×10), ambiguity.npy
 * (N) and ids.txt (the item ids, one a line), rows in stream order. Each
 * .npy starts with a 128-byte header (format 1.0: magic, length, a dict
 * padded with spaces to a multiple of 64 bytes) whose shape has room for
 * any row count: it is written with the rows so far at every sync and at
 * the end, so the rows can stream out behind it. Files are written as
 * NAME.part and renamed when the run succeeds. The sync state is
 * "ROWS IDS_BYTES": a resumed run truncates every file to that and goes on. */

#include <sutra/sutra.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DHATU_MEDIA_BINARY "application/x-dhatu"
#define N_VECTOR 9
#define N_BASES 10
#define RESULT_SIZE ((N_VECTOR + N_BASES + 1) * sizeof (float))
#define HEADER_SIZE 128
#define FLUSH_AT (1 << 20)

typedef struct
{
  const char *dir;
} NpySinkSettings;

static const SutraParamInfo npy_sink_params[] = {
  SUTRA_PARAM_ROW_STRING ("dir",
                          NpySinkSettings,
                          dir,
                          NULL,
                          SUTRA_PARAM_REQUIRED | SUTRA_PARAM_OUTPUT_DIR,
                          "The directory to write vectors.npy, bases.npy, ambiguity.npy and "
                          "ids.txt into (made if missing)."),
  SUTRA_PARAM_ROW_END
};

enum
{
  FILE_VECTORS,
  FILE_BASES,
  FILE_AMBIGUITY,
  FILE_IDS,
  N_FILES
};

static const char *const file_names[N_FILES] = { "vectors.npy", "bases.npy", "ambiguity.npy",
                                                 "ids.txt" };
/* Floats per row of each .npy file (0: one-dimensional). */
static const int file_columns[N_FILES] = { N_VECTOR, N_BASES, 0, -1 };

typedef struct
{
  char *path; /* the final name */
  char *part_path;
  int fd;
  GString *buffer;
  guint64 offset; /* bytes written to fd */
} OutFile;

typedef struct
{
  OutFile files[N_FILES];
  guint64 rows;
} NpySink;

static void
npy_sink_destroy (gpointer instance)
{
  NpySink *sink = instance;

  for (int f = 0; f < N_FILES; f++)
    {
      if (sink->files[f].fd >= 0)
        close (sink->files[f].fd);
      g_free (sink->files[f].path);
      g_free (sink->files[f].part_path);
      if (sink->files[f].buffer != NULL)
        g_string_free (sink->files[f].buffer, TRUE);
    }
  g_free (sink);
}

static gboolean
file_error (GError **error, const char *what, const char *path)
{
  int saved = errno;

  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot %s “%s”: %s", what,
               path, g_strerror (saved));
  return FALSE;
}

/* The .npy header for @rows rows of file @f: always HEADER_SIZE bytes. */
static void
npy_header (char header[HEADER_SIZE], int f, guint64 rows)
{
  char dict[HEADER_SIZE];
  int n;

  if (file_columns[f] > 0)
    n = g_snprintf (dict, sizeof dict,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (%" G_GUINT64_FORMAT
                    ", %d), }",
                    rows, file_columns[f]);
  else
    n = g_snprintf (dict, sizeof dict,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (%" G_GUINT64_FORMAT ",), }",
                    rows);
  /* A 20-digit row count still leaves room: the dict is at most 80 bytes. */
  g_assert (n > 0 && n < HEADER_SIZE - 10);
  memcpy (header, "\x93NUMPY\x01\x00", 8);
  header[8] = (char) (HEADER_SIZE - 10);
  header[9] = 0;
  memcpy (header + 10, dict, n);
  memset (header + 10 + n, ' ', HEADER_SIZE - 10 - n - 1);
  header[HEADER_SIZE - 1] = '\n';
}

static gboolean
write_all (OutFile *file, const char *data, gsize length, GError **error)
{
  while (length > 0)
    {
      ssize_t n = write (file->fd, data, length);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return file_error (error, "write", file->part_path);
        }
      data += n;
      length -= n;
      file->offset += n;
    }
  return TRUE;
}

static gboolean
flush_file (OutFile *file, GError **error)
{
  gboolean ok = write_all (file, file->buffer->str, file->buffer->len, error);

  g_string_truncate (file->buffer, 0);
  return ok;
}

/* Writes every .npy header with the rows written so far. */
static gboolean
write_headers (NpySink *sink, GError **error)
{
  for (int f = 0; f < FILE_IDS; f++)
    {
      char header[HEADER_SIZE];

      npy_header (header, f, sink->rows);
      if (pwrite (sink->files[f].fd, header, HEADER_SIZE, 0) != HEADER_SIZE)
        return file_error (error, "write the header of", sink->files[f].part_path);
    }
  return TRUE;
}

/* The size file @f has after @rows rows (.npy files only). */
static guint64
npy_size (int f, guint64 rows)
{
  return HEADER_SIZE + rows * (guint64) MAX (file_columns[f], 1) * sizeof (float);
}

static gboolean
parse_state (const char *state, guint64 *rows, guint64 *ids_bytes)
{
  char *end;

  *rows = g_ascii_strtoull (state, &end, 10);
  if (end == state || *end != ' ')
    return FALSE;
  state = end + 1;
  *ids_bytes = g_ascii_strtoull (state, &end, 10);
  return end != state && *end == '\0';
}

static gpointer
npy_sink_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const NpySinkSettings *s = settings;
  NpySink *sink = g_new0 (NpySink, 1);
  guint64 ids_bytes = 0;

  for (int f = 0; f < N_FILES; f++)
    sink->files[f].fd = -1;
  if (g_mkdir_with_parents (s->dir, 0777) != 0)
    {
      file_error (error, "make the directory", s->dir);
      npy_sink_destroy (sink);
      return NULL;
    }
  if (context->resume_state != NULL &&
      !parse_state (context->resume_state, &sink->rows, &ids_bytes))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "cannot resume in “%s”: the journal's state “%s” is not “ROWS IDS_BYTES” (start "
                   "the job afresh)",
                   s->dir, context->resume_state);
      npy_sink_destroy (sink);
      return NULL;
    }
  for (int f = 0; f < N_FILES; f++)
    {
      OutFile *file = &sink->files[f];

      file->path = g_build_filename (s->dir, file_names[f], NULL);
      file->part_path = g_strconcat (file->path, ".part", NULL);
      file->buffer = g_string_sized_new (FLUSH_AT + 4096);
      if (context->resume_state != NULL)
        {
          /* Resuming: keep the rows an earlier run made durable. */
          guint64 size = f == FILE_IDS ? ids_bytes : npy_size (f, sink->rows);

          file->fd = open (file->part_path, O_WRONLY | O_CLOEXEC);
          if (file->fd < 0 || ftruncate (file->fd, (off_t) size) != 0 ||
              lseek (file->fd, (off_t) size, SEEK_SET) < 0)
            {
              file_error (error, "resume", file->part_path);
              npy_sink_destroy (sink);
              return NULL;
            }
          file->offset = size;
          continue;
        }
      file->fd = open (file->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (file->fd < 0)
        {
          file_error (error, "create", file->part_path);
          npy_sink_destroy (sink);
          return NULL;
        }
      if (f != FILE_IDS)
        {
          /* Room for the header, written at each sync. */
          g_string_set_size (file->buffer, HEADER_SIZE);
          memset (file->buffer->str, ' ', HEADER_SIZE);
        }
    }
  return sink;
}

static gboolean
npy_sink_process (gpointer instance,
                  SutraItem *const *items,
                  guint n_items,
                  SutraOutput *output,
                  GError **error)
{
  NpySink *sink = instance;

  for (guint i = 0; i < n_items; i++)
    {
      const char *id = sutra_item_get_id (items[i]);
      gsize size;
      const guint8 *data = sutra_item_get_data (items[i], &size);

      if (size != RESULT_SIZE ||
          strcmp (sutra_item_get_media_type (items[i]), DHATU_MEDIA_BINARY) != 0)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
                       "npy-sink takes the dhatu stage's " DHATU_MEDIA_BINARY
                       " results (%u bytes), not %s of %" G_GSIZE_FORMAT
                       " bytes: give the dhatu stage format \"binary\"",
                       (unsigned) RESULT_SIZE, sutra_item_get_media_type (items[i]), size);
          return FALSE;
        }
      if (strchr (id, '\n') != NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "the item id holds a line break, which ids.txt (one id a line) cannot "
                       "hold: give the items ids without one");
          return FALSE;
        }
      g_string_append_len (sink->files[FILE_VECTORS].buffer, (const char *) data,
                           N_VECTOR * sizeof (float));
      g_string_append_len (sink->files[FILE_BASES].buffer,
                           (const char *) data + N_VECTOR * sizeof (float),
                           N_BASES * sizeof (float));
      g_string_append_len (sink->files[FILE_AMBIGUITY].buffer,
                           (const char *) data + (N_VECTOR + N_BASES) * sizeof (float),
                           sizeof (float));
      g_string_append (sink->files[FILE_IDS].buffer, id);
      g_string_append_c (sink->files[FILE_IDS].buffer, '\n');
      sink->rows++;
    }
  for (int f = 0; f < N_FILES; f++)
    if (sink->files[f].buffer->len >= FLUSH_AT && !flush_file (&sink->files[f], error))
      return FALSE;
  return TRUE;
}

static gboolean
npy_sink_sync (gpointer instance, char **state, GError **error)
{
  NpySink *sink = instance;

  for (int f = 0; f < N_FILES; f++)
    if (!flush_file (&sink->files[f], error))
      return FALSE;
  if (!write_headers (sink, error))
    return FALSE;
  for (int f = 0; f < N_FILES; f++)
    if (fsync (sink->files[f].fd) != 0)
      return file_error (error, "sync", sink->files[f].part_path);
  *state = g_strdup_printf ("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, sink->rows,
                            sink->files[FILE_IDS].offset);
  return TRUE;
}

static gboolean
npy_sink_finish (gpointer instance, SutraOutput *output, GError **error)
{
  NpySink *sink = instance;
  g_autofree char *state = NULL;

  if (!npy_sink_sync (sink, &state, error))
    return FALSE;
  for (int f = 0; f < N_FILES; f++)
    {
      OutFile *file = &sink->files[f];
      int fd = file->fd;

      file->fd = -1;
      if (close (fd) != 0)
        return file_error (error, "close", file->part_path);
      if (g_rename (file->part_path, file->path) != 0)
        return file_error (error, "rename to its final name", file->part_path);
    }
  return TRUE;
}

static const char *const npy_sink_input_types[] = { DHATU_MEDIA_BINARY, NULL };

static const SutraStageInfo npy_sink_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "npy-sink",
    .kind = SUTRA_STAGE_SINK,
    .summary = "Writes dhātu results as NumPy .npy files (vectors, bases, ambiguity) and ids.txt",
    .params = npy_sink_params,
    .settings_size = sizeof (NpySinkSettings),
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU,
    .create = npy_sink_create,
    .process = npy_sink_process,
    .finish = npy_sink_finish,
    .sync = npy_sink_sync,
    .destroy = npy_sink_destroy,
    .input_media_types = npy_sink_input_types,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo npy_sink_plugin = {
  .name = "npy-sink",
  .version = "1.0.0",
  .summary = "NumPy .npy output of dhātu results",
  .stages = npy_sink_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (npy_sink_plugin)
