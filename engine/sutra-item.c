/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraItem: one allocation holds the struct, the path, the id and a small payload. */

#include "sutra-item-private.h"
#include "sutra-output-private.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* One allocation: the struct, the path, the id and @inline_size bytes of
 * payload after the id. */
static SutraItem *
item_alloc (guint depth, gsize id_length, gsize inline_size)
{
  SutraItem *item;

  item = g_malloc (sizeof (SutraItem) + depth * sizeof (guint64) + id_length + 1 + inline_size);
  item->ref_count = 1;
  item->depth = depth;
  item->flags = 0;
  item->meta_is_shared = FALSE;
  item->payload_kind = SUTRA_PAYLOAD_INLINE;
  item->media_type = SUTRA_MEDIA_TEXT_PLAIN;
  item->id = (char *) (item->path + depth);
  /* Empty until a payload is set: a valid pointer with a size of 0. */
  item->data = (const guint8 *) item->id + id_length + 1;
  item->size = 0;
  item->payload = NULL;
  item->payload_item = NULL;
  item->file = NULL;
  item->meta = NULL;
  item->group_size = 0;
  item->lineage = NULL;
  return item;
}

/* Copies @size bytes into the room item_alloc() left after the id. */
static void
item_set_inline (SutraItem *item, const void *data, gsize size)
{
  if (size > 0) /* an empty payload may come as NULL */
    memcpy ((guint8 *) item->data, data, size);
  item->size = size;
}

/* Releases the payload, leaving none (an empty one). */
static void
item_drop_payload (SutraItem *item)
{
  g_clear_pointer (&item->payload, g_bytes_unref);
  g_clear_pointer (&item->payload_item, sutra_item_unref);
  g_clear_pointer (&item->file, sutra_payload_file_unref);
  item->payload_kind = SUTRA_PAYLOAD_INLINE;
  item->data = (const guint8 *) "";
  item->size = 0;
}

void
sutra_item_take_payload (SutraItem *item, GBytes *payload)
{
  gsize size = 0;
  const guint8 *data;

  item_drop_payload (item);
  if (payload == NULL)
    return;
  data = g_bytes_get_data (payload, &size);
  item->payload = payload;
  item->payload_kind = SUTRA_PAYLOAD_BYTES;
  /* g_bytes_get_data() gives NULL for some empty GBytes: data never is. */
  item->data = data != NULL ? data : (const guint8 *) "";
  item->size = size;
}

void
sutra_item_take_payload_file (SutraItem *item, SutraPayloadFile *file)
{
  item_drop_payload (item);
  item->file = file;
  item->payload_kind = SUTRA_PAYLOAD_FILE;
  item->data = NULL;
  item->size = (gsize) sutra_payload_file_get_size (file);
}

gboolean
sutra_item_take_payload_fd (SutraItem *item, int fd, GError **error)
{
  SutraPayloadFile *file;

  SUTRA_API_CHECK_VAL (fd >= 0, FALSE);
  if (item == NULL || g_atomic_int_get (&item->ref_count) != 1)
    close (fd); /* transfer full, whatever happens */
  SUTRA_API_CHECK_VAL (item != NULL, FALSE);
  SUTRA_API_CHECK_VAL (g_atomic_int_get (&item->ref_count) == 1, FALSE);
  file = sutra_payload_file_new (fd, error);
  if (file == NULL)
    return FALSE;
  sutra_item_take_payload_file (item, file);
  return TRUE;
}

void
sutra_item_share_payload (SutraItem *item, const SutraItem *input)
{
  item_drop_payload (item);
  switch ((SutraPayloadKind) input->payload_kind)
    {
    case SUTRA_PAYLOAD_BYTES:
      item->payload = g_bytes_ref (input->payload);
      item->payload_kind = SUTRA_PAYLOAD_BYTES;
      break;
    case SUTRA_PAYLOAD_INLINE:
      if (input->size == 0)
        return; /* nothing to keep alive */
      /* The bytes live in @input's allocation: keep it alive. */
      item->payload_item = sutra_item_ref ((SutraItem *) input);
      item->payload_kind = SUTRA_PAYLOAD_BORROWED;
      break;
    case SUTRA_PAYLOAD_BORROWED:
      item->payload_item = sutra_item_ref (input->payload_item);
      item->payload_kind = SUTRA_PAYLOAD_BORROWED;
      break;
    case SUTRA_PAYLOAD_FILE:
      sutra_item_take_payload_file (item, sutra_payload_file_ref (input->file));
      return;
    }
  item->data = input->data;
  item->size = input->size;
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

/* An item with a copy of @id and @path, and no payload yet (but room for
 * @inline_size bytes of one). */
static SutraItem *
item_new (const char *id,
          const guint64 *path,
          guint depth,
          const char *media_type,
          gsize inline_size)
{
  gsize id_length = strlen (id);
  SutraItem *item = item_alloc (depth, id_length, inline_size);

  memcpy (item->path, path, depth * sizeof (guint64));
  memcpy (item->id, id, id_length + 1);
  item->media_type = intern_media_type (media_type);
  return item;
}

SutraItem *
sutra_item_new_with_path (const char *id,
                          const guint64 *path,
                          guint depth,
                          const char *media_type,
                          GBytes *payload)
{
  SutraItem *item;

  g_return_val_if_fail (depth >= 1 && depth <= SUTRA_ITEM_MAX_DEPTH, NULL);

  item = item_new (id, path, depth, media_type, 0);
  sutra_item_take_payload (item, payload);
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
sutra_item_new_root_from_data (const char *id,
                               guint64 position,
                               const char *media_type,
                               const void *data,
                               gsize size)
{
  SutraItem *item;

  if (G_UNLIKELY (id == NULL))
    return misused_new (G_STRFUNC, "id != NULL", NULL);
  if (G_UNLIKELY (data == NULL && size > 0))
    return misused_new (G_STRFUNC, "data != NULL || size == 0", NULL);
  item = item_new (id, &position, 1, media_type, size);
  item_set_inline (item, data, size);
  return item;
}

/* Child @index of @parent, with room for @inline_size bytes of payload. */
static SutraItem *
child_new (const SutraItem *parent, guint64 index, const char *media_type, gsize inline_size)
{
  char suffix[32];
  gsize parent_length, suffix_length;
  SutraItem *item;

  suffix_length = (gsize) snprintf (suffix, sizeof suffix, "/%04" G_GUINT64_FORMAT, index);
  parent_length = strlen (parent->id);
  item = item_alloc (parent->depth + 1, parent_length + suffix_length, inline_size);
  memcpy (item->path, parent->path, parent->depth * sizeof (guint64));
  item->path[parent->depth] = index;
  memcpy (item->id, parent->id, parent_length);
  memcpy (item->id + parent_length, suffix, suffix_length + 1);
  item->media_type = intern_media_type (media_type);
  return item;
}

SutraItem *
sutra_item_new_child (const SutraItem *parent,
                      guint64 index,
                      const char *media_type,
                      GBytes *payload)
{
  SutraItem *item;

  if (G_UNLIKELY (parent == NULL))
    return misused_new (G_STRFUNC, "parent != NULL", payload);
  if (G_UNLIKELY (parent->depth >= SUTRA_ITEM_MAX_DEPTH))
    return misused_new (G_STRFUNC, "parent->depth < SUTRA_ITEM_MAX_DEPTH", payload);

  item = child_new (parent, index, media_type, 0);
  sutra_item_take_payload (item, payload);
  return item;
}

SutraItem *
sutra_item_new_child_from_data (const SutraItem *parent,
                                guint64 index,
                                const char *media_type,
                                const void *data,
                                gsize size)
{
  SutraItem *item;

  if (G_UNLIKELY (parent == NULL))
    return misused_new (G_STRFUNC, "parent != NULL", NULL);
  if (G_UNLIKELY (parent->depth >= SUTRA_ITEM_MAX_DEPTH))
    return misused_new (G_STRFUNC, "parent->depth < SUTRA_ITEM_MAX_DEPTH", NULL);
  if (G_UNLIKELY (data == NULL && size > 0))
    return misused_new (G_STRFUNC, "data != NULL || size == 0", NULL);

  item = child_new (parent, index, media_type, size);
  item_set_inline (item, data, size);
  return item;
}

/* The metadata of a derived item: its source's, shared until written. */
static void
derive_meta (SutraItem *item, const SutraItem *source)
{
  if (source->meta != NULL)
    {
      item->meta = json_object_ref (source->meta);
      item->meta_is_shared = TRUE;
    }
}

SutraItem *
sutra_item_new_derived (const SutraItem *source, const char *media_type, GBytes *payload)
{
  SutraItem *item;

  if (G_UNLIKELY (source == NULL))
    return misused_new (G_STRFUNC, "source != NULL", payload);

  item = item_new (source->id, source->path, source->depth,
                   media_type != NULL ? media_type : source->media_type, 0);
  if (payload != NULL)
    sutra_item_take_payload (item, payload);
  else
    sutra_item_share_payload (item, source);
  derive_meta (item, source);
  return item;
}

SutraItem *
sutra_item_new_derived_from_data (const SutraItem *source,
                                  const char *media_type,
                                  const void *data,
                                  gsize size)
{
  SutraItem *item;

  if (G_UNLIKELY (source == NULL))
    return misused_new (G_STRFUNC, "source != NULL", NULL);
  if (G_UNLIKELY (data == NULL && size > 0))
    return misused_new (G_STRFUNC, "data != NULL || size == 0", NULL);

  item = item_new (source->id, source->path, source->depth,
                   media_type != NULL ? media_type : source->media_type, size);
  item_set_inline (item, data, size);
  derive_meta (item, source);
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

  item = item_alloc (depth, 0, 0);
  memcpy (item->path, parent_like->path, depth * sizeof (guint64));
  item->id[0] = '\0';
  item->flags = SUTRA_ITEM_FLAG_GROUP_END;
  item->group_size = group_size;
  return item;
}

/* Reference counting. An item passes from thread to thread (a queue's
 * mutex orders what each does with it), and is shared only where a stage
 * feeds several others or a plugin keeps one. So:
 *
 * - sutra_item_ref() is atomic: a plugin may hand an item it borrows to
 *   threads of its own, and two of them may take references at once;
 * - sutra_item_unref() of the last reference needs none: a count of 1 seen
 *   by the holder of that reference can change only by the holder's hand
 *   (taking a reference requires holding one, or borrowing one from the
 *   holder, which is not lending it while it lets it go). The acquire load
 *   orders the free after the other threads' last use, which their atomic
 *   decrements released;
 * - the engine, which knows when it holds every reference (a batch's input
 *   and the identical output a map pushed for it), drops one of them without
 *   an atomic (sutra_item_unref_held()), and moves items between stages
 *   without taking references at all.
 *
 * A line through source, map and sink costs no atomic operation in the
 * engine; a plugin that passes its input on pays one (its own reference). */
SutraItem *
sutra_item_ref (SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  g_atomic_int_inc (&item->ref_count);
  return item;
}

static void
item_free (SutraItem *item)
{
  if (item->payload != NULL)
    g_bytes_unref (item->payload);
  if (item->payload_item != NULL)
    sutra_item_unref (item->payload_item);
  sutra_payload_file_unref (item->file);
  if (item->meta != NULL)
    json_object_unref (item->meta);
  sutra_lineage_unref (item->lineage);
  g_free (item);
}

void
sutra_item_unref (SutraItem *item)
{
  if (item == NULL)
    return;
  if (__atomic_load_n (&item->ref_count, __ATOMIC_ACQUIRE) == 1 ||
      g_atomic_int_dec_and_test (&item->ref_count))
    item_free (item);
}

void
sutra_item_unref_held (SutraItem *item, gint n_held)
{
  g_assert (n_held >= 2);
  if (__atomic_load_n (&item->ref_count, __ATOMIC_ACQUIRE) == n_held)
    item->ref_count = n_held - 1;
  else
    sutra_item_unref (item);
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
  GBytes *payload, *made;

  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  if (item->payload_kind == SUTRA_PAYLOAD_BORROWED)
    return sutra_item_get_payload (item->payload_item);
  payload = __atomic_load_n (&item->payload, __ATOMIC_ACQUIRE);
  if (payload != NULL)
    return payload;
  /* An inline payload gets its GBytes on the first request: a copy, since
   * a caller may keep a reference to it after the item is gone; a payload
   * file is read whole. Items are shared between threads: the first GBytes
   * installed is everyone's. */
  if (item->payload_kind == SUTRA_PAYLOAD_FILE)
    {
      g_autoptr (GError) error = NULL;

      made = sutra_payload_file_load (item->file, &error);
      /* Nothing to give instead: the bytes are the item. */
      if (made == NULL)
        g_error ("item %s: %s", item->id, error->message);
    }
  else
    made = item->size > 0 ? g_bytes_new (item->data, item->size) : empty_payload ();
  if (!g_atomic_pointer_compare_and_exchange ((GBytes **) &item->payload, NULL, made))
    g_bytes_unref (made);
  return __atomic_load_n (&item->payload, __ATOMIC_ACQUIRE);
}

const guint8 *
sutra_item_get_data (const SutraItem *item, gsize *size)
{
  SUTRA_API_CHECK_VAL (item != NULL, NULL);
  if (size != NULL)
    *size = item->size;
  if (item->payload_kind == SUTRA_PAYLOAD_FILE)
    return g_bytes_get_data (sutra_item_get_payload (item), NULL);
  return item->data;
}

guint64
sutra_item_get_payload_size (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, 0);
  return item->size;
}

gboolean
sutra_item_payload_is_file (const SutraItem *item)
{
  SUTRA_API_CHECK_VAL (item != NULL, FALSE);
  return item->payload_kind == SUTRA_PAYLOAD_FILE;
}

gssize
sutra_item_read_payload (const SutraItem *item,
                         guint64 offset,
                         void *buffer,
                         gsize size,
                         GError **error)
{
  SUTRA_API_CHECK_VAL (item != NULL, -1);
  SUTRA_API_CHECK_VAL (buffer != NULL || size == 0, -1);
  if (item->payload_kind == SUTRA_PAYLOAD_BORROWED)
    return sutra_item_read_payload (item->payload_item, offset, buffer, size, error);
  if (item->payload_kind == SUTRA_PAYLOAD_FILE)
    return sutra_payload_file_read (item->file, offset, buffer, size, error);
  if (offset >= item->size)
    return 0;
  size = (gsize) MIN ((guint64) size, item->size - offset);
  memcpy (buffer, (const guint8 *) sutra_item_get_data (item, NULL) + offset, size);
  return (gssize) size;
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
