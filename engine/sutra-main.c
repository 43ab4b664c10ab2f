/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sutra command line: run, validate, plugins, inspect, graph, devices. */

#include "sutra-devices.h"
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
enum {
  EXIT_OK = 0,
  EXIT_RUN_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_INVALID_PIPELINE = 3,
  EXIT_PLUGIN = 4,
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
  "  130  interrupted by SIGINT (Ctrl-C); 143: by SIGTERM\n";

static const char commands_help[] =
  "Commands:\n"
  "  run PIPELINE       validate and run a pipeline file\n"
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

static const GOptionEntry plugin_path_entries[] = {
  { "plugin-path", 'P', 0, G_OPTION_ARG_FILENAME_ARRAY, &opt_plugin_paths,
    "Load plugins from DIR or FILE too (repeatable; searched before SUTRA_PLUGIN_PATH and "
    "the built-in directory)", "DIR" },
  { NULL }
};

static const GOptionEntry set_entries[] = {
  { "set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &opt_sets,
    "Set a variable (name=value, for ${name}) or a stage setting or parameter "
    "(stage.key=value, e.g. speak.workers=4); repeatable", "KEY=VALUE" },
  { NULL }
};

static const GOptionEntry run_entries[] = {
  { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet,
    "Print no progress display and no summary", NULL },
  { "events", 'e', 0, G_OPTION_ARG_FILENAME, &opt_events,
    "Write JSON-lines events (stage started, progress, item failed, finished) to FILE "
    "(“-” for standard output)", "FILE" },
  { NULL }
};

static void
print_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

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
  SutraPipeline *pipeline = sutra_pipeline_load (path, registry,
                                                 (const char *const *) opt_sets, &error);

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
          fprintf (stderr, "\nsutra: %s: finishing the items in flight; press Ctrl-C again "
                   "to abandon them\n", number == SIGINT ? "interrupted" : "terminated");
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

static int
command_run (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, run_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE", "Validate and run a pipeline file.", groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (SutraRun) run = NULL;
  g_autoptr (GError) error = NULL;
  SutraProgress *progress;
  SignalWatch watch = { NULL, 0 };
  FILE *events = NULL;
  FILE *tty = NULL;
  pthread_t watcher;
  sigset_t set;
  gboolean ok;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  pipeline = load_pipeline (registry, argv[1], &status);
  if (pipeline == NULL)
    return status;

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
        fprintf (stderr, "sutra: stage “%s”: item “%s” failed and was skipped: %s\n",
                 fields[0], fields[1], fields[2]);
      }
  }
  if (!ok)
    {
      if (watch.signal_number != 0)
        {
          print_error ("stopped by %s; outputs of sinks are left as .part files",
                       watch.signal_number == SIGINT ? "SIGINT" : "SIGTERM");
          return watch.signal_number == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
        }
      print_error ("run failed: %s", error->message);
      print_error ("outputs of sinks that did not finish are incomplete (left as .part files)");
      return EXIT_RUN_FAILED;
    }
  return EXIT_OK;
}

static int
command_validate (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE", "Check a pipeline file: every problem is reported, each "
                     "with its line, column, stage and key.", groups);
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
    command_context ("PIPELINE", "Print the pipeline's stages and edges as Graphviz DOT "
                     "(render with “dot -Tsvg”).", groups);
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
    command_context ("NAME", "Describe a plugin or a stage: its parameters (types, defaults, "
                     "ranges, docs), threading model and devices.", groups);
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
              plugin->info->abi_major, plugin->info->abi_minor, plugin->info->summary, plugin->path);
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
    command_context ("", "List the GPUs sutra can assign to stages (“devices” in a "
                     "pipeline file).", groups);
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
  fprintf (out, "Usage: sutra COMMAND [OPTION…] [ARGUMENT]\n\n"
           "sutra runs declarative pipelines of stage plugins over streams of items.\n\n"
           "%s\nOptions:\n  -h, --help     Show this help\n  --version      Show the version\n\n%s",
           commands_help, exit_status_help);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*run) (int, char **);
  } commands[] = {
    { "run", command_run },         { "validate", command_validate },
    { "graph", command_graph },     { "plugins", command_plugins },
    { "inspect", command_inspect }, { "devices", command_devices },
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
