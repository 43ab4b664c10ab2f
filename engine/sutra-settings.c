/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parameter tables: defaults, type and range checks, suggestions. */

#include "sutra-settings.h"
#include "sutra-registry.h"

#include <math.h>
#include <string.h>

#define MAX_CHOICES_LISTED 20

struct _SutraSettings
{
  const SutraStageInfo *stage;
  gpointer data;
  GPtrArray *strings; /* owned copies the struct points at */
};

void
sutra_settings_free (SutraSettings *settings)
{
  if (settings == NULL)
    return;
  g_free (settings->data);
  g_ptr_array_unref (settings->strings);
  g_free (settings);
}

gconstpointer
sutra_settings_get_data (const SutraSettings *settings)
{
  return settings->data;
}

/* Edit distance for "did you mean": Levenshtein's insertions, deletions and
 * substitutions, plus the swap of two adjacent characters (optimal string
 * alignment), the commonest typo: "raed" is one edit from "read", not two. */
static guint
edit_distance (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *d = g_new (guint, (la + 1) * (lb + 1));

#define D(i, j) d[(i) * (lb + 1) + (j)]
  for (gsize i = 0; i <= la; i++)
    D (i, 0) = i;
  for (gsize j = 0; j <= lb; j++)
    D (0, j) = j;
  for (gsize i = 1; i <= la; i++)
    for (gsize j = 1; j <= lb; j++)
      {
        guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

        D (i, j) = MIN (MIN (D (i - 1, j) + 1, D (i, j - 1) + 1), D (i - 1, j - 1) + cost);
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
          D (i, j) = MIN (D (i, j), D (i - 2, j - 2) + 1);
      }
  return D (la, lb);
#undef D
}

char *
sutra_suggest (const char *word, const char *const *candidates)
{
  const char *best = NULL;
  guint best_distance = G_MAXUINT;

  for (guint i = 0; candidates != NULL && candidates[i] != NULL; i++)
    {
      guint distance = edit_distance (word, candidates[i]);

      if (distance < best_distance)
        {
          best = candidates[i];
          best_distance = distance;
        }
    }
  /* A third of the word's length, at least 1 and at most 3 edits: "wokers"
   * finds "workers"; "x" does not find "sleep_us". */
  if (best != NULL && best_distance <= CLAMP (strlen (word) / 3, 1, 3))
    return g_strdup (best);
  return NULL;
}

char *
sutra_format_choices (const char *const *choices)
{
  GString *out = g_string_new (NULL);
  guint n = choices != NULL ? g_strv_length ((char **) choices) : 0;

  /* A pipeline of thousands of stages lists a few, and says how many. */
  if (n > MAX_CHOICES_LISTED)
    {
      for (guint i = 0; i < MAX_CHOICES_LISTED; i++)
        g_string_append_printf (out, "“%s”, ", choices[i]);
      g_string_append_printf (out, "… (%u in all)", n);
      return g_string_free (out, FALSE);
    }
  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append (out, i + 1 == n ? " or " : ", ");
      g_string_append_printf (out, "“%s”", choices[i]);
    }
  if (n == 0)
    g_string_append (out, "(none)");
  return g_string_free (out, FALSE);
}

char *
sutra_json_describe (JsonNode *node)
{
  char number[SUTRA_DOUBLE_BUFFER_SIZE];

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("null");
  if (JSON_NODE_HOLDS_OBJECT (node))
    return g_strdup ("an object");
  if (JSON_NODE_HOLDS_ARRAY (node))
    return g_strdup ("an array");
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_BOOLEAN:
      return g_strdup_printf ("a boolean (%s)", json_node_get_boolean (node) ? "true" : "false");
    case G_TYPE_INT64:
      return g_strdup_printf ("an integer (%" G_GINT64_FORMAT ")", json_node_get_int (node));
    case G_TYPE_DOUBLE:
      return g_strdup_printf ("a number (%s)",
                              sutra_format_double (number, json_node_get_double (node)));
    case G_TYPE_STRING:
      {
        const char *text = json_node_get_string (node);
        gsize length = strlen (text);
        /* Enough to recognize the value, not a whole book pasted in; valid
         * UTF-8 even when cut inside a character (or given invalid). */
        g_autofree char *shown = g_utf8_make_valid (text, MIN (length, 60));

        return g_strdup_printf ("a string (“%s%s”)", shown, length > 60 ? "…" : "");
      }
    default:
      return g_strdup ("a value");
    }
}

static gboolean
node_is (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static const char *
expected_type (SutraParamType type)
{
  switch (type)
    {
    case SUTRA_PARAM_BOOL:
      return "a boolean (true or false)";
    case SUTRA_PARAM_INT:
      return "an integer";
    case SUTRA_PARAM_DOUBLE:
      return "a number";
    default:
      return "a string";
    }
}

static void
store_string (SutraSettings *settings, const SutraParamInfo *param, const char *value)
{
  char *copy = g_strdup (value);

  if (copy != NULL)
    g_ptr_array_add (settings->strings, copy);
  G_STRUCT_MEMBER (const char *, settings->data, param->offset) = copy;
}

static void
store_default (SutraSettings *settings, const SutraParamInfo *param)
{
  switch (param->type)
    {
    case SUTRA_PARAM_BOOL:
      G_STRUCT_MEMBER (gboolean, settings->data, param->offset) = param->default_int != 0;
      break;
    case SUTRA_PARAM_INT:
      G_STRUCT_MEMBER (gint64, settings->data, param->offset) = param->default_int;
      break;
    case SUTRA_PARAM_DOUBLE:
      G_STRUCT_MEMBER (double, settings->data, param->offset) = param->default_double;
      break;
    case SUTRA_PARAM_STRING:
      store_string (settings, param, param->default_string);
      break;
    case SUTRA_PARAM_ENUM:
      G_STRUCT_MEMBER (const char *, settings->data, param->offset) = param->default_string;
      break;
    }
}

/* Checks one value and stores it; returns an error message, or NULL. */
static char *
store_value (SutraSettings *settings, const SutraParamInfo *param, JsonNode *node)
{
  switch (param->type)
    {
    case SUTRA_PARAM_BOOL:
      if (!node_is (node, G_TYPE_BOOLEAN))
        break;
      G_STRUCT_MEMBER (gboolean, settings->data, param->offset) = json_node_get_boolean (node);
      return NULL;

    case SUTRA_PARAM_INT:
      {
        gint64 value;

        if (!node_is (node, G_TYPE_INT64))
          break;
        value = json_node_get_int (node);
        if ((double) value < param->min || (double) value > param->max)
          return g_strdup_printf ("%" G_GINT64_FORMAT " is out of range: it must lie "
                                  "between %.0f and %.0f",
                                  value, param->min, param->max);
        G_STRUCT_MEMBER (gint64, settings->data, param->offset) = value;
        return NULL;
      }

    case SUTRA_PARAM_DOUBLE:
      {
        double value;

        if (!node_is (node, G_TYPE_DOUBLE) && !node_is (node, G_TYPE_INT64))
          break;
        value = json_node_get_double (node);
        if (!isfinite (value) || value < param->min || value > param->max)
          {
            char text[SUTRA_DOUBLE_BUFFER_SIZE], min[SUTRA_DOUBLE_BUFFER_SIZE],
              max[SUTRA_DOUBLE_BUFFER_SIZE];

            return g_strdup_printf ("%s is out of range: it must lie between %s and %s",
                                    sutra_format_double (text, value),
                                    sutra_format_double (min, param->min),
                                    sutra_format_double (max, param->max));
          }
        G_STRUCT_MEMBER (double, settings->data, param->offset) = value;
        return NULL;
      }

    case SUTRA_PARAM_STRING:
      if (!node_is (node, G_TYPE_STRING))
        break;
      store_string (settings, param, json_node_get_string (node));
      return NULL;

    case SUTRA_PARAM_ENUM:
      {
        const char *value;
        g_autofree char *choices = NULL;
        g_autofree char *suggestion = NULL;

        if (!node_is (node, G_TYPE_STRING))
          break;
        value = json_node_get_string (node);
        for (guint i = 0; param->choices[i] != NULL; i++)
          if (strcmp (param->choices[i], value) == 0)
            {
              G_STRUCT_MEMBER (const char *, settings->data, param->offset) = param->choices[i];
              return NULL;
            }
        choices = sutra_format_choices (param->choices);
        suggestion = sutra_suggest (value, param->choices);
        if (suggestion != NULL)
          return g_strdup_printf ("“%s” is not a valid choice; did you mean “%s”? "
                                  "Valid choices: %s",
                                  value, suggestion, choices);
        return g_strdup_printf ("“%s” is not a valid choice. Valid choices: %s", value, choices);
      }
    }
  {
    g_autofree char *got = sutra_json_describe (node);

    return g_strdup_printf ("expected %s, got %s", expected_type (param->type), got);
  }
}

SutraSettings *
sutra_settings_new (const SutraStageInfo *stage,
                    JsonObject *params,
                    SutraSettingsProblemFunc report,
                    gpointer user_data)
{
  g_autoptr (SutraSettings) settings = g_new0 (SutraSettings, 1);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  gboolean ok = TRUE;

  settings->stage = stage;
  settings->data = g_malloc0 (MAX (stage->settings_size, 1));
  settings->strings = g_ptr_array_new_with_free_func (g_free);

  for (const SutraParamInfo *param = stage->params; param->name != NULL; param++)
    {
      JsonNode *node = params != NULL ? json_object_get_member (params, param->name) : NULL;

      g_ptr_array_add (names, (gpointer) param->name);
      store_default (settings, param);
      if (node == NULL)
        {
          if (param->flags & SUTRA_PARAM_REQUIRED)
            {
              g_autofree char *message =
                g_strdup_printf ("required parameter “%s” is missing (%s: %s)", param->name,
                                 sutra_param_type_to_string (param->type), param->doc);
              report (param->name, message, user_data);
              ok = FALSE;
            }
          continue;
        }
      {
        g_autofree char *problem = store_value (settings, param, node);

        if (problem != NULL)
          {
            g_autofree char *message = g_strdup_printf ("parameter “%s”: %s", param->name, problem);
            report (param->name, message, user_data);
            ok = FALSE;
          }
      }
    }
  g_ptr_array_add (names, NULL);

  if (params != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *node;

      json_object_iter_init (&iter, params);
      while (json_object_iter_next (&iter, &name, &node))
        {
          gboolean known = FALSE;

          for (guint i = 0; names->pdata[i] != NULL; i++)
            known |= strcmp (names->pdata[i], name) == 0;
          if (!known)
            {
              g_autofree char *suggestion =
                sutra_suggest (name, (const char *const *) names->pdata);
              g_autofree char *choices = sutra_format_choices ((const char *const *) names->pdata);
              g_autofree char *message = NULL;

              if (suggestion != NULL)
                message = g_strdup_printf ("unknown parameter “%s”; did you mean “%s”? "
                                           "Parameters of “%s”: %s",
                                           name, suggestion, stage->name, choices);
              else
                message = g_strdup_printf ("unknown parameter “%s”. Parameters of “%s”: %s", name,
                                           stage->name, choices);
              report (name, message, user_data);
              ok = FALSE;
            }
        }
    }
  return ok ? g_steal_pointer (&settings) : NULL;
}

static void
collect_problem (const char *key, const char *message, gpointer user_data)
{
  GString *problems = user_data;

  (void) key;
  if (problems->len > 0)
    g_string_append (problems, "; ");
  g_string_append (problems, message);
}

SutraSettings *
sutra_settings_new_checked (const SutraStageInfo *stage, JsonObject *params, GError **error)
{
  g_autoptr (GString) problems = g_string_new (NULL);
  SutraSettings *settings = sutra_settings_new (stage, params, collect_problem, problems);

  if (settings == NULL)
    g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT, "stage “%s”: %s",
                 stage->name, problems->str);
  return settings;
}

JsonObject *
sutra_settings_to_json (const SutraSettings *settings)
{
  JsonObject *object = json_object_new ();

  for (const SutraParamInfo *param = settings->stage->params; param->name != NULL; param++)
    {
      gconstpointer data = settings->data;

      switch (param->type)
        {
        case SUTRA_PARAM_BOOL:
          json_object_set_boolean_member (object, param->name,
                                          G_STRUCT_MEMBER (gboolean, data, param->offset));
          break;
        case SUTRA_PARAM_INT:
          json_object_set_int_member (object, param->name,
                                      G_STRUCT_MEMBER (gint64, data, param->offset));
          break;
        case SUTRA_PARAM_DOUBLE:
          json_object_set_double_member (object, param->name,
                                         G_STRUCT_MEMBER (double, data, param->offset));
          break;
        case SUTRA_PARAM_STRING:
        case SUTRA_PARAM_ENUM:
          {
            const char *value = G_STRUCT_MEMBER (const char *, data, param->offset);

            if (value != NULL)
              json_object_set_string_member (object, param->name, value);
            else
              json_object_set_null_member (object, param->name);
            break;
          }
        }
    }
  return object;
}
