/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraCheckpoint: a job's checkpointing, on its own: the plan, lineages and
 * batch keys, outputs to and from the store, sink progress, the journal's
 * committer. */

#pragma once

#include "sutra-item-private.h"
#include "sutra-job.h"
#include "sutra-run.h"

G_BEGIN_DECLS

/*
 * Who calls whom. The scheduler builds a SutraCheckpoint from the pipeline
 * and the job, and calls it with a stage (a SutraCheckpointStage, got once
 * per stage) and a batch (the few fields of it that checkpointing reads,
 * passed as arguments). The checkpoint never calls the scheduler: what it
 * has to say (an event, a fatal failure) and what it has to ask (a running
 * stage's counters, a sink's sync) go through the callbacks the scheduler
 * gave it. It owns every journal write of a run, the committer thread, the
 * run's lineages, and the job's plan.
 *
 * Threads: every function may be called from any worker thread, except
 * sutra_checkpoint_new(), _start(), _finish() and _free(), which belong to
 * the thread that runs the job.
 */

typedef struct _SutraCheckpoint SutraCheckpoint;
typedef struct _SutraCheckpointStage SutraCheckpointStage;

/* What the checkpoint reports, and asks, through the scheduler. Every
 * member is optional (NULL). @stage is the stage's index in the pipeline. */
typedef struct
{
  /* An event about a stage (@event (transfer full): "event" and "stage"
   * set). From any thread. */
  void (*event) (JsonObject *event, gpointer user_data);
  /* A failure the run cannot go on after (a journal commit failed):
   * @error (transfer full). From the committer thread. */
  void (*fail) (GError *error, gpointer user_data);
  /* A stage's counters now, for the progress rows the committer records
   * while it runs. From the committer thread. */
  void (*get_stats) (guint stage, SutraStageStats *stats, gpointer user_data);
  /* A sink's sync, first phase: make what it wrote durable and say in
   * *@state (transfer full, NULL: nothing to resume from) how to resume
   * from it. TRUE with *@state NULL when the sink cannot sync. */
  gboolean (*sync_prepare) (guint stage, char **state, GError **error, gpointer user_data);
  /* Second phase: the journal has recorded @state durably. Called for the
   * newest state only (one superseded before it was durable is never
   * committed), on the thread that checkpoints the sink, never after that
   * stage's final checkpoint. NULL: the sink has only one phase. */
  void (*sync_commit) (guint stage, const char *state, gpointer user_data);
} SutraCheckpointCallbacks;

/* A batch as checkpointing sees it: the scheduler's, as it is when it
 * calls (made just before the call; the pointers are borrowed for it). */
typedef struct
{
  guint64 seq;        /* its place in the stage's input stream */
  GPtrArray *entries; /* data items and markers, stream order */
  SutraItem *closing; /* (nullable) gather: the marker that closed the group */
  GPtrArray *data;    /* the data items only (none for a streamed group) */
  guint n_failed;     /* items of the batch that failed and were skipped */
  guint64 n_inputs;   /* data items it took, held or streamed */
} SutraCheckpointBatch;

/* How a batch loaded from the store was computed before. */
typedef struct
{
  gboolean from_cache; /* by another job sharing the store (else by this job) */
  guint n_failed;      /* items that failed then, and are still skipped */
} SutraCheckpointLoaded;

/* The last lookup of sutra_checkpoint_derive_lineage(), per batch: items of
 * one batch nearly always share their lineage, so the table (and its lock)
 * is consulted once per batch, not once per item. Zero it to start. */
typedef struct
{
  SutraLineage *input;
  SutraLineage *output;
} SutraCheckpointMemo;

/* Plans @job for @pipeline (both borrowed; they must outlive the
 * checkpoint): works out each stage's complete key and which stages are up
 * to date, loads the committed batches, and chooses for each sink whether
 * it resumes. Emits an "input-digested" event per source through
 * @callbacks (copied). Returns: (transfer full): the checkpoint, or NULL
 * with @error. */
SutraCheckpoint *sutra_checkpoint_new (SutraPipeline *pipeline,
                                       SutraJob *job,
                                       const SutraCheckpointCallbacks *callbacks,
                                       gpointer user_data,
                                       GError **error);
/* Frees the checkpoint and the run's lineages: call it after every item of
 * the run is gone (items point at them). After _finish() when started. */
void sutra_checkpoint_free (SutraCheckpoint *checkpoint);

/* Starts the committer thread: from now on pending journal writes are
 * committed in the background, in batched transactions. */
void sutra_checkpoint_start (SutraCheckpoint *checkpoint);
/* Commits now rather than at the end of the interval (a stage stored its
 * last batch). */
void sutra_checkpoint_wake (SutraCheckpoint *checkpoint);
/* Stops the committer and commits what is left. FALSE with @error when
 * that commit failed. */
gboolean sutra_checkpoint_finish (SutraCheckpoint *checkpoint, GError **error);

/* A shard's run ended well: seals what it stored and leaves its marker in
 * the shared store for the gather (sutra-shard.h). Nothing when the run
 * is not a shard. */
gboolean sutra_checkpoint_finish_shard (SutraCheckpoint *checkpoint, GError **error);

/* Returns: (transfer none): the stage at @index of the pipeline. */
SutraCheckpointStage *sutra_checkpoint_get_stage (SutraCheckpoint *checkpoint, guint index);

/* The plan, per stage. */
/* Up to date: its outputs are complete and its inputs did not change, or
 * every stage it feeds is up to date. Such a stage is not run. */
gboolean sutra_checkpoint_stage_is_skipped (SutraCheckpointStage *stage);
/* Whether this run computes the batch at @seq of the stage's input
 * stream: always, but in a shard (sutra-shard.h), where a shard stage
 * computes only its own batches and leaves the others to their shards. */
gboolean sutra_checkpoint_stage_owns_batch (SutraCheckpointStage *stage, guint64 seq);

/* Returns: (transfer none): what names the shards' work in the shared
 * store (the shard stages' complete keys, hashed: 64 hex digits), or ""
 * when the run is not sharded. */
const char *sutra_checkpoint_get_shard_key (SutraCheckpoint *checkpoint);

/* Whether its batches' outputs go to the store ("checkpoint": true, and
 * not a sink). */
gboolean sutra_checkpoint_stage_stores (SutraCheckpointStage *stage);
/* Returns: (transfer none): its complete key, 64 hex digits: its
 * fingerprint and its inputs' complete keys, down to the input files. */
const char *sutra_checkpoint_stage_get_complete_key (SutraCheckpointStage *stage);
/* Returns: (transfer none) (nullable): a sink's state to resume from (its
 * plugin's, from the last sync), NULL when it writes its output anew. */
const char *sutra_checkpoint_stage_get_resume_state (SutraCheckpointStage *stage);
/* The sink cannot resume after all (its plugin refused the state): it
 * writes its output anew, and its recorded progress is forgotten. */
void sutra_checkpoint_stage_forget_resume (SutraCheckpointStage *stage);
/* Returns: (transfer none) (nullable): what a source's items descend from. */
SutraLineage *sutra_checkpoint_stage_get_source_lineage (SutraCheckpointStage *stage);

/* Lineages. @stage may be NULL (no job): then nothing is derived. */
/* Returns: (transfer none) (nullable): the lineage of what @stage makes
 * from an item of lineage @input (pinned for the run). */
SutraLineage *sutra_checkpoint_derive_lineage (SutraCheckpointStage *stage,
                                               SutraLineage *input,
                                               SutraCheckpointMemo *memo);
/* Gives @output (owned by the caller) the lineage that derives from
 * @input's. Returns: (transfer none): @output. */
SutraItem *sutra_checkpoint_take_lineage (SutraCheckpointStage *stage,
                                          SutraItem *output,
                                          SutraItem *input,
                                          SutraCheckpointMemo *memo);
/* The same for a gather's @output from its group's @members. */
SutraItem *sutra_checkpoint_take_group_lineage (SutraCheckpointStage *stage,
                                                SutraItem *output,
                                                GPtrArray *members);

/*
 * A batch key built one entry at a time, for a streaming gather, whose
 * members are gone by the time its group closes: the text
 * sutra_checkpoint_batch_key() hashes, fed to the digest in pieces as it
 * outgrows the buffer, so the key is the same and the memory fixed.
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

void sutra_checkpoint_key_begin (SutraCheckpointStage *stage, SutraKeyBuilder *builder);
void sutra_checkpoint_key_add (SutraKeyBuilder *builder, const SutraItem *item);
/* Writes the key; FALSE (and no key) when an entry had no lineage. Clears
 * @builder either way. */
gboolean sutra_checkpoint_key_end (SutraKeyBuilder *builder, guint8 *key);
void sutra_checkpoint_key_clear (SutraKeyBuilder *builder);

/* A gather's output lineage folded member by member, for a streaming
 * gather (sutra_checkpoint_take_group_lineage() does it from an array). */
typedef struct _SutraGroupLineage
{
  SutraLineage *first; /* owned: the first member's */
  gpointer context;    /* EVP_MD_CTX: "group", then each finished run */
  guint8 previous[SUTRA_DIGEST_SIZE];
  guint64 count;
  gboolean mixed;
  gboolean keyless; /* a member had no lineage: the output gets none */
} SutraGroupLineage;

void sutra_checkpoint_group_lineage_add (SutraGroupLineage *fold, const SutraItem *member);
/* Gives @output (transfer full, returned) the folded lineage. @stage may be
 * NULL (no job): @output is returned as it is. */
SutraItem *sutra_checkpoint_group_lineage_end (SutraCheckpointStage *stage,
                                               SutraGroupLineage *fold,
                                               SutraItem *output);
void sutra_checkpoint_group_lineage_clear (SutraGroupLineage *fold);

/* Keys. */
/* A batch's key: @stage's fingerprint and every entry's lineage and path.
 * FALSE (no key: the batch cannot be stored) when a data item has no
 * lineage. */
gboolean sutra_checkpoint_batch_key (SutraCheckpointStage *stage,
                                     const SutraCheckpointBatch *batch,
                                     guint8 key[SUTRA_DIGEST_SIZE]);
/* A sink's batch key: its place @seq in the sink's input stream. */
void sutra_checkpoint_sink_batch_key (guint64 seq, guint8 key[SUTRA_DIGEST_SIZE]);

/* Batches through the store. */
/* Returns: (transfer full) (nullable): the outputs of the batch of @key
 * computed before, by this job or another sharing the store, decoded
 * against the batch's @data; NULL when there are none or the entry fails
 * its checks (then it is computed again). */
GPtrArray *sutra_checkpoint_load_batch (SutraCheckpointStage *stage,
                                        const guint8 key[SUTRA_DIGEST_SIZE],
                                        GPtrArray *data,
                                        guint64 n_inputs,
                                        SutraCheckpointLoaded *loaded);
/* Stores @outputs of @batch under @key and journals it. */
gboolean sutra_checkpoint_save_batch (SutraCheckpointStage *stage,
                                      const guint8 key[SUTRA_DIGEST_SIZE],
                                      const SutraCheckpointBatch *batch,
                                      GPtrArray *outputs,
                                      GError **error);
/* The same with the record encoded already (a split's, as it streamed),
 * holding @n_out data items. */
gboolean sutra_checkpoint_save_record (SutraCheckpointStage *stage,
                                       const guint8 key[SUTRA_DIGEST_SIZE],
                                       const SutraCheckpointBatch *batch,
                                       GBytes *body,
                                       guint64 n_out,
                                       GError **error);
/* Records that an item of the batch of @key (nullable: a batch without
 * one) failed. */
void sutra_checkpoint_add_failure (SutraCheckpointStage *stage,
                                   const guint8 *key,
                                   const char *item_id,
                                   const char *message);

/* Sinks. */
/* Whether the sink wrote the batch of @key before (it resumes). */
gboolean sutra_checkpoint_sink_has_batch (SutraCheckpointStage *stage,
                                          const guint8 key[SUTRA_DIGEST_SIZE]);
/* The sink wrote the batch of @key: recorded at its next checkpoint. */
void sutra_checkpoint_sink_note_batch (SutraCheckpointStage *stage,
                                       const guint8 key[SUTRA_DIGEST_SIZE]);
/* Records the sink's progress: the batches noted since the last time and,
 * after a sync (sync_prepare), the state to resume from, in one unit. At
 * most every half second unless @force; @complete: its output is whole
 * (no sync: its finish made it durable). A forced checkpoint of a sink
 * with a second phase commits the journal at once and calls sync_commit. */
gboolean sutra_checkpoint_sink (SutraCheckpointStage *stage,
                                gboolean force,
                                gboolean complete,
                                GError **error);

/* Records what @stage computed per device (@devices: a JSON object, from
 * sutra_worker_dup_device_counts()), for `sutra status`. Call it before
 * sutra_checkpoint_stage_finished(), which commits it. */
void sutra_checkpoint_stage_set_devices (SutraCheckpointStage *stage, JsonObject *devices);

/* Records that @stage ended in @state ("done", "failed", "stopped"), with
 * its final counters; after this the committer records no progress row
 * for it. A stage that stores its outputs wakes the committer: what it
 * stored is complete. */
void sutra_checkpoint_stage_finished (SutraCheckpointStage *stage,
                                      const char *state,
                                      const SutraStageStats *stats,
                                      double seconds);

G_END_DECLS
