/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The thread executor: the plugin runs in this process, on the calling
 * thread; each call is bracketed so that a broken API rule marks its
 * output. The only file that calls into a plugin's function table. */

#include "sutra-executor-private.h"

#include "sutra-run.h"

typedef struct
{
  SutraExecutor parent;
  gpointer instance;
  gboolean created; /* create succeeded: destroy sees only created state */
} ThreadExecutor;

static gboolean
thread_create (SutraExecutor *self, gboolean *misused, GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  const SutraStageInfo *info = self->config.info;
  g_autoptr (GError) local = NULL;
  SutraOutput calls;

  *misused = FALSE;
  if (info->create == NULL)
    {
      thread->created = TRUE;
      return TRUE;
    }
  /* No output to push to, but a check that fails in create fails it. */
  sutra_output_init_stream (&calls, NULL, NULL, NULL);
  sutra_output_begin_call (&calls);
  thread->instance = info->create (&self->config.context, self->config.settings, &local);
  sutra_output_end_call (&calls);
  if (sutra_output_was_misused (&calls))
    {
      if (thread->instance != NULL && info->destroy != NULL)
        info->destroy (thread->instance);
      thread->instance = NULL;
      *misused = TRUE;
      g_propagate_error (error, sutra_executor_misuse_error (self->config.context.stage_name,
                                                             self->config.plugin_name, &calls));
      return FALSE;
    }
  if (thread->instance == NULL)
    {
      if (local == NULL)
        g_set_error (&local, SUTRA_RUN_ERROR, SUTRA_RUN_ERROR_CREATE_FAILED,
                     "the plugin could not start and did not say why");
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  thread->created = TRUE;
  return TRUE;
}

static gboolean
thread_process (SutraExecutor *self,
                SutraItem *const *items,
                guint n_items,
                SutraOutput *output,
                GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  gboolean ok;

  sutra_output_begin_call (output);
  ok = self->config.info->process (thread->instance, items, n_items, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_finish (SutraExecutor *self, SutraOutput *output, GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  gboolean ok;

  if (self->config.info->finish == NULL)
    return TRUE;
  sutra_output_begin_call (output);
  ok = self->config.info->finish (thread->instance, output, error);
  sutra_output_end_call (output);
  return ok;
}

static gpointer
thread_gather_begin (SutraExecutor *self, SutraItem *first, SutraOutput *output, GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  gpointer group;

  sutra_output_begin_call (output);
  group = self->config.info->gather_begin (thread->instance, first, error);
  sutra_output_end_call (output);
  return group;
}

static gboolean
thread_gather_add (SutraExecutor *self,
                   gpointer group,
                   SutraItem *member,
                   SutraOutput *output,
                   GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  gboolean ok;

  sutra_output_begin_call (output);
  ok = self->config.info->gather_add (thread->instance, group, member, error);
  sutra_output_end_call (output);
  return ok;
}

static gboolean
thread_gather_end (SutraExecutor *self,
                   gpointer group,
                   guint n_members,
                   SutraOutput *output,
                   GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;
  gboolean ok;

  sutra_output_begin_call (output);
  ok = self->config.info->gather_end (thread->instance, group, n_members, output, error);
  sutra_output_end_call (output);
  return ok;
}

static void
thread_gather_abort (SutraExecutor *self, gpointer group)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;

  self->config.info->gather_abort (thread->instance, group);
}

static gboolean
thread_sync (SutraExecutor *self, char **state, GError **error)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;

  if (self->config.info->sync_prepare != NULL)
    return self->config.info->sync_prepare (thread->instance, state, error);
  if (self->config.info->sync == NULL)
    return TRUE;
  return self->config.info->sync (thread->instance, state, error);
}

static void
thread_sync_commit (SutraExecutor *self, const char *state)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;

  if (self->config.info->sync_commit != NULL)
    self->config.info->sync_commit (thread->instance, state);
}

static void
thread_free (SutraExecutor *self)
{
  ThreadExecutor *thread = (ThreadExecutor *) self;

  if (thread->created && thread->instance != NULL && self->config.info->destroy != NULL)
    self->config.info->destroy (thread->instance);
  g_free (thread);
}

static const SutraExecutorVTable thread_vtable = {
  .create = thread_create,
  .process = thread_process,
  .finish = thread_finish,
  .gather_begin = thread_gather_begin,
  .gather_add = thread_gather_add,
  .gather_end = thread_gather_end,
  .gather_abort = thread_gather_abort,
  .sync = thread_sync,
  .sync_commit = thread_sync_commit,
  .free = thread_free,
};

SutraExecutor *
sutra_executor_thread_new (const SutraExecutorConfig *config, gboolean *misused, GError **error)
{
  ThreadExecutor *self = g_new0 (ThreadExecutor, 1);

  sutra_executor_init (&self->parent, &thread_vtable, SUTRA_ISOLATION_THREAD, config);
  return sutra_executor_create (&self->parent, misused, error);
}
