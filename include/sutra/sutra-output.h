/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraOutput: where a stage's process function puts what it produces. */

#pragma once

#if !defined(SUTRA_INSIDE) && !defined(SUTRA_COMPILATION)
#error "Include <sutra/sutra.h>, not this header."
#endif

#include <glib.h>
#include <sutra/sutra-item.h>

G_BEGIN_DECLS

/**
 * SutraOutput:
 *
 * The engine's side of one process call. What a stage may push depends on
 * its kind:
 *
 * - source: items made with sutra_item_new_root(), in increasing position.
 *   A push may block while the downstream queues are full (backpressure), so
 *   a source streams however large its input.
 * - map: exactly one item per input item, in input order, with the input's
 *   id and path (sutra_item_new_derived(), or the input itself, reffed).
 * - split: the descendants of each input item (sutra_item_new_child(), at
 *   any depth below the input), in increasing path order. The engine counts
 *   the children of every parent it saw and tells downstream gathers each
 *   group's size: a split says how many by what it pushed. Children go
 *   downstream as they are pushed, so a push may block while the queues
 *   downstream are full, as a source's does, and a split streams however
 *   many children one input has.
 * - gather: one item per group, with the id and path of the group's parent.
 * - sink: nothing.
 *
 * The engine checks these rules and fails the stage with a clear error when
 * a plugin breaks one; a call during which a check of a public function
 * fails (a critical: pushing %NULL, a child of %NULL...) fails too, whatever
 * it returns.
 */
typedef struct _SutraOutput SutraOutput;

/**
 * sutra_output_push:
 * @output: the output of the current process call
 * @item: (transfer full): the item to emit
 *
 * Emits @item.
 */
SUTRA_API void sutra_output_push (SutraOutput *output, SutraItem *item);

/**
 * sutra_output_set_total:
 * @output: the output of a source's process call
 * @n_items: how many items the source will emit in all
 *
 * Tells the progress display the total, where a source knows it in advance.
 */
SUTRA_API void sutra_output_set_total (SutraOutput *output, guint64 n_items);

/**
 * sutra_output_is_cancelled:
 *
 * A long-running process call (a source reading a large file) checks this
 * between items and returns early when it is %TRUE; the engine then stops
 * without reporting an error of the stage's own.
 *
 * Returns: %TRUE when the run is being stopped
 */
SUTRA_API gboolean sutra_output_is_cancelled (SutraOutput *output);

G_END_DECLS
