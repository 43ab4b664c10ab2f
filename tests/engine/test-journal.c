/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-journal.c: what is committed is read back, and a
 * damaged journal is refused. */

#include "sutra-journal.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static char *
make_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("journal-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static SutraJournal *
open_journal (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, "journal.db", NULL);
  SutraJournal *journal = sutra_journal_open (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (journal);
  return journal;
}

static void
key_of (guint8 seed, guint8 key[32])
{
  for (guint i = 0; i < 32; i++)
    key[i] = (guint8) (seed + i);
}

static void
count_rows (int n_columns, const char *const *values, gpointer data)
{
  (*(guint *) data)++;
}

static guint
n_rows (SutraJournal *journal, const char *sql)
{
  g_autoptr (GError) error = NULL;
  guint n = 0;

  g_assert_true (sutra_journal_query (journal, sql, count_rows, &n, &error));
  g_assert_no_error (error);
  return n;
}

static void
test_journal_open_new_and_again (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  g_autofree char *format = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = g_build_filename (dir, "journal.db", NULL);
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);
  SutraJournal *journal;

  g_test_summary ("A new journal is made whole (no temporary left), records its format, and "
                  "keeps metadata across a reopen");
  journal = open_journal (dir);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  format = sutra_journal_get_meta (journal, "journal_format");
  g_assert_cmpint (atoi (format), ==, SUTRA_JOURNAL_FORMAT);
  g_assert_null (sutra_journal_get_meta (journal, "pipeline"));
  g_assert_true (sutra_journal_set_meta (journal, "pipeline", "p.json", &error));
  g_assert_no_error (error);
  g_assert_false (sutra_journal_has_pending (journal));
  sutra_journal_close (journal);

  journal = open_journal (dir);
  name = sutra_journal_get_meta (journal, "pipeline");
  g_assert_cmpstr (name, ==, "p.json");
  g_assert_cmpuint (sutra_journal_next_run_id (journal), ==, 1);
  sutra_journal_close (journal);
}

static void
test_journal_batches (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) indices = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) before = NULL;
  g_autoptr (GHashTable) after = NULL;
  g_autoptr (GHashTable) keys = NULL;
  g_autoptr (GBytes) lookup = NULL;
  SutraStoreLocation location = { "w-0001.pack", 4096, 777 };
  SutraStoreLocation other = { "", 0, 5u << 20 };
  guint8 key[32], other_key[32], stranger_key[32];
  SutraJournalBatch *batch;
  SutraJournal *journal;

  g_test_summary ("Batches are pending until a commit, then read back with their stage, place "
                  "and failures; batches of stages not asked for are left out");
  key_of (1, key);
  key_of (2, other_key);
  key_of (3, stranger_key);
  g_hash_table_insert (indices, "upper", GUINT_TO_POINTER (0));
  g_hash_table_insert (indices, "split", GUINT_TO_POINTER (1));
  journal = open_journal (dir);
  sutra_journal_add_batch (journal, "upper", key, &location, 10, 10, 0, FALSE);
  sutra_journal_add_batch (journal, "split", other_key, &other, 3, 30, 2, TRUE);
  sutra_journal_add_batch (journal, "gone", stranger_key, &location, 1, 1, 0, FALSE);
  g_assert_true (sutra_journal_has_pending (journal));
  before = sutra_journal_load_batches (journal, indices);
  g_assert_cmpuint (g_hash_table_size (before), ==, 0);

  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 3);
  g_assert_no_error (error);
  g_assert_false (sutra_journal_has_pending (journal));
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 0);
  sutra_journal_close (journal);

  journal = open_journal (dir);
  after = sutra_journal_load_batches (journal, indices);
  g_assert_cmpuint (g_hash_table_size (after), ==, 2);
  lookup = g_bytes_new (key, 32);
  batch = g_hash_table_lookup (after, lookup);
  g_assert_nonnull (batch);
  g_assert_cmpuint (batch->stage, ==, 0);
  g_assert_cmpstr (batch->location.pack, ==, "w-0001.pack");
  g_assert_cmpuint (batch->location.offset, ==, 4096);
  g_assert_cmpuint (batch->location.length, ==, 777);
  g_assert_cmpuint (batch->n_failed, ==, 0);
  g_clear_pointer (&lookup, g_bytes_unref);
  lookup = g_bytes_new (other_key, 32);
  batch = g_hash_table_lookup (after, lookup);
  g_assert_nonnull (batch);
  g_assert_cmpuint (batch->stage, ==, 1);
  g_assert_cmpstr (batch->location.pack, ==, "");
  g_assert_cmpuint (batch->location.length, ==, 5u << 20);
  g_assert_cmpuint (batch->n_failed, ==, 2);

  /* gc keeps what any job refers to: every batch, whatever its stage. */
  keys = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
  sutra_journal_collect_keys (journal, keys);
  g_assert_cmpuint (g_hash_table_size (keys), ==, 3);
  sutra_journal_close (journal);
}

static void
test_journal_commit_syncs_store (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *store_dir = g_build_filename (dir, "store", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = g_bytes_new_static ("outputs", 7);
  g_autoptr (GBytes) back = NULL;
  g_autoptr (GHashTable) indices = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) batches = NULL;
  g_autoptr (GBytes) lookup = NULL;
  SutraStoreLocation location;
  SutraJournalBatch *batch;
  guint8 key[32];
  SutraStore *store;
  SutraJournal *journal;

  g_test_summary ("A commit with a store makes the store durable first; the recorded place "
                  "gives the entry back");
  key_of (9, key);
  g_hash_table_insert (indices, "s", GUINT_TO_POINTER (0));
  store = sutra_store_open (store_dir, &error);
  g_assert_no_error (error);
  journal = open_journal (dir);
  g_assert_true (sutra_store_put (store, key, body, &location, &error));
  g_assert_no_error (error);
  sutra_journal_add_batch (journal, "s", key, &location, 1, 1, 0, FALSE);
  g_assert_cmpint (sutra_journal_commit (journal, store, &error), ==, 1);
  g_assert_no_error (error);
  batches = sutra_journal_load_batches (journal, indices);
  lookup = g_bytes_new (key, 32);
  batch = g_hash_table_lookup (batches, lookup);
  g_assert_nonnull (batch);
  back = sutra_store_get (store, key, &batch->location, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (back, body));
  sutra_journal_close (journal);
  sutra_store_close (store);
}

static void
test_journal_sink_state (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) first = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GPtrArray) second = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GHashTable) done = NULL;
  g_autofree char *state = NULL;
  gboolean complete = TRUE;
  guint8 key[32];
  SutraJournal *journal;

  g_test_summary ("A sink's batches and its state are recorded as one unit, each checkpoint "
                  "adding keys and replacing the state; a reset forgets them all");
  for (guint8 i = 0; i < 3; i++)
    {
      key_of (10 + i, key);
      g_ptr_array_add (i < 2 ? first : second, g_bytes_new (key, 32));
    }
  journal = open_journal (dir);
  sutra_journal_add_sink_checkpoint (journal, "out", first, "stream/b64 120", FALSE);
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 1);
  g_assert_no_error (error);
  sutra_journal_add_sink_checkpoint (journal, "out", second, "stream/b64 180", FALSE);
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 1);
  g_assert_no_error (error);

  done = sutra_journal_load_sink (journal, "out", &state, &complete);
  g_assert_cmpuint (g_hash_table_size (done), ==, 3);
  g_assert_true (g_hash_table_contains (done, second->pdata[0]));
  g_assert_cmpstr (state, ==, "stream/b64 180");
  g_assert_false (complete);
  g_clear_pointer (&done, g_hash_table_unref);
  g_clear_pointer (&state, g_free);

  /* Another sink's progress is its own. */
  done = sutra_journal_load_sink (journal, "other", &state, &complete);
  g_assert_cmpuint (g_hash_table_size (done), ==, 0);
  g_assert_null (state);
  g_clear_pointer (&done, g_hash_table_unref);

  g_ptr_array_set_size (second, 0);
  sutra_journal_add_sink_checkpoint (journal, "out", second, "stream/b64 ", TRUE);
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 1);
  done = sutra_journal_load_sink (journal, "out", &state, &complete);
  g_assert_true (complete);
  g_assert_cmpuint (g_hash_table_size (done), ==, 3);
  g_clear_pointer (&done, g_hash_table_unref);
  g_clear_pointer (&state, g_free);

  g_assert_true (sutra_journal_reset_sink (journal, "out", &error));
  g_assert_no_error (error);
  done = sutra_journal_load_sink (journal, "out", &state, &complete);
  g_assert_cmpuint (g_hash_table_size (done), ==, 0);
  g_assert_null (state);
  g_assert_false (complete);
  sutra_journal_close (journal);
}

static void
test_journal_failures (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  guint8 a[32], b[32];
  SutraJournal *journal;

  g_test_summary ("Failures are recorded by batch; clearing a batch's keeps the failures added "
                  "after it (the batch computed again); clearing a stage's forgets them all");
  key_of (20, a);
  key_of (21, b);
  journal = open_journal (dir);
  sutra_journal_add_failure (journal, "upper", a, "line-1", "boom");
  sutra_journal_add_failure (journal, "upper", b, "line-70", "boom");
  sutra_journal_add_failure (journal, "src", NULL, "line-3", "unreadable");
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 3);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures"), ==, 3);

  sutra_journal_clear_failures (journal, a);
  sutra_journal_add_failure (journal, "upper", a, "line-2", "boom again");
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), >, 0);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures WHERE item = 'line-1'"), ==, 0);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures WHERE item = 'line-2'"), ==, 1);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures WHERE item = 'line-70'"), ==, 1);

  sutra_journal_clear_stage_failures (journal, "upper");
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), >, 0);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures"), ==, 1);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM failures WHERE stage = 'src'"), ==, 1);
  sutra_journal_close (journal);
}

static void
test_journal_input_digests (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  guint8 digest[32], back[32];
  SutraJournal *journal;

  g_test_summary ("An input file's digest is given back only while its stamp is unchanged");
  key_of (40, digest);
  journal = open_journal (dir);
  sutra_journal_set_input_digest (journal, "/books/alice.txt", "123:456", digest);
  g_assert_false (sutra_journal_get_input_digest (journal, "/books/alice.txt", "123:456", back));
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 1);
  g_assert_true (sutra_journal_get_input_digest (journal, "/books/alice.txt", "123:456", back));
  g_assert_cmpmem (back, 32, digest, 32);
  g_assert_false (sutra_journal_get_input_digest (journal, "/books/alice.txt", "123:457", back));
  g_assert_false (sutra_journal_get_input_digest (journal, "/books/other.txt", "123:456", back));
  sutra_journal_close (journal);
}

static void
test_journal_stages_and_runs (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  SutraJournalRun run = { 1000.0,   0,          "running",     "sutra run p.json",
                          "p.json", "in.txt\n", "out.jsonl\n", NULL };
  SutraJournal *journal;

  g_test_summary ("Stage rows replace each other; runs are numbered from 1, written at once or "
                  "with the next commit");
  journal = open_journal (dir);
  g_assert_cmpuint (sutra_journal_next_run_id (journal), ==, 1);
  g_assert_true (sutra_journal_write_run (journal, 1, &run, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (sutra_journal_next_run_id (journal), ==, 2);
  run.state = "done";
  run.finished = 1010.0;
  sutra_journal_set_run (journal, 1, &run);
  sutra_journal_set_stage (journal, "upper", "running", NULL, 5, 5, 0, 0, 10, 0.5);
  sutra_journal_set_stage (journal, "upper", "done", "abc", 10, 10, 0, 0, 10, 1.0);
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 3);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM runs WHERE state = 'done'"), ==, 1);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM stages"), ==, 1);
  g_assert_cmpuint (n_rows (journal,
                            "SELECT * FROM stages WHERE state = 'done' AND complete_key = 'abc'"),
                    ==, 1);
  sutra_journal_close (journal);
}

/* Pending writes from several threads at once all reach the commit. */
typedef struct
{
  SutraJournal *journal;
  guint8 seed;
} Writer;

static gpointer
write_batches (gpointer data)
{
  Writer *writer = data;
  SutraStoreLocation location = { "p.pack", 0, 10 };

  for (guint i = 0; i < 100; i++)
    {
      guint8 key[32] = { writer->seed };

      memcpy (key + 1, &i, sizeof i);
      sutra_journal_add_batch (writer->journal, "s", key, &location, 1, 1, 0, FALSE);
    }
  return NULL;
}

static void
test_journal_pending_from_threads (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr (GError) error = NULL;
  Writer writers[4];
  GThread *threads[4];
  SutraJournal *journal;

  g_test_summary ("Writes added from several threads are all committed");
  journal = open_journal (dir);
  for (guint t = 0; t < G_N_ELEMENTS (threads); t++)
    {
      writers[t] = (Writer){ journal, (guint8) (t + 1) };
      threads[t] = g_thread_new ("writer", write_batches, &writers[t]);
    }
  for (guint t = 0; t < G_N_ELEMENTS (threads); t++)
    g_thread_join (threads[t]);
  g_assert_cmpint (sutra_journal_commit (journal, NULL, &error), ==, 400);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rows (journal, "SELECT * FROM batches"), ==, 400);
  sutra_journal_close (journal);
}

/* Files that are not a journal this sutra can use, and what opening says. */
/* The zeroed-header row's text: "SQLite format 3", 82 NULs and the literal's last (98 bytes). */
#define ZEROED_HEADER_LENGTH (15 + 83)

static const struct
{
  const char *name;
  const char *contents; /* NULL: a journal of another format */
  SutraJournalError code;
  const char *message;
} refusal_cases[] = {
  { "garbage", "this is not a database, it is a note left in the job directory\n",
    SUTRA_JOURNAL_ERROR_DAMAGED, "move the job directory away" },
  { "zeroed-header",
    "SQLite format 3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    SUTRA_JOURNAL_ERROR_DAMAGED, "is damaged" },
  { "other-format", NULL, SUTRA_JOURNAL_ERROR_VERSION, "has format 999" },
};

static void
test_journal_refuses (gconstpointer data)
{
  const typeof (refusal_cases[0]) *row = data;
  g_autofree char *dir = make_dir ();
  g_autofree char *path = g_build_filename (dir, "journal.db", NULL);
  g_autoptr (GError) error = NULL;
  SutraJournal *journal;

  g_test_summary ("A damaged journal, or one of another format, is refused with an error "
                  "naming the file and what to do");
  if (row->contents != NULL)
    {
      /* The zeroed header is longer than its text: write all of it (the
       * literal's bytes, its NULs included, the final one included). */
      gsize length =
        strcmp (row->name, "zeroed-header") == 0 ? ZEROED_HEADER_LENGTH : strlen (row->contents);

      g_assert_true (g_file_set_contents (path, row->contents, length, &error));
      g_assert_no_error (error);
    }
  else
    {
      journal = open_journal (dir);
      g_assert_true (sutra_journal_set_meta (journal, "journal_format", "999", &error));
      g_assert_no_error (error);
      sutra_journal_close (journal);
    }
  journal = sutra_journal_open (path, &error);
  g_assert_null (journal);
  g_assert_error (error, SUTRA_JOURNAL_ERROR, (gint) row->code);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, row->message));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/journal/open-new-and-again", test_journal_open_new_and_again);
  g_test_add_func ("/engine/journal/batches", test_journal_batches);
  g_test_add_func ("/engine/journal/commit-syncs-store", test_journal_commit_syncs_store);
  g_test_add_func ("/engine/journal/sink-state", test_journal_sink_state);
  g_test_add_func ("/engine/journal/failures", test_journal_failures);
  g_test_add_func ("/engine/journal/input-digests", test_journal_input_digests);
  g_test_add_func ("/engine/journal/stages-and-runs", test_journal_stages_and_runs);
  g_test_add_func ("/engine/journal/pending-from-threads", test_journal_pending_from_threads);
  for (guint i = 0; i < G_N_ELEMENTS (refusal_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/journal/refuses/%s", refusal_cases[i].name);

      g_test_add_data_func (path, &refusal_cases[i], test_journal_refuses);
    }
  return g_test_run ();
}
