/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workers: one plugin instance each, behind its executor, on its device;
 * a stage's workers, the worker loop, and the last worker out finishing
 * the stage. */

#include "sutra-worker.h"

#include "sutra-batch-runner.h"
#include "sutra-contract.h"
#include "sutra-devices.h"
#include "sutra-edge.h"
#include "sutra-executor-private.h"
#include "sutra-intake.h"
#include "sutra-registry.h"
#include "sutra-reorder.h"
#include "sutra-source-runner.h"

#include <errno.h>
#include <string.h>

/* The worker object ------------------------------------------------------ */

guint
sutra_worker_count_instances (SutraThreading threading, guint n_workers, guint n_devices)
{
  if (threading == SUTRA_THREADING_PER_WORKER)
    return MAX (n_workers, 1);
  /* A shared instance serves every worker, but one instance serves one
   * device only: one per device (no more than there are workers to use
   * them). */
  return MAX (MIN (n_devices, n_workers), 1);
}

const char *
sutra_worker_assign_device (char *const *devices, guint index)
{
  guint n_devices = devices != NULL ? g_strv_length ((char **) devices) : 0;

  return n_devices > 0 ? devices[index % n_devices] : "cpu";
}

SutraWorker *
sutra_worker_new (guint index,
                  char *const *devices,
                  SutraIsolation isolation,
                  const SutraExecutorConfig *config,
                  gboolean *misused,
                  GError **error)
{
  return sutra_worker_new_on_device (index, sutra_worker_assign_device (devices, index), isolation,
                                     config, misused, error);
}

SutraWorker *
sutra_worker_new_on_device (guint index,
                            const char *device,
                            SutraIsolation isolation,
                            const SutraExecutorConfig *config,
                            gboolean *misused,
                            GError **error)
{
  g_autoptr (SutraWorker) worker = g_new0 (SutraWorker, 1);
  SutraExecutorConfig mine = *config;

  if (misused != NULL)
    *misused = FALSE;
  worker->index = index;
  worker->device = g_strdup (device);
  if (!sutra_device_parse (worker->device, &worker->device_index))
    {
      /* Validation refuses such names: this is a caller's mistake. */
      g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED,
                   "device “%s” is not “cpu” or “cuda:N”", worker->device);
      return NULL;
    }
  mine.context.worker_index = index;
  mine.context.device = worker->device;
  mine.context.device_index = worker->device_index;
  worker->executor = sutra_executor_new (isolation, &mine, misused, error);
  if (worker->executor == NULL)
    return NULL;
  return g_steal_pointer (&worker);
}

void
sutra_worker_free (SutraWorker *worker)
{
  if (worker == NULL)
    return;
  sutra_executor_free (worker->executor);
  g_free (worker->device);
  g_free (worker);
}

const SutraStageContext *
sutra_worker_get_context (SutraWorker *worker)
{
  /* The executor's copy: the one the plugin's create was given. */
  return &worker->executor->config.context;
}

/* A stage's workers -------------------------------------------------------- */

/* Makes worker @index of @stage on @device, with the stage's resume state. */
static SutraWorker *
worker_new_for_stage (StageRuntime *stage,
                      guint index,
                      const char *device,
                      gboolean *misused,
                      GError **error)
{
  SutraStageSpec *spec = stage->spec;
  SutraExecutorConfig config = {
    .info = spec->info,
    .plugin_path = spec->plugin != NULL ? spec->plugin->path : NULL,
    .plugin_name = spec->plugin_name,
    .resolved_params = spec->resolved_params,
    .settings = sutra_settings_get_data (spec->settings),
    .context = {
      .stage_name = spec->name,
      .n_workers = spec->workers,
      .max_in_flight = spec->max_in_flight,
      .requests_per_second = spec->rate_limits.requests_per_second,
      .work_dir = stage->workers.work_dir,
      .resume_state = stage->checkpoint != NULL
                        ? sutra_checkpoint_stage_get_resume_state (stage->checkpoint)
                        : NULL,
    },
    .timeout_ms = spec->timeout_ms,
    .cancelled = &stage->run->abandoning,
  };

  return sutra_worker_new_on_device (index, device, spec->isolation, &config, misused, error);
}

/* Tells the user and the event stream that @stage runs on the CPU what the
 * file gave a GPU: on the terminal (a run that is slower than expected
 * should say why) and as a "device-fallback" event (with "device" when
 * @device is not NULL). */
static void
warn_device_fallback (StageRuntime *stage, const char *device, const char *message)
{
  JsonObject *event = sutra_run_stage_event (stage, "device-fallback");

  g_printerr ("sutra: warning: %s\n", message);
  if (device != NULL)
    json_object_set_string_member (event, "device", device);
  json_object_set_string_member (event, "fallback", "cpu");
  json_object_set_string_member (event, "message", message);
  sutra_run_emit_event (stage->run, event);
}

/* The stage's work directory. With a job it is the job's own
 * (JOB/work/STAGE, absolute) and lasts as long as the job: an output may
 * name a file there (the segmenter's extracted cover), and a later run of
 * the job that replays that output from the store must still find it. A
 * temporary directory would be another one each run, and gone after a
 * reboot. Without a job nothing is kept: a temporary directory, which
 * stage_free() in sutra-run.c removes with what is in it. */
static char *
make_work_dir (StageRuntime *stage, GError **error)
{
  g_autofree char *job_dir = NULL;
  g_autofree char *dir = NULL;
  GString *name;

  if (stage->run->job == NULL)
    {
      stage->workers.work_dir_is_temporary = TRUE;
      return g_dir_make_tmp ("sutra-stage-XXXXXX", error);
    }
  /* A stage's name may hold any character: keep it readable, but never
   * let it name another directory ("..", "a/b"). Two names that differ
   * only there ("a.b", "a_b") share a directory, which is harmless to
   * stages that name their files by content or make them unique. */
  name = g_string_new (NULL);
  for (const char *c = stage->spec->name; *c != '\0'; c++)
    g_string_append_c (name, g_ascii_isalnum (*c) || *c == '-' || *c == '_' ? *c : '_');
  job_dir = g_canonicalize_filename (stage->run->job->dir, NULL);
  dir = g_build_filename (job_dir, "work", name->str, NULL);
  g_string_free (name, TRUE);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot make the work directory %s of stage “%s”: %s", dir, stage->spec->name,
                   g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&dir);
}

/* Creates the workers' instances on the main thread before any worker
 * starts, so that a stage that cannot start fails the run before anything
 * runs. Devices go to the instances round-robin. */
gboolean
sutra_worker_create_instances (StageRuntime *stage, GError **error)
{
  SutraStageSpec *spec = stage->spec;
  guint n_devices = spec->devices != NULL ? g_strv_length (spec->devices) : 0;
  /* A worker process serves one call at a time: one per worker, whatever
   * the plugin's threading (a shared instance would be one process called
   * from every worker thread at once). */
  guint n_instances =
    spec->isolation == SUTRA_ISOLATION_PROCESS
      ? MAX (spec->workers, 1)
      : sutra_worker_count_instances (spec->info->threading, spec->workers, n_devices);

  stage->workers.work_dir = make_work_dir (stage, error);
  if (stage->workers.work_dir == NULL)
    return FALSE;
  /* What validation changed (a GPU not there, replaced by the CPU): the
   * message, which has the file position, names the device. */
  for (guint i = 0; spec->device_warnings != NULL && i < spec->device_warnings->len; i++)
    warn_device_fallback (stage, NULL, spec->device_warnings->pdata[i]);
  for (guint w = 0; w < n_instances; w++)
    {
      g_autoptr (GError) local = NULL;
      gboolean misused = FALSE;
      const char *device = sutra_worker_assign_device (spec->devices, w);
      SutraWorker *worker = worker_new_for_stage (stage, w, device, &misused, &local);

      if (worker == NULL && !misused && stage->checkpoint != NULL &&
          sutra_checkpoint_stage_get_resume_state (stage->checkpoint) != NULL)
        {
          /* The sink cannot pick up where it was (its partial output is
           * gone): write its output anew. */
          g_printerr ("sutra: stage “%s”: cannot resume (%s); writing its output anew\n",
                      spec->name, local->message);
          g_clear_error (&local);
          sutra_checkpoint_stage_forget_resume (stage->checkpoint);
          worker = worker_new_for_stage (stage, w, device, &misused, &local);
        }
      /* A GPU that is there but cannot take the instance (no kernel built
       * in, out of memory, a driver too old): the CPU, when the file says
       * so. An instance that broke an API rule is the plugin's fault, not
       * the device's: that fails the run wherever it runs. */
      if (worker == NULL && !misused && spec->device_fallback && strcmp (device, "cpu") != 0)
        {
          g_autofree char *message =
            g_strdup_printf ("stage “%s”: worker %u could not start on “%s” (%s): it runs on "
                             "the CPU (\"device_fallback\": \"cpu\")",
                             spec->name, w, device, local->message);

          warn_device_fallback (stage, device, message);
          g_clear_error (&local);
          worker = worker_new_for_stage (stage, w, "cpu", &misused, &local);
        }
      if (worker == NULL && misused)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      if (worker == NULL)
        {
          gboolean could_fall_back = strcmp (device, "cpu") != 0 && !spec->device_fallback &&
                                     (spec->info->devices & SUTRA_DEVICE_CPU);

          g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED,
                       "stage “%s” (plugin “%s”) could not start: %s%s", spec->name,
                       spec->plugin_name, local->message,
                       could_fall_back ? " (to run on the CPU what cannot start on its GPU, add "
                                         "\"device_fallback\": \"cpu\" to the stage)"
                                       : "");
          return FALSE;
        }
      g_ptr_array_add (stage->workers.list, worker);
    }
  return TRUE;
}

/* The executor that thread-pool worker @index uses: its own, or a shared
 * instance's. */
static SutraWorker *
worker_for (StageRuntime *stage, guint index)
{
  return stage->workers.list->pdata[index % stage->workers.list->len];
}

JsonObject *
sutra_worker_dup_device_counts (StageRuntime *stage)
{
  JsonObject *counts;

  if (stage->spec->devices == NULL || stage->workers.list == NULL || stage->workers.list->len == 0)
    return NULL;
  counts = json_object_new ();
  /* Several instances may share a device (a per-worker stage with more
   * workers than devices): their items add up. */
  for (guint i = 0; i < stage->workers.list->len; i++)
    {
      SutraWorker *worker = stage->workers.list->pdata[i];
      gint64 before = json_object_get_int_member_with_default (counts, worker->device, 0);

      json_object_set_int_member (counts, worker->device,
                                  before + (gint64) COUNTER_GET (worker->n_items));
    }
  return counts;
}

char *
sutra_worker_format_device_counts (JsonObject *counts)
{
  GString *text = g_string_new (NULL);
  g_autoptr (GList) members = json_object_get_members (counts);

  for (GList *l = members; l != NULL; l = l->next)
    g_string_append_printf (text, "%s%s %" G_GINT64_FORMAT, l != members ? ", " : "",
                            (const char *) l->data, json_object_get_int_member (counts, l->data));
  return g_string_free (text, FALSE);
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

      for (guint i = 0; i < stage->workers.list->len && ok; i++)
        {
          SutraWorker *worker = stage->workers.list->pdata[i];
          SutraOutput output;
          g_autoptr (GError) local = NULL;
          gboolean finished;

          sutra_output_init_collect (&output, &run->abandoning);
          finished = sutra_executor_finish (worker->executor, &output, &local);
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
  if (stage->info->kind == SUTRA_STAGE_SINK && stage->checkpoint != NULL &&
      !g_atomic_int_get (&run->abandoning))
    {
      g_autoptr (GError) local = NULL;

      /* Finished: the sink's output is complete. Stopped: make what it
       * wrote durable and say where to resume. */
      if (!sutra_checkpoint_sink (stage->checkpoint, TRUE, ok, &local))
        {
          sutra_run_fail (run, g_steal_pointer (&local));
          ok = FALSE;
        }
    }
  if (stage->checkpoint != NULL)
    {
      g_autoptr (JsonObject) devices = sutra_worker_dup_device_counts (stage);
      SutraStageStats stats;

      if (devices != NULL)
        sutra_checkpoint_stage_set_devices (stage->checkpoint, devices);
      sutra_run_get_stats (run, stage->spec->index, &stats);
      sutra_checkpoint_stage_finished (stage->checkpoint,
                                       ok                   ? "done"
                                       : run->error != NULL ? "failed"
                                                            : "stopped",
                                       &stats,
                                       (g_get_monotonic_time () - stage->counters.started_us) /
                                         1e6);
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
  if (stage->memo != NULL)
    {
      json_object_set_int_member (event, "cache_hits", COUNTER_GET (stage->counters.n_memo_hits));
      json_object_set_int_member (event, "cache_misses",
                                  COUNTER_GET (stage->counters.n_memo_misses));
    }
  json_object_set_string_member (event, "state",
                                 ok                   ? "done"
                                 : run->error != NULL ? "failed"
                                                      : "stopped");
  {
    JsonObject *devices = sutra_worker_dup_device_counts (stage);

    if (devices != NULL)
      json_object_set_object_member (event, "devices", devices);
  }
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
  SutraWorker *worker = worker_for (stage, GPOINTER_TO_UINT (data) - 1);
  SutraExecutor *executor = worker->executor;
  Batch batch = { 0 };

  if (stage->info->kind == SUTRA_STAGE_SOURCE)
    {
      sutra_source_runner_run (stage, executor);
      COUNTER_ADD (worker->n_items, COUNTER_GET (stage->counters.n_out));
    }
  else
    while (sutra_intake_take_batch (stage, executor, &batch))
      {
        g_autoptr (GError) local = NULL;
        gboolean flusher = FALSE;
        GPtrArray *outputs = sutra_batch_runner_run (stage, executor, &batch, &flusher, &local);

        if (outputs == NULL)
          {
            sutra_run_fail (stage->run, g_steal_pointer (&local));
            sutra_intake_clear_batch (stage, &batch);
            break;
          }
        /* Items taken from the store ran on no device this time. */
        COUNTER_ADD (worker->n_items, batch.n_computed);
        sutra_reorder_deposit (stage, batch.seq, outputs, flusher);
        sutra_intake_clear_batch (stage, &batch);
      }
  sutra_intake_free_batch (stage, &batch);

  if (g_atomic_int_dec_and_test (&stage->workers.n_alive))
    stage_finish (stage);
}
