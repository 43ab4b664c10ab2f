/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraProgressView: totals, estimates, rates and the text of the progress
 * display, computed from stage counters alone (no run, no terminal). */

#pragma once

#include "sutra-run.h"

G_BEGIN_DECLS

typedef struct _SutraProgressView SutraProgressView;

/* How the run ended, for the summary. */
typedef enum
{
  SUTRA_PROGRESS_RUNNING,
  SUTRA_PROGRESS_SUCCEEDED,
  SUTRA_PROGRESS_FAILED,
  SUTRA_PROGRESS_STOPPED,
} SutraProgressOutcome;

/* What the view makes of one stage at its last update. Counts are in the
 * stage's own unit: items taken in, except sources (items produced) and
 * splits (children produced, with the inputs beside them). */
typedef struct
{
  guint64 done;         /* items taken in (sources: produced) */
  guint64 total;        /* expected @done at the end; unknown: what comes at least */
  gboolean total_known; /* FALSE: "12,400+" (at least) or "?" */
  gboolean total_exact; /* FALSE: an estimate, shown "~12,400" */
  guint64 out_done;     /* splits: children produced so far */
  guint64 out_total;    /* splits: expected children, when @out_known */
  gboolean out_known;
  gboolean out_exact;
  double rate;  /* computed items (splits: children) a second, recent; < 0: not yet */
  double eta_s; /* seconds until the stage is done; < 0: unknown */
} SutraProgressEstimate;

/* Returns: (transfer full): an empty view; add its stages next. */
SutraProgressView *sutra_progress_view_new (void);
void sutra_progress_view_free (SutraProgressView *view);

/* Adds the next stage, in topological order. @inputs: indices of stages
 * added before (its fan-in), @n_inputs of them (0 for a source). */
void sutra_progress_view_add_stage (SutraProgressView *view,
                                    const char *name,
                                    SutraStageKind kind,
                                    const guint *inputs,
                                    guint n_inputs);

/* What stage @index computed on each device ("cuda:0 600, cuda:1 400"),
 * for the summary; NULL: nothing to say (the stage ran on the CPU). */
void sutra_progress_view_set_devices (SutraProgressView *view, guint index, const char *devices);

/* A file or directory the run writes (a sink's path), for the summary. */
void sutra_progress_view_add_output (SutraProgressView *view, const char *path);

/* Takes one sample of every stage's counters (@stats: one per stage, in the
 * order added) at @now_us (monotonic) and recomputes the estimates. The
 * first call marks the run's start. */
void sutra_progress_view_update (SutraProgressView *view,
                                 const SutraStageStats *stats,
                                 gint64 now_us);

/* Says in the footer that the run is stopping (@notice: why, nullable). */
void sutra_progress_view_set_stopping (SutraProgressView *view, const char *notice);

void sutra_progress_view_get_estimate (SutraProgressView *view,
                                       guint stage_index,
                                       SutraProgressEstimate *estimate);

/* Seconds from the first update to the last; and the run's ETA (seconds
 * until its last stage is done, < 0 when unknown). */
double sutra_progress_view_get_elapsed (SutraProgressView *view);
double sutra_progress_view_get_eta (SutraProgressView *view);

/* Returns: (transfer full): the live table, one line per stage and a
 * footer, each line ending in "\n" and at most @width - 1 columns wide
 * (so that no terminal wraps it), at most @max_lines lines in all. */
char *sutra_progress_view_render_table (SutraProgressView *view, guint width, guint max_lines);

/* Returns: (transfer full): one plain line (no "\n", no escapes) for logs. */
char *sutra_progress_view_render_line (SutraProgressView *view);

/* Returns: (transfer full): the end summary: how the run ended and after
 * how long, per stage done/failed/cached/resumed, and the outputs. */
char *sutra_progress_view_render_summary (SutraProgressView *view, SutraProgressOutcome outcome);

/* Formats @value for the display: "12,400" below 100,000, then "123.4k",
 * "1.23M", "1.23G". */
void sutra_progress_format_count (char *buffer, gsize size, guint64 value);

/* "0:05", "12:34", "1:02:03". */
void sutra_progress_format_duration (char *buffer, gsize size, double seconds);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraProgressView, sutra_progress_view_free)

G_END_DECLS
