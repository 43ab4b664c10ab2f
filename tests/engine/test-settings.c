/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-settings.c: parameter tables, values, suggestions. */

#include "sutra-settings.h"
#include "sutra-test-util.h"

typedef struct
{
  gboolean flag;
  gint64 count;
  double ratio;
  const char *name;
  const char *mode;
  const char *path;
} Settings;

static const char *const modes[] = { "fast", "slow", "careful", NULL };

static const SutraParamInfo params[] = {
  SUTRA_PARAM_ROW_BOOL ("flag", Settings, flag, TRUE, 0, "A switch."),
  SUTRA_PARAM_ROW_INT ("count", Settings, count, 3, -5, 10, 0, "How many."),
  SUTRA_PARAM_ROW_DOUBLE ("ratio", Settings, ratio, 0.5, 0, 1, 0, "How much."),
  SUTRA_PARAM_ROW_STRING ("name", Settings, name, "anon", 0, "Who."),
  SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, "fast", modes, 0, "How."),
  SUTRA_PARAM_ROW_STRING ("path", Settings, path, NULL, SUTRA_PARAM_REQUIRED, "Where."),
  SUTRA_PARAM_ROW_END
};

static const SutraStageInfo stage = {
  SUTRA_STAGE_INFO_INIT,
  .name = "probe",
  .kind = SUTRA_STAGE_MAP,
  .summary = "A stage for the settings tests",
  .params = params,
  .settings_size = sizeof (Settings),
  .threading = SUTRA_THREADING_SHARED,
  .devices = SUTRA_DEVICE_CPU,
};

static JsonObject *
parse_object (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
test_settings_defaults (void)
{
  g_autoptr (JsonObject) object = parse_object ("{\"path\": \"/in.txt\"}");
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraSettings) settings = sutra_settings_new_checked (&stage, object, &error);
  const Settings *s;

  g_test_summary ("Parameters not given take their table's defaults");
  g_assert_no_error (error);
  s = sutra_settings_get_data (settings);
  g_assert_true (s->flag);
  g_assert_cmpint (s->count, ==, 3);
  g_assert_cmpfloat (s->ratio, ==, 0.5);
  g_assert_cmpstr (s->name, ==, "anon");
  g_assert_cmpstr (s->mode, ==, "fast");
  g_assert_cmpstr (s->path, ==, "/in.txt");
}

static void
test_settings_values (void)
{
  g_autoptr (JsonObject) object = parse_object (
    "{\"flag\": false, \"count\": -5, \"ratio\": 1, \"name\": \"x\\u0000y\", \"mode\": "
    "\"careful\", \"path\": \"p\"}");
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraSettings) settings = sutra_settings_new_checked (&stage, object, &error);
  const Settings *s;

  g_test_summary ("Given values of every type are stored, bounds included; an enum points "
                  "into its choices; strings are the settings' own copies");
  g_assert_no_error (error);
  s = sutra_settings_get_data (settings);
  g_assert_false (s->flag);
  g_assert_cmpint (s->count, ==, -5);
  g_assert_cmpfloat (s->ratio, ==, 1.0);
  g_assert_true (s->mode == modes[2]);
  g_assert_cmpstr (s->path, ==, "p");
  /* The JSON object may go: the settings keep what they need. */
  g_clear_pointer (&object, json_object_unref);
  g_assert_cmpstr (s->path, ==, "p");
  g_assert_cmpstr (s->name, ==, "x");
}

static void
test_settings_to_json (void)
{
  g_autoptr (JsonObject) object = parse_object ("{\"count\": 10, \"path\": \"/p\"}");
  g_autoptr (SutraSettings) settings = sutra_settings_new_checked (&stage, object, NULL);
  g_autoptr (JsonObject) resolved = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("The resolved values, defaults included, in table order");
  g_assert_nonnull (settings);
  resolved = sutra_settings_to_json (settings);
  node = json_node_init_object (json_node_alloc (), resolved);
  text = json_to_string (node, FALSE);
  g_assert_cmpstr (text, ==,
                   "{\"flag\":true,\"count\":10,\"ratio\":0.5,\"name\":\"anon\",\"mode\":\"fast\","
                   "\"path\":\"/p\"}");
}

typedef struct
{
  const char *name;
  const char *params;
  guint n_problems;
  const char *needles[3];
} ProblemCase;

static const ProblemCase problem_cases[] = {
  { "required-missing", "{}", 1, { "required parameter “path” is missing (string: Where.)" } },
  { "no-params-at-all", NULL, 1, { "required parameter “path” is missing" } },
  { "bool-given-int",
    "{\"path\": \"p\", \"flag\": 1}",
    1,
    { "parameter “flag”: expected a boolean (true or false), got an integer" } },
  { "int-given-string",
    "{\"path\": \"p\", \"count\": \"3\"}",
    1,
    { "parameter “count”: expected an integer, got a string (“3”)" } },
  { "int-given-fraction",
    "{\"path\": \"p\", \"count\": 2.5}",
    1,
    { "parameter “count”: expected an integer, got a number (2.5)" } },
  { "int-below-min",
    "{\"path\": \"p\", \"count\": -6}",
    1,
    { "parameter “count”: -6 is out of range: it must lie between -5 and 10" } },
  { "int-above-max", "{\"path\": \"p\", \"count\": 11}", 1, { "11 is out of range" } },
  { "double-above-max",
    "{\"path\": \"p\", \"ratio\": 1.5}",
    1,
    { "parameter “ratio”: 1.5 is out of range: it must lie between 0 and 1" } },
  /* Short decimals, not "%g" (1.1e+06) nor 17 digits (1.1000000000000001). */
  { "double-short-decimals",
    "{\"path\": \"p\", \"ratio\": 1100000.1}",
    1,
    { "parameter “ratio”: 1100000.1 is out of range: it must lie between 0 and 1" } },
  { "double-given-bool",
    "{\"path\": \"p\", \"ratio\": true}",
    1,
    { "parameter “ratio”: expected a number, got a boolean (true)" } },
  { "string-given-null",
    "{\"path\": null}",
    1,
    { "parameter “path”: expected a string, got null" } },
  { "string-given-object",
    "{\"path\": {}}",
    1,
    { "parameter “path”: expected a string, got an object" } },
  { "enum-typo",
    "{\"path\": \"p\", \"mode\": \"slwo\"}",
    1,
    { "“slwo” is not a valid choice; did you mean “slow”? Valid choices: “fast”, “slow” or "
      "“careful”" } },
  { "enum-far",
    "{\"path\": \"p\", \"mode\": \"turbo\"}",
    1,
    { "“turbo” is not a valid choice. Valid choices: " } },
  { "enum-given-array",
    "{\"path\": \"p\", \"mode\": [\"fast\"]}",
    1,
    { "parameter “mode”: expected a string, got an array" } },
  { "unknown-typo",
    "{\"path\": \"p\", \"cuont\": 1}",
    1,
    { "unknown parameter “cuont”; did you mean “count”? Parameters of “probe”: “flag”, "
      "“count”, “ratio”, “name”, “mode” or “path”" } },
  { "unknown-far",
    "{\"path\": \"p\", \"zzz\": 1}",
    1,
    { "unknown parameter “zzz”. Parameters of “probe”:" } },
  { "several",
    "{\"count\": 99, \"mode\": \"x\", \"extra\": 1}",
    4,
    { "“path” is missing", "99 is out of range", "unknown parameter “extra”" } },
};

typedef struct
{
  GPtrArray *keys;
  GPtrArray *messages;
} Collected;

static void
collect (const char *key, const char *message, gpointer user_data)
{
  Collected *collected = user_data;

  g_ptr_array_add (collected->keys, g_strdup (key));
  g_ptr_array_add (collected->messages, g_strdup (message));
}

static void
test_settings_problem (gconstpointer data)
{
  const ProblemCase *row = data;
  g_autoptr (JsonObject) object = row->params != NULL ? parse_object (row->params) : NULL;
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) messages = g_ptr_array_new_with_free_func (g_free);
  Collected collected = { keys, messages };
  g_autoptr (SutraSettings) settings = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) all = g_string_new (NULL);

  g_test_summary ("Each bad parameter is reported once, with its key, what was expected, "
                  "the valid choices or a suggestion");
  settings = sutra_settings_new (&stage, object, collect, &collected);
  g_assert_null (settings);
  g_assert_cmpuint (messages->len, ==, row->n_problems);
  for (guint i = 0; i < messages->len; i++)
    {
      g_assert_nonnull (keys->pdata[i]);
      sutra_assert_contains (messages->pdata[i], keys->pdata[i]);
      g_string_append_printf (all, "%s\n", (char *) messages->pdata[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (row->needles) && row->needles[i] != NULL; i++)
    sutra_assert_contains (all->str, row->needles[i]);

  settings = sutra_settings_new_checked (&stage, object, &error);
  g_assert_null (settings);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_true (g_str_has_prefix (error->message, "stage “probe”: "));
  sutra_assert_contains (error->message, row->needles[0]);
}

typedef struct
{
  const char *word;
  const char *expected; /* NULL: no suggestion */
} SuggestCase;

static const SuggestCase suggest_cases[] = {
  { "wokers", "workers" },  /* a letter missing */
  { "workres", "workers" }, /* two letters swapped */
  { "raed", "read" },       /* swapped, in a short word */
  { "qeueu", NULL },        /* two swaps: too far for five letters */
  { "batch", "batch" },     /* the word itself */
  { "BATCH", NULL },        /* case counts */
  { "x", NULL },            /* too short to guess from */
  { "plugins", "plugin" },  /* one letter too many */
  { "devcies", "devices" },
  { "completely-else", NULL },
};

static void
test_settings_suggest (gconstpointer data)
{
  const SuggestCase *row = data;
  static const char *const candidates[] = { "plugin",  "input", "workers", "queue", "batch",
                                            "devices", "read",  "retry",   NULL };
  g_autofree char *suggestion = sutra_suggest (row->word, candidates);

  g_test_summary ("“did you mean” finds the candidate one or two edits away, counting a "
                  "swap of neighbours as one edit, and nothing for a word unlike any");
  g_assert_cmpstr (suggestion, ==, row->expected);
}

static void
test_settings_suggest_no_candidates (void)
{
  static const char *const none[] = { NULL };
  g_autofree char *a = sutra_suggest ("word", none);
  g_autofree char *b = sutra_suggest ("word", NULL);

  g_test_summary ("With no candidates there is no suggestion");
  g_assert_null (a);
  g_assert_null (b);
}

static void
test_settings_format_choices (void)
{
  static const char *const zero[] = { NULL };
  static const char *const one[] = { "a", NULL };
  static const char *const two[] = { "a", "b", NULL };
  static const char *const three[] = { "a", "b", "c", NULL };
  g_autofree char *s0 = sutra_format_choices (zero);
  g_autofree char *s1 = sutra_format_choices (one);
  g_autofree char *s2 = sutra_format_choices (two);
  g_autofree char *s3 = sutra_format_choices (three);

  g_test_summary ("Choices read as a list: “a”, “b” or “c”");
  g_assert_cmpstr (s0, ==, "(none)");
  g_assert_cmpstr (s1, ==, "“a”");
  g_assert_cmpstr (s2, ==, "“a” or “b”");
  g_assert_cmpstr (s3, ==, "“a”, “b” or “c”");
}

static void
test_settings_format_choices_many (void)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *text = NULL;

  g_test_summary ("A long list of choices (the stages of a generated pipeline) shows the first "
                  "20 and how many there are");
  for (guint i = 0; i < 500; i++)
    g_ptr_array_add (names, g_strdup_printf ("s%u", i));
  g_ptr_array_add (names, NULL);
  text = sutra_format_choices ((const char *const *) names->pdata);
  g_assert_true (g_str_has_prefix (text, "“s0”, “s1”, “s2”"));
  g_assert_true (g_str_has_suffix (text, "“s19”, … (500 in all)"));
  g_assert_null (strstr (text, "“s20”"));
}

typedef struct
{
  const char *json;
  const char *text;
} DescribeCase;

static void
test_settings_describe (void)
{
  static const DescribeCase cases[] = {
    { "null", "null" },
    { "true", "a boolean (true)" },
    { "-3", "an integer (-3)" },
    { "0.1", "a number (0.1)" },
    { "1e300", "a number (1e+300)" },
    { "\"4\"", "a string (“4”)" },
    { "\"0123456789012345678901234567890123456789012345678901234567890123\"",
      "a string (“012345678901234567890123456789012345678901234567890123456789…”)" },
    { "[1]", "an array" },
    { "{}", "an object" },
  };

  g_test_summary ("What a wrong value is, for “expected …, got …”: its type and, for a "
                  "scalar, its value (long strings cut)");
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;

      json_parser_load_from_data (parser, cases[i].json, -1, &error);
      g_assert_no_error (error);
      text = sutra_json_describe (json_parser_get_root (parser));
      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/settings/defaults", test_settings_defaults);
  g_test_add_func ("/engine/settings/values", test_settings_values);
  g_test_add_func ("/engine/settings/to-json", test_settings_to_json);
  for (gsize i = 0; i < G_N_ELEMENTS (problem_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/settings/problem/%s", problem_cases[i].name);
      g_test_add_data_func (path, &problem_cases[i], test_settings_problem);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (suggest_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/settings/suggest/%s", suggest_cases[i].word);
      g_test_add_data_func (path, &suggest_cases[i], test_settings_suggest);
    }
  g_test_add_func ("/engine/settings/suggest-no-candidates", test_settings_suggest_no_candidates);
  g_test_add_func ("/engine/settings/format-choices", test_settings_format_choices);
  g_test_add_func ("/engine/settings/format-choices-many", test_settings_format_choices_many);
  g_test_add_func ("/engine/settings/describe", test_settings_describe);

  return g_test_run ();
}
