/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/translate through the real loader and the harness, on
 * the real Apertium eng-spa pair (skipped where it is not installed), and
 * on small stand-in tools for the failures a real pair cannot be made to
 * have (a hung pipeline, a tool that cannot flush). */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static SutraRegistry *registry;

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
have_pair (const char *pair)
{
  g_autofree char *file = g_strconcat ("/usr/share/apertium/modes/", pair, ".mode", NULL);

  if (g_file_test (file, G_FILE_TEST_EXISTS))
    return TRUE;
  g_test_skip_printf ("the Apertium pair %s is not installed (apt-get install apertium-en-es)",
                      pair);
  return FALSE;
}

static SutraItem *
text_item (const char *id, guint64 index, const char *text, const char *language)
{
  SutraItem *item =
    sutra_item_new_root (id, index, SUTRA_MEDIA_TEXT_PLAIN, g_bytes_new (text, strlen (text)));

  if (language != NULL)
    json_object_set_string_member (sutra_item_ensure_meta (item), "language", language);
  return item;
}

static char *
item_text (SutraItem *item)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);

  return g_strndup ((const char *) data, size);
}

/* The pids of this process's children whose command is @comm. */
static GArray *
children_named (const char *comm)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
      g_autofree char *stat = NULL;
      const char *close_paren;
      int ppid = 0;

      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
        continue;
      close_paren = strrchr (stat, ')');
      if (close_paren == NULL || sscanf (close_paren + 2, "%*c %d", &ppid) != 1 ||
          ppid != getpid ())
        continue;
      if (comm == NULL || (strstr (stat, comm) != NULL))
        {
          int pid = atoi (name);

          g_array_append_val (pids, pid);
        }
    }
  return pids;
}

static GPtrArray *
translate (SutraHarness *harness, SutraItem **items, guint n_items, GError **error)
{
  GPtrArray *out = sutra_harness_process (harness, items, n_items, error);

  for (guint i = 0; i < n_items; i++)
    sutra_item_unref (items[i]);
  return out;
}

static guint
count_char (const char *text, char c)
{
  guint n = 0;

  for (; *text != '\0'; text++)
    n += *text == c;
  return n;
}

static void
test_translate_markup_and_paragraphs (void)
{
  const char *source = "The cat <b>sleeps</b> on ^the$ mat [x] @home / \\ {x}.";
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  SutraItem *items[2];

  g_test_summary ("Apertium's markup characters in the text come back as they were, paragraph "
                  "breaks survive, chunks stay chunks, and the metadata travels with the "
                  "language set to the target");
  if (!have_pair ("eng-spa"))
    return;
  harness = sutra_harness_new (registry, "translate", "{\"pair\": \"eng-spa\"}", &error);
  g_assert_no_error (error);
  items[0] = text_item ("a", 0, source, "en");
  json_object_set_string_member (sutra_item_ensure_meta (items[0]), "chapter_title", "One");
  items[1] = text_item ("b", 1, "The house is red.\n\nThe dog is big.", NULL);
  out = translate (harness, items, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, 2);
  first = item_text (out->pdata[0]);
  second = item_text (out->pdata[1]);
  /* Every markup character comes back, once each, and the words around
   * them are translated. */
  g_assert_true (g_str_has_prefix (first, "El gato <b>duerme</b> en "));
  for (const char *c = "\\^$[]{}<>@/"; *c != '\0'; c++)
    g_assert_cmpuint (count_char (first, *c), ==, count_char (source, *c));
  g_assert_cmpstr (second, ==, "La casa es roja.\n\nEl perro es grande.");
  g_assert_cmpstr (sutra_item_get_id (out->pdata[0]), ==, "a");
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[0], "language", NULL), ==, "es");
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[0], "chapter_title", NULL), ==, "One");
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[1], "language", NULL), ==, "es");
}

static void
test_translate_one_pipeline_per_worker (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) before = NULL;
  g_autoptr (GArray) after = NULL;
  g_autoptr (GArray) restarted = NULL;
  g_autoptr (GArray) at_create = NULL;

  g_test_summary ("The pair's tools are started once, not per chunk or per batch; a pipeline "
                  "whose tool died between batches is replaced before the next one");
  if (!have_pair ("eng-spa"))
    return;
  harness = sutra_harness_new (registry, "translate", "{\"pair\": \"eng-spa\"}", &error);
  g_assert_no_error (error);
  /* Started by the first batch, not by create (a job whose chunks are
   * all in the cache never needs it). */
  at_create = children_named ("(lt-proc)");
  g_assert_cmpuint (at_create->len, ==, 0);
  for (guint batch = 0; batch < 5; batch++)
    {
      SutraItem *items[3];
      g_autoptr (GPtrArray) out = NULL;

      for (guint i = 0; i < 3; i++)
        items[i] = text_item ("x", batch * 3 + i, "Good morning.", NULL);
      out = translate (harness, items, 3, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (out->len, ==, 3);
      if (batch == 0)
        before = children_named ("(lt-proc)");
    }
  g_assert_cmpuint (before->len, >, 0);
  after = children_named ("(lt-proc)");
  g_assert_cmpuint (after->len, ==, before->len);
  g_assert_cmpmem (after->data, after->len * sizeof (int), before->data,
                   before->len * sizeof (int));

  /* A tool killed between batches: the next batch still translates. */
  kill (g_array_index (after, int, 0), SIGKILL);
  g_usleep (100 * 1000);
  {
    SutraItem *item = text_item ("y", 99, "Good night.", NULL);
    g_autoptr (GPtrArray) out = translate (harness, &item, 1, &error);
    g_autofree char *text = NULL;

    g_assert_no_error (error);
    text = item_text (out->pdata[0]);
    g_assert_cmpstr (text, ==, "Noche buena.");
  }
  restarted = children_named ("(lt-proc)");
  g_assert_cmpuint (restarted->len, ==, before->len);
  for (guint i = 0; i < restarted->len; i++)
    for (guint k = 0; k < before->len; k++)
      g_assert_cmpint (g_array_index (restarted, int, i), !=, g_array_index (before, int, k));
}

static void
test_translate_auto_pair (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *english = NULL;
  g_autofree char *spanish = NULL;
  SutraItem *items[2];
  SutraItem *unlabelled;

  g_test_summary ("\"pair\": \"auto\" picks the pair from each item's language and the target; "
                  "an item already in the target language passes through; an item with no "
                  "language fails with what to do");
  if (!have_pair ("eng-spa"))
    return;
  harness = sutra_harness_new (registry, "translate", "{\"target\": \"es\"}", &error);
  g_assert_no_error (error);
  items[0] = text_item ("en", 0, "Good morning.", "en-GB");
  items[1] = text_item ("es", 1, "Buenos días.", "es");
  out = translate (harness, items, 2, &error);
  g_assert_no_error (error);
  english = item_text (out->pdata[0]);
  spanish = item_text (out->pdata[1]);
  g_assert_cmpstr (english, ==, "Buenos días.");
  g_assert_cmpstr (spanish, ==, "Buenos días.");
  g_assert_cmpstr (sutra_item_get_meta_string (out->pdata[0], "language", NULL), ==, "es");

  unlabelled = text_item ("none", 2, "Hello.", NULL);
  g_clear_pointer (&out, g_ptr_array_unref);
  out = translate (harness, &unlabelled, 1, &error);
  g_assert_null (out);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "no `language` metadata"));
}

static void
test_translate_pair_not_installed (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A pair that is not installed fails at start with the installed pairs "
                  "listed");
  if (!have_pair ("eng-spa"))
    return;
  harness = sutra_harness_new (registry, "translate", "{\"pair\": \"eng-xxx\"}", &error);
  g_assert_null (harness);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "“eng-xxx” is not installed"));
  g_assert_nonnull (strstr (error->message, "eng-spa"));
}

static void
test_translate_bad_text (void)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  SutraItem *item;

  g_test_summary ("Text that is not UTF-8 fails the item with the byte offset");
  if (!have_pair ("eng-spa"))
    return;
  harness = sutra_harness_new (registry, "translate", "{\"pair\": \"eng-spa\"}", &error);
  g_assert_no_error (error);
  item = text_item ("bad", 0, "Hello \xff world.", NULL);
  out = translate (harness, &item, 1, &error);
  g_assert_null (out);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "not UTF-8 at byte offset 6"));
}

/* A modes directory of stand-in pairs: `hang` runs a tool that reads and
 * never answers; `cat` runs a tool with no null flush. */
static char *
make_fake_modes (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "modes", NULL);
  g_autofree char *tool = g_build_filename (dir, "hang-tool", NULL);
  g_autofree char *hang = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (tool,
                       "#!/bin/sh\n"
                       "case \"$1\" in --help) echo '  -z: flush on the null character'; exit "
                       "0;; esac\n"
                       "exec sleep 600\n",
                       -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (tool, 0755), ==, 0);
  hang = g_strdup_printf ("%s $1\n", tool);
  g_autofree char *hang_mode = g_build_filename (dir, "aaa-hang.mode", NULL);
  g_autofree char *cat_mode = g_build_filename (dir, "aaa-cat.mode", NULL);
  g_file_set_contents (hang_mode, hang, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (cat_mode, "cat | cat\n", -1, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&dir);
}

static void
test_translate_hung_pipeline (void)
{
  g_autofree char *modes = make_fake_modes ();
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) left = NULL;
  SutraItem *item;

  g_test_summary ("A pipeline that does not answer within answer_timeout_ms fails its batch, "
                  "is killed (nothing left running) and restarted for the next");
  g_setenv ("APERTIUM_MODES_DIR", modes, TRUE);
  harness = sutra_harness_new (registry, "translate",
                               "{\"pair\": \"aaa-hang\", \"answer_timeout_ms\": 300}", &error);
  g_assert_no_error (error);
  item = text_item ("h", 0, "Hello.", NULL);
  out = translate (harness, &item, 1, &error);
  g_assert_null (out);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "gave 0 of 1 answers within 300 ms"));
  left = children_named (NULL);
  g_assert_cmpuint (left->len, ==, 0);
  g_clear_error (&error);
  /* The next batch starts the pipeline again (and times out again). */
  item = text_item ("h", 1, "Hello.", NULL);
  out = translate (harness, &item, 1, &error);
  g_assert_null (out);
  g_assert_nonnull (strstr (error->message, "within 300 ms"));
  g_unsetenv ("APERTIUM_MODES_DIR");
}

static void
test_translate_tool_without_null_flush (void)
{
  g_autofree char *modes = make_fake_modes ();
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A mode with a tool that cannot flush on NUL is refused at start, naming "
                  "the tool");
  g_setenv ("APERTIUM_MODES_DIR", modes, TRUE);
  harness = sutra_harness_new (registry, "translate", "{\"pair\": \"aaa-cat\"}", &error);
  g_assert_null (harness);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "runs “cat”, which cannot flush on NUL"));
  g_unsetenv ("APERTIUM_MODES_DIR");
}

/* Runs `sutra run` with @args; returns its exit status. */
static int
run_sutra (const char *const *args)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  g_autoptr (GError) error = NULL;
  int status = -1;

  g_strv_builder_add (builder, sutra);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status,
                &error);
  g_assert_no_error (error);
  return WEXITSTATUS (status);
}

static char *
read_tree (const char *dir)
{
  GString *all = g_string_new (NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      g_autofree char *contents = NULL;

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        contents = read_tree (path);
      else
        g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
      g_string_append_printf (all, "== %s\n%s\n", (char *) names->pdata[i], contents);
    }
  return g_string_free (all, FALSE);
}

static void
test_translate_pipeline (void)
{
  g_autofree char *pipeline =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "pipelines", "translate.json", NULL);
  g_autofree char *book =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "data", "sample-book.txt", NULL);
  g_autofree char *work = g_build_filename (g_get_user_cache_dir (), "pipeline", NULL);
  g_autofree char *one = g_build_filename (work, "one", NULL);
  g_autofree char *two = g_build_filename (work, "two", NULL);
  g_autofree char *input = g_strconcat ("input=", book, NULL);
  g_autofree char *out_one = g_strconcat ("output=", one, NULL);
  g_autofree char *out_two = g_strconcat ("output=", two, NULL);
  g_autofree char *tree_one = NULL;
  g_autofree char *tree_two = NULL;

  g_test_summary ("pipelines/translate.json turns the sample book into one Spanish text file "
                  "per chapter, byte-identical with one worker and with three");
  if (!have_pair ("eng-spa"))
    return;
  g_assert_cmpint (g_mkdir_with_parents (work, 0700), ==, 0);
  {
    const char *args[] = { "run",   "--no-job", pipeline,
                           "--set", input,      "--set",
                           out_one, "--set",    "translate.workers=1",
                           NULL };
    g_assert_cmpint (run_sutra (args), ==, 0);
  }
  {
    const char *args[] = { "run",
                           "--no-job",
                           pipeline,
                           "--set",
                           input,
                           "--set",
                           out_two,
                           "--set",
                           "translate.workers=3",
                           "--set",
                           "translate.batch=3",
                           NULL };
    g_assert_cmpint (run_sutra (args), ==, 0);
  }
  tree_one = read_tree (one);
  tree_two = read_tree (two);
  g_assert_cmpstr (tree_one, ==, tree_two);
  /* Several chapters, in Spanish. */
  g_assert_cmpuint (strlen (tree_one), >, 1000);
  g_assert_nonnull (strstr (tree_one, " la "));
  g_assert_nonnull (strstr (tree_one, " el "));
}

/* Runs sutra with @args and returns what it printed (the test fails if it
 * fails). */
static char *
sutra_output (const char *const *args)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  int status = -1;

  g_strv_builder_add (builder, sutra);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  return out;
}

/* A stage's cache counters and items done, from `sutra status --json`. */
static void
cache_counts (const char *job, const char *stage, gint64 *hits, gint64 *misses, gint64 *done)
{
  const char *args[] = { "status", "--json", job, NULL };
  g_autofree char *text = sutra_output (args);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = json_from_string (text, &error);
  JsonArray *stages;

  g_assert_no_error (error);
  stages = json_object_get_array_member (json_node_get_object (root), "stages");
  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonObject *row = json_array_get_object_element (stages, i);

      if (!g_str_equal (json_object_get_string_member (row, "stage"), stage))
        continue;
      g_assert_true (json_object_has_member (row, "cache_hits"));
      *hits = json_object_get_int_member (row, "cache_hits");
      *misses = json_object_get_int_member (row, "cache_misses");
      *done = json_object_get_int_member (row, "done");
      return;
    }
  g_assert_not_reached ();
}

static void
test_translate_cache_first (void)
{
  g_autofree char *pipeline =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "pipelines", "translate.json", NULL);
  g_autofree char *book =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "data", "sample-book.txt", NULL);
  g_autofree char *work = g_build_filename (g_get_user_cache_dir (), "cache-first", NULL);
  g_autofree char *cache = g_build_filename (work, "cache", NULL);
  g_autofree char *modes = g_build_filename (work, "modes", NULL);
  g_autofree char *input = g_strconcat ("input=", book, NULL);
  char *trees[3] = { NULL, NULL, NULL };
  gint64 hits[3], misses[3], done[3];

  g_test_summary ("Translations are kept by content in the shared store: a second job through "
                  "the same --cache, with the book cut into other batches and its workers in "
                  "processes, translates nothing (every chunk a hit) and writes the same bytes; "
                  "a new version of the pair's data (another salt) translates everything again");
  g_test_bug ("12");
  if (!have_pair ("eng-spa"))
    return;
  g_assert_cmpint (g_mkdir_with_parents (modes, 0700), ==, 0);
  for (guint run = 0; run < 3; run++)
    {
      g_autofree char *job = g_strdup_printf ("%s/job%u", work, run);
      g_autofree char *out_dir = g_strdup_printf ("%s/out%u", work, run);
      g_autofree char *output = g_strconcat ("output=", out_dir, NULL);
      /* Run 1: other batches (so no batch of run 0 is found whole in the
       * store), worker processes. */
      const char *batch = run == 1 ? "translate.batch=7" : "translate.batch=32";
      const char *isolation =
        run == 1 ? "translate.isolation=process" : "translate.isolation=thread";
      const char *args[] = { "run",   "--job", job,     "--cache", cache,   pipeline,
                             "--set", input,   "--set", output,    "--set", "translate.workers=1",
                             "--set", batch,   "--set", isolation, NULL };

      if (run == 2)
        {
          /* The same pair's mode with one byte more, as an upgrade would
           * bring: another salt. */
          g_autofree char *mode = NULL;
          g_autofree char *copy = g_build_filename (modes, "eng-spa.mode", NULL);
          g_autofree char *changed = NULL;
          gsize length;

          g_assert_true (
            g_file_get_contents ("/usr/share/apertium/modes/eng-spa.mode", &mode, &length, NULL));
          changed = g_strconcat (mode, "\n", NULL);
          g_assert_true (g_file_set_contents (copy, changed, -1, NULL));
          g_setenv ("APERTIUM_MODES_DIR", modes, TRUE);
        }
      g_assert_cmpint (run_sutra (args), ==, 0);
      g_unsetenv ("APERTIUM_MODES_DIR");
      cache_counts (job, "translate", &hits[run], &misses[run], &done[run]);
      trees[run] = read_tree (out_dir);
      g_test_message ("run %u: %" G_GINT64_FORMAT " chunks, %" G_GINT64_FORMAT
                      " cache hits, %" G_GINT64_FORMAT " misses",
                      run, done[run], hits[run], misses[run]);
    }
  /* The first job translated every chunk (but repeats of one it had). */
  g_assert_cmpint (done[0], >, 10);
  g_assert_cmpint (hits[0] + misses[0], ==, done[0]);
  g_assert_cmpint (misses[0], >, 0);
  /* The second translated nothing: every chunk was a hit. */
  g_assert_cmpint (done[1], ==, done[0]);
  g_assert_cmpint (hits[1], ==, done[1]);
  g_assert_cmpint (misses[1], ==, 0);
  /* The third, with another salt, as the first. */
  g_assert_cmpint (hits[2], ==, hits[0]);
  g_assert_cmpint (misses[2], ==, misses[0]);
  /* Byte for byte the same books. */
  g_assert_cmpstr (trees[1], ==, trees[0]);
  g_assert_cmpstr (trees[2], ==, trees[0]);
  for (guint run = 0; run < 3; run++)
    g_free (trees[run]);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  registry = sutra_registry_new ();
  sutra_registry_load_default (registry, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/plugins/translate/markup-and-paragraphs",
                   test_translate_markup_and_paragraphs);
  g_test_add_func ("/plugins/translate/one-pipeline-per-worker",
                   test_translate_one_pipeline_per_worker);
  g_test_add_func ("/plugins/translate/auto-pair", test_translate_auto_pair);
  g_test_add_func ("/plugins/translate/pair-not-installed", test_translate_pair_not_installed);
  g_test_add_func ("/plugins/translate/bad-text", test_translate_bad_text);
  g_test_add_func ("/plugins/translate/hung-pipeline", test_translate_hung_pipeline);
  g_test_add_func ("/plugins/translate/tool-without-null-flush",
                   test_translate_tool_without_null_flush);
  g_test_add_func ("/plugins/translate/pipeline", test_translate_pipeline);
  g_test_add_func ("/plugins/translate/cache-first", test_translate_cache_first);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
