/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The scheduler's state, shared by the scheduler and its checkpoints. */

#pragma once

#include "sutra-edge.h"
#include "sutra-executor.h"
#include "sutra-item-private.h"
#include "sutra-split-counters.h"
#include "sutra-job.h"
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
  gint n_alive;                   /* atomic: the last worker out finishes the stage */
  SutraRateLimiter *rate_limiter; /* the stage's rate_limit, shared by its workers */
} StageWorkers;

/* Checkpoints (with a job): what sutra-checkpoint.c keeps per stage. */
typedef struct
{
  gboolean checkpointing;       /* outputs go to the store */
  gboolean skipped;             /* up to date: not run at all (set before the run) */
  SutraLineage *source_lineage; /* sources: what their items descend from (pinned) */
  char complete_key[65];        /* fingerprint + inputs' complete keys */
  GMutex lineage_lock;
  GHashTable *lineages; /* input SutraLineage -> output SutraLineage (pinned), by digest */
  GMutex sink_lock;
  GHashTable *sink_done; /* sinks: keys of batches written earlier */
  GPtrArray *sink_keys;  /* sinks: keys written since the last checkpoint */
  char *resume_state;
  gint64 last_sync_us;
  gint64 last_sync_cost_us;      /* how long the sink's last sync took */
  gboolean final_state_recorded; /* under the run's progress_lock */
} StageCheckpoint;

/* What the progress display and the journal read while workers run:
 * atomics (COUNTER_*), no lock. */
typedef struct
{
  SutraStageState state;
  guint64 n_in, n_out, n_failed, n_cached, n_resumed, n_total;
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
 *   stage->intake.lock  ->  (a streaming gather's gather_begin and gather_add,
 *                            called with input.lock let go)
 *   checkpoint.lineage_lock -> run->pinned_lock
 *   checkpoint.sink_lock    -> (the plugin's sync) -> the journal's locks
 *   run->progress_lock      -> the journal's locks
 *
 * The input lock of a stage downstream (target->input.lock) is taken by
 * whoever flushes upstream, with no lock of the upstream stage held: the
 * flusher lets go of output.lock before it sends. So a full ring downstream
 * blocks the sender only, never a lock another stage waits for.
 * run->lock, run->event_lock, run->commit_lock and the rate limiter's lock are
 * leaves: nothing else is taken while one is held (the run's event
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
  StageCheckpoint checkpoint;
  StageCounters counters;
};

struct _SutraRun
{
  SutraPipeline *pipeline;
  GPtrArray *stages; /* StageRuntime, topological order */
  GMutex pinned_lock;
  GPtrArray *pinned_lineages; /* the run's own lineages, freed after everything else */
  gint stopping;              /* take no new batches */
  gint abandoning;            /* drop in-flight work too */
  GMutex lock;
  GCond done;
  guint n_done;
  GError *error;
  GPtrArray *failures;
  SutraJob *job;
  GHashTable *batches; /* committed batches: key -> SutraJournalBatch */
  GThread *committer;
  gint64 progress_recorded_us;
  /* Orders a stage's progress rows before its final one in the journal. */
  GMutex progress_lock;
  GMutex commit_lock;
  GCond commit_wake;
  gboolean commit_stop;
  gint n_corrupt; /* store entries that failed their checks */
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

/* How many data items a batch took, streamed or held. */
static inline guint64
sutra_batch_n_inputs (const Batch *batch)
{
  return batch->data->len + batch->n_streamed;
}

/*
 * A batch key built one entry at a time (sutra_checkpoint_key_*), for a
 * streaming gather, whose members are gone by the time its group closes:
 * the text sutra_checkpoint_batch_key() hashes, fed to the digest in pieces
 * as it outgrows the buffer, so the key is the same and the memory fixed.
 */
typedef struct _SutraKeyBuilder
{
  gpointer context; /* EVP_MD_CTX of the text flushed so far, or NULL */
  gsize used;
  guint8 *count_field; /* where the open run's count goes, or NULL */
  guint64 count;
  const SutraItem *last; /* borrowed: alive until the next add */
  guint8 previous_digest[SUTRA_DIGEST_SIZE];
  gboolean has_previous;
  gboolean keyless; /* an item had no lineage: the batch has no key */
  guint8 text[2048];
} SutraKeyBuilder;

/* A gather's output lineage folded member by member (see
 * sutra_checkpoint_take_group_lineage()). */
typedef struct _SutraGroupLineage
{
  SutraLineage *first; /* owned: the first member's */
  gpointer context;    /* EVP_MD_CTX: "group", then each finished run */
  guint8 previous[SUTRA_DIGEST_SIZE];
  guint64 count;
  gboolean mixed;
  gboolean keyless; /* a member had no lineage: the output gets none */
} SutraGroupLineage;

/* The last lookup of sutra_checkpoint_derive_lineage(), per batch: items of one batch
 * nearly always share their lineage, so the table (and its lock) is
 * consulted once per batch, not once per item. */
typedef struct
{
  SutraLineage *input;
  SutraLineage *output;
} LineageMemo;

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

/* sutra-checkpoint.c: lineages, batch keys, the store and the journal. */
SutraLineage *sutra_checkpoint_pin_lineage (SutraRun *run, SutraLineage *lineage);
SutraLineage *sutra_checkpoint_derive_lineage (StageRuntime *stage,
                                               SutraLineage *input,
                                               LineageMemo *memo);
SutraItem *sutra_checkpoint_take_lineage (StageRuntime *stage,
                                          SutraItem *output,
                                          SutraItem *input,
                                          LineageMemo *memo);
SutraItem *sutra_checkpoint_take_group_lineage (StageRuntime *stage,
                                                SutraItem *output,
                                                GPtrArray *members);
void sutra_checkpoint_batch_key (StageRuntime *stage, Batch *batch);
void sutra_checkpoint_key_begin (StageRuntime *stage, SutraKeyBuilder *builder);
void sutra_checkpoint_key_add (SutraKeyBuilder *builder, const SutraItem *item);
gboolean sutra_checkpoint_key_end (SutraKeyBuilder *builder, guint8 *key);
void sutra_checkpoint_key_clear (SutraKeyBuilder *builder);
void sutra_checkpoint_group_lineage_add (SutraGroupLineage *fold, const SutraItem *member);
SutraItem *sutra_checkpoint_group_lineage_end (StageRuntime *stage,
                                               SutraGroupLineage *fold,
                                               SutraItem *output);
void sutra_checkpoint_group_lineage_clear (SutraGroupLineage *fold);
void sutra_checkpoint_sink_batch_key (Batch *batch);
GPtrArray *sutra_checkpoint_load_batch (StageRuntime *stage, Batch *batch);
gboolean sutra_checkpoint_save_batch (StageRuntime *stage,
                                      Batch *batch,
                                      GPtrArray *outputs,
                                      GError **error);
gboolean sutra_checkpoint_save_record (StageRuntime *stage,
                                       Batch *batch,
                                       GBytes *body,
                                       guint64 n_out,
                                       GError **error);
gboolean sutra_checkpoint_sink_has_batch (StageRuntime *stage, Batch *batch);
void sutra_checkpoint_sink_note_batch (StageRuntime *stage, Batch *batch);
gboolean sutra_checkpoint_sink (StageRuntime *stage,
                                gboolean force,
                                gboolean complete,
                                GError **error);
void sutra_checkpoint_plan_job (SutraRun *run);
gpointer sutra_checkpoint_committer_main (gpointer data);

G_END_DECLS
