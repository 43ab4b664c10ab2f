/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Markdown: YAML front matter and # headings as chapters. */

#include "segmenter.h"

#include <string.h>

typedef struct
{
  gsize offset;
  gsize body;
  char *title;
  guint level;
} MarkdownHeading;

static void
markdown_heading_clear (MarkdownHeading *heading)
{
  g_free (heading->title);
}

static const char *
skip_indent (const char *p, const char *end)
{
  const char *start = p;

  while (p < end && *p == ' ' && p - start < 3)
    p++;
  return p;
}

/* "## Title ##" is level 2, "Title". */
static gboolean
parse_atx (const char *start, const char *end, guint *level, char **title)
{
  const char *p = skip_indent (start, end), *s, *e;
  guint n = 0;

  while (p < end && *p == '#' && n < 7)
    {
      p++;
      n++;
    }
  if (n == 0 || n > 6 || (p < end && *p != ' ' && *p != '\t'))
    return FALSE;
  s = p;
  e = end;
  segmenter_trim (&s, &e);
  /* The optional closing sequence, after a space. */
  {
    const char *c = e;

    while (c > s && c[-1] == '#')
      c--;
    if (c == s || (c < e && (c[-1] == ' ' || c[-1] == '\t')))
      {
        e = c;
        segmenter_trim (&s, &e);
      }
  }
  if (s == e)
    return FALSE;
  *level = n;
  *title = segmenter_fold (s, e);
  return TRUE;
}

/* "====" under a line is level 1, "----" level 2. */
static guint
setext_level (const char *start, const char *end)
{
  const char *p = skip_indent (start, end), *e = end;
  char c;
  guint n = 0;

  segmenter_trim (&p, &e);
  if (p == e || (*p != '=' && *p != '-'))
    return 0;
  c = *p;
  for (; p < e; p++, n++)
    if (*p != c)
      return 0;
  if (c == '=' && n >= 2)
    return 1;
  if (c == '-' && n >= 3)
    return 2;
  return 0;
}

static gboolean
is_fence (const char *start, const char *end, char *fence)
{
  const char *p = skip_indent (start, end);

  if (end - p >= 3 && (*p == '`' || *p == '~') && p[1] == *p && p[2] == *p)
    {
      *fence = *p;
      return TRUE;
    }
  return FALSE;
}

static gboolean
may_be_setext_text (const char *start, const char *end)
{
  const char *p = skip_indent (start, end);

  return p < end && strchr ("#>-*+|", *p) == NULL && !g_ascii_isdigit (*p);
}

/* YAML front matter: "---", "key: value" lines, "---" or "...". */
static gsize
read_front_matter (SegmenterDocument *doc, gsize at)
{
  const char *text = doc->text->str, *end = text + doc->body_end;
  const char *p = text + at, *first_end = segmenter_line_end (p, end);
  const char *s = p, *e = first_end;

  segmenter_trim (&s, &e);
  if (e - s != 3 || memcmp (s, "---", 3) != 0)
    return at;
  p = first_end < end ? first_end + 1 : end;
  {
    const char *scan = p;

    /* Find the closing line first: without one this is a thematic break. */
    while (scan < end)
      {
        const char *line_end = segmenter_line_end (scan, end);
        const char *ls = scan, *le = line_end;

        segmenter_trim (&ls, &le);
        if (le - ls == 3 && (memcmp (ls, "---", 3) == 0 || memcmp (ls, "...", 3) == 0))
          break;
        scan = line_end < end ? line_end + 1 : end;
      }
    if (scan >= end)
      return at;
    while (p < scan)
      {
        const char *line_end = segmenter_line_end (p, end);
        const char *colon = memchr (p, ':', (gsize) (line_end - p));

        if (colon != NULL)
          {
            g_autofree char *key = segmenter_fold (p, colon);
            const char *vs = colon + 1, *ve = line_end;
            char **field = NULL;

            segmenter_trim (&vs, &ve);
            if (ve - vs >= 2 && (*vs == '"' || *vs == '\'') && ve[-1] == *vs)
              {
                vs++;
                ve--;
              }
            if (g_ascii_strcasecmp (key, "title") == 0)
              field = &doc->title;
            else if (g_ascii_strcasecmp (key, "author") == 0)
              field = &doc->author;
            else if (g_ascii_strcasecmp (key, "language") == 0 ||
                     g_ascii_strcasecmp (key, "lang") == 0)
              field = &doc->language;
            if (field != NULL && *field == NULL && ve > vs)
              *field = segmenter_fold (vs, ve);
          }
        p = line_end + 1;
      }
    {
      const char *close_end = segmenter_line_end (scan, end);

      return close_end < end ? (gsize) (close_end + 1 - text) : doc->body_end;
    }
  }
}

void
segmenter_markdown_read (SegmenterDocument *doc, gint64 level)
{
  const char *text = doc->text->str, *end = text + doc->body_end;
  const char *p;
  g_autoptr (GArray) found = g_array_new (FALSE, TRUE, sizeof (MarkdownHeading));
  guint counts[7] = { 0 };
  char fence = 0;
  gboolean previous_blank = TRUE;
  guint chosen = (guint) level;

  g_array_set_clear_func (found, (GDestroyNotify) markdown_heading_clear);
  doc->body_start = read_front_matter (doc, doc->body_start);

  p = text + doc->body_start;
  while (p < end)
    {
      const char *line_end = segmenter_line_end (p, end);
      const char *next = line_end < end ? line_end + 1 : end;
      gboolean blank = segmenter_is_blank (p, line_end);
      MarkdownHeading heading = { 0 };
      char this_fence;

      if (is_fence (p, line_end, &this_fence) && (fence == 0 || fence == this_fence))
        {
          fence = fence == 0 ? this_fence : 0;
          previous_blank = FALSE;
          p = next;
          continue;
        }
      if (fence == 0 && !blank)
        {
          if (parse_atx (p, line_end, &heading.level, &heading.title))
            {
              heading.offset = (gsize) (p - text);
              heading.body = (gsize) (next - text);
            }
          else if (previous_blank && next < end && may_be_setext_text (p, line_end))
            {
              const char *under_end = segmenter_line_end (next, end);
              guint setext = setext_level (next, under_end);

              if (setext > 0)
                {
                  const char *s = p, *e = line_end;

                  segmenter_trim (&s, &e);
                  heading.level = setext;
                  heading.title = segmenter_fold (s, e);
                  heading.offset = (gsize) (p - text);
                  heading.body = under_end < end ? (gsize) (under_end + 1 - text) : doc->body_end;
                  next = text + heading.body;
                }
            }
          if (heading.title != NULL)
            {
              counts[heading.level]++;
              g_array_append_val (found, heading);
            }
        }
      previous_blank = blank;
      p = next;
    }

  /* Level 0 (auto): the highest level used at least twice, so that a
   * manuscript with one "# Title" and "## Chapter" headings splits at the
   * chapters; else the highest level used at all. */
  if (chosen == 0)
    {
      for (guint l = 1; l <= 6 && chosen == 0; l++)
        if (counts[l] >= 2)
          chosen = l;
      for (guint l = 1; l <= 6 && chosen == 0; l++)
        if (counts[l] >= 1)
          chosen = l;
    }
  for (guint i = 0; i < found->len; i++)
    {
      MarkdownHeading *h = &g_array_index (found, MarkdownHeading, i);

      if (h->level <= chosen)
        segmenter_document_add_heading (doc, h->offset, h->body, h->title, h->level);
    }
  /* A lone top heading above the chapters names the book. */
  if (doc->title == NULL && chosen > 1 && found->len > 0)
    {
      MarkdownHeading *h = &g_array_index (found, MarkdownHeading, 0);

      if (h->level < chosen && counts[h->level] == 1)
        doc->title = g_strdup (h->title);
    }
}
