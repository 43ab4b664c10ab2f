/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Edges: the bounded rings between stages, and pushing into them. */

#include "sutra-edge.h"

#include "sutra-run-private.h"

/* Pushes @items into @edge's ring, blocking while it is full: borrowed (each
 * is reffed), or with @take, the caller's references, which the ring takes
 * over (or drops, for items it does not take). Returns FALSE when the run is
 * abandoned meanwhile.
 *
 * Wakeups are rationed both ways, or context switches would cost more than
 * the work: a producer that finds the ring full (by count or by bytes)
 * sleeps until it is half empty (by both), and the consumer is woken only once the ring holds what
 * it waits for (a whole batch, see sutra_intake_take_batch()). */
gboolean
sutra_edge_push (Edge *edge, SutraItem *const *items, guint n_items, gboolean take)
{
  StageRuntime *target = edge->target;
  ItemRing *ring = &target->input.rings[edge->ring];
  SutraRun *run = target->run;
  gboolean ok = TRUE;
  guint i;

  g_mutex_lock (&target->input.lock);
  for (i = 0; i < n_items; i++)
    {
      if (sutra_ring_is_full (ring))
        {
          g_cond_broadcast (&target->input.items_ready);
          while (!sutra_ring_is_half_empty (ring) && !sutra_run_is_stopping (run))
            g_cond_wait (&target->input.space_ready, &target->input.lock);
        }
      if (g_atomic_int_get (&run->abandoning))
        {
          ok = FALSE;
          break;
        }
      /* Draining after a stop: downstream takes nothing more, so what does
       * not fit is dropped; it is in the store, and a resume takes it
       * from there. */
      if (sutra_ring_is_full (ring))
        break;
      sutra_ring_push (ring, take ? items[i] : sutra_item_ref (items[i]));
      target->input.fill++;
      if ((guint) target->input.fill > target->input.max_fill)
        target->input.max_fill = target->input.fill;
    }
  /* Full by bytes, a ring may hold fewer than the consumer waits for:
   * wake it all the same, or it sleeps on what cannot grow. */
  if (ring->count >= target->input.want || sutra_ring_is_full (ring))
    g_cond_broadcast (&target->input.items_ready);
  g_mutex_unlock (&target->input.lock);
  if (take)
    for (; i < n_items; i++)
      sutra_item_unref (items[i]);
  return ok;
}

void
sutra_edge_close (Edge *edge)
{
  StageRuntime *target = edge->target;

  g_mutex_lock (&target->input.lock);
  target->input.rings[edge->ring].closed = TRUE;
  g_cond_broadcast (&target->input.items_ready);
  g_mutex_unlock (&target->input.lock);
}

/* Pushes to every downstream edge, in edge order. The last edge takes the array's references
 * instead of taking its own: an item moves from stage to stage without a reference count changing
 * (sutra-item.c says why that matters). */
gboolean
sutra_edge_emit_all (StageRuntime *stage, GPtrArray *items)
{
  int last = -1;
  gboolean ok = TRUE;

  for (guint e = 0; e < stage->output.edges->len; e++)
    if (!stage_is_skipped (g_array_index (stage->output.edges, Edge, e).target))
      last = (int) e;
  for (int e = 0; e <= last && ok; e++)
    {
      Edge *edge = &g_array_index (stage->output.edges, Edge, e);

      if (stage_is_skipped (edge->target))
        continue;
      ok = sutra_edge_push (edge, (SutraItem *const *) items->pdata, items->len, e == last);
      if (e == last)
        {
          /* Taken (or dropped) by the push: emptied without unref. The
           * arrays that carry items between stages all own them. */
          g_ptr_array_set_free_func (items, NULL);
          g_ptr_array_set_size (items, 0);
          g_ptr_array_set_free_func (items, (GDestroyNotify) sutra_item_unref);
        }
    }
  return ok;
}
