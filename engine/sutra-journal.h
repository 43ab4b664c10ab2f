/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraJournal: the job's SQLite record of what is done, failed and where. */

#pragma once

#include "sutra-store.h"

G_BEGIN_DECLS

#define SUTRA_JOURNAL_ERROR (sutra_journal_error_quark ())
GQuark sutra_journal_error_quark (void);

typedef enum
{
  SUTRA_JOURNAL_ERROR_OPEN,    /* cannot open or create */
  SUTRA_JOURNAL_ERROR_DAMAGED, /* not a journal, or a damaged one */
  SUTRA_JOURNAL_ERROR_VERSION, /* written by another journal format */
  SUTRA_JOURNAL_ERROR_WRITE,   /* a commit failed (disk full ...) */
} SutraJournalError;

#define SUTRA_JOURNAL_FORMAT 1

typedef struct _SutraJournal SutraJournal;

/* A committed batch: where its outputs are, and how it went. */
typedef struct
{
  SutraStoreLocation location;
  guint stage;    /* index into the names given to load_batches */
  guint n_failed; /* items of the batch that failed and were skipped */
} SutraJournalBatch;

SutraJournal *sutra_journal_open (const char *path, GError **error);
void sutra_journal_close (SutraJournal *journal);

/* Immediate reads and writes of the job's metadata. */
char *sutra_journal_get_meta (SutraJournal *journal, const char *name);
gboolean sutra_journal_set_meta (SutraJournal *journal,
                                 const char *name,
                                 const char *value,
                                 GError **error);

/* Returns: (transfer full): key (GBytes) -> SutraJournalBatch *, for every
 * committed batch of a non-sink stage. */
GHashTable *sutra_journal_load_batches (SutraJournal *journal, GHashTable *stage_indices);

/* Returns: (transfer full): the keys (GBytes set) of @stage's committed
 * sink batches, and in @state its last sync state (NULL: none). */
GHashTable *sutra_journal_load_sink (SutraJournal *journal,
                                     const char *stage,
                                     char **state,
                                     gboolean *complete);

/* Forgets a sink's progress: its output will be written anew. */
gboolean sutra_journal_reset_sink (SutraJournal *journal, const char *stage, GError **error);

/* The content digest recorded for the input file @path when its stat
 * fields were @stamp (see sutra_job_source_digest()). FALSE when none is,
 * or the file's stamp changed since. */
gboolean sutra_journal_get_input_digest (SutraJournal *journal,
                                         const char *path,
                                         const char *stamp,
                                         guint8 digest[32]);
/* Records it (pending, like the writes below). */
void sutra_journal_set_input_digest (SutraJournal *journal,
                                     const char *path,
                                     const char *stamp,
                                     const guint8 digest[32]);
/* Whether writes wait for the next commit. */
gboolean sutra_journal_has_pending (SutraJournal *journal);
/* Pending writes, from any thread; durable at the next commit. */
void sutra_journal_add_batch (SutraJournal *journal,
                              const char *stage,
                              const guint8 *key,
                              const SutraStoreLocation *location,
                              guint n_in,
                              guint n_out,
                              guint n_failed,
                              gboolean cached);
/* Forgets a batch's recorded failures: it is being computed again. Its new
 * failures, added after this, stay. */
void sutra_journal_clear_failures (SutraJournal *journal, const guint8 *batch_key);
/* Forgets all of @stage's recorded failures: it computes every item it sees
 * again (a source, a stage that stores nothing, a sink that starts anew). */
void sutra_journal_clear_stage_failures (SutraJournal *journal, const char *stage);
void sutra_journal_add_failure (SutraJournal *journal,
                                const char *stage,
                                const guint8 *batch_key,
                                const char *item,
                                const char *message);
/* A sink's batches and the state it synced after them, as one unit. */
void sutra_journal_add_sink_checkpoint (SutraJournal *journal,
                                        const char *stage,
                                        GPtrArray *keys,
                                        const char *state,
                                        gboolean complete);
void sutra_journal_set_stage (SutraJournal *journal,
                              const char *stage,
                              const char *state,
                              const char *complete_key,
                              guint64 n_in,
                              guint64 n_out,
                              guint64 n_failed,
                              guint64 n_cached,
                              guint64 n_total,
                              double seconds);

/* A content-cached stage's counters of its last run: items found in the
 * cache and items computed (pending). `sutra status` reads them back from
 * the meta rows named SUTRA_JOURNAL_CACHE_PREFIX and the stage, valued
 * "HITS MISSES". */
#define SUTRA_JOURNAL_CACHE_PREFIX "cache:"
void sutra_journal_set_cache_counts (SutraJournal *journal,
                                     const char *stage,
                                     guint64 hits,
                                     guint64 misses);
/* What @stage's last run computed per device, as a JSON object
 * ({"cuda:0": 600, "cuda:1": 400}), for `sutra status`; in the table
 * stage_devices, made when first needed. */
void sutra_journal_set_stage_devices (SutraJournal *journal,
                                      const char *stage,
                                      const char *devices);

/* One run of the job (`sutra run`, `sutra resume`), for `sutra report`. */
typedef struct
{
  double started;  /* wall clock, seconds since the epoch */
  double finished; /* 0: not finished (still running, or killed) */
  char *state;     /* "running", "done", "failed" or "stopped" */
  char *command;   /* the command line that ran it */
  char *pipeline;  /* the pipeline file's path */
  char *inputs;    /* the files its sources read, one a line */
  char *outputs;   /* the files and directories its sinks write, one a line */
  char *message;   /* nullable: why it failed or stopped */
} SutraJournalRun;

SutraJournalRun *sutra_journal_run_copy (const SutraJournalRun *run);
void sutra_journal_run_free (SutraJournalRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraJournalRun, sutra_journal_run_free)

/* A stage's counters at one moment of a run. */
typedef struct
{
  double t; /* seconds since the run started */
  char state[16];
  guint64 n_in, n_out, n_failed, n_cached;
  guint queue_fill, queue_capacity, workers;
  gint64 busy_us; /* summed worker time in process calls so far */
} SutraJournalSample;

/* The number the next run of the job gets (runs count from 1). */
guint sutra_journal_next_run_id (SutraJournal *journal);
/* Records (or updates) run @run_id; pending, like the writes above. */
void sutra_journal_set_run (SutraJournal *journal, guint run_id, const SutraJournalRun *run);
/* The same at once, for a run that ends before its first commit. Call it
 * when no commit can run (no committer thread). */
gboolean sutra_journal_write_run (SutraJournal *journal,
                                  guint run_id,
                                  const SutraJournalRun *run,
                                  GError **error);
/* Records @stage's counters at tick @seq of run @run_id (pending). */
void sutra_journal_add_sample (SutraJournal *journal,
                               guint run_id,
                               guint64 seq,
                               const char *stage,
                               const SutraJournalSample *sample);
/* Forgets run @run_id's samples whose tick @stride does not divide
 * (pending): the timeline keeps every @stride-th tick from then on. */
void sutra_journal_thin_samples (SutraJournal *journal, guint run_id, guint64 stride);

/* Makes the store durable, then commits every pending write in one
 * transaction. Returns the number of rows committed, or -1 with @error. */
gint64 sutra_journal_commit (SutraJournal *journal, SutraStore *store, GError **error);

/* Keys of every batch the journal refers to (GBytes set), for gc. */
void sutra_journal_collect_keys (SutraJournal *journal, GHashTable *keys);

/* For `sutra status`: runs a read-only query, one row per callback. */
typedef void (*SutraJournalRowFunc) (int n_columns, const char *const *values, gpointer data);
gboolean sutra_journal_query (SutraJournal *journal,
                              const char *sql,
                              SutraJournalRowFunc func,
                              gpointer data,
                              GError **error);

G_END_DECLS
