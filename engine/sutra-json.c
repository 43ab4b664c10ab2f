/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Numbers and JSON written for people: the shortest decimal that reads back the same. */

#include "sutra/sutra-json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The exponent range written without an exponent: 0.000001 and
 * 12345678901234567 read well; 1e-7 and 1e+17 read better as they are (and
 * a 19-digit integer would not fit the int64 a JSON reader may take it as). */
#define FIXED_MIN_EXPONENT (-6)
#define FIXED_MAX_EXPONENT 16

const char *
sutra_format_double (char *buffer, double value)
{
  char scientific[SUTRA_DOUBLE_BUFFER_SIZE];
  char digits[SUTRA_DOUBLE_BUFFER_SIZE];
  gsize n_digits = 0;
  const char *p;
  int exponent;
  GString *out;

  if (!isfinite (value))
    return strcpy (buffer, isnan (value) ? "nan" : value > 0 ? "inf" : "-inf");
  if (value == 0)
    return strcpy (buffer, signbit (value) ? "-0" : "0");

  /* The fewest significant digits that read back as @value: 17 always do
   * (DBL_DECIMAL_DIG), most numbers people write need far fewer. */
  for (int precision = 0; precision < 17; precision++)
    {
      char format[8];

      g_snprintf (format, sizeof format, "%%.%de", precision);
      g_ascii_formatd (scientific, sizeof scientific, format, value);
      if (g_ascii_strtod (scientific, NULL) == value)
        break;
    }

  /* "-1.2345e+20": the digits without the point, and the exponent. */
  p = scientific;
  if (*p == '-')
    p++;
  for (; *p != 'e' && *p != '\0'; p++)
    if (g_ascii_isdigit (*p))
      digits[n_digits++] = *p;
  while (n_digits > 1 && digits[n_digits - 1] == '0')
    n_digits--;
  digits[n_digits] = '\0';
  exponent = *p == 'e' ? atoi (p + 1) : 0;

  out = g_string_sized_new (SUTRA_DOUBLE_BUFFER_SIZE);
  if (value < 0)
    g_string_append_c (out, '-');
  if (exponent < FIXED_MIN_EXPONENT || exponent > FIXED_MAX_EXPONENT)
    {
      g_string_append_c (out, digits[0]);
      if (n_digits > 1)
        g_string_append_printf (out, ".%s", digits + 1);
      g_string_append_printf (out, "e%c%d", exponent < 0 ? '-' : '+', ABS (exponent));
    }
  else if (exponent < 0)
    {
      g_string_append (out, "0.");
      for (int i = -1; i > exponent; i--)
        g_string_append_c (out, '0');
      g_string_append (out, digits);
    }
  else
    {
      for (int i = 0; i <= exponent; i++)
        g_string_append_c (out, (gsize) i < n_digits ? digits[i] : '0');
      if (n_digits > (gsize) exponent + 1)
        g_string_append_printf (out, ".%s", digits + exponent + 1);
    }
  g_strlcpy (buffer, out->str, SUTRA_DOUBLE_BUFFER_SIZE);
  g_string_free (out, TRUE);
  return buffer;
}

/* json-glib's generator has no hook for numbers, so its text is read once
 * more: outside strings, a number with a point or an exponent was a double,
 * and is written again. Integers are left as they are. */
static char *
shorten_numbers (const char *text, gsize length, gsize *out_length)
{
  GString *out = g_string_sized_new (length);
  gsize i = 0;

  while (i < length)
    {
      char c = text[i];

      if (c == '"')
        {
          gsize start = i++;

          while (i < length && text[i] != '"')
            i += text[i] == '\\' ? 2 : 1;
          i = MIN (i + 1, length);
          g_string_append_len (out, text + start, i - start);
        }
      else if (c == '-' || g_ascii_isdigit (c))
        {
          gsize start = i;
          gboolean is_double = FALSE;

          while (i < length && (g_ascii_isdigit (text[i]) || strchr ("+-.eE", text[i]) != NULL))
            is_double |= strchr (".eE", text[i++]) != NULL;
          if (is_double)
            {
              g_autofree char *token = g_strndup (text + start, i - start);
              char buffer[SUTRA_DOUBLE_BUFFER_SIZE];

              /* json-glib 1.6 writes 1e20 as "1e+20.0" (not JSON at all):
               * the number is what strtod reads before the ".0". */
              sutra_format_double (buffer, g_ascii_strtod (token, NULL));
              g_string_append (out, buffer);
              /* A double stays a double for readers that tell them from
               * integers (json-glib, Python): 2.0, not 2. */
              if (strpbrk (buffer, ".eni") == NULL)
                g_string_append (out, ".0");
            }
          else
            g_string_append_len (out, text + start, i - start);
        }
      else
        g_string_append_c (out, text[i++]);
    }
  if (out_length != NULL)
    *out_length = out->len;
  return g_string_free (out, FALSE);
}

/* A generator per thread: sinks write a line of JSON per item, and a
 * GObject per line would cost more than the line. */
static GPrivate thread_generator = G_PRIVATE_INIT (g_object_unref);

char *
sutra_json_to_data (JsonNode *node, gboolean pretty, gsize *length)
{
  JsonGenerator *generator = g_private_get (&thread_generator);
  g_autofree char *text = NULL;
  gsize text_length = 0;

  g_return_val_if_fail (node != NULL, NULL);
  if (generator == NULL)
    {
      generator = json_generator_new ();
      g_private_set (&thread_generator, generator);
    }
  json_generator_set_root (generator, node);
  json_generator_set_pretty (generator, pretty);
  if (pretty)
    json_generator_set_indent (generator, 2);
  text = json_generator_to_data (generator, &text_length);
  json_generator_set_root (generator, NULL); /* keep no copy of @node */
  return shorten_numbers (text, text_length, length);
}
