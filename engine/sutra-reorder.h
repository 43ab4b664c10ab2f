/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reorder window: finished batches leave a stage in their order. */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

gboolean sutra_reorder_wait_for_room (StageRuntime *stage);
void sutra_reorder_deposit (StageRuntime *stage, guint64 seq, GPtrArray *outputs, gboolean flusher);
void sutra_reorder_release_flush (StageRuntime *stage);

G_END_DECLS
