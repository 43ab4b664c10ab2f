/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sutra-worker: the child process of a stage with `isolation: "process"`.
 *
 * sutra starts it with the channel (a socket: frames both ways) on one
 * descriptor and the lifeline (a socket whose other end only sutra holds)
 * on another. It loads the plugin module itself, makes the instance from
 * the INIT frame, then serves PROCESS, FINISH and SYNC frames one at a
 * time until the channel closes, when it destroys the instance and exits.
 *
 * It never outlives sutra: the lifeline reads end of stream when sutra is
 * gone, however it went (kill -9 included), and a watchdog thread then
 * ends this process at once; PR_SET_PDEATHSIG is the second line. */

#include "sutra-allocator.h"
#include "sutra-frame.h"
#include "sutra-item-private.h"
#include "sutra-output-private.h"
#include "sutra-record.h"
#include "sutra-registry.h"
#include "sutra-settings.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Exit statuses the parent can tell apart from a plugin's own exit. */
enum
{
  WORKER_EXIT_OK = 0,
  WORKER_EXIT_USAGE = 64,
  WORKER_EXIT_PROTOCOL = 65,
  WORKER_EXIT_ORPHANED = 66,
};

/* A split's or a source's pushes go back in frames of about this size,
 * so that they stream; a map's go back in one frame at the end of the
 * call, where its outputs can be encoded as references to its inputs. */
#define STREAM_FLUSH_BYTES (32 * 1024)

typedef struct
{
  int channel;
  gint cancelled; /* set by the watchdog when sutra cancels the run */
  const SutraStageInfo *stage;
  gpointer instance;
  SutraStageContext context;
  SutraSettings *settings;
  JsonParser *init_parser; /* holds the context's strings */
  /* The call being served. */
  GPtrArray *inputs;         /* the batch, decoded */
  GPtrArray *pushed;         /* pushes not yet sent */
  SutraRecordWriter *writer; /* streaming stages: pushes encoded as they come */
  guint64 total_sent;
  gboolean total_was_sent;
  GByteArray *out; /* frames not yet written */
  gboolean broken; /* a frame could not be written: the parent is gone */
} Worker;

static void
die_protocol (const char *message)
{
  g_printerr ("sutra-worker[%d]: %s\n", (int) getpid (), message);
  _exit (WORKER_EXIT_PROTOCOL);
}

static void flush_frames (Worker *worker);

/* Frames are gathered and written together: a call's pushes, its misuse
 * and its verdict go in one system call, and sutra wakes once for them. */
static void
send_frame (Worker *worker, SutraFrameType type, GBytes *body)
{
  gsize length = 0;
  const void *data = body != NULL ? g_bytes_get_data (body, &length) : NULL;

  if (worker->broken)
    return;
  if (length <= SUTRA_FRAME_CHUNK)
    {
      sutra_frame_append (worker->out, type, data, length);
      return;
    }
  /* A large body is not copied: what is gathered goes first, then it. */
  flush_frames (worker);
  if (!worker->broken && !sutra_frame_write (worker->channel, type, data, length, NULL))
    worker->broken = TRUE;
}

static void
flush_frames (Worker *worker)
{
  g_autoptr (GError) error = NULL;

  if (worker->broken)
    {
      g_byte_array_set_size (worker->out, 0);
      return;
    }
  if (!sutra_frame_write_stream (worker->channel, worker->out, &error))
    {
      /* sutra closed the channel or died: the lifeline ends us soon;
       * until then, nothing more is written. */
      worker->broken = TRUE;
    }
}

/* The lifeline: sutra writes a byte to cancel the run (what
 * sutra_output_is_cancelled() reports in here), and its end of stream
 * means that sutra is gone. */
static gpointer
watchdog_thread (gpointer data)
{
  int fd = GPOINTER_TO_INT (((gpointer *) data)[0]);
  gint *cancelled = ((gpointer *) data)[1];

  for (;;)
    {
      char byte;
      ssize_t n = read (fd, &byte, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        _exit (WORKER_EXIT_ORPHANED);
      g_atomic_int_set (cancelled, 1);
    }
  return NULL;
}

static void
send_total_if_changed (Worker *worker, SutraOutput *output)
{
  if (output->has_total && (!worker->total_was_sent || output->total != worker->total_sent))
    {
      g_autoptr (GBytes) body = sutra_frame_encode_total (output->total);

      send_frame (worker, SUTRA_FRAME_TOTAL, body);
      worker->total_sent = output->total;
      worker->total_was_sent = TRUE;
    }
}

static void
flush_stream (Worker *worker)
{
  g_autoptr (GBytes) body = NULL;

  if (worker->writer == NULL || sutra_record_writer_get_n_items (worker->writer) == 0)
    return;
  body = sutra_record_writer_finish (g_steal_pointer (&worker->writer));
  send_frame (worker, SUTRA_FRAME_PUSH, body);
}

typedef struct
{
  Worker *worker;
  SutraOutput *output;
} PushTarget;

static void
on_push (SutraItem *item, gpointer user_data)
{
  PushTarget *target = user_data;
  Worker *worker = target->worker;

  if (worker->stage->kind == SUTRA_STAGE_SPLIT || worker->stage->kind == SUTRA_STAGE_SOURCE)
    {
      if (worker->writer == NULL)
        worker->writer = sutra_record_writer_new (worker->inputs);
      sutra_record_writer_add (worker->writer, item);
      sutra_item_unref (item);
      if (sutra_record_writer_get_size (worker->writer) >= STREAM_FLUSH_BYTES)
        {
          /* The total first: the progress display learns it early. */
          send_total_if_changed (worker, target->output);
          flush_stream (worker);
          flush_frames (worker);
        }
      return;
    }
  g_ptr_array_add (worker->pushed, item);
}

/* After a call: what is left of its pushes, its misuse and its total, then
 * the verdict. */
static void
end_call (Worker *worker, SutraOutput *output, gboolean ok, GError *error, GBytes *done_body)
{
  if (worker->pushed->len > 0)
    {
      g_autoptr (GBytes) body = sutra_record_encode (worker->pushed, worker->inputs);

      send_frame (worker, SUTRA_FRAME_PUSH, body);
      g_ptr_array_set_size (worker->pushed, 0);
    }
  flush_stream (worker);
  if (output != NULL)
    send_total_if_changed (worker, output);
  if (output != NULL && sutra_output_was_misused (output))
    {
      g_autoptr (GBytes) body = sutra_frame_encode_misuse (output->misused_function,
                                                           output->misused_rule, output->n_misuses);

      send_frame (worker, SUTRA_FRAME_MISUSE, body);
    }
  if (ok)
    send_frame (worker, SUTRA_FRAME_DONE, done_body);
  else
    {
      g_autoptr (GBytes) body = NULL;

      if (error != NULL)
        body = sutra_frame_encode_failure (g_quark_to_string (error->domain), error->code,
                                           error->message);
      else
        /* The parent says that the plugin gave no reason, as it does for
         * a thread call: an empty message is how that is sent. */
        body = sutra_frame_encode_failure ("sutra-worker-no-error", 0, "");
      send_frame (worker, SUTRA_FRAME_FAILED, body);
    }
  flush_frames (worker);
}

static void
serve_process (Worker *worker, GBytes *body)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = sutra_record_decode (body, NULL, &error);
  SutraOutput output;
  PushTarget target = { worker, &output };
  gboolean ok;

  if (items == NULL)
    die_protocol (error->message);
  worker->inputs = items;
  worker->total_was_sent = FALSE;
  sutra_output_init_stream (&output, on_push, &target, &worker->cancelled);
  sutra_output_begin_call (&output);
  ok = worker->stage->process (worker->instance, (SutraItem *const *) items->pdata, items->len,
                               &output, &error);
  sutra_output_end_call (&output);
  end_call (worker, &output, ok, error, NULL);
  worker->inputs = NULL;
}

static void
serve_finish (Worker *worker)
{
  g_autoptr (GError) error = NULL;
  SutraOutput output;
  PushTarget target = { worker, &output };
  gboolean ok = TRUE;

  worker->total_was_sent = FALSE;
  sutra_output_init_stream (&output, on_push, &target, &worker->cancelled);
  if (worker->stage->finish != NULL)
    {
      sutra_output_begin_call (&output);
      ok = worker->stage->finish (worker->instance, &output, &error);
      sutra_output_end_call (&output);
    }
  end_call (worker, &output, ok, error, NULL);
}

static void
serve_sync (Worker *worker)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *state = NULL;
  g_autoptr (GBytes) done = NULL;
  gboolean ok = TRUE;

  if (worker->stage->sync != NULL)
    ok = worker->stage->sync (worker->instance, &state, &error);
  if (ok)
    done = sutra_frame_encode_sync_done (state);
  end_call (worker, NULL, ok, error, done);
}

static const char *
member_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
             json_node_get_value_type (node) == G_TYPE_STRING
           ? json_node_get_string (node)
           : NULL;
}

/* INIT: load the module, fill the settings, create the instance. Sends
 * DONE, or FAILED (and MISUSE) and exits: a child whose create failed is
 * of no use. */
static gboolean
serve_init (Worker *worker, SutraRegistry *registry, GBytes *body)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize length;
  const char *data = g_bytes_get_data (body, &length);
  JsonObject *init, *context;
  JsonNode *params;
  const char *plugin_path, *stage_name;
  SutraOutput output;
  gboolean ok = TRUE;

  if (!json_parser_load_from_data (parser, data, (gssize) length, &error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    die_protocol ("the init frame is not a JSON object");
  init = json_node_get_object (json_parser_get_root (parser));
  plugin_path = member_string (init, "plugin_path");
  stage_name = member_string (init, "stage");
  params = json_object_get_member (init, "params");
  context = json_object_get_object_member (init, "context");
  if (plugin_path == NULL || stage_name == NULL || params == NULL ||
      !JSON_NODE_HOLDS_OBJECT (params) || context == NULL)
    die_protocol ("the init frame lacks plugin_path, stage, params or context");

  sutra_output_init_collect (&output, &worker->cancelled);
  if (!sutra_registry_load_file (registry, plugin_path, &error))
    ok = FALSE;
  else if ((worker->stage = sutra_registry_find_stage (registry, stage_name, NULL)) == NULL)
    {
      g_set_error (&error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND,
                   "the module “%s” has no stage “%s”", plugin_path, stage_name);
      ok = FALSE;
    }
  else if ((worker->settings =
              sutra_settings_new_checked (worker->stage, json_node_get_object (params), &error)) ==
           NULL)
    ok = FALSE;
  else
    {
      /* Strings stay valid as long as the parser, which lives as long as
       * this process serves. */
      worker->context = (SutraStageContext){
        .stage_name = member_string (context, "stage_name"),
        .worker_index =
          (guint) json_object_get_int_member_with_default (context, "worker_index", 0),
        .n_workers = (guint) json_object_get_int_member_with_default (context, "n_workers", 1),
        .device = member_string (context, "device"),
        .device_index = (int) json_object_get_int_member_with_default (context, "device_index", -1),
        .work_dir = member_string (context, "work_dir"),
        .resume_state = member_string (context, "resume_state"),
        .max_in_flight =
          (guint) json_object_get_int_member_with_default (context, "max_in_flight", 0),
        .requests_per_second =
          json_object_get_double_member_with_default (context, "requests_per_second", 0),
      };
      if (worker->stage->create != NULL)
        {
          sutra_output_begin_call (&output);
          worker->instance =
            worker->stage->create (&worker->context, sutra_settings_get_data (worker->settings),
                                   &error);
          sutra_output_end_call (&output);
          ok = worker->instance != NULL && !sutra_output_was_misused (&output);
        }
    }
  end_call (worker, &output, ok, error, NULL);
  sutra_output_clear (&output);
  /* The parser keeps the context's strings. */
  worker->init_parser = g_object_ref (parser);
  return ok;
}

static int
parse_fd (const char *arg, const char *prefix)
{
  gint64 value;

  if (!g_str_has_prefix (arg, prefix))
    return -1;
  value = g_ascii_strtoll (arg + strlen (prefix), NULL, 10);
  return value >= 3 && value < G_MAXINT ? (int) value : -1;
}

int
main (int argc, char **argv)
{
  g_autoptr (SutraRegistry) registry = NULL;
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  Worker worker = { 0 };
  int lifeline = -1;
  long parent_pid = 0;
  gpointer watchdog_data[2];
  sigset_t all;
  gboolean created = FALSE;

  sutra_allocator_configure ();
  worker.channel = -1;
  for (int i = 1; i < argc; i++)
    {
      if (g_str_has_prefix (argv[i], "--channel-fd="))
        worker.channel = parse_fd (argv[i], "--channel-fd=");
      else if (g_str_has_prefix (argv[i], "--lifeline-fd="))
        lifeline = parse_fd (argv[i], "--lifeline-fd=");
      else if (g_str_has_prefix (argv[i], "--parent-pid="))
        parent_pid = strtol (argv[i] + strlen ("--parent-pid="), NULL, 10);
    }
  if (worker.channel < 0 || lifeline < 0 || parent_pid <= 0)
    {
      fprintf (stderr, "sutra-worker: this program is started by sutra for stages with "
                       "\"isolation\": \"process\"; it is not meant to be run by hand\n");
      return WORKER_EXIT_USAGE;
    }

  /* Ctrl-C reaches the whole process group: sutra decides what its
   * workers do, so this process ignores it (and SIGTERM, which sutra
   * handles by ending the run and then us). A write to a closed channel
   * is an error to handle, not a signal. */
  signal (SIGINT, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  /* The parent may have died before the line above: then it never fires. */
  if (getppid () != (pid_t) parent_pid)
    _exit (WORKER_EXIT_ORPHANED);
  /* Processes the plugin starts must not hold the channel or the
   * lifeline open after we are gone. */
  fcntl (worker.channel, F_SETFD, FD_CLOEXEC);
  fcntl (lifeline, F_SETFD, FD_CLOEXEC);

  watchdog_data[0] = GINT_TO_POINTER (lifeline);
  watchdog_data[1] = &worker.cancelled;
  g_thread_unref (g_thread_new ("sutra-lifeline", watchdog_thread, watchdog_data));

  registry = sutra_registry_new ();
  worker.out = g_byte_array_new ();
  worker.pushed = g_ptr_array_new_with_free_func ((GDestroyNotify) sutra_item_unref);
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (SutraFrame) frame =
        sutra_frame_read (worker.channel, reader, 0, NULL, NULL, &error);

      if (frame == NULL)
        {
          if (g_error_matches (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_CLOSED) &&
              !sutra_frame_reader_has_partial (reader))
            break; /* sutra is done with this worker */
          die_protocol (error->message);
        }
      if (!created && frame->type != SUTRA_FRAME_INIT)
        die_protocol ("the first frame is not init");
      switch (frame->type)
        {
        case SUTRA_FRAME_INIT:
          if (created)
            die_protocol ("a second init frame");
          if (!serve_init (&worker, registry, frame->body))
            _exit (WORKER_EXIT_OK);
          created = TRUE;
          break;
        case SUTRA_FRAME_PROCESS:
          serve_process (&worker, frame->body);
          break;
        case SUTRA_FRAME_FINISH:
          serve_finish (&worker);
          break;
        case SUTRA_FRAME_SYNC:
          serve_sync (&worker);
          break;
        default:
          die_protocol ("a frame only a worker sends");
        }
    }
  if (worker.instance != NULL && worker.stage->destroy != NULL)
    worker.stage->destroy (worker.instance);
  /* _exit: the plugin module stays loaded and its global destructors,
   * if any, are not this program's business. */
  _exit (WORKER_EXIT_OK);
}
