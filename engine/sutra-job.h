/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraJob: a job directory: snapshot, lock, journal and store. */

#pragma once

#include "sutra-journal.h"
#include "sutra-pipeline.h"
#include "sutra-shard.h"
#include "sutra-store.h"

G_BEGIN_DECLS

#define SUTRA_JOB_ERROR (sutra_job_error_quark ())
GQuark sutra_job_error_quark (void);

typedef enum
{
  SUTRA_JOB_ERROR_LOCKED,    /* another sutra is running this job */
  SUTRA_JOB_ERROR_CHANGED,   /* the pipeline differs from the snapshot */
  SUTRA_JOB_ERROR_VERSION,   /* made by another sutra job format */
  SUTRA_JOB_ERROR_NOT_A_JOB, /* no job in that directory */
  SUTRA_JOB_ERROR_IO,
} SutraJobError;

#define SUTRA_JOB_FORMAT 2

typedef struct
{
  char *dir;
  char *store_dir;
  SutraJournal *journal;
  SutraStore *store;
  int lock_fd;
  gboolean retry_failed;
  char *snapshot_hash;
  /* Per stage (by SutraStageSpec.index), SUTRA_DIGEST_SIZE bytes each: the
   * stage's fingerprint with its plugin module's content folded in. The
   * keys of the job's outputs are made from these. */
  guint8 *fingerprints;
  /* Names of stages whose failed items are tried again in this run even
   * without --retry-failed: their on_error, on_missing or retry changed. */
  GHashTable *retry_stages;
  /* What this run computes again, and why, beyond the pipeline's own
   * changes (a rebuilt plugin module, a new batch size): lines for the
   * user, each a sentence. */
  GPtrArray *notes;
  gint64 started_us; /* monotonic, set by sutra_job_record_start() */
  /* Which part of the work this run does (set before the run): all of it,
   * one shard's, or the gather after the shards. */
  SutraShard shard;
} SutraJob;

/* What `sutra status` and `sutra jobs` show about a job, from its job.json
 * and journal. Times are Unix seconds, 0 when unknown. */
typedef struct
{
  char *dir;
  char *name;          /* the pipeline's name */
  char *pipeline_file; /* nullable: the file it was started from */
  char **command;      /* the last run's command line (empty when unknown) */
  char **inputs;       /* what its sources read, as resolved */
  char **outputs;      /* what its sinks write */
  gint64 created;      /* when its first run started */
  gint64 created_us;   /* the same in microseconds, to order jobs */
  gint64 started;      /* when its last run started */
  gint64 finished;     /* when its last run ended; 0 while it runs, or when killed */
  double seconds;      /* time its runs took, all together (so far, while running) */
  char *state;         /* running, done, failed, interrupted */
  int pid;             /* the process that runs it, or 0 */
} SutraJobInfo;

/* The job directory a run without --job uses: .sutra/jobs/NAME-HASH in the
 * current directory, HASH from what the pipeline computes (not from its
 * workers, queue or batch sizes), so the same command run again finds its
 * job, tuned or not. */
char *sutra_job_default_dir (SutraPipeline *pipeline);

/* Opens or makes the job in @dir for @pipeline and locks it. An existing
 * snapshot that differs in what the pipeline computes (a stage's plugin,
 * input or parameters; a stage added or removed; its name) is refused,
 * naming the changed stages, unless @force; settings that change only how
 * stages run (workers, queue, batch, retry, on_error ...) do not count.
 * Digests every plugin module the pipeline uses into the job's
 * fingerprints, and says in the job's notes what a rebuilt module, a new
 * batch size or a new failure policy makes this run compute again.
 * @cache_dir (nullable) puts the store there instead of in the job.
 * @plugin_paths are remembered for `sutra resume`. */
SutraJob *sutra_job_open (const char *dir,
                          SutraPipeline *pipeline,
                          const char *cache_dir,
                          const char *const *plugin_paths,
                          gboolean force,
                          GError **error);

/* Reads a job's snapshot and settings without locking it: for `sutra
 * resume` (which then calls sutra_job_open) and `sutra status`. */
gboolean sutra_job_read_settings (const char *dir,
                                  char **snapshot_path,
                                  char **cache_dir,
                                  char ***plugin_paths,
                                  GError **error);

/* Opens a job's journal read-only, for status and gc. */
SutraJournal *sutra_job_open_journal (const char *dir, GError **error);

/* Whether a sutra runs the job in @dir now (holds its lock); @pid
 * (nullable) gets that process's id, or 0 when unknown. */
gboolean sutra_job_is_running (const char *dir, int *pid);

void sutra_job_close (SutraJob *job);

/* Whether the failed items of @stage are tried again in this run:
 * --retry-failed, or a changed failure policy (on_error, on_missing,
 * retry) of the stage. */
gboolean sutra_job_retries_stage (SutraJob *job, const char *stage);

/* Records in job.json that a run starts now: @command (the command line),
 * the pipeline file, its inputs and outputs, the start time. A run killed
 * before sutra_job_record_end() gets the time its journal saw added. */
gboolean sutra_job_record_start (SutraJob *job,
                                 SutraPipeline *pipeline,
                                 const char *const *command,
                                 GError **error);

/* Records that the run ended now, and adds its time to the job's. */
gboolean sutra_job_record_end (SutraJob *job, GError **error);

/* Returns: (transfer full) (array zero-terminated=1): the paths @pipeline's
 * sources read (@outputs FALSE) or its sinks write (@outputs TRUE), as
 * resolved ("-" for standard input or output). */
char **sutra_job_list_paths (SutraPipeline *pipeline, gboolean outputs);

/* Reads what is known about the job in @dir without locking it: its
 * settings, its runs, and its state as its journal and lock tell. */
SutraJobInfo *sutra_job_read_info (const char *dir, GError **error);
void sutra_job_info_free (SutraJobInfo *info);

/* The SHA-256 of what a source stage reads: every file its input-path
 * parameters name, in order, with their names and content digests. A
 * file's content digest comes from @journal (nullable) when its stat
 * fields say it has not changed since it was recorded, and is recorded
 * there otherwise. @n_files and @n_cached count the files and those whose
 * digest was recorded. FALSE for input that cannot be read twice (standard
 * input, a FIFO: anything but regular files): such a source is never taken
 * from the cache. */
gboolean sutra_job_source_digest (SutraStageSpec *spec,
                                  SutraJournal *journal,
                                  guint8 digest[32],
                                  guint *n_files,
                                  guint *n_cached);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraJob, sutra_job_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraJobInfo, sutra_job_info_free)

G_END_DECLS
