/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live display: items done, rate, ETA and queue fill for every stage. */

#include "sutra-progress.h"

#include <string.h>

#define REFRESH_US (250 * 1000)
#define EVENT_PERIOD_US (1000 * 1000)

struct _SutraProgress
{
  SutraRun *run;
  FILE *tty;
  FILE *events;
  GThread *thread;
  GMutex lock;
  GCond wake;
  gboolean stopping;
  guint lines_drawn;
  gint64 started_us;
  GMutex event_lock;
};

SutraProgress *
sutra_progress_new (SutraRun *run, FILE *tty, FILE *events)
{
  SutraProgress *progress = g_new0 (SutraProgress, 1);

  progress->run = run;
  progress->tty = tty;
  progress->events = events;
  progress->started_us = g_get_monotonic_time ();
  g_mutex_init (&progress->lock);
  g_mutex_init (&progress->event_lock);
  g_cond_init (&progress->wake);
  return progress;
}

void
sutra_progress_write_event (JsonObject *event, gpointer user_data)
{
  SutraProgress *progress = user_data;
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;

  if (progress->events == NULL)
    return;
  node = json_node_init_object (json_node_alloc (), event);
  /* "t": 1.25, not 1.2500000000000002. */
  text = sutra_json_to_data (node, FALSE, NULL);
  g_mutex_lock (&progress->event_lock);
  fprintf (progress->events, "%s\n", text);
  fflush (progress->events);
  g_mutex_unlock (&progress->event_lock);
}

static void
format_count (char *buffer, gsize size, double value)
{
  if (value >= 1e9)
    g_snprintf (buffer, size, "%.2fG", value / 1e9);
  else if (value >= 1e6)
    g_snprintf (buffer, size, "%.2fM", value / 1e6);
  else if (value >= 1e4)
    g_snprintf (buffer, size, "%.1fk", value / 1e3);
  else
    g_snprintf (buffer, size, "%.0f", value);
}

static void
format_duration (char *buffer, gsize size, double seconds)
{
  guint64 s = (guint64) (seconds + 0.5);

  if (s >= 3600)
    g_snprintf (buffer, size, "%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600, (guint) (s / 60 % 60),
                (guint) (s % 60));
  else
    g_snprintf (buffer, size, "%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

static const char *
state_mark (SutraStageState state)
{
  switch (state)
    {
    case SUTRA_STAGE_STATE_DONE:
      return "done";
    case SUTRA_STAGE_STATE_FAILED:
      return "FAILED";
    case SUTRA_STAGE_STATE_STOPPED:
      return "stopped";
    case SUTRA_STAGE_STATE_RUNNING:
      return "";
    default:
      return "waiting";
    }
}

/* One line: name, done/total, rate, ETA, queue bar. The slow stage is the
 * one whose input queue is full while the next one's is empty. */
static void
format_stage_line (GString *out, SutraStageStats *stats, gint64 now)
{
  gint64 end = stats->finished_us > 0 ? stats->finished_us : now;
  double seconds = MAX ((end - stats->started_us) / 1e6, 1e-6);
  double rate = stats->n_in / seconds;
  char done[32], total[32], rate_text[32], eta[32] = "";
  char bar[11];
  guint filled = stats->queue_capacity > 0
                   ? (guint) (10.0 * stats->queue_fill / stats->queue_capacity + 0.5)
                   : 0;
  guint64 processed = stats->n_in > 0 ? stats->n_in : stats->n_out;

  if (stats->n_in == 0)
    rate = stats->n_out / seconds;
  format_count (done, sizeof done, processed);
  format_count (rate_text, sizeof rate_text, rate);
  if (stats->n_total > 0)
    {
      format_count (total, sizeof total, stats->n_total);
      if (stats->state == SUTRA_STAGE_STATE_RUNNING && rate > 0 && stats->n_total > processed)
        {
          char duration[24];

          format_duration (duration, sizeof duration, (stats->n_total - processed) / rate);
          g_snprintf (eta, sizeof eta, "ETA %s", duration);
        }
    }
  else
    g_strlcpy (total, "?", sizeof total);
  for (guint i = 0; i < 10; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[10] = '\0';

  g_string_append_printf (out, "  %-14.14s %9s/%-9s %8s/s %-12s", stats->name, done, total,
                          rate_text, eta);
  if (stats->queue_capacity > 0)
    g_string_append_printf (out, " queue [%s] %u/%u", bar, stats->queue_fill,
                            stats->queue_capacity);
  else
    g_string_append (out, "                          ");
  if (stats->n_failed > 0)
    g_string_append_printf (out, "  %" G_GUINT64_FORMAT " failed", stats->n_failed);
  if (stats->n_cached > 0)
    g_string_append_printf (out, "  %" G_GUINT64_FORMAT " cached", stats->n_cached);
  g_string_append_printf (out, "  %s\n", state_mark (stats->state));
}

static void
draw (SutraProgress *progress)
{
  g_autoptr (GString) out = g_string_new (NULL);
  gint64 now = g_get_monotonic_time ();
  guint n = sutra_run_get_n_stages (progress->run);

  /* Move up over the previous table and redraw it in place. */
  if (progress->lines_drawn > 0)
    g_string_append_printf (out, "\033[%uA", progress->lines_drawn);
  for (guint i = 0; i < n; i++)
    {
      SutraStageStats stats;

      sutra_run_get_stats (progress->run, i, &stats);
      g_string_append (out, "\033[2K");
      format_stage_line (out, &stats, now);
    }
  progress->lines_drawn = n;
  fputs (out->str, progress->tty);
  fflush (progress->tty);
}

static void
write_progress_events (SutraProgress *progress)
{
  guint n = sutra_run_get_n_stages (progress->run);

  for (guint i = 0; i < n; i++)
    {
      SutraStageStats stats;
      JsonObject *event = json_object_new ();

      sutra_run_get_stats (progress->run, i, &stats);
      json_object_set_string_member (event, "event", "progress");
      json_object_set_string_member (event, "stage", stats.name);
      json_object_set_double_member (event, "t",
                                     (g_get_monotonic_time () - progress->started_us) / 1e6);
      json_object_set_int_member (event, "items_in", stats.n_in);
      json_object_set_int_member (event, "items_out", stats.n_out);
      json_object_set_int_member (event, "items_failed", stats.n_failed);
      json_object_set_int_member (event, "items_cached", stats.n_cached);
      if (stats.n_total > 0)
        json_object_set_int_member (event, "items_total", stats.n_total);
      json_object_set_int_member (event, "queue_fill", stats.queue_fill);
      json_object_set_int_member (event, "queue_capacity", stats.queue_capacity);
      sutra_progress_write_event (event, progress);
      json_object_unref (event);
    }
}

static gpointer
progress_thread (gpointer data)
{
  SutraProgress *progress = data;
  gint64 next_event = g_get_monotonic_time () + EVENT_PERIOD_US;

  g_mutex_lock (&progress->lock);
  while (!progress->stopping)
    {
      gint64 now;

      g_mutex_unlock (&progress->lock);
      now = g_get_monotonic_time ();
      if (progress->tty != NULL)
        draw (progress);
      if (progress->events != NULL && now >= next_event)
        {
          write_progress_events (progress);
          next_event = now + EVENT_PERIOD_US;
        }
      g_mutex_lock (&progress->lock);
      g_cond_wait_until (&progress->wake, &progress->lock, g_get_monotonic_time () + REFRESH_US);
    }
  g_mutex_unlock (&progress->lock);
  return NULL;
}

void
sutra_progress_start (SutraProgress *progress)
{
  JsonObject *event = json_object_new ();

  json_object_set_string_member (event, "event", "run-started");
  json_object_set_double_member (event, "t", 0);
  sutra_progress_write_event (event, progress);
  json_object_unref (event);
  if (progress->tty != NULL || progress->events != NULL)
    progress->thread = g_thread_new ("sutra-progress", progress_thread, progress);
}

void
sutra_progress_stop (SutraProgress *progress, gboolean succeeded, const char *message)
{
  JsonObject *event;

  g_mutex_lock (&progress->lock);
  progress->stopping = TRUE;
  g_cond_signal (&progress->wake);
  g_mutex_unlock (&progress->lock);
  if (progress->thread != NULL)
    g_thread_join (g_steal_pointer (&progress->thread));
  if (progress->tty != NULL)
    draw (progress);
  if (progress->events != NULL)
    write_progress_events (progress);

  event = json_object_new ();
  json_object_set_string_member (event, "event", "run-finished");
  json_object_set_double_member (event, "t",
                                 (g_get_monotonic_time () - progress->started_us) / 1e6);
  json_object_set_boolean_member (event, "ok", succeeded);
  if (message != NULL)
    json_object_set_string_member (event, "message", message);
  sutra_progress_write_event (event, progress);
  json_object_unref (event);
}

void
sutra_progress_free (SutraProgress *progress)
{
  if (progress == NULL)
    return;
  g_mutex_clear (&progress->lock);
  g_mutex_clear (&progress->event_lock);
  g_cond_clear (&progress->wake);
  g_free (progress);
}

void
sutra_progress_print_summary (SutraRun *run, FILE *out)
{
  g_autoptr (GString) text = g_string_new (NULL);
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < sutra_run_get_n_stages (run); i++)
    {
      SutraStageStats stats;

      sutra_run_get_stats (run, i, &stats);
      format_stage_line (text, &stats, now);
    }
  fputs (text->str, out);
}
