/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs a harness over its seed corpus without libFuzzer, as a TAP test. */

#include "fuzz.h"

#include <stdio.h>
#include <string.h>

/*
 * Builds without -Dfuzzing=true link this main() into every harness: each
 * file named on the command line, or found in a directory named there, is
 * given to LLVMFuzzerTestOneInput() once, in name order, so a corpus is a
 * regression test in every build (and under the sanitizers of the asan
 * build). A crash or failed assertion stops the test at the input that
 * caused it, whose name the log shows last.
 */

int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
collect (const char *path, GPtrArray *files)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_ptr_array_add (files, g_strdup (path));
      return;
    }
  dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (files, g_build_filename (path, name, NULL));
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    {
      if (!g_file_test (argv[i], G_FILE_TEST_EXISTS))
        {
          printf ("Bail out! %s: no such corpus file or directory\n", argv[i]);
          return 1;
        }
      collect (argv[i], files);
    }
  g_ptr_array_sort (files, compare_paths);
  if (files->len == 0)
    {
      printf ("1..0 # SKIP no corpus files given (usage: %s FILE-OR-DIRECTORY...)\n", argv[0]);
      return 0;
    }
  printf ("1..%u\n", files->len);
  for (guint i = 0; i < files->len; i++)
    {
      const char *path = files->pdata[i];
      g_autoptr (GError) error = NULL;
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (!g_file_get_contents (path, &contents, &length, &error))
        {
          printf ("not ok %u %s # %s\n", i + 1, path, error->message);
          continue;
        }
      /* Said before the run: if the input crashes the harness, the log's
       * last line names it. */
      printf ("# %s (%" G_GSIZE_FORMAT " bytes)\n", path, length);
      fflush (stdout);
      {
        /* A copy of the exact size, as libFuzzer gives: the sanitizers see
         * a read past the end, which the file's trailing NUL would hide. */
        g_autofree guint8 *exact = g_memdup2 (contents, length);

        LLVMFuzzerTestOneInput (exact, length);
      }
      printf ("ok %u %s\n", i + 1, path);
      fflush (stdout);
    }
  return 0;
}
