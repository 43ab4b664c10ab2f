/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* segmenter: splits a book (text, Markdown, EPUB) into chapters and chunks. */

#include "segmenter.h"

#include <string.h>

static const char *const front_matter_choices[] = { "auto", "chapter", "drop", NULL };
static const char *const emit_choices[] = { "chunks", "chapters", NULL };
static const char *const epub_chapters_choices[] = { "auto", "toc", "spine", "headings", NULL };

static const SutraParamInfo segmenter_params[] = {
  SUTRA_PARAM_ROW_INT ("max_chars",
                       SegmenterSettings,
                       max_chars,
                       400,
                       20,
                       100000,
                       0,
                       "Longest chunk in characters: sentences are merged up to it, and a "
                       "longer sentence is cut at clauses, then at spaces."),
  SUTRA_PARAM_ROW_STRING ("language",
                          SegmenterSettings,
                          language,
                          NULL,
                          0,
                          "Language tag for sentence rules (en, de, fr-CA); by default the "
                          "item's `language` metadata, the book's own, or en."),
  SUTRA_PARAM_ROW_BOOL ("strip_boilerplate",
                        SegmenterSettings,
                        strip_boilerplate,
                        TRUE,
                        0,
                        "Remove the Project Gutenberg header and licence footer (*** START OF "
                        "/ *** END OF markers, End of Project Gutenberg's ... lines, the "
                        "pgheader blocks of Gutenberg EPUBs)."),
  SUTRA_PARAM_ROW_ENUM ("front_matter",
                        SegmenterSettings,
                        front_matter,
                        "auto",
                        front_matter_choices,
                        0,
                        "Text before the first chapter: chapter (a chapter of its own), drop, "
                        "or auto (a chapter unless it is only a short title page)."),
  SUTRA_PARAM_ROW_STRING ("heading_pattern",
                          SegmenterSettings,
                          heading_pattern,
                          NULL,
                          0,
                          "A regular expression (PCRE) matching a whole chapter heading line "
                          "of plain text, instead of the built-in rules."),
  SUTRA_PARAM_ROW_INT ("markdown_level",
                       SegmenterSettings,
                       markdown_level,
                       0,
                       0,
                       6,
                       0,
                       "Markdown headings of this level or above (1 is #) start chapters; 0 "
                       "picks the highest level used more than once."),
  SUTRA_PARAM_ROW_BOOL ("repair_utf8",
                        SegmenterSettings,
                        repair_utf8,
                        FALSE,
                        0,
                        "Replace invalid UTF-8 with U+FFFD instead of refusing the file."),
  SUTRA_PARAM_ROW_INT ("max_expanded_bytes",
                       SegmenterSettings,
                       max_expanded_bytes,
                       256 * 1024 * 1024,
                       65536,
                       G_GINT64_CONSTANT (17179869184),
                       0,
                       "Most bytes an EPUB may expand to before it is refused as a zip bomb."),
  SUTRA_PARAM_ROW_ENUM ("emit",
                        SegmenterSettings,
                        emit,
                        "chunks",
                        emit_choices,
                        0,
                        "What to push: chunks (book/chapter/chunk) or chapters (book/chapter, "
                        "the whole chapter's text)."),
  SUTRA_PARAM_ROW_ENUM ("epub_chapters",
                        SegmenterSettings,
                        epub_chapters,
                        "auto",
                        epub_chapters_choices,
                        0,
                        "EPUB chapters: auto (the table of contents, or the headings in the "
                        "text when the TOC leaves most of the book in one entry), toc, spine "
                        "(one per spine document) or headings."),
  SUTRA_PARAM_ROW_BOOL ("caps_headings",
                        SegmenterSettings,
                        caps_headings,
                        FALSE,
                        0,
                        "In plain text, also take an all-capitals line after two blank lines "
                        "as a chapter title (collections of stories)."),
  SUTRA_PARAM_ROW_END
};

/* A paragraph of a chapter's folded text, and whether it is front matter. */
typedef struct
{
  gsize start;
  gsize end;
  gboolean front_matter;
} Span;

typedef struct
{
  const SegmenterSettings *settings;
  GRegex *heading_pattern;
  SegmenterChunker *chunker;
  GArray *spans;
  gboolean emit_chapters;
  char *work_dir; /* nullable: where the cover goes */
} Segmenter;

static void
segmenter_destroy (gpointer instance)
{
  Segmenter *self = instance;

  g_clear_pointer (&self->heading_pattern, g_regex_unref);
  g_clear_pointer (&self->chunker, segmenter_chunker_free);
  g_clear_pointer (&self->spans, g_array_unref);
  g_free (self->work_dir);
  g_free (self);
}

static gpointer
segmenter_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  Segmenter *self = g_new0 (Segmenter, 1);

  segmenter_epub_init ();
  self->settings = settings;
  self->work_dir = g_strdup (context->work_dir);
  self->emit_chapters = g_strcmp0 (self->settings->emit, "chapters") == 0;
  if (self->settings->heading_pattern != NULL && self->settings->heading_pattern[0] != '\0')
    {
      g_autoptr (GError) regex_error = NULL;

      self->heading_pattern =
        g_regex_new (self->settings->heading_pattern, G_REGEX_OPTIMIZE, 0, &regex_error);
      if (self->heading_pattern == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "parameter “heading_pattern”: not a valid regular expression: %s",
                       regex_error->message);
          segmenter_destroy (self);
          return NULL;
        }
    }
  self->chunker = segmenter_chunker_new ();
  self->spans = g_array_new (FALSE, FALSE, sizeof (Span));
  return self;
}

typedef enum
{
  FORMAT_TEXT,
  FORMAT_MARKDOWN,
  FORMAT_EPUB,
} Format;

static gboolean
choose_format (SutraItem *book, const char *where, Format *format, GError **error)
{
  const char *media_type = sutra_item_get_media_type (book);
  gsize size;
  const guint8 *data = sutra_item_get_data (book, &size);

  /* text-source types a zip it cannot tell for an EPUB application/zip:
   * the EPUB reader says what is wrong with it. */
  if (strcmp (media_type, SUTRA_MEDIA_EPUB) == 0 || strcmp (media_type, "application/zip") == 0)
    *format = FORMAT_EPUB;
  else if (strcmp (media_type, SUTRA_MEDIA_TEXT_MARKDOWN) == 0 ||
           strcmp (media_type, "text/x-markdown") == 0)
    *format = FORMAT_MARKDOWN;
  else if (g_str_has_prefix (media_type, "text/"))
    *format = FORMAT_TEXT;
  else if (strcmp (media_type, SUTRA_MEDIA_OCTETS) == 0)
    *format = size >= 4 && memcmp (data, "PK\003\004", 4) == 0 ? FORMAT_EPUB : FORMAT_TEXT;
  else
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
                   "%s: media type “%s” is not one the segmenter reads (text/plain, "
                   "text/markdown, application/epub+zip)",
                   where, media_type);
      return FALSE;
    }
  return TRUE;
}

/* The next paragraph of [*p, end): lines up to a blank line. */
static gboolean
next_paragraph (const char **p, const char *end, const char **start, const char **stop)
{
  const char *q = *p;

  *start = NULL;
  while (q < end)
    {
      const char *line_end = segmenter_line_end (q, end);
      gboolean blank = segmenter_is_blank (q, line_end);

      if (!blank && *start == NULL)
        *start = q;
      if (!blank)
        *stop = line_end;
      q = line_end < end ? line_end + 1 : end;
      if (blank && *start != NULL)
        break;
    }
  *p = q;
  return *start != NULL;
}

/* The metadata members every chunk of a chapter shares. The nodes are
 * sealed and shared by reference among the chunks' objects: a chunk costs
 * only its own paragraph members, which matters at ten thousand chunks a
 * book. Downstream stages copy metadata before they change it
 * (sutra_item_ensure_meta), so a shared node is never modified. */
typedef struct
{
  JsonNode *chapter_index;
  JsonNode *chapter_title;
  JsonNode *part_title;
  JsonNode *front_matter; /* TRUE */
  JsonNode *language;
  JsonNode *title;
  JsonNode *author;
  JsonNode *cover;
  JsonNode *cover_note;
  JsonNode *paragraph_end[2];
} SharedMeta;

static JsonNode *
sealed_string (const char *value)
{
  JsonNode *node;

  if (value == NULL)
    return NULL;
  node = json_node_init_string (json_node_alloc (), value);
  json_node_seal (node);
  return node;
}

static JsonNode *
sealed_int (gint64 value)
{
  JsonNode *node = json_node_init_int (json_node_alloc (), value);

  json_node_seal (node);
  return node;
}

static JsonNode *
sealed_boolean (gboolean value)
{
  JsonNode *node = json_node_init_boolean (json_node_alloc (), value);

  json_node_seal (node);
  return node;
}

static void
shared_meta_clear (SharedMeta *shared)
{
  g_clear_pointer (&shared->chapter_index, json_node_unref);
  g_clear_pointer (&shared->chapter_title, json_node_unref);
  g_clear_pointer (&shared->part_title, json_node_unref);
  g_clear_pointer (&shared->front_matter, json_node_unref);
  g_clear_pointer (&shared->language, json_node_unref);
  g_clear_pointer (&shared->title, json_node_unref);
  g_clear_pointer (&shared->author, json_node_unref);
  g_clear_pointer (&shared->cover, json_node_unref);
  g_clear_pointer (&shared->cover_note, json_node_unref);
  g_clear_pointer (&shared->paragraph_end[0], json_node_unref);
  g_clear_pointer (&shared->paragraph_end[1], json_node_unref);
}

static void
shared_meta_init (SharedMeta *shared,
                  const SegmenterDocument *doc,
                  const SegmenterChapter *chapter,
                  guint chapter_index,
                  const char *language)
{
  shared->chapter_index = sealed_int (chapter_index);
  shared->chapter_title = sealed_string (chapter->title);
  shared->part_title = sealed_string (chapter->part_title);
  shared->front_matter = sealed_boolean (TRUE);
  shared->language = sealed_string (language);
  shared->title = sealed_string (doc->title);
  shared->author = sealed_string (doc->author);
  shared->cover = sealed_string (doc->cover_path);
  shared->cover_note = sealed_string (doc->cover_note);
  shared->paragraph_end[0] = sealed_boolean (FALSE);
  shared->paragraph_end[1] = sealed_boolean (TRUE);
}

static void
set_shared (JsonObject *meta, const char *name, JsonNode *node)
{
  if (node != NULL)
    json_object_set_member (meta, name, json_node_ref (node));
}

/* chapter_index, chapter_title, part_title, front_matter (for the front
 * matter, or a title page that leads the first chapter) */
static void
set_chapter_meta (JsonObject *meta, const SharedMeta *shared, gboolean front_matter)
{
  set_shared (meta, "chapter_index", shared->chapter_index);
  set_shared (meta, "chapter_title", shared->chapter_title);
  set_shared (meta, "part_title", shared->part_title);
  if (front_matter)
    set_shared (meta, "front_matter", shared->front_matter);
}

/* language, title, author, cover, cover_note */
static void
set_book_meta (JsonObject *meta, const SharedMeta *shared)
{
  set_shared (meta, "language", shared->language);
  set_shared (meta, "title", shared->title);
  set_shared (meta, "author", shared->author);
  set_shared (meta, "cover", shared->cover);
  set_shared (meta, "cover_note", shared->cover_note);
}

typedef struct
{
  SutraOutput *output;
  SutraItem *chapter_item;
  const SharedMeta *shared;
  GBytes *text; /* the chapter's folded paragraphs */
  JsonNode *paragraph_index;
  guint chunk_index;
  gboolean front_matter;
} Emitter;

static void
emit_chunk (const char *start, gsize length, gboolean paragraph_end, gpointer user_data)
{
  Emitter *e = user_data;
  const char *base = g_bytes_get_data (e->text, NULL);
  /* A chunk is a slice of its chapter's text: one allocation, not two. */
  SutraItem *item =
    sutra_item_new_child (e->chapter_item, e->chunk_index++, SUTRA_MEDIA_TEXT_PLAIN,
                          g_bytes_new_from_bytes (e->text, (gsize) (start - base), length));
  JsonObject *meta = sutra_item_ensure_meta (item);

  set_chapter_meta (meta, e->shared, e->front_matter);
  set_shared (meta, "paragraph_index", e->paragraph_index);
  set_shared (meta, "paragraph_end", e->shared->paragraph_end[paragraph_end ? 1 : 0]);
  set_book_meta (meta, e->shared);
  sutra_output_push (e->output, item);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SharedMeta, shared_meta_clear)

static gboolean
emit_book (Segmenter *self,
           SutraItem *book,
           SegmenterDocument *doc,
           GPtrArray *chapters,
           const char *language,
           SutraOutput *output,
           GError **error)
{
  const char *text = doc->text->str;

  for (guint ci = 0; ci < chapters->len; ci++)
    {
      const SegmenterChapter *chapter = chapters->pdata[ci];
      g_autoptr (SutraItem) chapter_item = sutra_item_new_child (book, ci, NULL, NULL);
      g_auto (SharedMeta) shared = { NULL };
      Emitter e = {
        .output = output,
        .chapter_item = chapter_item,
        .shared = &shared,
      };
      const char *start, *stop;
      guint paragraph_index = 0;
      GString *folded;

      if (sutra_output_is_cancelled (output))
        return TRUE;
      shared_meta_init (&shared, doc, chapter, ci, language);
      if (self->emit_chapters)
        {
          GString *body = g_string_new (NULL);
          SutraItem *item;
          JsonObject *meta;

          for (guint part = 0; part < 2; part++)
            {
              const char *p = text + (part == 0 ? chapter->lead_start : chapter->start);
              const char *end = text + (part == 0 ? chapter->lead_end : chapter->end);

              while (next_paragraph (&p, end, &start, &stop))
                {
                  if (body->len > 0)
                    g_string_append (body, "\n\n");
                  segmenter_fold_append (body, start, stop);
                  paragraph_index++;
                }
            }
          item =
            sutra_item_new_child (book, ci, SUTRA_MEDIA_TEXT_PLAIN, g_string_free_to_bytes (body));
          meta = sutra_item_ensure_meta (item);
          set_chapter_meta (meta, &shared, chapter->is_front_matter);
          json_object_set_int_member (meta, "paragraph_count", paragraph_index);
          set_book_meta (meta, &shared);
          sutra_output_push (output, item);
          continue;
        }
      /* The title page that leads the chapter, if any, then its text: all
       * folded into one buffer, one paragraph a line. */
      /* The chunks are slices of it: it becomes their bytes as it is,
       * not a copy, so a chapter is held once however long. */
      folded = g_string_sized_new (chapter->end - chapter->start + 1);
      g_array_set_size (self->spans, 0);
      for (guint part = 0; part < 2; part++)
        {
          const char *p = text + (part == 0 ? chapter->lead_start : chapter->start);
          const char *end = text + (part == 0 ? chapter->lead_end : chapter->end);

          while (next_paragraph (&p, end, &start, &stop))
            {
              Span span;

              if (folded->len > 0)
                g_string_append_c (folded, '\n');
              span.start = folded->len;
              segmenter_fold_append (folded, start, stop);
              span.end = folded->len;
              span.front_matter = part == 0 || chapter->is_front_matter;
              g_array_append_val (self->spans, span);
            }
        }
      e.text = g_string_free_to_bytes (folded);
      for (guint i = 0; i < self->spans->len; i++)
        {
          const Span *span = &g_array_index (self->spans, Span, i);
          const char *data = g_bytes_get_data (e.text, NULL);
          gboolean ok;

          e.front_matter = span->front_matter;
          e.paragraph_index = sealed_int (paragraph_index++);
          ok = segmenter_chunker_split (self->chunker, language, data + span->start,
                                        span->end - span->start, (gsize) self->settings->max_chars,
                                        emit_chunk, &e, error);
          g_clear_pointer (&e.paragraph_index, json_node_unref);
          if (!ok)
            {
              g_bytes_unref (e.text);
              g_prefix_error (error, "%s: chapter %u: ", doc->where, ci);
              return FALSE;
            }
        }
      g_bytes_unref (e.text);
    }
  return TRUE;
}

/* The EPUB's cover into the work directory, for the `cover` metadata. A
 * cover that cannot be written is noted, as one that cannot be read is:
 * the book goes on without it. */
static void
save_cover (Segmenter *self, SegmenterDocument *doc)
{
  g_autoptr (GError) local = NULL;

  if (self->work_dir == NULL)
    {
      doc->cover_note = g_strdup ("the stage has no work directory to keep the cover in");
      return;
    }
  doc->cover_path = segmenter_cover_save (self->work_dir, doc->cover, doc->cover_extension, &local);
  if (doc->cover_path == NULL)
    doc->cover_note = g_strdup_printf ("the cover could not be kept: %s", local->message);
}

static gboolean
segment_one (Segmenter *self, SutraItem *book, SutraOutput *output, GError **error)
{
  const SegmenterSettings *settings = self->settings;
  const char *where = sutra_item_get_meta_string (book, "path", sutra_item_get_id (book));
  g_autoptr (SegmenterDocument) doc = segmenter_document_new (where);
  g_autoptr (GPtrArray) chapters = NULL;
  gboolean plain_headings = FALSE;
  const char *language;
  Format format;
  gsize size;
  const guint8 *data = sutra_item_get_data (book, &size);

  if (!choose_format (book, where, &format, error))
    return FALSE;
  if (format == FORMAT_EPUB)
    {
      /* The reader finds the chapters itself, from its TOC or its text. */
      if (!segmenter_epub_read (doc, data, size, settings, self->heading_pattern, error))
        return FALSE;
    }
  else
    {
      if (!segmenter_decode_text (data, size, settings->repair_utf8, where, doc->text, error))
        return FALSE;
      segmenter_gutenberg_scan (doc, settings->strip_boilerplate);
      if (format == FORMAT_MARKDOWN)
        {
          segmenter_markdown_read (doc, settings->markdown_level);
          /* A manuscript with "CHAPTER 1" lines and no # headings. */
          plain_headings = doc->headings->len == 0;
        }
      else
        plain_headings = TRUE;
    }
  if (plain_headings)
    {
      if (!segmenter_headings_detect (doc, self->heading_pattern, settings->caps_headings, error))
        return FALSE;
      doc->headings_from_text = TRUE;
    }

  if (doc->cover != NULL)
    save_cover (self, doc);

  chapters = segmenter_build_chapters (doc, settings->front_matter, doc->headings_from_text, error);
  if (chapters == NULL)
    return FALSE;

  language = settings->language;
  if (language == NULL || language[0] == '\0')
    language = sutra_item_get_meta_string (book, "language", NULL);
  if (language == NULL || language[0] == '\0')
    language = doc->language;
  if (language == NULL || language[0] == '\0')
    language = "en";
  return emit_book (self, book, doc, chapters, language, output, error);
}

static gboolean
segmenter_process (gpointer instance,
                   SutraItem *const *items,
                   guint n_items,
                   SutraOutput *output,
                   GError **error)
{
  Segmenter *self = instance;

  for (guint i = 0; i < n_items; i++)
    {
      if (sutra_output_is_cancelled (output))
        return TRUE;
      if (!segment_one (self, items[i], output, error))
        return FALSE;
    }
  return TRUE;
}

/* What choose_format reads: text-source types a zip it cannot tell for an
 * EPUB application/zip, other text is read as plain text, and untyped
 * bytes are sniffed. */
static const char *const segmenter_input_types[] = {
  SUTRA_MEDIA_TEXT_PLAIN,
  SUTRA_MEDIA_TEXT_MARKDOWN,
  SUTRA_MEDIA_EPUB,
  "application/zip",
  "text/*",
  SUTRA_MEDIA_OCTETS,
  NULL,
};
static const char *const segmenter_output_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
/* set_chapter_meta, set_book_meta, emit_chunk and emit_book's chapters. */
static const char *const segmenter_meta_keys[] = {
  "chapter_index", "chapter_title",   "part_title", "front_matter", "paragraph_index",
  "paragraph_end", "paragraph_count", "language",   "title",        "author",
  "cover",         "cover_note",      NULL,
};

static const SutraStageInfo segmenter_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "segmenter",
    .kind = SUTRA_STAGE_SPLIT,
    .summary = "Splits books (plain text, Markdown, EPUB) into chapters and sentence chunks",
    .params = segmenter_params,
    .settings_size = sizeof (SegmenterSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = segmenter_create,
    .process = segmenter_process,
    .destroy = segmenter_destroy,
    .input_media_types = segmenter_input_types,
    .output_media_types = segmenter_output_types,
    .meta_keys = segmenter_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo segmenter_plugin = {
  .name = "segmenter",
  .version = "1.0.0",
  .summary = "Books into chapters and chunks for speech and translation",
  .stages = segmenter_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (segmenter_plugin)
