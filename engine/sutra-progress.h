/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraProgress: the live per-stage display, the log line, the end summary
 * and the JSON-lines event log of a run. */

#pragma once

#include "sutra-progress-view.h"
#include "sutra-run.h"

#include <stdio.h>

G_BEGIN_DECLS

typedef struct _SutraProgress SutraProgress;

/* @pipeline: @run's (borrowed, for the stages' kinds, inputs and output
 * paths). @tty: redraw a per-stage table there (a terminal) while the run
 * goes (nullable); @log: append a plain progress line there every
 * SUTRA_PROGRESS_LOG_PERIOD_S instead (nullable; a log, CI, nohup);
 * @events: append JSON-lines events there (nullable). */
SutraProgress *sutra_progress_new (SutraRun *run,
                                   SutraPipeline *pipeline,
                                   FILE *tty,
                                   FILE *log,
                                   FILE *events);

#define SUTRA_PROGRESS_LOG_PERIOD_S 5

/* Starts the display thread. While it runs, g_printerr() goes above the
 * table rather than through it. */
void sutra_progress_start (SutraProgress *progress);

/* Prints @message (a line of its own, "\n" added if missing) above the
 * table, where it stays, from any thread. @status (nullable): the footer
 * says it from now on ("stopping: finishing the items in flight"). */
void sutra_progress_notice (SutraProgress *progress, const char *message, const char *status);

/* Stops the display thread, takes the final counters, erases the table
 * (the summary takes its place) and writes the run's last event. */
void sutra_progress_stop (SutraProgress *progress, gboolean succeeded, const char *message);

/* The end summary: how the run ended and after how long, per stage what
 * was done, failed, cached and resumed, and the output paths. */
void sutra_progress_print_summary (SutraProgress *progress,
                                   SutraProgressOutcome outcome,
                                   FILE *out);

void sutra_progress_free (SutraProgress *progress);

/* The event sink to hand to sutra_run_set_event_func(). */
void sutra_progress_write_event (JsonObject *event, gpointer progress);

G_END_DECLS
