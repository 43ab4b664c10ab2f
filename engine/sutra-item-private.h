/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's view of SutraItem: markers, lineage keys and the layout. */

#pragma once

#include "sutra-lineage.h"
#include "sutra-payload-file.h"
#include <sutra/sutra.h>

G_BEGIN_DECLS

typedef enum
{
  /* Not data: marks that the group whose parent has this item's path is
   * complete, and how many children it had. Splits' outputs carry them to
   * gathers, in stream order; maps and sinks pass them on untouched. */
  SUTRA_ITEM_FLAG_GROUP_END = 1 << 0,
  /* On a marker: the split that made the group failed (on_error skip)
   * after some of its members had gone downstream, so the group is
   * incomplete; a gather treats it as a group with members missing. */
  SUTRA_ITEM_FLAG_GROUP_FAILED = 1 << 1,
} SutraItemFlags;

/* Where an item's payload bytes live (size is always set, and data for
 * every kind but SUTRA_PAYLOAD_FILE). */
typedef enum
{
  /* In a GBytes of the item's own: payload. */
  SUTRA_PAYLOAD_BYTES,
  /* In the item's own allocation, after the id: one allocation for a
   * line. payload is NULL until sutra_item_get_payload() asks for one. */
  SUTRA_PAYLOAD_INLINE,
  /* In payload_item's allocation: a derived item sharing its source's
   * inline payload holds a reference to the source. */
  SUTRA_PAYLOAD_BORROWED,
  /* In a file (file): data is NULL, and payload too until
   * sutra_item_get_payload() or _get_data() read the file whole. */
  SUTRA_PAYLOAD_FILE,
} SutraPayloadKind;

struct _SutraItem
{
  /* Atomic only while the item is shared: a thread holding the only
   * reference (ref_count 1) is alone with it. See sutra_item_ref(). */
  gint ref_count;
  guint16 depth;
  guint16 flags;
  guint8 meta_is_shared;  /* meta belongs to the item we were derived from */
  guint8 payload_kind;    /* SutraPayloadKind */
  const char *media_type; /* interned */
  const guint8 *data;     /* the payload's bytes; never NULL */
  gsize size;
  GBytes *payload;         /* see SutraPayloadKind; set once, atomically */
  SutraItem *payload_item; /* SUTRA_PAYLOAD_BORROWED: whose bytes these are */
  SutraPayloadFile *file;  /* SUTRA_PAYLOAD_FILE */
  JsonObject *meta;
  guint64 group_size;    /* markers only */
  SutraLineage *lineage; /* what computed this item: resume and cache keys */
  char *id;              /* points into this allocation, after path */
  guint64 path[];
};

SutraItem *sutra_item_new_group_end (const SutraItem *parent_like, guint depth, guint64 group_size);

static inline gboolean
sutra_item_is_marker (const SutraItem *item)
{
  return (item->flags & SUTRA_ITEM_FLAG_GROUP_END) != 0;
}

/* Makes an item with an explicit path, for the store's deserializer. */
SutraItem *sutra_item_new_with_path (const char *id,
                                     const guint64 *path,
                                     guint depth,
                                     const char *media_type,
                                     GBytes *payload);

/* TRUE when @prefix's path is a proper prefix of @item's path. */
gboolean sutra_item_is_descendant_of (const SutraItem *item, const SutraItem *ancestor);

/* Compares the first @depth positions of two paths. */
int sutra_item_compare_prefix (const SutraItem *a, const SutraItem *b, guint depth);

void sutra_item_set_lineage (SutraItem *item, SutraLineage *lineage);

/* Replaces the payload of an item not yet shared: @payload (transfer full),
 * or the same bytes as @input's (sutra_item_share_payload). For the store's
 * deserializer. */
void sutra_item_take_payload (SutraItem *item, GBytes *payload);
void sutra_item_take_payload_file (SutraItem *item, SutraPayloadFile *file);
void sutra_item_share_payload (SutraItem *item, const SutraItem *input);

/* Drops one of @n_held references that the calling thread holds on @item,
 * n_held >= 2: when they are all there are, no other thread can see the
 * count, and no atomic operation is needed. */
void sutra_item_unref_held (SutraItem *item, gint n_held);

/* The file an item's payload lives in, or NULL when it is in memory. */
static inline SutraPayloadFile *
sutra_item_peek_payload_file (const SutraItem *item)
{
  return item->payload_kind == SUTRA_PAYLOAD_FILE ? item->file : NULL;
}

/* TRUE when @a and @b hold the same payload by reference (not merely
 * equal bytes): the same memory, or the same file. */
static inline gboolean
sutra_item_same_payload (const SutraItem *a, const SutraItem *b)
{
  if (a->size != b->size)
    return FALSE;
  if (a->payload_kind == SUTRA_PAYLOAD_FILE || b->payload_kind == SUTRA_PAYLOAD_FILE)
    return sutra_item_peek_payload_file (a) == sutra_item_peek_payload_file (b);
  return a->data == b->data;
}

G_END_DECLS
