/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-memo.c: content keys, entries kept and rebuilt for
 * another item, seen by another process's store once sealed. */

#include "sutra-memo.h"
#include "sutra-test-util.h"

#include <string.h>
#include <sys/wait.h>

static const guint8 fingerprint[SUTRA_DIGEST_SIZE] = { 1, 2, 3 };

static char *
make_store_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("memo-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

/* A text item at @position with metadata from @meta_json (nullable). */
static SutraItem *
text_item (const char *id, guint64 position, const char *text, const char *meta_json)
{
  SutraItem *item =
    sutra_item_new_root_from_data (id, position, SUTRA_MEDIA_TEXT_PLAIN, text, strlen (text));

  if (meta_json != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = json_from_string (meta_json, &error);

      g_assert_no_error (error);
      sutra_item_set_meta (item, json_object_ref (json_node_get_object (node)));
    }
  return item;
}

static char *
meta_text (const SutraItem *item)
{
  JsonObject *meta = sutra_item_get_meta (item);
  g_autoptr (JsonNode) node = NULL;

  if (meta == NULL)
    return g_strdup ("null");
  node = json_node_init_object (json_node_alloc (), meta);
  return json_to_string (node, FALSE);
}

static gboolean
same_key (SutraMemo *memo, SutraItem *a, SutraItem *b)
{
  guint8 ka[SUTRA_DIGEST_SIZE], kb[SUTRA_DIGEST_SIZE];

  sutra_memo_key (memo, a, ka);
  sutra_memo_key (memo, b, kb);
  return memcmp (ka, kb, SUTRA_DIGEST_SIZE) == 0;
}

static void
test_memo_keys (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  const char *const keyed[] = { "language", NULL };
  SutraStore *store = sutra_store_open (dir, &error);
  g_autoptr (SutraMemo) all = NULL;
  g_autoptr (SutraMemo) some = NULL;
  g_autoptr (SutraMemo) salted = NULL;
  g_autoptr (SutraItem) a =
    text_item ("book/0001", 1, "Hello.", "{\"language\": \"en\", \"x\": 1}");
  g_autoptr (SutraItem) moved =
    text_item ("other/0042", 42, "Hello.", "{\"x\": 2, \"language\": \"en\"}");
  g_autoptr (SutraItem) reordered =
    text_item ("book/0001", 1, "Hello.", "{\"x\": 1, \"language\": \"en\"}");
  g_autoptr (SutraItem) french = text_item ("book/0001", 1, "Hello.", "{\"language\": \"fr\"}");
  g_autoptr (SutraItem) bare = text_item ("book/0001", 1, "Hello.", NULL);
  g_autoptr (SutraItem) other_text = text_item ("book/0001", 1, "Hello!", "{\"language\": \"en\"}");

  g_test_summary ("A key is the item's media type, payload and keyed metadata (in any member "
                  "order), with the stage's fingerprint and salt; never its id or path");
  g_assert_no_error (error);
  all = sutra_memo_new (store, fingerprint, NULL, NULL);
  some = sutra_memo_new (store, fingerprint, NULL, keyed);
  salted = sutra_memo_new (store, fingerprint, "package 2", keyed);

  /* Id, path and unkeyed members do not count. */
  g_assert_true (same_key (some, a, moved));
  g_assert_false (same_key (some, a, french));
  g_assert_false (same_key (some, a, bare));
  g_assert_false (same_key (some, a, other_text));
  /* With every member keyed, member order does not count, values do. */
  g_assert_true (same_key (all, a, reordered));
  g_assert_false (same_key (all, a, moved));
  /* The salt and the keyed members' list are part of it. */
  {
    guint8 k1[SUTRA_DIGEST_SIZE], k2[SUTRA_DIGEST_SIZE], k3[SUTRA_DIGEST_SIZE];

    sutra_memo_key (some, a, k1);
    sutra_memo_key (salted, a, k2);
    sutra_memo_key (all, moved, k3);
    g_assert_true (memcmp (k1, k2, SUTRA_DIGEST_SIZE) != 0);
    sutra_memo_key (all, a, k3);
    g_assert_true (memcmp (k1, k3, SUTRA_DIGEST_SIZE) != 0);
  }
  g_clear_pointer (&all, sutra_memo_free);
  g_clear_pointer (&some, sutra_memo_free);
  g_clear_pointer (&salted, sutra_memo_free);
  sutra_store_close (store);
}

static void
test_memo_round_trip (void)
{
  g_autofree char *dir = make_store_dir ();
  g_autoptr (GError) error = NULL;
  const char *const keyed[] = { "language", NULL };
  SutraStore *store = sutra_store_open (dir, &error);
  g_autoptr (SutraMemo) memo = NULL;
  g_autoptr (SutraItem) input =
    text_item ("book/0001", 1, "Hello.", "{\"language\": \"en\", \"title\": \"One\", \"old\": 1}");
  g_autoptr (SutraItem) output = NULL;
  g_autoptr (SutraItem) passed = text_item ("book/0002", 2, "Hola.", "{\"language\": \"es\"}");
  g_autoptr (SutraItem) again =
    text_item ("other/0007", 7, "Hello.",
               "{\"title\": \"Seven\", \"language\": \"en\", \"old\": 3}");
  g_autoptr (SutraItem) hit = NULL;
  g_autoptr (SutraItem) hit_passed = NULL;
  g_autoptr (SutraItem) passed_again =
    text_item ("other/0008", 8, "Hola.", "{\"language\": \"es\"}");
  g_autoptr (SutraItem) expected = NULL;
  guint8 key[SUTRA_DIGEST_SIZE], passed_key[SUTRA_DIGEST_SIZE], again_key[SUTRA_DIGEST_SIZE];
  g_autofree char *hit_meta = NULL;
  g_autofree char *expected_meta = NULL;
  gsize size;
  const guint8 *data;

  g_test_summary ("What a map made of an item is rebuilt for another item of the same content: "
                  "its payload and media type, the members it set and removed, and the other "
                  "item's id, path and other members; an item passed on comes back as itself; "
                  "found in this store at once, and in another once sealed");
  g_assert_no_error (error);
  memo = sutra_memo_new (store, fingerprint, "salt", keyed);
  /* What a translating map would make: new text and media type,
   * `language` changed, `old` removed. */
  output = sutra_item_new_derived_from_data (input, "text/x-spanish", "Hola.", 5);
  json_object_set_string_member (sutra_item_ensure_meta (output), "language", "es");
  json_object_remove_member (sutra_item_ensure_meta (output), "old");
  sutra_memo_key (memo, input, key);
  sutra_memo_key (memo, passed, passed_key);
  sutra_memo_key (memo, again, again_key);
  g_assert_true (memcmp (key, again_key, SUTRA_DIGEST_SIZE) == 0);
  g_assert_null (sutra_memo_lookup (memo, key, again));
  g_assert_true (sutra_memo_save (memo, key, input, output, &error));
  g_assert_no_error (error);
  g_assert_true (sutra_memo_save (memo, passed_key, passed, passed, &error));
  g_assert_no_error (error);

  /* This run sees its own entries before the pack is sealed. */
  hit = sutra_memo_lookup (memo, again_key, again);
  g_assert_nonnull (hit);
  g_clear_pointer (&hit, sutra_item_unref);
  g_clear_pointer (&memo, sutra_memo_free);
  sutra_store_close (store);

  /* Another job, sharing the store. */
  store = sutra_store_open (dir, &error);
  g_assert_no_error (error);
  memo = sutra_memo_new (store, fingerprint, "salt", keyed);
  hit = sutra_memo_lookup (memo, again_key, again);
  g_assert_nonnull (hit);
  g_assert_cmpstr (sutra_item_get_id (hit), ==, "other/0007");
  g_assert_cmpint (sutra_item_compare (hit, again), ==, 0);
  g_assert_cmpstr (sutra_item_get_media_type (hit), ==, "text/x-spanish");
  data = sutra_item_get_data (hit, &size);
  g_assert_cmpmem (data, size, "Hola.", 5);
  /* What the plugin would have made of @again. */
  expected = sutra_item_new_derived_from_data (again, "text/x-spanish", "Hola.", 5);
  json_object_set_string_member (sutra_item_ensure_meta (expected), "language", "es");
  json_object_remove_member (sutra_item_ensure_meta (expected), "old");
  hit_meta = meta_text (hit);
  expected_meta = meta_text (expected);
  g_assert_cmpstr (hit_meta, ==, expected_meta);
  g_assert_cmpstr (sutra_item_get_meta_string (hit, "language", NULL), ==, "es");
  g_assert_cmpstr (sutra_item_get_meta_string (hit, "title", NULL), ==, "Seven");
  g_assert_false (json_object_has_member (sutra_item_get_meta (hit), "old"));

  hit_passed = sutra_memo_lookup (memo, passed_key, passed_again);
  g_assert_true (hit_passed == passed_again);

  /* An output with no metadata at all comes back with none. */
  {
    g_autoptr (SutraItem) bare_in = text_item ("c/0001", 1, "Bye.", "{\"language\": \"en\"}");
    g_autoptr (SutraItem) bare_out = sutra_item_new_derived_from_data (bare_in, NULL, "Adiós.", 7);
    g_autoptr (SutraItem) bare_hit = NULL;
    guint8 bare_key[SUTRA_DIGEST_SIZE];

    sutra_item_set_meta (bare_out, NULL);
    sutra_memo_key (memo, bare_in, bare_key);
    g_assert_true (sutra_memo_save (memo, bare_key, bare_in, bare_out, &error));
    g_assert_no_error (error);
    bare_hit = sutra_memo_lookup (memo, bare_key, bare_in);
    g_assert_nonnull (bare_hit);
    g_assert_null (sutra_item_get_meta (bare_hit));
    data = sutra_item_get_data (bare_hit, &size);
    g_assert_cmpmem (data, size, "Adiós.", 7);
  }

  /* Another salt (a new package version) finds nothing. */
  {
    g_autoptr (SutraMemo) upgraded = sutra_memo_new (store, fingerprint, "salt 2", keyed);
    guint8 upgraded_key[SUTRA_DIGEST_SIZE];

    sutra_memo_key (upgraded, again, upgraded_key);
    g_assert_null (sutra_memo_lookup (upgraded, upgraded_key, again));
  }
  g_clear_pointer (&memo, sutra_memo_free);
  sutra_store_close (store);
}

/* Runs the sutra executable in @dir; returns its standard output. */
static char *
run_sutra (const char *dir, const char *const *args)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) argv = NULL;
  g_autofree char *sutra =
    g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "engine", "sutra", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int status = -1;

  g_strv_builder_add (builder, sutra);
  g_strv_builder_addv (builder, (const char **) args);
  argv = g_strv_builder_end (builder);
  g_spawn_sync (dir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("sutra failed: %s", err);
  return out;
}

/* The "mark" stage's cache counters, from `sutra status --json`. */
static void
mark_counts (const char *dir, const char *job, gint64 *hits, gint64 *misses)
{
  const char *args[] = { "status", "--json", job, NULL };
  g_autofree char *text = run_sutra (dir, args);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = json_from_string (text, &error);
  JsonArray *stages;

  g_assert_no_error (error);
  stages = json_object_get_array_member (json_node_get_object (root), "stages");
  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonObject *row = json_array_get_object_element (stages, i);

      if (!g_str_equal (json_object_get_string_member (row, "stage"), "mark"))
        continue;
      *hits = json_object_get_int_member_with_default (row, "cache_hits", -1);
      *misses = json_object_get_int_member_with_default (row, "cache_misses", -1);
      return;
    }
  g_assert_not_reached ();
}

static guint
count_lines (const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  return sutra_test_count (text, "\n");
}

static void
test_memo_second_job (void)
{
  g_autofree char *dir = sutra_test_dir ();
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autofree char *input = NULL;
  g_autofree char *pipeline = NULL;
  g_autofree char *count = g_build_filename (dir, "count", NULL);
  char *texts[3] = { NULL, NULL, NULL };
  gint64 hits[3], misses[3];
  guint calls[3];

  g_test_summary ("A map cached by content gives the plugin only what no job sharing the "
                  "store has seen: a second job of the same lines in other batches, its "
                  "workers in processes, calls the plugin for nothing and writes the same "
                  "bytes; one with other parameters computes everything again");
  g_test_bug ("12");
  /* 40 lines, 10 distinct texts. */
  for (guint i = 0; i < 40; i++)
    g_string_append_printf (lines, "text %u\n", (i * 7) % 10);
  input = sutra_test_write (dir, "in.txt", lines->str, lines->len);
  /* fault with mark_on "*" prefixes every text: a pure function of it.
   * count_file gets a line per item the plugin is given. */
  pipeline = sutra_test_write (
    dir, "memo.json",
    "{ \"sutra\": 1, \"stages\": {\n"
    "  \"read\": { \"plugin\": \"text-source\", \"params\": { \"path\": \"in.txt\", "
    "\"format\": \"lines\" } },\n"
    "  \"mark\": { \"plugin\": \"fault\", \"input\": \"read\", \"cache\": \"content\", "
    "\"params\": { \"mark_on\": \"*\", \"mark\": \"${mark}\", \"count_file\": \"count\" } },\n"
    "  \"write\": { \"plugin\": \"jsonl-sink\", \"input\": \"mark\", \"params\": { "
    "\"path\": \"${out}\" } } } }\n",
    -1);
  for (guint run = 0; run < 3; run++)
    {
      g_autofree char *job = g_strdup_printf ("job%u", run);
      g_autofree char *output = g_strdup_printf ("out=out%u.jsonl", run);
      const char *mark = run == 2 ? "mark=+" : "mark=*";
      const char *batch = run == 1 ? "mark.batch=3" : "mark.batch=4";
      const char *isolation = run == 1 ? "mark.isolation=process" : "mark.isolation=thread";
      const char *args[] = { "run",       "-q",    "--job",   job,     "--cache", "cache",
                             "memo.json", "--set", output,    "--set", mark,      "--set",
                             batch,       "--set", isolation, NULL };
      g_autofree char *printed = NULL;
      g_autofree char *written = g_strdup_printf ("%s/out%u.jsonl", dir, run);
      guint before = count_lines (count);

      printed = run_sutra (dir, args);
      calls[run] = count_lines (count) - before;
      mark_counts (dir, job, &hits[run], &misses[run]);
      g_assert_true (g_file_get_contents (written, &texts[run], NULL, NULL));
    }
  /* The first job computed each distinct text once: the rest were hits,
   * from its own entries. */
  g_assert_cmpint (misses[0], ==, 10);
  g_assert_cmpint (hits[0], ==, 30);
  g_assert_cmpuint (calls[0], ==, 10);
  /* The second computed nothing. */
  g_assert_cmpint (hits[1], ==, 40);
  g_assert_cmpint (misses[1], ==, 0);
  g_assert_cmpuint (calls[1], ==, 0);
  g_assert_cmpstr (texts[1], ==, texts[0]);
  sutra_assert_contains (texts[0], "\"*text 3\"");
  /* Other parameters: other keys. */
  g_assert_cmpint (misses[2], ==, 10);
  g_assert_cmpuint (calls[2], ==, 10);
  sutra_assert_contains (texts[2], "\"+text 3\"");
  for (guint run = 0; run < 3; run++)
    g_free (texts[run]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/engine/memo/keys", test_memo_keys);
  g_test_add_func ("/engine/memo/round-trip", test_memo_round_trip);
  g_test_add_func ("/engine/memo/second-job", test_memo_second_job);
  return g_test_run ();
}
