/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-checkpoint.c: the checkpoint logic on its own,
 * without a scheduler: planning a job, keys, the store, sinks, the
 * committer. */

/*
 * Each test opens a real job (journal and store) for a real pipeline of
 * the built-in plugins (text-source → identity → jsonl-sink), and plays the
 * scheduler's part itself: it builds batches of items, calls the checkpoint
 * as the scheduler would, and answers its callbacks.
 */

#include "sutra-checkpoint.h"
#include "sutra-record.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>

static SutraRegistry *registry;
static char *registry_problem;

#define PIPELINE_TEXT                                                                         \
  "{ \"sutra\": 1, \"name\": \"cp\", \"stages\": {"                                           \
  "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${dir}/in.txt\" } }," \
  "  \"pass\": { \"plugin\": \"identity\", \"input\": \"read\", \"batch\": \"${batch}\" },"   \
  "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pass\", \"batch\": \"${batch}\","  \
  "             \"params\": { \"path\": \"${dir}/out.jsonl\" } } } }"

enum
{
  READ,
  PASS,
  WRITE,
  N_STAGES
};

typedef struct
{
  char *dir;
  char *job_dir;
  char *batch; /* the pipeline's batch size, as text */
  SutraPipeline *pipeline;
  SutraJob *job;
  SutraCheckpoint *checkpoint;

  /* What the callbacks saw. */
  GMutex lock;
  GPtrArray *events; /* JsonObject */
  GPtrArray *calls;  /* "prepare N" / "commit STATE", in order */
  guint n_prepared;
  gboolean two_phase;
  SutraStageState stage_state[N_STAGES]; /* what get_stats says */
  guint n_stats;                         /* get_stats calls */
  GCond stats_called;
} Fixture;

static void
on_event (JsonObject *event, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_mutex_lock (&fixture->lock);
  g_ptr_array_add (fixture->events, event);
  g_mutex_unlock (&fixture->lock);
}

static void
on_fail (GError *error, gpointer user_data)
{
  g_test_message ("the checkpoint failed: %s", error->message);
  g_error_free (error);
  g_test_fail ();
}

static void
on_get_stats (guint stage, SutraStageStats *stats, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_assert_cmpuint (stage, <, N_STAGES);
  g_mutex_lock (&fixture->lock);
  *stats = (SutraStageStats){ .state = fixture->stage_state[stage], .n_in = 5, .n_out = 4 };
  fixture->n_stats++;
  g_cond_broadcast (&fixture->stats_called);
  g_mutex_unlock (&fixture->lock);
}

/* The sink's first phase: a state that says how many syncs came before. */
static gboolean
on_sync_prepare (guint stage, char **state, GError **error, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_assert_cmpuint (stage, ==, WRITE);
  g_mutex_lock (&fixture->lock);
  *state = g_strdup_printf ("synced-%u", ++fixture->n_prepared);
  g_ptr_array_add (fixture->calls, g_strdup_printf ("prepare %s", *state));
  g_mutex_unlock (&fixture->lock);
  return TRUE;
}

static void
on_sync_commit (guint stage, const char *state, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_assert_cmpuint (stage, ==, WRITE);
  g_mutex_lock (&fixture->lock);
  g_ptr_array_add (fixture->calls, g_strdup_printf ("commit %s", state));
  g_mutex_unlock (&fixture->lock);
}

static void
fixture_init (Fixture *fixture, gconstpointer data)
{
  fixture->dir = sutra_test_dir ();
  fixture->job_dir = g_build_filename (fixture->dir, "job", NULL);
  fixture->batch = g_strdup ("4");
  fixture->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  fixture->calls = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&fixture->lock);
  g_cond_init (&fixture->stats_called);
  g_free (sutra_test_write (fixture->dir, "in.txt", "one\ntwo\nthree\n", -1));
}

/* Closes the checkpoint (committing what it holds) and the job. */
static void
fixture_close (Fixture *fixture)
{
  if (fixture->checkpoint != NULL)
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (sutra_checkpoint_finish (fixture->checkpoint, &error));
      g_assert_no_error (error);
      g_clear_pointer (&fixture->checkpoint, sutra_checkpoint_free);
    }
  g_clear_pointer (&fixture->job, sutra_job_close);
  g_clear_pointer (&fixture->pipeline, sutra_pipeline_free);
  g_mutex_lock (&fixture->lock);
  g_ptr_array_set_size (fixture->events, 0);
  g_mutex_unlock (&fixture->lock);
}

static void
fixture_clear (Fixture *fixture, gconstpointer data)
{
  fixture_close (fixture);
  g_ptr_array_unref (fixture->events);
  g_ptr_array_unref (fixture->calls);
  g_mutex_clear (&fixture->lock);
  g_cond_clear (&fixture->stats_called);
  g_free (fixture->batch);
  g_free (fixture->job_dir);
  g_free (fixture->dir);
}

/* Opens the job (again) and builds its checkpoint: what a run does first. */
static void
fixture_open (Fixture *fixture, const char *cache_dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir_set = g_strconcat ("dir=", fixture->dir, NULL);
  g_autofree char *batch_set = g_strconcat ("batch=", fixture->batch, NULL);
  const char *sets[] = { dir_set, batch_set, NULL };
  SutraCheckpointCallbacks callbacks = {
    .event = on_event,
    .fail = on_fail,
    .get_stats = on_get_stats,
    .sync_prepare = on_sync_prepare,
    .sync_commit = fixture->two_phase ? on_sync_commit : NULL,
  };

  fixture_close (fixture);
  fixture->pipeline =
    sutra_pipeline_load_from_data ("cp.json", PIPELINE_TEXT, -1, registry, sets, &error);
  g_assert_no_error (error);
  fixture->job =
    sutra_job_open (fixture->job_dir, fixture->pipeline, cache_dir, NULL, FALSE, &error);
  g_assert_no_error (error);
  fixture->checkpoint =
    sutra_checkpoint_new (fixture->pipeline, fixture->job, &callbacks, fixture, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->checkpoint);
}

static SutraCheckpointStage *
stage_of (Fixture *fixture, guint index)
{
  return sutra_checkpoint_get_stage (fixture->checkpoint, index);
}

/* Records @stage done, as the scheduler does when it finishes. */
static void
finish_stage (Fixture *fixture, guint index, const char *state)
{
  SutraStageStats stats = { .n_in = 3, .n_out = 3 };

  sutra_checkpoint_stage_finished (stage_of (fixture, index), state, &stats, 0.1);
}

/* Items as the source pushes them: numbered from 1, of the source's lineage. */
static GPtrArray *
source_items (Fixture *fixture, guint first, guint n)
{
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  SutraLineage *lineage = sutra_checkpoint_stage_get_source_lineage (stage_of (fixture, READ));

  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *id = g_strdup_printf ("in:%u", i);
      g_autofree char *text = g_strdup_printf ("line %u", i);
      SutraItem *item = sutra_item_new_root (id, i, NULL, g_bytes_new (text, strlen (text)));

      sutra_item_set_lineage (item, lineage);
      g_ptr_array_add (items, item);
    }
  return items;
}

static SutraCheckpointBatch
batch_of (GPtrArray *items, guint64 seq)
{
  return (SutraCheckpointBatch){ seq, items, NULL, items, 0, items->len };
}

static guint
count_events (Fixture *fixture, const char *name)
{
  guint n = 0;

  g_mutex_lock (&fixture->lock);
  for (guint i = 0; i < fixture->events->len; i++)
    n += g_strcmp0 (json_object_get_string_member (fixture->events->pdata[i], "event"), name) == 0;
  g_mutex_unlock (&fixture->lock);
  return n;
}

static void
count_rows (int n_columns, const char *const *values, gpointer data)
{
  (*(guint *) data)++;
}

static guint
n_rows (Fixture *fixture, const char *sql)
{
  guint n = 0;

  g_assert_true (sutra_journal_query (fixture->job->journal, sql, count_rows, &n, NULL));
  return n;
}

/* Tests ----------------------------------------------------------------------- */

#define SKIP_WITHOUT_PLUGINS()                                                          \
  G_STMT_START                                                                          \
  {                                                                                     \
    if (registry_problem != NULL)                                                       \
      {                                                                                 \
        g_test_skip_printf ("the built-in plugins did not load: %s", registry_problem); \
        return;                                                                         \
      }                                                                                 \
  }                                                                                     \
  G_STMT_END

static void
test_checkpoint_plan_new_job (Fixture *fixture, gconstpointer data)
{
  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A new job runs every stage; each has a complete key, the source a lineage, "
                  "and the source's input is digested (an event says so)");
  fixture_open (fixture, NULL);
  for (guint i = 0; i < N_STAGES; i++)
    {
      const char *key = sutra_checkpoint_stage_get_complete_key (stage_of (fixture, i));

      g_assert_false (sutra_checkpoint_stage_is_skipped (stage_of (fixture, i)));
      g_assert_cmpuint (strlen (key), ==, 64);
      for (guint j = 0; j < i; j++)
        g_assert_cmpstr (key, !=, sutra_checkpoint_stage_get_complete_key (stage_of (fixture, j)));
    }
  g_assert_nonnull (sutra_checkpoint_stage_get_source_lineage (stage_of (fixture, READ)));
  g_assert_null (sutra_checkpoint_stage_get_source_lineage (stage_of (fixture, PASS)));
  g_assert_true (sutra_checkpoint_stage_stores (stage_of (fixture, PASS)));
  g_assert_false (sutra_checkpoint_stage_stores (stage_of (fixture, WRITE)));
  g_assert_null (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_assert_cmpuint (count_events (fixture, "input-digested"), ==, 1);
}

static void
test_checkpoint_plan_up_to_date (Fixture *fixture, gconstpointer data)
{
  g_autofree char *key = NULL;
  g_autofree char *output = NULL;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("Stages recorded done are up to date while their input and output stand; a "
                  "changed input file or a missing output makes every stage before it run");
  fixture_open (fixture, NULL);
  for (guint i = 0; i < N_STAGES; i++)
    finish_stage (fixture, i, "done");
  key = g_strdup (sutra_checkpoint_stage_get_complete_key (stage_of (fixture, WRITE)));
  output = sutra_test_write (fixture->dir, "out.jsonl", "{}\n", -1);

  fixture_open (fixture, NULL);
  for (guint i = 0; i < N_STAGES; i++)
    g_assert_true (sutra_checkpoint_stage_is_skipped (stage_of (fixture, i)));
  g_assert_cmpstr (sutra_checkpoint_stage_get_complete_key (stage_of (fixture, WRITE)), ==, key);

  /* The output is gone: the sink runs, and so does everything it reads. */
  g_assert_cmpint (g_unlink (output), ==, 0);
  fixture_open (fixture, NULL);
  for (guint i = 0; i < N_STAGES; i++)
    g_assert_false (sutra_checkpoint_stage_is_skipped (stage_of (fixture, i)));

  /* The input changed: every complete key does. */
  g_free (sutra_test_write (fixture->dir, "out.jsonl", "{}\n", -1));
  g_free (sutra_test_write (fixture->dir, "in.txt", "one\ntwo\nchanged\n", -1));
  fixture_open (fixture, NULL);
  g_assert_cmpstr (sutra_checkpoint_stage_get_complete_key (stage_of (fixture, WRITE)), !=, key);
  for (guint i = 0; i < N_STAGES; i++)
    g_assert_false (sutra_checkpoint_stage_is_skipped (stage_of (fixture, i)));
}

static void
test_checkpoint_plan_stopped_stage (Fixture *fixture, gconstpointer data)
{
  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A stage recorded stopped is not up to date, and neither is what feeds it");
  fixture_open (fixture, NULL);
  finish_stage (fixture, READ, "done");
  finish_stage (fixture, PASS, "done");
  finish_stage (fixture, WRITE, "stopped");
  g_free (sutra_test_write (fixture->dir, "out.jsonl", "{}\n", -1));
  fixture_open (fixture, NULL);
  for (guint i = 0; i < N_STAGES; i++)
    g_assert_false (sutra_checkpoint_stage_is_skipped (stage_of (fixture, i)));
}

static void
test_checkpoint_batch_keys (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) shifted = NULL;
  g_autoptr (GPtrArray) scattered = NULL;
  g_autoptr (GPtrArray) unmarked = NULL;
  SutraCheckpointBatch batch, other;
  guint8 key[SUTRA_DIGEST_SIZE], again[SUTRA_DIGEST_SIZE], changed[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A batch key is the same for the same items through the same stage in any "
                  "run, and changes with the items' places, lineages and the stage's fingerprint");
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 100);
  batch = batch_of (items, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, key));
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, again));
  g_assert_cmpmem (key, sizeof key, again, sizeof again);

  /* Another stage: another fingerprint. */
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, WRITE), &batch, changed));
  g_assert_true (memcmp (key, changed, sizeof key) != 0);

  /* Other places. */
  shifted = source_items (fixture, 2, 100);
  other = batch_of (shifted, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &other, changed));
  g_assert_true (memcmp (key, changed, sizeof key) != 0);
  /* Not consecutive: each its own run in the key's text. */
  scattered = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  for (guint i = 0; i < items->len; i += 2)
    g_ptr_array_add (scattered, sutra_item_ref (items->pdata[i]));
  other = batch_of (scattered, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &other, changed));
  g_assert_true (memcmp (key, changed, sizeof key) != 0);

  /* A data item without a lineage: no key, the batch is not stored. */
  unmarked = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_ptr_array_add (unmarked, sutra_item_new_root ("x", 1, NULL, g_bytes_new ("x", 1)));
  other = batch_of (unmarked, 0);
  g_assert_false (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &other, changed));

  /* The next run of the same job: the same key. (Items go before the
   * checkpoint that owns their lineages.) */
  g_clear_pointer (&items, g_ptr_array_unref);
  g_clear_pointer (&shifted, g_ptr_array_unref);
  g_clear_pointer (&scattered, g_ptr_array_unref);
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 100);
  batch = batch_of (items, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, again));
  g_assert_cmpmem (key, sizeof key, again, sizeof again);

  /* Another input: another source lineage, other keys. */
  g_clear_pointer (&items, g_ptr_array_unref);
  g_free (sutra_test_write (fixture->dir, "in.txt", "other\n", -1));
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 100);
  batch = batch_of (items, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, changed));
  g_assert_true (memcmp (key, changed, sizeof key) != 0);
}

static void
test_checkpoint_fingerprint_changes_key (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  SutraCheckpointBatch batch;
  guint8 key[SUTRA_DIGEST_SIZE], changed[SUTRA_DIGEST_SIZE];
  SutraStageSpec *spec;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A changed stage fingerprint (a new plugin build, other parameters) gives "
                  "its batches other keys, and its complete key changes");
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 10);
  batch = batch_of (items, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, key));
  g_clear_pointer (&items, g_ptr_array_unref);
  g_clear_pointer (&fixture->checkpoint, sutra_checkpoint_free);

  /* What sutra_job_open() would fold in for a rebuilt identity module. */
  spec = sutra_pipeline_get_stage (fixture->pipeline, "pass");
  fixture->job->fingerprints[(gsize) spec->index * SUTRA_DIGEST_SIZE] ^= 1;
  fixture->checkpoint = sutra_checkpoint_new (fixture->pipeline, fixture->job, NULL, NULL, NULL);
  items = source_items (fixture, 1, 10);
  batch = batch_of (items, 0);
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, changed));
  g_assert_true (memcmp (key, changed, sizeof key) != 0);
}

static void
test_checkpoint_lineages (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  SutraCheckpointMemo memo = { 0 };
  SutraLineage *source, *derived;
  SutraItem *output;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A stage derives one lineage per input lineage (the same object every time); "
                  "an item passed on unchanged keeps its own; no job, no lineage");
  fixture_open (fixture, NULL);
  source = sutra_checkpoint_stage_get_source_lineage (stage_of (fixture, READ));
  derived = sutra_checkpoint_derive_lineage (stage_of (fixture, PASS), source, &memo);
  g_assert_nonnull (derived);
  g_assert_true (derived != source);
  g_assert_true (sutra_checkpoint_derive_lineage (stage_of (fixture, PASS), source, NULL) ==
                 derived);
  g_assert_true (sutra_checkpoint_derive_lineage (stage_of (fixture, WRITE), source, NULL) !=
                 derived);
  g_assert_null (sutra_checkpoint_derive_lineage (NULL, source, NULL));

  items = source_items (fixture, 1, 1);
  g_assert_true (sutra_checkpoint_take_lineage (stage_of (fixture, PASS), items->pdata[0],
                                                items->pdata[0], &memo) == items->pdata[0]);
  g_assert_true (((SutraItem *) items->pdata[0])->lineage == source);
  output = sutra_item_new_root ("out", 1, NULL, g_bytes_new ("o", 1));
  sutra_checkpoint_take_lineage (stage_of (fixture, PASS), output, items->pdata[0], &memo);
  g_assert_true (output->lineage == derived);
  sutra_item_unref (output);
}

/* Saves a batch of @items through the identity stage (its outputs are its
 * inputs), with @n_failed failures, and returns its key. */
static void
save_batch (Fixture *fixture, GPtrArray *items, guint n_failed, guint8 key[SUTRA_DIGEST_SIZE])
{
  g_autoptr (GError) error = NULL;
  SutraCheckpointBatch batch = batch_of (items, 0);

  batch.n_failed = n_failed;
  g_assert_true (sutra_checkpoint_batch_key (stage_of (fixture, PASS), &batch, key));
  g_assert_true (
    sutra_checkpoint_save_batch (stage_of (fixture, PASS), key, &batch, items, &error));
  g_assert_no_error (error);
}

static void
assert_same_items (GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      gsize size_a, size_b;
      const guint8 *data_a = sutra_item_get_data (a->pdata[i], &size_a);
      const guint8 *data_b = sutra_item_get_data (b->pdata[i], &size_b);

      g_assert_cmpstr (sutra_item_get_id (a->pdata[i]), ==, sutra_item_get_id (b->pdata[i]));
      g_assert_cmpmem (data_a, size_a, data_b, size_b);
    }
}

static void
test_checkpoint_save_and_load (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) loaded_items = NULL;
  SutraCheckpointLoaded loaded = { TRUE, 99 };
  guint8 key[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A batch saved and committed is loaded by the job's next run, with its "
                  "failures; a batch never saved is not");
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 8);
  save_batch (fixture, items, 1, key);
  /* Journaled, not yet committed: a run loads only what its plan found. */
  g_assert_null (
    sutra_checkpoint_load_batch (stage_of (fixture, PASS), key, items, items->len, NULL));

  g_clear_pointer (&items, g_ptr_array_unref);
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 8);
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM batches WHERE n_failed = 1"), ==, 1);
  loaded_items =
    sutra_checkpoint_load_batch (stage_of (fixture, PASS), key, items, items->len, &loaded);
  g_assert_nonnull (loaded_items);
  assert_same_items (loaded_items, items);
  g_assert_false (loaded.from_cache);
  g_assert_cmpuint (loaded.n_failed, ==, 1);

  /* Another batch: not there. */
  key[0] ^= 1;
  g_assert_null (
    sutra_checkpoint_load_batch (stage_of (fixture, PASS), key, items, items->len, NULL));
  g_assert_cmpuint (count_events (fixture, "store-entry-rejected"), ==, 0);
}

static void
test_checkpoint_load_from_cache (Fixture *fixture, gconstpointer data)
{
  g_autofree char *cache = g_build_filename (fixture->dir, "cache", NULL);
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) loaded_items = NULL;
  SutraCheckpointLoaded loaded = { FALSE, 99 };
  guint8 key[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("Another job sharing the store loads a batch the first one computed, as "
                  "cached, and records it in its own journal");
  fixture_open (fixture, cache);
  items = source_items (fixture, 1, 8);
  save_batch (fixture, items, 0, key);
  g_clear_pointer (&items, g_ptr_array_unref);
  fixture_close (fixture);

  g_free (fixture->job_dir);
  fixture->job_dir = g_build_filename (fixture->dir, "second-job", NULL);
  fixture_open (fixture, cache);
  items = source_items (fixture, 1, 8);
  loaded_items =
    sutra_checkpoint_load_batch (stage_of (fixture, PASS), key, items, items->len, &loaded);
  g_assert_nonnull (loaded_items);
  assert_same_items (loaded_items, items);
  g_assert_true (loaded.from_cache);
  g_assert_cmpuint (loaded.n_failed, ==, 0);
  g_clear_pointer (&items, g_ptr_array_unref);
  g_clear_pointer (&loaded_items, g_ptr_array_unref);
  fixture_close (fixture);
  fixture_open (fixture, cache);
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM batches WHERE cached = 1"), ==, 1);
}

static void
test_checkpoint_load_rejects_damage (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  g_autofree char *packs = g_build_filename (fixture->job_dir, "store", "packs", NULL);
  g_autoptr (GDir) listing = NULL;
  const char *name;
  guint8 key[SUTRA_DIGEST_SIZE];
  guint n_damaged = 0;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A stored batch that fails its checks is not loaded: it is computed again, "
                  "and an event says why");
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 8);
  save_batch (fixture, items, 0, key);
  g_clear_pointer (&items, g_ptr_array_unref);
  fixture_close (fixture);

  /* Every pack's last byte: the batch's body. */
  listing = g_dir_open (packs, 0, NULL);
  if (listing == NULL)
    {
      g_test_skip_printf ("the job keeps its store elsewhere than %s", packs);
      return;
    }
  while ((name = g_dir_read_name (listing)) != NULL)
    if (g_str_has_suffix (name, ".pack"))
      {
        g_autofree char *path = g_build_filename (packs, name, NULL);
        g_autofree char *contents = NULL;
        gsize length;

        g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
        g_assert_cmpuint (length, >, 0);
        contents[length - 1] ^= 0x55;
        g_assert_true (g_file_set_contents (path, contents, length, NULL));
        n_damaged++;
      }
  g_assert_cmpuint (n_damaged, ==, 1);

  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 8);
  g_assert_null (
    sutra_checkpoint_load_batch (stage_of (fixture, PASS), key, items, items->len, NULL));
  g_assert_cmpuint (count_events (fixture, "store-entry-rejected"), ==, 1);
}

static void
note_sink_batches (Fixture *fixture, guint64 first, guint64 n)
{
  for (guint64 seq = first; seq < first + n; seq++)
    {
      guint8 key[SUTRA_DIGEST_SIZE];

      sutra_checkpoint_sink_batch_key (seq, key);
      sutra_checkpoint_sink_note_batch (stage_of (fixture, WRITE), key);
    }
}

static gboolean
sink_has (Fixture *fixture, guint64 seq)
{
  guint8 key[SUTRA_DIGEST_SIZE];

  sutra_checkpoint_sink_batch_key (seq, key);
  return sutra_checkpoint_sink_has_batch (stage_of (fixture, WRITE), key);
}

static void
test_checkpoint_sink_resume (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint8 a[SUTRA_DIGEST_SIZE], b[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A stopped sink resumes on the same input stream with the state of its last "
                  "sync and the batches it wrote; another batch size, or a finished output, "
                  "starts it anew");
  sutra_checkpoint_sink_batch_key (0, a);
  sutra_checkpoint_sink_batch_key (1, b);
  g_assert_true (memcmp (a, b, sizeof a) != 0);

  fixture_open (fixture, NULL);
  note_sink_batches (fixture, 0, 3);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, FALSE, &error));
  g_assert_no_error (error);
  finish_stage (fixture, WRITE, "stopped");

  fixture_open (fixture, NULL);
  g_assert_false (sutra_checkpoint_stage_is_skipped (stage_of (fixture, WRITE)));
  g_assert_cmpstr (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)), ==,
                   "synced-1");
  g_assert_true (sink_has (fixture, 0));
  g_assert_true (sink_has (fixture, 2));
  g_assert_false (sink_has (fixture, 3));

  /* The plugin refused the state: anew, and the journal forgets it. */
  sutra_checkpoint_stage_forget_resume (stage_of (fixture, WRITE));
  g_assert_null (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_assert_false (sutra_checkpoint_sink_has_batch (stage_of (fixture, WRITE), a));
  fixture_open (fixture, NULL);
  g_assert_null (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_assert_false (sink_has (fixture, 0));

  /* Progress again, then another batch size: another stream. */
  note_sink_batches (fixture, 0, 2);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, FALSE, &error));
  fixture_open (fixture, NULL);
  g_assert_nonnull (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_free (fixture->batch);
  fixture->batch = g_strdup ("5");
  fixture_open (fixture, NULL);
  g_assert_null (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_assert_false (sink_has (fixture, 0));

  /* Finished: nothing to resume, even on the same stream. */
  note_sink_batches (fixture, 0, 2);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, TRUE, &error));
  fixture_open (fixture, NULL);
  g_assert_null (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)));
  g_assert_false (sink_has (fixture, 0));
}

static void
test_checkpoint_sink_interval (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("A sink that can sync is synced at most once an interval unless forced; "
                  "its complete checkpoint does not sync (its finish made it durable)");
  fixture_open (fixture, NULL);
  sutra_checkpoint_start (fixture->checkpoint);
  /* Just started: within the first interval. */
  note_sink_batches (fixture, 0, 1);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), FALSE, FALSE, &error));
  g_assert_cmpuint (fixture->n_prepared, ==, 0);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, FALSE, &error));
  g_assert_cmpuint (fixture->n_prepared, ==, 1);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->n_prepared, ==, 1);
}

static void
test_checkpoint_sink_two_phase (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *joined = NULL;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("With a second phase, a sink's state is committed only once the journal "
                  "holds it durably, newest first; its final checkpoint commits at once");
  fixture->two_phase = TRUE;
  fixture_open (fixture, NULL);
  /* Not started: no interval to wait for. */
  note_sink_batches (fixture, 0, 1);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), FALSE, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->calls->len, ==, 1); /* prepared, not durable yet */
  g_assert_cmpstr (fixture->calls->pdata[0], ==, "prepare synced-1");
  /* Within the interval: no sync; and the state is not durable yet, so
   * not committed either. */
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), FALSE, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->calls->len, ==, 1);

  /* The journal commits (the committer's work); the next checkpoint of the
   * sink hears of it, before its own sync. */
  sutra_checkpoint_start (fixture->checkpoint);
  sutra_checkpoint_wake (fixture->checkpoint);
  g_assert_true (sutra_checkpoint_finish (fixture->checkpoint, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, FALSE, &error));
  g_assert_no_error (error);
  g_ptr_array_add (fixture->calls, NULL);
  joined = g_strjoinv (", ", (char **) fixture->calls->pdata);
  g_assert_cmpstr (joined, ==,
                   "prepare synced-1, commit synced-1, prepare synced-2, commit synced-2");
  g_ptr_array_set_size (fixture->calls, 0);

  /* The journal holds the newest state. */
  fixture->two_phase = FALSE;
  fixture_open (fixture, NULL);
  g_assert_cmpstr (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)), ==,
                   "synced-2");
}

static void
test_checkpoint_one_phase (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("Without a second phase, a sink's sync is its only phase: nothing else is "
                  "called, and the state is recorded all the same");
  fixture_open (fixture, NULL);
  note_sink_batches (fixture, 0, 1);
  g_assert_true (sutra_checkpoint_sink (stage_of (fixture, WRITE), TRUE, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->calls->len, ==, 1);
  g_assert_cmpstr (fixture->calls->pdata[0], ==, "prepare synced-1");
  fixture_open (fixture, NULL);
  g_assert_cmpstr (sutra_checkpoint_stage_get_resume_state (stage_of (fixture, WRITE)), ==,
                   "synced-1");
}

static void
test_checkpoint_committer (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  guint8 key[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("The committer thread commits saved batches in the background and records "
                  "running stages' progress; a stage's final row is never overwritten by it");
  fixture_open (fixture, NULL);
  fixture->stage_state[PASS] = SUTRA_STAGE_STATE_RUNNING;
  fixture->stage_state[WRITE] = SUTRA_STAGE_STATE_RUNNING;
  finish_stage (fixture, WRITE, "stopped");
  sutra_checkpoint_start (fixture->checkpoint);
  items = source_items (fixture, 1, 8);
  save_batch (fixture, items, 0, key);
  sutra_checkpoint_wake (fixture->checkpoint);
  /* Committed by the committer, not by this thread: wait for the row. The
   * test's timeout bounds the wait. */
  while (n_rows (fixture, "SELECT * FROM batches") == 0)
    g_usleep (10 * 1000);
  while (n_rows (fixture, "SELECT * FROM stages WHERE stage = 'pass' AND state = 'running'") == 0)
    {
      sutra_checkpoint_wake (fixture->checkpoint);
      g_usleep (10 * 1000);
    }
  g_assert_cmpuint (fixture->n_stats, >, 0);
  finish_stage (fixture, PASS, "done");
  g_assert_true (sutra_checkpoint_finish (fixture->checkpoint, NULL));
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM stages WHERE stage = 'pass' AND "
                                     "state = 'done' AND n_in = 3"),
                    ==, 1);
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM stages WHERE stage = 'write' AND "
                                     "state = 'stopped'"),
                    ==, 1);
}

static void
test_checkpoint_failures (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GPtrArray) items = NULL;
  guint8 key[SUTRA_DIGEST_SIZE];

  SKIP_WITHOUT_PLUGINS ();
  g_test_summary ("Failures are journaled by batch; with --retry-failed-like policy absent, a "
                  "source that recomputes everything forgets its old failures at the plan");
  fixture_open (fixture, NULL);
  items = source_items (fixture, 1, 4);
  save_batch (fixture, items, 1, key);
  sutra_checkpoint_add_failure (stage_of (fixture, PASS), key, "in:2", "boom");
  sutra_checkpoint_add_failure (stage_of (fixture, READ), NULL, "in:9", "unreadable");
  g_clear_pointer (&items, g_ptr_array_unref);
  fixture_open (fixture, NULL);
  /* The source runs again and computes every item: its failures go. */
  g_assert_true (sutra_checkpoint_finish (fixture->checkpoint, NULL));
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM failures WHERE stage = 'pass'"), ==, 1);
  g_assert_cmpuint (n_rows (fixture, "SELECT * FROM failures WHERE stage = 'read'"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);

#define ADD(path, func) \
  g_test_add ("/engine/checkpoint/" path, Fixture, NULL, fixture_init, func, fixture_clear)
  ADD ("plan/new-job", test_checkpoint_plan_new_job);
  ADD ("plan/up-to-date", test_checkpoint_plan_up_to_date);
  ADD ("plan/stopped-stage", test_checkpoint_plan_stopped_stage);
  ADD ("keys/batch", test_checkpoint_batch_keys);
  ADD ("keys/fingerprint", test_checkpoint_fingerprint_changes_key);
  ADD ("lineages", test_checkpoint_lineages);
  ADD ("store/save-and-load", test_checkpoint_save_and_load);
  ADD ("store/from-cache", test_checkpoint_load_from_cache);
  ADD ("store/rejects-damage", test_checkpoint_load_rejects_damage);
  ADD ("sink/resume", test_checkpoint_sink_resume);
  ADD ("sink/interval", test_checkpoint_sink_interval);
  ADD ("sink/two-phase", test_checkpoint_sink_two_phase);
  ADD ("sink/one-phase", test_checkpoint_one_phase);
  ADD ("committer", test_checkpoint_committer);
  ADD ("failures", test_checkpoint_failures);
#undef ADD

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
