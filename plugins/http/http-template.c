/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request bodies made from a JSON template and an item's fields. */

#include "http-template.h"

#include <string.h>

/* The value of placeholder @name ("text", "id", "meta.x"), as a new node. */
static JsonNode *
placeholder_value (const char *name, SutraItem *item, const char *text, GError **error)
{
  if (g_str_equal (name, "text"))
    return json_node_init_string (json_node_alloc (), text);
  if (g_str_equal (name, "id"))
    return json_node_init_string (json_node_alloc (), sutra_item_get_id (item));
  if (g_str_has_prefix (name, "meta."))
    {
      JsonObject *meta = sutra_item_get_meta (item);
      JsonNode *member =
        meta != NULL ? json_object_get_member (meta, name + strlen ("meta.")) : NULL;

      if (member == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "the request template asks for ${%s}, but the item has no metadata "
                       "member “%s”",
                       name, name + strlen ("meta."));
          return NULL;
        }
      return json_node_copy (member);
    }
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
               "the request template has an unknown placeholder ${%s} (known: ${text}, ${id}, "
               "${meta.NAME})",
               name);
  return NULL;
}

static JsonNode *
fill_string (const char *value, SutraItem *item, const char *text, GError **error)
{
  GString *out = g_string_new (NULL);
  const char *p = value;

  /* Exactly one placeholder: the value keeps its JSON type. */
  if (g_str_has_prefix (value, "${") && strchr (value, '}') == value + strlen (value) - 1)
    {
      g_autofree char *name = g_strndup (value + 2, strlen (value) - 3);

      g_string_free (out, TRUE);
      return placeholder_value (name, item, text, error);
    }
  while (*p != '\0')
    {
      const char *start = strstr (p, "${");
      const char *end = start != NULL ? strchr (start, '}') : NULL;
      g_autofree char *name = NULL;
      g_autoptr (JsonNode) node = NULL;

      if (start == NULL || end == NULL)
        {
          g_string_append (out, p);
          break;
        }
      g_string_append_len (out, p, start - p);
      name = g_strndup (start + 2, end - start - 2);
      node = placeholder_value (name, item, text, error);
      if (node == NULL)
        {
          g_string_free (out, TRUE);
          return NULL;
        }
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        g_string_append (out, json_node_get_string (node));
      else
        {
          g_autofree char *json = json_to_string (node, FALSE);

          g_string_append (out, json);
        }
      p = end + 1;
    }
  {
    g_autofree char *filled = g_string_free (out, FALSE);

    /* json_node_init_string copies the string. */
    return json_node_init_string (json_node_alloc (), filled);
  }
}

JsonNode *
http_template_fill (JsonNode *node, SutraItem *item, const char *text, GError **error)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_object_new ();
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init_ordered (&iter, json_node_get_object (node));
      while (json_object_iter_next_ordered (&iter, &name, &member))
        {
          JsonNode *filled = http_template_fill (member, item, text, error);

          if (filled == NULL)
            {
              json_object_unref (object);
              return NULL;
            }
          json_object_set_member (object, name, filled);
        }
      /* take_object: init_object would add a reference of its own. */
      JsonNode *filled_object = json_node_alloc ();

      json_node_init (filled_object, JSON_NODE_OBJECT);
      json_node_take_object (filled_object, object);
      return filled_object;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *source = json_node_get_array (node);
      JsonArray *array = json_array_sized_new (json_array_get_length (source));

      for (guint i = 0; i < json_array_get_length (source); i++)
        {
          JsonNode *filled =
            http_template_fill (json_array_get_element (source, i), item, text, error);

          if (filled == NULL)
            {
              json_array_unref (array);
              return NULL;
            }
          json_array_add_element (array, filled);
        }
      JsonNode *filled_array = json_node_alloc ();

      json_node_init (filled_array, JSON_NODE_ARRAY);
      json_node_take_array (filled_array, array);
      return filled_array;
    }
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
      strstr (json_node_get_string (node), "${") != NULL)
    return fill_string (json_node_get_string (node), item, text, error);
  return json_node_copy (node);
}
