/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One batch through a stage (or through the store when done before). */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

GPtrArray *sutra_batch_runner_run (StageRuntime *stage,
                                   SutraExecutor *executor,
                                   Batch *batch,
                                   gboolean *flusher,
                                   GError **error);

G_END_DECLS
