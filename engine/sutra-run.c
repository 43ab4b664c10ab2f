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
 * Memory. Each input queue holds at most `queue` items and `queue_mb` MiB of
 * payload (a full queue blocks the upstream flush: backpressure), and a stage has at most `window`
 * batches in flight, so memory is bounded by queue sizes, never by input size.
 *
 * Groups. A split's outputs carry end-of-group markers: after the last child
 * of a parent, a marker with the parent's path and its number of children. A
 * gather is handed the members as they come (a streaming gather, which keeps
 * what it chooses) or all of them at the marker (one that sets process); the
 * marker ends the group. Maps pass markers through in place; sinks drop them.
 */

#include "sutra-run-private.h"

#include "sutra-edge.h"
#include "sutra-timeline.h"
#include "sutra-worker.h"

#include <glib/gstdio.h>

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

      g_mutex_lock (&stage->input.lock);
      g_cond_broadcast (&stage->input.items_ready);
      g_cond_broadcast (&stage->input.space_ready);
      g_mutex_unlock (&stage->input.lock);
      g_mutex_lock (&stage->output.lock);
      g_cond_broadcast (&stage->output.moved);
      g_mutex_unlock (&stage->output.lock);
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

void
sutra_run_record_failure (StageRuntime *stage,
                          Batch *batch,
                          const char *item_id,
                          const GError *error)
{
  SutraRun *run = stage->run;

  batch->n_failed++;
  if (stage->checkpoint != NULL)
    sutra_checkpoint_add_failure (stage->checkpoint, batch->has_key ? batch->key : NULL, item_id,
                                  error->message);
  JsonObject *event = sutra_run_stage_event (stage, "item-failed");

  g_mutex_lock (&run->lock);
  g_ptr_array_add (run->failures,
                   g_strdup_printf ("%s\t%s\t%s", stage->spec->name, item_id, error->message));
  g_mutex_unlock (&run->lock);
  COUNTER_ADD (stage->counters.n_failed, 1);
  json_object_set_string_member (event, "item", item_id);
  json_object_set_string_member (event, "message", error->message);
  sutra_run_emit_event (run, event);
}

/* Removes a run's temporary work directory and the files a stage left in
 * it (stages keep files there, not directories). */
static void
remove_work_dir (const char *work_dir)
{
  g_autoptr (GDir) dir = g_dir_open (work_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (work_dir, name, NULL);

      (void) g_remove (path);
    }
  (void) g_rmdir (work_dir);
}

static void
stage_free (StageRuntime *stage)
{
  if (stage->workers.pool != NULL)
    g_thread_pool_free (stage->workers.pool, FALSE, TRUE);
  /* Destroys the instances. */
  g_ptr_array_unref (stage->workers.list);
  for (guint r = 0; r < stage->input.n_rings; r++)
    {
      ItemRing *ring = &stage->input.rings[r];

      while (ring->count > 0)
        sutra_item_unref (sutra_ring_pop (ring));
      g_free (ring->slots);
    }
  g_free (stage->input.rings);
  for (guint i = 0; i < stage->output.window_size; i++)
    if (stage->output.window[i].items != NULL)
      g_ptr_array_unref (stage->output.window[i].items);
  g_free (stage->output.window);
  g_array_unref (stage->output.edges);
  /* A gather's open group holds its members (a run stopped mid-group). */
  for (guint i = 0; i < stage->intake.group->len; i++)
    sutra_item_unref (stage->intake.group->pdata[i]);
  g_ptr_array_unref (stage->intake.group);
  if (stage->workers.work_dir != NULL)
    {
      /* A job's work directory stays with the job (see make_work_dir in
       * sutra-worker.c), unless the stage left nothing there: no empty
       * JOB/work/STAGE for every stage. A run's own goes, with what the
       * stage left. */
      if (stage->workers.work_dir_is_temporary)
        remove_work_dir (stage->workers.work_dir);
      else if (g_rmdir (stage->workers.work_dir) == 0)
        {
          g_autofree char *parent = g_path_get_dirname (stage->workers.work_dir);

          (void) g_rmdir (parent);
        }
      g_free (stage->workers.work_dir);
    }
  g_mutex_clear (&stage->input.lock);
  g_mutex_clear (&stage->intake.lock);
  g_mutex_clear (&stage->output.lock);
  sutra_rate_limiter_free (stage->workers.rate_limiter);
  sutra_memo_free (stage->memo);
  sutra_flight_limiter_free (stage->workers.flight);
  g_cond_clear (&stage->input.items_ready);
  g_cond_clear (&stage->input.space_ready);
  g_cond_clear (&stage->output.moved);
  g_free (stage);
}

SutraRun *
sutra_run_new (SutraPipeline *pipeline)
{
  SutraRun *run = g_new0 (SutraRun, 1);

  run->pipeline = pipeline;
  run->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) stage_free);
  run->failures = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&run->lock);
  g_mutex_init (&run->event_lock);
  g_cond_init (&run->done);

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      StageRuntime *stage = g_new0 (StageRuntime, 1);

      stage->run = run;
      stage->spec = spec;
      stage->info = spec->info;
      g_mutex_init (&stage->input.lock);
      g_mutex_init (&stage->intake.lock);
      g_mutex_init (&stage->output.lock);
      stage->workers.rate_limiter = sutra_rate_limiter_new (&spec->rate_limits);
      stage->workers.flight = sutra_flight_limiter_new (spec->max_in_flight);
      g_cond_init (&stage->input.items_ready);
      g_cond_init (&stage->input.space_ready);
      g_cond_init (&stage->output.moved);
      stage->input.n_rings = spec->inputs->len;
      stage->input.rings = g_new0 (ItemRing, MAX (stage->input.n_rings, 1));
      for (guint r = 0; r < stage->input.n_rings; r++)
        {
          stage->input.rings[r].capacity = spec->queue;
          stage->input.rings[r].capacity_bytes = (guint64) spec->queue_mb << 20;
          stage->input.rings[r].slots = g_new (SutraItem *, spec->queue);
        }
      /* Twice the workers: every worker can hold a batch while as many
       * finished ones wait for a slow one ahead of them. */
      stage->output.window_size = 2 * spec->workers + 1;
      stage->output.window = g_new0 (WindowSlot, stage->output.window_size);
      stage->output.edges = g_array_new (FALSE, FALSE, sizeof (Edge));
      stage->intake.group = g_ptr_array_new ();
      stage->intake.gather_level = -1;
      stage->input.want = 1;
      stage->workers.list = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_worker_free);
      stage->counters.state = SUTRA_STAGE_STATE_WAITING;
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

          g_array_append_val (source->output.edges, edge);
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
  /* Last: items (in the stages' queues until now) point at its lineages. */
  sutra_checkpoint_free (run->checkpoint);
  g_ptr_array_unref (run->failures);
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

void
sutra_run_set_job (SutraRun *run, SutraJob *job)
{
  run->job = job;
}

/* The checkpoint's callbacks: how it reports to the run, and the sink
 * syncs it asks for. */
static void
checkpoint_event (JsonObject *event, gpointer user_data)
{
  sutra_run_emit_event (user_data, event);
}

static void
checkpoint_fail (GError *error, gpointer user_data)
{
  sutra_run_fail (user_data, error);
}

static void
checkpoint_get_stats (guint stage, SutraStageStats *stats, gpointer user_data)
{
  sutra_run_get_stats (user_data, stage, stats);
}

/* A sink's sync, where it has one instance to ask. */
static gboolean
checkpoint_sync_prepare (guint index, char **state, GError **error, gpointer user_data)
{
  SutraRun *run = user_data;
  StageRuntime *stage = run->stages->pdata[index];

  *state = NULL;
  if ((stage->info->sync == NULL && stage->info->sync_prepare == NULL) ||
      stage->workers.list->len != 1)
    return TRUE;
  return sutra_executor_sync (((SutraWorker *) stage->workers.list->pdata[0])->executor, state,
                              error);
}

/* A two-phase sink's commit, once the journal recorded @state. */
static void
checkpoint_sync_commit (guint index, const char *state, gpointer user_data)
{
  SutraRun *run = user_data;
  StageRuntime *stage = run->stages->pdata[index];

  if (stage->info->sync_commit == NULL || stage->workers.list->len != 1)
    return;
  sutra_executor_sync_commit (((SutraWorker *) stage->workers.list->pdata[0])->executor, state);
}

/* A map cached by content gets its memo in the job's store, keyed by
 * the job's fingerprint of the stage (which holds its plugin's salt:
 * sutra_job_open()). The lookups happen in the scheduler, before the
 * executor, whatever the stage's isolation. Without a job there is no
 * store, and nothing is cached: a --no-job run keeps nothing, and reads
 * nothing either; nor does a stage whose outputs are not to be stored
 * ("checkpoint": false). */
static void
open_memo (SutraRun *run, StageRuntime *stage)
{
  if (run->job == NULL || !stage->spec->cache_content || !stage->spec->checkpoint ||
      stage->info->kind != SUTRA_STAGE_MAP)
    return;
  stage->memo =
    sutra_memo_new (run->job->store,
                    run->job->fingerprints + (gsize) stage->spec->index * SUTRA_DIGEST_SIZE, NULL,
                    stage->info->cache_meta_keys);
}

gboolean
sutra_run_execute (SutraRun *run, GError **error)
{
  g_autoptr (SutraTimeline) timeline = NULL;
  gboolean committed = TRUE;

  run->started_us = g_get_monotonic_time ();
  if (run->job != NULL)
    {
      static const SutraCheckpointCallbacks callbacks = {
        .event = checkpoint_event,
        .fail = checkpoint_fail,
        .get_stats = checkpoint_get_stats,
        .sync_prepare = checkpoint_sync_prepare,
        .sync_commit = checkpoint_sync_commit,
      };
      g_autoptr (GError) local = NULL;

      run->checkpoint = sutra_checkpoint_new (run->pipeline, run->job, &callbacks, run, &local);
      if (run->checkpoint == NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      for (guint i = 0; i < run->stages->len; i++)
        ((StageRuntime *) run->stages->pdata[i])->checkpoint =
          sutra_checkpoint_get_stage (run->checkpoint, i);
      timeline = sutra_timeline_new (run, run->pipeline, run->job->journal,
                                     SUTRA_TIMELINE_INTERVAL_US, SUTRA_TIMELINE_MAX_SAMPLES);
    }

  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      g_autoptr (GError) local = NULL;

      if (!stage_is_skipped (stage))
        open_memo (run, stage);
      if (!stage_is_skipped (stage) && !sutra_worker_create_instances (stage, &local))
        {
          if (timeline != NULL)
            sutra_timeline_finish_unstarted (timeline, local->message);
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
  if (run->job != NULL)
    {
      sutra_checkpoint_start (run->checkpoint);
      sutra_timeline_start (timeline);
    }

  for (guint i = 0; i < run->stages->len; i++)
    {
      StageRuntime *stage = run->stages->pdata[i];
      JsonObject *event;

      if (stage_is_skipped (stage))
        {
          /* Up to date: nothing to run. */
          event = sutra_run_stage_event (stage, "stage-up-to-date");
          sutra_run_emit_event (run, event);
          stage->counters.started_us = stage->counters.finished_us = g_get_monotonic_time ();
          sutra_run_set_stage_state (stage, SUTRA_STAGE_STATE_DONE);
          g_mutex_lock (&run->lock);
          run->n_done++;
          g_mutex_unlock (&run->lock);
          continue;
        }
      event = sutra_run_stage_event (stage, "stage-started");

      json_object_set_string_member (event, "plugin", stage->spec->plugin_name);
      json_object_set_int_member (event, "workers", stage->spec->workers);
      sutra_run_emit_event (run, event);
      stage->counters.started_us = g_get_monotonic_time ();
      sutra_run_set_stage_state (stage, SUTRA_STAGE_STATE_RUNNING);
      stage->workers.n_alive = stage->spec->workers;
      stage->workers.pool =
        g_thread_pool_new (sutra_worker_main, stage, stage->spec->workers, TRUE, NULL);
      for (guint w = 0; w < stage->spec->workers; w++)
        g_thread_pool_push (stage->workers.pool, GUINT_TO_POINTER (w + 1), NULL);
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

      if (stage->workers.pool != NULL)
        g_thread_pool_free (stage->workers.pool, FALSE, TRUE);
      stage->workers.pool = NULL;
    }

  /* Its last rows go with the final commit. */
  if (timeline != NULL)
    sutra_timeline_finish (timeline, run->error != NULL ? run->error->message : NULL);
  if (run->checkpoint != NULL)
    {
      g_autoptr (GError) commit_error = NULL;

      /* Everything finished, also on a stop: make it durable. */
      if (!sutra_checkpoint_finish (run->checkpoint, &commit_error))
        {
          committed = FALSE;
          if (run->error == NULL)
            run->error = g_steal_pointer (&commit_error);
        }
    }
  if (run->checkpoint != NULL && committed && run->error == NULL && !sutra_run_is_stopping (run))
    {
      g_autoptr (GError) shard_error = NULL;

      if (!sutra_checkpoint_finish_shard (run->checkpoint, &shard_error))
        run->error = g_steal_pointer (&shard_error);
    }

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

char *
sutra_run_dup_device_summary (SutraRun *run, guint stage_index)
{
  g_autoptr (JsonObject) counts = NULL;

  g_return_val_if_fail (stage_index < run->stages->len, NULL);
  counts = sutra_worker_dup_device_counts (run->stages->pdata[stage_index]);
  return counts != NULL ? sutra_worker_format_device_counts (counts) : NULL;
}

void
sutra_run_get_stats (SutraRun *run, guint index, SutraStageStats *stats)
{
  StageRuntime *stage = run->stages->pdata[index];

  *stats = (SutraStageStats){
    .name = stage->spec->name,
    .state = g_atomic_int_get ((gint *) &stage->counters.state),
    .n_in = COUNTER_GET (stage->counters.n_in),
    .n_out = COUNTER_GET (stage->counters.n_out),
    .n_failed = COUNTER_GET (stage->counters.n_failed),
    .n_cached = COUNTER_GET (stage->counters.n_cached),
    .n_resumed = COUNTER_GET (stage->counters.n_resumed),
    .n_elsewhere = COUNTER_GET (stage->counters.n_elsewhere),
    .cache_hits = COUNTER_GET (stage->counters.n_memo_hits),
    .cache_misses = COUNTER_GET (stage->counters.n_memo_misses),
    .skipped = stage_is_skipped (stage),
    .n_total = COUNTER_GET (stage->counters.n_total),
    .queue_fill = MAX (g_atomic_int_get (&stage->input.fill), 0),
    .queue_max_fill = stage->input.max_fill,
    .queue_capacity = stage->input.n_rings * stage->spec->queue,
    .workers = stage->spec->workers,
    .started_us = stage->counters.started_us,
    .finished_us = COUNTER_GET (stage->counters.finished_us),
    .busy_us = COUNTER_GET (stage->counters.busy_us),
  };
  sutra_split_counters_get (&stage->counters.split, &stats->split);
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
