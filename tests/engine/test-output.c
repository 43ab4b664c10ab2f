/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-output.c: collecting and streaming outputs. */

#include "sutra-output-private.h"

static void
test_output_collect (void)
{
  SutraOutput output;
  gint cancelled = 0;

  g_test_summary ("A collecting output keeps what is pushed, in order, and counts it");
  sutra_output_init_collect (&output, &cancelled);
  sutra_output_push (&output, sutra_item_new_root ("a", 0, NULL, NULL));
  sutra_output_push (&output, sutra_item_new_root ("b", 1, NULL, NULL));
  g_assert_cmpuint (output.items->len, ==, 2);
  g_assert_cmpuint (output.n_pushed, ==, 2);
  g_assert_cmpstr (sutra_item_get_id (output.items->pdata[0]), ==, "a");
  g_assert_cmpstr (sutra_item_get_id (output.items->pdata[1]), ==, "b");
  g_assert_false (output.has_total);
  sutra_output_set_total (&output, 7);
  g_assert_true (output.has_total);
  g_assert_cmpuint (output.total, ==, 7);
  sutra_output_clear (&output);
  g_assert_null (output.items);
  sutra_output_clear (&output);
}

static void
take_item (SutraItem *item, gpointer user_data)
{
  GPtrArray *seen = user_data;

  g_ptr_array_add (seen, item);
}

static void
test_output_stream (void)
{
  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  SutraOutput output;

  g_test_summary ("A streaming output hands each item on as it is pushed");
  sutra_output_init_stream (&output, take_item, seen, NULL);
  sutra_output_push (&output, sutra_item_new_root ("a", 0, NULL, NULL));
  g_assert_cmpuint (seen->len, ==, 1);
  sutra_output_push (&output, sutra_item_new_root ("b", 1, NULL, NULL));
  g_assert_cmpuint (seen->len, ==, 2);
  g_assert_cmpuint (output.n_pushed, ==, 2);
  g_assert_null (output.items);
  g_assert_false (sutra_output_is_cancelled (&output));
  sutra_output_clear (&output);
}

static void
test_output_cancelled (void)
{
  SutraOutput output;
  gint cancelled = 0;

  g_test_summary ("is_cancelled follows the run's flag");
  sutra_output_init_collect (&output, &cancelled);
  g_assert_false (sutra_output_is_cancelled (&output));
  g_atomic_int_set (&cancelled, 1);
  g_assert_true (sutra_output_is_cancelled (&output));
  sutra_output_clear (&output);
}

static void
test_output_push_null (void)
{
  g_test_summary ("Pushing NULL is a programmer error: a critical");
  if (g_test_subprocess ())
    {
      SutraOutput output;

      sutra_output_init_collect (&output, NULL);
      sutra_output_push (&output, NULL);
      sutra_output_clear (&output);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*item != NULL*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/output/collect", test_output_collect);
  g_test_add_func ("/engine/output/stream", test_output_stream);
  g_test_add_func ("/engine/output/cancelled", test_output_cancelled);
  g_test_add_func ("/engine/output/push-null", test_output_push_null);

  return g_test_run ();
}
