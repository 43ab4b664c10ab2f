/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sentences (ICU's break iterator) merged into chunks of at most max_chars. */

#include "segmenter.h"

#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/uloc.h>
#include <unicode/utext.h>

struct _SegmenterChunker
{
  GHashTable *iterators; /* language → UBreakIterator, made on first use */
  GArray *sentences;     /* Piece scratch */
  GArray *chunks;        /* Piece scratch */
};

typedef struct
{
  gsize start;
  gsize end;
  gsize n_chars;
} Piece;

SegmenterChunker *
segmenter_chunker_new (void)
{
  SegmenterChunker *chunker = g_new0 (SegmenterChunker, 1);

  chunker->iterators =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) ubrk_close);
  chunker->sentences = g_array_new (FALSE, FALSE, sizeof (Piece));
  chunker->chunks = g_array_new (FALSE, FALSE, sizeof (Piece));
  return chunker;
}

void
segmenter_chunker_free (SegmenterChunker *chunker)
{
  if (chunker == NULL)
    return;
  g_hash_table_unref (chunker->iterators);
  g_array_unref (chunker->sentences);
  g_array_unref (chunker->chunks);
  g_free (chunker);
}

static UBreakIterator *
get_iterator (SegmenterChunker *chunker, const char *language, GError **error)
{
  UBreakIterator *iterator = g_hash_table_lookup (chunker->iterators, language);
  UErrorCode status = U_ZERO_ERROR;
  char locale[ULOC_FULLNAME_CAPACITY] = "";
  g_autofree char *with_keywords = NULL;

  if (iterator != NULL)
    return iterator;
  /* BCP 47 ("en-GB") to an ICU locale ("en_GB"); "ss=standard" keeps "Mr."
   * and "e.g." from ending sentences where ICU has the data. */
  uloc_forLanguageTag (language, locale, sizeof locale, NULL, &status);
  if (U_FAILURE (status) || locale[0] == '\0')
    g_strlcpy (locale, language, sizeof locale);
  with_keywords = g_strconcat (locale, "@ss=standard", NULL);
  status = U_ZERO_ERROR;
  iterator = ubrk_open (UBRK_SENTENCE, with_keywords, NULL, 0, &status);
  if (U_FAILURE (status))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "ICU cannot break sentences for language “%s”: %s", language,
                   u_errorName (status));
      return NULL;
    }
  g_hash_table_insert (chunker->iterators, g_strdup (language), iterator);
  return iterator;
}

/* Scripts written without spaces (CJK) end sentences with no space after
 * them; elsewhere a sentence boundary with no space ("he.'Next") is not a
 * place to cut. */
static gboolean
is_wide (gunichar c)
{
  return c >= 0x2e80;
}

static gboolean
is_clause_mark (gunichar c)
{
  return c == ',' || c == ';' || c == ':' || c == ')' || c == 0x2013 || c == 0x2014;
}

static gboolean
is_wide_clause_mark (gunichar c)
{
  return c == 0x3001 || c == 0xff0c || c == 0xff1b || c == 0xff1a;
}

/* The characters of valid UTF-8: the bytes that do not continue one.
 * Several times faster than g_utf8_strlen, and this runs on every byte. */
static gsize
count_chars (const char *text, gsize length)
{
  const guint8 *p = (const guint8 *) text;
  gsize n = 0;

  for (gsize i = 0; i < length; i++)
    n += (p[i] & 0xc0) != 0x80;
  return n;
}

static void
add_piece (GArray *pieces, const char *text, gsize start, gsize end)
{
  Piece piece;

  while (start < end && text[start] == ' ')
    start++;
  while (end > start && text[end - 1] == ' ')
    end--;
  if (start == end)
    return;
  piece.start = start;
  piece.end = end;
  piece.n_chars = count_chars (text + start, end - start);
  g_array_append_val (pieces, piece);
}

/* A sentence longer than max_chars: cut at the last clause mark (",", ";",
 * "—") that leaves a piece of a third of max_chars or more, else at the last
 * space, else (a word longer than max_chars) between two characters. */
static void
split_long (GArray *chunks, const char *text, gsize start, gsize end, gsize max_chars)
{
  gsize pos = start;

  while (pos < end)
    {
      gsize q = pos, n = 0, clause_cut = 0, clause_next = 0, space_cut = 0, hyphen_cut = 0;
      gunichar previous = 0;

      /* Look at every place a piece of at most max_chars could end. */
      while (q < end)
        {
          gunichar c = g_utf8_get_char (text + q);
          gsize next;

          if (c == ' ' && q > pos)
            {
              space_cut = q;
              if (is_clause_mark (previous) && n * 3 >= max_chars)
                {
                  clause_cut = q;
                  clause_next = q + 1;
                }
            }
          if (n == max_chars)
            break;
          next = (gsize) (g_utf8_next_char (text + q) - text);
          if (is_wide_clause_mark (c) && (n + 1) * 3 >= max_chars)
            {
              clause_cut = next;
              clause_next = next;
            }
          if ((c == '-' || c == 0x2010 || c == 0x2013 || c == 0x2014) && next < end &&
              text[next] != ' ' && text[next] != '-')
            hyphen_cut = next;
          previous = c;
          n++;
          q = next;
        }
      if (q == end)
        {
          add_piece (chunks, text, pos, end);
          return;
        }
      if (clause_cut > pos)
        {
          add_piece (chunks, text, pos, clause_cut);
          pos = clause_next;
        }
      else if (space_cut > pos)
        {
          add_piece (chunks, text, pos, space_cut);
          pos = space_cut + 1;
        }
      else if (hyphen_cut > pos)
        {
          /* A word longer than max_chars: cut it after a hyphen or a dash
           * ("Arithmetic--" "Ambition,") where it has one. */
          add_piece (chunks, text, pos, hyphen_cut);
          pos = hyphen_cut;
        }
      else
        {
          /* Else cut it anywhere, but keep a combining mark with its base
           * character. */
          while (q > pos + 1 && g_unichar_ismark (g_utf8_get_char (text + q)))
            q = (gsize) (g_utf8_prev_char (text + q) - text);
          add_piece (chunks, text, pos, q);
          pos = q;
        }
    }
}

gboolean
segmenter_chunker_split (SegmenterChunker *chunker,
                         const char *language,
                         const char *text,
                         gsize length,
                         gsize max_chars,
                         SegmenterChunkFunc func,
                         gpointer user_data,
                         GError **error)
{
  UBreakIterator *iterator;
  UErrorCode status = U_ZERO_ERROR;
  UText ut = UTEXT_INITIALIZER;
  GArray *sentences = chunker->sentences, *chunks = chunker->chunks;
  gsize previous = 0, current_start = 0, current_end = 0, current_chars = 0;
  gboolean have_current = FALSE;
  int32_t boundary;

  if (length == 0)
    return TRUE;
  /* Most paragraphs fit whole: no need to find their sentences. A
   * character is at least a byte. */
  if (length <= max_chars || count_chars (text, length) <= max_chars)
    {
      func (text, length, TRUE, user_data);
      return TRUE;
    }

  iterator = get_iterator (chunker, language, error);
  if (iterator == NULL)
    return FALSE;
  utext_openUTF8 (&ut, text, (int64_t) length, &status);
  ubrk_setUText (iterator, &ut, &status);
  if (U_FAILURE (status))
    {
      utext_close (&ut);
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "ICU cannot break this text into sentences: %s", u_errorName (status));
      return FALSE;
    }
  g_array_set_size (sentences, 0);
  g_array_set_size (chunks, 0);
  ubrk_first (iterator);
  /* With a UTF-8 UText the boundaries are byte offsets. */
  while ((boundary = ubrk_next (iterator)) != UBRK_DONE)
    {
      gsize b = (gsize) boundary;

      if (b < length && text[b - 1] != ' ' &&
          !is_wide (g_utf8_get_char (g_utf8_prev_char (text + b))))
        continue;
      add_piece (sentences, text, previous, b);
      previous = b;
    }
  if (previous < length)
    add_piece (sentences, text, previous, length);
  utext_close (&ut);
  /* The iterator must not keep pointing at the caller's text. */
  ubrk_setText (iterator, NULL, 0, &status);

  for (guint i = 0; i < sentences->len; i++)
    {
      Piece *s = &g_array_index (sentences, Piece, i);
      gsize gap = have_current ? s->start - current_end : 0;

      if (have_current && current_chars + gap + s->n_chars <= max_chars)
        {
          current_end = s->end;
          current_chars += gap + s->n_chars;
          continue;
        }
      if (have_current)
        {
          add_piece (chunks, text, current_start, current_end);
          have_current = FALSE;
        }
      if (s->n_chars > max_chars)
        {
          Piece tail;

          /* The tail of a long sentence may take the next sentences. */
          split_long (chunks, text, s->start, s->end, max_chars);
          tail = g_array_index (chunks, Piece, chunks->len - 1);
          g_array_set_size (chunks, chunks->len - 1);
          current_start = tail.start;
          current_end = tail.end;
          current_chars = tail.n_chars;
          have_current = TRUE;
          continue;
        }
      current_start = s->start;
      current_end = s->end;
      current_chars = s->n_chars;
      have_current = TRUE;
    }
  if (have_current)
    add_piece (chunks, text, current_start, current_end);

  for (guint i = 0; i < chunks->len; i++)
    {
      Piece *c = &g_array_index (chunks, Piece, i);

      func (text + c->start, c->end - c->start, i + 1 == chunks->len, user_data);
    }
  return TRUE;
}
