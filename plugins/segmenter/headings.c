/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Chapter headings of plain text: CHAPTER I., Chapter 3, BOOK ONE, PART II. */

#include "segmenter.h"

#include <string.h>

typedef enum
{
  KEYWORD_NUMBERED,   /* needs a number: CHAPTER I */
  KEYWORD_STANDALONE, /* stands alone: PROLOGUE */
} KeywordKind;

static const struct
{
  const char *word; /* case-folded */
  guint level;
  KeywordKind kind;
} keywords[] = {
  { "chapter", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "chap", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "stave", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "letter", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "section", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "canto", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "episode", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "scene", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "chapitre", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "kapitel", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "capítulo", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "capitulo", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "capitolo", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "hoofdstuk", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "глава", SEGMENTER_LEVEL_CHAPTER, KEYWORD_NUMBERED },
  { "act", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "part", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "partie", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "teil", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "parte", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "часть", SEGMENTER_LEVEL_PART, KEYWORD_NUMBERED },
  { "book", SEGMENTER_LEVEL_BOOK, KEYWORD_NUMBERED },
  { "livre", SEGMENTER_LEVEL_BOOK, KEYWORD_NUMBERED },
  { "buch", SEGMENTER_LEVEL_BOOK, KEYWORD_NUMBERED },
  { "libro", SEGMENTER_LEVEL_BOOK, KEYWORD_NUMBERED },
  { "книга", SEGMENTER_LEVEL_BOOK, KEYWORD_NUMBERED },
  { "volume", SEGMENTER_LEVEL_VOLUME, KEYWORD_NUMBERED },
  { "vol", SEGMENTER_LEVEL_VOLUME, KEYWORD_NUMBERED },
  { "tome", SEGMENTER_LEVEL_VOLUME, KEYWORD_NUMBERED },
  { "band", SEGMENTER_LEVEL_VOLUME, KEYWORD_NUMBERED },
  { "prologue", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "prolog", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "epilogue", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "epilog", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "preface", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "foreword", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "introduction", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "conclusion", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "afterword", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "interlude", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "postscript", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
  { "appendix", SEGMENTER_LEVEL_CHAPTER, KEYWORD_STANDALONE },
};

/* Number words, cardinal and ordinal, by value. */
static const char *const units[][2] = {
  { NULL, NULL },
  { "one", "first" },
  { "two", "second" },
  { "three", "third" },
  { "four", "fourth" },
  { "five", "fifth" },
  { "six", "sixth" },
  { "seven", "seventh" },
  { "eight", "eighth" },
  { "nine", "ninth" },
  { "ten", "tenth" },
  { "eleven", "eleventh" },
  { "twelve", "twelfth" },
  { "thirteen", "thirteenth" },
  { "fourteen", "fourteenth" },
  { "fifteen", "fifteenth" },
  { "sixteen", "sixteenth" },
  { "seventeen", "seventeenth" },
  { "eighteen", "eighteenth" },
  { "nineteen", "nineteenth" },
};

static const char *const tens[][2] = {
  { NULL, NULL },
  { NULL, NULL },
  { "twenty", "twentieth" },
  { "thirty", "thirtieth" },
  { "forty", "fortieth" },
  { "fifty", "fiftieth" },
  { "sixty", "sixtieth" },
  { "seventy", "seventieth" },
  { "eighty", "eightieth" },
  { "ninety", "ninetieth" },
};

/* The end of the word (a run of letters) at @p. */
static const char *
word_end (const char *p, const char *end)
{
  while (p < end)
    {
      gunichar c = g_utf8_get_char (p);

      if (!g_unichar_isalpha (c))
        break;
      p = g_utf8_next_char (p);
    }
  return p;
}

/* Upper case throughout, lower case throughout, or capitalised. */
static gboolean
has_heading_case (const char *start, const char *end, gboolean allow_lower)
{
  gboolean any_upper = FALSE, any_lower = FALSE, first_upper;

  first_upper = g_unichar_isupper (g_utf8_get_char (start));
  for (const char *p = g_utf8_next_char (start); p < end; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      any_upper |= g_unichar_isupper (c);
      any_lower |= g_unichar_islower (c);
    }
  if (first_upper)
    return !(any_upper && any_lower);
  return allow_lower && !any_upper;
}

static gboolean
word_equals (const char *start, const char *end, const char *word)
{
  gsize n = strlen (word);

  return (gsize) (end - start) == n && g_ascii_strncasecmp (start, word, n) == 0;
}

static int
roman_digit (char c)
{
  switch (g_ascii_toupper (c))
    {
    case 'I':
      return 1;
    case 'V':
      return 5;
    case 'X':
      return 10;
    case 'L':
      return 50;
    case 'C':
      return 100;
    case 'D':
      return 500;
    case 'M':
      return 1000;
    default:
      return 0;
    }
}

/* A Roman numeral in canonical form (IV, not IIII), 1 to 3999. */
static gboolean
parse_roman (const char *start, const char *end, gint64 *value)
{
  static const struct
  {
    int value;
    const char *digits;
  } table[] = {
    { 1000, "M" }, { 900, "CM" }, { 500, "D" }, { 400, "CD" }, { 100, "C" },
    { 90, "XC" },  { 50, "L" },   { 40, "XL" }, { 10, "X" },   { 9, "IX" },
    { 5, "V" },    { 4, "IV" },   { 1, "I" },
  };
  int total = 0;
  char canonical[32];
  gsize n = 0;

  if (end - start > 15)
    return FALSE;
  for (const char *p = start; p < end; p++)
    {
      int digit = roman_digit (*p);
      int next = p + 1 < end ? roman_digit (p[1]) : 0;

      if (digit == 0)
        return FALSE;
      total += digit < next ? -digit : digit;
    }
  if (total <= 0 || total >= 4000)
    return FALSE;
  for (guint i = 0, rest = (guint) total; i < G_N_ELEMENTS (table); i++)
    while (rest >= (guint) table[i].value)
      {
        for (const char *d = table[i].digits; *d != '\0' && n + 1 < sizeof canonical; d++)
          canonical[n++] = *d;
        rest -= (guint) table[i].value;
      }
  canonical[n] = '\0';
  if ((gsize) (end - start) != n || g_ascii_strncasecmp (start, canonical, n) != 0)
    return FALSE;
  *value = total;
  return TRUE;
}

static gboolean
lookup_number_word (const char *start, const char *end, gint64 *value, gboolean *is_tens)
{
  for (guint i = 1; i < G_N_ELEMENTS (units); i++)
    if (word_equals (start, end, units[i][0]) || word_equals (start, end, units[i][1]))
      {
        *value = i;
        *is_tens = FALSE;
        return TRUE;
      }
  for (guint i = 2; i < G_N_ELEMENTS (tens); i++)
    if (word_equals (start, end, tens[i][0]) || word_equals (start, end, tens[i][1]))
      {
        *value = 10 * i;
        *is_tens = TRUE;
        return TRUE;
      }
  return FALSE;
}

/* A number at @p: 12, XII, twelve, twenty-first, THE LAST. Returns the end
 * of the number, or NULL. */
static const char *
parse_number (const char *p, const char *end, gint64 *value, gboolean allow_lower)
{
  const char *w = word_end (p, end);
  gboolean is_tens;

  if (p < end && g_ascii_isdigit (*p))
    {
      const char *q = p;

      *value = 0;
      while (q < end && g_ascii_isdigit (*q) && q - p < 5)
        *value = *value * 10 + (*q++ - '0');
      if (q < end && g_ascii_isdigit (*q))
        return NULL;
      /* 1st, 2nd, 3rd, 4th */
      if (end - q >= 2 &&
          (g_ascii_strncasecmp (q, "st", 2) == 0 || g_ascii_strncasecmp (q, "nd", 2) == 0 ||
           g_ascii_strncasecmp (q, "rd", 2) == 0 || g_ascii_strncasecmp (q, "th", 2) == 0))
        q += 2;
      return word_end (q, end) == q ? q : NULL;
    }
  if (w == p || !has_heading_case (p, w, allow_lower))
    return NULL;
  if (word_equals (p, w, "the"))
    {
      const char *q = w, *w2;

      while (q < end && *q == ' ')
        q++;
      w2 = word_end (q, end);
      if (w2 == q || !has_heading_case (q, w2, TRUE))
        return NULL;
      if (word_equals (q, w2, "last"))
        {
          *value = G_MAXINT;
          return w2;
        }
      if (word_equals (q, w2, "first"))
        {
          *value = 1;
          return w2;
        }
      return lookup_number_word (q, w2, value, &is_tens) ? w2 : NULL;
    }
  if (parse_roman (p, w, value))
    return w;
  if (lookup_number_word (p, w, value, &is_tens))
    {
      /* twenty-one, twenty one, Twenty-First */
      if (is_tens && w < end && (*w == '-' || *w == ' '))
        {
          const char *q = w + 1, *w2 = word_end (q, end);
          gint64 unit;
          gboolean unit_is_tens;

          if (w2 > q && lookup_number_word (q, w2, &unit, &unit_is_tens) && !unit_is_tens &&
              unit < 10)
            {
              *value += unit;
              return w2;
            }
        }
      return w;
    }
  return NULL;
}

static gboolean
is_separator (gunichar c)
{
  return c == '.' || c == ':' || c == ')' || c == ']' || c == '-' || c == 0x2013 || c == 0x2014;
}

/* What follows the number: nothing, punctuation, or a title. */
static gboolean
parse_rest (const char *p, const char *end, gboolean *has_title)
{
  gboolean separated = FALSE;

  while (p < end)
    {
      gunichar c = g_utf8_get_char (p);

      if (is_separator (c))
        separated = TRUE;
      else if (c != ' ' && c != '\t')
        break;
      p = g_utf8_next_char (p);
    }
  *has_title = p < end;
  if (p == end || separated)
    return TRUE;
  /* "Chapter 3 was the best" is a sentence, "Chapter 3 The Trial" a
   * heading. */
  return segmenter_is_title_like (p, end);
}

gboolean
segmenter_parse_heading_line (const char *start,
                              const char *end,
                              guint *level,
                              gboolean *has_title,
                              gint64 *number,
                              gboolean *is_bare)
{
  const char *w, *p;
  gunichar first;
  g_autofree char *folded = NULL;

  segmenter_trim (&start, &end);
  if (start == end || end - start > 160)
    return FALSE;
  first = g_utf8_get_char (start);
  if (!g_unichar_isupper (first) && !g_ascii_isdigit (first))
    return FALSE;
  *number = 0;
  *has_title = FALSE;
  *is_bare = FALSE;
  *level = SEGMENTER_LEVEL_CHAPTER;

  w = word_end (start, end);
  if (w > start)
    {
      folded = g_utf8_casefold (start, w - start);
      for (guint i = 0; i < G_N_ELEMENTS (keywords); i++)
        {
          if (strcmp (folded, keywords[i].word) != 0)
            continue;
          if (!has_heading_case (start, w, FALSE))
            return FALSE;
          *level = keywords[i].level;
          p = w;
          if (p < end && *p == '.' &&
              (word_equals (start, w, "chap") || word_equals (start, w, "vol")))
            p++;
          if (keywords[i].kind == KEYWORD_STANDALONE)
            {
              const char *q = p, *after;

              while (q < end && *q == ' ')
                q++;
              if (q > p && (after = parse_number (q, end, number, FALSE)) != NULL)
                p = after;
              else if (q > p && q < end && g_ascii_isupper (*q) &&
                       (q + 1 == end || !g_ascii_isalpha (q[1])))
                p = q + 1; /* APPENDIX A */
              return parse_rest (p, end, has_title);
            }
          if (p == end || (*p != ' ' && *p != '\t'))
            return FALSE;
          while (p < end && (*p == ' ' || *p == '\t'))
            p++;
          p = parse_number (p, end, number, TRUE);
          if (p == NULL)
            return FALSE;
          return parse_rest (p, end, has_title);
        }
    }

  /* A number alone: "XII", "12.", "TWELVE". Upper case Roman numerals only:
   * "i." is a list item. */
  if (word_equals (start, w, "the"))
    return FALSE;
  p = parse_number (start, end, number, FALSE);
  if (p == NULL || *number == G_MAXINT)
    return FALSE;
  if (w > start && parse_roman (start, w, number))
    {
      for (const char *q = start; q < w; q++)
        if (g_ascii_islower (*q))
          return FALSE;
      /* "IV. The Boscombe Valley Mystery": a Roman numeral and a title
       * (Arabic ones with a title are list items too often). */
      if (p < end && (*p == '.' || *p == ':') && p + 1 < end && p[1] == ' ' &&
          segmenter_is_title_like (p + 2, end) && !g_ascii_isdigit (p[2]))
        {
          *is_bare = TRUE;
          *has_title = TRUE;
          return TRUE;
        }
    }
  if (p < end && *p == '.')
    p++;
  if (p != end)
    return FALSE;
  *is_bare = TRUE;
  return TRUE;
}

typedef struct
{
  const char *start;
  const char *end; /* the '\n' or the end of the body */
  gboolean blank;
} Line;

typedef struct
{
  gsize offset;
  gsize body;
  char *title;
  guint level;
  gboolean is_bare;
  gboolean has_title;
  gint64 number;
} Candidate;

static void
candidate_clear (Candidate *candidate)
{
  g_free (candidate->title);
}

static gboolean
line_is_heading (const Line *line)
{
  guint level;
  gboolean has_title, is_bare;
  gint64 number;

  return !line->blank && segmenter_parse_heading_line (line->start, line->end, &level, &has_title,
                                                       &number, &is_bare);
}

/* A line alone in its paragraph: nothing on the lines around it. */
static gboolean
is_single_line (const Line *lines, guint n_lines, guint i)
{
  return !lines[i].blank && (i == 0 || lines[i - 1].blank) &&
         (i + 1 == n_lines || lines[i + 1].blank);
}

/* "St. Petersburgh, Dec. 11th, 17--" or "London, 1888.": a dateline that
 * opens a letter or a chapter, not its title. */
static gboolean
is_dateline (const char *start, const char *end)
{
  gboolean digit = FALSE, comma = FALSE;

  for (const char *p = start; p < end; p++)
    {
      digit |= g_ascii_isdigit (*p);
      comma |= *p == ',';
    }
  return digit && comma;
}

/* "Bonjour. Au revoir.": two sentences are text, not a title; nor is
 * "Text." (a title with a full stop is in capitals: "MARLEY'S GHOST."). */
static gboolean
is_sentence_like (const char *start, const char *end)
{
  guint n = 0;
  gboolean lower = FALSE;

  segmenter_trim (&start, &end);
  for (const char *p = start; p < end; p++)
    {
      n += (*p == '.' || *p == '!' || *p == '?') && (p + 1 == end || p[1] == ' ');
      lower |= g_ascii_islower (*p);
    }
  return n >= 2 || (lower && end > start && end[-1] == '.');
}

/* Text follows line @j before the next heading, or a heading of a smaller
 * rank than @level (PART I, its title, CHAPTER 1): a title must leave its
 * chapter something to say. */
static gboolean
has_text_after (const Line *lines, guint n_lines, guint j, guint level)
{
  for (guint k = j + 1; k < n_lines; k++)
    if (!lines[k].blank)
      {
        guint next_level;
        gboolean has_title, is_bare;
        gint64 number;

        if (!segmenter_parse_heading_line (lines[k].start, lines[k].end, &next_level, &has_title,
                                           &number, &is_bare))
          return TRUE;
        return next_level > level && !is_bare;
      }
  return FALSE;
}

static char *
join_title (const char *label_start, const char *label_end, const char *start, const char *end)
{
  g_autofree char *label = segmenter_fold (label_start, label_end);
  g_autofree char *title = segmenter_fold (start, end);
  gsize n = strlen (label);
  gboolean punctuated = n > 0 && strchr (".:-", label[n - 1]) != NULL;

  return g_strconcat (label, punctuated ? " " : ". ", title, NULL);
}

/* An all-capitals line after two or more blank lines, alone in its
 * paragraph: the story titles of a collection (caps_headings). */
static gboolean
is_caps_heading (const Line *lines, guint n_lines, guint i)
{
  const char *s = lines[i].start, *e = lines[i].end;
  guint n_letters = 0;
  glong n_chars;

  if (i < 2 || !lines[i - 1].blank || !lines[i - 2].blank || !is_single_line (lines, n_lines, i))
    return FALSE;
  segmenter_trim (&s, &e);
  n_chars = g_utf8_strlen (s, e - s);
  if (n_chars < 3 || n_chars > 60 || e[-1] == '.' || e[-1] == ',')
    return FALSE;
  for (const char *p = s; p < e; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_islower (c))
        return FALSE;
      n_letters += g_unichar_isalpha (c);
    }
  return n_letters >= 3 && !word_equals (s, e, "THE END") && !word_equals (s, e, "FINIS");
}

/* Numbers alone (or, @titled, numbers with a title) count up from one:
 * I, II, III; a collection may start again at I. */
static gboolean
bare_sequence_is_plausible (GArray *candidates, gboolean titled)
{
  gint64 previous = 0;
  guint n = 0, n_good = 0, n_bare = 0;

  for (guint i = 0; i < candidates->len; i++)
    {
      Candidate *c = &g_array_index (candidates, Candidate, i);

      if (!c->is_bare || c->has_title != titled)
        continue;
      if (n_bare == 0 && c->number != 1)
        return FALSE;
      if (n_bare > 0)
        {
          n++;
          n_good += c->number == previous + 1 || c->number == 1;
        }
      previous = c->number;
      n_bare++;
    }
  return n_bare >= 2 && n_good * 4 >= n * 3;
}

gboolean
segmenter_headings_detect (SegmenterDocument *doc,
                           GRegex *custom,
                           gboolean caps_headings,
                           GError **error)
{
  const char *text = doc->text->str;
  const char *p = text + doc->body_start, *end = text + doc->body_end;
  g_autoptr (GArray) lines = NULL;
  g_autoptr (GArray) candidates = g_array_new (FALSE, TRUE, sizeof (Candidate));
  const Line *l;
  guint n;
  gboolean any_numbered_chapter = FALSE;

  g_array_set_clear_func (candidates, (GDestroyNotify) candidate_clear);
  /* Sized once: growing a large array frees large blocks, and every such
   * free makes malloc consolidate its many small free blocks. */
  {
    gsize n_lines = 1;

    for (const char *q = p; (q = memchr (q, '\n', (gsize) (end - q))) != NULL; q++)
      n_lines++;
    lines = g_array_sized_new (FALSE, FALSE, sizeof (Line), (guint) n_lines);
  }
  while (p < end)
    {
      Line line;

      line.start = p;
      line.end = segmenter_line_end (p, end);
      line.blank = segmenter_is_blank (line.start, line.end);
      g_array_append_val (lines, line);
      p = line.end < end ? line.end + 1 : end;
    }
  l = (const Line *) (gpointer) lines->data;
  n = lines->len;

#define NEXT_LINE_OFFSET(k) ((k) + 1 < n ? (gsize) (l[(k) + 1].start - text) : doc->body_end)

  for (guint i = 0; i < n; i++)
    {
      guint level, last;
      gboolean has_title, is_bare;
      gint64 number;

      if (l[i].blank)
        continue;
      if (custom != NULL)
        {
          const char *s = l[i].start, *e = l[i].end;

          segmenter_trim (&s, &e);
          if (g_regex_match_full (custom, s, e - s, 0, 0, NULL, NULL))
            {
              Candidate c = {
                .offset = (gsize) (l[i].start - text),
                .body = NEXT_LINE_OFFSET (i),
                .title = segmenter_fold (s, e),
                .level = SEGMENTER_LEVEL_CHAPTER,
              };

              g_array_append_val (candidates, c);
            }
          continue;
        }
      if (i > 0 && !l[i - 1].blank)
        continue;
      if (!segmenter_parse_heading_line (l[i].start, l[i].end, &level, &has_title, &number,
                                         &is_bare))
        {
          if (caps_headings && is_caps_heading (l, n, i))
            {
              Candidate c = {
                .offset = (gsize) (l[i].start - text),
                .body = NEXT_LINE_OFFSET (i),
                .title = segmenter_fold (l[i].start, l[i].end),
                .level = SEGMENTER_LEVEL_CHAPTER,
              };

              g_array_append_val (candidates, c);
            }
          continue;
        }

      /* A run of heading lines one under the other is a stack (PART II over
       * CHAPTER 5) when each is of a smaller rank, and a table of contents
       * otherwise. */
      last = i;
      {
        guint previous_level = level;
        gboolean stack = TRUE;

        while (last + 1 < n && line_is_heading (&l[last + 1]))
          {
            guint next_level;
            gboolean next_has_title, next_bare;
            gint64 next_number;

            segmenter_parse_heading_line (l[last + 1].start, l[last + 1].end, &next_level,
                                          &next_has_title, &next_number, &next_bare);
            stack &= next_level > previous_level && !next_bare && !is_bare;
            previous_level = next_level;
            last++;
          }
        if (!stack)
          {
            i = last;
            continue;
          }
      }

      for (guint k = i; k <= last; k++)
        {
          Candidate c = { 0 };
          const char *title_start = NULL, *title_end = NULL;
          guint body_line = k + 1;

          segmenter_parse_heading_line (l[k].start, l[k].end, &c.level, &has_title, &c.number,
                                        &c.is_bare);
          c.has_title = has_title;
          c.offset = (gsize) (l[k].start - text);
          if (k == last && !has_title)
            {
              /* The title on the next line, or after a blank line or two. */
              guint j = k + 1;

              while (j < n && j <= k + 3 && l[j].blank)
                j++;
              if (j < n && j <= k + 3 && (j == k + 1 || l[j - 1].blank) &&
                  (j + 1 == n || l[j + 1].blank) && !line_is_heading (&l[j]) &&
                  segmenter_is_title_like (l[j].start, l[j].end) &&
                  !is_dateline (l[j].start, l[j].end) && !is_sentence_like (l[j].start, l[j].end) &&
                  has_text_after (l, n, j, c.level))
                {
                  title_start = l[j].start;
                  title_end = l[j].end;
                  body_line = j + 1;
                }
            }
          if (title_start != NULL)
            c.title = join_title (l[k].start, l[k].end, title_start, title_end);
          else
            c.title = segmenter_fold (l[k].start, l[k].end);
          c.body = NEXT_LINE_OFFSET (body_line - 1);
          if (c.level == SEGMENTER_LEVEL_CHAPTER && !c.is_bare)
            any_numbered_chapter = TRUE;
          g_array_append_val (candidates, c);
          i = body_line - 1;
        }
    }
#undef NEXT_LINE_OFFSET

  /* Numbers alone are headings only in a book that has no CHAPTER
   * headings, and only when they count up: I, II, III. Where numbers with
   * titles (stories) and numbers alone (their sections) mix, the first
   * are the larger division. */
  {
    gboolean keep_titled = !any_numbered_chapter && bare_sequence_is_plausible (candidates, TRUE);
    gboolean keep_untitled =
      !any_numbered_chapter && bare_sequence_is_plausible (candidates, FALSE);
    gboolean titled = FALSE, untitled = FALSE;

    for (guint i = 0; i < candidates->len; i++)
      {
        Candidate *c = &g_array_index (candidates, Candidate, i);

        if (c->is_bare && c->has_title)
          titled |= keep_titled;
        else if (c->is_bare)
          untitled |= keep_untitled;
      }
    for (guint i = 0; i < candidates->len && titled && untitled; i++)
      {
        Candidate *c = &g_array_index (candidates, Candidate, i);

        if (c->is_bare && c->has_title)
          c->level = SEGMENTER_LEVEL_PART;
      }

    for (guint i = 0; i < candidates->len; i++)
      {
        Candidate *c = &g_array_index (candidates, Candidate, i);

        if (c->is_bare && !(c->has_title ? keep_titled : keep_untitled))
          continue;
        segmenter_document_add_heading (doc, c->offset, c->body, c->title, c->level);
      }
  }
  return TRUE;
}
