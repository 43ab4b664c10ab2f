/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workers: one plugin instance each (its executor), on its device; and a
 * stage's workers: making them, the worker loop, the last worker out. */

#pragma once

#include "sutra-executor.h"
#include "sutra-run-private.h"

G_BEGIN_DECLS

/* One worker of a stage: a plugin instance behind its executor. A shared
 * stage's thread-pool workers share one worker per device; a per-worker
 * stage has one per thread. */
typedef struct
{
  guint index;             /* 0 .. the stage's instances - 1 */
  char *device;            /* "cpu" or "cuda:N" */
  int device_index;        /* the GPU's index, or -1 for the CPU */
  SutraExecutor *executor; /* its plugin instance */
  guint64 n_items;         /* items its calls computed (atomic: COUNTER_ADD) */
} SutraWorker;

/* How many instances a stage makes: one per worker for a per-worker stage;
 * otherwise one per device (at most one per worker), and at least one. */
guint sutra_worker_count_instances (SutraThreading threading, guint n_workers, guint n_devices);

/* The device of instance @index: round-robin over @devices (NULL-terminated;
 * NULL or empty: "cpu"). Returns: (transfer none). */
const char *sutra_worker_assign_device (char *const *devices, guint index);

/* Makes instance @index on its device (sutra_worker_assign_device()), with
 * @config (copied; its context's worker index and device are filled in
 * here). On failure returns NULL with @error, *@misused set when create
 * broke an API rule. Returns: (transfer full) (nullable). */
SutraWorker *sutra_worker_new (guint index,
                               char *const *devices,
                               SutraIsolation isolation,
                               const SutraExecutorConfig *config,
                               gboolean *misused,
                               GError **error);
/* sutra_worker_new() on @device ("cpu" or "cuda:N"), whatever the
 * round-robin would give: for device_fallback. Returns: (transfer full)
 * (nullable). */
SutraWorker *sutra_worker_new_on_device (guint index,
                                         const char *device,
                                         SutraIsolation isolation,
                                         const SutraExecutorConfig *config,
                                         gboolean *misused,
                                         GError **error);
void sutra_worker_free (SutraWorker *worker);

/* The context the worker's instance was made with. Returns: (transfer none). */
const SutraStageContext *sutra_worker_get_context (SutraWorker *worker);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraWorker, sutra_worker_free)

/* Makes @stage's workers (stage->workers.list). With device_fallback, an
 * instance that cannot be made on its GPU is made on the CPU, and the run
 * says so (a "device-fallback" event and a warning on standard error), as
 * it does for the GPUs validation found missing. */
gboolean sutra_worker_create_instances (StageRuntime *stage, GError **error);

/* What @stage's instances computed, per device, in the order the devices
 * were first assigned: a JSON object such as {"cuda:0": 600, "cuda:1": 400}.
 * Returns: (transfer full) (nullable): NULL for a stage that was given no
 * devices (it ran on the CPU, as every stage does by default) or made no
 * instances. */
JsonObject *sutra_worker_dup_device_counts (StageRuntime *stage);

/* @counts (from sutra_worker_dup_device_counts()) as text: "cuda:0 600,
 * cuda:1 400". Returns: (transfer full). */
char *sutra_worker_format_device_counts (JsonObject *counts);

/* A stage's thread pool function: @data is the worker's index + 1, and
 * @user_data the StageRuntime. */
void sutra_worker_main (gpointer data, gpointer user_data);

G_END_DECLS
