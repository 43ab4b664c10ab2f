/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/dhatu: the spec's reference results, both CPU paths, the
 * GPU kernel's code compiled for the host, an independent implementation
 * (bench/dhatu-numpy.py) on other texts, and the GPU where there is one. */

#include "sutra-harness.h"
#include "sutra-registry.h"

#include "dhatu-cpu.h"
#include "dhatu-gpu.h"
#include "dhatu-kernel.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static SutraRegistry *registry;

/* Helpers */

typedef struct
{
  char *id;
  GBytes *text;
  DhatuResult expected;
} Reference;

static void
reference_free (gpointer data)
{
  Reference *r = data;

  g_free (r->id);
  g_bytes_unref (r->text);
  g_free (r);
}

static char *
reference_path (void)
{
  const char *shared = g_getenv ("SUTRA_SHARED_DATA");

  return g_build_filename (shared != NULL ? shared : "../shared/data", "dhatu", "reference.jsonl",
                           NULL);
}

static void
read_floats (JsonObject *object, const char *name, float *out, guint n)
{
  JsonArray *array = json_object_get_array_member (object, name);

  g_assert_cmpuint (json_array_get_length (array), ==, n);
  for (guint i = 0; i < n; i++)
    out[i] = (float) json_array_get_double_element (array, i);
}

/* The rows of reference.jsonl, or NULL with the test skipped, saying why. */
static GPtrArray *
load_reference (void)
{
  g_autofree char *path = reference_path ();
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  GPtrArray *rows;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_autofree char *message =
        g_strdup_printf ("no %s (put the project's shared/ folder beside the checkout, or set "
                         "SUTRA_SHARED_DATA to its data/ folder)",
                         path);
      g_test_skip (message);
      return NULL;
    }
  rows = g_ptr_array_new_with_free_func (reference_free);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *object;
      Reference *r;
      const char *text;

      if (lines[i][0] == '\0')
        continue;
      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      r = g_new0 (Reference, 1);
      r->id = g_strdup (json_object_get_string_member (object, "id"));
      text = json_object_get_string_member (object, "text");
      r->text = g_bytes_new (text, strlen (text));
      read_floats (object, "vector", r->expected.vector, DHATU_N_DHATUS);
      read_floats (object, "bases", r->expected.bases, DHATU_N_BASES);
      r->expected.ambiguity = (float) json_object_get_double_member (object, "ambiguity");
      g_ptr_array_add (rows, r);
    }
  g_assert_cmpuint (rows->len, >, 0);
  return rows;
}

static void
assert_close (const char *id, const char *what, int index, float expected, float got, double tol)
{
  double error = fabs ((double) got - (double) expected);

  if (error > tol * fabs ((double) expected) + 1e-30)
    g_error ("%s: %s[%d] is %.9g, the reference %.9g (relative error %.3g > %g)", id, what, index,
             (double) got, (double) expected, error / fabs ((double) expected), tol);
}

/* The spec's tolerances: 1e-5 relative for vector and bases, 1e-4 for the
 * ambiguity. */
static void
assert_matches (const char *id, const DhatuResult *expected, const DhatuResult *got)
{
  for (int i = 0; i < DHATU_N_DHATUS; i++)
    assert_close (id, "vector", i, expected->vector[i], got->vector[i], 1e-5);
  for (int i = 0; i < DHATU_N_BASES; i++)
    assert_close (id, "bases", i, expected->bases[i], got->bases[i], 1e-5);
  assert_close (id, "ambiguity", 0, expected->ambiguity, got->ambiguity, 1e-4);
}

/* Runs @texts through the dhatu stage (params @params) in one batch; returns
 * the pushed items. */
static GPtrArray *
run_stage (const char *params, GBytes *const *texts, guint n)
{
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  GPtrArray *pushed;

  harness = sutra_harness_new (registry, "dhatu", params, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_strdup_printf ("t%u", i);

      g_ptr_array_add (items,
                       sutra_item_new_root (id, i, SUTRA_MEDIA_TEXT_PLAIN, g_bytes_ref (texts[i])));
    }
  pushed = sutra_harness_process (harness, (SutraItem *const *) items->pdata, n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pushed->len, ==, n);
  return pushed;
}

static const DhatuResult *
item_result (SutraItem *item)
{
  gsize size;
  const guint8 *data = sutra_item_get_data (item, &size);

  g_assert_cmpstr (sutra_item_get_media_type (item), ==, "application/x-dhatu");
  g_assert_cmpuint (size, ==, sizeof (DhatuResult));
  return (const DhatuResult *) data;
}

static GBytes **
reference_texts (GPtrArray *rows)
{
  GBytes **texts = g_new (GBytes *, rows->len);

  for (guint i = 0; i < rows->len; i++)
    texts[i] = ((Reference *) rows->pdata[i])->text;
  return texts;
}

/* The stage against reference.jsonl, with the CPU's SHA-256 path as chosen
 * (SHA-NI where the CPU has it) or forced portable. */
static void
check_reference_stage (gboolean portable)
{
  g_autoptr (GPtrArray) rows = load_reference ();
  g_autoptr (GPtrArray) pushed = NULL;
  g_autofree GBytes **texts = NULL;

  if (rows == NULL)
    return;
  if (portable)
    g_setenv ("SUTRA_DHATU_NO_SHANI", "1", TRUE);
  texts = reference_texts (rows);
  pushed = run_stage (NULL, texts, rows->len);
  g_unsetenv ("SUTRA_DHATU_NO_SHANI");
  for (guint i = 0; i < rows->len; i++)
    {
      Reference *r = rows->pdata[i];

      g_autofree char *id = g_strdup_printf ("t%u", i);

      g_assert_cmpstr (sutra_item_get_id (pushed->pdata[i]), ==, id);
      assert_matches (r->id, &r->expected, item_result (pushed->pdata[i]));
    }
}

/* Tests */

static void
test_dhatu_reference (void)
{
  g_autoptr (DhatuCpu) cpu = dhatu_cpu_new ();

  g_test_summary ("Every row of reference.jsonl (empty, non-ASCII, block-boundary and long "
                  "texts included) within the spec's tolerances, on the default CPU path");
  g_test_message ("the CPU path: %s", dhatu_cpu_uses_shani (cpu) ? "SHA-NI" : "portable");
  check_reference_stage (FALSE);
}

static void
test_dhatu_reference_portable (void)
{
  g_test_summary ("reference.jsonl on the portable SHA-256 (SUTRA_DHATU_NO_SHANI=1)");
  check_reference_stage (TRUE);
}

static void
test_dhatu_reference_gpu_code (void)
{
  g_autoptr (GPtrArray) rows = load_reference ();

  g_test_summary ("reference.jsonl through dhatu_text(), the per-text code the CUDA kernel "
                  "runs, compiled for the host");
  if (rows == NULL)
    return;
  for (guint i = 0; i < rows->len; i++)
    {
      Reference *r = rows->pdata[i];
      gsize size;
      const guint8 *data = g_bytes_get_data (r->text, &size);
      DhatuResult got;

      dhatu_text (data, size, &got);
      assert_matches (r->id, &r->expected, &got);
    }
}

/* Texts of every length from 0 to 300 bytes (1 to 6 blocks for every head
 * length), of any bytes, invalid UTF-8 and NULs included. */
static void
make_texts (guint8 **data, gsize *lengths, guint n)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (13);

  for (guint i = 0; i < n; i++)
    {
      lengths[i] = i % 301;
      data[i] = g_malloc (MAX (lengths[i], 1));
      for (gsize j = 0; j < lengths[i]; j++)
        data[i][j] = (guint8) g_rand_int_range (rand, 0, 256);
    }
}

static void
test_dhatu_paths_agree (void)
{
  enum
  {
    N = 903
  };
  guint8 *data[N];
  gsize lengths[N];
  g_autofree DhatuResult *shani = g_new (DhatuResult, N);
  g_autofree DhatuResult *portable = g_new (DhatuResult, N);
  g_autofree DhatuResult *kernel = g_new (DhatuResult, N);
  g_autoptr (DhatuCpu) fast = dhatu_cpu_new ();
  g_autoptr (DhatuCpu) slow = NULL;

  g_test_summary ("SHA-NI, the portable path and the GPU kernel's code give byte-identical "
                  "results on texts of 0 to 300 bytes of any bytes");
  make_texts (data, lengths, N);
  g_setenv ("SUTRA_DHATU_NO_SHANI", "1", TRUE);
  slow = dhatu_cpu_new ();
  g_unsetenv ("SUTRA_DHATU_NO_SHANI");
  g_assert_false (dhatu_cpu_uses_shani (slow));
  dhatu_cpu_run (slow, (const guint8 *const *) data, lengths, N, portable);
  for (guint i = 0; i < N; i++)
    dhatu_text (data[i], lengths[i], &kernel[i]);
  g_assert_cmpmem (portable, N * sizeof (DhatuResult), kernel, N * sizeof (DhatuResult));
  if (dhatu_cpu_uses_shani (fast))
    {
      dhatu_cpu_run (fast, (const guint8 *const *) data, lengths, N, shani);
      g_assert_cmpmem (portable, N * sizeof (DhatuResult), shani, N * sizeof (DhatuResult));
    }
  for (guint i = 0; i < N; i++)
    g_free (data[i]);
  if (!dhatu_cpu_uses_shani (fast))
    g_test_skip ("this CPU has no SHA-NI: only the portable path and the kernel code compared");
}

static const char *const python = "/usr/bin/python3";

static void
test_dhatu_independent (void)
{
  g_autofree char *script =
    g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "bench", "dhatu-numpy.py", NULL);
  g_autofree char *dir = g_dir_make_tmp ("dhatu-XXXXXX", NULL);
  g_autofree char *in = g_build_filename (dir, "in.jsonl", NULL);
  g_autofree char *out = g_build_filename (dir, "out.jsonl", NULL);
  g_autoptr (GString) jsonl = g_string_new (NULL);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GPtrArray) pushed = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  const char *argv[] = { python, script, "--jsonl", in, out, NULL };
  static const char *const pieces[] = {
    "a", "ā", "dhātu", "東京", "😀", " ", "\n", "\"", "\\", "\t"
  };
  int status;

  g_test_summary ("Texts not in reference.jsonl (1 to 400 bytes, ASCII, Devanagari "
                  "transliteration, CJK, emoji, control characters) against bench/dhatu-numpy.py, "
                  "an independent numpy + hashlib implementation");
  if (!g_file_test (python, G_FILE_TEST_IS_EXECUTABLE) ||
      !g_spawn_command_line_sync ("/usr/bin/python3 -c 'import numpy'", NULL, NULL, &status,
                                  NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_test_skip ("no /usr/bin/python3 with numpy (apt-get install python3-numpy)");
      return;
    }
  for (guint i = 0; i < 500; i++)
    {
      g_autoptr (GString) text = g_string_new (NULL);
      guint n = g_rand_int_range (rand, 0, 80);
      g_autoptr (JsonNode) node = json_node_new (JSON_NODE_VALUE);
      g_autofree char *quoted = NULL;

      if (i < 300)
        for (guint j = 0; j < i; j++)
          g_string_append_c (text, (char) ('a' + j % 26));
      else
        for (guint j = 0; j < n; j++)
          g_string_append (text, pieces[g_rand_int_range (rand, 0, G_N_ELEMENTS (pieces))]);
      json_node_set_string (node, text->str);
      quoted = json_to_string (node, FALSE);
      g_string_append_printf (jsonl, "{\"id\": \"x%u\", \"text\": %s}\n", i, quoted);
      g_ptr_array_add (texts, g_bytes_new (text->str, text->len));
    }
  g_file_set_contents (in, jsonl->str, jsonl->len, &error);
  g_assert_no_error (error);
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);

  pushed = run_stage (NULL, (GBytes *const *) texts->pdata, texts->len);
  g_file_get_contents (out, &contents, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; i < texts->len; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *object;
      DhatuResult expected;

      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      read_floats (object, "vector", expected.vector, DHATU_N_DHATUS);
      read_floats (object, "bases", expected.bases, DHATU_N_BASES);
      expected.ambiguity = (float) json_object_get_double_member (object, "ambiguity");
      assert_matches (json_object_get_string_member (object, "id"), &expected,
                      item_result (pushed->pdata[i]));
    }
  g_remove (in);
  g_remove (out);
  g_rmdir (dir);
}

static void
test_dhatu_json (void)
{
  g_autoptr (GPtrArray) rows = load_reference ();
  g_autoptr (GPtrArray) binary = NULL;
  g_autoptr (GPtrArray) json = NULL;
  g_autofree GBytes **texts = NULL;

  g_test_summary ("format “json”: application/json objects with vector, bases and ambiguity, "
                  "the float32 values written as the shortest decimals that read back the same");
  if (rows == NULL)
    return;
  texts = reference_texts (rows);
  binary = run_stage (NULL, texts, rows->len);
  json = run_stage ("{\"format\": \"json\"}", texts, rows->len);
  for (guint i = 0; i < rows->len; i++)
    {
      const DhatuResult *want = item_result (binary->pdata[i]);
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      gsize size;
      const guint8 *data = sutra_item_get_data (json->pdata[i], &size);
      JsonObject *object;
      DhatuResult got;

      g_assert_cmpstr (sutra_item_get_media_type (json->pdata[i]), ==, "application/json");
      json_parser_load_from_data (parser, (const char *) data, (gssize) size, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpuint (json_object_get_size (object), ==, 3);
      read_floats (object, "vector", got.vector, DHATU_N_DHATUS);
      read_floats (object, "bases", got.bases, DHATU_N_BASES);
      got.ambiguity = (float) json_object_get_double_member (object, "ambiguity");
      g_assert_cmpmem (want, sizeof got, &got, sizeof got);
    }
}

static void
test_dhatu_jsonl_sink (void)
{
  g_autoptr (GPtrArray) rows = load_reference ();
  g_autoptr (GPtrArray) json = NULL;
  g_autoptr (GPtrArray) none = NULL;
  g_autoptr (SutraHarness) sink = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree GBytes **texts = NULL;
  g_autofree char *dir = g_dir_make_tmp ("dhatu-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *params = g_strdup_printf ("{\"path\": \"%s\"}", path);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  g_test_summary ("dhatu (format json) into jsonl-sink: lines of id, vector, bases and "
                  "ambiguity, as reference.jsonl has them");
  if (rows == NULL)
    return;
  texts = reference_texts (rows);
  json = run_stage ("{\"format\": \"json\"}", texts, rows->len);
  sink = sutra_harness_new (registry, "jsonl-sink", params, &error);
  g_assert_no_error (error);
  none = sutra_harness_process (sink, (SutraItem *const *) json->pdata, json->len, &error);
  g_assert_no_error (error);
  g_assert_true (sutra_harness_finish (sink, &error));
  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (contents, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, rows->len + 1);
  for (guint i = 0; i < rows->len; i++)
    {
      Reference *r = rows->pdata[i];
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GList) members = NULL;
      g_autofree char *prefix = g_strdup_printf ("{\"id\":\"t%u\",\"vector\":[", i);
      JsonObject *object;
      DhatuResult got;

      g_assert_true (g_str_has_prefix (lines[i], prefix));
      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      members = json_object_get_members (object);
      g_assert_cmpuint (g_list_length (members), ==, 4);
      read_floats (object, "vector", got.vector, DHATU_N_DHATUS);
      read_floats (object, "bases", got.bases, DHATU_N_BASES);
      got.ambiguity = (float) json_object_get_double_member (object, "ambiguity");
      assert_matches (r->id, &r->expected, &got);
    }
  g_remove (path);
  g_rmdir (dir);
}

static void
remove_tree (const char *dir)
{
  const char *argv[] = { "rm", "-rf", dir, NULL };

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                NULL);
}

/* Runs pipelines/dhatu-corpus.json with sutra run, in @dir, with the extra
 * `--set` assignments @sets (NULL-terminated). */
static void
run_pipeline (const char *dir, const char *const *sets)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status;

  g_ptr_array_add (argv, g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL));
  g_ptr_array_add (argv, g_strdup ("run"));
  g_ptr_array_add (argv, g_strdup ("-q"));
  g_ptr_array_add (argv, g_build_filename (g_getenv ("SUTRA_SOURCE_ROOT"), "pipelines",
                                           "dhatu-corpus.json", NULL));
  for (guint i = 0; sets[i] != NULL; i++)
    {
      g_ptr_array_add (argv, g_strdup ("--set"));
      g_ptr_array_add (argv, g_strdup (sets[i]));
    }
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (dir, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err, &status,
                &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("sutra run of pipelines/dhatu-corpus.json failed: %s", err);
}

static char *
read_output (const char *dir, const char *out, const char *name, gsize *length)
{
  g_autofree char *path = g_build_filename (dir, out, name, NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, length, &error);
  g_assert_no_error (error);
  return contents;
}

static void
test_dhatu_pipeline (void)
{
  static const char *const sentences[] = {
    "The quantum computational framework demonstrates significant algorithmic efficiency.",
    "Machine learning models require extensive parameter optimization techniques.",
    "Statistical analysis reveals correlation patterns in experimental data.",
  };
  enum
  {
    N = 20000
  };
  g_autofree char *dir = g_dir_make_tmp ("dhatu-XXXXXX", NULL);
  g_autofree char *corpus = g_build_filename (dir, "corpus.txt", NULL);
  g_autofree char *corpus_jsonl = g_build_filename (dir, "corpus.jsonl", NULL);
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autoptr (GString) jsonl = g_string_new (NULL);
  g_autoptr (GString) want_ids = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *v1 = NULL, *v2 = NULL, *b1 = NULL, *b2 = NULL, *a1 = NULL, *a2 = NULL;
  g_autofree char *ids = NULL, *vj = NULL, *ids_jsonl = NULL;
  gsize n_v1, n_v2, n_b1, n_b2, n_a1, n_a2, n_vj;
  const char *sets_1[] = { "input=corpus.txt", "output=one", "dhatu.workers=1", NULL };
  const char *sets_2[] = { "input=corpus.txt", "output=two", "dhatu.workers=2", "dhatu.batch=777",
                           NULL };
  const char *sets_j[] = { "input=corpus.jsonl", "format=jsonl", "output=json", NULL };

  g_test_summary ("pipelines/dhatu-corpus.json on a corpus of lines (1 and 2 workers: the "
                  "same bytes) and of JSON lines: .npy rows as the kernel computes them, ids "
                  "in order");
  for (guint i = 0; i < N; i++)
    {
      g_autoptr (GString) text = g_string_new (NULL);

      g_string_printf (text, " Article %u: %s", i + 1, sentences[i % 3]);
      g_string_append_printf (lines, "%s\n", text->str);
      g_string_append_printf (jsonl, "{\"id\": \"doc-%u\", \"text\": \"%s\"}\n", i, text->str);
      g_string_append_printf (want_ids, "corpus:%u\n", i + 1);
    }
  g_file_set_contents (corpus, lines->str, lines->len, &error);
  g_assert_no_error (error);
  g_file_set_contents (corpus_jsonl, jsonl->str, jsonl->len, &error);
  g_assert_no_error (error);
  run_pipeline (dir, sets_1);
  run_pipeline (dir, sets_2);
  run_pipeline (dir, sets_j);

  v1 = read_output (dir, "one", "vectors.npy", &n_v1);
  v2 = read_output (dir, "two", "vectors.npy", &n_v2);
  b1 = read_output (dir, "one", "bases.npy", &n_b1);
  b2 = read_output (dir, "two", "bases.npy", &n_b2);
  a1 = read_output (dir, "one", "ambiguity.npy", &n_a1);
  a2 = read_output (dir, "two", "ambiguity.npy", &n_a2);
  vj = read_output (dir, "json", "vectors.npy", &n_vj);
  g_assert_cmpmem (v1, n_v1, v2, n_v2);
  g_assert_cmpmem (b1, n_b1, b2, n_b2);
  g_assert_cmpmem (a1, n_a1, a2, n_a2);
  g_assert_cmpmem (v1, n_v1, vj, n_vj);
  g_assert_cmpuint (n_v1, ==, 128 + N * 9 * sizeof (float));
  ids = read_output (dir, "one", "ids.txt", NULL);
  g_assert_cmpstr (ids, ==, want_ids->str);
  ids_jsonl = read_output (dir, "json", "ids.txt", NULL);
  g_assert_true (g_str_has_prefix (ids_jsonl, "doc-0\ndoc-1\n"));
  for (guint i = 0; i < N; i += 997)
    {
      g_autofree char *text = g_strdup_printf (" Article %u: %s", i + 1, sentences[i % 3]);
      DhatuResult want;

      dhatu_text ((const guint8 *) text, strlen (text), &want);
      g_assert_cmpmem (v1 + 128 + i * 9 * sizeof (float), 9 * sizeof (float), want.vector,
                       sizeof want.vector);
      g_assert_cmpmem (b1 + 128 + i * 10 * sizeof (float), 10 * sizeof (float), want.bases,
                       sizeof want.bases);
      g_assert_cmpmem (a1 + 128 + i * sizeof (float), sizeof (float), &want.ambiguity,
                       sizeof (float));
    }
  remove_tree (dir);
}

static void
test_dhatu_gpu_bad_device (void)
{
  g_autoptr (GError) error = NULL;
  DhatuGpu *gpu;

  g_test_summary ("A GPU that does not exist (cuda:4096), or no driver, or no kernel built in: "
                  "a clear error naming the device");
  gpu = dhatu_gpu_new (4096, &error);
  g_assert_null (gpu);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "cuda:4096"));
}

static void
test_dhatu_gpu (void)
{
  g_autoptr (GPtrArray) rows = NULL;
  g_autoptr (GError) error = NULL;
  DhatuGpu *gpu;
  enum
  {
    N = 903
  };
  guint8 *data[N];
  gsize lengths[N];
  g_autofree DhatuResult *host = g_new (DhatuResult, N);
  g_autofree DhatuResult *device = g_new (DhatuResult, N);

  g_test_summary ("On a real GPU: reference.jsonl, and byte-identical results to the host "
                  "build of the same kernel code");
  if (!dhatu_gpu_built ())
    {
      g_test_skip ("the plugin was built without the CUDA kernel (no clang for PTX)");
      return;
    }
  gpu = dhatu_gpu_new (0, &error);
  if (gpu == NULL)
    {
      g_autofree char *message = g_strdup_printf ("no usable GPU here: %s", error->message);

      g_test_skip (message);
      return;
    }
  rows = load_reference ();
  if (rows != NULL)
    {
      const guint8 **texts = g_new (const guint8 *, rows->len);
      gsize *sizes = g_new (gsize, rows->len);
      DhatuResult *got = g_new (DhatuResult, rows->len);

      for (guint i = 0; i < rows->len; i++)
        texts[i] = g_bytes_get_data (((Reference *) rows->pdata[i])->text, &sizes[i]);
      g_assert_true (dhatu_gpu_run (gpu, texts, sizes, rows->len, got, &error));
      g_assert_no_error (error);
      for (guint i = 0; i < rows->len; i++)
        assert_matches (((Reference *) rows->pdata[i])->id,
                        &((Reference *) rows->pdata[i])->expected, &got[i]);
      g_free (texts);
      g_free (sizes);
      g_free (got);
    }
  make_texts (data, lengths, N);
  for (guint i = 0; i < N; i++)
    dhatu_text (data[i], lengths[i], &host[i]);
  g_assert_true (dhatu_gpu_run (gpu, (const guint8 *const *) data, lengths, N, device, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (host, N * sizeof (DhatuResult), device, N * sizeof (DhatuResult));
  for (guint i = 0; i < N; i++)
    g_free (data[i]);
  dhatu_gpu_free (gpu);
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

  g_test_add_func ("/plugins/dhatu/reference", test_dhatu_reference);
  g_test_add_func ("/plugins/dhatu/reference-portable", test_dhatu_reference_portable);
  g_test_add_func ("/plugins/dhatu/reference-gpu-code", test_dhatu_reference_gpu_code);
  g_test_add_func ("/plugins/dhatu/paths-agree", test_dhatu_paths_agree);
  g_test_add_func ("/plugins/dhatu/independent", test_dhatu_independent);
  g_test_add_func ("/plugins/dhatu/json", test_dhatu_json);
  g_test_add_func ("/plugins/dhatu/jsonl-sink", test_dhatu_jsonl_sink);
  g_test_add_func ("/plugins/dhatu/pipeline", test_dhatu_pipeline);
  g_test_add_func ("/plugins/dhatu/gpu-bad-device", test_dhatu_gpu_bad_device);
  g_test_add_func ("/plugins/dhatu/gpu", test_dhatu_gpu);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
