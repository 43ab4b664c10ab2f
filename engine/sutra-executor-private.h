/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What an executor implementation fills in: the common part every executor
 * starts with, and the table of its functions.
 *
 * An implementation embeds SutraExecutor as the first member of its own
 * struct, fills a static SutraExecutorVTable, and in its constructor calls
 * sutra_executor_init() and then its own create (through
 * sutra_executor_create(), which also frees it on failure):
 *
 *   typedef struct { SutraExecutor parent; GPid child; ... } ProcessExecutor;
 *
 *   static const SutraExecutorVTable process_vtable = {
 *     .create = process_create, .process = process_process,
 *     .finish = process_finish, .sync = process_sync, .free = process_free,
 *   };
 *
 *   SutraExecutor *
 *   sutra_executor_process_new (const SutraExecutorConfig *config,
 *                               gboolean *misused, GError **error)
 *   {
 *     ProcessExecutor *self = g_new0 (ProcessExecutor, 1);
 *
 *     sutra_executor_init (&self->parent, &process_vtable,
 *                          SUTRA_ISOLATION_PROCESS, config);
 *     return sutra_executor_create (&self->parent, misused, error);
 *   }
 *
 * sutra-executor.c dispatches the public functions of sutra-executor.h to
 * the table; callers never see it.
 */

#pragma once

#include "sutra-executor.h"

G_BEGIN_DECLS

typedef struct
{
  /* Makes the plugin's instance (calls the stage's create, if any). Called
   * once by sutra_executor_create(); an executor that replaces its worker
   * (a crashed child) may call it again itself. On failure returns FALSE
   * with @error (the plugin's own message, unprefixed: the caller names
   * the stage) and *@misused set when create broke an API rule (then
   * @error is sutra_executor_misuse_error()'s). */
  gboolean (*create) (SutraExecutor *self, gboolean *misused, GError **error);

  /* The stage's process on @items, pushing onto @output, bracketed by
   * sutra_output_begin_call()/end_call() on @output so that a broken API
   * rule marks it (sutra_output_was_misused()). FALSE with @error when the
   * plugin failed; a plugin that failed without setting an error may leave
   * @error unset (callers name that case themselves, as before). */
  gboolean (*process) (SutraExecutor *self,
                       SutraItem *const *items,
                       guint n_items,
                       SutraOutput *output,
                       GError **error);

  /* The stage's finish, pushing onto @output (bracketed as process).
   * Returns TRUE when the stage has none. */
  gboolean (*finish) (SutraExecutor *self, SutraOutput *output, GError **error);

  /* A streaming gather's calls (SutraStageInfo.gather_begin and the rest),
   * bracketed as process on @output: only gather_end may push. */
  gpointer (*gather_begin) (SutraExecutor *self,
                            SutraItem *first,
                            SutraOutput *output,
                            GError **error);
  gboolean (*gather_add) (SutraExecutor *self,
                          gpointer group,
                          SutraItem *member,
                          SutraOutput *output,
                          GError **error);
  gboolean (*gather_end) (SutraExecutor *self,
                          gpointer group,
                          guint n_members,
                          SutraOutput *output,
                          GError **error);
  void (*gather_abort) (SutraExecutor *self, gpointer group);
  /* The stage's sync (or, for a two-phase sink, its sync_prepare): TRUE
   * with *@state NULL when the stage has none. */
  gboolean (*sync) (SutraExecutor *self, char **state, GError **error);

  /* A two-phase sink's sync_commit, after the journal recorded @state.
   * NULL in an executor that cannot carry it (validation keeps such sinks
   * out of it). */
  void (*sync_commit) (SutraExecutor *self, const char *state);

  /* Destroys the instance (if it was made) and frees @self, whatever
   * create did: it is also called on a create that failed. */
  void (*free) (SutraExecutor *self);
} SutraExecutorVTable;

struct _SutraExecutor
{
  const SutraExecutorVTable *vtable;
  SutraIsolation isolation;
  /* A copy of what the executor was made with: its pointers are borrowed
   * (see SutraExecutorConfig). config.context is the context the plugin's
   * create gets, and so lives as long as the instance. */
  SutraExecutorConfig config;
};

/* Sets up the common part of a new executor. */
void sutra_executor_init (SutraExecutor *self,
                          const SutraExecutorVTable *vtable,
                          SutraIsolation isolation,
                          const SutraExecutorConfig *config);

/* Calls @self's create; on failure frees @self and returns NULL.
 * Returns: (transfer full) (nullable): @self. */
SutraExecutor *sutra_executor_create (SutraExecutor *self, gboolean *misused, GError **error);

/* The error of a call during which the plugin broke an API rule (@output
 * was marked): names the stage, the plugin, the function and the rule.
 * Every executor and caller reports misuse with it, so the message is the
 * same whoever noticed. */
GError *sutra_executor_misuse_error (const char *stage_name,
                                     const char *plugin_name,
                                     const SutraOutput *output);

/* The thread executor (sutra-executor-thread.c): the plugin runs in this
 * process, on the calling thread. */
SutraExecutor *sutra_executor_thread_new (const SutraExecutorConfig *config,
                                          gboolean *misused,
                                          GError **error);

G_END_DECLS
