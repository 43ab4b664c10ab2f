/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sutra command line: run, validate, plugins, inspect, graph, devices. */

#include "sutra-devices.h"
#include "sutra-job.h"
#include "sutra-pipeline.h"
#include "sutra-progress.h"
#include "sutra-registry.h"
#include "sutra-run.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exit statuses; `sutra --help` and docs/cli.md list them. */
enum
{
  EXIT_OK = 0,
  EXIT_RUN_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_INVALID_PIPELINE = 3,
  EXIT_PLUGIN = 4,
  EXIT_JOB = 5,
  EXIT_SIGINT = 130,
  EXIT_SIGTERM = 143,
};

static const char exit_status_help[] =
  "Exit status:\n"
  "  0    success\n"
  "  1    the run failed: a stage failed an item (the message names the stage and item)\n"
  "  2    bad command line\n"
  "  3    the pipeline file is invalid (every problem is listed)\n"
  "  4    a plugin could not be found or loaded\n"
  "  5    the job cannot be run: it is running elsewhere, its pipeline changed (see --force),\n"
  "       or its directory is damaged or of another sutra version\n"
  "  130  interrupted by SIGINT (Ctrl-C); 143: by SIGTERM\n";

static const char commands_help[] =
  "Commands:\n"
  "  run PIPELINE       validate and run a pipeline file (in a job directory: resumable)\n"
  "  resume JOB         resume an interrupted job from its directory\n"
  "  status JOB         what a job has done, what failed, what is left\n"
  "  gc                 remove store entries that no job refers to\n"
  "  validate PIPELINE  check a pipeline file and report every problem\n"
  "  graph PIPELINE     print the pipeline as a Graphviz DOT graph\n"
  "  plugins            list the plugins and their stages\n"
  "  inspect NAME       describe a plugin or stage: parameters, threading, devices\n"
  "  devices            list the GPUs sutra can use\n"
  "\n"
  "Run “sutra COMMAND --help” for a command's options.\n";

static char **opt_plugin_paths;
static char **opt_sets;
static gboolean opt_quiet;
static char *opt_events;
static char *opt_job;
static char *opt_cache;
static gboolean opt_force;
static gboolean opt_retry_failed;
static gboolean opt_json;
static gboolean opt_no_job;

static const GOptionEntry plugin_path_entries[] = {
  { "plugin-path", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_plugin_paths,
    "Load plugins from DIR or FILE too (repeatable; searched before SUTRA_PLUGIN_PATH and "
    "the built-in directory)",
    "DIR" },
  { NULL }
};

static const GOptionEntry set_entries[] = {
  { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &opt_sets,
    "Set a variable (name=value, for ${name}) or a stage setting or parameter "
    "(stage.key=value, e.g. speak.workers=4); repeatable",
    "KEY=VALUE" },
  { NULL }
};

static const GOptionEntry run_entries[] = {
  { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, "Print no progress display and no summary",
    NULL },
  { "events", 'e', 0, G_OPTION_ARG_FILENAME, &opt_events,
    "Write JSON-lines events (stage started, progress, item failed, finished) to FILE "
    "(“-” for standard output)",
    "FILE" },
  { NULL }
};

static const GOptionEntry job_entries[] = {
  { "job", 'j', 0, G_OPTION_ARG_FILENAME, &opt_job,
    "Keep the job (snapshot, journal, store) in DIR; default: .sutra/jobs/NAME-HASH in the "
    "current directory. Running again with the same job resumes it",
    "DIR" },
  { "cache", 'c', 0, G_OPTION_ARG_FILENAME, &opt_cache,
    "Keep stage outputs in the store in DIR, which several jobs can share: a job takes what "
    "another already computed",
    "DIR" },
  { "no-job", 0, 0, G_OPTION_ARG_NONE, &opt_no_job,
    "Keep nothing: no job directory, no resume, no cache (for one-off runs and benchmarks)", NULL },
  { "force", 'f', 0, G_OPTION_ARG_NONE, &opt_force,
    "Run even though the pipeline differs from the job's snapshot: the changed stages and "
    "what is downstream of them are recomputed",
    NULL },
  { NULL }
};

static const GOptionEntry retry_entries[] = {
  { "retry-failed", 'r', 0, G_OPTION_ARG_NONE, &opt_retry_failed,
    "Try the items that failed (and were skipped) in earlier runs again", NULL },
  { NULL }
};

static void print_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
print_error (const char *format, ...)
{
  va_list args;

  fputs ("sutra: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
}

/* Loads every plugin; problems with some plugins are warnings, since a
 * broken module should not stop pipelines that do not use it. */
static SutraRegistry *
load_registry (void)
{
  SutraRegistry *registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;

  if (!sutra_registry_load_default (registry, (const char *const *) opt_plugin_paths, &error))
    {
      g_auto (GStrv) lines = g_strsplit (error->message, "\n", -1);

      for (guint i = 0; lines[i] != NULL; i++)
        fprintf (stderr, "sutra: warning: %s\n", lines[i]);
    }
  return registry;
}

static GOptionContext *
command_context (const char *parameter, const char *summary, const GOptionEntry *const *groups)
{
  GOptionContext *context = g_option_context_new (parameter);

  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, exit_status_help);
  for (guint i = 0; groups[i] != NULL; i++)
    g_option_context_add_main_entries (context, groups[i], NULL);
  return context;
}

static int
parse_command (GOptionContext *context, int *argc, char ***argv, int n_positional)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      print_error ("%s (see “%s --help”)", error->message, (*argv)[0]);
      return EXIT_USAGE;
    }
  if (*argc - 1 != n_positional)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      fputs (help, stderr);
      return EXIT_USAGE;
    }
  return EXIT_OK;
}

static SutraPipeline *
load_pipeline (SutraRegistry *registry, const char *path, int *status)
{
  g_autoptr (GError) error = NULL;
  SutraPipeline *pipeline =
    sutra_pipeline_load (path, registry, (const char *const *) opt_sets, &error);

  if (pipeline == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      *status = EXIT_INVALID_PIPELINE;
    }
  return pipeline;
}

/* Signals ------------------------------------------------------------------- */

typedef struct
{
  SutraRun *run;
  gint signal_number; /* the first signal received, or 0 */
} SignalWatch;

static void *
signal_thread (void *data)
{
  SignalWatch *watch = data;
  sigset_t set;
  int number;

  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGUSR1);
  while (sigwait (&set, &number) == 0)
    {
      if (number == SIGUSR1) /* the run ended: sutra itself asks the thread to leave */
        break;
      if (g_atomic_int_compare_and_exchange (&watch->signal_number, 0, number))
        {
          fprintf (stderr,
                   "\nsutra: %s: finishing the items in flight; press Ctrl-C again "
                   "to abandon them\n",
                   number == SIGINT ? "interrupted" : "terminated");
          sutra_run_stop (watch->run, FALSE);
        }
      else
        {
          fprintf (stderr, "\nsutra: abandoning the items in flight\n");
          sutra_run_stop (watch->run, TRUE);
        }
    }
  return NULL;
}

/* Commands -------------------------------------------------------------------- */

/* Runs @pipeline in the job at @job_dir. @resume_hint is the command that
 * resumes the job, printed when the run stops early. */
static int
execute_pipeline (SutraPipeline *pipeline, const char *job_dir, const char *cache_dir)
{
  g_autoptr (SutraRun) run = NULL;
  g_autoptr (SutraJob) job = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *quoted_dir = g_shell_quote (job_dir != NULL ? job_dir : "(none)");
  SutraProgress *progress;
  SignalWatch watch = { NULL, 0 };
  FILE *events = NULL;
  FILE *tty = NULL;
  pthread_t watcher;
  sigset_t set;
  gboolean ok;

  if (job_dir != NULL)
    {
      job = sutra_job_open (job_dir, pipeline, cache_dir, (const char *const *) opt_plugin_paths,
                            opt_force, &error);
      if (job == NULL)
        {
          print_error ("%s", error->message);
          return EXIT_JOB;
        }
      job->retry_failed = opt_retry_failed;
      if (!opt_quiet)
        fprintf (stderr, "sutra: job directory: %s\n", job_dir);
    }

  if (opt_events != NULL)
    {
      events = strcmp (opt_events, "-") == 0 ? stdout : fopen (opt_events, "w");
      if (events == NULL)
        {
          print_error ("cannot write events to “%s”: %s", opt_events, g_strerror (errno));
          return EXIT_USAGE;
        }
    }
  if (!opt_quiet && isatty (STDERR_FILENO))
    tty = stderr;

  /* Signals go to one thread that asks the run to stop; every other thread
   * (workers are made after this) has them blocked. */
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGUSR1);
  pthread_sigmask (SIG_BLOCK, &set, NULL);

  run = sutra_run_new (pipeline);
  if (job != NULL)
    sutra_run_set_job (run, job);
  watch.run = run;
  if (pthread_create (&watcher, NULL, signal_thread, &watch) != 0)
    {
      print_error ("cannot start the signal thread: %s", g_strerror (errno));
      return EXIT_RUN_FAILED;
    }
  progress = sutra_progress_new (run, tty, events);
  sutra_run_set_event_func (run, sutra_progress_write_event, progress);
  sutra_progress_start (progress);

  ok = sutra_run_execute (run, &error);

  sutra_progress_stop (progress, ok, error != NULL ? error->message : NULL);
  pthread_kill (watcher, SIGUSR1);
  pthread_join (watcher, NULL);
  sutra_progress_free (progress);
  if (events != NULL && events != stdout)
    fclose (events);

  if (!opt_quiet && tty == NULL)
    sutra_progress_print_summary (run, stderr);
  {
    g_autoptr (GPtrArray) failures = sutra_run_dup_failures (run);

    for (guint i = 0; i < failures->len; i++)
      {
        g_auto (GStrv) fields = g_strsplit (failures->pdata[i], "\t", 3);
        fprintf (stderr, "sutra: stage “%s”: item “%s” failed and was skipped: %s\n", fields[0],
                 fields[1], fields[2]);
      }
    if (failures->len > 0 && job_dir != NULL)
      fprintf (stderr,
               "sutra: %u items failed; try them again with: sutra resume --retry-failed %s\n",
               failures->len, quoted_dir);
  }
  if (!ok)
    {
      if (watch.signal_number != 0)
        {
          if (job_dir != NULL)
            print_error (
              "stopped by %s; what was finished is kept. Resume with:\n  sutra resume %s",
              watch.signal_number == SIGINT ? "SIGINT" : "SIGTERM", quoted_dir);
          else
            print_error ("stopped by %s (--no-job: nothing was kept); sinks that did not finish "
                         "left .part files",
                         watch.signal_number == SIGINT ? "SIGINT" : "SIGTERM");
          return watch.signal_number == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
        }
      print_error ("run failed: %s", error->message);
      if (job_dir != NULL)
        print_error ("what was finished is kept; sinks that did not finish left .part files. "
                     "Fix the cause, then resume with:\n  sutra resume %s",
                     quoted_dir);
      else
        print_error ("sinks that did not finish left .part files (--no-job: nothing was kept "
                     "to resume from)");
      return EXIT_RUN_FAILED;
    }
  return EXIT_OK;
}

static int
command_run (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, job_entries,         retry_entries,
                                   run_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE",
                     "Validate and run a pipeline file. The run keeps its progress "
                     "in a job directory: run the same command again, or “sutra resume DIR”, "
                     "to pick up an interrupted run.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *job_dir = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  pipeline = load_pipeline (registry, argv[1], &status);
  if (pipeline == NULL)
    return status;
  if (opt_no_job && (opt_job != NULL || opt_cache != NULL))
    {
      print_error ("--no-job cannot go with --job or --cache");
      return EXIT_USAGE;
    }
  if (!opt_no_job)
    job_dir = opt_job != NULL ? g_strdup (opt_job) : sutra_job_default_dir (pipeline);
  return execute_pipeline (pipeline, job_dir, opt_cache);
}

static int
command_resume (int argc, char **argv)
{
  const GOptionEntry *groups[] = { retry_entries, run_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("JOB",
                     "Resume an interrupted job from its directory, with the pipeline "
                     "snapshot it was started with: what was finished is not computed again.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *snapshot = NULL;
  g_autofree char *cache_dir = NULL;
  g_auto (GStrv) plugin_paths = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  if (!sutra_job_read_settings (argv[1], &snapshot, &cache_dir, &plugin_paths, &error))
    {
      print_error ("%s", error->message);
      return EXIT_JOB;
    }
  /* The plugin paths the job was started with, then any given now. */
  {
    g_autoptr (GStrvBuilder) paths = g_strv_builder_new ();

    g_strv_builder_addv (paths, (const char **) plugin_paths);
    if (opt_plugin_paths != NULL)
      g_strv_builder_addv (paths, (const char **) opt_plugin_paths);
    g_strfreev (opt_plugin_paths);
    opt_plugin_paths = g_strv_builder_end (paths);
  }
  registry = load_registry ();
  pipeline = load_pipeline (registry, snapshot, &status);
  if (pipeline == NULL)
    return status;
  return execute_pipeline (pipeline, argv[1], cache_dir);
}

/* Status ------------------------------------------------------------------------ */

typedef struct
{
  GPtrArray *names;    /* stages in the snapshot's order */
  GHashTable *rows;    /* stage -> StageStatus */
  GPtrArray *failures; /* "stage\titem\tmessage" */
} StatusReport;

typedef struct
{
  char *state;
  guint64 done, failed, cached, total;
  double seconds;
} StageStatus;

static StageStatus *
status_for (StatusReport *report, const char *stage)
{
  StageStatus *row = g_hash_table_lookup (report->rows, stage);

  if (row == NULL)
    {
      row = g_new0 (StageStatus, 1);
      g_hash_table_insert (report->rows, g_strdup (stage), row);
    }
  return row;
}

static void
stage_status_free (StageStatus *row)
{
  g_free (row->state);
  g_free (row);
}

static void
collect_stage_row (int n, const char *const *v, gpointer data)
{
  StageStatus *row = status_for (data, v[0]);

  g_free (row->state);
  row->state = g_strdup (v[1] ? v[1] : "");
  row->done = v[2] ? g_ascii_strtoull (v[2], NULL, 10) : 0;
  row->failed = v[3] ? g_ascii_strtoull (v[3], NULL, 10) : 0;
  row->cached = v[4] ? g_ascii_strtoull (v[4], NULL, 10) : 0;
  row->total = v[5] ? g_ascii_strtoull (v[5], NULL, 10) : 0;
  row->seconds = v[6] ? g_ascii_strtod (v[6], NULL) : 0;
}

/* Committed batches are what is durably done, even after a kill -9. */
static void
collect_batch_row (int n, const char *const *v, gpointer data)
{
  StageStatus *row = status_for (data, v[0]);
  guint64 done = v[1] ? g_ascii_strtoull (v[1], NULL, 10) : 0;

  row->done = MAX (row->done, done);
  row->failed = MAX (row->failed, v[2] ? g_ascii_strtoull (v[2], NULL, 10) : 0);
  row->cached = MAX (row->cached, v[3] ? g_ascii_strtoull (v[3], NULL, 10) : 0);
}

static void
collect_failure_row (int n, const char *const *v, gpointer data)
{
  StatusReport *report = data;

  g_ptr_array_add (report->failures, g_strdup_printf ("%s\t%s\t%s", v[0] ? v[0] : "",
                                                      v[1] ? v[1] : "", v[2] ? v[2] : ""));
}

static int
command_status (int argc, char **argv)
{
  static const GOptionEntry entries[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
                                            "Print JSON for machines", NULL },
                                          { NULL } };
  const GOptionEntry *groups[] = { entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("JOB",
                     "Show what a job has done: per stage the items done, pending, "
                     "failed and taken from the cache, the failures, elapsed and remaining time.",
                     groups);
  g_autoptr (GError) error = NULL;
  g_autofree char *snapshot_path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  SutraJournal *journal;
  StatusReport report;
  double elapsed = 0, remaining = 0;
  gboolean remaining_known = TRUE;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  if (!sutra_job_read_settings (argv[1], &snapshot_path, NULL, NULL, &error) ||
      !json_parser_load_from_file (parser, snapshot_path, &error) ||
      (journal = sutra_job_open_journal (argv[1], &error)) == NULL)
    {
      print_error ("%s", error->message);
      return EXIT_JOB;
    }
  report.names = g_ptr_array_new ();
  report.rows =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) stage_status_free);
  report.failures = g_ptr_array_new_with_free_func (g_free);
  {
    JsonObject *root = json_node_get_object (json_parser_get_root (parser));
    g_autoptr (GList) names =
      json_object_get_members (json_object_get_object_member (root, "stages"));

    for (GList *l = names; l != NULL; l = l->next)
      g_ptr_array_add (report.names, l->data);
  }
  sutra_journal_query (journal,
                       "SELECT stage, state, n_in, n_failed, n_cached, n_total, seconds "
                       "FROM stages",
                       collect_stage_row, &report, NULL);
  sutra_journal_query (journal,
                       "SELECT stage, SUM(n_in), SUM(n_failed), "
                       "SUM(CASE WHEN cached THEN n_in ELSE 0 END) FROM batches GROUP BY stage",
                       collect_batch_row, &report, NULL);
  sutra_journal_query (journal, "SELECT stage, item, message FROM failures ORDER BY rowid",
                       collect_failure_row, &report, NULL);
  sutra_journal_close (journal);

  for (guint i = 0; i < report.names->len; i++)
    {
      StageStatus *row = status_for (&report, report.names->pdata[i]);

      elapsed = MAX (elapsed, row->seconds);
      if (row->state == NULL || strcmp (row->state, "done") != 0)
        {
          if (row->total > row->done && row->done > 0 && row->seconds > 0)
            remaining = MAX (remaining, (row->total - row->done) * row->seconds / row->done);
          else
            remaining_known = FALSE;
        }
    }

  if (opt_json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonGenerator) generator = json_generator_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "job");
      json_builder_add_string_value (builder, argv[1]);
      json_builder_set_member_name (builder, "stages");
      json_builder_begin_array (builder);
      for (guint i = 0; i < report.names->len; i++)
        {
          StageStatus *row = status_for (&report, report.names->pdata[i]);
          gboolean done = row->state != NULL && strcmp (row->state, "done") == 0;

          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "stage");
          json_builder_add_string_value (builder, report.names->pdata[i]);
          json_builder_set_member_name (builder, "state");
          json_builder_add_string_value (builder, row->state ? row->state : "pending");
          json_builder_set_member_name (builder, "done");
          json_builder_add_int_value (builder, row->done);
          json_builder_set_member_name (builder, "pending");
          if (done)
            json_builder_add_int_value (builder, 0);
          else if (row->total > 0)
            json_builder_add_int_value (builder,
                                        row->total > row->done ? row->total - row->done : 0);
          else
            json_builder_add_null_value (builder);
          json_builder_set_member_name (builder, "failed");
          json_builder_add_int_value (builder, row->failed);
          json_builder_set_member_name (builder, "cached");
          json_builder_add_int_value (builder, row->cached);
          json_builder_set_member_name (builder, "seconds");
          json_builder_add_double_value (builder, row->seconds);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "failures");
      json_builder_begin_array (builder);
      for (guint i = 0; i < report.failures->len; i++)
        {
          g_auto (GStrv) fields = g_strsplit (report.failures->pdata[i], "\t", 3);

          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "stage");
          json_builder_add_string_value (builder, fields[0]);
          json_builder_set_member_name (builder, "item");
          json_builder_add_string_value (builder, fields[1]);
          json_builder_set_member_name (builder, "message");
          json_builder_add_string_value (builder, fields[2]);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "elapsed_seconds");
      json_builder_add_double_value (builder, elapsed);
      json_builder_set_member_name (builder, "remaining_seconds");
      if (remaining_known)
        json_builder_add_double_value (builder, remaining);
      else
        json_builder_add_null_value (builder);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      json_generator_set_root (generator, root);
      json_generator_set_pretty (generator, TRUE);
      text = json_generator_to_data (generator, NULL);
      printf ("%s\n", text);
    }
  else
    {
      printf ("job %s\n\n  %-16s %-9s %10s %10s %8s %8s %9s\n", argv[1], "stage", "state", "done",
              "pending", "failed", "cached", "seconds");
      for (guint i = 0; i < report.names->len; i++)
        {
          StageStatus *row = status_for (&report, report.names->pdata[i]);
          gboolean done = row->state != NULL && strcmp (row->state, "done") == 0;
          g_autofree char *pending =
            done             ? g_strdup ("0")
            : row->total > 0 ? g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                row->total > row->done ? row->total - row->done : 0)
                             : g_strdup ("?");

          printf ("  %-16s %-9s %10" G_GUINT64_FORMAT " %10s %8" G_GUINT64_FORMAT
                  " %8" G_GUINT64_FORMAT " %9.1f\n",
                  (char *) report.names->pdata[i], row->state ? row->state : "pending", row->done,
                  pending, row->failed, row->cached, row->seconds);
        }
      printf ("\n  elapsed %.1f s", elapsed);
      if (remaining_known && remaining > 0)
        printf (", about %.0f s remaining", remaining);
      printf ("\n");
      if (report.failures->len > 0)
        {
          printf ("\nfailures (try again with “sutra resume --retry-failed %s”):\n", argv[1]);
          for (guint i = 0; i < report.failures->len; i++)
            {
              g_auto (GStrv) fields = g_strsplit (report.failures->pdata[i], "\t", 3);
              printf ("  %s  %s: %s\n", fields[0], fields[1], fields[2]);
            }
        }
    }
  g_ptr_array_unref (report.names);
  g_hash_table_unref (report.rows);
  g_ptr_array_unref (report.failures);
  return EXIT_OK;
}

static guint
key_hash (gconstpointer key)
{
  guint value;

  memcpy (&value, g_bytes_get_data ((GBytes *) key, NULL), sizeof value);
  return value;
}

static int
command_gc (int argc, char **argv)
{
  static const GOptionEntry entries[] = { { "cache", 'c', 0, G_OPTION_ARG_FILENAME, &opt_cache,
                                            "The shared store to clean", "DIR" },
                                          { NULL } };
  const GOptionEntry *groups[] = { entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("[JOB…]",
                     "Remove store entries that no job refers to, and say how much "
                     "was freed. Cleans the store given with --cache, or the stores of the jobs "
                     "given.",
                     groups);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) stores = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GOptionContext) unused = NULL;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      print_error ("%s (see “sutra gc --help”)", error->message);
      return EXIT_USAGE;
    }
  if (opt_cache != NULL)
    g_ptr_array_add (stores, g_strdup (opt_cache));
  for (int i = 1; i < argc; i++)
    {
      g_autofree char *cache_dir = NULL;

      if (!sutra_job_read_settings (argv[i], NULL, &cache_dir, NULL, &error))
        {
          print_error ("%s", error->message);
          return EXIT_JOB;
        }
      g_ptr_array_add (stores, cache_dir != NULL ? g_steal_pointer (&cache_dir)
                                                 : g_build_filename (argv[i], "store", NULL));
    }
  if (stores->len == 0)
    {
      print_error ("name a store (--cache DIR) or a job directory (see “sutra gc --help”)");
      return EXIT_USAGE;
    }
  for (guint s = 0; s < stores->len; s++)
    {
      g_autoptr (GHashTable) referenced =
        g_hash_table_new_full (key_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
      g_autoptr (GPtrArray) jobs = NULL;
      SutraStore *store = sutra_store_open (stores->pdata[s], &error);
      guint64 freed;
      guint removed = 0;

      if (store == NULL)
        {
          print_error ("%s", error->message);
          return EXIT_JOB;
        }
      jobs = sutra_store_list_jobs (store);
      for (guint j = 0; j < jobs->len; j++)
        {
          g_autoptr (GError) local = NULL;
          SutraJournal *journal = sutra_job_open_journal (jobs->pdata[j], &local);

          if (journal == NULL)
            {
              /* Keep everything rather than delete what a damaged job uses. */
              print_error ("%s; nothing removed from %s", local->message,
                           (char *) stores->pdata[s]);
              sutra_store_close (store);
              return EXIT_JOB;
            }
          sutra_journal_collect_keys (journal, referenced);
          sutra_journal_close (journal);
        }
      freed = sutra_store_gc (store, referenced, &removed, &error);
      printf ("%s: %u jobs use it; removed %u files, freed %.1f MB\n", (char *) stores->pdata[s],
              jobs->len, removed, freed / 1e6);
      sutra_store_close (store);
    }
  return EXIT_OK;
}

static int
command_validate (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE",
                     "Check a pipeline file: every problem is reported, each "
                     "with its line, column, stage and key.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  pipeline = load_pipeline (registry, argv[1], &status);
  if (pipeline == NULL)
    return status;
  printf ("%s: valid: %u stages\n", argv[1], pipeline->stages->len);
  return EXIT_OK;
}

static int
command_graph (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE",
                     "Print the pipeline's stages and edges as Graphviz DOT "
                     "(render with “dot -Tsvg”).",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *dot = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  pipeline = load_pipeline (registry, argv[1], &status);
  if (pipeline == NULL)
    return status;
  dot = sutra_pipeline_to_dot (pipeline);
  fputs (dot, stdout);
  return EXIT_OK;
}

static int
command_plugins (int argc, char **argv)
{
  const GOptionEntry *groups[] = { plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("", "List the loaded plugins and their stages.", groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (GPtrArray) plugins = NULL;
  int status = parse_command (context, &argc, &argv, 0);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  plugins = sutra_registry_list_plugins (registry);
  for (guint i = 0; i < plugins->len; i++)
    {
      const SutraPlugin *plugin = plugins->pdata[i];

      printf ("%s %s — %s\n    %s\n", plugin->info->name, plugin->info->version,
              plugin->info->summary, plugin->path);
      for (const SutraStageInfo *stage = plugin->info->stages; stage->name != NULL; stage++)
        printf ("    stage %-14s %-7s %s\n", stage->name, sutra_stage_kind_to_string (stage->kind),
                stage->summary);
    }
  return EXIT_OK;
}

static void
print_param (const SutraParamInfo *param)
{
  g_autofree char *range = NULL;
  g_autofree char *def = NULL;

  switch (param->type)
    {
    case SUTRA_PARAM_BOOL:
      def = g_strdup (param->default_int ? "true" : "false");
      break;
    case SUTRA_PARAM_INT:
      def = g_strdup_printf ("%" G_GINT64_FORMAT, param->default_int);
      range = g_strdup_printf ("%.0f..%.0f", param->min, param->max);
      break;
    case SUTRA_PARAM_DOUBLE:
      def = g_strdup_printf ("%g", param->default_double);
      range = g_strdup_printf ("%g..%g", param->min, param->max);
      break;
    case SUTRA_PARAM_STRING:
      def = param->default_string ? g_strescape (param->default_string, NULL) : NULL;
      if (def != NULL)
        {
          char *quoted = g_strdup_printf ("\"%s\"", def);
          g_free (def);
          def = quoted;
        }
      break;
    case SUTRA_PARAM_ENUM:
      def = g_strdup_printf ("\"%s\"", param->default_string);
      range = g_strjoinv ("|", (char **) param->choices);
      break;
    }
  printf ("    %-18s %-7s", param->name, sutra_param_type_to_string (param->type));
  if (param->flags & SUTRA_PARAM_REQUIRED)
    printf (" required");
  else
    printf (" default %s", def != NULL ? def : "none");
  if (range != NULL)
    printf ("  range %s", range);
  printf ("\n        %s\n", param->doc);
}

static void
print_stage (const SutraPlugin *plugin, const SutraStageInfo *stage)
{
  printf ("Stage %s (%s), from plugin %s %s\n  %s\n", stage->name,
          sutra_stage_kind_to_string (stage->kind), plugin->info->name, plugin->info->version,
          stage->summary);
  printf ("  threading: %s\n", sutra_threading_to_string (stage->threading));
  printf ("  devices:   %s%s%s\n", (stage->devices & SUTRA_DEVICE_CPU) ? "cpu" : "",
          (stage->devices & SUTRA_DEVICE_CPU) && (stage->devices & SUTRA_DEVICE_CUDA) ? ", " : "",
          (stage->devices & SUTRA_DEVICE_CUDA) ? "cuda" : "");
  printf ("  parameters:\n");
  if (stage->params[0].name == NULL)
    printf ("    (none)\n");
  for (const SutraParamInfo *param = stage->params; param->name != NULL; param++)
    print_param (param);
}

static int
command_inspect (int argc, char **argv)
{
  const GOptionEntry *groups[] = { plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("NAME",
                     "Describe a plugin or a stage: its parameters (types, defaults, "
                     "ranges, docs), threading model and devices.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  const SutraPlugin *plugin;
  const SutraStageInfo *stage;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  plugin = sutra_registry_find_plugin (registry, argv[1]);
  if (plugin != NULL)
    {
      printf ("Plugin %s %s (ABI %u.%u)\n  %s\n  %s\n\n", plugin->info->name, plugin->info->version,
              plugin->info->abi_major, plugin->info->abi_minor, plugin->info->summary,
              plugin->path);
      for (stage = plugin->info->stages; stage->name != NULL; stage++)
        print_stage (plugin, stage);
      return EXIT_OK;
    }
  stage = sutra_registry_find_stage (registry, argv[1], &plugin);
  if (stage != NULL)
    {
      print_stage (plugin, stage);
      return EXIT_OK;
    }
  {
    g_autoptr (GPtrArray) names = sutra_registry_list_stage_names (registry);
    g_autofree char *suggestion = NULL;
    g_autofree char *choices = NULL;

    g_ptr_array_add (names, NULL);
    suggestion = sutra_suggest (argv[1], (const char *const *) names->pdata);
    choices = sutra_format_choices ((const char *const *) names->pdata);
    if (suggestion != NULL)
      print_error ("no plugin or stage named “%s”; did you mean “%s”? Known: %s", argv[1],
                   suggestion, choices);
    else
      print_error ("no plugin or stage named “%s”. Known: %s", argv[1], choices);
  }
  return EXIT_PLUGIN;
}

static int
command_devices (int argc, char **argv)
{
  const GOptionEntry *groups[] = { NULL };
  g_autoptr (GOptionContext) context =
    command_context ("",
                     "List the GPUs sutra can assign to stages (“devices” in a "
                     "pipeline file).",
                     groups);
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *why = NULL;
  int status = parse_command (context, &argc, &argv, 0);

  if (status != EXIT_OK)
    return status;
  devices = sutra_devices_enumerate (&why);
  printf ("cpu    %u cores\n", g_get_num_processors ());
  for (guint i = 0; i < devices->len; i++)
    {
      SutraDevice *device = devices->pdata[i];
      printf ("%-6s %s, %.1f GiB\n", device->name, device->model,
              device->memory_bytes / (1024.0 * 1024 * 1024));
    }
  if (devices->len == 0)
    printf ("no GPU: %s\n", why != NULL ? why : "none found");
  return EXIT_OK;
}

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: sutra COMMAND [OPTION…] [ARGUMENT]\n\n"
           "sutra runs declarative pipelines of stage plugins over streams of items.\n\n"
           "%s\nOptions:\n  -h, --help     Show this help\n  --version      Show the version\n\n%s",
           commands_help, exit_status_help);
}

int
main (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*run) (int, char **);
  } commands[] = {
    { "run", command_run },           { "resume", command_resume },
    { "status", command_status },     { "gc", command_gc },
    { "validate", command_validate }, { "graph", command_graph },
    { "plugins", command_plugins },   { "inspect", command_inspect },
    { "devices", command_devices },
  };
  const char *name;

  setlocale (LC_ALL, "");
  if (argc < 2)
    {
      print_usage (stderr);
      return EXIT_USAGE;
    }
  name = argv[1];
  if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0 || strcmp (name, "help") == 0)
    {
      print_usage (stdout);
      return EXIT_OK;
    }
  if (strcmp (name, "--version") == 0 || strcmp (name, "version") == 0)
    {
      printf ("sutra %s (plugin ABI %d.%d)\n", SUTRA_VERSION_STRING, SUTRA_ABI_MAJOR,
              SUTRA_ABI_MINOR);
      return EXIT_OK;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (commands[i].name, name) == 0)
      {
        g_autofree char *program = g_strdup_printf ("sutra %s", name);

        argv[1] = program;
        return commands[i].run (argc - 1, argv + 1);
      }
  {
    const char *names[G_N_ELEMENTS (commands) + 1];
    g_autofree char *suggestion = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
      names[i] = commands[i].name;
    names[G_N_ELEMENTS (commands)] = NULL;
    suggestion = sutra_suggest (name, names);
    if (suggestion != NULL)
      print_error ("unknown command “%s”; did you mean “%s”? (see “sutra --help”)", name,
                   suggestion);
    else
      print_error ("unknown command “%s” (see “sutra --help”)", name);
  }
  return EXIT_USAGE;
}
