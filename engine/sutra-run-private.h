/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler's state. */

#pragma once

#include "sutra-checkpoint.h"
#include "sutra-item-private.h"
#include "sutra-job.h"
#include "sutra-run.h"

G_BEGIN_DECLS

/* 64-bit counters read by the progress display while workers update them. */
#define COUNTER_ADD(counter, n) __atomic_fetch_add (&(counter), (n), __ATOMIC_RELAXED)
#define COUNTER_GET(counter) __atomic_load_n (&(counter), __ATOMIC_RELAXED)
#define COUNTER_SET(counter, n) __atomic_store_n (&(counter), (n), __ATOMIC_RELAXED)

typedef struct _StageRuntime StageRuntime;

/* A bounded FIFO of items, one per input edge of a stage. */
typedef struct
{
  SutraItem **slots;
  guint capacity;
  guint head;
  guint count;
  gboolean closed;
} ItemRing;

typedef struct
{
  StageRuntime *target;
  guint ring;
} Edge;

typedef struct
{
  gboolean ready;
  GPtrArray *items;
} WindowSlot;

struct _StageRuntime
{
  SutraRun *run;
  SutraStageSpec *spec;
  const SutraStageInfo *info;

  /* Input side: rings guarded by in_lock; items_ready signals consumers,
   * space_ready producers. */
  GMutex in_lock;
  GCond items_ready;
  GCond space_ready;
  ItemRing *rings;
  guint n_rings;
  guint want; /* a waiting consumer's need: wake it at this fill */
  gint queue_fill;
  guint queue_max_fill;

  /* One worker at a time forms a batch, so batches are contiguous runs of
   * the stream and are numbered in stream order. */
  GMutex intake_lock;
  guint64 next_seq;
  GPtrArray *group; /* gather: members of the open group */
  int gather_level; /* gather: depth of its groups' parents, or -1 */

  /* Output side: the reorder window. */
  GMutex out_lock;
  GCond window_moved;
  guint64 next_flush_seq;
  gboolean flushing;
  WindowSlot *window;
  guint window_size;
  GArray *edges; /* Edge */

  /* Workers. */
  GThreadPool *pool;
  GPtrArray *instances; /* one, or one per worker */
  GPtrArray *contexts;  /* SutraStageContext, one per instance */
  GPtrArray *device_names;
  char *work_dir;
  gint n_alive;
  GMutex rate_lock;
  gint64 rate_next_us;

  /* Checkpoints: the stage's part of the run's SutraCheckpoint, NULL
   * without a job. */
  SutraCheckpointStage *checkpoint;

  /* Counters, atomics. */
  SutraStageState state;
  guint64 n_in, n_out, n_failed, n_cached, n_resumed, n_total;
  gint64 started_us, finished_us, busy_us;
  SutraSplitCounters split; /* splits only */
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
  guint n_failed; /* items of this batch that failed and were skipped */
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
  return (SutraCheckpointBatch){ batch->seq, batch->entries, batch->closing, batch->data,
                                 batch->n_failed };
}

/* sutra-run.c */
gboolean sutra_run_is_stopping (SutraRun *run);
void sutra_run_emit_event (SutraRun *run, JsonObject *event);
JsonObject *sutra_run_stage_event (StageRuntime *stage, const char *name);
void sutra_run_fail (SutraRun *run, GError *error);

G_END_DECLS
