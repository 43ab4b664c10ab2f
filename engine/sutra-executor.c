/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraExecutor: dispatch to the executor a worker was made with. */

#include "sutra-executor-private.h"
#include "sutra-executor-process.h"

#include "sutra-run.h"

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-executor-error-quark, sutra_executor_error)
/* clang-format on */

void
sutra_executor_init (SutraExecutor *self,
                     const SutraExecutorVTable *vtable,
                     SutraIsolation isolation,
                     const SutraExecutorConfig *config)
{
  self->vtable = vtable;
  self->isolation = isolation;
  self->config = *config;
}

SutraExecutor *
sutra_executor_create (SutraExecutor *self, gboolean *misused, GError **error)
{
  gboolean create_misused = FALSE;

  if (!self->vtable->create (self, &create_misused, error))
    {
      if (misused != NULL)
        *misused = create_misused;
      self->vtable->free (self);
      return NULL;
    }
  if (misused != NULL)
    *misused = FALSE;
  return self;
}

GError *
sutra_executor_misuse_error (const char *stage_name,
                             const char *plugin_name,
                             const SutraOutput *output)
{
  g_autofree char *more = NULL;

  if (output->n_misuses > 1)
    more = g_strdup_printf (" (and %u more checks after it)", output->n_misuses - 1);
  return g_error_new (SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CONTRACT,
                      "stage “%s” (plugin “%s”) misused the plugin API: it called %s() and "
                      "failed its check “%s”%s, so what the call made cannot be trusted (an "
                      "item may be missing); fix the plugin",
                      stage_name, plugin_name, output->misused_function, output->misused_rule,
                      more != NULL ? more : "");
}

SutraExecutor *
sutra_executor_new (SutraIsolation isolation,
                    const SutraExecutorConfig *config,
                    gboolean *misused,
                    GError **error)
{
  if (misused != NULL)
    *misused = FALSE;
  switch (isolation)
    {
    case SUTRA_ISOLATION_THREAD:
      return sutra_executor_thread_new (config, misused, error);
    case SUTRA_ISOLATION_PROCESS:
      return sutra_executor_process_new (config, misused, error);
    default:
      break;
    }
  g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
               "unknown isolation %d: expected \"thread\" or \"process\"", (int) isolation);
  return NULL;
}

gboolean
sutra_executor_process (SutraExecutor *executor,
                        SutraItem *const *items,
                        guint n_items,
                        SutraOutput *output,
                        GError **error)
{
  return executor->vtable->process (executor, items, n_items, output, error);
}

gboolean
sutra_executor_finish (SutraExecutor *executor, SutraOutput *output, GError **error)
{
  return executor->vtable->finish (executor, output, error);
}

/* Validation keeps streaming gathers out of executors that cannot carry
 * them; this guards the API (the harness, tests). */
static gboolean
check_gather (SutraExecutor *executor, GError **error)
{
  if (executor->vtable->gather_begin != NULL)
    return TRUE;
  g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
               "a streaming gather cannot run in a worker process yet: use \"isolation\": "
               "\"thread\" for this stage");
  return FALSE;
}

gpointer
sutra_executor_gather_begin (SutraExecutor *executor,
                             SutraItem *first,
                             SutraOutput *output,
                             GError **error)
{
  if (!check_gather (executor, error))
    return NULL;
  return executor->vtable->gather_begin (executor, first, output, error);
}

gboolean
sutra_executor_gather_add (SutraExecutor *executor,
                           gpointer group,
                           SutraItem *member,
                           SutraOutput *output,
                           GError **error)
{
  if (!check_gather (executor, error))
    return FALSE;
  return executor->vtable->gather_add (executor, group, member, output, error);
}

gboolean
sutra_executor_gather_end (SutraExecutor *executor,
                           gpointer group,
                           guint n_members,
                           SutraOutput *output,
                           GError **error)
{
  if (!check_gather (executor, error))
    return FALSE;
  return executor->vtable->gather_end (executor, group, n_members, output, error);
}

void
sutra_executor_gather_abort (SutraExecutor *executor, gpointer group)
{
  if (executor->vtable->gather_abort != NULL)
    executor->vtable->gather_abort (executor, group);
}

gboolean
sutra_executor_sync (SutraExecutor *executor, char **state, GError **error)
{
  *state = NULL;
  return executor->vtable->sync (executor, state, error);
}

void
sutra_executor_free (SutraExecutor *executor)
{
  if (executor != NULL)
    executor->vtable->free (executor);
}

SutraIsolation
sutra_executor_get_isolation (SutraExecutor *executor)
{
  return executor->isolation;
}

void
sutra_executor_sync_commit (SutraExecutor *executor, const char *state)
{
  if (executor->vtable->sync_commit != NULL)
    executor->vtable->sync_commit (executor, state);
}
