/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's side of SutraOutput, and how plugin calls that misuse the
 * public API are caught. */

#pragma once

#include "sutra-run.h"

#include <sutra/sutra.h>

G_BEGIN_DECLS

/* Where a streaming output (a source's, a split's) sends each item as it is
 * pushed. */
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
  /* The first check of a public function that failed during the call (a
   * string literal each), or NULL: the call failed, whatever it returned. */
  const char *misused_function;
  const char *misused_rule;
  guint n_misuses;
};

/* A collecting output: pushes land in output->items. */
void sutra_output_init_collect (SutraOutput *output, const gint *cancelled);

/* A streaming output: pushes go to @func at once. */
void sutra_output_init_stream (SutraOutput *output,
                               SutraOutputPushFunc func,
                               gpointer user_data,
                               const gint *cancelled);

void sutra_output_clear (SutraOutput *output);

/* Brackets a plugin call on this thread: a public function whose check
 * fails between the two is recorded on @output (see sutra_api_misused()).
 * Calls do not nest. */
void sutra_output_begin_call (SutraOutput *output);
void sutra_output_end_call (SutraOutput *output);

/* Whether a check failed during the call that @output belongs to. */
static inline gboolean
sutra_output_was_misused (const SutraOutput *output)
{
  return output->misused_function != NULL;
}

/* Records on @output that the plugin broke an API rule during the call
 * somewhere else: the process executor replays the first misuse its
 * worker process reported. @function and @rule must outlive @output
 * (interned strings); @n_misuses counts the checks that failed. */
void sutra_output_mark_misused (SutraOutput *output,
                                const char *function,
                                const char *rule,
                                guint n_misuses);

/* Called by a public function whose argument check @rule failed: logs the
 * critical g_return_if_fail() would, and records the misuse on @output, or
 * (when NULL) on the output of the plugin call running on this thread, so
 * that the engine fails that call instead of going on with an item lost.
 * @function and @rule must be string literals. */
void sutra_api_misused (SutraOutput *output, const char *function, const char *rule);

/* g_return_if_fail() and g_return_val_if_fail() for the functions plugins
 * call: never compiled out, and the failure fails the plugin's call. */
#define SUTRA_API_CHECK(expr)                       \
  G_STMT_START                                      \
  {                                                 \
    if (G_UNLIKELY (!(expr)))                       \
      {                                             \
        sutra_api_misused (NULL, G_STRFUNC, #expr); \
        return;                                     \
      }                                             \
  }                                                 \
  G_STMT_END

#define SUTRA_API_CHECK_VAL(expr, val)              \
  G_STMT_START                                      \
  {                                                 \
    if (G_UNLIKELY (!(expr)))                       \
      {                                             \
        sutra_api_misused (NULL, G_STRFUNC, #expr); \
        return (val);                               \
      }                                             \
  }                                                 \
  G_STMT_END

G_END_DECLS
