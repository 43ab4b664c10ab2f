/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Times one worker of the identity stage through the thread executor and
 * through the process executor, rounds interleaved, and prints the medians
 * and their ratio (docs/benchmarks.md, "Worker processes"). */

#include "sutra-executor-process.h"
#include "sutra-registry.h"
#include "sutra-settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* CPU seconds of this thread. */
static double
thread_cpu (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds (user and system) of process @pid so far, 0 for none. */
static double
process_cpu (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  const char *end;
  unsigned long user = 0, system = 0;

  if (pid == 0 || !g_file_get_contents (path, &text, NULL, NULL) ||
      (end = strrchr (text, ')')) == NULL ||
      sscanf (end + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &user, &system) != 2)
    return 0;
  return (double) (user + system) / (double) sysconf (_SC_CLK_TCK);
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* Seconds to push @items through @executor in batches of @batch; in
 * *@cpu, the CPU seconds spent on it, the worker process's included: on a
 * shared machine the wall time of two processes taking turns measures the
 * load as much as the executor. */
static double
time_run (SutraExecutor *executor, GPtrArray *items, guint batch, double *cpu)
{
  gint64 start = g_get_monotonic_time ();
  gboolean is_process = sutra_executor_get_isolation (executor) == SUTRA_ISOLATION_PROCESS;
  GPid pid = is_process ? sutra_executor_process_get_pid (executor) : 0;
  double cpu_start = thread_cpu () + process_cpu (pid);
  guint64 n_out = 0;

  for (guint at = 0; at < items->len; at += batch)
    {
      guint n = MIN (batch, items->len - at);
      SutraOutput output;
      g_autoptr (GError) error = NULL;

      sutra_output_init_collect (&output, NULL);
      if (!sutra_executor_process (executor, (SutraItem *const *) items->pdata + at, n, &output,
                                   &error))
        g_error ("the batch at %u failed: %s", at, error->message);
      n_out += output.items->len;
      sutra_output_clear (&output);
    }
  if (n_out != items->len)
    g_error ("%" G_GUINT64_FORMAT " outputs for %u items", n_out, items->len);
  *cpu = thread_cpu () + process_cpu (pid) - cpu_start;
  return (g_get_monotonic_time () - start) / 1e6;
}

int
main (int argc, char **argv)
{
  guint n_items = 1000000, batch = 64, rounds = 5;
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraSettings) settings = NULL;
  const SutraPlugin *plugin = NULL;
  const SutraStageInfo *stage;
  SutraExecutorConfig config;
  SutraExecutor *executors[2];
  const char *names[2] = { "thread", "process" };
  double *times[2], *cpus[2];

  for (int i = 1; i + 1 < argc; i += 2)
    {
      if (strcmp (argv[i], "-n") == 0)
        n_items = (guint) atoi (argv[i + 1]);
      else if (strcmp (argv[i], "-b") == 0)
        batch = (guint) atoi (argv[i + 1]);
      else if (strcmp (argv[i], "-r") == 0)
        rounds = (guint) atoi (argv[i + 1]);
    }
  if (n_items == 0 || batch == 0 || rounds == 0)
    {
      g_printerr ("usage: %s [-n ITEMS] [-b BATCH] [-r ROUNDS]\n", argv[0]);
      return 2;
    }
  if (!sutra_registry_load_default (registry, NULL, &error))
    g_error ("cannot load the plugins: %s", error->message);
  stage = sutra_registry_find_stage (registry, "identity", &plugin);
  settings = sutra_settings_new_checked (stage, NULL, &error);
  g_assert_no_error (error);
  config = (SutraExecutorConfig){
    .info = stage,
    .plugin_path = plugin->path,
    .plugin_name = "identity",
    .settings = sutra_settings_get_data (settings),
    .context = { .stage_name = "pass",
                 .n_workers = 1,
                 .device = "cpu",
                 .device_index = -1,
                 .work_dir = g_get_tmp_dir () },
  };
  /* bench-core's lines: "this is line number N". */
  for (guint i = 0; i < n_items; i++)
    {
      g_autofree char *id = g_strdup_printf ("in:%u", i + 1);
      g_autofree char *text = g_strdup_printf ("this is line number %u", i + 1);

      g_ptr_array_add (items, sutra_item_new_root (id, i, "text/plain",
                                                   g_bytes_new (text, strlen (text))));
    }
  for (guint e = 0; e < 2; e++)
    {
      executors[e] = sutra_executor_new (e == 0 ? SUTRA_ISOLATION_THREAD : SUTRA_ISOLATION_PROCESS,
                                         &config, NULL, &error);
      g_assert_no_error (error);
      times[e] = g_new0 (double, rounds);
      cpus[e] = g_new0 (double, rounds);
    }
  /* Interleaved, so that the machine's slower moments fall on both. */
  for (guint r = 0; r < rounds; r++)
    for (guint e = 0; e < 2; e++)
      times[e][r] = time_run (executors[e], items, batch, &cpus[e][r]);
  printf ("%u items, batch %u, median of %u rounds\n", n_items, batch, rounds);
  for (guint e = 0; e < 2; e++)
    {
      qsort (times[e], rounds, sizeof (double), compare_doubles);
      qsort (cpus[e], rounds, sizeof (double), compare_doubles);
      printf ("%-8s %.3f s  %.2f M items/s  %.3f CPU s  %.0f ns CPU/item\n", names[e],
              times[e][rounds / 2], n_items / times[e][rounds / 2] / 1e6, cpus[e][rounds / 2],
              cpus[e][rounds / 2] * 1e9 / n_items);
    }
  printf ("process/thread item rate: %.2f (wall), %.2f (CPU)\n",
          times[0][rounds / 2] / times[1][rounds / 2], cpus[0][rounds / 2] / cpus[1][rounds / 2]);
  for (guint e = 0; e < 2; e++)
    {
      sutra_executor_free (executors[e]);
      g_free (times[e]);
      g_free (cpus[e]);
    }
  return 0;
}
