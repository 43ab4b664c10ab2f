/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the store's record decoder (engine/sutra-record.c). */

#include "fuzz-record.h"
#include "fuzz.h"

#include "sutra-record.h"

#include <string.h>

/*
 * Input: a record body. It is decoded twice: against the batch's inputs
 * that fuzz_record_get_inputs() makes (the ones the seeds were encoded
 * with, so borrowed fields resolve) and against none (a source's batch).
 * A body that decodes must survive a round trip: encoded again against the
 * same inputs, it decodes to the same items.
 */

static char *
describe_meta (JsonObject *meta)
{
  g_autoptr (JsonNode) node = NULL;

  if (meta == NULL)
    return g_strdup ("(none)");
  node = json_node_init_object (json_node_alloc (), meta);
  return json_to_string (node, FALSE);
}

static void
assert_same_items (GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      SutraItem *x = a->pdata[i], *y = b->pdata[i];
      g_autofree char *x_meta = describe_meta (x->meta);
      g_autofree char *y_meta = describe_meta (y->meta);

      g_assert_cmpstr (x->id, ==, y->id);
      g_assert_cmpuint (x->depth, ==, y->depth);
      g_assert_cmpmem (x->path, x->depth * sizeof (guint64), y->path, y->depth * sizeof (guint64));
      g_assert_cmpuint (x->flags, ==, y->flags);
      g_assert_cmpuint (x->group_size, ==, y->group_size);
      g_assert_cmpstr (x->media_type, ==, y->media_type);
      g_assert_true (g_bytes_equal (x->payload, y->payload));
      g_assert_cmpstr (x_meta, ==, y_meta);
      g_assert_true ((x->lineage == NULL) == (y->lineage == NULL));
      if (x->lineage != NULL)
        g_assert_cmpmem (x->lineage->digest, SUTRA_DIGEST_SIZE, y->lineage->digest,
                         SUTRA_DIGEST_SIZE);
    }
}

static void
decode (GBytes *body, GPtrArray *inputs)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = sutra_record_decode (body, inputs, &error);
  g_autoptr (GBytes) again = NULL;
  g_autoptr (GPtrArray) back = NULL;

  if (items == NULL)
    {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      return;
    }
  g_assert_no_error (error);
  again = sutra_record_encode (items, inputs);
  back = sutra_record_decode (again, inputs, &error);
  g_assert_no_error (error);
  assert_same_items (items, back);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (GBytes) body = g_bytes_new (data, size);
  g_autoptr (GPtrArray) inputs = fuzz_record_get_inputs ();

  decode (body, inputs);
  decode (body, NULL);
  return 0;
}
