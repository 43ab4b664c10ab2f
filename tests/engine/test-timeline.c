/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of SutraTimeline: the run's samples in the journal, bounded however long it runs. */

#include "sutra-test-util.h"
#include "sutra-timeline.h"

static SutraRegistry *registry;
static char *registry_problem;

typedef struct
{
  char *dir;
  SutraPipeline *pipeline;
  SutraRun *run;
  SutraJournal *journal;
} Fixture;

static gboolean
fixture_setup (Fixture *fixture)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *input = NULL;
  g_autofree char *journal_path = NULL;
  g_autofree char *text = NULL;

  if (registry_problem != NULL)
    {
      g_test_skip (registry_problem);
      return FALSE;
    }
  fixture->dir = sutra_test_dir ();
  input = sutra_test_write (fixture->dir, "in.txt", "a\nb\nc\n", -1);
  text = g_strdup_printf (
    "{ \"sutra\": 1, \"name\": \"sampled\", \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"%s\" } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"read\",\n"
    "             \"params\": { \"path\": \"%s/out.jsonl\" } } } }\n",
    input, fixture->dir);
  fixture->pipeline =
    sutra_pipeline_load_from_data ("sampled.json", text, -1, registry, NULL, &error);
  g_assert_no_error (error);
  fixture->run = sutra_run_new (fixture->pipeline);
  journal_path = g_build_filename (fixture->dir, "journal.db", NULL);
  fixture->journal = sutra_journal_open (journal_path, &error);
  g_assert_no_error (error);
  return TRUE;
}

static void
fixture_teardown (Fixture *fixture)
{
  g_clear_pointer (&fixture->journal, sutra_journal_close);
  g_clear_pointer (&fixture->run, sutra_run_free);
  g_clear_pointer (&fixture->pipeline, sutra_pipeline_free);
  g_free (fixture->dir);
}

static void
commit (Fixture *fixture)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (sutra_journal_commit (fixture->journal, NULL, &error), >=, 0);
  g_assert_no_error (error);
}

static void
collect_rows (int n, const char *const *values, gpointer data)
{
  GPtrArray *rows = data;

  for (int i = 0; i < n; i++)
    g_ptr_array_add (rows, g_strdup (values[i] != NULL ? values[i] : "(null)"));
}

/* The query's values, row after row, as one array. */
static GPtrArray *
query (Fixture *fixture, const char *sql)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;

  g_assert_true (sutra_journal_query (fixture->journal, sql, collect_rows, rows, &error));
  g_assert_no_error (error);
  return rows;
}

static void
test_timeline_records_run (void)
{
  Fixture fixture = { 0 };
  g_autoptr (SutraTimeline) timeline = NULL;
  g_autoptr (GPtrArray) run = NULL;
  g_autoptr (GPtrArray) samples = NULL;

  g_test_summary ("A run's row names its command, pipeline, inputs and outputs; each sample "
                  "is one row per stage");
  if (!fixture_setup (&fixture))
    return;
  timeline = sutra_timeline_new (fixture.run, fixture.pipeline, fixture.journal, G_USEC_PER_SEC,
                                 SUTRA_TIMELINE_MAX_SAMPLES);
  g_assert_cmpuint (sutra_timeline_get_run_id (timeline), ==, 1);
  sutra_timeline_sample (timeline);
  sutra_timeline_sample (timeline);
  /* The run never started: its stages are waiting, so it stopped. */
  sutra_timeline_finish (timeline, NULL);
  commit (&fixture);

  run = query (&fixture, "SELECT run, state, command, pipeline, inputs, outputs, message, "
                         "finished >= started FROM runs");
  g_assert_cmpuint (run->len, ==, 8);
  g_assert_cmpstr (run->pdata[0], ==, "1");
  g_assert_cmpstr (run->pdata[1], ==, "stopped");
  sutra_assert_contains (run->pdata[2], "test-timeline");
  g_assert_cmpstr (run->pdata[3], ==, "sampled.json");
  g_assert_true (g_str_has_suffix (run->pdata[4], "/in.txt"));
  g_assert_true (g_str_has_suffix (run->pdata[5], "/out.jsonl"));
  g_assert_cmpstr (run->pdata[6], ==, "(null)");
  g_assert_cmpstr (run->pdata[7], ==, "1");

  samples = query (&fixture, "SELECT seq, stage, state FROM timeline ORDER BY seq, stage");
  g_assert_cmpuint (samples->len, ==, 3 * 2 * 3);
  g_assert_cmpstr (samples->pdata[0], ==, "0");
  g_assert_cmpstr (samples->pdata[1], ==, "read");
  g_assert_cmpstr (samples->pdata[2], ==, "waiting");
  g_assert_cmpstr (samples->pdata[4], ==, "write");
  g_assert_cmpstr (samples->pdata[6], ==, "1");
  g_assert_cmpstr (samples->pdata[12], ==, "2");
  fixture_teardown (&fixture);
}

static void
test_timeline_failed_run (void)
{
  Fixture fixture = { 0 };
  g_autoptr (SutraTimeline) first = NULL;
  g_autoptr (SutraTimeline) second = NULL;
  g_autoptr (GPtrArray) runs = NULL;

  g_test_summary ("A run given a message failed and keeps it; the next run of the job gets "
                  "the next number");
  if (!fixture_setup (&fixture))
    return;
  first = sutra_timeline_new (fixture.run, fixture.pipeline, fixture.journal, G_USEC_PER_SEC, 16);
  sutra_timeline_finish (first, "stage “write”: disk <full> & more");
  commit (&fixture);
  second = sutra_timeline_new (fixture.run, fixture.pipeline, fixture.journal, G_USEC_PER_SEC, 16);
  g_assert_cmpuint (sutra_timeline_get_run_id (second), ==, 2);
  sutra_timeline_start (second);
  commit (&fixture);
  runs = query (&fixture, "SELECT run, state, message FROM runs ORDER BY run");
  g_assert_cmpuint (runs->len, ==, 6);
  g_assert_cmpstr (runs->pdata[1], ==, "failed");
  g_assert_cmpstr (runs->pdata[2], ==, "stage “write”: disk <full> & more");
  /* Not finished yet: a report reads it as running, or killed. */
  g_assert_cmpstr (runs->pdata[3], ==, "2");
  g_assert_cmpstr (runs->pdata[4], ==, "running");
  fixture_teardown (&fixture);
}

static void
test_timeline_unstarted_run (void)
{
  Fixture fixture = { 0 };
  g_autoptr (SutraTimeline) timeline = NULL;
  g_autoptr (GPtrArray) runs = NULL;

  g_test_summary ("A run whose stages could not start is recorded as failed at once, with "
                  "nothing else: no commit follows it");
  if (!fixture_setup (&fixture))
    return;
  timeline = sutra_timeline_new (fixture.run, fixture.pipeline, fixture.journal, G_USEC_PER_SEC,
                                 SUTRA_TIMELINE_MAX_SAMPLES);
  sutra_timeline_finish_unstarted (timeline, "stage “write” could not start: no room");
  /* Written at once, and nothing pending would overwrite it. */
  g_assert_false (sutra_journal_has_pending (fixture.journal));
  runs = query (&fixture, "SELECT run, state, message, finished >= started FROM runs");
  g_assert_cmpuint (runs->len, ==, 4);
  g_assert_cmpstr (runs->pdata[1], ==, "failed");
  g_assert_cmpstr (runs->pdata[2], ==, "stage “write” could not start: no room");
  g_assert_cmpstr (runs->pdata[3], ==, "1");
  fixture_teardown (&fixture);
}

typedef struct
{
  const char *name;
  guint max_samples;
  guint64 ticks;  /* how long the run lasts, in sampling intervals */
  guint64 stride; /* expected at its end */
} ThinCase;

static const ThinCase thin_cases[] = {
  { "below-max", 8, 7, 1 },
  { "at-max", 8, 8, 2 },
  { "odd-max", 5, 12, 4 },
  { "long-run", 16, 1000, 128 },
  { "34-hours", SUTRA_TIMELINE_MAX_SAMPLES, 34 * 3600, 128 },
};

static void
test_timeline_thins (gconstpointer data)
{
  const ThinCase *row = data;
  Fixture fixture = { 0 };
  g_autoptr (SutraTimeline) timeline = NULL;
  g_autoptr (GPtrArray) seqs = NULL;
  guint64 previous = 0;

  g_test_summary ("Past the most samples, every other one goes and the interval doubles: "
                  "the rows stay between half and all of the most, spread over the whole run");
  if (!fixture_setup (&fixture))
    return;
  timeline = sutra_timeline_new (fixture.run, fixture.pipeline, fixture.journal, G_USEC_PER_SEC,
                                 row->max_samples);
  /* What the sampling thread does on each tick, without waiting for it. */
  for (guint i = 0; sutra_timeline_get_next_tick (timeline) < row->ticks; i++)
    {
      sutra_timeline_sample (timeline);
      /* Commits come in between, as during a run. */
      if (i % 97 == 0)
        commit (&fixture);
    }
  commit (&fixture);
  seqs = query (&fixture, "SELECT seq FROM timeline WHERE stage = 'read' ORDER BY seq");
  g_assert_cmpuint (seqs->len, <=, row->max_samples);
  g_assert_cmpuint (seqs->len, >=, MIN (row->ticks, row->max_samples / 2));
  g_assert_cmpstr (seqs->pdata[0], ==, "0");
  for (guint i = 0; i < seqs->len; i++)
    {
      guint64 seq = g_ascii_strtoull (seqs->pdata[i], NULL, 10);

      g_assert_cmpuint (seq % row->stride, ==, 0);
      if (i > 0)
        g_assert_cmpuint (seq, ==, previous + row->stride);
      previous = seq;
    }
  /* The samples cover the whole run, up to its end. */
  g_assert_cmpuint (previous, <, row->ticks);
  g_assert_cmpuint (previous + row->stride, >=, row->ticks);
  fixture_teardown (&fixture);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    registry_problem = g_strdup_printf ("the plugins did not load: %s", error->message);

  g_test_add_func ("/engine/timeline/records-run", test_timeline_records_run);
  g_test_add_func ("/engine/timeline/failed-run", test_timeline_failed_run);
  g_test_add_func ("/engine/timeline/unstarted-run", test_timeline_unstarted_run);
  for (gsize i = 0; i < G_N_ELEMENTS (thin_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/timeline/thins/%s", thin_cases[i].name);

      g_test_add_data_func (path, &thin_cases[i], test_timeline_thins);
    }
  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
