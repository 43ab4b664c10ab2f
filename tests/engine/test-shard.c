/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-shard.c: --shard parsed (given, from a launcher's
 * variables, gather), batches dealt round the shards, the shard stages of
 * a pipeline, and the markers the gather reads. */

#include "sutra-shard.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* parse ------------------------------------------------------------------- */

#define OK (-1)

typedef struct
{
  const char *name; /* the test path's end */
  const char *text; /* --shard */
  guint count;      /* --shard-count, 0: not given */
  const char *environ[8];
  int code; /* OK, or the SutraShardError expected */
  /* When OK: what the shard must be. */
  SutraShardRole role;
  guint index;
  guint n;
  const char *origin;
  /* Otherwise: what the message must say. */
  const char *needles[6];
} ParseCase;

#define PMI_ORIGIN "PMI (MPICH, Intel MPI, srun --mpi)"

static const ParseCase parse_cases[] = {
  /* K/N given. */
  { "k-of-n/first", "0/4", 0, { NULL }, OK, SUTRA_SHARD_PART, 0, 4, "--shard" },
  { "k-of-n/last", "3/4", 0, { NULL }, OK, SUTRA_SHARD_PART, 3, 4, "--shard" },
  { "k-of-n/one-shard", "0/1", 0, { NULL }, OK, SUTRA_SHARD_PART, 0, 1, "--shard" },
  { "k-of-n/most-shards",
    "99999/100000",
    0,
    { NULL },
    OK,
    SUTRA_SHARD_PART,
    99999,
    100000,
    "--shard" },
  { "k-of-n/leading-zeros", "03/08", 0, { NULL }, OK, SUTRA_SHARD_PART, 3, 8, "--shard" },
  { "k-of-n/count-agrees", "1/4", 4, { NULL }, OK, SUTRA_SHARD_PART, 1, 4, "--shard" },
  /* A launcher's variables do not matter when K/N is given. */
  { "k-of-n/launcher-ignored",
    "1/4",
    0,
    { "OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=8", "SUTRA_SHARD_COUNT=8", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    4,
    "--shard" },
  { "k-of-n/count-disagrees",
    "1/4",
    8,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "--shard 1/4", "--shard-count 8", "disagree" } },
  { "k-of-n/k-equals-n",
    "4/4",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "--shard 4/4", "shard 4 of 4", "numbered 0 to 3" } },
  { "k-of-n/k-above-n",
    "9/4",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "shard 9 of 4", "numbered 0 to 3" } },
  { "k-of-n/no-shards",
    "0/0",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "--shard 0/0", "the count must be 1 to 100000" } },
  { "k-of-n/too-many-shards",
    "0/100001",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "100001 shards", "the count must be 1 to 100000" } },
  /* Past what a guint holds: still a number, so a range error, not
   * "expected K/N". */
  { "k-of-n/count-past-guint",
    "0/4294967296",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "4294967296 shards", "the count must be 1 to 100000" } },
  { "k-of-n/index-past-guint",
    "4294967296/4",
    0,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "shard 4294967296 of 4" } },
#define SYNTAX_ERROR(row, text)                                              \
  {                                                                          \
    "syntax/" row, text, 0, { NULL }, SUTRA_SHARD_ERROR_SYNTAX, .needles = { \
      "--shard “" text "”",                                                  \
      "expected K/N",                                                        \
      "“auto”",                                                              \
      "“gather”"                                                         \
    }                                                                        \
  }
  SYNTAX_ERROR ("empty", ""),
  SYNTAX_ERROR ("no-slash", "1"),
  SYNTAX_ERROR ("no-count", "1/"),
  SYNTAX_ERROR ("no-index", "/4"),
  SYNTAX_ERROR ("letters", "a/b"),
  SYNTAX_ERROR ("space-before", " 1/4"),
  SYNTAX_ERROR ("space-after", "1/4 "),
  SYNTAX_ERROR ("space-before-slash", "1 /4"),
  SYNTAX_ERROR ("space-after-slash", "1/ 4"),
  SYNTAX_ERROR ("minus", "-1/4"),
  SYNTAX_ERROR ("plus", "+1/4"),
  SYNTAX_ERROR ("negative-count", "1/-4"),
  SYNTAX_ERROR ("two-slashes", "1/4/8"),
  SYNTAX_ERROR ("hexadecimal", "0x1/4"),
  SYNTAX_ERROR ("decimal-point", "1.0/4"),
  SYNTAX_ERROR ("auto-in-capitals", "AUTO"),
  SYNTAX_ERROR ("gather-capitalized", "Gather"),
  SYNTAX_ERROR ("auto-with-space", "auto "),
#undef SYNTAX_ERROR

  /* gather: a count only when given; a launcher's is not the gather's. */
  { "gather/plain", "gather", 0, { NULL }, OK, SUTRA_SHARD_GATHER, 0, 0, "--shard" },
  { "gather/count", "gather", 4, { NULL }, OK, SUTRA_SHARD_GATHER, 0, 4, "--shard" },
  { "gather/env-count",
    "gather",
    0,
    { "SUTRA_SHARD_COUNT=4", NULL },
    OK,
    SUTRA_SHARD_GATHER,
    0,
    4,
    "--shard" },
  { "gather/count-over-env",
    "gather",
    4,
    { "SUTRA_SHARD_COUNT=8", NULL },
    OK,
    SUTRA_SHARD_GATHER,
    0,
    4,
    "--shard" },
  { "gather/launcher-ignored",
    "gather",
    0,
    { "OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=4", NULL },
    OK,
    SUTRA_SHARD_GATHER,
    0,
    0,
    "--shard" },
  { "gather/too-many-shards",
    "gather",
    100001,
    { NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "100001 shards", "the count must be 1 to 100000" } },
  { "gather/env-count-junk",
    "gather",
    0,
    { "SUTRA_SHARD_COUNT=four", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "SUTRA_SHARD_COUNT=“four”" } },

  /* auto: each launcher. */
  { "auto/slurm-array",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4", NULL },
    OK,
    SUTRA_SHARD_PART,
    2,
    4,
    "Slurm job array" },
  { "auto/slurm-array-from-zero",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_ARRAY_TASK_MIN=0",
      "SLURM_ARRAY_TASK_MAX=3", NULL },
    OK,
    SUTRA_SHARD_PART,
    3,
    4,
    "Slurm job array" },
  /* --array=1-4: four tasks, but task 4 is no shard of 4. */
  { "auto/slurm-array-from-one",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_ARRAY_TASK_MIN=1",
      "SLURM_ARRAY_TASK_MAX=4", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "Slurm job array", "tasks 1 to 4", "--shard-count N", "SUTRA_SHARD_COUNT=N" } },
  { "auto/slurm-array-bad-max",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=0", "SLURM_ARRAY_TASK_COUNT=2", "SLURM_ARRAY_TASK_MIN=0",
      "SLURM_ARRAY_TASK_MAX=x", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "tasks 0 to x" } },
  /* --array=2, re-submitted for the task that failed: one task, numbered
   * 2; only a count given says of how many. */
  { "auto/slurm-array-resubmitted",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=1", "SLURM_ARRAY_TASK_MIN=2",
      "SLURM_ARRAY_TASK_MAX=2", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "tasks 2 to 2", "--shard-count N" } },
  { "auto/slurm-array-resubmitted-count",
    "auto",
    4,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=1", "SLURM_ARRAY_TASK_MIN=2",
      "SLURM_ARRAY_TASK_MAX=2", NULL },
    OK,
    SUTRA_SHARD_PART,
    2,
    4,
    "Slurm job array" },
  { "auto/slurm-array-resubmitted-env",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=1", "SLURM_ARRAY_TASK_MIN=2",
      "SLURM_ARRAY_TASK_MAX=2", "SUTRA_SHARD_COUNT=4", NULL },
    OK,
    SUTRA_SHARD_PART,
    2,
    4,
    "Slurm job array" },
  { "auto/slurm-array-id-past-count",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=4", "SLURM_ARRAY_TASK_COUNT=4", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "Slurm job array", "shard 4 of 4" } },
  { "auto/slurm-tasks",
    "auto",
    0,
    { "SLURM_PROCID=1", "SLURM_NTASKS=3", "SLURM_STEP_ID=0", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    3,
    "Slurm tasks" },
  /* An sbatch --ntasks script that runs sutra itself, not through srun:
   * its one process is the batch step, with no step id. */
  { "auto/slurm-batch-step",
    "auto",
    0,
    { "SLURM_PROCID=0", "SLURM_NTASKS=4", "SLURM_JOB_ID=7", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "Slurm tasks", "no SLURM_STEP_ID", "batch script itself", "srun" } },
  { "auto/slurm-no-tasks",
    "auto",
    0,
    { "SLURM_PROCID=0", "SLURM_NTASKS=0", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "Slurm tasks", "the count must be 1 to 100000" } },
  { "auto/open-mpi",
    "auto",
    0,
    { "OMPI_COMM_WORLD_RANK=5", "OMPI_COMM_WORLD_SIZE=8", NULL },
    OK,
    SUTRA_SHARD_PART,
    5,
    8,
    "Open MPI" },
  { "auto/pmi",
    "auto",
    0,
    { "PMI_RANK=1", "PMI_SIZE=2", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    2,
    PMI_ORIGIN },
  { "auto/kubernetes-no-count",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=3", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "Kubernetes Indexed Job", "JOB_COMPLETION_INDEX=3", "--shard-count N",
                 "SUTRA_SHARD_COUNT=N" } },
  { "auto/kubernetes-count",
    "auto",
    4,
    { "JOB_COMPLETION_INDEX=3", NULL },
    OK,
    SUTRA_SHARD_PART,
    3,
    4,
    "Kubernetes Indexed Job" },
  { "auto/kubernetes-env-count",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=3", "SUTRA_SHARD_COUNT=4", NULL },
    OK,
    SUTRA_SHARD_PART,
    3,
    4,
    "Kubernetes Indexed Job" },
  { "auto/kubernetes-index-past-count",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=4", "SUTRA_SHARD_COUNT=4", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "shard 4 of 4" } },

  /* auto: counts given. */
  { "auto/count-over-launcher",
    "auto",
    4,
    { "OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    4,
    "Open MPI" },
  { "auto/env-count-over-launcher",
    "auto",
    0,
    { "SLURM_PROCID=1", "SLURM_NTASKS=2", "SLURM_STEP_ID=0", "SUTRA_SHARD_COUNT=6", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    6,
    "Slurm tasks" },
  { "auto/count-over-env",
    "auto",
    2,
    { "JOB_COMPLETION_INDEX=1", "SUTRA_SHARD_COUNT=8", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    2,
    "Kubernetes Indexed Job" },
  { "auto/count-too-large",
    "auto",
    100001,
    { "JOB_COMPLETION_INDEX=0", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "100001 shards", "1 to 100000" } },
  /* Set but empty is not set. */
  { "auto/env-count-empty",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=0", "SUTRA_SHARD_COUNT=", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "--shard-count N" } },
  { "auto/env-count-zero",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=0", "SUTRA_SHARD_COUNT=0", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "SUTRA_SHARD_COUNT=“0”", "1 to 100000" } },
  { "auto/env-count-junk",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=0", "SUTRA_SHARD_COUNT= 4", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "SUTRA_SHARD_COUNT=“ 4”" } },
  { "auto/env-count-too-large",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=0", "SUTRA_SHARD_COUNT=100001", NULL },
    SUTRA_SHARD_ERROR_RANGE,
    .needles = { "100001 shards", "1 to 100000" } },

  /* auto: a launcher's bad variables. */
  { "auto/index-not-a-number",
    "auto",
    0,
    { "OMPI_COMM_WORLD_RANK=x", "OMPI_COMM_WORLD_SIZE=2", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "Open MPI", "OMPI_COMM_WORLD_RANK=“x”", "not a task number" } },
  { "auto/index-negative",
    "auto",
    0,
    { "PMI_RANK=-1", "PMI_SIZE=2", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "PMI_RANK=“-1”", "not a task number" } },
  { "auto/index-empty",
    "auto",
    0,
    { "SLURM_PROCID=", "SLURM_NTASKS=2", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "SLURM_PROCID=“”", "not a task number" } },
  { "auto/count-not-a-number",
    "auto",
    0,
    { "OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=two", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "OMPI_COMM_WORLD_SIZE=“two”", "not a task count" } },
  { "auto/count-missing",
    "auto",
    0,
    { "PMI_RANK=0", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "PMI_RANK=0", "not how many", "--shard-count N" } },

  /* auto: which launcher wins when several set their variables. mpirun in
   * a Slurm allocation inherits the batch step's SLURM_PROCID, 0 in every
   * rank. */
  { "auto/precedence/open-mpi-over-slurm-tasks",
    "auto",
    0,
    { "OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=4", "SLURM_PROCID=0", "SLURM_NTASKS=1",
      NULL },
    OK,
    SUTRA_SHARD_PART,
    2,
    4,
    "Open MPI" },
  { "auto/precedence/pmi-over-slurm-tasks",
    "auto",
    0,
    { "PMI_RANK=3", "PMI_SIZE=4", "SLURM_PROCID=0", "SLURM_NTASKS=1", NULL },
    OK,
    SUTRA_SHARD_PART,
    3,
    4,
    PMI_ORIGIN },
  { "auto/precedence/open-mpi-over-pmi",
    "auto",
    0,
    { "PMI_RANK=0", "PMI_SIZE=1", "OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    2,
    "Open MPI" },
  /* The batch step of an array task has SLURM_PROCID=0 too. */
  { "auto/precedence/slurm-array-over-slurm-tasks",
    "auto",
    0,
    { "SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=2",
      NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    2,
    "Slurm job array" },
  /* An array task that runs sutra through srun with --mpi=pmi2 (or a site's
   * MpiDefault) has a step of one task: PMI_RANK=0 of PMI_SIZE=1 in every
   * array task, which would make each of them shard 0 of 1, the whole job. */
  { "auto/precedence/slurm-array-over-pmi",
    "auto",
    0,
    { "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_PROCID=0", "SLURM_NTASKS=1",
      "PMI_RANK=0", "PMI_SIZE=1", NULL },
    OK,
    SUTRA_SHARD_PART,
    2,
    4,
    "Slurm job array" },
  { "auto/precedence/slurm-tasks-over-kubernetes",
    "auto",
    0,
    { "JOB_COMPLETION_INDEX=0", "SLURM_PROCID=1", "SLURM_NTASKS=2", "SLURM_STEP_ID=0", NULL },
    OK,
    SUTRA_SHARD_PART,
    1,
    2,
    "Slurm tasks" },

  /* auto: no launcher. */
  { "auto/no-launcher",
    "auto",
    0,
    { "HOME=/home/me", "SLURM_JOB_ID=7", "OMPI_COMM_WORLD_SIZE=4", NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "SLURM_ARRAY_TASK_ID, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK, "
                 "JOB_COMPLETION_INDEX",
                 "--shard K/N" } },
  { "auto/empty-environment",
    "auto",
    4,
    { NULL },
    SUTRA_SHARD_ERROR_LAUNCHER,
    .needles = { "no launcher said which shard this is", "--shard K/N" } },
};

static void
test_shard_parse (gconstpointer data)
{
  const ParseCase *row = data;
  g_autoptr (GError) error = NULL;
  SutraShard shard;
  gboolean ok;

  g_test_summary ("--shard K/N, auto (from each launcher's variables, in an explicit "
                  "environment) and gather give the shard they say, or an error of the right "
                  "code that names what was wrong and the fix");
  /* Garbage in every field: parse must set them all. */
  memset (&shard, 0xa5, sizeof shard);
  ok = sutra_shard_parse (row->text, row->count, row->environ, &shard, &error);
  if (row->code == OK)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpint (shard.role, ==, row->role);
      g_assert_cmpuint (shard.index, ==, row->index);
      g_assert_cmpuint (shard.count, ==, row->n);
      g_assert_cmpstr (shard.origin, ==, row->origin);
      g_assert_false (shard.missing_fails);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, SUTRA_SHARD_ERROR, row->code);
  for (guint i = 0; i < G_N_ELEMENTS (row->needles) && row->needles[i] != NULL; i++)
    sutra_assert_contains (error->message, row->needles[i]);
}

/* owns -------------------------------------------------------------------- */

static void
test_shard_owns_partitions (void)
{
  static const guint counts[] = { 1, 2, 3, 7, 64, 1000 };
  /* Where the seqs start: the first batch, and near the top of the range
   * (where a sum or a product would wrap). */
  static const guint64 starts[] = { 0, 12345, G_MAXUINT64 - 5000 };
  const guint n_seqs = 5000;

  g_test_summary ("Dealt round the shards by seq, every batch has exactly one owner among "
                  "shards 0..N-1, and shards own as many batches as each other, give or take "
                  "one; an unsharded run and the gather own every batch");
  for (guint c = 0; c < G_N_ELEMENTS (counts); c++)
    for (guint s = 0; s < G_N_ELEMENTS (starts); s++)
      {
        guint count = counts[c];
        g_autofree guint *owned = g_new0 (guint, count);
        guint least = G_MAXUINT;
        guint most = 0;

        for (guint64 seq = starts[s]; seq - starts[s] < n_seqs; seq++)
          {
            guint n_owners = 0;

            for (guint k = 0; k < count; k++)
              {
                SutraShard shard = { .role = SUTRA_SHARD_PART, .index = k, .count = count };

                if (sutra_shard_owns (&shard, seq))
                  {
                    n_owners++;
                    owned[k]++;
                  }
              }
            if (n_owners != 1)
              g_test_message ("seq %" G_GUINT64_FORMAT " of %u shards", seq, count);
            g_assert_cmpuint (n_owners, ==, 1);
          }
        for (guint k = 0; k < count; k++)
          {
            least = MIN (least, owned[k]);
            most = MAX (most, owned[k]);
          }
        g_assert_cmpuint (most - least, <=, 1);
        g_assert_cmpuint (least, ==, n_seqs / count);
      }

  for (guint64 seq = 0; seq < 100; seq++)
    {
      SutraShard whole = { .role = SUTRA_SHARD_NONE };
      SutraShard gather = { .role = SUTRA_SHARD_GATHER, .count = 4 };

      g_assert_true (sutra_shard_owns (&whole, seq));
      g_assert_true (sutra_shard_owns (&gather, seq));
    }
}

static void
test_shard_name (void)
{
  g_autofree char *first = sutra_shard_name (0, 1);
  g_autofree char *other = sutra_shard_name (12, 100);

  g_test_summary ("A shard's name in files is K-of-N");
  g_assert_cmpstr (first, ==, "0-of-1");
  g_assert_cmpstr (other, ==, "12-of-100");
}

/* find_stages ------------------------------------------------------------- */

static SutraRegistry *registry;
static char *registry_problem;

#define PIPELINE(stages) "{ \"sutra\": 1, \"name\": \"sharded\", \"stages\": { " stages " } }"
#define SOURCE "\"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\" } }"
#define STAGE(name, plugin, input, extra) \
  ", \"" name "\": { \"plugin\": \"" plugin "\", \"input\": " input extra " }"
#define MAP(name, input) STAGE (name, "identity", "\"" input "\"", "")
#define SPLIT(name, input) STAGE (name, "text-split", "\"" input "\"", "")
#define JOIN(name, input) STAGE (name, "text-join", "\"" input "\"", "")
#define SINK(name, input) \
  STAGE (name, "jsonl-sink", "\"" input "\"", ", \"params\": { \"path\": \"" name ".jsonl\" }")
#define UNSTORED ", \"checkpoint\": false"

typedef struct
{
  const char *name;
  const char *text;
  /* The shard stages (none when the pipeline is refused). */
  const char *shard_stages[4];
  gboolean refused;
} StagesCase;

static const StagesCase stages_cases[] = {
  { "map-feeds-sink", PIPELINE (SOURCE MAP ("pass", "read") SINK ("write", "pass")), { "pass" } },
  /* Only the last map of a chain: the others' outputs feed a map. */
  { "chain-of-maps",
    PIPELINE (SOURCE MAP ("first", "read") MAP ("second", "first") SINK ("write", "second")),
    { "second" } },
  { "split-feeds-sink",
    PIPELINE (SOURCE SPLIT ("split", "read") SINK ("write", "split")),
    { "split" } },
  /* The map before the gather, not the split before it nor the map after. */
  { "map-feeds-gather",
    PIPELINE (SOURCE SPLIT ("split", "read") MAP ("work", "split") JOIN ("join", "work")
                MAP ("after", "join") SINK ("write", "after")),
    { "work" } },
  /* Two branches, two shard stages. */
  { "two-branches",
    PIPELINE (SOURCE MAP ("left", "read") SINK ("left-out", "left") MAP ("right", "read")
                SINK ("right-out", "right")),
    { "left", "right" } },
  /* A shard stage that also feeds a map: the map, though it feeds a sink,
   * is downstream of a shard stage, so it is the gather's. */
  { "downstream-of-shard-stage",
    PIPELINE (SOURCE MAP ("first", "read") SINK ("first-out", "first") MAP ("second", "first")
                SINK ("second-out", "second")),
    { "first" } },
  /* A map fed by two maps. */
  { "fan-in",
    PIPELINE (SOURCE MAP ("left", "read") MAP ("right", "read")
                STAGE ("both", "identity", "[\"left\", \"right\"]", "") SINK ("write", "both")),
    { "both" } },
  /* The last map does not store its outputs: the one before feeds a map,
   * not a sink, so nothing qualifies. */
  { "map-unstored",
    PIPELINE (SOURCE STAGE ("pass", "identity", "\"read\"", UNSTORED) SINK ("write", "pass")),
    .refused = TRUE },
  { "map-before-unstored",
    PIPELINE (SOURCE MAP ("first", "read") STAGE ("second", "identity", "\"first\"", UNSTORED)
                SINK ("write", "second")),
    .refused = TRUE },
  { "source-feeds-sink", PIPELINE (SOURCE SINK ("write", "read")), .refused = TRUE },
  { "split-feeds-gather",
    PIPELINE (SOURCE SPLIT ("split", "read") JOIN ("join", "split") SINK ("write", "join")),
    { "split" } },
  { "unstored-map-feeds-gather",
    PIPELINE (SOURCE SPLIT ("split", "read") STAGE ("work", "identity", "\"split\"", UNSTORED)
                JOIN ("join", "work") SINK ("write", "join")),
    .refused = TRUE },
};

static gboolean
is_listed (const char *const *names, guint n_names, const char *name)
{
  for (guint i = 0; i < n_names && names[i] != NULL; i++)
    if (strcmp (names[i], name) == 0)
      return TRUE;
  return FALSE;
}

static void
test_shard_find_stages (gconstpointer data)
{
  const StagesCase *row = data;
  g_autoptr (GError) error = NULL;
  g_autofree gboolean *marked = NULL;
  SutraPipeline *pipeline;
  gboolean ok;

  g_test_summary ("The shard stages are the maps and splits that store their outputs and feed "
                  "a gather or a sink, but for those downstream of another; a pipeline with "
                  "none is refused, naming it and what a shard stage is");
  if (registry_problem != NULL)
    {
      g_test_skip_printf ("the built-in plugins did not load: %s", registry_problem);
      return;
    }
  pipeline = sutra_pipeline_load_from_data_full ("sharded.json", row->text, -1, registry, NULL,
                                                 SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY, &error);
  g_assert_no_error (error);
  /* TRUE everywhere: find_stages must say something of every stage. */
  marked = g_new (gboolean, pipeline->stages->len);
  for (guint i = 0; i < pipeline->stages->len; i++)
    marked[i] = TRUE;
  ok = sutra_shard_find_stages (pipeline, marked, &error);
  if (row->refused)
    {
      g_assert_false (ok);
      g_assert_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_PIPELINE);
      sutra_assert_contains (error->message, "pipeline “sharded”");
      sutra_assert_contains (error->message, "\"checkpoint\"");
      sutra_assert_contains (error->message, "a gather or a sink");
    }
  else
    {
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      gboolean expected =
        is_listed (row->shard_stages, G_N_ELEMENTS (row->shard_stages), spec->name);

      if (marked[spec->index] != expected)
        g_test_message ("stage “%s”", spec->name);
      g_assert_cmpint (marked[spec->index], ==, expected);
    }
  sutra_pipeline_free (pipeline);
}

/* Markers ----------------------------------------------------------------- */

#define KEY "5d1f0c3e9a7b2468ace013579bdf02468ace013579bdf02468ace013579bdf0"
#define OTHER_KEY "0000000000000000000000000000000000000000000000000000000000000001"

static void
write_marker (const char *store, const char *key, guint index, guint count)
{
  g_autoptr (GError) error = NULL;
  SutraShard shard = { .role = SUTRA_SHARD_PART, .index = index, .count = count };

  g_assert_true (sutra_shard_write_marker (store, key, &shard, &error));
  g_assert_no_error (error);
}

/* sutra_shard_find_missing(), which must succeed; the missing shards as
 * "1,3" and N in *@found_count. */
static char *
find_missing (const char *store, const char *key, guint count, guint *found_count)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) missing = NULL;
  g_autoptr (GString) text = g_string_new (NULL);

  *found_count = 12345;
  g_assert_true (sutra_shard_find_missing (store, key, count, &missing, found_count, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < missing->len; i++)
    g_string_append_printf (text, "%s%u", i > 0 ? "," : "", g_array_index (missing, guint, i));
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
test_shard_marker_round_trip (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autofree char *path = g_build_filename (store, "shards", KEY, "2-of-4", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = NULL;
  JsonObject *marker;
  guint count;

  g_test_summary ("A marker is STORE/shards/KEY/K-of-N, JSON naming the shard; the gather finds "
                  "which shards have none, and N from the markers when not given");
  write_marker (store, KEY, 0, 4);
  write_marker (store, KEY, 2, 4);
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  marker = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (marker, "shard"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (marker, "count"), ==, 4);
  g_assert_cmpstr (json_object_get_string_member (marker, "host"), ==, g_get_host_name ());
  g_assert_cmpint (json_object_get_int_member (marker, "finished"), >, 0);

  missing = find_missing (store, KEY, 0, &count);
  g_assert_cmpstr (missing, ==, "1,3");
  g_assert_cmpuint (count, ==, 4);
  g_free (missing);
  missing = find_missing (store, KEY, 4, &count);
  g_assert_cmpstr (missing, ==, "1,3");
  g_assert_cmpuint (count, ==, 4);

  /* Another work's markers are not this one's. */
  g_free (missing);
  missing = find_missing (store, OTHER_KEY, 0, &count);
  g_assert_cmpstr (missing, ==, "");
  g_assert_cmpuint (count, ==, 0);

  /* The others finish; a shard run again leaves its marker again. */
  write_marker (store, KEY, 3, 4);
  write_marker (store, KEY, 1, 4);
  write_marker (store, KEY, 1, 4);
  g_free (missing);
  missing = find_missing (store, KEY, 0, &count);
  g_assert_cmpstr (missing, ==, "");
  g_assert_cmpuint (count, ==, 4);
}

static void
test_shard_marker_none (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autofree char *missing = NULL;
  guint count;

  g_test_summary ("With no marker the gather knows no count, unless given one: then every shard "
                  "is missing");
  missing = find_missing (store, KEY, 0, &count);
  g_assert_cmpstr (missing, ==, "");
  g_assert_cmpuint (count, ==, 0);
  g_free (missing);
  missing = find_missing (store, KEY, 3, &count);
  g_assert_cmpstr (missing, ==, "0,1,2");
  g_assert_cmpuint (count, ==, 3);
}

static void
test_shard_marker_missing_sorted (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autoptr (GString) expected = g_string_new (NULL);
  g_autofree char *missing = NULL;
  const guint n = 60;
  guint count;

  g_test_summary ("The missing shards come sorted, whatever order the markers were written "
                  "and are listed in");
  /* Every shard not a multiple of 3, last first, and the first and last. */
  for (guint k = n; k-- > 0;)
    if (k % 3 != 0 || k == 0 || k == n - 1)
      write_marker (store, KEY, k, n);
  for (guint k = 3; k < n - 1; k += 3)
    g_string_append_printf (expected, "%s%u", k > 3 ? "," : "", k);
  missing = find_missing (store, KEY, 0, &count);
  g_assert_cmpstr (missing, ==, expected->str);
  g_assert_cmpuint (count, ==, n);
}

static void
test_shard_marker_mixed_counts (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) missing_array = NULL;
  g_autofree char *missing = NULL;
  guint count = 12345;

  g_test_summary ("Markers of runs with different counts: the gather refuses to guess, and "
                  "counts only the markers of the count it is given");
  write_marker (store, KEY, 0, 2);
  write_marker (store, KEY, 1, 2);
  write_marker (store, KEY, 1, 3);
  g_assert_false (sutra_shard_find_missing (store, KEY, 0, &missing_array, &count, &error));
  g_assert_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE);
  sutra_assert_contains (error->message, "different counts");
  sutra_assert_contains (error->message, "--shard-count N");
  sutra_assert_contains (error->message, store);

  missing = find_missing (store, KEY, 3, &count);
  g_assert_cmpstr (missing, ==, "0,2");
  g_assert_cmpuint (count, ==, 3);
  g_free (missing);
  missing = find_missing (store, KEY, 2, &count);
  g_assert_cmpstr (missing, ==, "");
  g_assert_cmpuint (count, ==, 2);
  g_free (missing);
  missing = find_missing (store, KEY, 5, &count);
  g_assert_cmpstr (missing, ==, "0,1,2,3,4");
  g_assert_cmpuint (count, ==, 5);
}

static void
test_shard_marker_ignores_other_files (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autofree char *dir = g_build_filename (store, "shards", KEY, NULL);
  /* A temporary file of an atomic write, a name past its count, names
   * that are no marker's. */
  static const char *const others[] = {
    "0-of-4.Q7x2ab", "1-of-4.123456", "4-of-4", "7-of-4", "x-of-4", "1-of-",
    "-of-4",         "1-of-4x",       "README", "2-of-0", "2of4",
  };
  g_autofree char *missing = NULL;
  guint count;

  g_test_summary ("Files in a work's marker directory that are not markers are not counted");
  write_marker (store, KEY, 0, 4);
  for (guint i = 0; i < G_N_ELEMENTS (others); i++)
    g_free (sutra_test_write (dir, others[i], "{}\n", -1));
  missing = find_missing (store, KEY, 0, &count);
  g_assert_cmpstr (missing, ==, "1,2,3");
  g_assert_cmpuint (count, ==, 4);
}

static void
test_shard_marker_write_fails (void)
{
  g_autofree char *store = sutra_test_dir ();
  g_autofree char *in_the_way = sutra_test_write (store, "shards", "not a directory\n", -1);
  g_autoptr (GError) error = NULL;
  SutraShard shard = { .role = SUTRA_SHARD_PART, .index = 0, .count = 2 };

  g_test_summary ("A marker that cannot be written is an error naming the directory");
  g_assert_false (sutra_shard_write_marker (store, KEY, &shard, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_FILE_ERROR);
  sutra_assert_contains (error->message, in_the_way);
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

  for (guint i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/shard/parse/%s", parse_cases[i].name);

      g_test_add_data_func (path, &parse_cases[i], test_shard_parse);
    }
  g_test_add_func ("/engine/shard/owns-partitions", test_shard_owns_partitions);
  g_test_add_func ("/engine/shard/name", test_shard_name);
  for (guint i = 0; i < G_N_ELEMENTS (stages_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/shard/find-stages/%s", stages_cases[i].name);

      g_test_add_data_func (path, &stages_cases[i], test_shard_find_stages);
    }
  g_test_add_func ("/engine/shard/marker/round-trip", test_shard_marker_round_trip);
  g_test_add_func ("/engine/shard/marker/none", test_shard_marker_none);
  g_test_add_func ("/engine/shard/marker/missing-sorted", test_shard_marker_missing_sorted);
  g_test_add_func ("/engine/shard/marker/mixed-counts", test_shard_marker_mixed_counts);
  g_test_add_func ("/engine/shard/marker/ignores-other-files",
                   test_shard_marker_ignores_other_files);
  g_test_add_func ("/engine/shard/marker/write-fails", test_shard_marker_write_fails);

  status = g_test_run ();
  sutra_registry_free (registry);
  g_free (registry_problem);
  return status;
}
