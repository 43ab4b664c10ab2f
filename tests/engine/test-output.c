/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-output.c: collecting and streaming outputs, and
 * the record of plugin calls that misuse the API. */

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

typedef struct
{
  const char *name;
  const char *function;
  const char *rule;
} MisuseCase;

static const MisuseCase misuse_cases[] = {
  { "push-null", "sutra_output_push", "item != NULL" },
  { "child-of-null", "sutra_item_new_child", "parent != NULL" },
  { "parent-of-root", "sutra_item_new_parent", "child->depth >= 2" },
  { "position-out-of-range", "sutra_item_get_position", "level < item->depth" },
  { "set-meta-on-null", "sutra_item_set_meta", "item != NULL" },
  { "cancelled-without-output", "sutra_output_is_cancelled", "output != NULL" },
};

/* Misuses the API as @row says, while a call on @output is running. */
static void
misuse (const MisuseCase *row, SutraOutput *output)
{
  g_autoptr (SutraItem) root = sutra_item_new_root ("root", 0, NULL, NULL);

  if (g_str_equal (row->name, "push-null"))
    sutra_output_push (output, NULL);
  else if (g_str_equal (row->name, "child-of-null"))
    g_assert_null (sutra_item_new_child (NULL, 0, NULL, g_bytes_new ("lost", 4)));
  else if (g_str_equal (row->name, "parent-of-root"))
    g_assert_null (sutra_item_new_parent (root, NULL, NULL));
  else if (g_str_equal (row->name, "position-out-of-range"))
    g_assert_cmpuint (sutra_item_get_position (root, 1), ==, 0);
  else if (g_str_equal (row->name, "set-meta-on-null"))
    sutra_item_set_meta (NULL, json_object_new ());
  else if (g_str_equal (row->name, "cancelled-without-output"))
    g_assert_true (sutra_output_is_cancelled (NULL));
}

static void
test_output_misuse_recorded (gconstpointer data)
{
  const MisuseCase *row = data;

  g_test_bug ("15");
  g_test_summary ("A public function's failed check during a plugin call is recorded on "
                  "that call's output (function and rule), besides the critical, so that "
                  "the engine fails the call; outside a call it is only logged");
  if (g_test_subprocess ())
    {
      SutraOutput output, other;

      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      sutra_output_init_collect (&output, NULL);
      sutra_output_init_collect (&other, NULL);
      g_assert_false (sutra_output_was_misused (&output));

      /* Outside a call: logged only. */
      misuse (row, &other);
      g_assert_false (sutra_output_was_misused (&output));

      sutra_output_begin_call (&output);
      misuse (row, &output);
      misuse (row, &output);
      sutra_output_end_call (&output);
      g_assert_true (sutra_output_was_misused (&output));
      g_assert_cmpstr (output.misused_function, ==, row->function);
      g_assert_cmpstr (output.misused_rule, ==, row->rule);
      g_assert_cmpuint (output.n_misuses, ==, 2);
      g_assert_cmpuint (output.items->len, ==, 0);
      sutra_output_clear (&output);
      sutra_output_clear (&other);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*CRITICAL*assertion*failed*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/output/collect", test_output_collect);
  g_test_add_func ("/engine/output/stream", test_output_stream);
  g_test_add_func ("/engine/output/cancelled", test_output_cancelled);
  g_test_add_func ("/engine/output/push-null", test_output_push_null);
  for (gsize i = 0; i < G_N_ELEMENTS (misuse_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/output/misuse/%s", misuse_cases[i].name);
      g_test_add_data_func (path, &misuse_cases[i], test_output_misuse_recorded);
    }

  return g_test_run ();
}
