/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A position-tracking pass over JSON text, for validation messages and limits. */

#include "sutra-json-locations.h"

#include <json-glib/json-glib.h>
#include <string.h>

/*
 * The scanner must read structure exactly where json-glib does: a bracket it
 * skipped as part of a string or a comment that json-glib reads as structure
 * would let a text pass the depth check and still nest json-glib's
 * recursive parser into a stack overflow. json-glib up to 1.8 tokenizes with
 * a copy of GScanner set up so that a comment runs from one "/" to the next
 * (a C block comment works unless it holds a slash; "//" is an empty
 * comment, and the line after it is read) and single quotes delimit strings
 * too (without escapes). Its rewritten tokenizer (1.9 and later) reads C
 * block comments to their end and only double-quoted strings.
 */
#if JSON_CHECK_VERSION(1, 9, 0)
#define BLOCK_COMMENTS TRUE
#define SINGLE_QUOTED_STRINGS FALSE
#else
#define BLOCK_COMMENTS FALSE
#define SINGLE_QUOTED_STRINGS TRUE
#endif

typedef struct
{
  guint line;
  guint column;
  guint child; /* the container the member's value opens; 0: none */
} Entry;

struct _SutraJsonLocations
{
  /* "CONTAINER/KEY" -> index into entries + 1. Containers are numbered,
   * the outermost is 1, so each key is stored once, not under a full path
   * that would repeat its ancestors' names (quadratic under nesting). */
  GHashTable *index;
  GArray *entries;
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
  guint id;
  gboolean is_object;
  gboolean expect_key;     /* object: the next string is a member's key */
  gboolean expect_element; /* array: the next value starts element "index" */
  guint index;
  gint entry; /* the member or element whose value comes next; -1: none */
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

static void
decode_escape (Scanner *scanner, char c, GString *value)
{
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

/* Reads a string token starting at its opening @quote. With @value
 * (nullable), decodes the escapes into it, as json-glib gives member names,
 * so that a key such as "r\u00e9sum\u00e9" is found under its real name.
 * Single-quoted strings have no escapes. */
static void
read_string (Scanner *scanner, char quote, GString *value)
{
  advance (scanner); /* opening quote */
  while (scanner->offset < scanner->length && scanner->text[scanner->offset] != quote)
    {
      char c = scanner->text[scanner->offset];

      advance (scanner);
      if (c != '\\' || quote != '"' || scanner->offset >= scanner->length)
        {
          if (value != NULL)
            g_string_append_c (value, c);
          continue;
        }
      c = scanner->text[scanner->offset];
      advance (scanner);
      if (value != NULL)
        decode_escape (scanner, c, value);
    }
  if (scanner->offset < scanner->length)
    advance (scanner); /* closing quote */
}

/* Skips a comment starting at "/", as json-glib does (see the top). */
static void
skip_comment (Scanner *scanner)
{
  const char *text = scanner->text;

  if (BLOCK_COMMENTS && scanner->offset + 1 < scanner->length && text[scanner->offset + 1] == '*')
    {
      advance (scanner);
      advance (scanner);
      while (scanner->offset < scanner->length &&
             !(text[scanner->offset] == '*' && scanner->offset + 1 < scanner->length &&
               text[scanner->offset + 1] == '/'))
        advance (scanner);
      if (scanner->offset < scanner->length)
        advance (scanner);
      if (scanner->offset < scanner->length)
        advance (scanner);
      return;
    }
  advance (scanner);
  while (scanner->offset < scanner->length && text[scanner->offset] != '/')
    advance (scanner);
  if (scanner->offset < scanner->length)
    advance (scanner);
}

static gint
add_entry (SutraJsonLocations *locations,
           guint container,
           const char *key,
           guint line,
           guint column)
{
  Entry entry = { line, column, 0 };

  g_array_append_val (locations->entries, entry);
  g_hash_table_replace (locations->index, g_strdup_printf ("%u/%s", container, key),
                        GUINT_TO_POINTER (locations->entries->len));
  return (gint) locations->entries->len - 1;
}

/* The one pass behind both the depth check (@locations NULL: nothing is
 * recorded) and the locations. Returns FALSE, with the position of the
 * bracket, when a container opens deeper than @max_depth. */
static gboolean
scan (const char *text,
      gsize length,
      guint max_depth,
      SutraJsonLocations *locations,
      guint *bad_line,
      guint *bad_column)
{
  Scanner scanner = { text, length, 0, 1, 1 };
  g_autoptr (GArray) stack = g_array_new (FALSE, TRUE, sizeof (Frame));
  g_autoptr (GString) key = locations != NULL ? g_string_new (NULL) : NULL;
  guint next_id = 2;

  while (scanner.offset < scanner.length)
    {
      char c = text[scanner.offset];
      Frame *top = stack->len > 0 ? &g_array_index (stack, Frame, stack->len - 1) : NULL;

      if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
        {
          advance (&scanner);
          continue;
        }
      if (c == '/')
        {
          skip_comment (&scanner);
          continue;
        }
      if (top != NULL && top->expect_element && c != ']')
        {
          top->expect_element = FALSE;
          if (locations != NULL)
            {
              g_autofree char *index = g_strdup_printf ("%u", top->index);
              top->entry = add_entry (locations, top->id, index, scanner.line, scanner.column);
            }
        }
      switch (c)
        {
        case '{':
        case '[':
          {
            Frame frame = { top != NULL ? next_id++ : 1, c == '{', c == '{', c == '[', 0, -1 };

            if (stack->len >= max_depth)
              {
                *bad_line = scanner.line;
                *bad_column = scanner.column;
                return FALSE;
              }
            if (top != NULL)
              {
                if (locations != NULL && top->entry >= 0)
                  g_array_index (locations->entries, Entry, top->entry).child = frame.id;
                top->entry = -1;
              }
            g_array_append_val (stack, frame); /* moves @top */
            advance (&scanner);
            break;
          }
        case '}':
        case ']':
          if (stack->len > 0)
            g_array_set_size (stack, stack->len - 1);
          advance (&scanner);
          break;
        case ',':
          if (top != NULL)
            {
              if (top->is_object)
                top->expect_key = TRUE;
              else
                {
                  top->index++;
                  top->expect_element = TRUE;
                }
              top->entry = -1;
            }
          advance (&scanner);
          break;
        case '\'':
        case '"':
          {
            guint line = scanner.line, column = scanner.column;
            gboolean is_key = top != NULL && top->is_object && top->expect_key;

            if (c == '\'' && !SINGLE_QUOTED_STRINGS)
              {
                advance (&scanner);
                break;
              }
            if (key != NULL)
              g_string_truncate (key, 0);
            read_string (&scanner, c, is_key ? key : NULL);
            if (is_key)
              {
                top->expect_key = FALSE;
                if (locations != NULL)
                  top->entry = add_entry (locations, top->id, key->str, line, column);
              }
            break;
          }
        default:
          advance (&scanner);
          break;
        }
    }
  return TRUE;
}

SutraJsonLocations *
sutra_json_locations_new (const char *text, gsize length)
{
  SutraJsonLocations *locations = g_new0 (SutraJsonLocations, 1);
  guint line, column;

  locations->index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  locations->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  scan (text, length, G_MAXUINT, locations, &line, &column);
  return locations;
}

void
sutra_json_locations_free (SutraJsonLocations *locations)
{
  if (locations == NULL)
    return;
  g_hash_table_unref (locations->index);
  g_array_unref (locations->entries);
  g_free (locations);
}

gboolean
sutra_json_locations_lookup (const SutraJsonLocations *locations,
                             const char *path,
                             guint *line,
                             guint *column)
{
  guint container = 1;
  const char *p;

  if (path[0] != '/')
    return FALSE;
  p = path + 1;
  while (TRUE)
    {
      const Entry *entry = NULL;
      const char *end = p;

      /* A key may hold a "/" itself: try "a", then "a/b" ... */
      while (entry == NULL)
        {
          g_autofree char *name = NULL;
          gpointer found;

          end = strchr (end, '/');
          if (end == NULL)
            end = p + strlen (p);
          name = g_strdup_printf ("%u/%.*s", container, (int) (end - p), p);
          found = g_hash_table_lookup (locations->index, name);
          if (found != NULL)
            entry = &g_array_index (locations->entries, Entry, GPOINTER_TO_UINT (found) - 1);
          else if (*end == '\0')
            return FALSE;
          else
            end++;
        }
      if (*end == '\0')
        {
          *line = entry->line;
          *column = entry->column;
          return TRUE;
        }
      if (entry->child == 0)
        return FALSE;
      container = entry->child;
      p = end + 1;
    }
}

gboolean
sutra_json_check_depth (const char *text, gsize length, guint max_depth, guint *line, guint *column)
{
  return scan (text, length, max_depth, NULL, line, column);
}

void
sutra_json_position_at (const char *text, gsize offset, guint *line, guint *column)
{
  Scanner scanner = { text, offset, 0, 1, 1 };

  while (scanner.offset < offset)
    advance (&scanner);
  *line = scanner.line;
  *column = scanner.column;
}
