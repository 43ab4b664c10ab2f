/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The process executor: one child process (sutra-worker) per worker, spoken
 * to in frames over a socket, replaced when it crashes or hangs. */

#include "sutra-executor-process.h"

#include "sutra-executor-private.h"
#include "sutra-frame.h"
#include "sutra-item-private.h"
#include "sutra-record.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long a worker may take to end after its channel closed (it destroys
 * its instance first) before it is killed; shorter when the run is being
 * abandoned, since then nobody waits for what destroy would save. */
#define EXIT_GRACE_US (10 * G_USEC_PER_SEC)
#define EXIT_GRACE_CANCELLED_US (1 * G_USEC_PER_SEC)

/* How long a call may go on after the run was cancelled and the worker
 * told so, before the worker is killed. */
#define CANCEL_GRACE_US (5 * G_USEC_PER_SEC)

/* The descriptors the worker finds its channel and lifeline on. */
#define CHILD_CHANNEL_FD 3
#define CHILD_LIFELINE_FD 4

typedef struct
{
  SutraExecutor parent; /* parent.config: what it was made with */
  GPid pid;             /* 0: no worker (not started yet, or lost) */
  int channel;          /* our end of the frames socket */
  int lifeline;         /* our end of the lifeline: its closing ends the worker */
  SutraFrameReader *reader;
  char *cuda_devices;     /* the worker's CUDA_VISIBLE_DEVICES, or NULL */
  gint64 cancelled_at_us; /* when this call saw the run cancelled, or 0 */
} ProcessExecutor;

const char *
sutra_executor_process_get_worker_path (void)
{
  static char *path;

  if (g_once_init_enter (&path))
    {
      const char *env = g_getenv ("SUTRA_WORKER");
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
      char *chosen;

      /* As for the built-in plugins (sutra-registry.c): a sutra run from
       * the build tree starts the worker built beside it. */
      if (env != NULL && env[0] != '\0')
        chosen = g_strdup (env);
      else if (exe != NULL && g_str_has_prefix (exe, SUTRA_BUILD_ROOT "/"))
        chosen = g_strdup (SUTRA_BUILD_ROOT "/engine/sutra-worker");
      else
        chosen = g_strdup (SUTRA_WORKER_INSTALL_PATH);
      g_once_init_leave (&path, chosen);
    }
  return path;
}

/* ---- Spawning.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that made the child ends, not
 * the process: a worker thread of a pool that comes and goes would take
 * its children with it. So every child is started by one thread that
 * lives as long as sutra, and the lifeline covers the rest. */

typedef struct
{
  char **argv;
  char **envp;
  int fds[2];
  GPid pid;
  GError *error;
  gboolean done;
} SpawnRequest;

static GMutex spawn_lock;
static GCond spawn_cond;
static GQueue spawn_queue = G_QUEUE_INIT;
static GThread *spawn_thread;

/* Runs in the child between fork and exec: only async-signal-safe calls. */
static void
child_setup (gpointer user_data)
{
  struct sigaction ignore = { 0 };

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  /* Ctrl-C goes to the whole process group; sutra decides for its
   * workers. An ignored signal stays ignored across exec. */
  ignore.sa_handler = SIG_IGN;
  sigaction (SIGINT, &ignore, NULL);
}

static gpointer
spawn_thread_main (gpointer data)
{
  for (;;)
    {
      SpawnRequest *request;
      const gint target_fds[2] = { CHILD_CHANNEL_FD, CHILD_LIFELINE_FD };

      g_mutex_lock (&spawn_lock);
      while ((request = g_queue_pop_head (&spawn_queue)) == NULL)
        g_cond_wait (&spawn_cond, &spawn_lock);
      g_mutex_unlock (&spawn_lock);

      /* The worker's standard output goes to our standard error: a plugin
       * that prints must not write into sutra's own output (a sink may be
       * writing to standard output). */
      g_spawn_async_with_pipes_and_fds (NULL, (const char *const *) request->argv,
                                        (const char *const *) request->envp,
                                        G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, -1,
                                        STDERR_FILENO, -1, request->fds, target_fds, 2,
                                        &request->pid, NULL, NULL, NULL, &request->error);
      g_mutex_lock (&spawn_lock);
      request->done = TRUE;
      g_cond_broadcast (&spawn_cond);
      g_mutex_unlock (&spawn_lock);
    }
  return NULL;
}

static GPid
spawn_worker (char **argv, char **envp, int channel, int lifeline, GError **error)
{
  SpawnRequest request = { argv, envp, { channel, lifeline }, 0, NULL, FALSE };

  g_mutex_lock (&spawn_lock);
  if (spawn_thread == NULL)
    spawn_thread = g_thread_new ("sutra-spawner", spawn_thread_main, NULL);
  g_queue_push_tail (&spawn_queue, &request);
  g_cond_broadcast (&spawn_cond);
  while (!request.done)
    g_cond_wait (&spawn_cond, &spawn_lock);
  g_mutex_unlock (&spawn_lock);
  if (request.error != NULL)
    {
      g_propagate_error (error, request.error);
      return 0;
    }
  return request.pid;
}

/* ---- Describing a worker and what it was doing, for messages. */

static char *
describe_worker (ProcessExecutor *self, GPid pid)
{
  const SutraExecutorConfig *config = &self->parent.config;

  return g_strdup_printf ("worker process %u (pid %d) of stage “%s”", config->context.worker_index,
                          (int) pid,
                          config->context.stage_name != NULL ? config->context.stage_name
                                                             : config->info->name);
}

static char *
describe_status (int status)
{
  if (WIFSIGNALED (status))
    return g_strdup_printf ("was killed by signal %d (%s)%s", WTERMSIG (status),
                            g_strsignal (WTERMSIG (status)),
                            WCOREDUMP (status) ? ", core dumped" : "");
  if (WIFEXITED (status))
    return g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
  return g_strdup_printf ("ended with wait status %d", status);
}

/* ---- The worker's life. */

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    {
      close (*fd);
      *fd = -1;
    }
}

/* Waits for the worker to end by itself until @grace_us has passed, then
 * kills it, and reaps it either way. Returns its wait status. */
static int
reap_worker (GPid pid, gint64 grace_us)
{
  gint64 give_up = g_get_monotonic_time () + grace_us;
  int status = 0;

  for (;;)
    {
      pid_t done = waitpid (pid, &status, WNOHANG);

      if (done == pid || (done < 0 && errno != EINTR))
        return status;
      if (g_get_monotonic_time () >= give_up)
        break;
      g_usleep (2000);
    }
  kill (pid, SIGKILL);
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  return status;
}

/* Ends the worker now (a crash, a hang, a protocol error): no grace.
 * Returns its wait status. */
static int
kill_worker (ProcessExecutor *self)
{
  int status;

  close_fd (&self->channel);
  close_fd (&self->lifeline);
  kill (self->pid, SIGKILL);
  while (waitpid (self->pid, &status, 0) < 0 && errno == EINTR)
    ;
  self->pid = 0;
  g_clear_pointer (&self->reader, sutra_frame_reader_free);
  return status;
}

/* The worker closed its end: it is ending (a crash, an abort, an exit), or
 * ends at once. Its status says how. */
static int
collect_dead_worker (ProcessExecutor *self)
{
  int status;

  close_fd (&self->channel);
  close_fd (&self->lifeline);
  status = reap_worker (self->pid, G_USEC_PER_SEC);
  self->pid = 0;
  g_clear_pointer (&self->reader, sutra_frame_reader_free);
  return status;
}

/* Ends a healthy worker: the channel's end of stream has it destroy its
 * instance and exit. */
static void
end_worker (ProcessExecutor *self)
{
  gboolean cancelled =
    self->parent.config.cancelled != NULL && g_atomic_int_get (self->parent.config.cancelled);

  if (self->pid == 0)
    return;
  close_fd (&self->channel);
  (void) reap_worker (self->pid, cancelled ? EXIT_GRACE_CANCELLED_US : EXIT_GRACE_US);
  close_fd (&self->lifeline);
  self->pid = 0;
  g_clear_pointer (&self->reader, sutra_frame_reader_free);
}

/* CUDA_VISIBLE_DEVICES for a worker on cuda:N: the N-th GPU sutra sees,
 * which is N itself, or the N-th entry of sutra's own CUDA_VISIBLE_DEVICES
 * when the user set one. */
static char *
cuda_devices_for (int device_index, GError **error)
{
  const char *visible = g_getenv ("CUDA_VISIBLE_DEVICES");
  g_auto (GStrv) entries = NULL;

  if (visible == NULL)
    return g_strdup_printf ("%d", device_index);
  entries = g_strsplit (visible, ",", -1);
  if ((guint) device_index >= g_strv_length (entries) ||
      g_strstrip (entries[device_index])[0] == '\0')
    {
      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
                   "device cuda:%d is not among the GPUs CUDA_VISIBLE_DEVICES=“%s” leaves to "
                   "sutra (cuda:N is the N-th of them, from 0)",
                   device_index, visible);
      return NULL;
    }
  return g_strdup (entries[device_index]);
}

static char *
init_body (ProcessExecutor *self, gsize *length)
{
  const SutraExecutorConfig *config = &self->parent.config;
  const SutraStageContext *context = &config->context;
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "plugin_path");
  json_builder_add_string_value (builder, config->plugin_path);
  json_builder_set_member_name (builder, "stage");
  json_builder_add_string_value (builder, config->info->name);
  json_builder_set_member_name (builder, "params");
  json_builder_begin_object (builder);
  if (config->resolved_params != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      /* The resolved parameters, less the unset ones: a string parameter
       * with no default resolves to null, which a pipeline file cannot
       * give (the worker's settings check would refuse it); left out, it
       * is unset there too. */
      json_object_iter_init (&iter, config->resolved_params);
      while (json_object_iter_next (&iter, &name, &value))
        if (!JSON_NODE_HOLDS_NULL (value))
          {
            json_builder_set_member_name (builder, name);
            json_builder_add_value (builder, json_node_copy (value));
          }
    }
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "context");
  json_builder_begin_object (builder);
#define ADD_STRING(name, value)                       \
  if ((value) != NULL)                                \
    {                                                 \
      json_builder_set_member_name (builder, name);   \
      json_builder_add_string_value (builder, value); \
    }
  ADD_STRING ("stage_name", context->stage_name);
  ADD_STRING ("device", context->device);
  ADD_STRING ("work_dir", context->work_dir);
  ADD_STRING ("resume_state", context->resume_state);
#undef ADD_STRING
  json_builder_set_member_name (builder, "worker_index");
  json_builder_add_int_value (builder, context->worker_index);
  json_builder_set_member_name (builder, "n_workers");
  json_builder_add_int_value (builder, context->n_workers);
  json_builder_set_member_name (builder, "max_in_flight");
  json_builder_add_int_value (builder, context->max_in_flight);
  json_builder_set_member_name (builder, "requests_per_second");
  json_builder_add_double_value (builder, context->requests_per_second);
  /* The worker sees its GPU alone (CUDA_VISIBLE_DEVICES), so CUDA numbers
   * it 0 there: the index a plugin hands to CUDA. The device's name keeps
   * the GPU's number in sutra's numbering, for messages. */
  json_builder_set_member_name (builder, "device_index");
  json_builder_add_int_value (builder, context->device_index >= 0 ? 0 : -1);
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, length);
}

typedef enum
{
  CALL_CREATE,
  CALL_PROCESS,
  CALL_FINISH,
  CALL_SYNC,
} CallKind;

typedef struct
{
  CallKind kind;
  SutraItem *const *items;
  guint n_items;
  GPtrArray *inputs; /* a view of items, for decoding pushes */
  SutraOutput *output;
  char **state;
  gboolean misused;
} Call;

static char *
describe_call (const Call *call)
{
  switch (call->kind)
    {
    case CALL_CREATE:
      return g_strdup ("creating its instance");
    case CALL_PROCESS:
      if (call->n_items == 0)
        return g_strdup ("producing items");
      return g_strdup_printf ("processing %u item%s from “%s”", call->n_items,
                              call->n_items == 1 ? "" : "s", sutra_item_get_id (call->items[0]));
    case CALL_FINISH:
      return g_strdup ("finishing");
    case CALL_SYNC:
      return g_strdup ("syncing");
    }
  return g_strdup ("working");
}

/* Polled while a call waits: tells the worker once when the run is
 * cancelled, and gives up on it CANCEL_GRACE_US later. */
static gboolean
check_cancelled (gpointer data)
{
  ProcessExecutor *self = data;

  if (self->parent.config.cancelled == NULL || !g_atomic_int_get (self->parent.config.cancelled))
    return TRUE;
  if (self->cancelled_at_us == 0)
    {
      char byte = 'c';

      self->cancelled_at_us = g_get_monotonic_time ();
      (void) send (self->lifeline, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  return g_get_monotonic_time () - self->cancelled_at_us < CANCEL_GRACE_US;
}

/* The error of a call the worker failed: its own domain and code, found
 * again by the domain's name (quarks are per process). */
static GError *
failure_error (ProcessExecutor *self, const SutraFrameFailure *failure)
{
  if (strcmp (failure->domain, "sutra-worker-no-error") == 0)
    return NULL; /* the plugin gave no reason: the caller says so */
  return g_error_new_literal (g_quark_from_string (failure->domain), failure->code,
                              failure->message);
}

/* Kills the worker after a protocol error or a timeout, or reaps it after
 * it died, and says what happened. */
static void
lose_worker (ProcessExecutor *self, const Call *call, GError *cause, GError **error)
{
  GPid pid = self->pid;
  g_autofree char *who = describe_worker (self, pid);
  g_autofree char *what = describe_call (call);

  if (g_error_matches (cause, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_CLOSED))
    {
      g_autofree char *how = describe_status (collect_dead_worker (self));

      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_CRASHED, "%s %s while %s", who,
                   how, what);
    }
  else if (g_error_matches (cause, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TIMED_OUT))
    {
      kill_worker (self);
      if (self->cancelled_at_us != 0)
        g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_TIMED_OUT,
                     "%s did not stop within %d s of the run being cancelled while %s; it was "
                     "killed",
                     who, (int) (CANCEL_GRACE_US / G_USEC_PER_SEC), what);
      else
        g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_TIMED_OUT,
                     "%s ran past the stage's timeout_ms (%u ms) while %s; it was killed", who,
                     self->parent.config.timeout_ms, what);
    }
  else
    {
      kill_worker (self);
      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_PROTOCOL,
                   "%s broke the worker protocol while %s (%s); it was killed", who, what,
                   cause->message);
    }
}

static gboolean
replay_pushes (ProcessExecutor *self, Call *call, GBytes *body, GError **error)
{
  g_autoptr (GPtrArray) items = NULL;
  gpointer *pushed;
  gsize n_pushed;

  if (call->output == NULL)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "a “push” frame during a call that cannot push");
      return FALSE;
    }
  items = sutra_record_decode (body, call->inputs, error);
  if (items == NULL)
    return FALSE;
  /* Each push hands its item over, as the plugin's own push would. */
  pushed = g_ptr_array_steal (items, &n_pushed);
  for (gsize i = 0; i < n_pushed; i++)
    sutra_output_push (call->output, pushed[i]);
  g_free (pushed);
  return TRUE;
}

/* Sends @type with @body and serves the worker's frames until its verdict.
 * Returns TRUE when the call succeeded. On failure, a lost worker (dead,
 * hung, broken) is gone: the next call starts another. */
static gboolean
run_call (ProcessExecutor *self, Call *call, SutraFrameType type, GBytes *body, GError **error)
{
  g_autoptr (GError) local = NULL;
  gint64 deadline = 0;
  gsize length = 0;
  const void *data = body != NULL ? g_bytes_get_data (body, &length) : NULL;

  self->cancelled_at_us = 0;
  if (self->parent.config.timeout_ms > 0 && call->kind != CALL_CREATE)
    deadline = g_get_monotonic_time () + (gint64) self->parent.config.timeout_ms * 1000;
  if (!sutra_frame_write (self->channel, type, data, length, &local))
    {
      /* A worker that died since its last call shows it here. */
      if (!g_error_matches (local, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TOO_LARGE))
        {
          g_clear_error (&local);
          g_set_error_literal (&local, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_CLOSED, "closed");
          lose_worker (self, call, local, error);
        }
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  for (;;)
    {
      g_autoptr (SutraFrame) frame =
        sutra_frame_read (self->channel, self->reader, deadline, check_cancelled, self, &local);

      if (frame == NULL)
        {
          lose_worker (self, call, local, error);
          return FALSE;
        }
      switch (frame->type)
        {
        case SUTRA_FRAME_PUSH:
          if (!replay_pushes (self, call, frame->body, &local))
            {
              lose_worker (self, call, local, error);
              return FALSE;
            }
          break;
        case SUTRA_FRAME_TOTAL:
          {
            guint64 total;

            if (call->output == NULL || !sutra_frame_decode_total (frame->body, &total, &local))
              {
                if (local == NULL)
                  g_set_error (&local, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                               "a “total” frame during a call that cannot push");
                lose_worker (self, call, local, error);
                return FALSE;
              }
            sutra_output_set_total (call->output, total);
          }
          break;
        case SUTRA_FRAME_MISUSE:
          {
            g_auto (SutraFrameMisuse) misuse = { 0 };

            if (!sutra_frame_decode_misuse (frame->body, &misuse, &local))
              {
                lose_worker (self, call, local, error);
                return FALSE;
              }
            call->misused = TRUE;
            /* Interned: the output keeps string literals, and the names of
             * functions and rules are few. */
            if (call->output != NULL)
              sutra_output_mark_misused (call->output, g_intern_string (misuse.function),
                                         g_intern_string (misuse.rule), misuse.count);
            else
              {
                /* Create has no output of the caller's: one for the
                 * message, which every executor words the same. */
                SutraOutput marked = { 0 };

                sutra_output_mark_misused (&marked, g_intern_string (misuse.function),
                                           g_intern_string (misuse.rule), misuse.count);
                g_clear_error (&local);
                local = sutra_executor_misuse_error (self->parent.config.context.stage_name,
                                                     self->parent.config.plugin_name, &marked);
              }
          }
          break;
        case SUTRA_FRAME_FAILED:
          {
            g_auto (SutraFrameFailure) failure = { 0 };
            GError *plugin_error;

            if (!sutra_frame_decode_failure (frame->body, &failure, &local))
              {
                lose_worker (self, call, local, error);
                return FALSE;
              }
            plugin_error = failure_error (self, &failure);
            /* A misuse during create is the reason, whatever create said. */
            if (local != NULL)
              {
                g_propagate_error (error, g_steal_pointer (&local));
                g_clear_error (&plugin_error);
              }
            else if (plugin_error != NULL)
              g_propagate_error (error, plugin_error);
            else if (call->output == NULL || !sutra_output_was_misused (call->output))
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                           "plugin “%s” failed without saying why (it returned FALSE but set no "
                           "error)",
                           self->parent.config.plugin_name);
            else
              /* The caller reports the misuse, as for a thread call. */
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                           "plugin “%s” misused the plugin API", self->parent.config.plugin_name);
            return FALSE;
          }
        case SUTRA_FRAME_DONE:
          if (call->kind == CALL_SYNC)
            {
              if (!sutra_frame_decode_sync_done (frame->body, call->state, &local))
                {
                  lose_worker (self, call, local, error);
                  return FALSE;
                }
            }
          else if (g_bytes_get_size (frame->body) != 0)
            {
              g_set_error (&local, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                           "a “done” frame with a body after a call other than sync");
              lose_worker (self, call, local, error);
              return FALSE;
            }
          if (local != NULL)
            {
              /* Create misused the API yet returned an instance. */
              g_propagate_error (error, g_steal_pointer (&local));
              return FALSE;
            }
          return TRUE;
        default:
          g_set_error (&local, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                       "a “%s” frame, which only sutra sends",
                       sutra_frame_type_to_string (frame->type));
          lose_worker (self, call, local, error);
          return FALSE;
        }
    }
}

/* Starts a worker and has it create the instance. */
static gboolean
start_worker (ProcessExecutor *self, gboolean *misused, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) envp = g_get_environ ();
  g_autofree char *parent_pid = g_strdup_printf ("--parent-pid=%d", (int) getpid ());
  g_autofree char *channel_arg = g_strdup_printf ("--channel-fd=%d", CHILD_CHANNEL_FD);
  g_autofree char *lifeline_arg = g_strdup_printf ("--lifeline-fd=%d", CHILD_LIFELINE_FD);
  char *argv[] = { (char *) sutra_executor_process_get_worker_path (), channel_arg, lifeline_arg,
                   parent_pid, NULL };
  int channel[2], lifeline[2];
  g_autofree char *body = NULL;
  g_autoptr (GBytes) init = NULL;
  gsize length;
  Call call = { CALL_CREATE };
  gboolean ok;

  if (misused != NULL)
    *misused = FALSE;
  if (self->cuda_devices != NULL)
    envp = g_environ_setenv (envp, "CUDA_VISIBLE_DEVICES", self->cuda_devices, TRUE);
  /* Close-on-exec: no other child, and nothing a plugin in this process
   * runs, may hold our ends open (a lifeline held open elsewhere would not
   * end the worker when sutra dies). */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) < 0)
    {
      int saved = errno;

      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
                   "cannot make a channel for a worker process of stage “%s”: %s",
                   self->parent.config.context.stage_name, g_strerror (saved));
      return FALSE;
    }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lifeline) < 0)
    {
      int saved = errno;

      close (channel[0]);
      close (channel[1]);
      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
                   "cannot make a lifeline for a worker process of stage “%s”: %s",
                   self->parent.config.context.stage_name, g_strerror (saved));
      return FALSE;
    }
  self->pid = spawn_worker (argv, envp, channel[1], lifeline[1], &local);
  close (channel[1]);
  close (lifeline[1]);
  if (self->pid == 0)
    {
      close (channel[0]);
      close (lifeline[0]);
      g_set_error (error, SUTRA_EXECUTOR_ERROR, SUTRA_EXECUTOR_ERROR_START,
                   "cannot start the worker program “%s” for stage “%s”: %s (set SUTRA_WORKER "
                   "to its path if sutra is not installed)",
                   argv[0], self->parent.config.context.stage_name, local->message);
      return FALSE;
    }
  self->channel = channel[0];
  self->lifeline = lifeline[0];
  self->reader = sutra_frame_reader_new ();

  body = init_body (self, &length);
  init = g_bytes_new_take (g_steal_pointer (&body), length);
  ok = run_call (self, &call, SUTRA_FRAME_INIT, init, &local);
  if (misused != NULL)
    *misused = call.misused;
  if (!ok)
    {
      /* A worker whose create failed exits; reap it. */
      if (self->pid != 0)
        {
          close_fd (&self->channel);
          (void) reap_worker (self->pid, EXIT_GRACE_US);
          close_fd (&self->lifeline);
          self->pid = 0;
          g_clear_pointer (&self->reader, sutra_frame_reader_free);
        }
      if (!call.misused && local->domain == SUTRA_EXECUTOR_ERROR &&
          local->code == SUTRA_EXECUTOR_ERROR_CRASHED)
        local->code = SUTRA_EXECUTOR_ERROR_START;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

/* A call on a worker lost earlier starts a new one first. */
static gboolean
ensure_worker (ProcessExecutor *self, SutraOutput *output, GError **error)
{
  gboolean misused = FALSE;

  if (self->pid != 0)
    return TRUE;
  if (start_worker (self, &misused, error))
    return TRUE;
  if (misused && output != NULL)
    sutra_output_mark_misused (output, "create", "a fresh worker's create misused the API", 1);
  return FALSE;
}

static gboolean
process_executor_process (SutraExecutor *executor,
                          SutraItem *const *items,
                          guint n_items,
                          SutraOutput *output,
                          GError **error)
{
  ProcessExecutor *self = (ProcessExecutor *) executor;
  g_autoptr (GPtrArray) inputs = g_ptr_array_sized_new (n_items);
  g_autoptr (GBytes) body = NULL;
  Call call = { CALL_PROCESS, items, n_items, inputs, output, NULL, FALSE };

  if (!ensure_worker (self, output, error))
    return FALSE;
  for (guint i = 0; i < n_items; i++)
    g_ptr_array_add (inputs, items[i]);
  body = sutra_record_encode (inputs, NULL);
  return run_call (self, &call, SUTRA_FRAME_PROCESS, body, error);
}

static gboolean
process_executor_finish (SutraExecutor *executor, SutraOutput *output, GError **error)
{
  ProcessExecutor *self = (ProcessExecutor *) executor;
  Call call = { CALL_FINISH, NULL, 0, NULL, output, NULL, FALSE };

  if (self->parent.config.info->finish == NULL)
    return TRUE;
  if (!ensure_worker (self, output, error))
    return FALSE;
  return run_call (self, &call, SUTRA_FRAME_FINISH, NULL, error);
}

static gboolean
process_executor_sync (SutraExecutor *executor, char **state, GError **error)
{
  ProcessExecutor *self = (ProcessExecutor *) executor;
  Call call = { CALL_SYNC, NULL, 0, NULL, NULL, state, FALSE };

  *state = NULL;
  if (self->parent.config.info->sync == NULL)
    return TRUE;
  if (!ensure_worker (self, NULL, error))
    return FALSE;
  return run_call (self, &call, SUTRA_FRAME_SYNC, NULL, error);
}

static void
process_executor_free (SutraExecutor *executor)
{
  ProcessExecutor *self = (ProcessExecutor *) executor;

  end_worker (self);
  g_free (self->cuda_devices);
  g_free (self);
}

static gboolean
process_executor_create (SutraExecutor *executor, gboolean *misused, GError **error)
{
  ProcessExecutor *self = (ProcessExecutor *) executor;

  *misused = FALSE;
  if (executor->config.context.device_index >= 0)
    {
      self->cuda_devices = cuda_devices_for (executor->config.context.device_index, error);
      if (self->cuda_devices == NULL)
        return FALSE;
    }
  return start_worker (self, misused, error);
}

static const SutraExecutorVTable process_vtable = {
  .create = process_executor_create,
  .process = process_executor_process,
  .finish = process_executor_finish,
  .sync = process_executor_sync,
  .free = process_executor_free,
};

SutraExecutor *
sutra_executor_process_new (const SutraExecutorConfig *config, gboolean *misused, GError **error)
{
  ProcessExecutor *self;

  g_return_val_if_fail (config != NULL && config->info != NULL, NULL);
  g_return_val_if_fail (config->plugin_path != NULL, NULL);

  self = g_new0 (ProcessExecutor, 1);
  self->channel = self->lifeline = -1;
  sutra_executor_init (&self->parent, &process_vtable, SUTRA_ISOLATION_PROCESS, config);
  return sutra_executor_create (&self->parent, misused, error);
}

GPid
sutra_executor_process_get_pid (SutraExecutor *executor)
{
  g_return_val_if_fail (executor->isolation == SUTRA_ISOLATION_PROCESS, 0);
  return ((ProcessExecutor *) executor)->pid;
}
