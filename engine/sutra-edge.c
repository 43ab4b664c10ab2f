/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Edges: the bounded rings between stages, and pushing into them. */

#include "sutra-edge.h"

#include "sutra-run-private.h"

/* Pushes @items (borrowed; each is reffed) into @edge's ring, blocking while
 * it is full. Returns FALSE when the run is abandoned meanwhile.
 *
 * Wakeups are rationed both ways, or context switches would cost more than
 * the work: a producer that finds the ring full sleeps until it is half
 * empty, and the consumer is woken only once the ring holds what it waits
 * for (a whole batch, see sutra_intake_take_batch()). */
gboolean
sutra_edge_push (Edge *edge, SutraItem *const *items, guint n_items)
{
  StageRuntime *target = edge->target;
  ItemRing *ring = &target->input.rings[edge->ring];
  SutraRun *run = target->run;
  gboolean ok = TRUE;

  g_mutex_lock (&target->input.lock);
  for (guint i = 0; i < n_items; i++)
    {
      if (ring->count == ring->capacity)
        {
          g_cond_broadcast (&target->input.items_ready);
          while (ring->count > ring->capacity / 2 && !sutra_run_is_stopping (run))
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
      if (ring->count == ring->capacity)
        break;
      sutra_ring_push (ring, sutra_item_ref (items[i]));
      target->input.fill++;
      if ((guint) target->input.fill > target->input.max_fill)
        target->input.max_fill = target->input.fill;
    }
  if (ring->count >= target->input.want)
    g_cond_broadcast (&target->input.items_ready);
  g_mutex_unlock (&target->input.lock);
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

/* Pushes to every downstream edge, in edge order. */
gboolean
sutra_edge_emit_all (StageRuntime *stage, GPtrArray *items)
{
  for (guint e = 0; e < stage->output.edges->len; e++)
    {
      Edge *edge = &g_array_index (stage->output.edges, Edge, e);

      if (!edge->target->checkpoint.skipped &&
          !sutra_edge_push (edge, (SutraItem *const *) items->pdata, items->len))
        return FALSE;
    }
  return TRUE;
}
