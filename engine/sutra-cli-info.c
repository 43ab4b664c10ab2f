/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra validate, graph, plugins, inspect and devices: describing, not running. */

#include "sutra-cli.h"
#include "sutra-devices.h"

#include <stdio.h>
#include <string.h>

int
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
  int status = parse_pipeline_command (context, &argc, &argv, &registry, &pipeline);

  if (status != EXIT_OK)
    return status;
  /* Valid, but not as written on this machine: a GPU it lacks runs on the
   * CPU (device_fallback). */
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];

      for (guint w = 0; spec->device_warnings != NULL && w < spec->device_warnings->len; w++)
        fprintf (stderr, "warning: %s\n", (const char *) spec->device_warnings->pdata[w]);
    }
  printf ("%s: valid: %u stages\n", argv[1], pipeline->stages->len);
  return EXIT_OK;
}

int
command_graph (int argc, char **argv)
{
  const GOptionEntry *groups[] = { set_entries, plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("PIPELINE",
                     "Print the pipeline's stages and edges as Graphviz DOT "
                     "(render with “dot -Tsvg”). Input files need not exist and "
                     "${variables} need no values.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraPipeline) pipeline = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dot = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  registry = load_registry ();
  /* A graph shows the pipeline's shape: it needs no input files, no
   * output directories and no values for its ${variables}. */
  pipeline = sutra_pipeline_load_full (argv[1], registry, (const char *const *) opt_sets,
                                       SUTRA_PIPELINE_LOAD_STRUCTURE_ONLY, &error);
  if (pipeline == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return EXIT_INVALID_PIPELINE;
    }
  dot = sutra_pipeline_to_dot (pipeline);
  fputs (dot, stdout);
  return EXIT_OK;
}

int
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
      {
        char value[SUTRA_DOUBLE_BUFFER_SIZE], min[SUTRA_DOUBLE_BUFFER_SIZE],
          max[SUTRA_DOUBLE_BUFFER_SIZE];

        /* "%g" would print 1234567.5 as 1.23457e+06: not what to type. */
        def = g_strdup (sutra_format_double (value, param->default_double));
        range = g_strdup_printf ("%s..%s", sutra_format_double (min, param->min),
                                 sutra_format_double (max, param->max));
        break;
      }
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

/* A media type or metadata key list, as gst-inspect shows pad templates:
 * what a declared list says, and what a missing one means for this kind. */
static void
print_list (const char *label, const char *const *list, const char *if_null, const char *if_empty)
{
  printf ("  %-10s ", label);
  if (list == NULL)
    printf ("%s\n", if_null);
  else if (list[0] == NULL)
    printf ("%s\n", if_empty);
  else
    {
      for (guint i = 0; list[i] != NULL; i++)
        printf ("%s%s", i > 0 ? ", " : "",
                strcmp (list[i], "*") == 0 ? "and others from its input" : list[i]);
      printf ("\n");
    }
}

static void
print_stage (const SutraPlugin *plugin, const SutraStageInfo *stage)
{
  printf ("Stage %s (%s), from plugin %s %s\n  %s\n", stage->name,
          sutra_stage_kind_to_string (stage->kind), plugin->info->name, plugin->info->version,
          stage->summary);
  printf ("  threading: %s\n", sutra_threading_to_string (stage->threading));
  printf ("  devices:   %s%s%s (“auto”: %s)\n", (stage->devices & SUTRA_DEVICE_CPU) ? "cpu" : "",
          (stage->devices & SUTRA_DEVICE_CPU) && (stage->devices & SUTRA_DEVICE_CUDA) ? ", " : "",
          (stage->devices & SUTRA_DEVICE_CUDA) ? "cuda" : "",
          sutra_devices_auto_prefers_gpu (stage->devices) ? "the GPUs there are, else the CPU"
          : (stage->devices & SUTRA_DEVICE_CPU)           ? "the CPU"
                                                          : "the GPUs there are");
  if (stage->kind == SUTRA_STAGE_SOURCE)
    printf ("  %-10s nothing (a source)\n", "takes:");
  else
    print_list ("takes:", stage->input_media_types, "any media type", "nothing");
  if (stage->kind == SUTRA_STAGE_SINK)
    printf ("  %-10s nothing (a sink)\n", "produces:");
  else
    print_list ("produces:", stage->output_media_types,
                stage->kind == SUTRA_STAGE_MAP ? "what it takes (unspecified)" : "unspecified",
                "nothing");
  if (stage->kind != SUTRA_STAGE_SINK)
    print_list ("metadata:", stage->meta_keys, "unspecified", "writes none");
  if (stage->kind == SUTRA_STAGE_GATHER)
    printf ("  %-10s %s\n", "members:",
            stage->gather_begin != NULL ? "streamed, one at a time (memory bounded by the stage)"
                                        : "a whole group in one call (held in memory)");
  printf ("  parameters:\n");
  if (stage->params[0].name == NULL)
    printf ("    (none)\n");
  for (const SutraParamInfo *param = stage->params; param->name != NULL; param++)
    print_param (param);
}

/* `sutra inspect` alone: every stage, one line each, by name. */
static void
print_all_stages (SutraRegistry *registry)
{
  g_autoptr (GPtrArray) names = sutra_registry_list_stage_names (registry);
  g_autoptr (GPtrArray) plugins = sutra_registry_list_plugins (registry);

  printf ("%u stages from %u plugins (sutra inspect NAME describes one):\n\n", names->len,
          plugins->len);
  printf ("  %-18s %-7s %-14s %s\n", "STAGE", "KIND", "PLUGIN", "SUMMARY");
  for (guint i = 0; i < names->len; i++)
    {
      const SutraPlugin *plugin = NULL;
      const SutraStageInfo *stage = sutra_registry_find_stage (registry, names->pdata[i], &plugin);

      printf ("  %-18s %-7s %-14s %s\n", stage->name, sutra_stage_kind_to_string (stage->kind),
              plugin->info->name, stage->summary);
    }
}

int
command_inspect (int argc, char **argv)
{
  const GOptionEntry *groups[] = { plugin_path_entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("[NAME]",
                     "Describe a plugin or a stage: the media types it takes and produces, "
                     "the metadata it writes, its parameters (types, defaults, ranges, docs), "
                     "threading model and devices. With no NAME, list every stage.",
                     groups);
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (GError) error = NULL;
  const SutraPlugin *plugin;
  const SutraStageInfo *stage;

  /* parse_command wants a fixed number of arguments; NAME is optional. */
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      print_error ("%s (see “%s --help”)", error->message, argv[0]);
      return EXIT_USAGE;
    }
  if (argc > 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      fputs (help, stderr);
      return EXIT_USAGE;
    }
  registry = load_registry ();
  if (argc == 1)
    {
      print_all_stages (registry);
      return EXIT_OK;
    }
  plugin = sutra_registry_find_plugin (registry, argv[1]);
  if (plugin != NULL)
    {
      printf ("Plugin %s %s (ABI %u.%u)\n  %s\n  %s\n\n", plugin->info->name, plugin->info->version,
              plugin->info->abi_major, plugin->info->abi_minor, plugin->info->summary,
              plugin->path);
      for (stage = plugin->info->stages; stage->name != NULL; stage++)
        {
          if (stage != plugin->info->stages)
            printf ("\n");
          print_stage (plugin, stage);
        }
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

int
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
