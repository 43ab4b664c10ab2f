/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plain text to Apertium's stream format and back. */

#include "apertium-format.h"

#include <string.h>

static gboolean
is_markup (char c)
{
  return c != '\0' && strchr ("\\^$[]{}<>@/", c) != NULL;
}

void
apertium_deformat (GString *out, const char *text, gsize length)
{
  gsize i = 0;

  while (i < length)
    {
      gsize run = i;

      /* Copy the longest run needing no escape in one go. */
      while (run < length && !is_markup (text[run]) && text[run] != '\n' && text[run] != '\r')
        run++;
      g_string_append_len (out, text + i, run - i);
      i = run;
      if (i >= length)
        break;
      if (text[i] == '\n' || text[i] == '\r')
        {
          g_string_append_c (out, '[');
          while (i < length && (text[i] == '\n' || text[i] == '\r'))
            g_string_append_c (out, text[i++]);
          g_string_append_c (out, ']');
          continue;
        }
      g_string_append_c (out, '\\');
      g_string_append_c (out, text[i++]);
    }
  /* The analyser holds a word back until it sees what follows it: a blank
   * at the end makes it give the last word (a sentence's full stop) before
   * the flush. */
  g_string_append (out, "[]");
}

char *
apertium_reformat (const char *stream, gsize length, gsize *out_length)
{
  GString *out = g_string_sized_new (length);
  gboolean in_superblank = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      char c = stream[i];

      if (c == '\\' && i + 1 < length)
        {
          g_string_append_c (out, stream[++i]);
          continue;
        }
      if (!in_superblank && c == '[')
        {
          in_superblank = TRUE;
          continue;
        }
      if (in_superblank && c == ']')
        {
          in_superblank = FALSE;
          continue;
        }
      g_string_append_c (out, c);
    }
  *out_length = out->len;
  return g_string_free (out, FALSE);
}
