/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Edges: the bounded rings between stages, and pushing into them. */

#pragma once

#include "sutra-item-private.h"

G_BEGIN_DECLS

typedef struct _StageRuntime StageRuntime;

/* A bounded FIFO of items, one per input edge of a stage, guarded by the
 * stage's input.lock. */
typedef struct
{
  SutraItem **slots;
  guint capacity;
  guint head;
  guint count;
  guint64 bytes;          /* payload bytes held in memory (payload files: none) */
  guint64 capacity_bytes; /* full at this many, whatever the count */
  gboolean closed;
} ItemRing;

/* One stream from a stage to an input ring of a stage downstream. */
typedef struct
{
  StageRuntime *target;
  guint ring;
} Edge;

/* What an item weighs in a ring: its payload, unless that is in a file. */
static inline guint64
sutra_ring_weight (const SutraItem *item)
{
  return item->payload_kind == SUTRA_PAYLOAD_FILE ? 0 : item->size;
}

/* Full by count, or by bytes while it holds anything (an item larger than
 * the whole ring still gets in, alone). */
static inline gboolean
sutra_ring_is_full (const ItemRing *ring)
{
  return ring->count == ring->capacity || (ring->count > 0 && ring->bytes >= ring->capacity_bytes);
}

/* Where a producer that found the ring full may go on: half empty, by
 * count and by bytes, so that wakeups come in bursts. */
static inline gboolean
sutra_ring_is_half_empty (const ItemRing *ring)
{
  return ring->count <= ring->capacity / 2 && ring->bytes <= ring->capacity_bytes / 2;
}

/* Inline: the intake peeks and pops once per item, on the hot path. */
static inline SutraItem *
sutra_ring_peek (ItemRing *ring)
{
  return ring->count > 0 ? ring->slots[ring->head] : NULL;
}

static inline SutraItem *
sutra_ring_pop (ItemRing *ring)
{
  SutraItem *item = ring->slots[ring->head];

  ring->head = (ring->head + 1) % ring->capacity;
  ring->count--;
  ring->bytes -= sutra_ring_weight (item);
  return item;
}

static inline void
sutra_ring_push (ItemRing *ring, SutraItem *item)
{
  ring->slots[(ring->head + ring->count) % ring->capacity] = item;
  ring->count++;
  ring->bytes += sutra_ring_weight (item);
}

gboolean sutra_edge_push (Edge *edge, SutraItem *const *items, guint n_items, gboolean take);
void sutra_edge_close (Edge *edge);
/* Pushes @items (an array that owns them) to every downstream edge, in edge
 * order, and leaves @items empty. */
gboolean sutra_edge_emit_all (StageRuntime *stage, GPtrArray *items);

G_END_DECLS
