/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra report: a job's run report as one self-contained HTML file. */

#include "sutra-cli.h"
#include "sutra-job.h"
#include "sutra-report.h"

#include <stdio.h>

int
command_report (int argc, char **argv)
{
  static char *opt_output = NULL;
  static const GOptionEntry entries[] = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_output,
                                            "Write the report to FILE (default: JOB/report.html)",
                                            "FILE" },
                                          { NULL } };
  const GOptionEntry *groups[] = { entries, NULL };
  g_autoptr (GOptionContext) context =
    command_context ("JOB",
                     "Write a job's run report: one HTML file, no external assets, with "
                     "the pipeline graph, per stage the items, failures, cache hits and busy "
                     "time, the rate and queue fill over time, and the failures with their "
                     "messages. Works on a finished, failed, interrupted or running job.",
                     groups);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int status = parse_command (context, &argc, &argv, 1);

  if (status != EXIT_OK)
    return status;
  path =
    opt_output != NULL ? g_strdup (opt_output) : g_build_filename (argv[1], "report.html", NULL);
  if (!sutra_report_write (argv[1], path, &error))
    {
      print_error ("%s", error->message);
      return g_error_matches (error, SUTRA_REPORT_ERROR, SUTRA_REPORT_ERROR_WRITE) ? EXIT_USAGE
                                                                                   : EXIT_JOB;
    }
  printf ("%s\n", path);
  return EXIT_OK;
}
