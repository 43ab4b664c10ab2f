/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Contract checks: what a plugin's calls must make of their inputs, and the
 * errors that name the stage, the plugin and the rule when they do not. */

#include "sutra-contract.h"

#include "sutra-executor-private.h"

/* What a plugin call that misused the public API failed with: the first
 * check that failed names the function and the rule. */
GError *
sutra_contract_misuse_error (StageRuntime *stage, const SutraOutput *output)
{
  return sutra_executor_misuse_error (stage->spec->name, stage->spec->plugin_name, output);
}

void
sutra_contract_propagate_failure (GError **error, GError *cause, const char *format, ...)
{
  va_list args;
  g_autofree char *prefix = NULL;

  va_start (args, format);
  prefix = g_strdup_vprintf (format, args);
  va_end (args);
  if (cause->domain == SUTRA_RUN_ERROR)
    g_set_error (error, SUTRA_RUN_ERROR, cause->code, "%s%s", prefix, cause->message);
  else
    g_set_error (error, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_STAGE_FAILED, "%s%s", prefix,
                 cause->message);
  g_error_free (cause);
}

GError *
sutra_contract_error (StageRuntime *stage, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                      "stage “%s” (plugin “%s”) broke the %s contract: %s", stage->spec->name,
                      stage->spec->plugin_name, sutra_stage_kind_to_string (stage->info->kind),
                      message);
}

/* Per input item, the outputs it produced: a GPtrArray, or NULL for an item
 * that failed and was skipped. */
void
sutra_contract_per_item_free (GPtrArray *per_item)
{
  for (guint i = 0; i < per_item->len; i++)
    if (per_item->pdata[i] != NULL)
      g_ptr_array_unref (per_item->pdata[i]);
  g_ptr_array_free (per_item, TRUE);
}

/* Splits a map's batch's flat outputs by the input item each belongs to:
 * the i-th output to the i-th input. */
GPtrArray *
sutra_contract_attribute_outputs (StageRuntime *stage,
                                  Batch *batch,
                                  GPtrArray *outputs,
                                  GError **error)
{
  GPtrArray *per_item = g_ptr_array_new ();
  guint next = 0;

  for (guint i = 0; i < batch->data->len; i++)
    {
      SutraItem *input = batch->data->pdata[i];
      GPtrArray *mine = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);

      SutraItem *output;

      g_ptr_array_add (per_item, mine);
      if (next >= outputs->len)
        {
          *error = sutra_contract_error (stage,
                                         "it pushed %u items for a batch of %u; a map "
                                         "pushes exactly one per input",
                                         outputs->len, batch->data->len);
          sutra_contract_per_item_free (per_item);
          return NULL;
        }
      output = outputs->pdata[next++];
      if (sutra_item_is_marker (output) || output->depth != input->depth ||
          sutra_item_compare (output, input) != 0)
        {
          *error = sutra_contract_error (stage,
                                         "for input “%s” it pushed “%s”; a map's output "
                                         "keeps its input's id and path (use "
                                         "sutra_item_new_derived)",
                                         sutra_item_get_id (input), sutra_item_get_id (output));
          sutra_contract_per_item_free (per_item);
          return NULL;
        }
      g_ptr_array_add (mine, sutra_item_ref (output));
    }
  if (next < outputs->len)
    {
      *error = sutra_contract_error (stage,
                                     "it pushed %u items for a batch of %u; a map pushes "
                                     "exactly one per input",
                                     outputs->len, batch->data->len);
      sutra_contract_per_item_free (per_item);
      return NULL;
    }
  return per_item;
}
