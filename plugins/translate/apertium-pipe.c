/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ApertiumPipe: a pair's pipeline kept running, framed by NUL flushes. */

#include "apertium-pipe.h"

#include "apertium-mode.h"

#include <sutra/sutra.h>

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct _ApertiumPipe
{
  char *pair;
  int input;  /* a socket: send() with MSG_NOSIGNAL cannot raise SIGPIPE */
  int output; /* the last tool's stdout */
  GPid pgid;
  GArray *pids; /* GPid, one per tool */
  gboolean alive;
};

/* Runs in each tool's child between fork and exec: only async-signal-safe
 * calls. The first tool leads a new process group, the others join it, so
 * one kill() ends the whole pipeline. */
static void
join_group (gpointer data)
{
  pid_t pgid = GPOINTER_TO_INT (data);

  setpgid (0, pgid);
}

ApertiumPipe *
apertium_pipe_start (const char *pair, GPtrArray *tools, GError **error)
{
  g_autoptr (ApertiumPipe) self = g_new0 (ApertiumPipe, 1);
  int sockets[2];
  int next_stdin;

  self->pair = g_strdup (pair);
  self->input = -1;
  self->output = -1;
  self->pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "cannot start the Apertium pipeline for “%s”: socketpair: %s", pair,
                   g_strerror (errno));
      return NULL;
    }
  self->input = sockets[0];
  next_stdin = sockets[1];
  for (guint i = 0; i < tools->len; i++)
    {
      ApertiumTool *tool = tools->pdata[i];
      int pipe_fds[2] = { -1, -1 };
      g_autoptr (GError) local = NULL;
      GPid pid;

      if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, &local))
        {
          close (next_stdin);
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "cannot start the Apertium pipeline for “%s”: %s", pair, local->message);
          return NULL;
        }
      if (!g_spawn_async_with_pipes_and_fds (NULL, (const char *const *) tool->argv, NULL,
                                             G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                             join_group, GINT_TO_POINTER (self->pgid), next_stdin,
                                             pipe_fds[1], -1, NULL, NULL, 0, &pid, NULL, NULL, NULL,
                                             &local))
        {
          close (next_stdin);
          close (pipe_fds[0]);
          close (pipe_fds[1]);
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "cannot start “%s” of the Apertium pipeline for “%s”: %s", tool->argv[0],
                       pair, local->message);
          return NULL;
        }
      /* Set it from this side too: the next tool must find the group. */
      if (self->pgid == 0)
        self->pgid = pid;
      setpgid (pid, self->pgid);
      g_array_append_val (self->pids, pid);
      close (next_stdin);
      close (pipe_fds[1]);
      next_stdin = pipe_fds[0];
    }
  self->output = next_stdin;
  self->alive = TRUE;
  g_unix_set_fd_nonblocking (self->input, TRUE, NULL);
  g_unix_set_fd_nonblocking (self->output, TRUE, NULL);
  return g_steal_pointer (&self);
}

static void
pipe_kill (ApertiumPipe *self)
{
  if (self->pgid > 0 && self->pids->len > 0)
    kill (-self->pgid, SIGKILL);
  for (guint i = 0; i < self->pids->len; i++)
    {
      GPid pid = g_array_index (self->pids, GPid, i);

      while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
      g_spawn_close_pid (pid);
    }
  g_array_set_size (self->pids, 0);
  self->pgid = 0;
  self->alive = FALSE;
}

/* What became of the tools, for the error message of a pipeline that
 * stopped answering: the first tool that died, and how. */
static char *
describe_death (ApertiumPipe *self)
{
  for (guint i = 0; i < self->pids->len; i++)
    {
      int status;
      GPid pid = g_array_index (self->pids, GPid, i);

      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          /* Reaped here: keep it out of pipe_kill's waitpid. */
          g_array_remove_index (self->pids, i);
          if (WIFSIGNALED (status))
            return g_strdup_printf ("tool %u of the pipeline was killed by signal %d (%s)", i + 1,
                                    WTERMSIG (status), g_strsignal (WTERMSIG (status)));
          return g_strdup_printf ("tool %u of the pipeline exited with status %d", i + 1,
                                  WEXITSTATUS (status));
        }
    }
  return g_strdup ("the pipeline closed its output");
}

GPtrArray *
apertium_pipe_translate (ApertiumPipe *self,
                         GString *const *frames,
                         guint n_frames,
                         guint timeout_ms,
                         GError **error)
{
  g_autoptr (GPtrArray) answers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GByteArray) pending = g_byte_array_new ();
  gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time () + (gint64) timeout_ms * 1000 : 0;
  guint frame = 0;
  gsize frame_offset = 0;
  gboolean nul_sent = FALSE;

  g_return_val_if_fail (self->alive, NULL);
  while (answers->len < n_frames)
    {
      struct pollfd fds[2] = {
        { .fd = self->output, .events = POLLIN },
        { .fd = self->input, .events = frame < n_frames ? POLLOUT : 0 },
      };
      int wait_ms = -1;
      int ready;

      if (deadline > 0)
        {
          gint64 left = deadline - g_get_monotonic_time ();

          if (left <= 0)
            {
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                           "the Apertium pipeline for “%s” gave %u of %u answers within %u ms; "
                           "it was stopped and will be restarted",
                           self->pair, answers->len, n_frames, timeout_ms);
              pipe_kill (self);
              return NULL;
            }
          wait_ms = (int) MIN (left / 1000 + 1, G_MAXINT);
        }
      ready = poll (fds, frame < n_frames ? 2 : 1, wait_ms);
      if (ready < 0 && errno != EINTR)
        break;
      if (ready <= 0)
        continue;
      if ((fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0 && frame < n_frames)
        {
          const GString *text = frames[frame];
          ssize_t sent;

          if (frame_offset < text->len)
            sent = send (self->input, text->str + frame_offset, text->len - frame_offset,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
          else
            sent = send (self->input, "", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (sent < 0 && errno != EAGAIN && errno != EINTR)
            goto died;
          if (sent > 0 && frame_offset < text->len)
            frame_offset += sent;
          else if (sent > 0)
            nul_sent = TRUE;
          if (nul_sent)
            {
              frame++;
              frame_offset = 0;
              nul_sent = FALSE;
            }
        }
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
        {
          guint8 buffer[65536];
          ssize_t got = read (self->output, buffer, sizeof buffer);

          if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
            goto died;
          for (ssize_t i = 0; i < got; i++)
            {
              if (buffer[i] != '\0')
                {
                  const guint8 *end = memchr (buffer + i, '\0', got - i);
                  gsize run = end != NULL ? (gsize) (end - (buffer + i)) : (gsize) (got - i);

                  g_byte_array_append (pending, buffer + i, run);
                  i += run - 1;
                  continue;
                }
              if (answers->len >= n_frames)
                {
                  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                               "the Apertium pipeline for “%s” answered more often than asked; "
                               "it was stopped and will be restarted",
                               self->pair);
                  pipe_kill (self);
                  return NULL;
                }
              g_ptr_array_add (answers, g_byte_array_free_to_bytes (g_steal_pointer (&pending)));
              pending = g_byte_array_new ();
            }
        }
    }
  if (answers->len == n_frames)
    return g_steal_pointer (&answers);

died:
  {
    g_autofree char *why = describe_death (self);

    g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                 "the Apertium pipeline for “%s” stopped after %u of %u answers: %s; it will be "
                 "restarted",
                 self->pair, answers->len, n_frames, why);
    pipe_kill (self);
    return NULL;
  }
}

gboolean
apertium_pipe_is_alive (ApertiumPipe *self)
{
  /* A tool that died since the last exchange (killed, out of memory) makes
   * the whole pipeline unusable: notice it before writing to it, so that
   * the next batch goes to a fresh pipeline instead of failing. */
  for (guint i = 0; self->alive && i < self->pids->len; i++)
    if (waitpid (g_array_index (self->pids, GPid, i), NULL, WNOHANG) != 0)
      {
        g_array_remove_index (self->pids, i);
        pipe_kill (self);
      }
  return self->alive;
}

int
apertium_pipe_get_pgid (ApertiumPipe *self)
{
  return self->pgid;
}

void
apertium_pipe_free (ApertiumPipe *self)
{
  if (self->input >= 0)
    close (self->input);
  if (self->output >= 0)
    close (self->output);
  if (self->alive)
    {
      /* Closing the input ends the tools one after another; a hung one is
       * killed after a short grace. */
      gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC;

      while (self->pids->len > 0 && g_get_monotonic_time () < until)
        {
          GPid pid = g_array_index (self->pids, GPid, self->pids->len - 1);

          if (waitpid (pid, NULL, WNOHANG) == pid)
            {
              g_spawn_close_pid (pid);
              g_array_remove_index (self->pids, self->pids->len - 1);
            }
          else
            g_usleep (2000);
        }
    }
  pipe_kill (self);
  g_array_free (self->pids, TRUE);
  g_free (self->pair);
  g_free (self);
}
