/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraTimeline: samples a run's counters into the journal, for `sutra report`. */

#pragma once

#include "sutra-run.h"

G_BEGIN_DECLS

/* A sample a second; past this many samples in a run, every other one is
 * dropped and the interval doubles, so a run of any length keeps between
 * half and all of this many rows per stage. */
#define SUTRA_TIMELINE_INTERVAL_US (G_USEC_PER_SEC)
#define SUTRA_TIMELINE_MAX_SAMPLES 1024

typedef struct _SutraTimeline SutraTimeline;

/* A new run of @pipeline to record in @journal (both borrowed; they must
 * outlive the timeline), with its command line, inputs and outputs: once
 * started it is recorded as running, and every stage of @run is sampled
 * each @interval_us, thinning past @max_samples (at least 2). */
SutraTimeline *sutra_timeline_new (SutraRun *run,
                                   SutraPipeline *pipeline,
                                   SutraJournal *journal,
                                   gint64 interval_us,
                                   guint max_samples);

/* The run's number in the journal. */
guint sutra_timeline_get_run_id (SutraTimeline *timeline);

/* When the next sample is due, in intervals since the run started. */
guint64 sutra_timeline_get_next_tick (SutraTimeline *timeline);

/* Records the run as running and samples in a thread of its own until
 * sutra_timeline_finish(). */
void sutra_timeline_start (SutraTimeline *timeline);

/* Takes the next sample now (the thread calls this on each tick). */
void sutra_timeline_sample (SutraTimeline *timeline);

/* Stops the thread, takes a last sample and records how the run ended:
 * failed when a stage failed or @message (nullable: why the run failed)
 * is given, stopped when a stage stopped, else done. The rows are
 * pending: the journal's next commit makes them durable. */
void sutra_timeline_finish (SutraTimeline *timeline, const char *message);

/* The run failed before it started (a stage could not be created):
 * records that at once, since no commit will come, and only that: what
 * else is pending (the run's plan) must not become durable. */
void sutra_timeline_finish_unstarted (SutraTimeline *timeline, const char *message);

void sutra_timeline_free (SutraTimeline *timeline);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraTimeline, sutra_timeline_free)

G_END_DECLS
