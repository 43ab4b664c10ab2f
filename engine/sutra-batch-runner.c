/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One batch through a stage: maps, gathers and sinks here, splits in
 * sutra-split-runner.c, and any of them from the store when done before. */

#include "sutra-batch-runner.h"

#include "sutra-call.h"
#include "sutra-contract.h"
#include "sutra-split-counters.h"
#include "sutra-split-runner.h"

#include <string.h>

/* Processes a map's data items one by one after their batch failed, so that the
 * failure names the item and the other items of the batch still count.
 * One attempt each: the batch already had its retries. */
static GPtrArray *
process_isolated (StageRuntime *stage, SutraExecutor *executor, Batch *batch, GError **error)
{
  GPtrArray *per_item = g_ptr_array_new ();

  for (guint i = 0; i < batch->data->len; i++)
    {
      SutraItem *item = batch->data->pdata[i];
      g_autoptr (GError) local = NULL;
      gboolean misused = FALSE;
      g_autoptr (GPtrArray) one =
        sutra_call_process (stage, executor, &item, 1, 1, &misused, &local);
      Batch single = { 0 };
      GPtrArray *attributed;

      if (one == NULL && misused)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          sutra_contract_per_item_free (per_item);
          return NULL;
        }
      if (one == NULL)
        {
          if (stage->spec->on_error == SUTRA_ON_ERROR_FAIL)
            {
              sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                                "stage “%s”, item “%s”: ", stage->spec->name,
                                                sutra_item_get_id (item));
              sutra_contract_per_item_free (per_item);
              return NULL;
            }
          sutra_run_record_failure (stage, batch, sutra_item_get_id (item), local);
          g_ptr_array_add (per_item, NULL);
          continue;
        }
      single.data = g_ptr_array_new ();
      g_ptr_array_add (single.data, item);
      attributed = sutra_contract_attribute_outputs (stage, &single, one, error);
      g_ptr_array_unref (single.data);
      if (attributed == NULL)
        {
          sutra_contract_per_item_free (per_item);
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
        g_ptr_array_add (result, sutra_checkpoint_take_lineage (stage->checkpoint,
                                                                sutra_item_ref (mine->pdata[j]),
                                                                entry, &memo));
    }
  return result;
}

/* A map's batch in the common case: one output per input, each keeping
 * its input's path (what sutra_contract_attribute_outputs() checks), laid
 * out in stream order without per-item arrays. The outputs' references move
 * to the result. An output that is its input (a map passing it on) leaves
 * the batch's reference redundant: it is dropped here, where this thread
 * may still hold every reference, so usually without an atomic operation
 * (sutra_item_unref_held()). Returns NULL, leaving everything as it was,
 * when the outputs break the contract: sutra_contract_attribute_outputs()
 * then says how. */
static GPtrArray *
assemble_direct (StageRuntime *stage, Batch *batch, GPtrArray *outputs)
{
  LineageMemo memo = { NULL, NULL };
  GPtrArray *result;
  guint data_index = 0;

  if (outputs->len != batch->data->len)
    return NULL;
  for (guint i = 0; i < outputs->len; i++)
    {
      SutraItem *output = outputs->pdata[i], *input = batch->data->pdata[i];

      if (output != input && (sutra_item_is_marker (output) || output->depth != input->depth ||
                              sutra_item_compare (output, input) != 0))
        return NULL;
    }
  result = g_ptr_array_new_full (batch->entries->len, (GDestroyNotify) sutra_item_unref);
  for (guint i = 0; i < batch->entries->len; i++)
    {
      SutraItem *entry = batch->entries->pdata[i];
      SutraItem *output;

      if (sutra_item_is_marker (entry))
        {
          g_ptr_array_add (result, sutra_item_ref (entry));
          continue;
        }
      output = g_steal_pointer (&outputs->pdata[data_index++]);
      g_ptr_array_add (result,
                       sutra_checkpoint_take_lineage (stage->checkpoint, output, entry, &memo));
      if (output == entry)
        {
          /* batch->data still points to it: alive through the result. */
          sutra_item_unref_held (entry, 2);
          batch->entries->pdata[i] = NULL;
        }
    }
  return result;
}

/* Gathers: one output per group, checked against the group's size. A
 * streaming gather was handed the members as they came (the intake); the
 * others get them all here, in one call. */
static GPtrArray *
process_gather (StageRuntime *stage, SutraExecutor *executor, Batch *batch, GError **error)
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
          sutra_contract_propagate_failure (error, g_steal_pointer (&missing),
                                            "stage “%s”: ", stage->spec->name);
          return NULL;
        }
      sutra_run_record_failure (stage, batch, parent_id, missing);
      return g_steal_pointer (&result);
    }
  if (n_members == 0)
    return g_steal_pointer (&result);

  if (streams)
    {
      sutra_call_rate_limit (stage, 1);
      outputs = sutra_call_gather_end (stage, batch, &misused, &local);
    }
  else
    outputs = sutra_call_process (stage, executor, (SutraItem *const *) batch->data->pdata,
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
          sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                            "stage “%s”, group “%s”: ", stage->spec->name,
                                            parent_id);
          return NULL;
        }
      sutra_run_record_failure (stage, batch, parent_id, local);
      return g_steal_pointer (&result);
    }
  output = outputs->len == 1 ? outputs->pdata[0] : NULL;
  if (output == NULL || sutra_item_is_marker (output) || output->depth != closing->depth ||
      sutra_item_compare_prefix (closing, output, closing->depth) != 0)
    {
      *error = sutra_contract_error (stage,
                                     "for group “%s” it pushed %u items; a gather pushes one "
                                     "item, made with sutra_item_new_parent",
                                     parent_id, outputs->len);
      return NULL;
    }
  if (!streams)
    output =
      sutra_checkpoint_take_group_lineage (stage->checkpoint, sutra_item_ref (output), batch->data);
  else if (batch->lineage != NULL)
    output = sutra_checkpoint_group_lineage_end (stage->checkpoint, batch->lineage,
                                                 sutra_item_ref (output));
  else
    output = sutra_item_ref (output);
  g_ptr_array_add (result, output);
  return g_steal_pointer (&result);
}

/* Maps, gathers and sinks. Returns the batch's outputs in stream order. */
static GPtrArray *
process_uncached (StageRuntime *stage, SutraExecutor *executor, Batch *batch, GError **error)
{
  SutraStageKind kind = stage->info->kind;
  g_autoptr (GPtrArray) outputs = NULL;
  g_autoptr (GError) local = NULL;
  GPtrArray *per_item = NULL;
  GPtrArray *result;
  guint n_data = batch->data->len;
  gboolean misused = FALSE;

  if (kind == SUTRA_STAGE_GATHER)
    return process_gather (stage, executor, batch, error);

  if (n_data > 0)
    {
      outputs = sutra_call_process (stage, executor, (SutraItem *const *) batch->data->pdata,
                                    n_data, stage->spec->retry_attempts, &misused, &local);
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
              sutra_run_record_failure (stage, batch, first, local);
              return g_ptr_array_new ();
            }
          if (n_data == 1)
            sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                              "stage “%s”, item “%s”: ", stage->spec->name, first);
          else
            sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                              "stage “%s”, items “%s” to “%s”: ", stage->spec->name,
                                              first,
                                              sutra_item_get_id (batch->data->pdata[n_data - 1]));
          return NULL;
        }
      if (outputs != NULL && outputs->len > 0)
        {
          *error = sutra_contract_error (stage, "it pushed items; a sink pushes nothing");
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
              sutra_contract_propagate_failure (error, g_steal_pointer (&local),
                                                "stage “%s”, item “%s”: ", stage->spec->name, id);
              return NULL;
            }
          sutra_run_record_failure (stage, batch, id, local);
          per_item = g_ptr_array_new ();
          g_ptr_array_add (per_item, NULL);
        }
      else
        per_item = process_isolated (stage, executor, batch, error);
    }
  else if (n_data > 0 && (result = assemble_direct (stage, batch, outputs)) != NULL)
    return result;
  else if (n_data > 0)
    per_item = sutra_contract_attribute_outputs (stage, batch, outputs, error);
  else
    per_item = g_ptr_array_new ();
  if (per_item == NULL)
    return NULL;
  result = assemble (stage, batch, per_item);
  sutra_contract_per_item_free (per_item);
  return result;
}

/* A map cached by content (sutra-memo.h): every data item is looked up,
 * and only the misses go to the plugin, as a batch of their own through
 * the usual path (the rate limit, retries, item by item after a failure),
 * so a batch of hits calls nothing. What the plugin made of each miss is
 * kept; then hits and computed outputs are laid out in stream order with
 * the markers, as the plugin would have made them. A miss that failed
 * (on_error: skip) has no output, and is looked up again next time. */
static GPtrArray *
process_cached (StageRuntime *stage, SutraExecutor *executor, Batch *batch, GError **error)
{
  guint n = batch->data->len, n_misses = 0, computed_index = 0, data_index = 0;
  g_autofree guint8 *keys = g_malloc ((gsize) n * SUTRA_DIGEST_SIZE);
  g_autoptr (GPtrArray) found = g_ptr_array_new_full (n, (GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) computed = NULL;
  g_autoptr (GPtrArray) result = NULL;
  LineageMemo memo = { NULL, NULL };

  for (guint i = 0; i < n; i++)
    {
      SutraItem *input = batch->data->pdata[i];
      SutraItem *output;

      sutra_memo_key (stage->memo, input, keys + (gsize) i * SUTRA_DIGEST_SIZE);
      output = sutra_memo_lookup (stage->memo, keys + (gsize) i * SUTRA_DIGEST_SIZE, input);
      n_misses += output == NULL;
      g_ptr_array_add (found, output);
    }
  COUNTER_ADD (stage->counters.n_memo_hits, n - n_misses);
  COUNTER_ADD (stage->counters.n_memo_misses, n_misses);

  if (n_misses > 0)
    {
      Batch misses = { 0 };

      /* The misses' batch owns a reference to each entry, as a batch does
       * (assemble_direct() may drop it); failures are recorded under the
       * whole batch's key, which is what resume looks them up by. */
      misses.seq = batch->seq;
      misses.entries = g_ptr_array_new_full (n_misses, (GDestroyNotify) sutra_item_unref);
      misses.data = g_ptr_array_new_full (n_misses, NULL);
      misses.has_key = batch->has_key;
      memcpy (misses.key, batch->key, SUTRA_DIGEST_SIZE);
      for (guint i = 0; i < n; i++)
        if (found->pdata[i] == NULL)
          {
            g_ptr_array_add (misses.entries, sutra_item_ref (batch->data->pdata[i]));
            g_ptr_array_add (misses.data, batch->data->pdata[i]);
          }
      computed = process_uncached (stage, executor, &misses, error);
      batch->n_failed += misses.n_failed;
      g_ptr_array_unref (misses.data);
      g_ptr_array_unref (misses.entries);
      if (computed == NULL)
        return NULL;
    }

  result = g_ptr_array_new_full (batch->entries->len, (GDestroyNotify) sutra_item_unref);
  for (guint i = 0; i < batch->entries->len; i++)
    {
      SutraItem *entry = batch->entries->pdata[i];
      const guint8 *key;
      SutraItem *output;

      if (sutra_item_is_marker (entry))
        {
          g_ptr_array_add (result, sutra_item_ref (entry));
          continue;
        }
      key = keys + (gsize) data_index * SUTRA_DIGEST_SIZE;
      output = g_steal_pointer (&found->pdata[data_index++]);
      if (output != NULL)
        {
          g_ptr_array_add (result,
                           sutra_checkpoint_take_lineage (stage->checkpoint, output, entry, &memo));
          continue;
        }
      /* A map's output keeps its input's path (the contract checked it):
       * the next computed output is this entry's, unless it failed. */
      output = computed_index < computed->len ? computed->pdata[computed_index] : NULL;
      if (output == NULL || output->depth != entry->depth ||
          sutra_item_compare (output, entry) != 0)
        continue;
      computed_index++;
      if (!sutra_memo_save (stage->memo, key, entry, output, error))
        {
          g_prefix_error (error, "stage “%s”: ", stage->spec->name);
          return NULL;
        }
      g_ptr_array_add (result, sutra_item_ref (output));
    }
  return g_steal_pointer (&result);
}

static GPtrArray *
process_batch (StageRuntime *stage, SutraExecutor *executor, Batch *batch, GError **error)
{
  if (stage->memo != NULL && stage->info->kind == SUTRA_STAGE_MAP && batch->data->len > 0)
    return process_cached (stage, executor, batch, error);
  return process_uncached (stage, executor, batch, error);
}

/* A split's batch is done: @outputs computed, or taken from the store
 * (@started FALSE); NULL when it failed. */
static void
split_counters_done (StageRuntime *stage, Batch *batch, GPtrArray *outputs, gboolean started)
{
  guint64 n_children = 0, children_bytes = 0;

  if (outputs != NULL)
    sutra_split_counters_measure (outputs, &n_children, &children_bytes);
  sutra_split_counters_done (&stage->counters.split, batch->data, n_children, children_bytes,
                             started);
}

/* One batch through the stage, or through the store when it was done
 * before. Returns the outputs (*@flusher: a split's worker holds the flush
 * for them), or NULL with @error. */
GPtrArray *
sutra_batch_runner_run (StageRuntime *stage,
                        SutraExecutor *executor,
                        Batch *batch,
                        gboolean *flusher,
                        GError **error)
{
  gboolean is_split = stage->info->kind == SUTRA_STAGE_SPLIT;
  gboolean is_sink = stage->info->kind == SUTRA_STAGE_SINK;
  GPtrArray *outputs = NULL;
  SutraCheckpointStage *checkpoint = stage->checkpoint;
  gboolean stores = checkpoint != NULL && sutra_checkpoint_stage_stores (checkpoint);
  SutraCheckpointBatch view = batch_view (batch);
  SutraCheckpointLoaded loaded;

  batch->n_computed = 0;
  /* A key names a batch in the store (checkpointed stages) or in a sink's
   * progress; a stage that is neither never needs one. */
  batch->has_key = FALSE;
  if (checkpoint != NULL && is_sink)
    {
      sutra_checkpoint_sink_batch_key (batch->seq, batch->key);
      batch->has_key = TRUE;
    }
  else if (stores && batch->key_builder != NULL)
    {
      /* A streaming gather's members went into its builder as they
       * passed; the closing marker ends the key. */
      if (batch->closing != NULL)
        sutra_checkpoint_key_add (batch->key_builder, batch->closing);
      batch->has_key = sutra_checkpoint_key_end (batch->key_builder, batch->key);
    }
  else if (stores)
    batch->has_key = sutra_checkpoint_batch_key (checkpoint, &view, batch->key);
  if (batch->has_key && is_sink && sutra_checkpoint_sink_has_batch (checkpoint, batch->key))
    {
      COUNTER_ADD (stage->counters.n_resumed, batch->data->len);
      return g_ptr_array_new ();
    }
  /* Another shard's batch: neither loaded nor computed here (its outputs
   * would go nowhere: what is downstream of a shard stage is skipped). */
  if (checkpoint != NULL && !sutra_checkpoint_stage_owns_batch (checkpoint, batch->seq))
    {
      COUNTER_ADD (stage->counters.n_elsewhere, sutra_batch_n_inputs (batch));
      return g_ptr_array_new ();
    }
  if (batch->has_key && stores)
    outputs = sutra_checkpoint_load_batch (checkpoint, batch->key, batch->data,
                                           sutra_batch_n_inputs (batch), &loaded);
  if (outputs != NULL)
    {
      if (loaded.from_cache)
        COUNTER_ADD (stage->counters.n_cached, sutra_batch_n_inputs (batch));
      else
        {
          COUNTER_ADD (stage->counters.n_resumed, sutra_batch_n_inputs (batch));
          COUNTER_ADD (stage->counters.n_failed, loaded.n_failed);
        }
      if (is_split)
        split_counters_done (stage, batch, outputs, FALSE);
      return outputs;
    }

  if (is_split)
    {
      sutra_split_counters_start (&stage->counters.split, batch->data);
      outputs = sutra_split_runner_run (stage, executor, batch, flusher, error);
      if (outputs != NULL)
        batch->n_computed =
          sutra_batch_n_inputs (batch) - MIN (batch->n_failed, sutra_batch_n_inputs (batch));
      return outputs;
    }
  outputs = process_batch (stage, executor, batch, error);
  if (outputs == NULL)
    return NULL;
  batch->n_computed =
    sutra_batch_n_inputs (batch) - MIN (batch->n_failed, sutra_batch_n_inputs (batch));
  /* Seen again: processing counted the batch's failures. */
  view = batch_view (batch);
  if (batch->has_key && stores &&
      !sutra_checkpoint_save_batch (checkpoint, batch->key, &view, outputs, error))
    {
      g_ptr_array_unref (outputs);
      return NULL;
    }
  if (batch->has_key && is_sink)
    {
      sutra_checkpoint_sink_note_batch (checkpoint, batch->key);
      if (!sutra_checkpoint_sink (checkpoint, stage->info->sync == NULL, FALSE, error))
        {
          g_ptr_array_unref (outputs);
          return NULL;
        }
    }
  return outputs;
}
