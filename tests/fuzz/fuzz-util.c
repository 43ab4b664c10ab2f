/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the fuzz harnesses: plugins, scratch space, the segmenter. */

#include "fuzz-record.h"
#include "fuzz.h"

#include "sutra-harness.h"

#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
fuzz_remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        fuzz_remove_tree (child);
      else
        (void) g_remove (child);
    }
  (void) g_rmdir (path);
}

static char *work_dir;

void
fuzz_say (const char *format, ...)
{
  static int verbose = -1;
  va_list args;

  if (verbose < 0)
    verbose = g_getenv ("SUTRA_FUZZ_VERBOSE") != NULL;
  if (!verbose)
    return;
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
}

static void
fuzz_remove_work_dir (void)
{
  if (work_dir != NULL)
    fuzz_remove_tree (work_dir);
}

void
fuzz_init (void)
{
  /* Structured logging (G_LOG_USE_STRUCTURED) goes through the writer, which
   * honours the always-fatal mask. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FATAL_MASK);
}

const char *
fuzz_get_work_dir (void)
{
  if (work_dir == NULL)
    {
      g_autoptr (GError) error = NULL;

      work_dir = g_dir_make_tmp ("sutra-fuzz-XXXXXX", &error);
      if (work_dir == NULL)
        {
          fprintf (stderr, "fuzz: cannot make a scratch directory: %s\n", error->message);
          abort ();
        }
      atexit (fuzz_remove_work_dir);
    }
  return work_dir;
}

SutraRegistry *
fuzz_get_registry (void)
{
  static SutraRegistry *registry;

  if (registry == NULL)
    {
      g_autoptr (GError) error = NULL;

      registry = sutra_registry_new ();
      /* The harness runs from the build tree: the built-in directory is the
       * build tree's plugins, built with the same instrumentation. */
      if (!sutra_registry_load_default (registry, NULL, &error))
        {
          fprintf (stderr, "fuzz: cannot load the plugins: %s\n", error->message);
          abort ();
        }
    }
  return registry;
}

char *
fuzz_segmenter_params (const guint8 *bytes, gsize n_bytes, gint64 max_expanded_bytes)
{
  static const char *const front_matter[] = { "auto", "chapter", "drop", "auto" };
  static const char *const languages[] = { NULL, "de", "ja", "th" };
  static const char *const epub_chapters[] = { "auto", "toc", "spine", "headings" };
  /* A few custom heading rules, from likely to odd: the regular
   * expression itself is GLib's to fuzz, not the segmenter's. */
  static const char *const patterns[] = {
    NULL, NULL, NULL, NULL, "(?i)chapter [0-9ivxlc]+.*", "[A-Z ]+", "#.*", "(.)?",
  };
  guint8 b[FUZZ_SEGMENTER_PARAM_BYTES] = { 0 };
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  memcpy (b, bytes, MIN (n_bytes, sizeof b));
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "max_chars");
  json_builder_add_int_value (builder, 20 + b[0] * 4);
  json_builder_set_member_name (builder, "strip_boilerplate");
  json_builder_add_boolean_value (builder, !(b[1] & 1));
  json_builder_set_member_name (builder, "repair_utf8");
  json_builder_add_boolean_value (builder, (b[1] & 2) != 0);
  json_builder_set_member_name (builder, "caps_headings");
  json_builder_add_boolean_value (builder, (b[1] & 4) != 0);
  json_builder_set_member_name (builder, "emit");
  json_builder_add_string_value (builder, (b[1] & 8) ? "chapters" : "chunks");
  json_builder_set_member_name (builder, "front_matter");
  json_builder_add_string_value (builder, front_matter[(b[1] >> 4) & 3]);
  if (languages[b[1] >> 6] != NULL)
    {
      json_builder_set_member_name (builder, "language");
      json_builder_add_string_value (builder, languages[b[1] >> 6]);
    }
  json_builder_set_member_name (builder, "markdown_level");
  json_builder_add_int_value (builder, (b[2] & 7) % 7);
  json_builder_set_member_name (builder, "epub_chapters");
  json_builder_add_string_value (builder, epub_chapters[(b[2] >> 3) & 3]);
  if (patterns[b[2] >> 5] != NULL)
    {
      json_builder_set_member_name (builder, "heading_pattern");
      json_builder_add_string_value (builder, patterns[b[2] >> 5]);
    }
  if (max_expanded_bytes > 0)
    {
      json_builder_set_member_name (builder, "max_expanded_bytes");
      json_builder_add_int_value (builder, max_expanded_bytes);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

/* What every split promises of its outputs, and the segmenter of its text. */
static void
fuzz_check_outputs (SutraItem *book, GPtrArray *items)
{
  for (guint i = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];
      gsize size;
      const guint8 *data = sutra_item_get_data (item, &size);

      g_assert_cmpuint (sutra_item_get_depth (item), >, sutra_item_get_depth (book));
      g_assert_cmpuint (sutra_item_get_position (item, 0), ==, sutra_item_get_position (book, 0));
      if (i > 0)
        g_assert_cmpint (sutra_item_compare (items->pdata[i - 1], item), <, 0);
      if (g_str_has_prefix (sutra_item_get_media_type (item), "text/"))
        g_assert_true (g_utf8_validate ((const char *) data, size, NULL));
    }
}

/* A stage instance per parameter set, kept across inputs as the engine
 * keeps one across batches: making one per input (ICU's break iterators,
 * the heading regex) would cost more than segmenting the input. */
static SutraHarness *
fuzz_get_segmenter (const char *params_json)
{
  static GHashTable *harnesses;
  g_autoptr (GError) error = NULL;
  SutraHarness *harness;

  if (harnesses == NULL)
    harnesses =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sutra_harness_free);
  harness = g_hash_table_lookup (harnesses, params_json);
  if (harness != NULL)
    return harness;
  /* Bounded: the parameter bytes have millions of combinations. */
  if (g_hash_table_size (harnesses) >= 64)
    g_hash_table_remove_all (harnesses);
  harness = sutra_harness_new (fuzz_get_registry (), "segmenter", params_json, &error);
  /* The parameters are valid by construction: a refusal is a bug here. */
  g_assert_no_error (error);
  g_hash_table_insert (harnesses, g_strdup (params_json), harness);
  return harness;
}

void
fuzz_run_segmenter (const char *params_json, const char *media_type, const guint8 *data, gsize size)
{
  g_autoptr (GError) error = NULL;
  SutraHarness *harness = fuzz_get_segmenter (params_json);
  g_autoptr (SutraItem) book = NULL;
  g_autoptr (GPtrArray) items = NULL;

  book = sutra_item_new_root ("book", 0, media_type, g_bytes_new (data, size));
  json_object_set_string_member (sutra_item_ensure_meta (book), "path", "fuzz-input");
  items = sutra_harness_process (harness, &book, 1, &error);
  fuzz_say ("%s: %s", params_json,
            items != NULL   ? "segmented"
            : error != NULL ? error->message
                            : "(no error)");
  if (items == NULL)
    {
      /* A refusal says why, and names the input. */
      g_assert_nonnull (error);
      g_assert_nonnull (error->message);
      return;
    }
  g_assert_no_error (error);
  fuzz_check_outputs (book, items);
  fuzz_say ("%u items, the last %s", items->len,
            items->len > 0 ? sutra_item_get_id (items->pdata[items->len - 1]) : "(none)");
}

GPtrArray *
fuzz_record_get_inputs (void)
{
  GPtrArray *inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  guint8 digest[SUTRA_DIGEST_SIZE];
  g_autoptr (SutraLineage) lineage = NULL;

  memset (digest, 0x5a, sizeof digest);
  lineage = sutra_lineage_new (digest);
  for (guint i = 0; i < 4; i++)
    {
      const guint64 path[] = { 7, i };
      g_autofree char *id = g_strdup_printf ("book/%04u", i);
      g_autofree char *text = g_strdup_printf ("Sentence number %u of the batch.", i);
      SutraItem *item =
        sutra_item_new_with_path (id, path, G_N_ELEMENTS (path), SUTRA_MEDIA_TEXT_PLAIN,
                                  g_bytes_new (text, strlen (text)));

      /* Every other input has metadata: both kinds of borrowing. */
      if (i % 2 == 0)
        json_object_set_int_member (sutra_item_ensure_meta (item), "chapter_index", i);
      sutra_item_set_lineage (item, lineage);
      g_ptr_array_add (inputs, item);
    }
  return inputs;
}
