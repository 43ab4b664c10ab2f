/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stage's workers: their plugin instances, the worker loop, and the last
 * worker out finishing the stage. */

#include "sutra-worker.h"

#include "sutra-batch-runner.h"
#include "sutra-contract.h"
#include "sutra-edge.h"
#include "sutra-intake.h"
#include "sutra-reorder.h"
#include "sutra-source-runner.h"

#include <stdlib.h>

/* Creates the instances on the main thread before any worker starts, so
 * that a stage that cannot start fails the run before anything runs. */
gboolean
sutra_worker_create_instances (StageRuntime *stage, GError **error)
{
  SutraStageSpec *spec = stage->spec;
  guint n_instances = spec->info->threading == SUTRA_THREADING_PER_WORKER ? spec->workers : 1;
  g_autoptr (GError) local = NULL;

  stage->workers.work_dir = g_dir_make_tmp ("sutra-stage-XXXXXX", error);
  if (stage->workers.work_dir == NULL)
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
      g_ptr_array_add (stage->workers.device_names, g_strdup (device));
      *context = (SutraStageContext){
        .stage_name = spec->name,
        .worker_index = w,
        .n_workers = spec->workers,
        .device = stage->workers.device_names->pdata[stage->workers.device_names->len - 1],
        .device_index = device_index,
        .work_dir = stage->workers.work_dir,
        .resume_state = stage->checkpoint.resume_state,
      };
      g_ptr_array_add (stage->workers.contexts, context);
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
              g_propagate_error (error, sutra_contract_misuse_error (stage, &calls));
              return FALSE;
            }
          if (instance == NULL && stage->checkpoint.resume_state != NULL)
            {
              /* The sink cannot pick up where it was (its partial output is
               * gone): write its output anew. */
              g_printerr ("sutra: stage “%s”: cannot resume (%s); writing its output anew\n",
                          spec->name, local != NULL ? local->message : "no reason given");
              g_clear_error (&local);
              g_clear_pointer (&stage->checkpoint.sink_done, g_hash_table_unref);
              g_clear_pointer (&stage->checkpoint.resume_state, g_free);
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
      g_ptr_array_add (stage->workers.instances, instance);
    }
  return TRUE;
}

static gpointer
instance_for (StageRuntime *stage, guint worker)
{
  if (stage->workers.instances->len == 0)
    return NULL;
  return stage->workers.instances->pdata[MIN (worker, stage->workers.instances->len - 1)];
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

      for (guint i = 0; i < stage->workers.instances->len && ok; i++)
        {
          SutraOutput output;
          g_autoptr (GError) local = NULL;

          gboolean finished;

          sutra_output_init_collect (&output, &run->abandoning);
          sutra_output_begin_call (&output);
          finished = stage->info->finish (stage->workers.instances->pdata[i], &output, &local);
          sutra_output_end_call (&output);
          if (sutra_output_was_misused (&output))
            {
              g_clear_error (&local);
              sutra_run_fail (run, sutra_contract_misuse_error (stage, &output));
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
        sutra_reorder_deposit (stage, stage->intake.next_seq++, outputs, FALSE);
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
                               ok ? stage->checkpoint.complete_key : NULL,
                               COUNTER_GET (stage->counters.n_in),
                               COUNTER_GET (stage->counters.n_out),
                               COUNTER_GET (stage->counters.n_failed),
                               COUNTER_GET (stage->counters.n_cached) +
                                 COUNTER_GET (stage->counters.n_resumed),
                               stats_total (stage),
                               (g_get_monotonic_time () - stage->counters.started_us) / 1e6);
      stage->checkpoint.final_state_recorded = TRUE;
      g_mutex_unlock (&run->progress_lock);
    }
  /* What this stage stored is complete: make it durable now, while the
   * stages downstream finish, rather than after them. */
  if (run->job != NULL && stage->checkpoint.checkpointing && stage->info->kind != SUTRA_STAGE_SINK)
    {
      g_mutex_lock (&run->commit_lock);
      g_cond_signal (&run->commit_wake);
      g_mutex_unlock (&run->commit_lock);
    }
  for (guint e = 0; e < stage->output.edges->len; e++)
    sutra_edge_close (&g_array_index (stage->output.edges, Edge, e));

  COUNTER_SET (stage->counters.finished_us, g_get_monotonic_time ());
  sutra_run_set_stage_state (stage, run->error != NULL && !ok     ? SUTRA_STAGE_STATE_FAILED
                                    : sutra_run_is_stopping (run) ? SUTRA_STAGE_STATE_STOPPED
                                                                  : SUTRA_STAGE_STATE_DONE);
  event = sutra_run_stage_event (stage, "stage-finished");
  json_object_set_int_member (event, "items_in", COUNTER_GET (stage->counters.n_in));
  json_object_set_int_member (event, "items_out", COUNTER_GET (stage->counters.n_out));
  json_object_set_int_member (event, "items_failed", COUNTER_GET (stage->counters.n_failed));
  json_object_set_double_member (event, "seconds",
                                 (stage->counters.finished_us - stage->counters.started_us) / 1e6);
  json_object_set_double_member (event, "busy_seconds",
                                 COUNTER_GET (stage->counters.busy_us) / 1e6);
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

void
sutra_worker_main (gpointer data, gpointer user_data)
{
  StageRuntime *stage = user_data;
  guint worker = GPOINTER_TO_UINT (data) - 1;
  gpointer instance = instance_for (stage, worker);
  Batch batch = { 0 };

  if (stage->info->kind == SUTRA_STAGE_SOURCE)
    sutra_source_runner_run (stage, instance);
  else
    while (sutra_intake_take_batch (stage, instance, &batch))
      {
        g_autoptr (GError) local = NULL;
        gboolean flusher = FALSE;
        GPtrArray *outputs = sutra_batch_runner_run (stage, instance, &batch, &flusher, &local);

        if (outputs == NULL)
          {
            sutra_run_fail (stage->run, g_steal_pointer (&local));
            sutra_intake_clear_batch (stage, &batch);
            break;
          }
        sutra_reorder_deposit (stage, batch.seq, outputs, flusher);
        sutra_intake_clear_batch (stage, &batch);
      }

  if (g_atomic_int_dec_and_test (&stage->workers.n_alive))
    stage_finish (stage);
}
