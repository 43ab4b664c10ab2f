/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The process executor: a worker that is a child process of sutra
 * (`isolation: "process"`), running the sutra-worker program. */

#pragma once

#include "sutra-executor.h"

G_BEGIN_DECLS

/* Starts a worker process for @config's stage and has it create the
 * instance. Returns NULL with @error when the process cannot be started
 * (SUTRA_EXECUTOR_ERROR_START) or the stage's create failed (the plugin's
 * own error, domain and code kept); *@misused (nullable) says whether
 * create broke an API rule. @config is borrowed, as for
 * sutra_executor_new(). */
SutraExecutor *sutra_executor_process_new (const SutraExecutorConfig *config,
                                           gboolean *misused,
                                           GError **error);

/* The sutra-worker program this sutra starts: $SUTRA_WORKER when set (for
 * tests), the build tree's when the running program is in the build tree,
 * the installed one (in libexecdir) otherwise. */
const char *sutra_executor_process_get_worker_path (void);

/* The pid of the executor's current worker process, or 0 when it has none
 * (before the first call after a crash). For tests. */
GPid sutra_executor_process_get_pid (SutraExecutor *executor);

G_END_DECLS
