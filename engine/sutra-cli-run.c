/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra run and sutra resume: a pipeline in its job, with signals and progress. */

#include "sutra-cli.h"
#include "sutra-job.h"
#include "sutra-progress.h"
#include "sutra-report.h"
#include "sutra-run.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Signals ------------------------------------------------------------------- */

/* SIGINT and SIGTERM reach a handler that only writes the signal's number to
 * a pipe (async-signal-safe); a thread reads the pipe and stops the run.
 * A handler, not a signal mask and sigwait: whichever thread the kernel
 * picks runs it, including threads that libraries (or a sanitizer's
 * runtime) started before sutra could block anything, so a signal never
 * kills sutra mid-run. */
static int signal_pipe[2] = { -1, -1 };

static void
on_signal (int number)
{
  unsigned char byte = (unsigned char) number;
  int saved = errno;

  if (write (signal_pipe[1], &byte, 1) < 0)
    {
      /* The pipe is full of earlier signals: this one adds nothing. */
    }
  errno = saved;
}

typedef struct
{
  SutraRun *run;
  SutraProgress *progress; /* where notices go: above the live table */
  gint signal_number;      /* the first signal received, or 0 */
} SignalWatch;

static void *
signal_thread (void *data)
{
  SignalWatch *watch = data;
  unsigned char byte;

  for (;;)
    {
      ssize_t n = read (signal_pipe[0], &byte, 1);

      if (n < 0 && errno == EINTR)
        continue;
      /* 0: the run ended and sutra itself asks the thread to leave. */
      if (n <= 0 || byte == 0)
        break;
      if (g_atomic_int_compare_and_exchange (&watch->signal_number, 0, byte))
        {
          g_autofree char *message =
            g_strdup_printf ("sutra: %s: finishing the items in flight (Ctrl-C again "
                             "abandons them)",
                             byte == SIGINT ? "interrupted" : "terminated");

          /* The notice stays above the live table, whose footer says it
           * too until the run has drained. */
          sutra_progress_notice (watch->progress, message,
                                 "stopping: finishing the items in flight");
          sutra_run_stop (watch->run, FALSE);
        }
      else
        {
          sutra_progress_notice (watch->progress, "sutra: abandoning the items in flight",
                                 "stopping: abandoning the items in flight");
          sutra_run_stop (watch->run, TRUE);
        }
    }
  return NULL;
}

static gboolean
install_signal_handlers (void)
{
  struct sigaction action = { 0 };

  if (pipe2 (signal_pipe, O_CLOEXEC) != 0)
    return FALSE;
  action.sa_handler = on_signal;
  sigemptyset (&action.sa_mask);
  action.sa_flags = SA_RESTART;
  return sigaction (SIGINT, &action, NULL) == 0 && sigaction (SIGTERM, &action, NULL) == 0;
}

static void
remove_signal_handlers (void)
{
  struct sigaction action = { 0 };

  action.sa_handler = SIG_DFL;
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, NULL);
  sigaction (SIGTERM, &action, NULL);
  close (signal_pipe[0]);
  close (signal_pipe[1]);
  signal_pipe[0] = signal_pipe[1] = -1;
}

#define MAX_FAILURES_SHOWN 20

/* Whether @run found every stage up to date and ran none. */
static gboolean
run_was_up_to_date (SutraRun *run)
{
  for (guint i = 0; i < sutra_run_get_n_stages (run); i++)
    {
      SutraStageStats stats;

      sutra_run_get_stats (run, i, &stats);
      if (!stats.skipped)
        return FALSE;
    }
  return TRUE;
}

/* Says that a job had nothing to do, and where its outputs are: what a
 * user who runs a finished job again wants to know, not a table of zeros. */
static void
count_rows (int n_columns, const char *const *values, gpointer data)
{
  *(guint64 *) data = values[0] != NULL ? g_ascii_strtoull (values[0], NULL, 10) : 0;
}

static void
print_up_to_date (SutraJob *job, SutraPipeline *pipeline, const char *job_dir)
{
  g_auto (GStrv) outputs = sutra_job_list_paths (pipeline, TRUE);
  g_autofree char *quoted = g_shell_quote (job_dir);
  guint64 n_failed = 0;

  fprintf (stderr,
           "sutra: job “%s” is up to date: nothing to compute (its inputs, pipeline and "
           "plugins are those of its last run)\n",
           job_dir);
  if (outputs[0] != NULL)
    fprintf (stderr, "sutra: %s:\n", outputs[1] != NULL ? "its outputs" : "its output");
  for (guint i = 0; outputs[i] != NULL; i++)
    {
      g_autofree char *absolute =
        strcmp (outputs[i], "-") != 0 ? g_canonicalize_filename (outputs[i], NULL) : NULL;

      fprintf (stderr, "  %s\n", absolute != NULL ? absolute : outputs[i]);
    }
  /* Up to date is not the same as complete: say what earlier runs skipped. */
  sutra_journal_query (job->journal, "SELECT COUNT(*) FROM failures", count_rows, &n_failed, NULL);
  if (n_failed > 0)
    fprintf (stderr,
             "sutra: %" G_GUINT64_FORMAT " item%s failed in earlier runs and %s skipped (sutra "
             "status %s); try them again with: sutra resume --retry-failed %s\n",
             n_failed, n_failed > 1 ? "s" : "", n_failed > 1 ? "were" : "was", quoted, quoted);
}

/* Shards -------------------------------------------------------------------- */

static char *opt_shard;
static int opt_shard_count;
static char *opt_missing;

static const GOptionEntry shard_entries[] = {
  { "shard", 0, 0, G_OPTION_ARG_STRING, &opt_shard,
    "Run one shard of the job: K/N (shard K of N, from 0), auto (the shard Slurm, an MPI "
    "launcher or a Kubernetes Indexed Job says), or gather (the final pass after the shards). "
    "Needs --cache DIR, a store every shard sees (docs/scale-out.md)",
    "K/N|auto|gather" },
  { "shard-count", 0, 0, G_OPTION_ARG_INT, &opt_shard_count,
    "The number of shards, for --shard auto when the launcher does not say it (Kubernetes) or "
    "says another (one re-submitted array task), and for gather, how many shards there are (by "
    "default, what the markers of the finished ones say); also SUTRA_SHARD_COUNT",
    "N" },
  { "missing", 0, 0, G_OPTION_ARG_STRING, &opt_missing,
    "With --shard gather: compute the part of shards that have not finished (compute, the "
    "default), or refuse to start and name them (fail)",
    "compute|fail" },
  { NULL }
};

/* A shard's job directory holds this file, "K/N": `sutra resume` and a run
 * without that --shard refuse it, since they would run the whole job in
 * it. */
#define SHARD_MARK "shard"

static char *
read_shard_mark (const char *job_dir)
{
  g_autofree char *path = g_build_filename (job_dir, SHARD_MARK, NULL);
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return g_strchomp (text);
}

/* Reads --shard and friends into @shard; EXIT_OK or a usage error. */
static int
parse_shard_options (SutraShard *shard)
{
  g_auto (GStrv) environ = g_get_environ ();
  g_autoptr (GError) error = NULL;

  memset (shard, 0, sizeof *shard);
  if (opt_missing != NULL && strcmp (opt_missing, "compute") != 0 &&
      strcmp (opt_missing, "fail") != 0)
    {
      print_error ("--missing “%s”: expected compute or fail", opt_missing);
      return EXIT_USAGE;
    }
  if (opt_shard == NULL)
    {
      if (opt_missing != NULL || opt_shard_count != 0)
        {
          print_error ("--missing and --shard-count go with --shard");
          return EXIT_USAGE;
        }
      return EXIT_OK;
    }
  if (opt_shard_count < 0)
    {
      print_error ("--shard-count %d: expected the number of shards", opt_shard_count);
      return EXIT_USAGE;
    }
  if (!sutra_shard_parse (opt_shard, (guint) opt_shard_count, (const char *const *) environ, shard,
                          &error))
    {
      print_error ("%s", error->message);
      return EXIT_USAGE;
    }
  if (opt_missing != NULL && shard->role != SUTRA_SHARD_GATHER)
    {
      print_error ("--missing goes with --shard gather");
      return EXIT_USAGE;
    }
  shard->missing_fails = g_strcmp0 (opt_missing, "fail") == 0;
  if (opt_no_job || opt_cache == NULL)
    {
      print_error ("--shard needs --cache DIR: the store the shards and the gather share, on a "
                   "filesystem every one of them sees%s",
                   opt_no_job ? " (and a job: not --no-job)" : "");
      return EXIT_USAGE;
    }
  return EXIT_OK;
}

/* A shard's job directory, without --job: private to the shard and on a
 * local disk ($TMPDIR, which Slurm and Kubernetes point at node-local
 * scratch), since the journal is SQLite, which a network filesystem does
 * not serve well. Named after the pipeline's job, the store and the shard,
 * so that re-running the same shard finds it. */
static char *
shard_job_dir (SutraPipeline *pipeline, const SutraShard *shard)
{
  g_autofree char *job = sutra_job_default_dir (pipeline);
  g_autofree char *base = g_path_get_basename (job);
  g_autofree char *store = g_canonicalize_filename (opt_cache, NULL);
  g_autofree char *store_hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, store, -1);
  g_autofree char *name = sutra_shard_name (shard->index, shard->count);
  g_autofree char *dir = g_strdup_printf ("%s-%.8s", base, store_hash);

  return g_build_filename (g_get_tmp_dir (), "sutra-shards", dir, name, NULL);
}

/* Sets the job's part of the work, refusing a shard's job directory for
 * anything but that shard; a shard claims its packs in the shared store
 * (and so what a killed run of it left there). */
static gboolean
start_shard (SutraJob *job, const char *job_dir, const SutraShard *shard)
{
  g_autofree char *mark = read_shard_mark (job_dir);
  g_autofree char *mine = NULL;
  g_autofree char *mark_path = NULL;
  g_autofree char *writer = NULL;
  g_autoptr (GError) error = NULL;
  guint n_recovered = 0;

  if (shard->role == SUTRA_SHARD_PART)
    mine = g_strdup_printf ("%u/%u", shard->index, shard->count);
  if (mark != NULL && g_strcmp0 (mark, mine) != 0)
    {
      print_error ("job “%s” is shard %s of a sharded run: run it again with --shard %s (and "
                   "the same --cache), or give this run another --job",
                   job_dir, mark, mark);
      return FALSE;
    }
  job->shard = *shard;
  if (shard->role != SUTRA_SHARD_PART)
    return TRUE;
  mark_path = g_build_filename (job_dir, SHARD_MARK, NULL);
  if (mark == NULL && !g_file_set_contents (mark_path, mine, -1, &error))
    {
      print_error ("cannot mark job “%s” as a shard: %s", job_dir, error->message);
      return FALSE;
    }
  writer = g_strdup_printf ("shard-%u-of-%u", shard->index, shard->count);
  if (!sutra_store_claim_writer (job->store, writer, &n_recovered, &error))
    {
      print_error ("cannot claim shard %s's packs in the store “%s”: %s", mine, job->store_dir,
                   error->message);
      return FALSE;
    }
  if (!opt_quiet)
    {
      fprintf (stderr, "sutra: shard %u of %u (0-based; from %s), store %s\n", shard->index,
               shard->count, shard->origin, job->store_dir);
      if (n_recovered > 0)
        fprintf (stderr,
                 "sutra: shard %s: %u stored batches that a stopped run of it left unsealed "
                 "are sealed and kept\n",
                 mine, n_recovered);
    }
  return TRUE;
}

/* Report -------------------------------------------------------------------- */

static char *opt_report;

static const GOptionEntry report_entries[] = {
  { "report", 0, 0, G_OPTION_ARG_FILENAME, &opt_report,
    "At the end of the run (also a failed or interrupted one), write the job's run report, "
    "one HTML file, to FILE (see “sutra report”)",
    "FILE" },
  { NULL }
};

/* A report that cannot be written does not change how the run went: it
 * is said, and the run's exit status stands. */
static void
write_report (const char *job_dir)
{
  g_autoptr (GError) error = NULL;

  if (!sutra_report_write (job_dir, opt_report, &error))
    print_error ("no report: %s", error->message);
  else if (!opt_quiet)
    fprintf (stderr, "sutra: report: %s\n", opt_report);
}

/* Runs @pipeline in the job at @job_dir. @resume_hint is the command that
 * resumes the job, printed when the run stops early. */
static int
execute_pipeline (SutraPipeline *pipeline,
                  const char *job_dir,
                  const char *cache_dir,
                  const SutraShard *shard)
{
  g_autoptr (SutraRun) run = NULL;
  g_autoptr (SutraJob) job = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *quoted_dir = g_shell_quote (job_dir != NULL ? job_dir : "(none)");
  /* What picks the job up again: `sutra resume` refuses a shard's job
   * (read_shard_mark), which its own command resumes. */
  g_autofree char *resume =
    shard->role == SUTRA_SHARD_PART
      ? g_strdup_printf ("the command that ran this shard, again: sutra run PIPELINE --shard %s "
                         "--cache DIR ...",
                         opt_shard)
      : g_strdup_printf ("sutra resume %s", quoted_dir);
  g_autofree char *retry = shard->role == SUTRA_SHARD_PART
                             ? g_strdup ("the command that ran this shard, with --retry-failed")
                             : g_strdup_printf ("sutra resume --retry-failed %s", quoted_dir);
  SutraProgress *progress;
  SignalWatch watch = { NULL, NULL, 0 };
  FILE *events = NULL;
  FILE *tty = NULL;
  FILE *log = NULL;
  pthread_t watcher;
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
      if (!start_shard (job, job_dir, shard))
        return EXIT_JOB;
      if (!opt_quiet)
        {
          fprintf (stderr, "sutra: job directory: %s\n", job_dir);
          for (guint i = 0; i < job->notes->len; i++)
            fprintf (stderr, "sutra: %s\n", (char *) job->notes->pdata[i]);
        }
      if (!sutra_job_record_start (job, pipeline, (const char *const *) sutra_cli_command_line,
                                   &error))
        {
          print_error ("cannot record the run in job “%s”: %s", job_dir, error->message);
          return EXIT_JOB;
        }
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
  /* A terminal gets a table redrawn in place, unless events go to the
   * same terminal (they would scroll it) or it cannot move its cursor;
   * anything else a plain line every few seconds (CI logs, nohup). */
  if (!opt_quiet && isatty (STDERR_FILENO) && !(events == stdout && isatty (STDOUT_FILENO)) &&
      g_strcmp0 (g_getenv ("TERM"), "dumb") != 0)
    tty = stderr;
  else if (!opt_quiet)
    log = stderr;

  if (!install_signal_handlers ())
    {
      print_error ("cannot set up signal handling: %s", g_strerror (errno));
      return EXIT_RUN_FAILED;
    }

  run = sutra_run_new (pipeline);
  if (job != NULL)
    sutra_run_set_job (run, job);
  progress = sutra_progress_new (run, pipeline, tty, log, events);
  watch.run = run;
  watch.progress = progress;
  if (pthread_create (&watcher, NULL, signal_thread, &watch) != 0)
    {
      print_error ("cannot start the signal thread: %s", g_strerror (errno));
      sutra_progress_free (progress);
      return EXIT_RUN_FAILED;
    }
  sutra_run_set_event_func (run, sutra_progress_write_event, progress);
  sutra_progress_start (progress);

  ok = sutra_run_execute (run, &error);

  sutra_progress_stop (progress, ok, error != NULL ? error->message : NULL);
  {
    unsigned char stop = 0;

    if (write (signal_pipe[1], &stop, 1) != 1)
      pthread_cancel (watcher);
    pthread_join (watcher, NULL);
  }
  remove_signal_handlers ();
  if (events != NULL && events != stdout)
    fclose (events);

  if (job != NULL)
    {
      g_autoptr (GError) local = NULL;

      /* Only the job's total time depends on it: not worth failing for. */
      if (!sutra_job_record_end (job, &local))
        print_error ("warning: cannot record the run's end in job “%s”: %s", job_dir,
                     local->message);
    }
  if (ok && job != NULL && run_was_up_to_date (run))
    {
      if (!opt_quiet)
        print_up_to_date (job, pipeline, job_dir);
    }
  else if (!opt_quiet)
    sutra_progress_print_summary (progress,
                                  ok                         ? SUTRA_PROGRESS_SUCCEEDED
                                  : watch.signal_number != 0 ? SUTRA_PROGRESS_STOPPED
                                                             : SUTRA_PROGRESS_FAILED,
                                  stderr);
  sutra_progress_free (progress);
  {
    g_autoptr (GPtrArray) failures = sutra_run_dup_failures (run);

    /* The first few: a thousand lines would bury the summary and the
     * advice after them. */
    for (guint i = 0; i < MIN (failures->len, MAX_FAILURES_SHOWN); i++)
      {
        g_auto (GStrv) fields = g_strsplit (failures->pdata[i], "\t", 3);
        fprintf (stderr, "sutra: stage “%s”: item “%s” failed and was skipped: %s\n", fields[0],
                 fields[1], fields[2]);
      }
    if (failures->len > MAX_FAILURES_SHOWN)
      fprintf (stderr, "sutra: … and %u more failures%s%s\n", failures->len - MAX_FAILURES_SHOWN,
               job_dir != NULL ? "; all of them: sutra status " : "",
               job_dir != NULL ? quoted_dir : "");
    if (failures->len > 0 && job_dir != NULL)
      fprintf (stderr, "sutra: %u items failed; try them again with: %s\n", failures->len, retry);
  }
  if (opt_report != NULL && job_dir != NULL)
    write_report (job_dir);
  if (!ok)
    {
      if (watch.signal_number != 0)
        {
          if (job_dir != NULL)
            print_error ("stopped by %s; what was finished is kept. Resume with:\n  %s",
                         watch.signal_number == SIGINT ? "SIGINT" : "SIGTERM", resume);
          else
            print_error ("stopped by %s (--no-job: nothing was kept); sinks that did not finish "
                         "left .part files",
                         watch.signal_number == SIGINT ? "SIGINT" : "SIGTERM");
          return watch.signal_number == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
        }
      print_error ("run failed: %s", error->message);
      /* A gather refused for missing shards has started nothing: what
       * comes next is the shards, then this command again, not a resume. */
      if (error->domain == SUTRA_SHARD_ERROR)
        return EXIT_RUN_FAILED;
      if (job_dir != NULL)
        print_error ("what was finished is kept; sinks that did not finish left .part files. "
                     "Fix the cause, then resume with:\n  %s",
                     resume);
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
  const GOptionEntry *groups[] = { set_entries, job_entries,         shard_entries,  retry_entries,
                                   run_entries, plugin_path_entries, report_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE",
                     "Validate and run a pipeline file. The run keeps its progress "
                     "in a job directory: run the same command again, or “sutra resume DIR”, "
                     "to pick up an interrupted run.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autofree char *job_dir = NULL;
  SutraShard shard;
  int status = parse_pipeline_command (context, &argc, &argv, &registry, &pipeline);

  if (status != EXIT_OK)
    return status;
  status = parse_shard_options (&shard);
  if (status != EXIT_OK)
    return status;
  if (shard.role != SUTRA_SHARD_NONE)
    {
      g_autofree gboolean *marked = g_new0 (gboolean, pipeline->stages->len);
      g_autoptr (GError) error = NULL;

      if (!sutra_shard_find_stages (pipeline, marked, &error))
        {
          print_error ("%s", error->message);
          return EXIT_INVALID_PIPELINE;
        }
    }
  if (opt_no_job && (opt_job != NULL || opt_cache != NULL))
    {
      print_error ("--no-job cannot go with --job or --cache");
      return EXIT_USAGE;
    }
  if (opt_no_job && opt_report != NULL)
    {
      print_error ("--report reads the job's journal: it cannot go with --no-job");
      return EXIT_USAGE;
    }
  if (!opt_no_job)
    job_dir = opt_job != NULL                  ? g_strdup (opt_job)
              : shard.role == SUTRA_SHARD_PART ? shard_job_dir (pipeline, &shard)
                                               : sutra_job_default_dir (pipeline);
  return execute_pipeline (pipeline, job_dir, opt_cache, &shard);
}

int
command_resume (int argc, char **argv)
{
  const GOptionEntry *groups[] = { retry_entries, run_entries, plugin_path_entries, report_entries,
                                   NULL };
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
  {
    g_autofree char *mark = read_shard_mark (argv[1]);
    SutraShard whole = { 0 };

    if (mark != NULL)
      {
        print_error ("job “%s” is shard %s of a sharded run: resume it with the command that "
                     "ran it (sutra run PIPELINE --shard %s --cache DIR ...)",
                     argv[1], mark, mark);
        return EXIT_USAGE;
      }
    return execute_pipeline (pipeline, argv[1], cache_dir, &whole);
  }
}
