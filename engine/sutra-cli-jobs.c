/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra jobs: which job directory holds which work, in what state. */

#include "sutra-cli.h"
#include "sutra-job.h"
#include "sutra-store.h"

#include <stdio.h>
#include <string.h>

/* Where `sutra run` puts jobs without --job (see sutra_job_default_dir()). */
#define DEFAULT_JOBS_DIR ".sutra/jobs"

static int
compare_infos (gconstpointer a, gconstpointer b)
{
  const SutraJobInfo *x = *(SutraJobInfo *const *) a;
  const SutraJobInfo *y = *(SutraJobInfo *const *) b;

  if (x->created_us != y->created_us)
    return x->created_us < y->created_us ? -1 : 1;
  return strcmp (x->dir, y->dir);
}

static gboolean
is_job_dir (const char *dir)
{
  g_autofree char *settings = g_build_filename (dir, "job.json", NULL);

  return g_file_test (settings, G_FILE_TEST_EXISTS);
}

/* Adds @dir to @dirs once, however it is spelled. */
static void
add_job_dir (GPtrArray *dirs, GHashTable *seen, const char *dir)
{
  char *absolute = g_canonicalize_filename (dir, NULL);

  if (!g_hash_table_add (seen, absolute))
    return;
  g_ptr_array_add (dirs, g_strdup (dir));
}

/* The jobs in @dir: @dir itself if it is one, else its subdirectories that
 * are. */
static gboolean
find_jobs (const char *dir, GPtrArray *dirs, GHashTable *seen, GError **error)
{
  g_autoptr (GDir) listing = NULL;
  const char *name;

  if (is_job_dir (dir))
    {
      add_job_dir (dirs, seen, dir);
      return TRUE;
    }
  listing = g_dir_open (dir, 0, error);
  if (listing == NULL)
    return FALSE;
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, name, NULL);

      if (is_job_dir (child))
        add_job_dir (dirs, seen, child);
    }
  return TRUE;
}

static char *
format_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) utc = NULL;
  g_autoptr (GDateTime) local = NULL;

  if (unix_seconds <= 0)
    return g_strdup ("-");
  utc = g_date_time_new_from_unix_utc (unix_seconds);
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

static char *
format_duration (double seconds)
{
  guint64 whole = (guint64) seconds;

  if (seconds < 60)
    return g_strdup_printf ("%.1f s", seconds);
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", whole / 3600,
                          (guint) (whole / 60 % 60), (guint) (whole % 60));
}

/* The inputs' file names, the first two and how many more. */
static char *
format_inputs (char **inputs)
{
  g_autoptr (GString) out = g_string_new (NULL);
  guint n = g_strv_length (inputs);

  for (guint i = 0; i < n && i < 2; i++)
    {
      g_autofree char *base = g_path_get_basename (inputs[i]);

      g_string_append_printf (out, "%s%s", i > 0 ? ", " : "", base);
    }
  if (n > 2)
    g_string_append_printf (out, " +%u more", n - 2);
  if (n == 0)
    g_string_append (out, "-");
  return g_strdup (out->str);
}

static void
print_json (GPtrArray *infos)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_array (builder);
  for (guint i = 0; i < infos->len; i++)
    {
      SutraJobInfo *info = infos->pdata[i];
      g_autofree char *name = g_path_get_basename (info->dir);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "job");
      json_builder_add_string_value (builder, info->dir);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "pipeline_name");
      json_builder_add_string_value (builder, info->name);
      json_builder_set_member_name (builder, "pipeline_file");
      if (info->pipeline_file != NULL)
        json_builder_add_string_value (builder, info->pipeline_file);
      else
        json_builder_add_null_value (builder);
      cli_json_add_strv_member (builder, "inputs", info->inputs);
      cli_json_add_strv_member (builder, "outputs", info->outputs);
      json_builder_set_member_name (builder, "state");
      json_builder_add_string_value (builder, info->state);
      json_builder_set_member_name (builder, "pid");
      if (info->pid > 0)
        json_builder_add_int_value (builder, info->pid);
      else
        json_builder_add_null_value (builder);
      cli_json_add_time_member (builder, "started", info->created);
      cli_json_add_time_member (builder, "last_started", info->started);
      cli_json_add_time_member (builder, "last_finished", info->finished);
      json_builder_set_member_name (builder, "seconds");
      json_builder_add_double_value (builder, info->seconds);
      cli_json_add_strv_member (builder, "command", info->command);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

static void
print_table (GPtrArray *infos)
{
  enum
  {
    JOB,
    PIPELINE,
    INPUTS,
    STATE,
    STARTED,
    DURATION,
    N_COLUMNS
  };
  static const char *const headers[N_COLUMNS] = {
    "JOB", "PIPELINE", "INPUTS", "STATE", "STARTED", "DURATION",
  };
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  int widths[N_COLUMNS];

  for (guint c = 0; c < N_COLUMNS; c++)
    widths[c] = (int) g_utf8_strlen (headers[c], -1);
  for (guint i = 0; i < infos->len; i++)
    {
      SutraJobInfo *info = infos->pdata[i];

      g_ptr_array_add (cells, g_strdup (info->dir));
      g_ptr_array_add (cells, info->pipeline_file != NULL
                                ? g_path_get_basename (info->pipeline_file)
                                : g_strdup_printf ("(%s)", info->name));
      g_ptr_array_add (cells, format_inputs (info->inputs));
      g_ptr_array_add (cells, info->pid > 0
                                ? g_strdup_printf ("%s (process %d)", info->state, info->pid)
                                : g_strdup (info->state));
      g_ptr_array_add (cells, format_time (info->created));
      g_ptr_array_add (cells, format_duration (info->seconds));
      for (guint c = 0; c < N_COLUMNS; c++)
        widths[c] = MAX (widths[c], (int) g_utf8_strlen (cells->pdata[i * N_COLUMNS + c], -1));
    }
  for (guint row = 0; row <= infos->len; row++)
    {
      g_autoptr (GString) line = g_string_new (NULL);

      for (guint c = 0; c < N_COLUMNS; c++)
        {
          const char *cell = row == 0 ? headers[c] : cells->pdata[(row - 1) * N_COLUMNS + c];
          int pad = widths[c] - (int) g_utf8_strlen (cell, -1);

          g_string_append (line, cell);
          if (c + 1 < N_COLUMNS)
            g_string_append_printf (line, "%*s", pad + 2, "");
        }
      printf ("%s\n", line->str);
    }
}

int
command_jobs (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON for machines", NULL },
    { "cache", 'c', 0, G_OPTION_ARG_FILENAME, &opt_cache,
      "List the jobs that use the shared store in DIR too", "DIR" },
    { NULL }
  };
  const GOptionEntry *groups[] = { entries, NULL };
  g_autoptr (GOptionContext) context = command_context (
    "[DIR…]",
    "List jobs: each job directory's pipeline, inputs, state, when it started and how long its "
    "runs took, oldest first. Lists the jobs in " DEFAULT_JOBS_DIR
    " (where “sutra run” keeps them without --job), or in each DIR given (a job directory, or "
    "a directory of them), and those that use the store given with --cache.",
    groups);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) infos =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_job_info_free);
  int status = EXIT_OK;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      print_error ("%s (see “sutra jobs --help”)", error->message);
      return EXIT_USAGE;
    }
  for (int i = 1; i < argc; i++)
    if (!find_jobs (argv[i], dirs, seen, &error))
      {
        print_error ("cannot list jobs in “%s”: %s (name a job directory, or a directory of "
                     "them)",
                     argv[i], error->message);
        return EXIT_JOB;
      }
  if (opt_cache != NULL)
    {
      g_autoptr (GPtrArray) jobs = NULL;
      SutraStore *store;

      if (!g_file_test (opt_cache, G_FILE_TEST_IS_DIR))
        {
          print_error ("--cache: “%s” is not a directory: name the store the jobs were run "
                       "with (“sutra run --cache DIR”)",
                       opt_cache);
          return EXIT_JOB;
        }
      store = sutra_store_open (opt_cache, &error);
      if (store == NULL)
        {
          print_error ("%s", error->message);
          return EXIT_JOB;
        }
      jobs = sutra_store_list_jobs (store);
      sutra_store_close (store);
      for (guint i = 0; i < jobs->len; i++)
        if (is_job_dir (jobs->pdata[i]))
          add_job_dir (dirs, seen, jobs->pdata[i]);
    }
  /* Nothing named: the default place, where a missing directory only
   * means no job was run here yet. */
  if (argc < 2 && opt_cache == NULL && g_file_test (DEFAULT_JOBS_DIR, G_FILE_TEST_IS_DIR) &&
      !find_jobs (DEFAULT_JOBS_DIR, dirs, seen, &error))
    {
      print_error ("cannot list jobs in “%s”: %s", DEFAULT_JOBS_DIR, error->message);
      return EXIT_JOB;
    }

  for (guint i = 0; i < dirs->len; i++)
    {
      g_autoptr (GError) local = NULL;
      SutraJobInfo *info = sutra_job_read_info (dirs->pdata[i], &local);

      /* One damaged job does not hide the others. */
      if (info == NULL)
        {
          print_error ("warning: %s", local->message);
          status = EXIT_JOB;
          continue;
        }
      g_ptr_array_add (infos, info);
    }
  g_ptr_array_sort (infos, compare_infos);

  if (opt_json)
    print_json (infos);
  else if (infos->len == 0)
    printf ("no jobs in %s%s\n",
            argc > 1 || opt_cache != NULL ? "the directories given" : DEFAULT_JOBS_DIR,
            argc > 1 || opt_cache != NULL
              ? ""
              : " (a job run with --job DIR elsewhere: “sutra jobs DIR”)");
  else
    print_table (infos);
  return status;
}
