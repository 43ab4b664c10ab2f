/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A split's way through its inputs: what the display estimates from. */

#include "sutra-split-counters.h"

#define ADD(field, n) __atomic_fetch_add (&(field), (n), __ATOMIC_RELAXED)
#define SUB(field, n) __atomic_fetch_sub (&(field), (n), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n (&(field), __ATOMIC_RELAXED)

static guint64
payload_size (SutraItem *item)
{
  /* Not sutra_item_get_payload(): it would make a GBytes of an inline
   * payload, or read a payload file. */
  return sutra_item_get_payload_size (item);
}

void
sutra_split_counters_measure (GPtrArray *items, guint64 *n_items, guint64 *n_bytes)
{
  *n_items = *n_bytes = 0;
  for (guint i = 0; i < items->len; i++)
    if (!sutra_item_is_marker (items->pdata[i]))
      {
        *n_items += 1;
        *n_bytes += payload_size (items->pdata[i]);
      }
}

void
sutra_split_counters_start (SutraSplitCounters *counters, GPtrArray *inputs)
{
  guint64 n, bytes;

  sutra_split_counters_measure (inputs, &n, &bytes);
  ADD (counters->bytes_in_flight, bytes);
  ADD (counters->n_in_flight, n);
}

void
sutra_split_counters_push (SutraSplitCounters *counters, SutraItem *child, guint64 *call_bytes)
{
  guint64 size = payload_size (child);

  *call_bytes += size;
  ADD (counters->bytes_out_in_flight, size);
  ADD (counters->n_out_in_flight, 1);
  ADD (counters->n_pushed, 1);
}

void
sutra_split_counters_unpush (SutraSplitCounters *counters, guint64 n_pushed, guint64 n_bytes)
{
  SUB (counters->n_out_in_flight, n_pushed);
  SUB (counters->bytes_out_in_flight, n_bytes);
}

void
sutra_split_counters_done (SutraSplitCounters *counters,
                           GPtrArray *inputs,
                           guint64 n_children,
                           guint64 children_bytes,
                           gboolean started)
{
  guint64 n, bytes;

  sutra_split_counters_measure (inputs, &n, &bytes);
  /* Done before no longer in flight: a reader between the two sees the
   * input twice rather than not at all, which errs on the side of less
   * progress. */
  ADD (counters->n_out_done, n_children);
  ADD (counters->bytes_out_done, children_bytes);
  ADD (counters->bytes_in_done, bytes);
  ADD (counters->n_in_done, n);
  if (started)
    {
      SUB (counters->n_in_flight, n);
      SUB (counters->bytes_in_flight, bytes);
    }
}

void
sutra_split_counters_get (SutraSplitCounters *counters, SutraSplitCounters *copy)
{
  *copy = (SutraSplitCounters){
    .n_in_flight = GET (counters->n_in_flight),
    .bytes_in_flight = GET (counters->bytes_in_flight),
    .n_out_in_flight = GET (counters->n_out_in_flight),
    .bytes_out_in_flight = GET (counters->bytes_out_in_flight),
    .n_in_done = GET (counters->n_in_done),
    .bytes_in_done = GET (counters->bytes_in_done),
    .n_out_done = GET (counters->n_out_done),
    .bytes_out_done = GET (counters->bytes_out_done),
    .n_pushed = GET (counters->n_pushed),
  };
}
