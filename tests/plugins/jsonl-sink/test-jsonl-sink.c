/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/jsonl-sink through the real loader and the harness: metadata numbers. */

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

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
