/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra run and sutra resume: a pipeline in its job, with signals and progress. */

#include "sutra-cli.h"
#include "sutra-job.h"
#include "sutra-progress.h"
#include "sutra-run.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int
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

int
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
