/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraOutput: collects a batch's results or streams a source's. */

#include "sutra-output-private.h"
#include "sutra-split-counters.h"

void
sutra_output_init_collect (SutraOutput *output, const gint *cancelled)
{
  *output = (SutraOutput){ 0 };
  output->items = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  output->cancelled = cancelled;
}

void
sutra_output_init_stream (SutraOutput *output,
                          SutraOutputPushFunc func,
                          gpointer user_data,
                          const gint *cancelled)
{
  *output = (SutraOutput){ 0 };
  output->push_func = func;
  output->push_data = user_data;
  output->cancelled = cancelled;
}

void
sutra_output_clear (SutraOutput *output)
{
  g_clear_pointer (&output->items, g_ptr_array_unref);
}

void
sutra_output_push (SutraOutput *output, SutraItem *item)
{
  g_return_if_fail (output != NULL);
  g_return_if_fail (item != NULL);

  output->n_pushed++;
  if (output->split_counters != NULL)
    sutra_split_counters_push (output->split_counters, item, &output->bytes_pushed);
  if (output->push_func != NULL)
    output->push_func (item, output->push_data);
  else
    g_ptr_array_add (output->items, item);
}

void
sutra_output_set_total (SutraOutput *output, guint64 n_items)
{
  g_return_if_fail (output != NULL);
  output->total = n_items;
  output->has_total = TRUE;
  /* Published at once: the progress display shows the total while the
   * source is still producing. */
  if (output->total_target != NULL)
    __atomic_store_n (output->total_target, n_items, __ATOMIC_RELAXED);
}

gboolean
sutra_output_is_cancelled (SutraOutput *output)
{
  g_return_val_if_fail (output != NULL, TRUE);
  return output->cancelled != NULL && g_atomic_int_get (output->cancelled) != 0;
}
