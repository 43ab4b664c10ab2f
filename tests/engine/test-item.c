/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-item.c: ids, paths, ordering, metadata, payloads. */

#include "sutra-item-private.h"
#include "sutra-test-util.h"

#include <string.h>
#include <unistd.h>

static void
test_item_root_id_and_path (void)
{
  g_autoptr (SutraItem) item = sutra_item_new_root ("book", 7, NULL, NULL);
  gsize size = 99;

  g_test_summary ("A root item has its id, a path of one position, text/plain and an "
                  "empty (non-NULL) payload by default");
  g_assert_cmpstr (sutra_item_get_id (item), ==, "book");
  g_assert_cmpuint (sutra_item_get_depth (item), ==, 1);
  g_assert_cmpuint (sutra_item_get_position (item, 0), ==, 7);
  g_assert_cmpuint (sutra_item_get_index (item), ==, 7);
  g_assert_cmpstr (sutra_item_get_media_type (item), ==, SUTRA_MEDIA_TEXT_PLAIN);
  g_assert_nonnull (sutra_item_get_payload (item));
  g_assert_nonnull (sutra_item_get_data (item, &size));
  g_assert_cmpuint (size, ==, 0);
  g_assert_null (sutra_item_get_meta (item));
}

static void
test_item_child_id_and_path (void)
{
  g_autoptr (SutraItem) book = sutra_item_new_root ("book", 2, NULL, NULL);
  g_autoptr (SutraItem) chapter = sutra_item_new_child (book, 3, NULL, NULL);
  g_autoptr (SutraItem) chunk = sutra_item_new_child (chapter, 12, "text/markdown", NULL);
  g_autoptr (SutraItem) wide = sutra_item_new_child (book, 123456, NULL, NULL);

  g_test_summary ("A child's id is its parent's, a slash and the index padded to four "
                  "digits; its path is its parent's with the index appended");
  g_assert_cmpstr (sutra_item_get_id (chapter), ==, "book/0003");
  g_assert_cmpstr (sutra_item_get_id (chunk), ==, "book/0003/0012");
  g_assert_cmpstr (sutra_item_get_id (wide), ==, "book/123456");
  g_assert_cmpuint (sutra_item_get_depth (chunk), ==, 3);
  g_assert_cmpuint (sutra_item_get_position (chunk, 0), ==, 2);
  g_assert_cmpuint (sutra_item_get_position (chunk, 1), ==, 3);
  g_assert_cmpuint (sutra_item_get_position (chunk, 2), ==, 12);
  g_assert_cmpuint (sutra_item_get_index (chunk), ==, 12);
  g_assert_cmpstr (sutra_item_get_media_type (chunk), ==, "text/markdown");
  g_assert_true (sutra_item_is_descendant_of (chunk, book));
  g_assert_true (sutra_item_is_descendant_of (chunk, chapter));
  g_assert_false (sutra_item_is_descendant_of (chapter, chunk));
  g_assert_false (sutra_item_is_descendant_of (book, book));
}

static void
test_item_child_at_max_depth (void)
{
  g_test_bug ("15");
  g_test_summary ("Paths grow to SUTRA_ITEM_MAX_DEPTH (65535, the depth field's width; it "
                  "was 16); a child below it is a misuse: a critical, and NULL");
  if (g_test_subprocess ())
    {
      g_autofree guint64 *path = g_new0 (guint64, SUTRA_ITEM_MAX_DEPTH);
      g_autoptr (SutraItem) deep = NULL;
      g_autoptr (SutraItem) item = sutra_item_new_root ("deep", 0, NULL, NULL);

      /* Children of children, well past the old limit of 16. */
      for (guint depth = 1; depth < 100; depth++)
        {
          SutraItem *child = sutra_item_new_child (item, depth, NULL, NULL);

          g_assert_nonnull (child);
          g_assert_cmpuint (sutra_item_get_position (child, depth), ==, depth);
          sutra_item_unref (item);
          item = child;
        }
      g_assert_cmpuint (sutra_item_get_depth (item), ==, 100);
      /* At the limit (made directly: 65535 generations would take long). */
      for (guint d = 0; d < SUTRA_ITEM_MAX_DEPTH; d++)
        path[d] = d;
      deep = sutra_item_new_with_path ("deep", path, SUTRA_ITEM_MAX_DEPTH, NULL, NULL);
      g_assert_cmpuint (sutra_item_get_depth (deep), ==, SUTRA_ITEM_MAX_DEPTH);
      g_assert_cmpint (sutra_item_compare (item, deep), <, 0);
      g_assert_null (sutra_item_new_child (deep, 0, NULL, g_bytes_new ("lost", 4)));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*parent->depth < SUTRA_ITEM_MAX_DEPTH*");
}

static void
test_item_derived_keeps_id_and_path (void)
{
  g_autoptr (SutraItem) book =
    sutra_item_new_root ("book", 4, "text/markdown", g_bytes_new_static ("# A", 3));
  g_autoptr (SutraItem) chapter =
    sutra_item_new_child (book, 9, NULL, g_bytes_new_static ("one", 3));
  g_autoptr (SutraItem) same = sutra_item_new_derived (chapter, NULL, NULL);
  g_autoptr (SutraItem) audio =
    sutra_item_new_derived (chapter, SUTRA_MEDIA_AUDIO_F32, g_bytes_new_static ("\0\0\0\0", 4));
  g_autoptr (SutraItem) from_book = sutra_item_new_derived (book, NULL, NULL);
  gsize size;

  g_test_summary ("A derived item keeps its source's id and path; NULL keeps the media "
                  "type and the payload");
  g_assert_cmpstr (sutra_item_get_id (same), ==, "book/0009");
  g_assert_cmpint (sutra_item_compare (same, chapter), ==, 0);
  g_assert_true (sutra_item_get_payload (same) == sutra_item_get_payload (chapter));
  g_assert_cmpstr (sutra_item_get_media_type (same), ==, SUTRA_MEDIA_TEXT_PLAIN);
  g_assert_cmpstr (sutra_item_get_media_type (from_book), ==, "text/markdown");

  g_assert_cmpstr (sutra_item_get_id (audio), ==, "book/0009");
  g_assert_cmpuint (sutra_item_get_depth (audio), ==, 2);
  g_assert_cmpstr (sutra_item_get_media_type (audio), ==, SUTRA_MEDIA_AUDIO_F32);
  sutra_item_get_data (audio, &size);
  g_assert_cmpuint (size, ==, 4);
}

static void
test_item_parent_of_child (void)
{
  g_autoptr (SutraItem) book = sutra_item_new_root ("books/moby.txt", 5, NULL, NULL);
  g_autoptr (SutraItem) chapter = sutra_item_new_child (book, 2, NULL, NULL);
  g_autoptr (SutraItem) chunk = sutra_item_new_child (chapter, 17, NULL, NULL);
  g_autoptr (SutraItem) joined_chapter = sutra_item_new_parent (chunk, NULL, NULL);
  g_autoptr (SutraItem) joined_book = sutra_item_new_parent (joined_chapter, NULL, NULL);

  g_test_summary ("A gather's parent item has its child's path and id without the last "
                  "step, even when the source id itself has slashes");
  g_assert_cmpstr (sutra_item_get_id (joined_chapter), ==, "books/moby.txt/0002");
  g_assert_cmpint (sutra_item_compare (joined_chapter, chapter), ==, 0);
  g_assert_cmpuint (sutra_item_get_depth (joined_chapter), ==, 2);
  g_assert_cmpstr (sutra_item_get_id (joined_book), ==, "books/moby.txt");
  g_assert_cmpint (sutra_item_compare (joined_book, book), ==, 0);
  g_assert_cmpuint (sutra_item_get_depth (joined_book), ==, 1);
  g_assert_null (sutra_item_get_meta (joined_book));
}

static void
test_item_parent_of_root (void)
{
  g_test_summary ("A root item has no parent: a critical, and NULL");
  if (g_test_subprocess ())
    {
      g_autoptr (SutraItem) book = sutra_item_new_root ("book", 0, NULL, NULL);

      g_assert_null (sutra_item_new_parent (book, NULL, NULL));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*child->depth >= 2*");
}

/* Paths as written in the table: positions separated by '/'. */
typedef struct
{
  const char *name;
  const char *a_id;
  const char *a_path;
  const char *b_id;
  const char *b_path;
  int expected; /* the sign of compare (a, b) */
} CompareCase;

static const CompareCase compare_cases[] = {
  /* Ids would order these the other way round ("in:10" < "in:9"). */
  { "line-10-after-line-9", "in:10", "9", "in:9", "8", 1 },
  { "line-9-before-line-10", "in:9", "8", "in:10", "9", -1 },
  /* Padding wider than four digits must not matter either. */
  { "child-0010-after-0009", "book/0010", "0/10", "book/0009", "0/9", 1 },
  { "child-10000-after-9999", "book/10000", "0/10000", "book/9999", "0/9999", 1 },
  { "source-position-first", "b/0000", "1/0", "a/0999", "0/999", 1 },
  { "prefix-before-descendant", "book", "3", "book/0000", "3/0", -1 },
  { "descendant-after-prefix", "book/0000/0000", "3/0/0", "book/0000", "3/0", 1 },
  { "deep-prefix-before-sibling-subtree", "x/0001", "0/1", "x/0000/0005", "0/0/5", 1 },
  { "equal-paths", "one", "2/4/6", "other", "2/4/6", 0 },
  { "ids-are-not-compared", "zzz", "1", "aaa", "2", -1 },
  { "large-positions", "a", "18446744073709551615", "b", "18446744073709551614", 1 },
};

static SutraItem *
item_from_path (const char *id, const char *path)
{
  g_auto (GStrv) steps = g_strsplit (path, "/", -1);
  guint64 positions[SUTRA_ITEM_MAX_DEPTH];
  guint depth = g_strv_length (steps);

  g_assert_cmpuint (depth, <=, SUTRA_ITEM_MAX_DEPTH);
  for (guint i = 0; i < depth; i++)
    positions[i] = g_ascii_strtoull (steps[i], NULL, 10);
  return sutra_item_new_with_path (id, positions, depth, NULL, NULL);
}

static int
sign (int value)
{
  return value < 0 ? -1 : value > 0 ? 1 : 0;
}

static void
test_item_compare (gconstpointer data)
{
  const CompareCase *row = data;
  g_autoptr (SutraItem) a = item_from_path (row->a_id, row->a_path);
  g_autoptr (SutraItem) b = item_from_path (row->b_id, row->b_path);

  g_test_summary ("Items order by their numeric position paths, a prefix before its "
                  "descendants, never by their ids");
  g_assert_cmpint (sign (sutra_item_compare (a, b)), ==, row->expected);
  g_assert_cmpint (sign (sutra_item_compare (b, a)), ==, -row->expected);
}

static int
compare_items (gconstpointer a, gconstpointer b)
{
  return sutra_item_compare (*(SutraItem *const *) a, *(SutraItem *const *) b);
}

static void
test_item_sort_lines (void)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  GRand *rand = g_rand_new_with_seed (42);

  g_test_summary ("Sorting a shuffled corpus of 10000 lines (ids “in:N”, unpadded) and "
                  "their children restores numeric order");
  for (guint i = 0; i < 10000; i++)
    {
      g_autofree char *id = g_strdup_printf ("in:%u", i + 1);
      SutraItem *line = sutra_item_new_root (id, i, NULL, NULL);

      if (i % 100 == 0)
        g_ptr_array_add (items, sutra_item_new_child (line, 11, NULL, NULL));
      g_ptr_array_add (items, line);
    }
  for (guint i = items->len - 1; i > 0; i--)
    {
      guint j = g_rand_int_range (rand, 0, i + 1);
      gpointer swap = items->pdata[i];

      items->pdata[i] = items->pdata[j];
      items->pdata[j] = swap;
    }
  g_rand_free (rand);
  g_ptr_array_sort (items, compare_items);
  for (guint i = 0, line = 0; i < items->len; i++)
    {
      SutraItem *item = items->pdata[i];

      g_assert_cmpuint (sutra_item_get_position (item, 0), ==, line);
      if (line % 100 == 0 && sutra_item_get_depth (item) == 1)
        continue; /* the line itself; its child follows */
      line++;
    }
  g_assert_cmpstr (sutra_item_get_id (items->pdata[0]), ==, "in:1");
  g_assert_cmpstr (sutra_item_get_id (items->pdata[1]), ==, "in:1/0011");
  g_assert_cmpstr (sutra_item_get_id (items->pdata[items->len - 1]), ==, "in:10000");
}

static JsonObject *
parse_object (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static char *
object_to_string (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), object);

  return json_to_string (node, FALSE);
}

static void
test_item_meta_plain_has_none (void)
{
  g_autoptr (SutraItem) item = sutra_item_new_root ("x", 0, NULL, NULL);
  g_autoptr (SutraItem) derived = sutra_item_new_derived (item, NULL, NULL);
  JsonObject *meta;

  g_test_summary ("A plain item has no metadata object until ensure_meta gives it one");
  g_assert_null (sutra_item_get_meta (item));
  g_assert_null (sutra_item_get_meta (derived));
  g_assert_null (sutra_item_dup_meta (item));
  g_assert_cmpstr (sutra_item_get_meta_string (item, "title", "none"), ==, "none");
  g_assert_cmpint (sutra_item_get_meta_int (item, "rate", -1), ==, -1);
  meta = sutra_item_ensure_meta (derived);
  g_assert_nonnull (meta);
  g_assert_cmpuint (json_object_get_size (meta), ==, 0);
  g_assert_true (sutra_item_get_meta (derived) == meta);
  g_assert_null (sutra_item_get_meta (item));
}

static void
test_item_meta_copy_on_write (void)
{
  g_autoptr (SutraItem) source = sutra_item_new_root ("book", 0, NULL, NULL);
  g_autoptr (SutraItem) derived = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  JsonObject *own;

  g_test_summary ("A derived item shares its source's metadata until ensure_meta, which "
                  "gives it a deep copy: changes, nested ones too, never reach the source");
  sutra_item_set_meta (source, parse_object ("{\"title\": \"Moby\", \"rate\": 22050,"
                                             " \"chapter\": {\"n\": 1, \"tags\": [\"a\"]},"
                                             " \"voices\": [{\"name\": \"en\"}], \"gain\": 0.5}"));
  before = object_to_string (sutra_item_get_meta (source));
  derived = sutra_item_new_derived (source, NULL, NULL);
  g_assert_true (sutra_item_get_meta (derived) == sutra_item_get_meta (source));
  g_assert_cmpstr (sutra_item_get_meta_string (derived, "title", NULL), ==, "Moby");
  g_assert_cmpint (sutra_item_get_meta_int (derived, "rate", 0), ==, 22050);
  g_assert_cmpint (sutra_item_get_meta_int (derived, "title", -7), ==, -7);
  g_assert_cmpstr (sutra_item_get_meta_string (derived, "rate", "fallback"), ==, "fallback");

  own = sutra_item_ensure_meta (derived);
  g_assert_true (own != sutra_item_get_meta (source));
  g_assert_true (sutra_item_ensure_meta (derived) == own);
  json_object_set_string_member (own, "title", "Changed");
  json_object_set_int_member (json_object_get_object_member (own, "chapter"), "n", 2);
  json_array_add_string_element (
    json_object_get_array_member (json_object_get_object_member (own, "chapter"), "tags"), "b");
  json_object_set_string_member (
    json_array_get_object_element (json_object_get_array_member (own, "voices"), 0), "name", "fr");
  json_array_add_int_element (json_object_get_array_member (own, "voices"), 3);

  after = object_to_string (sutra_item_get_meta (source));
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpstr (sutra_item_get_meta_string (derived, "title", NULL), ==, "Changed");
  g_assert_cmpstr (sutra_item_get_meta_string (source, "title", NULL), ==, "Moby");
}

static void
test_item_meta_dup_is_deep (void)
{
  g_autoptr (SutraItem) item = sutra_item_new_root ("book", 0, NULL, NULL);
  g_autoptr (JsonObject) copy = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  g_test_summary ("dup_meta returns a deep copy: a split may change what its children "
                  "carry without touching the parent");
  sutra_item_set_meta (item, parse_object ("{\"a\": {\"b\": [1, {\"c\": 2}]}}"));
  before = object_to_string (sutra_item_get_meta (item));
  copy = sutra_item_dup_meta (item);
  g_assert_nonnull (copy);
  json_array_add_int_element (json_object_get_array_member (json_object_get_object_member (copy,
                                                                                           "a"),
                                                            "b"),
                              3);
  json_object_set_int_member (
    json_array_get_object_element (
      json_object_get_array_member (json_object_get_object_member (copy, "a"), "b"), 1),
    "c", 5);
  after = object_to_string (sutra_item_get_meta (item));
  g_assert_cmpstr (after, ==, before);
}

static void
test_item_meta_set_replaces (void)
{
  g_autoptr (SutraItem) source = sutra_item_new_root ("s", 0, NULL, NULL);
  g_autoptr (SutraItem) derived = NULL;

  g_test_summary ("set_meta on a derived item replaces the shared metadata, not the source's");
  sutra_item_set_meta (source, parse_object ("{\"k\": \"source\"}"));
  derived = sutra_item_new_derived (source, NULL, NULL);
  sutra_item_set_meta (derived, parse_object ("{\"k\": \"derived\"}"));
  g_assert_cmpstr (sutra_item_get_meta_string (source, "k", NULL), ==, "source");
  g_assert_cmpstr (sutra_item_get_meta_string (derived, "k", NULL), ==, "derived");
  sutra_item_set_meta (derived, NULL);
  g_assert_null (sutra_item_get_meta (derived));
  g_assert_cmpstr (sutra_item_get_meta_string (source, "k", NULL), ==, "source");
}

static void
test_item_payload_with_nul (void)
{
  static const char text[] = "a\0b\0\0c";
  g_autoptr (SutraItem) item =
    sutra_item_new_root ("nul", 0, NULL, g_bytes_new (text, sizeof text - 1));
  g_autoptr (SutraItem) child = NULL;
  g_autoptr (SutraItem) derived = NULL;
  const guint8 *data;
  gsize size;

  g_test_summary ("Payloads are bytes with a length: U+0000 inside survives every "
                  "constructor");
  data = sutra_item_get_data (item, &size);
  g_assert_cmpmem (data, size, text, sizeof text - 1);
  g_assert_cmpuint (g_bytes_get_size (sutra_item_get_payload (item)), ==, 6);

  child = sutra_item_new_child (item, 0, NULL, g_bytes_new (text + 1, 3));
  data = sutra_item_get_data (child, &size);
  g_assert_cmpmem (data, size, "\0b\0", 3);

  derived = sutra_item_new_derived (item, NULL, NULL);
  data = sutra_item_get_data (derived, &size);
  g_assert_cmpmem (data, size, text, sizeof text - 1);
}

static void
test_item_ref_counting (void)
{
  SutraItem *item = sutra_item_new_root ("r", 0, NULL, g_bytes_new ("abc", 3));
  GBytes *payload = sutra_item_get_payload (item);
  SutraItem *derived;

  g_test_summary ("An item lives while it is referenced; a derived item keeps the shared "
                  "payload alive after its source is gone");
  g_assert_true (sutra_item_ref (item) == item);
  sutra_item_unref (item);
  g_assert_cmpstr (sutra_item_get_id (item), ==, "r");
  derived = sutra_item_new_derived (item, NULL, NULL);
  sutra_item_unref (item);
  g_assert_true (sutra_item_get_payload (derived) == payload);
  g_assert_cmpmem (sutra_item_get_data (derived, NULL), 3, "abc", 3);
  sutra_item_unref (derived);
  sutra_item_unref (NULL);
}

static void
test_item_group_end_marker (void)
{
  g_autoptr (SutraItem) book = sutra_item_new_root ("book", 1, NULL, NULL);
  g_autoptr (SutraItem) chunk = sutra_item_new_child (book, 4, NULL, NULL);
  g_autoptr (SutraItem) marker = sutra_item_new_group_end (chunk, 1, 5);

  g_test_summary ("An end-of-group marker carries the parent's path and the group size");
  g_assert_true (sutra_item_is_marker (marker));
  g_assert_false (sutra_item_is_marker (chunk));
  g_assert_cmpuint (sutra_item_get_depth (marker), ==, 1);
  g_assert_cmpint (sutra_item_compare (marker, book), ==, 0);
  g_assert_cmpuint (marker->group_size, ==, 5);
  g_assert_cmpint (sutra_item_compare_prefix (chunk, marker, 1), ==, 0);
  g_assert_cmpint (sutra_item_compare_prefix (chunk, marker, 2), >, 0);
}

static void
test_item_empty_payload_data (void)
{
  /* Every way a plugin or the engine makes an empty payload. */
  GBytes *payloads[] = {
    NULL,
    g_bytes_new (NULL, 0),
    g_bytes_new ("abc", 0),
    g_bytes_new_take (NULL, 0),
    g_bytes_new_static ("", 0),
  };

  g_test_summary ("sutra_item_get_data() of an empty payload returns a pointer, never "
                  "NULL, and a size of 0, however the empty GBytes was made");
  for (gsize i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_autoptr (SutraItem) item = sutra_item_new_root ("e", i, NULL, payloads[i]);
      gsize size = 99;
      const guint8 *data = sutra_item_get_data (item, &size);

      g_assert_nonnull (data);
      g_assert_cmpuint (size, ==, 0);
      g_assert_cmpuint (g_bytes_get_size (sutra_item_get_payload (item)), ==, 0);
    }
}

static void
test_item_from_data_inline (void)
{
  static const char text[] = "a line\0with a NUL";
  g_autoptr (SutraItem) root =
    sutra_item_new_root_from_data ("lines:1", 4, NULL, text, sizeof text - 1);
  g_autoptr (SutraItem) child =
    sutra_item_new_child_from_data (root, 2, "text/markdown", "# two", 5);
  g_autoptr (SutraItem) derived = sutra_item_new_derived_from_data (child, NULL, "three", 5);
  g_autoptr (SutraItem) empty = sutra_item_new_root_from_data ("e", 0, NULL, NULL, 0);
  const guint8 *data;
  gsize size = 99;

  g_test_summary ("Items made from data hold a copy of it in their own allocation, with "
                  "the ids, paths and media types of the GBytes constructors");
  data = sutra_item_get_data (root, &size);
  g_assert_cmpmem (data, size, text, sizeof text - 1);
  g_assert_true (data != (const guint8 *) text);
  /* In the item's allocation, after the id: no GBytes until asked. */
  g_assert_cmpint (root->payload_kind, ==, SUTRA_PAYLOAD_INLINE);
  g_assert_null (root->payload);
  g_assert_true (data > (const guint8 *) root && data < (const guint8 *) root->id + 64);
  g_assert_cmpstr (sutra_item_get_id (child), ==, "lines:1/0002");
  g_assert_cmpstr (sutra_item_get_media_type (child), ==, "text/markdown");
  g_assert_cmpmem (sutra_item_get_data (child, &size), size, "# two", 5);
  g_assert_cmpstr (sutra_item_get_id (derived), ==, "lines:1/0002");
  g_assert_cmpint (sutra_item_compare (derived, child), ==, 0);
  g_assert_cmpstr (sutra_item_get_media_type (derived), ==, "text/markdown");
  g_assert_cmpmem (sutra_item_get_data (derived, &size), size, "three", 5);
  g_assert_nonnull (sutra_item_get_data (empty, &size));
  g_assert_cmpuint (size, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (sutra_item_get_payload (empty)), ==, 0);
}

static void
test_item_from_data_misuse (void)
{
  if (g_test_subprocess ())
    {
      g_assert_null (sutra_item_new_root_from_data ("x", 0, NULL, NULL, 3));
      return;
    }
  g_test_summary ("NULL data with a size is a misuse: a critical, and NULL");
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*data != NULL || size == 0*");
}

static void
test_item_inline_payload_bytes (void)
{
  SutraItem *item = sutra_item_new_root_from_data ("r", 0, NULL, "abc", 3);
  GBytes *payload = sutra_item_get_payload (item);
  g_autoptr (GBytes) kept = g_bytes_ref (payload);

  g_test_summary ("sutra_item_get_payload() of an inline payload makes one GBytes, the "
                  "same on every call, that outlives the item");
  g_assert_true (sutra_item_get_payload (item) == payload);
  g_assert_cmpmem (g_bytes_get_data (payload, NULL), g_bytes_get_size (payload), "abc", 3);
  sutra_item_unref (item);
  g_assert_cmpmem (g_bytes_get_data (kept, NULL), g_bytes_get_size (kept), "abc", 3);
}

#define N_RACERS 8

static gpointer
get_payload_thread (gpointer data)
{
  return sutra_item_get_payload (data);
}

static void
test_item_inline_payload_race (void)
{
  g_test_summary ("Threads asking for an inline payload's GBytes at once all get the "
                  "same one");
  for (guint round = 0; round < 200; round++)
    {
      g_autoptr (SutraItem) item = sutra_item_new_root_from_data ("r", round, NULL, "xyz", 3);
      GThread *threads[N_RACERS];
      gpointer first = NULL;

      for (guint t = 0; t < N_RACERS; t++)
        threads[t] = g_thread_new ("racer", get_payload_thread, item);
      for (guint t = 0; t < N_RACERS; t++)
        {
          gpointer got = g_thread_join (threads[t]);

          if (first == NULL)
            first = got;
          g_assert_true (got == first);
        }
      g_assert_true (sutra_item_get_payload (item) == first);
    }
}

static void
test_item_derived_shares_inline (void)
{
  SutraItem *source = sutra_item_new_root_from_data ("s", 1, NULL, "shared bytes", 12);
  const guint8 *bytes = sutra_item_get_data (source, NULL);
  SutraItem *derived = sutra_item_new_derived (source, "text/markdown", NULL);
  SutraItem *again = sutra_item_new_derived (derived, NULL, NULL);
  gsize size;

  g_test_summary ("A derived item keeps its source's inline payload without a copy, and "
                  "keeps it alive after the source is gone");
  g_assert_true (sutra_item_get_data (derived, &size) == bytes);
  g_assert_cmpuint (size, ==, 12);
  g_assert_true (sutra_item_get_data (again, NULL) == bytes);
  /* The derived items hold the source (the owner of the bytes), not each other. */
  g_assert_true (derived->payload_item == source && again->payload_item == source);
  g_assert_cmpint (source->ref_count, ==, 3);
  g_assert_true (sutra_item_get_payload (again) == sutra_item_get_payload (source));
  sutra_item_unref (source);
  sutra_item_unref (derived);
  g_assert_cmpmem (sutra_item_get_data (again, &size), size, "shared bytes", 12);
  sutra_item_unref (again);
}

/* An unlinked file holding @text, open for reading. */
static int
text_fd (const char *text)
{
  return sutra_test_unlinked_file (text, strlen (text));
}

static void
test_item_payload_file (void)
{
  SutraItem *item = sutra_item_new_root ("f", 0, "audio/x-test", NULL);
  g_autoptr (GError) error = NULL;
  char buffer[8];
  gsize size;

  g_test_summary ("A payload in a file has its size without being read, is read a block at a "
                  "time from any offset (fewer bytes at its end, none past it), and is read "
                  "whole on the first sutra_item_get_data()");
  g_assert_true (sutra_item_take_payload_fd (item, text_fd ("0123456789abc"), &error));
  g_assert_no_error (error);
  g_assert_true (sutra_item_payload_is_file (item));
  g_assert_cmpuint (sutra_item_get_payload_size (item), ==, 13);
  g_assert_null (item->payload);
  g_assert_cmpint (sutra_item_read_payload (item, 0, buffer, 8, &error), ==, 8);
  g_assert_cmpmem (buffer, 8, "01234567", 8);
  g_assert_cmpint (sutra_item_read_payload (item, 8, buffer, 8, &error), ==, 5);
  g_assert_cmpmem (buffer, 5, "89abc", 5);
  g_assert_cmpint (sutra_item_read_payload (item, 13, buffer, 8, &error), ==, 0);
  g_assert_cmpint (sutra_item_read_payload (item, 99, buffer, 8, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_null (item->payload);
  g_assert_cmpmem (sutra_item_get_data (item, &size), size, "0123456789abc", 13);
  g_assert_nonnull (item->payload);
  g_assert_true (sutra_item_get_payload (item) == item->payload);
  sutra_item_unref (item);
}

static void
test_item_payload_file_shared (void)
{
  SutraItem *source = sutra_item_new_root ("s", 0, "audio/x-test", NULL);
  SutraItem *derived;
  char buffer[4];

  g_test_summary ("An item derived from one whose payload is a file shares the file, unread, "
                  "and keeps it open after the source is gone");
  g_assert_true (sutra_item_take_payload_fd (source, text_fd ("abcd"), NULL));
  derived = sutra_item_new_derived (source, NULL, NULL);
  sutra_item_share_payload (derived, source);
  g_assert_true (sutra_item_same_payload (derived, source));
  g_assert_true (sutra_item_peek_payload_file (derived) == sutra_item_peek_payload_file (source));
  sutra_item_unref (source);
  g_assert_cmpint (sutra_item_read_payload (derived, 1, buffer, 4, NULL), ==, 3);
  g_assert_cmpmem (buffer, 3, "bcd", 3);
  sutra_item_unref (derived);
}

static void
test_item_payload_file_refused (void)
{
  SutraItem *item = sutra_item_new_root ("p", 0, NULL, NULL);
  g_autoptr (GError) error = NULL;
  int fds[2];
  char buffer[4];

  g_test_summary ("A pipe cannot be a payload file (it cannot be read twice): refused with an "
                  "error that says so, the descriptor closed, the item's payload unchanged; an "
                  "in-memory payload reads the same way as a file");
  g_assert_cmpint (pipe (fds), ==, 0);
  g_assert_false (sutra_item_take_payload_fd (item, fds[0], &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_nonnull (strstr (error->message, "regular file"));
  g_assert_cmpint (close (fds[0]), ==, -1); /* already closed */
  close (fds[1]);
  g_assert_false (sutra_item_payload_is_file (item));
  sutra_item_unref (item);

  item = sutra_item_new_root_from_data ("m", 0, NULL, "memory", 6);
  g_assert_cmpint (sutra_item_read_payload (item, 2, buffer, 4, NULL), ==, 4);
  g_assert_cmpmem (buffer, 4, "mory", 4);
  g_assert_cmpint (sutra_item_read_payload (item, 6, buffer, 4, NULL), ==, 0);
  g_assert_cmpuint (sutra_item_get_payload_size (item), ==, 6);
  sutra_item_unref (item);
}

static void
test_item_unref_held (void)
{
  SutraItem *item = sutra_item_new_root_from_data ("h", 0, NULL, "h", 1);

  g_test_summary ("sutra_item_unref_held() drops one of the references its caller holds, "
                  "and leaves the others");
  sutra_item_ref (item);
  sutra_item_unref_held (item, 2);
  g_assert_cmpint (item->ref_count, ==, 1);
  sutra_item_ref (item);
  sutra_item_ref (item);
  /* Three references, the caller claims two: the count says someone else has
   * one, and the drop is atomic; the count is right either way. */
  sutra_item_unref_held (item, 2);
  g_assert_cmpint (item->ref_count, ==, 2);
  sutra_item_unref (item);
  g_assert_cmpint (item->ref_count, ==, 1);
  sutra_item_unref (item);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/item/root-id-and-path", test_item_root_id_and_path);
  g_test_add_func ("/engine/item/child-id-and-path", test_item_child_id_and_path);
  g_test_add_func ("/engine/item/child-at-max-depth", test_item_child_at_max_depth);
  g_test_add_func ("/engine/item/derived-keeps-id-and-path", test_item_derived_keeps_id_and_path);
  g_test_add_func ("/engine/item/parent-of-child", test_item_parent_of_child);
  g_test_add_func ("/engine/item/parent-of-root", test_item_parent_of_root);
  for (gsize i = 0; i < G_N_ELEMENTS (compare_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/item/compare/%s", compare_cases[i].name);

      g_test_add_data_func (path, &compare_cases[i], test_item_compare);
    }
  g_test_add_func ("/engine/item/sort-lines", test_item_sort_lines);
  g_test_add_func ("/engine/item/meta-plain-has-none", test_item_meta_plain_has_none);
  g_test_add_func ("/engine/item/meta-copy-on-write", test_item_meta_copy_on_write);
  g_test_add_func ("/engine/item/meta-dup-is-deep", test_item_meta_dup_is_deep);
  g_test_add_func ("/engine/item/meta-set-replaces", test_item_meta_set_replaces);
  g_test_add_func ("/engine/item/payload-with-nul", test_item_payload_with_nul);
  g_test_add_func ("/engine/item/empty-payload-data", test_item_empty_payload_data);
  g_test_add_func ("/engine/item/ref-counting", test_item_ref_counting);
  g_test_add_func ("/engine/item/from-data-inline", test_item_from_data_inline);
  g_test_add_func ("/engine/item/from-data-misuse", test_item_from_data_misuse);
  g_test_add_func ("/engine/item/inline-payload-bytes", test_item_inline_payload_bytes);
  g_test_add_func ("/engine/item/inline-payload-race", test_item_inline_payload_race);
  g_test_add_func ("/engine/item/derived-shares-inline", test_item_derived_shares_inline);
  g_test_add_func ("/engine/item/unref-held", test_item_unref_held);
  g_test_add_func ("/engine/item/payload-file", test_item_payload_file);
  g_test_add_func ("/engine/item/payload-file-shared", test_item_payload_file_shared);
  g_test_add_func ("/engine/item/payload-file-refused", test_item_payload_file_refused);
  g_test_add_func ("/engine/item/group-end-marker", test_item_group_end_marker);

  return g_test_run ();
}
