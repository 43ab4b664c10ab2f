/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-record.c: record bodies, borrowed fields, damage. */

#include "sutra-record.h"
#include "sutra-store.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static SutraItem *
text_item (const char *id, guint64 position, const char *text)
{
  return sutra_item_new_root (id, position, NULL, g_bytes_new (text, strlen (text)));
}

static SutraLineage *
lineage_of (guint8 seed)
{
  guint8 digest[SUTRA_DIGEST_SIZE];

  memset (digest, seed, sizeof digest);
  return sutra_lineage_new (digest);
}

/* Every field the store must give back, compared. */
static void
assert_items_equal (SutraItem *a, SutraItem *b)
{
  gsize size_a, size_b;
  const guint8 *data_a = sutra_item_get_data (a, &size_a);
  const guint8 *data_b = sutra_item_get_data (b, &size_b);

  g_assert_cmpstr (sutra_item_get_id (a), ==, sutra_item_get_id (b));
  g_assert_cmpuint (a->depth, ==, b->depth);
  g_assert_cmpmem (a->path, a->depth * sizeof (guint64), b->path, b->depth * sizeof (guint64));
  g_assert_cmpuint (a->flags, ==, b->flags);
  g_assert_cmpuint (a->group_size, ==, b->group_size);
  g_assert_cmpstr (sutra_item_get_media_type (a), ==, sutra_item_get_media_type (b));
  g_assert_cmpmem (data_a, size_a, data_b, size_b);
  g_assert_true ((a->lineage == NULL) == (b->lineage == NULL));
  if (a->lineage != NULL)
    g_assert_cmpmem (a->lineage->digest, SUTRA_DIGEST_SIZE, b->lineage->digest, SUTRA_DIGEST_SIZE);
  g_assert_true ((a->meta == NULL) == (b->meta == NULL));
  if (a->meta != NULL)
    {
      g_autoptr (JsonNode) node_a = json_node_init_object (json_node_alloc (), a->meta);
      g_autoptr (JsonNode) node_b = json_node_init_object (json_node_alloc (), b->meta);

      g_assert_true (json_node_equal (node_a, node_b));
    }
}

static void
assert_arrays_equal (GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    assert_items_equal (a->pdata[i], b->pdata[i]);
}

static void
test_record_round_trip (void)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraLineage) lineage = lineage_of (7);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  SutraItem *book = text_item ("book", 3, "");
  SutraItem *chapter = sutra_item_new_child (book, 1, "text/markdown", NULL);

  g_test_summary ("Items without inputs to borrow from come back with every field: id, path, "
                  "media type, metadata, payload, lineage; markers too");
  json_object_set_string_member (sutra_item_ensure_meta (chapter), "title", "Down the Rabbit-Hole");
  sutra_item_set_lineage (chapter, lineage);
  g_ptr_array_add (items, chapter);
  g_ptr_array_add (items, text_item ("line", 4, "this is line 4"));
  g_ptr_array_add (items, sutra_item_new_group_end (chapter, 1, 5));
  sutra_item_unref (book);

  body = sutra_record_encode (items, NULL);
  back = sutra_record_decode (body, NULL, &error);
  g_assert_no_error (error);
  assert_arrays_equal (items, back);
}

static void
test_record_borrows_passed_on_inputs (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) copied = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraLineage) lineage = lineage_of (9);
  g_autoptr (GBytes) borrowing = NULL;
  g_autoptr (GBytes) copying = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *payload = g_strnfill (200, 'x');

  g_test_summary ("Outputs that pass their inputs on (same payload and metadata) are stored as "
                  "references: the record is a small fraction of a copy, and decodes to the "
                  "same items given the same inputs");
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *id = g_strdup_printf ("line%u", i);
      SutraItem *input = text_item (id, i, payload);
      SutraItem *output;

      json_object_set_int_member (sutra_item_ensure_meta (input), "n", i);
      g_ptr_array_add (inputs, input);
      output = sutra_item_new_derived (input, NULL, NULL);
      sutra_item_set_lineage (output, lineage);
      g_ptr_array_add (outputs, output);
      /* The same items, but nothing shared with the inputs. */
      output = sutra_item_new_derived (input, NULL, g_bytes_new (payload, strlen (payload)));
      sutra_item_set_meta (output, sutra_item_dup_meta (input));
      sutra_item_set_lineage (output, lineage);
      g_ptr_array_add (copied, output);
    }
  borrowing = sutra_record_encode (outputs, inputs);
  copying = sutra_record_encode (copied, inputs);
  g_assert_cmpuint (g_bytes_get_size (borrowing) * 20, <, g_bytes_get_size (copying));

  back = sutra_record_decode (borrowing, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (outputs, back);
  g_clear_pointer (&back, g_ptr_array_unref);
  back = sutra_record_decode (copying, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (copied, back);
}

static void
test_record_borrows_around_dropped_inputs (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("A filter (some inputs dropped) and a stage that keeps the payload but "
                  "changes the media type or the id borrow only what they share");
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *text = g_strdup_printf ("item %u", i);
      g_autofree char *id = g_strdup_printf ("in%u", i);

      g_ptr_array_add (inputs, text_item (id, i, text));
    }
  /* Keeps 0, 3, 4; makes 4 markdown; makes a new item with 9's payload. */
  g_ptr_array_add (outputs, sutra_item_ref (inputs->pdata[0]));
  g_ptr_array_add (outputs, sutra_item_ref (inputs->pdata[3]));
  g_ptr_array_add (outputs, sutra_item_new_derived (inputs->pdata[4], "text/markdown", NULL));
  g_ptr_array_add (outputs,
                   sutra_item_new_root ("renamed", 9, NULL,
                                        g_bytes_ref (sutra_item_get_payload (inputs->pdata[9]))));
  body = sutra_record_encode (outputs, inputs);
  back = sutra_record_decode (body, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (outputs, back);
}

static void
test_record_runs_end_where_items_differ (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraLineage) first = lineage_of (1);
  g_autoptr (SutraLineage) second = lineage_of (2);
  g_autoptr (SutraLineage) second_again = lineage_of (2);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("Items passed on whole are stored as runs; a run ends where the lineage or "
                  "the media type changes or an input is skipped, and each item comes back "
                  "with its own");
  for (guint i = 0; i < 12; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);

      g_ptr_array_add (inputs, text_item ("in", i, text));
    }
  for (guint i = 0; i < 12; i++)
    {
      SutraItem *output;

      if (i == 9)
        continue; /* dropped: the next run starts further on */
      output = i == 6 ? sutra_item_new_derived (inputs->pdata[i], "text/markdown", NULL)
                      : sutra_item_ref (inputs->pdata[i]);
      /* Lineages change at 4; 5 has an equal lineage in another object. */
      sutra_item_set_lineage (output, i < 4 ? first : i == 5 ? second_again : second);
      g_ptr_array_add (outputs, output);
    }
  body = sutra_record_encode (outputs, inputs);
  back = sutra_record_decode (body, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (outputs, back);
}

static void
test_record_rejects_damage (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *back;
  gsize size;
  const guint8 *data;

  g_test_summary ("A body that borrows from inputs it is not given, or from an input that is "
                  "not there, or that is cut short, is refused with an error, never read past");
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (inputs, text_item ("in", i, "passed on"));
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (outputs, sutra_item_ref (inputs->pdata[i]));
  body = sutra_record_encode (outputs, inputs);

  back = sutra_record_decode (body, NULL, &error);
  g_assert_null (back);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  data = g_bytes_get_data (body, &size);
  for (gsize cut = 0; cut < size; cut++)
    {
      g_autoptr (GBytes) truncated = g_bytes_new (data, cut);

      back = sutra_record_decode (truncated, inputs, &error);
      g_assert_null (back);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_clear_error (&error);
    }

  g_ptr_array_set_size (inputs, 2);
  back = sutra_record_decode (body, inputs, &error);
  g_assert_null (back);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static GBytes *
join_pieces (GPtrArray *pieces)
{
  GByteArray *joined = g_byte_array_new ();

  for (guint i = 0; i < pieces->len; i++)
    {
      const SutraStorePiece *piece = pieces->pdata[i];
      g_autoptr (GBytes) bytes = piece->file != NULL ? sutra_payload_file_load (piece->file, NULL)
                                                     : g_bytes_ref (piece->bytes);
      gsize size;
      const guint8 *data = g_bytes_get_data (bytes, &size);

      g_byte_array_append (joined, data, (guint) size);
    }
  return g_byte_array_free_to_bytes (joined);
}

/* An unlinked file holding @size bytes of a pattern, open for reading. */
static int
payload_fd (gsize size, guint8 seed)
{
  g_autofree guint8 *data = g_malloc (MAX (size, 1));

  for (gsize k = 0; k < size; k++)
    data[k] = (guint8) (k * 3 + seed);
  return sutra_test_unlinked_file (data, size);
}

static void
test_record_pieces_share_large_payloads (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraLineage) lineage = lineage_of (5);
  g_autoptr (GBytes) whole = NULL;
  g_autoptr (GBytes) joined = NULL;
  g_autoptr (GPtrArray) pieces = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  guint shared = 0;

  g_test_summary ("A record in pieces is the contiguous record cut up: a payload of 64 KiB or "
                  "more is a piece of its own that is the item's bytes, not a copy, a payload "
                  "in a file (however small) is a piece that is the file, and the joined "
                  "pieces decode to the items");
  g_ptr_array_add (inputs, text_item ("book", 0, "a book"));
  for (guint i = 0; i < 5; i++)
    {
      /* At the threshold, small, one byte under it, small, over it. */
      static const gsize sizes[] = { 64u << 10, 11, (64u << 10) - 1, 13, 70000 };
      gsize size = sizes[i];
      guint8 *data = g_malloc (size);
      SutraItem *child;

      for (gsize k = 0; k < size; k++)
        data[k] = (guint8) (k * 7 + i);
      child =
        sutra_item_new_child (inputs->pdata[0], i, "audio/x-test", g_bytes_new_take (data, size));
      sutra_item_set_lineage (child, lineage);
      json_object_set_int_member (sutra_item_ensure_meta (child), "n", i);
      g_ptr_array_add (items, child);
    }
  {
    SutraItem *child = sutra_item_new_child (inputs->pdata[0], 5, "audio/x-test", NULL);

    g_assert_true (sutra_item_take_payload_fd (child, payload_fd (1000, 9), &error));
    g_assert_no_error (error);
    sutra_item_set_lineage (child, lineage);
    g_ptr_array_add (items, child);
  }
  g_ptr_array_add (items, sutra_item_new_group_end (inputs->pdata[0], 1, 6));

  pieces = sutra_record_encode_pieces (items, inputs);
  for (guint p = 0; p < pieces->len; p++)
    {
      const SutraStorePiece *piece = pieces->pdata[p];

      if (piece->file != NULL)
        {
          g_assert_true (piece->file == sutra_item_peek_payload_file (items->pdata[5]));
          shared++;
        }
    }
  /* The file is the piece, unread: the item's payload is still not in memory. */
  g_assert_cmpuint (shared, ==, 1);
  g_assert_true (sutra_item_payload_is_file (items->pdata[5]));
  joined = join_pieces (pieces);
  /* The contiguous encoding reads the file: the same bytes. */
  whole = sutra_record_encode (items, inputs);
  g_assert_true (g_bytes_equal (whole, joined));
  shared = 0;
  for (guint p = 0; p < pieces->len; p++)
    for (guint i = 0; i < 5; i++)
      {
        const SutraStorePiece *piece = pieces->pdata[p];
        gsize size;
        const guint8 *data = sutra_item_get_data (items->pdata[i], &size);

        if (size > 0 && piece->bytes != NULL &&
            g_bytes_get_data (piece->bytes, NULL) == (gconstpointer) data)
          shared++;
      }
  /* Items 0 and 4 are 64 KiB or more. */
  g_assert_cmpuint (shared, ==, 2);
  back = sutra_record_decode (joined, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (items, back);
}

static void
test_record_decode_in_file (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  static const gsize sizes[] = { 70000, 100, 64u << 10 };
  const guint64 at = 1000;
  int fd;

  g_test_summary ("A record decoded from a file keeps its payloads of 64 KiB or more in the "
                  "file (the items' payloads are files sharing one descriptor, read back the "
                  "same), and the smaller ones in memory");
  g_ptr_array_add (inputs, text_item ("book", 0, "a book"));
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint8 *data = g_malloc (sizes[i]);

      for (gsize k = 0; k < sizes[i]; k++)
        data[k] = (guint8) (k * 5 + i);
      g_ptr_array_add (items, sutra_item_new_child (inputs->pdata[0], i, "audio/x-test",
                                                    g_bytes_new_take (data, sizes[i])));
    }
  body = sutra_record_encode (items, inputs);
  /* The body at an offset of a file, as in a store's entry. */
  fd = g_file_open_tmp ("sutra-test-record-XXXXXX", &path, NULL);
  g_assert_cmpint (fd, >=, 0);
  g_unlink (path);
  g_assert_cmpint (pwrite (fd, g_bytes_get_data (body, NULL), g_bytes_get_size (body), (off_t) at),
                   ==, (gssize) g_bytes_get_size (body));

  back = sutra_record_decode_in_file (body, inputs, fd, at, &error);
  close (fd);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, items->len);
  /* One descriptor for the entry, not one per payload. */
  g_assert_cmpint (sutra_payload_file_get_fd (sutra_item_peek_payload_file (back->pdata[0])), ==,
                   sutra_payload_file_get_fd (sutra_item_peek_payload_file (back->pdata[2])));
  for (guint i = 0; i < items->len; i++)
    {
      gsize size, expected_size;
      const guint8 *expected = sutra_item_get_data (items->pdata[i], &expected_size);
      g_autofree guint8 *read = g_malloc (expected_size);

      g_assert_cmpuint (sutra_item_payload_is_file (back->pdata[i]), ==, sizes[i] >= (64u << 10));
      /* Read through the descriptor the item keeps (the test's is closed). */
      g_assert_cmpint (sutra_item_read_payload (back->pdata[i], 0, read, expected_size, &error), ==,
                       (gssize) expected_size);
      g_assert_cmpmem (read, expected_size, expected, expected_size);
      g_assert_cmpmem (sutra_item_get_data (back->pdata[i], &size), size, expected, expected_size);
    }
}

static void
test_record_writer_matches_encode (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (SutraLineage) lineage = lineage_of (3);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  SutraRecordWriter *writer;
  guint64 path[40];

  g_test_bug ("15");
  g_test_summary ("A record written item by item (as a split streams) decodes to the same "
                  "items as one encoded at once: children, deep paths, markers, metadata, "
                  "items passed on from the inputs");
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *id = g_strdup_printf ("book%u", i);
      SutraItem *input = text_item (id, i, "a book");

      json_object_set_string_member (sutra_item_ensure_meta (input), "path", id);
      g_ptr_array_add (inputs, input);
    }
  for (guint i = 0; i < 3; i++)
    {
      SutraItem *input = inputs->pdata[i];

      for (guint k = 0; k < 4; k++)
        {
          SutraItem *child = sutra_item_new_child (input, k, NULL, g_bytes_new ("part", 4));

          sutra_item_set_meta (child, sutra_item_dup_meta (input));
          sutra_item_set_lineage (child, lineage);
          g_ptr_array_add (items, child);
        }
      g_ptr_array_add (items, sutra_item_new_group_end (input, 1, 4));
    }
  /* An input passed on, and an item deeper than paths used to go. */
  g_ptr_array_add (items, sutra_item_ref (inputs->pdata[2]));
  for (guint d = 0; d < G_N_ELEMENTS (path); d++)
    path[d] = d * 1000;
  g_ptr_array_add (items, sutra_item_new_with_path ("deep", path, G_N_ELEMENTS (path), NULL, NULL));

  writer = sutra_record_writer_new (inputs);
  for (guint i = 0; i < items->len; i++)
    sutra_record_writer_add (writer, items->pdata[i]);
  g_assert_cmpuint (sutra_record_writer_get_n_items (writer), ==, items->len);
  g_assert_cmpuint (sutra_record_writer_get_size (writer), >, 0);
  body = sutra_record_writer_finish (writer);
  back = sutra_record_decode (body, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (items, back);
}

static void
test_record_borrows_inline_payloads (void)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GPtrArray) outputs =
    g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GBytes) copied_body = NULL;
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;

  g_test_summary ("Items whose payloads live inside them (made from data) are borrowed "
                  "like GBytes payloads: by a derived output sharing them, not by an "
                  "output with equal bytes of its own");
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);
      g_autofree char *id = g_strdup_printf ("in%u", i);

      g_ptr_array_add (inputs, sutra_item_new_root_from_data (id, i, NULL, text, strlen (text)));
    }
  g_ptr_array_add (outputs, sutra_item_ref (inputs->pdata[0]));
  g_ptr_array_add (outputs, sutra_item_new_derived (inputs->pdata[1], "text/markdown", NULL));
  g_ptr_array_add (outputs, sutra_item_new_derived_from_data (inputs->pdata[2], NULL, "line 2", 6));
  body = sutra_record_encode (outputs, inputs);
  back = sutra_record_decode (body, inputs, &error);
  g_assert_no_error (error);
  assert_arrays_equal (outputs, back);
  /* The shared payload came back as the input's bytes, not a copy. */
  g_assert_true (sutra_item_get_data (back->pdata[1], NULL) ==
                 sutra_item_get_data (inputs->pdata[1], NULL));
  g_assert_true (sutra_item_get_data (back->pdata[2], NULL) !=
                 sutra_item_get_data (inputs->pdata[2], NULL));

  /* The equal bytes of the third output were written: its record is longer
   * by them than one where it shares its input's. */
  g_ptr_array_remove_index (outputs, 2);
  g_ptr_array_add (outputs, sutra_item_new_derived (inputs->pdata[2], NULL, NULL));
  copied_body = sutra_record_encode (outputs, inputs);
  g_assert_cmpuint (g_bytes_get_size (body), >, g_bytes_get_size (copied_body));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/record/round-trip", test_record_round_trip);
  g_test_add_func ("/record/writer-matches-encode", test_record_writer_matches_encode);
  g_test_add_func ("/record/pieces-share-large-payloads", test_record_pieces_share_large_payloads);
  g_test_add_func ("/record/decode-in-file", test_record_decode_in_file);
  g_test_add_func ("/record/borrows-passed-on-inputs", test_record_borrows_passed_on_inputs);
  g_test_add_func ("/record/borrows-inline-payloads", test_record_borrows_inline_payloads);
  g_test_add_func ("/record/borrows-around-dropped-inputs",
                   test_record_borrows_around_dropped_inputs);
  g_test_add_func ("/record/runs-end-where-items-differ", test_record_runs_end_where_items_differ);
  g_test_add_func ("/record/rejects-damage", test_record_rejects_damage);
  return g_test_run ();
}
