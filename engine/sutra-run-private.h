/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler's state, shared by the scheduler's files. */

#pragma once

#include "sutra-checkpoint.h"
#include "sutra-edge.h"
#include "sutra-flight-limiter.h"
#include "sutra-executor.h"
#include "sutra-item-private.h"
#include "sutra-split-counters.h"
#include "sutra-job.h"
#include "sutra-memo.h"
#include "sutra-run.h"

G_BEGIN_DECLS

/* 64-bit counters read by the progress display while workers update them. */
#define COUNTER_ADD(counter, n) __atomic_fetch_add (&(counter), (n), __ATOMIC_RELAXED)
#define COUNTER_GET(counter) __atomic_load_n (&(counter), __ATOMIC_RELAXED)
#define COUNTER_SET(counter, n) __atomic_store_n (&(counter), (n), __ATOMIC_RELAXED)

/* A stage's input side: a ring per input edge. */
typedef struct
{
  GMutex lock;       /* the rings and everything below */
  GCond items_ready; /* signals consumers */
  GCond space_ready; /* signals producers */
  ItemRing *rings;
  guint n_rings;
  guint want; /* a waiting consumer's need: wake it at this fill */
  gint fill;  /* items in all rings (read without the lock by progress) */
  guint max_fill;
} StageInput;

/* One worker at a time forms a batch, so batches are contiguous runs of
 * the stream and are numbered in stream order. */
typedef struct
{
  GMutex lock;      /* held while a batch is formed */
  guint64 next_seq; /* also taken by the last worker out for finish's outputs */
  GPtrArray *group; /* gather: members of the open group */
  int gather_level; /* gather: depth of its groups' parents, or -1 */
} StageIntake;

typedef struct
{
  gboolean ready;
  GPtrArray *items;
} WindowSlot;

/* A stage's output side: the reorder window, and the edges it flushes to. */
typedef struct
{
  GMutex lock; /* the window and the flush */
  GCond moved; /* the window's head moved, or the flush was released */
  guint64 next_flush_seq;
  gboolean flushing; /* one thread at a time flushes (sends downstream) */
  WindowSlot *window;
  guint window_size;
  GArray *edges; /* Edge, set up before the run and read-only after */
} StageOutput;

/* A stage's workers and their plugin instances. */
typedef struct
{
  GThreadPool *pool;
  GPtrArray *list; /* SutraWorker: one per instance (see sutra-worker.h) */
  char *work_dir;
  gboolean work_dir_is_temporary; /* made for this run only (no job) */
  gint n_alive;                   /* atomic: the last worker out finishes the stage */
  SutraRateLimiter *rate_limiter; /* the stage's rate_limit, shared by its workers */
  SutraFlightLimiter *flight;     /* the stage's max_in_flight, shared likewise */
} StageWorkers;

/* What the progress display and the journal read while workers run:
 * atomics (COUNTER_*), no lock. */
typedef struct
{
  SutraStageState state;
  guint64 n_in, n_out, n_failed, n_cached, n_resumed, n_elsewhere, n_total;
  guint64 n_memo_hits, n_memo_misses; /* items looked up by content: found, computed */
  gint64 started_us, finished_us, busy_us;
  SutraSplitCounters split; /* splits only */
} StageCounters;

/*
 * Lock order. A thread holding a lock on the left may take one to its right
 * on the same line, never the other way round; locks not named together are
 * never held together.
 *
 *   stage->intake.lock  ->  stage->output.lock   (waiting for room in the window)
 *   stage->intake.lock  ->  stage->input.lock    (forming a batch)
 *   (the checkpoint's locks: see sutra-checkpoint.c; a sink's sync is
 *   called with its sink lock held, and takes no scheduler lock)
 *   stage->intake.lock  ->  (a streaming gather's gather_begin and gather_add,
 *                            called with input.lock let go)
 *
 * The input lock of a stage downstream (target->input.lock) is taken by
 * whoever flushes upstream, with no lock of the upstream stage held: the
 * flusher lets go of output.lock before it sends. So a full ring downstream
 * blocks the sender only, never a lock another stage waits for.
 * run->lock, run->event_lock, the rate limiter's and the flight limiter's
 * locks are leaves: nothing else is taken while one is held (the run's event
 * callback runs under event_lock, so it must not call back into the run).
 */
struct _StageRuntime
{
  SutraRun *run;
  SutraStageSpec *spec;
  const SutraStageInfo *info;

  StageInput input;
  StageIntake intake;
  StageOutput output;
  StageWorkers workers;
  /* The stage's part of the run's SutraCheckpoint; NULL without a job. */
  SutraCheckpointStage *checkpoint;
  /* The stage's content cache (a map with "cache": "content" in a job);
   * NULL otherwise. */
  SutraMemo *memo;
  StageCounters counters;
};

struct _SutraRun
{
  SutraPipeline *pipeline;
  GPtrArray *stages; /* StageRuntime, topological order */
  gint stopping;     /* take no new batches */
  gint abandoning;   /* drop in-flight work too */
  GMutex lock;
  GCond done;
  guint n_done;
  GError *error;
  GPtrArray *failures;
  SutraJob *job;
  SutraCheckpoint *checkpoint; /* with a job: freed after everything else */
  SutraRunEventFunc event_func;
  gpointer event_data;
  GMutex event_lock;
  gint64 started_us;
};

typedef struct
{
  guint64 seq;
  GPtrArray *entries; /* data items and markers, stream order */
  GPtrArray *data;    /* the data items only, borrowed from entries */
  SutraItem *closing; /* gather: the marker that closed the group */
  gboolean has_key;
  guint8 key[SUTRA_DIGEST_SIZE];
  guint n_failed;   /* items of this batch that failed and were skipped */
  guint n_computed; /* inputs the plugin computed (not from the store), for
                     * the per-device counts; set by the batch runner */
  /* A streaming gather's group: take_batch hands each member to the plugin
   * as it takes it and keeps none of them (data stays empty), so the key
   * and the output's lineage are folded in as members pass. */
  guint64 n_streamed;                   /* members handed to the plugin */
  gpointer group;                       /* the plugin's group state, or NULL */
  SutraExecutor *group_executor;        /* the worker's that made it */
  SutraItem *first_member;              /* which group is open; its parent's id */
  SutraItem *last_member;               /* kept until the next: the key's runs read it */
  struct _SutraKeyBuilder *key_builder; /* NULL when the stage keeps no checkpoints */
  struct _SutraGroupLineage *lineage;
  GError *group_error;    /* the call that failed the group */
  gboolean group_misused; /* ...by misusing the API: the run fails */
} Batch;

/* Per batch: see sutra_checkpoint_derive_lineage(). */
typedef SutraCheckpointMemo LineageMemo;

/* Whether the job's plan leaves @stage out: up to date. */
static inline gboolean
stage_is_skipped (StageRuntime *stage)
{
  return stage->checkpoint != NULL && sutra_checkpoint_stage_is_skipped (stage->checkpoint);
}

/* What checkpointing reads of @batch, as it is now: take it just before
 * the call (processing changes n_failed). */
static inline SutraCheckpointBatch
batch_view (Batch *batch)
{
  return (
    SutraCheckpointBatch){ batch->seq,  batch->entries,  batch->closing,
                           batch->data, batch->n_failed, batch->data->len + batch->n_streamed };
}

/* How many data items a batch took, streamed or held. */
static inline guint64
sutra_batch_n_inputs (const Batch *batch)
{
  return batch->data->len + batch->n_streamed;
}

/* sutra-run.c: the run, as its stages and the checkpoints see it. */
gboolean sutra_run_is_stopping (SutraRun *run);
void sutra_run_emit_event (SutraRun *run, JsonObject *event);
JsonObject *sutra_run_stage_event (StageRuntime *stage, const char *name);
void sutra_run_fail (SutraRun *run, GError *error);
void sutra_run_record_failure (StageRuntime *stage,
                               Batch *batch,
                               const char *item_id,
                               const GError *error);

static inline void
sutra_run_set_stage_state (StageRuntime *stage, SutraStageState state)
{
  g_atomic_int_set ((gint *) &stage->counters.state, state);
}

G_END_DECLS
