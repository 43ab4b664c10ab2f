/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraExecutor: the one seam through which the engine calls a plugin.
 *
 * Every call into a stage's function table (create, process, finish, sync,
 * destroy, and whatever later ABI minors add) goes through an executor, one
 * per worker. The thread executor calls the plugin in this process, on the
 * calling thread. The process executor runs the plugin in a child process
 * of sutra and exchanges framed messages with it over pipes; the child
 * pushes what the plugin pushes, and the parent replays each push onto the
 * caller's SutraOutput, so callers cannot tell the two apart except by the
 * failures only a child can have (a crash, a timeout).
 *
 * Contract for callers (the scheduler, the harness):
 *   - A failed call returns FALSE with @error set. When the plugin broke an
 *     API rule during the call, sutra_output_was_misused (output) is TRUE
 *     afterwards, exactly as for a thread call (the process executor marks
 *     the parent's output with the rule the child reported).
 *   - SUTRA_EXECUTOR_ERROR_CRASHED / _TIMED_OUT fail only the call's items;
 *     the executor replaces its child before the next call, so callers just
 *     go on (retrying item by item as they do for any failed batch).
 *   - One call at a time per executor; different executors are independent.
 */

#pragma once

#include "sutra-isolation.h"
#include "sutra-output-private.h"

#include <json-glib/json-glib.h>
#include <sutra/sutra.h>

G_BEGIN_DECLS

#define SUTRA_EXECUTOR_ERROR (sutra_executor_error_quark ())
GQuark sutra_executor_error_quark (void);

typedef enum
{
  SUTRA_EXECUTOR_ERROR_CRASHED,   /* the worker process died (signal, abort, exit) */
  SUTRA_EXECUTOR_ERROR_TIMED_OUT, /* a call ran past the stage's timeout_ms */
  SUTRA_EXECUTOR_ERROR_PROTOCOL,  /* a malformed frame from the worker process */
  SUTRA_EXECUTOR_ERROR_START,     /* the worker process could not be started */
} SutraExecutorError;

/* What an executor needs to make (and, for a child, to remake) one worker's
 * plugin instance. Everything is borrowed and must outlive the executor. */
typedef struct
{
  const SutraStageInfo *info;  /* the stage, in the registry's layout */
  const char *plugin_path;     /* the module file (a child loads it itself) */
  const char *plugin_name;     /* as the pipeline names it, for messages */
  JsonObject *resolved_params; /* every parameter (a child fills its own settings) */
  gconstpointer settings;      /* the filled settings struct (thread executor) */
  SutraStageContext context;   /* worker index, device, work dir, resume state */
  guint timeout_ms;            /* per call, 0: none (the process executor only) */
  const gint *cancelled;       /* the run's abandon flag, or NULL */
} SutraExecutorConfig;

typedef struct _SutraExecutor SutraExecutor;

/* Makes the worker's instance (calls the stage's create, in this process or
 * in a new child). On failure returns NULL with @error, and *@misused (when
 * non-NULL) says whether create broke an API rule. */
SutraExecutor *sutra_executor_new (SutraIsolation isolation,
                                   const SutraExecutorConfig *config,
                                   gboolean *misused,
                                   GError **error);

/* The stage's process on @items, pushing onto @output. */
gboolean sutra_executor_process (SutraExecutor *executor,
                                 SutraItem *const *items,
                                 guint n_items,
                                 SutraOutput *output,
                                 GError **error);

/* The stage's finish (TRUE when it has none). */
gboolean sutra_executor_finish (SutraExecutor *executor, SutraOutput *output, GError **error);
/* A streaming gather's group, driven by one worker from begin to end or
 * abort (SutraStageInfo.gather_begin and the rest): begin returns the
 * group's state, or NULL with @error; end and abort free it. Each call is
 * bracketed on @output as process is. */
gpointer sutra_executor_gather_begin (SutraExecutor *executor,
                                      SutraItem *first,
                                      SutraOutput *output,
                                      GError **error);
gboolean sutra_executor_gather_add (SutraExecutor *executor,
                                    gpointer group,
                                    SutraItem *member,
                                    SutraOutput *output,
                                    GError **error);
gboolean sutra_executor_gather_end (SutraExecutor *executor,
                                    gpointer group,
                                    guint n_members,
                                    SutraOutput *output,
                                    GError **error);
void sutra_executor_gather_abort (SutraExecutor *executor, gpointer group);

/* The stage's sync (TRUE with *@state NULL when it has none). */
gboolean sutra_executor_sync (SutraExecutor *executor, char **state, GError **error);

/* A two-phase sink's sync_commit, once the journal recorded @state (nothing
 * for a stage without one). */
void sutra_executor_sync_commit (SutraExecutor *executor, const char *state);

/* Destroys the instance (and ends the child, waiting for it). */
void sutra_executor_free (SutraExecutor *executor);

SutraIsolation sutra_executor_get_isolation (SutraExecutor *executor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraExecutor, sutra_executor_free)

G_END_DECLS
