/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Record bodies: a table of lineages, then the items, little-endian. */

#include "sutra-record.h"

#include "sutra-json-document.h"
#include "sutra-store.h"

#include <fcntl.h>
#include <string.h>

/*
 * body   = varint n_items, entry*, tables, u64 tables_offset
 * tables = varint n_lineages, n_lineages x 32-byte digest,
 *          varint n_types, n_types x (varint length, bytes)
 * entry  = varint flags, varint lineage + 1 (0: none), varint type index,
 *          varint borrowed (input index << 4 | BORROW_* bits; 0: none),
 *          then, when every field is borrowed: varint count, the entry
 *          standing for count items taken from consecutive inputs;
 *          otherwise one item:
 *          [varint depth, depth x varint path]   unless BORROW_PATH
 *          varint group_size,
 *          [varint id_length, id]                unless BORROW_ID
 *          [varint meta_length, meta (JSON)]     unless BORROW_META
 *          [varint payload_length, payload]      unless BORROW_PAYLOAD
 * Lineages and media types are stored once per record, after the items so
 * that one pass over the items writes the record: a batch's items usually
 * share them. Varints (LEB128) keep a small item's overhead to a few bytes,
 * so a store of a million lines is about the size of the lines; a stage
 * that passes its inputs on writes one entry for the whole batch.
 */

enum
{
  BORROW_ID = 1 << 0,
  BORROW_PATH = 1 << 1,
  BORROW_META = 1 << 2,
  BORROW_PAYLOAD = 1 << 3,
  BORROW_ALL = BORROW_ID | BORROW_PATH | BORROW_META | BORROW_PAYLOAD,
  BORROW_BITS = 4,
};

/* How far past the last borrowed-from input to look for the next one:
 * maps and filters keep their outputs in their inputs' order. */
#define BORROW_WINDOW 4

#define NO_LINEAGE 0xffff

/* A payload at least this large goes into a record by reference, as a
 * piece of its own, when the record is encoded in pieces. */
#define SHARE_PAYLOAD_MIN (64u << 10)

/* A growing buffer written in place: a record has many small fields, and
 * a function call per field would cost more than the field. Encoding in
 * pieces, the buffer is cut at each large payload: @pieces holds what
 * came before it and the payload itself, @flushed their length. */
typedef struct
{
  GByteArray *array;
  gsize used;
  GPtrArray *pieces; /* SutraStorePiece, or NULL: one contiguous body */
  gsize flushed;
} Writer;

/* Ends the current buffer as a piece and starts another. */
static void
flush_piece (Writer *writer)
{
  g_byte_array_set_size (writer->array, writer->used);
  writer->flushed += writer->used;
  g_ptr_array_add (writer->pieces,
                   sutra_store_piece_new_bytes (g_byte_array_free_to_bytes (writer->array)));
  writer->array = g_byte_array_sized_new (256);
  writer->used = 0;
}

static inline guint8 *
reserve (Writer *writer, gsize n)
{
  if (writer->used + n > writer->array->len)
    {
      gsize want = MAX ((gsize) writer->array->len * 2, writer->used + n);

      /* A GByteArray holds at most 4 GiB. Only a payload copied whole
       * can get here (a record in pieces refers to large ones): better
       * stop than wrap. */
      if (G_UNLIKELY (writer->used + n > G_MAXUINT))
        g_error ("a record of more than 4 GiB (a payload of %" G_GSIZE_FORMAT
                 " bytes copied whole, to a worker process): not supported",
                 n);
      g_byte_array_set_size (writer->array, (guint) MIN (want, (gsize) G_MAXUINT));
    }
  return writer->array->data + writer->used;
}

static inline void
put_varint (Writer *writer, guint64 value)
{
  guint8 *p = reserve (writer, 10);
  guint n = 0;

  while (value >= 0x80)
    {
      p[n++] = (guint8) (value | 0x80);
      value >>= 7;
    }
  p[n++] = (guint8) value;
  writer->used += n;
}

static inline void
put_bytes (Writer *writer, const void *data, gsize length)
{
  memcpy (reserve (writer, length), data, length);
  writer->used += length;
}

static inline void
put_string (Writer *writer, const void *data, gsize length)
{
  put_varint (writer, length);
  put_bytes (writer, data, length);
}

/* The fields @item shares with @input: the same payload or metadata object
 * (a stage passing its input on, or deriving from it), the same id or path. */
static guint
shared_fields (const SutraItem *item, const SutraItem *input)
{
  guint shared = 0;

  /* A map that passes its input on returns the item itself. */
  if (item == input)
    return BORROW_ALL;
  /* The same bytes: a payload shared by reference (a GBytes, or the inline
   * payload of an item derived from). */
  if (sutra_item_same_payload (item, input))
    shared |= BORROW_PAYLOAD;
  if (item->meta != NULL && item->meta == input->meta)
    shared |= BORROW_META;
  if (shared == 0)
    return 0;
  if (item->depth == input->depth &&
      memcmp (item->path, input->path, item->depth * sizeof (guint64)) == 0)
    shared |= BORROW_PATH;
  if (strcmp (item->id, input->id) == 0)
    shared |= BORROW_ID;
  /* Everything borrowed means a copy of the input: the group size too. */
  if (shared == BORROW_ALL && item->group_size != input->group_size)
    shared &= ~BORROW_ID;
  return shared;
}

/* The fields of @item to take from an input, and which input (*@index),
 * searched near *@cursor, where the last one was found. */
static guint
find_borrowed (const SutraItem *item, GPtrArray *inputs, guint *cursor, guint *index)
{
  if (inputs == NULL || sutra_item_is_marker (item))
    return 0;
  for (guint i = *cursor; i < inputs->len && i < *cursor + BORROW_WINDOW; i++)
    {
      guint shared = shared_fields (item, inputs->pdata[i]);

      if (shared != 0)
        {
          *cursor = *index = i;
          return shared;
        }
    }
  return 0;
}

/* The index of @lineage in @lineages (by digest), added when new; *@last
 * remembers the last one found: a batch's items nearly always share it. */
static guint
lineage_slot (GPtrArray *lineages, SutraLineage *lineage, guint *last)
{
  if (lineage == NULL)
    return NO_LINEAGE;
  if (*last < lineages->len && lineages->pdata[*last] == lineage)
    return *last;
  for (guint l = 0; l < lineages->len; l++)
    if (lineages->pdata[l] == lineage || memcmp (((SutraLineage *) lineages->pdata[l])->digest,
                                                 lineage->digest, SUTRA_DIGEST_SIZE) == 0)
      return *last = l;
  if (lineages->len >= NO_LINEAGE)
    return NO_LINEAGE;
  g_ptr_array_add (lineages, lineage);
  return *last = lineages->len - 1;
}

/* Media types are interned: comparing pointers is enough. */
static guint
type_slot (GPtrArray *types, const char *media_type, guint *last)
{
  if (*last < types->len && types->pdata[*last] == media_type)
    return *last;
  for (guint t = 0; t < types->len; t++)
    if (types->pdata[t] == media_type)
      return *last = t;
  g_ptr_array_add (types, (gpointer) media_type);
  return *last = types->len - 1;
}

static void
put_meta (Writer *out, JsonObject *meta, JsonGenerator **generator)
{
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;
  gsize length;

  if (meta == NULL)
    {
      put_varint (out, 0);
      return;
    }
  node = json_node_init_object (json_node_alloc (), meta);
  if (*generator == NULL)
    *generator = json_generator_new ();
  json_generator_set_root (*generator, node);
  text = json_generator_to_data (*generator, &length);
  put_string (out, text, length);
}

/* An item's own fields, those it does not borrow from its input. */
static void
put_fields (Writer *out, const SutraItem *item, guint borrowed, JsonGenerator **generator)
{
  if (!(borrowed & BORROW_PATH))
    {
      put_varint (out, item->depth);
      for (guint d = 0; d < item->depth; d++)
        put_varint (out, item->path[d]);
    }
  put_varint (out, item->group_size);
  if (!(borrowed & BORROW_ID))
    put_string (out, item->id, strlen (item->id));
  if (!(borrowed & BORROW_META))
    put_meta (out, item->meta, generator);
  if (!(borrowed & BORROW_PAYLOAD))
    {
      SutraPayloadFile *file = sutra_item_peek_payload_file (item);

      if (out->pieces != NULL && (item->size >= SHARE_PAYLOAD_MIN || file != NULL))
        {
          /* Referenced, not copied: a chapter of audio is hundreds of MB,
           * and one in a file is never read into memory. */
          put_varint (out, item->size);
          flush_piece (out);
          g_ptr_array_add (out->pieces,
                           file != NULL ? sutra_store_piece_new_file (sutra_payload_file_ref (file))
                                        : sutra_store_piece_new_bytes (
                                            g_bytes_ref (sutra_item_get_payload (item))));
          out->flushed += item->size;
        }
      else
        put_string (out, sutra_item_get_data (item, NULL), item->size);
    }
}

/* The tables after the entries, and where they start. */
static void
put_tables (Writer *out, GPtrArray *lineages, GPtrArray *types)
{
  guint64 tables_offset = GUINT64_TO_LE ((guint64) (out->flushed + out->used));

  put_varint (out, lineages->len);
  for (guint l = 0; l < lineages->len; l++)
    put_bytes (out, ((SutraLineage *) lineages->pdata[l])->digest, SUTRA_DIGEST_SIZE);
  put_varint (out, types->len);
  for (guint t = 0; t < types->len; t++)
    put_string (out, types->pdata[t], strlen (types->pdata[t]));
  put_bytes (out, &tables_offset, sizeof tables_offset);
}

static void
encode (GPtrArray *items, GPtrArray *inputs, Writer *out)
{
  g_autoptr (GPtrArray) lineages = g_ptr_array_new ();
  g_autoptr (GPtrArray) types = g_ptr_array_new ();
  g_autoptr (JsonGenerator) generator = NULL;
  guint last_lineage = 0, last_type = 0, cursor = 0;

  put_varint (out, items->len);
  for (guint i = 0; i < items->len;)
    {
      SutraItem *item = items->pdata[i];
      guint lineage = lineage_slot (lineages, item->lineage, &last_lineage);
      guint type = type_slot (types, item->media_type, &last_type);
      guint input = 0;
      guint borrowed = find_borrowed (item, inputs, &cursor, &input);

      put_varint (out, item->flags);
      put_varint (out, lineage == NO_LINEAGE ? 0 : lineage + 1u);
      put_varint (out, type);
      put_varint (out, borrowed != 0 ? ((guint64) input << BORROW_BITS) | borrowed : 0);
      if (borrowed == BORROW_ALL)
        {
          guint count = 1;

          /* The items that follow, passed on from the inputs that follow,
           * alike in everything else: one entry for them all. */
          while (i + count < items->len && input + count < inputs->len)
            {
              SutraItem *next = items->pdata[i + count];

              if (next->flags != item->flags || next->media_type != item->media_type ||
                  lineage_slot (lineages, next->lineage, &last_lineage) != lineage ||
                  shared_fields (next, inputs->pdata[input + count]) != BORROW_ALL)
                break;
              count++;
            }
          put_varint (out, count);
          cursor = input + count;
          i += count;
          continue;
        }
      put_fields (out, item, borrowed, &generator);
      i++;
    }
  put_tables (out, lineages, types);
}

GBytes *
sutra_record_encode (GPtrArray *items, GPtrArray *inputs)
{
  Writer out = { g_byte_array_sized_new (256 + items->len * 8), 0, NULL, 0 };

  encode (items, inputs, &out);
  g_byte_array_set_size (out.array, out.used);
  return g_byte_array_free_to_bytes (out.array);
}

GPtrArray *
sutra_record_encode_pieces (GPtrArray *items, GPtrArray *inputs)
{
  Writer out = { g_byte_array_sized_new (256 + items->len * 8), 0,
                 g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_store_piece_free), 0 };

  encode (items, inputs, &out);
  flush_piece (&out);
  g_byte_array_unref (out.array);
  return out.pieces;
}

struct _SutraRecordWriter
{
  Writer items; /* the entries, without the count before them */
  GPtrArray *inputs;
  GPtrArray *lineages;
  GPtrArray *types;
  JsonGenerator *generator;
  guint last_lineage, last_type, cursor;
  guint64 n_items;
};

SutraRecordWriter *
sutra_record_writer_new (GPtrArray *inputs)
{
  SutraRecordWriter *writer = g_new0 (SutraRecordWriter, 1);

  writer->items.array = g_byte_array_sized_new (4096);
  writer->inputs = inputs != NULL ? g_ptr_array_ref (inputs) : NULL;
  writer->lineages = g_ptr_array_new ();
  writer->types = g_ptr_array_new ();
  return writer;
}

void
sutra_record_writer_add (SutraRecordWriter *writer, SutraItem *item)
{
  Writer *out = &writer->items;
  guint lineage = lineage_slot (writer->lineages, item->lineage, &writer->last_lineage);
  guint type = type_slot (writer->types, item->media_type, &writer->last_type);
  guint input = 0;
  guint borrowed = find_borrowed (item, writer->inputs, &writer->cursor, &input);

  put_varint (out, item->flags);
  put_varint (out, lineage == NO_LINEAGE ? 0 : lineage + 1u);
  put_varint (out, type);
  put_varint (out, borrowed != 0 ? ((guint64) input << BORROW_BITS) | borrowed : 0);
  if (borrowed == BORROW_ALL)
    {
      /* No run of passed-on items to merge: each comes on its own. */
      put_varint (out, 1);
      writer->cursor = input + 1;
    }
  else
    put_fields (out, item, borrowed, &writer->generator);
  writer->n_items++;
}

gsize
sutra_record_writer_get_size (SutraRecordWriter *writer)
{
  return writer->items.used;
}

guint64
sutra_record_writer_get_n_items (SutraRecordWriter *writer)
{
  return writer->n_items;
}

void
sutra_record_writer_free (SutraRecordWriter *writer)
{
  if (writer == NULL)
    return;
  g_byte_array_unref (writer->items.array);
  g_clear_pointer (&writer->inputs, g_ptr_array_unref);
  g_ptr_array_unref (writer->lineages);
  g_ptr_array_unref (writer->types);
  g_clear_object (&writer->generator);
  g_free (writer);
}

GBytes *
sutra_record_writer_finish (SutraRecordWriter *writer)
{
  Writer out_writer = { g_byte_array_sized_new (writer->items.used + 256), 0, NULL, 0 };
  Writer *out = &out_writer;

  /* The count comes first, and is known only now. */
  put_varint (out, writer->n_items);
  put_bytes (out, writer->items.array->data, writer->items.used);
  put_tables (out, writer->lineages, writer->types);
  g_byte_array_set_size (out->array, out->used);
  sutra_record_writer_free (writer);
  return g_byte_array_free_to_bytes (out->array);
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
get_varint (Cursor *cursor)
{
  guint64 value = 0;

  for (guint shift = 0; shift < 64; shift += 7)
    {
      const guint8 *p = take (cursor, 1);

      if (p == NULL)
        return 0;
      value |= (guint64) (*p & 0x7f) << shift;
      if (!(*p & 0x80))
        return value;
    }
  cursor->bad = TRUE;
  return 0;
}

/* Decodes the tables at the end of a body into @lineages and @types, and
 * leaves @cursor's length at their start: the items end there. */
static void
read_tables (Cursor *cursor, GPtrArray *lineages, GPtrArray *types)
{
  Cursor tables;
  guint64 offset;
  guint64 n_lineages, n_types;

  if (cursor->length < sizeof offset)
    {
      cursor->bad = TRUE;
      return;
    }
  memcpy (&offset, cursor->data + cursor->length - sizeof offset, sizeof offset);
  offset = GUINT64_FROM_LE (offset);
  if (offset > cursor->length - sizeof offset)
    {
      cursor->bad = TRUE;
      return;
    }
  tables = (Cursor){ cursor->data, cursor->length - sizeof offset, offset, FALSE };
  n_lineages = get_varint (&tables);
  for (guint64 l = 0; l < n_lineages && !tables.bad; l++)
    {
      const guint8 *digest = take (&tables, SUTRA_DIGEST_SIZE);

      if (digest != NULL)
        g_ptr_array_add (lineages, sutra_lineage_new (digest));
    }
  n_types = get_varint (&tables);
  for (guint64 t = 0; t < n_types && !tables.bad; t++)
    {
      guint64 length = get_varint (&tables);
      const guint8 *p = take (&tables, length);

      if (p != NULL)
        g_ptr_array_add (types, g_strndup ((const char *) p, length));
    }
  cursor->bad = tables.bad || tables.offset != tables.length;
  cursor->length = offset;
}

/* An item that takes every field from @input. */
static SutraItem *
copy_of_input (const SutraItem *input, const char *media_type)
{
  SutraItem *item =
    sutra_item_new_with_path (input->id, input->path, input->depth, media_type, NULL);

  sutra_item_share_payload (item, input);

  item->group_size = input->group_size;
  if (input->meta != NULL)
    {
      item->meta = json_object_ref (input->meta);
      item->meta_is_shared = TRUE;
    }
  return item;
}

GPtrArray *
sutra_record_decode (GBytes *body, GPtrArray *inputs, GError **error)
{
  return sutra_record_decode_in_file (body, inputs, -1, 0, error);
}

/* A payload of the record that stays in the store's file: @length bytes
 * at @offset of @fd (not taken). The entry's descriptor is duplicated
 * once, into *@entry, and shared by all its payloads. */
static SutraPayloadFile *
payload_in_file (SutraPayloadFile **entry, int fd, guint64 offset, guint64 length)
{
  if (*entry == NULL)
    {
      int copy = fcntl (fd, F_DUPFD_CLOEXEC, 0);

      *entry = copy >= 0 ? sutra_payload_file_new (copy, NULL) : NULL;
      if (*entry == NULL)
        return NULL;
    }
  if (offset > sutra_payload_file_get_size (*entry) ||
      length > sutra_payload_file_get_size (*entry) - offset)
    return NULL;
  return sutra_payload_file_new_within (*entry, offset, length);
}

GPtrArray *
sutra_record_decode_in_file (GBytes *body,
                             GPtrArray *inputs,
                             int fd,
                             guint64 body_offset,
                             GError **error)
{
  g_autoptr (SutraPayloadFile) entry = NULL; /* the store entry's file, shared */
  Cursor cursor = { 0 };
  g_autoptr (GPtrArray) lineages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_lineage_unref);
  g_autoptr (GPtrArray) types = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  /* Paths may be as deep as SUTRA_ITEM_MAX_DEPTH: on the heap, not the stack. */
  g_autoptr (GArray) path = g_array_sized_new (FALSE, FALSE, sizeof (guint64), 16);
  guint64 n_items;

  cursor.data = g_bytes_get_data (body, &cursor.length);
  read_tables (&cursor, lineages, types);
  n_items = get_varint (&cursor);
  while (items->len < n_items && !cursor.bad)
    {
      guint64 flags = get_varint (&cursor);
      guint64 lineage = get_varint (&cursor);
      guint64 type = get_varint (&cursor);
      guint64 borrowed = get_varint (&cursor);
      guint64 input_index = borrowed >> BORROW_BITS;
      const SutraItem *input = NULL;
      guint64 depth = 0;
      guint64 group_size, length;
      g_autofree char *id = NULL;
      const guint8 *p;
      SutraItem *item;

      if (type >= types->len || lineage > lineages->len ||
          (borrowed != 0 && (inputs == NULL || input_index >= inputs->len)))
        {
          cursor.bad = TRUE;
          break;
        }
      if (borrowed != 0)
        input = inputs->pdata[input_index];
      if ((borrowed & BORROW_ALL) == BORROW_ALL)
        {
          guint64 count = get_varint (&cursor);

          if (count < 1 || count > n_items - items->len || count > inputs->len - input_index)
            {
              cursor.bad = TRUE;
              break;
            }
          for (guint64 k = 0; k < count; k++)
            {
              item = copy_of_input (inputs->pdata[input_index + k], types->pdata[type]);
              item->flags = (guint16) flags;
              if (lineage > 0)
                sutra_item_set_lineage (item, lineages->pdata[lineage - 1]);
              g_ptr_array_add (items, item);
            }
          continue;
        }
      if (borrowed & BORROW_PATH)
        {
          depth = input->depth;
          g_array_set_size (path, depth);
          memcpy (path->data, input->path, depth * sizeof (guint64));
        }
      else
        {
          depth = get_varint (&cursor);
          /* Each position takes a byte at least: a depth the rest of the
           * body cannot hold is corrupt, and must not size an array. */
          if (depth < 1 || depth > SUTRA_ITEM_MAX_DEPTH || depth > cursor.length - cursor.offset)
            {
              cursor.bad = TRUE;
              break;
            }
          g_array_set_size (path, depth);
          for (guint d = 0; d < depth; d++)
            g_array_index (path, guint64, d) = get_varint (&cursor);
        }
      group_size = get_varint (&cursor);
      if (!(borrowed & BORROW_ID))
        {
          length = get_varint (&cursor);
          if ((p = take (&cursor, length)) == NULL)
            break;
          id = g_strndup ((const char *) p, length);
        }
      item = sutra_item_new_with_path (id != NULL ? id : input->id, (const guint64 *) path->data,
                                       depth, types->pdata[type], NULL);
      item->flags = (guint16) flags;
      item->group_size = group_size;
      g_ptr_array_add (items, item);
      if (borrowed & BORROW_META)
        {
          if (input->meta != NULL)
            {
              item->meta = json_object_ref (input->meta);
              item->meta_is_shared = TRUE;
            }
        }
      else
        {
          length = get_varint (&cursor);
          if ((p = take (&cursor, length)) == NULL)
            break;
          if (length > 0)
            {
              g_autoptr (JsonParser) parser = json_parser_new_immutable ();
              JsonNode *root;

              if (!sutra_json_parser_load_document (parser, (const char *) p, length, NULL) ||
                  (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
                {
                  cursor.bad = TRUE;
                  break;
                }
              sutra_item_set_meta (item, json_object_ref (json_node_get_object (root)));
            }
        }
      if (borrowed & BORROW_PAYLOAD)
        {
          sutra_item_share_payload (item, input);
        }
      else
        {
          length = get_varint (&cursor);
          if ((p = take (&cursor, length)) == NULL)
            break;
          SutraPayloadFile *file =
            fd >= 0 && length >= SHARE_PAYLOAD_MIN
              ? payload_in_file (&entry, fd, body_offset + (guint64) (p - cursor.data), length)
              : NULL;

          /* The payload stays in the store's file, or points into the
           * record: no copy either way. */
          if (file != NULL)
            sutra_item_take_payload_file (item, file);
          else
            sutra_item_take_payload (item, g_bytes_new_from_bytes (body, p - cursor.data, length));
        }
      if (lineage > 0)
        sutra_item_set_lineage (item, lineages->pdata[lineage - 1]);
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
