/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-harness.c: one stage driven by hand. */

#include "sutra-harness.h"
#include "sutra-test-util.h"

static SutraRegistry *registry;
static char *registry_problem;

static void
test_harness_plugins_load (void)
{
  g_test_summary ("The built-in plugins these tests use load without a problem");
  g_assert_cmpstr (registry_problem, ==, NULL);
}

static void
test_harness_map (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness =
    sutra_harness_new (registry, "identity", "{\"sleep_us\": 1}", &error);
  g_autoptr (SutraItem) a = sutra_item_new_root ("a", 0, NULL, g_bytes_new_static ("x", 1));
  g_autoptr (SutraItem) b = sutra_item_new_root ("b", 1, NULL, NULL);
  SutraItem *items[] = { a, b };
  g_autoptr (GPtrArray) out = NULL;

  g_test_summary ("A map runs through the harness: its outputs come back in order");
  g_assert_no_error (error);
  out = sutra_harness_process (harness, items, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 2);
  g_assert_true (out->pdata[0] == a);
  g_assert_true (out->pdata[1] == b);
  g_clear_pointer (&out, g_ptr_array_unref);
  out = sutra_harness_process (harness, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 0);
  g_assert_true (sutra_harness_finish (harness, &error));
  g_assert_no_error (error);
}

typedef struct
{
  const char *name;
  const char *stage;
  const char *params;
  GQuark (*domain) (void);
  int code;
  const char *needle;
} RefusedCase;

static const RefusedCase refused_cases[] = {
  { "unknown-stage", "nosuch", NULL, sutra_registry_error_quark, SUTRA_REGISTRY_ERROR_NOT_FOUND,
    "no stage named “nosuch”" },
  { "bad-param", "identity", "{\"sleep_us\": -1}", sutra_plugin_error_quark,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "stage “identity”: parameter “sleep_us”: -1 is out" },
  { "unknown-param", "identity", "{\"sleep_ms\": 1}", sutra_plugin_error_quark,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "did you mean “sleep_us”?" },
  { "params-not-an-object", "identity", "[1]", sutra_plugin_error_quark,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "params must be a JSON object" },
  { "params-not-json", "identity", "{", json_parser_error_quark, -1, "" },
  /* 65 levels: refused before json-glib's recursive parser sees them. */
  { "params-too-deep", "identity",
    "{\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    sutra_plugin_error_quark, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
    "params:1:70: nested deeper than 64 levels" },
  { "required-missing", "text-source", "{}", sutra_plugin_error_quark,
    SUTRA_PLUGIN_ERROR_INVALID_INPUT, "required parameter “path” is missing" },
  { "create-fails", "fault", "{\"fail_create\": true}", sutra_plugin_error_quark,
    SUTRA_PLUGIN_ERROR_FAILED, "failing on purpose at creation" },
};

static void
test_harness_refused (gconstpointer data)
{
  const RefusedCase *row = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, row->stage, row->params, &error);

  g_test_summary ("The harness refuses what validation refuses, and a stage that cannot "
                  "start, with the error that says why");
  g_assert_null (harness);
  g_assert_nonnull (error);
  g_assert_true (error->domain == row->domain ());
  if (row->code >= 0)
    g_assert_cmpint (error->code, ==, row->code);
  sutra_assert_contains (error->message, row->needle);
}

static void
test_harness_failure (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness =
    sutra_harness_new (registry, "fault", "{\"fail_on\": \"b\"}", &error);
  g_autoptr (SutraItem) a = sutra_item_new_root ("a", 0, NULL, NULL);
  g_autoptr (SutraItem) b = sutra_item_new_root ("b", 1, NULL, NULL);
  SutraItem *items[] = { a, b };
  g_autoptr (GPtrArray) out = NULL;

  g_test_summary ("A process call that fails returns NULL with the plugin's error");
  g_assert_no_error (error);
  out = sutra_harness_process (harness, items, 2, &error);
  g_assert_null (out);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  sutra_assert_contains (error->message, "“b”");
}

static void
test_harness_source_and_cancel (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GString) text = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autofree char *params = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;

  g_test_summary ("A source emits everything in one call; once cancelled, it stops early");
  for (guint i = 0; i < 1000; i++)
    g_string_append_printf (text, "line %u\n", i);
  path = sutra_test_write (dir, "in.txt", text->str, text->len);
  params = g_strdup_printf ("{\"path\": \"%s\"}", path);
  harness = sutra_harness_new (registry, "text-source", params, &error);
  g_assert_no_error (error);
  out = sutra_harness_process (harness, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 1000);
  g_assert_cmpstr (sutra_item_get_id (out->pdata[999]), ==, "in:1000");
  g_clear_pointer (&out, g_ptr_array_unref);

  sutra_harness_cancel (harness);
  out = sutra_harness_process (harness, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, <, 1000);
}

static void
test_harness_sink_finish (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *params = g_strdup_printf ("{\"path\": \"%s\"}", path);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraHarness) harness = sutra_harness_new (registry, "jsonl-sink", params, &error);
  g_autoptr (SutraItem) a = sutra_item_new_root ("a", 0, NULL, g_bytes_new_static ("x", 1));
  g_autoptr (GPtrArray) out = NULL;
  g_autofree char *contents = NULL;

  g_test_summary ("finish lets a sink complete its file");
  g_assert_no_error (error);
  out = sutra_harness_process (harness, &a, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (sutra_harness_finish (harness, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "{\"id\":\"a\",\"text\":\"x\"}\n");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);

  g_test_add_func ("/engine/harness/plugins-load", test_harness_plugins_load);
  g_test_add_func ("/engine/harness/map", test_harness_map);
  for (gsize i = 0; i < G_N_ELEMENTS (refused_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/harness/refused/%s", refused_cases[i].name);
      g_test_add_data_func (path, &refused_cases[i], test_harness_refused);
    }
  g_test_add_func ("/engine/harness/failure", test_harness_failure);
  g_test_add_func ("/engine/harness/source-and-cancel", test_harness_source_and_cancel);
  g_test_add_func ("/engine/harness/sink-finish", test_harness_sink_finish);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
