/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the progress display says: totals (estimated below a split), recent
 * rates of computed items, ETAs, and the table, log line and summary. */

/*
 * Totals. A stage expects what its inputs will emit: a source's count when
 * it gave one, a map's input, a gather's groups. A split's children are
 * estimated from its way through its inputs: children so far over inputs
 * done so far, scaled to the inputs expected. An input still in the
 * plugin counts by the share of its payload bytes its children already
 * carry (segments of a text carry the text), calibrated by the inputs that
 * are done; so one book gets an estimate long before it is split. Totals
 * that rest on an estimate are shown "~12,400"; exact ones once every
 * stage above is done or a source counted its items. Without either, what
 * is known to come at least ("12,400+"): the children so far, the items a
 * source made so far.
 *
 * Rates. Only computed items count: items taken from the store or from
 * another job's cache arrive in bursts at the start of a resumed run and
 * would inflate the rate and shorten the ETA. The rate is that of the last
 * RATE_WINDOW_US, so that it follows a stage that speeds up or slows down.
 */

#include "sutra-progress-view.h"

#include <math.h>
#include <string.h>

#define N_SAMPLES 64
#define RATE_WINDOW_US (10 * G_USEC_PER_SEC)
#define RATE_MIN_SPAN_US (G_USEC_PER_SEC / 2)
#define SAMPLE_SPACING_US (G_USEC_PER_SEC / 10)
#define BAR_WIDTH 10

typedef struct
{
  gint64 t;
  guint64 computed;
} Sample;

typedef struct
{
  char *name;
  SutraStageKind kind;
  GArray *inputs; /* guint */
  SutraStageStats stats;
  Sample samples[N_SAMPLES]; /* a ring: the newest at head - 1 */
  guint n_samples;
  guint head;
  SutraProgressEstimate estimate;
  char *devices; /* items per device, or NULL */
} ViewStage;

struct _SutraProgressView
{
  GPtrArray *stages;  /* ViewStage */
  GPtrArray *outputs; /* char * */
  gboolean started;
  gint64 first_us;
  gint64 last_us;
  double eta_s;
  char *stopping_notice;
  gboolean stopping;
  guint name_width;
  guint counts_width; /* grows, never shrinks: columns do not jump */
};

static void
view_stage_free (ViewStage *stage)
{
  g_free (stage->name);
  g_free (stage->devices);
  g_array_unref (stage->inputs);
  g_free (stage);
}

SutraProgressView *
sutra_progress_view_new (void)
{
  SutraProgressView *view = g_new0 (SutraProgressView, 1);

  view->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) view_stage_free);
  view->outputs = g_ptr_array_new_with_free_func (g_free);
  view->name_width = 5;
  view->eta_s = -1;
  return view;
}

void
sutra_progress_view_free (SutraProgressView *view)
{
  if (view == NULL)
    return;
  g_ptr_array_unref (view->stages);
  g_ptr_array_unref (view->outputs);
  g_free (view->stopping_notice);
  g_free (view);
}

void
sutra_progress_view_add_stage (SutraProgressView *view,
                               const char *name,
                               SutraStageKind kind,
                               const guint *inputs,
                               guint n_inputs)
{
  ViewStage *stage = g_new0 (ViewStage, 1);

  g_return_if_fail (view != NULL && name != NULL);
  stage->name = g_strdup (name);
  stage->kind = kind;
  stage->inputs = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n_inputs; i++)
    {
      g_return_if_fail (inputs[i] < view->stages->len);
      g_array_append_val (stage->inputs, inputs[i]);
    }
  stage->estimate.rate = -1;
  stage->estimate.eta_s = -1;
  view->name_width = CLAMP ((guint) g_utf8_strlen (name, -1), view->name_width, 24);
  g_ptr_array_add (view->stages, stage);
}

void
sutra_progress_view_set_devices (SutraProgressView *view, guint index, const char *devices)
{
  ViewStage *stage;

  g_return_if_fail (view != NULL && index < view->stages->len);
  stage = view->stages->pdata[index];
  g_free (stage->devices);
  stage->devices = g_strdup (devices);
}

void
sutra_progress_view_add_output (SutraProgressView *view, const char *path)
{
  g_return_if_fail (view != NULL && path != NULL);
  g_ptr_array_add (view->outputs, g_strdup (path));
}

void
sutra_progress_view_set_stopping (SutraProgressView *view, const char *notice)
{
  view->stopping = TRUE;
  g_free (view->stopping_notice);
  view->stopping_notice = g_strdup (notice);
}

/* Estimates ------------------------------------------------------------- */

/* Items the stage computed itself, in the unit of its rate. */
static guint64
computed_count (ViewStage *stage)
{
  const SutraStageStats *s = &stage->stats;
  /* Not computed here either: other shards' items. */
  guint64 from_store = s->n_cached + s->n_resumed + s->n_elsewhere;

  switch (stage->kind)
    {
    case SUTRA_STAGE_SOURCE:
      return s->n_out;
    case SUTRA_STAGE_SPLIT:
      return s->split.n_pushed;
    default:
      return s->n_in > from_store ? s->n_in - from_store : 0;
    }
}

static void
add_sample (ViewStage *stage, gint64 now_us)
{
  guint newest = (stage->head + N_SAMPLES - 1) % N_SAMPLES;
  Sample sample = { now_us, computed_count (stage) };

  /* Redraws between two ticks (a notice) replace the newest sample rather
   * than crowd the window out. */
  if (stage->n_samples > 0 && now_us - stage->samples[newest].t < SAMPLE_SPACING_US)
    {
      stage->samples[newest] = sample;
      return;
    }
  stage->samples[stage->head] = sample;
  stage->head = (stage->head + 1) % N_SAMPLES;
  stage->n_samples = MIN (stage->n_samples + 1, N_SAMPLES);
}

/* The sample @age updates ago: 1 is the newest. */
static const Sample *
sample_at (ViewStage *stage, guint age)
{
  return &stage->samples[(stage->head + N_SAMPLES - age) % N_SAMPLES];
}

/* Computed items a second over the last RATE_WINDOW_US; over the stage's
 * whole time once it has finished; < 0 while there is too little to say. */
static double
stage_rate (ViewStage *stage, gint64 now_us)
{
  const SutraStageStats *s = &stage->stats;
  const Sample *newest, *oldest;
  guint first = 0;

  if (s->state != SUTRA_STAGE_STATE_RUNNING && s->state != SUTRA_STAGE_STATE_WAITING)
    {
      double seconds = (s->finished_us - s->started_us) / 1e6;
      guint64 computed = computed_count (stage);

      /* A rate over less than a second says little. */
      return computed > 0 && seconds >= 1 ? computed / seconds : -1;
    }
  if (stage->n_samples < 2)
    return -1;
  newest = sample_at (stage, 1);
  if (newest->computed == 0)
    return -1; /* not started: no pace yet */
  for (guint k = stage->n_samples; k >= 2 && first == 0; k--)
    if (now_us - sample_at (stage, k)->t <= RATE_WINDOW_US)
      first = k;
  if (first == 0)
    return -1;
  /* Time before the stage's first item (waiting for its input) is not
   * its pace: start from the last sample of that wait. A wait that
   * fills the window is a stall: 0. */
  while (first > 1 && sample_at (stage, first - 1)->computed == sample_at (stage, first)->computed)
    first--;
  if (first == 1)
    return 0;
  oldest = sample_at (stage, first);
  if (newest->t - oldest->t < RATE_MIN_SPAN_US)
    return -1;
  return (double) (newest->computed - MIN (oldest->computed, newest->computed)) /
         ((newest->t - oldest->t) / 1e6);
}

/* A split's children, expected from @in_total inputs: see the top of the
 * file. Returns FALSE when there is nothing to go by yet. */
static gboolean
estimate_split_children (const SutraSplitCounters *c, guint64 in_total, guint64 *children)
{
  double inputs_done = c->n_in_done;
  double so_far = c->n_out_done + c->n_out_in_flight;
  gboolean measured = c->n_in_done > 0 && c->bytes_in_done > 0 && c->bytes_out_done > 0;
  double per_input;

  if (c->n_in_flight > 0 && c->bytes_in_flight > 0 && c->bytes_out_in_flight > 0)
    {
      /* Output bytes per input byte: measured on the inputs done, else
       * taken as 1 (a split that cuts its input into pieces). */
      double calibration = measured ? (double) c->bytes_out_done / c->bytes_in_done : 1.0;
      double fraction = (double) c->bytes_out_in_flight / c->bytes_in_flight / calibration;

      /* Past 1 without a calibration, bytes are no guide (a compressed
       * input): only the inputs done are. */
      if (fraction < 1 || measured)
        inputs_done += MIN (fraction, 0.99) * c->n_in_flight;
      else
        so_far = c->n_out_done;
    }
  else if (c->n_in_flight > 0)
    so_far = c->n_out_done; /* no bytes to go by: the inputs done only */
  if (inputs_done <= 0)
    return FALSE;
  per_input = so_far / inputs_done;
  *children = (guint64) MAX (round (per_input * in_total), c->n_out_done + c->n_out_in_flight);
  return TRUE;
}

/* The stage's outputs, expected: what the stages below it take in. When
 * not known, @total is what is known to come at least. */
typedef struct
{
  guint64 total;
  gboolean known;
  gboolean exact;
} Expected;

/* The stage's expected input, from what the stages above it (in
 * @expected, filled already) will emit. */
static void
estimate_stage (ViewStage *stage, const Expected *expected)
{
  const SutraStageStats *s = &stage->stats;
  SutraProgressEstimate *e = &stage->estimate;
  gboolean done = s->state == SUTRA_STAGE_STATE_DONE;
  Expected in = { 0, TRUE, TRUE };

  e->total_known = e->total_exact = e->out_known = e->out_exact = FALSE;
  e->total = e->out_total = e->out_done = 0;
  if (stage->kind == SUTRA_STAGE_SOURCE)
    {
      e->done = s->n_out;
      if (done || s->n_total > 0)
        in = (Expected){ done ? s->n_out : s->n_total, TRUE, TRUE };
      else
        in = (Expected){ s->n_out, FALSE, FALSE }; /* at least */
    }
  else
    {
      for (guint i = 0; i < stage->inputs->len; i++)
        {
          const Expected *u = &expected[g_array_index (stage->inputs, guint, i)];

          in.total += u->total;
          in.known &= u->known;
          in.exact &= u->exact;
        }
      /* A split's input is done when all its children are out, not when
       * the split takes it. */
      e->done = stage->kind == SUTRA_STAGE_SPLIT ? s->split.n_in_done : s->n_in;
      if (done)
        in = (Expected){ s->n_in, TRUE, TRUE };
    }
  /* An estimate never says less than is already there; unknown, the
   * total is what is known to come at least. */
  e->total = in.known ? MAX (in.total, e->done) : in.total;
  e->total_known = in.known;
  e->total_exact = in.known && in.exact;
}

/* Fills @expected[index] for the stage at @index (the others above it are
 * filled already). */
static void
estimate_outputs (SutraProgressView *view, guint index, Expected *expected)
{
  ViewStage *stage = view->stages->pdata[index];
  const SutraStageStats *s = &stage->stats;
  SutraProgressEstimate *e = &stage->estimate;
  gboolean done = s->state == SUTRA_STAGE_STATE_DONE;
  Expected *out = &expected[index];

  *out = (Expected){ 0, FALSE, FALSE };
  switch (stage->kind)
    {
    case SUTRA_STAGE_SOURCE:
      *out = (Expected){ e->total, e->total_known, e->total_exact };
      break;
    case SUTRA_STAGE_SINK:
      *out = (Expected){ 0, TRUE, TRUE };
      break;
    case SUTRA_STAGE_MAP:
      if (done)
        *out = (Expected){ s->n_out, TRUE, TRUE };
      else
        *out = (Expected){ e->total, e->total_known, e->total_exact };
      break;
    case SUTRA_STAGE_GATHER:
      if (done)
        *out = (Expected){ s->n_out, TRUE, TRUE };
      else if (e->total_known && s->n_in > 0 && s->n_out > 0)
        *out = (Expected){ (guint64) round ((double) s->n_out * e->total / s->n_in), TRUE, FALSE };
      else
        *out = (Expected){ s->n_out, FALSE, FALSE };
      break;
    case SUTRA_STAGE_SPLIT:
      e->out_done = MAX (s->n_out, s->split.n_out_done + s->split.n_out_in_flight);
      if (done)
        *out = (Expected){ s->n_out, TRUE, TRUE };
      else if (e->total_known && estimate_split_children (&s->split, e->total, &out->total))
        {
          out->known = TRUE;
          /* Every input done and none to come: the count is final. */
          out->exact =
            e->total_exact && s->split.n_in_done == e->total && s->split.n_in_flight == 0;
        }
      else
        out->total = e->out_done; /* at least */
      e->out_total = MAX (out->total, e->out_done);
      e->out_known = out->known;
      e->out_exact = out->exact;
      break;
    }
}

void
sutra_progress_view_update (SutraProgressView *view, const SutraStageStats *stats, gint64 now_us)
{
  guint n = view->stages->len;
  g_autofree Expected *expected = g_new0 (Expected, MAX (n, 1));
  gboolean run_eta_known = TRUE;
  double run_eta = 0;

  if (!view->started)
    {
      view->started = TRUE;
      view->first_us = now_us;
    }
  view->last_us = now_us;
  for (guint i = 0; i < n; i++)
    {
      ViewStage *stage = view->stages->pdata[i];
      SutraProgressEstimate *e = &stage->estimate;
      guint64 remaining = 0;
      gboolean remaining_known;
      double eta;

      stage->stats = stats[i];
      stage->stats.name = stage->name; /* the caller's may not outlive the call */
      add_sample (stage, now_us);
      estimate_stage (stage, expected);
      estimate_outputs (view, i, expected);
      e->rate = stage_rate (stage, now_us);

      if (stage->kind == SUTRA_STAGE_SPLIT)
        {
          remaining_known = e->out_known;
          remaining = e->out_total - MIN (e->out_done, e->out_total);
        }
      else
        {
          remaining_known = e->total_known;
          remaining = e->total - MIN (e->done, e->total);
        }
      if (stage->stats.state == SUTRA_STAGE_STATE_DONE)
        eta = 0;
      else if (stage->stats.state != SUTRA_STAGE_STATE_RUNNING || !remaining_known ||
               view->stopping)
        eta = -1;
      else if (remaining == 0)
        eta = 0;
      else
        eta = e->rate > 0 ? remaining / e->rate : -1;
      /* A stage is done no sooner than the stages it reads. */
      for (guint k = 0; k < stage->inputs->len && eta >= 0; k++)
        {
          ViewStage *upstream = view->stages->pdata[g_array_index (stage->inputs, guint, k)];

          if (upstream->estimate.eta_s < 0)
            eta = -1;
          else
            eta = MAX (eta, upstream->estimate.eta_s);
        }
      e->eta_s = eta;
      if (eta < 0)
        run_eta_known = FALSE;
      else
        run_eta = MAX (run_eta, eta);
    }
  view->eta_s = run_eta_known ? run_eta : -1;
}

void
sutra_progress_view_get_estimate (SutraProgressView *view,
                                  guint stage_index,
                                  SutraProgressEstimate *estimate)
{
  g_return_if_fail (stage_index < view->stages->len);
  *estimate = ((ViewStage *) view->stages->pdata[stage_index])->estimate;
}

double
sutra_progress_view_get_elapsed (SutraProgressView *view)
{
  return view->started ? (view->last_us - view->first_us) / 1e6 : 0;
}

double
sutra_progress_view_get_eta (SutraProgressView *view)
{
  return view->eta_s;
}

/* Text ------------------------------------------------------------------ */

static void
append_grouped (GString *out, guint64 value)
{
  char digits[32];
  guint n = g_snprintf (digits, sizeof digits, "%" G_GUINT64_FORMAT, value);

  for (guint i = 0; i < n; i++)
    {
      if (i > 0 && (n - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
}

void
sutra_progress_format_count (char *buffer, gsize size, guint64 value)
{
  /* Thresholds where the rounding carries over: 999,950 is "1.00M", not
   * "1000.0k". */
  if (value >= 999995000)
    g_snprintf (buffer, size, "%.2fG", value / 1e9);
  else if (value >= 999950)
    g_snprintf (buffer, size, "%.2fM", value / 1e6);
  else if (value >= 100000)
    g_snprintf (buffer, size, "%.1fk", value / 1e3);
  else
    {
      g_autoptr (GString) text = g_string_new (NULL);

      append_grouped (text, value);
      g_strlcpy (buffer, text->str, size);
    }
}

void
sutra_progress_format_duration (char *buffer, gsize size, double seconds)
{
  guint64 s = seconds > 0 ? (guint64) (seconds + 0.5) : 0;

  if (s >= 3600)
    g_snprintf (buffer, size, "%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600, (guint) (s / 60 % 60),
                (guint) (s % 60));
  else
    g_snprintf (buffer, size, "%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

/* Elapsed times in the summary: "5.9 s" below a minute. */
static void
format_elapsed (char *buffer, gsize size, double seconds)
{
  if (seconds < 59.95)
    g_snprintf (buffer, size, "%.1f s", MAX (seconds, 0));
  else
    sutra_progress_format_duration (buffer, size, seconds);
}

static void
append_count (GString *out, guint64 value)
{
  char text[32];

  sutra_progress_format_count (text, sizeof text, value);
  g_string_append (out, text);
}

/* "12,400", "~12,400"; unknown, "12,400+" (at least, more than the
 * @done beside it) or "?". */
static void
append_total (GString *out, guint64 total, gboolean known, gboolean exact, guint64 done)
{
  if (!known)
    {
      if (total > done)
        {
          append_count (out, total);
          g_string_append_c (out, '+');
        }
      else
        g_string_append_c (out, '?');
      return;
    }
  if (!exact)
    g_string_append_c (out, '~');
  append_count (out, total);
}

static void
append_rate (GString *out, double rate)
{
  if (rate < 0)
    return;
  if (rate < 9.95)
    g_string_append_printf (out, "%.1f/s", rate);
  else
    {
      append_count (out, (guint64) (rate + 0.5));
      g_string_append (out, "/s");
    }
}

/* The table's count column: done of the total; a split's children (its
 * inputs are at the end of the line, see append_split_inputs). */
static void
append_column_counts (GString *out, ViewStage *stage)
{
  const SutraProgressEstimate *e = &stage->estimate;

  if (stage->kind != SUTRA_STAGE_SPLIT)
    {
      append_count (out, e->done);
      g_string_append_c (out, '/');
      append_total (out, e->total, e->total_known, e->total_exact, e->done);
      return;
    }
  append_count (out, e->out_done);
  g_string_append_c (out, '/');
  append_total (out, e->out_total, e->out_known, e->out_exact, e->out_done);
}

static void
append_split_inputs (GString *out, ViewStage *stage)
{
  const SutraProgressEstimate *e = &stage->estimate;

  if (stage->kind != SUTRA_STAGE_SPLIT)
    return;
  g_string_append (out, "  inputs ");
  append_count (out, e->done);
  g_string_append_c (out, '/');
  append_total (out, e->total, e->total_known, e->total_exact, e->done);
}

/* "1/1" for most stages; "1/1 → 4,210/~9,850" for a split (the log line). */
static void
append_counts (GString *out, ViewStage *stage)
{
  const SutraProgressEstimate *e = &stage->estimate;

  append_count (out, e->done);
  g_string_append_c (out, '/');
  append_total (out, e->total, e->total_known, e->total_exact, e->done);
  if (stage->kind == SUTRA_STAGE_SPLIT)
    {
      g_string_append (out, " → ");
      append_count (out, e->out_done);
      g_string_append_c (out, '/');
      append_total (out, e->out_total, e->out_known, e->out_exact, e->out_done);
    }
}

static const char *
state_word (const SutraStageStats *s)
{
  switch (s->state)
    {
    case SUTRA_STAGE_STATE_DONE:
      return s->skipped ? "up to date" : "done";
    case SUTRA_STAGE_STATE_FAILED:
      return "FAILED";
    case SUTRA_STAGE_STATE_STOPPED:
      return "stopped";
    case SUTRA_STAGE_STATE_WAITING:
      return "waiting";
    default:
      return NULL;
    }
}

static void
append_padded (GString *out, const char *text, guint width, gboolean right)
{
  guint length = g_utf8_strlen (text, -1);

  if (!right)
    g_string_append (out, text);
  for (guint i = length; i < width; i++)
    g_string_append_c (out, ' ');
  if (right)
    g_string_append (out, text);
}

/* ", 1,200 resumed, 40 cached, 3 failed, 90 cache hits, 10 misses" (what
 * is there). */
static void
append_extras (GString *out, const SutraStageStats *s, const char *separator)
{
  if (s->n_resumed > 0)
    {
      g_string_append (out, separator);
      append_count (out, s->n_resumed);
      g_string_append (out, " resumed");
    }
  if (s->n_cached > 0)
    {
      g_string_append (out, separator);
      append_count (out, s->n_cached);
      g_string_append (out, " cached");
    }
  if (s->n_failed > 0)
    {
      g_string_append (out, separator);
      append_count (out, s->n_failed);
      g_string_append (out, " failed");
    }
  if (s->n_elsewhere > 0)
    {
      g_string_append (out, separator);
      append_count (out, s->n_elsewhere);
      g_string_append (out, " left to other shards");
    }
  /* A content-cached stage: what it found and what it computed. */
  if (s->cache_hits + s->cache_misses > 0)
    {
      g_string_append (out, separator);
      append_count (out, s->cache_hits);
      g_string_append (out, " cache hits");
      g_string_append (out, separator);
      append_count (out, s->cache_misses);
      g_string_append (out, " misses");
    }
}

/* Appends @line cut to @width - 1 columns (0: no limit) and a newline. */
static void
append_line (GString *out, const char *line, guint width)
{
  glong length = g_utf8_strlen (line, -1);

  if (width > 1 && length > (glong) width - 1)
    {
      const char *end = g_utf8_offset_to_pointer (line, width - 1);

      g_string_append_len (out, line, end - line);
    }
  else
    g_string_append (out, line);
  g_string_append_c (out, '\n');
}

static void
append_footer (SutraProgressView *view, GString *line)
{
  char text[32];

  sutra_progress_format_duration (text, sizeof text, sutra_progress_view_get_elapsed (view));
  g_string_append_printf (line, "  elapsed %s", text);
  if (view->stopping)
    {
      g_string_append_printf (line, ", %s",
                              view->stopping_notice != NULL ? view->stopping_notice : "stopping");
      return;
    }
  if (view->eta_s > 0)
    {
      sutra_progress_format_duration (text, sizeof text, view->eta_s);
      g_string_append_printf (line, ", ETA %s", text);
    }
}

char *
sutra_progress_view_render_table (SutraProgressView *view, guint width, guint max_lines)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);
  g_autoptr (GString) counts = g_string_new (NULL);
  guint n = view->stages->len;
  guint shown = n;

  /* The stages, the footer, and the line the cursor rests on must fit
   * the terminal, or redrawing in place would scroll. */
  if (max_lines > 0 && n + 2 > max_lines)
    shown = max_lines > 3 ? max_lines - 3 : 0;

  for (guint i = 0; i < n; i++)
    {
      ViewStage *stage = view->stages->pdata[i];

      g_string_truncate (counts, 0);
      append_column_counts (counts, stage);
      view->counts_width = MAX (view->counts_width, (guint) g_utf8_strlen (counts->str, -1));
    }
  for (guint i = 0; i < shown; i++)
    {
      ViewStage *stage = view->stages->pdata[i];
      const SutraStageStats *s = &stage->stats;
      const SutraProgressEstimate *e = &stage->estimate;
      const char *word = state_word (s);

      /* Stopping: what runs finishes its items in flight, no more. */
      if (word == NULL && view->stopping)
        word = "finishing";
      g_string_assign (line, "  ");
      append_padded (line, stage->name, view->name_width, FALSE);
      g_string_append_c (line, ' ');
      g_string_truncate (counts, 0);
      append_column_counts (counts, stage);
      append_padded (line, counts->str, view->counts_width, TRUE);
      g_string_truncate (counts, 0);
      append_rate (counts, e->rate);
      g_string_append_c (line, ' ');
      append_padded (line, counts->str, 8, TRUE);
      g_string_truncate (counts, 0);
      if (word != NULL)
        g_string_append (counts, word);
      else if (e->eta_s >= 0)
        {
          char duration[24];

          sutra_progress_format_duration (duration, sizeof duration, e->eta_s);
          g_string_append_printf (counts, "ETA %s", duration);
        }
      g_string_append_c (line, ' ');
      append_padded (line, counts->str, 10, FALSE);
      if (s->queue_capacity > 0)
        {
          guint filled = (guint) (BAR_WIDTH * (double) s->queue_fill / s->queue_capacity + 0.5);

          g_string_append (line, " [");
          for (guint k = 0; k < BAR_WIDTH; k++)
            g_string_append_c (line, k < filled ? '#' : '.');
          g_string_append_c (line, ']');
        }
      else
        append_padded (line, "", BAR_WIDTH + 3, FALSE);
      append_split_inputs (line, stage);
      append_extras (line, s, "  ");
      /* No trailing blanks: a cut line must not end in them either. */
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      append_line (out, line->str, width);
    }
  if (shown < n)
    {
      g_string_printf (line, "  … %u more stages", n - shown);
      append_line (out, line->str, width);
    }
  g_string_truncate (line, 0);
  append_footer (view, line);
  append_line (out, line->str, width);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
sutra_progress_view_render_line (SutraProgressView *view)
{
  g_autoptr (GString) line = g_string_new (NULL);
  char text[32];

  sutra_progress_format_duration (text, sizeof text, sutra_progress_view_get_elapsed (view));
  g_string_append_printf (line, "elapsed %s", text);
  for (guint i = 0; i < view->stages->len; i++)
    {
      ViewStage *stage = view->stages->pdata[i];
      const SutraProgressEstimate *e = &stage->estimate;
      const char *word = state_word (&stage->stats);

      if (word == NULL && view->stopping)
        word = "finishing";
      g_string_append_printf (line, " | %s ", stage->name);
      append_counts (line, stage);
      if (word != NULL)
        g_string_append_printf (line, " %s", word);
      else
        {
          if (e->rate >= 0)
            {
              g_string_append_c (line, ' ');
              append_rate (line, e->rate);
            }
          if (e->eta_s > 0)
            {
              sutra_progress_format_duration (text, sizeof text, e->eta_s);
              g_string_append_printf (line, " ETA %s", text);
            }
        }
      append_extras (line, &stage->stats, ", ");
    }
  if (view->stopping)
    g_string_append_printf (line, " | %s",
                            view->stopping_notice != NULL ? view->stopping_notice : "stopping");
  else if (view->eta_s > 0)
    {
      sutra_progress_format_duration (text, sizeof text, view->eta_s);
      g_string_append_printf (line, " | ETA %s", text);
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

char *
sutra_progress_view_render_summary (SutraProgressView *view, SutraProgressOutcome outcome)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);
  char text[32];

  format_elapsed (text, sizeof text, sutra_progress_view_get_elapsed (view));
  switch (outcome)
    {
    case SUTRA_PROGRESS_SUCCEEDED:
      g_string_append_printf (out, "sutra: finished in %s\n", text);
      break;
    case SUTRA_PROGRESS_FAILED:
      g_string_append_printf (out, "sutra: failed after %s\n", text);
      break;
    case SUTRA_PROGRESS_STOPPED:
      g_string_append_printf (out, "sutra: stopped after %s\n", text);
      break;
    default:
      g_string_append_printf (out, "sutra: running for %s\n", text);
      break;
    }
  for (guint i = 0; i < view->stages->len; i++)
    {
      ViewStage *stage = view->stages->pdata[i];
      const SutraStageStats *s = &stage->stats;
      const SutraProgressEstimate *e = &stage->estimate;
      guint64 done = e->done;
      double seconds;

      g_string_assign (line, "  ");
      append_padded (line, stage->name, view->name_width, FALSE);
      g_string_append_c (line, ' ');
      if (s->skipped)
        {
          g_string_append (line, "up to date (nothing to do)");
          append_line (out, line->str, 0);
          continue;
        }
      /* Failed items were taken in but are not done; a gather's failures
       * are groups, not the members it took. */
      if (stage->kind != SUTRA_STAGE_GATHER && stage->kind != SUTRA_STAGE_SOURCE)
        done -= MIN (s->n_failed, done);
      append_count (line, done);
      g_string_append (line, " done");
      if (stage->kind == SUTRA_STAGE_SPLIT)
        {
          g_string_append (line, " → ");
          append_count (line, e->out_done);
          g_string_append (line, " out");
        }
      append_extras (line, s, ", ");
      if (s->state == SUTRA_STAGE_STATE_STOPPED)
        g_string_append (line, " (stopped)");
      else if (s->state == SUTRA_STAGE_STATE_FAILED)
        g_string_append (line, " (FAILED)");
      else if (s->state == SUTRA_STAGE_STATE_WAITING)
        g_string_append (line, " (not started)");
      seconds = s->finished_us > s->started_us ? (s->finished_us - s->started_us) / 1e6 : 0;
      if (s->started_us > 0 && seconds > 0)
        {
          format_elapsed (text, sizeof text, seconds);
          g_string_append_printf (line, "; %s", text);
          if (e->rate > 0)
            {
              g_string_append (line, ", ");
              append_rate (line, e->rate);
            }
        }
      append_line (out, line->str, 0);
      /* Which device did what: the stage was given devices (or "auto"). */
      if (stage->devices != NULL)
        {
          g_string_assign (line, "  ");
          append_padded (line, "", view->name_width, FALSE);
          g_string_append_printf (line, " on %s", stage->devices);
          append_line (out, line->str, 0);
        }
    }
  if (view->outputs->len > 0)
    {
      g_string_append (out, outcome == SUTRA_PROGRESS_SUCCEEDED ? "sutra: output: "
                                                                : "sutra: output (unfinished): ");
      for (guint i = 0; i < view->outputs->len; i++)
        g_string_append_printf (out, "%s%s", i > 0 ? ", " : "",
                                (const char *) view->outputs->pdata[i]);
      g_string_append_c (out, '\n');
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}
