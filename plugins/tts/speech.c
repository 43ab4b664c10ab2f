/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* speech: espeak-ng behind one lock, each utterance spoken in a forked child. */

/*
 * Why a child per utterance: espeak-ng's wave generator keeps state from one
 * utterance to the next (the first utterance after initialisation is shorter
 * than the second; later ones have the same length but other samples), and
 * neither espeak_ng_Terminate nor a voice change resets it. A chunk's audio
 * would then depend on what the same process spoke before it, so on how the
 * engine spread the chunks over workers and on where a resumed run started.
 * The parent therefore never speaks: it initialises espeak-ng and loads
 * voices (which speaks nothing), and forks a child for each utterance that
 * starts from that same state, speaks, streams its samples back through a
 * pipe and exits. Each chunk's audio is then a function of its text, voice
 * and prosody alone. A crash of espeak-ng on strange text kills the child,
 * not the run. The cost is a fork per chunk (a fraction of a millisecond for
 * a small process; docs/benchmarks.md has the measured total).
 *
 * The child only calls espeak-ng, write() and _exit(): no GLib, no stdio,
 * no atexit handlers, so it is safe although the parent may have other
 * threads. glibc keeps malloc usable in the child of a threaded process.
 */

#include "speech.h"

#include <sutra/sutra.h>

#include <errno.h>
#include <espeak-ng/espeak_ng.h>
#include <fcntl.h>
#include <espeak-ng/speak_lib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* espeak-ng's state is global: every call into it holds this lock. */
G_LOCK_DEFINE_STATIC (espeak);
static guint espeak_users;
static int espeak_sample_rate; /* 0 until espeak-ng is initialised */
static char *espeak_voice;     /* the voice loaded now; NULL when unknown */

/* In the child only: where the synthesis callback writes. */
static int child_fd = -1;

/* The child's stream: frames of [guint32 byte count][samples], then the
 * trailer [TRAILER_MARK][gint32 espeak status]. */
#define TRAILER_MARK G_MAXUINT32

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
  espeak_sample_rate = espeak_ng_GetSampleRate ();
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

/* Runs in the child: a failed write ends the child, which the parent
 * reports. */
static gboolean
child_write_all (const void *data, gsize size)
{
  const char *p = data;

  while (size > 0)
    {
      ssize_t n = write (child_fd, p, size);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      size -= (gsize) n;
    }
  return TRUE;
}

/* espeak-ng's synthesis callback; runs in the child. Returning 1 aborts. */
static int
child_on_samples (short *samples, int n_samples, espeak_EVENT *events)
{
  guint32 size;

  if (samples == NULL || n_samples <= 0)
    return 0;
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (int i = 0; i < n_samples; i++)
    samples[i] = (short) GUINT16_TO_LE ((guint16) samples[i]);
#endif
  size = (guint32) n_samples * 2;
  if (!child_write_all (&size, sizeof size) || !child_write_all (samples, size))
    return 1;
  return 0;
}

G_GNUC_NORETURN static void
child_speak (int fd, const char *text, const TtsProsody *prosody)
{
  guint32 trailer[2] = { TRAILER_MARK, 0 };
  espeak_ng_STATUS status;

  child_fd = fd;
  espeak_SetSynthCallback (child_on_samples);
  espeak_ng_SetParameter (espeakRATE, prosody->rate_wpm, 0);
  espeak_ng_SetParameter (espeakPITCH, prosody->pitch, 0);
  espeak_ng_SetParameter (espeakRANGE, prosody->pitch_range, 0);
  espeak_ng_SetParameter (espeakVOLUME, prosody->volume, 0);
  /* No espeakSSML and no espeakPHONEMES: `<tags>` and `[[...]]` are text.
   * No espeakENDPAUSE: the pause after a chunk is the concatenation's. */
  status = espeak_ng_Synthesize (text, strlen (text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                                 NULL, NULL);
  trailer[1] = (guint32) status;
  _exit (child_write_all (trailer, sizeof trailer) ? 0 : 1);
}

static gboolean
read_all (int fd, void *data, gsize size, gsize *n_read)
{
  char *p = data;

  *n_read = 0;
  while (*n_read < size)
    {
      ssize_t n = read (fd, p + *n_read, size - *n_read);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      *n_read += (gsize) n;
    }
  return TRUE;
}

/* Reads the child's stream into @samples. Returns TRUE when the trailer
 * came, with its status in @status; FALSE when the stream ended early. */
static gboolean
parent_collect (int fd, GByteArray *samples, guint32 *status, int *read_errno)
{
  for (;;)
    {
      guint32 header;
      gsize n;

      if (!read_all (fd, &header, sizeof header, &n))
        {
          *read_errno = errno;
          return FALSE;
        }
      if (n < sizeof header)
        return FALSE;
      if (header == TRAILER_MARK)
        {
          if (!read_all (fd, status, sizeof *status, &n) || n < sizeof *status)
            return FALSE;
          return TRUE;
        }
      if (header > G_MAXUINT32 - samples->len)
        return FALSE;
      {
        guint old = samples->len;

        g_byte_array_set_size (samples, old + header);
        if (!read_all (fd, samples->data + old, header, &n))
          {
            *read_errno = errno;
            return FALSE;
          }
        if (n < header)
          return FALSE;
      }
    }
}

static void
reap (pid_t pid, int *wait_status)
{
  *wait_status = 0;
  /* ECHILD: someone else reaped it (a SIGCHLD handler of the host); the
   * stream's trailer has already said how it ended. */
  while (waitpid (pid, wait_status, 0) < 0 && errno == EINTR)
    ;
}

GBytes *
tts_speech_speak (const char *text, const TtsProsody *prosody, GError **error)
{
  g_autoptr (GByteArray) samples = g_byte_array_new ();
  guint32 status = 0;
  int fds[2];
  int read_errno = 0;
  int wait_status;
  gboolean complete;
  pid_t pid;

  g_return_val_if_fail (text != NULL && prosody != NULL, NULL);

  if (pipe2 (fds, O_CLOEXEC) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot make a pipe for the speech process: %s", g_strerror (saved));
      return NULL;
    }
  /* The lock is held across the fork so that the child starts from a
   * consistent espeak-ng (no voice half loaded by another thread). */
  G_LOCK (espeak);
  pid = fork ();
  if (pid == 0)
    {
      close (fds[0]);
      child_speak (fds[1], text, prosody);
    }
  G_UNLOCK (espeak);
  close (fds[1]);
  if (pid < 0)
    {
      int saved = errno;

      close (fds[0]);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot start the speech process (fork): %s", g_strerror (saved));
      return NULL;
    }
  complete = parent_collect (fds[0], samples, &status, &read_errno);
  close (fds[0]);
  reap (pid, &wait_status);

  if (!complete)
    {
      if (read_errno != 0)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "cannot read the speech process's output: %s", g_strerror (read_errno));
      else if (WIFSIGNALED (wait_status))
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "espeak-ng crashed (signal %d, %s) while speaking this text; set the "
                     "stage's on_error to “skip” to go on without it",
                     WTERMSIG (wait_status), g_strsignal (WTERMSIG (wait_status)));
      else
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                     "the speech process ended before it finished (exit status %d)",
                     WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : -1);
      return NULL;
    }
  if (status != ENS_OK)
    {
      set_espeak_error (error, (espeak_ng_STATUS) status, "synthesis failed");
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&samples));
}
