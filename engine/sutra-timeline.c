/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The run's timeline: per stage counters and queue fill, sampled into the journal. */

#include "sutra-timeline.h"

#include <string.h>

struct _SutraTimeline
{
  SutraRun *run;
  SutraJournal *journal;
  SutraJournalRun *row;
  guint run_id;
  gint64 interval_us;
  guint max_samples;
  gint64 started_us; /* monotonic */
  GMutex lock;       /* guards what follows, and orders the samples */
  GCond wake;
  GThread *thread;
  gboolean stopping;
  guint64 next_seq; /* the tick of the next sample */
  guint64 stride;   /* ticks between samples */
  guint n_samples;  /* samples of the run kept in the journal */
};

static const char *
state_name (SutraStageState state)
{
  switch (state)
    {
    case SUTRA_STAGE_STATE_RUNNING:
      return "running";
    case SUTRA_STAGE_STATE_DONE:
      return "done";
    case SUTRA_STAGE_STATE_FAILED:
      return "failed";
    case SUTRA_STAGE_STATE_STOPPED:
      return "stopped";
    default:
      return "waiting";
    }
}

/* The command line as a shell would take it back; a report's reader can
 * run it again. /proc is Linux's; elsewhere the program's name must do. */
static char *
dup_command_line (void)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr (GString) line = g_string_new (NULL);

  if (!g_file_get_contents ("/proc/self/cmdline", &contents, &length, NULL) || length == 0)
    return g_strdup (g_get_prgname () != NULL ? g_get_prgname () : "");
  for (gsize at = 0; at < length; at += strlen (contents + at) + 1)
    {
      const char *arg = contents + at;
      gboolean plain = *arg != '\0';

      for (const char *c = arg; *c != '\0' && plain; c++)
        plain = g_ascii_isalnum (*c) || strchr ("-_./=:,+@%", *c) != NULL;
      if (line->len > 0)
        g_string_append_c (line, ' ');
      if (plain)
        g_string_append (line, arg);
      else
        {
          g_autofree char *quoted = g_shell_quote (arg);

          g_string_append (line, quoted);
        }
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* The paths the sources read and the sinks write, from the parameters
 * their tables flag as such. */
static void
collect_paths (SutraPipeline *pipeline, char **inputs, char **outputs)
{
  g_autoptr (GString) in = g_string_new (NULL);
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];

      if (spec->info == NULL || spec->info->params == NULL || spec->resolved_params == NULL)
        continue;
      for (const SutraParamInfo *param = spec->info->params; param->name != NULL; param++)
        {
          GString *list;
          const char *value;

          if (param->flags & SUTRA_PARAM_INPUT_PATH)
            list = in;
          else if (param->flags & (SUTRA_PARAM_OUTPUT_PATH | SUTRA_PARAM_OUTPUT_DIR))
            list = out;
          else
            continue;
          value =
            json_object_get_string_member_with_default (spec->resolved_params, param->name, NULL);
          if (value == NULL || *value == '\0')
            continue;
          g_string_append_printf (list, "%s%s", list->len > 0 ? "\n" : "", value);
        }
    }
  *inputs = g_string_free (g_steal_pointer (&in), FALSE);
  *outputs = g_string_free (g_steal_pointer (&out), FALSE);
}

SutraTimeline *
sutra_timeline_new (SutraRun *run,
                    SutraPipeline *pipeline,
                    SutraJournal *journal,
                    gint64 interval_us,
                    guint max_samples)
{
  SutraTimeline *timeline;

  g_return_val_if_fail (run != NULL && pipeline != NULL && journal != NULL, NULL);
  g_return_val_if_fail (interval_us > 0 && max_samples >= 2, NULL);
  timeline = g_new0 (SutraTimeline, 1);
  timeline->run = run;
  timeline->journal = journal;
  timeline->interval_us = interval_us;
  timeline->max_samples = max_samples;
  timeline->stride = 1;
  timeline->started_us = g_get_monotonic_time ();
  g_mutex_init (&timeline->lock);
  g_cond_init (&timeline->wake);
  timeline->run_id = sutra_journal_next_run_id (journal);
  timeline->row = g_new0 (SutraJournalRun, 1);
  timeline->row->started = g_get_real_time () / 1e6;
  timeline->row->state = g_strdup ("running");
  timeline->row->command = dup_command_line ();
  timeline->row->pipeline = g_strdup (pipeline->path);
  collect_paths (pipeline, &timeline->row->inputs, &timeline->row->outputs);
  return timeline;
}

guint
sutra_timeline_get_run_id (SutraTimeline *timeline)
{
  return timeline->run_id;
}

guint64
sutra_timeline_get_next_tick (SutraTimeline *timeline)
{
  guint64 tick;

  g_mutex_lock (&timeline->lock);
  tick = timeline->next_seq;
  g_mutex_unlock (&timeline->lock);
  return tick;
}

/* Call with the lock held. */
static void
sample_unlocked (SutraTimeline *timeline)
{
  double t = (g_get_monotonic_time () - timeline->started_us) / 1e6;
  guint n = sutra_run_get_n_stages (timeline->run);

  for (guint i = 0; i < n; i++)
    {
      SutraStageStats stats;
      SutraJournalSample sample = { 0 };

      sutra_run_get_stats (timeline->run, i, &stats);
      sample.t = t;
      g_strlcpy (sample.state, state_name (stats.state), sizeof sample.state);
      sample.n_in = stats.n_in;
      sample.n_out = stats.n_out;
      sample.n_failed = stats.n_failed;
      sample.n_cached = stats.n_cached + stats.n_resumed;
      sample.queue_fill = stats.queue_fill;
      sample.queue_capacity = stats.queue_capacity;
      sample.workers = stats.workers;
      sample.busy_us = stats.busy_us;
      sutra_journal_add_sample (timeline->journal, timeline->run_id, timeline->next_seq, stats.name,
                                &sample);
    }
  timeline->next_seq += timeline->stride;
  timeline->n_samples++;
  /* Halve the resolution: the samples kept are those on the new stride,
   * which the first (tick 0) always is, and so are all later ones. */
  if (timeline->n_samples >= timeline->max_samples)
    {
      timeline->stride *= 2;
      sutra_journal_thin_samples (timeline->journal, timeline->run_id, timeline->stride);
      timeline->n_samples = (timeline->n_samples + 1) / 2;
      if (timeline->next_seq % timeline->stride != 0)
        timeline->next_seq += timeline->stride / 2;
    }
}

void
sutra_timeline_sample (SutraTimeline *timeline)
{
  g_mutex_lock (&timeline->lock);
  sample_unlocked (timeline);
  g_mutex_unlock (&timeline->lock);
}

static gpointer
timeline_thread (gpointer data)
{
  SutraTimeline *timeline = data;

  g_mutex_lock (&timeline->lock);
  while (!timeline->stopping)
    {
      gint64 due = timeline->started_us + (gint64) timeline->next_seq * timeline->interval_us;

      if (g_get_monotonic_time () >= due)
        {
          sample_unlocked (timeline);
          continue;
        }
      g_cond_wait_until (&timeline->wake, &timeline->lock, due);
    }
  g_mutex_unlock (&timeline->lock);
  return NULL;
}

void
sutra_timeline_start (SutraTimeline *timeline)
{
  g_return_if_fail (timeline->thread == NULL);
  /* Recorded as running from here, not from sutra_timeline_new(): a run
   * that cannot start leaves no pending row that a later commit would
   * turn back into a running one. */
  sutra_journal_set_run (timeline->journal, timeline->run_id, timeline->row);
  timeline->thread = g_thread_new ("sutra-timeline", timeline_thread, timeline);
}

void
sutra_timeline_finish (SutraTimeline *timeline, const char *message)
{
  gboolean failed = message != NULL, stopped = FALSE;
  guint n = sutra_run_get_n_stages (timeline->run);

  g_mutex_lock (&timeline->lock);
  timeline->stopping = TRUE;
  g_cond_signal (&timeline->wake);
  g_mutex_unlock (&timeline->lock);
  if (timeline->thread != NULL)
    g_thread_join (g_steal_pointer (&timeline->thread));

  sutra_timeline_sample (timeline);
  for (guint i = 0; i < n; i++)
    {
      SutraStageStats stats;

      sutra_run_get_stats (timeline->run, i, &stats);
      failed |= stats.state == SUTRA_STAGE_STATE_FAILED;
      stopped |= stats.state == SUTRA_STAGE_STATE_STOPPED ||
                 stats.state == SUTRA_STAGE_STATE_RUNNING ||
                 stats.state == SUTRA_STAGE_STATE_WAITING;
    }
  g_free (timeline->row->state);
  timeline->row->state = g_strdup (failed ? "failed" : stopped ? "stopped" : "done");
  g_free (timeline->row->message);
  timeline->row->message = g_strdup (message);
  timeline->row->finished = g_get_real_time () / 1e6;
  sutra_journal_set_run (timeline->journal, timeline->run_id, timeline->row);
}

void
sutra_timeline_finish_unstarted (SutraTimeline *timeline, const char *message)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (timeline->thread == NULL);
  g_free (timeline->row->state);
  timeline->row->state = g_strdup ("failed");
  g_free (timeline->row->message);
  timeline->row->message = g_strdup (message);
  timeline->row->finished = g_get_real_time () / 1e6;
  /* Not being able to say so is no reason to hide why the run failed. */
  if (!sutra_journal_write_run (timeline->journal, timeline->run_id, timeline->row, &error))
    g_warning ("%s", error->message);
}

void
sutra_timeline_free (SutraTimeline *timeline)
{
  if (timeline == NULL)
    return;
  if (timeline->thread != NULL)
    {
      g_mutex_lock (&timeline->lock);
      timeline->stopping = TRUE;
      g_cond_signal (&timeline->wake);
      g_mutex_unlock (&timeline->lock);
      g_thread_join (g_steal_pointer (&timeline->thread));
    }
  sutra_journal_run_free (timeline->row);
  g_mutex_clear (&timeline->lock);
  g_cond_clear (&timeline->wake);
  g_free (timeline);
}
