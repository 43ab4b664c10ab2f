/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calling a stage's plugin: one call with its API checks, retries with
 * backoff, and the stage's rate limit. */

#include "sutra-call.h"

#include "sutra-contract.h"

void
sutra_call_rate_limit (StageRuntime *stage, guint n_items)
{
  sutra_rate_limiter_wait (stage->workers.rate_limiter, n_items, &stage->run->abandoning);
}

void
sutra_call_charge_tokens (StageRuntime *stage, GPtrArray *outputs)
{
  guint64 n_tokens = 0;

  if (!sutra_rate_limiter_counts_tokens (stage->workers.rate_limiter))
    return;
  /* Model APIs' stages report what a call cost as total_tokens (the http
   * plugin does, from the response's usage). */
  for (guint i = 0; i < outputs->len; i++)
    n_tokens += (guint64) MAX (sutra_item_get_meta_int (outputs->pdata[i], "total_tokens", 0), 0);
  sutra_rate_limiter_charge_tokens (stage->workers.rate_limiter, n_tokens, g_get_monotonic_time ());
}

/* Calls the plugin's process once, on @output (set up by the caller). A
 * call during which a public function's check failed has failed, whatever
 * it returned: *@misused is set and @error names the function and the rule.
 * That failure is the plugin's, not the item's: callers neither retry it
 * nor skip the item, they fail the run. */
gboolean
sutra_call_once (StageRuntime *stage,
                 SutraExecutor *executor,
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
  ok = sutra_executor_process (executor, items, n_items, output, &local);
  COUNTER_ADD (stage->counters.busy_us, g_get_monotonic_time () - start);
  if (sutra_output_was_misused (output))
    {
      *misused = TRUE;
      g_propagate_error (error, sutra_contract_misuse_error (stage, output));
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
void
sutra_call_retry_wait (StageRuntime *stage,
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

/* Takes the stage's max_in_flight places for a call on @n_items: one per
 * item, or one per group for a gather (its members are not requests of
 * their own). FALSE, with @error set, when the run drops its work in
 * flight while this waits. */
gboolean
sutra_call_enter_flight (StageRuntime *stage, guint n_items, guint *n_taken, GError **error)
{
  guint n_places = stage->info->kind == SUTRA_STAGE_GATHER ? 1 : n_items;

  if (sutra_flight_limiter_acquire (stage->workers.flight, n_places, &stage->run->abandoning,
                                    n_taken))
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the run is stopping");
  return FALSE;
}

void
sutra_call_leave_flight (StageRuntime *stage, guint n_taken)
{
  sutra_flight_limiter_release (stage->workers.flight, n_taken);
}

/* Calls the plugin on a collecting output, retrying per the stage's
 * policy. Each attempt holds the stage's max_in_flight places for its
 * items while the plugin has them; a backoff between attempts holds none. Returns the outputs, or
 * NULL with @error (and *@misused when the plugin misused the API). */
GPtrArray *
sutra_call_process (StageRuntime *stage,
                    SutraExecutor *executor,
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
      guint n_taken = 0;
      gboolean ok;

      *misused = FALSE;
      /* Every attempt is paced, retries and item-by-item re-runs included:
       * each is as many requests to a rate-limited backend (a gather's
       * group is one). */
      sutra_call_rate_limit (stage, stage->info->kind == SUTRA_STAGE_GATHER ? 1 : n_items);
      if (!sutra_call_enter_flight (stage, n_items, &n_taken, error))
        return NULL;
      sutra_output_init_collect (&output, &stage->run->abandoning);
      ok = sutra_call_once (stage, executor, items, n_items, &output, misused, &local);
      sutra_call_leave_flight (stage, n_taken);
      if (ok)
        {
          sutra_call_charge_tokens (stage, output.items);
          return g_steal_pointer (&output.items);
        }
      sutra_output_clear (&output);
      if (*misused || attempt >= max_attempts || g_atomic_int_get (&stage->run->abandoning))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      sutra_call_retry_wait (stage, items[0], attempt, local, &delay_ms);
    }
}

/* Streaming gathers ---------------------------------------------------------- */

/*
 * A streaming gather's calls for one group (Batch.group): gather_begin and
 * gather_add as take_batch takes each member, gather_end at the group's
 * marker, gather_abort for a group that ends otherwise. None is retried:
 * a member is gone once handed over. Each runs on a collecting output, so
 * that a misuse of the API is caught as in process, and a push seen: only
 * gather_end pushes.
 */

/* Hands @member to the group: gather_begin first when it opens the group,
 * then gather_add. A call that fails fails the group: its state is freed
 * at once, Batch.group_error says why, and the members still to come are
 * not handed over (the batch runner reports the failure at the marker). */
void
sutra_call_gather_member (StageRuntime *stage,
                          SutraExecutor *executor,
                          Batch *batch,
                          SutraItem *member)
{
  for (gboolean adding = batch->group != NULL;; adding = TRUE)
    {
      g_autoptr (GError) local = NULL;
      const char *function = adding ? "gather_add" : "gather_begin";
      gint64 start = g_get_monotonic_time ();
      SutraOutput output;
      gboolean ok;

      if (batch->group_error != NULL || sutra_run_is_stopping (stage->run))
        return;
      sutra_output_init_collect (&output, &stage->run->abandoning);
      if (!adding)
        {
          batch->group = sutra_executor_gather_begin (executor, member, &output, &local);
          batch->group_executor = executor;
          ok = batch->group != NULL;
        }
      else
        ok = sutra_executor_gather_add (executor, batch->group, member, &output, &local);
      COUNTER_ADD (stage->counters.busy_us, g_get_monotonic_time () - start);
      if (sutra_output_was_misused (&output))
        {
          batch->group_misused = TRUE;
          g_clear_error (&local);
          local = sutra_contract_misuse_error (stage, &output);
        }
      else if (ok && output.items->len > 0)
        {
          batch->group_misused = TRUE;
          local = sutra_contract_error (stage,
                                        "%s pushed %u items; only gather_end pushes (the "
                                        "group's one output)",
                                        function, output.items->len);
        }
      else if (!ok && local == NULL)
        g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                     "plugin “%s” failed in %s without saying why (it returned %s but set "
                     "no error)",
                     stage->spec->plugin_name, function, adding ? "FALSE" : "NULL");
      sutra_output_clear (&output);
      if (local != NULL)
        {
          batch->group_error = g_steal_pointer (&local);
          sutra_call_gather_abort (stage, batch);
          return;
        }
      if (adding)
        return;
    }
}

/* Ends the group (gather_end), or reports the call that failed it before.
 * Returns the outputs, or NULL with @error (and *@misused when the plugin
 * misused the API). */
GPtrArray *
sutra_call_gather_end (StageRuntime *stage, Batch *batch, gboolean *misused, GError **error)
{
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  SutraOutput output;
  guint n_taken = 0;
  gboolean ok;

  *misused = batch->group_misused;
  if (batch->group_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&batch->group_error));
      return NULL;
    }
  /* The group's one place in max_in_flight is held for its end, where a
   * streaming gather does its work (its members came in as they passed). */
  if (!sutra_call_enter_flight (stage, 1, &n_taken, error))
    {
      sutra_call_gather_abort (stage, batch);
      return NULL;
    }
  sutra_output_init_collect (&output, &stage->run->abandoning);
  /* gather_end frees the group state, whatever it returns. */
  ok = sutra_executor_gather_end (batch->group_executor, g_steal_pointer (&batch->group),
                                  (guint) batch->n_streamed, &output, &local);
  sutra_call_leave_flight (stage, n_taken);
  COUNTER_ADD (stage->counters.busy_us, g_get_monotonic_time () - start);
  if (sutra_output_was_misused (&output))
    {
      *misused = TRUE;
      g_propagate_error (error, sutra_contract_misuse_error (stage, &output));
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

/* Frees the state of a group that will not end: it failed, the run stops,
 * or the store had its output. */
void
sutra_call_gather_abort (StageRuntime *stage, Batch *batch)
{
  if (batch->group != NULL)
    sutra_executor_gather_abort (batch->group_executor, g_steal_pointer (&batch->group));
}
