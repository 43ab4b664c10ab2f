/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A position-tracking pass over JSON text, for validation messages. */

#include "sutra-json-locations.h"

struct _SutraJsonLocations
{
  GHashTable *positions; /* path -> (line << 32 | column) */
};

typedef struct
{
  const char *text;
  gsize length;
  gsize offset;
  guint line;
  guint column;
} Scanner;

typedef struct
{
  gboolean is_object;
  guint index;   /* array element index */
  char *base;    /* path of the container */
  char *pending; /* object: path of the member whose value comes next */
} Frame;

static void
advance (Scanner *scanner)
{
  if (scanner->text[scanner->offset] == '\n')
    {
      scanner->line++;
      scanner->column = 1;
    }
  /* Count characters, not bytes: skip UTF-8 continuation bytes. */
  else if (((guchar) scanner->text[scanner->offset] & 0xC0) != 0x80)
    scanner->column++;
  scanner->offset++;
}

static int
hex_value (char c)
{
  return g_ascii_isxdigit (c) ? g_ascii_xdigit_value (c) : -1;
}

/* Reads four hex digits after "\u"; returns -1 when they are not there. */
static gint32
read_hex4 (Scanner *scanner)
{
  gint32 value = 0;

  for (int i = 0; i < 4; i++)
    {
      int digit;

      if (scanner->offset >= scanner->length ||
          (digit = hex_value (scanner->text[scanner->offset])) < 0)
        return -1;
      value = value * 16 + digit;
      advance (scanner);
    }
  return value;
}

/* Reads a string token starting at the opening quote; returns its value
 * with the escapes decoded, as json-glib gives member names, so that a key
 * such as "r\u00e9sum\u00e9" is found under its real name. */
static char *
read_string (Scanner *scanner)
{
  GString *value = g_string_new (NULL);

  advance (scanner); /* opening quote */
  while (scanner->offset < scanner->length && scanner->text[scanner->offset] != '"')
    {
      char c = scanner->text[scanner->offset];

      advance (scanner);
      if (c != '\\' || scanner->offset >= scanner->length)
        {
          g_string_append_c (value, c);
          continue;
        }
      c = scanner->text[scanner->offset];
      advance (scanner);
      switch (c)
        {
        case 'b':
          g_string_append_c (value, '\b');
          break;
        case 'f':
          g_string_append_c (value, '\f');
          break;
        case 'n':
          g_string_append_c (value, '\n');
          break;
        case 'r':
          g_string_append_c (value, '\r');
          break;
        case 't':
          g_string_append_c (value, '\t');
          break;
        case 'u':
          {
            gint32 unit = read_hex4 (scanner);

            /* A surrogate pair: "\ud83d\ude00". */
            if (unit >= 0xD800 && unit < 0xDC00 && scanner->offset + 1 < scanner->length &&
                scanner->text[scanner->offset] == '\\' && scanner->text[scanner->offset + 1] == 'u')
              {
                gint32 low;

                advance (scanner);
                advance (scanner);
                low = read_hex4 (scanner);
                if (low >= 0xDC00 && low < 0xE000)
                  unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
              }
            if (unit > 0)
              g_string_append_unichar (value, (gunichar) unit);
            break;
          }
        default: /* '"', '\\', '/' */
          g_string_append_c (value, c);
          break;
        }
    }
  if (scanner->offset < scanner->length)
    advance (scanner); /* closing quote */
  return g_string_free (value, FALSE);
}

/* Skips a comment starting at "/": json-glib accepts C and C++ comments,
 * and a brace or quote inside one must not count. */
static void
skip_comment (Scanner *scanner)
{
  const char *text = scanner->text;

  if (scanner->offset + 1 >= scanner->length)
    {
      advance (scanner);
      return;
    }
  if (text[scanner->offset + 1] == '/')
    {
      while (scanner->offset < scanner->length && text[scanner->offset] != '\n')
        advance (scanner);
      return;
    }
  if (text[scanner->offset + 1] != '*')
    {
      advance (scanner);
      return;
    }
  advance (scanner);
  advance (scanner);
  while (scanner->offset < scanner->length &&
         !(text[scanner->offset] == '*' && scanner->offset + 1 < scanner->length &&
           text[scanner->offset + 1] == '/'))
    advance (scanner);
  if (scanner->offset < scanner->length)
    {
      advance (scanner);
      advance (scanner);
    }
}

static void
frame_clear (Frame *frame)
{
  g_free (frame->base);
  g_free (frame->pending);
}

/* The path of the value about to start inside @frame. */
static char *
value_path (Frame *frame)
{
  if (frame == NULL)
    return g_strdup ("");
  if (frame->is_object)
    return g_strdup (frame->pending != NULL ? frame->pending : frame->base);
  return g_strdup_printf ("%s/%u", frame->base, frame->index);
}

SutraJsonLocations *
sutra_json_locations_new (const char *text, gsize length)
{
  SutraJsonLocations *locations = g_new0 (SutraJsonLocations, 1);
  Scanner scanner = { text, length, 0, 1, 1 };
  g_autoptr (GArray) stack = g_array_new (FALSE, TRUE, sizeof (Frame));
  gboolean expect_key = FALSE;

  g_array_set_clear_func (stack, (GDestroyNotify) frame_clear);
  locations->positions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  while (scanner.offset < scanner.length)
    {
      char c = text[scanner.offset];
      Frame *top = stack->len > 0 ? &g_array_index (stack, Frame, stack->len - 1) : NULL;

      switch (c)
        {
        case '{':
        case '[':
          {
            Frame frame = { c == '{', 0, value_path (top), NULL };

            g_array_append_val (stack, frame);
            expect_key = c == '{';
            advance (&scanner);
            break;
          }
        case '}':
        case ']':
          if (stack->len > 0)
            g_array_set_size (stack, stack->len - 1);
          expect_key = FALSE;
          advance (&scanner);
          break;
        case ',':
          if (top != NULL)
            {
              if (top->is_object)
                expect_key = TRUE;
              else
                top->index++;
            }
          advance (&scanner);
          break;
        case '"':
          {
            guint line = scanner.line, column = scanner.column;
            g_autofree char *value = read_string (&scanner);

            if (expect_key && top != NULL && top->is_object)
              {
                char *path = g_strdup_printf ("%s/%s", top->base, value);

                g_free (top->pending);
                top->pending = g_strdup (path);
                g_hash_table_replace (locations->positions, path,
                                      GSIZE_TO_POINTER (((gsize) line << 32) | column));
                expect_key = FALSE;
              }
            break;
          }
        case '/':
          skip_comment (&scanner);
          break;
        default:
          advance (&scanner);
          break;
        }
    }
  return locations;
}

void
sutra_json_locations_free (SutraJsonLocations *locations)
{
  if (locations == NULL)
    return;
  g_hash_table_unref (locations->positions);
  g_free (locations);
}

gboolean
sutra_json_locations_lookup (const SutraJsonLocations *locations,
                             const char *path,
                             guint *line,
                             guint *column)
{
  gpointer value;

  if (!g_hash_table_lookup_extended (locations->positions, path, NULL, &value))
    return FALSE;
  *line = (guint) (GPOINTER_TO_SIZE (value) >> 32);
  *column = (guint) (GPOINTER_TO_SIZE (value) & 0xffffffffu);
  return TRUE;
}
