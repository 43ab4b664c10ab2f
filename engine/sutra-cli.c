/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the sutra commands share: options, help texts, loading plugins and pipelines. */

#include "sutra-cli.h"

#include <stdio.h>
#include <string.h>

const char sutra_cli_exit_status_help[] =
  "Exit status:\n"
  "  0    success\n"
  "  1    the run failed: a stage failed an item (the message names the stage and item)\n"
  "  2    bad command line\n"
  "  3    the pipeline file is invalid (every problem is listed)\n"
  "  4    a plugin could not be found or loaded\n"
  "  5    the job cannot be run: it is running elsewhere, its pipeline changed (see --force),\n"
  "       or its directory is damaged or of another sutra version\n"
  "  130  interrupted by SIGINT (Ctrl-C); 143: by SIGTERM\n";

const char sutra_cli_commands_help[] =
  "Commands:\n"
  "  run PIPELINE       validate and run a pipeline file (in a job directory: resumable)\n"
  "  resume JOB         resume an interrupted job from its directory\n"
  "  status JOB         what a job has done, what failed, what is left\n"
  "  jobs [DIR]         list the jobs: pipeline, inputs, state, start, duration\n"
  "  report JOB         write a job's run report: one HTML file with graph and charts\n"
  "  gc                 remove store entries that no job refers to\n"
  "  validate PIPELINE  check a pipeline file and report every problem\n"
  "  graph PIPELINE     print the pipeline as a Graphviz DOT graph\n"
  "  plugins            list the plugins and their stages\n"
  "  inspect [NAME]     describe a plugin or stage (media types, parameters); all stages\n"
  "  devices            list the GPUs sutra can use\n"
  "\n"
  "Run “sutra COMMAND --help” for a command's options.\n";

/* Each command's --help lists the statuses it can return, and only those
 * (docs/cli.md has the same lists). */
#define STATUS_HEAD "Exit status:\n"
#define STATUS_OK "  0    success\n"
#define STATUS_USAGE "  2    bad command line\n"
#define STATUS_INVALID "  3    the pipeline file is invalid (every problem is listed)\n"
#define STATUS_SIGNALS "  130  interrupted by SIGINT (Ctrl-C); 143: by SIGTERM\n"
#define STATUS_RUN_FAILED                                                                   \
  "  1    the run failed: a stage failed an item (the message names the stage and item),\n" \
  "       a disk filled up ...; what was finished is kept: fix the cause and resume\n"
#define STATUS_JOB_BUSY                                                                          \
  "  5    the job cannot be run: it is running elsewhere, its pipeline changed (see --force),\n" \
  "       or its directory is damaged or of another sutra version\n"

static const struct
{
  const char *command;
  const char *help;
} command_exit_statuses[] = {
  { "run",
    STATUS_HEAD "  0    success, or the job was already up to date\n" STATUS_RUN_FAILED STATUS_USAGE
      STATUS_INVALID STATUS_JOB_BUSY STATUS_SIGNALS },
  { "resume", STATUS_HEAD
    "  0    success, or the job was already up to date\n" STATUS_RUN_FAILED STATUS_USAGE
    "  3    the job's pipeline snapshot no longer validates (a plugin is missing)\n" STATUS_JOB_BUSY
      STATUS_SIGNALS },
  { "status", STATUS_HEAD
    "  0    the job's state was printed (whatever it is)\n" STATUS_USAGE
    "  5    JOB is not a job directory, or it is damaged or of another sutra version\n" },
  { "jobs", STATUS_HEAD
    "  0    the jobs were listed (none is no error)\n" STATUS_USAGE
    "  5    a DIR cannot be read, --cache names no store, or a job is damaged (the others\n"
    "       are listed)\n" },
  { "report", STATUS_HEAD
    "  0    the report was written\n"
    "  2    bad command line, or the report file cannot be written\n"
    "  5    JOB is not a job directory, or it is damaged or of another sutra version\n" },
  { "gc", STATUS_HEAD STATUS_OK STATUS_USAGE
    "  5    a job or store cannot be read, or a job runs on the store: nothing was removed\n" },
  { "validate", STATUS_HEAD "  0    the pipeline file is valid\n" STATUS_USAGE STATUS_INVALID },
  { "graph", STATUS_HEAD STATUS_OK STATUS_USAGE STATUS_INVALID },
  { "plugins", STATUS_HEAD STATUS_OK STATUS_USAGE },
  { "inspect", STATUS_HEAD STATUS_OK STATUS_USAGE "  4    no plugin or stage has that name\n" },
  { "devices", STATUS_HEAD STATUS_OK STATUS_USAGE },
};

const char *sutra_cli_command;
char **sutra_cli_command_line;

char **opt_plugin_paths;
char **opt_sets;
gboolean opt_quiet;
char *opt_events;
char *opt_job;
char *opt_cache;
gboolean opt_force;
gboolean opt_retry_failed;
gboolean opt_json;
gboolean opt_no_job;

const GOptionEntry plugin_path_entries[] = {
  { "plugin-path", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_plugin_paths,
    "Load plugins from PATH too, a module file or a directory of them (repeatable; "
    "searched before SUTRA_PLUGIN_PATH and the built-in directory)",
    "PATH" },
  { NULL }
};

const GOptionEntry set_entries[] = {
  { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &opt_sets,
    "Set a variable (name=value, for ${name}) or a stage setting or parameter "
    "(stage.key=value, e.g. speak.workers=4); repeatable",
    "KEY=VALUE" },
  { NULL }
};

const GOptionEntry run_entries[] = {
  { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, "Print no progress display and no summary",
    NULL },
  { "events", 'e', 0, G_OPTION_ARG_FILENAME, &opt_events,
    "Write JSON-lines events (stage started, progress, item failed, finished) to FILE "
    "(“-” for standard output)",
    "FILE" },
  { NULL }
};

const GOptionEntry job_entries[] = {
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
    "Run even though the pipeline computes something else than the job's snapshot (a "
    "stage's plugin, input or parameters): the changed stages and what is downstream of them "
    "are recomputed. Workers, queue, batch and the failure policy are no change",
    NULL },
  { NULL }
};

const GOptionEntry retry_entries[] = {
  { "retry-failed", 'r', 0, G_OPTION_ARG_NONE, &opt_retry_failed,
    "Try the items that failed (and were skipped) in earlier runs again", NULL },
  { NULL }
};

void
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
SutraRegistry *
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

GOptionContext *
command_context (const char *parameter, const char *summary, const GOptionEntry *const *groups)
{
  GOptionContext *context = g_option_context_new (parameter);

  const char *statuses = sutra_cli_exit_status_help;

  for (gsize i = 0; sutra_cli_command != NULL && i < G_N_ELEMENTS (command_exit_statuses); i++)
    if (strcmp (command_exit_statuses[i].command, sutra_cli_command) == 0)
      statuses = command_exit_statuses[i].help;
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, statuses);
  for (guint i = 0; groups[i] != NULL; i++)
    g_option_context_add_main_entries (context, groups[i], NULL);
  return context;
}

int
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

SutraPipeline *
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

int
parse_pipeline_command (GOptionContext *context,
                        int *argc,
                        char ***argv,
                        SutraRegistry **registry,
                        SutraPipeline **pipeline)
{
  int status = parse_command (context, argc, argv, 1);

  if (status != EXIT_OK)
    return status;
  *registry = load_registry ();
  *pipeline = load_pipeline (*registry, (*argv)[1], &status);
  return *pipeline != NULL ? EXIT_OK : status;
}

void
cli_json_add_strv_member (JsonBuilder *builder, const char *name, char **strv)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

void
cli_json_add_time_member (JsonBuilder *builder, const char *name, gint64 unix_seconds)
{
  json_builder_set_member_name (builder, name);
  if (unix_seconds > 0)
    {
      g_autoptr (GDateTime) time = g_date_time_new_from_unix_utc (unix_seconds);
      g_autofree char *text = g_date_time_format_iso8601 (time);

      json_builder_add_string_value (builder, text);
    }
  else
    json_builder_add_null_value (builder);
}
