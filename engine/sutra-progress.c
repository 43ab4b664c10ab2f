/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The display thread: samples a run's counters, redraws the table on a
 * terminal or prints a log line, and writes progress events. */

#include "sutra-progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REFRESH_US (250 * 1000)
#define EVENT_PERIOD_US (1000 * 1000)
#define LOG_PERIOD_US (SUTRA_PROGRESS_LOG_PERIOD_S * G_USEC_PER_SEC)

struct _SutraProgress
{
  SutraRun *run;
  FILE *tty;
  FILE *log;
  FILE *events;
  GThread *thread;
  GMutex lock; /* stopping, wake */
  GCond wake;
  gboolean stopping;
  /* The view and the terminal: the display thread, notices (any thread)
   * and g_printerr() all write there, one at a time. */
  GRecMutex draw_lock; /* recursive: a GLib warning while drawing comes back here */
  SutraProgressView *view;
  guint lines_drawn; /* the table's lines on the terminal, above the cursor */
  gint64 started_us;
  GMutex event_lock;
  GPrintFunc previous_printerr;
  GLogFunc previous_log;
};

/* g_printerr() has no user data: the one display running. */
static SutraProgress *printerr_target;

SutraProgress *
sutra_progress_new (SutraRun *run, SutraPipeline *pipeline, FILE *tty, FILE *log, FILE *events)
{
  SutraProgress *progress = g_new0 (SutraProgress, 1);

  progress->run = run;
  progress->tty = tty;
  progress->log = log;
  progress->events = events;
  progress->started_us = g_get_monotonic_time ();
  progress->view = sutra_progress_view_new ();
  g_mutex_init (&progress->lock);
  g_rec_mutex_init (&progress->draw_lock);
  g_mutex_init (&progress->event_lock);
  g_cond_init (&progress->wake);

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      g_autofree guint *inputs = g_new (guint, MAX (spec->inputs->len, 1));

      for (guint k = 0; k < spec->inputs->len; k++)
        inputs[k] = ((SutraStageSpec *) spec->inputs->pdata[k])->index;
      sutra_progress_view_add_stage (progress->view, spec->name, spec->info->kind, inputs,
                                     spec->inputs->len);
      /* What the run writes: the parameters that name an output. */
      for (const SutraParamInfo *param = spec->info->params; param != NULL && param->name != NULL;
           param++)
        {
          const char *path;

          if (!(param->flags & (SUTRA_PARAM_OUTPUT_PATH | SUTRA_PARAM_OUTPUT_DIR)) ||
              spec->resolved_params == NULL ||
              !json_object_has_member (spec->resolved_params, param->name))
            continue;
          path =
            json_object_get_string_member_with_default (spec->resolved_params, param->name, NULL);
          if (path == NULL || path[0] == '\0')
            continue;
          if (param->flags & SUTRA_PARAM_OUTPUT_DIR && !g_str_has_suffix (path, "/"))
            {
              g_autofree char *dir = g_strconcat (path, "/", NULL);

              sutra_progress_view_add_output (progress->view, dir);
            }
          else
            sutra_progress_view_add_output (progress->view, path);
        }
    }
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

/* Takes the run's counters into the view; call with draw_lock held. */
static void
sample_unlocked (SutraProgress *progress)
{
  guint n = sutra_run_get_n_stages (progress->run);
  g_autofree SutraStageStats *stats = g_new0 (SutraStageStats, MAX (n, 1));

  for (guint i = 0; i < n; i++)
    sutra_run_get_stats (progress->run, i, &stats[i]);
  sutra_progress_view_update (progress->view, stats, g_get_monotonic_time ());
}

/* Moves back to the table's first line and clears to the end of the
 * screen: the table, and whatever the terminal echoed below it (a "^C").
 * From the line's start: an echo may have moved the cursor right. */
static void
append_erase (SutraProgress *progress, GString *out)
{
  g_string_append_c (out, '\r');
  if (progress->lines_drawn > 0)
    g_string_append_printf (out, "\033[%uA", progress->lines_drawn);
  g_string_append (out, "\033[J");
  progress->lines_drawn = 0;
}

static void
append_table (SutraProgress *progress, GString *out)
{
  struct winsize size = { 0 };
  guint width = 80, height = 24;
  g_autofree char *table = NULL;

  /* Asked at every frame: the terminal may have been resized. Lines are
   * cut to its width, since a wrapped line would break the count of
   * lines to move up over, and the table then repeat itself down the
   * screen. */
  if (ioctl (fileno (progress->tty), TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    {
      width = size.ws_col;
      height = size.ws_row > 0 ? size.ws_row : height;
    }
  table = sutra_progress_view_render_table (progress->view, width, height);
  g_string_append (out, table);
  for (const char *p = table; *p != '\0'; p++)
    progress->lines_drawn += *p == '\n';
}

static void
draw_unlocked (SutraProgress *progress)
{
  g_autoptr (GString) out = g_string_new (NULL);

  append_erase (progress, out);
  append_table (progress, out);
  fputs (out->str, progress->tty);
  fflush (progress->tty);
}

void
sutra_progress_notice (SutraProgress *progress, const char *message, const char *status)
{
  g_autoptr (GString) out = g_string_new (NULL);
  FILE *where = progress->tty != NULL ? progress->tty : stderr;

  g_rec_mutex_lock (&progress->draw_lock);
  if (status != NULL)
    sutra_progress_view_set_stopping (progress->view, status);
  if (progress->tty != NULL)
    append_erase (progress, out);
  else if (progress->log == NULL && isatty (fileno (stderr)))
    g_string_append_c (out, '\n'); /* after the "^C" the terminal echoed */
  g_string_append (out, message);
  if (!g_str_has_suffix (message, "\n"))
    g_string_append_c (out, '\n');
  /* The table again, below the message, which stays above it. */
  if (progress->tty != NULL && progress->thread != NULL)
    append_table (progress, out);
  fputs (out->str, where);
  fflush (where);
  g_rec_mutex_unlock (&progress->draw_lock);
}

static void
print_above_table (const char *text)
{
  const char *start = text;

  /* Messages often start with "\n" to leave a terminal's "^C": the table
   * is erased, so that is not needed. */
  while (*start == '\n')
    start++;
  if (*start == '\0')
    return;
  sutra_progress_notice (printerr_target, start, NULL);
}

/* GLib's messages (a plugin's g_warning()) are written where they would
 * be, with the table erased first and drawn again after them. */
static void
log_above_table (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  SutraProgress *progress = data;
  g_autoptr (GString) out = g_string_new (NULL);

  g_rec_mutex_lock (&progress->draw_lock);
  append_erase (progress, out);
  fputs (out->str, progress->tty);
  fflush (progress->tty);
  progress->previous_log (domain, level, message, NULL);
  g_string_truncate (out, 0);
  if (progress->thread != NULL)
    append_table (progress, out);
  fputs (out->str, progress->tty);
  fflush (progress->tty);
  g_rec_mutex_unlock (&progress->draw_lock);
}

/* Routes g_printerr() and GLib's messages above the table while it is
 * drawn (on the main thread, before and after the run's threads). */
static void
redirect_messages (SutraProgress *progress, gboolean redirect)
{
  if (redirect && progress->tty != NULL && printerr_target == NULL)
    {
      printerr_target = progress;
      progress->previous_printerr = g_set_printerr_handler (print_above_table);
      progress->previous_log = g_log_set_default_handler (log_above_table, progress);
    }
  else if (!redirect && printerr_target == progress)
    {
      g_set_printerr_handler (progress->previous_printerr);
      g_log_set_default_handler (progress->previous_log, NULL);
      printerr_target = NULL;
    }
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
      json_object_set_int_member (event, "items_resumed", stats.n_resumed);
      if (stats.n_elsewhere > 0)
        json_object_set_int_member (event, "items_other_shards", stats.n_elsewhere);
      if (stats.cache_hits + stats.cache_misses > 0)
        {
          json_object_set_int_member (event, "cache_hits", stats.cache_hits);
          json_object_set_int_member (event, "cache_misses", stats.cache_misses);
        }
      if (stats.n_total > 0)
        json_object_set_int_member (event, "items_total", stats.n_total);
      json_object_set_int_member (event, "queue_fill", stats.queue_fill);
      json_object_set_int_member (event, "queue_capacity", stats.queue_capacity);
      sutra_progress_write_event (event, progress);
      json_object_unref (event);
    }
}

static void
write_log_line_unlocked (SutraProgress *progress)
{
  g_autofree char *line = sutra_progress_view_render_line (progress->view);

  fprintf (progress->log, "sutra: %s\n", line);
  fflush (progress->log);
}

static gpointer
progress_thread (gpointer data)
{
  SutraProgress *progress = data;
  gint64 next_event = g_get_monotonic_time () + EVENT_PERIOD_US;
  gint64 next_log = g_get_monotonic_time () + LOG_PERIOD_US;

  g_mutex_lock (&progress->lock);
  while (!progress->stopping)
    {
      gint64 now;

      g_mutex_unlock (&progress->lock);
      now = g_get_monotonic_time ();
      g_rec_mutex_lock (&progress->draw_lock);
      sample_unlocked (progress);
      if (progress->tty != NULL)
        draw_unlocked (progress);
      if (progress->log != NULL && now >= next_log)
        {
          write_log_line_unlocked (progress);
          next_log = now + LOG_PERIOD_US;
        }
      g_rec_mutex_unlock (&progress->draw_lock);
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
  g_rec_mutex_lock (&progress->draw_lock);
  sample_unlocked (progress); /* the run's start, for the elapsed time */
  g_rec_mutex_unlock (&progress->draw_lock);
  redirect_messages (progress, TRUE);
  if (progress->tty != NULL || progress->log != NULL || progress->events != NULL)
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

  g_rec_mutex_lock (&progress->draw_lock);
  sample_unlocked (progress);
  if (progress->tty != NULL && progress->lines_drawn > 0)
    {
      g_autoptr (GString) out = g_string_new (NULL);

      append_erase (progress, out);
      fputs (out->str, progress->tty);
      fflush (progress->tty);
    }
  g_rec_mutex_unlock (&progress->draw_lock);
  redirect_messages (progress, FALSE);
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
sutra_progress_print_summary (SutraProgress *progress, SutraProgressOutcome outcome, FILE *out)
{
  g_autofree char *summary = NULL;

  g_rec_mutex_lock (&progress->draw_lock);
  for (guint i = 0; i < sutra_run_get_n_stages (progress->run); i++)
    {
      g_autofree char *devices = sutra_run_dup_device_summary (progress->run, i);

      sutra_progress_view_set_devices (progress->view, i, devices);
    }
  summary = sutra_progress_view_render_summary (progress->view, outcome);
  g_rec_mutex_unlock (&progress->draw_lock);
  fputs (summary, out);
  fflush (out);
}

void
sutra_progress_free (SutraProgress *progress)
{
  if (progress == NULL)
    return;
  g_return_if_fail (progress->thread == NULL);
  redirect_messages (progress, FALSE);
  sutra_progress_view_free (progress->view);
  g_mutex_clear (&progress->lock);
  g_rec_mutex_clear (&progress->draw_lock);
  g_mutex_clear (&progress->event_lock);
  g_cond_clear (&progress->wake);
  g_free (progress);
}
