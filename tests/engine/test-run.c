/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-run.c: real pipelines through the scheduler. */

/*
 * Each test writes its input and pipeline into a directory of its own
 * (G_TEST_OPTION_ISOLATE_DIRS), runs the pipeline with the built-in
 * plugins, and compares the sink's output with what the test computes by
 * itself: so "the same output whatever the worker count" is checked against
 * the right output, not only against another run.
 */

#include "sutra-run.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>

static SutraRegistry *registry;
static char *registry_problem;

/* Input ----------------------------------------------------------------------- */

/* Line @i (from 0) of a generated corpus: words of varying length, and now
 * and then what the JSON writer must escape, non-ASCII text, an empty line
 * and a U+0000. */
static void
append_line (GString *out, guint i)
{
  static const char *const words[] = { "sutra",    "dhātu",  "item",  "queue", "a",
                                       "pipeline", "worker", "order", "batch", "gather" };
  guint n_words = 1 + (i * 7919u) % 9;

  if (i % 4999 == 17)
    return; /* an empty line */
  for (guint w = 0; w < n_words; w++)
    {
      if (w > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, words[(i * 31u + w * 17u) % G_N_ELEMENTS (words)]);
    }
  if (i % 1000 == 3)
    g_string_append (out, " \"quoted\"\tand\\back");
  if (i % 9973 == 5)
    g_string_append_len (out, " nul\0here", 9);
  if (i % 333 == 0)
    g_string_append_printf (out, " %u", i);
}

/* Writes @n_lines generated lines to @dir/@name; returns the path. */
static char *
write_corpus (const char *dir, const char *name, guint n_lines, guint salt)
{
  g_autoptr (GString) text = g_string_new (NULL);

  for (guint i = 0; i < n_lines; i++)
    {
      append_line (text, i + salt);
      g_string_append_c (text, '\n');
    }
  return sutra_test_write (dir, name, text->str, text->len);
}

/* The JSON lines a text-source → ... → jsonl-sink pipeline writes for the
 * corpus of write_corpus (), given the file's stem. */
static GString *
expected_corpus (const char *stem, guint n_lines, guint salt)
{
  GString *out = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);

  for (guint i = 0; i < n_lines; i++)
    {
      g_autofree char *id = g_strdup_printf ("%s:%u", stem, i + 1);

      g_string_truncate (line, 0);
      append_line (line, i + salt);
      sutra_test_append_record (out, id, line->str, line->len);
    }
  return out;
}

static char *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* Compares a file with what it should hold; on a difference, names the
 * first differing line rather than printing megabytes. */
static void
assert_file_equals (const char *path, const GString *expected)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  if (length != expected->len || memcmp (contents, expected->str, length) != 0)
    {
      gsize at = 0, line = 1;

      while (at < length && at < expected->len && contents[at] == expected->str[at])
        line += contents[at++] == '\n';
      g_test_message ("%s differs from the expected output at byte %" G_GSIZE_FORMAT
                      " (line %" G_GSIZE_FORMAT ") of %" G_GSIZE_FORMAT
                      " bytes (expected %" G_GSIZE_FORMAT ")",
                      path, at, line, length, expected->len);
    }
  g_assert_cmpmem (contents, length, expected->str, expected->len);
}

/* Running ------------------------------------------------------------------------ */

typedef struct
{
  char *dir;
  GPtrArray *sets; /* "name=value", NULL-terminated */
  SutraPipeline *pipeline;
  SutraRun *run;
  GPtrArray *events; /* JsonObject, what the run emitted */
  GMutex events_lock;
} Fixture;

static void
fixture_init (Fixture *fixture)
{
  fixture->dir = sutra_test_dir ();
  fixture->sets = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (fixture->sets, g_strconcat ("dir=", fixture->dir, NULL));
  g_ptr_array_add (fixture->sets, NULL);
  fixture->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_mutex_init (&fixture->events_lock);
}

static void
fixture_clear (Fixture *fixture)
{
  g_clear_pointer (&fixture->run, sutra_run_free);
  g_clear_pointer (&fixture->pipeline, sutra_pipeline_free);
  g_ptr_array_unref (fixture->sets);
  g_ptr_array_unref (fixture->events);
  g_mutex_clear (&fixture->events_lock);
  g_free (fixture->dir);
}

static void
fixture_set (Fixture *fixture, const char *name, const char *value)
{
  g_ptr_array_insert (fixture->sets, fixture->sets->len - 1, g_strconcat (name, "=", value, NULL));
}

static char *
fixture_path (Fixture *fixture, const char *name)
{
  return g_build_filename (fixture->dir, name, NULL);
}

static void
collect_event (JsonObject *event, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_mutex_lock (&fixture->events_lock);
  g_ptr_array_add (fixture->events, json_object_ref (event));
  g_mutex_unlock (&fixture->events_lock);
}

/* Loads @text (with ${dir} and the fixture's other variables) and makes
 * the run, without starting it. */
static void
fixture_prepare (Fixture *fixture, const char *text)
{
  g_autoptr (GError) error = NULL;

  fixture->pipeline =
    sutra_pipeline_load_from_data ("test.json", text, -1, registry,
                                   (const char *const *) fixture->sets->pdata, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->pipeline);
  fixture->run = sutra_run_new (fixture->pipeline);
  sutra_run_set_event_func (fixture->run, collect_event, fixture);
}

static gboolean
fixture_run (Fixture *fixture, const char *text, GError **error)
{
  fixture_prepare (fixture, text);
  return sutra_run_execute (fixture->run, error);
}

static SutraStageStats
stage_stats (Fixture *fixture, const char *name)
{
  SutraStageStats stats = { 0 };
  SutraStageSpec *spec = sutra_pipeline_get_stage (fixture->pipeline, name);

  g_assert_nonnull (spec);
  sutra_run_get_stats (fixture->run, spec->index, &stats);
  g_assert_cmpstr (stats.name, ==, name);
  return stats;
}

static guint
count_events (Fixture *fixture, const char *kind, const char *stage)
{
  guint n = 0;

  g_mutex_lock (&fixture->events_lock);
  for (guint i = 0; i < fixture->events->len; i++)
    {
      JsonObject *event = fixture->events->pdata[i];

      if (g_strcmp0 (json_object_get_string_member_with_default (event, "event", NULL), kind) ==
            0 &&
          (stage == NULL ||
           g_strcmp0 (json_object_get_string_member_with_default (event, "stage", NULL), stage) ==
             0))
        n++;
    }
  g_mutex_unlock (&fixture->events_lock);
  return n;
}

/* Threads of this process: /proc/self/task. */
static guint
count_threads (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* Waits (a little: exiting threads take a moment to go) for the thread
 * count to come back to @baseline. */
static void
assert_threads_back_to (guint baseline)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (count_threads () > baseline && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_cmpuint (count_threads (), <=, baseline);
}

#define SOURCE(path) \
  "\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"" path "\" } }"
#define SINK(name, input, path)                                                          \
  "\"" name "\": { \"plugin\": \"jsonl-sink\", \"input\": \"" input "\", \"params\": { " \
  "\"path\": \"" path "\" } }"
#define PIPELINE(stages) "{ \"sutra\": 1, \"name\": \"test\", \"stages\": { " stages " } }"

/* Tests -------------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  guint workers;
  guint batch;
} OrderCase;

static const OrderCase order_cases[] = {
  { "workers-1-batch-1", 1, 1 }, { "workers-1-batch-7", 1, 7 }, { "workers-1-batch-64", 1, 64 },
  { "workers-2-batch-1", 2, 1 }, { "workers-2-batch-7", 2, 7 }, { "workers-2-batch-64", 2, 64 },
  { "workers-8-batch-1", 8, 1 }, { "workers-8-batch-7", 8, 7 }, { "workers-8-batch-64", 8, 64 },
};

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer with full malloc stacks (see meson.build) every
 * item costs ten times as much: a fifth of the corpus keeps the suite's time
 * in bounds and still runs every worker and batch combination. */
#define N_ORDER_LINES 20000
#else
#define N_ORDER_LINES 100000
#endif

static void
test_run_order_any_workers (gconstpointer data)
{
  const OrderCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *workers = g_strdup_printf ("%u", row->workers);
  g_autofree char *batch = g_strdup_printf ("%u", row->batch);
  g_autoptr (GString) expected = NULL;
  SutraStageStats stats;

  g_test_summary ("text-source → identity → jsonl-sink over 100k lines (20k under ASan) "
                  "writes the same bytes, in input order, whatever the workers and batch size");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", N_ORDER_LINES, 0);
  output = fixture_path (&fixture, "out.jsonl");
  fixture_set (&fixture, "workers", workers);
  fixture_set (&fixture, "batch", batch);
  g_assert_true (fixture_run (
    &fixture,
    PIPELINE (SOURCE (
      "${dir}/corpus.txt") ", "
                           "\"pass\": { \"plugin\": \"identity\", \"input\": \"read\", "
                           "\"workers\": "
                           "\"${workers}\", \"batch\": \"${batch}\", \"queue\": 256 }, "
                           "\"again\": { \"plugin\": \"identity\", \"input\": \"pass\", "
                           "\"workers\": "
                           "\"${workers}\", \"batch\": \"${batch}\" }, " SINK ("write", "again",
                                                                               "${dir}/out.jsonl")),
    &error));
  g_assert_no_error (error);

  expected = expected_corpus ("corpus", N_ORDER_LINES, 0);
  assert_file_equals (output, expected);
  {
    g_autofree char *part = fixture_path (&fixture, "out.jsonl.part");
    g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  }
  stats = stage_stats (&fixture, "pass");
  g_assert_cmpuint (stats.n_in, ==, N_ORDER_LINES);
  g_assert_cmpuint (stats.n_out, ==, N_ORDER_LINES);
  g_assert_cmpuint (stats.n_failed, ==, 0);
  g_assert_cmpuint (stats.workers, ==, row->workers);
  g_assert_cmpint (stats.state, ==, SUTRA_STAGE_STATE_DONE);
  stats = stage_stats (&fixture, "write");
  g_assert_cmpuint (stats.n_in, ==, N_ORDER_LINES);
  g_assert_cmpuint (stats.queue_fill, ==, 0);
  g_assert_cmpuint (count_events (&fixture, "stage-started", NULL), ==, 4);
  g_assert_cmpuint (count_events (&fixture, "stage-finished", NULL), ==, 4);
  fixture_clear (&fixture);
}

/* Samples every stage's queue while the run goes on. */
typedef struct
{
  SutraRun *run;
  gint stop;
  guint n_samples;
  guint worst_excess; /* the most any sample had beyond its capacity */
} QueueWatch;

static gpointer
watch_queues (gpointer data)
{
  QueueWatch *watch = data;

  while (!g_atomic_int_get (&watch->stop))
    {
      for (guint i = 0; i < sutra_run_get_n_stages (watch->run); i++)
        {
          SutraStageStats stats;

          sutra_run_get_stats (watch->run, i, &stats);
          if (stats.queue_fill > stats.queue_capacity)
            watch->worst_excess =
              MAX (watch->worst_excess, stats.queue_fill - stats.queue_capacity);
        }
      watch->n_samples++;
      g_usleep (500);
    }
  return NULL;
}

static gpointer
execute_thread (gpointer data)
{
  Fixture *fixture = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = sutra_run_execute (fixture->run, &error);

  g_assert_no_error (error);
  return GINT_TO_POINTER (ok);
}

static void
test_run_backpressure_by_bytes (void)
{
  Fixture fixture;
  g_autoptr (GString) corpus = g_string_new (NULL);
  g_autoptr (GString) expected = g_string_new (NULL);
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *written = NULL;
  SutraStageStats stats;
  const guint n_lines = 200, line_bytes = 100 * 1024;

  g_test_summary ("With lines of 100 KiB, a slow stage and queue_mb 1, its queue never holds "
                  "more than a MiB and an item (11 of its 1024 places), fills that far, and "
                  "the output is whole");
  fixture_init (&fixture);
  for (guint i = 0; i < n_lines; i++)
    {
      g_autofree char *id = g_strdup_printf ("big:%u", i + 1);
      gsize start = corpus->len;

      for (guint k = 0; k < line_bytes; k++)
        g_string_append_c (corpus, (char) ('a' + (i + k) % 26));
      sutra_test_append_record (expected, id, corpus->str + start, line_bytes);
      g_string_append_c (corpus, '\n');
    }
  input = sutra_test_write (fixture.dir, "big.txt", corpus->str, corpus->len);
  fixture_prepare (&fixture,
                   PIPELINE (SOURCE (
                     "${dir}/big.txt") ", "
                                       "\"slow\": { \"plugin\": \"identity\", "
                                       "\"input\": \"read\", \"queue_mb\": 1, "
                                       "\"batch\": 2, \"params\": { "
                                       "\"sleep_us\": 2000 } }, " SINK ("write", "slow",
                                                                        "${dir}/out.jsonl")));
  g_assert_true (GPOINTER_TO_INT (execute_thread (&fixture)));
  stats = stage_stats (&fixture, "slow");
  g_test_message ("slow: queue_max_fill %u of %u", stats.queue_max_fill, stats.queue_capacity);
  g_assert_cmpuint (stats.queue_capacity, ==, 1024);
  /* Full at 1 MiB: the eleventh line of 100 KiB crosses it. */
  g_assert_cmpuint (stats.queue_max_fill, <=, 11);
  /* The source outruns the stage: the bound was reached, not just held. */
  g_assert_cmpuint (stats.queue_max_fill, >=, 10);
  output = fixture_path (&fixture, "out.jsonl");
  written = read_file (output);
  g_assert_true (g_str_equal (written, expected->str));
  fixture_clear (&fixture);
}

static void
test_run_backpressure (void)
{
  Fixture fixture;
  g_autofree char *input = NULL;
  g_autoptr (GString) expected = NULL;
  const char *stages[] = { "slow", "pass", "write" };
  QueueWatch watch = { 0 };
  GThread *watcher, *runner;

  g_test_summary ("With a slow stage and queue 16, no input queue ever holds more than 16 "
                  "items: a full queue blocks the stage upstream");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 20000, 0);
  fixture_prepare (
    &fixture,
    PIPELINE (SOURCE (
      "${dir}/corpus.txt") ", "
                           "\"slow\": { \"plugin\": \"identity\", \"input\": \"read\", "
                           "\"workers\": 2, "
                           "\"queue\": 16, \"batch\": 4, \"params\": { \"sleep_us\": 40 } }, "
                           "\"pass\": { \"plugin\": \"identity\", \"input\": \"slow\", \"queue\": "
                           "16, "
                           "\"batch\": 4 }, "
                           "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"pass\", "
                           "\"queue\": 16, "
                           "\"batch\": 3, \"params\": { \"path\": \"${dir}/out.jsonl\" } }"));
  watch.run = fixture.run;
  watcher = g_thread_new ("watch", watch_queues, &watch);
  runner = g_thread_new ("run", execute_thread, &fixture);
  g_assert_true (GPOINTER_TO_INT (g_thread_join (runner)));
  g_atomic_int_set (&watch.stop, 1);
  g_thread_join (watcher);

  g_test_message ("%u samples", watch.n_samples);
  g_assert_cmpuint (watch.n_samples, >, 0);
  g_assert_cmpuint (watch.worst_excess, ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++)
    {
      SutraStageStats stats = stage_stats (&fixture, stages[i]);

      g_test_message ("%s: queue_max_fill %u of %u", stages[i], stats.queue_max_fill,
                      stats.queue_capacity);
      g_assert_cmpuint (stats.queue_capacity, ==, 16);
      g_assert_cmpuint (stats.queue_max_fill, <=, 16);
      g_assert_cmpuint (stats.queue_max_fill, >, 0);
    }
  /* The source outruns the slow stage, so its queue must have filled up:
   * without that, the bound above would hold vacuously. */
  g_assert_cmpuint (stage_stats (&fixture, "slow").queue_max_fill, ==, 16);

  expected = expected_corpus ("corpus", 20000, 0);
  {
    g_autofree char *output = fixture_path (&fixture, "out.jsonl");
    assert_file_equals (output, expected);
  }
  fixture_clear (&fixture);
}

static void
test_run_fan_out (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GString) expected = NULL;

  g_test_summary ("One source feeding two branches: both sinks get every item, in order");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 5000, 11);
  g_assert_true (
    fixture_run (&fixture,
                 PIPELINE (SOURCE ("${dir}/corpus.txt") ", " SINK (
                   "direct", "read", "${dir}/direct.jsonl") ", "
                                                            "\"pass\": { \"plugin\": \"identity\", "
                                                            "\"input\": \"read\", \"workers\": 4, "
                                                            "\"batch\": 3, \"queue\": 8 }, " SINK (
                                                              "through", "pass",
                                                              "${dir}/through.jsonl")),
                 &error));
  g_assert_no_error (error);
  expected = expected_corpus ("corpus", 5000, 11);
  first = fixture_path (&fixture, "direct.jsonl");
  second = fixture_path (&fixture, "through.jsonl");
  assert_file_equals (first, expected);
  assert_file_equals (second, expected);
  g_assert_cmpuint (stage_stats (&fixture, "read").n_out, ==, 5000);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  const char *inputs; /* the merging stage's "input" */
  guint workers;
  gboolean b_first; /* ties go to the stage reading b.txt */
} FanInCase;

static const FanInCase fan_in_cases[] = {
  { "a-then-b", "[\"x\", \"y\"]", 1, FALSE },
  { "a-then-b-8-workers", "[\"x\", \"y\"]", 8, FALSE },
  { "b-then-a", "[\"y\", \"x\"]", 1, TRUE },
  { "b-then-a-8-workers", "[\"y\", \"x\"]", 8, TRUE },
};

static void
test_run_fan_in (gconstpointer data)
{
  const FanInCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GString) expected = g_string_new (NULL);
  g_autoptr (GString) line = g_string_new (NULL);
  const guint n_a = 3000, n_b = 1000;

  g_test_summary ("Two sources merged into one stage: items in position order, ties in the "
                  "order the stage lists its inputs, whatever the workers");
  fixture_init (&fixture);
  a = write_corpus (fixture.dir, "a.txt", n_a, 0);
  b = write_corpus (fixture.dir, "b.txt", n_b, 500);
  text = g_strdup_printf (
    PIPELINE ("\"x\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${dir}/a.txt\" } }, "
              "\"y\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${dir}/b.txt\" } }, "
              "\"merge\": { \"plugin\": \"identity\", \"input\": %s, \"workers\": %u, "
              "\"batch\": 5 }, " SINK ("write", "merge", "${dir}/out.jsonl")),
    row->inputs, row->workers);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < MAX (n_a, n_b); i++)
    for (guint k = 0; k < 2; k++)
      {
        gboolean is_b = (k == 0) == row->b_first;
        g_autofree char *id = g_strdup_printf ("%s:%u", is_b ? "b" : "a", i + 1);

        if (i >= (is_b ? n_b : n_a))
          continue;
        g_string_truncate (line, 0);
        append_line (line, i + (is_b ? 500 : 0));
        sutra_test_append_record (expected, id, line->str, line->len);
      }
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  g_assert_cmpuint (stage_stats (&fixture, "merge").n_in, ==, n_a + n_b);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  guint workers;
  guint batch;
} SplitCase;

static const SplitCase split_cases[] = {
  { "workers-1-batch-1", 1, 1 },
  { "workers-4-batch-3", 4, 3 },
  { "workers-8-batch-64", 8, 64 },
};

static void
test_run_split_gather (gconstpointer data)
{
  const SplitCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GString) expected = NULL;
  SutraStageStats split, join;

  g_test_summary ("text-split then text-join at the same separator gives back the input, "
                  "in order, with maps between them running in parallel");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 20000, 3);
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/corpus.txt") ", "
                           "\"split\": { \"plugin\": \"text-split\", \"input\": \"read\", "
                           "\"workers\": %u, "
                           "\"batch\": %u, \"params\": { \"separator\": \" \" } }, "
                           "\"words\": { \"plugin\": \"identity\", \"input\": \"split\", "
                           "\"workers\": %u, "
                           "\"batch\": %u, \"queue\": 32 }, "
                           "\"join\": { \"plugin\": \"text-join\", \"input\": \"words\", "
                           "\"workers\": %u, "
                           "\"params\": { \"separator\": \" \" } }, " SINK ("write", "join",
                                                                            "${dir}/out.jsonl")),
    row->workers, row->batch, row->workers, row->batch, row->workers);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);

  expected = expected_corpus ("corpus", 20000, 3);
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  split = stage_stats (&fixture, "split");
  join = stage_stats (&fixture, "join");
  g_assert_cmpuint (split.n_in, ==, 20000);
  g_assert_cmpuint (split.n_out, >, 20000);
  g_assert_cmpuint (join.n_in, ==, split.n_out);
  g_assert_cmpuint (join.n_out, ==, 20000);
  fixture_clear (&fixture);
}

static void
test_run_nested_split_gather (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autoptr (GString) expected = g_string_new (NULL);

  g_test_summary ("Two levels of split and two of gather (lines → words → letters → words "
                  "→ lines) restore the input");
  /* In a subprocess: a plugin that crashes fails this test, not the suite. */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT);
      g_test_trap_assert_passed ();
      return;
    }
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "doc.txt", "ab cd\nefg\n\nh i j\n", -1);
  g_assert_true (fixture_run (
    &fixture,
    PIPELINE ("\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": "
              "\"${dir}/doc.txt\", \"format\": \"document\" } }, "
              "\"lines\": { \"plugin\": \"text-split\", \"input\": \"read\" }, "
              "\"words\": { \"plugin\": \"text-split\", \"input\": \"lines\", \"params\": { "
              "\"separator\": \" \" } }, "
              "\"letters\": { \"plugin\": \"identity\", \"input\": \"words\", \"workers\": 3, "
              "\"batch\": 2 }, "
              "\"unwords\": { \"plugin\": \"text-join\", \"input\": \"letters\", \"params\": { "
              "\"separator\": \" \" } }, "
              "\"unlines\": { \"plugin\": \"text-join\", \"input\": \"unwords\" }, "
              "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"unlines\", \"params\": { "
              "\"path\": \"${dir}/out.jsonl\", \"include_meta\": false } }"),
    &error));
  g_assert_no_error (error);
  sutra_test_append_record (expected, "doc", "ab cd\nefg\n\nh i j\n",
                            strlen ("ab cd\nefg\n\nh i j\n"));
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  fixture_clear (&fixture);
}

static void
test_run_failure_stops_everything (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *part = NULL;
  g_autoptr (GPtrArray) failures = NULL;
  guint threads_before;
  gint64 started;
  gboolean ok;

  g_test_summary ("A stage failing an item with on_error fail ends the run promptly with an "
                  "error naming the stage and the item; no thread is left running and the "
                  "sink's output stays a .part file");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 100000, 0);
  fixture_prepare (
    &fixture,
    PIPELINE (SOURCE (
      "${dir}/corpus.txt") ", "
                           "\"bad\": { \"plugin\": \"fault\", \"input\": \"read\", \"workers\": 4, "
                           "\"params\": { \"fail_on\": \"corpus:500\" } }, "
                           "\"slow\": { \"plugin\": \"identity\", \"input\": \"bad\", \"workers\": "
                           "2, "
                           "\"params\": { \"sleep_us\": 200 } }, " SINK ("write", "slow",
                                                                         "${dir}/out.jsonl")));
  threads_before = count_threads ();
  started = g_get_monotonic_time ();
  ok = sutra_run_execute (fixture.run, &error);
  g_test_message ("failed after %.3f s: %s", (g_get_monotonic_time () - started) / 1e6,
                  error ? error->message : "(no error)");
  g_assert_false (ok);
  g_assert_nonnull (error);
  g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED);
  sutra_assert_contains (error->message, "stage “bad”");
  sutra_assert_contains (error->message, "item “corpus:500”");
  sutra_assert_contains (error->message, "failing on purpose at item “corpus:500”");
  /* 100k items through a 200 µs stage take 10 s: a run that did not stop
   * at the failure would take that long. */
  g_assert_cmpint (g_get_monotonic_time () - started, <, 5 * G_USEC_PER_SEC);
  assert_threads_back_to (threads_before);

  output = fixture_path (&fixture, "out.jsonl");
  part = fixture_path (&fixture, "out.jsonl.part");
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpint (stage_stats (&fixture, "bad").state, ==, SUTRA_STAGE_STATE_FAILED);
  g_assert_cmpuint (stage_stats (&fixture, "write").n_in, <, 100000);
  failures = sutra_run_dup_failures (fixture.run);
  g_assert_cmpuint (failures->len, ==, 0);
  fixture_clear (&fixture);
}

static void
test_run_skip_failed_items (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autoptr (GString) expected = g_string_new (NULL);
  g_autoptr (GPtrArray) failures = NULL;
  g_autoptr (GString) line = g_string_new (NULL);

  g_test_summary ("With on_error skip, failed items are left out, listed with stage, item "
                  "and message, counted and reported as events; the rest goes on in order");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 300, 0);
  g_assert_true (
    fixture_run (&fixture,
                 PIPELINE (SOURCE (
                   "${dir}/corpus.txt") ", "
                                        "\"bad\": { \"plugin\": \"fault\", \"input\": \"read\", "
                                        "\"workers\": 3, \"batch\": 8, \"on_error\": \"skip\", "
                                        "\"params\": { \"fail_on\": \"corpus:1?\" } }, " SINK (
                                          "write", "bad", "${dir}/out.jsonl")),
                 &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 300; i++)
    {
      g_autofree char *id = g_strdup_printf ("corpus:%u", i + 1);

      if (i + 1 >= 10 && i + 1 <= 19)
        continue;
      g_string_truncate (line, 0);
      append_line (line, i);
      sutra_test_append_record (expected, id, line->str, line->len);
    }
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);

  failures = sutra_run_dup_failures (fixture.run);
  g_assert_cmpuint (failures->len, ==, 10);
  for (guint i = 0; i < failures->len; i++)
    {
      g_auto (GStrv) fields = g_strsplit (failures->pdata[i], "\t", 3);

      g_assert_cmpstr (fields[0], ==, "bad");
      g_assert_true (g_str_has_prefix (fields[1], "corpus:1"));
      g_assert_cmpuint (strlen (fields[1]), ==, strlen ("corpus:10"));
      sutra_assert_contains (fields[2], "failing on purpose");
    }
  g_assert_cmpuint (stage_stats (&fixture, "bad").n_failed, ==, 10);
  g_assert_cmpuint (stage_stats (&fixture, "bad").n_out, ==, 290);
  g_assert_cmpuint (count_events (&fixture, "item-failed", "bad"), ==, 10);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  const char *on_missing;
  gboolean succeeds;
} MissingCase;

static const MissingCase missing_cases[] = {
  { "fail", "fail", FALSE },
  { "skip", "skip", TRUE },
};

static void
test_run_gather_missing (gconstpointer data)
{
  const MissingCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) failures = NULL;
  gboolean ok;

  g_test_summary ("A group that lost a member upstream (on_error skip) fails the gather "
                  "with on_missing fail, and is left out with on_missing skip");
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "in.txt", "a b c\nd e f\ng h i\n", -1);
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/in.txt") ", "
                       "\"split\": { \"plugin\": \"text-split\", \"input\": \"read\", \"params\": "
                       "{ "
                       "\"separator\": \" \" } }, "
                       "\"bad\": { \"plugin\": \"fault\", \"input\": \"split\", \"workers\": 2, "
                       "\"batch\": 2, \"on_error\": \"skip\", \"params\": { \"fail_on\": "
                       "\"in:2/0001\" } }, "
                       "\"join\": { \"plugin\": \"text-join\", \"input\": \"bad\", \"on_missing\": "
                       "\"%s\", "
                       "\"params\": { \"separator\": \" \" } }, " SINK ("write", "join",
                                                                        "${dir}/out.jsonl")),
    row->on_missing);
  ok = fixture_run (&fixture, text, &error);
  output = fixture_path (&fixture, "out.jsonl");
  failures = sutra_run_dup_failures (fixture.run);
  g_assert_cmpuint (failures->len, >=, 1);
  g_assert_true (g_str_has_prefix (failures->pdata[0], "bad\tin:2/0001\t"));
  if (!row->succeeds)
    {
      g_assert_false (ok);
      g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_MISSING);
      sutra_assert_contains (error->message, "stage “join”");
      sutra_assert_contains (error->message, "group “in:2” has 2 of its 3 members");
      g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
    }
  else
    {
      g_autofree char *contents = NULL;

      g_assert_no_error (error);
      g_assert_true (ok);
      contents = read_file (output);
      g_assert_cmpstr (contents, ==,
                       "{\"id\":\"in:1\",\"text\":\"a b c\"}\n"
                       "{\"id\":\"in:3\",\"text\":\"g h i\"}\n");
      g_assert_cmpuint (failures->len, ==, 2);
      g_assert_true (g_str_has_prefix (failures->pdata[1], "join\tin:2\t"));
      g_assert_cmpuint (stage_stats (&fixture, "join").n_failed, ==, 1);
    }
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  guint fail_times;
  guint attempts;
  gboolean succeeds;
} RetryCase;

static const RetryCase retry_cases[] = {
  { "fails-twice-three-attempts", 2, 3, TRUE },
  { "fails-three-times-three-attempts", 3, 3, FALSE },
  { "fails-once-no-retry", 1, 1, FALSE },
};

static void
test_run_retry (gconstpointer data)
{
  const RetryCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *count_file = NULL;
  g_autofree char *counts = NULL;
  g_autofree char *text = NULL;
  gboolean ok;

  g_test_summary ("retry {attempts, backoff_ms} calls a failing item again: it succeeds "
                  "when the failures are fewer than the attempts, and each attempt is made");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 50, 0);
  count_file = fixture_path (&fixture, "count.txt");
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/corpus.txt") ", "
                           "\"flaky\": { \"plugin\": \"fault\", \"input\": \"read\", \"batch\": 1, "
                           "\"retry\": { \"attempts\": %u, \"backoff_ms\": 1 }, \"params\": { "
                           "\"fail_on\": "
                           "\"corpus:7\", \"fail_times\": %u, \"count_file\": \"${dir}/count.txt\" "
                           "} }, " SINK ("write", "flaky", "${dir}/out.jsonl")),
    row->attempts, row->fail_times);
  ok = fixture_run (&fixture, text, &error);
  counts = read_file (count_file);
  if (row->succeeds)
    {
      g_autoptr (GString) expected = expected_corpus ("corpus", 50, 0);
      g_autofree char *output = fixture_path (&fixture, "out.jsonl");

      g_assert_no_error (error);
      g_assert_true (ok);
      assert_file_equals (output, expected);
      g_assert_cmpuint (sutra_test_count (counts, "corpus:7\n"), ==, row->fail_times + 1);
      g_assert_cmpuint (count_events (&fixture, "item-retry", "flaky"), ==, row->fail_times);
    }
  else
    {
      g_assert_false (ok);
      g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED);
      sutra_assert_contains (error->message, "stage “flaky”, item “corpus:7”");
      g_assert_cmpuint (sutra_test_count (counts, "corpus:7\n"), ==, row->attempts);
      g_assert_cmpuint (count_events (&fixture, "item-retry", "flaky"), ==, row->attempts - 1);
    }
  /* Items before it were each processed once. */
  g_assert_cmpuint (sutra_test_count (counts, "corpus:6\n"), ==, 1);
  fixture_clear (&fixture);
}

static void
test_run_retry_rate_limited (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *count_file = NULL;
  g_autofree char *counts = NULL;
  gint64 started, elapsed;
  gboolean ok;

  g_test_summary ("A retried batch is paced by the stage's rate_limit like the first "
                  "attempt: each attempt is as many requests to a rate-limited backend");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 8, 0);
  count_file = fixture_path (&fixture, "count.txt");
  started = g_get_monotonic_time ();
  ok = fixture_run (&fixture,
                    PIPELINE (SOURCE (
                      "${dir}/corpus.txt") ", "
                                           "\"flaky\": { \"plugin\": \"fault\", \"input\": "
                                           "\"read\", \"batch\": 8, \"rate_limit\": 20, "
                                           "\"retry\": { \"attempts\": 2, \"backoff_ms\": 1 }, "
                                           "\"params\": { \"fail_on\": \"corpus:5\", "
                                           "\"fail_times\": 1, \"count_file\": "
                                           "\"${dir}/count.txt\" } }, " SINK ("write", "flaky",
                                                                              "${dir}/out.jsonl")),
                    &error);
  elapsed = g_get_monotonic_time () - started;
  g_assert_no_error (error);
  g_assert_true (ok);
  counts = read_file (count_file);
  g_assert_cmpuint (sutra_test_count (counts, "corpus:5\n"), ==, 2);
  g_assert_cmpuint (count_events (&fixture, "item-retry", "flaky"), ==, 1);
  /* The first attempt took the schedule's first 8 slots at 20 a second:
   * the retry may not start before 0.4 s (a lower bound, which a loaded
   * machine only makes longer; without pacing it started at once). */
  g_test_message ("ran in %.3f s", elapsed / 1e6);
  g_assert_cmpint (elapsed, >=, 8 * G_USEC_PER_SEC / 20);
  fixture_clear (&fixture);
}

static void
test_run_create_fails_first (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *counts = NULL;
  g_autofree char *part = NULL;
  g_autofree char *count_file = NULL;
  guint threads_before;

  g_test_summary ("A stage whose instance cannot be made fails the run before any stage "
                  "has processed anything");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 100, 0);
  count_file = fixture_path (&fixture, "count.txt");
  part = fixture_path (&fixture, "out.jsonl.part");
  fixture_prepare (&fixture, PIPELINE (SOURCE (
                               "${dir}/corpus.txt") ", "
                                                    "\"counter\": { \"plugin\": \"fault\", "
                                                    "\"input\": \"read\", \"params\": { "
                                                    "\"count_file\": \"${dir}/count.txt\" } }, "
                                                    "\"broken\": { \"plugin\": \"fault\", "
                                                    "\"input\": \"counter\", \"params\": "
                                                    "{ \"fail_create\": true } }, " SINK (
                                                      "write", "broken", "${dir}/out.jsonl")));
  threads_before = count_threads ();
  g_assert_false (sutra_run_execute (fixture.run, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED);
  sutra_assert_contains (error->message, "stage “broken” (plugin “fault”) could not start");
  sutra_assert_contains (error->message, "failing on purpose at creation");
  counts = read_file (count_file);
  g_assert_cmpstr (counts, ==, "");
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (stage_stats (&fixture, "read").n_out, ==, 0);
  g_assert_cmpuint (count_events (&fixture, "stage-started", NULL), ==, 0);
  assert_threads_back_to (threads_before);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  const char *file;     /* created in the test directory */
  const char *contents; /* NULL: a directory */
  const char *path;     /* the source's path parameter */
  const char *format;
  gboolean split; /* through text-split and text-join */
} EmptyCase;

static const EmptyCase empty_cases[] = {
  { "empty-file", "empty.txt", "", "${dir}/empty.txt", "lines", FALSE },
  { "empty-file-split-gather", "empty.txt", "", "${dir}/empty.txt", "lines", TRUE },
  { "empty-jsonl", "empty.jsonl", "", "${dir}/empty.jsonl", "jsonl", FALSE },
  { "glob-of-directories-only", "sub.d", NULL, "${dir}/sub*", "document", TRUE },
};

static void
test_run_no_items (gconstpointer data)
{
  const EmptyCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *created = NULL;
  g_autofree char *output = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("A source with no items runs through and writes an empty output");
  fixture_init (&fixture);
  created = fixture_path (&fixture, row->file);
  if (row->contents != NULL)
    g_assert_true (g_file_set_contents (created, row->contents, -1, NULL));
  else
    g_assert_cmpint (g_mkdir (created, 0700), ==, 0);
  {
    /* Variables are not resolved inside --set values: expand ${dir} here. */
    g_autofree char *path = g_strconcat (fixture.dir, row->path + strlen ("${dir}"), NULL);

    fixture_set (&fixture, "path", path);
  }
  text = g_strdup_printf (
    PIPELINE ("\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"${path}\", "
              "\"format\": \"%s\" } }, "
              "\"split\": { \"plugin\": \"%s\", \"input\": \"read\" }, "
              "\"join\": { \"plugin\": \"%s\", \"input\": \"split\" }, " SINK ("write", "join",
                                                                               "${dir}/out.jsonl")),
    row->format, row->split ? "text-split" : "identity", row->split ? "text-join" : "identity");
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  output = fixture_path (&fixture, "out.jsonl");
  contents = read_file (output);
  g_assert_cmpstr (contents, ==, "");
  for (guint i = 0; i < sutra_run_get_n_stages (fixture.run); i++)
    {
      SutraStageStats stats;

      sutra_run_get_stats (fixture.run, i, &stats);
      g_assert_cmpuint (stats.n_in, ==, 0);
      g_assert_cmpuint (stats.n_out, ==, 0);
      g_assert_cmpint (stats.state, ==, SUTRA_STAGE_STATE_DONE);
    }
  fixture_clear (&fixture);
}

static void
test_run_empty_lines (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *contents = NULL;

  g_test_summary ("Empty lines and a last line without a newline are items too");
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "in.txt", "\n\nlast", -1);
  g_assert_true (fixture_run (&fixture,
                              PIPELINE (SOURCE ("${dir}/in.txt") ", " SINK ("write", "read",
                                                                            "${dir}/out.jsonl")),
                              &error));
  g_assert_no_error (error);
  output = fixture_path (&fixture, "out.jsonl");
  contents = read_file (output);
  g_assert_cmpstr (contents, ==,
                   "{\"id\":\"in:1\",\"text\":\"\"}\n{\"id\":\"in:2\",\"text\":\"\"}\n"
                   "{\"id\":\"in:3\",\"text\":\"last\"}\n");
  fixture_clear (&fixture);
}

static gpointer
stop_soon (gpointer data)
{
  Fixture *fixture = data;
  g_autofree char *part = fixture_path (fixture, "out.jsonl.part");

  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;

  /* Once the sink has started, the run is well under way. (The deadline:
   * should the run end without starting its sink, the test fails on its
   * error instead of waiting here for ever.) */
  while (!g_file_test (part, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_usleep (100000);
  sutra_run_stop (fixture->run, FALSE);
  return NULL;
}

static void
test_run_stop (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *part = NULL;
  GThread *stopper;
  guint threads_before;
  gint64 started;

  g_test_summary ("sutra_run_stop ends a long run promptly with an INTERRUPTED error and no "
                  "thread left; the sink's output stays a .part file");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 100000, 0);
  fixture_prepare (&fixture,
                   PIPELINE (SOURCE (
                     "${dir}/corpus.txt") ", "
                                          "\"slow\": { \"plugin\": \"identity\", \"input\": "
                                          "\"read\", \"workers\": 2, \"params\": { \"sleep_us\": "
                                          "500 } }, " SINK ("write", "slow", "${dir}/out.jsonl")));
  threads_before = count_threads ();
  started = g_get_monotonic_time ();
  stopper = g_thread_new ("stopper", stop_soon, &fixture);
  g_assert_false (sutra_run_execute (fixture.run, &error));
  g_thread_join (stopper);
  g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_INTERRUPTED);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);
  assert_threads_back_to (threads_before);
  output = fixture_path (&fixture, "out.jsonl");
  part = fixture_path (&fixture, "out.jsonl.part");
  g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (stage_stats (&fixture, "slow").n_in, <, 100000);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  guint workers;
  guint batch;
  gboolean split;
} JitterCase;

static const JitterCase jitter_cases[] = {
  { "workers-1-batch-1", 1, 1, FALSE },
  { "workers-4-batch-1", 4, 1, FALSE },
  { "workers-8-batch-3", 8, 3, FALSE },
  { "split-gather-workers-8-batch-2", 8, 2, TRUE },
};

static void
test_run_order_jitter (gconstpointer data)
{
  const JitterCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GString) expected = NULL;

  g_test_summary ("A map whose items take uneven time (so workers finish out of order) "
                  "still passes them on in order");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "corpus.txt", 1500, 0);
  if (row->split)
    text = g_strdup_printf (PIPELINE (SOURCE (
                              "${dir}/corpus.txt") ", "
                                                   "\"split\": { \"plugin\": \"text-split\", "
                                                   "\"input\": \"read\", \"params\": "
                                                   "{ \"separator\": \" \" } }, "
                                                   "\"jitter\": { \"plugin\": \"rogue-map\", "
                                                   "\"input\": \"split\", \"workers\": "
                                                   "%u, \"batch\": %u, \"queue\": 16, \"params\": "
                                                   "{ \"mode\": \"jitter\" } }, "
                                                   "\"join\": { \"plugin\": \"text-join\", "
                                                   "\"input\": \"jitter\", \"params\": "
                                                   "{ \"separator\": \" \" } }, " SINK (
                                                     "write", "join", "${dir}/out.jsonl")),
                            row->workers, row->batch);
  else
    text = g_strdup_printf (
      PIPELINE (SOURCE (
        "${dir}/corpus.txt") ", "
                             "\"jitter\": { \"plugin\": \"rogue-map\", \"input\": \"read\", "
                             "\"workers\": "
                             "%u, \"batch\": %u, \"queue\": 16, \"params\": { \"mode\": \"jitter\" "
                             "} }, " SINK ("write", "jitter", "${dir}/out.jsonl")),
      row->workers, row->batch);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  expected = expected_corpus ("corpus", 1500, 0);
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  const char *plugin; /* the rogue stage */
  const char *mode;
  const char *upstream; /* a split before it, for a gather */
  const char *needles[3];
} ContractCase;

static const ContractCase contract_cases[] = {
  { "map-pushes-two",
    "rogue-map",
    "twice",
    NULL,
    { "stage “bad” (plugin “rogue-map”) broke the map contract",
      "a map pushes exactly one per input" } },
  { "map-pushes-none",
    "rogue-map",
    "none",
    NULL,
    { "stage “bad” (plugin “rogue-map”) broke the map contract",
      "a map pushes exactly one per input" } },
  { "map-changes-path",
    "rogue-map",
    "wrong-path",
    NULL,
    { "broke the map contract", "” it pushed “elsewhere”", "sutra_item_new_derived" } },
  { "map-fails-silently",
    "rogue-map",
    "false-without-error",
    NULL,
    { "stage “bad”, item “in:", "failed without saying why" } },
  { "split-unordered",
    "rogue-split",
    "unordered",
    NULL,
    { "stage “bad” (plugin “rogue-split”) broke the split contract",
      "/0000” after “in:", "children must come in increasing order" } },
  { "split-stranger",
    "rogue-split",
    "stranger",
    NULL,
    { "broke the split contract", "it pushed “stranger”, which is not a descendant" } },
  { "gather-pushes-none",
    "rogue-gather",
    "none",
    "text-split",
    { "stage “bad” (plugin “rogue-gather”) broke the gather contract",
      "it pushed 0 items; a gather pushes one item" } },
  { "gather-pushes-two",
    "rogue-gather",
    "two",
    "text-split",
    { "broke the gather contract", "it pushed 2 items; a gather pushes one item" } },
  { "sink-pushes",
    "rogue-sink",
    "push",
    NULL,
    { "stage “bad” (plugin “rogue-sink”) broke the sink contract", "a sink pushes nothing" } },
};

static void
test_run_contract (gconstpointer data)
{
  const ContractCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *text = NULL;
  guint threads_before;

  g_test_summary ("A plugin that breaks its kind's push rules fails the run with a CONTRACT "
                  "error naming the stage, the plugin and the rule");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "in.txt", 2000, 0);
  text = g_strdup_printf (
    PIPELINE (
      SOURCE ("${dir}/in.txt") ", "
                               "\"up\": { \"plugin\": \"%s\", \"input\": \"read\" }, "
                               "\"bad\": { \"plugin\": \"%s\", \"input\": \"up\", \"workers\": 2, "
                               "\"batch\": 1, \"params\": { \"mode\": \"%s\" } }%s"),
    row->upstream != NULL ? row->upstream : "identity", row->plugin, row->mode,
    strcmp (row->plugin, "rogue-sink") == 0 ? "" : ", " SINK ("write", "bad", "${dir}/out.jsonl"));
  fixture_prepare (&fixture, text);
  threads_before = count_threads ();
  g_assert_false (sutra_run_execute (fixture.run, &error));
  g_test_message ("%s", error != NULL ? error->message : "(no error)");
  g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT);
  for (guint i = 0; i < G_N_ELEMENTS (row->needles) && row->needles[i] != NULL; i++)
    sutra_assert_contains (error->message, row->needles[i]);
  assert_threads_back_to (threads_before);
  fixture_clear (&fixture);
}

/* Splits ------------------------------------------------------------------------ */

/* A pipeline of @n_splits text-splits in a row, each at the line break (one
 * child per line, the line itself), between a source and a sink. */
static char *
deep_pipeline (guint n_splits)
{
  g_autoptr (GString) stages = g_string_new (SOURCE ("${dir}/in.txt"));
  const char *previous = "read";
  g_autofree char *name = NULL;

  for (guint i = 0; i < n_splits; i++)
    {
      g_autofree char *previous_name = g_strdup (previous);

      g_free (name);
      name = g_strdup_printf ("split%u", i);
      g_string_append_printf (stages,
                              ", \"%s\": { \"plugin\": \"text-split\", \"input\": \"%s\", "
                              "\"workers\": %u, \"batch\": %u }",
                              name, previous_name, 1 + i % 3, 1 + i % 4);
      previous = name;
    }
  g_string_append_printf (stages,
                          ", \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"%s\", "
                          "\"params\": { \"path\": \"${dir}/out.jsonl\" } }",
                          previous);
  return g_strdup_printf ("{ \"sutra\": 1, \"name\": \"deep\", \"stages\": { %s } }", stages->str);
}

static const guint deep_cases[] = { 15, 16, 17, 40 };

static void
test_run_deep_splits (gconstpointer data)
{
  guint n_splits = *(const guint *) data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = deep_pipeline (n_splits);
  g_autoptr (GString) expected = g_string_new (NULL);

  g_test_bug ("15");
  g_test_summary ("A chain of splits deeper than 16 keeps every item: paths grow with "
                  "the pipeline (a chain of 16 used to lose them all and succeed)");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "in.txt", 300, 0);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 300; i++)
    {
      g_autoptr (GString) id = g_string_new (NULL);
      g_autoptr (GString) line = g_string_new (NULL);

      g_string_printf (id, "in:%u", i + 1);
      for (guint level = 0; level < n_splits; level++)
        g_string_append (id, "/0000");
      append_line (line, i);
      sutra_test_append_record (expected, id->str, line->str, line->len);
    }
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  g_assert_cmpuint (stage_stats (&fixture, "write").n_in, ==, 300);
  fixture_clear (&fixture);
}

static void
test_run_deep_splits_beyond_limit (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *input = sutra_test_write (dir, "in.txt", "a\n", -1);
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *last = NULL;

  g_test_bug ("15");
  g_test_summary ("A chain of splits deeper than an item's path can hold "
                  "(SUTRA_ITEM_MAX_DEPTH) is refused by validation, which names the limit "
                  "and the stage");
  g_string_printf (text,
                   "{ \"sutra\": 1, \"name\": \"deep\", \"stages\": { \"read\": { \"plugin\": "
                   "\"text-source\", \"params\": { \"path\": \"%s\" } }",
                   input);
  for (guint i = 0; i < SUTRA_ITEM_MAX_DEPTH; i++)
    g_string_append_printf (text, ", \"s%u\": { \"plugin\": \"text-split\", \"input\": \"%s%u\" }",
                            i, i == 0 ? "read" : "s", i == 0 ? 0 : i - 1);
  g_string_append_printf (text,
                          ", \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"s%u\", "
                          "\"params\": { \"path\": \"out.jsonl\" } } } }",
                          SUTRA_ITEM_MAX_DEPTH - 1);
  /* The first stage named "s" + number is "s0", whose input is "read". */
  g_string_replace (text, "\"input\": \"read0\"", "\"input\": \"read\"", 1);
  pipeline =
    sutra_pipeline_load_from_data ("deep.json", text->str, text->len, registry, NULL, &error);
  g_assert_null (pipeline);
  g_test_message ("%s", error != NULL ? error->message : "(no error)");
  g_assert_error (error, SUTRA_PIPELINE_ERROR, SUTRA_PIPELINE_ERROR_BAD_GRAPH);
  last = g_strdup_printf ("stage “s%u”", SUTRA_ITEM_MAX_DEPTH - 1);
  sutra_assert_contains (error->message, last);
  sutra_assert_contains (error->message, "deeper than the 65535 levels an item's path can hold");
}

typedef struct
{
  const char *name;
  const char *plugin;
  const char *mode;
  const char *on_error;
  const char *function; /* the public function whose check failed */
  const char *rule;
} MisuseCase;

static const MisuseCase misuse_cases[] = {
  { "map-pushes-null", "rogue-map", "push-null", "fail", "sutra_output_push", "item != NULL" },
  { "map-pushes-null-skip", "rogue-map", "push-null", "skip", "sutra_output_push", "item != NULL" },
  { "split-pushes-null", "rogue-split", "push-null", "fail", "sutra_output_push", "item != NULL" },
  { "split-child-of-null-skip", "rogue-split", "null-parent", "skip", "sutra_item_new_child",
    "parent != NULL" },
};

static void
test_run_api_misuse (gconstpointer data)
{
  const MisuseCase *row = data;

  g_test_bug ("15");
  g_test_summary ("A plugin call that fails a check of the public API (a critical) fails "
                  "the run, whatever on_error says, with a CONTRACT error naming the stage, "
                  "the plugin, the function and the rule: no item goes missing silently");
  /* The critical is expected: in a subprocess, where it is not fatal. */
  if (g_test_subprocess ())
    {
      Fixture fixture;
      g_autoptr (GError) error = NULL;
      g_autofree char *input = NULL;
      g_autofree char *text = NULL;
      g_autofree char *function = NULL;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      fixture_init (&fixture);
      input = write_corpus (fixture.dir, "in.txt", 500, 0);
      text =
        g_strdup_printf (PIPELINE (SOURCE (
                           "${dir}/in.txt") ", "
                                            "\"bad\": { \"plugin\": \"%s\", \"input\": \"read\", "
                                            "\"workers\": 2, \"batch\": 7, \"on_error\": \"%s\", "
                                            "\"params\": { \"mode\": \"%s\" } }, " SINK (
                                              "write", "bad", "${dir}/out.jsonl")),
                         row->plugin, row->on_error, row->mode);
      g_assert_false (fixture_run (&fixture, text, &error));
      g_test_message ("%s", error != NULL ? error->message : "(no error)");
      g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT);
      sutra_assert_contains (error->message, "stage “bad”");
      g_free (function);
      function = g_strdup_printf ("(plugin “%s”) misused the plugin API", row->plugin);
      sutra_assert_contains (error->message, function);
      g_free (function);
      function = g_strdup_printf ("it called %s()", row->function);
      sutra_assert_contains (error->message, function);
      sutra_assert_contains (error->message, row->rule);
      g_assert_cmpint (stage_stats (&fixture, "bad").state, ==, SUTRA_STAGE_STATE_FAILED);
      fixture_clear (&fixture);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*CRITICAL*assertion*failed*");
}

/* The "text" of the last record of a JSON lines file. */
static char *
last_record_text (const char *path)
{
  g_autofree char *contents = read_file (path);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  char *last;

  g_strchomp (contents);
  last = strrchr (contents, '\n');
  last = last != NULL ? last + 1 : contents;
  json_parser_load_from_data (parser, last, -1, &error);
  g_assert_no_error (error);
  return g_strdup (
    json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "text"));
}

static void
test_run_split_streams (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *seen = NULL;
  guint64 n_seen;

  g_test_bug ("15");
  g_test_summary ("A split's children go downstream while the plugin makes them: when it "
                  "pushes the last of 100000 children of one input, a sink has already "
                  "taken all but what the queues hold (holding them all took 1 GB for a "
                  "book of a million paragraphs)");
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "in.txt", "one input\n", -1);
  g_assert_true (
    fixture_run (&fixture,
                 PIPELINE (SOURCE (
                   "${dir}/in.txt") ", "
                                    "\"wide\": { \"plugin\": \"rogue-split\", \"input\": "
                                    "\"read\", \"queue\": 256, \"params\": { \"mode\": "
                                    "\"wide\" } }, "
                                    "\"count\": { \"plugin\": \"rogue-sink\", \"input\": "
                                    "\"wide\", \"batch\": 16, \"queue\": 256, \"params\": { "
                                    "\"mode\": \"count\" } }, "
                                    "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": "
                                    "\"wide\", \"batch\": 16, \"queue\": 256, \"params\": { "
                                    "\"path\": \"${dir}/out.jsonl\", \"include_meta\": false "
                                    "} }"),
                 &error));
  g_assert_no_error (error);
  output = fixture_path (&fixture, "out.jsonl");
  seen = last_record_text (output);
  n_seen = g_ascii_strtoull (seen, NULL, 10);
  g_test_message ("the sink had taken %" G_GUINT64_FORMAT " of 100000 children", n_seen);
  /* What can be between the plugin and the counting sink: a chunk being
   * sent, both sinks' queues (the sends to them are in step) and a batch. */
  g_assert_cmpuint (n_seen, >=, 100000 - 64 - 2 * 256 - 2 * 16);
  g_assert_cmpuint (stage_stats (&fixture, "count").n_in, ==, 100000);
  g_assert_cmpuint (stage_stats (&fixture, "write").n_in, ==, 100000);
  fixture_clear (&fixture);
}

/* The peak resident memory of this process so far, in KiB (VmHWM). */
static guint64
peak_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "\nVmHWM:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("\nVmHWM:"), NULL, 10);
}

#define BIG_GROUP 100000
#define BIG_MEMBER_BYTES 4096

static void
test_run_gather_streams_big_group (void)
{
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autoptr (GChecksum) digest = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *member = g_malloc (BIG_MEMBER_BYTES);
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  guint64 peak_kib;

  g_test_bug ("10");
  g_test_summary ("A streaming gather is given a group of 100000 members of 4 KiB as they "
                  "arrive: the run's peak memory stays far below the 400 MB that holding "
                  "the group would take, and the gather sees every member in order");
  /* In a process of its own: the peak is this run's alone. */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT);
      g_test_trap_assert_passed ();
      return;
    }
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "in.txt", "one input\n", -1);
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/in.txt") ", "
                       "\"split\": { \"plugin\": \"tally-split\", \"input\": \"read\", "
                       "\"params\": { \"children\": %d, \"child_bytes\": %d } }, "
                       "\"tally\": { \"plugin\": \"tally-gather\", \"input\": \"split\" }, "
                       "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"tally\", \"params\": "
                       "{ \"path\": \"${dir}/out.jsonl\", \"include_meta\": false } }"),
    BIG_GROUP, BIG_MEMBER_BYTES);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  peak_kib = peak_rss_kib ();
  g_test_message ("peak resident memory: %" G_GUINT64_FORMAT " KiB; the group is %d KiB", peak_kib,
                  BIG_GROUP * (BIG_MEMBER_BYTES / 1024));

  /* The members as tally-split makes them, hashed in order. */
  for (guint k = 0; k < BIG_GROUP; k++)
    {
      int n = g_snprintf ((char *) member, BIG_MEMBER_BYTES, "%u ", k);

      memset (member + n, 'a' + (int) (k % 26), BIG_MEMBER_BYTES - (gsize) n);
      g_checksum_update (digest, member, BIG_MEMBER_BYTES);
    }
  expected = g_strdup_printf ("members=%d sha256=%s", BIG_GROUP, g_checksum_get_string (digest));
  output = fixture_path (&fixture, "out.jsonl");
  g_autofree char *got = last_record_text (output);
  g_assert_cmpstr (got, ==, expected);
  g_assert_cmpuint (stage_stats (&fixture, "tally").n_in, ==, BIG_GROUP);
  g_assert_cmpuint (stage_stats (&fixture, "tally").n_out, ==, 1);
  /* Holding the group would take 400 MB; the queues hold a few MB.
   * (AddressSanitizer keeps freed memory in quarantine, 256 MB by default:
   * there the peak says nothing.) */
#if !defined(__SANITIZE_ADDRESS__)
  g_assert_cmpuint (peak_kib, <, 100 * 1024);
#endif
  fixture_clear (&fixture);
}

static void
test_run_gather_stream_fails_group (gconstpointer data)
{
  const char *on_error = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) failures = NULL;
  g_autofree char *input = NULL;
  g_autofree char *text = NULL;
  g_autofree char *output = NULL;
  g_autofree char *written = NULL;
  gboolean ok;

  g_test_bug ("10");
  g_test_summary ("A streaming gather whose gather_add fails mid-group fails that group "
                  "(not retried: its members are gone), and only that group: the run "
                  "fails naming it with on_error fail, and goes on without it with skip");
  fixture_init (&fixture);
  input = sutra_test_write (fixture.dir, "in.txt", "a\nb\nc\n", -1);
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/in.txt") ", "
                       "\"split\": { \"plugin\": \"tally-split\", \"input\": \"read\", "
                       "\"params\": { \"children\": 5, \"child_bytes\": 8 } }, "
                       "\"fail\": { \"plugin\": \"tally-split\", \"input\": \"split\", "
                       "\"params\": { \"children\": 4, \"child_bytes\": 8 } }, "
                       "\"tally\": { \"plugin\": \"tally-gather\", \"input\": \"fail\", "
                       "\"on_error\": \"%s\", \"retry\": { \"attempts\": 3 }, "
                       "\"params\": { \"fail_at\": 2 } }, "
                       "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"tally\", \"params\": "
                       "{ \"path\": \"${dir}/out.jsonl\", \"include_meta\": false } }"),
    on_error);
  ok = fixture_run (&fixture, text, &error);
  if (g_str_equal (on_error, "fail"))
    {
      g_assert_false (ok);
      g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED);
      sutra_assert_contains (error->message, "stage “tally”, group “in:1/0000”: ");
      sutra_assert_contains (error->message, "failing on purpose at member 2");
      fixture_clear (&fixture);
      return;
    }
  g_assert_no_error (error);
  g_assert_true (ok);
  /* Every group fails at its third member: fifteen groups, no output. */
  failures = sutra_run_dup_failures (fixture.run);
  g_assert_cmpuint (failures->len, ==, 15);
  sutra_assert_contains (failures->pdata[0], "tally\tin:1/0000\t");
  g_assert_cmpuint (stage_stats (&fixture, "tally").n_in, ==, 60);
  g_assert_cmpuint (stage_stats (&fixture, "tally").n_failed, ==, 15);
  g_assert_cmpuint (stage_stats (&fixture, "tally").n_out, ==, 0);
  output = fixture_path (&fixture, "out.jsonl");
  g_assert_true (g_file_get_contents (output, &written, NULL, NULL));
  g_assert_cmpstr (written, ==, "");
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  guint workers;
  guint batch;
  guint queue;
} WideOrderCase;

static const WideOrderCase wide_order_cases[] = {
  { "workers-1-batch-1", 1, 1, 64 },
  { "workers-3-batch-1-queue-64", 3, 1, 64 },
  { "workers-4-batch-3-queue-100", 4, 3, 100 },
  { "workers-8-batch-2-queue-4096", 8, 2, 4096 },
};

/* Line @i of a corpus whose lines split into many words each. */
static void
append_wide_line (GString *out, guint i)
{
  guint n_words = 200 + (i * 7919u) % 900;

  for (guint w = 0; w < n_words; w++)
    g_string_append_printf (out, "%sw%u.%u", w > 0 ? " " : "", i, w);
}

static void
test_run_split_order_wide (gconstpointer data)
{
  const WideOrderCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) corpus = g_string_new (NULL);
  g_autoptr (GString) expected = g_string_new (NULL);
  g_autoptr (GString) words = g_string_new (NULL);
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *words_output = NULL;
  g_autofree char *text = NULL;

  g_test_summary ("Inputs with hundreds of children each, split by several workers whose "
                  "batches must wait for an earlier one's children, come out in order, "
                  "identical whatever the worker count and queue size");
  fixture_init (&fixture);
  for (guint i = 0; i < 60; i++)
    {
      g_autoptr (GString) line = g_string_new (NULL);
      g_autofree char *id = g_strdup_printf ("in:%u", i + 1);

      append_wide_line (line, i);
      g_string_append_len (corpus, line->str, line->len);
      g_string_append_c (corpus, '\n');
      sutra_test_append_record (expected, id, line->str, line->len);
      {
        g_auto (GStrv) parts = g_strsplit (line->str, " ", -1);

        for (guint w = 0; parts[w] != NULL; w++)
          {
            g_autofree char *word_id = g_strdup_printf ("in:%u/%04u", i + 1, w);

            sutra_test_append_record (words, word_id, parts[w], strlen (parts[w]));
          }
      }
    }
  input = sutra_test_write (fixture.dir, "in.txt", corpus->str, corpus->len);
  text = g_strdup_printf (
    PIPELINE (SOURCE (
      "${dir}/in.txt") ", "
                       "\"split\": { \"plugin\": \"text-split\", \"input\": "
                       "\"read\", \"workers\": %u, \"batch\": %u, \"queue\": %u, "
                       "\"params\": { \"separator\": \" \" } }, "
                       "\"join\": { \"plugin\": \"text-join\", \"input\": "
                       "\"split\", \"queue\": 64, \"params\": { \"separator\": "
                       "\" \" } }, " SINK ("write", "join",
                                           "${dir}/out.jsonl") ", " SINK ("words", "split",
                                                                          "${dir}/words.jsonl")),
    row->workers, row->batch, row->queue);
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  words_output = fixture_path (&fixture, "words.jsonl");
  assert_file_equals (words_output, words);
  fixture_clear (&fixture);
}

/* The records rogue-split (mode flaky or fail-third) writes for inputs
 * 1..@n of a file "in", leaving out children 3 and 4 of @short_input, or
 * (@short_input 0, @short_batch > 0) of every input but the first of each
 * batch of @short_batch. */
static GString *
expected_children (guint n, guint short_input, guint short_batch)
{
  GString *out = g_string_new (NULL);

  for (guint i = 1; i <= n; i++)
    for (guint k = 0;
         k < (i == short_input || (short_batch > 0 && (i - 1) % short_batch != 0) ? 3 : 5); k++)
      {
        g_autofree char *id = g_strdup_printf ("in:%u/%04u", i, k);

        sutra_test_append_record (out, id, "", 0);
      }
  return out;
}

typedef struct
{
  const char *name;
  guint workers;
  guint batch;
  guint attempts;
  gboolean skip; /* on_error skip; FALSE: fail */
} FlakyCase;

static const FlakyCase flaky_cases[] = {
  { "batch-1-attempts-2", 1, 1, 2, FALSE },
  /* Each attempt gets one input further. */
  { "workers-3-batch-4-attempts-5", 3, 4, 5, FALSE },
  /* The batch fails for good; each input is asked again alone, once: the
   * first of each batch completes (its second call), the others fail after
   * three children (their first), which stay downstream. */
  { "workers-2-batch-4-attempts-1-skip", 2, 4, 1, TRUE },
};

static void
test_run_split_retry_mid_stream (gconstpointer data)
{
  const FlakyCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GString) expected = expected_children (40, 0, row->skip ? row->batch : 0);

  g_test_summary ("A split that fails after some of an input's children went downstream "
                  "and succeeds when asked again sends each child once, in order: what it "
                  "pushes again is dropped");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "in.txt", 40, 0);
  text = g_strdup_printf (
    PIPELINE (
      SOURCE ("${dir}/in.txt") ", "
                               "\"flaky\": { \"plugin\": \"rogue-split\", \"input\": "
                               "\"read\", \"workers\": %u, \"batch\": %u, \"retry\": { "
                               "\"attempts\": %u, \"backoff_ms\": 0 }, \"on_error\": \"%s\", "
                               "\"params\": { "
                               "\"mode\": \"flaky\" } }, "
                               "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": "
                               "\"flaky\", \"params\": { \"path\": "
                               "\"${dir}/out.jsonl\", \"include_meta\": false } }"),
    row->workers, row->batch, row->attempts, row->skip ? "skip" : "fail");
  g_assert_true (fixture_run (&fixture, text, &error));
  g_assert_no_error (error);
  output = fixture_path (&fixture, "out.jsonl");
  assert_file_equals (output, expected);
  g_assert_cmpuint (stage_stats (&fixture, "flaky").n_out, ==, row->skip ? 10 * 5 + 30 * 3 : 200);
  g_assert_cmpuint (stage_stats (&fixture, "flaky").n_failed, ==, row->skip ? 30 : 0);
  fixture_clear (&fixture);
}

typedef struct
{
  const char *name;
  const char *on_error;
  const char *on_missing; /* NULL: no gather */
  gboolean succeeds;
} FailMidCase;

static const FailMidCase fail_mid_cases[] = {
  { "on-error-fail", "fail", NULL, FALSE },
  { "on-error-skip", "skip", NULL, TRUE },
  { "on-error-skip-gather-fails", "skip", "fail", FALSE },
  { "on-error-skip-gather-skips", "skip", "skip", TRUE },
};

static void
test_run_split_fails_mid_stream (gconstpointer data)
{
  const FailMidCase *row = data;
  Fixture fixture;
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GPtrArray) failures = NULL;
  gboolean ok;

  g_test_summary ("An input whose split fails for good after three of its children went "
                  "downstream: on_error fail fails the run naming it; skip lists it and "
                  "keeps the children sent, and a gather treats its group as incomplete "
                  "(on_missing)");
  fixture_init (&fixture);
  input = write_corpus (fixture.dir, "in.txt", 9, 0);
  if (row->on_missing == NULL)
    text =
      g_strdup_printf (PIPELINE (SOURCE (
                         "${dir}/in.txt") ", "
                                          "\"bad\": { \"plugin\": \"rogue-split\", \"input\": "
                                          "\"read\", \"workers\": 2, \"batch\": 2, \"on_error\": "
                                          "\"%s\", \"params\": { \"mode\": \"fail-third\" } }, "
                                          "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": "
                                          "\"bad\", \"params\": { \"path\": "
                                          "\"${dir}/out.jsonl\", \"include_meta\": false } }"),
                       row->on_error);
  else
    text =
      g_strdup_printf (PIPELINE (SOURCE (
                         "${dir}/in.txt") ", "
                                          "\"bad\": { \"plugin\": \"rogue-split\", \"input\": "
                                          "\"read\", \"workers\": 2, \"batch\": 2, \"on_error\": "
                                          "\"%s\", \"params\": { \"mode\": \"fail-third\" } }, "
                                          "\"join\": { \"plugin\": \"rogue-gather\", \"input\": "
                                          "\"bad\", \"on_missing\": \"%s\" }, "
                                          "\"write\": { \"plugin\": \"jsonl-sink\", \"input\": "
                                          "\"join\", \"params\": { \"path\": "
                                          "\"${dir}/out.jsonl\", \"include_meta\": false } }"),
                       row->on_error, row->on_missing);
  ok = fixture_run (&fixture, text, &error);
  g_test_message ("%s", error != NULL ? error->message : "(no error)");
  output = fixture_path (&fixture, "out.jsonl");
  failures = sutra_run_dup_failures (fixture.run);
  if (!row->succeeds)
    {
      g_assert_false (ok);
      if (row->on_missing == NULL)
        {
          g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED);
          sutra_assert_contains (error->message, "stage “bad”, item “in:3”");
          sutra_assert_contains (error->message, "failing on purpose after three children");
        }
      else
        {
          g_assert_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_MISSING);
          sutra_assert_contains (error->message, "stage “join”");
          sutra_assert_contains (error->message,
                                 "group “in:3” is incomplete: the split that made it failed "
                                 "after 3 members");
        }
      g_assert_false (g_file_test (output, G_FILE_TEST_EXISTS));
      fixture_clear (&fixture);
      return;
    }
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpuint (failures->len, >=, 1);
  g_assert_true (g_str_has_prefix (failures->pdata[0], "bad\tin:3\t"));
  g_assert_cmpuint (stage_stats (&fixture, "bad").n_failed, ==, 1);
  if (row->on_missing == NULL)
    {
      g_autoptr (GString) expected = expected_children (9, 3, 0);

      g_assert_cmpuint (failures->len, ==, 1);
      assert_file_equals (output, expected);
    }
  else
    {
      g_autoptr (GString) expected = g_string_new (NULL);

      for (guint i = 1; i <= 9; i++)
        if (i != 3)
          {
            g_autofree char *id = g_strdup_printf ("in:%u", i);

            sutra_test_append_record (expected, id, "", 0);
          }
      assert_file_equals (output, expected);
      g_assert_cmpuint (failures->len, ==, 2);
      g_assert_true (g_str_has_prefix (failures->pdata[1], "join\tin:3\t"));
    }
  fixture_clear (&fixture);
}

static void
test_run_plugins_load (void)
{
  g_test_summary ("The built-in plugins these tests use load without a problem");
  g_assert_cmpstr (registry_problem, ==, NULL);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* Threads of finished pools exit instead of waiting for a new pool, so
   * that counting threads tells whether a run left any behind. */
  g_thread_pool_set_max_unused_threads (0);

  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup (error->message);
  else
    {
      g_autofree char *rogue = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                                 "plugins", "rogue." G_MODULE_SUFFIX, NULL);

      g_autofree char *tally = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "tests", "engine",
                                                 "plugins", "tally." G_MODULE_SUFFIX, NULL);

      if (!sutra_registry_load_file (registry, rogue, &error) ||
          !sutra_registry_load_file (registry, tally, &error))
        registry_problem = g_strdup (error->message);
    }

  g_test_add_func ("/engine/run/plugins-load", test_run_plugins_load);
  g_test_add_func ("/engine/run/gather-streams-big-group", test_run_gather_streams_big_group);
  g_test_add_data_func ("/engine/run/gather-stream-fails-group/fail", "fail",
                        test_run_gather_stream_fails_group);
  g_test_add_data_func ("/engine/run/gather-stream-fails-group/skip", "skip",
                        test_run_gather_stream_fails_group);
  for (gsize i = 0; i < G_N_ELEMENTS (order_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/order/%s", order_cases[i].name);
      g_test_add_data_func (path, &order_cases[i], test_run_order_any_workers);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (jitter_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/order-jitter/%s", jitter_cases[i].name);
      g_test_add_data_func (path, &jitter_cases[i], test_run_order_jitter);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (contract_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/contract/%s", contract_cases[i].name);
      g_test_add_data_func (path, &contract_cases[i], test_run_contract);
    }
  g_test_add_func ("/engine/run/backpressure", test_run_backpressure);
  g_test_add_func ("/engine/run/backpressure-by-bytes", test_run_backpressure_by_bytes);
  g_test_add_func ("/engine/run/fan-out", test_run_fan_out);
  for (gsize i = 0; i < G_N_ELEMENTS (fan_in_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/fan-in/%s", fan_in_cases[i].name);
      g_test_add_data_func (path, &fan_in_cases[i], test_run_fan_in);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (split_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/split-gather/%s", split_cases[i].name);
      g_test_add_data_func (path, &split_cases[i], test_run_split_gather);
    }
  g_test_add_func ("/engine/run/nested-split-gather", test_run_nested_split_gather);
  g_test_add_func ("/engine/run/failure-stops-everything", test_run_failure_stops_everything);
  g_test_add_func ("/engine/run/skip-failed-items", test_run_skip_failed_items);
  for (gsize i = 0; i < G_N_ELEMENTS (missing_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/run/gather-missing/%s", missing_cases[i].name);
      g_test_add_data_func (path, &missing_cases[i], test_run_gather_missing);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (retry_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/retry/%s", retry_cases[i].name);
      g_test_add_data_func (path, &retry_cases[i], test_run_retry);
    }
  g_test_add_func ("/engine/run/retry/rate-limited", test_run_retry_rate_limited);
  g_test_add_func ("/engine/run/create-fails-first", test_run_create_fails_first);
  for (gsize i = 0; i < G_N_ELEMENTS (empty_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/no-items/%s", empty_cases[i].name);
      g_test_add_data_func (path, &empty_cases[i], test_run_no_items);
    }
  g_test_add_func ("/engine/run/empty-lines", test_run_empty_lines);
  g_test_add_func ("/engine/run/stop", test_run_stop);
  for (gsize i = 0; i < G_N_ELEMENTS (deep_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/deep-splits/%u", deep_cases[i]);
      g_test_add_data_func (path, &deep_cases[i], test_run_deep_splits);
    }
  g_test_add_func ("/engine/run/deep-splits/beyond-limit", test_run_deep_splits_beyond_limit);
  for (gsize i = 0; i < G_N_ELEMENTS (misuse_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/run/api-misuse/%s", misuse_cases[i].name);
      g_test_add_data_func (path, &misuse_cases[i], test_run_api_misuse);
    }
  g_test_add_func ("/engine/run/split-streams", test_run_split_streams);
  for (gsize i = 0; i < G_N_ELEMENTS (wide_order_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/run/split-order-wide/%s", wide_order_cases[i].name);
      g_test_add_data_func (path, &wide_order_cases[i], test_run_split_order_wide);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (flaky_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/run/split-retry-mid-stream/%s", flaky_cases[i].name);
      g_test_add_data_func (path, &flaky_cases[i], test_run_split_retry_mid_stream);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (fail_mid_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/run/split-fails-mid-stream/%s", fail_mid_cases[i].name);
      g_test_add_data_func (path, &fail_mid_cases[i], test_run_split_fails_mid_stream);
    }

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
