/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's side of SutraOutput. */

#pragma once

#include "sutra-run.h"

#include <sutra/sutra.h>

G_BEGIN_DECLS

/* Where a streaming output (a source's) sends each item as it is pushed. */
typedef void (*SutraOutputPushFunc) (SutraItem *item, gpointer user_data);

struct _SutraOutput
{
  GPtrArray *items; /* collected items, when push_func is NULL */
  SutraOutputPushFunc push_func;
  gpointer push_data;
  const gint *cancelled; /* atomic flag owned by the run, or NULL */
  guint64 total;
  gboolean has_total;
  guint64 *total_target; /* where a total is published at once, or NULL */
  guint64 n_pushed;
  /* A split's call: each push is counted there at once, for the progress
   * display (nullable); bytes_pushed is this output's share. */
  SutraSplitCounters *split_counters;
  guint64 bytes_pushed;
};

/* A collecting output: pushes land in output->items. */
void sutra_output_init_collect (SutraOutput *output, const gint *cancelled);

/* A streaming output: pushes go to @func at once. */
void sutra_output_init_stream (SutraOutput *output,
                               SutraOutputPushFunc func,
                               gpointer user_data,
                               const gint *cancelled);

void sutra_output_clear (SutraOutput *output);

G_END_DECLS
