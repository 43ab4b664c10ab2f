/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A book's chapters encoded in parallel, for the second loudness pass: the
 * book's PCM (spooled, float) gets its one gain and each chapter is
 * encoded by an encoder of its own, exactly as audio-encode encodes a
 * chapter, so the book is then remuxed from the chapters' packets the way
 * audio-encode's chapters are.
 *
 * A few threads take the chapters in order from a shared counter. Each
 * thread appends its chapters' packets to a spool file of its own as the
 * encoder makes them, and records where each chapter's run of packets
 * starts: memory holds one block of PCM and one encoder per thread, never a
 * chapter. Which thread encodes a chapter, and where its packets lie, depends
 * on timing; the packets do not (one fresh single-threaded bit-exact encoder
 * per chapter, the same PCM, the same gain), and they are read back in
 * chapter order, so the file's bytes do not depend on the thread count.
 */

#include "ac.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Frames of PCM a thread reads from the spool at a time. */
#define BLOCK_FRAMES 8192

typedef struct
{
  guint spool;    /* the thread whose spool holds the packets */
  goffset offset; /* where they start in it */
  guint64 n_packets;
  GError *error;
} Result;

struct _AcChapterPool
{
  AcEncoderConfig encoder;
  int pcm_fd;
  int channels;
  float gain;
  const gint64 *bounds; /* while encoding: n_chapters + 1 frame positions */
  guint n_chapters;
  Result *results;
  FILE **spools;
  guint n_spools;
  AcStreamInfo info;
  gint next;   /* the next chapter to take (atomic) */
  gint failed; /* set when a chapter failed: the others stop (atomic) */
};

typedef struct
{
  AcChapterPool *pool;
  guint index;
  FILE *spool;
  GByteArray *record;
  float *buffer;
  GThread *thread;
} Worker;

typedef struct
{
  Worker *worker;
  AcEncoder *encoder;
  Result *result;
} ChapterSink;

void
ac_chapter_pool_free (AcChapterPool *self)
{
  if (self == NULL)
    return;
  for (guint i = 0; i < self->n_chapters && self->results != NULL; i++)
    g_clear_error (&self->results[i].error);
  g_free (self->results);
  for (guint i = 0; i < self->n_spools; i++)
    if (self->spools[i] != NULL)
      fclose (self->spools[i]);
  g_free (self->spools);
  ac_stream_info_clear (&self->info);
  g_free (self);
}

static gboolean
on_packet (gpointer user_data, const AVPacket *packet, GError **error)
{
  ChapterSink *sink = user_data;
  GByteArray *record = sink->worker->record;

  g_byte_array_set_size (record, 0);
  ac_packets_append_packet (record, packet->data, (gsize) packet->size, packet->pts,
                            ac_encoder_packet_duration (sink->encoder, packet));
  sink->result->n_packets++;
  return ac_spool_write (sink->worker->spool, record->data, record->len, error);
}

static gboolean
read_pcm (int fd, void *buffer, gsize size, goffset at, GError **error)
{
  guint8 *p = buffer;

  while (size > 0)
    {
      ssize_t got = pread (fd, p, size, at);

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          int saved = got < 0 ? errno : EIO;

          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "cannot read the book's PCM back from its spool file: %s",
                       got < 0 ? g_strerror (saved) : "it is short");
          return FALSE;
        }
      p += got;
      size -= (gsize) got;
      at += got;
    }
  return TRUE;
}

static gboolean
encode_chapter (Worker *worker, guint index, GError **error)
{
  AcChapterPool *pool = worker->pool;
  Result *result = &pool->results[index];
  ChapterSink sink = { worker, NULL, result };
  g_autoptr (AcEncoder) encoder = NULL;
  gsize frame_bytes = sizeof (float) * (gsize) pool->channels;
  gint64 at = pool->bounds[index];
  gint64 end = pool->bounds[index + 1];

  result->spool = worker->index;
  result->offset = ftello (worker->spool);
  encoder = ac_encoder_new (&pool->encoder, on_packet, &sink, error);
  if (encoder == NULL)
    return FALSE;
  sink.encoder = encoder;
  while (at < end)
    {
      gsize n = (gsize) MIN ((gint64) BLOCK_FRAMES, end - at);
      gsize count = n * (gsize) pool->channels;

      if (!read_pcm (pool->pcm_fd, worker->buffer, n * frame_bytes,
                     (goffset) at * (goffset) frame_bytes, error))
        return FALSE;
      if (pool->gain != 1.0f)
        for (gsize i = 0; i < count; i++)
          worker->buffer[i] *= pool->gain;
      if (!ac_encoder_write (encoder, worker->buffer, n, error))
        return FALSE;
      at += (gint64) n;
    }
  return ac_encoder_finish (encoder, error);
}

static gpointer
work (gpointer data)
{
  Worker *worker = data;
  AcChapterPool *pool = worker->pool;

  while (!g_atomic_int_get (&pool->failed))
    {
      guint index = (guint) g_atomic_int_add (&pool->next, 1);

      if (index >= pool->n_chapters)
        break;
      if (!encode_chapter (worker, index, &pool->results[index].error))
        g_atomic_int_set (&pool->failed, 1);
    }
  return NULL;
}

AcChapterPool *
ac_chapter_pool_encode (const AcChapterPoolConfig *config,
                        const gint64 *bounds,
                        guint n_chapters,
                        GError **error)
{
  g_autoptr (AcChapterPool) self = g_new0 (AcChapterPool, 1);
  g_autoptr (AcEncoder) probe = NULL;
  g_autofree Worker *workers = NULL;
  guint n_threads;
  gboolean ok = TRUE;

  self->encoder = *config->encoder;
  self->pcm_fd = fileno (config->pcm);
  self->channels = config->encoder->channels;
  self->gain = config->gain;
  self->bounds = bounds;
  self->n_chapters = n_chapters;
  self->results = g_new0 (Result, MAX (n_chapters, 1));

  /* The stream's parameters (extradata: every chapter's encoder makes the
   * same), from an encoder of this thread: it also checks the settings
   * before any thread starts. */
  probe = ac_encoder_new (&self->encoder, NULL, NULL, error);
  if (probe == NULL)
    return NULL;
  ac_stream_info_from_context (&self->info, ac_encoder_get_context (probe));
  g_clear_pointer (&probe, ac_encoder_free);
  if (fflush (config->pcm) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write the spool file: %s", g_strerror (saved));
      return NULL;
    }

  n_threads = config->n_threads > 0 ? config->n_threads : g_get_num_processors ();
  n_threads = CLAMP (n_threads, 1, MAX (n_chapters, 1));
  self->n_spools = n_threads;
  self->spools = g_new0 (FILE *, n_threads);
  workers = g_new0 (Worker, n_threads);
  for (guint i = 0; i < n_threads; i++)
    {
      self->spools[i] = ac_spool_open (config->work_dir, error);
      if (self->spools[i] == NULL)
        return NULL;
      workers[i].pool = self;
      workers[i].index = i;
      workers[i].spool = self->spools[i];
    }

  for (guint i = 0; i < n_threads; i++)
    {
      workers[i].record = g_byte_array_new ();
      workers[i].buffer = g_new (float, BLOCK_FRAMES *(gsize) self->channels);
      /* The first runs on this thread: with one, no thread is made. */
      if (i > 0)
        {
          g_autofree char *name = g_strdup_printf ("ac-encode-%u", i);

          workers[i].thread = g_thread_try_new (name, work, &workers[i], error);
          if (workers[i].thread == NULL)
            {
              g_atomic_int_set (&self->failed, 1);
              ok = FALSE;
              break;
            }
        }
    }
  if (ok)
    work (&workers[0]);
  for (guint i = 0; i < n_threads; i++)
    {
      if (workers[i].thread != NULL)
        g_thread_join (workers[i].thread);
      if (workers[i].record != NULL)
        g_byte_array_unref (workers[i].record);
      g_free (workers[i].buffer);
    }
  if (!ok)
    return NULL;
  self->bounds = NULL;

  /* The first chapter that failed, in book order. */
  for (guint i = 0; i < n_chapters; i++)
    if (self->results[i].error != NULL)
      {
        g_propagate_prefixed_error (error, g_steal_pointer (&self->results[i].error),
                                    "encoding chapter %u: ", i + 1);
        return NULL;
      }
  return g_steal_pointer (&self);
}

const AcStreamInfo *
ac_chapter_pool_get_info (const AcChapterPool *self)
{
  return &self->info;
}

FILE *
ac_chapter_pool_chapter (AcChapterPool *self, guint index, guint64 *n_packets, GError **error)
{
  const Result *result = &self->results[index];
  FILE *spool = self->spools[result->spool];

  *n_packets = result->n_packets;
  if (result->n_packets == 0)
    return spool;
  if (fflush (spool) != 0 || fseeko (spool, result->offset, SEEK_SET) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot read the encoded chapters back from their spool file: %s",
                   g_strerror (saved));
      return NULL;
    }
  return spool;
}
