/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The journal: SQLite in WAL mode, written in batched transactions. */

#include "sutra-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sutra/sutra.h>
#include <string.h>
#include <unistd.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-journal-error-quark, sutra_journal_error)
/* clang-format on */

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);"
  "CREATE TABLE IF NOT EXISTS batches ("
  "  key BLOB PRIMARY KEY, stage TEXT NOT NULL, pack TEXT NOT NULL, offset INTEGER NOT NULL,"
  "  length INTEGER NOT NULL, n_in INTEGER, n_out INTEGER, n_failed INTEGER, cached INTEGER,"
  "  at REAL);"
  "CREATE TABLE IF NOT EXISTS sink_batches (stage TEXT, key BLOB, PRIMARY KEY (stage, key));"
  "CREATE TABLE IF NOT EXISTS sinks (stage TEXT PRIMARY KEY, state TEXT, complete INTEGER);"
  "CREATE TABLE IF NOT EXISTS failures ("
  "  stage TEXT, batch BLOB, item TEXT, message TEXT, at REAL);"
  "CREATE INDEX IF NOT EXISTS failures_by_batch ON failures (batch);"
  "CREATE TABLE IF NOT EXISTS input_digests (path TEXT PRIMARY KEY, stamp TEXT, digest BLOB);"
  "CREATE TABLE IF NOT EXISTS stages ("
  "  stage TEXT PRIMARY KEY, state TEXT, complete_key TEXT, n_in INTEGER, n_out INTEGER,"
  "  n_failed INTEGER, n_cached INTEGER, n_total INTEGER, seconds REAL);";

/* The timeline, for `sutra report`: one row per run of the job, and per
 * run one row per stage and sample (seq: the sample's time in base ticks,
 * so thinning keeps the rows whose seq the new stride divides). Made when
 * the journal is opened, not with it, so journals of earlier sutras get
 * it too, and a new journal file is no bigger than it was (test-resume
 * runs sutra under a 64 KiB file size limit). WITHOUT ROWID: the key is
 * the table, one b-tree rather than two. */
static const char timeline_schema[] =
  "CREATE TABLE IF NOT EXISTS runs ("
  "  run INTEGER PRIMARY KEY, started REAL, finished REAL, state TEXT, command TEXT,"
  "  pipeline TEXT, inputs TEXT, outputs TEXT, message TEXT);"
  "CREATE TABLE IF NOT EXISTS timeline ("
  "  run INTEGER, seq INTEGER, stage TEXT, t REAL, state TEXT, n_in INTEGER, n_out INTEGER,"
  "  n_failed INTEGER, n_cached INTEGER, queue_fill INTEGER, queue_capacity INTEGER,"
  "  workers INTEGER, busy_us INTEGER, PRIMARY KEY (run, seq, stage)) WITHOUT ROWID;";

typedef enum
{
  PENDING_BATCH,
  PENDING_FAILURE,
  PENDING_SINK,
  PENDING_STAGE,
  PENDING_CLEAR_FAILURES,
  PENDING_INPUT_DIGEST,
  PENDING_RUN,
  PENDING_SAMPLE,
  PENDING_THIN,
  PENDING_META,
  PENDING_STAGE_DEVICES,
} PendingKind;

typedef struct
{
  PendingKind kind;
  char *stage;
  guint8 key[32];
  SutraStoreLocation location;
  guint64 n_in, n_out, n_failed, n_cached, n_total;
  gboolean flag;
  char *text1;     /* failure: item; sink: state; stage: state; input digest: path */
  char *text2;     /* failure: message; stage: complete key; input digest: stamp */
  GPtrArray *keys; /* sink: batch keys (GBytes) */
  double seconds;
  SutraJournalRun *run;       /* run */
  SutraJournalSample *sample; /* sample (its stage in @stage) */
  guint run_id;               /* run, sample, thin */
  guint64 seq;                /* sample: its tick; thin: the stride */
} Pending;

struct _SutraJournal
{
  sqlite3 *db;
  char *path;
  GMutex lock; /* guards pending */
  GPtrArray *pending;
  GMutex commit_lock; /* one commit at a time */
};

static void
pending_free (Pending *pending)
{
  g_free (pending->stage);
  g_free (pending->text1);
  g_free (pending->text2);
  if (pending->keys != NULL)
    g_ptr_array_unref (pending->keys);
  g_clear_pointer (&pending->run, sutra_journal_run_free);
  g_free (pending->sample);
  g_free (pending);
}

static gboolean
exec (SutraJournal *journal, const char *sql, GError **error)
{
  char *message = NULL;

  if (sqlite3_exec (journal->db, sql, NULL, NULL, &message) != SQLITE_OK)
    {
      int code = sqlite3_errcode (journal->db);

      g_set_error (error, SUTRA_JOURNAL_ERROR,
                   code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? SUTRA_JOURNAL_ERROR_DAMAGED
                                                                   : SUTRA_JOURNAL_ERROR_WRITE,
                   "journal “%s”: %s", journal->path,
                   message ? message : sqlite3_errmsg (journal->db));
      sqlite3_free (message);
      return FALSE;
    }
  return TRUE;
}

void
sutra_journal_close (SutraJournal *journal)
{
  if (journal == NULL)
    return;
  sqlite3_close (journal->db);
  g_ptr_array_unref (journal->pending);
  g_mutex_clear (&journal->lock);
  g_mutex_clear (&journal->commit_lock);
  g_free (journal->path);
  g_free (journal);
}

/* A new journal is made under another name without a sync at each step,
 * then synced once and renamed into place: a crash leaves either no journal
 * (the next run makes one) or a whole one, and making it costs one sync
 * where SQLite made half a dozen for a new database in WAL mode. */
static gboolean
create_journal (const char *path, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *sql =
    g_strdup_printf ("PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL; BEGIN; %s"
                     "INSERT INTO meta (name, value) VALUES ('journal_format', '%d'); COMMIT;",
                     schema, SUTRA_JOURNAL_FORMAT);
  const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
  sqlite3 *db = NULL;
  char *message = NULL;
  int status, fd;

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *stale = g_strconcat (tmp, suffixes[i], NULL);

      g_unlink (stale);
    }
  status = sqlite3_open_v2 (tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (status == SQLITE_OK)
    status = sqlite3_exec (db, sql, NULL, NULL, &message);
  if (status != SQLITE_OK)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_OPEN,
                   "cannot create journal “%s”: %s", path,
                   message != NULL ? message : sqlite3_errstr (status));
      sqlite3_free (message);
      sqlite3_close (db);
      g_unlink (tmp);
      return FALSE;
    }
  /* Closing the last connection checkpoints the WAL into the file. */
  sqlite3_close (db);
  fd = open (tmp, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync (fd) != 0 || g_rename (tmp, path) != 0)
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_unlink (tmp);
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_OPEN,
                   "cannot create journal “%s”: %s", path, g_strerror (saved));
      return FALSE;
    }
  close (fd);
  fd = open (dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
  return TRUE;
}

SutraJournal *
sutra_journal_open (const char *path, GError **error)
{
  SutraJournal *journal = g_new0 (SutraJournal, 1);
  g_autofree char *format = NULL;
  g_autoptr (GError) local = NULL;
  int status;

  if (!g_file_test (path, G_FILE_TEST_EXISTS) && !create_journal (path, error))
    {
      g_free (journal);
      return NULL;
    }
  journal->path = g_strdup (path);
  journal->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  g_mutex_init (&journal->lock);
  g_mutex_init (&journal->commit_lock);
  status =
    sqlite3_open_v2 (path, &journal->db,
                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (status != SQLITE_OK)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_OPEN,
                   "cannot open journal “%s”: %s", path, sqlite3_errstr (status));
      sutra_journal_close (journal);
      return NULL;
    }
  sqlite3_busy_timeout (journal->db, 5000);
  /* WAL: readers (sutra status) never block the run; synchronous=FULL: a
   * commit survives power loss, and commits are batched so it is cheap. */
  /* BEGIN IMMEDIATE: a deferred transaction that reads the schema and
   * then writes would get SQLITE_BUSY at once, without waiting, whenever
   * another connection (the run's committer, or `sutra status` opening the
   * journal) committed in between; an immediate one waits its turn. */
  if (!exec (journal, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", &local) ||
      !exec (journal, "BEGIN IMMEDIATE;", &local) || !exec (journal, schema, &local) ||
      !exec (journal, timeline_schema, &local) || !exec (journal, "COMMIT;", &local))
    {
      if (local->code == SUTRA_JOURNAL_ERROR_DAMAGED ||
          sqlite3_errcode (journal->db) == SQLITE_NOTADB ||
          sqlite3_errcode (journal->db) == SQLITE_CORRUPT)
        g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_DAMAGED,
                     "the journal “%s” is damaged (%s): the job cannot be resumed from it; "
                     "move the job directory away and start the job again (with the same "
                     "--cache, finished work is taken from the store)",
                     path, sqlite3_errmsg (journal->db));
      else
        g_propagate_error (error, g_steal_pointer (&local));
      sutra_journal_close (journal);
      return NULL;
    }
  format = sutra_journal_get_meta (journal, "journal_format");
  if (format == NULL)
    {
      g_autofree char *text = g_strdup_printf ("%d", SUTRA_JOURNAL_FORMAT);

      if (!sutra_journal_set_meta (journal, "journal_format", text, error))
        {
          sutra_journal_close (journal);
          return NULL;
        }
    }
  else if (atoi (format) != SUTRA_JOURNAL_FORMAT)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_VERSION,
                   "the journal “%s” has format %s, but this sutra (%s) reads format %d: "
                   "resume it with the sutra that made it, or start the job again",
                   path, format, SUTRA_VERSION_STRING, SUTRA_JOURNAL_FORMAT);
      sutra_journal_close (journal);
      return NULL;
    }
  return journal;
}

char *
sutra_journal_get_meta (SutraJournal *journal, const char *name)
{
  sqlite3_stmt *statement = NULL;
  char *value = NULL;

  if (sqlite3_prepare_v2 (journal->db, "SELECT value FROM meta WHERE name = ?", -1, &statement,
                          NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text (statement, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step (statement) == SQLITE_ROW && sqlite3_column_text (statement, 0) != NULL)
    value = g_strdup ((const char *) sqlite3_column_text (statement, 0));
  sqlite3_finalize (statement);
  return value;
}

gboolean
sutra_journal_set_meta (SutraJournal *journal, const char *name, const char *value, GError **error)
{
  sqlite3_stmt *statement = NULL;
  int status;

  if (sqlite3_prepare_v2 (journal->db, "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                          -1, &statement, NULL) != SQLITE_OK)
    return exec (journal, "SELECT 1 FROM no_such_table", error);
  sqlite3_bind_text (statement, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 2, value, -1, SQLITE_STATIC);
  status = sqlite3_step (statement);
  sqlite3_finalize (statement);
  if (status != SQLITE_DONE)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_WRITE,
                   "journal “%s”: cannot record %s: %s", journal->path, name,
                   sqlite3_errmsg (journal->db));
      return FALSE;
    }
  return TRUE;
}

GHashTable *
sutra_journal_load_batches (SutraJournal *journal, GHashTable *stage_indices)
{
  GHashTable *batches = g_hash_table_new_full (sutra_digest_bytes_hash, g_bytes_equal,
                                               (GDestroyNotify) g_bytes_unref, g_free);
  sqlite3_stmt *statement = NULL;

  if (sqlite3_prepare_v2 (journal->db,
                          "SELECT key, stage, pack, offset, length, n_failed FROM batches", -1,
                          &statement, NULL) != SQLITE_OK)
    return batches;
  while (sqlite3_step (statement) == SQLITE_ROW)
    {
      SutraJournalBatch *batch;
      gpointer index;

      if (sqlite3_column_bytes (statement, 0) != 32 ||
          !g_hash_table_lookup_extended (stage_indices, sqlite3_column_text (statement, 1), NULL,
                                         &index))
        continue;
      batch = g_new0 (SutraJournalBatch, 1);
      batch->stage = GPOINTER_TO_UINT (index);
      g_strlcpy (batch->location.pack, (const char *) sqlite3_column_text (statement, 2),
                 sizeof batch->location.pack);
      batch->location.offset = sqlite3_column_int64 (statement, 3);
      batch->location.length = sqlite3_column_int64 (statement, 4);
      batch->n_failed = sqlite3_column_int (statement, 5);
      g_hash_table_replace (batches, g_bytes_new (sqlite3_column_blob (statement, 0), 32), batch);
    }
  sqlite3_finalize (statement);
  return batches;
}

GHashTable *
sutra_journal_load_sink (SutraJournal *journal, const char *stage, char **state, gboolean *complete)
{
  GHashTable *keys = g_hash_table_new_full (sutra_digest_bytes_hash, g_bytes_equal,
                                            (GDestroyNotify) g_bytes_unref, NULL);
  sqlite3_stmt *statement = NULL;

  *state = NULL;
  *complete = FALSE;
  if (sqlite3_prepare_v2 (journal->db, "SELECT state, complete FROM sinks WHERE stage = ?", -1,
                          &statement, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (statement, 1, stage, -1, SQLITE_STATIC);
      if (sqlite3_step (statement) == SQLITE_ROW)
        {
          if (sqlite3_column_text (statement, 0) != NULL)
            *state = g_strdup ((const char *) sqlite3_column_text (statement, 0));
          *complete = sqlite3_column_int (statement, 1) != 0;
        }
      sqlite3_finalize (statement);
    }
  if (sqlite3_prepare_v2 (journal->db, "SELECT key FROM sink_batches WHERE stage = ?", -1,
                          &statement, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (statement, 1, stage, -1, SQLITE_STATIC);
      while (sqlite3_step (statement) == SQLITE_ROW)
        if (sqlite3_column_bytes (statement, 0) == 32)
          g_hash_table_add (keys, g_bytes_new (sqlite3_column_blob (statement, 0), 32));
      sqlite3_finalize (statement);
    }
  return keys;
}

gboolean
sutra_journal_reset_sink (SutraJournal *journal, const char *stage, GError **error)
{
  sqlite3_stmt *statement = NULL;
  gboolean ok = TRUE;
  const char *const statements[] = { "DELETE FROM sinks WHERE stage = ?",
                                     "DELETE FROM sink_batches WHERE stage = ?" };

  for (guint i = 0; i < G_N_ELEMENTS (statements) && ok; i++)
    {
      if (sqlite3_prepare_v2 (journal->db, statements[i], -1, &statement, NULL) != SQLITE_OK)
        return exec (journal, statements[i], error);
      sqlite3_bind_text (statement, 1, stage, -1, SQLITE_STATIC);
      ok = sqlite3_step (statement) == SQLITE_DONE;
      sqlite3_finalize (statement);
    }
  if (!ok)
    g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_WRITE,
                 "journal “%s”: cannot reset sink “%s”: %s", journal->path, stage,
                 sqlite3_errmsg (journal->db));
  return ok;
}

static void
add_pending (SutraJournal *journal, Pending *pending)
{
  g_mutex_lock (&journal->lock);
  g_ptr_array_add (journal->pending, pending);
  g_mutex_unlock (&journal->lock);
}

gboolean
sutra_journal_get_input_digest (SutraJournal *journal,
                                const char *path,
                                const char *stamp,
                                guint8 digest[32])
{
  sqlite3_stmt *statement = NULL;
  gboolean found = FALSE;

  if (sqlite3_prepare_v2 (journal->db, "SELECT stamp, digest FROM input_digests WHERE path = ?", -1,
                          &statement, NULL) != SQLITE_OK)
    return FALSE;
  sqlite3_bind_text (statement, 1, path, -1, SQLITE_STATIC);
  if (sqlite3_step (statement) == SQLITE_ROW && sqlite3_column_text (statement, 0) != NULL &&
      strcmp ((const char *) sqlite3_column_text (statement, 0), stamp) == 0 &&
      sqlite3_column_bytes (statement, 1) == 32)
    {
      memcpy (digest, sqlite3_column_blob (statement, 1), 32);
      found = TRUE;
    }
  sqlite3_finalize (statement);
  return found;
}

void
sutra_journal_set_input_digest (SutraJournal *journal,
                                const char *path,
                                const char *stamp,
                                const guint8 digest[32])
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_INPUT_DIGEST;
  pending->text1 = g_strdup (path);
  pending->text2 = g_strdup (stamp);
  memcpy (pending->key, digest, 32);
  add_pending (journal, pending);
}

gboolean
sutra_journal_has_pending (SutraJournal *journal)
{
  gboolean any;

  g_mutex_lock (&journal->lock);
  any = journal->pending->len > 0;
  g_mutex_unlock (&journal->lock);
  return any;
}

void
sutra_journal_add_batch (SutraJournal *journal,
                         const char *stage,
                         const guint8 *key,
                         const SutraStoreLocation *location,
                         guint n_in,
                         guint n_out,
                         guint n_failed,
                         gboolean cached)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_BATCH;
  pending->stage = g_strdup (stage);
  memcpy (pending->key, key, 32);
  pending->location = *location;
  pending->n_in = n_in;
  pending->n_out = n_out;
  pending->n_failed = n_failed;
  pending->flag = cached;
  add_pending (journal, pending);
}

void
sutra_journal_clear_failures (SutraJournal *journal, const guint8 *batch_key)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_CLEAR_FAILURES;
  memcpy (pending->key, batch_key, 32);
  add_pending (journal, pending);
}

void
sutra_journal_clear_stage_failures (SutraJournal *journal, const char *stage)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_CLEAR_FAILURES;
  pending->stage = g_strdup (stage);
  add_pending (journal, pending);
}

void
sutra_journal_add_failure (SutraJournal *journal,
                           const char *stage,
                           const guint8 *batch_key,
                           const char *item,
                           const char *message)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_FAILURE;
  pending->stage = g_strdup (stage);
  if (batch_key != NULL)
    memcpy (pending->key, batch_key, 32);
  pending->text1 = g_strdup (item);
  pending->text2 = g_strdup (message);
  add_pending (journal, pending);
}

void
sutra_journal_add_sink_checkpoint (SutraJournal *journal,
                                   const char *stage,
                                   GPtrArray *keys,
                                   const char *state,
                                   gboolean complete)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_SINK;
  pending->stage = g_strdup (stage);
  pending->keys = g_ptr_array_ref (keys);
  pending->text1 = g_strdup (state);
  pending->flag = complete;
  add_pending (journal, pending);
}

void
sutra_journal_set_stage (SutraJournal *journal,
                         const char *stage,
                         const char *state,
                         const char *complete_key,
                         guint64 n_in,
                         guint64 n_out,
                         guint64 n_failed,
                         guint64 n_cached,
                         guint64 n_total,
                         double seconds)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_STAGE;
  pending->stage = g_strdup (stage);
  pending->text1 = g_strdup (state);
  pending->text2 = g_strdup (complete_key);
  pending->n_in = n_in;
  pending->n_out = n_out;
  pending->n_failed = n_failed;
  pending->n_cached = n_cached;
  pending->n_total = n_total;
  pending->seconds = seconds;
  add_pending (journal, pending);
}

/* In the meta table, one row per stage ("cache:" and its name): a table
 * of its own would make every new journal larger (test-resume runs sutra
 * under a 64 KiB file size limit) for what few stages have. */
void
sutra_journal_set_cache_counts (SutraJournal *journal,
                                const char *stage,
                                guint64 hits,
                                guint64 misses)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_META;
  pending->text1 = g_strconcat (SUTRA_JOURNAL_CACHE_PREFIX, stage, NULL);
  pending->text2 = g_strdup_printf ("%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, hits, misses);
  add_pending (journal, pending);
}

void
sutra_journal_set_stage_devices (SutraJournal *journal, const char *stage, const char *devices)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_STAGE_DEVICES;
  pending->stage = g_strdup (stage);
  pending->text1 = g_strdup (devices);
  add_pending (journal, pending);
}

/* The stage_devices table is made by the first stage given devices, not
 * when the journal is opened: most jobs never have one (and a new journal
 * stays as small as it was). */
static gboolean
record_stage_devices (SutraJournal *journal, const Pending *p)
{
  sqlite3_stmt *statement = NULL;
  gboolean ok;

  if (!exec (journal,
             "CREATE TABLE IF NOT EXISTS stage_devices (stage TEXT PRIMARY KEY, devices TEXT);",
             NULL) ||
      sqlite3_prepare_v2 (journal->db,
                          "INSERT OR REPLACE INTO stage_devices (stage, devices) VALUES (?,?)", -1,
                          &statement, NULL) != SQLITE_OK)
    return FALSE;
  sqlite3_bind_text (statement, 1, p->stage, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 2, p->text1, -1, SQLITE_STATIC);
  ok = sqlite3_step (statement) == SQLITE_DONE;
  sqlite3_finalize (statement);
  return ok;
}

SutraJournalRun *
sutra_journal_run_copy (const SutraJournalRun *run)
{
  SutraJournalRun *copy = g_new0 (SutraJournalRun, 1);

  copy->started = run->started;
  copy->finished = run->finished;
  copy->state = g_strdup (run->state);
  copy->command = g_strdup (run->command);
  copy->pipeline = g_strdup (run->pipeline);
  copy->inputs = g_strdup (run->inputs);
  copy->outputs = g_strdup (run->outputs);
  copy->message = g_strdup (run->message);
  return copy;
}

void
sutra_journal_run_free (SutraJournalRun *run)
{
  if (run == NULL)
    return;
  g_free (run->state);
  g_free (run->command);
  g_free (run->pipeline);
  g_free (run->inputs);
  g_free (run->outputs);
  g_free (run->message);
  g_free (run);
}

guint
sutra_journal_next_run_id (SutraJournal *journal)
{
  sqlite3_stmt *statement = NULL;
  guint id = 1;

  if (sqlite3_prepare_v2 (journal->db, "SELECT COALESCE (MAX (run), 0) + 1 FROM runs", -1,
                          &statement, NULL) != SQLITE_OK)
    return id;
  if (sqlite3_step (statement) == SQLITE_ROW)
    id = (guint) sqlite3_column_int64 (statement, 0);
  sqlite3_finalize (statement);
  return id;
}

void
sutra_journal_set_run (SutraJournal *journal, guint run_id, const SutraJournalRun *run)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_RUN;
  pending->run_id = run_id;
  pending->run = sutra_journal_run_copy (run);
  add_pending (journal, pending);
}

gboolean
sutra_journal_write_run (SutraJournal *journal,
                         guint run_id,
                         const SutraJournalRun *run,
                         GError **error)
{
  sqlite3_stmt *statement = NULL;
  int status;

  if (sqlite3_prepare_v2 (journal->db,
                          "INSERT OR REPLACE INTO runs (run, started, finished, state, command, "
                          "pipeline, inputs, outputs, message) VALUES (?,?,?,?,?,?,?,?,?)",
                          -1, &statement, NULL) != SQLITE_OK)
    return exec (journal, "SELECT 1 FROM runs WHERE 0", error);
  sqlite3_bind_int64 (statement, 1, run_id);
  sqlite3_bind_double (statement, 2, run->started);
  if (run->finished > 0)
    sqlite3_bind_double (statement, 3, run->finished);
  sqlite3_bind_text (statement, 4, run->state, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 5, run->command, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 6, run->pipeline, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 7, run->inputs, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 8, run->outputs, -1, SQLITE_STATIC);
  sqlite3_bind_text (statement, 9, run->message, -1, SQLITE_STATIC);
  status = sqlite3_step (statement);
  sqlite3_finalize (statement);
  if (status != SQLITE_DONE)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_WRITE,
                   "journal “%s”: cannot record the run: %s", journal->path,
                   sqlite3_errmsg (journal->db));
      return FALSE;
    }
  return TRUE;
}

void
sutra_journal_add_sample (SutraJournal *journal,
                          guint run_id,
                          guint64 seq,
                          const char *stage,
                          const SutraJournalSample *sample)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->kind = PENDING_SAMPLE;
  pending->run_id = run_id;
  pending->seq = seq;
  pending->stage = g_strdup (stage);
  pending->sample = g_memdup2 (sample, sizeof *sample);
  pending->sample->state[sizeof pending->sample->state - 1] = '\0';
  add_pending (journal, pending);
}

void
sutra_journal_thin_samples (SutraJournal *journal, guint run_id, guint64 stride)
{
  Pending *pending = g_new0 (Pending, 1);

  g_return_if_fail (stride > 0);
  pending->kind = PENDING_THIN;
  pending->run_id = run_id;
  pending->seq = stride;
  add_pending (journal, pending);
}

static gboolean
step_done (sqlite3_stmt *statement)
{
  int status = sqlite3_step (statement);

  sqlite3_reset (statement);
  sqlite3_clear_bindings (statement);
  return status == SQLITE_DONE;
}

gint64
sutra_journal_commit (SutraJournal *journal, SutraStore *store, GError **error)
{
  g_autoptr (GPtrArray) pending = NULL;
  sqlite3_stmt *batch = NULL, *failure = NULL, *clear = NULL, *clear_stage = NULL,
               *input_digest = NULL, *sink = NULL, *sink_batch = NULL, *stage = NULL, *run = NULL,
               *sample = NULL, *thin = NULL, *meta = NULL;
  double now = g_get_real_time () / 1e6;
  gboolean ok = TRUE;

  g_mutex_lock (&journal->commit_lock);
  g_mutex_lock (&journal->lock);
  pending = g_steal_pointer (&journal->pending);
  journal->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  g_mutex_unlock (&journal->lock);
  if (pending->len == 0)
    {
      g_mutex_unlock (&journal->commit_lock);
      return 0;
    }
  /* The entries the rows point at must be durable before the rows are. */
  if (store != NULL && !sutra_store_sync (store, error))
    goto fail;
  if (!exec (journal, "BEGIN IMMEDIATE;", error))
    goto fail;
  {
    const struct
    {
      sqlite3_stmt **statement;
      const char *sql;
    } statements[] = {
      { &batch, "INSERT OR REPLACE INTO batches (key, stage, pack, offset, length, n_in, "
                "n_out, n_failed, cached, at) VALUES (?,?,?,?,?,?,?,?,?,?)" },
      { &failure, "INSERT INTO failures (stage, batch, item, message, at) VALUES (?,?,?,?,?)" },
      { &clear, "DELETE FROM failures WHERE batch = ?" },
      { &clear_stage, "DELETE FROM failures WHERE stage = ?" },
      { &input_digest,
        "INSERT OR REPLACE INTO input_digests (path, stamp, digest) VALUES (?,?,?)" },
      { &sink, "INSERT OR REPLACE INTO sinks (stage, state, complete) VALUES (?,?,?)" },
      { &sink_batch, "INSERT OR IGNORE INTO sink_batches (stage, key) VALUES (?,?)" },
      { &stage, "INSERT OR REPLACE INTO stages (stage, state, complete_key, n_in, n_out, "
                "n_failed, n_cached, n_total, seconds) VALUES (?,?,?,?,?,?,?,?,?)" },
      { &run, "INSERT OR REPLACE INTO runs (run, started, finished, state, command, "
              "pipeline, inputs, outputs, message) VALUES (?,?,?,?,?,?,?,?,?)" },
      { &sample, "INSERT OR REPLACE INTO timeline (run, seq, stage, t, state, n_in, n_out, "
                 "n_failed, n_cached, queue_fill, queue_capacity, workers, busy_us) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)" },
      { &thin, "DELETE FROM timeline WHERE run = ? AND seq % ? != 0" },
      { &meta, "INSERT OR REPLACE INTO meta (name, value) VALUES (?,?)" },
    };

    /* A statement that does not prepare means tables that are not the
     * journal's (a damaged or foreign file): stepping it would crash, as
     * sqlite3_clear_bindings() does not take NULL. */
    for (guint i = 0; i < G_N_ELEMENTS (statements) && ok; i++)
      if (sqlite3_prepare_v2 (journal->db, statements[i].sql, -1, statements[i].statement, NULL) !=
          SQLITE_OK)
        {
          g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_DAMAGED,
                       "journal “%s”: cannot record progress, the journal is damaged (%s): "
                       "move the job directory away and start the job again",
                       journal->path, sqlite3_errmsg (journal->db));
          ok = FALSE;
        }
  }
  for (guint i = 0; i < pending->len && ok; i++)
    {
      Pending *p = pending->pdata[i];

      switch (p->kind)
        {
        case PENDING_CLEAR_FAILURES:
          if (p->stage != NULL)
            {
              sqlite3_bind_text (clear_stage, 1, p->stage, -1, SQLITE_STATIC);
              ok = step_done (clear_stage);
              break;
            }
          sqlite3_bind_blob (clear, 1, p->key, 32, SQLITE_STATIC);
          ok = step_done (clear);
          break;
        case PENDING_BATCH:
          sqlite3_bind_blob (batch, 1, p->key, 32, SQLITE_STATIC);
          sqlite3_bind_text (batch, 2, p->stage, -1, SQLITE_STATIC);
          sqlite3_bind_text (batch, 3, p->location.pack, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (batch, 4, p->location.offset);
          sqlite3_bind_int64 (batch, 5, p->location.length);
          sqlite3_bind_int64 (batch, 6, p->n_in);
          sqlite3_bind_int64 (batch, 7, p->n_out);
          sqlite3_bind_int64 (batch, 8, p->n_failed);
          sqlite3_bind_int (batch, 9, p->flag);
          sqlite3_bind_double (batch, 10, now);
          ok = step_done (batch);
          break;
        case PENDING_FAILURE:
          sqlite3_bind_text (failure, 1, p->stage, -1, SQLITE_STATIC);
          sqlite3_bind_blob (failure, 2, p->key, 32, SQLITE_STATIC);
          sqlite3_bind_text (failure, 3, p->text1, -1, SQLITE_STATIC);
          sqlite3_bind_text (failure, 4, p->text2, -1, SQLITE_STATIC);
          sqlite3_bind_double (failure, 5, now);
          ok = step_done (failure);
          break;
        case PENDING_SINK:
          for (guint k = 0; k < p->keys->len && ok; k++)
            {
              sqlite3_bind_text (sink_batch, 1, p->stage, -1, SQLITE_STATIC);
              sqlite3_bind_blob (sink_batch, 2, g_bytes_get_data (p->keys->pdata[k], NULL), 32,
                                 SQLITE_STATIC);
              ok = step_done (sink_batch);
            }
          sqlite3_bind_text (sink, 1, p->stage, -1, SQLITE_STATIC);
          sqlite3_bind_text (sink, 2, p->text1, -1, SQLITE_STATIC);
          sqlite3_bind_int (sink, 3, p->flag);
          ok = ok && step_done (sink);
          break;
        case PENDING_INPUT_DIGEST:
          sqlite3_bind_text (input_digest, 1, p->text1, -1, SQLITE_STATIC);
          sqlite3_bind_text (input_digest, 2, p->text2, -1, SQLITE_STATIC);
          sqlite3_bind_blob (input_digest, 3, p->key, 32, SQLITE_STATIC);
          ok = step_done (input_digest);
          break;
        case PENDING_STAGE_DEVICES:
          ok = record_stage_devices (journal, p);
          break;
        case PENDING_STAGE:
          sqlite3_bind_text (stage, 1, p->stage, -1, SQLITE_STATIC);
          sqlite3_bind_text (stage, 2, p->text1, -1, SQLITE_STATIC);
          sqlite3_bind_text (stage, 3, p->text2, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (stage, 4, p->n_in);
          sqlite3_bind_int64 (stage, 5, p->n_out);
          sqlite3_bind_int64 (stage, 6, p->n_failed);
          sqlite3_bind_int64 (stage, 7, p->n_cached);
          sqlite3_bind_int64 (stage, 8, p->n_total);
          sqlite3_bind_double (stage, 9, p->seconds);
          ok = step_done (stage);
          break;
        case PENDING_RUN:
          sqlite3_bind_int64 (run, 1, p->run_id);
          sqlite3_bind_double (run, 2, p->run->started);
          if (p->run->finished > 0)
            sqlite3_bind_double (run, 3, p->run->finished);
          sqlite3_bind_text (run, 4, p->run->state, -1, SQLITE_STATIC);
          sqlite3_bind_text (run, 5, p->run->command, -1, SQLITE_STATIC);
          sqlite3_bind_text (run, 6, p->run->pipeline, -1, SQLITE_STATIC);
          sqlite3_bind_text (run, 7, p->run->inputs, -1, SQLITE_STATIC);
          sqlite3_bind_text (run, 8, p->run->outputs, -1, SQLITE_STATIC);
          sqlite3_bind_text (run, 9, p->run->message, -1, SQLITE_STATIC);
          ok = step_done (run);
          break;
        case PENDING_SAMPLE:
          sqlite3_bind_int64 (sample, 1, p->run_id);
          sqlite3_bind_int64 (sample, 2, p->seq);
          sqlite3_bind_text (sample, 3, p->stage, -1, SQLITE_STATIC);
          sqlite3_bind_double (sample, 4, p->sample->t);
          sqlite3_bind_text (sample, 5, p->sample->state, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (sample, 6, p->sample->n_in);
          sqlite3_bind_int64 (sample, 7, p->sample->n_out);
          sqlite3_bind_int64 (sample, 8, p->sample->n_failed);
          sqlite3_bind_int64 (sample, 9, p->sample->n_cached);
          sqlite3_bind_int64 (sample, 10, p->sample->queue_fill);
          sqlite3_bind_int64 (sample, 11, p->sample->queue_capacity);
          sqlite3_bind_int64 (sample, 12, p->sample->workers);
          sqlite3_bind_int64 (sample, 13, p->sample->busy_us);
          ok = step_done (sample);
          break;
        case PENDING_THIN:
          sqlite3_bind_int64 (thin, 1, p->run_id);
          sqlite3_bind_int64 (thin, 2, p->seq);
          ok = step_done (thin);
          break;
        case PENDING_META:
          sqlite3_bind_text (meta, 1, p->text1, -1, SQLITE_STATIC);
          sqlite3_bind_text (meta, 2, p->text2, -1, SQLITE_STATIC);
          ok = step_done (meta);
          break;
        }
    }
  sqlite3_finalize (batch);
  sqlite3_finalize (failure);
  sqlite3_finalize (clear);
  sqlite3_finalize (clear_stage);
  sqlite3_finalize (input_digest);
  sqlite3_finalize (sink);
  sqlite3_finalize (sink_batch);
  sqlite3_finalize (stage);
  sqlite3_finalize (run);
  sqlite3_finalize (sample);
  sqlite3_finalize (thin);
  sqlite3_finalize (meta);
  if (!ok)
    {
      if (error == NULL || *error == NULL)
        g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_WRITE,
                     "journal “%s”: cannot record progress: %s", journal->path,
                     sqlite3_errmsg (journal->db));
      exec (journal, "ROLLBACK;", NULL);
      goto fail;
    }
  if (!exec (journal, "COMMIT;", error))
    {
      exec (journal, "ROLLBACK;", NULL);
      goto fail;
    }
  g_mutex_unlock (&journal->commit_lock);
  return pending->len;

fail:
  /* Keep the rows: a later commit (after space is freed) may succeed. */
  g_mutex_lock (&journal->lock);
  g_ptr_array_extend_and_steal (pending, g_steal_pointer (&journal->pending));
  journal->pending = g_steal_pointer (&pending);
  g_mutex_unlock (&journal->lock);
  g_mutex_unlock (&journal->commit_lock);
  return -1;
}

void
sutra_journal_collect_keys (SutraJournal *journal, GHashTable *keys)
{
  sqlite3_stmt *statement = NULL;

  if (sqlite3_prepare_v2 (journal->db, "SELECT key FROM batches", -1, &statement, NULL) !=
      SQLITE_OK)
    return;
  while (sqlite3_step (statement) == SQLITE_ROW)
    if (sqlite3_column_bytes (statement, 0) == 32)
      g_hash_table_add (keys, g_bytes_new (sqlite3_column_blob (statement, 0), 32));
  sqlite3_finalize (statement);
}

gboolean
sutra_journal_query (SutraJournal *journal,
                     const char *sql,
                     SutraJournalRowFunc func,
                     gpointer data,
                     GError **error)
{
  sqlite3_stmt *statement = NULL;
  int status;

  if (sqlite3_prepare_v2 (journal->db, sql, -1, &statement, NULL) != SQLITE_OK)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_DAMAGED, "journal “%s”: %s",
                   journal->path, sqlite3_errmsg (journal->db));
      return FALSE;
    }
  while ((status = sqlite3_step (statement)) == SQLITE_ROW)
    {
      int n = sqlite3_column_count (statement);
      const char **values = g_newa (const char *, n + 1);

      for (int i = 0; i < n; i++)
        values[i] = (const char *) sqlite3_column_text (statement, i);
      values[n] = NULL;
      func (n, values, data);
    }
  sqlite3_finalize (statement);
  if (status != SQLITE_DONE)
    {
      g_set_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_DAMAGED, "journal “%s”: %s",
                   journal->path, sqlite3_errmsg (journal->db));
      return FALSE;
    }
  return TRUE;
}
