/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-segmenter: the segmenter's throughput (MB/s) and peak memory. */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static long
peak_rss_kib (void)
{
  struct rusage usage;

  if (getrusage (RUSAGE_SELF, &usage) != 0)
    return -1;
  return usage.ru_maxrss;
}

static double
cpu_seconds (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static const char *
media_type_for (const char *path)
{
  if (g_str_has_suffix (path, ".epub"))
    return SUTRA_MEDIA_EPUB;
  if (g_str_has_suffix (path, ".md"))
    return SUTRA_MEDIA_TEXT_MARKDOWN;
  return SUTRA_MEDIA_TEXT_PLAIN;
}

int
main (int argc, char **argv)
{
  gint iterations = 20;
  g_autofree char *params = NULL;
  g_auto (GStrv) files = NULL;
  const GOptionEntry entries[] = {
    { "iterations", 'n', 0, G_OPTION_ARG_INT, &iterations, "Runs over the book (20)", "N" },
    { "params", 'p', 0, G_OPTION_ARG_STRING, &params, "The stage's params as JSON", "JSON" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "[BOOK]" },
    { NULL },
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("[BOOK] — segment a book N times");
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraHarness) harness = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (SutraItem) book = NULL;
  gsize length = 0;
  guint n_items = 0, n_chapters = 0;
  gint64 start, elapsed;
  long rss_before;
  double seconds, megabytes, cpu_start, cpu;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "bench-segmenter: %s\n", error->message);
      return 2;
    }
  if (files != NULL && files[0] != NULL)
    path = g_strdup (files[0]);
  else
    {
      const char *shared = g_getenv ("SUTRA_SHARED_DATA");

      path = g_build_filename (shared != NULL ? shared : BENCH_SHARED_DATA, "books", "classics.txt",
                               NULL);
    }
  if (iterations < 1)
    iterations = 1;

  registry = sutra_registry_new ();
  if (!sutra_registry_load_default (registry, NULL, &error))
    {
      fprintf (stderr, "bench-segmenter: %s\n", error->message);
      return 1;
    }
  harness = sutra_harness_new (registry, "segmenter", params, &error);
  if (harness == NULL || !g_file_get_contents (path, &contents, &length, &error))
    {
      fprintf (stderr, "bench-segmenter: %s\n", error->message);
      return 1;
    }
  book = sutra_item_new_root ("book", 0, media_type_for (path),
                              g_bytes_new_take (g_steal_pointer (&contents), length));
  json_object_set_string_member (sutra_item_ensure_meta (book), "path", path);

  rss_before = peak_rss_kib ();
  start = g_get_monotonic_time ();
  cpu_start = cpu_seconds ();
  for (gint i = 0; i < iterations; i++)
    {
      g_autoptr (GPtrArray) items = sutra_harness_process (harness, &book, 1, &error);

      if (items == NULL)
        {
          fprintf (stderr, "bench-segmenter: %s\n", error->message);
          return 1;
        }
      n_items = items->len;
      n_chapters =
        items->len > 0 ? (guint) sutra_item_get_position (items->pdata[items->len - 1], 1) + 1 : 0;
    }
  elapsed = g_get_monotonic_time () - start;
  cpu = cpu_seconds () - cpu_start;
  seconds = (double) elapsed / G_USEC_PER_SEC;
  megabytes = (double) length * iterations / 1e6;

  printf ("book:        %s (%" G_GSIZE_FORMAT " bytes)\n", path, length);
  printf ("params:      %s\n", params != NULL ? params : "(defaults)");
  printf ("iterations:  %d, %u chapters and %u items per run\n", iterations, n_chapters, n_items);
  printf ("time:        %.3f s wall, %.3f s CPU, %.1f ms per run\n", seconds, cpu,
          seconds * 1000 / iterations);
  /* One thread: CPU time is the time of one core, whatever else runs. */
  printf ("throughput:  %.1f MB/s wall, %.1f MB/s per core (CPU time)\n", megabytes / seconds,
          megabytes / cpu);
  printf ("peak RSS:    %.1f MiB (%.1f MiB before segmenting)\n", peak_rss_kib () / 1024.0,
          rss_before / 1024.0);
  return 0;
}
