/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/text-source through the real loader and the harness: JSONL input. */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include <glib/gstdio.h>
#include <string.h>

static SutraRegistry *registry;

/* Runs text-source with format "jsonl" over @contents; returns its items. */
static GPtrArray *
read_jsonl (const char *contents, gsize length, char **path_out, GError **error)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "work", NULL);
  g_autofree char *path = g_build_filename (dir, "in.jsonl", NULL);
  g_autofree char *params = NULL;
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) local = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, contents, length, &local);
  g_assert_no_error (local);
  params = g_strdup_printf ("{\"path\": \"%s\", \"format\": \"jsonl\"}", path);
  harness = sutra_harness_new (registry, "text-source", params, &local);
  g_assert_no_error (local);
  if (path_out != NULL)
    *path_out = g_steal_pointer (&path);
  return sutra_harness_process (harness, NULL, 0, error);
}

static char *
deep_line (guint depth)
{
  GString *line = g_string_new ("{\"id\": \"a\", \"text\": \"x\", \"m\": ");

  for (guint i = 0; i < depth; i++)
    g_string_append_c (line, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (line, ']');
  g_string_append (line, "}\n");
  return g_string_free (line, FALSE);
}

static void
test_text_source_jsonl_deep_line (void)
{
  /* The object is level 1, so 999 arrays reach the limit, 100,000 go past. */
  g_autofree char *at_limit = deep_line (999);
  g_autofree char *crash = deep_line (100000);
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GError) error = NULL;

  g_test_bug ("15");
  g_test_summary ("A JSONL line nested deeper than 1000 levels fails with its file, line, "
                  "column and the limit, before json-glib's recursive parser sees it (100,000 "
                  "levels overflowed the stack); one at the limit is read");
  items = read_jsonl (at_limit, strlen (at_limit), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 1);
  g_clear_pointer (&items, g_ptr_array_unref);

  items = read_jsonl (crash, strlen (crash), &path, &error);
  g_assert_null (items);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  /* "{"id": "a", "text": "x", "m": " is 30 bytes; the 1000th "[" is the 1001st level. */
  expected = g_strdup_printf ("%s:1:%u: invalid JSONL: arrays and objects nested deeper than "
                              "1000 levels",
                              path, 30 + 1000);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_text_source_jsonl_strict (void)
{
  static const struct
  {
    const char *text;
    const char *needle;
  } cases[] = {
    { "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 2, /* c */ \"text\": \"b\"}\n",
      ":2:11: invalid JSONL: “/”" },
    { "{'id': 1, \"text\": \"a\"}\n", ":1:2: invalid JSONL: “'”" },
  };

  g_test_summary ("JSONL is strict JSON: comments and single-quoted strings, which json-glib "
                  "would take, are refused with their position");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GPtrArray) items = NULL;
      g_autoptr (GError) error = NULL;

      items = read_jsonl (cases[i].text, strlen (cases[i].text), NULL, &error);
      g_assert_null (items);
      g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
      g_assert_nonnull (strstr (error->message, cases[i].needle));
    }
}

static void
test_text_source_jsonl_brackets_in_strings (void)
{
  static const char text[] = "{\"id\": \"a\", \"text\": \"[[[[ ]]] \\\" {{ /* '\", \"m\": [1]}\n";
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("Brackets, quotes and slashes inside strings are text, not structure");
  items = read_jsonl (text, strlen (text), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 1);
}

static void
test_text_source_jsonl_one_object_per_line (void)
{
  static const struct
  {
    const char *text;
    const char *needle;
  } cases[] = {
    { "{\"id\": \"a\", \"text\": \"x\"}{\"id\": \"b\", \"text\": \"y\"}\n",
      ":1:25: invalid JSONL: more text after the line's object ended" },
    { "{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"b\", \"text\": \"y\"} 7\n",
      ":2:26: invalid JSONL: more text after the line's object ended" },
    { "{\"id\": \"a\", \"text\": \"x\"} \"z\"\n",
      ":1:26: invalid JSONL: more text after the line's object ended" },
  };
  static const char trailing_space[] = "{\"id\": \"a\", \"text\": \"x\"} \t \r\n";
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A JSONL line holds one object: a second value after it (which json-glib "
                  "would drop without a word) fails with its position; white space after it "
                  "does not");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GPtrArray) refused = NULL;
      g_autoptr (GError) local = NULL;

      refused = read_jsonl (cases[i].text, strlen (cases[i].text), NULL, &local);
      g_assert_null (refused);
      g_assert_error (local, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
      if (strstr (local->message, cases[i].needle) == NULL)
        g_error ("case %" G_GSIZE_FORMAT ": “%s” does not contain “%s”", i, local->message,
                 cases[i].needle);
    }
  items = read_jsonl (trailing_space, strlen (trailing_space), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 1);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  sutra_registry_load_default (registry, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugins/text-source/jsonl-deep-line", test_text_source_jsonl_deep_line);
  g_test_add_func ("/plugins/text-source/jsonl-strict", test_text_source_jsonl_strict);
  g_test_add_func ("/plugins/text-source/jsonl-one-object-per-line",
                   test_text_source_jsonl_one_object_per_line);
  g_test_add_func ("/plugins/text-source/jsonl-brackets-in-strings",
                   test_text_source_jsonl_brackets_in_strings);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
