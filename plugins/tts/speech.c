/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* speech: espeak-ng behind one lock, each utterance spoken in a fresh fork. */

/*
 * Why a fresh process per utterance: espeak-ng's wave generator keeps state
 * from one utterance to the next (the first utterance after initialisation
 * is shorter than the second; later ones have the same length but other
 * samples), and neither espeak_ng_Terminate nor a voice change resets it. A
 * chunk's audio would then depend on what the same process spoke before it,
 * so on how the engine spread the chunks over workers and on where a
 * resumed run started.
 *
 * So nothing speaks twice from one state. When the plugin first starts in a
 * process, it initialises espeak-ng and forks a helper, the "speaker": a
 * small single-threaded process that never speaks itself. For each
 * utterance the speaker loads the voice (which speaks nothing and leaves the
 * wave generator alone) and forks a child, which starts from that same
 * state, speaks into a memory file and exits; the speaker then sends the
 * samples to the plugin over a socket. Each chunk's audio is a function of
 * its text, voice and prosody alone, and a crash of espeak-ng on strange
 * text kills that child, not the run.
 *
 * The forks are the speaker's, not the engine process's: forking a large,
 * threaded process for every chunk costs page-table copies and
 * copy-on-write faults in all its threads (a third more CPU on Alice's
 * chunks). The one fork from the engine's process, in tts_speech_acquire,
 * runs on the thread that creates the stage (should the speaker die, the
 * next utterance forks a new one from a worker thread);
 * the speaker and its children call only espeak-ng, libc and GLib's
 * allocator (malloc, which glibc keeps usable in the child of a threaded
 * process); no stdio, no atexit handlers (they leave with _exit).
 */

#include "speech.h"

#include <sutra/sutra.h>

#include <errno.h>
#include <espeak-ng/espeak_ng.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <espeak-ng/speak_lib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* espeak-ng's state is global: every call into it holds this lock. */
G_LOCK_DEFINE_STATIC (espeak);
static guint espeak_users;
static int espeak_sample_rate; /* 0 until espeak-ng is initialised */
static char *espeak_voice;     /* the voice loaded now; NULL when unknown */

/* The speaker: its end of the socket, its pid; -1 while none runs. */
static int speaker_fd = -1;
static pid_t speaker_pid = -1;

/* What the plugin sends for an utterance, followed by the voice's and the
 * text's bytes (no NULs). */
typedef struct
{
  guint32 voice_length;
  guint32 text_length;
  gint32 prosody[4]; /* rate, pitch, pitch range, volume */
} Request;

/* What the speaker answers, followed by n_bytes of samples. */
enum
{
  REPLY_SPOKEN,       /* code: espeak-ng's status */
  REPLY_NO_VOICE,     /* code: espeak-ng's status */
  REPLY_CRASHED,      /* code: the child's wait status */
  REPLY_SYSTEM_ERROR, /* code: errno */
};

typedef struct
{
  guint32 kind;
  guint32 code;
  guint64 n_bytes;
} Reply;

/* In the speaker's child only: where the synthesis callback writes. */
static int child_fd = -1;

static gboolean start_speaker_locked (GError **error);

static void
set_espeak_error (GError **error, espeak_ng_STATUS status, const char *what)
{
  char message[512] = "";

  espeak_ng_GetStatusCodeMessage (status, message, sizeof message);
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED, "espeak-ng: %s: %s", what,
               message);
}

/* espeak-ng 1.51 cannot be initialised again after espeak_ng_Terminate: the
 * second Terminate waits for ever on the thread the first initialisation
 * started. So it is initialised once per process and left to the process's
 * exit; instances only count their uses. */
gboolean
tts_speech_acquire (GError **error)
{
  espeak_ng_ERROR_CONTEXT context = NULL;
  espeak_ng_STATUS status;

  G_LOCK (espeak);
  if (espeak_sample_rate > 0)
    {
      espeak_users++;
      G_UNLOCK (espeak);
      return TRUE;
    }
  espeak_ng_InitializePath (NULL);
  status = espeak_ng_Initialize (&context);
  espeak_ng_ClearErrorContext (&context);
  if (status != ENS_OK)
    {
      G_UNLOCK (espeak);
      set_espeak_error (error, status,
                        "cannot load its data (install espeak-ng-data, or set ESPEAK_DATA_PATH "
                        "to the directory holding espeak-ng-data)");
      return FALSE;
    }
  /* Synchronous: samples come to the callback inside espeak_ng_Synthesize
   * and nothing is played. */
  status = espeak_ng_InitializeOutput (ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
  if (status != ENS_OK)
    {
      G_UNLOCK (espeak);
      set_espeak_error (error, status, "cannot set up synchronous output");
      return FALSE;
    }
  /* The speaker is forked now, on the thread that creates the stage,
   * before the engine's workers run it. */
  espeak_sample_rate = espeak_ng_GetSampleRate ();
  if (!start_speaker_locked (error))
    {
      /* espeak-ng stays initialised; the next utterance tries again. */
      G_UNLOCK (espeak);
      return FALSE;
    }
  espeak_users = 1;
  G_UNLOCK (espeak);
  return TRUE;
}

void
tts_speech_release (void)
{
  G_LOCK (espeak);
  g_warn_if_fail (espeak_users > 0);
  if (espeak_users > 0)
    espeak_users--;
  G_UNLOCK (espeak);
}

int
tts_speech_get_sample_rate (void)
{
  return espeak_sample_rate;
}

const char *
tts_speech_get_version (void)
{
  return espeak_Info (NULL);
}

static gboolean
select_voice_locked (const char *name, GError **error)
{
  espeak_ng_STATUS status;

  if (espeak_voice != NULL && strcmp (espeak_voice, name) == 0)
    return TRUE;
  status = espeak_ng_SetVoiceByName (name);
  if (status != ENS_OK)
    {
      /* A failed load may leave a voice half set: load again next time. */
      g_clear_pointer (&espeak_voice, g_free);
      set_espeak_error (error, status, name);
      return FALSE;
    }
  g_free (espeak_voice);
  espeak_voice = g_strdup (name);
  return TRUE;
}

gboolean
tts_speech_select_voice (const char *name, GError **error)
{
  gboolean ok;

  G_LOCK (espeak);
  ok = select_voice_locked (name, error);
  G_UNLOCK (espeak);
  return ok;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
tts_speech_dup_voice_list (void)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autoptr (GString) out = g_string_new (NULL);
  const espeak_VOICE **voices;

  G_LOCK (espeak);
  voices = espeak_ListVoices (NULL);
  /* languages is a list of (priority byte, NUL-terminated name), ending with
   * a priority of 0: the en-gb voice answers to "en" too. */
  for (guint i = 0; voices != NULL && voices[i] != NULL; i++)
    for (const char *p = voices[i]->languages; p != NULL && p[0] != '\0'; p += strlen (p + 1) + 2)
      g_ptr_array_add (names, (gpointer) (p + 1));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      if (i > 0 && strcmp (names->pdata[i], names->pdata[i - 1]) == 0)
        continue;
      if (out->len > 0)
        g_string_append (out, ", ");
      g_string_append (out, names->pdata[i]);
    }
  G_UNLOCK (espeak);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Writes all of @data; FALSE with errno set on failure. MSG_NOSIGNAL where
 * @fd is a socket: a dead peer gives EPIPE, not a SIGPIPE that would end
 * the engine's process. */
static gboolean
write_all (int fd, const void *data, gsize size)
{
  const char *p = data;

  while (size > 0)
    {
      ssize_t n = send (fd, p, size, MSG_NOSIGNAL);

      if (n < 0 && errno == ENOTSOCK)
        n = write (fd, p, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;
          return FALSE;
        }
      p += n;
      size -= (gsize) n;
    }
  return TRUE;
}

/* Reads exactly @size bytes; FALSE at the end of the stream (errno 0) or
 * on an error (errno set). */
static gboolean
read_exactly (int fd, void *data, gsize size)
{
  char *p = data;

  while (size > 0)
    {
      ssize_t n = read (fd, p, size);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = 0;
          return FALSE;
        }
      p += n;
      size -= (gsize) n;
    }
  return TRUE;
}

/* espeak-ng's synthesis callback, in the speaker's child. Returning 1
 * aborts the synthesis. */
static int
child_on_samples (short *samples, int n_samples, espeak_EVENT *events)
{
  if (samples == NULL || n_samples <= 0)
    return 0;
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (int i = 0; i < n_samples; i++)
    samples[i] = (short) GUINT16_TO_LE ((guint16) samples[i]);
#endif
  return write_all (child_fd, samples, (gsize) n_samples * 2) ? 0 : 1;
}

/* The speaker's child: speaks @text into @fd (a memory file) and exits
 * with 0, or with 1 when the samples could not be written. espeak-ng's
 * status goes in the file's first four bytes. */
G_GNUC_NORETURN static void
child_speak (int fd, const char *text, const gint32 *prosody)
{
  guint32 status;

  child_fd = fd;
  /* Variants with breath and the klatt voices draw noise from rand(): the
   * same seed for every utterance. */
  srand (1);
  espeak_SetSynthCallback (child_on_samples);
  espeak_ng_SetParameter (espeakRATE, prosody[0], 0);
  espeak_ng_SetParameter (espeakPITCH, prosody[1], 0);
  espeak_ng_SetParameter (espeakRANGE, prosody[2], 0);
  espeak_ng_SetParameter (espeakVOLUME, prosody[3], 0);
  /* No espeakSSML and no espeakPHONEMES: `<tags>` and `[[...]]` are text.
   * No espeakENDPAUSE: the pause after a chunk is the concatenation's. */
  status = (guint32) espeak_ng_Synthesize (text, strlen (text) + 1, 0, POS_CHARACTER, 0,
                                           espeakCHARS_UTF8, NULL, NULL);
  if (pwrite (fd, &status, sizeof status, 0) != (ssize_t) sizeof status)
    _exit (1);
  _exit (0);
}

static gboolean
speaker_reply (int fd, guint32 kind, guint32 code, int samples_fd, guint64 n_bytes)
{
  Reply reply = { kind, code, n_bytes };
  char buffer[65536];
  off_t offset = sizeof (guint32);

  if (!write_all (fd, &reply, sizeof reply))
    return FALSE;
  while (n_bytes > 0)
    {
      ssize_t n = pread (samples_fd, buffer, MIN (sizeof buffer, n_bytes), offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || !write_all (fd, buffer, (gsize) n))
        return FALSE;
      offset += n;
      n_bytes -= (guint64) n;
    }
  return TRUE;
}

/* Speaks one request in a child; answers it. FALSE when the plugin is gone. */
static gboolean
speaker_serve (int fd, const Request *request, const char *voice, const char *text)
{
  static char loaded[256];
  guint32 status = 0;
  int samples_fd;
  int wait_status;
  struct stat st;
  pid_t pid;

  if (strcmp (loaded, voice) != 0)
    {
      espeak_ng_STATUS voice_status = espeak_ng_SetVoiceByName (voice);

      loaded[0] = '\0';
      if (voice_status != ENS_OK)
        return speaker_reply (fd, REPLY_NO_VOICE, (guint32) voice_status, -1, 0);
      if (strlen (voice) < sizeof loaded)
        strcpy (loaded, voice);
    }
  samples_fd = memfd_create ("sutra-tts", MFD_CLOEXEC);
  if (samples_fd < 0)
    return speaker_reply (fd, REPLY_SYSTEM_ERROR, (guint32) errno, -1, 0);
  /* The status word goes first; the samples follow it. */
  if (!write_all (samples_fd, &status, sizeof status))
    {
      int saved = errno;

      close (samples_fd);
      return speaker_reply (fd, REPLY_SYSTEM_ERROR, (guint32) saved, -1, 0);
    }
  pid = fork ();
  if (pid == 0)
    child_speak (samples_fd, text, request->prosody);
  if (pid < 0)
    {
      int saved = errno;

      close (samples_fd);
      return speaker_reply (fd, REPLY_SYSTEM_ERROR, (guint32) saved, -1, 0);
    }
  while (waitpid (pid, &wait_status, 0) < 0)
    if (errno != EINTR)
      {
        wait_status = 0;
        break;
      }
  if (!WIFEXITED (wait_status) || WEXITSTATUS (wait_status) != 0 || fstat (samples_fd, &st) != 0 ||
      pread (samples_fd, &status, sizeof status, 0) != (ssize_t) sizeof status)
    {
      gboolean ok = speaker_reply (fd, REPLY_CRASHED, (guint32) wait_status, -1, 0);

      close (samples_fd);
      return ok;
    }
  {
    gboolean ok =
      speaker_reply (fd, REPLY_SPOKEN, status, samples_fd, (guint64) st.st_size - sizeof status);

    close (samples_fd);
    return ok;
  }
}

/* The speaker's loop: one request at a time, until the plugin's end of the
 * socket closes (or its process dies). */
G_GNUC_NORETURN static void
speaker_main (int fd)
{
  /* Go when the engine's process goes, whatever becomes of the socket. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  for (;;)
    {
      Request request;
      char *voice, *text;
      gboolean ok;

      if (!read_exactly (fd, &request, sizeof request) || request.voice_length > 4096)
        _exit (0);
      voice = malloc ((gsize) request.voice_length + 1);
      text = malloc ((gsize) request.text_length + 1);
      if (voice == NULL || text == NULL || !read_exactly (fd, voice, request.voice_length) ||
          !read_exactly (fd, text, request.text_length))
        _exit (0);
      voice[request.voice_length] = '\0';
      text[request.text_length] = '\0';
      ok = speaker_serve (fd, &request, voice, text);
      free (voice);
      free (text);
      if (!ok)
        _exit (0);
    }
}

/* Starts the speaker; call with the lock held, espeak-ng initialised. */
static gboolean
start_speaker_locked (GError **error)
{
  int fds[2];
  pid_t pid;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot make a socket for the speech process: %s", g_strerror (saved));
      return FALSE;
    }
  pid = fork ();
  if (pid == 0)
    {
      close (fds[0]);
      speaker_main (fds[1]);
    }
  close (fds[1]);
  if (pid < 0)
    {
      int saved = errno;

      close (fds[0]);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot start the speech process (fork): %s", g_strerror (saved));
      return FALSE;
    }
  speaker_fd = fds[0];
  speaker_pid = pid;
  return TRUE;
}

/* Ends a speaker that stopped answering; the next utterance starts one. */
static void
stop_speaker_locked (void)
{
  if (speaker_fd < 0)
    return;
  close (speaker_fd);
  kill (speaker_pid, SIGKILL);
  /* ECHILD: a SIGCHLD handler of the host reaped it already. */
  while (waitpid (speaker_pid, NULL, 0) < 0 && errno == EINTR)
    ;
  speaker_fd = -1;
  speaker_pid = -1;
}

static GBytes *
speak_locked (const char *voice, const char *text, const TtsProsody *prosody, GError **error)
{
  Request request = {
    .voice_length = (guint32) strlen (voice),
    .text_length = (guint32) strlen (text),
    .prosody = { prosody->rate_wpm, prosody->pitch, prosody->pitch_range, prosody->volume },
  };
  g_autofree guint8 *samples = NULL;
  Reply reply;

  if (strlen (text) > G_MAXUINT32 / 2)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "the text is too long to speak in one piece (%" G_GSIZE_FORMAT
                   " bytes): cut it into chunks with the segmenter",
                   strlen (text));
      return NULL;
    }
  if (speaker_fd < 0 && !start_speaker_locked (error))
    return NULL;
  if (!write_all (speaker_fd, &request, sizeof request) ||
      !write_all (speaker_fd, voice, request.voice_length) ||
      !write_all (speaker_fd, text, request.text_length) ||
      !read_exactly (speaker_fd, &reply, sizeof reply) || reply.n_bytes > G_MAXSIZE / 2 ||
      (samples = g_try_malloc (MAX (reply.n_bytes, 1))) == NULL ||
      !read_exactly (speaker_fd, samples, reply.n_bytes))
    {
      int saved = errno;

      stop_speaker_locked ();
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the speech process stopped answering (%s); it is started again for the "
                   "next item",
                   saved != 0 ? g_strerror (saved) : "it exited");
      return NULL;
    }
  switch (reply.kind)
    {
    case REPLY_SPOKEN:
      if (reply.code != ENS_OK)
        {
          set_espeak_error (error, (espeak_ng_STATUS) reply.code, "synthesis failed");
          return NULL;
        }
      return g_bytes_new_take (g_steal_pointer (&samples), reply.n_bytes);
    case REPLY_NO_VOICE:
      set_espeak_error (error, (espeak_ng_STATUS) reply.code, voice);
      return NULL;
    case REPLY_CRASHED:
      if (WIFSIGNALED (reply.code))
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "espeak-ng crashed (signal %d, %s) while speaking this text; set the "
                     "stage's on_error to “skip” to go on without it",
                     WTERMSIG (reply.code), g_strsignal (WTERMSIG (reply.code)));
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "the speech process failed (exit status %d)",
                     WIFEXITED (reply.code) ? (int) WEXITSTATUS (reply.code) : -1);
      return NULL;
    default:
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno ((int) reply.code),
                   "the speech process cannot run: %s", g_strerror ((int) reply.code));
      return NULL;
    }
}

GBytes *
tts_speech_speak (const char *voice, const char *text, const TtsProsody *prosody, GError **error)
{
  GBytes *samples;

  g_return_val_if_fail (voice != NULL && text != NULL && prosody != NULL, NULL);

  G_LOCK (espeak);
  samples = speak_locked (voice, text, prosody, error);
  G_UNLOCK (espeak);
  return samples;
}
