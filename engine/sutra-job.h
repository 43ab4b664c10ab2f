/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraJob: a job directory: snapshot, lock, journal and store. */

#pragma once

#include "sutra-journal.h"
#include "sutra-pipeline.h"
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
} SutraJob;

/* The job directory a run without --job uses: .sutra/jobs/NAME-HASH in the
 * current directory, HASH from the pipeline snapshot, so the same command
 * run again finds its job. */
char *sutra_job_default_dir (SutraPipeline *pipeline);

/* Opens or makes the job in @dir for @pipeline and locks it. An existing
 * snapshot that differs is refused, naming the changed stages, unless
 * @force. @cache_dir (nullable) puts the store there instead of in the
 * job. @plugin_paths are remembered for `sutra resume`. */
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

G_END_DECLS
