/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel alone: the seed corpus's first N texts, built in memory
 * first (not timed), then computed in batches as the plugin does.
 *
 *   bench-dhatu-kernel [-n N] [--batch B] [--portable] [--gpu INDEX]
 *
 * Prints one JSON line: texts, seconds, texts_per_s, cpu_seconds (user +
 * system: on a shared machine, what the run itself got of a core),
 * texts_per_cpu_s, path, checksum. */

#include "dhatu-cpu.h"
#include "dhatu-gpu.h"

#include <sutra/sutra.h>

#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

static double
cpu_seconds (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static const char *const sentences[10] = {
  "The quantum computational framework demonstrates significant algorithmic efficiency.",
  "Machine learning models require extensive parameter optimization techniques.",
  "Statistical analysis reveals correlation patterns in experimental data.",
  "Neural network architectures exhibit emergent computational properties.",
  "Mathematical formulations provide theoretical foundations for research.",
  "Scientific methodology ensures reproducible experimental results.",
  "Advanced algorithms solve complex optimization problems efficiently.",
  "Data structures implement efficient storage and retrieval mechanisms.",
  "Parallel processing enhances computational performance significantly.",
  "Research findings contribute to scientific knowledge advancement.",
};

int
main (int argc, char **argv)
{
  gint64 n = 1000000, batch = 4096, gpu_index = -1;
  gboolean portable = FALSE;
  GOptionEntry entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT64, &n, "Texts (default 1000000)", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT64, &batch, "Texts per batch (default 4096)", "B" },
    { "portable", 0, 0, G_OPTION_ARG_NONE, &portable, "Force the portable SHA-256", NULL },
    { "gpu", 0, 0, G_OPTION_ARG_INT64, &gpu_index, "Run on GPU INDEX", "INDEX" },
    { NULL }
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("- the dhātu kernel's rate");
  g_autoptr (GError) error = NULL;
  g_autoptr (DhatuCpu) cpu = NULL;
  DhatuGpu *gpu = NULL;
  char *corpus;
  guint64 *offsets;
  const guint8 **texts;
  gsize *lengths;
  DhatuResult *out;
  double checksum = 0, seconds, cpu_start, cpu_used;
  gint64 start;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || n < 1 || batch < 1)
    {
      fprintf (stderr, "%s\n", error != NULL ? error->message : "N and B must be positive");
      return 2;
    }
  if (portable)
    g_setenv ("SUTRA_DHATU_NO_SHANI", "1", TRUE);
  /* The corpus in one allocation of its size: built by appending to a
   * growing string, its pages (moved by realloc) made the kernel about
   * 20% slower to read them, which is no property of the kernel. */
  offsets = g_new (guint64, n + 1);
  offsets[0] = 0;
  for (gint64 i = 0; i < n; i++)
    offsets[i + 1] = offsets[i] + strlen (" Article : ") + strlen (sentences[i % 10]) +
                     g_snprintf (NULL, 0, "%" G_GINT64_FORMAT, i + 1);
  corpus = g_malloc (offsets[n] + 1);
  for (gint64 i = 0; i < n; i++)
    g_snprintf (corpus + offsets[i], offsets[i + 1] - offsets[i] + 1,
                " Article %" G_GINT64_FORMAT ": %s", i + 1, sentences[i % 10]);
  texts = g_new (const guint8 *, batch);
  lengths = g_new (gsize, batch);
  out = g_new (DhatuResult, batch);
  if (gpu_index >= 0)
    {
      gpu = dhatu_gpu_new ((int) gpu_index, &error);
      if (gpu == NULL)
        {
          fprintf (stderr, "%s\n", error->message);
          return 77;
        }
    }
  else
    cpu = dhatu_cpu_new ();

  cpu_start = cpu_seconds ();
  start = g_get_monotonic_time ();
  for (gint64 first = 0; first < n; first += batch)
    {
      gint64 m = MIN (batch, n - first);

      for (gint64 i = 0; i < m; i++)
        {
          texts[i] = (const guint8 *) corpus + offsets[first + i];
          lengths[i] = offsets[first + i + 1] - offsets[first + i];
        }
      if (gpu != NULL)
        {
          if (!dhatu_gpu_run (gpu, texts, lengths, m, out, &error))
            {
              fprintf (stderr, "%s\n", error->message);
              return 1;
            }
        }
      else
        dhatu_cpu_run (cpu, texts, lengths, m, out);
      /* Use the results, so that nothing is optimised away. */
      checksum += out[m - 1].ambiguity;
    }
  seconds = (g_get_monotonic_time () - start) / 1e6;
  cpu_used = cpu_seconds () - cpu_start;
  printf (
    "{\"texts\": %" G_GINT64_FORMAT ", \"seconds\": %.3f, \"texts_per_s\": %.0f, "
    "\"cpu_seconds\": %.3f, \"texts_per_cpu_s\": %.0f, \"path\": \"%s\", \"checksum\": %.6g}\n",
    n, seconds, n / seconds, cpu_used, n / cpu_used,
    gpu != NULL                  ? "cuda"
    : dhatu_cpu_uses_shani (cpu) ? "sha-ni"
                                 : "portable",
    checksum);
  dhatu_gpu_free (gpu);
  g_free (offsets);
  g_free (texts);
  g_free (lengths);
  g_free (out);
  g_free (corpus);
  return 0;
}
