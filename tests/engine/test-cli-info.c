/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-cli-info.c: sutra inspect and sutra plugins. */

/*
 * Each test runs the sutra built beside it and checks what it prints. The
 * validate and graph commands of the same file are tested in test-cli.c.
 */

#include "sutra-test-util.h"

#include <string.h>

static const char *const builtin_stages[][3] = {
  { "fault", "map", "fault" },
  { "file-sink", "sink", "file-sink" },
  { "identity", "map", "identity" },
  { "jsonl-sink", "sink", "jsonl-sink" },
  { "text-join", "gather", "text-join" },
  { "text-source", "source", "text-source" },
  { "text-split", "split", "text-split" },
};

typedef struct
{
  int status;
  char *out;
  char *err;
} Result;

static void
result_clear (Result *result)
{
  g_free (result->out);
  g_free (result->err);
}

static char *build_file (const char *first, ...) G_GNUC_NULL_TERMINATED;

/* $SUTRA_BUILD_ROOT/@first/... */
static char *
build_file (const char *first, ...)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (parts, (gpointer) g_getenv ("SUTRA_BUILD_ROOT"));
  va_start (args, first);
  for (const char *part = first; part != NULL; part = va_arg (args, const char *))
    g_ptr_array_add (parts, (gpointer) part);
  va_end (args);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

/* Runs the build tree's sutra with @args (NULL-terminated) in @cwd. */
static void
run_sutra (Result *result, const char *cwd, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) line = g_string_new ("sutra");
  int wait_status = 0;

  g_ptr_array_add (argv, build_file ("engine", "sutra", NULL));
  for (guint i = 0; args[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup (args[i]));
      g_string_append_printf (line, " %s", args[i]);
    }
  g_ptr_array_add (argv, NULL);
  g_test_message ("$ (cd %s && %s)", cwd, line->str);
  g_spawn_sync (cwd, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &result->out,
                &result->err, &wait_status, &error);
  g_assert_no_error (error);
  result->status = g_spawn_check_wait_status (wait_status, NULL)
                     ? 0
                     : (WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 1000);
  g_test_message ("exit %d\nstdout:\n%s\nstderr:\n%s", result->status, result->out, result->err);
}

#define RUN(result, cwd, ...)                     \
  G_STMT_START                                    \
  {                                               \
    const char *args__[] = { __VA_ARGS__, NULL }; \
    run_sutra (result, cwd, args__);              \
  }                                               \
  G_STMT_END

/* The line of @text that starts with @prefix (after indentation). */
static char *
line_starting (const char *text, const char *prefix)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (g_strchug (lines[i]), prefix))
      return g_strdup (lines[i]);
  g_test_message ("no line starts with “%s” in:\n%s", prefix, text);
  g_test_fail ();
  return g_strdup ("");
}

static void
test_cli_info_inspect_lists_every_stage (void)
{
  g_autofree char *dir = sutra_test_dir ();
  Result result;

  g_test_summary ("sutra inspect with no name lists every stage: name, kind, plugin and "
                  "summary, one line each");
  RUN (&result, dir, "inspect");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  for (gsize i = 0; i < G_N_ELEMENTS (builtin_stages); i++)
    {
      g_autofree char *line = line_starting (result.out, builtin_stages[i][0]);
      g_auto (GStrv) words = g_strsplit_set (line, " ", -1);
      g_autoptr (GPtrArray) fields = g_ptr_array_new ();

      for (guint k = 0; words[k] != NULL; k++)
        if (words[k][0] != '\0')
          g_ptr_array_add (fields, words[k]);
      g_assert_cmpuint (fields->len, >, 3);
      g_assert_cmpstr (fields->pdata[0], ==, builtin_stages[i][0]);
      g_assert_cmpstr (fields->pdata[1], ==, builtin_stages[i][1]);
      g_assert_cmpstr (fields->pdata[2], ==, builtin_stages[i][2]);
    }
  sutra_assert_contains (result.out, "Reads text files");
  result_clear (&result);
}

typedef struct
{
  const char *stage;
  const char *takes;
  const char *produces;
  const char *metadata; /* NULL: no metadata line (a sink) */
} MediaCase;

static const MediaCase media_cases[] = {
  { "identity", "any media type", "what it takes (unspecified)", "writes none" },
  { "fault", "any media type", "what it takes (unspecified)", "writes none" },
  { "text-source", "nothing (a source)",
    "text/plain, text/markdown, application/epub+zip, application/zip",
    "path, and others from its input" },
  { "text-split", "text/*", "text/plain", "and others from its input" },
  { "text-join", "text/*", "text/plain", "and others from its input" },
  { "jsonl-sink", "any media type", "nothing (a sink)", NULL },
  { "file-sink", "any media type", "nothing (a sink)", NULL },
};

static void
test_cli_info_inspect_media_types (gconstpointer data)
{
  const MediaCase *row = data;
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *takes = NULL, *produces = NULL;
  Result result;

  g_test_summary ("sutra inspect STAGE says what media types the stage takes and produces "
                  "and which metadata keys it writes");
  RUN (&result, dir, "inspect", row->stage);
  g_assert_cmpint (result.status, ==, 0);
  takes = line_starting (result.out, "takes:");
  sutra_assert_contains (takes, row->takes);
  produces = line_starting (result.out, "produces:");
  sutra_assert_contains (produces, row->produces);
  if (row->metadata != NULL)
    {
      g_autofree char *metadata = line_starting (result.out, "metadata:");

      sutra_assert_contains (metadata, row->metadata);
    }
  else
    sutra_assert_not_contains (result.out, "metadata:");
  result_clear (&result);
}

static void
test_cli_info_inspect_segmenter (void)
{
  g_autofree char *dir = sutra_test_dir ();
  static const char *const keys[] = {
    "chapter_index", "chapter_title",   "part_title", "front_matter", "paragraph_index",
    "paragraph_end", "paragraph_count", "language",   "title",        "author",
  };
  g_autofree char *takes = NULL, *produces = NULL, *metadata = NULL;
  Result result;

  g_test_summary ("The segmenter takes plain text, Markdown and EPUB, produces plain "
                  "text, and names every metadata key its chunks carry");
  RUN (&result, dir, "inspect", "segmenter");
  g_assert_cmpint (result.status, ==, 0);
  takes = line_starting (result.out, "takes:");
  sutra_assert_contains (takes, "text/plain");
  sutra_assert_contains (takes, "text/markdown");
  sutra_assert_contains (takes, "application/epub+zip");
  produces = line_starting (result.out, "produces:");
  sutra_assert_contains (produces, "text/plain");
  metadata = line_starting (result.out, "metadata:");
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    sutra_assert_contains (metadata, keys[i]);
  result_clear (&result);
}

static void
test_cli_info_inspect_abi_1_1 (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *module = build_file ("tests", "engine", "plugins", "abi-1-1.so", NULL);
  Result result;

  g_test_summary ("sutra inspect refuses a plugin built for ABI 1.1, naming both ABIs and "
                  "the fix");
  g_test_bug ("10");
  RUN (&result, dir, "inspect", "-P", module, "abi-1-1-map");
  g_assert_cmpint (result.status, !=, 0);
  sutra_assert_contains (result.err, "abi-1-1.so: built for sutra plugin ABI 1.1; this sutra");
  sutra_assert_contains (result.err, "loads ABI 2.x up to 2.3: rebuild it against this sutra's "
                                     "headers");
  g_assert_null (strstr (result.out, "Stage abi-1-1-map"));
  result_clear (&result);
}

static void
test_cli_info_plugin_path_bare_file (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autofree char *built = build_file ("tests", "engine", "plugins", "okay.so", NULL);
  g_autofree char *copy = g_build_filename (dir, "okay.so", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize length;
  Result result;

  g_test_summary ("--plugin-path takes a bare module file name, relative to the working "
                  "directory (not searched for on the library path)");
  /* A copy in a directory of the test's own: the test environment's
   * LD_LIBRARY_PATH names the build tree's plugin directories. */
  g_file_get_contents (built, &contents, &length, &error);
  g_assert_no_error (error);
  g_file_set_contents (copy, contents, (gssize) length, &error);
  g_assert_no_error (error);

  RUN (&result, dir, "inspect", "--plugin-path", "okay.so", "okay-map");
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  sutra_assert_contains (result.out, "Stage okay-map (map), from plugin okay");
  result_clear (&result);

  RUN (&result, dir, "plugins", "-P", "./okay.so");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.out, copy);
  result_clear (&result);

  RUN (&result, dir, "plugins", "-P", "no-such-module.so");
  g_assert_cmpint (result.status, ==, 0);
  sutra_assert_contains (result.err,
                         "warning: no-such-module.so: no such plugin file or directory");
  result_clear (&result);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/cli-info/inspect/lists-every-stage",
                   test_cli_info_inspect_lists_every_stage);
  for (gsize i = 0; i < G_N_ELEMENTS (media_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/cli-info/inspect/media-types/%s", media_cases[i].stage);
      g_test_add_data_func (path, &media_cases[i], test_cli_info_inspect_media_types);
    }
  g_test_add_func ("/engine/cli-info/inspect/segmenter", test_cli_info_inspect_segmenter);
  g_test_add_func ("/engine/cli-info/inspect/abi-1-1", test_cli_info_inspect_abi_1_1);
  g_test_add_func ("/engine/cli-info/plugin-path-bare-file", test_cli_info_plugin_path_bare_file);

  return g_test_run ();
}
