/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sutra command line's commands and what they share. */

#pragma once

#include "sutra-pipeline.h"
#include "sutra-registry.h"

G_BEGIN_DECLS

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

extern const char sutra_cli_exit_status_help[];
extern const char sutra_cli_commands_help[];

/* The command that runs ("run", "status" ...), for its --help's exit
 * statuses, and the command line as given, for the job's record. */
extern const char *sutra_cli_command;
extern char **sutra_cli_command_line;

/* Options, filled by whichever command's context parses them. */
extern char **opt_plugin_paths;
extern char **opt_sets;
extern gboolean opt_quiet;
extern char *opt_events;
extern char *opt_job;
extern char *opt_cache;
extern gboolean opt_force;
extern gboolean opt_retry_failed;
extern gboolean opt_json;
extern gboolean opt_no_job;

extern const GOptionEntry plugin_path_entries[];
extern const GOptionEntry set_entries[];
extern const GOptionEntry run_entries[];
extern const GOptionEntry job_entries[];
extern const GOptionEntry retry_entries[];

void print_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Members of the --json outputs: @strv as an array of strings; a time as
 * ISO 8601 UTC, or null when @unix_seconds is 0 (not known). */
void cli_json_add_strv_member (JsonBuilder *builder, const char *name, char **strv);
void cli_json_add_time_member (JsonBuilder *builder, const char *name, gint64 unix_seconds);

/* Loads every plugin; problems with some are warnings. */
SutraRegistry *load_registry (void);

GOptionContext *command_context (const char *parameter,
                                 const char *summary,
                                 const GOptionEntry *const *groups);

/* Parses a command's options; EXIT_OK, or the status to exit with. */
int parse_command (GOptionContext *context, int *argc, char ***argv, int n_positional);

/* Loads and validates a pipeline file, printing every problem. */
SutraPipeline *load_pipeline (SutraRegistry *registry, const char *path, int *status);

/* For commands taking one PIPELINE argument: parses the options, loads the
 * plugins and the pipeline. Returns EXIT_OK with @registry and @pipeline
 * set (transfer full), or the status to exit with. */
int parse_pipeline_command (GOptionContext *context,
                            int *argc,
                            char ***argv,
                            SutraRegistry **registry,
                            SutraPipeline **pipeline);

/* sutra-cli-run.c */
int command_run (int argc, char **argv);
int command_resume (int argc, char **argv);

/* sutra-cli-status.c */
int command_status (int argc, char **argv);
int command_gc (int argc, char **argv);

/* sutra-cli-jobs.c */
int command_jobs (int argc, char **argv);

/* sutra-cli-report.c */
int command_report (int argc, char **argv);

/* sutra-cli-info.c */
int command_validate (int argc, char **argv);
int command_graph (int argc, char **argv);
int command_plugins (int argc, char **argv);
int command_inspect (int argc, char **argv);
int command_devices (int argc, char **argv);

G_END_DECLS
