/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraShard: which part of a job this process runs, when a job runs as
 * shards under a launcher (Slurm, MPI, Kubernetes): shard K of N, or the
 * gather that follows them. */

#pragma once

#include "sutra-pipeline.h"

G_BEGIN_DECLS

#define SUTRA_SHARD_ERROR (sutra_shard_error_quark ())
GQuark sutra_shard_error_quark (void);

typedef enum
{
  SUTRA_SHARD_ERROR_SYNTAX,   /* --shard is none of K/N, auto, gather */
  SUTRA_SHARD_ERROR_RANGE,    /* K not below N, N zero or too large */
  SUTRA_SHARD_ERROR_LAUNCHER, /* auto: no launcher's variables, or bad ones */
  SUTRA_SHARD_ERROR_PIPELINE, /* no stage whose work shards can divide */
} SutraShardError;

typedef enum
{
  SUTRA_SHARD_NONE,   /* the whole job in one process */
  SUTRA_SHARD_PART,   /* shard index of count */
  SUTRA_SHARD_GATHER, /* the final pass after the shards */
} SutraShardRole;

/* The most shards a job may have. */
#define SUTRA_SHARD_MAX_COUNT 100000u

typedef struct
{
  SutraShardRole role;
  guint index; /* 0-based, below count (PART only) */
  guint count; /* PART; GATHER: 0 unless known */
  /* Where index and count came from: "--shard", "Slurm job array", ... */
  const char *origin;
  /* GATHER: refuse to start while a shard has not finished (--missing
   * fail), rather than compute its part. */
  gboolean missing_fails;
} SutraShard;

/* Reads @text, the value of --shard: "K/N" (0 <= K < N), "auto" (from the
 * launcher's variables in @environ, a g_get_environ() list), or "gather".
 * @count (0: not given) is --shard-count; when 0, SUTRA_SHARD_COUNT in
 * @environ is used. A count given so wins over the launcher's: a job array
 * re-submitted for one failed task knows only that task, and a Kubernetes
 * Indexed Job gives no count at all. Launchers, in this order (the first
 * whose index variable is set wins; sutra-shard.c says why): a Slurm job
 * array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), Open MPI
 * (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE), PMI (PMI_RANK, PMI_SIZE:
 * MPICH, Intel MPI, Slurm's PMI), Slurm tasks (SLURM_PROCID, SLURM_NTASKS,
 * in a step srun started: a batch script's own process, with no
 * SLURM_STEP_ID, is refused when there are several tasks),
 * Kubernetes (JOB_COMPLETION_INDEX). FALSE with @error, which names the
 * variables read and the fix. */
gboolean sutra_shard_parse (const char *text,
                            guint count,
                            const char *const *environ,
                            SutraShard *shard,
                            GError **error);

/* Whether the batch at @seq of the shard stage's input stream is this
 * shard's: batches are dealt round the shards, so every batch has exactly
 * one owner and shards differ by at most one batch. */
static inline gboolean
sutra_shard_owns (const SutraShard *shard, guint64 seq)
{
  return shard->role != SUTRA_SHARD_PART || seq % shard->count == shard->index;
}

/* Finds the stages whose batches shards divide among themselves, in
 * @is_shard_stage (one per stage of @pipeline, in its order): the maps and
 * splits that store their outputs and feed a gather or a sink, but for
 * those downstream of another such stage. Each shard runs them and what is
 * upstream of them (every shard reads and splits the whole input, which is
 * cheap, so that the batches are those of one process), and nothing
 * downstream: that is the gather's. FALSE with @error when the pipeline has
 * no such stage (a shard would have nothing of its own to do). */
gboolean sutra_shard_find_stages (SutraPipeline *pipeline,
                                  gboolean *is_shard_stage,
                                  GError **error);

/* Says in the shared store at @store_dir that @shard (a PART) finished the
 * work named @key (sutra_checkpoint_get_shard_key()): the file
 * STORE/shards/KEY/K-of-N, written by an atomic rename. */
gboolean sutra_shard_write_marker (const char *store_dir,
                                   const char *key,
                                   const SutraShard *shard,
                                   GError **error);

/* Which shards of the work named @key have not finished, for the gather:
 * the indices (in *@missing, transfer full, sorted) of shards 0..N-1 with
 * no marker, N being @count, or when 0 the count the markers give.
 * *@found_count gets N (0 when no shard has finished and @count is 0).
 * FALSE with @error when markers of different counts are there and @count
 * does not choose between them. */
gboolean sutra_shard_find_missing (const char *store_dir,
                                   const char *key,
                                   guint count,
                                   GArray **missing,
                                   guint *found_count,
                                   GError **error);

/* Returns: (transfer full): "K-of-N", the name of shard @index of @count in
 * file names (markers, the store's pack names). */
char *sutra_shard_name (guint index, guint count);

G_END_DECLS
