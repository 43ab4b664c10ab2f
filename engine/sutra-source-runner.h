/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sources: a source's one call, its pushes checked and sent in chunks. */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

void sutra_source_runner_run (StageRuntime *stage, SutraExecutor *executor);

G_END_DECLS
