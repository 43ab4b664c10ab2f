/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text-source: items from text files: one per line, per JSONL record or per file. */

#include <sutra/sutra.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  const char *path;
  const char *format;
  gboolean count_lines;
} TextSourceSettings;

static const char *const text_source_formats[] = { "lines", "jsonl", "document", NULL };

static const SutraParamInfo text_source_params[] = {
  SUTRA_PARAM_ROW_STRING ("path",
                          TextSourceSettings,
                          path,
                          NULL,
                          SUTRA_PARAM_REQUIRED | SUTRA_PARAM_INPUT_PATH,
                          "A file, a glob (files in sorted order) or “-” for standard input."),
  SUTRA_PARAM_ROW_ENUM ("format",
                        TextSourceSettings,
                        format,
                        "lines",
                        text_source_formats,
                        0,
                        "“lines”: an item per line; “jsonl”: an item per JSON object with “id” "
                        "and “text” (other members become metadata); “document”: an item per "
                        "file, typed text/plain, text/markdown or application/epub+zip."),
  SUTRA_PARAM_ROW_BOOL ("count_lines",
                        TextSourceSettings,
                        count_lines,
                        TRUE,
                        0,
                        "Count the lines of regular files first, so progress shows a total."),
  SUTRA_PARAM_ROW_END
};

#define READ_CHUNK (1 << 20)

typedef struct
{
  const TextSourceSettings *settings;
  SutraOutput *output;
  guint64 position; /* across all files: positions increase */
  gboolean is_jsonl;
} Reader;

static gpointer
text_source_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The files @pattern names, sorted, so the order never depends on the
 * file system. */
static GPtrArray *
expand_paths (const char *pattern, GError **error)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  glob_t matches = { 0 };

  if (strcmp (pattern, "-") == 0 || strpbrk (pattern, "*?[") == NULL)
    {
      g_ptr_array_add (paths, g_strdup (pattern));
      return paths;
    }
  if (glob (pattern, 0, NULL, &matches) != 0)
    {
      globfree (&matches);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "“%s” matches no file", pattern);
      g_ptr_array_unref (paths);
      return NULL;
    }
  /* glob() sorts by the locale's collation; byte order is what stays the
   * same on every machine. */
  for (gsize i = 0; i < matches.gl_pathc; i++)
    if (g_file_test (matches.gl_pathv[i], G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add (paths, g_strdup (matches.gl_pathv[i]));
  globfree (&matches);
  g_ptr_array_sort (paths, compare_paths);
  return paths;
}

static int
open_input (const char *path, GError **error)
{
  int fd;

  if (strcmp (path, "-") == 0)
    return STDIN_FILENO;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot open “%s”: %s", path,
                 g_strerror (errno));
  return fd;
}

/* The file's name without directory or extension: the stem of item ids. */
static char *
path_stem (const char *path)
{
  char *base = strcmp (path, "-") == 0 ? g_strdup ("stdin") : g_path_get_basename (path);
  char *dot = strrchr (base, '.');

  if (dot != NULL && dot != base)
    *dot = '\0';
  return base;
}

static guint64
count_newlines (const char *path)
{
  g_autofree char *buffer = NULL;
  guint64 count = 0;
  gboolean unterminated = FALSE;
  ssize_t n;
  int fd;

  if (strcmp (path, "-") == 0 || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return 0;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  buffer = g_malloc (READ_CHUNK);
  while ((n = read (fd, buffer, READ_CHUNK)) > 0)
    {
      for (const char *p = buffer; (p = memchr (p, '\n', buffer + n - p)) != NULL; p++)
        count++;
      unterminated = buffer[n - 1] != '\n';
    }
  close (fd);
  return count + (unterminated ? 1 : 0);
}

static gboolean emit_line (Reader *reader,
                           const char *stem,
                           guint64 line_number,
                           const char *line,
                           gsize length,
                           const char *path,
                           GError **error);

/* Reads @path line by line in large chunks; lines keep their bytes, less
 * the line end (LF or CRLF). */
static gboolean
read_lines (Reader *reader, const char *path, GError **error)
{
  g_autofree char *stem = path_stem (path);
  g_autofree char *buffer = g_malloc (READ_CHUNK);
  g_autoptr (GByteArray) carry = g_byte_array_new ();
  guint64 line_number = 0;
  int fd = open_input (path, error);
  ssize_t n;

  if (fd < 0)
    return FALSE;
  while ((n = read (fd, buffer, READ_CHUNK)) != 0)
    {
      const char *start = buffer, *end = buffer + (n > 0 ? n : 0), *newline;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot read “%s”: %s",
                       path, g_strerror (errno));
          goto fail;
        }
      while ((newline = memchr (start, '\n', end - start)) != NULL)
        {
          const char *line = start;
          gsize length = newline - start;

          if (carry->len > 0)
            {
              g_byte_array_append (carry, (const guint8 *) start, length);
              line = (const char *) carry->data;
              length = carry->len;
            }
          if (length > 0 && line[length - 1] == '\r')
            length--;
          if (!emit_line (reader, stem, ++line_number, line, length, path, error))
            goto fail;
          g_byte_array_set_size (carry, 0);
          start = newline + 1;
          if (sutra_output_is_cancelled (reader->output))
            goto done;
        }
      g_byte_array_append (carry, (const guint8 *) start, end - start);
    }
  if (carry->len > 0)
    {
      gsize length = carry->len;

      if (carry->data[length - 1] == '\r')
        length--;
      if (!emit_line (reader, stem, ++line_number, (const char *) carry->data, length, path, error))
        goto fail;
    }
done:
  if (fd != STDIN_FILENO)
    close (fd);
  return TRUE;
fail:
  if (fd != STDIN_FILENO)
    close (fd);
  return FALSE;
}

/* json-glib's parser recurses once per level of nesting: a line of 100,000
 * "[" overflowed the worker's stack. Data nests deeper than pipeline files
 * may, but not this deep; 1000 levels cost json-glib (and the generators
 * and parsers that later copy the metadata) a few hundred KiB of stack. */
#define JSONL_MAX_DEPTH 1000

/* Checks the nesting of a line before json-glib parses it. JSONL is strict
 * JSON, so the only text skipped is double-quoted strings; json-glib's
 * extensions (comments between slashes, single-quoted strings) are refused,
 * since skipping them as json-glib does would have to mirror its tokenizer.
 * A line is one value: json-glib 1.6 would take a second value after the
 * first as a document of its own, keep the first and drop the rest without
 * a word, so text after the first value closed is refused too. Returns
 * FALSE with the 1-based column (in bytes) of the offending character and
 * what was wrong with it. */
typedef enum
{
  JSONL_OK,
  JSONL_TOO_DEEP,
  JSONL_NOT_STRICT,
  JSONL_TRAILING,
} JsonlProblem;

static JsonlProblem
jsonl_check_line (const char *line, gsize length, gsize *column)
{
  guint depth = 0;
  gboolean closed = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      if (closed && !g_ascii_isspace (line[i]))
        {
          *column = i + 1;
          return JSONL_TRAILING;
        }
      switch (line[i])
        {
        case '"':
          for (i++; i < length && line[i] != '"'; i++)
            if (line[i] == '\\')
              i++;
          break;
        case '[':
        case '{':
          if (++depth > JSONL_MAX_DEPTH)
            {
              *column = i + 1;
              return JSONL_TOO_DEEP;
            }
          break;
        case ']':
        case '}':
          if (depth > 0 && --depth == 0)
            closed = TRUE;
          break;
        case '/':
        case '\'':
          *column = i + 1;
          return JSONL_NOT_STRICT;
        default:
          break;
        }
    }
  return JSONL_OK;
}

static gboolean
emit_jsonl (Reader *reader,
            guint64 line_number,
            const char *line,
            gsize length,
            const char *path,
            GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  g_autofree char *id = NULL;
  JsonObject *object, *meta = NULL;
  JsonNode *root, *member;
  JsonObjectIter iter;
  const char *name;
  SutraItem *item;
  gsize column = 0;
  JsonlProblem problem;

  /* Blank lines separate nothing in JSONL; skip them. */
  if (length == 0 || strspn (line, " \t\r") == length)
    return TRUE;
  problem = jsonl_check_line (line, length, &column);
  if (problem != JSONL_OK)
    {
      if (problem == JSONL_TOO_DEEP)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s:%" G_GUINT64_FORMAT ":%" G_GSIZE_FORMAT ": invalid JSONL: arrays and "
                     "objects nested deeper than %d levels",
                     path, line_number, column, JSONL_MAX_DEPTH);
      else if (problem == JSONL_TRAILING)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s:%" G_GUINT64_FORMAT ":%" G_GSIZE_FORMAT ": invalid JSONL: more text "
                     "after the line's object ended (JSONL holds one object per line: put each "
                     "on a line of its own)",
                     path, line_number, column);
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s:%" G_GUINT64_FORMAT ":%" G_GSIZE_FORMAT ": invalid JSONL: “%c” outside "
                     "a string (JSONL is strict JSON: no comments, strings in double quotes)",
                     path, line_number, column, line[column - 1]);
      return FALSE;
    }
  if (!json_parser_load_from_data (parser, line, length, &local))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s:%" G_GUINT64_FORMAT ": invalid JSON: %s", path, line_number, local->message);
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s:%" G_GUINT64_FORMAT ": expected a JSON object with “id” and “text”", path,
                   line_number);
      return FALSE;
    }
  object = json_node_get_object (root);
  member = json_object_get_member (object, "text");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_STRING)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s:%" G_GUINT64_FORMAT ": the object has no string member “text”", path,
                   line_number);
      return FALSE;
    }
  {
    JsonNode *id_node = json_object_get_member (object, "id");

    if (id_node != NULL && JSON_NODE_HOLDS_VALUE (id_node) &&
        json_node_get_value_type (id_node) == G_TYPE_STRING)
      id = g_strdup (json_node_get_string (id_node));
    else if (id_node != NULL && JSON_NODE_HOLDS_VALUE (id_node) &&
             json_node_get_value_type (id_node) == G_TYPE_INT64)
      id = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (id_node));
    else
      {
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "%s:%" G_GUINT64_FORMAT ": the object has no “id” (a string or an integer)",
                     path, line_number);
        return FALSE;
      }
  }
  {
    const char *text = json_node_get_string (member);

    item = sutra_item_new_root_from_data (id, reader->position++, SUTRA_MEDIA_TEXT_PLAIN, text,
                                          strlen (text));
  }
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &member))
    {
      if (strcmp (name, "id") == 0 || strcmp (name, "text") == 0)
        continue;
      if (meta == NULL)
        meta = sutra_item_ensure_meta (item);
      json_object_set_member (meta, name, json_node_copy (member));
    }
  sutra_output_push (reader->output, item);
  return TRUE;
}

static gboolean
emit_line (Reader *reader,
           const char *stem,
           guint64 line_number,
           const char *line,
           gsize length,
           const char *path,
           GError **error)
{
  char id[256 + 24];
  char digits[24];
  gsize stem_length, n_digits = 0;

  if (reader->is_jsonl)
    return emit_jsonl (reader, line_number, line, length, path, error);
  /* "stem:line", formatted by hand: printf would cost as much as the rest
   * of the line's way through the source. */
  stem_length = MIN (strlen (stem), 256);
  memcpy (id, stem, stem_length);
  id[stem_length] = ':';
  do
    digits[n_digits++] = (char) ('0' + line_number % 10);
  while ((line_number /= 10) != 0);
  for (gsize i = 0; i < n_digits; i++)
    id[stem_length + 1 + i] = digits[n_digits - 1 - i];
  id[stem_length + 1 + n_digits] = '\0';
  /* The line inside the item: one allocation per line. */
  sutra_output_push (reader->output,
                     sutra_item_new_root_from_data (id, reader->position++, SUTRA_MEDIA_TEXT_PLAIN,
                                                    line, length));
  return TRUE;
}

/* What a whole file is, from its content first and its name second. */
static const char *
sniff_media_type (const char *path, const guint8 *data, gsize size)
{
  static const char epub_magic[] = "PK\x03\x04";
  static const char epub_mimetype[] = "mimetypeapplication/epub+zip";

  if (size >= 4 && memcmp (data, epub_magic, 4) == 0)
    {
      /* The EPUB container stores "mimetype" first, uncompressed, at a
       * fixed offset. */
      if (size >= 30 + sizeof epub_mimetype - 1 &&
          memcmp (data + 30, epub_mimetype, sizeof epub_mimetype - 1) == 0)
        return SUTRA_MEDIA_EPUB;
      if (g_str_has_suffix (path, ".epub"))
        return SUTRA_MEDIA_EPUB;
      return "application/zip";
    }
  if (g_str_has_suffix (path, ".md") || g_str_has_suffix (path, ".markdown"))
    return SUTRA_MEDIA_TEXT_MARKDOWN;
  if (g_str_has_suffix (path, ".epub"))
    return SUTRA_MEDIA_EPUB;
  return SUTRA_MEDIA_TEXT_PLAIN;
}

static gboolean
read_document (Reader *reader, const char *path, GError **error)
{
  g_autofree char *stem = path_stem (path);
  g_autofree char *contents = NULL;
  gsize length = 0;
  const char *media_type;
  SutraItem *item;
  JsonObject *meta;

  if (strcmp (path, "-") == 0)
    {
      g_autoptr (GByteArray) all = g_byte_array_new ();
      g_autofree char *buffer = g_malloc (READ_CHUNK);
      ssize_t n;

      while ((n = read (STDIN_FILENO, buffer, READ_CHUNK)) > 0)
        g_byte_array_append (all, (const guint8 *) buffer, n);
      length = all->len;
      contents = (char *) g_byte_array_free (g_steal_pointer (&all), FALSE);
    }
  else if (!g_file_get_contents (path, &contents, &length, error))
    return FALSE;
  /* Sniff before the bytes move into the payload: the arguments of one
   * call are evaluated in no fixed order. */
  media_type = sniff_media_type (path, (const guint8 *) contents, length);
  item = sutra_item_new_root (stem, reader->position++, media_type,
                              g_bytes_new_take (g_steal_pointer (&contents), length));
  meta = sutra_item_ensure_meta (item);
  json_object_set_string_member (meta, "path", path);
  sutra_output_push (reader->output, item);
  return TRUE;
}

static gboolean
text_source_process (gpointer instance,
                     SutraItem *const *items,
                     guint n_items,
                     SutraOutput *output,
                     GError **error)
{
  const TextSourceSettings *settings = instance;
  g_autoptr (GPtrArray) paths = expand_paths (settings->path, error);
  Reader reader = { settings, output, 0, strcmp (settings->format, "jsonl") == 0 };
  gboolean is_document = strcmp (settings->format, "document") == 0;

  if (paths == NULL)
    return FALSE;
  if (is_document)
    sutra_output_set_total (output, paths->len);
  else if (settings->count_lines)
    {
      guint64 total = 0;

      for (guint i = 0; i < paths->len; i++)
        total += count_newlines (paths->pdata[i]);
      if (total > 0 && strcmp (settings->format, "lines") == 0)
        sutra_output_set_total (output, total);
    }
  for (guint i = 0; i < paths->len && !sutra_output_is_cancelled (output); i++)
    {
      gboolean ok = is_document ? read_document (&reader, paths->pdata[i], error)
                                : read_lines (&reader, paths->pdata[i], error);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* Lines and JSONL records are text/plain; a document is typed by
 * sniff_media_type. */
static const char *const text_source_output_types[] = {
  SUTRA_MEDIA_TEXT_PLAIN, SUTRA_MEDIA_TEXT_MARKDOWN, SUTRA_MEDIA_EPUB, "application/zip", NULL,
};
/* "path" on documents; a JSONL record's members other than id and text. */
static const char *const text_source_meta_keys[] = { "path", "*", NULL };

static const SutraStageInfo text_source_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "text-source",
    .kind = SUTRA_STAGE_SOURCE,
    .summary = "Reads text files: an item per line, per JSONL record, or per document",
    .params = text_source_params,
    .settings_size = sizeof (TextSourceSettings),
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU,
    .create = text_source_create,
    .process = text_source_process,
    .output_media_types = text_source_output_types,
    .meta_keys = text_source_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo text_source_plugin = {
  .name = "text-source",
  .version = "1.0.0",
  .summary = "Text files, JSONL corpora and documents as items",
  .stages = text_source_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (text_source_plugin)
