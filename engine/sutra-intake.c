/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Intake: a stage's workers take batches from its merged input streams. */

#include "sutra-intake.h"

#include "sutra-call.h"
#include "sutra-edge.h"
#include "sutra-reorder.h"

typedef enum
{
  TAKE_ITEM,
  TAKE_WAIT,
  TAKE_END,
} TakeResult;

/* The next item of the merged input stream, with input.lock held: the least
 * head among the rings by path, ties to the earlier input. While any open
 * ring is empty the least head is not yet known: wait. */
static TakeResult
take_next (StageRuntime *stage, SutraItem **item)
{
  int best = -1;

  for (guint r = 0; r < stage->input.n_rings; r++)
    {
      ItemRing *ring = &stage->input.rings[r];
      SutraItem *head = sutra_ring_peek (ring);

      if (head == NULL)
        {
          if (!ring->closed)
            return TAKE_WAIT;
          continue;
        }
      if (best < 0 || sutra_item_compare (head, sutra_ring_peek (&stage->input.rings[best])) < 0)
        best = r;
    }
  if (best < 0)
    return TAKE_END;
  {
    ItemRing *ring = &stage->input.rings[best];
    gboolean was_half_empty = sutra_ring_is_half_empty (ring);

    *item = sutra_ring_pop (ring);
    stage->input.fill--;
    /* A producer blocked on this ring waits for it to be half empty. */
    if (!was_half_empty && sutra_ring_is_half_empty (ring))
      g_cond_broadcast (&stage->input.space_ready);
  }
  return TAKE_ITEM;
}

void
sutra_intake_clear_batch (StageRuntime *stage, Batch *batch)
{
  /* A group the run stopped in, or one whose output the store had. */
  sutra_call_gather_abort (stage, batch);
  g_clear_pointer (&batch->first_member, sutra_item_unref);
  g_clear_pointer (&batch->last_member, sutra_item_unref);
  if (batch->key_builder != NULL)
    sutra_checkpoint_key_clear (batch->key_builder);
  g_clear_pointer (&batch->key_builder, g_free);
  if (batch->lineage != NULL)
    sutra_checkpoint_group_lineage_clear (batch->lineage);
  g_clear_pointer (&batch->lineage, g_free);
  g_clear_error (&batch->group_error);
  batch->group_misused = FALSE;
  batch->n_streamed = 0;
  if (batch->entries != NULL)
    g_ptr_array_set_size (batch->entries, 0);
  if (batch->data != NULL)
    g_ptr_array_set_size (batch->data, 0);
  g_clear_pointer (&batch->closing, sutra_item_unref);
  /* A worker reuses its Batch, arrays included (allocated once, at the
   * batch size), but nothing else of this one may carry over. */
  batch->has_key = FALSE;
  batch->n_failed = 0;
}

void
sutra_intake_free_batch (StageRuntime *stage, Batch *batch)
{
  sutra_intake_clear_batch (stage, batch);
  g_clear_pointer (&batch->entries, g_ptr_array_unref);
  g_clear_pointer (&batch->data, g_ptr_array_unref);
}

/* Is @marker the end of the group the gather has open (or, with no group
 * open, of an empty group at the gather's level)? */
static gboolean
marker_closes_group (StageRuntime *stage, Batch *batch, SutraItem *marker)
{
  SutraItem *member =
    stage->intake.group->len > 0 ? stage->intake.group->pdata[0] : batch->first_member;

  if (member != NULL)
    {
      return marker->depth + 1 == member->depth &&
             sutra_item_compare_prefix (marker, member, marker->depth) == 0;
    }
  return stage->intake.gather_level >= 0 && marker->depth == (guint) stage->intake.gather_level;
}

/* Hands @item (transfer full), the next member of the open group, to a
 * streaming gather, and folds it into the batch's key and the output's
 * lineage. The item is kept only until the next member comes (the key's
 * runs compare neighbours), and the group's first for its parent's id. */
static void
stream_member (StageRuntime *stage, SutraExecutor *executor, Batch *batch, SutraItem *item)
{
  if (batch->n_streamed == 0)
    {
      if (stage->checkpoint != NULL && sutra_checkpoint_stage_stores (stage->checkpoint))
        {
          batch->key_builder = g_new (SutraKeyBuilder, 1);
          sutra_checkpoint_key_begin (stage->checkpoint, batch->key_builder);
          for (guint i = 0; i < batch->entries->len; i++)
            sutra_checkpoint_key_add (batch->key_builder, batch->entries->pdata[i]);
        }
      if (stage->checkpoint != NULL)
        batch->lineage = g_new0 (SutraGroupLineage, 1);
      batch->first_member = sutra_item_ref (item);
    }
  batch->n_streamed++;
  COUNTER_ADD (stage->counters.n_in, 1);
  if (batch->key_builder != NULL)
    sutra_checkpoint_key_add (batch->key_builder, item);
  if (batch->lineage != NULL)
    sutra_checkpoint_group_lineage_add (batch->lineage, item);
  sutra_call_gather_member (stage, executor, batch, item);
  g_clear_pointer (&batch->last_member, sutra_item_unref);
  batch->last_member = item;
}

/* Forms the next batch. Returns FALSE when there is none. A streaming
 * gather's batch is its next group, handed to the plugin member by member
 * as the items are taken: the intake stays with this worker until the
 * group's marker, so one worker drives one group, in order. */
gboolean
sutra_intake_take_batch (StageRuntime *stage, SutraExecutor *executor, Batch *batch)
{
  gboolean is_gather = stage->info->kind == SUTRA_STAGE_GATHER;
  gboolean streams = is_gather && stage->info->gather_begin != NULL;
  guint batch_size = stage->spec->batch;
  SutraItem *item;

  g_mutex_lock (&stage->intake.lock);
  if (!sutra_reorder_wait_for_room (stage))
    {
      g_mutex_unlock (&stage->intake.lock);
      return FALSE;
    }
  if (batch->entries == NULL)
    {
      guint reserve = is_gather ? 0 : batch_size;

      batch->entries = g_ptr_array_new_full (reserve, (GDestroyNotify) sutra_item_unref);
      batch->data = g_ptr_array_sized_new (reserve);
    }
  batch->closing = NULL;

  /* One lock hold takes the whole batch; it is released only to wait. */
  g_mutex_lock (&stage->input.lock);
  while (!sutra_run_is_stopping (stage->run))
    {
      TakeResult result = take_next (stage, &item);

      if (result == TAKE_END)
        break;
      if (result == TAKE_WAIT)
        {
          /* Wake me when a whole batch can be formed (a merge of several
           * inputs needs every input's head, so any item may help). */
          stage->input.want =
            stage->input.n_rings == 1 && !is_gather
              ? MIN (batch_size - batch->data->len, stage->input.rings[0].capacity)
              : 1;
          g_cond_wait (&stage->input.items_ready, &stage->input.lock);
          stage->input.want = 1;
          continue;
        }
      if (!is_gather)
        {
          g_ptr_array_add (batch->entries, item);
          if (!sutra_item_is_marker (item))
            {
              g_ptr_array_add (batch->data, item);
              if (batch->data->len == batch_size)
                break;
            }
          continue;
        }
      if (!sutra_item_is_marker (item) && streams)
        {
          /* The plugin's call may take long: upstream keeps pushing. */
          g_mutex_unlock (&stage->input.lock);
          stream_member (stage, executor, batch, item);
          g_mutex_lock (&stage->input.lock);
          continue;
        }
      if (!sutra_item_is_marker (item))
        {
          g_ptr_array_add (stage->intake.group, item);
          continue;
        }
      if (marker_closes_group (stage, batch, item))
        {
          stage->intake.gather_level = item->depth;
          for (guint i = 0; i < stage->intake.group->len; i++)
            {
              g_ptr_array_add (batch->entries, stage->intake.group->pdata[i]);
              g_ptr_array_add (batch->data, stage->intake.group->pdata[i]);
            }
          g_ptr_array_set_size (stage->intake.group, 0);
          batch->closing = item;
          break;
        }
      /* A marker for another level: pass it on in place (in a streamed
       * group's key too). */
      g_ptr_array_add (batch->entries, item);
      if (batch->key_builder != NULL)
        sutra_checkpoint_key_add (batch->key_builder, item);
      if (stage->intake.group->len == 0 && batch->n_streamed == 0)
        break;
    }
  g_mutex_unlock (&stage->input.lock);

  /* A batch cut short by a stop is not a batch: its key would match no
   * batch of the resumed run. Its items are dropped; a resume makes them
   * again from the store. */
  if ((batch->entries->len == 0 && batch->closing == NULL) || sutra_run_is_stopping (stage->run))
    {
      sutra_intake_clear_batch (stage, batch);
      g_mutex_unlock (&stage->intake.lock);
      return FALSE;
    }
  batch->seq = stage->intake.next_seq++;
  COUNTER_ADD (stage->counters.n_in, batch->data->len); /* streamed members: as they came */
  g_mutex_unlock (&stage->intake.lock);
  return TRUE;
}
