/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRun: one execution of a validated pipeline. */

#pragma once

#include "sutra-job.h"
#include "sutra-pipeline.h"

G_BEGIN_DECLS

#define SUTRA_RUN_ERROR (sutra_run_error_quark ())
GQuark sutra_run_error_quark (void);

typedef enum
{
  SUTRA_RUN_ERROR_STAGE_FAILED,  /* a plugin failed an item (on_error: fail) */
  SUTRA_RUN_ERROR_CREATE_FAILED, /* a stage instance could not be made */
  SUTRA_RUN_ERROR_CONTRACT,      /* a plugin broke its kind's push rules */
  SUTRA_RUN_ERROR_MISSING,       /* a gather's group lost members (on_missing: fail) */
  SUTRA_RUN_ERROR_INTERRUPTED,   /* stopped by a signal or sutra_run_stop() */
} SutraRunError;

typedef enum
{
  SUTRA_STAGE_STATE_WAITING,
  SUTRA_STAGE_STATE_RUNNING,
  SUTRA_STAGE_STATE_DONE,
  SUTRA_STAGE_STATE_FAILED,
  SUTRA_STAGE_STATE_STOPPED,
} SutraStageState;

/* A split's way through its inputs, from which the progress display
 * estimates how many children it will make before it has made them: the
 * inputs (and their payload bytes) whose plugin calls are under way and
 * the children those calls pushed so far; the same for the inputs that are
 * done (computed, or taken from the store). Zero for other kinds. */
typedef struct
{
  guint64 n_in_flight, bytes_in_flight;
  guint64 n_out_in_flight, bytes_out_in_flight;
  guint64 n_in_done, bytes_in_done;
  guint64 n_out_done, bytes_out_done;
  guint64 n_pushed; /* children pushed by plugin calls, ever: computed, not taken from the store */
} SutraSplitCounters;

/* A stage's counters, read at any time for the progress display. */
typedef struct
{
  const char *name;
  SutraStageState state;
  guint64 n_in;         /* data items taken from the input queue */
  guint64 n_out;        /* data items emitted */
  guint64 n_failed;     /* items failed and skipped */
  guint64 n_cached;     /* items whose outputs another job had stored */
  guint64 n_resumed;    /* items this job had done before it was stopped */
  guint64 n_elsewhere;  /* a shard stage's items other shards compute (--shard) */
  guint64 cache_hits;   /* items whose outputs the content cache had ("cache": "content") */
  guint64 cache_misses; /* items looked up there in vain, and computed */
  gboolean skipped;     /* up to date: not run at all */
  guint64 n_total;      /* expected n_in, or 0 when unknown */
  guint queue_fill;     /* items in the input queue now */
  guint queue_max_fill; /* the most there ever were */
  guint queue_capacity;
  guint workers;
  gint64 started_us; /* monotonic */
  gint64 finished_us;
  gint64 busy_us; /* summed time in process calls */
  SutraSplitCounters split;
} SutraStageStats;

typedef struct _SutraRun SutraRun;

/* Receives events as JSON objects ("event": "stage-started", ...), from any
 * thread, one at a time. */
typedef void (*SutraRunEventFunc) (JsonObject *event, gpointer user_data);

SutraRun *sutra_run_new (SutraPipeline *pipeline);
void sutra_run_free (SutraRun *run);

/* Keeps the run's progress in @job (borrowed): outputs go to its store, the
 * journal records them, and what an earlier run of the job finished is
 * taken from there instead of computed again. */
void sutra_run_set_job (SutraRun *run, SutraJob *job);

void sutra_run_set_event_func (SutraRun *run, SutraRunEventFunc func, gpointer user_data);

/* Runs to the end. Returns FALSE with @error set when a stage failed or the
 * run was stopped; no thread of the run is left running either way. */
gboolean sutra_run_execute (SutraRun *run, GError **error);

/* Asks the run to stop: no new items are taken; in-flight batches finish
 * (@abandon FALSE) or are dropped (@abandon TRUE). Async-signal-unsafe:
 * call it from a thread, not from a signal handler. */
void sutra_run_stop (SutraRun *run, gboolean abandon);

guint sutra_run_get_n_stages (SutraRun *run);
void sutra_run_get_stats (SutraRun *run, guint stage_index, SutraStageStats *stats);

/* What stage @stage_index's instances computed per device, as text
 * ("cuda:0 600, cuda:1 400"). Returns: (transfer full) (nullable): NULL for
 * a stage given no devices (it ran on the CPU) or not started. */
char *sutra_run_dup_device_summary (SutraRun *run, guint stage_index);

/* Items that failed and were skipped: "stage\titem id\tmessage" strings. */
GPtrArray *sutra_run_dup_failures (SutraRun *run);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraRun, sutra_run_free)

G_END_DECLS
