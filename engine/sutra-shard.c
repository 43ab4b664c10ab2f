/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --shard: K/N given, read from a launcher's variables, or the gather. */

#include "sutra-shard.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-shard-error-quark, sutra_shard_error)
/* clang-format on */

/* Where a launcher says which task this is, and of how many. A Slurm job
 * array first: its tasks are separate jobs, and each may run sutra through
 * srun, whose step of one task sets PMI_RANK=0 and PMI_SIZE=1 (with
 * --mpi=pmi2, or a site's MpiDefault) in every array task. MPI before
 * Slurm's tasks: mpirun inside a Slurm allocation inherits the batch
 * step's SLURM_PROCID (0 in every rank), while the MPI variables are the
 * rank's own. */
typedef struct
{
  const char *name;
  const char *index_variable;
  const char *count_variable; /* NULL: the launcher gives no count */
} Launcher;

static const Launcher launchers[] = {
  { "Slurm job array", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT" },
  { "Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE" },
  { "PMI (MPICH, Intel MPI, srun --mpi)", "PMI_RANK", "PMI_SIZE" },
  { "Slurm tasks", "SLURM_PROCID", "SLURM_NTASKS" },
  { "Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", NULL },
};

char *
sutra_shard_name (guint index, guint count)
{
  return g_strdup_printf ("%u-of-%u", index, count);
}

static gboolean
parse_number (const char *text, guint64 max, guint64 *value)
{
  /* Digits only: no sign, no spaces, no base prefix. */
  if (text == NULL || text[0] == '\0' || strspn (text, "0123456789") != strlen (text))
    return FALSE;
  return g_ascii_string_to_unsigned (text, 10, 0, max, value, NULL);
}

static gboolean
check_range (guint64 index, guint64 count, const char *what, GError **error)
{
  if (count == 0 || count > SUTRA_SHARD_MAX_COUNT)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "%s: %" G_GUINT64_FORMAT " shards: the count must be 1 to %u", what, count,
                   SUTRA_SHARD_MAX_COUNT);
      return FALSE;
    }
  if (index >= count)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "%s: shard %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   ": shards are numbered 0 to %" G_GUINT64_FORMAT,
                   what, index, count, count - 1);
      return FALSE;
    }
  return TRUE;
}

/* The count from --shard-count or SUTRA_SHARD_COUNT, 0 when neither. */
static gboolean
given_count (guint count, const char *const *environ, guint64 *value, GError **error)
{
  const char *text;

  *value = count;
  if (count > 0)
    return TRUE;
  text = g_environ_getenv ((char **) environ, "SUTRA_SHARD_COUNT");
  if (text == NULL || text[0] == '\0')
    return TRUE;
  if (!parse_number (text, G_MAXUINT, value) || *value == 0)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "SUTRA_SHARD_COUNT=“%s”: expected the number of shards, 1 to %u", text,
                   SUTRA_SHARD_MAX_COUNT);
      return FALSE;
    }
  return TRUE;
}

/* A Slurm array's tasks must be numbered 0..COUNT-1 for its count to be
 * the number of shards: `--array=1-4`, or a re-submitted subset
 * (`--array=2`), numbers them otherwise. */
static gboolean
check_slurm_array (const char *const *environ, guint64 count, GError **error)
{
  const char *min = g_environ_getenv ((char **) environ, "SLURM_ARRAY_TASK_MIN");
  const char *max = g_environ_getenv ((char **) environ, "SLURM_ARRAY_TASK_MAX");
  guint64 low = 0;
  guint64 high = count - 1;

  if ((min == NULL || (parse_number (min, G_MAXUINT64, &low) && low == 0)) &&
      (max == NULL || (parse_number (max, G_MAXUINT64, &high) && high == count - 1)))
    return TRUE;
  g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
               "--shard auto: the Slurm job array runs tasks %s to %s, %" G_GUINT64_FORMAT
               " of them, so its task count is not the number of shards: number the tasks "
               "0 to N-1 and give N with --shard-count N (or SUTRA_SHARD_COUNT=N), which a "
               "re-submitted task needs anyway",
               min != NULL ? min : "?", max != NULL ? max : "?", count);
  return FALSE;
}

static gboolean
from_launcher (guint count, const char *const *environ, SutraShard *shard, GError **error)
{
  guint64 explicit_count;

  if (!given_count (count, environ, &explicit_count, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (launchers); i++)
    {
      const Launcher *launcher = &launchers[i];
      const char *index_text = g_environ_getenv ((char **) environ, launcher->index_variable);
      const char *count_text = launcher->count_variable != NULL
                                 ? g_environ_getenv ((char **) environ, launcher->count_variable)
                                 : NULL;
      g_autofree char *what = NULL;
      guint64 index;
      guint64 total = explicit_count;

      if (index_text == NULL)
        continue;
      what = g_strdup_printf ("--shard auto (%s)", launcher->name);
      if (!parse_number (index_text, G_MAXUINT, &index))
        {
          g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
                       "%s: %s=“%s” is not a task number", what, launcher->index_variable,
                       index_text);
          return FALSE;
        }
      if (total == 0)
        {
          if (count_text == NULL)
            {
              g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
                           "%s: %s=%s says which shard this is, but not how many there are: "
                           "give the count with --shard-count N or SUTRA_SHARD_COUNT=N "
                           "(for an Indexed Job, its completions)",
                           what, launcher->index_variable, index_text);
              return FALSE;
            }
          if (!parse_number (count_text, G_MAXUINT, &total))
            {
              g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
                           "%s: %s=“%s” is not a task count", what, launcher->count_variable,
                           count_text);
              return FALSE;
            }
          if (strcmp (launcher->index_variable, "SLURM_ARRAY_TASK_ID") == 0 && total > 0 &&
              !check_slurm_array (environ, total, error))
            return FALSE;
        }
      if (!check_range (index, total, what, error))
        return FALSE;
      /* An sbatch script with --ntasks=N sees SLURM_PROCID=0 and
       * SLURM_NTASKS=N in its own, single process (the batch step); only
       * the tasks srun starts are numbered, and they alone carry a step id.
       * Taken as shard 0, it would leave N-1 shards' work to the gather. */
      if (strcmp (launcher->index_variable, "SLURM_PROCID") == 0 && total > 1 &&
          g_environ_getenv ((char **) environ, "SLURM_STEP_ID") == NULL)
        {
          g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
                       "%s: SLURM_PROCID=%s with %" G_GUINT64_FORMAT
                       " tasks, but no SLURM_STEP_ID: this is the batch script itself, not "
                       "one of its tasks; start sutra with srun (srun sutra run ... --shard "
                       "auto), which runs the %" G_GUINT64_FORMAT " tasks, or use a job array",
                       what, index_text, total, total);
          return FALSE;
        }
      shard->role = SUTRA_SHARD_PART;
      shard->index = (guint) index;
      shard->count = (guint) total;
      shard->origin = launcher->name;
      return TRUE;
    }
  g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_LAUNCHER,
               "--shard auto: no launcher said which shard this is (none of "
               "SLURM_ARRAY_TASK_ID, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK, "
               "JOB_COMPLETION_INDEX is set): run it under sbatch --array, srun, mpirun or a "
               "Kubernetes Indexed Job, or give the shard as --shard K/N");
  return FALSE;
}

gboolean
sutra_shard_parse (const char *text,
                   guint count,
                   const char *const *environ,
                   SutraShard *shard,
                   GError **error)
{
  const char *slash;

  g_return_val_if_fail (text != NULL && shard != NULL, FALSE);
  memset (shard, 0, sizeof *shard);
  if (strcmp (text, "auto") == 0)
    return from_launcher (count, environ, shard, error);
  if (strcmp (text, "gather") == 0)
    {
      guint64 total;

      /* The count, when given, is the one the markers are read against
       * (sutra_shard_find_missing() lists every shard below it): the
       * variable counts as for auto, and the bound is the shards' own. */
      if (!given_count (count, environ, &total, error) ||
          (total > 0 && !check_range (0, total, "--shard gather", error)))
        return FALSE;
      shard->role = SUTRA_SHARD_GATHER;
      shard->count = (guint) total;
      shard->origin = "--shard";
      return TRUE;
    }
  slash = strchr (text, '/');
  if (slash != NULL)
    {
      g_autofree char *index_text = g_strndup (text, slash - text);
      guint64 index;
      guint64 total;

      /* Up to G_MAXUINT64, not G_MAXUINT: a number too large for a guint is
       * still a number, and check_range says what is wrong with it. */
      if (parse_number (index_text, G_MAXUINT64, &index) &&
          parse_number (slash + 1, G_MAXUINT64, &total))
        {
          g_autofree char *what = g_strdup_printf ("--shard %s", text);

          if (count > 0 && count != total)
            {
              g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                           "--shard %s and --shard-count %u disagree on the number of shards", text,
                           count);
              return FALSE;
            }
          if (!check_range (index, total, what, error))
            return FALSE;
          shard->role = SUTRA_SHARD_PART;
          shard->index = (guint) index;
          shard->count = (guint) total;
          shard->origin = "--shard";
          return TRUE;
        }
    }
  g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_SYNTAX,
               "--shard “%s”: expected K/N (shard K of N, counted from 0, e.g. 0/4), “auto” (from "
               "Slurm, MPI or Kubernetes) or “gather”",
               text);
  return FALSE;
}

/* Whether the stage at @index, or a stage upstream of it, is marked. */
static gboolean
has_marked_ancestor (SutraStageSpec *spec, const gboolean *marked)
{
  for (guint r = 0; r < spec->inputs->len; r++)
    {
      SutraStageSpec *input = spec->inputs->pdata[r];

      if (marked[input->index] || has_marked_ancestor (input, marked))
        return TRUE;
    }
  return FALSE;
}

gboolean
sutra_shard_find_stages (SutraPipeline *pipeline, gboolean *is_shard_stage, GError **error)
{
  gboolean found = FALSE;

  /* In topological order: a candidate's upstream candidates are decided
   * before it. */
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      gboolean feeds_end = FALSE;

      is_shard_stage[spec->index] = FALSE;
      if ((spec->info->kind != SUTRA_STAGE_MAP && spec->info->kind != SUTRA_STAGE_SPLIT) ||
          !spec->checkpoint)
        continue;
      for (guint o = 0; o < spec->outputs->len; o++)
        {
          SutraStageSpec *consumer = spec->outputs->pdata[o];

          feeds_end = feeds_end || consumer->info->kind == SUTRA_STAGE_GATHER ||
                      consumer->info->kind == SUTRA_STAGE_SINK;
        }
      if (feeds_end && !has_marked_ancestor (spec, is_shard_stage))
        is_shard_stage[spec->index] = found = TRUE;
    }
  if (!found)
    g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_PIPELINE,
                 "pipeline “%s” cannot run as shards: no stage's batches can be divided among "
                 "them (a map or split that stores its outputs, \"checkpoint\" left true, and "
                 "feeds a gather or a sink)",
                 pipeline->name);
  return found;
}

gboolean
sutra_shard_write_marker (const char *store_dir,
                          const char *key,
                          const SutraShard *shard,
                          GError **error)
{
  g_autofree char *dir = g_build_filename (store_dir, "shards", key, NULL);
  g_autofree char *name = sutra_shard_name (shard->index, shard->count);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *text = g_strdup_printf (
    "{ \"shard\": %u, \"count\": %u, \"host\": \"%s\", \"finished\": %" G_GINT64_FORMAT " }\n",
    shard->index, shard->count, g_get_host_name (), g_get_real_time () / G_USEC_PER_SEC);

  g_return_val_if_fail (shard->role == SUTRA_SHARD_PART, FALSE);
  if (g_mkdir_with_parents (dir, 0777) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot make “%s”: %s",
                   dir, g_strerror (saved));
      return FALSE;
    }
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0666, error);
}

/* Reads "K-of-N" into @index and @count. */
static gboolean
parse_marker_name (const char *name, guint64 *index, guint64 *count)
{
  const char *of = strstr (name, "-of-");
  g_autofree char *first = NULL;

  if (of == NULL)
    return FALSE;
  first = g_strndup (name, of - name);
  return parse_number (first, G_MAXUINT, index) && parse_number (of + 4, G_MAXUINT, count) &&
         *index < *count;
}

static int
compare_guint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a;
  guint y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

gboolean
sutra_shard_find_missing (const char *store_dir,
                          const char *key,
                          guint count,
                          GArray **missing,
                          guint *found_count,
                          GError **error)
{
  g_autofree char *dir = g_build_filename (store_dir, "shards", key, NULL);
  g_autoptr (GDir) listing = g_dir_open (dir, 0, NULL);
  g_autoptr (GHashTable) counts = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GArray) finished = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) absent = g_array_new (FALSE, FALSE, sizeof (guint));
  const char *name;
  guint total = count;

  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    {
      guint64 index;
      guint64 n;

      if (!parse_marker_name (name, &index, &n))
        continue;
      g_hash_table_add (counts, GUINT_TO_POINTER ((guint) n));
      if (count == 0 || n == count)
        {
          guint i = (guint) index;

          g_array_append_val (finished, i);
        }
    }
  if (total == 0 && g_hash_table_size (counts) > 1)
    {
      g_set_error (error, SUTRA_SHARD_ERROR, SUTRA_SHARD_ERROR_RANGE,
                   "the store “%s” holds shards of this work run with different counts (%s): "
                   "say which with --shard-count N",
                   store_dir, dir);
      return FALSE;
    }
  if (total == 0 && g_hash_table_size (counts) == 1)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, counts);
      g_hash_table_iter_next (&iter, &value, NULL);
      total = GPOINTER_TO_UINT (value);
    }
  g_array_sort (finished, compare_guint);
  for (guint k = 0, f = 0; k < total; k++)
    {
      while (f < finished->len && g_array_index (finished, guint, f) < k)
        f++;
      if (f >= finished->len || g_array_index (finished, guint, f) != k)
        g_array_append_val (absent, k);
    }
  *missing = g_steal_pointer (&absent);
  *found_count = total;
  return TRUE;
}
