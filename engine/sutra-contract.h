/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Contract checks and the errors that name the stage, the plugin and the
 * rule a call broke. */

#pragma once

#include "sutra-output-private.h"
#include "sutra-run-private.h"

G_BEGIN_DECLS

GError *sutra_contract_misuse_error (StageRuntime *stage, const SutraOutput *output);
GError *sutra_contract_error (StageRuntime *stage, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Reports a plugin's failure as the run's: SUTRA_RUN_ERROR_STAGE_FAILED with
 * the stage and item in front of the plugin's own message (errors the
 * engine made itself keep their code). Takes @cause. */
void sutra_contract_propagate_failure (GError **error, GError *cause, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

void sutra_contract_per_item_free (GPtrArray *per_item);
GPtrArray *sutra_contract_attribute_outputs (StageRuntime *stage,
                                             Batch *batch,
                                             GPtrArray *outputs,
                                             GError **error);

G_END_DECLS
