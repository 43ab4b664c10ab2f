/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Splits: a split's children stream downstream while the plugin makes them. */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

GPtrArray *sutra_split_runner_run (StageRuntime *stage,
                                   SutraExecutor *executor,
                                   Batch *batch,
                                   gboolean *flusher,
                                   GError **error);

G_END_DECLS
