/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraOutput: collects a batch's results or streams a source's or a
 * split's; and records the plugin calls that misuse the public API. */

#include "sutra-output-private.h"
#include "sutra-split-counters.h"

/* The output of the plugin call running on this thread: public functions
 * called by the plugin record their failed checks there. A thread-local,
 * not an argument, because sutra_item_new_child() and the like take no
 * output; calls on threads a plugin starts itself find none and are only
 * logged. */
static GPrivate current_output = G_PRIVATE_INIT (NULL);

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
sutra_output_begin_call (SutraOutput *output)
{
  g_private_set (&current_output, output);
}

void
sutra_output_end_call (SutraOutput *output)
{
  g_private_set (&current_output, NULL);
}

void
sutra_api_misused (SutraOutput *output, const char *function, const char *rule)
{
  g_return_if_fail_warning (G_LOG_DOMAIN, function, rule);
  if (output == NULL)
    output = g_private_get (&current_output);
  if (output == NULL)
    return;
  /* The first misuse is the cause; later ones are usually its effects (a
   * NULL item made by a failed call, then pushed). */
  if (output->misused_function == NULL)
    {
      output->misused_function = function;
      output->misused_rule = rule;
    }
  output->n_misuses++;
}

void
sutra_output_mark_misused (SutraOutput *output,
                           const char *function,
                           const char *rule,
                           guint n_misuses)
{
  if (output->misused_function == NULL)
    {
      output->misused_function = function;
      output->misused_rule = rule;
    }
  output->n_misuses += n_misuses;
}

void
sutra_output_push (SutraOutput *output, SutraItem *item)
{
  if (G_UNLIKELY (output == NULL))
    {
      sutra_api_misused (NULL, G_STRFUNC, "output != NULL");
      sutra_item_unref (item);
      return;
    }
  if (G_UNLIKELY (item == NULL))
    {
      sutra_api_misused (output, G_STRFUNC, "item != NULL");
      return;
    }

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
  SUTRA_API_CHECK (output != NULL);
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
  SUTRA_API_CHECK_VAL (output != NULL, TRUE);
  return output->cancelled != NULL && g_atomic_int_get (output->cancelled) != 0;
}
