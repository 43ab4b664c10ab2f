/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Record bodies: a table of lineages, then the items, little-endian. */

#include "sutra-record.h"

#include <string.h>

/*
 * body   = u32 n_lineages, n_lineages x 32-byte digest, u32 n_items, item*
 * item   = u16 flags, u16 lineage (index, 0xffff: none), u16 depth, u16 0,
 *          depth x u64 path, u64 group_size,
 *          u32 id_length, id, u32 type_length, type,
 *          u32 meta_length, meta (JSON text, 0: none),
 *          u64 payload_length, payload
 * Lineages are stored once per record: all items of a batch usually share
 * one, and 32 bytes per item would double the size of small items.
 */

#define NO_LINEAGE 0xffff

static void
put_u16 (GByteArray *out, guint16 value)
{
  guint16 le = GUINT16_TO_LE (value);
  g_byte_array_append (out, (const guint8 *) &le, 2);
}

static void
put_u32 (GByteArray *out, guint32 value)
{
  guint32 le = GUINT32_TO_LE (value);
  g_byte_array_append (out, (const guint8 *) &le, 4);
}

static void
put_u64 (GByteArray *out, guint64 value)
{
  guint64 le = GUINT64_TO_LE (value);
  g_byte_array_append (out, (const guint8 *) &le, 8);
}

static void
put_bytes32 (GByteArray *out, const void *data, gsize length)
{
  put_u32 (out, (guint32) length);
  g_byte_array_append (out, data, length);
}

GBytes *
sutra_record_encode (GPtrArray *items)
{
  GByteArray *out = g_byte_array_sized_new (64 + items->len * 48);
  g_autoptr (GPtrArray) lineages = g_ptr_array_new ();
  g_autoptr (JsonGenerator) generator = NULL;
  guint16 *indices = g_newa (guint16, MAX (items->len, 1));

  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      guint found = NO_LINEAGE;

      if (item->lineage != NULL)
        {
          for (guint l = 0; l < lineages->len && found == NO_LINEAGE; l++)
            if (lineages->pdata[l] == item->lineage ||
                memcmp (((SutraLineage *) lineages->pdata[l])->digest, item->lineage->digest,
                        SUTRA_DIGEST_SIZE) == 0)
              found = l;
          if (found == NO_LINEAGE && lineages->len < NO_LINEAGE)
            {
              found = lineages->len;
              g_ptr_array_add (lineages, item->lineage);
            }
        }
      indices[i] = (guint16) found;
    }
  put_u32 (out, lineages->len);
  for (guint l = 0; l < lineages->len; l++)
    g_byte_array_append (out, ((SutraLineage *) lineages->pdata[l])->digest, SUTRA_DIGEST_SIZE);
  put_u32 (out, items->len);
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      gsize payload_size;
      const guint8 *payload = g_bytes_get_data (item->payload, &payload_size);

      put_u16 (out, item->flags);
      put_u16 (out, indices[i]);
      put_u16 (out, item->depth);
      put_u16 (out, 0);
      for (guint d = 0; d < item->depth; d++)
        put_u64 (out, item->path[d]);
      put_u64 (out, item->group_size);
      put_bytes32 (out, item->id, strlen (item->id));
      put_bytes32 (out, item->media_type, strlen (item->media_type));
      if (item->meta != NULL)
        {
          g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), item->meta);
          g_autofree char *text = NULL;
          gsize length;

          if (generator == NULL)
            generator = json_generator_new ();
          json_generator_set_root (generator, node);
          text = json_generator_to_data (generator, &length);
          put_bytes32 (out, text, length);
        }
      else
        put_u32 (out, 0);
      put_u64 (out, payload_size);
      g_byte_array_append (out, payload, payload_size);
    }
  return g_byte_array_free_to_bytes (out);
}

typedef struct
{
  const guint8 *data;
  gsize length;
  gsize offset;
  gboolean bad;
} Cursor;

static const guint8 *
take (Cursor *cursor, gsize n)
{
  const guint8 *p;

  if (cursor->bad || n > cursor->length - cursor->offset)
    {
      cursor->bad = TRUE;
      return NULL;
    }
  p = cursor->data + cursor->offset;
  cursor->offset += n;
  return p;
}

static guint64
get_uint (Cursor *cursor, guint size)
{
  const guint8 *p = take (cursor, size);
  guint64 value = 0;

  if (p == NULL)
    return 0;
  for (guint i = 0; i < size; i++)
    value |= (guint64) p[i] << (8 * i);
  return value;
}

GPtrArray *
sutra_record_decode (GBytes *body, GError **error)
{
  Cursor cursor = { 0 };
  g_autoptr (GPtrArray) lineages = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_lineage_unref);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  guint32 n_lineages, n_items;

  cursor.data = g_bytes_get_data (body, &cursor.length);
  n_lineages = (guint32) get_uint (&cursor, 4);
  for (guint l = 0; l < n_lineages && !cursor.bad; l++)
    {
      const guint8 *digest = take (&cursor, SUTRA_DIGEST_SIZE);

      if (digest != NULL)
        g_ptr_array_add (lineages, sutra_lineage_new (digest));
    }
  n_items = (guint32) get_uint (&cursor, 4);
  for (guint i = 0; i < n_items && !cursor.bad; i++)
    {
      guint16 flags = (guint16) get_uint (&cursor, 2);
      guint16 lineage = (guint16) get_uint (&cursor, 2);
      guint16 depth = (guint16) get_uint (&cursor, 2);
      guint64 path[SUTRA_ITEM_MAX_DEPTH];
      guint64 group_size, payload_length;
      guint32 length;
      g_autofree char *id = NULL, *media_type = NULL;
      const guint8 *p;
      SutraItem *item;

      get_uint (&cursor, 2);
      if (depth < 1 || depth > SUTRA_ITEM_MAX_DEPTH)
        {
          cursor.bad = TRUE;
          break;
        }
      for (guint d = 0; d < depth; d++)
        path[d] = get_uint (&cursor, 8);
      group_size = get_uint (&cursor, 8);
      length = (guint32) get_uint (&cursor, 4);
      if ((p = take (&cursor, length)) == NULL)
        break;
      id = g_strndup ((const char *) p, length);
      length = (guint32) get_uint (&cursor, 4);
      if ((p = take (&cursor, length)) == NULL)
        break;
      media_type = g_strndup ((const char *) p, length);
      if (flags & SUTRA_ITEM_FLAG_GROUP_END)
        {
          SutraItem *shape = sutra_item_new_with_path ("", path, depth, NULL, NULL);

          item = sutra_item_new_group_end (shape, depth, group_size);
          sutra_item_unref (shape);
        }
      else
        item = sutra_item_new_with_path (id, path, depth, media_type, NULL);
      g_ptr_array_add (items, item);
      length = (guint32) get_uint (&cursor, 4);
      if ((p = take (&cursor, length)) == NULL)
        break;
      if (length > 0)
        {
          g_autoptr (JsonParser) parser = json_parser_new_immutable ();
          JsonNode *root;

          if (!json_parser_load_from_data (parser, (const char *) p, length, NULL) ||
              (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
            {
              cursor.bad = TRUE;
              break;
            }
          sutra_item_set_meta (item, json_object_ref (json_node_get_object (root)));
        }
      payload_length = get_uint (&cursor, 8);
      if ((p = take (&cursor, payload_length)) == NULL)
        break;
      g_bytes_unref (item->payload);
      /* The payload points into the record: no copy. */
      item->payload = g_bytes_new_from_bytes (body, p - cursor.data, payload_length);
      if (lineage != NO_LINEAGE)
        {
          if (lineage >= lineages->len)
            {
              cursor.bad = TRUE;
              break;
            }
          sutra_item_set_lineage (item, lineages->pdata[lineage]);
        }
    }
  if (cursor.bad || cursor.offset != cursor.length)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "malformed record: %s at byte %" G_GSIZE_FORMAT,
                   cursor.bad ? "truncated or inconsistent" : "trailing bytes", cursor.offset);
      return NULL;
    }
  return g_steal_pointer (&items);
}
