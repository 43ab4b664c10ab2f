/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/jsonl-sink through the real loader and the harness: metadata numbers, escaping.
 */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include <glib/gstdio.h>
#include <string.h>

static SutraRegistry *registry;

static void
test_jsonl_sink_meta_numbers (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "work", NULL);
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *params = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) pushed = NULL;
  g_autoptr (GError) error = NULL;
  SutraItem *item;
  JsonObject *meta;

  g_test_summary ("Metadata numbers are written as the shortest decimals that read back the "
                  "same (0.1, not 0.10000000000000001); integers and strings as they are");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  params = g_strdup_printf ("{\"path\": \"%s\"}", path);
  harness = sutra_harness_new (registry, "jsonl-sink", params, &error);
  g_assert_no_error (error);
  item = sutra_item_new_root ("a", 0, SUTRA_MEDIA_TEXT_PLAIN, g_bytes_new_static ("x", 1));
  meta = sutra_item_ensure_meta (item);
  json_object_set_double_member (meta, "score", 0.1);
  json_object_set_double_member (meta, "seconds", 1.0 / 3);
  /* json-glib 1.6 wrote this one "1e+20.0", which no JSON reader takes. */
  json_object_set_double_member (meta, "big", 1e20);
  json_object_set_double_member (meta, "whole", 2);
  json_object_set_int_member (meta, "count", 12345678901234567);
  json_object_set_string_member (meta, "note", "0.10000000000000001");
  pushed = sutra_harness_process (harness, &item, 1, &error);
  g_assert_no_error (error);
  sutra_harness_finish (harness, &error);
  g_assert_no_error (error);
  sutra_item_unref (item);

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (
    contents, ==,
    "{\"id\":\"a\",\"meta\":{\"score\":0.1,\"seconds\":0.3333333333333333,"
    "\"big\":1e+20,\"whole\":2.0,\"count\":12345678901234567,\"note\":\"0.10000000000000001\"},"
    "\"text\":\"x\"}\n");
}

static void
test_jsonl_sink_escaping (void)
{
  static const char text[] = "q\"b\\t\tn\nr\rc\001d\037\303\251\342\202\254\360\237\230\200"
                             "\377\342\202";
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "work", NULL);
  g_autofree char *path = g_build_filename (dir, "escaped.jsonl", NULL);
  g_autofree char *params = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  SutraItem *items[3];

  g_test_summary ("Text is written as JSON strings: quotes, backslashes and controls "
                  "escaped, valid UTF-8 as it is, each invalid byte as U+FFFD; other "
                  "payloads as their media type and size");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  params = g_strdup_printf ("{\"path\": \"%s\"}", path);
  harness = sutra_harness_new (registry, "jsonl-sink", params, &error);
  g_assert_no_error (error);
  items[0] = sutra_item_new_root_from_data ("a\"b", 0, NULL, text, sizeof text - 1);
  items[1] = sutra_item_new_root ("m", 1, "text/markdown", g_bytes_new_static ("# h", 3));
  items[2] = sutra_item_new_root_from_data ("f", 2, SUTRA_MEDIA_AUDIO_F32, "\0\0\0\0", 4);
  g_ptr_array_unref (sutra_harness_process (harness, items, 3, &error));
  g_assert_no_error (error);
  sutra_harness_finish (harness, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (items); i++)
    sutra_item_unref (items[i]);

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==,
                   "{\"id\":\"a\\\"b\",\"text\":\"q\\\"b\\\\t\\tn\\nr\\rc\\u0001d\\u001f"
                   "\303\251\342\202\254\360\237\230\200"
                   "\357\277\275\357\277\275\357\277\275\"}\n"
                   "{\"id\":\"m\",\"media_type\":\"text/markdown\",\"text\":\"# h\"}\n"
                   "{\"id\":\"f\",\"media_type\":\"audio/x-raw-f32\",\"size\":4}\n");
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

  g_test_add_func ("/plugins/jsonl-sink/meta-numbers", test_jsonl_sink_meta_numbers);
  g_test_add_func ("/plugins/jsonl-sink/escaping", test_jsonl_sink_escaping);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
