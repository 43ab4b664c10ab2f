/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A book reduced to text: decoding, text helpers and the chapter list. */

#include "segmenter.h"

#include <string.h>

SegmenterDocument *
segmenter_document_new (const char *where)
{
  SegmenterDocument *doc = g_new0 (SegmenterDocument, 1);

  doc->where = where;
  doc->text = g_string_new (NULL);
  doc->headings = g_array_new (FALSE, FALSE, sizeof (SegmenterHeading));
  return doc;
}

void
segmenter_document_free (SegmenterDocument *doc)
{
  if (doc == NULL)
    return;
  for (guint i = 0; i < doc->headings->len; i++)
    g_free (g_array_index (doc->headings, SegmenterHeading, i).title);
  g_array_unref (doc->headings);
  g_string_free (doc->text, TRUE);
  g_free (doc->title);
  g_free (doc->author);
  g_free (doc->language);
  g_clear_pointer (&doc->cover, g_bytes_unref);
  g_free (doc->cover_note);
  g_free (doc->cover_path);
  g_free (doc);
}

void
segmenter_document_add_heading (SegmenterDocument *doc,
                                gsize offset,
                                gsize body,
                                const char *title,
                                guint level)
{
  SegmenterHeading heading = {
    .offset = offset,
    .body = body,
    .title = g_strdup (title),
    .level = level,
  };

  g_array_append_val (doc->headings, heading);
}

void
segmenter_chapter_clear (SegmenterChapter *chapter)
{
  g_clear_pointer (&chapter->title, g_free);
  g_clear_pointer (&chapter->part_title, g_free);
}

void
segmenter_chapter_free (SegmenterChapter *chapter)
{
  if (chapter == NULL)
    return;
  segmenter_chapter_clear (chapter);
  g_free (chapter);
}

gboolean
segmenter_is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

gboolean
segmenter_is_blank (const char *start, const char *end)
{
  for (const char *p = start; p < end; p++)
    if (!segmenter_is_space (*p))
      return FALSE;
  return TRUE;
}

const char *
segmenter_line_end (const char *p, const char *end)
{
  const char *nl = memchr (p, '\n', (gsize) (end - p));

  return nl != NULL ? nl : end;
}

void
segmenter_trim (const char **start, const char **end)
{
  while (*start < *end && segmenter_is_space (**start))
    (*start)++;
  while (*end > *start && segmenter_is_space ((*end)[-1]))
    (*end)--;
}

void
segmenter_fold_append (GString *out, const char *start, const char *end)
{
  gsize base = out->len;
  gboolean need_space = base > 0 && !segmenter_is_space (out->str[base - 1]);
  gboolean after_space = TRUE;
  char *w;

  /* On the hot path of every book: write the bytes straight into the
   * string, which never grows by more than the input and one space. */
  g_string_set_size (out, base + (gsize) (end - start) + 1);
  w = out->str + base;
  for (const char *p = start; p < end; p++)
    {
      char c = *p;

      if (segmenter_is_space (c))
        {
          after_space = TRUE;
          continue;
        }
      if (after_space && need_space)
        *w++ = ' ';
      after_space = FALSE;
      need_space = TRUE;
      *w++ = c;
    }
  g_string_truncate (out, (gsize) (w - out->str));
}

char *
segmenter_fold (const char *start, const char *end)
{
  GString *out = g_string_sized_new ((gsize) (end - start));

  segmenter_fold_append (out, start, end);
  return g_string_free (out, FALSE);
}

char *
segmenter_alnum_key (const char *start, const char *end)
{
  GString *key = g_string_new (NULL);

  for (const char *p = start; p < end; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_isalnum (c))
        g_string_append_unichar (key, g_unichar_tolower (c));
    }
  return g_string_free (key, FALSE);
}

/* A title, as opposed to a sentence: "Down the Rabbit-Hole", "THE POOL OF
 * TEARS", "Who Stole the Tarts?", but not "It was a dark night." nor
 * "“TOM!”". Most of its longer words are capitalised. */
gboolean
segmenter_is_title_like (const char *start, const char *end)
{
  guint n_chars = 0, n_long = 0, n_capital = 0;
  gboolean has_lower = FALSE, has_letter = FALSE;
  gunichar first, last;
  const char *p;

  segmenter_trim (&start, &end);
  if (start == end)
    return FALSE;
  first = g_utf8_get_char (start);
  if (!g_unichar_isalnum (first) || g_unichar_islower (first))
    return FALSE;
  last = g_utf8_get_char (g_utf8_prev_char (end));
  if (last == ',' || last == ';')
    return FALSE;

  p = start;
  while (p < end)
    {
      const char *word = p;
      guint n_letters = 0;
      gboolean capital = FALSE;

      while (p < end && *p == ' ')
        p++;
      word = p;
      while (p < end && *p != ' ')
        {
          gunichar c = g_utf8_get_char (p);

          if (g_unichar_isalpha (c))
            {
              if (n_letters == 0)
                capital = g_unichar_isupper (c) || g_unichar_istitle (c);
              n_letters++;
              has_letter = TRUE;
              has_lower |= g_unichar_islower (c);
            }
          n_chars++;
          p = g_utf8_next_char (p);
        }
      if (p > word && n_letters >= 4)
        {
          n_long++;
          n_capital += capital;
        }
    }
  if (n_chars > 100 || !has_letter)
    return FALSE;
  if (!has_lower)
    return TRUE;
  return n_long == 0 || n_capital * 2 >= n_long;
}

static gboolean
has_offending_control (const guint8 *data, gsize size, gsize *offset)
{
  gsize n_control = 0, first = 0;

  for (gsize i = 0; i < size; i++)
    {
      guint8 c = data[i];

      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b)
        {
          if (n_control == 0)
            first = i;
          n_control++;
        }
    }
  /* Text may hold a stray control character; binary data holds many. */
  *offset = first;
  return n_control > 0 && n_control * 200 > size;
}

gboolean
segmenter_decode_text (const guint8 *data,
                       gsize size,
                       gboolean repair_utf8,
                       const char *where,
                       GString *out,
                       GError **error)
{
  gsize skip = 0, offset;
  const guint8 *nul;
  const char *invalid = NULL;
  g_autofree char *repaired = NULL;
  const char *text;
  gsize length;

  if (size >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
    skip = 3;
  if (size == 0 || segmenter_is_blank ((const char *) data + skip, (const char *) data + size))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: the file is empty (%s): there is no text to segment", where,
                   size == 0 ? "0 bytes" : "only white space");
      return FALSE;
    }
  nul = memchr (data, 0, size);
  if (nul != NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: binary data, not text: a NUL byte at byte offset %" G_GSIZE_FORMAT
                   "; give the segmenter a plain text, Markdown or EPUB file",
                   where, (gsize) (nul - data));
      return FALSE;
    }
  if (size >= 4 && memcmp (data, "PK\003\004", 4) == 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: binary data, not text: a zip archive at byte offset 0 "
                   "(an EPUB must have the .epub extension)",
                   where);
      return FALSE;
    }
  if (has_offending_control (data, size, &offset))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: binary data, not text: control byte 0x%02x at byte offset %" G_GSIZE_FORMAT
                   " and many more; give the segmenter a plain text, "
                   "Markdown or EPUB file",
                   where, data[offset], offset);
      return FALSE;
    }

  text = (const char *) data + skip;
  length = size - skip;
  if (!g_utf8_validate_len (text, length, &invalid))
    {
      gsize at = (gsize) (invalid - (const char *) data);

      if (!repair_utf8)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "%s: invalid UTF-8 at byte offset %" G_GSIZE_FORMAT " (byte 0x%02x); "
                       "convert the file to UTF-8 (iconv -f LATIN1 -t UTF-8, say), or set "
                       "repair_utf8 to replace invalid bytes with U+FFFD",
                       where, at, data[at]);
          return FALSE;
        }
      repaired = g_utf8_make_valid (text, (gssize) length);
      text = repaired;
      length = strlen (repaired);
    }

  /* CRLF and lone CR become LF, so that every reader sees one line end. */
  g_string_set_size (out, length);
  g_string_set_size (out, 0);
  for (gsize i = 0; i < length;)
    {
      const char *cr = memchr (text + i, '\r', length - i);
      gsize n = cr != NULL ? (gsize) (cr - (text + i)) : length - i;

      g_string_append_len (out, text + i, (gssize) n);
      i += n;
      if (cr == NULL)
        break;
      g_string_append_c (out, '\n');
      i++;
      if (i < length && text[i] == '\n')
        i++;
    }
  return TRUE;
}

/* Title and author from a title page ("ALICE'S ADVENTURES IN WONDERLAND",
 * "Lewis Carroll", "THE MILLENNIUM FULCRUM EDITION 3.0"), when no header or
 * OPF gave them. */
static void
take_title_page (SegmenterDocument *doc, GPtrArray *paragraphs)
{
  if (doc->title == NULL && paragraphs->len > 0 && g_utf8_strlen (paragraphs->pdata[0], -1) <= 100)
    doc->title = g_strdup (paragraphs->pdata[0]);
  if (doc->author != NULL)
    return;
  for (guint i = 1; i < paragraphs->len; i++)
    {
      const char *p = paragraphs->pdata[i];

      if (g_ascii_strncasecmp (p, "by ", 3) == 0 && strlen (p) > 3)
        {
          doc->author = g_strdup (p + 3);
          return;
        }
    }
  if (paragraphs->len >= 2)
    {
      const char *p = paragraphs->pdata[1];
      g_auto (GStrv) words = g_strsplit (p, " ", -1);
      guint n = g_strv_length (words);
      gboolean name_like = n >= 2 && n <= 5 && strlen (p) <= 60;

      for (guint i = 0; name_like && i < n; i++)
        {
          gunichar c = g_utf8_get_char (words[i]);

          name_like = g_unichar_isupper (c);
          for (const char *q = words[i]; name_like && *q != '\0'; q = g_utf8_next_char (q))
            {
              gunichar d = g_utf8_get_char (q);

              name_like = g_unichar_isalpha (d) || d == '.' || d == '-' || d == '\'';
            }
        }
      if (name_like)
        doc->author = g_strdup (p);
    }
}

/* The folded paragraphs of [start, end), or NULL when there are more than
 * @max_paragraphs or more than @max_chars characters. */
static GPtrArray *
small_paragraphs (const char *start, const char *end, guint max_paragraphs, gsize max_chars)
{
  g_autoptr (GPtrArray) paragraphs = g_ptr_array_new_with_free_func (g_free);
  gsize n_chars = 0;
  const char *p = start;

  while (p < end)
    {
      const char *para = NULL, *para_end = NULL;

      while (p < end)
        {
          const char *line_end = segmenter_line_end (p, end);
          gboolean blank = segmenter_is_blank (p, line_end);

          if (!blank && para == NULL)
            para = p;
          if (!blank)
            para_end = line_end;
          p = line_end < end ? line_end + 1 : end;
          if (blank && para != NULL)
            break;
        }
      if (para == NULL)
        break;
      if (paragraphs->len == max_paragraphs)
        return NULL;
      g_ptr_array_add (paragraphs, segmenter_fold (para, para_end));
      n_chars += g_utf8_strlen (g_ptr_array_index (paragraphs, paragraphs->len - 1), -1);
      if (n_chars > max_chars)
        return NULL;
    }
  return g_steal_pointer (&paragraphs);
}

static int
compare_headings (gconstpointer a, gconstpointer b)
{
  const SegmenterHeading *ha = a, *hb = b;

  if (ha->offset != hb->offset)
    return ha->offset < hb->offset ? -1 : 1;
  return 0;
}

/* [heading i's body, heading i+1's start), or to the end of the body. */
static gsize
range_end (SegmenterDocument *doc, guint i)
{
  if (i + 1 < doc->headings->len)
    return g_array_index (doc->headings, SegmenterHeading, i + 1).offset;
  return doc->body_end;
}

static gboolean
heading_is_empty (SegmenterDocument *doc, guint i)
{
  SegmenterHeading *h = &g_array_index (doc->headings, SegmenterHeading, i);
  gsize end = range_end (doc, i);

  return h->body >= end || segmenter_is_blank (doc->text->str + h->body, doc->text->str + end);
}

/* Where the text after @h's heading lines first holds something other
 * than white space, or the end of the text. */
static gsize
first_text_after (SegmenterDocument *doc, const SegmenterHeading *h)
{
  gsize p = h->body;

  while (p < doc->text->len && segmenter_is_space (doc->text->str[p]))
    p++;
  return p;
}

/*
 * Removes, one after the other, the first heading of equal or higher rank
 * than the next with no text before it, until none is left (table of
 * contents entries), as
 *
 *   while (some i + 1 < len has next->level <= h->level and is empty)
 *     remove the first such i;
 *
 * would, in one pass: removing a heading changes only whether the one
 * before it is empty (its range now runs to the next one), so the headings
 * kept so far form a stack, and a removal looks back one step. Removing
 * each from the array, and starting over, made a book of 200,000
 * "CHAPTER I" lines take minutes.
 */
static void
demote_empty_headings (SegmenterDocument *doc)
{
  SegmenterHeading *h = (SegmenterHeading *) (gpointer) doc->headings->data;
  g_autofree gsize *text_at = g_new (gsize, MAX (doc->headings->len, 1));
  guint n = 0;

  for (guint r = 0; r < doc->headings->len; r++)
    {
      h[n] = h[r];
      text_at[n] = first_text_after (doc, &h[n]);
      n++;
      while (n >= 2 && h[n - 1].level <= h[n - 2].level &&
             (h[n - 2].body >= h[n - 1].offset || text_at[n - 2] >= h[n - 1].offset))
        {
          g_free (h[n - 2].title);
          h[n - 2] = h[n - 1];
          text_at[n - 2] = text_at[n - 1];
          n--;
        }
    }
  g_array_set_size (doc->headings, n);
}

#define MAX_LEVELS 16

GPtrArray *
segmenter_build_chapters (SegmenterDocument *doc,
                          const char *front_matter,
                          gboolean demote_empty,
                          GError **error)
{
  g_autoptr (GArray) chapters = g_array_new (FALSE, TRUE, sizeof (SegmenterChapter));
  GPtrArray *result;
  const char *ancestors[MAX_LEVELS] = { NULL };
  const char *text = doc->text->str;
  gsize first, lead_start = 0, lead_end = 0;

  g_array_set_clear_func (chapters, (GDestroyNotify) segmenter_chapter_clear);

  /* Marks from an EPUB may lie in the stripped header or footer, or out of
   * order when the TOC is: keep those inside the body, in text order. */
  g_array_sort (doc->headings, compare_headings);
  {
    /* Sorted: those past the body's end are the last ones. */
    guint n = doc->headings->len;

    while (n > 0 && g_array_index (doc->headings, SegmenterHeading, n - 1).offset >= doc->body_end)
      g_free (g_array_index (doc->headings, SegmenterHeading, --n).title);
    g_array_set_size (doc->headings, n);
  }
  for (guint i = 0; i < doc->headings->len; i++)
    {
      SegmenterHeading *h = &g_array_index (doc->headings, SegmenterHeading, i);

      h->offset = MAX (h->offset, doc->body_start);
      h->body = CLAMP (h->body, h->offset, doc->body_end);
      if (i + 1 < doc->headings->len)
        h->body = MIN (h->body, g_array_index (doc->headings, SegmenterHeading, i + 1).offset);
      h->level = MIN (h->level, MAX_LEVELS - 1);
    }

  /* In plain text, a chapter heading with no text before the next heading
   * of its rank is an entry of a table of contents: its lines are text. */
  if (demote_empty)
    demote_empty_headings (doc);

  first = doc->headings->len > 0 ? g_array_index (doc->headings, SegmenterHeading, 0).offset
                                 : doc->body_end;
  if (!segmenter_is_blank (text + doc->body_start, text + first))
    {
      SegmenterChapter chapter = {
        .start = doc->body_start,
        .end = first,
        .is_front_matter = TRUE,
      };
      gboolean keep = TRUE;

      if (doc->headings->len == 0)
        {
          /* No headings: the whole body is one chapter, whatever
           * front_matter says. */
          chapter.is_front_matter = FALSE;
        }
      else if (g_strcmp0 (front_matter, "drop") == 0)
        keep = FALSE;
      else if (g_strcmp0 (front_matter, "auto") == 0)
        {
          g_autoptr (GPtrArray) page =
            small_paragraphs (text + doc->body_start, text + first, 6, 400);

          /* A title page (title, author, edition, a caption) is no chapter:
           * it goes to the metadata, and its text leads the first chapter,
           * as an audiobook opens with its title. */
          if (page != NULL)
            {
              take_title_page (doc, page);
              lead_start = doc->body_start;
              lead_end = first;
              keep = FALSE;
            }
        }
      if (keep)
        {
          if (chapter.is_front_matter)
            chapter.title = g_strdup ("Front matter");
          else if (doc->title != NULL)
            chapter.title = g_strdup (doc->title);
          else
            {
              g_autofree char *base = g_path_get_basename (doc->where);
              char *dot = strrchr (base, '.');

              if (dot != NULL && dot != base)
                *dot = '\0';
              chapter.title = g_steal_pointer (&base);
            }
          g_array_append_val (chapters, chapter);
        }
    }

  for (guint i = 0; i < doc->headings->len; i++)
    {
      SegmenterHeading *h = &g_array_index (doc->headings, SegmenterHeading, i);
      gboolean empty = heading_is_empty (doc, i);
      const char *parent = NULL;

      for (guint level = h->level; level > 0; level--)
        if (ancestors[level - 1] != NULL)
          {
            parent = ancestors[level - 1];
            break;
          }
      ancestors[h->level] = h->title;
      for (guint level = h->level + 1; level < MAX_LEVELS; level++)
        ancestors[level] = NULL;

      /* A heading with no text of its own (BOOK ONE right before CHAPTER
       * I, or two TOC entries at one place) names the chapters under it. */
      if (!empty)
        {
          SegmenterChapter chapter = {
            .start = h->body,
            .end = range_end (doc, i),
            .lead_start = lead_start,
            .lead_end = lead_end,
            .title = g_strdup (h->title),
            .part_title = g_strdup (parent),
          };

          g_array_append_val (chapters, chapter);
          lead_start = lead_end = 0;
        }
    }

  if (lead_end > lead_start)
    {
      /* Only headings after the title page: it is all the text there is. */
      SegmenterChapter chapter = {
        .start = lead_start,
        .end = lead_end,
        .title = g_strdup ("Front matter"),
        .is_front_matter = TRUE,
      };

      g_array_append_val (chapters, chapter);
    }
  if (chapters->len == 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "%s: no text left to segment (%s); the file holds only %s", doc->where,
                   doc->body_start > 0 || doc->body_end < doc->text->len
                     ? "after removing the Project Gutenberg header and licence"
                     : "after removing headings and front matter",
                   doc->body_start > 0 || doc->body_end < doc->text->len
                     ? "boilerplate (set strip_boilerplate to false to keep it)"
                     : "headings or a title page (set front_matter to \"chapter\" to keep it)");
      return NULL;
    }

  result = g_ptr_array_new_with_free_func ((GDestroyNotify) segmenter_chapter_free);
  for (guint i = 0; i < chapters->len; i++)
    {
      SegmenterChapter *copy = g_new (SegmenterChapter, 1);

      *copy = g_array_index (chapters, SegmenterChapter, i);
      g_ptr_array_add (result, copy);
    }
  /* The copies own the strings now. */
  g_array_set_clear_func (chapters, NULL);
  return result;
}
