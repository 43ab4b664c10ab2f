/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Splits: a split's children stream downstream while the plugin makes them. */

#include "sutra-split-runner.h"

#include "sutra-call.h"
#include "sutra-contract.h"
#include "sutra-edge.h"
#include "sutra-record.h"
#include "sutra-reorder.h"
#include "sutra-split-counters.h"

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
  if (batch->has_key && sutra_checkpoint_stage_stores (stage->checkpoint))
    s->record = sutra_record_writer_new (batch->data);
}

/* Ends the batch for the progress display's split counters (which
 * sutra_split_counters_start() opened in sutra_batch_runner_run()). */
static void
split_stream_clear (SplitStream *s)
{
  sutra_split_counters_done (&s->stage->counters.split, s->batch->data, s->n_children,
                             s->children_bytes, TRUE);
  g_array_unref (s->counts);
  g_clear_pointer (&s->previous, sutra_item_unref);
  g_clear_pointer (&s->last, sutra_item_unref);
  g_clear_pointer (&s->replay_until, sutra_item_unref);
  g_clear_pointer (&s->pending, g_ptr_array_unref);
  g_clear_pointer (&s->record, sutra_record_writer_free);
  g_clear_error (&s->problem);
  if (s->flusher)
    sutra_reorder_release_flush (s->stage);
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
      g_mutex_lock (&stage->output.lock);
      for (;;)
        {
          if (stage->output.next_flush_seq == s->batch->seq && !stage->output.flushing)
            {
              stage->output.flushing = TRUE;
              s->flusher = TRUE;
              break;
            }
          if (s->pending->len < stage->spec->queue || sutra_run_is_stopping (run))
            break;
          g_cond_wait (&stage->output.moved, &stage->output.lock);
        }
      g_mutex_unlock (&stage->output.lock);
    }
  if (!s->flusher)
    {
      if (sutra_run_is_stopping (run))
        g_ptr_array_set_size (s->pending, 0);
      return;
    }
  if (s->pending->len == 0)
    return;
  for (guint i = 0; i < s->pending->len; i++)
    if (!sutra_item_is_marker (s->pending->pdata[i]))
      COUNTER_ADD (stage->counters.n_out, 1);
  /* Counted before they go: the push empties the array. */
  if (!sutra_edge_emit_all (stage, s->pending))
    g_atomic_int_set (&run->stopping, 1);
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
          ? sutra_contract_error (stage,
                                  "it pushed “%s” after “%s”: children must come in increasing "
                                  "order",
                                  sutra_item_get_id (child), sutra_item_get_id (s->last))
          : sutra_contract_error (stage,
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
            sutra_contract_error (stage,
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
            sutra_contract_error (stage,
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
  lineage = sutra_checkpoint_derive_lineage (stage->checkpoint, s->parent->lineage, &s->memo);
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
      s->problem = sutra_contract_error (s->stage, "it pushed an end-of-group marker");
      sutra_item_unref (item);
      return;
    }
  {
    guint64 size = sutra_item_get_payload_size (item);

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
            SutraExecutor *executor,
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
      guint n_taken = 0;

      /* Every attempt is paced, retries and item-by-item re-runs
       * included: each is as many requests to a rate-limited backend. */
      sutra_call_rate_limit (stage, n_items);
      if (!sutra_call_enter_flight (stage, n_items, &n_taken, error))
        return FALSE;
      g_clear_pointer (&s->replay_until, sutra_item_unref);
      if (s->last != NULL)
        s->replay_until = sutra_item_ref (s->last);
      sutra_output_init_stream (&output, split_push, s, &stage->run->abandoning);
      output.split_counters = &stage->counters.split;
      ok = sutra_call_once (stage, executor, items, n_items, &output, &misused, &local);
      sutra_call_leave_flight (stage, n_taken);
      /* The call's pushes are in flight no more: the batch counts what it
       * accepted as done when it ends, or a retry pushes them again. */
      sutra_split_counters_unpush (&stage->counters.split, output.n_pushed, output.bytes_pushed);
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
      sutra_call_retry_wait (stage, items[0], attempt, local, &delay_ms);
    }
}

/* A split's batch: the children stream downstream while they are made.
 * Returns the batch's last outputs, to sutra_reorder_deposit (*@flusher: this worker
 * holds the flush), or NULL with @error. */
GPtrArray *
sutra_split_runner_run (StageRuntime *stage,
                        SutraExecutor *executor,
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
  if (n_data > 0 && !split_call (&s, executor, (SutraItem *const *) batch->data->pdata, n_data,
                                 stage->spec->retry_attempts, &fatal, &local))
    {
      if (fatal || g_atomic_int_get (&stage->run->abandoning))
        goto failed;
      if (n_data == 1)
        {
          SutraItem *item = batch->data->pdata[0];

          if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
            {
              sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                                "stage “%s”, item “%s”: ", stage->spec->name,
                                                sutra_item_get_id (item));
              split_stream_clear (&s);
              return NULL;
            }
          sutra_run_record_failure (stage, batch, sutra_item_get_id (item), local);
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
            if (split_call (&s, executor, &item, 1, 1, &fatal, &local))
              continue;
            if (fatal)
              goto failed;
            if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
              {
                sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                                  "stage “%s”, item “%s”: ", stage->spec->name,
                                                  sutra_item_get_id (item));
                split_stream_clear (&s);
                return NULL;
              }
            sutra_run_record_failure (stage, batch, sutra_item_get_id (item), local);
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

      SutraCheckpointBatch view = batch_view (batch);

      if (!sutra_checkpoint_save_record (stage->checkpoint, batch->key, &view, body,
                                         s.n_record_data, error))
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
