/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A split's way through its inputs, counted for the progress display. */

#pragma once

#include "sutra-item-private.h"
#include "sutra-run.h"

G_BEGIN_DECLS

/*
 * The counters are atomics: workers update them, the display reads them.
 * A batch of a split goes: start (its inputs are in flight), a push per
 * child (in flight too), unpush when a call returns (its pushes leave the
 * flight: a retry pushes them again), done (inputs and children are done).
 * A batch taken from the store goes straight to done.
 */

/* Data items of @items (markers skipped) and their payload bytes. */
void sutra_split_counters_measure (GPtrArray *items, guint64 *n_items, guint64 *n_bytes);

/* @inputs (data items) are handed to the plugin. */
void sutra_split_counters_start (SutraSplitCounters *counters, GPtrArray *inputs);

/* The plugin pushed @child; adds its payload bytes to *@call_bytes (the
 * call's share, for sutra_split_counters_unpush()). */
void sutra_split_counters_push (SutraSplitCounters *counters,
                                SutraItem *child,
                                guint64 *call_bytes);

/* A call that pushed @n_pushed children of @n_bytes returned. */
void sutra_split_counters_unpush (SutraSplitCounters *counters, guint64 n_pushed, guint64 n_bytes);

/* @inputs are done, with @n_children children of @children_bytes (0 for
 * inputs that failed). @started: they went through
 * sutra_split_counters_start() (not taken from the store). */
void sutra_split_counters_done (SutraSplitCounters *counters,
                                GPtrArray *inputs,
                                guint64 n_children,
                                guint64 children_bytes,
                                gboolean started);

/* A consistent-enough copy for the display: each field read atomically. */
void sutra_split_counters_get (SutraSplitCounters *counters, SutraSplitCounters *copy);

G_END_DECLS
