/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One JSON document per text: what follows the first value is refused. */

#include "sutra-json-document.h"

#include <string.h>

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips white space and comments as json-glib's scanner (GScanner) reads
 * them: C comments, and a single '/' starts a comment that the next '/'
 * ends. An unterminated one runs to the end: json-glib refuses it. */
static gsize
skip_space (const char *text, gsize length, gsize i)
{
  for (;;)
    {
      const char *end;

      while (i < length && is_space (text[i]))
        i++;
      if (i >= length || text[i] != '/')
        return i;
      if (i + 1 < length && text[i + 1] == '*')
        {
          end = g_strstr_len (text + i + 2, length - i - 2, "*/");
          if (end == NULL)
            return length;
          i = end - text + 2;
        }
      else
        {
          end = memchr (text + i + 1, '/', length - i - 1);
          if (end == NULL)
            return length;
          i = end - text + 1;
        }
    }
}

/*
 * Where the first value of @text ends, found without recursion (a file
 * nested a million deep is only a long loop): strings are skipped with
 * their escapes, brackets of either kind counted. FALSE when the text ends
 * first: json-glib then says what is wrong with it.
 */
static gboolean
find_value_end (const char *text, gsize length, gsize start, gsize *end)
{
  gsize depth = 0;
  gsize i = start;

  while (i < length)
    {
      char c = text[i];

      if (c == '"')
        {
          for (i++; i < length && text[i] != '"'; i++)
            if (text[i] == '\\')
              i++;
          if (i >= length)
            return FALSE;
          i++;
        }
      else if (c == '{' || c == '[')
        {
          depth++;
          i++;
        }
      else if (c == '}' || c == ']')
        {
          /* A closer with nothing open ends nothing: json-glib refuses it. */
          if (depth == 0)
            return FALSE;
          depth--;
          i++;
        }
      else if (depth > 0)
        i = c == '/' ? skip_space (text, length, i) : i + 1;
      else
        {
          /* A scalar at the top: up to the next delimiter. */
          while (i < length && !is_space (text[i]) && strchr ("{}[]\",/", text[i]) == NULL)
            i++;
          *end = i;
          return TRUE;
        }
      if (depth == 0)
        {
          *end = i;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
sutra_json_parser_load_document (JsonParser *parser,
                                 const char *text,
                                 gssize length,
                                 GError **error)
{
  gsize size = length < 0 ? strlen (text) : (gsize) length;
  gsize start = skip_space (text, size, 0);
  gsize end;

  if (start < size && find_value_end (text, size, start, &end))
    {
      gsize rest = skip_space (text, size, end);

      if (rest < size)
        {
          guint line = 1, column = 1;

          for (gsize i = 0; i < rest; i++)
            {
              if (text[i] == '\n')
                {
                  line++;
                  column = 1;
                }
              else if (((guchar) text[i] & 0xc0) != 0x80)
                column++;
            }
          g_set_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                       "<data>:%u:%u: Parse error: more data after the end of the JSON "
                       "value; the text must hold exactly one value (a second document, "
                       "or a stray character?)",
                       line, column);
          return FALSE;
        }
    }
  return json_parser_load_from_data (parser, text, size, error);
}
