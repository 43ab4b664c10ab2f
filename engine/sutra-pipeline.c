/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pipeline files: parse, apply --set, resolve ${var}, validate everything. */

#include "sutra-pipeline.h"

#include "sutra-devices.h"
#include "sutra-json-document.h"
#include "sutra-json-locations.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <openssl/sha.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-pipeline-error-quark, sutra_pipeline_error)
/* clang-format on */

#define MAX_WORKERS 1024
#define MAX_QUEUE (1 << 20)
#define MAX_QUEUE_MB (1 << 20)
#define DEFAULT_QUEUE_MB 64
#define MAX_BATCH (1 << 16)
#define MAX_IN_FLIGHT (1 << 16)
/* A day: longer is a stage that hangs, whatever it does. */
#define MAX_TIMEOUT_MS (24u * 60 * 60 * 1000)
#define MAX_PROBLEMS_SHOWN 100

static const char *const top_level_keys[] = {
  "sutra", "name", "description", "vars", "stages", NULL
};
static const char *const stage_keys[] = {
  "plugin",     "input",   "params",   "workers",         "queue",
  "queue_mb",   "batch",   "devices",  "device_fallback", "isolation",
  "timeout_ms", "retry",   "on_error", "on_missing",      "checkpoint",
  "rate_limit", "comment", "cache",    "max_in_flight",   NULL
};
static const char *const retry_keys[] = { "attempts", "backoff_ms", "max_backoff_ms", NULL };
static const char *const on_error_choices[] = { "fail", "skip", NULL };
static const char *const isolation_choices[] = { "thread", "process", NULL };
/* "cache": what a stage's outputs are found again by (docs/design.md,
 * "Content cache"); the default is the plugin's choice, cache_content. */
static const char *const cache_choices[] = { "content", "batch", NULL };
static const char *const device_fallback_choices[] = { "none", "cpu", NULL };

/* Problems found so far, each already formatted with its position. */
typedef struct
{
  const char *path;
  SutraJsonLocations *locations;
  GString *messages;
  gint first_code;
  guint n_problems;
  guint n_shown;
  GHashTable *unresolved;  /* JSON paths of values left with a ${var}, and their ancestors */
  gboolean structure_only; /* SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY */
} Problems;

static void problem_at (Problems *problems,
                        gint code,
                        const char *json_path,
                        const char *stage,
                        const char *format,
                        ...) G_GNUC_PRINTF (5, 6);

/* Appends "file:line:column: stage “name”: " for @json_path
 * ("/stages/speak/workers"): the position of that key, or of the nearest
 * enclosing key the scanner knows. */
static void
append_position (Problems *problems, const char *json_path, const char *stage, GString *out)
{
  g_autofree char *lookup = g_strdup (json_path != NULL ? json_path : "");
  guint line = 0, column = 0;

  while (problems->locations != NULL && lookup[0] != '\0' &&
         !sutra_json_locations_lookup (problems->locations, lookup, &line, &column))
    {
      char *slash = strrchr (lookup, '/');

      if (slash == NULL)
        break;
      *slash = '\0';
    }
  g_string_append (out, problems->path);
  if (line > 0)
    g_string_append_printf (out, ":%u:%u", line, column);
  g_string_append (out, ": ");
  if (stage != NULL)
    g_string_append_printf (out, "stage “%s”: ", stage);
}

/* Reports a problem at @json_path: see append_position(). */
static void
problem_at (Problems *problems,
            gint code,
            const char *json_path,
            const char *stage,
            const char *format,
            ...)
{
  va_list args;
  g_autofree char *message = NULL;

  /* A value whose ${var} could not be resolved has been reported as such;
   * what else is wrong with it (the literal "${input}" names no file, is
   * not an integer) follows from that one problem. */
  if (code != SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE && json_path != NULL &&
      problems->unresolved != NULL && g_hash_table_contains (problems->unresolved, json_path))
    return;

  if (problems->n_problems++ == 0)
    problems->first_code = code;
  /* A generated or mangled file can have thousands of problems; the first
   * ones are what to fix, and the rest are counted. */
  if (problems->n_shown >= MAX_PROBLEMS_SHOWN)
    return;
  if (problems->n_shown++ > 0)
    g_string_append_c (problems->messages, '\n');

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  append_position (problems, json_path, stage, problems->messages);
  g_string_append (problems->messages, message);
}

/* A warning at @json_path, for @spec's device_warnings: something the file
 * asked for that this machine changed (a missing GPU, device_fallback). */
static void device_warning_at (Problems *problems,
                               SutraStageSpec *spec,
                               const char *json_path,
                               const char *format,
                               ...) G_GNUC_PRINTF (4, 5);

static void
device_warning_at (Problems *problems,
                   SutraStageSpec *spec,
                   const char *json_path,
                   const char *format,
                   ...)
{
  GString *warning = g_string_new (NULL);
  va_list args;

  append_position (problems, json_path, spec->name, warning);
  va_start (args, format);
  g_string_append_vprintf (warning, format, args);
  va_end (args);
  if (spec->device_warnings == NULL)
    spec->device_warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (spec->device_warnings, g_string_free (warning, FALSE));
}

/* Whether more problems would only be counted: callers skip the work of
 * describing them (suggestions compare a name with every stage's). */
static gboolean
problems_are_full (Problems *problems)
{
  return problems->n_shown >= MAX_PROBLEMS_SHOWN;
}

/* Marks @json_path, and so every key above it, as holding an unresolved
 * ${var}: problem_at() then says nothing more about them. */
static void
mark_unresolved (Problems *problems, const char *json_path)
{
  g_autofree char *path = g_strdup (json_path);

  while (TRUE)
    {
      char *slash;

      if (!g_hash_table_add (problems->unresolved, g_strdup (path)))
        break; /* and so were its ancestors */
      slash = strrchr (path, '/');
      if (slash == NULL)
        break;
      *slash = '\0';
    }
}

static void
stage_spec_free (SutraStageSpec *spec)
{
  g_free (spec->name);
  g_free (spec->plugin_name);
  g_ptr_array_unref (spec->inputs);
  g_ptr_array_unref (spec->outputs);
  g_strfreev (spec->devices);
  g_clear_pointer (&spec->device_warnings, g_ptr_array_unref);
  sutra_settings_free (spec->settings);
  if (spec->resolved_params != NULL)
    json_object_unref (spec->resolved_params);
  g_free (spec);
}

void
sutra_pipeline_free (SutraPipeline *pipeline)
{
  if (pipeline == NULL)
    return;
  g_free (pipeline->path);
  g_free (pipeline->name);
  g_ptr_array_unref (pipeline->stages);
  g_hash_table_unref (pipeline->by_name);
  if (pipeline->resolved != NULL)
    json_node_unref (pipeline->resolved);
  g_free (pipeline->resolved_json);
  g_free (pipeline);
}

SutraStageSpec *
sutra_pipeline_get_stage (SutraPipeline *pipeline, const char *name)
{
  return g_hash_table_lookup (pipeline->by_name, name);
}

static char *key_name (const char *json_path, const char *stage);

static void
check_keys (Problems *problems,
            JsonObject *object,
            const char *const *valid,
            const char *base_path,
            const char *stage,
            const char *what)
{
  g_autoptr (GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      g_autofree char *path = g_strdup_printf ("%s/%s", base_path, key);
      g_autofree char *name = NULL;
      g_autofree char *suggestion = NULL;
      g_autofree char *choices = NULL;
      gsize prefix;

      if (g_strv_contains (valid, key))
        continue;
      if (problems_are_full (problems))
        {
          problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY, path, stage, "unknown key");
          continue;
        }
      /* A nested key is named by its path: "retry.atempts". */
      name = key_name (path, stage);
      prefix = strlen (name) - strlen (key);
      suggestion = sutra_suggest (key, valid);
      choices = sutra_format_choices (valid);
      if (suggestion != NULL)
        problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY, path, stage,
                    "unknown %s%skey “%s”; did you mean “%.*s%s”? Valid keys: %s",
                    prefix > 0 ? "" : what, prefix > 0 ? "" : " ", name, (int) prefix, name,
                    suggestion, choices);
      else
        problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_KEY, path, stage,
                    "unknown %s%skey “%s”. Valid keys: %s", prefix > 0 ? "" : what,
                    prefix > 0 ? "" : " ", name, choices);
    }
}

/* ${name} substitution ------------------------------------------------- */

typedef struct
{
  GHashTable *vars; /* name -> value */
  Problems *problems;
} Resolver;

static gboolean
is_variable_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '.';
}

/* Returns the string with every ${name} replaced, or NULL after reporting
 * the unresolved ones. */
static char *
substitute (Resolver *resolver, const char *value, const char *json_path, const char *stage)
{
  GString *out = g_string_new (NULL);
  gboolean ok = TRUE;

  for (const char *p = value; *p != '\0';)
    {
      const char *end;

      if (p[0] == '$' && p[1] == '{' && (end = strchr (p + 2, '}')) != NULL)
        {
          g_autofree char *name = g_strndup (p + 2, end - (p + 2));
          const char *replacement;
          gboolean well_formed = name[0] != '\0';

          for (const char *c = name; *c != '\0'; c++)
            well_formed &= is_variable_char (*c);
          replacement = well_formed ? g_hash_table_lookup (resolver->vars, name) : NULL;
          if (replacement == NULL)
            {
              /* Drawing a pipeline needs no values: its ${input} stays. */
              if (well_formed && resolver->problems->structure_only)
                ;
              else if (well_formed)
                problem_at (resolver->problems, SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE, json_path,
                            stage,
                            "unresolved variable ${%s}: give it a value with "
                            "--set %s=VALUE, or a default in the file's \"vars\"",
                            name, name);
              else
                problem_at (resolver->problems, SUTRA_PIPELINE_ERROR_UNRESOLVED_VARIABLE, json_path,
                            stage,
                            "malformed variable reference “${%s}”: names use letters, "
                            "digits, “_”, “-” and “.”",
                            name);
              ok = FALSE;
            }
          else
            g_string_append (out, replacement);
          p = end + 1;
        }
      else
        g_string_append_c (out, *p++);
    }
  if (!ok)
    {
      mark_unresolved (resolver->problems, json_path);
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

/* A value given as text (a --set, or a string that was just "${var}") that
 * reads as a JSON number or boolean becomes one: --set speak.workers=4.
 * With @structured (--set STAGE.KEY=VALUE), an array or an object does too:
 * --set speak.devices='["cuda:0"]'; the caller has checked its nesting.
 * Anything else stays the text it is. */
static JsonNode *
value_from_text (const char *text, gboolean structured)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  const char *start = text + strspn (text, " \t\r\n");
  JsonNode *root;

  /* Never hand json-glib an unchecked structure: it recurses per level. */
  if (!structured && (*start == '[' || *start == '{'))
    return json_node_init_string (json_node_alloc (), text);
  if (sutra_json_parser_load_document (parser, text, -1, NULL) &&
      (root = json_parser_get_root (parser)) != NULL &&
      ((JSON_NODE_HOLDS_VALUE (root) && json_node_get_value_type (root) != G_TYPE_STRING) ||
       (structured && (JSON_NODE_HOLDS_ARRAY (root) || JSON_NODE_HOLDS_OBJECT (root)))))
    return json_node_copy (root);
  return json_node_init_string (json_node_alloc (), text);
}

static void resolve_node (Resolver *resolver,
                          JsonNode *node,
                          const char *json_path,
                          const char *stage);

static void
resolve_object (Resolver *resolver, JsonObject *object, const char *json_path, const char *stage)
{
  g_autoptr (GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *key = l->data;
      g_autofree char *path = g_strdup_printf ("%s/%s", json_path, key);
      JsonNode *member = json_object_get_member (object, key);

      if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_STRING)
        {
          const char *text = json_node_get_string (member);
          g_autofree char *value = NULL;

          if (strstr (text, "${") == NULL)
            continue;
          value = substitute (resolver, text, path, stage);
          if (value == NULL)
            continue;
          /* "${n}" alone may stand for a number: "workers": "${n}". */
          if (g_str_has_prefix (text, "${") && strchr (text, '}') == text + strlen (text) - 1)
            json_object_set_member (object, key, value_from_text (value, FALSE));
          else
            json_object_set_string_member (object, key, value);
        }
      else
        resolve_node (resolver, member, path, stage);
    }
}

static void
resolve_node (Resolver *resolver, JsonNode *node, const char *json_path, const char *stage)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    resolve_object (resolver, json_node_get_object (node), json_path, stage);
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          g_autofree char *path = g_strdup_printf ("%s/%u", json_path, i);

          if (JSON_NODE_HOLDS_VALUE (element) &&
              json_node_get_value_type (element) == G_TYPE_STRING)
            {
              g_autofree char *value = NULL;

              if (strstr (json_node_get_string (element), "${") == NULL)
                continue;
              value = substitute (resolver, json_node_get_string (element), path, stage);
              if (value != NULL)
                json_node_set_string (element, value);
            }
          else
            resolve_node (resolver, element, path, stage);
        }
    }
}

/* --set ----------------------------------------------------------------- */

static void
apply_overrides (Problems *problems,
                 JsonObject *stages,
                 const char *const *overrides,
                 GHashTable *vars)
{
  for (guint i = 0; overrides != NULL && overrides[i] != NULL; i++)
    {
      const char *assignment = overrides[i];
      const char *equals = strchr (assignment, '=');
      g_autofree char *target = NULL;
      const char *dot;

      if (equals == NULL || equals == assignment)
        {
          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_OVERRIDE, NULL, NULL,
                      "--set “%s”: expected NAME=VALUE or STAGE.KEY=VALUE", assignment);
          continue;
        }
      target = g_strndup (assignment, equals - assignment);
      dot = strchr (target, '.');
      if (dot == NULL)
        {
          g_hash_table_replace (vars, g_strdup (target), g_strdup (equals + 1));
          continue;
        }
      {
        g_autofree char *stage_name = g_strndup (target, dot - target);
        const char *key = dot + 1;
        JsonObject *stage;
        guint line, column;

        if (stages == NULL || !json_object_has_member (stages, stage_name) ||
            !JSON_NODE_HOLDS_OBJECT (json_object_get_member (stages, stage_name)))
          {
            g_autoptr (GList) names = stages ? json_object_get_members (stages) : NULL;
            g_autoptr (GPtrArray) list = g_ptr_array_new ();
            g_autofree char *choices = NULL;

            for (GList *l = names; l != NULL; l = l->next)
              g_ptr_array_add (list, l->data);
            g_ptr_array_add (list, NULL);
            choices = sutra_format_choices ((const char *const *) list->pdata);
            problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_OVERRIDE, NULL, NULL,
                        "--set “%s”: no stage named “%s”. Stages: %s", assignment, stage_name,
                        choices);
            continue;
          }
        stage = json_object_get_object_member (stages, stage_name);
        /* The value lands up to four levels down (the document, "stages", the
         * stage, "params"), and the whole must stay within the limit: the job
         * snapshot is read back as a pipeline file. */
        if (!sutra_json_check_depth (equals + 1, strlen (equals + 1), SUTRA_JSON_MAX_DEPTH - 4,
                                     &line, &column))
          {
            g_autofree char *shown = g_utf8_make_valid (assignment, MIN (strlen (assignment), 40));

            problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_OVERRIDE, NULL, NULL,
                        "--set “%s%s”: the value nests arrays and objects too deep (the bracket "
                        "at column %u of the value is level %u; a stage's value may nest %u "
                        "levels, a pipeline file %u in all)",
                        shown, strlen (assignment) > 40 ? "…" : "", column,
                        SUTRA_JSON_MAX_DEPTH - 3, SUTRA_JSON_MAX_DEPTH - 4, SUTRA_JSON_MAX_DEPTH);
            continue;
          }
        if (g_strv_contains (stage_keys, key) && strcmp (key, "params") != 0)
          json_object_set_member (stage, key, value_from_text (equals + 1, TRUE));
        else
          {
            const char *param = g_str_has_prefix (key, "params.") ? key + 7 : key;

            if (!json_object_has_member (stage, "params") ||
                !JSON_NODE_HOLDS_OBJECT (json_object_get_member (stage, "params")))
              json_object_set_object_member (stage, "params", json_object_new ());
            json_object_set_member (json_object_get_object_member (stage, "params"), param,
                                    value_from_text (equals + 1, TRUE));
          }
      }
    }
}

/* Stage settings --------------------------------------------------------- */

/* How messages name the key at @json_path: by its path inside the stage,
 * dotted ("retry.attempts"), or inside the file for keys outside stages. */
static char *
key_name (const char *json_path, const char *stage)
{
  const char *key = json_path;

  if (stage != NULL && g_str_has_prefix (json_path, "/stages/") &&
      g_str_has_prefix (json_path + strlen ("/stages/"), stage) &&
      json_path[strlen ("/stages/") + strlen (stage)] == '/')
    key = json_path + strlen ("/stages/") + strlen (stage) + 1;
  else if (key[0] == '/')
    key++;
  return g_strdelimit (g_strdup (key), "/", '.');
}

static gboolean
get_uint_member (Problems *problems,
                 JsonObject *object,
                 const char *key,
                 guint minimum,
                 guint maximum,
                 guint fallback,
                 guint *out,
                 const char *json_base,
                 const char *stage)
{
  JsonNode *node = json_object_get_member (object, key);
  g_autofree char *path = g_strdup_printf ("%s/%s", json_base, key);
  g_autofree char *name = key_name (path, stage);
  gint64 value;

  *out = fallback;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_autofree char *got = sutra_json_describe (node);

      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, stage,
                  "key “%s”: expected an integer between %u and %u, got %s", name, minimum, maximum,
                  got);
      return FALSE;
    }
  value = json_node_get_int (node);
  if (value < minimum || value > maximum)
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, stage,
                  "key “%s”: %" G_GINT64_FORMAT " is out of range: it must lie between %u and %u",
                  name, value, minimum, maximum);
      return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

static const char *
get_choice_member (Problems *problems,
                   JsonObject *object,
                   const char *key,
                   const char *const *choices,
                   const char *json_base,
                   const char *stage)
{
  JsonNode *node = json_object_get_member (object, key);
  g_autofree char *path = g_strdup_printf ("%s/%s", json_base, key);
  g_autofree char *name = key_name (path, stage);
  g_autofree char *list = sutra_format_choices (choices);
  g_autofree char *got = NULL;
  g_autofree char *suggestion = NULL;

  if (node == NULL)
    return choices[0];
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      for (guint i = 0; choices[i] != NULL; i++)
        if (strcmp (json_node_get_string (node), choices[i]) == 0)
          return choices[i];
      suggestion = sutra_suggest (json_node_get_string (node), choices);
    }
  got = sutra_json_describe (node);
  if (suggestion != NULL)
    problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, stage,
                "key “%s”: expected one of %s, got %s; did you mean “%s”?", name, list, got,
                suggestion);
  else
    problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, stage,
                "key “%s”: expected one of %s, got %s", name, list, got);
  return choices[0];
}

typedef struct
{
  Problems *problems;
  const char *json_base;
  const char *stage;
} ParamReport;

static void
report_param_problem (const char *key, const char *message, gpointer user_data)
{
  ParamReport *report = user_data;
  g_autofree char *path = g_strdup_printf ("%s/params/%s", report->json_base, key);

  problem_at (report->problems, SUTRA_PIPELINE_ERROR_BAD_PARAM, path, report->stage, "%s", message);
}

static gboolean
has_glob_chars (const char *path)
{
  return strpbrk (path, "*?[") != NULL;
}

/* Whether @value holds nothing but white space: "path": "" or " " names no
 * file (an empty output path used to run the whole pipeline, then fail to
 * rename its “.part” file to “”). */
static gboolean
is_blank (const char *value)
{
  return value[strspn (value, " \t\r\n")] == '\0';
}

static void
check_input_path (Problems *problems,
                  const char *value,
                  const char *key,
                  const char *json_path,
                  const char *stage)
{
  if (value == NULL || strcmp (value, "-") == 0)
    return;
  if (is_blank (value))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_INPUT_FILE, json_path, stage,
                  "parameter “%s” is %s: name the input file, a glob such as “books/*.txt”, "
                  "or “-” for standard input",
                  key, value[0] == '\0' ? "empty" : "blank");
      return;
    }
  if (problems->structure_only)
    return;
  if (has_glob_chars (value))
    {
      glob_t matches = { 0 };
      int status = glob (value, 0, NULL, &matches);

      globfree (&matches);
      if (status != 0)
        problem_at (problems, SUTRA_PIPELINE_ERROR_INPUT_FILE, json_path, stage,
                    "parameter “%s”: input “%s” matches no file: check the pattern and the "
                    "directory",
                    key, value);
      return;
    }
  if (!g_file_test (value, G_FILE_TEST_EXISTS))
    problem_at (problems, SUTRA_PIPELINE_ERROR_INPUT_FILE, json_path, stage,
                "parameter “%s”: input file “%s” does not exist: check the path (relative "
                "paths are relative to the directory sutra runs in)",
                key, value);
  else if (g_file_test (value, G_FILE_TEST_IS_DIR))
    problem_at (problems, SUTRA_PIPELINE_ERROR_INPUT_FILE, json_path, stage,
                "parameter “%s”: input “%s” is a directory: name a file, or a glob such as "
                "“%s/*.txt”",
                key, value, value);
  else if (access (value, R_OK) != 0)
    problem_at (problems, SUTRA_PIPELINE_ERROR_INPUT_FILE, json_path, stage,
                "parameter “%s”: input file “%s” cannot be read: %s", key, value,
                g_strerror (errno));
}

/* Whether @value can only name a directory: "out/", ".", "..", "a/.". */
static gboolean
names_a_directory (const char *value)
{
  g_autofree char *base = g_path_get_basename (value);

  return g_str_has_suffix (value, G_DIR_SEPARATOR_S) || strcmp (base, ".") == 0 ||
         strcmp (base, "..") == 0;
}

static void
check_output_path (Problems *problems,
                   const char *value,
                   gboolean is_dir,
                   const char *key,
                   const char *json_path,
                   const char *stage)
{
  g_autofree char *dir = NULL;

  if (value == NULL || strcmp (value, "-") == 0)
    return;
  if (is_blank (value))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                  "parameter “%s” is %s: name the %s to write%s", key,
                  value[0] == '\0' ? "empty" : "blank", is_dir ? "directory" : "file",
                  is_dir ? "" : ", or “-” for standard output");
      return;
    }
  if (!is_dir && names_a_directory (value))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                  "parameter “%s”: output “%s” names a directory: name a file inside it", key,
                  value);
      return;
    }
  if (problems->structure_only)
    return;
  if (!is_dir && g_file_test (value, G_FILE_TEST_IS_DIR))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                  "parameter “%s”: output “%s” is a directory: name a file inside it", key, value);
      return;
    }
  if (is_dir && g_file_test (value, G_FILE_TEST_EXISTS) && !g_file_test (value, G_FILE_TEST_IS_DIR))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                  "parameter “%s”: output directory “%s” is a file: name a directory (it is "
                  "made if missing)",
                  key, value);
      return;
    }
  if (is_dir && g_file_test (value, G_FILE_TEST_IS_DIR))
    dir = g_strdup (value);
  else
    dir = g_path_get_dirname (value);
  if (g_file_test (dir, G_FILE_TEST_EXISTS) && !g_file_test (dir, G_FILE_TEST_IS_DIR))
    problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                "parameter “%s”: cannot write “%s”: “%s” is a file, not a directory", key, value,
                dir);
  else if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                "parameter “%s”: cannot write “%s”: directory “%s” does not exist (create it "
                "first)",
                key, value, dir);
  else if (access (dir, W_OK | X_OK) != 0)
    problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, stage,
                "parameter “%s”: cannot write “%s”: directory “%s” is not writable: %s", key, value,
                dir, g_strerror (errno));
}

static void
check_path_params (Problems *problems, SutraStageSpec *spec, const char *json_base)
{
  gconstpointer data = sutra_settings_get_data (spec->settings);

  for (const SutraParamInfo *param = spec->info->params; param->name != NULL; param++)
    {
      g_autofree char *path = g_strdup_printf ("%s/params/%s", json_base, param->name);
      const char *value;

      if (param->type != SUTRA_PARAM_STRING)
        continue;
      value = G_STRUCT_MEMBER (const char *, data, param->offset);
      if (param->flags & SUTRA_PARAM_INPUT_PATH)
        check_input_path (problems, value, param->name, path, spec->name);
      if (param->flags & SUTRA_PARAM_OUTPUT_PATH)
        check_output_path (problems, value, FALSE, param->name, path, spec->name);
      if (param->flags & SUTRA_PARAM_OUTPUT_DIR)
        check_output_path (problems, value, TRUE, param->name, path, spec->name);
    }
}

/* One file a stage reads or writes, for the checks across stages. */
typedef struct
{
  SutraStageSpec *spec;
  const char *key;
  const char *value;
  char *absolute; /* the path made absolute, for patterns */
  char *identity; /* the same, symbolic links of its existing parts resolved */
  dev_t device;   /* of the existing file, else 0 */
  ino_t inode;
} PathUse;

static void
path_use_clear (PathUse *use)
{
  g_free (use->absolute);
  g_free (use->identity);
}

/* What makes two spellings of one file compare equal: "out.jsonl",
 * "./out.jsonl", "/cwd/out.jsonl", a symbolic link to it (and, for files
 * that exist, a hard link: same device and inode). */
static void
path_use_init (PathUse *use, SutraStageSpec *spec, const char *key, const char *value)
{
  g_autofree char *absolute = g_canonicalize_filename (value, NULL);
  g_autofree char *dir = g_path_get_dirname (absolute);
  g_autofree char *base = g_path_get_basename (absolute);
  g_autofree char *real_dir = realpath (dir, NULL);
  char *real = realpath (absolute, NULL);
  struct stat info;

  use->spec = spec;
  use->key = key;
  use->value = value;
  if (real != NULL)
    use->identity = real;
  else if (real_dir != NULL)
    use->identity = g_build_filename (real_dir, base, NULL);
  else
    use->identity = g_strdup (absolute);
  use->absolute = g_steal_pointer (&absolute);
  use->device = 0;
  use->inode = 0;
  if (stat (value, &info) == 0 && S_ISREG (info.st_mode))
    {
      use->device = info.st_dev;
      use->inode = info.st_ino;
    }
}

static gboolean
path_use_same_file (const PathUse *a, const PathUse *b)
{
  if (strcmp (a->value, "-") == 0 || strcmp (b->value, "-") == 0)
    return strcmp (a->value, b->value) == 0;
  if (a->device != 0 && a->device == b->device && a->inode == b->inode)
    return TRUE;
  return strcmp (a->identity, b->identity) == 0;
}

/* Files that are fine one stage at a time but not together: a sink that
 * writes a file a source reads (the run would truncate its own input, or
 * read its own output the next time), two sinks writing one file. */
static void
check_shared_paths (Problems *problems, GPtrArray *specs)
{
  g_autoptr (GArray) inputs = g_array_new (FALSE, TRUE, sizeof (PathUse));
  g_autoptr (GArray) outputs = g_array_new (FALSE, TRUE, sizeof (PathUse));

  g_array_set_clear_func (inputs, (GDestroyNotify) path_use_clear);
  g_array_set_clear_func (outputs, (GDestroyNotify) path_use_clear);
  for (guint i = 0; i < specs->len; i++)
    {
      SutraStageSpec *spec = specs->pdata[i];
      gconstpointer data;

      if (spec->info == NULL || spec->settings == NULL)
        continue;
      data = sutra_settings_get_data (spec->settings);
      for (const SutraParamInfo *param = spec->info->params; param->name != NULL; param++)
        {
          const char *value;
          PathUse use;

          if (param->type != SUTRA_PARAM_STRING ||
              !(param->flags & (SUTRA_PARAM_INPUT_PATH | SUTRA_PARAM_OUTPUT_PATH)))
            continue;
          value = G_STRUCT_MEMBER (const char *, data, param->offset);
          if (value == NULL || is_blank (value))
            continue;
          path_use_init (&use, spec, param->name, value);
          g_array_append_val ((param->flags & SUTRA_PARAM_INPUT_PATH) ? inputs : outputs, use);
        }
    }

  for (guint i = 0; i < outputs->len; i++)
    {
      const PathUse *output = &g_array_index (outputs, PathUse, i);
      g_autofree char *json_path =
        g_strdup_printf ("/stages/%s/params/%s", output->spec->name, output->key);

      for (guint j = 0; j < inputs->len; j++)
        {
          const PathUse *input = &g_array_index (inputs, PathUse, j);

          if (strcmp (output->value, "-") == 0)
            break;
          if (path_use_same_file (output, input))
            problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, output->spec->name,
                        "parameter “%s”: output “%s” is the file stage “%s” reads (parameter "
                        "“%s”): the run would overwrite its own input; write somewhere else",
                        output->key, output->value, input->spec->name, input->key);
          else if (has_glob_chars (input->value) &&
                   (fnmatch (input->absolute, output->absolute, FNM_PATHNAME | FNM_PERIOD) == 0 ||
                    fnmatch (input->absolute, output->identity, FNM_PATHNAME | FNM_PERIOD) == 0))
            problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, output->spec->name,
                        "parameter “%s”: output “%s” matches the pattern “%s” that stage “%s” "
                        "reads (parameter “%s”): a later run would read it as input; write "
                        "somewhere else",
                        output->key, output->value, input->value, input->spec->name, input->key);
        }
      for (guint j = 0; j < i; j++)
        {
          const PathUse *other = &g_array_index (outputs, PathUse, j);

          if (!path_use_same_file (output, other))
            continue;
          if (strcmp (output->value, "-") == 0)
            problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, output->spec->name,
                        "parameter “%s”: stage “%s” writes standard output too (parameter "
                        "“%s”): their lines would interleave; give one of them a file",
                        output->key, other->spec->name, other->key);
          else
            problem_at (problems, SUTRA_PIPELINE_ERROR_OUTPUT_DIR, json_path, output->spec->name,
                        "parameter “%s”: output “%s” is the file stage “%s” writes too "
                        "(parameter “%s”): one would overwrite the other; give each its own file",
                        output->key, output->value, other->spec->name, other->key);
          break;
        }
    }
}

/* "devices": "auto" for @spec: the GPUs there are where the plugin's GPU
 * path is the one to prefer (SUTRA_DEVICE_CUDA_PREFERRED, or a plugin that
 * runs on GPUs only), else the CPU. A machine without a GPU runs a stage
 * that can use the CPU there: that is what "auto" means, not a fallback. */
static void
resolve_auto_devices (Problems *problems, SutraStageSpec *spec, const char *path)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  spec->devices_auto = TRUE;
  if (problems->structure_only)
    return;
  if (sutra_devices_auto_prefers_gpu (spec->info->devices))
    {
      g_autofree char *why = NULL;
      g_autoptr (GPtrArray) found = sutra_devices_enumerate (&why);

      for (guint i = 0; i < found->len; i++)
        g_ptr_array_add (names, g_strdup (((SutraDevice *) found->pdata[i])->name));
      if (found->len == 0 && !(spec->info->devices & SUTRA_DEVICE_CPU))
        {
          problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, path, spec->name,
                      "key “devices”: “auto” found no GPU (%s; see `sutra devices`), and "
                      "plugin “%s” runs on GPUs only: run it on a machine with a GPU",
                      why != NULL ? why : "none", spec->plugin_name);
          return;
        }
    }
  if (names->len == 0)
    g_ptr_array_add (names, g_strdup ("cpu"));
  g_ptr_array_add (names, NULL);
  spec->devices = (char **) g_ptr_array_steal (names, NULL);
}

static void
check_devices (Problems *problems, SutraStageSpec *spec, JsonObject *stage, const char *json_base)
{
  JsonNode *node = json_object_get_member (stage, "devices");
  g_autofree char *path = g_strdup_printf ("%s/devices", json_base);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) found = NULL;
  g_autofree char *why = NULL;
  JsonArray *array;

  spec->device_fallback =
    strcmp (get_choice_member (problems, stage, "device_fallback", device_fallback_choices,
                               json_base, spec->name),
            "cpu") == 0;
  if (spec->device_fallback && !(spec->info->devices & SUTRA_DEVICE_CPU))
    {
      g_autofree char *fallback_path = g_strdup_printf ("%s/device_fallback", json_base);

      problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, fallback_path, spec->name,
                  "key “device_fallback”: plugin “%s” cannot run on the CPU: remove "
                  "“device_fallback”",
                  spec->plugin_name);
    }
  if (node == NULL)
    return;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
      strcmp (json_node_get_string (node), "auto") == 0)
    {
      resolve_auto_devices (problems, spec, path);
      return;
    }
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_autofree char *got = sutra_json_describe (node);

      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, spec->name,
                  "key “devices”: expected \"auto\" or an array such as [\"cuda:0\", "
                  "\"cuda:1\"] or [\"cpu\"], got %s",
                  got);
      return;
    }
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      const char *name;
      int index;

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING ||
          !sutra_device_parse ((name = json_node_get_string (element)), &index))
        {
          g_autofree char *got = sutra_json_describe (element);

          problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, path, spec->name,
                      "devices[%u]: expected “cpu” or “cuda:N”, got %s", i, got);
          continue;
        }
      if (index < 0 && !(spec->info->devices & SUTRA_DEVICE_CPU))
        problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, path, spec->name,
                    "plugin “%s” cannot run on the CPU: give it a GPU (“cuda:0”)",
                    spec->plugin_name);
      if (index >= 0)
        {
          /* A plugin without a GPU path is a mistake in the file, whatever
           * the machine: device_fallback does not paper over it. */
          if (!(spec->info->devices & SUTRA_DEVICE_CUDA))
            problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, path, spec->name,
                        "plugin “%s” runs on the CPU only, not on “%s”: remove “devices”",
                        spec->plugin_name, name);
          else if (!problems->structure_only)
            {
              if (found == NULL)
                found = sutra_devices_enumerate (&why);
              if ((guint) index >= found->len && spec->device_fallback)
                {
                  device_warning_at (problems, spec, path,
                                     "device “%s” does not exist (this machine has %u GPU%s%s%s): "
                                     "its workers run on the CPU (\"device_fallback\": \"cpu\")",
                                     name, found->len, found->len == 1 ? "" : "s",
                                     why != NULL ? ": " : "", why != NULL ? why : "");
                  name = "cpu";
                }
              else if ((guint) index >= found->len)
                problem_at (problems, SUTRA_PIPELINE_ERROR_DEVICE, path, spec->name,
                            "device “%s” does not exist: this machine has %u GPU%s%s%s "
                            "(see `sutra devices`); name one it has, say \"auto\", or add "
                            "\"device_fallback\": \"cpu\" to run these workers on the CPU "
                            "instead",
                            name, found->len, found->len == 1 ? "" : "s", why != NULL ? ": " : "",
                            why != NULL ? why : "");
            }
        }
      g_ptr_array_add (names, g_strdup (name));
    }
  if (names->len > 0)
    {
      g_ptr_array_add (names, NULL);
      spec->devices = (char **) g_ptr_array_steal (names, NULL);
    }
}

/* Workers not given: one per device given, so that every device listed (or
 * found by "auto") runs an instance. Not for a source or a plugin that runs
 * one worker (a sink, a non-thread-safe plugin as threads): those keep 1. */
static void
default_workers_to_devices (SutraStageSpec *spec, JsonObject *stage)
{
  guint n_devices = spec->devices != NULL ? g_strv_length (spec->devices) : 0;

  if (n_devices <= 1 || json_object_has_member (stage, "workers"))
    return;
  if (spec->info->kind == SUTRA_STAGE_SOURCE || spec->info->kind == SUTRA_STAGE_SINK)
    return;
  if (spec->info->threading == SUTRA_THREADING_SINGLE && spec->isolation != SUTRA_ISOLATION_PROCESS)
    return;
  spec->workers = MIN (n_devices, MAX_WORKERS);
}

static void
read_retry (Problems *problems, SutraStageSpec *spec, JsonObject *stage, const char *json_base)
{
  JsonNode *node = json_object_get_member (stage, "retry");
  g_autofree char *path = g_strdup_printf ("%s/retry", json_base);
  JsonObject *retry;

  spec->retry_attempts = 1;
  spec->retry_backoff_ms = 100;
  spec->retry_max_backoff_ms = 10000;
  if (node == NULL)
    return;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    {
      get_uint_member (problems, stage, "retry", 1, 100, 1, &spec->retry_attempts, json_base,
                       spec->name);
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autofree char *got = sutra_json_describe (node);

      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, spec->name,
                  "key “retry”: expected a number of attempts or an object "
                  "{\"attempts\": 3, \"backoff_ms\": 100, \"max_backoff_ms\": 10000}, got %s",
                  got);
      return;
    }
  retry = json_node_get_object (node);
  check_keys (problems, retry, retry_keys, path, spec->name, "retry");
  get_uint_member (problems, retry, "attempts", 1, 100, 1, &spec->retry_attempts, path, spec->name);
  get_uint_member (problems, retry, "backoff_ms", 0, 3600000, 100, &spec->retry_backoff_ms, path,
                   spec->name);
  get_uint_member (problems, retry, "max_backoff_ms", 0, 3600000, 10000,
                   &spec->retry_max_backoff_ms, path, spec->name);
}

static void
compute_fingerprint (SutraStageSpec *spec)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), spec->resolved_params);
  g_autofree char *params = NULL;
  g_autofree char *text = NULL;

  json_generator_set_root (generator, node);
  params = json_generator_to_data (generator, NULL);
  /* What a stage computes depends on the code (plugin, its version, the
   * ABI) and on its parameters; not on its name in the file, its workers
   * or its batch size, so renaming a stage or tuning it keeps the cache. */
  text = g_strdup_printf ("sutra-stage\n%s\n%s\n%s\n%d.%d\n%s", spec->plugin->info->name,
                          spec->plugin->info->version, spec->info->name, SUTRA_ABI_MAJOR,
                          SUTRA_ABI_MINOR, params);
  SHA256 ((const guchar *) text, strlen (text), spec->fingerprint);
}

static SutraStageSpec *
read_stage (Problems *problems, SutraRegistry *registry, const char *name, JsonNode *node)
{
  g_autofree char *json_base = g_strdup_printf ("/stages/%s", name);
  SutraStageSpec *spec = g_new0 (SutraStageSpec, 1);
  JsonObject *stage;
  JsonNode *member;
  gboolean ok = TRUE;

  spec->name = g_strdup (name);
  spec->inputs = g_ptr_array_new ();
  spec->outputs = g_ptr_array_new ();
  spec->checkpoint = TRUE;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autofree char *got = sutra_json_describe (node);

      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, json_base, name,
                  "expected an object with at least a “plugin” key, got %s", got);
      stage_spec_free (spec);
      return NULL;
    }
  stage = json_node_get_object (node);
  check_keys (problems, stage, stage_keys, json_base, name, "stage");

  member = json_object_get_member (stage, "plugin");
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_STRING)
    {
      g_autoptr (GPtrArray) known = sutra_registry_list_stage_names (registry);
      g_autofree char *choices = NULL;

      g_ptr_array_add (known, NULL);
      choices = sutra_format_choices ((const char *const *) known->pdata);
      if (member == NULL)
        problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN, json_base, name,
                    "missing “plugin” (a string). Known plugins: %s", choices);
      else
        {
          g_autofree char *got = sutra_json_describe (member);
          g_autofree char *plugin_path = g_strdup_printf ("%s/plugin", json_base);

          problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN, plugin_path, name,
                      "key “plugin”: expected a string, got %s. Known plugins: %s", got, choices);
        }
      ok = FALSE;
    }
  else
    {
      spec->plugin_name = g_strdup (json_node_get_string (member));
      spec->info = sutra_registry_find_stage (registry, spec->plugin_name, &spec->plugin);
      if (spec->info == NULL)
        {
          g_autoptr (GPtrArray) known = sutra_registry_list_stage_names (registry);
          g_autofree char *choices = NULL;
          g_autofree char *suggestion = NULL;
          g_autofree char *path = g_strdup_printf ("%s/plugin", json_base);

          g_ptr_array_add (known, NULL);
          choices = sutra_format_choices ((const char *const *) known->pdata);
          suggestion = sutra_suggest (spec->plugin_name, (const char *const *) known->pdata);
          if (suggestion != NULL)
            problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN, path, name,
                        "unknown plugin “%s”; did you mean “%s”? Known plugins: %s",
                        spec->plugin_name, suggestion, choices);
          else
            problem_at (problems, SUTRA_PIPELINE_ERROR_UNKNOWN_PLUGIN, path, name,
                        "unknown plugin “%s”. Known plugins: %s (more with --plugin-path "
                        "or SUTRA_PLUGIN_PATH)",
                        spec->plugin_name, choices);
          ok = FALSE;
        }
    }

  ok &= get_uint_member (problems, stage, "workers", 1, MAX_WORKERS, 1, &spec->workers, json_base,
                         name);
  /* 256: measured on the identity pipeline (docs/benchmarks.md), the
   * smallest of the sizes with the least CPU per item, with and without a
   * job; 64 cost a quarter to a half more (a wakeup, a store entry and a
   * journal row per batch), 4096 about as much (batches no longer stay in
   * the caches). Slow stages with few items want smaller ones: they set it. */
  ok &=
    get_uint_member (problems, stage, "batch", 1, MAX_BATCH, 256, &spec->batch, json_base, name);
  /* max_in_flight places are taken per batch, all or none (see
   * sutra-flight-limiter.h): a batch larger than the workers' share of
   * them would leave the other workers idle, or never fit. */
  ok &= get_uint_member (problems, stage, "max_in_flight", 1, MAX_IN_FLIGHT, 0,
                         &spec->max_in_flight, json_base, name);
  if (spec->max_in_flight > 0)
    {
      guint n_workers = MAX (spec->workers, 1);

      spec->batch = MIN (spec->batch, (spec->max_in_flight + n_workers - 1) / n_workers);
    }
  /* By default a queue holds four batches: a worker forms a batch only when
   * a whole one is queued, so a queue of one batch would make the stage
   * and its producer take turns instead of overlapping. */
  ok &= get_uint_member (problems, stage, "queue", 1, MAX_QUEUE, MAX (1024, 4 * spec->batch),
                         &spec->queue, json_base, name);
  /* And a size, as GStreamer's queue has both: 1024 lines are nothing,
   * 1024 chunks of speech are half a gigabyte. */
  ok &= get_uint_member (problems, stage, "queue_mb", 1, MAX_QUEUE_MB, DEFAULT_QUEUE_MB,
                         &spec->queue_mb, json_base, name);
  spec->on_error =
    g_strcmp0 (get_choice_member (problems, stage, "on_error", on_error_choices, json_base, name),
               "skip") == 0
      ? SUTRA_ON_ERROR_SKIP
      : SUTRA_ON_ERROR_FAIL;
  spec->on_missing =
    g_strcmp0 (get_choice_member (problems, stage, "on_missing", on_error_choices, json_base, name),
               "skip") == 0
      ? SUTRA_ON_ERROR_SKIP
      : SUTRA_ON_ERROR_FAIL;
  read_retry (problems, spec, stage, json_base);

  member = json_object_get_member (stage, "checkpoint");
  if (member != NULL)
    {
      if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_BOOLEAN)
        spec->checkpoint = json_node_get_boolean (member);
      else
        {
          g_autofree char *path = g_strdup_printf ("%s/checkpoint", json_base);
          g_autofree char *got = sutra_json_describe (member);

          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "key “checkpoint”: expected true or false, got %s", got);
        }
    }
  if (spec->info != NULL)
    {
      const char *cache =
        json_object_has_member (stage, "cache")
          ? get_choice_member (problems, stage, "cache", cache_choices, json_base, name)
          : NULL;

      spec->cache_content =
        cache != NULL ? strcmp (cache, "content") == 0 : spec->info->cache_content;
      if (spec->cache_content && spec->info->kind != SUTRA_STAGE_MAP)
        {
          g_autofree char *path = g_strdup_printf ("%s/cache", json_base);

          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "key “cache”: only a map caches its items by content (one output per "
                      "input); use \"batch\" or leave the key out");
          spec->cache_content = FALSE;
        }
    }
  member = json_object_get_member (stage, "rate_limit");
  if (member != NULL)
    {
      g_autofree char *path = g_strdup_printf ("%s/rate_limit", json_base);

      g_autofree char *why = NULL;

      if (!sutra_rate_limits_parse (member, &spec->rate_limits, &why))
        {
          g_autofree char *got = sutra_json_describe (member);

          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "key “rate_limit”: %s; got %s", why, got);
        }
    }
  if (g_strcmp0 (get_choice_member (problems, stage, "isolation", isolation_choices, json_base,
                                    name),
                 "process") == 0)
    spec->isolation = SUTRA_ISOLATION_PROCESS;
  if (get_uint_member (problems, stage, "timeout_ms", 0, MAX_TIMEOUT_MS, 0, &spec->timeout_ms,
                       json_base, name) &&
      spec->timeout_ms > 0 && spec->isolation != SUTRA_ISOLATION_PROCESS)
    {
      g_autofree char *path = g_strdup_printf ("%s/timeout_ms", json_base);

      /* A thread that hangs cannot be stopped from outside: a timeout
       * that could only be reported, never enforced, would be a lie. */
      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                  "key “timeout_ms” needs \"isolation\": \"process\": a worker thread that "
                  "runs over cannot be stopped, a worker process can; add \"isolation\": "
                  "\"process\" or remove timeout_ms");
    }

  if (spec->info != NULL && spec->isolation == SUTRA_ISOLATION_PROCESS &&
      (spec->info->gather_begin != NULL || spec->info->sync_commit != NULL))
    {
      g_autofree char *path = g_strdup_printf ("%s/isolation", json_base);

      /* The worker process's protocol carries process, finish and sync;
       * a streaming gather's calls and a sink's commit step not yet. */
      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                  "plugin “%s” %s, which worker processes do not carry yet: remove "
                  "\"isolation\": \"process\" from this stage",
                  spec->plugin_name,
                  spec->info->gather_begin != NULL ? "streams its gather groups"
                                                   : "syncs in two phases (sync_commit)");
    }
  if (spec->info != NULL)
    {
      JsonNode *params_node = json_object_get_member (stage, "params");
      JsonObject *params = NULL;
      ParamReport report = { problems, json_base, name };

      if (params_node != NULL && !JSON_NODE_HOLDS_OBJECT (params_node))
        {
          g_autofree char *path = g_strdup_printf ("%s/params", json_base);
          g_autofree char *got = sutra_json_describe (params_node);

          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_PARAM, path, name,
                      "key “params”: expected an object, got %s", got);
        }
      else if (params_node != NULL)
        params = json_node_get_object (params_node);
      spec->settings = sutra_settings_new (spec->info, params, report_param_problem, &report);
      if (spec->settings != NULL)
        {
          spec->resolved_params = sutra_settings_to_json (spec->settings);
          compute_fingerprint (spec);
          check_path_params (problems, spec, json_base);
        }
      check_devices (problems, spec, stage, json_base);
      default_workers_to_devices (spec, stage);
      /* One problem, one message: a source that is also single-threaded
       * (text-source) is told it is a source. */
      if (spec->info->kind == SUTRA_STAGE_SOURCE && spec->max_in_flight > 0)
        {
          g_autofree char *path = g_strdup_printf ("%s/max_in_flight", json_base);
          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "a source has no items in flight (it makes them, in one call); remove "
                      "max_in_flight, or set it on the stage that takes its items");
        }
      if (spec->info->kind == SUTRA_STAGE_SOURCE && spec->workers > 1)
        {
          g_autofree char *path = g_strdup_printf ("%s/workers", json_base);
          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "a source runs one worker; set workers to 1");
        }
      else if (spec->info->threading == SUTRA_THREADING_SINGLE && spec->workers > 1 &&
               spec->info->kind == SUTRA_STAGE_SINK)
        {
          g_autofree char *path = g_strdup_printf ("%s/workers", json_base);
          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "plugin “%s” is not thread-safe (or writes one ordered output): "
                      "it runs one worker in the process; set workers to 1, or run its "
                      "workers as child processes with \"isolation\": \"process\"",
                      spec->plugin_name);
        }
      /* Worker processes share nothing: a plugin with global state runs
       * as many of them as asked. Threads share the process. */
      else if (spec->info->threading == SUTRA_THREADING_SINGLE && spec->workers > 1 &&
               spec->isolation != SUTRA_ISOLATION_PROCESS)
        {
          g_autofree char *path = g_strdup_printf ("%s/workers", json_base);
          problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                      "plugin “%s” is not thread-safe: as threads it runs one worker; set "
                      "workers to 1, or add \"isolation\": \"process\" to run %u workers "
                      "as processes",
                      spec->plugin_name, spec->workers);
        }
    }
  (void) ok;
  return spec;
}

/* Inputs as the file gives them: a string or an array of strings. */
static GPtrArray *
read_input_names (Problems *problems, JsonObject *stage, const char *name)
{
  JsonNode *node = json_object_get_member (stage, "input");
  g_autofree char *path = g_strdup_printf ("/stages/%s/input", name);
  GPtrArray *names = g_ptr_array_new ();

  if (node == NULL)
    return names;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    g_ptr_array_add (names, (gpointer) json_node_get_string (node));
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (JSON_NODE_HOLDS_VALUE (element) &&
              json_node_get_value_type (element) == G_TYPE_STRING)
            g_ptr_array_add (names, (gpointer) json_node_get_string (element));
          else
            {
              g_autofree char *got = sutra_json_describe (element);

              problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                          "input[%u]: expected a stage name, got %s", i, got);
            }
        }
    }
  else
    {
      g_autofree char *got = sutra_json_describe (node);

      problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, path, name,
                  "key “input”: expected a stage name or an array of stage names, got %s", got);
    }
  return names;
}

/* Reports the cycle that closes when @trail (the depth-first path, each
 * stage feeding the next) reaches @spec again, as "a → b → a". */
static void
report_cycle (Problems *problems, GPtrArray *trail, SutraStageSpec *spec)
{
  g_autoptr (GString) cycle = g_string_new (NULL);
  g_autofree char *path = g_strdup_printf ("/stages/%s/input", spec->name);
  gboolean in_cycle = FALSE;

  if (problems_are_full (problems))
    {
      problem_at (problems, SUTRA_PIPELINE_ERROR_CYCLE, path, spec->name, "a cycle");
      return;
    }
  for (guint i = 0; i < trail->len; i++)
    {
      SutraStageSpec *step = trail->pdata[i];

      in_cycle |= step == spec;
      if (in_cycle)
        g_string_append_printf (cycle, "%s → ", step->name);
    }
  g_string_append (cycle, spec->name);
  problem_at (problems, SUTRA_PIPELINE_ERROR_CYCLE, path, spec->name,
              "the stages form a cycle: %s (each takes its input from the one before); "
              "remove one of these inputs",
              cycle->str);
}

typedef enum
{
  UNSEEN,
  ON_TRAIL,
  DONE,
} VisitState;

/* Reports every cycle: a depth-first search over the edges from each stage
 * to the stages it feeds, in the file's order, reports each edge back to a
 * stage on the current path, so two separate cycles are two problems (and
 * one stage in two cycles, both). Iterative, with its own stack: a file can
 * chain hundreds of thousands of stages. */
static void
find_cycles (Problems *problems, GPtrArray *specs)
{
  g_autoptr (GHashTable) state = g_hash_table_new (NULL, NULL);
  g_autoptr (GPtrArray) trail = g_ptr_array_new ();
  g_autoptr (GArray) next_output = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < specs->len; i++)
    {
      SutraStageSpec *root = specs->pdata[i];
      guint zero = 0;

      if (g_hash_table_contains (state, root))
        continue;
      g_hash_table_insert (state, root, GINT_TO_POINTER (ON_TRAIL));
      g_ptr_array_add (trail, root);
      g_array_append_val (next_output, zero);
      while (trail->len > 0)
        {
          SutraStageSpec *spec = trail->pdata[trail->len - 1];
          guint *next = &g_array_index (next_output, guint, next_output->len - 1);
          SutraStageSpec *output;
          VisitState seen;

          if (*next == spec->outputs->len)
            {
              g_hash_table_insert (state, spec, GINT_TO_POINTER (DONE));
              g_ptr_array_set_size (trail, trail->len - 1);
              g_array_set_size (next_output, next_output->len - 1);
              continue;
            }
          output = spec->outputs->pdata[(*next)++];
          seen = GPOINTER_TO_INT (g_hash_table_lookup (state, output));
          if (seen == ON_TRAIL)
            report_cycle (problems, trail, output);
          else if (seen == UNSEEN)
            {
              g_hash_table_insert (state, output, GINT_TO_POINTER (ON_TRAIL));
              g_ptr_array_add (trail, output);
              g_array_append_val (next_output, zero);
            }
        }
    }
}

/* Whether a split lies upstream of @spec. Answers are kept in @known
 * (stage -> TRUE or FALSE + 1) so that many gathers cost one walk of the
 * graph; the walk is iterative, like find_cycles(). */
static gboolean
has_split_upstream (SutraStageSpec *start, GHashTable *known)
{
  g_autoptr (GPtrArray) stack = g_ptr_array_new ();
  g_autoptr (GArray) next_input = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GHashTable) on_stack = g_hash_table_new (NULL, NULL);
  guint zero = 0;
  gpointer answer;

  if (g_hash_table_lookup_extended (known, start, NULL, &answer))
    return GPOINTER_TO_INT (answer) - 1;
  g_ptr_array_add (stack, start);
  g_array_append_val (next_input, zero);
  g_hash_table_add (on_stack, start);
  while (stack->len > 0)
    {
      SutraStageSpec *spec = stack->pdata[stack->len - 1];
      guint *next = &g_array_index (next_input, guint, next_input->len - 1);
      SutraStageSpec *input;
      gboolean found = FALSE;

      if (*next == spec->inputs->len)
        {
          /* Every input said no (inputs said yes end the walk below). */
          g_hash_table_insert (known, spec, GINT_TO_POINTER (FALSE + 1));
          g_hash_table_remove (on_stack, spec);
          g_ptr_array_set_size (stack, stack->len - 1);
          g_array_set_size (next_input, next_input->len - 1);
          continue;
        }
      input = spec->inputs->pdata[(*next)++];
      if (input->info != NULL && input->info->kind == SUTRA_STAGE_SPLIT)
        found = TRUE;
      else if (g_hash_table_lookup_extended (known, input, NULL, &answer))
        found = GPOINTER_TO_INT (answer) - 1;
      else if (!g_hash_table_contains (on_stack, input)) /* a cycle adds nothing */
        {
          g_ptr_array_add (stack, input);
          g_array_append_val (next_input, zero);
          g_hash_table_add (on_stack, input);
        }
      if (found)
        {
          /* Everything on the stack reads, through the next, from a split. */
          for (guint i = 0; i < stack->len; i++)
            g_hash_table_insert (known, stack->pdata[i], GINT_TO_POINTER (TRUE + 1));
          return TRUE;
        }
    }
  return FALSE;
}

/* A binary min-heap of positions in the file, for topological_order(). */
static void
heap_push (GArray *heap, guint value)
{
  guint i = heap->len;

  g_array_append_val (heap, value);
  while (i > 0 && g_array_index (heap, guint, (i - 1) / 2) > value)
    {
      g_array_index (heap, guint, i) = g_array_index (heap, guint, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  g_array_index (heap, guint, i) = value;
}

static guint
heap_pop (GArray *heap)
{
  guint top = g_array_index (heap, guint, 0);
  guint last = g_array_index (heap, guint, heap->len - 1);
  guint i = 0;

  g_array_set_size (heap, heap->len - 1);
  while (heap->len > 0)
    {
      guint child = 2 * i + 1;

      if (child >= heap->len)
        break;
      if (child + 1 < heap->len &&
          g_array_index (heap, guint, child + 1) < g_array_index (heap, guint, child))
        child++;
      if (g_array_index (heap, guint, child) >= last)
        break;
      g_array_index (heap, guint, i) = g_array_index (heap, guint, child);
      i = child;
    }
  if (heap->len > 0)
    g_array_index (heap, guint, i) = last;
  return top;
}

/* Orders stages so every stage comes after its inputs; among ready stages,
 * the one first in the file (Kahn's algorithm, with the ready stages in a
 * heap by file position: O(n log n) however many stages). */
static GPtrArray *
topological_order (GPtrArray *in_file_order)
{
  GPtrArray *order = g_ptr_array_new ();
  g_autoptr (GHashTable) position = g_hash_table_new (NULL, NULL);
  g_autofree guint *remaining = g_new0 (guint, in_file_order->len + 1);
  g_autoptr (GArray) ready = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < in_file_order->len; i++)
    {
      SutraStageSpec *spec = in_file_order->pdata[i];

      g_hash_table_insert (position, spec, GUINT_TO_POINTER (i));
      remaining[i] = spec->inputs->len;
      if (remaining[i] == 0)
        heap_push (ready, i);
    }
  while (ready->len > 0)
    {
      SutraStageSpec *spec = in_file_order->pdata[heap_pop (ready)];

      spec->index = order->len;
      g_ptr_array_add (order, spec);
      for (guint j = 0; j < spec->outputs->len; j++)
        {
          guint next = GPOINTER_TO_UINT (g_hash_table_lookup (position, spec->outputs->pdata[j]));

          /* A stage naming the same input twice counts it twice. */
          if (--remaining[next] == 0)
            heap_push (ready, next);
        }
    }
  return order;
}

/* The media types @spec declares it pushes; a map that declares none
 * pushes what it takes, so those of its one input. NULL: unknown. The
 * depth bounds the walk on a cycle, which is reported on its own. */
static const char *const *
produced_media_types (const SutraStageSpec *spec, guint depth)
{
  if (spec->info == NULL || depth > 64)
    return NULL;
  if (spec->info->output_media_types != NULL)
    return spec->info->output_media_types;
  if (spec->info->kind == SUTRA_STAGE_MAP && spec->inputs->len == 1)
    return produced_media_types (spec->inputs->pdata[0], depth + 1);
  return NULL;
}

static void
check_graph (Problems *problems, GPtrArray *specs, GHashTable *by_name, JsonObject *stages)
{
  g_autoptr (GHashTable) split_upstream = g_hash_table_new (NULL, NULL);

  for (guint i = 0; i < specs->len; i++)
    {
      SutraStageSpec *spec = specs->pdata[i];
      JsonObject *stage = json_object_get_object_member (stages, spec->name);
      g_autoptr (GPtrArray) names = read_input_names (problems, stage, spec->name);
      g_autofree char *path = g_strdup_printf ("/stages/%s/input", spec->name);

      for (guint j = 0; j < names->len; j++)
        {
          SutraStageSpec *input = g_hash_table_lookup (by_name, names->pdata[j]);

          if (input == NULL && problems_are_full (problems))
            {
              problem_at (problems, SUTRA_PIPELINE_ERROR_MISSING_INPUT, path, spec->name,
                          "input names no stage");
              continue;
            }
          if (input == NULL)
            {
              g_autoptr (GPtrArray) known = g_ptr_array_new ();
              g_autofree char *choices = NULL;
              g_autofree char *suggestion = NULL;

              for (guint k = 0; k < specs->len; k++)
                if (k != i)
                  g_ptr_array_add (known, ((SutraStageSpec *) specs->pdata[k])->name);
              g_ptr_array_add (known, NULL);
              choices = sutra_format_choices ((const char *const *) known->pdata);
              suggestion = sutra_suggest (names->pdata[j], (const char *const *) known->pdata);
              if (suggestion != NULL)
                problem_at (problems, SUTRA_PIPELINE_ERROR_MISSING_INPUT, path, spec->name,
                            "input “%s” names no stage; did you mean “%s”? Stages: %s",
                            (char *) names->pdata[j], suggestion, choices);
              else
                problem_at (problems, SUTRA_PIPELINE_ERROR_MISSING_INPUT, path, spec->name,
                            "input “%s” names no stage. Stages: %s", (char *) names->pdata[j],
                            choices);
              continue;
            }
          g_ptr_array_add (spec->inputs, input);
          g_ptr_array_add (input->outputs, spec);
        }
    }

  /* Kinds and edges, once every edge is known. */
  for (guint i = 0; i < specs->len; i++)
    {
      SutraStageSpec *spec = specs->pdata[i];
      g_autofree char *path = g_strdup_printf ("/stages/%s", spec->name);

      if (spec->info == NULL)
        continue;
      if (spec->info->kind == SUTRA_STAGE_SOURCE && spec->inputs->len > 0)
        problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, path, spec->name,
                    "plugin “%s” is a source and takes no “input”: remove the key",
                    spec->plugin_name);
      if (spec->info->kind != SUTRA_STAGE_SOURCE && spec->inputs->len == 0 &&
          json_object_get_member (json_object_get_object_member (stages, spec->name), "input") ==
            NULL)
        problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, path, spec->name,
                    "plugin “%s” is a %s and needs an “input”: name the stage it reads from",
                    spec->plugin_name, sutra_stage_kind_to_string (spec->info->kind));
      for (guint j = 0; j < spec->inputs->len; j++)
        {
          SutraStageSpec *input = spec->inputs->pdata[j];

          if (input->info != NULL && input->info->kind == SUTRA_STAGE_SINK)
            {
              g_autofree char *input_path = g_strdup_printf ("/stages/%s/input", spec->name);
              problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, input_path, spec->name,
                          "input “%s” is a sink (plugin “%s”), and a sink feeds no stage: "
                          "take the input from the stage before it",
                          input->name, input->plugin_name);
            }
          else if (input->info != NULL &&
                   !sutra_media_types_overlap (produced_media_types (input, 0),
                                               spec->info->input_media_types))
            {
              g_autofree char *input_path = g_strdup_printf ("/stages/%s/input", spec->name);
              g_autofree char *produced =
                g_strjoinv (", ", (char **) produced_media_types (input, 0));
              g_autofree char *taken = g_strjoinv (", ", (char **) spec->info->input_media_types);

              problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, input_path, spec->name,
                          "input “%s” produces %s, and plugin “%s” takes none of these (it "
                          "takes %s): put a stage that converts between them in between",
                          input->name, produced, spec->plugin_name, taken);
            }
        }
    }

  /* The checks below tolerate cycles, so that every other problem is
   * reported too. */
  find_cycles (problems, specs);

  for (guint i = 0; i < specs->len; i++)
    {
      SutraStageSpec *spec = specs->pdata[i];
      g_autofree char *path = g_strdup_printf ("/stages/%s/input", spec->name);

      if (spec->info != NULL && spec->info->kind == SUTRA_STAGE_GATHER && spec->inputs->len > 0 &&
          !has_split_upstream (spec, split_upstream))
        problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, path, spec->name,
                    "plugin “%s” is a gather, but no split lies upstream of it: a gather "
                    "joins the children of a split (such as “segmenter”)",
                    spec->plugin_name);
    }

  {
    g_autoptr (GPtrArray) order = topological_order (specs);
    g_autoptr (GHashTable) depths = g_hash_table_new (NULL, NULL);

    /* Item paths hold at most SUTRA_ITEM_MAX_DEPTH positions: a chain of
     * splits that needs more could only lose items. The least depth of a
     * stage's items: a source's are 1 deep, a split adds at least a level, a
     * gather takes one off. Stages come after their inputs in @order, so one
     * pass computes it without recursion (a chain of 200,000 stages must
     * not overflow the stack); a stage on a cycle is not in @order, and an
     * input on one counts as a source (the cycle is reported on its own). */
    for (guint i = 0; i < order->len; i++)
      {
        SutraStageSpec *spec = order->pdata[i];
        guint depth = 1;

        for (guint j = 0; j < spec->inputs->len; j++)
          depth =
            MAX (depth, GPOINTER_TO_UINT (g_hash_table_lookup (depths, spec->inputs->pdata[j])));
        if (spec->info != NULL && spec->info->kind == SUTRA_STAGE_SPLIT)
          depth++;
        else if (spec->info != NULL && spec->info->kind == SUTRA_STAGE_GATHER && depth > 1)
          depth--;
        g_hash_table_insert (depths, spec, GUINT_TO_POINTER (depth));
        if (depth > SUTRA_ITEM_MAX_DEPTH)
          {
            g_autofree char *path = g_strdup_printf ("/stages/%s", spec->name);

            problem_at (problems, SUTRA_PIPELINE_ERROR_BAD_GRAPH, path, spec->name,
                        "the splits before this stage nest its items deeper than the %u "
                        "levels an item's path can hold (SUTRA_ITEM_MAX_DEPTH); gather "
                        "some levels before splitting further",
                        (guint) SUTRA_ITEM_MAX_DEPTH);
            break;
          }
      }
  }
}

/* Pipeline files are small and shallow. json-glib reads the whole text into
 * a tree and recurses once per level (an array nested 100,000 deep overflowed
 * the stack), so larger or deeper texts are refused before it sees them. */
static gboolean
check_limits (const char *path, const char *text, gsize length, GError **error)
{
  guint line, column;

  if (length > SUTRA_JSON_MAX_BYTES)
    {
      sutra_json_position_at (text, SUTRA_JSON_MAX_BYTES, &line, &column);
      g_set_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE,
                   "%s:%u:%u: the file goes on past %u MiB, the most a pipeline file may "
                   "hold: a pipeline names its stages and their settings; keep data in "
                   "input files",
                   path, line, column, SUTRA_JSON_MAX_BYTES / (1024 * 1024));
      return FALSE;
    }
  if (!sutra_json_check_depth (text, length, SUTRA_JSON_MAX_DEPTH, &line, &column))
    {
      g_set_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_TOO_LARGE,
                   "%s:%u:%u: nested deeper than %u levels of arrays and objects, the most a "
                   "pipeline file may nest: a stage's settings need a few levels; check for "
                   "unclosed or runaway brackets",
                   path, line, column, SUTRA_JSON_MAX_DEPTH);
      return FALSE;
    }
  return TRUE;
}

/* Reads at most one byte more than a pipeline file may hold, so that a huge
 * file (or an endless device) is refused without being read whole. */
static char *
read_pipeline_file (const char *path, gsize *length, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) stream = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *text = g_malloc (SUTRA_JSON_MAX_BYTES + 2);
  gsize n_read = 0;

  stream = g_file_read (file, NULL, &local);
  if (stream == NULL || !g_input_stream_read_all (G_INPUT_STREAM (stream), text,
                                                  SUTRA_JSON_MAX_BYTES + 1, &n_read, NULL, &local))
    {
      g_set_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_READ,
                   "cannot read pipeline file “%s”: %s", path, local->message);
      return NULL;
    }
  text[n_read] = '\0';
  *length = n_read;
  return g_steal_pointer (&text);
}

/* The job snapshot, read back by `sutra resume`: json-glib 1.6 writes a
 * double such as 1e20 as "1e+20.0", which it cannot read back, and 0.1 as
 * 0.10000000000000001; sutra_json_to_data() writes 1e+20 and 0.1. */
static char *
canonical_json (JsonNode *node)
{
  return sutra_json_to_data (node, TRUE, NULL);
}

SutraPipeline *
sutra_pipeline_load_from_data_full (const char *path,
                                    const char *text,
                                    gssize length,
                                    SutraRegistry *registry,
                                    const char *const *overrides,
                                    SutraPipelineLoadFlags flags,
                                    GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (SutraJsonLocations) locations = NULL;
  g_autoptr (GString) messages = g_string_new (NULL);
  g_autoptr (GHashTable) vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) specs = g_ptr_array_new_with_free_func ((GDestroyNotify) stage_spec_free);
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GHashTable) unresolved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Problems problems = { path, NULL, messages,   0,
                        0,    0,    unresolved, (flags & SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY) != 0 };
  JsonNode *root;
  JsonObject *document, *stages = NULL;
  JsonNode *member;
  Resolver resolver;

  if (length < 0)
    length = strlen (text);
  if (!check_limits (path, text, length, error))
    return NULL;
  if (!sutra_json_parser_load_document (parser, text, length, &parse_error))
    {
      /* json-glib says "<data>:LINE:COL: Parse error: ..."; keep the
       * position, name the file. */
      const char *message = parse_error->message;

      if (g_str_has_prefix (message, "<data>"))
        message += strlen ("<data>");
      g_set_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_SYNTAX,
                   "%s%s%s: not valid JSON", path, message[0] == ':' ? "" : ": ", message);
      return NULL;
    }
  locations = sutra_json_locations_new (text, length);
  problems.locations = locations;

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_SYNTAX,
                   "%s: a pipeline file is a JSON object with “sutra” and “stages” keys", path);
      return NULL;
    }
  document = json_node_get_object (root);
  check_keys (&problems, document, top_level_keys, "", NULL, "top-level");

  member = json_object_get_member (document, "sutra");
  if (member == NULL)
    problem_at (&problems, SUTRA_PIPELINE_ERROR_VERSION, "", NULL,
                "missing “sutra”: the file format version; add \"sutra\": 1");
  else if (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != G_TYPE_INT64 ||
           json_node_get_int (member) != 1)
    {
      g_autofree char *got = sutra_json_describe (member);

      problem_at (&problems, SUTRA_PIPELINE_ERROR_VERSION, "/sutra", NULL,
                  "“sutra” must be 1, got %s: this sutra (%s) reads pipeline format 1", got,
                  SUTRA_VERSION_STRING);
    }

  member = json_object_get_member (document, "stages");
  if (member == NULL || !JSON_NODE_HOLDS_OBJECT (member) ||
      json_object_get_size (json_node_get_object (member)) == 0)
    {
      g_autofree char *got = member == NULL                    ? g_strdup ("nothing")
                             : JSON_NODE_HOLDS_OBJECT (member) ? g_strdup ("an empty object")
                                                               : sutra_json_describe (member);

      problem_at (&problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, member ? "/stages" : "", NULL,
                  "“stages” must be an object with at least one stage, got %s", got);
    }
  else
    stages = json_node_get_object (member);

  member = json_object_get_member (document, "vars");
  if (member != NULL)
    {
      if (JSON_NODE_HOLDS_OBJECT (member))
        {
          g_autoptr (GList) names = json_object_get_members (json_node_get_object (member));

          for (GList *l = names; l != NULL; l = l->next)
            {
              JsonNode *value = json_object_get_member (json_node_get_object (member), l->data);
              g_autofree char *var_path = g_strdup_printf ("/vars/%s", (char *) l->data);

              GType type =
                JSON_NODE_HOLDS_VALUE (value) ? json_node_get_value_type (value) : G_TYPE_INVALID;

              if (type == G_TYPE_STRING)
                g_hash_table_replace (vars, g_strdup (l->data),
                                      g_strdup (json_node_get_string (value)));
              else if (type == G_TYPE_INT64)
                g_hash_table_replace (vars, g_strdup (l->data),
                                      g_strdup_printf ("%" G_GINT64_FORMAT,
                                                       json_node_get_int (value)));
              else if (type == G_TYPE_DOUBLE)
                {
                  char number[SUTRA_DOUBLE_BUFFER_SIZE];

                  /* The shortest text that reads back as the same double:
                   * "rate ${r}" with r = 0.1 is "rate 0.1". */
                  sutra_format_double (number, json_node_get_double (value));
                  g_hash_table_replace (vars, g_strdup (l->data), g_strdup (number));
                }
              else if (type == G_TYPE_BOOLEAN)
                g_hash_table_replace (vars, g_strdup (l->data),
                                      g_strdup (json_node_get_boolean (value) ? "true" : "false"));
              else
                {
                  g_autofree char *got = sutra_json_describe (value);

                  problem_at (&problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, var_path, NULL,
                              "variable defaults are strings, numbers or booleans; “%s” is %s",
                              (char *) l->data, got);
                }
            }
        }
      else
        {
          g_autofree char *got = sutra_json_describe (member);

          problem_at (&problems, SUTRA_PIPELINE_ERROR_BAD_VALUE, "/vars", NULL,
                      "“vars” must be an object of default values, got %s", got);
        }
    }

  apply_overrides (&problems, stages, overrides, vars);
  resolver = (Resolver){ vars, &problems };

  if (stages != NULL)
    {
      g_autoptr (GList) names = json_object_get_members (stages);
      g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);

      for (GList *l = names; l != NULL; l = l->next)
        {
          const char *name = l->data;
          JsonNode *node = json_object_get_member (stages, name);
          g_autofree char *stage_path = g_strdup_printf ("/stages/%s", name);
          SutraStageSpec *spec;

          resolve_node (&resolver, node, stage_path, name);
          spec = read_stage (&problems, registry, name, node);
          if (spec != NULL)
            {
              g_ptr_array_add (specs, spec);
              g_hash_table_insert (by_name, spec->name, spec);
            }
        }
      check_graph (&problems, specs, by_name, stages);
      if (!problems.structure_only)
        check_shared_paths (&problems, specs);
    }

  if (problems.n_problems > 0)
    {
      if (problems.n_problems > problems.n_shown)
        {
          g_autofree char *heading = g_strdup_printf ("%s: %u problems (the first %u follow):\n",
                                                      path, problems.n_problems, problems.n_shown);
          g_string_prepend (messages, heading);
          g_string_append_printf (messages, "\n%s: … and %u more problems", path,
                                  problems.n_problems - problems.n_shown);
        }
      else if (problems.n_problems > 1)
        {
          g_autofree char *heading =
            g_strdup_printf ("%s: %u problems:\n", path, problems.n_problems);
          g_string_prepend (messages, heading);
        }
      g_set_error_literal (error, SUTRA_PIPELINE_ERROR, problems.first_code, messages->str);
      return NULL;
    }

  pipeline = g_new0 (SutraPipeline, 1);
  pipeline->path = g_strdup (path);
  member = json_object_get_member (document, "name");
  pipeline->name = g_strdup (member != NULL && JSON_NODE_HOLDS_VALUE (member) &&
                                 json_node_get_value_type (member) == G_TYPE_STRING
                               ? json_node_get_string (member)
                               : "pipeline");
  pipeline->stages = topological_order (specs);
  g_ptr_array_set_free_func (specs, NULL);
  g_ptr_array_set_free_func (pipeline->stages, (GDestroyNotify) stage_spec_free);
  pipeline->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      g_hash_table_insert (pipeline->by_name, spec->name, spec);
    }
  json_object_remove_member (document, "vars");
  pipeline->resolved = json_node_copy (root);
  pipeline->resolved_json = canonical_json (pipeline->resolved);
  return g_steal_pointer (&pipeline);
}

SutraPipeline *
sutra_pipeline_load_from_data (const char *path,
                               const char *text,
                               gssize length,
                               SutraRegistry *registry,
                               const char *const *overrides,
                               GError **error)
{
  return sutra_pipeline_load_from_data_full (path, text, length, registry, overrides,
                                             SUTRA_PIPELINE_LOAD_DEFAULT, error);
}

SutraPipeline *
sutra_pipeline_load_full (const char *path,
                          SutraRegistry *registry,
                          const char *const *overrides,
                          SutraPipelineLoadFlags flags,
                          GError **error)
{
  g_autofree char *text = NULL;
  gsize length = 0;

  text = read_pipeline_file (path, &length, error);
  if (text == NULL)
    return NULL;
  return sutra_pipeline_load_from_data_full (path, text, length, registry, overrides, flags, error);
}

SutraPipeline *
sutra_pipeline_load (const char *path,
                     SutraRegistry *registry,
                     const char *const *overrides,
                     GError **error)
{
  return sutra_pipeline_load_full (path, registry, overrides, SUTRA_PIPELINE_LOAD_DEFAULT, error);
}

/* A DOT quoted string's contents: names may hold quotes and backslashes. */
static char *
dot_escape (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

char *
sutra_pipeline_to_dot (SutraPipeline *pipeline)
{
  GString *dot = g_string_new (NULL);
  g_autofree char *name = dot_escape (pipeline->name);

  g_string_append_printf (dot,
                          "digraph \"%s\" {\n  rankdir=LR;\n"
                          "  node [shape=box, style=rounded, fontname=\"sans\"];\n",
                          name);
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      g_autofree char *stage = dot_escape (spec->name);
      g_autofree char *plugin = dot_escape (spec->plugin_name);
      const char *shape = "box";

      switch (spec->info->kind)
        {
        case SUTRA_STAGE_SOURCE:
          shape = "invhouse";
          break;
        case SUTRA_STAGE_SINK:
          shape = "house";
          break;
        case SUTRA_STAGE_SPLIT:
          shape = "trapezium";
          break;
        case SUTRA_STAGE_GATHER:
          shape = "invtrapezium";
          break;
        default:
          break;
        }
      g_string_append_printf (
        dot, "  \"%s\" [shape=%s, label=\"%s\\n%s (%s)\\nworkers %u, batch %u\"];\n", stage, shape,
        stage, plugin, sutra_stage_kind_to_string (spec->info->kind), spec->workers, spec->batch);
    }
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      g_autofree char *stage = dot_escape (spec->name);

      for (guint j = 0; j < spec->inputs->len; j++)
        {
          g_autofree char *input = dot_escape (((SutraStageSpec *) spec->inputs->pdata[j])->name);

          g_string_append_printf (dot, "  \"%s\" -> \"%s\" [label=\"queue %u\"];\n", input, stage,
                                  spec->queue);
        }
    }
  g_string_append (dot, "}\n");
  return g_string_free (dot, FALSE);
}
