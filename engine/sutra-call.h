/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calling a stage's plugin: one call with its API checks, retries with
 * backoff, and the stage's rate limit. */

#pragma once

#include "sutra-output-private.h"
#include "sutra-run-private.h"

G_BEGIN_DECLS

void sutra_call_rate_limit (StageRuntime *stage, guint n_items);
gboolean sutra_call_once (StageRuntime *stage,
                          gpointer instance,
                          SutraItem *const *items,
                          guint n_items,
                          SutraOutput *output,
                          gboolean *misused,
                          GError **error);
void sutra_call_retry_wait (StageRuntime *stage,
                            SutraItem *item,
                            guint attempt,
                            const GError *cause,
                            guint *delay_ms);
void sutra_call_gather_member (StageRuntime *stage,
                               gpointer instance,
                               Batch *batch,
                               SutraItem *member);
GPtrArray *sutra_call_gather_end (StageRuntime *stage,
                                  Batch *batch,
                                  gboolean *misused,
                                  GError **error);
void sutra_call_gather_abort (StageRuntime *stage, Batch *batch);
GPtrArray *sutra_call_process (StageRuntime *stage,
                               gpointer instance,
                               SutraItem *const *items,
                               guint n_items,
                               guint max_attempts,
                               gboolean *misused,
                               GError **error);

G_END_DECLS
