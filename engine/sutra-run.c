/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler: per-stage thread pools, bounded queues, ordered streams. */

/*
 * How a run keeps its promises:
 *
 * Ordering. Every stream between two stages is in position-path order. A
 * stage's workers take batches from its input in order and number them; each
 * finished batch is deposited in a reorder window, and batches leave the
 * window downstream strictly by number, whatever order workers finish them in.
 * So a sink sees the same sequence with 1 worker or 8, and a fan-in merges its
 * ordered inputs by path, ties broken by the order of its inputs.
 *
 * Batches. A batch is always the next `batch` data items (or fewer at the end
 * of the stream), never "what happened to be queued": its composition does not
 * depend on timing, which resume keys rely on.
 *
 * Memory. Each input queue holds at most `queue` items (a full queue blocks the
 * upstream flush: backpressure), and a stage has at most `window` batches in
 * flight, so memory is bounded by queue sizes, never by input size.
 *
 * Groups. A split's outputs carry end-of-group markers: after the last child
 * of a parent, a marker with the parent's path and its number of children. A
 * gather is handed the members as they come (a streaming gather, which keeps
 * what it chooses) or all of them at the marker (one that sets process); the
 * marker ends the group. Maps pass markers through in place; sinks drop them.
 */

#include "sutra-run-private.h"

#include "sutra-output-private.h"
#include "sutra-split-counters.h"
#include "sutra-timeline.h"
#include "sutra-record.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-run-error-quark, sutra_run_error)
/* clang-format on */

gboolean
sutra_run_is_stopping (SutraRun *run)
{
  return g_atomic_int_get (&run->stopping) != 0;
}

void
sutra_run_emit_event (SutraRun *run, JsonObject *event)
{
  if (run->event_func != NULL)
    {
      json_object_set_double_member (event, "t", (g_get_monotonic_time () - run->started_us) / 1e6);
      g_mutex_lock (&run->event_lock);
      run->event_func (event, run->event_data);
      g_mutex_unlock (&run->event_lock);
    }
  json_object_unref (event);
}

JsonObject *
sutra_run_stage_event (StageRuntime *stage, const char *name)
{
  JsonObject *event = json_object_new ();

  json_object_set_string_member (event, "event", name);
  json_object_set_string_member (event, "stage", stage->spec->name);
  return event;
}

/* Wakes every waiter of every stage so they see the stop flags. Each
 * mutex is taken while broadcasting so that no waiter can check the flag
 * and then miss the wakeup. */
static void
wake_everyone (SutraRun *run)
{
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];

      g_mutex_lock (&stage->in_lock);
      g_cond_broadcast (&stage->items_ready);
      g_cond_broadcast (&stage->space_ready);
      g_mutex_unlock (&stage->in_lock);
      g_mutex_lock (&stage->out_lock);
      g_cond_broadcast (&stage->window_moved);
      g_mutex_unlock (&stage->out_lock);
    }
}

void
sutra_run_stop (SutraRun *run, gboolean abandon)
{
  g_atomic_int_set (&run->stopping, 1);
  if (abandon)
    g_atomic_int_set (&run->abandoning, 1);
  wake_everyone (run);
}

/* Records the run's first fatal error and stops everything. */
void
sutra_run_fail (SutraRun *run, GError *error)
{
  g_mutex_lock (&run->lock);
  if (run->error == NULL)
    run->error = error;
  else
    g_error_free (error);
  g_mutex_unlock (&run->lock);
  sutra_run_stop (run, TRUE);
}

/* Rings ---------------------------------------------------------------- */

static SutraItem *
ring_peek (ItemRing *ring)
{
  return ring->count > 0 ? ring->slots[ring->head] : NULL;
}

static SutraItem *
ring_pop (ItemRing *ring)
{
  SutraItem *item = ring->slots[ring->head];

  ring->head = (ring->head + 1) % ring->capacity;
  ring->count--;
  return item;
}

static void
ring_push (ItemRing *ring, SutraItem *item)
{
  ring->slots[(ring->head + ring->count) % ring->capacity] = item;
  ring->count++;
}

/* Pushes @items (borrowed; each is reffed) into @edge's ring, blocking while
 * it is full. Returns FALSE when the run is abandoned meanwhile.
 *
 * Wakeups are rationed both ways, or context switches would cost more than
 * the work: a producer that finds the ring full sleeps until it is half
 * empty, and the consumer is woken only once the ring holds what it waits
 * for (a whole batch, see take_batch). */
static gboolean
edge_push (Edge *edge, SutraItem *const *items, guint n_items)
{
  StageRuntime *target = edge->target;
  ItemRing *ring = &target->rings[edge->ring];
  SutraRun *run = target->run;
  gboolean ok = TRUE;

  g_mutex_lock (&target->in_lock);
  for (guint i = 0; i < n_items; i++)
    {
      if (ring->count == ring->capacity)
        {
          g_cond_broadcast (&target->items_ready);
          while (ring->count > ring->capacity / 2 && !sutra_run_is_stopping (run))
            g_cond_wait (&target->space_ready, &target->in_lock);
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
      ring_push (ring, sutra_item_ref (items[i]));
      target->queue_fill++;
      if ((guint) target->queue_fill > target->queue_max_fill)
        target->queue_max_fill = target->queue_fill;
    }
  if (ring->count >= target->want)
    g_cond_broadcast (&target->items_ready);
  g_mutex_unlock (&target->in_lock);
  return ok;
}

static void
edge_close (Edge *edge)
{
  StageRuntime *target = edge->target;

  g_mutex_lock (&target->in_lock);
  target->rings[edge->ring].closed = TRUE;
  g_cond_broadcast (&target->items_ready);
  g_mutex_unlock (&target->in_lock);
}

/* Pushes to every downstream edge, in edge order. */
static gboolean
stage_emit (StageRuntime *stage, GPtrArray *items)
{
  for (guint e = 0; e < stage->edges->len; e++)
    {
      Edge *edge = &g_array_index (stage->edges, Edge, e);

      if (!edge->target->skipped &&
          !edge_push (edge, (SutraItem *const *) items->pdata, items->len))
        return FALSE;
    }
  return TRUE;
}

/* Intake ----------------------------------------------------------------- */

typedef enum
{
  TAKE_ITEM,
  TAKE_WAIT,
  TAKE_END,
} TakeResult;

/* The next item of the merged input stream, with in_lock held: the least
 * head among the rings by path, ties to the earlier input. While any open
 * ring is empty the least head is not yet known: wait. */
static TakeResult
take_next (StageRuntime *stage, SutraItem **item)
{
  int best = -1;

  for (guint r = 0; r < stage->n_rings; r++)
    {
      ItemRing *ring = &stage->rings[r];
      SutraItem *head = ring_peek (ring);

      if (head == NULL)
        {
          if (!ring->closed)
            return TAKE_WAIT;
          continue;
        }
      if (best < 0 || sutra_item_compare (head, ring_peek (&stage->rings[best])) < 0)
        best = r;
    }
  if (best < 0)
    return TAKE_END;
  *item = ring_pop (&stage->rings[best]);
  stage->queue_fill--;
  /* A producer blocked on this ring waits for it to be half empty. */
  if (stage->rings[best].count == stage->rings[best].capacity / 2)
    g_cond_broadcast (&stage->space_ready);
  return TAKE_ITEM;
}

static void
batch_clear (StageRuntime *stage, Batch *batch)
{
  /* A group the run stopped in, or one whose output the store had. */
  if (batch->group != NULL)
    stage->info->gather_abort (batch->group_instance, g_steal_pointer (&batch->group));
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
  g_clear_pointer (&batch->entries, g_ptr_array_unref);
  g_clear_pointer (&batch->data, g_ptr_array_unref);
  g_clear_pointer (&batch->closing, sutra_item_unref);
  /* A worker reuses its Batch: nothing of this one may carry over. */
  batch->has_key = FALSE;
  batch->n_failed = 0;
}

/* Waits until this stage has fewer than window_size batches in flight. */
static gboolean
wait_window (StageRuntime *stage)
{
  gboolean ok;

  g_mutex_lock (&stage->out_lock);
  while (stage->next_seq - stage->next_flush_seq >= stage->window_size &&
         !sutra_run_is_stopping (stage->run))
    g_cond_wait (&stage->window_moved, &stage->out_lock);
  ok = !sutra_run_is_stopping (stage->run);
  g_mutex_unlock (&stage->out_lock);
  return ok;
}

/* Is @marker the end of the group the gather has open (or, with no group
 * open, of an empty group at the gather's level)? */
static gboolean
marker_closes_group (StageRuntime *stage, Batch *batch, SutraItem *marker)
{
  SutraItem *member = stage->group->len > 0 ? stage->group->pdata[0] : batch->first_member;

  if (member != NULL)
    {
      return marker->depth + 1 == member->depth &&
             sutra_item_compare_prefix (marker, member, marker->depth) == 0;
    }
  return stage->gather_level >= 0 && marker->depth == (guint) stage->gather_level;
}

/* Streaming gathers ---------------------------------------------------------- */

static GError *contract_error (StageRuntime *stage, const char *format, ...) G_GNUC_PRINTF (2, 3);
static GError *misuse_error (StageRuntime *stage, const SutraOutput *output);

/* Calls one of a streaming gather's gather_begin and gather_add (@item is
 * the member) on a collecting output, so that a misuse of the API is
 * caught as in process and a push is seen: only gather_end pushes. A call
 * that fails fails the group: its state is freed at once (gather_abort),
 * and the members still to come are taken and dropped. */
static void
gather_call (StageRuntime *stage, gpointer instance, Batch *batch, SutraItem *item)
{
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  const char *function = batch->group == NULL ? "gather_begin" : "gather_add";
  SutraOutput output;
  gboolean ok;

  sutra_output_init_collect (&output, &stage->run->abandoning);
  sutra_output_begin_call (&output);
  if (batch->group == NULL)
    {
      batch->group = stage->info->gather_begin (instance, item, &local);
      batch->group_instance = instance;
      ok = batch->group != NULL;
    }
  else
    ok = stage->info->gather_add (instance, batch->group, item, &local);
  sutra_output_end_call (&output);
  COUNTER_ADD (stage->busy_us, g_get_monotonic_time () - start);
  if (sutra_output_was_misused (&output))
    {
      batch->group_misused = TRUE;
      g_clear_error (&local);
      local = misuse_error (stage, &output);
    }
  else if (ok && output.items->len > 0)
    {
      batch->group_misused = TRUE;
      local = contract_error (stage,
                              "%s pushed %u items; only gather_end pushes (the group's one output)",
                              function, output.items->len);
      ok = FALSE;
    }
  else if (!ok && local == NULL)
    g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                 "plugin “%s” failed in %s without saying why (it returned %s but set no "
                 "error)",
                 stage->spec->plugin_name, function, batch->group == NULL ? "NULL" : "FALSE");
  sutra_output_clear (&output);
  if (ok && local == NULL)
    return;
  batch->group_error = g_steal_pointer (&local);
  if (batch->group != NULL)
    stage->info->gather_abort (instance, g_steal_pointer (&batch->group));
}

/* Hands @item (transfer full), the next member of the open group, to a
 * streaming gather, and folds it into the batch's key and the output's
 * lineage. The item is kept only until the next member comes (the key's
 * runs compare neighbours), and the group's first for its parent's id. */
static void
stream_member (StageRuntime *stage, gpointer instance, Batch *batch, SutraItem *item)
{
  SutraRun *run = stage->run;

  if (batch->n_streamed == 0)
    {
      if (run->job != NULL && stage->checkpointing)
        {
          batch->key_builder = g_new (SutraKeyBuilder, 1);
          sutra_checkpoint_key_begin (stage, batch->key_builder);
          for (guint i = 0; i < batch->entries->len; i++)
            sutra_checkpoint_key_add (batch->key_builder, batch->entries->pdata[i]);
        }
      if (run->job != NULL)
        batch->lineage = g_new0 (SutraGroupLineage, 1);
      batch->first_member = sutra_item_ref (item);
    }
  batch->n_streamed++;
  COUNTER_ADD (stage->n_in, 1);
  if (batch->key_builder != NULL)
    sutra_checkpoint_key_add (batch->key_builder, item);
  if (batch->lineage != NULL)
    sutra_checkpoint_group_lineage_add (batch->lineage, item);
  if (batch->group_error == NULL && !sutra_run_is_stopping (run))
    {
      if (batch->group == NULL)
        gather_call (stage, instance, batch, item);
      if (batch->group_error == NULL)
        gather_call (stage, instance, batch, item);
    }
  g_clear_pointer (&batch->last_member, sutra_item_unref);
  batch->last_member = item;
}

/* A pass-through marker taken into a streaming gather's batch: the key
 * sees it in its place. */
static void
stream_entry (Batch *batch, SutraItem *item)
{
  g_ptr_array_add (batch->entries, item);
  if (batch->key_builder != NULL)
    sutra_checkpoint_key_add (batch->key_builder, item);
}

/* Forms the next batch. Returns FALSE when there is none. A streaming
 * gather's batch is its next group, handed to the plugin member by member
 * as the items are taken: the intake stays with this worker until the
 * group closes, so one worker drives one group, in order. */
static gboolean
take_batch (StageRuntime *stage, gpointer instance, Batch *batch)
{
  gboolean is_gather = stage->info->kind == SUTRA_STAGE_GATHER;
  gboolean streams = is_gather && stage->info->gather_begin != NULL;
  guint batch_size = stage->spec->batch;
  SutraItem *item;

  g_mutex_lock (&stage->intake_lock);
  if (!wait_window (stage))
    {
      g_mutex_unlock (&stage->intake_lock);
      return FALSE;
    }
  batch->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  batch->data = g_ptr_array_new ();
  batch->closing = NULL;

  /* One lock hold takes the whole batch; it is released only to wait. */
  g_mutex_lock (&stage->in_lock);
  while (!sutra_run_is_stopping (stage->run))
    {
      TakeResult result = take_next (stage, &item);

      if (result == TAKE_END)
        break;
      if (result == TAKE_WAIT)
        {
          /* Wake me when a whole batch can be formed (a merge of several
           * inputs needs every input's head, so any item may help). */
          stage->want = stage->n_rings == 1 && !is_gather
                          ? MIN (batch_size - batch->data->len, stage->rings[0].capacity)
                          : 1;
          g_cond_wait (&stage->items_ready, &stage->in_lock);
          stage->want = 1;
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
          g_mutex_unlock (&stage->in_lock);
          stream_member (stage, instance, batch, item);
          g_mutex_lock (&stage->in_lock);
          continue;
        }
      if (!sutra_item_is_marker (item))
        {
          g_ptr_array_add (stage->group, item);
          continue;
        }
      if (marker_closes_group (stage, batch, item))
        {
          stage->gather_level = item->depth;
          for (guint i = 0; i < stage->group->len; i++)
            {
              g_ptr_array_add (batch->entries, stage->group->pdata[i]);
              g_ptr_array_add (batch->data, stage->group->pdata[i]);
            }
          g_ptr_array_set_size (stage->group, 0);
          batch->closing = item;
          break;
        }
      /* A marker for another level: pass it on in place. */
      if (streams)
        stream_entry (batch, item);
      else
        g_ptr_array_add (batch->entries, item);
      if (stage->group->len == 0 && batch->n_streamed == 0)
        break;
    }
  g_mutex_unlock (&stage->in_lock);

  /* A batch cut short by a stop is not a batch: its key would match no
   * batch of the resumed run. Its items are dropped; a resume makes them
   * again from the store. */
  if ((batch->entries->len == 0 && batch->closing == NULL) || sutra_run_is_stopping (stage->run))
    {
      batch_clear (stage, batch);
      g_mutex_unlock (&stage->intake_lock);
      return FALSE;
    }
  batch->seq = stage->next_seq++;
  COUNTER_ADD (stage->n_in, batch->data->len); /* streamed members counted as they came */
  g_mutex_unlock (&stage->intake_lock);
  return TRUE;
}

/* Reorder window ----------------------------------------------------------- */

/* Hands a finished batch's outputs (transfer full) to the window and
 * flushes every batch that is next in line. Whoever finds the head batch
 * ready flushes; the others just deposit. A split's worker that has been
 * sending its batch's children itself (@flusher) holds the flush already:
 * its batch is the head. */
static void
deposit (StageRuntime *stage, guint64 seq, GPtrArray *outputs, gboolean flusher)
{
  WindowSlot *slot;

  g_mutex_lock (&stage->out_lock);
  slot = &stage->window[seq % stage->window_size];
  slot->ready = TRUE;
  slot->items = outputs;
  if (!flusher && stage->flushing)
    {
      g_mutex_unlock (&stage->out_lock);
      return;
    }
  stage->flushing = TRUE;
  for (;;)
    {
      WindowSlot *head = &stage->window[stage->next_flush_seq % stage->window_size];
      g_autoptr (GPtrArray) items = NULL;
      gboolean ok;

      if (!head->ready)
        break;
      items = g_steal_pointer (&head->items);
      head->ready = FALSE;
      g_mutex_unlock (&stage->out_lock);

      ok = stage_emit (stage, items);
      for (guint i = 0; i < items->len; i++)
        if (!sutra_item_is_marker (items->pdata[i]))
          COUNTER_ADD (stage->n_out, 1);

      g_mutex_lock (&stage->out_lock);
      stage->next_flush_seq++;
      g_cond_broadcast (&stage->window_moved);
      if (!ok)
        break;
    }
  stage->flushing = FALSE;
  /* A split's worker waiting for its batch's turn waits for the flush to
   * be free too, not only for the window to move. */
  g_cond_broadcast (&stage->window_moved);
  g_mutex_unlock (&stage->out_lock);
}

/* Gives up the flush a split's worker took for its batch, when the batch
 * failed (the run is failing: nothing more is flushed). */
static void
release_flush (StageRuntime *stage)
{
  g_mutex_lock (&stage->out_lock);
  stage->flushing = FALSE;
  g_cond_broadcast (&stage->window_moved);
  g_mutex_unlock (&stage->out_lock);
}

/* Processing ----------------------------------------------------------------- */

static void
record_failure (StageRuntime *stage, Batch *batch, const char *item_id, const GError *error)
{
  SutraRun *run = stage->run;

  batch->n_failed++;
  if (run->job != NULL)
    sutra_journal_add_failure (run->job->journal, stage->spec->name,
                               batch->has_key ? batch->key : NULL, item_id, error->message);
  JsonObject *event = sutra_run_stage_event (stage, "item-failed");

  g_mutex_lock (&run->lock);
  g_ptr_array_add (run->failures,
                   g_strdup_printf ("%s\t%s\t%s", stage->spec->name, item_id, error->message));
  g_mutex_unlock (&run->lock);
  COUNTER_ADD (stage->n_failed, 1);
  json_object_set_string_member (event, "item", item_id);
  json_object_set_string_member (event, "message", error->message);
  sutra_run_emit_event (run, event);
}

static void
rate_limit (StageRuntime *stage, guint n_items)
{
  gint64 now, wait_us = 0;

  if (stage->spec->rate_limit <= 0 || n_items == 0)
    return;
  g_mutex_lock (&stage->rate_lock);
  now = g_get_monotonic_time ();
  if (stage->rate_next_us < now)
    stage->rate_next_us = now;
  wait_us = stage->rate_next_us - now;
  stage->rate_next_us += (gint64) (n_items * 1e6 / stage->spec->rate_limit);
  g_mutex_unlock (&stage->rate_lock);
  if (wait_us > 0)
    g_usleep (wait_us);
}

static GError *contract_error (StageRuntime *stage, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* What a plugin call that misused the public API failed with: the first
 * check that failed names the function and the rule. */
static GError *
misuse_error (StageRuntime *stage, const SutraOutput *output)
{
  g_autofree char *more = NULL;

  if (output->n_misuses > 1)
    more = g_strdup_printf (" (and %u more checks after it)", output->n_misuses - 1);
  return g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                      "stage “%s” (plugin “%s”) misused the plugin API: it called %s() and "
                      "failed its check “%s”%s, so what the call made cannot be trusted (an "
                      "item may be missing); fix the plugin",
                      stage->spec->name, stage->spec->plugin_name, output->misused_function,
                      output->misused_rule, more != NULL ? more : "");
}

/* Calls the plugin's process once, on @output (set up by the caller). A
 * call during which a public function's check failed has failed, whatever
 * it returned: *@misused is set and @error names the function and the rule.
 * That failure is the plugin's, not the item's: callers neither retry it
 * nor skip the item, they fail the run. */
static gboolean
call_once (StageRuntime *stage,
           gpointer instance,
           SutraItem *const *items,
           guint n_items,
           SutraOutput *output,
           gboolean *misused,
           GError **error)
{
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok;

  *misused = FALSE;
  sutra_output_begin_call (output);
  ok = stage->info->process (instance, items, n_items, output, &local);
  sutra_output_end_call (output);
  COUNTER_ADD (stage->busy_us, g_get_monotonic_time () - start);
  if (sutra_output_was_misused (output))
    {
      *misused = TRUE;
      g_propagate_error (error, misuse_error (stage, output));
      return FALSE;
    }
  if (ok)
    return TRUE;
  if (local == NULL)
    g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                 "plugin “%s” failed without saying why (it returned FALSE but set "
                 "no error)",
                 stage->spec->plugin_name);
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* Before attempt @attempt + 1: reports the retry and sleeps, with
 * exponential backoff, capped, with jitter so that workers do not retry in
 * lockstep. */
static void
retry_wait (StageRuntime *stage,
            SutraItem *item,
            guint attempt,
            const GError *cause,
            guint *delay_ms)
{
  guint jitter = *delay_ms > 0 ? g_random_int_range (0, *delay_ms / 2 + 1) : 0;
  JsonObject *event = sutra_run_stage_event (stage, "item-retry");

  json_object_set_string_member (event, "item", sutra_item_get_id (item));
  json_object_set_int_member (event, "attempt", attempt);
  json_object_set_string_member (event, "message", cause->message);
  sutra_run_emit_event (stage->run, event);
  g_usleep ((gulong) (*delay_ms + jitter) * 1000);
  *delay_ms = MIN (*delay_ms * 2, stage->spec->retry_max_backoff_ms);
}

/* Calls the plugin on a collecting output, retrying per the stage's
 * policy. Returns the outputs, or NULL with @error (and *@misused when the
 * plugin misused the API). */
static GPtrArray *
call_process (StageRuntime *stage,
              gpointer instance,
              SutraItem *const *items,
              guint n_items,
              guint max_attempts,
              gboolean *misused,
              GError **error)
{
  guint delay_ms = stage->spec->retry_backoff_ms;

  for (guint attempt = 1;; attempt++)
    {
      SutraOutput output;
      g_autoptr (GError) local = NULL;

      sutra_output_init_collect (&output, &stage->run->abandoning);
      if (call_once (stage, instance, items, n_items, &output, misused, &local))
        return g_steal_pointer (&output.items);
      sutra_output_clear (&output);
      if (*misused || attempt >= max_attempts || g_atomic_int_get (&stage->run->abandoning))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      retry_wait (stage, items[0], attempt, local, &delay_ms);
    }
}

/* Reports a plugin's failure as the run's: SUTRA_RUN_ERROR_STAGE_FAILED with
 * the stage and item in front of the plugin's own message (errors the
 * engine made itself keep their code). Takes @cause. */
static void propagate_failure (GError **error, GError *cause, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static void
propagate_failure (GError **error, GError *cause, const char *format, ...)
{
  va_list args;
  g_autofree char *prefix = NULL;

  va_start (args, format);
  prefix = g_strdup_vprintf (format, args);
  va_end (args);
  if (cause->domain == SUTRA_RUN_ERROR)
    g_set_error (error, SUTRA_RUN_ERROR, cause->code, "%s%s", prefix, cause->message);
  else
    g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED, "%s%s", prefix,
                 cause->message);
  g_error_free (cause);
}

static GError *
contract_error (StageRuntime *stage, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                      "stage “%s” (plugin “%s”) broke the %s contract: %s", stage->spec->name,
                      stage->spec->plugin_name, sutra_stage_kind_to_string (stage->info->kind),
                      message);
}

/* Per input item, the outputs it produced: a GPtrArray, or NULL for an item
 * that failed and was skipped. */
static void
per_item_free (GPtrArray *per_item)
{
  for (guint i = 0; i < per_item->len; i++)
    if (per_item->pdata[i] != NULL)
      g_ptr_array_unref (per_item->pdata[i]);
  g_ptr_array_free (per_item, TRUE);
}

/* Splits a map's batch's flat outputs by the input item each belongs to:
 * the i-th output to the i-th input. */
static GPtrArray *
attribute_outputs (StageRuntime *stage, Batch *batch, GPtrArray *outputs, GError **error)
{
  GPtrArray *per_item = g_ptr_array_new ();
  guint next = 0;

  for (guint i = 0; i < batch->data->len; i++)
    {
      SutraItem *input = batch->data->pdata[i];
      GPtrArray *mine = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

      SutraItem *output;

      g_ptr_array_add (per_item, mine);
      if (next >= outputs->len)
        {
          *error = contract_error (stage,
                                   "it pushed %u items for a batch of %u; a map "
                                   "pushes exactly one per input",
                                   outputs->len, batch->data->len);
          per_item_free (per_item);
          return NULL;
        }
      output = outputs->pdata[next++];
      if (sutra_item_is_marker (output) || output->depth != input->depth ||
          sutra_item_compare (output, input) != 0)
        {
          *error = contract_error (stage,
                                   "for input “%s” it pushed “%s”; a map's output "
                                   "keeps its input's id and path (use "
                                   "sutra_item_new_derived)",
                                   sutra_item_get_id (input), sutra_item_get_id (output));
          per_item_free (per_item);
          return NULL;
        }
      g_ptr_array_add (mine, sutra_item_ref (output));
    }
  if (next < outputs->len)
    {
      *error = contract_error (stage,
                               "it pushed %u items for a batch of %u; a map pushes "
                               "exactly one per input",
                               outputs->len, batch->data->len);
      per_item_free (per_item);
      return NULL;
    }
  return per_item;
}

/* Processes a map's data items one by one after their batch failed, so that the
 * failure names the item and the other items of the batch still count.
 * One attempt each: the batch already had its retries. */
static GPtrArray *
process_isolated (StageRuntime *stage, gpointer instance, Batch *batch, GError **error)
{
  GPtrArray *per_item = g_ptr_array_new ();

  for (guint i = 0; i < batch->data->len; i++)
    {
      SutraItem *item = batch->data->pdata[i];
      g_autoptr (GError) local = NULL;
      gboolean misused = FALSE;
      g_autoptr (GPtrArray) one = call_process (stage, instance, &item, 1, 1, &misused, &local);
      Batch single = { 0 };
      GPtrArray *attributed;

      if (one == NULL && misused)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          per_item_free (per_item);
          return NULL;
        }
      if (one == NULL)
        {
          if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
            {
              propagate_failure (error, g_steal_pointer (&local),
                                 "stage “%s”, item “%s”: ", stage->spec->name,
                                 sutra_item_get_id (item));
              per_item_free (per_item);
              return NULL;
            }
          record_failure (stage, batch, sutra_item_get_id (item), local);
          g_ptr_array_add (per_item, NULL);
          continue;
        }
      single.data = g_ptr_array_new ();
      g_ptr_array_add (single.data, item);
      attributed = attribute_outputs (stage, &single, one, error);
      g_ptr_array_unref (single.data);
      if (attributed == NULL)
        {
          per_item_free (per_item);
          return NULL;
        }
      g_ptr_array_add (per_item, g_steal_pointer (&attributed->pdata[0]));
      g_ptr_array_free (attributed, TRUE);
    }
  return per_item;
}

/* Lays out a map's batch's results in stream order: markers from upstream
 * where they were, and each data item's output in its place. */
static GPtrArray *
assemble (StageRuntime *stage, Batch *batch, GPtrArray *per_item)
{
  GPtrArray *result = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  LineageMemo memo = { NULL, NULL };
  guint data_index = 0;

  for (guint i = 0; i < batch->entries->len; i++)
    {
      SutraItem *entry = batch->entries->pdata[i];
      GPtrArray *mine;

      if (sutra_item_is_marker (entry))
        {
          g_ptr_array_add (result, sutra_item_ref (entry));
          continue;
        }
      mine = per_item->pdata[data_index++];
      if (mine == NULL)
        continue;
      for (guint j = 0; j < mine->len; j++)
        g_ptr_array_add (result,
                         sutra_checkpoint_take_lineage (stage, sutra_item_ref (mine->pdata[j]),
                                                        entry, &memo));
    }
  return result;
}

/* Ends a streaming gather's group (gather_end), or reports the call that
 * failed it before. Not retried: the members are gone. Returns the
 * outputs, or NULL with @error (and *@misused when the plugin misused the
 * API). */
static GPtrArray *
gather_end_group (StageRuntime *stage, Batch *batch, gboolean *misused, GError **error)
{
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  SutraOutput output;
  gboolean ok;

  *misused = batch->group_misused;
  if (batch->group_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&batch->group_error));
      return NULL;
    }
  sutra_output_init_collect (&output, &stage->run->abandoning);
  sutra_output_begin_call (&output);
  /* gather_end frees the group state, whatever it returns. */
  ok = stage->info->gather_end (batch->group_instance, g_steal_pointer (&batch->group),
                                (guint) batch->n_streamed, &output, &local);
  sutra_output_end_call (&output);
  COUNTER_ADD (stage->busy_us, g_get_monotonic_time () - start);
  if (sutra_output_was_misused (&output))
    {
      *misused = TRUE;
      g_propagate_error (error, misuse_error (stage, &output));
      sutra_output_clear (&output);
      return NULL;
    }
  if (!ok)
    {
      if (local == NULL)
        g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                     "plugin “%s” failed in gather_end without saying why (it returned FALSE "
                     "but set no error)",
                     stage->spec->plugin_name);
      g_propagate_error (error, g_steal_pointer (&local));
      sutra_output_clear (&output);
      return NULL;
    }
  return g_steal_pointer (&output.items);
}

/* Gathers: one output per group, checked against the group's size. A
 * streaming gather was given the members as they came (take_batch); the
 * others get them all here, in one call. */
static GPtrArray *
process_gather (StageRuntime *stage, gpointer instance, Batch *batch, GError **error)
{
  gboolean streams = stage->info->gather_begin != NULL;
  guint64 n_members = sutra_batch_n_inputs (batch);
  g_autoptr (GPtrArray) result = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs = NULL;
  g_autoptr (GError) local = NULL;
  SutraItem *closing = batch->closing;
  g_autofree char *parent_id = NULL;
  gboolean misused = FALSE;
  SutraItem *output;

  /* Markers of other levels pass through before the group's output. */
  for (guint i = 0; i < batch->entries->len; i++)
    if (sutra_item_is_marker (batch->entries->pdata[i]))
      g_ptr_array_add (result, sutra_item_ref (batch->entries->pdata[i]));
  if (closing == NULL)
    return g_steal_pointer (&result);

  if (n_members > 0)
    {
      const char *first = sutra_item_get_id (streams ? batch->first_member : batch->data->pdata[0]);
      const char *slash = strrchr (first, '/');

      parent_id = slash != NULL ? g_strndup (first, slash - first) : g_strdup (first);
    }
  else
    parent_id = g_strdup_printf ("(group at position %" G_GUINT64_FORMAT ")",
                                 closing->path[closing->depth - 1]);

  if (n_members != closing->group_size || (closing->flags & SUTRA_ITEM_FLAG_GROUP_FAILED) != 0)
    {
      g_autoptr (GError) missing =
        (closing->flags & SUTRA_ITEM_FLAG_GROUP_FAILED) != 0
          ? g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_MISSING,
                         "group “%s” is incomplete: the split that made it failed after "
                         "%" G_GUINT64_FORMAT " members (see the failures reported before); "
                         "set \"on_missing\": \"skip\" to go on without the group",
                         parent_id, n_members)
          : g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_MISSING,
                         "group “%s” has %" G_GUINT64_FORMAT " of its %" G_GUINT64_FORMAT
                         " members: the others failed upstream (see the failures reported "
                         "before); set \"on_missing\": \"skip\" to go on without the group",
                         parent_id, n_members, closing->group_size);

      if (stage->spec->on_missing == SUTRA_ON_ERROR_FAIL)
        {
          propagate_failure (error, g_steal_pointer (&missing), "stage “%s”: ", stage->spec->name);
          return NULL;
        }
      record_failure (stage, batch, parent_id, missing);
      return g_steal_pointer (&result);
    }
  if (n_members == 0)
    return g_steal_pointer (&result);

  rate_limit (stage, 1);
  if (streams)
    outputs = gather_end_group (stage, batch, &misused, &local);
  else
    outputs = call_process (stage, instance, (SutraItem *const *) batch->data->pdata,
                            batch->data->len, stage->spec->retry_attempts, &misused, &local);
  if (outputs == NULL && misused)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (outputs == NULL)
    {
      if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
        {
          propagate_failure (error, g_steal_pointer (&local),
                             "stage “%s”, group “%s”: ", stage->spec->name, parent_id);
          return NULL;
        }
      record_failure (stage, batch, parent_id, local);
      return g_steal_pointer (&result);
    }
  output = outputs->len == 1 ? outputs->pdata[0] : NULL;
  if (output == NULL || sutra_item_is_marker (output) || output->depth != closing->depth ||
      sutra_item_compare_prefix (closing, output, closing->depth) != 0)
    {
      *error = contract_error (stage,
                               "for group “%s” it pushed %u items; a gather pushes one "
                               "item, made with sutra_item_new_parent",
                               parent_id, outputs->len);
      return NULL;
    }
  if (!streams)
    output = sutra_checkpoint_take_group_lineage (stage, sutra_item_ref (output), batch->data);
  else if (batch->lineage != NULL)
    output = sutra_checkpoint_group_lineage_end (stage, batch->lineage, sutra_item_ref (output));
  else
    output = sutra_item_ref (output);
  g_ptr_array_add (result, output);
  return g_steal_pointer (&result);
}

/* Maps, gathers and sinks. Returns the batch's outputs in stream order. */
static GPtrArray *
process_batch (StageRuntime *stage, gpointer instance, Batch *batch, GError **error)
{
  SutraStageKind kind = stage->info->kind;
  g_autoptr (GPtrArray) outputs = NULL;
  g_autoptr (GError) local = NULL;
  GPtrArray *per_item = NULL;
  GPtrArray *result;
  guint n_data = batch->data->len;
  gboolean misused = FALSE;

  if (kind == SUTRA_STAGE_GATHER)
    return process_gather (stage, instance, batch, error);

  if (n_data > 0)
    {
      rate_limit (stage, n_data);
      outputs = call_process (stage, instance, (SutraItem *const *) batch->data->pdata, n_data,
                              stage->spec->retry_attempts, &misused, &local);
    }
  if (misused)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (kind == SUTRA_STAGE_SINK)
    {
      if (n_data > 0 && outputs == NULL)
        {
          /* A sink may have written part of the batch: it is not asked
           * again item by item. */
          const char *first = sutra_item_get_id (batch->data->pdata[0]);

          if (stage->spec->on_error == SUTRA_ON_ERROR_SKIP)
            {
              record_failure (stage, batch, first, local);
              return g_ptr_array_new ();
            }
          if (n_data == 1)
            propagate_failure (error, g_steal_pointer (&local),
                               "stage “%s”, item “%s”: ", stage->spec->name, first);
          else
            propagate_failure (error, g_steal_pointer (&local),
                               "stage “%s”, items “%s” to “%s”: ", stage->spec->name, first,
                               sutra_item_get_id (batch->data->pdata[n_data - 1]));
          return NULL;
        }
      if (outputs != NULL && outputs->len > 0)
        {
          *error = contract_error (stage, "it pushed items; a sink pushes nothing");
          return NULL;
        }
      return g_ptr_array_new (); /* markers end at a sink */
    }

  if (n_data > 0 && outputs == NULL)
    {
      /* Which item failed? Maps are pure functions of their input, so
       * they can be asked again one item at a time. */
      if (n_data == 1)
        {
          const char *id = sutra_item_get_id (batch->data->pdata[0]);

          if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
            {
              propagate_failure (error, g_steal_pointer (&local),
                                 "stage “%s”, item “%s”: ", stage->spec->name, id);
              return NULL;
            }
          record_failure (stage, batch, id, local);
          per_item = g_ptr_array_new ();
          g_ptr_array_add (per_item, NULL);
        }
      else
        per_item = process_isolated (stage, instance, batch, error);
    }
  else if (n_data > 0)
    per_item = attribute_outputs (stage, batch, outputs, error);
  else
    per_item = g_ptr_array_new ();
  if (per_item == NULL)
    return NULL;
  result = assemble (stage, batch, per_item);
  per_item_free (per_item);
  return result;
}

/* A split's batch is done: @outputs computed, or taken from the store
 * (@started FALSE); NULL when it failed. */
static void
split_counters_done (StageRuntime *stage, Batch *batch, GPtrArray *outputs, gboolean started)
{
  guint64 n_children = 0, children_bytes = 0;

  if (outputs != NULL)
    sutra_split_counters_measure (outputs, &n_children, &children_bytes);
  sutra_split_counters_done (&stage->split, batch->data, n_children, children_bytes, started);
}

/* Splits --------------------------------------------------------------------- */

/*
 * A split's children go downstream while the plugin is still making them:
 * one input may have millions (a book of a million paragraphs), and holding
 * them until the call returns would bound memory by the input, not by the
 * queues. Each push is checked and counted as it comes (the end-of-group
 * markers follow from the paths), and sent in chunks.
 *
 * Order is kept as for every stage: a batch's children are sent only once
 * every earlier batch has left the reorder window. Until then a worker keeps
 * its batch's children, up to the stage's queue size, and then waits in its
 * push for its turn; the plugin's call blocks there (backpressure). The
 * worker whose batch is the head of the window takes the flush and sends
 * its children itself, then deposits the rest of the batch as any batch.
 *
 * What was sent is never taken back. A call that fails after pushing
 * children is retried as calls are, and the children it pushes again
 * (up to the last one accepted) are dropped: splits are deterministic. An
 * input that fails for good keeps the children it had pushed; its open
 * groups end with markers flagged failed, so that a gather downstream
 * counts them as groups with members missing (on_missing).
 */

/* Children are sent downstream in chunks: one lock round per chunk. */
#define SPLIT_SEND_CHUNK 64

/* A split batch's outputs are stored for resume only while they stay this
 * small; a larger batch is computed again on resume (its outputs are the
 * same: splits are deterministic), so that storing never holds a huge
 * split's children in memory. */
#define SPLIT_RECORD_MAX_ITEMS 65536
#define SPLIT_RECORD_MAX_BYTES (16 * 1024 * 1024)

typedef struct
{
  StageRuntime *stage;
  Batch *batch;
  guint next_entry;          /* the first entry of batch->entries not yet reached */
  SutraItem *parent;         /* the data entry whose children come now, or NULL */
  GArray *counts;            /* guint64 by level: children of the open groups so far */
  SutraItem *previous;       /* the parent's last child accepted, or NULL (a reference) */
  SutraItem *last;           /* the batch's last child accepted, or NULL (a reference) */
  SutraItem *replay_until;   /* on a call made again: what was accepted before (a reference) */
  GPtrArray *pending;        /* accepted, not yet sent downstream */
  SutraRecordWriter *record; /* all accepted, for the store; NULL once too large */
  guint64 n_record_data;     /* data items in the record */
  gboolean flusher;          /* the batch is the window's head and this worker sends */
  GError *problem;           /* a push broke the split contract */
  guint64 n_children;        /* children accepted, for the progress display */
  guint64 children_bytes;    /* their payloads' bytes */
  LineageMemo memo;
} SplitStream;

static void
split_stream_init (SplitStream *s, StageRuntime *stage, Batch *batch)
{
  *s = (SplitStream){ 0 };
  s->stage = stage;
  s->batch = batch;
  s->counts = g_array_new (FALSE, TRUE, sizeof (guint64));
  s->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  if (batch->has_key && stage->checkpointing)
    s->record = sutra_record_writer_new (batch->data);
}

/* Ends the batch for the progress display's split counters (which
 * sutra_split_counters_start() opened in run_batch()). */
static void
split_stream_clear (SplitStream *s)
{
  sutra_split_counters_done (&s->stage->split, s->batch->data, s->n_children, s->children_bytes,
                             TRUE);
  g_array_unref (s->counts);
  g_clear_pointer (&s->previous, sutra_item_unref);
  g_clear_pointer (&s->last, sutra_item_unref);
  g_clear_pointer (&s->replay_until, sutra_item_unref);
  g_clear_pointer (&s->pending, g_ptr_array_unref);
  g_clear_pointer (&s->record, sutra_record_writer_free);
  g_clear_error (&s->problem);
  if (s->flusher)
    release_flush (s->stage);
  s->flusher = FALSE;
}

/* Sends what is pending downstream once the batch's turn has come. Before
 * it has, keeps it, up to the stage's queue size, then waits for the turn
 * (the plugin's push blocks: backpressure). After a stop, what cannot be
 * sent is dropped: a stopped run takes nothing more downstream. */
static void
split_send (SplitStream *s)
{
  StageRuntime *stage = s->stage;
  SutraRun *run = stage->run;

  if (!s->flusher)
    {
      g_mutex_lock (&stage->out_lock);
      for (;;)
        {
          if (stage->next_flush_seq == s->batch->seq && !stage->flushing)
            {
              stage->flushing = TRUE;
              s->flusher = TRUE;
              break;
            }
          if (s->pending->len < stage->spec->queue || sutra_run_is_stopping (run))
            break;
          g_cond_wait (&stage->window_moved, &stage->out_lock);
        }
      g_mutex_unlock (&stage->out_lock);
    }
  if (!s->flusher)
    {
      if (sutra_run_is_stopping (run))
        g_ptr_array_set_size (s->pending, 0);
      return;
    }
  if (s->pending->len == 0)
    return;
  if (!stage_emit (stage, s->pending))
    g_atomic_int_set (&run->stopping, 1);
  for (guint i = 0; i < s->pending->len; i++)
    if (!sutra_item_is_marker (s->pending->pdata[i]))
      COUNTER_ADD (stage->n_out, 1);
  g_ptr_array_set_size (s->pending, 0);
}

/* Appends @item (transfer full) to the batch's outputs. It goes into the
 * record now, before it is sent: once sent, other threads may touch it. */
static void
split_emit (SplitStream *s, SutraItem *item)
{
  if (s->record != NULL)
    {
      if (sutra_record_writer_get_n_items (s->record) >= SPLIT_RECORD_MAX_ITEMS ||
          sutra_record_writer_get_size (s->record) > SPLIT_RECORD_MAX_BYTES)
        g_clear_pointer (&s->record, sutra_record_writer_free);
      else
        {
          sutra_record_writer_add (s->record, item);
          s->n_record_data += !sutra_item_is_marker (item);
        }
    }
  g_ptr_array_add (s->pending, item);
}

/* Ends the groups of the open parent: the levels below it that its last
 * child left open, deepest first, then the parent's own. A parent that
 * failed for good ends only when some of its children went out, flagged. */
static void
split_close (SplitStream *s, gboolean failed)
{
  guint base;

  if (s->parent == NULL)
    return;
  base = s->parent->depth;
  if (s->previous != NULL)
    for (guint level = s->previous->depth - 1; level >= base; level--)
      {
        SutraItem *marker =
          sutra_item_new_group_end (s->previous, level, g_array_index (s->counts, guint64, level));

        if (failed)
          marker->flags |= SUTRA_ITEM_FLAG_GROUP_FAILED;
        split_emit (s, marker);
      }
  else if (!failed)
    split_emit (s, sutra_item_new_group_end (s->parent, base, 0));
  s->parent = NULL;
  g_clear_pointer (&s->previous, sutra_item_unref);
}

/* Ends the open parent, passes on the markers from upstream before entry
 * @k, and ends the groups of the inputs before @k, which had no children. */
static void
split_pass_until (SplitStream *s, guint k)
{
  split_close (s, FALSE);
  for (; s->next_entry < k; s->next_entry++)
    {
      SutraItem *entry = s->batch->entries->pdata[s->next_entry];

      if (sutra_item_is_marker (entry))
        split_emit (s, sutra_item_ref (entry));
      else
        split_emit (s, sutra_item_new_group_end (entry, entry->depth, 0));
    }
}

/* Makes data entry @k of the batch the open parent. */
static void
split_open (SplitStream *s, guint k)
{
  Batch *batch = s->batch;

  split_pass_until (s, k);
  s->parent = batch->entries->pdata[k];
  s->next_entry = k + 1;
  g_array_set_size (s->counts, MAX (s->counts->len, s->parent->depth + 1u));
  g_array_index (s->counts, guint64, s->parent->depth) = 0;
}

/* Where a pushed child belongs: the open parent, or the first data entry
 * after it that the child descends from. Returns FALSE when none is. */
static gboolean
split_find_parent (SplitStream *s, SutraItem *child)
{
  Batch *batch = s->batch;

  if (s->parent != NULL && sutra_item_is_descendant_of (child, s->parent))
    return TRUE;
  for (guint k = s->next_entry; k < batch->entries->len; k++)
    {
      SutraItem *entry = batch->entries->pdata[k];

      if (!sutra_item_is_marker (entry) && sutra_item_is_descendant_of (child, entry))
        {
          split_open (s, k);
          return TRUE;
        }
    }
  return FALSE;
}

/* Checks and accepts one child (transfer full); the markers it implies
 * come before it. Returns the problem, or NULL. */
static GError *
split_accept (SplitStream *s, SutraItem *child)
{
  StageRuntime *stage = s->stage;
  SutraItem *previous;
  SutraLineage *lineage;
  guint common;

  if (!split_find_parent (s, child))
    {
      GError *problem =
        s->last != NULL && sutra_item_compare (child, s->last) <= 0
          ? contract_error (stage,
                            "it pushed “%s” after “%s”: children must come in increasing "
                            "order",
                            sutra_item_get_id (child), sutra_item_get_id (s->last))
          : contract_error (stage,
                            "it pushed “%s”, which is not a descendant of an input of its "
                            "batch (make children with sutra_item_new_child)",
                            sutra_item_get_id (child));

      sutra_item_unref (child);
      return problem;
    }
  previous = s->previous;
  common = s->parent->depth;
  if (previous != NULL)
    {
      if (sutra_item_compare (previous, child) >= 0)
        {
          GError *problem =
            contract_error (stage,
                            "it pushed “%s” after “%s”: children must come in "
                            "increasing order",
                            sutra_item_get_id (child), sutra_item_get_id (previous));

          sutra_item_unref (child);
          return problem;
        }
      while (common < MIN (previous->depth, child->depth) &&
             previous->path[common] == child->path[common])
        common++;
      if (common == child->depth || common == previous->depth)
        {
          GError *problem =
            contract_error (stage,
                            "it pushed both “%s” and its descendant “%s”: a "
                            "split pushes leaves only",
                            sutra_item_get_id (previous), sutra_item_get_id (child));

          sutra_item_unref (child);
          return problem;
        }
      /* Ancestors of the previous child below the common prefix are
       * complete: end them, deepest first. */
      for (guint level = previous->depth - 1; level > common; level--)
        split_emit (s, sutra_item_new_group_end (previous, level,
                                                 g_array_index (s->counts, guint64, level)));
    }
  g_array_set_size (s->counts, MAX (s->counts->len, child->depth));
  for (guint level = common; level < child->depth; level++)
    g_array_index (s->counts, guint64, level) =
      level == common ? g_array_index (s->counts, guint64, level) + 1 : 1;

  /* Children are new items of this call: safe to change. */
  lineage = sutra_checkpoint_derive_lineage (stage, s->parent->lineage, &s->memo);
  if (lineage != NULL)
    sutra_item_set_lineage (child, lineage);
  /* References, not borrowed pointers: a child sent downstream may be
   * freed there before the next one comes. */
  g_clear_pointer (&s->previous, sutra_item_unref);
  s->previous = sutra_item_ref (child);
  g_clear_pointer (&s->last, sutra_item_unref);
  s->last = sutra_item_ref (child);
  split_emit (s, child);
  return NULL;
}

/* The split's push function: children are checked, counted and sent as
 * they come. */
static void
split_push (SutraItem *item, gpointer user_data)
{
  SplitStream *s = user_data;

  if (s->problem != NULL || g_atomic_int_get (&s->stage->run->abandoning))
    {
      sutra_item_unref (item);
      return;
    }
  /* A call made again pushes again what was accepted before: dropped. */
  if (s->replay_until != NULL)
    {
      if (sutra_item_compare (item, s->replay_until) <= 0)
        {
          sutra_item_unref (item);
          return;
        }
      g_clear_pointer (&s->replay_until, sutra_item_unref);
    }
  if (sutra_item_is_marker (item))
    {
      s->problem = contract_error (s->stage, "it pushed an end-of-group marker");
      sutra_item_unref (item);
      return;
    }
  {
    gsize size = 0;

    sutra_item_get_data (item, &size);
    s->problem = split_accept (s, item);
    if (s->problem == NULL)
      {
        s->n_children++;
        s->children_bytes += size;
      }
  }
  if (s->problem == NULL && s->pending->len >= SPLIT_SEND_CHUNK)
    split_send (s);
}

/* One call of the plugin on @items, as many times as the policy allows.
 * Returns FALSE with @error; *@fatal when the run must fail whatever the
 * stage's on_error (a broken contract, a misused API). */
static gboolean
split_call (SplitStream *s,
            gpointer instance,
            SutraItem *const *items,
            guint n_items,
            guint max_attempts,
            gboolean *fatal,
            GError **error)
{
  StageRuntime *stage = s->stage;
  guint delay_ms = stage->spec->retry_backoff_ms;

  for (guint attempt = 1;; attempt++)
    {
      SutraOutput output;
      g_autoptr (GError) local = NULL;
      gboolean misused, ok;

      g_clear_pointer (&s->replay_until, sutra_item_unref);
      if (s->last != NULL)
        s->replay_until = sutra_item_ref (s->last);
      sutra_output_init_stream (&output, split_push, s, &stage->run->abandoning);
      output.split_counters = &stage->split;
      ok = call_once (stage, instance, items, n_items, &output, &misused, &local);
      /* The call's pushes are in flight no more: the batch counts what it
       * accepted as done when it ends, or a retry pushes them again. */
      sutra_split_counters_unpush (&stage->split, output.n_pushed, output.bytes_pushed);
      if (s->problem != NULL)
        {
          *fatal = TRUE;
          g_propagate_error (error, g_steal_pointer (&s->problem));
          return FALSE;
        }
      if (ok)
        return TRUE;
      *fatal = misused;
      if (misused || attempt >= max_attempts || g_atomic_int_get (&stage->run->abandoning))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      retry_wait (stage, items[0], attempt, local, &delay_ms);
    }
}

/* A split's batch: the children stream downstream while they are made.
 * Returns the batch's last outputs, to deposit (*@flusher: this worker
 * holds the flush), or NULL with @error. */
static GPtrArray *
run_split_batch (StageRuntime *stage,
                 gpointer instance,
                 Batch *batch,
                 gboolean *flusher,
                 GError **error)
{
  SplitStream s;
  g_autoptr (GError) local = NULL;
  guint n_data = batch->data->len;
  gboolean fatal = FALSE;
  GPtrArray *outputs;

  split_stream_init (&s, stage, batch);
  if (n_data > 0)
    rate_limit (stage, n_data);
  if (n_data > 0 && !split_call (&s, instance, (SutraItem *const *) batch->data->pdata, n_data,
                                 stage->spec->retry_attempts, &fatal, &local))
    {
      if (fatal || g_atomic_int_get (&stage->run->abandoning))
        goto failed;
      if (n_data == 1)
        {
          SutraItem *item = batch->data->pdata[0];

          if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
            {
              propagate_failure (error, g_steal_pointer (&local),
                                 "stage “%s”, item “%s”: ", stage->spec->name,
                                 sutra_item_get_id (item));
              split_stream_clear (&s);
              return NULL;
            }
          record_failure (stage, batch, sutra_item_get_id (item), local);
          if (item != s.parent)
            for (guint k = s.next_entry; k < batch->entries->len; k++)
              if (batch->entries->pdata[k] == item)
                {
                  split_open (&s, k);
                  break;
                }
          split_close (&s, TRUE);
        }
      else
        /* Which item failed? Splits are pure functions of their input, so
         * they can be asked again one item at a time; one attempt each, the
         * batch had its retries. Inputs whose children all went out before
         * the failure (a child of a later input came) are not asked again. */
        for (guint k = 0; k < batch->entries->len; k++)
          {
            SutraItem *item = batch->entries->pdata[k];

            if (sutra_item_is_marker (item) || (k < s.next_entry && item != s.parent))
              continue;
            if (item != s.parent)
              split_open (&s, k);
            g_clear_error (&local);
            if (split_call (&s, instance, &item, 1, 1, &fatal, &local))
              continue;
            if (fatal)
              goto failed;
            if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
              {
                propagate_failure (error, g_steal_pointer (&local),
                                   "stage “%s”, item “%s”: ", stage->spec->name,
                                   sutra_item_get_id (item));
                split_stream_clear (&s);
                return NULL;
              }
            record_failure (stage, batch, sutra_item_get_id (item), local);
            split_close (&s, TRUE);
          }
      g_clear_error (&local);
    }
  split_pass_until (&s, batch->entries->len);

  /* A run abandoned during the call dropped children (and the plugin may
   * have stopped early): what was accepted is not the batch's output, and
   * must not be stored as if it were. */
  if (g_atomic_int_get (&stage->run->abandoning))
    g_clear_pointer (&s.record, sutra_record_writer_free);
  if (s.record != NULL)
    {
      g_autoptr (GBytes) body = sutra_record_writer_finish (g_steal_pointer (&s.record));

      if (!sutra_checkpoint_save_record (stage, batch, body, s.n_record_data, error))
        {
          split_stream_clear (&s);
          return NULL;
        }
    }
  /* The rest goes through the window: the markers, and what a batch that
   * never became the head kept. */
  outputs = g_steal_pointer (&s.pending);
  *flusher = s.flusher;
  s.flusher = FALSE;
  split_stream_clear (&s);
  return outputs;

failed:
  /* A broken contract or a misused API: the error names the stage, the
   * plugin and the rule. */
  g_propagate_error (error, g_steal_pointer (&local));
  split_stream_clear (&s);
  return NULL;
}

/* One batch through the stage, or through the store when it was done
 * before. Returns the outputs (*@flusher: a split's worker holds the flush
 * for them), or NULL with @error. */
static GPtrArray *
run_batch (StageRuntime *stage, gpointer instance, Batch *batch, gboolean *flusher, GError **error)
{
  gboolean is_split = stage->info->kind == SUTRA_STAGE_SPLIT;
  SutraRun *run = stage->run;
  gboolean is_sink = stage->info->kind == SUTRA_STAGE_SINK;
  GPtrArray *outputs = NULL;

  /* A key names a batch in the store (checkpointed stages) or in a sink's
   * progress; a stage that is neither never needs one. */
  if (run->job != NULL && is_sink)
    sutra_checkpoint_sink_batch_key (batch);
  else if (run->job != NULL && stage->checkpointing)
    sutra_checkpoint_batch_key (stage, batch);
  if (batch->has_key && is_sink && sutra_checkpoint_sink_has_batch (stage, batch))
    {
      COUNTER_ADD (stage->n_resumed, batch->data->len);
      return g_ptr_array_new ();
    }
  if (batch->has_key && stage->checkpointing && !is_sink)
    outputs = sutra_checkpoint_load_batch (stage, batch);
  if (outputs != NULL)
    {
      if (is_split)
        split_counters_done (stage, batch, outputs, FALSE);
      return outputs;
    }

  if (is_split)
    {
      sutra_split_counters_start (&stage->split, batch->data);
      return run_split_batch (stage, instance, batch, flusher, error);
    }
  outputs = process_batch (stage, instance, batch, error);
  if (outputs == NULL)
    return NULL;
  if (batch->has_key && stage->checkpointing && !is_sink &&
      !sutra_checkpoint_save_batch (stage, batch, outputs, error))
    {
      g_ptr_array_unref (outputs);
      return NULL;
    }
  if (batch->has_key && is_sink)
    {
      sutra_checkpoint_sink_note_batch (stage, batch);
      if (!sutra_checkpoint_sink (stage, stage->info->sync == NULL, FALSE, error))
        {
          g_ptr_array_unref (outputs);
          return NULL;
        }
    }
  return outputs;
}

/* Sources ------------------------------------------------------------------ */

typedef struct
{
  StageRuntime *stage;
  gboolean has_previous;
  guint64 previous_position; /* not the item: it may be freed downstream */
  GPtrArray *pending;        /* pushed items not yet sent: sent in chunks */
  GError *error;
} SourceState;

static void
source_send (SourceState *state)
{
  StageRuntime *stage = state->stage;

  if (state->pending->len == 0)
    return;
  if (!stage_emit (stage, state->pending))
    g_atomic_int_set (&stage->run->stopping, 1);
  /* A source's "in" is what it produced: progress and status count it. */
  COUNTER_ADD (stage->n_in, state->pending->len);
  COUNTER_ADD (stage->n_out, state->pending->len);
  g_ptr_array_set_size (state->pending, 0);
}

static void
source_push (SutraItem *item, gpointer user_data)
{
  SourceState *state = user_data;
  StageRuntime *stage = state->stage;

  if (state->error != NULL || sutra_run_is_stopping (stage->run))
    {
      sutra_item_unref (item);
      return;
    }
  if (sutra_item_is_marker (item) || item->depth != 1 ||
      (state->has_previous && item->path[0] <= state->previous_position))
    {
      state->error = contract_error (stage,
                                     "it pushed “%s”%s; a source pushes items made "
                                     "with sutra_item_new_root, in increasing position",
                                     sutra_item_get_id (item),
                                     item->depth != 1 ? " (not a root item)" : " out of order");
      sutra_item_unref (item);
      g_atomic_int_set (&stage->run->stopping, 1);
      return;
    }
  if (stage->source_lineage != NULL)
    sutra_item_set_lineage (item, stage->source_lineage);
  g_ptr_array_add (state->pending, item);
  state->has_previous = TRUE;
  state->previous_position = item->path[0];
  /* Sending in chunks keeps the lock traffic per item low; the chunk is
   * small next to any queue, so the bound on memory still holds. */
  if (state->pending->len >= 64)
    source_send (state);
}

static void
run_source (StageRuntime *stage, gpointer instance)
{
  SourceState state = { stage, FALSE, 0, NULL, NULL };
  SutraOutput output;
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok;

  state.pending = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  sutra_output_init_stream (&output, source_push, &state, &stage->run->stopping);
  output.total_target = &stage->n_total;
  sutra_output_begin_call (&output);
  ok = stage->info->process (instance, NULL, 0, &output, &local);
  sutra_output_end_call (&output);
  if (sutra_output_was_misused (&output) && state.error == NULL)
    state.error = misuse_error (stage, &output);
  if (output.has_total)
    COUNTER_SET (stage->n_total, output.total);
  if (ok && state.error == NULL)
    source_send (&state);
  g_ptr_array_unref (state.pending);
  COUNTER_ADD (stage->busy_us, g_get_monotonic_time () - start);
  if (state.error != NULL)
    sutra_run_fail (stage->run, state.error);
  else if (!ok && !sutra_run_is_stopping (stage->run))
    {
      if (local == NULL)
        g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                     "plugin “%s” failed without saying why", stage->spec->plugin_name);
      g_prefix_error (&local, "stage “%s”: ", stage->spec->name);
      sutra_run_fail (stage->run, g_steal_pointer (&local));
    }
}

/* Workers ------------------------------------------------------------------- */

static gpointer
instance_for (StageRuntime *stage, guint worker)
{
  if (stage->instances->len == 0)
    return NULL;
  return stage->instances->pdata[MIN (worker, stage->instances->len - 1)];
}

static void
stage_set_state (StageRuntime *stage, SutraStageState state)
{
  g_atomic_int_set ((gint *) &stage->state, state);
}

static guint64
stats_total (StageRuntime *stage)
{
  SutraStageStats stats;

  sutra_run_get_stats (stage->run, stage->spec->index, &stats);
  return stats.n_total;
}

/* The last worker out: finish the instances (on success), flush, close the
 * downstream edges, and tell the run. */
static void
stage_finish (StageRuntime *stage)
{
  SutraRun *run = stage->run;
  gboolean ok = !sutra_run_is_stopping (run);
  JsonObject *event;

  if (ok && stage->info->finish != NULL)
    {
      GPtrArray *outputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

      for (guint i = 0; i < stage->instances->len && ok; i++)
        {
          SutraOutput output;
          g_autoptr (GError) local = NULL;

          gboolean finished;

          sutra_output_init_collect (&output, &run->abandoning);
          sutra_output_begin_call (&output);
          finished = stage->info->finish (stage->instances->pdata[i], &output, &local);
          sutra_output_end_call (&output);
          if (sutra_output_was_misused (&output))
            {
              g_clear_error (&local);
              sutra_run_fail (run, misuse_error (stage, &output));
              ok = FALSE;
            }
          else if (!finished)
            {
              if (local == NULL)
                g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED,
                             "finishing failed without saying why");
              g_prefix_error (&local, "stage “%s”: ", stage->spec->name);
              sutra_run_fail (run, g_steal_pointer (&local));
              ok = FALSE;
            }
          g_ptr_array_extend_and_steal (outputs, g_steal_pointer (&output.items));
        }
      if (ok && outputs->len > 0 && stage->info->kind != SUTRA_STAGE_SINK)
        deposit (stage, stage->next_seq++, outputs, FALSE);
      else
        g_ptr_array_unref (outputs);
    }
  if (stage->info->kind == SUTRA_STAGE_SINK && run->job != NULL &&
      !g_atomic_int_get (&run->abandoning))
    {
      g_autoptr (GError) local = NULL;

      /* Finished: the sink's output is complete. Stopped: make what it
       * wrote durable and say where to resume. */
      if (!sutra_checkpoint_sink (stage, TRUE, ok, &local))
        {
          sutra_run_fail (run, g_steal_pointer (&local));
          ok = FALSE;
        }
    }
  if (run->job != NULL)
    {
      /* The committer records running stages' progress: this row must come
       * after any of those, or a finished stage would read "running". */
      g_mutex_lock (&run->progress_lock);
      sutra_journal_set_stage (run->job->journal, stage->spec->name,
                               ok                   ? "done"
                               : run->error != NULL ? "failed"
                                                    : "stopped",
                               ok ? stage->complete_key : NULL, COUNTER_GET (stage->n_in),
                               COUNTER_GET (stage->n_out), COUNTER_GET (stage->n_failed),
                               COUNTER_GET (stage->n_cached) + COUNTER_GET (stage->n_resumed),
                               stats_total (stage),
                               (g_get_monotonic_time () - stage->started_us) / 1e6);
      stage->final_state_recorded = TRUE;
      g_mutex_unlock (&run->progress_lock);
    }
  /* What this stage stored is complete: make it durable now, while the
   * stages downstream finish, rather than after them. */
  if (run->job != NULL && stage->checkpointing && stage->info->kind != SUTRA_STAGE_SINK)
    {
      g_mutex_lock (&run->commit_lock);
      g_cond_signal (&run->commit_wake);
      g_mutex_unlock (&run->commit_lock);
    }
  for (guint e = 0; e < stage->edges->len; e++)
    edge_close (&g_array_index (stage->edges, Edge, e));

  COUNTER_SET (stage->finished_us, g_get_monotonic_time ());
  stage_set_state (stage, run->error != NULL && !ok     ? SUTRA_STAGE_STATE_FAILED
                          : sutra_run_is_stopping (run) ? SUTRA_STAGE_STATE_STOPPED
                                                        : SUTRA_STAGE_STATE_DONE);
  event = sutra_run_stage_event (stage, "stage-finished");
  json_object_set_int_member (event, "items_in", COUNTER_GET (stage->n_in));
  json_object_set_int_member (event, "items_out", COUNTER_GET (stage->n_out));
  json_object_set_int_member (event, "items_failed", COUNTER_GET (stage->n_failed));
  json_object_set_double_member (event, "seconds", (stage->finished_us - stage->started_us) / 1e6);
  json_object_set_double_member (event, "busy_seconds", COUNTER_GET (stage->busy_us) / 1e6);
  json_object_set_string_member (event, "state",
                                 ok                   ? "done"
                                 : run->error != NULL ? "failed"
                                                      : "stopped");
  sutra_run_emit_event (run, event);

  g_mutex_lock (&run->lock);
  run->n_done++;
  g_cond_broadcast (&run->done);
  g_mutex_unlock (&run->lock);
}

static void
worker_main (gpointer data, gpointer user_data)
{
  StageRuntime *stage = user_data;
  guint worker = GPOINTER_TO_UINT (data) - 1;
  gpointer instance = instance_for (stage, worker);
  Batch batch = { 0 };

  if (stage->info->kind == SUTRA_STAGE_SOURCE)
    run_source (stage, instance);
  else
    while (take_batch (stage, instance, &batch))
      {
        g_autoptr (GError) local = NULL;
        gboolean flusher = FALSE;
        GPtrArray *outputs = run_batch (stage, instance, &batch, &flusher, &local);

        if (outputs == NULL)
          {
            sutra_run_fail (stage->run, g_steal_pointer (&local));
            batch_clear (stage, &batch);
            break;
          }
        deposit (stage, batch.seq, outputs, flusher);
        batch_clear (stage, &batch);
      }

  if (g_atomic_int_dec_and_test (&stage->n_alive))
    stage_finish (stage);
}

/* Set-up and teardown ---------------------------------------------------------- */

static void
stage_free (StageRuntime *stage)
{
  if (stage->pool != NULL)
    g_thread_pool_free (stage->pool, FALSE, TRUE);
  for (guint i = 0; i < stage->instances->len; i++)
    if (stage->info->destroy != NULL)
      stage->info->destroy (stage->instances->pdata[i]);
  g_ptr_array_unref (stage->instances);
  g_ptr_array_unref (stage->contexts);
  g_ptr_array_unref (stage->device_names);
  for (guint r = 0; r < stage->n_rings; r++)
    {
      ItemRing *ring = &stage->rings[r];

      while (ring->count > 0)
        sutra_item_unref (ring_pop (ring));
      g_free (ring->slots);
    }
  g_free (stage->rings);
  for (guint i = 0; i < stage->window_size; i++)
    if (stage->window[i].items != NULL)
      g_ptr_array_unref (stage->window[i].items);
  g_free (stage->window);
  g_array_unref (stage->edges);
  /* A gather's open group holds its members (a run stopped mid-group). */
  for (guint i = 0; i < stage->group->len; i++)
    sutra_item_unref (stage->group->pdata[i]);
  g_ptr_array_unref (stage->group);
  g_hash_table_unref (stage->lineages);
  g_clear_pointer (&stage->sink_done, g_hash_table_unref);
  g_ptr_array_unref (stage->sink_keys);
  g_free (stage->resume_state);
  g_mutex_clear (&stage->lineage_lock);
  g_mutex_clear (&stage->sink_lock);
  if (stage->work_dir != NULL)
    {
      (void) g_rmdir (stage->work_dir);
      g_free (stage->work_dir);
    }
  g_mutex_clear (&stage->in_lock);
  g_mutex_clear (&stage->intake_lock);
  g_mutex_clear (&stage->out_lock);
  g_mutex_clear (&stage->rate_lock);
  g_cond_clear (&stage->items_ready);
  g_cond_clear (&stage->space_ready);
  g_cond_clear (&stage->window_moved);
  g_free (stage);
}

SutraRun *
sutra_run_new (SutraPipeline *pipeline)
{
  SutraRun *run = g_new0 (SutraRun, 1);

  run->pipeline = pipeline;
  run->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) stage_free);
  run->pinned_lineages =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_lineage_free_pinned);
  g_mutex_init (&run->pinned_lock);
  run->failures = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&run->lock);
  g_mutex_init (&run->event_lock);
  g_cond_init (&run->done);
  g_mutex_init (&run->commit_lock);
  g_mutex_init (&run->progress_lock);
  g_cond_init (&run->commit_wake);

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      StageRuntime *stage = g_new0 (StageRuntime, 1);

      stage->run = run;
      stage->spec = spec;
      stage->info = spec->info;
      g_mutex_init (&stage->in_lock);
      g_mutex_init (&stage->intake_lock);
      g_mutex_init (&stage->out_lock);
      g_mutex_init (&stage->rate_lock);
      g_cond_init (&stage->items_ready);
      g_cond_init (&stage->space_ready);
      g_cond_init (&stage->window_moved);
      stage->n_rings = spec->inputs->len;
      stage->rings = g_new0 (ItemRing, MAX (stage->n_rings, 1));
      for (guint r = 0; r < stage->n_rings; r++)
        {
          stage->rings[r].capacity = spec->queue;
          stage->rings[r].slots = g_new (SutraItem *, spec->queue);
        }
      /* Twice the workers: every worker can hold a batch while as many
       * finished ones wait for a slow one ahead of them. */
      stage->window_size = 2 * spec->workers + 1;
      stage->window = g_new0 (WindowSlot, stage->window_size);
      stage->edges = g_array_new (FALSE, FALSE, sizeof (Edge));
      stage->group = g_ptr_array_new ();
      stage->gather_level = -1;
      stage->want = 1;
      stage->instances = g_ptr_array_new ();
      stage->contexts = g_ptr_array_new_with_free_func (g_free);
      stage->device_names = g_ptr_array_new_with_free_func (g_free);
      stage->state = SUTRA_STAGE_STATE_WAITING;
      g_mutex_init (&stage->lineage_lock);
      g_mutex_init (&stage->sink_lock);
      stage->lineages = g_hash_table_new_full (sutra_lineage_hash, sutra_lineage_equal,
                                               (GDestroyNotify) sutra_lineage_unref, NULL);
      stage->sink_keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_ptr_array_add (run->stages, stage);
    }
  /* Edges: each downstream stage's rings are its inputs in file order. */
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      StageRuntime *target = run->stages->pdata[i];

      for (guint r = 0; r < target->spec->inputs->len; r++)
        {
          SutraStageSpec *input = target->spec->inputs->pdata[r];
          StageRuntime *source = run->stages->pdata[input->index];
          Edge edge = { target, r };

          g_array_append_val (source->edges, edge);
        }
    }
  return run;
}

void
sutra_run_free (SutraRun *run)
{
  if (run == NULL)
    return;
  g_ptr_array_unref (run->stages);
  /* Last: items (in the stages' queues until now) point at them. */
  g_ptr_array_unref (run->pinned_lineages);
  g_mutex_clear (&run->pinned_lock);
  g_ptr_array_unref (run->failures);
  g_clear_pointer (&run->batches, g_hash_table_unref);
  g_mutex_clear (&run->commit_lock);
  g_mutex_clear (&run->progress_lock);
  g_cond_clear (&run->commit_wake);
  g_clear_error (&run->error);
  g_mutex_clear (&run->lock);
  g_mutex_clear (&run->event_lock);
  g_cond_clear (&run->done);
  g_free (run);
}

void
sutra_run_set_event_func (SutraRun *run, SutraRunEventFunc func, gpointer user_data)
{
  run->event_func = func;
  run->event_data = user_data;
}

/* Creates the instances on the main thread before any worker starts, so
 * that a stage that cannot start fails the run before anything runs. */
static gboolean
create_instances (StageRuntime *stage, GError **error)
{
  SutraStageSpec *spec = stage->spec;
  guint n_instances = spec->info->threading == SUTRA_THREADING_PER_WORKER ? spec->workers : 1;
  g_autoptr (GError) local = NULL;

  stage->work_dir = g_dir_make_tmp ("sutra-stage-XXXXXX", error);
  if (stage->work_dir == NULL)
    return FALSE;
  for (guint w = 0; w < n_instances; w++)
    {
      SutraStageContext *context = g_new0 (SutraStageContext, 1);
      const char *device = "cpu";
      int device_index = -1;
      gpointer instance = NULL;

      if (spec->devices != NULL)
        {
          device = spec->devices[w % g_strv_length (spec->devices)];
          if (g_str_has_prefix (device, "cuda:"))
            device_index = atoi (device + 5);
        }
      g_ptr_array_add (stage->device_names, g_strdup (device));
      *context = (SutraStageContext){
        .stage_name = spec->name,
        .worker_index = w,
        .n_workers = spec->workers,
        .device = stage->device_names->pdata[stage->device_names->len - 1],
        .device_index = device_index,
        .work_dir = stage->work_dir,
        .resume_state = stage->resume_state,
      };
      g_ptr_array_add (stage->contexts, context);
      if (spec->info->create != NULL)
        {
          SutraOutput calls;

          /* No output to push to, but a check that fails in create fails it. */
          sutra_output_init_stream (&calls, NULL, NULL, NULL);
          sutra_output_begin_call (&calls);
          instance = spec->info->create (context, sutra_settings_get_data (spec->settings), &local);
          sutra_output_end_call (&calls);
          if (sutra_output_was_misused (&calls))
            {
              if (instance != NULL && spec->info->destroy != NULL)
                spec->info->destroy (instance);
              g_clear_error (&local);
              g_propagate_error (error, misuse_error (stage, &calls));
              return FALSE;
            }
          if (instance == NULL && stage->resume_state != NULL)
            {
              /* The sink cannot pick up where it was (its partial output is
               * gone): write its output anew. */
              g_printerr ("sutra: stage “%s”: cannot resume (%s); writing its output anew\n",
                          spec->name, local != NULL ? local->message : "no reason given");
              g_clear_error (&local);
              g_clear_pointer (&stage->sink_done, g_hash_table_unref);
              g_clear_pointer (&stage->resume_state, g_free);
              context->resume_state = NULL;
              sutra_journal_reset_sink (stage->run->job->journal, spec->name, NULL);
              instance =
                spec->info->create (context, sutra_settings_get_data (spec->settings), &local);
            }
          if (instance == NULL)
            {
              if (local == NULL)
                g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED,
                             "the plugin could not start and did not say why");
              g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED,
                           "stage “%s” (plugin “%s”) could not start: %s", spec->name,
                           spec->plugin_name, local->message);
              return FALSE;
            }
        }
      g_ptr_array_add (stage->instances, instance);
    }
  return TRUE;
}

gboolean
sutra_run_execute (SutraRun *run, GError **error)
{
  g_autoptr (SutraTimeline) timeline = NULL;
  gboolean committed = TRUE;

  run->started_us = g_get_monotonic_time ();
  if (run->job != NULL)
    {
      sutra_checkpoint_plan_job (run);
      timeline = sutra_timeline_new (run, run->pipeline, run->job->journal,
                                     SUTRA_TIMELINE_INTERVAL_US, SUTRA_TIMELINE_MAX_SAMPLES);
    }

  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      g_autoptr (GError) local = NULL;

      if (!stage->skipped && !create_instances (stage, &local))
        {
          if (timeline != NULL)
            sutra_timeline_finish_unstarted (timeline, local->message);
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
  if (run->job != NULL)
    {
      run->committer = g_thread_new ("sutra-commit", sutra_checkpoint_committer_main, run);
      sutra_timeline_start (timeline);
    }

  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      JsonObject *event;

      if (stage->skipped)
        {
          /* Up to date: nothing to run. */
          event = sutra_run_stage_event (stage, "stage-up-to-date");
          sutra_run_emit_event (run, event);
          stage->started_us = stage->finished_us = g_get_monotonic_time ();
          stage_set_state (stage, SUTRA_STAGE_STATE_DONE);
          g_mutex_lock (&run->lock);
          run->n_done++;
          g_mutex_unlock (&run->lock);
          continue;
        }
      event = sutra_run_stage_event (stage, "stage-started");

      json_object_set_string_member (event, "plugin", stage->spec->plugin_name);
      json_object_set_int_member (event, "workers", stage->spec->workers);
      sutra_run_emit_event (run, event);
      stage->started_us = g_get_monotonic_time ();
      /* A sink's first sync comes an interval in, not with its first batch. */
      stage->last_sync_us = stage->started_us;
      stage_set_state (stage, SUTRA_STAGE_STATE_RUNNING);
      stage->n_alive = stage->spec->workers;
      stage->pool = g_thread_pool_new (worker_main, stage, stage->spec->workers, TRUE, NULL);
      for (guint w = 0; w < stage->spec->workers; w++)
        g_thread_pool_push (stage->pool, GUINT_TO_POINTER (w + 1), NULL);
    }

  g_mutex_lock (&run->lock);
  while (run->n_done < run->stages->len)
    g_cond_wait (&run->done, &run->lock);
  g_mutex_unlock (&run->lock);

  /* Every stage has reported done; join the threads before returning so
   * that none outlives the run. */
  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];

      if (stage->pool != NULL)
        g_thread_pool_free (stage->pool, FALSE, TRUE);
      stage->pool = NULL;
    }

  /* Its last rows go with the final commit. */
  if (timeline != NULL)
    sutra_timeline_finish (timeline, run->error != NULL ? run->error->message : NULL);
  if (run->committer != NULL)
    {
      g_autoptr (GError) commit_error = NULL;

      g_mutex_lock (&run->commit_lock);
      run->commit_stop = TRUE;
      g_cond_signal (&run->commit_wake);
      g_mutex_unlock (&run->commit_lock);
      g_thread_join (g_steal_pointer (&run->committer));
      /* Everything finished, also on a stop: make it durable. */
      if (sutra_journal_commit (run->job->journal, run->job->store, &commit_error) < 0)
        {
          committed = FALSE;
          if (run->error == NULL)
            run->error = g_steal_pointer (&commit_error);
        }
    }
  (void) committed;

  if (run->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&run->error));
      return FALSE;
    }
  if (sutra_run_is_stopping (run))
    {
      g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_INTERRUPTED, "the run was stopped");
      return FALSE;
    }
  return TRUE;
}

guint
sutra_run_get_n_stages (SutraRun *run)
{
  return run->stages->len;
}

void
sutra_run_get_stats (SutraRun *run, guint index, SutraStageStats *stats)
{
  StageRuntime *stage = run->stages->pdata[index];

  *stats = (SutraStageStats){
    .name = stage->spec->name,
    .state = g_atomic_int_get ((gint *) &stage->state),
    .n_in = COUNTER_GET (stage->n_in),
    .n_out = COUNTER_GET (stage->n_out),
    .n_failed = COUNTER_GET (stage->n_failed),
    .n_cached = COUNTER_GET (stage->n_cached),
    .n_resumed = COUNTER_GET (stage->n_resumed),
    .skipped = stage->skipped,
    .n_total = COUNTER_GET (stage->n_total),
    .queue_fill = MAX (g_atomic_int_get (&stage->queue_fill), 0),
    .queue_max_fill = stage->queue_max_fill,
    .queue_capacity = stage->n_rings * stage->spec->queue,
    .workers = stage->spec->workers,
    .started_us = stage->started_us,
    .finished_us = COUNTER_GET (stage->finished_us),
    .busy_us = COUNTER_GET (stage->busy_us),
  };
  sutra_split_counters_get (&stage->split, &stats->split);
  /* A stage's expected input is what its inputs emitted, once they are done. */
  if (stats->n_total == 0 && stage->spec->inputs->len > 0)
    {
      guint64 total = 0;
      gboolean known = TRUE;

      for (guint r = 0; r < stage->spec->inputs->len; r++)
        {
          StageRuntime *input =
            run->stages->pdata[((SutraStageSpec *) stage->spec->inputs->pdata[r])->index];
          SutraStageStats upstream;

          sutra_run_get_stats (run, input->spec->index, &upstream);
          if (upstream.n_total == 0 && upstream.state != SUTRA_STAGE_STATE_DONE)
            known = FALSE;
          total += upstream.state == SUTRA_STAGE_STATE_DONE ? upstream.n_out : upstream.n_total;
        }
      if (known && stage->info->kind == SUTRA_STAGE_MAP)
        stats->n_total = total;
      else if (known && stage->info->kind == SUTRA_STAGE_SINK)
        stats->n_total = total;
    }
}

GPtrArray *
sutra_run_dup_failures (SutraRun *run)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func (g_free);

  g_mutex_lock (&run->lock);
  for (guint i = 0; i < run->failures->len; i++)
    g_ptr_array_add (copy, g_strdup (run->failures->pdata[i]));
  g_mutex_unlock (&run->lock);
  return copy;
}
