/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Project Gutenberg boilerplate: the header, the licence footer, metadata. */

#include "segmenter.h"

#include <string.h>

static const struct
{
  const char *name;
  const char *code;
} languages[] = {
  { "english", "en" },   { "french", "fr" },     { "german", "de" },  { "spanish", "es" },
  { "italian", "it" },   { "portuguese", "pt" }, { "dutch", "nl" },   { "latin", "la" },
  { "finnish", "fi" },   { "swedish", "sv" },    { "danish", "da" },  { "norwegian", "nb" },
  { "russian", "ru" },   { "polish", "pl" },     { "chinese", "zh" }, { "japanese", "ja" },
  { "greek", "el" },     { "hungarian", "hu" },  { "czech", "cs" },   { "esperanto", "eo" },
  { "catalan", "ca" },   { "tagalog", "tl" },    { "welsh", "cy" },   { "irish", "ga" },
  { "icelandic", "is" }, { "hebrew", "he" },     { "arabic", "ar" },  { "korean", "ko" },
  { "ukrainian", "uk" }, { "romanian", "ro" },
};

/* "English" or "en" to a language tag; NULL for what is neither. */
static char *
language_code (const char *value)
{
  g_autofree char *lower = g_ascii_strdown (value, -1);
  char *comma = strpbrk (lower, ",;(");

  if (comma != NULL)
    *comma = '\0';
  g_strstrip (lower);
  for (guint i = 0; i < G_N_ELEMENTS (languages); i++)
    if (strcmp (lower, languages[i].name) == 0)
      return g_strdup (languages[i].code);
  if (strlen (lower) >= 2 && strlen (lower) <= 3)
    return g_steal_pointer (&lower);
  return NULL;
}

static gboolean
contains_upper (const char *start, const char *end, const char *needle)
{
  gsize n = strlen (needle);

  for (const char *p = start; p + n <= end; p++)
    if (g_ascii_strncasecmp (p, needle, n) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_start_marker (const char *start, const char *end)
{
  if (end - start >= 3 && memcmp (start, "***", 3) == 0)
    return contains_upper (start, end, "START OF") && contains_upper (start, end, "GUTENBERG");
  /* The header of texts from before 2000. */
  return end - start >= 20 && g_ascii_strncasecmp (start, "*END*THE SMALL PRINT", 20) == 0;
}

static gboolean
is_end_marker (const char *start, const char *end)
{
  if (end - start >= 3 && memcmp (start, "***", 3) == 0)
    return contains_upper (start, end, "END OF") && contains_upper (start, end, "GUTENBERG");
  return FALSE;
}

/* "End of the Project Gutenberg EBook of ...", the footer of old texts that
 * have no *** END marker. */
static gboolean
is_old_end_line (const char *start, const char *end)
{
  return (end - start >= 28 &&
          g_ascii_strncasecmp (start, "End of the Project Gutenberg", 28) == 0) ||
         (end - start >= 24 && g_ascii_strncasecmp (start, "End of Project Gutenberg", 24) == 0);
}

static void
set_if_unset (char **field, const char *start, const char *end)
{
  if (*field == NULL && end > start)
    *field = segmenter_fold (start, end);
}

/* "Title: ...", "Author: ...", "Language: ..." in the header; a value may
 * continue on indented lines. */
static void
scan_header (SegmenterDocument *doc, const char *start, const char *end)
{
  const char *p = start;
  char *first_line = NULL;

  while (p < end)
    {
      const char *line_end = segmenter_line_end (p, end);
      const char *s = p, *e = line_end;
      char **field = NULL;
      gsize skip = 0;

      segmenter_trim (&s, &e);
      if (first_line == NULL && s < e)
        first_line = segmenter_fold (s, e);
      if (g_ascii_strncasecmp (s, "Title:", 6) == 0)
        {
          field = &doc->title;
          skip = 6;
        }
      else if (g_ascii_strncasecmp (s, "Author:", 7) == 0)
        {
          field = &doc->author;
          skip = 7;
        }
      else if (g_ascii_strncasecmp (s, "Language:", 9) == 0 && doc->language == NULL)
        {
          g_autofree char *value = segmenter_fold (s + 9, e);

          doc->language = language_code (value);
        }
      p = line_end < end ? line_end + 1 : end;
      if (field != NULL && *field == NULL)
        {
          GString *value = g_string_new (NULL);

          segmenter_fold_append (value, s + skip, e);
          /* Continuation lines are indented. */
          while (p < end && (*p == ' ' || *p == '\t'))
            {
              const char *next_end = segmenter_line_end (p, end);

              if (segmenter_is_blank (p, next_end))
                break;
              segmenter_fold_append (value, p, next_end);
              p = next_end < end ? next_end + 1 : end;
            }
          if (value->len > 0)
            *field = g_string_free (value, FALSE);
          else
            g_string_free (value, TRUE);
        }
    }

  /* "The Project Gutenberg EBook of Alice's Adventures in Wonderland, by
   * Lewis Carroll" */
  if (first_line != NULL)
    {
      const char *of = strstr (first_line, " of ");
      const char *by = g_strrstr (first_line, ", by ");

      if (of != NULL && strstr (first_line, "Gutenberg") != NULL && (by == NULL || by > of))
        {
          const char *title = of + 4;

          set_if_unset (&doc->title, title, by != NULL ? by : title + strlen (title));
          if (by != NULL)
            set_if_unset (&doc->author, by + 5, by + strlen (by));
        }
      g_free (first_line);
    }
}

/* A line of the licence that may follow an old end line: "*** END OF
 * ...", "***** This file should be named 11.txt *****", a gutenberg.org
 * address. Anything else after the end line is the text going on (a
 * collection, where one book's end line is followed by the next book). */
static gboolean
is_licence_line (const char *start, const char *end)
{
  return (end - start >= 3 && memcmp (start, "***", 3) == 0) ||
         contains_upper (start, end, "GUTENBERG") ||
         contains_upper (start, end, "THIS FILE SHOULD BE NAMED");
}

void
segmenter_gutenberg_scan (SegmenterDocument *doc, gboolean strip)
{
  const char *text = doc->text->str, *end = text + doc->text->len;
  const char *p = text;
  const char *start_line = NULL, *body = NULL, *footer = NULL, *old_footer = NULL;
  /* The latest old end line, while nothing but its own paragraph and blank
   * lines follow it; the first one the licence follows. */
  const char *pending = NULL, *confirmed = NULL;
  gboolean in_pending_paragraph = FALSE;

  while (p < end)
    {
      const char *line_end = segmenter_line_end (p, end);
      const char *s = p, *e = line_end;

      while (s < e && (*s == ' ' || *s == '\t'))
        s++;
      if (pending != NULL)
        {
          const char *ts = s, *te = e;

          segmenter_trim (&ts, &te);
          if (ts == te)
            in_pending_paragraph = FALSE;
          else if (!in_pending_paragraph)
            {
              /* "End of the Project Gutenberg EBook of X", then "*** END
               * OF ..." or the licence: the footer starts at the end line.
               * Then text: it was a line of the text (of a collection, say,
               * where the next book follows). */
              if (is_licence_line (ts, te) && confirmed == NULL)
                confirmed = pending;
              pending = NULL;
            }
        }
      /* Markers start with '*' and old footers with 'E': skip other lines
       * at once. */
      if (s < e && (*s == '*' || *s == 'E'))
        {
          segmenter_trim (&s, &e);
          if (start_line == NULL && footer == NULL && is_start_marker (s, e))
            {
              start_line = p;
              body = line_end < end ? line_end + 1 : end;
              pending = confirmed = NULL;
            }
          else if (is_end_marker (s, e))
            {
              footer = confirmed != NULL ? confirmed : pending != NULL ? pending : p;
              break;
            }
          else if (is_old_end_line (s, e))
            {
              if (start_line != NULL && old_footer == NULL)
                old_footer = p;
              pending = p;
              in_pending_paragraph = TRUE;
            }
        }
      p = line_end < end ? line_end + 1 : end;
    }
  /* Without an end marker: after a start marker, the first old end line
   * starts the footer; without one, an old end line the licence follows,
   * or that only blank lines follow. */
  if (footer == NULL)
    footer = start_line != NULL ? old_footer : confirmed != NULL ? confirmed : pending;

  if (start_line != NULL)
    {
      const char *s = start_line, *e = segmenter_line_end (start_line, end);
      const char *name;

      scan_header (doc, text, start_line);
      /* The marker names the book: "*** START OF THE PROJECT GUTENBERG
       * EBOOK ALICE'S ADVENTURES IN WONDERLAND ***". */
      segmenter_trim (&s, &e);
      name = NULL;
      for (const char *q = s; q + 5 < e; q++)
        if (g_ascii_strncasecmp (q, "EBOOK ", 6) == 0)
          {
            name = q + 6;
            break;
          }
      if (name != NULL)
        {
          const char *name_end = e;

          while (name_end > name && (name_end[-1] == '*' || name_end[-1] == ' '))
            name_end--;
          set_if_unset (&doc->title, name, name_end);
        }
    }

  doc->body_start = 0;
  doc->body_end = doc->text->len;
  if (strip)
    {
      if (body != NULL)
        doc->body_start = (gsize) (body - text);
      if (footer != NULL)
        doc->body_end = (gsize) (footer - text);
    }
}
