/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of plugins/npy-sink: the files' bytes, numpy reading them, resuming,
 * and input it does not take. */

#include "sutra-harness.h"
#include "sutra-output-private.h"
#include "sutra-registry.h"
#include "sutra-settings.h"

#include <glib/gstdio.h>
#include <string.h>

static SutraRegistry *registry;

/* Helpers */

#define N_FLOATS 20

/* Row @i's result: 20 floats no two rows share. */
static SutraItem *
make_row (guint64 i)
{
  float values[N_FLOATS];
  g_autofree char *id = g_strdup_printf ("text:%" G_GUINT64_FORMAT, i + 1);

  for (int k = 0; k < N_FLOATS; k++)
    values[k] = (float) i * 100.0f + (float) k + 0.25f;
  return sutra_item_new_root (id, i, "application/x-dhatu", g_bytes_new (values, sizeof values));
}

static GPtrArray *
make_rows (guint64 first, guint64 n)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

  for (guint64 i = first; i < first + n; i++)
    g_ptr_array_add (rows, make_row (i));
  return rows;
}

static char *
read_file (const char *dir, const char *name, gsize *length)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, length, &error);
  g_assert_no_error (error);
  return contents;
}

/* Checks the four files of @dir hold rows 0 .. @n - 1 exactly. */
static void
check_files (const char *dir, guint64 n)
{
  static const char *const names[3] = { "vectors.npy", "bases.npy", "ambiguity.npy" };
  static const int first[3] = { 0, 9, 19 }, columns[3] = { 9, 10, 1 };
  static const char *const shapes[3] = { ", 9), }", ", 10), }", ",), }" };
  gsize length;
  g_autofree char *ids = read_file (dir, "ids.txt", &length);
  g_autoptr (GString) want_ids = g_string_new (NULL);

  for (int f = 0; f < 3; f++)
    {
      g_autofree char *data = read_file (dir, names[f], &length);
      g_autofree char *dict = NULL;
      g_autofree char *shape = g_strdup_printf ("'shape': (%" G_GUINT64_FORMAT "%s", n, shapes[f]);

      g_assert_cmpuint (length, ==, 128 + n * columns[f] * sizeof (float));
      g_assert_cmpmem (data, 8, "\x93NUMPY\x01\x00", 8);
      g_assert_cmpint ((guchar) data[8] | ((guchar) data[9] << 8), ==, 118);
      g_assert_cmpint (data[127], ==, '\n');
      dict = g_strndup (data + 10, 117);
      g_assert_true (g_str_has_prefix (dict, "{'descr': '<f4', 'fortran_order': False, "));
      g_assert_nonnull (strstr (dict, shape));
      for (guint64 i = 0; i < n; i++)
        for (int k = 0; k < columns[f]; k++)
          {
            float got;

            memcpy (&got, data + 128 + (i * columns[f] + k) * sizeof (float), sizeof got);
            g_assert_cmpfloat (got, ==, (float) i * 100.0f + (float) (first[f] + k) + 0.25f);
          }
    }
  for (guint64 i = 0; i < n; i++)
    g_string_append_printf (want_ids, "text:%" G_GUINT64_FORMAT "\n", i + 1);
  g_assert_cmpstr (ids, ==, want_ids->str);
}

/* An instance made by hand, for what the harness cannot do (resuming). */
typedef struct
{
  const SutraStageInfo *stage;
  SutraSettings *settings;
  gpointer instance;
} Sink;

static void
sink_open (Sink *sink, const char *dir, const char *resume_state)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (GError) error = NULL;
  SutraStageContext context = {
    .stage_name = "write",
    .n_workers = 1,
    .device = "cpu",
    .device_index = -1,
    .work_dir = dir,
    .resume_state = resume_state,
  };

  json_object_set_string_member (params, "dir", dir);
  sink->stage = sutra_registry_find_stage (registry, "npy-sink", NULL);
  g_assert_nonnull (sink->stage);
  sink->settings = sutra_settings_new_checked (sink->stage, params, &error);
  g_assert_no_error (error);
  sink->instance = sink->stage->create (&context, sutra_settings_get_data (sink->settings), &error);
  g_assert_no_error (error);
}

static void
sink_write (Sink *sink, GPtrArray *rows)
{
  g_autoptr (GError) error = NULL;
  SutraOutput output;
  gint cancelled = 0;

  sutra_output_init_collect (&output, &cancelled);
  g_assert_true (sink->stage->process (sink->instance, (SutraItem *const *) rows->pdata, rows->len,
                                       &output, &error));
  g_assert_no_error (error);
  sutra_output_clear (&output);
}

static void
sink_close (Sink *sink, gboolean finish)
{
  g_autoptr (GError) error = NULL;

  if (finish)
    {
      g_assert_true (sink->stage->finish (sink->instance, NULL, &error));
      g_assert_no_error (error);
    }
  sink->stage->destroy (sink->instance);
  sutra_settings_free (sink->settings);
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
  g_rmdir (dir);
}

/* Tests */

static void
test_npy_sink_write (void)
{
  g_autofree char *dir = g_dir_make_tmp ("npy-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_autofree char *params = g_strdup_printf ("{\"dir\": \"%s\"}", out);
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *part = NULL;
  guint64 written = 0;

  g_test_summary ("Rows in batches of 1 to 1000, past the 1 MiB flush: the .npy files hold "
                  "them in order behind a 128-byte header with the final shape; ids.txt one a "
                  "line; no .part files left");
  harness = sutra_harness_new (registry, "npy-sink", params, &error);
  g_assert_no_error (error);
  for (guint64 batch = 1; written < 70000; batch = batch * 10 % 999 + 1)
    {
      g_autoptr (GPtrArray) rows = make_rows (written, batch);
      g_autoptr (GPtrArray) pushed = NULL;

      pushed = sutra_harness_process (harness, (SutraItem *const *) rows->pdata, rows->len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (pushed->len, ==, 0);
      written += batch;
    }
  g_assert_true (sutra_harness_finish (harness, &error));
  g_assert_no_error (error);
  check_files (out, written);
  {
    g_autofree char *part_file = g_build_filename (out, "vectors.npy.part", NULL);

    g_assert_false (g_file_test (part_file, G_FILE_TEST_EXISTS));
  }
  remove_dir (out);
  g_rmdir (dir);
}

static void
test_npy_sink_numpy (void)
{
  g_autofree char *dir = g_dir_make_tmp ("npy-XXXXXX", NULL);
  g_autoptr (GPtrArray) rows = make_rows (0, 1234);
  g_autoptr (GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  int status;
  Sink sink;
  Sink empty;
  g_autofree char *empty_dir = g_build_filename (dir, "empty", NULL);

  g_test_summary ("numpy.load reads the files: float32, shapes (N, 9), (N, 10), (N,), the "
                  "values written; an empty run gives shape (0, 9)");
  if (!g_spawn_command_line_sync ("/usr/bin/python3 -c 'import numpy'", NULL, NULL, &status,
                                  NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_test_skip ("no /usr/bin/python3 with numpy (apt-get install python3-numpy)");
      remove_dir (dir);
      return;
    }
  sink_open (&sink, dir, NULL);
  sink_write (&sink, rows);
  sink_close (&sink, TRUE);
  sink_open (&empty, empty_dir, NULL);
  sink_close (&empty, TRUE);
  script = g_strdup_printf (
    "/usr/bin/python3 -c \""
    "import numpy as np\n"
    "d = '%s'\n"
    "v = np.load(d + '/vectors.npy'); b = np.load(d + '/bases.npy'); a = np.load(d + "
    "'/ambiguity.npy')\n"
    "assert v.dtype == np.float32 and b.dtype == np.float32 and a.dtype == np.float32\n"
    "assert v.shape == (1234, 9) and b.shape == (1234, 10) and a.shape == (1234,), (v.shape, "
    "b.shape, a.shape)\n"
    "i = np.arange(1234, dtype=np.float32)[:, None] * 100\n"
    "assert (v == i + np.arange(9) + 0.25).all() and (b == i + np.arange(9, 19) + 0.25).all()\n"
    "assert (a == i[:, 0] + 19.25).all()\n"
    "e = np.load(d + '/empty/vectors.npy')\n"
    "assert e.shape == (0, 9), e.shape\n"
    "print('ok')\"",
    dir);
  g_spawn_command_line_sync (script, &out, NULL, &status, &error);
  g_assert_no_error (error);
  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, "ok\n");
  remove_dir (empty_dir);
  remove_dir (dir);
}

static void
test_npy_sink_resume (void)
{
  g_autofree char *dir = g_dir_make_tmp ("npy-XXXXXX", NULL);
  g_autoptr (GPtrArray) first = make_rows (0, 300);
  g_autoptr (GPtrArray) lost = make_rows (300, 50);
  g_autoptr (GPtrArray) again = make_rows (300, 200);
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;
  Sink sink;

  g_test_summary ("A run synced at 300 rows that wrote 50 more (flushed, not synced) and died: "
                  "resumed from its state, the files end as a fresh run's, rows 0 to 499");
  sink_open (&sink, dir, NULL);
  sink_write (&sink, first);
  g_assert_true (sink.stage->sync (sink.instance, &state, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (state, ==, "300 2592");
  sink_write (&sink, lost);
  /* The lost rows reach the files (a sync's flush would), but the journal
   * keeps the earlier state. */
  {
    g_autofree char *later = NULL;

    g_assert_true (sink.stage->sync (sink.instance, &later, &error));
    g_assert_cmpstr (later, !=, state);
  }
  sink_close (&sink, FALSE);

  sink_open (&sink, dir, state);
  sink_write (&sink, again);
  sink_close (&sink, TRUE);
  check_files (dir, 500);
  remove_dir (dir);
}

static void
test_npy_sink_bad_input (void)
{
  g_autofree char *dir = g_dir_make_tmp ("npy-XXXXXX", NULL);
  g_autofree char *params = g_strdup_printf ("{\"dir\": \"%s\"}", dir);
  g_autoptr (SutraHarness) harness = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) pushed = NULL;
  g_autoptr (SutraItem) text =
    sutra_item_new_root ("a", 0, SUTRA_MEDIA_TEXT_PLAIN, g_bytes_new_static ("{}", 2));

  g_test_summary ("Items that are not the dhatu stage's binary results: an error saying so "
                  "and what to do");
  harness = sutra_harness_new (registry, "npy-sink", params, &error);
  g_assert_no_error (error);
  pushed = sutra_harness_process (harness, &text, 1, &error);
  g_assert_null (pushed);
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "format \"binary\""));
  g_clear_pointer (&harness, sutra_harness_free);
  remove_dir (dir);
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

  g_test_add_func ("/plugins/npy-sink/write", test_npy_sink_write);
  g_test_add_func ("/plugins/npy-sink/numpy", test_npy_sink_numpy);
  g_test_add_func ("/plugins/npy-sink/resume", test_npy_sink_resume);
  g_test_add_func ("/plugins/npy-sink/bad-input", test_npy_sink_bad_input);

  status = g_test_run ();
  sutra_registry_free (registry);
  return status;
}
