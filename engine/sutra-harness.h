/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraHarness: one stage instance driven by hand, for tests of plugins. */

#pragma once

#include "sutra-registry.h"

G_BEGIN_DECLS

/*
 * The harness runs a loaded stage synchronously, without a pipeline: it
 * checks the parameters against the stage's table exactly as validation
 * does, creates one instance, and hands it batches. Plugin tests use it to
 * reach a plugin through the real loader and the real settings code.
 */
typedef struct _SutraHarness SutraHarness;

/* @params_json: the stage's `params` object as JSON text, or NULL. */
SutraHarness *sutra_harness_new (SutraRegistry *registry,
                                 const char *stage_name,
                                 const char *params_json,
                                 GError **error);
void sutra_harness_free (SutraHarness *harness);

/* Processes one batch. Returns: (transfer full): what the stage pushed, or
 * NULL with @error set. A source ignores @items; a streaming gather takes
 * them as one group, member by member. */
GPtrArray *sutra_harness_process (SutraHarness *harness,
                                  SutraItem *const *items,
                                  guint n_items,
                                  GError **error);

/* Calls the stage's finish function (sinks close their files). */
gboolean sutra_harness_finish (SutraHarness *harness, GError **error);

/* Makes the next process call see a cancelled run. */
void sutra_harness_cancel (SutraHarness *harness);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraHarness, sutra_harness_free)

G_END_DECLS
