/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sutra command: finds the command named on the command line and runs it. */

#include "sutra-allocator.h"
#include "sutra-cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: sutra COMMAND [OPTION…] [ARGUMENT]\n\n"
           "sutra runs declarative pipelines of stage plugins over streams of items.\n\n"
           "%s\nOptions:\n  -h, --help     Show this help\n  --version      Show the version\n\n%s",
           sutra_cli_commands_help, sutra_cli_exit_status_help);
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
    { "status", command_status },     { "jobs", command_jobs },
    { "report", command_report },     { "gc", command_gc },
    { "validate", command_validate }, { "graph", command_graph },
    { "plugins", command_plugins },   { "inspect", command_inspect },
    { "devices", command_devices },
  };
  const char *name;

  sutra_allocator_configure ();
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
        g_auto (GStrv) command_line = g_strdupv (argv);

        /* As the user would type it again: "sutra", not the binary's path. */
        g_free (command_line[0]);
        command_line[0] = g_strdup ("sutra");
        sutra_cli_command_line = command_line;
        sutra_cli_command = commands[i].name;
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
