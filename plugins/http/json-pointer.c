/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON pointers (RFC 6901). */

#include "json-pointer.h"

#include <stdlib.h>
#include <string.h>

gboolean
json_pointer_is_valid (const char *pointer)
{
  if (pointer[0] == '\0')
    return TRUE;
  if (pointer[0] != '/')
    return FALSE;
  for (const char *p = pointer; *p != '\0'; p++)
    if (*p == '~' && p[1] != '0' && p[1] != '1')
      return FALSE;
  return TRUE;
}

/* The next reference token of @pointer (just after a '/'), unescaped. */
static char *
next_token (const char **pointer)
{
  GString *token = g_string_new (NULL);
  const char *p = *pointer;

  for (; *p != '\0' && *p != '/'; p++)
    {
      if (*p == '~')
        {
          g_string_append_c (token, p[1] == '1' ? '/' : '~');
          p++;
        }
      else
        g_string_append_c (token, *p);
    }
  *pointer = p;
  return g_string_free (token, FALSE);
}

JsonNode *
json_pointer_get (JsonNode *root, const char *pointer)
{
  JsonNode *node = root;
  const char *p = pointer;

  if (!json_pointer_is_valid (pointer))
    return NULL;
  while (node != NULL && *p == '/')
    {
      g_autofree char *token = NULL;

      p++;
      token = next_token (&p);
      if (JSON_NODE_HOLDS_OBJECT (node))
        node = json_object_get_member (json_node_get_object (node), token);
      else if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);
          char *end;
          guint64 index;

          /* Array indices are decimal without leading zeros. */
          if (token[0] == '\0' || !g_ascii_isdigit (token[0]) ||
              (token[0] == '0' && token[1] != '\0'))
            return NULL;
          index = g_ascii_strtoull (token, &end, 10);
          if (*end != '\0' || index >= json_array_get_length (array))
            return NULL;
          node = json_array_get_element (array, (guint) index);
        }
      else
        return NULL;
    }
  return node;
}
