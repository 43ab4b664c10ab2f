/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraIsolation: where a stage's workers run, a setting of the pipeline
 * (sutra-pipeline.h) that chooses the executor (sutra-executor.h). A header
 * of its own because the two cannot include each other. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SUTRA_ISOLATION_THREAD = 0, /* the default: workers are threads of sutra */
  SUTRA_ISOLATION_PROCESS,    /* workers are child processes of sutra */
} SutraIsolation;

G_END_DECLS
