/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraProgress: the live per-stage display and the JSON-lines event log. */

#pragma once

#include "sutra-run.h"

#include <stdio.h>

G_BEGIN_DECLS

typedef struct _SutraProgress SutraProgress;

/* @display: redraw a per-stage table on @tty (a terminal) while the run goes;
 * @events: append JSON-lines events there (nullable). */
SutraProgress *sutra_progress_new (SutraRun *run, FILE *tty, FILE *events);

/* Starts the display thread. */
void sutra_progress_start (SutraProgress *progress);

/* Stops it, draws the final state and writes the run's last event. */
void sutra_progress_stop (SutraProgress *progress, gboolean succeeded, const char *message);

void sutra_progress_free (SutraProgress *progress);

/* The event sink to hand to sutra_run_set_event_func(). */
void sutra_progress_write_event (JsonObject *event, gpointer progress);

/* A one-line-per-stage summary for the end of a run. */
void sutra_progress_print_summary (SutraRun *run, FILE *out);

G_END_DECLS
