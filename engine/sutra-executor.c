/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STAND-IN until h/split's engine/sutra-executor.c lands: the dispatch and
 * a plain thread executor, so that the process executor can be tested
 * against the seam. Replaced by h/split's file at merge. */

#include "sutra-executor-private.h"
#include "sutra-executor-process.h"

G_DEFINE_QUARK (sutra - executor - error - quark, sutra_executor_error)

typedef struct
{
  SutraExecutor parent;
  const SutraStageInfo *info;
  gpointer instance;
} ThreadExecutor;

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
  ok = self->info->process (self->instance, items, n_items, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_finish (SutraExecutor *executor, SutraOutput *output, GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;
  gboolean ok;

  if (self->info->finish == NULL)
    return TRUE;
  sutra_output_begin_call (output);
  ok = self->info->finish (self->instance, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_sync (SutraExecutor *executor, char **state, GError **error)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;

  *state = NULL;
  return self->info->sync == NULL || self->info->sync (self->instance, state, error);
}

static void
thread_free (SutraExecutor *executor)
{
  ThreadExecutor *self = (ThreadExecutor *) executor;

  if (self->instance != NULL && self->info->destroy != NULL)
    self->info->destroy (self->instance);
  g_free (self);
}

static const SutraExecutorVTable thread_vtable = {
  thread_process,
  thread_finish,
  thread_sync,
  thread_free,
};

SutraExecutor *
sutra_executor_new (SutraIsolation isolation,
                    const SutraExecutorConfig *config,
                    gboolean *misused,
                    GError **error)
{
  ThreadExecutor *self;

  if (isolation == SUTRA_ISOLATION_PROCESS)
    return sutra_executor_process_new (config, misused, error);
  if (misused != NULL)
    *misused = FALSE;
  self = g_new0 (ThreadExecutor, 1);
  self->parent.vtable = &thread_vtable;
  self->parent.isolation = SUTRA_ISOLATION_THREAD;
  self->info = config->info;
  if (config->info->create != NULL)
    {
      self->instance = config->info->create (&config->context, config->settings, error);
      if (self->instance == NULL)
        {
          g_free (self);
          return NULL;
        }
    }
  return &self->parent;
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
