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
  gboolean closed;
} ItemRing;

/* One stream from a stage to an input ring of a stage downstream. */
typedef struct
{
  StageRuntime *target;
  guint ring;
} Edge;

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
  return item;
}

static inline void
sutra_ring_push (ItemRing *ring, SutraItem *item)
{
  ring->slots[(ring->head + ring->count) % ring->capacity] = item;
  ring->count++;
}

gboolean sutra_edge_push (Edge *edge, SutraItem *const *items, guint n_items);
void sutra_edge_close (Edge *edge);
gboolean sutra_edge_emit_all (StageRuntime *stage, GPtrArray *items);

G_END_DECLS
