/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STAND-IN until h/split's engine/sutra-executor.c (and
 * sutra-executor-thread.c) land: the dispatch of sutra-executor.h to the
 * table of sutra-executor-private.h and a plain thread executor, so that
 * the process executor can be built and tested against the seam. Take
 * h/split's files at merge and drop this one. */

#include "sutra-executor-private.h"
#include "sutra-executor-process.h"

G_DEFINE_QUARK (sutra - executor - error - quark, sutra_executor_error)

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
  gboolean local_misused = FALSE;

  if (!self->vtable->create (self, &local_misused, error))
    {
      if (misused != NULL)
        *misused = local_misused;
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

typedef struct
{
  SutraExecutor parent;
  gpointer instance;
} ThreadExecutor;

static gboolean
thread_create (SutraExecutor *executor, gboolean *misused, GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;
  const SutraStageInfo *info = executor->config.info;

  *misused = FALSE;
  if (info->create == NULL)
    return TRUE;
  self->instance = info->create (&executor->config.context, executor->config.settings, error);
  return self->instance != NULL;
}

static gboolean
thread_process (SutraExecutor *executor,
                SutraItem *const *items,
                guint n_items,
                SutraOutput *output,
                GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;
  gboolean ok;

  sutra_output_begin_call (output);
  ok = executor->config.info->process (self->instance, items, n_items, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_finish (SutraExecutor *executor, SutraOutput *output, GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;
  gboolean ok;

  if (executor->config.info->finish == NULL)
    return TRUE;
  sutra_output_begin_call (output);
  ok = executor->config.info->finish (self->instance, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_sync (SutraExecutor *executor, char **state, GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;

  *state = NULL;
  return executor->config.info->sync == NULL ||
         executor->config.info->sync (self->instance, state, error);
}

static void
thread_free (SutraExecutor *executor)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;

  if (self->instance != NULL && executor->config.info->destroy != NULL)
    executor->config.info->destroy (self->instance);
  g_free (self);
}

static const SutraExecutorVTable thread_vtable = {
  .create = thread_create,
  .process = thread_process,
  .finish = thread_finish,
  .sync = thread_sync,
  .free = thread_free,
};

SutraExecutor *
sutra_executor_thread_new (const SutraExecutorConfig *config, gboolean *misused, GError **error)
{
  ThreadExecutor *self = g_new0 (ThreadExecutor, 1);

  sutra_executor_init (&self->parent, &thread_vtable, SUTRA_ISOLATION_THREAD, config);
  return sutra_executor_create (&self->parent, misused, error);
}

SutraExecutor *
sutra_executor_new (SutraIsolation isolation,
                    const SutraExecutorConfig *config,
                    gboolean *misused,
                    GError **error)
{
  if (isolation == SUTRA_ISOLATION_PROCESS)
    return sutra_executor_process_new (config, misused, error);
  return sutra_executor_thread_new (config, misused, error);
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

gboolean
sutra_executor_sync (SutraExecutor *executor, char **state, GError **error)
{
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
