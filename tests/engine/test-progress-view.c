/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-progress-view.c: estimates, rates and the text of
 * the display, from counters the tests set (no run, no terminal). */

#include "sutra-progress-view.h"
#include "sutra-test-util.h"

#define S(seconds) ((gint64) ((seconds) *G_USEC_PER_SEC))

/* read (source) → segment (split) → speak (map) → write (sink), the shape
 * of the book pipelines. */
static SutraProgressView *
book_view (void)
{
  SutraProgressView *view = sutra_progress_view_new ();
  guint input = 0;

  sutra_progress_view_add_stage (view, "read", SUTRA_STAGE_SOURCE, NULL, 0);
  sutra_progress_view_add_stage (view, "segment", SUTRA_STAGE_SPLIT, &input, 1);
  input = 1;
  sutra_progress_view_add_stage (view, "speak", SUTRA_STAGE_MAP, &input, 1);
  input = 2;
  sutra_progress_view_add_stage (view, "write", SUTRA_STAGE_SINK, &input, 1);
  return view;
}

static void
stats_init (SutraStageStats *stats, guint n)
{
  for (guint i = 0; i < n; i++)
    stats[i] = (SutraStageStats){ .state = SUTRA_STAGE_STATE_RUNNING, .started_us = 1 };
}

/* The source is done with @n_inputs items; stats[1..3] running. */
static void
book_stats (SutraStageStats *stats, guint64 n_inputs)
{
  stats_init (stats, 4);
  stats[0].state = SUTRA_STAGE_STATE_DONE;
  stats[0].n_in = stats[0].n_out = stats[0].n_total = n_inputs;
  stats[0].finished_us = S (1);
  stats[1].n_in = n_inputs;
}

static char *
estimate_text (SutraProgressView *view, guint index)
{
  SutraProgressEstimate e;

  sutra_progress_view_get_estimate (view, index, &e);
  if (!e.total_known)
    return g_strdup ("?");
  return g_strdup_printf ("%s%" G_GUINT64_FORMAT, e.total_exact ? "" : "~", e.total);
}

static void
test_progress_view_format_count (void)
{
  static const struct
  {
    guint64 value;
    const char *text;
  } rows[] = {
    { 0, "0" },           { 999, "999" },           { 1000, "1,000" },      { 12400, "12,400" },
    { 99999, "99,999" },  { 100000, "100.0k" },     { 999949, "999.9k" },   { 999950, "1.00M" },
    { 1234567, "1.23M" }, { 999994999, "999.99M" }, { 999995000, "1.00G" }, { 5000000000, "5.00G" },
  };

  g_test_summary ("Counts read at a glance: thousands grouped, large ones shortened");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      char text[32];

      sutra_progress_format_count (text, sizeof text, rows[i].value);
      g_assert_cmpstr (text, ==, rows[i].text);
    }
}

static void
test_progress_view_format_duration (void)
{
  static const struct
  {
    double seconds;
    const char *text;
  } rows[] = {
    { 0, "0:00" },       { 4.6, "0:05" },     { 65, "1:05" },
    { 3599.4, "59:59" }, { 3723, "1:02:03" }, { -3, "0:00" },
  };

  g_test_summary ("Durations as m:ss, with hours when there are some");
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      char text[32];

      sutra_progress_format_duration (text, sizeof text, rows[i].seconds);
      g_assert_cmpstr (text, ==, rows[i].text);
    }
}

static void
test_progress_view_split_one_book_by_bytes (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *table = NULL;
  g_autofree char *speak = NULL;
  g_autofree char *write = NULL;
  SutraProgressEstimate e;

  g_test_summary ("One book in the split: its children are estimated from the share of "
                  "the book's bytes they carry, and the stages below get that total");
  book_stats (stats, 1);
  stats[1].split.n_in_flight = 1;
  stats[1].split.bytes_in_flight = 1000000;
  stats[1].split.n_out_in_flight = 2500;
  stats[1].split.bytes_out_in_flight = 250000;
  stats[1].split.n_pushed = 2500;
  sutra_progress_view_update (view, stats, S (2));

  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_true (e.out_known);
  g_assert_false (e.out_exact);
  g_assert_cmpuint (e.out_total, ==, 10000);
  g_assert_cmpuint (e.out_done, ==, 2500);
  g_assert_cmpuint (e.done, ==, 0); /* the book is not done yet */
  speak = estimate_text (view, 2);
  write = estimate_text (view, 3);
  g_assert_cmpstr (speak, ==, "~10000");
  g_assert_cmpstr (write, ==, "~10000");

  table = sutra_progress_view_render_table (view, 100, 24);
  sutra_assert_contains (table, "  segment 2,500/~10,000");
  sutra_assert_contains (table, "  inputs 0/1");
  sutra_assert_contains (table, "0/~10,000");
}

static void
test_progress_view_split_many_inputs_by_ratio (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *speak = NULL;
  SutraProgressEstimate e;

  g_test_summary ("Many inputs: children per input done so far, times the inputs expected, "
                  "before the source is even done");
  book_stats (stats, 10);
  stats[0].state = SUTRA_STAGE_STATE_RUNNING;
  stats[0].n_total = 100; /* the source counted its items */
  stats[1].split.n_in_done = 10;
  stats[1].split.n_out_done = 500;
  stats[1].split.bytes_in_done = 10000;
  stats[1].split.bytes_out_done = 9000;
  sutra_progress_view_update (view, stats, S (2));

  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_cmpuint (e.total, ==, 100);
  g_assert_true (e.total_exact);
  g_assert_cmpuint (e.out_total, ==, 5000);
  g_assert_false (e.out_exact);
  speak = estimate_text (view, 2);
  g_assert_cmpstr (speak, ==, "~5000");
}

static void
test_progress_view_split_calibrated (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  SutraProgressEstimate e;

  g_test_summary ("An input in flight counts by its bytes, scaled by the output bytes per "
                  "input byte of the inputs done");
  book_stats (stats, 2);
  stats[1].split = (SutraSplitCounters){
    .n_in_done = 1,
    .bytes_in_done = 1000,
    .n_out_done = 90,
    .bytes_out_done = 900, /* 0.9 output byte per input byte */
    .n_in_flight = 1,
    .bytes_in_flight = 1000,
    .n_out_in_flight = 45,
    .bytes_out_in_flight = 450, /* half of the second input: 0.45 / 0.9 */
  };
  sutra_progress_view_update (view, stats, S (2));
  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_true (e.out_known);
  /* 135 children for 1.5 inputs: 180 for 2. */
  g_assert_cmpuint (e.out_total, ==, 180);
}

static void
test_progress_view_split_bytes_no_guide (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *table = NULL;
  SutraProgressEstimate e;

  g_test_summary ("A compressed book (an EPUB) gives more bytes out than in: no estimate "
                  "rather than a wrong one, but the children so far as a lower bound below");
  book_stats (stats, 1);
  stats[1].split = (SutraSplitCounters){
    .n_in_flight = 1,
    .bytes_in_flight = 100000,
    .n_out_in_flight = 3000,
    .bytes_out_in_flight = 300000,
    .n_pushed = 3000,
  };
  sutra_progress_view_update (view, stats, S (2));
  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_false (e.out_known);
  g_assert_cmpuint (e.out_done, ==, 3000);
  sutra_progress_view_get_estimate (view, 3, &e);
  g_assert_false (e.total_known);
  g_assert_cmpuint (e.total, ==, 3000); /* at least */
  table = sutra_progress_view_render_table (view, 100, 24);
  sutra_assert_contains (table, " 3,000/? ");
  sutra_assert_contains (table, "0/3,000+");
}

static void
test_progress_view_split_nothing_yet (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  SutraProgressEstimate e;

  g_test_summary ("A split that has pushed nothing yet gives no total below it");
  book_stats (stats, 1);
  stats[1].split.n_in_flight = 1;
  stats[1].split.bytes_in_flight = 1000;
  sutra_progress_view_update (view, stats, S (1));
  sutra_progress_view_get_estimate (view, 2, &e);
  g_assert_false (e.total_known);
  g_assert_cmpfloat (e.eta_s, <, 0);
}

static void
test_progress_view_split_done_exact (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *speak = NULL;
  g_autofree char *table = NULL;

  g_test_summary ("Once the split is done, the totals below it are exact");
  book_stats (stats, 1);
  stats[1].state = SUTRA_STAGE_STATE_DONE;
  stats[1].n_out = 9849;
  stats[1].finished_us = S (3);
  stats[1].split.n_in_done = 1;
  stats[1].split.n_out_done = 9849;
  stats[2].n_in = 100;
  sutra_progress_view_update (view, stats, S (3));
  speak = estimate_text (view, 2);
  g_assert_cmpstr (speak, ==, "9849");
  table = sutra_progress_view_render_table (view, 100, 24);
  sutra_assert_contains (table, " 9,849/9,849 ");
  sutra_assert_contains (table, "  inputs 1/1");
  sutra_assert_contains (table, "100/9,849");
  sutra_assert_not_contains (table, "~");
}

static void
test_progress_view_fan_in_and_gather (void)
{
  g_autoptr (SutraProgressView) view = sutra_progress_view_new ();
  SutraStageStats stats[5];
  guint inputs[2] = { 0, 1 };
  guint input = 2;
  g_autofree char *merge = NULL;
  g_autofree char *join = NULL;
  g_autofree char *write = NULL;

  g_test_summary ("A fan-in expects the sum of its inputs; a gather its groups, by the "
                  "groups per member so far");
  sutra_progress_view_add_stage (view, "a", SUTRA_STAGE_SOURCE, NULL, 0);
  sutra_progress_view_add_stage (view, "b", SUTRA_STAGE_SOURCE, NULL, 0);
  sutra_progress_view_add_stage (view, "merge", SUTRA_STAGE_MAP, inputs, 2);
  sutra_progress_view_add_stage (view, "join", SUTRA_STAGE_GATHER, &input, 1);
  input = 3;
  sutra_progress_view_add_stage (view, "write", SUTRA_STAGE_SINK, &input, 1);
  stats_init (stats, 5);
  stats[0].n_total = 300;
  stats[0].n_out = 10;
  stats[1].n_total = 100;
  stats[1].n_out = 10;
  stats[3].n_in = 40;
  stats[3].n_out = 4;
  sutra_progress_view_update (view, stats, S (1));
  merge = estimate_text (view, 2);
  join = estimate_text (view, 3);
  write = estimate_text (view, 4);
  g_assert_cmpstr (merge, ==, "400");
  g_assert_cmpstr (join, ==, "400");
  g_assert_cmpstr (write, ==, "~40");
}

static void
test_progress_view_source_without_total (void)
{
  g_autoptr (SutraProgressView) view = sutra_progress_view_new ();
  SutraStageStats stats[2];
  guint input = 0;
  g_autofree char *table = NULL;
  SutraProgressEstimate e;

  g_test_summary ("A source that gives no count: \"?\" for itself, what it made so far as a "
                  "lower bound below it, and no ETA");
  sutra_progress_view_add_stage (view, "read", SUTRA_STAGE_SOURCE, NULL, 0);
  sutra_progress_view_add_stage (view, "speak", SUTRA_STAGE_MAP, &input, 1);
  stats_init (stats, 2);
  stats[0].n_in = stats[0].n_out = 1234;
  stats[1].n_in = 500;
  sutra_progress_view_update (view, stats, S (1));
  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_false (e.total_known);
  g_assert_cmpuint (e.total, ==, 1234);
  g_assert_cmpfloat (e.eta_s, <, 0);
  table = sutra_progress_view_render_table (view, 100, 24);
  sutra_assert_contains (table, "1,234/?");
  sutra_assert_contains (table, "500/1,234+");
}

/* A map below a done source of 2,000 items, resumed: 1,000 come from the
 * store in the first second, then it computes 100 a second. */
static void
test_progress_view_resumed_rate (void)
{
  g_autoptr (SutraProgressView) view = sutra_progress_view_new ();
  SutraStageStats stats[2];
  guint input = 0;
  g_autofree char *table = NULL;
  g_autofree char *line = NULL;
  SutraProgressEstimate e;

  g_test_summary ("Items taken from the store are shown as resumed and do not count in "
                  "the rate or the ETA");
  sutra_progress_view_add_stage (view, "read", SUTRA_STAGE_SOURCE, NULL, 0);
  sutra_progress_view_add_stage (view, "speak", SUTRA_STAGE_MAP, &input, 1);
  stats_init (stats, 2);
  stats[0].state = SUTRA_STAGE_STATE_DONE;
  stats[0].n_out = stats[0].n_total = 2000;
  stats[0].finished_us = S (0.1);
  sutra_progress_view_update (view, stats, S (0));
  stats[1].n_in = stats[1].n_resumed = 1000;
  sutra_progress_view_update (view, stats, S (1));
  for (guint t = 2; t <= 4; t++)
    {
      stats[1].n_in = 1000 + 100 * (t - 1);
      sutra_progress_view_update (view, stats, S (t));
    }
  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_cmpuint (e.done, ==, 1300);
  g_assert_cmpuint (e.total, ==, 2000);
  g_assert_cmpfloat_with_epsilon (e.rate, 100, 1e-6);
  g_assert_cmpfloat_with_epsilon (e.eta_s, 7, 1e-6);
  g_assert_cmpfloat_with_epsilon (sutra_progress_view_get_eta (view), 7, 1e-6);
  g_assert_cmpfloat_with_epsilon (sutra_progress_view_get_elapsed (view), 4, 1e-6);
  table = sutra_progress_view_render_table (view, 100, 24);
  sutra_assert_contains (table, "1,300/2,000");
  sutra_assert_contains (table, "100/s");
  sutra_assert_contains (table, "ETA 0:07");
  sutra_assert_contains (table, "1,000 resumed");
  sutra_assert_contains (table, "elapsed 0:04, ETA 0:07");
  line = sutra_progress_view_render_line (view);
  sutra_assert_contains (line, "speak 1,300/2,000 100/s ETA 0:07, 1,000 resumed");
}

static void
test_progress_view_split_rate_counts_pushes (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  SutraProgressEstimate e;

  g_test_summary ("A split busy with one input has the rate of the children it pushes, "
                  "not 0/s");
  book_stats (stats, 1);
  stats[1].split.n_in_flight = 1;
  stats[1].split.bytes_in_flight = 100000;
  for (guint t = 0; t <= 2; t++)
    {
      stats[1].split.n_pushed = stats[1].split.n_out_in_flight = 500 * t;
      stats[1].split.bytes_out_in_flight = 5000 * t;
      sutra_progress_view_update (view, stats, S (t));
    }
  sutra_progress_view_get_estimate (view, 1, &e);
  g_assert_cmpfloat_with_epsilon (e.rate, 500, 1e-6);
  /* 1,000 children for a tenth of the book: 9,000 to go at 500/s. */
  g_assert_cmpuint (e.out_total, ==, 10000);
  g_assert_cmpfloat_with_epsilon (e.eta_s, 18, 1e-6);
}

static void
test_progress_view_eta_waits_for_upstream (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  SutraProgressEstimate split, sink;

  g_test_summary ("A stage is done no sooner than the stages above it");
  book_stats (stats, 1);
  stats[1].split.n_in_flight = 1;
  stats[1].split.bytes_in_flight = 100000;
  for (guint t = 0; t <= 2; t++)
    {
      stats[1].split.n_pushed = stats[1].split.n_out_in_flight = 500 * t;
      stats[1].split.bytes_out_in_flight = 5000 * t;
      /* Faster below (by its own count it would be done in 9 s). */
      stats[2].n_in = stats[3].n_in = 900 * t;
      sutra_progress_view_update (view, stats, S (t));
    }
  sutra_progress_view_get_estimate (view, 1, &split);
  sutra_progress_view_get_estimate (view, 3, &sink);
  g_assert_cmpfloat_with_epsilon (split.eta_s, 18, 1e-6);
  g_assert_cmpfloat_with_epsilon (sink.eta_s, 18, 1e-6);
}

static void
test_progress_view_stalled_and_unstarted (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  SutraProgressEstimate e;

  g_test_summary ("No rate before a stage's first item; 0/s once it stalls for the "
                  "whole window");
  book_stats (stats, 1);
  for (guint t = 0; t <= 12; t++)
    {
      stats[3].n_in = t == 0 ? 0 : 10;
      sutra_progress_view_update (view, stats, S (t));
    }
  sutra_progress_view_get_estimate (view, 2, &e);
  g_assert_cmpfloat (e.rate, <, 0);
  sutra_progress_view_get_estimate (view, 3, &e);
  g_assert_cmpfloat (e.rate, ==, 0);
}

/* Counts the columns of the longest line and the lines. */
static void
measure (const char *text, guint *widest, guint *n_lines)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  *widest = *n_lines = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      *widest = MAX (*widest, (guint) g_utf8_strlen (lines[i], -1));
      *n_lines += lines[i][0] != '\0' || lines[i + 1] != NULL;
    }
}

static void
test_progress_view_table_fits_terminal (void)
{
  g_autoptr (SutraProgressView) view = sutra_progress_view_new ();
  g_autofree SutraStageStats *stats = g_new0 (SutraStageStats, 30);
  g_autofree char *narrow = NULL;
  g_autofree char *short_table = NULL;
  guint widest, n_lines;

  g_test_summary ("Lines are cut to the terminal's width and the table to its height: a "
                  "wrapped or scrolled table would be redrawn below itself");
  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *name = g_strdup_printf ("stage-with-a-long-name-%02u", i);
      guint input = i - 1;

      sutra_progress_view_add_stage (view, name, i == 0 ? SUTRA_STAGE_SOURCE : SUTRA_STAGE_MAP,
                                     &input, i == 0 ? 0 : 1);
    }
  stats_init (stats, 30);
  for (guint i = 0; i < 30; i++)
    {
      stats[i].n_in = stats[i].n_out = 123456;
      stats[i].n_failed = stats[i].n_cached = stats[i].n_resumed = 1000;
      stats[i].queue_capacity = 1024;
    }
  sutra_progress_view_update (view, stats, S (1));

  narrow = sutra_progress_view_render_table (view, 40, 100);
  measure (narrow, &widest, &n_lines);
  g_assert_cmpuint (widest, <=, 39);
  g_assert_cmpuint (n_lines, ==, 31);
  g_assert_true (g_str_has_suffix (narrow, "\n"));

  short_table = sutra_progress_view_render_table (view, 200, 10);
  measure (short_table, &widest, &n_lines);
  g_assert_cmpuint (n_lines, <, 10);
  sutra_assert_contains (short_table, "more stages");
  sutra_assert_not_contains (short_table, "\033");
}

static void
test_progress_view_book_fits_80_columns (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *table = NULL;
  guint widest, n_lines;

  g_test_summary ("A resumed book run, five-digit counts, rates and ETAs: every line fits "
                  "an 80-column terminal uncut, resumed counts included");
  book_stats (stats, 1);
  for (guint t = 0; t <= 3; t++)
    {
      stats[1].n_out = 78792;
      stats[1].n_resumed = 1;
      stats[1].split = (SutraSplitCounters){ .n_in_done = 1, .n_out_done = 78792 };
      for (guint i = 1; i < 4; i++)
        stats[i].queue_capacity = 1024;
      stats[2].n_in = 17408 + 4000 * t;
      stats[2].n_resumed = 17408;
      stats[3].n_in = 17152 + 4000 * t;
      stats[3].n_resumed = 17152;
      sutra_progress_view_update (view, stats, S (t));
    }
  table = sutra_progress_view_render_table (view, 0, 0);
  g_test_message ("%s", table);
  measure (table, &widest, &n_lines);
  g_assert_cmpuint (widest, <=, 79);
  sutra_assert_contains (table, "inputs 1/1  1 resumed\n");
  sutra_assert_contains (table, "17,408 resumed\n");
  sutra_assert_contains (table, "ETA ");
}

static void
test_progress_view_stopping (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *table = NULL;
  g_autofree char *line = NULL;

  g_test_summary ("After Ctrl-C the footer and the log line say the run is finishing the "
                  "items in flight");
  book_stats (stats, 2);
  stats[0].n_total = 2;
  for (guint t = 0; t <= 2; t++)
    {
      stats[1].split.n_in_done = 1;
      stats[1].split.n_out_done = stats[1].split.n_pushed = 50 * t;
      stats[2].n_in = 10 * t;
      sutra_progress_view_update (view, stats, S (t));
    }
  table = sutra_progress_view_render_table (view, 80, 24);
  sutra_assert_contains (table, "ETA ");
  sutra_progress_view_set_stopping (view, "stopping: finishing the items in flight");
  sutra_progress_view_update (view, stats, S (3));
  g_clear_pointer (&table, g_free);
  table = sutra_progress_view_render_table (view, 80, 24);
  line = sutra_progress_view_render_line (view);
  sutra_assert_contains (table, "elapsed 0:03, stopping: finishing the items in flight\n");
  sutra_assert_contains (table, "finishing");
  sutra_assert_not_contains (table, "ETA");
  g_assert_cmpfloat (sutra_progress_view_get_eta (view), <, 0);
  sutra_assert_contains (line, "speak 20/~200 finishing");
  sutra_assert_contains (line, "| stopping: finishing the items in flight");
}

static void
test_progress_view_log_line_plain (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *line = NULL;

  g_test_summary ("The log line is one plain line: no newline, no escape sequence");
  book_stats (stats, 1);
  sutra_progress_view_update (view, stats, S (0));
  stats[2].n_failed = 3;
  sutra_progress_view_update (view, stats, S (65));
  line = sutra_progress_view_render_line (view);
  g_assert_null (strchr (line, '\n'));
  g_assert_null (strchr (line, '\033'));
  g_assert_null (strchr (line, '\r'));
  g_assert_true (g_str_has_prefix (line, "elapsed 1:05 | read 1/1 done | segment 0/1 → 0/?"));
  sutra_assert_contains (line, "speak 0/?, 3 failed");
}

static void
test_progress_view_summary (void)
{
  g_autoptr (SutraProgressView) view = book_view ();
  SutraStageStats stats[4];
  g_autofree char *done = NULL;
  g_autofree char *stopped = NULL;

  g_test_summary ("The summary says how the run ended and after how long, per stage what "
                  "was done, failed, cached and resumed, and where the output is");
  sutra_progress_view_add_output (view, "out/book.jsonl");
  book_stats (stats, 1);
  sutra_progress_view_update (view, stats, S (0));
  for (guint i = 0; i < 4; i++)
    {
      stats[i].state = SUTRA_STAGE_STATE_DONE;
      stats[i].finished_us = S (12.5);
    }
  stats[1].n_out = 9849;
  stats[1].split.n_in_done = 1;
  stats[1].split.n_out_done = 9849;
  stats[1].split.n_pushed = 9849;
  stats[2].n_in = 9849;
  stats[2].n_failed = 3;
  stats[2].n_resumed = 4000;
  stats[3].n_in = 9846;
  stats[3].n_cached = 20;
  sutra_progress_view_update (view, stats, S (12.5));
  done = sutra_progress_view_render_summary (view, SUTRA_PROGRESS_SUCCEEDED);
  sutra_assert_contains (done, "sutra: finished in 12.5 s\n");
  sutra_assert_contains (done, "segment 1 done → 9,849 out; 12.5 s, 788/s\n");
  sutra_assert_contains (done, "speak   9,846 done, 4,000 resumed, 3 failed; 12.5 s, 468/s\n");
  sutra_assert_contains (done, "write   9,846 done, 20 cached; 12.5 s");
  sutra_assert_contains (done, "sutra: output: out/book.jsonl\n");
  /* No devices given: nothing said of them. */
  g_assert_null (strstr (done, " on "));
  g_clear_pointer (&done, g_free);
  /* Given devices: under the stage's line, which did what. */
  sutra_progress_view_set_devices (view, 2, "cuda:0 5000, cuda:1 4846");
  done = sutra_progress_view_render_summary (view, SUTRA_PROGRESS_SUCCEEDED);
  sutra_assert_contains (done, "speak   9,846 done, 4,000 resumed, 3 failed; 12.5 s, 468/s\n"
                               "          on cuda:0 5000, cuda:1 4846\n"
                               "  write ");
  sutra_progress_view_set_devices (view, 2, NULL);

  stats[3].state = SUTRA_STAGE_STATE_STOPPED;
  sutra_progress_view_update (view, stats, S (70));
  stopped = sutra_progress_view_render_summary (view, SUTRA_PROGRESS_STOPPED);
  sutra_assert_contains (stopped, "sutra: stopped after 1:10\n");
  sutra_assert_contains (stopped, "(stopped)");
  sutra_assert_contains (stopped, "sutra: output (unfinished): out/book.jsonl\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/progress-view/format-count", test_progress_view_format_count);
  g_test_add_func ("/engine/progress-view/format-duration", test_progress_view_format_duration);
  g_test_add_func ("/engine/progress-view/split-one-book-by-bytes",
                   test_progress_view_split_one_book_by_bytes);
  g_test_add_func ("/engine/progress-view/split-many-inputs-by-ratio",
                   test_progress_view_split_many_inputs_by_ratio);
  g_test_add_func ("/engine/progress-view/split-calibrated", test_progress_view_split_calibrated);
  g_test_add_func ("/engine/progress-view/split-bytes-no-guide",
                   test_progress_view_split_bytes_no_guide);
  g_test_add_func ("/engine/progress-view/split-nothing-yet", test_progress_view_split_nothing_yet);
  g_test_add_func ("/engine/progress-view/split-done-exact", test_progress_view_split_done_exact);
  g_test_add_func ("/engine/progress-view/fan-in-and-gather", test_progress_view_fan_in_and_gather);
  g_test_add_func ("/engine/progress-view/source-without-total",
                   test_progress_view_source_without_total);
  g_test_add_func ("/engine/progress-view/resumed-rate", test_progress_view_resumed_rate);
  g_test_add_func ("/engine/progress-view/split-rate-counts-pushes",
                   test_progress_view_split_rate_counts_pushes);
  g_test_add_func ("/engine/progress-view/eta-waits-for-upstream",
                   test_progress_view_eta_waits_for_upstream);
  g_test_add_func ("/engine/progress-view/stalled-and-unstarted",
                   test_progress_view_stalled_and_unstarted);
  g_test_add_func ("/engine/progress-view/table-fits-terminal",
                   test_progress_view_table_fits_terminal);
  g_test_add_func ("/engine/progress-view/book-fits-80-columns",
                   test_progress_view_book_fits_80_columns);
  g_test_add_func ("/engine/progress-view/stopping", test_progress_view_stopping);
  g_test_add_func ("/engine/progress-view/log-line-plain", test_progress_view_log_line_plain);
  g_test_add_func ("/engine/progress-view/summary", test_progress_view_summary);
  return g_test_run ();
}
