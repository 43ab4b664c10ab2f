/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reorder window: finished batches leave a stage in their order. */

#include "sutra-reorder.h"

#include "sutra-edge.h"

/* Waits until this stage has fewer than window_size batches in flight. */
gboolean
sutra_reorder_wait_for_room (StageRuntime *stage)
{
  gboolean ok;

  g_mutex_lock (&stage->output.lock);
  while (stage->intake.next_seq - stage->output.next_flush_seq >= stage->output.window_size &&
         !sutra_run_is_stopping (stage->run))
    g_cond_wait (&stage->output.moved, &stage->output.lock);
  ok = !sutra_run_is_stopping (stage->run);
  g_mutex_unlock (&stage->output.lock);
  return ok;
}

/* Hands a finished batch's outputs (transfer full) to the window and
 * flushes every batch that is next in line. Whoever finds the head batch
 * ready flushes; the others just deposit. A split's worker that has been
 * sending its batch's children itself (@flusher) holds the flush already:
 * its batch is the head. */
void
sutra_reorder_deposit (StageRuntime *stage, guint64 seq, GPtrArray *outputs, gboolean flusher)
{
  WindowSlot *slot;

  g_mutex_lock (&stage->output.lock);
  slot = &stage->output.window[seq % stage->output.window_size];
  slot->ready = TRUE;
  slot->items = outputs;
  if (!flusher && stage->output.flushing)
    {
      g_mutex_unlock (&stage->output.lock);
      return;
    }
  stage->output.flushing = TRUE;
  for (;;)
    {
      WindowSlot *head =
        &stage->output.window[stage->output.next_flush_seq % stage->output.window_size];
      g_autoptr (GPtrArray) items = NULL;
      gboolean ok;

      if (!head->ready)
        break;
      items = g_steal_pointer (&head->items);
      head->ready = FALSE;
      g_mutex_unlock (&stage->output.lock);

      ok = sutra_edge_emit_all (stage, items);
      for (guint i = 0; i < items->len; i++)
        if (!sutra_item_is_marker (items->pdata[i]))
          COUNTER_ADD (stage->counters.n_out, 1);

      g_mutex_lock (&stage->output.lock);
      stage->output.next_flush_seq++;
      g_cond_broadcast (&stage->output.moved);
      if (!ok)
        break;
    }
  stage->output.flushing = FALSE;
  /* A split's worker waiting for its batch's turn waits for the flush to
   * be free too, not only for the window to move. */
  g_cond_broadcast (&stage->output.moved);
  g_mutex_unlock (&stage->output.lock);
}

/* Gives up the flush a split's worker took for its batch, when the batch
 * failed (the run is failing: nothing more is flushed). */
void
sutra_reorder_release_flush (StageRuntime *stage)
{
  g_mutex_lock (&stage->output.lock);
  stage->output.flushing = FALSE;
  g_cond_broadcast (&stage->output.moved);
  g_mutex_unlock (&stage->output.lock);
}
