/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Intake: a stage's workers take batches from its merged input streams. */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

gboolean sutra_intake_take_batch (StageRuntime *stage, SutraExecutor *executor, Batch *batch);
/* Empties @batch for the next one, keeping its arrays (a streaming gather's
 * open group is aborted). */
void sutra_intake_clear_batch (StageRuntime *stage, Batch *batch);
/* Empties @batch and frees its arrays: when the worker is done. */
void sutra_intake_free_batch (StageRuntime *stage, Batch *batch);

G_END_DECLS
