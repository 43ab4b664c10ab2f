/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The run report: a job's graph, counters, timeline charts and failures as one HTML file. */

#include "sutra-report.h"

#include "sutra-worker.h"

#include "sutra-job.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sutra/sutra.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-report-error-quark, sutra_report_error)
/* clang-format on */

/* The failures listed in full; a job of a million failed items keeps its
 * report readable and its size bounded, and says how many were left out. */
#define MAX_FAILURES 1000

#define LAYER_GAP 70.0
#define SLOT_GAP 26.0
#define MARGIN 16.0

/* Colours for the charts' series, told apart also in grey print. */
static const char *const palette[] = {
  "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
  "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
};

static void
stage_free (SutraReportStage *stage)
{
  g_free (stage->name);
  g_free (stage->plugin);
  g_strfreev (stage->inputs);
  g_free (stage->state);
  g_free (stage->devices);
  if (stage->samples != NULL)
    g_array_unref (stage->samples);
  g_free (stage);
}

SutraReport *
sutra_report_new (const char *name)
{
  SutraReport *report = g_new0 (SutraReport, 1);

  report->name = g_strdup (name != NULL ? name : "");
  report->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) stage_free);
  report->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_journal_run_free);
  report->failures = g_ptr_array_new_with_free_func (g_free);
  return report;
}

void
sutra_report_free (SutraReport *report)
{
  if (report == NULL)
    return;
  g_free (report->job_dir);
  g_free (report->name);
  g_ptr_array_unref (report->stages);
  g_ptr_array_unref (report->runs);
  g_ptr_array_unref (report->failures);
  g_free (report);
}

SutraReportStage *
sutra_report_add_stage (SutraReport *report,
                        const char *name,
                        const char *plugin,
                        const char *const *inputs)
{
  SutraReportStage *stage = g_new0 (SutraReportStage, 1);

  stage->name = g_strdup (name);
  stage->plugin = g_strdup (plugin != NULL ? plugin : "");
  stage->inputs = inputs != NULL ? g_strdupv ((char **) inputs) : g_new0 (char *, 1);
  stage->workers = 1;
  stage->busy_us = -1;
  stage->samples = g_array_new (FALSE, TRUE, sizeof (SutraJournalSample));
  g_ptr_array_add (report->stages, stage);
  return stage;
}

static SutraReportStage *
find_stage (SutraReport *report, const char *name)
{
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      if (g_strcmp0 (stage->name, name) == 0)
        return stage;
    }
  return NULL;
}

/* Escaping ----------------------------------------------------------------- */

char *
sutra_report_escape (const char *text, gssize length)
{
  g_autofree char *valid = NULL;
  GString *out;

  if (text == NULL)
    return g_strdup ("");
  /* Messages come from books and plugins: any bytes at all. */
  valid = g_utf8_make_valid (text, length);
  out = g_string_sized_new (strlen (valid) + 16);
  for (const char *p = valid; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '&':
          g_string_append (out, "&amp;");
          break;
        case '<':
          g_string_append (out, "&lt;");
          break;
        case '>':
          g_string_append (out, "&gt;");
          break;
        case '"':
          g_string_append (out, "&quot;");
          break;
        case '\'':
          g_string_append (out, "&#39;");
          break;
        default:
          /* Control characters other than tab and newline are not
           * allowed in HTML text: show them as U+FFFD, as for bad bytes. */
          if ((guchar) *p < 0x20 && *p != '\t' && *p != '\n')
            g_string_append (out, "\xef\xbf\xbd");
          else
            g_string_append_c (out, *p);
        }
    }
  return g_string_free (out, FALSE);
}

/* Appends @text escaped. */
static void
append_escaped (GString *out, const char *text)
{
  g_autofree char *escaped = sutra_report_escape (text, -1);

  g_string_append (out, escaped);
}

/* Numbers with thousands separators: “1,234,567”. */
static char *
format_count (guint64 value)
{
  g_autofree char *digits = g_strdup_printf ("%" G_GUINT64_FORMAT, value);
  GString *out = g_string_new (NULL);
  gsize n = strlen (digits);

  for (gsize i = 0; i < n; i++)
    {
      if (i > 0 && (n - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
  return g_string_free (out, FALSE);
}

static char *
format_duration (double seconds)
{
  guint64 s;

  if (seconds < 0)
    return g_strdup ("—");
  if (seconds < 10)
    return g_strdup_printf ("%.2f s", seconds);
  s = (guint64) (seconds + 0.5);
  if (s < 60)
    return g_strdup_printf ("%u s", (guint) s);
  if (s < 3600)
    return g_strdup_printf ("%u min %02u s", (guint) (s / 60), (guint) (s % 60));
  return g_strdup_printf ("%" G_GUINT64_FORMAT " h %02u min", s / 3600, (guint) (s / 60 % 60));
}

static char *
format_rate (double rate)
{
  if (rate >= 1e6)
    return g_strdup_printf ("%.2fM/s", rate / 1e6);
  if (rate >= 1e4)
    return g_strdup_printf ("%.1fk/s", rate / 1e3);
  if (rate >= 10)
    return g_strdup_printf ("%.0f/s", rate);
  return g_strdup_printf ("%.2g/s", rate);
}

static char *
format_time (double epoch_seconds)
{
  g_autoptr (GDateTime) time = NULL;

  if (epoch_seconds <= 0)
    return g_strdup ("—");
  time = g_date_time_new_from_unix_local ((gint64) epoch_seconds);
  return time != NULL ? g_date_time_format (time, "%Y-%m-%d %H:%M:%S %Z") : g_strdup ("—");
}

/* Loading ------------------------------------------------------------------- */

static guint64
parse_u64 (const char *text)
{
  return text != NULL ? g_ascii_strtoull (text, NULL, 10) : 0;
}

static double
parse_double (const char *text)
{
  return text != NULL ? g_ascii_strtod (text, NULL) : 0;
}

static gboolean
load_snapshot (SutraReport *report, const char *snapshot_path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *object, *stages;
  g_autoptr (GList) names = NULL;

  if (!json_parser_load_from_file (parser, snapshot_path, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member ((object = json_node_get_object (root)), "stages") ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "stages")))
    {
      g_set_error (error, SUTRA_REPORT_ERROR, SUTRA_REPORT_ERROR_READ,
                   "the pipeline snapshot “%s” has no “stages” object", snapshot_path);
      return FALSE;
    }
  g_free (report->name);
  report->name = g_strdup (json_object_get_string_member_with_default (object, "name", ""));
  stages = json_object_get_object_member (object, "stages");
  names = json_object_get_members (stages);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (stages, l->data);
      JsonObject *spec;
      JsonNode *input;
      g_autoptr (GStrvBuilder) inputs = g_strv_builder_new ();
      g_auto (GStrv) input_names = NULL;
      SutraReportStage *stage;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      spec = json_node_get_object (node);
      input = json_object_get_member (spec, "input");
      if (input != NULL && JSON_NODE_HOLDS_VALUE (input) &&
          json_node_get_value_type (input) == G_TYPE_STRING)
        g_strv_builder_add (inputs, json_node_get_string (input));
      else if (input != NULL && JSON_NODE_HOLDS_ARRAY (input))
        {
          JsonArray *array = json_node_get_array (input);

          for (guint k = 0; k < json_array_get_length (array); k++)
            {
              JsonNode *element = json_array_get_element (array, k);

              if (JSON_NODE_HOLDS_VALUE (element) &&
                  json_node_get_value_type (element) == G_TYPE_STRING)
                g_strv_builder_add (inputs, json_node_get_string (element));
            }
        }
      input_names = g_strv_builder_end (inputs);
      stage =
        sutra_report_add_stage (report, l->data,
                                json_object_get_string_member_with_default (spec, "plugin", ""),
                                (const char *const *) input_names);
      stage->workers = MAX (1, json_object_get_int_member_with_default (spec, "workers", 1));
    }
  return TRUE;
}

static void
collect_stage_row (int n, const char *const *v, gpointer data)
{
  SutraReportStage *stage = find_stage (data, v[0]);

  if (stage == NULL)
    return;
  g_free (stage->state);
  stage->state = g_strdup (v[1] != NULL ? v[1] : "");
  stage->n_in = parse_u64 (v[2]);
  stage->n_out = parse_u64 (v[3]);
  stage->n_failed = parse_u64 (v[4]);
  stage->n_cached = parse_u64 (v[5]);
  stage->n_total = parse_u64 (v[6]);
  stage->seconds = parse_double (v[7]);
}

static void
collect_devices_row (int n, const char *const *v, gpointer data)
{
  SutraReportStage *stage = find_stage (data, v[0]);
  g_autoptr (JsonNode) node = NULL;

  if (stage == NULL || v[1] == NULL || (node = json_from_string (v[1], NULL)) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (node))
    return;
  g_free (stage->devices);
  stage->devices = sutra_worker_format_device_counts (json_node_get_object (node));
}

static void
collect_run_row (int n, const char *const *v, gpointer data)
{
  SutraReport *report = data;
  SutraJournalRun *run = g_new0 (SutraJournalRun, 1);

  run->started = parse_double (v[0]);
  run->finished = parse_double (v[1]);
  run->state = g_strdup (v[2] != NULL ? v[2] : "");
  run->command = g_strdup (v[3]);
  run->pipeline = g_strdup (v[4]);
  run->inputs = g_strdup (v[5]);
  run->outputs = g_strdup (v[6]);
  run->message = g_strdup (v[7]);
  g_ptr_array_add (report->runs, run);
}

static void
collect_sample_row (int n, const char *const *v, gpointer data)
{
  SutraReportStage *stage = find_stage (data, v[0]);
  SutraJournalSample sample = { 0 };

  if (stage == NULL)
    return;
  sample.t = parse_double (v[1]);
  g_strlcpy (sample.state, v[2] != NULL ? v[2] : "", sizeof sample.state);
  sample.n_in = parse_u64 (v[3]);
  sample.n_out = parse_u64 (v[4]);
  sample.n_failed = parse_u64 (v[5]);
  sample.n_cached = parse_u64 (v[6]);
  sample.queue_fill = parse_u64 (v[7]);
  sample.queue_capacity = parse_u64 (v[8]);
  sample.workers = parse_u64 (v[9]);
  sample.busy_us = parse_u64 (v[10]);
  g_array_append_val (stage->samples, sample);
}

static void
collect_failure_row (int n, const char *const *v, gpointer data)
{
  SutraReport *report = data;

  g_ptr_array_add (report->failures, g_strdup_printf ("%s\t%s\t%s", v[0] ? v[0] : "",
                                                      v[1] ? v[1] : "", v[2] ? v[2] : ""));
}

static void
collect_count (int n, const char *const *v, gpointer data)
{
  *(guint64 *) data = parse_u64 (v[0]);
}

SutraReport *
sutra_report_load (const char *job_dir, GError **error)
{
  g_autoptr (SutraReport) report = sutra_report_new (NULL);
  g_autofree char *snapshot_path = NULL;
  g_autoptr (GError) local = NULL;
  SutraJournal *journal;
  guint64 n_failures = 0;
  gboolean ok;

  if (!sutra_job_read_settings (job_dir, &snapshot_path, NULL, NULL, error))
    return NULL;
  if (!load_snapshot (report, snapshot_path, error))
    return NULL;
  report->job_dir = g_strdup (job_dir);
  report->job_running = sutra_job_is_running (job_dir, NULL);
  journal = sutra_job_open_journal (job_dir, error);
  if (journal == NULL)
    return NULL;
  /* Each stage's last run, as `sutra status` shows it. */
  ok = sutra_journal_query (journal,
                            "SELECT stage, state, n_in, n_out, n_failed, n_cached, n_total, "
                            "seconds FROM stages",
                            collect_stage_row, report, &local) &&
       sutra_journal_query (journal,
                            "SELECT started, finished, state, command, pipeline, inputs, "
                            "outputs, message FROM runs ORDER BY run",
                            collect_run_row, report, &local);
  /* Only jobs with a stage given devices have the table. */
  if (ok)
    sutra_journal_query (journal, "SELECT stage, devices FROM stage_devices", collect_devices_row,
                         report, NULL);
  if (ok)
    {
      /* The timeline of the last run that did some work: a run of a job
       * that was up to date has nothing to show. */
      ok = sutra_journal_query (
        journal,
        "SELECT stage, t, state, n_in, n_out, n_failed, n_cached, queue_fill, queue_capacity, "
        "workers, busy_us FROM timeline WHERE run = (SELECT COALESCE ("
        "(SELECT MAX (run) FROM timeline WHERE n_in > 0 OR n_out > 0), "
        "(SELECT MAX (run) FROM timeline))) ORDER BY seq",
        collect_sample_row, report, &local);
    }
  if (ok)
    {
      g_autofree char *sql =
        g_strdup_printf ("SELECT stage, item, message FROM failures ORDER BY at, rowid LIMIT %d",
                         MAX_FAILURES);

      ok = sutra_journal_query (journal, sql, collect_failure_row, report, &local) &&
           sutra_journal_query (journal, "SELECT COUNT (*) FROM failures", collect_count,
                                &n_failures, &local);
    }
  sutra_journal_close (journal);
  if (!ok)
    {
      g_set_error (error, SUTRA_REPORT_ERROR, SUTRA_REPORT_ERROR_READ,
                   "cannot read the journal of job “%s”: %s", job_dir, local->message);
      return NULL;
    }
  report->n_more_failures =
    n_failures > report->failures->len ? (guint) (n_failures - report->failures->len) : 0;
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      if (stage->samples->len > 0)
        {
          SutraJournalSample *last =
            &g_array_index (stage->samples, SutraJournalSample, stage->samples->len - 1);

          stage->busy_us = last->busy_us;
          stage->queue_capacity = last->queue_capacity;
          if (last->workers > 0)
            stage->workers = last->workers;
        }
    }
  sutra_report_layout (report);
  return g_steal_pointer (&report);
}

/* Layout ---------------------------------------------------------------------- */

/* The share of its workers' time a stage spent in process calls. */
static double
stage_utilisation (SutraReportStage *stage)
{
  /* A source's one call lasts the whole run, blocked while the stages it
   * feeds are full: its busy time says nothing of its speed. */
  if (stage->inputs[0] == NULL || stage->busy_us < 0 || stage->seconds <= 0 || stage->workers == 0)
    return -1;
  return MIN (1.0, stage->busy_us / (stage->seconds * 1e6 * stage->workers));
}

static int
compare_by_key (gconstpointer a, gconstpointer b, gpointer data)
{
  const double *keys = data;
  const SutraReportStage *x = *(SutraReportStage *const *) a;
  const SutraReportStage *y = *(SutraReportStage *const *) b;
  double kx = keys[x->slot], ky = keys[y->slot];

  /* slot holds the stage's index in the file while sorting. */
  if (kx != ky)
    return kx < ky ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

void
sutra_report_layout (SutraReport *report)
{
  guint n = report->stages->len, n_layers = 0, max_slots = 0;
  g_autofree double *keys = g_new0 (double, MAX (n, 1));
  g_autoptr (GPtrArray) layers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  double best = -1;
  SutraReportStage *bottleneck = NULL;

  /* Depth: the longest path from a source. At most n rounds settle it in
   * a DAG; a cycle (a damaged snapshot) stops there instead of looping. */
  for (guint i = 0; i < n; i++)
    ((SutraReportStage *) report->stages->pdata[i])->layer = 0;
  for (guint round = 0; round < n; round++)
    {
      gboolean changed = FALSE;

      for (guint i = 0; i < n; i++)
        {
          SutraReportStage *stage = report->stages->pdata[i];

          for (guint k = 0; stage->inputs[k] != NULL; k++)
            {
              SutraReportStage *input = find_stage (report, stage->inputs[k]);

              if (input != NULL && input != stage && input->layer + 1 > stage->layer &&
                  input->layer + 1 < n)
                {
                  stage->layer = input->layer + 1;
                  changed = TRUE;
                }
            }
        }
      if (!changed)
        break;
    }
  for (guint i = 0; i < n; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      while (layers->len <= stage->layer)
        g_ptr_array_add (layers, g_ptr_array_new ());
      stage->slot = i;
      g_ptr_array_add (layers->pdata[stage->layer], stage);
    }
  n_layers = layers->len;
  /* Order each column by the mean position of the stages it reads
   * (the barycentre heuristic), sources in the file's order: few
   * crossings for the fan-ins and fan-outs pipelines have. */
  for (guint l = 0; l < n_layers; l++)
    {
      GPtrArray *layer = layers->pdata[l];

      for (guint s = 0; s < layer->len; s++)
        {
          SutraReportStage *stage = layer->pdata[s];
          double sum = 0;
          guint count = 0;

          for (guint k = 0; stage->inputs[k] != NULL; k++)
            {
              SutraReportStage *input = find_stage (report, stage->inputs[k]);

              if (input != NULL && input->layer < stage->layer)
                {
                  /* Earlier columns hold their final slots by now. */
                  sum += input->y;
                  count++;
                }
            }
          keys[stage->slot] = count > 0 ? sum / count : stage->slot;
        }
      g_ptr_array_sort_with_data (layer, compare_by_key, keys);
      for (guint s = 0; s < layer->len; s++)
        {
          SutraReportStage *stage = layer->pdata[s];

          stage->slot = s;
          stage->x = MARGIN + l * (SUTRA_REPORT_BOX_WIDTH + LAYER_GAP);
          stage->y = s;
        }
      max_slots = MAX (max_slots, layer->len);
    }
  /* Centre each column on the tallest one. */
  for (guint l = 0; l < n_layers; l++)
    {
      GPtrArray *layer = layers->pdata[l];
      double offset = (max_slots - layer->len) * (SUTRA_REPORT_BOX_HEIGHT + SLOT_GAP) / 2;

      for (guint s = 0; s < layer->len; s++)
        {
          SutraReportStage *stage = layer->pdata[s];

          stage->y = MARGIN + offset + s * (SUTRA_REPORT_BOX_HEIGHT + SLOT_GAP);
        }
    }
  report->width = 2 * MARGIN + n_layers * SUTRA_REPORT_BOX_WIDTH +
                  (n_layers > 0 ? (n_layers - 1) * LAYER_GAP : 0);
  report->height = 2 * MARGIN + max_slots * SUTRA_REPORT_BOX_HEIGHT +
                   (max_slots > 0 ? (max_slots - 1) * SLOT_GAP : 0);

  /* The bottleneck: the stage whose workers were busiest, when they were
   * busy most of the time (else nothing held the run back but its input). */
  for (guint i = 0; i < n; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];
      double utilisation = stage_utilisation (stage);

      stage->is_bottleneck = FALSE;
      if (utilisation > best)
        {
          best = utilisation;
          bottleneck = stage;
        }
    }
  if (bottleneck != NULL && best >= 0.5 && n > 1)
    bottleneck->is_bottleneck = TRUE;
}

/* Rendering ------------------------------------------------------------------- */

static const char *
state_class (const char *state)
{
  if (state == NULL || *state == '\0')
    return "waiting";
  if (strcmp (state, "done") == 0 || strcmp (state, "failed") == 0 ||
      strcmp (state, "stopped") == 0 || strcmp (state, "running") == 0)
    return state;
  return "waiting";
}

/* Items a stage handled: what it took in, or for a source what it made. */
static guint64
stage_items (SutraReportStage *stage)
{
  return stage->inputs[0] == NULL ? stage->n_out : stage->n_in;
}

static guint64
sample_items (SutraReportStage *stage, const SutraJournalSample *sample)
{
  return stage->inputs[0] == NULL ? sample->n_out : sample->n_in;
}

/* A stage name as part of an id attribute: the name escaped, spaces as
 * underscores (ids have no spaces). */
static void
append_id (GString *out, const char *prefix, const char *name)
{
  g_autofree char *escaped = sutra_report_escape (name, -1);

  g_string_append (out, prefix);
  for (const char *p = escaped; *p != '\0'; p++)
    g_string_append_c (out, g_ascii_isspace (*p) ? '_' : *p);
}

/* @text shortened to @max characters (with an ellipsis), escaped. */
static void
append_clipped (GString *out, const char *text, glong max)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);

  if (g_utf8_strlen (valid, -1) > max)
    {
      g_autofree char *head = g_utf8_substring (valid, 0, max - 1);
      g_autofree char *clipped = g_strconcat (head, "…", NULL);

      append_escaped (out, clipped);
    }
  else
    append_escaped (out, valid);
}

char *
sutra_report_graph_svg (SutraReport *report)
{
  GString *out = g_string_new (NULL);

  if (report->width <= 0)
    sutra_report_layout (report);
  g_string_append_printf (out,
                          "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" "
                          "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                          "aria-label=\"pipeline graph\">\n",
                          report->width, report->height, report->width, report->height);
  g_string_append (out, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
                        "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">"
                        "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
  /* Arrows first, under the boxes: from the right edge of the input to the
   * left edge of the stage reading it. */
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      for (guint k = 0; stage->inputs[k] != NULL; k++)
        {
          SutraReportStage *input = find_stage (report, stage->inputs[k]);
          double x1, y1, x2, y2, mid;

          if (input == NULL)
            continue;
          x1 = input->x + SUTRA_REPORT_BOX_WIDTH;
          y1 = input->y + SUTRA_REPORT_BOX_HEIGHT / 2;
          x2 = stage->x;
          y2 = stage->y + SUTRA_REPORT_BOX_HEIGHT / 2;
          mid = (x1 + x2) / 2;
          g_string_append (out, "<path class=\"edge\" data-from=\"");
          append_escaped (out, input->name);
          g_string_append (out, "\" data-to=\"");
          append_escaped (out, stage->name);
          g_string_append_printf (out,
                                  "\" d=\"M %.1f %.1f C %.1f %.1f, %.1f %.1f, %.1f %.1f\" "
                                  "fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\" "
                                  "marker-end=\"url(#arrow)\"/>\n",
                                  x1, y1, mid, y1, mid, y2, x2, y2);
        }
    }
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];
      double utilisation = stage_utilisation (stage);
      g_autofree char *items = format_count (stage_items (stage));

      g_string_append (out, "<g class=\"stage ");
      g_string_append (out, state_class (stage->state));
      if (stage->is_bottleneck)
        g_string_append (out, " bottleneck");
      g_string_append (out, "\" ");
      append_id (out, "id=\"node-", stage->name);
      g_string_append (out, "\">\n<title>");
      append_escaped (out, stage->name);
      g_string_append_printf (out, " (%s)</title>\n", state_class (stage->state));
      g_string_append_printf (out,
                              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
                              "rx=\"8\"/>\n",
                              stage->x, stage->y, SUTRA_REPORT_BOX_WIDTH, SUTRA_REPORT_BOX_HEIGHT);
      g_string_append_printf (out, "<text class=\"name\" x=\"%.1f\" y=\"%.1f\">", stage->x + 10,
                              stage->y + 20);
      append_clipped (out, stage->name, 22);
      g_string_append_printf (out, "</text>\n<text class=\"plugin\" x=\"%.1f\" y=\"%.1f\">",
                              stage->x + 10, stage->y + 36);
      append_clipped (out, stage->plugin, 18);
      g_string_append_printf (out, " · %u worker%s · %s</text>\n", stage->workers,
                              stage->workers == 1 ? "" : "s", state_class (stage->state));
      g_string_append_printf (out, "<text class=\"counts\" x=\"%.1f\" y=\"%.1f\">%s items",
                              stage->x + 10, stage->y + 54, items);
      if (stage->n_failed > 0)
        {
          g_autofree char *failed = format_count (stage->n_failed);

          g_string_append_printf (out, " · <tspan class=\"failed\">%s failed</tspan>", failed);
        }
      if (stage->n_cached > 0)
        {
          g_autofree char *cached = format_count (stage->n_cached);

          g_string_append_printf (out, " · %s cached", cached);
        }
      g_string_append (out, "</text>\n");
      /* How busy its workers were: a bar along the bottom of the box. */
      if (utilisation >= 0)
        {
          double bar = (SUTRA_REPORT_BOX_WIDTH - 20) * utilisation;

          g_string_append_printf (
            out,
            "<rect class=\"busy-track\" x=\"%.1f\" y=\"%.1f\" "
            "width=\"%.0f\" height=\"6\" rx=\"3\"/>"
            "<rect class=\"busy-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"6\" rx=\"3\"/>\n"
            "<text class=\"busy\" x=\"%.1f\" y=\"%.1f\">busy %.0f%%%s</text>\n",
            stage->x + 10, stage->y + 62, SUTRA_REPORT_BOX_WIDTH - 20, stage->x + 10, stage->y + 62,
            bar, stage->x + 10, stage->y + 79, utilisation * 100,
            stage->is_bottleneck ? " · bottleneck" : "");
        }
      g_string_append (out, "</g>\n");
    }
  g_string_append (out, "</svg>\n");
  return g_string_free (out, FALSE);
}

/* A round step for axis ticks: 1, 2 or 5 times a power of ten. */
static double
nice_step (double range, guint ticks)
{
  double raw = range / MAX (ticks, 1), power, fraction;

  if (raw <= 0)
    return 1;
  power = pow (10, floor (log10 (raw)));
  fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/* The interval a change at sample @index is measured over: sets @now to
 * that sample and @before to the latest one at least MIN_SPAN_S earlier,
 * and returns the seconds between them, or 0 when there is no interval to
 * measure (the first sample, or samples a moment apart). The last sample of
 * a run comes when it ends, maybe a moment after the one before: a rate
 * over that moment would be noise. */
#define MIN_SPAN_S 0.5

static double
sample_interval (SutraReportStage *stage,
                 guint index,
                 const SutraJournalSample **now,
                 const SutraJournalSample **before)
{
  guint k;
  double dt;

  if (index == 0)
    return 0;
  *now = &g_array_index (stage->samples, SutraJournalSample, index);
  k = index - 1;
  while (k > 0 && (*now)->t - g_array_index (stage->samples, SutraJournalSample, k).t < MIN_SPAN_S)
    k--;
  *before = &g_array_index (stage->samples, SutraJournalSample, k);
  dt = (*now)->t - (*before)->t;
  return dt > 1e-3 ? dt : 0;
}

typedef double (*SampleValueFunc) (SutraReportStage *stage, guint index, gboolean *valid);

/* Items per second between the previous sample and this one. */
static double
sample_rate (SutraReportStage *stage, guint index, gboolean *valid)
{
  const SutraJournalSample *now = NULL, *before = NULL;
  double dt = sample_interval (stage, index, &now, &before);

  *valid = dt > 0;
  if (!*valid)
    return 0;
  return MAX (0.0, ((double) sample_items (stage, now) - sample_items (stage, before)) / dt);
}

/* The input queue's fill, in per cent of its capacity. */
static double
sample_queue_fill (SutraReportStage *stage, guint index, gboolean *valid)
{
  const SutraJournalSample *now = &g_array_index (stage->samples, SutraJournalSample, index);

  *valid = now->queue_capacity > 0;
  return *valid ? 100.0 * now->queue_fill / now->queue_capacity : 0;
}

/* An SVG line chart of @value over the run's time, one line per stage. */
static void
append_chart (GString *out,
              SutraReport *report,
              const char *id,
              const char *title,
              const char *unit,
              SampleValueFunc value,
              double fixed_max)
{
  const double width = 760, height = 240, left = 64, right = 150, top = 14, bottom = 34;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double t_max = 0, v_max = fixed_max, step;
  guint n_lines = 0;

  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      for (guint k = 0; k < stage->samples->len; k++)
        {
          gboolean valid;
          double v = value (stage, k, &valid);

          t_max = MAX (t_max, g_array_index (stage->samples, SutraJournalSample, k).t);
          if (valid && fixed_max <= 0)
            v_max = MAX (v_max, v);
        }
    }
  g_string_append_printf (out, "<figure class=\"chart\" id=\"%s\"><figcaption>%s</figcaption>\n",
                          id, title);
  if (t_max <= 0)
    {
      g_string_append (out, "<p class=\"none\">No samples were recorded for this run.</p>"
                            "</figure>\n");
      return;
    }
  if (v_max <= 0)
    v_max = 1;
  step = nice_step (v_max, 4);
  v_max = ceil (v_max / step) * step;
  g_string_append_printf (out,
                          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
                          "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"%s\">\n",
                          width, height, width, height, title);
  /* Grid and value axis. */
  for (double v = 0; v <= v_max + step / 2; v += step)
    {
      double y = top + plot_h - plot_h * v / v_max;

      g_string_append_printf (out,
                              "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                              "y2=\"%.1f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"end\">%g%s</text>\n",
                              left, y, left + plot_w, y, left - 6, y + 4, v, unit);
    }
  /* Time axis. */
  step = nice_step (t_max, 6);
  for (double t = 0; t <= t_max + 1e-9; t += step)
    {
      double x = left + plot_w * t / t_max;

      g_string_append_printf (out,
                              "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                              "y2=\"%.1f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"middle\">%gs</text>\n",
                              x, top + plot_h, x, top + plot_h + 4, x, top + plot_h + 18, t);
    }
  g_string_append_printf (out,
                          "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
                          "time since the run started</text>\n",
                          left + plot_w / 2, height - 2);
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];
      /* A stage keeps its colour in every chart. */
      const char *colour = palette[i % G_N_ELEMENTS (palette)];
      g_autoptr (GString) points = g_string_new (NULL);
      guint n_points = 0;
      double x = 0, y = 0;

      for (guint k = 0; k < stage->samples->len; k++)
        {
          gboolean valid;
          double v = value (stage, k, &valid);
          double t = g_array_index (stage->samples, SutraJournalSample, k).t;

          if (!valid)
            continue;
          x = left + plot_w * t / t_max;
          y = top + plot_h - plot_h * MIN (v, v_max) / v_max;
          g_string_append_printf (points, "%s%.1f,%.1f", n_points > 0 ? " " : "", x, y);
          n_points++;
        }
      if (n_points == 0)
        continue;
      g_string_append (out, "<g class=\"series\" data-stage=\"");
      append_escaped (out, stage->name);
      g_string_append (out, "\">");
      if (n_points == 1)
        g_string_append_printf (out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x, y,
                                colour);
      else
        g_string_append_printf (out,
                                "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                                "stroke-width=\"2\" stroke-linejoin=\"round\"/>",
                                points->str, colour);
      g_string_append_printf (out,
                              "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"4\" "
                              "fill=\"%s\"/><text class=\"legend\" x=\"%.1f\" y=\"%.1f\">",
                              left + plot_w + 14, top + 10 + n_lines * 18.0, colour,
                              left + plot_w + 32, top + 15 + n_lines * 18.0);
      append_clipped (out, stage->name, 16);
      g_string_append (out, "</text></g>\n");
      n_lines++;
    }
  g_string_append (out, "</svg></figure>\n");
}

static gboolean
is_terminal (const char *state)
{
  return strcmp (state, "done") == 0 || strcmp (state, "failed") == 0 ||
         strcmp (state, "stopped") == 0;
}

/* When each stage ran, as bars on the run's time axis (Nextflow's
 * timeline): from its first sample past waiting to its first sample past
 * running, to within the sampling interval. */
static void
append_activity (GString *out, SutraReport *report)
{
  const double width = 760, left = 130, right = 70, top = 6, row = 24, bottom = 26;
  const double plot_w = width - left - right;
  double height = top + row * report->stages->len + bottom, t_max = 0, step;

  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      if (stage->samples->len > 0)
        t_max = MAX (t_max,
                     g_array_index (stage->samples, SutraJournalSample, stage->samples->len - 1).t);
    }
  g_string_append (out, "<figure class=\"chart\" id=\"chart-activity\"><figcaption>When each "
                        "stage ran</figcaption>\n");
  if (t_max <= 0)
    {
      g_string_append (out, "<p class=\"none\">No samples were recorded for this run.</p>"
                            "</figure>\n");
      return;
    }
  g_string_append_printf (out,
                          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
                          "width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                          "aria-label=\"when each stage ran\">\n",
                          width, height, width, height);
  step = nice_step (t_max, 6);
  for (double t = 0; t <= t_max + 1e-9; t += step)
    {
      double x = left + plot_w * t / t_max;

      g_string_append_printf (out,
                              "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                              "y2=\"%.1f\"/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"middle\">%gs</text>\n",
                              x, top, x, height - bottom, x, height - bottom + 16, t);
    }
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];
      double y = top + i * row, start = -1, end = -1;
      const char *state = "waiting";

      for (guint k = 0; k < stage->samples->len; k++)
        {
          const SutraJournalSample *sample = &g_array_index (stage->samples, SutraJournalSample, k);

          if (start < 0 && strcmp (sample->state, "waiting") != 0)
            start = k > 0 ? g_array_index (stage->samples, SutraJournalSample, k - 1).t : 0;
          if (start >= 0 && end < 0 && is_terminal (sample->state))
            end = sample->t;
          state = sample->state;
        }
      g_string_append (out, "<g class=\"activity\" data-stage=\"");
      append_escaped (out, stage->name);
      g_string_append_printf (out,
                              "\"><text class=\"legend\" x=\"%.1f\" y=\"%.1f\" "
                              "text-anchor=\"end\">",
                              left - 8, y + 16);
      append_clipped (out, stage->name, 18);
      g_string_append (out, "</text>");
      if (start >= 0)
        {
          g_autofree char *duration = NULL;

          if (end < 0)
            end = t_max;
          duration = format_duration (end - start);
          g_string_append_printf (out,
                                  "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                                  "height=\"%.0f\" rx=\"3\"/><text class=\"tick\" x=\"%.1f\" "
                                  "y=\"%.1f\">%s</text>",
                                  state_class (state), left + plot_w * start / t_max, y + 4,
                                  MAX (2.0, plot_w * (end - start) / t_max), row - 8,
                                  left + plot_w * end / t_max + 4, y + 16, duration);
        }
      g_string_append (out, "</g>\n");
    }
  g_string_append (out, "</svg></figure>\n");
}

/* The share of its workers' time a stage spent in process calls between
 * the previous sample and this one, in per cent. */
static double
sample_busy (SutraReportStage *stage, guint index, gboolean *valid)
{
  const SutraJournalSample *now = NULL, *before = NULL;
  double dt = stage->inputs[0] != NULL ? sample_interval (stage, index, &now, &before) : 0;

  *valid = dt > 0 && now->workers > 0;
  if (!*valid)
    return 0;
  return CLAMP (100.0 * (now->busy_us - before->busy_us) / (dt * 1e6 * now->workers), 0, 100);
}

static const char style[] =
  "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
  "margin:0;color:#1d2433;background:#f6f7f9}"
  "header{background:#1d2433;color:#fff;padding:18px 28px}"
  "header h1{margin:0 0 6px;font-size:22px;font-weight:600}"
  "header .state{display:inline-block;padding:2px 10px;border-radius:10px;font-size:13px;"
  "margin-left:10px;vertical-align:middle}"
  "main{padding:8px 28px 40px;max-width:1200px}"
  "section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 18px;"
  "margin:16px 0;overflow-x:auto}"
  "h2{font-size:16px;margin:0 0 10px}"
  "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}"
  "dl.facts dt{color:#5b6475}dl.facts dd{margin:0;font-family:ui-monospace,'DejaVu Sans Mono',"
  "monospace;font-size:13px;white-space:pre-wrap;word-break:break-all}"
  "table{border-collapse:collapse;font-size:13px;width:100%}"
  "th,td{text-align:left;padding:5px 10px;border-bottom:1px solid #eceef2;vertical-align:top}"
  "th{color:#5b6475;font-weight:600;background:#fafbfc}"
  "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
  "th,td.name,td.plugin{white-space:nowrap}"
  "td.message{font-family:ui-monospace,'DejaVu Sans Mono',monospace;white-space:pre-wrap;"
  "word-break:break-word}"
  "tr.bottleneck td{background:#fff4e0}"
  ".pill{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px}"
  ".done{background:#e3f4e6;color:#1e6b2c}.failed{background:#fde5e5;color:#a31515}"
  ".stopped,.running,.interrupted{background:#fff3cd;color:#7a5a00}"
  ".waiting{background:#eceef2;color:#5b6475}"
  "svg text{font-family:inherit}"
  "svg.graph g.stage rect{stroke-width:1.5}"
  "svg.graph g.done rect{fill:#eef8f0;stroke:#2e7d32}"
  "svg.graph g.failed rect{fill:#fdecec;stroke:#c62828}"
  "svg.graph g.stopped rect,svg.graph g.running rect{fill:#fff8e1;stroke:#b58900}"
  "svg.graph g.waiting rect{fill:#f4f5f7;stroke:#9aa1ad}"
  "svg.graph g.bottleneck rect{stroke:#e65100;stroke-width:4}"
  "svg.graph rect.busy-track{fill:#e3e6eb;stroke:none}"
  "svg.graph rect.busy-bar{fill:#5c7cfa;stroke:none}"
  "svg.graph g.bottleneck rect.busy-bar{fill:#e65100}"
  "svg.graph g.stage rect.busy-track,svg.graph g.stage rect.busy-bar{stroke-width:0}"
  "svg.graph text.name{font-weight:600;font-size:14px}"
  "svg.graph text.plugin,svg.graph text.busy{font-size:11px;fill:#5b6475}"
  "svg.graph text.counts{font-size:12px}svg.graph tspan.failed{fill:#c62828;font-weight:600}"
  ".charts{display:flex;flex-wrap:wrap;gap:10px}"
  "figure.chart{margin:0}figure.chart figcaption{font-weight:600;font-size:14px;margin:4px 0}"
  "svg line.grid{stroke:#eceef2}svg line.axis{stroke:#9aa1ad}"
  "svg text.tick{font-size:11px;fill:#5b6475}svg text.legend{font-size:12px}"
  "g.activity rect.done{fill:#66bb6a}g.activity rect.failed{fill:#e53935}"
  "g.activity rect.stopped,g.activity rect.running{fill:#fbc02d}"
  "p.note{color:#5b6475;font-size:13px;margin:6px 0 0}"
  "p.run-error{background:#fdecec;border-left:4px solid #c62828;padding:8px 12px;margin:0 0 10px}"
  "p.run-error code{white-space:pre-wrap;word-break:break-word}";

static void
append_fact (GString *out, const char *name, const char *value, const char *id)
{
  g_string_append_printf (out, "<dt>%s</dt><dd id=\"%s\">", name, id);
  append_escaped (out, value != NULL && *value != '\0' ? value : "—");
  g_string_append (out, "</dd>\n");
}

/* The job's state as a person reads it: the last run's, where a run that
 * never recorded its end was killed unless a sutra runs it now. */
static const char *
job_state (SutraReport *report, SutraJournalRun *last)
{
  gboolean any_running = FALSE, any_failed = FALSE, all_done = report->stages->len > 0;

  if (last != NULL && last->state != NULL && strcmp (last->state, "running") != 0)
    return last->state;
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      any_running |= g_strcmp0 (stage->state, "running") == 0;
      any_failed |= g_strcmp0 (stage->state, "failed") == 0;
      all_done &= g_strcmp0 (stage->state, "done") == 0;
    }
  if (report->job_running)
    return "running";
  if (last != NULL || any_running)
    return "interrupted";
  return any_failed ? "failed" : all_done ? "done" : "waiting";
}

static double
last_sample_time (SutraReport *report)
{
  double t = -1;

  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];

      if (stage->samples->len > 0)
        t = MAX (t, g_array_index (stage->samples, SutraJournalSample, stage->samples->len - 1).t);
    }
  return t;
}

static double
run_duration (SutraJournalRun *run, double fallback)
{
  return run->finished > 0 ? run->finished - run->started : fallback;
}

static void
append_stage_table (GString *out, SutraReport *report)
{
  g_string_append (out, "<section id=\"stages\"><h2>Stages</h2>\n<table>\n<thead><tr>"
                        "<th>stage</th><th>plugin</th><th>state</th><th class=\"num\">workers</th>"
                        "<th class=\"num\">items in</th><th class=\"num\">items out</th>"
                        "<th class=\"num\">failed</th><th class=\"num\">cached</th>"
                        "<th class=\"num\">time</th><th class=\"num\">busy time</th>"
                        "<th class=\"num\">busy</th><th class=\"num\">mean rate</th>"
                        "<th class=\"num\">peak queue</th></tr></thead>\n<tbody>\n");
  for (guint i = 0; i < report->stages->len; i++)
    {
      SutraReportStage *stage = report->stages->pdata[i];
      g_autofree char *n_in = format_count (stage->n_in);
      g_autofree char *n_out = format_count (stage->n_out);
      g_autofree char *n_failed = format_count (stage->n_failed);
      g_autofree char *n_cached = format_count (stage->n_cached);
      g_autofree char *seconds = format_duration (stage->state != NULL ? stage->seconds : -1);
      g_autofree char *busy = format_duration (stage->busy_us >= 0 ? stage->busy_us / 1e6 : -1);
      g_autofree char *rate =
        stage->seconds > 0 ? format_rate (stage_items (stage) / stage->seconds) : g_strdup ("—");
      double utilisation = stage_utilisation (stage);
      guint peak = 0;

      for (guint k = 0; k < stage->samples->len; k++)
        peak = MAX (peak, g_array_index (stage->samples, SutraJournalSample, k).queue_fill);
      g_string_append_printf (out, "<tr class=\"stage%s\" ",
                              stage->is_bottleneck ? " bottleneck" : "");
      append_id (out, "id=\"stage-", stage->name);
      g_string_append (out, "\"><td class=\"name\">");
      append_escaped (out, stage->name);
      if (stage->is_bottleneck)
        g_string_append (out, " <span class=\"pill stopped\">bottleneck</span>");
      g_string_append (out, "</td><td class=\"plugin\">");
      append_escaped (out, stage->plugin);
      if (stage->devices != NULL)
        {
          g_string_append (out, "<br><span class=\"devices\">on ");
          append_escaped (out, stage->devices);
          g_string_append (out, "</span>");
        }
      g_string_append_printf (out,
                              "</td><td><span class=\"pill %s\">%s</span></td>"
                              "<td class=\"num\">%u</td><td class=\"num n-in\">%s</td>"
                              "<td class=\"num n-out\">%s</td><td class=\"num n-failed\">%s</td>"
                              "<td class=\"num n-cached\">%s</td><td class=\"num\">%s</td>"
                              "<td class=\"num\">%s</td>",
                              state_class (stage->state),
                              stage->state != NULL ? state_class (stage->state) : "not run",
                              stage->workers, n_in, n_out, n_failed, n_cached, seconds, busy);
      if (utilisation >= 0)
        g_string_append_printf (out, "<td class=\"num busy\">%.0f%%</td>", utilisation * 100);
      else
        g_string_append (out, "<td class=\"num busy\">—</td>");
      g_string_append_printf (out, "<td class=\"num\">%s</td>", rate);
      if (stage->queue_capacity > 0)
        g_string_append_printf (out, "<td class=\"num\">%u / %u</td></tr>\n", peak,
                                stage->queue_capacity);
      else
        g_string_append (out, "<td class=\"num\">—</td></tr>\n");
    }
  g_string_append (out, "</tbody></table>\n<p class=\"note\">busy: the share of its workers' "
                        "time a stage spent processing. The bottleneck is the busiest stage; "
                        "the queues before it fill while those after it run empty.</p>"
                        "</section>\n");
}

static void
append_failures (GString *out, SutraReport *report, SutraJournalRun *last)
{
  g_string_append_printf (out, "<section id=\"failures\"><h2>Failures (%u)</h2>\n",
                          report->failures->len + report->n_more_failures);
  /* What stopped the run (a stage that failed an item with on_error
   * "fail", a plugin that could not start) is no skipped item: say it
   * first. */
  if (last != NULL && last->message != NULL)
    {
      g_string_append (out, "<p class=\"run-error\">The run failed: <code>");
      append_escaped (out, last->message);
      g_string_append (out, "</code></p>\n");
    }
  if (report->failures->len == 0)
    {
      g_string_append (out, "<p class=\"note\">No item failed and was skipped.</p></section>\n");
      return;
    }
  g_string_append (out, "<table><thead><tr><th>stage</th><th>item</th><th>message</th>"
                        "</tr></thead>\n<tbody>\n");
  for (guint i = 0; i < report->failures->len; i++)
    {
      g_auto (GStrv) fields = g_strsplit (report->failures->pdata[i], "\t", 3);

      g_string_append (out, "<tr class=\"failure\"><td class=\"stage\">");
      append_escaped (out, fields[0]);
      g_string_append (out, "</td><td class=\"item\">");
      append_escaped (out, fields[1]);
      g_string_append (out, "</td><td class=\"message\">");
      append_escaped (out, fields[1] != NULL ? fields[2] : NULL);
      g_string_append (out, "</td></tr>\n");
    }
  g_string_append (out, "</tbody></table>\n");
  if (report->n_more_failures > 0)
    g_string_append_printf (out,
                            "<p class=\"note\">… and %u more: “sutra status --json” lists "
                            "them all.</p>\n",
                            report->n_more_failures);
  g_string_append (out, "<p class=\"note\">Try them again with “sutra resume --retry-failed "
                        "JOB”.</p></section>\n");
}

static void
append_runs (GString *out, SutraReport *report, double last_fallback)
{
  if (report->runs->len < 2)
    return;
  g_string_append (out, "<section id=\"runs\"><h2>Runs of this job</h2>\n<table><thead><tr>"
                        "<th class=\"num\">#</th><th>started</th><th class=\"num\">duration</th>"
                        "<th>state</th><th>command</th></tr></thead>\n<tbody>\n");
  for (guint i = 0; i < report->runs->len; i++)
    {
      SutraJournalRun *run = report->runs->pdata[i];
      g_autofree char *started = format_time (run->started);
      g_autofree char *duration =
        format_duration (run_duration (run, i + 1 == report->runs->len ? last_fallback : -1));
      const char *state = run->state;

      if (g_strcmp0 (state, "running") == 0 && (i + 1 < report->runs->len || !report->job_running))
        state = "interrupted";
      g_string_append_printf (out,
                              "<tr><td class=\"num\">%u</td><td>%s</td><td class=\"num\">%s</td>"
                              "<td><span class=\"pill %s\">",
                              i + 1, started, duration, state_class (state));
      append_escaped (out, state);
      g_string_append (out, "</span></td><td class=\"message\">");
      append_escaped (out, run->command);
      g_string_append (out, "</td></tr>\n");
    }
  g_string_append (
    out, "</tbody></table><p class=\"note\">The charts show the last run that did some work.</p>"
         "</section>\n");
}

char *
sutra_report_to_html (SutraReport *report)
{
  GString *out = g_string_new (NULL);
  SutraJournalRun *last = report->runs->len > 0 ? report->runs->pdata[report->runs->len - 1] : NULL;
  double sampled = last_sample_time (report);
  const char *state = job_state (report, last);
  g_autofree char *graph = NULL;
  g_autofree char *started = format_time (last != NULL ? last->started : -1);
  g_autofree char *duration = format_duration (last != NULL ? run_duration (last, sampled) : -1);
  g_autofree char *title =
    g_strdup_printf ("sutra report: %s", *report->name != '\0' ? report->name : "pipeline");
  g_autoptr (GString) totals = g_string_new (NULL);
  guint64 n_failed = 0;

  sutra_report_layout (report);
  graph = sutra_report_graph_svg (report);
  for (guint i = 0; i < report->stages->len; i++)
    n_failed += ((SutraReportStage *) report->stages->pdata[i])->n_failed;

  g_string_append (out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"generator\" content=\"sutra " SUTRA_VERSION_STRING "\">\n"
                        "<title>");
  append_escaped (out, title);
  g_string_append_printf (out, "</title>\n<style>%s</style>\n</head>\n<body>\n<header>\n<h1>",
                          style);
  append_escaped (out, *report->name != '\0' ? report->name : "pipeline");
  g_string_append_printf (out, "<span class=\"state %s\" id=\"job-state\">", state_class (state));
  append_escaped (out, state);
  g_string_append (out, "</span></h1>\n<div>");
  if (n_failed > 0)
    {
      g_autofree char *count = format_count (n_failed);

      g_string_append_printf (out, "%s item%s failed · ", count, n_failed == 1 ? "" : "s");
    }
  g_string_append_printf (out, "%u stage%s · run %u of this job</div>\n</header>\n<main>\n",
                          report->stages->len, report->stages->len == 1 ? "" : "s",
                          MAX (report->runs->len, 1));

  g_string_append (out, "<section id=\"summary\"><h2>Job</h2>\n<dl class=\"facts\">\n");
  append_fact (out, "job", report->job_dir, "fact-job");
  append_fact (out, "pipeline", last != NULL ? last->pipeline : NULL, "fact-pipeline");
  append_fact (out, "command", last != NULL ? last->command : NULL, "fact-command");
  append_fact (out, "started", started, "fact-started");
  append_fact (out, "duration", duration, "fact-duration");
  append_fact (out, "state", state, "fact-state");
  if (last != NULL && last->message != NULL)
    append_fact (out, "error", last->message, "fact-error");
  append_fact (out, "inputs", last != NULL ? last->inputs : NULL, "fact-inputs");
  append_fact (out, "outputs", last != NULL ? last->outputs : NULL, "fact-outputs");
  g_string_append (out, "</dl></section>\n");

  g_string_append (out, "<section id=\"graph\"><h2>Pipeline</h2>\n");
  g_string_append (out, graph);
  g_string_append (out, "</section>\n");

  append_stage_table (out, report);

  g_string_append (out, "<section id=\"timeline\"><h2>Over time</h2>\n<div class=\"charts\">\n");
  append_chart (out, report, "chart-rate", "Items per second", "", sample_rate, 0);
  append_chart (out, report, "chart-queue", "Input queue fill", "%", sample_queue_fill, 100);
  append_chart (out, report, "chart-busy", "Workers busy", "%", sample_busy, 100);
  append_activity (out, report);
  g_string_append (out, "</div>\n<p class=\"note\">A full input queue before a stage whose "
                        "workers are all busy marks the bottleneck: give it more workers.</p>"
                        "</section>\n");

  append_failures (out, report, last);
  append_runs (out, report, sampled);
  g_string_append (out, "</main>\n</body>\n</html>\n");
  return g_string_free (out, FALSE);
}

gboolean
sutra_report_write (const char *job_dir, const char *path, GError **error)
{
  g_autoptr (SutraReport) report = sutra_report_load (job_dir, error);
  g_autofree char *html = NULL;
  g_autoptr (GError) local = NULL;

  if (report == NULL)
    return FALSE;
  html = sutra_report_to_html (report);
  if (!g_file_set_contents (path, html, -1, &local))
    {
      g_set_error (error, SUTRA_REPORT_ERROR, SUTRA_REPORT_ERROR_WRITE,
                   "cannot write the report “%s”: %s", path, local->message);
      return FALSE;
    }
  return TRUE;
}
