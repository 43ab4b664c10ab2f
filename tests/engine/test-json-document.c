/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-json-document.c: one JSON document per text. */

#include "sutra-json-document.h"

#include <string.h>

typedef struct
{
  const char *name;
  const char *text;
  gssize length;
  const char *refused_at; /* NULL: loads; "": json-glib refuses it; else "LINE:COLUMN" */
} DocumentCase;

static const DocumentCase document_cases[] = {
  { "object", "{\"a\": 1}", -1, NULL },
  { "white-space-after", "{\"a\": 1}  \r\n\t", -1, NULL },
  { "c-comment-after", "{\"a\": 1} /* { */", -1, NULL },
  { "slash-comment-after", "{\"a\": 1} /x {/", -1, NULL },
  { "comment-inside", "{\"a\": /* } */ 1}", -1, NULL },
  { "slash-comment-inside", "{\"a\": /]/ 1}", -1, NULL },
  { "comment-before", "/* [ */ {\"a\": 1}", -1, NULL },
  { "brackets-in-strings", "{\"a\": \"}{\\\"]\", \"b\": [\"[\"]}", -1, NULL },
  { "scalar", "true", -1, NULL },
  { "string", "\"s\"", -1, NULL },
  { "number-with-space", " 12 ", -1, NULL },
  { "length-stops-before-the-second", "{\"a\": 1}{\"b\": 2}", 8, NULL },
  { "object-then-object", "{\"a\": 1}{\"b\": 2}", -1, "1:9" },
  { "scalar-then-object", "false{\"a\": 1}", -1, "1:6" },
  { "string-then-array", "\"s\" [1]", -1, "1:5" },
  { "array-then-object-next-line", "[1]\n  {\"a\": 1}", -1, "2:3" },
  { "second-after-a-comment", "{\"a\": 1} /x/ {\"b\": 2}", -1, "1:14" },
  { "columns-count-characters", "{\"ā\": 1} 2", -1, "1:10" },
  { "scalar-then-scalar", "1 2", -1, "1:3" },
  { "truncated", "{\"a\": ", -1, "" },
  { "closer-first", "]{", -1, "" },
  { "unterminated-string", "{\"a", -1, "" },
  { "unterminated-comment", "{\"a\": 1} /* x", -1, "" },
};

static void
test_json_document_case (gconstpointer data)
{
  const DocumentCase *c = data;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  gboolean ok = sutra_json_parser_load_document (parser, c->text, c->length, &error);

  if (c->refused_at == NULL)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_nonnull (json_parser_get_root (parser));
      return;
    }
  g_assert_false (ok);
  g_assert_nonnull (error);
  if (c->refused_at[0] == '\0')
    {
      /* json-glib's own error, not the trailing-data one. */
      g_assert_null (strstr (error->message, "more data after"));
      return;
    }
  {
    g_autofree char *where = g_strdup_printf ("<data>:%s: ", c->refused_at);

    g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE);
    g_assert_true (g_str_has_prefix (error->message, where));
    g_assert_nonnull (strstr (error->message, "exactly one value"));
  }
}

static void
test_json_document_deep_nesting_is_a_loop (void)
{
  /* The check itself does not recurse: a million brackets, closed, then a
   * second document, are refused by the check before json-glib sees them. */
  gsize depth = 1000000;
  g_autoptr (GString) text = g_string_sized_new (2 * depth + 8);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; i < depth; i++)
    g_string_append_c (text, '[');
  for (gsize i = 0; i < depth; i++)
    g_string_append_c (text, ']');
  g_string_append (text, "[1]");
  g_assert_false (sutra_json_parser_load_document (parser, text->str, text->len, &error));
  g_assert_error (error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_summary ("sutra_json_parser_load_document() loads text holding one JSON value and "
                  "refuses, with its line and column, anything after it (json-glib 1.6 "
                  "would keep the first value, leak the second and succeed)");
  for (guint i = 0; i < G_N_ELEMENTS (document_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/json-document/%s", document_cases[i].name);

      g_test_add_data_func (path, &document_cases[i], test_json_document_case);
    }
  g_test_add_func ("/engine/json-document/deep-nesting-is-a-loop",
                   test_json_document_deep_nesting_is_a_loop);
  return g_test_run ();
}
