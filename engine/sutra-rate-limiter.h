/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRateLimiter: a stage's `rate_limit`, one schedule shared by all of
 * its workers: requests (items) spaced evenly at the rate, and, for model
 * APIs, tokens per period, charged after the fact from what the outputs
 * report. */

#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _SutraRateLimiter SutraRateLimiter;

/* A stage's limits, as the pipeline gives them; 0 means none. */
typedef struct
{
  double requests_per_second;
  double tokens_per_second;
  double token_burst_seconds; /* the period the token limit was given in */
} SutraRateLimits;

/* Parses a `rate_limit` value: a number (items per second), a string
 * ("10/s", "600/min", "5000/h"), or an object {"requests": ..., "tokens":
 * ...} of those. Returns FALSE with @message (transfer full) saying what is
 * wrong and what is expected. */
gboolean sutra_rate_limits_parse (JsonNode *node, SutraRateLimits *limits, char **message);

SutraRateLimiter *sutra_rate_limiter_new (const SutraRateLimits *limits);
void sutra_rate_limiter_free (SutraRateLimiter *limiter);

/* Reserves @n_requests starting at @now_us (a monotonic time) and returns
 * when the caller may send them: @now_us or later. Thread-safe: callers
 * share one schedule, so workers together keep the rate. The token limit,
 * when set, holds a reservation back until the tokens charged so far have
 * been paid off down to one period's worth. */
gint64 sutra_rate_limiter_reserve (SutraRateLimiter *limiter, guint n_requests, gint64 now_us);

/* Charges @n_tokens (what a batch's outputs reported) at @now_us. */
void sutra_rate_limiter_charge_tokens (SutraRateLimiter *limiter, guint64 n_tokens, gint64 now_us);

/* Whether the token limit is set (and outputs should be charged). */
gboolean sutra_rate_limiter_counts_tokens (SutraRateLimiter *limiter);

/* Reserves and sleeps until then, in slices of at most 100 ms so that a
 * run that is stopping (*@cancelled non-zero) is not held up. */
void sutra_rate_limiter_wait (SutraRateLimiter *limiter, guint n_requests, const gint *cancelled);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraRateLimiter, sutra_rate_limiter_free)

G_END_DECLS
