/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-json-locations.c: the line and column of each key. */

#include "sutra-json-locations.h"

typedef struct
{
  const char *name;
  const char *text;
  const char *path;
  guint line; /* 0: the path must not be found */
  guint column;
} LocationCase;

static const LocationCase location_cases[] = {
  { "top-level", "{\"a\": 1}", "/a", 1, 2 },
  { "second-line", "{\n  \"a\": 1,\n  \"b\": 2\n}", "/b", 3, 3 },
  { "nested", "{\"s\": {\"x\": {\"k\": true}}}", "/s/x/k", 1, 14 },
  { "object-in-array", "{\"a\": [1, {\"b\": 2}, {\"c\": 3}]}", "/a/2/c", 1, 22 },
  { "array-in-array", "{\"a\": [[0], [1, {\"d\": 0}]]}", "/a/1/1/d", 1, 18 },
  { "after-a-nested-object", "{\"a\": {\"b\": 1}, \"c\": 2}", "/c", 1, 17 },
  { "braces-in-a-string", "{\"a\": \"{[,\\\"}\", \"b\": 1}", "/b", 1, 17 },
  { "string-values-are-not-keys", "{\"a\": \"b\", \"c\": \"d\"}", "/b", 0, 0 },
  { "key-with-escaped-quote", "{\"a\\\"b\": {\"x\": 1}}", "/a\"b/x", 1, 11 },
  { "key-with-unicode-escape", "{\"r\\u00e9sum\\u00e9\": 1}", "/résumé", 1, 2 },
  { "key-with-surrogate-pair", "{\"\\ud83d\\ude00\": {\"k\": 1}}", "/😀/k", 1, 19 },
  { "key-with-backslash", "{\"a\\\\\": 1, \"b\": 2}", "/b", 1, 12 },
  { "columns-count-characters", "{\"ā\": \"dhātu\", \"b\": 1}", "/b", 1, 16 },
  { "tabs-count-one", "{\t\"a\": 1}", "/a", 1, 3 },
  { "crlf-line-ends", "{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}", "/b", 3, 3 },
  { "block-comment", "{\n  /* { [ \" */\n  \"a\": {\"b\": 1}\n}", "/a/b", 3, 9 },
  { "slash-to-slash-comment", "{\n  / \"x\": { /\n  \"a\": 1\n}", "/a", 3, 3 },
  /* json-glib (up to 1.8) reads "//" as an empty comment and what follows
   * as JSON; so must the scanner, or its depth check could be fooled. */
  { "double-slash-is-an-empty-comment", "{\"a\": //\n {\"b\": 1}}", "/a/b", 2, 3 },
  { "single-quoted-key", "{'a': {'b\\': 1}, \"c\": 2}", "/c", 1, 18 },
  { "array-element", "{\"a\": [1,\n  \"two\", {\"b\": 3}]}", "/a/1", 2, 3 },
  { "empty-array-has-no-element", "{\"a\": []}", "/a/0", 0, 0 },
  { "key-with-a-slash", "{\"a/b\": {\"c\": 1}}", "/a/b/c", 1, 10 },
  { "comment-looking-text-in-a-string", "{\"a\": \"/* no */\", \"b\": 1}", "/b", 1, 19 },
  { "duplicate-key-last-wins", "{\"a\": 1,\n \"a\": 2}", "/a", 2, 2 },
  { "missing", "{\"a\": 1}", "/b", 0, 0 },
  { "not-the-container", "{\"a\": {\"b\": 1}}", "/a/c", 0, 0 },
  { "truncated-text", "{\"a\": {\"b\": ", "/a/b", 1, 8 },
};

static void
test_json_locations_lookup (gconstpointer data)
{
  const LocationCase *row = data;
  g_autoptr (SutraJsonLocations) locations =
    sutra_json_locations_new (row->text, strlen (row->text));
  guint line = 0, column = 0;
  gboolean found;

  g_test_summary ("Each member's key is found at its 1-based line and column, in "
                  "characters, whatever strings, escapes and comments come before it");
  found = sutra_json_locations_lookup (locations, row->path, &line, &column);
  if (row->line == 0)
    {
      g_assert_false (found);
      return;
    }
  g_assert_true (found);
  g_assert_cmpuint (line, ==, row->line);
  g_assert_cmpuint (column, ==, row->column);
}

static void
test_json_locations_every_key (void)
{
  static const char text[] = "{\n"
                             "  \"sutra\": 1,\n"
                             "  \"stages\": {\n"
                             "    \"read\": { \"plugin\": \"text-source\" },\n"
                             "    \"pass\": { \"plugin\": \"identity\", \"input\": \"read\" }\n"
                             "  }\n"
                             "}\n";
  static const struct
  {
    const char *path;
    guint line, column;
  } keys[] = {
    { "/sutra", 2, 3 },
    { "/stages", 3, 3 },
    { "/stages/read", 4, 5 },
    { "/stages/read/plugin", 4, 15 },
    { "/stages/pass", 5, 5 },
    { "/stages/pass/plugin", 5, 15 },
    { "/stages/pass/input", 5, 37 },
  };
  g_autoptr (SutraJsonLocations) locations = sutra_json_locations_new (text, sizeof text - 1);

  g_test_summary ("A pipeline file: every key is recorded under its path");
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      guint line = 0, column = 0;

      g_test_message ("%s", keys[i].path);
      g_assert_true (sutra_json_locations_lookup (locations, keys[i].path, &line, &column));
      g_assert_cmpuint (line, ==, keys[i].line);
      g_assert_cmpuint (column, ==, keys[i].column);
    }
}

static void
test_json_locations_length_bounds (void)
{
  static const char text[] = "{\"a\": 1}{\"b\": 2}";
  g_autoptr (SutraJsonLocations) locations = sutra_json_locations_new (text, 8);
  guint line, column;

  g_test_summary ("Only the given length is scanned: the text need not end with a NUL");
  g_assert_true (sutra_json_locations_lookup (locations, "/a", &line, &column));
  g_assert_false (sutra_json_locations_lookup (locations, "/b", &line, &column));
}

typedef struct
{
  const char *name;
  const char *text;
  guint max_depth;
  guint line; /* 0: within the limit */
  guint column;
} DepthCase;

static const DepthCase depth_cases[] = {
  { "flat", "{\"a\": 1}", 1, 0, 0 },
  { "at-the-limit", "{\"a\": [[1]]}", 3, 0, 0 },
  { "one-past", "{\"a\": [[1]]}", 2, 1, 8 },
  { "first-place-past", "[[0],\n [[1], [[2]]]]", 3, 2, 9 },
  { "siblings-do-not-add-up", "[[], [], [[]], {}]", 3, 0, 0 },
  { "brackets-in-strings", "[\"[[[[\", \"\\\"[[[[\"]", 1, 0, 0 },
  { "brackets-in-comments", "[/* [[[[ */ 1]", 1, 0, 0 },
  /* What json-glib reads as structure counts, comment-looking or not. */
  { "brackets-after-double-slash", "[// [[\n 1]", 1, 1, 5 },
  { "closers-in-strings-do-not-count", "[\"]]]]\", [[1]]]", 2, 1, 11 },
  { "unbalanced-closers", "]]]][[", 1, 1, 6 },
  { "truncated", "[[[[", 3, 1, 4 },
};

static void
test_json_locations_depth (gconstpointer data)
{
  const DepthCase *row = data;
  guint line = 0, column = 0;
  gboolean ok;

  g_test_summary ("sutra_json_check_depth refuses a text nested deeper than the limit, "
                  "at the first bracket past it, counting only what json-glib reads as "
                  "structure");
  ok = sutra_json_check_depth (row->text, strlen (row->text), row->max_depth, &line, &column);
  if (row->line == 0)
    {
      g_assert_true (ok);
      return;
    }
  g_assert_false (ok);
  g_assert_cmpuint (line, ==, row->line);
  g_assert_cmpuint (column, ==, row->column);
}

static char *
nested (const char *open, const char *inner, const char *close, guint depth)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < depth; i++)
    g_string_append (text, open);
  g_string_append (text, inner);
  for (guint i = 0; i < depth; i++)
    g_string_append (text, close);
  return g_string_free (text, FALSE);
}

static void
test_json_locations_deep_nesting (void)
{
  /* 100,000 arrays crashed json-glib's parser (stack overflow) and 40,000
   * objects took the old scanner, which copied every ancestor's path into
   * each key's, more than 20 s. */
  g_autofree char *arrays = nested ("[", "1", "]", 100000);
  g_autofree char *objects = nested ("{\"k\": ", "1", "}", 100000);
  g_autoptr (SutraJsonLocations) locations = NULL;
  g_autoptr (GString) path = g_string_new (NULL);
  guint line = 0, column = 0;

  g_test_bug ("15");
  g_test_summary ("Deep nesting: the check stops at the first bracket past the limit, and "
                  "the scanner, without a limit, records every level without recursion");
  g_assert_false (
    sutra_json_check_depth (arrays, strlen (arrays), SUTRA_JSON_MAX_DEPTH, &line, &column));
  g_assert_cmpuint (line, ==, 1);
  g_assert_cmpuint (column, ==, SUTRA_JSON_MAX_DEPTH + 1);
  g_assert_false (
    sutra_json_check_depth (objects, strlen (objects), SUTRA_JSON_MAX_DEPTH, &line, &column));
  g_assert_cmpuint (column, ==, 6 * SUTRA_JSON_MAX_DEPTH + 1);
  g_assert_true (sutra_json_check_depth (objects, strlen (objects), 100000, &line, &column));

  locations = sutra_json_locations_new (objects, strlen (objects));
  for (guint i = 0; i < 100000; i++)
    g_string_append (path, "/k");
  g_assert_true (sutra_json_locations_lookup (locations, path->str, &line, &column));
  g_assert_cmpuint (line, ==, 1);
  g_assert_cmpuint (column, ==, 6 * 99999 + 2);
}

static void
test_json_locations_position_at (void)
{
  static const char text[] = "{\n  \"ā\": 1,\n  \"b\": 2\n}";
  guint line = 0, column = 0;

  g_test_summary ("A byte offset's line and column, counting characters");
  sutra_json_position_at (text, 0, &line, &column);
  g_assert_cmpuint (line, ==, 1);
  g_assert_cmpuint (column, ==, 1);
  sutra_json_position_at (text, strchr (text, '1') - text, &line, &column);
  g_assert_cmpuint (line, ==, 2);
  g_assert_cmpuint (column, ==, 8);
  sutra_json_position_at (text, strchr (text, 'b') - text, &line, &column);
  g_assert_cmpuint (line, ==, 3);
  g_assert_cmpuint (column, ==, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (location_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/json-locations/lookup/%s", location_cases[i].name);
      g_test_add_data_func (path, &location_cases[i], test_json_locations_lookup);
    }
  g_test_add_func ("/engine/json-locations/every-key", test_json_locations_every_key);
  g_test_add_func ("/engine/json-locations/length-bounds", test_json_locations_length_bounds);
  for (gsize i = 0; i < G_N_ELEMENTS (depth_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/json-locations/depth/%s", depth_cases[i].name);
      g_test_add_data_func (path, &depth_cases[i], test_json_locations_depth);
    }
  g_test_add_func ("/engine/json-locations/deep-nesting", test_json_locations_deep_nesting);
  g_test_add_func ("/engine/json-locations/position-at", test_json_locations_position_at);

  return g_test_run ();
}
