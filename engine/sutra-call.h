/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calling a stage's plugin: one call with its API checks, retries with
 * backoff, and the stage's rate limit. */

#pragma once

#include "sutra-output-private.h"
#include "sutra-run-private.h"

G_BEGIN_DECLS

/* Waits for the stage's rate limit before sending @n_items (requests and,
 * when a token limit is set, the tokens charged so far). */
void sutra_call_rate_limit (StageRuntime *stage, guint n_items);

/* Charges the stage's token limit with what @outputs report (their
 * `total_tokens` metadata). */
void sutra_call_charge_tokens (StageRuntime *stage, GPtrArray *outputs);

/* Takes the places a call on @n_items holds in the stage's max_in_flight
 * (*@n_taken, to give back), waiting for them; FALSE with @error set when
 * the run drops its work in flight meanwhile. */
gboolean sutra_call_enter_flight (StageRuntime *stage,
                                  guint n_items,
                                  guint *n_taken,
                                  GError **error);
void sutra_call_leave_flight (StageRuntime *stage, guint n_taken);
gboolean sutra_call_once (StageRuntime *stage,
                          SutraExecutor *executor,
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
                               SutraExecutor *executor,
                               Batch *batch,
                               SutraItem *member);
GPtrArray *sutra_call_gather_end (StageRuntime *stage,
                                  Batch *batch,
                                  gboolean *misused,
                                  GError **error);
void sutra_call_gather_abort (StageRuntime *stage, Batch *batch);
GPtrArray *sutra_call_process (StageRuntime *stage,
                               SutraExecutor *executor,
                               SutraItem *const *items,
                               guint n_items,
                               guint max_attempts,
                               gboolean *misused,
                               GError **error);

G_END_DECLS
