/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraItem: one allocation holds the struct, the path and the id. */

#include "sutra-item-private.h"
#include "sutra-output-private.h"

#include <stdio.h>
#include <string.h>

/* Plain text is by far the commonest type; comparing against this pointer
 * first keeps g_intern_string's global lock off the hot path. */
static const char *
intern_media_type (const char *media_type)
{
  if (media_type == NULL || strcmp (media_type, SUTRA_MEDIA_TEXT_PLAIN) == 0)
    return SUTRA_MEDIA_TEXT_PLAIN;
  return g_intern_string (media_type);
}

static GBytes *
empty_payload (void)
{
  static GBytes *empty;

  if (g_once_init_enter (&empty))
    g_once_init_leave (&empty, g_bytes_new_static ("", 0));
  return g_bytes_ref (empty);
}

static SutraItem *
item_alloc (guint depth, gsize id_length)
{
  SutraItem *item;

  item = g_malloc (sizeof (SutraItem) + depth * sizeof (guint64) + id_length + 1);
  item->ref_count = 1;
  item->depth = depth;
  item->flags = 0;
  item->meta_is_shared = FALSE;
  item->media_type = SUTRA_MEDIA_TEXT_PLAIN;
  item->payload = NULL;
  item->meta = NULL;
  item->group_size = 0;
  item->lineage = NULL;
  item->id = (char *) (item->path + depth);
  return item;
}

/* A constructor's check failed: the payload it was given is still ours to
 * release (transfer full), and the call is recorded as misused. */
static SutraItem *
misused_new (const char *function, const char *rule, GBytes *payload)
{
  if (payload != NULL)
    g_bytes_unref (payload);
  sutra_api_misused (NULL, function, rule);
  return NULL;
}

SutraItem *
sutra_item_new_with_path (const char *id,
                          const guint64 *path,
                          guint depth,
                          const char *media_type,
                          GBytes *payload)
{
  gsize id_length = strlen (id);
  SutraItem *item;

  g_return_val_if_fail (depth >= 1 && depth <= SUTRA_ITEM_MAX_DEPTH, NULL);

  item = item_alloc (depth, id_length);
  memcpy (item->path, path, depth * sizeof (guint64));
  memcpy (item->id, id, id_length + 1);
  item->media_type = intern_media_type (media_type);
  item->payload = payload != NULL ? payload : empty_payload ();
  return item;
}

SutraItem *
sutra_item_new_root (const char *id, guint64 position, const char *media_type, GBytes *payload)
{
  if (G_UNLIKELY (id == NULL))
    return misused_new (G_STRFUNC, "id != NULL", payload);
  return sutra_item_new_with_path (id, &position, 1, media_type, payload);
}

SutraItem *
sutra_item_new_child (const SutraItem *parent,
                      guint64 index,
                      const char *media_type,
                      GBytes *payload)
{
  char suffix[32];
  gsize parent_length, suffix_length;
  SutraItem *item;

  if (G_UNLIKELY (parent == NULL))
    return misused_new (G_STRFUNC, "parent != NULL", payload);
  if (G_UNLIKELY (parent->depth >= SUTRA_ITEM_MAX_DEPTH))
    return misused_new (G_STRFUNC, "parent->depth < SUTRA_ITEM_MAX_DEPTH", payload);

  suffix_length = (gsize) snprintf (suffix, sizeof suffix, "/%04" G_GUINT64_FORMAT, index);
  parent_length = strlen (parent->id);
  item = item_alloc (parent->depth + 1, parent_length + suffix_length);
  memcpy (item->path, parent->path, parent->depth * sizeof (guint64));
  item->path[parent->depth] = index;
  memcpy (item->id, parent->id, parent_length);
  memcpy (item->id + parent_length, suffix, suffix_length + 1);
  item->media_type = intern_media_type (media_type);
  item->payload = payload != NULL ? payload : empty_payload ();
  return item;
}

SutraItem *
sutra_item_new_derived (const SutraItem *source, const char *media_type, GBytes *payload)
{
  SutraItem *item;

  if (G_UNLIKELY (source == NULL))
    return misused_new (G_STRFUNC, "source != NULL", payload);

  item = sutra_item_new_with_path (source->id, source->path, source->depth,
                                   media_type != NULL ? media_type : source->media_type,
                                   payload != NULL ? payload : g_bytes_ref (source->payload));
  if (source->meta != NULL)
    {
      item->meta = json_object_ref (source->meta);
      item->meta_is_shared = TRUE;
    }
  return item;
}

SutraItem *
sutra_item_new_parent (const SutraItem *child, const char *media_type, GBytes *payload)
{
  g_autofree char *id = NULL;
  const char *slash;

  if (G_UNLIKELY (child == NULL))
    return misused_new (G_STRFUNC, "child != NULL", payload);
  if (G_UNLIKELY (child->depth < 2))
    return misused_new (G_STRFUNC, "child->depth >= 2", payload);

  slash = strrchr (child->id, '/');
  id = slash != NULL ? g_strndup (child->id, slash - child->id) : g_strdup (child->id);
  return sutra_item_new_with_path (id, child->path, child->depth - 1, media_type, payload);
}

SutraItem *
sutra_item_new_group_end (const SutraItem *parent_like, guint depth, guint64 group_size)
{
  SutraItem *item;

  g_return_val_if_fail (depth >= 1 && depth <= parent_like->depth, NULL);

  item = item_alloc (depth, 0);
  memcpy (item->path, parent_like->path, depth * sizeof (guint64));
  item->id[0] = '\0';
  item->flags = SUTRA_ITEM_FLAG_GROUP_END;
  item->group_size = group_size;
  item->payload = empty_payload ();
  return item;
}

SutraItem *
sutra_item_ref (SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  g_atomic_int_inc (&item->ref_count);
  return item;
}

void
sutra_item_unref (SutraItem *item)
{
  if (item == NULL || !g_atomic_int_dec_and_test (&item->ref_count))
    return;
  g_bytes_unref (item->payload);
  if (item->meta != NULL)
    json_object_unref (item->meta);
  sutra_lineage_unref (item->lineage);
  g_free (item);
}

const char *
sutra_item_get_id (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  return item->id;
}

guint
sutra_item_get_depth (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, 0);
  return item->depth;
}

guint64
sutra_item_get_position (const SutraItem *item, guint level)
{
  SUTRA_API_CHECK_VAL (item != NULL, 0);
  SUTRA_API_CHECK_VAL (level < item->depth, 0);
  return item->path[level];
}

guint64
sutra_item_get_index (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, 0);
  return item->path[item->depth - 1];
}

int
sutra_item_compare_prefix (const SutraItem *a, const SutraItem *b, guint depth)
{
  guint n = MIN (depth, MIN (a->depth, b->depth));

  for (guint i = 0; i < n; i++)
    if (a->path[i] != b->path[i])
      return a->path[i] < b->path[i] ? -1 : 1;
  if (n == depth)
    return 0;
  return (int) MIN (a->depth, depth) - (int) MIN (b->depth, depth);
}

int
sutra_item_compare (const SutraItem *a, const SutraItem *b)
{
  SUTRA_API_CHECK_VAL (a != NULL && b != NULL, 0);
  return sutra_item_compare_prefix (a, b, SUTRA_ITEM_MAX_DEPTH);
}

gboolean
sutra_item_is_descendant_of (const SutraItem *item, const SutraItem *ancestor)
{
  if (item->depth <= ancestor->depth)
    return FALSE;
  return memcmp (item->path, ancestor->path, ancestor->depth * sizeof (guint64)) == 0;
}

const char *
sutra_item_get_media_type (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  return item->media_type;
}

GBytes *
sutra_item_get_payload (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  return item->payload;
}

const guint8 *
sutra_item_get_data (const SutraItem *item, gsize *size)
{
  const guint8 *data;

  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  data = g_bytes_get_data (item->payload, size);
  /* g_bytes_get_data() gives NULL for some empty GBytes (g_bytes_new (p, 0))
   * and not for others: plugins get one answer, a pointer they may hand to
   * memcpy() or memchr() with a size of 0. */
  return data != NULL ? data : (const guint8 *) "";
}

JsonObject *
sutra_item_get_meta (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  return item->meta;
}

/* json_node_copy shares nested objects, arrays and values instead of
 * copying them, so a deep copy goes member by member and element by
 * element, down to the values. */
static JsonObject *meta_deep_copy (JsonObject *object);

static JsonNode *
node_deep_copy (JsonNode *node)
{
  JsonNode *copy;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (copy, meta_deep_copy (json_node_get_object (node)));
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint length = json_array_get_length (array);
      JsonArray *own = json_array_sized_new (length);

      for (guint i = 0; i < length; i++)
        json_array_add_element (own, node_deep_copy (json_array_get_element (array, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (copy, own);
    }
  else if (JSON_NODE_HOLDS_VALUE (node))
    {
      /* By value: json_node_copy() shares the value's storage, whose
       * reference count json-glib does not change atomically, and a split
       * copies its input's metadata into children while other threads free
       * the children made before. */
      GType type = json_node_get_value_type (node);

      copy = json_node_alloc ();
      if (type == G_TYPE_INT64)
        json_node_init_int (copy, json_node_get_int (node));
      else if (type == G_TYPE_DOUBLE)
        json_node_init_double (copy, json_node_get_double (node));
      else if (type == G_TYPE_BOOLEAN)
        json_node_init_boolean (copy, json_node_get_boolean (node));
      else
        json_node_init_string (copy, json_node_get_string (node));
    }
  else
    copy = json_node_new (JSON_NODE_NULL);
  return copy;
}

static JsonObject *
meta_deep_copy (JsonObject *object)
{
  JsonObject *result = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &member))
    json_object_set_member (result, name, node_deep_copy (member));
  return result;
}

JsonObject *
sutra_item_ensure_meta (SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);

  if (item->meta == NULL)
    item->meta = json_object_new ();
  else if (item->meta_is_shared)
    {
      JsonObject *own = meta_deep_copy (item->meta);

      json_object_unref (item->meta);
      item->meta = own;
    }
  item->meta_is_shared = FALSE;
  return item->meta;
}

void
sutra_item_set_meta (SutraItem *item, JsonObject *meta)
{
  if (G_UNLIKELY (item == NULL))
    {
      /* @meta is transfer full: released, as it would have been. */
      if (meta != NULL)
        json_object_unref (meta);
      sutra_api_misused (NULL, G_STRFUNC, "item != NULL");
      return;
    }

  if (item->meta != NULL)
    json_object_unref (item->meta);
  item->meta = meta;
  item->meta_is_shared = FALSE;
}

JsonObject *
sutra_item_dup_meta (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  return item->meta != NULL ? meta_deep_copy (item->meta) : NULL;
}

const char *
sutra_item_get_meta_string (const SutraItem *item, const char *name, const char *fallback)
{
  JsonNode *node;

  SUTRA_API_CHECK_VAL (item != NULL, fallback);
  if (item->meta == NULL || (node = json_object_get_member (item->meta, name)) == NULL)
    return fallback;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return fallback;
}

gint64
sutra_item_get_meta_int (const SutraItem *item, const char *name, gint64 fallback)
{
  JsonNode *node;

  SUTRA_API_CHECK_VAL (item != NULL, fallback);
  if (item->meta == NULL || (node = json_object_get_member (item->meta, name)) == NULL)
    return fallback;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  return fallback;
}

void
sutra_item_set_lineage (SutraItem *item, SutraLineage *lineage)
{
  SutraLineage *old = item->lineage;

  item->lineage = lineage != NULL ? sutra_lineage_ref (lineage) : NULL;
  sutra_lineage_unref (old);
}
