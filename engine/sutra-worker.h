/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stage's workers: their plugin instances and the worker loop. */

#pragma once

#include "sutra-run-private.h"

G_BEGIN_DECLS

gboolean sutra_worker_create_instances (StageRuntime *stage, GError **error);

/* A stage's thread pool function: @data is the worker's index + 1, and
 * @user_data the StageRuntime. */
void sutra_worker_main (gpointer data, gpointer user_data);

G_END_DECLS
