/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra status and sutra gc: reading jobs' journals and cleaning stores. */

#include "sutra-cli.h"
#include "sutra-job.h"
#include "sutra-worker.h"

#include <stdio.h>
#include <string.h>

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
  gboolean has_cache; /* a content-cached stage: */
  guint64 cache_hits, cache_misses;
  char *devices; /* JSON object: items per device; NULL: the CPU */
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
  g_free (row->devices);
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

/* "cache:STAGE" = "HITS MISSES" (sutra_journal_set_cache_counts()). */
static void
collect_cache_row (int n, const char *const *v, gpointer data)
{
  StageStatus *row;
  guint64 hits, misses;

  if (v[0] == NULL || v[1] == NULL || !g_str_has_prefix (v[0], SUTRA_JOURNAL_CACHE_PREFIX) ||
      sscanf (v[1], "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &hits, &misses) != 2)
    return;
  row = status_for (data, v[0] + strlen (SUTRA_JOURNAL_CACHE_PREFIX));
  row->has_cache = TRUE;
  row->cache_hits = hits;
  row->cache_misses = misses;
}

static void
collect_devices_row (int n, const char *const *v, gpointer data)
{
  StageStatus *row = status_for (data, v[0]);

  g_free (row->devices);
  row->devices = g_strdup (v[1]);
}

/* @row's devices ({"cuda:0": 600}) parsed, or NULL. Returns: (transfer full). */
static JsonObject *
row_devices (StageStatus *row)
{
  g_autoptr (JsonNode) node = NULL;

  if (row->devices == NULL || (node = json_from_string (row->devices, NULL)) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_object_ref (json_node_get_object (node));
}

static void
collect_failure_row (int n, const char *const *v, gpointer data)
{
  StatusReport *report = data;

  g_ptr_array_add (report->failures, g_strdup_printf ("%s\t%s\t%s", v[0] ? v[0] : "",
                                                      v[1] ? v[1] : "", v[2] ? v[2] : ""));
}

/* What the job's runs recorded: its pipeline file, command line, inputs,
 * outputs and times. */
static void
add_run_record (JsonBuilder *builder, SutraJobInfo *info)
{
  json_builder_set_member_name (builder, "pipeline_file");
  if (info->pipeline_file != NULL)
    json_builder_add_string_value (builder, info->pipeline_file);
  else
    json_builder_add_null_value (builder);
  cli_json_add_strv_member (builder, "command", info->command);
  cli_json_add_strv_member (builder, "inputs", info->inputs);
  cli_json_add_strv_member (builder, "outputs", info->outputs);
  cli_json_add_time_member (builder, "started", info->created);
  cli_json_add_time_member (builder, "last_started", info->started);
  cli_json_add_time_member (builder, "last_finished", info->finished);
  json_builder_set_member_name (builder, "run_seconds");
  json_builder_add_double_value (builder, info->seconds);
}

static char *
local_time (gint64 unix_seconds)
{
  g_autoptr (GDateTime) utc = g_date_time_new_from_unix_utc (unix_seconds);
  g_autoptr (GDateTime) local = g_date_time_to_local (utc);

  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

static void
print_paths (const char *label, char **paths)
{
  printf ("  %-9s", label);
  if (paths[0] == NULL)
    printf (" -");
  for (guint i = 0; paths[i] != NULL; i++)
    printf ("%s%s", i > 0 ? "\n           " : " ", paths[i]);
  printf ("\n");
}

static void
print_run_record (SutraJobInfo *info)
{
  if (info->created > 0)
    {
      g_autofree char *created = local_time (info->created);

      printf ("  started   %s", created);
      if (info->started > info->created)
        {
          g_autofree char *started = local_time (info->started);

          printf ("; last run %s", started);
        }
      if (info->finished > 0)
        {
          g_autofree char *finished = local_time (info->finished);

          printf (", ended %s", finished);
        }
      printf ("; %.1f s in all\n", info->seconds);
    }
  if (info->command[0] != NULL)
    {
      g_autoptr (GString) line = g_string_new (NULL);

      for (guint i = 0; info->command[i] != NULL; i++)
        {
          g_autofree char *quoted = g_shell_quote (info->command[i]);
          gboolean plain = strpbrk (info->command[i], " \t\n'\"\\$`*?[]{}();&|<>~#!") == NULL &&
                           info->command[i][0] != '\0';

          g_string_append_printf (line, "%s%s", i > 0 ? " " : "",
                                  plain ? info->command[i] : quoted);
        }
      printf ("  command   %s\n", line->str);
    }
  if (info->pipeline_file != NULL)
    printf ("  pipeline  %s\n", info->pipeline_file);
  print_paths ("inputs", info->inputs);
  print_paths ("outputs", info->outputs);
}

int
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
  gboolean remaining_known = FALSE;
  gboolean all_done = TRUE;
  gboolean running;
  int pid;
  const char *job_state;
  g_autoptr (SutraJobInfo) info = NULL;
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
  info = sutra_job_read_info (argv[1], &error);
  if (info == NULL)
    {
      sutra_journal_close (journal);
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
  /* The counters of each stage's last run, recorded with every commit
   * (not the sum of the committed batches: the journal keeps the batches
   * of earlier inputs and parameters too, for the cache). */
  sutra_journal_query (journal,
                       "SELECT stage, state, n_in, n_failed, n_cached, n_total, seconds "
                       "FROM stages",
                       collect_stage_row, &report, NULL);
  sutra_journal_query (journal,
                       "SELECT name, value FROM meta WHERE name LIKE '" SUTRA_JOURNAL_CACHE_PREFIX
                       "%'",
                       collect_cache_row, &report, NULL);
  /* Only jobs with a stage given devices have the table. */
  sutra_journal_query (journal, "SELECT stage, devices FROM stage_devices", collect_devices_row,
                       &report, NULL);
  sutra_journal_query (journal, "SELECT stage, item, message FROM failures ORDER BY rowid",
                       collect_failure_row, &report, NULL);
  sutra_journal_close (journal);
  running = strcmp (info->state, "running") == 0;
  pid = info->pid;

  for (guint i = 0; i < report.names->len; i++)
    {
      StageStatus *row = status_for (&report, report.names->pdata[i]);

      /* A run killed (or lost with its machine) could not say it stopped. */
      if (!running && row->state != NULL && strcmp (row->state, "running") == 0)
        {
          g_free (row->state);
          row->state = g_strdup ("interrupted");
        }
      elapsed = MAX (elapsed, row->seconds);
      if (row->state == NULL || strcmp (row->state, "done") != 0)
        {
          all_done = FALSE;
          /* The estimate comes from the stages that know their total (a
           * source that counted its input, the maps after it); stages after
           * a split do not, and follow the others closely anyway. */
          guint64 computed = row->done > row->cached ? row->done - row->cached : 0;

          /* What came from the store took no time: the rate is the
           * computed items'. */
          if (row->total > row->done && computed > 0 && row->seconds > 0)
            {
              remaining = MAX (remaining, (row->total - row->done) * row->seconds / computed);
              remaining_known = TRUE;
            }
        }
    }
  if (all_done)
    remaining_known = TRUE;
  /* The job's state follows one rule, sutra_job_read_info()'s, which
   * `sutra jobs` shows too. */
  job_state = info->state;

  if (opt_json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "job");
      json_builder_add_string_value (builder, argv[1]);
      json_builder_set_member_name (builder, "state");
      json_builder_add_string_value (builder, job_state);
      json_builder_set_member_name (builder, "pid");
      if (running && pid > 0)
        json_builder_add_int_value (builder, pid);
      else
        json_builder_add_null_value (builder);
      add_run_record (builder, info);
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
          if (row->has_cache)
            {
              json_builder_set_member_name (builder, "cache_hits");
              json_builder_add_int_value (builder, row->cache_hits);
              json_builder_set_member_name (builder, "cache_misses");
              json_builder_add_int_value (builder, row->cache_misses);
            }
          {
            g_autoptr (JsonObject) devices = row_devices (row);

            if (devices != NULL)
              {
                JsonNode *node = json_node_init_object (json_node_alloc (), devices);

                json_builder_set_member_name (builder, "devices");
                json_builder_add_value (builder, node);
              }
          }
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
      /* Seconds as short decimals (sutra_json_to_data), not 17 digits. */
      text = sutra_json_to_data (root, TRUE, NULL);
      printf ("%s\n", text);
    }
  else
    {
      printf ("job %s: %s", argv[1], job_state);
      if (running && pid > 0)
        printf (" (process %d)", pid);
      else if (!running && !all_done)
        printf ("; go on with “sutra resume %s”", argv[1]);
      printf ("\n");
      print_run_record (info);
      printf ("\n  %-16s %-11s %10s %10s %8s %8s %9s\n", "stage", "state", "done", "pending",
              "failed", "cached", "seconds");
      for (guint i = 0; i < report.names->len; i++)
        {
          StageStatus *row = status_for (&report, report.names->pdata[i]);
          gboolean done = row->state != NULL && strcmp (row->state, "done") == 0;
          g_autofree char *pending =
            done             ? g_strdup ("0")
            : row->total > 0 ? g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                row->total > row->done ? row->total - row->done : 0)
                             : g_strdup ("?");

          printf ("  %-16s %-11s %10" G_GUINT64_FORMAT " %10s %8" G_GUINT64_FORMAT
                  " %8" G_GUINT64_FORMAT " %9.1f\n",
                  (char *) report.names->pdata[i], row->state ? row->state : "pending", row->done,
                  pending, row->failed, row->cached, row->seconds);
          {
            g_autoptr (JsonObject) devices = row_devices (row);

            if (devices != NULL)
              {
                g_autofree char *text = sutra_worker_format_device_counts (devices);

                printf ("  %-16s on %s\n", "", text);
              }
          }
        }
      /* Stages cached by content: items found there (in this job or any
       * other sharing the store) and items computed, in their last run. */
      for (guint i = 0; i < report.names->len; i++)
        {
          StageStatus *row = status_for (&report, report.names->pdata[i]);

          if (row->has_cache)
            printf ("  %s: %" G_GUINT64_FORMAT " cache hits, %" G_GUINT64_FORMAT
                    " misses (computed)\n",
                    (char *) report.names->pdata[i], row->cache_hits, row->cache_misses);
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

int
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
        g_hash_table_new_full (sutra_digest_bytes_hash, g_bytes_equal,
                               (GDestroyNotify) g_bytes_unref, NULL);
      g_autoptr (GPtrArray) jobs = NULL;
      SutraStore *store = sutra_store_open (stores->pdata[s], &error);
      guint64 freed;
      guint removed = 0;

      if (store == NULL)
        {
          print_error ("%s", error->message);
          return EXIT_JOB;
        }
      if (!sutra_store_exclude_jobs (store, &error))
        {
          g_autoptr (GString) users = g_string_new (NULL);

          /* Name the running jobs, so the user knows what to wait for. */
          jobs = sutra_store_list_jobs (store);
          for (guint j = 0; j < jobs->len; j++)
            {
              int pid;

              if (sutra_job_is_running (jobs->pdata[j], &pid))
                g_string_append_printf (users, "%s job %s (process %d)", users->len ? "," : ":",
                                        (char *) jobs->pdata[j], pid);
            }
          print_error ("%s%s; run gc when it has finished. Nothing was removed.", error->message,
                       users->str);
          sutra_store_close (store);
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
