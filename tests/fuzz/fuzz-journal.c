/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes opening and reading a damaged journal (engine/sutra-journal.c). */

#include "fuzz.h"

#include "sutra-journal.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Input: the bytes of a journal database file (the seeds are real journals
 * that fuzz-seeds wrote through the journal's own API). The harness opens
 * it as a resumed job does, reads everything a run, `sutra status` and gc
 * read, then writes and commits a little, as a run would next. Every call
 * may fail on a damaged file, with an error that says so; none may crash,
 * leak or trip a GLib critical (NULL where the schema promised a value).
 */

static void
count_row (int n_columns, const char *const *values, gpointer data)
{
  gsize *n_bytes = data;

  for (int i = 0; i < n_columns; i++)
    if (values[i] != NULL)
      *n_bytes += strlen (values[i]);
}

static void
read_everything (SutraJournal *journal)
{
  static const char *const queries[] = {
    ("SELECT stage, state, complete_key, n_in, n_out, n_failed, n_cached, n_total, seconds "
     "FROM stages"),
    "SELECT stage, COUNT(*), SUM(n_out), SUM(cached) FROM batches GROUP BY stage",
    "SELECT stage, item, message FROM failures ORDER BY at",
    "SELECT name, value FROM meta",
  };
  g_autoptr (GHashTable) indices = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) batches = NULL;
  g_autoptr (GHashTable) sink = NULL;
  g_autoptr (GHashTable) keys =
    g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
  g_autofree char *meta = NULL;
  g_autofree char *state = NULL;
  gboolean complete = FALSE;
  guint8 digest[32];
  gsize n_bytes = 0;

  meta = sutra_journal_get_meta (journal, "job");
  g_hash_table_insert (indices, (gpointer) "read", GUINT_TO_POINTER (0));
  g_hash_table_insert (indices, (gpointer) "segment", GUINT_TO_POINTER (1));
  batches = sutra_journal_load_batches (journal, indices);
  sink = sutra_journal_load_sink (journal, "write", &state, &complete);
  sutra_journal_get_input_digest (journal, "/books/alice.txt", "1:2:3", digest);
  sutra_journal_collect_keys (journal, keys);
  for (guint i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      g_autoptr (GError) error = NULL;

      if (!sutra_journal_query (journal, queries[i], count_row, &n_bytes, &error))
        g_assert_error (error, SUTRA_JOURNAL_ERROR, SUTRA_JOURNAL_ERROR_DAMAGED);
    }
}

static void
write_a_little (SutraJournal *journal)
{
  g_autoptr (GError) error = NULL;
  SutraStoreLocation location = { "pack-0001", 128, 64 };
  guint8 key[32], digest[32];

  memset (key, 0xab, sizeof key);
  memset (digest, 0xcd, sizeof digest);
  if (!sutra_journal_set_meta (journal, "fuzz", "1", &error))
    g_clear_error (&error);
  if (!sutra_journal_reset_sink (journal, "write", &error))
    g_clear_error (&error);
  sutra_journal_add_batch (journal, "segment", key, &location, 1, 3, 0, FALSE);
  sutra_journal_add_failure (journal, "segment", key, "book/0001", "a failure");
  sutra_journal_set_input_digest (journal, "/books/alice.txt", "1:2:3", digest);
  sutra_journal_set_stage (journal, "segment", "done", "key", 1, 3, 0, 0, 1, 0.5);
  if (sutra_journal_commit (journal, NULL, &error) < 0)
    g_assert_nonnull (error);
}

static void
remove_journal_files (const char *path)
{
  const char *const suffixes[] = { "", "-wal", "-shm", "-journal", ".new" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *name = g_strconcat (path, suffixes[i], NULL);

      (void) g_unlink (name);
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *path = g_build_filename (fuzz_get_work_dir (), "journal.db", NULL);
  g_autoptr (GError) error = NULL;
  SutraJournal *journal;

  remove_journal_files (path);
  if (!g_file_set_contents (path, (const char *) data, size, &error))
    {
      fprintf (stderr, "fuzz: cannot write %s: %s\n", path, error->message);
      abort ();
    }
  journal = sutra_journal_open (path, &error);
  if (journal == NULL)
    {
      g_assert_true (error != NULL && error->domain == SUTRA_JOURNAL_ERROR);
      g_assert_true (strstr (error->message, path) != NULL);
    }
  else
    {
      g_assert_no_error (error);
      read_everything (journal);
      write_a_little (journal);
      /* What was committed reads back. */
      read_everything (journal);
      sutra_journal_close (journal);
    }
  remove_journal_files (path);
  return 0;
}
