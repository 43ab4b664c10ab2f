/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sources: a source's one call, its pushes checked and sent in chunks. */

#include "sutra-source-runner.h"

#include "sutra-contract.h"
#include "sutra-edge.h"

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
  if (!sutra_edge_emit_all (stage, state->pending))
    g_atomic_int_set (&stage->run->stopping, 1);
  /* A source's "in" is what it produced: progress and status count it. */
  COUNTER_ADD (stage->counters.n_in, state->pending->len);
  COUNTER_ADD (stage->counters.n_out, state->pending->len);
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
      state->error =
        sutra_contract_error (stage,
                              "it pushed “%s”%s; a source pushes items made "
                              "with sutra_item_new_root, in increasing position",
                              sutra_item_get_id (item),
                              item->depth != 1 ? " (not a root item)" : " out of order");
      sutra_item_unref (item);
      g_atomic_int_set (&stage->run->stopping, 1);
      return;
    }
  if (stage->checkpoint.source_lineage != NULL)
    sutra_item_set_lineage (item, stage->checkpoint.source_lineage);
  g_ptr_array_add (state->pending, item);
  state->has_previous = TRUE;
  state->previous_position = item->path[0];
  /* Sending in chunks keeps the lock traffic per item low; the chunk is
   * small next to any queue, so the bound on memory still holds. */
  if (state->pending->len >= 64)
    source_send (state);
}

void
sutra_source_runner_run (StageRuntime *stage, SutraExecutor *executor)
{
  SourceState state = { stage, FALSE, 0, NULL, NULL };
  SutraOutput output;
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok;

  state.pending = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  sutra_output_init_stream (&output, source_push, &state, &stage->run->stopping);
  output.total_target = &stage->counters.n_total;
  ok = sutra_executor_process (executor, NULL, 0, &output, &local);
  if (sutra_output_was_misused (&output) && state.error == NULL)
    state.error = sutra_contract_misuse_error (stage, &output);
  if (output.has_total)
    COUNTER_SET (stage->counters.n_total, output.total);
  if (ok && state.error == NULL)
    source_send (&state);
  g_ptr_array_unref (state.pending);
  COUNTER_ADD (stage->counters.busy_us, g_get_monotonic_time () - start);
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
