/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One stream's PCM (a chapter) encoded as segments in parallel, into the
 * packets of one timeline: what makes a long chapter use every core, and
 * keeps the last chapter of a book from encoding on one core while the
 * others wait.
 *
 * AAC frames depend on their neighbours only through the MDCT's overlap:
 * the output around frame boundary S is the sum of the last window before
 * S and the first after it. So a segment boundary S is put where both
 * windows see the same samples: segment k's encoder is given the samples
 * of [S_k - 4F, S_k+1 + 2F) (four frames of pre-roll and two of
 * post-roll, F the encoder's frame size), and of its packets only those whose
 * timestamps lie in [S_k, S_k+1) are kept, so the book's timeline is
 * exactly one encoder's: the same packet count, the same timestamps, the
 * same chapter length. Boundaries are cut, by preference, in digital
 * silence (the gaps audio-encode puts between sentences and paragraphs),
 * where all samples in [S - 2F, S + 3F) are zero: both windows then code
 * silence, and the join is exact whatever each encoder decides. A stream
 * with no such silence is cut anyway after four segments' length, so memory
 * stays bounded; the windows there overlap the same samples, and the join
 * is as good as any other frame boundary's.
 *
 * Where segments are cut depends only on the samples and the segment
 * length, never on the threads or their timing; each segment has a fresh
 * single-threaded bit-exact encoder; packets are handed on in order. So
 * the bytes do not depend on the number of threads.
 */

#include "ac.h"

#include <string.h>

/* A cut in silence needs zeros over [S - 2F, S + 3F); a forced cut is at
 * most this many minimum lengths from the last. */
#define SILENCE_BEFORE_FRAMES 2
#define SILENCE_AFTER_FRAMES 3
#define FORCED_CUT_FACTOR 4
/* A segment's encoder sees this many frames past its end (the last kept
 * window reaches one frame past it) and before its start. With one frame
 * before, a fresh encoder takes the audio there for an onset and switches
 * to short windows, which overlap the previous encoder's long one badly
 * (test-ac-encode-segments' forced cuts: an error 250 times the codec's);
 * from two on the joins are clean. */
#define POST_ROLL_FRAMES 2
#define PRE_ROLL_FRAMES 4

typedef struct
{
  float *pcm;         /* interleaved: [input_start, input_start + n_frames) */
  gsize n_frames;     /* frames of pcm */
  gint64 input_start; /* the stream frame of pcm[0] */
  gint64 keep_from;   /* packets with pts in [keep_from, keep_until) are kept */
  gint64 keep_until;
  GPtrArray *packets; /* AVPacket, kept ones, pts on the stream's timeline */
  GError *error;
  gboolean done;
} Segment;

struct _AcSegmentedEncoder
{
  AcEncoderConfig config;
  AcPacketSink sink;
  gpointer user_data;
  /* Streams to the sink while the stream is one segment; either way, the
   * stream's parameters (those an encoder has once opened). */
  AcEncoder *first;
  int channels;
  gint64 frame_size;
  gint64 min_frames; /* 0: one encoder, fed as the PCM comes */

  /* What the producer is building: frames [buffer_start, position). */
  float *buffer;
  gsize buffer_frames;
  gsize buffer_capacity;
  gint64 buffer_start;
  gint64 segment_start; /* the current segment's S_k */
  gint64 position;      /* frames written */
  gint64 zeros_from;    /* where the run of silent frames ending at position began; -1 */
  guint n_segments;
  GArray *cuts; /* gint64: where segments 1, 2, ... start */

  GThreadPool *pool;
  guint max_pending;
  GQueue pending; /* Segment, in stream order */
  GMutex lock;
  GCond done_cond;
};

static void
packet_free (gpointer packet)
{
  AVPacket *p = packet;

  av_packet_free (&p);
}

static void
segment_free (Segment *segment)
{
  g_free (segment->pcm);
  if (segment->packets != NULL)
    g_ptr_array_unref (segment->packets);
  g_clear_error (&segment->error);
  g_free (segment);
}

void
ac_segmented_encoder_free (AcSegmentedEncoder *self)
{
  if (self == NULL)
    return;
  /* Segments not started are dropped; those running finish first. */
  if (self->pool != NULL)
    g_thread_pool_free (self->pool, TRUE, TRUE);
  g_queue_clear_full (&self->pending, (GDestroyNotify) segment_free);
  ac_encoder_free (self->first);
  g_free (self->buffer);
  g_array_unref (self->cuts);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->done_cond);
  g_free (self);
}

static gboolean
keep_packet (gpointer user_data, const AVPacket *packet, GError **error)
{
  Segment *segment = user_data;
  gint64 pts = packet->pts + segment->input_start;
  AVPacket *kept;

  if (pts < segment->keep_from || pts >= segment->keep_until)
    return TRUE;
  kept = av_packet_clone (packet);
  if (kept == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "out of memory keeping a packet");
      return FALSE;
    }
  kept->pts = pts;
  kept->dts = pts;
  g_ptr_array_add (segment->packets, kept);
  return TRUE;
}

static gboolean
encode_segment (AcSegmentedEncoder *self, Segment *segment, GError **error)
{
  g_autoptr (AcEncoder) encoder = ac_encoder_new (&self->config, keep_packet, segment, error);

  return encoder != NULL && ac_encoder_write (encoder, segment->pcm, segment->n_frames, error) &&
         ac_encoder_finish (encoder, error);
}

static void
encode_in_pool (gpointer data, gpointer user_data)
{
  Segment *segment = data;
  AcSegmentedEncoder *self = user_data;
  GError *local = NULL;

  encode_segment (self, segment, &local);
  /* The PCM goes as soon as the segment is done (the encoder already
   * has): memory holds only the packets of the segments waiting for their
   * turn. */
  g_clear_pointer (&segment->pcm, g_free);
  g_mutex_lock (&self->lock);
  segment->error = local;
  segment->done = TRUE;
  g_cond_broadcast (&self->done_cond);
  g_mutex_unlock (&self->lock);
}

AcSegmentedEncoder *
ac_segmented_encoder_new (const AcEncoderConfig *config,
                          double segment_seconds,
                          guint n_threads,
                          AcPacketSink sink,
                          gpointer user_data,
                          GError **error)
{
  g_autoptr (AcSegmentedEncoder) self = g_new0 (AcSegmentedEncoder, 1);
  AcEncoder *first;

  self->config = *config;
  self->sink = sink;
  self->user_data = user_data;
  self->channels = config->channels;
  self->zeros_from = -1;
  self->cuts = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_mutex_init (&self->lock);
  g_cond_init (&self->done_cond);
  g_queue_init (&self->pending);
  /* The first encoder streams straight to @sink unless a second segment
   * is cut; then every segment, the first too, gets an encoder of its
   * own. */
  self->first = first = ac_encoder_new (config, sink, user_data, error);
  if (first == NULL)
    return NULL;
  self->frame_size = ac_encoder_get_context (first)->frame_size;
  /* Only AAC's frames are joined this way (MP3's bit reservoir and Opus's
   * prediction reach across frames). */
  if (config->codec == AV_CODEC_ID_AAC && segment_seconds > 0 && self->frame_size > 0)
    {
      gint64 frames = (gint64) (segment_seconds * config->sample_rate);

      self->min_frames =
        MAX (frames, (SILENCE_BEFORE_FRAMES + SILENCE_AFTER_FRAMES) * self->frame_size);
      if (n_threads == 0)
        n_threads = g_get_num_processors ();
      self->pool = g_thread_pool_new (encode_in_pool, self, (gint) n_threads, FALSE, error);
      if (self->pool == NULL)
        return NULL;
      self->max_pending = 2 * n_threads;
    }
  return g_steal_pointer (&self);
}

const AVCodecContext *
ac_segmented_encoder_get_context (const AcSegmentedEncoder *self)
{
  return ac_encoder_get_context (self->first);
}

gint64
ac_segmented_encoder_packet_duration (const AcSegmentedEncoder *self, const AVPacket *packet)
{
  return ac_encoder_packet_duration (self->first, packet);
}

const gint64 *
ac_segmented_encoder_get_cuts (const AcSegmentedEncoder *self, guint *n_cuts)
{
  *n_cuts = self->cuts->len;
  return (const gint64 *) (gconstpointer) self->cuts->data;
}

static void
buffer_append (AcSegmentedEncoder *self, const float *frames, gsize n_frames)
{
  gsize ch = (gsize) self->channels;

  if (self->buffer_frames + n_frames > self->buffer_capacity)
    {
      self->buffer_capacity = MAX (self->buffer_capacity * 2, self->buffer_frames + n_frames);
      self->buffer = g_renew (float, self->buffer, self->buffer_capacity *ch);
    }
  memcpy (self->buffer + self->buffer_frames * ch, frames, n_frames * ch * sizeof (float));
  self->buffer_frames += n_frames;
}

/* Hands the segments done at the head of the queue to the sink, in order;
 * with @wait, waits for the head first. */
static gboolean
deliver (AcSegmentedEncoder *self, gboolean wait, GError **error)
{
  for (;;)
    {
      Segment *head = g_queue_peek_head (&self->pending);
      gboolean done;

      if (head == NULL)
        return TRUE;
      g_mutex_lock (&self->lock);
      while (wait && !head->done)
        g_cond_wait (&self->done_cond, &self->lock);
      done = head->done;
      g_mutex_unlock (&self->lock);
      if (!done)
        return TRUE;
      g_queue_pop_head (&self->pending);
      if (head->error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&head->error));
          segment_free (head);
          return FALSE;
        }
      for (guint i = 0; i < head->packets->len; i++)
        if (!self->sink (self->user_data, g_ptr_array_index (head->packets, i), error))
          {
            segment_free (head);
            return FALSE;
          }
      segment_free (head);
      wait = FALSE;
    }
}

/* Sends the buffer up to @until as a segment whose kept packets end at
 * @keep_until (G_MAXINT64 for the last), keeping [@keep_until -
 * PRE_ROLL_FRAMES * F, position) in the buffer for the next: its pre-roll
 * and what follows. */
static gboolean
submit (AcSegmentedEncoder *self, gint64 until, gint64 keep_until, GError **error)
{
  gsize ch = (gsize) self->channels;
  Segment *segment = g_new0 (Segment, 1);
  gboolean last = keep_until == G_MAXINT64;

  segment->n_frames = (gsize) (until - self->buffer_start);
  segment->input_start = self->buffer_start;
  segment->keep_from = self->n_segments == 0 ? G_MININT64 : self->segment_start;
  segment->keep_until = keep_until;
  segment->packets = g_ptr_array_new_with_free_func (packet_free);
  if (last)
    {
      segment->pcm = g_steal_pointer (&self->buffer);
      self->buffer_frames = self->buffer_capacity = 0;
    }
  else
    {
      gint64 next_start = keep_until - PRE_ROLL_FRAMES * self->frame_size;
      gsize carried = (gsize) (self->buffer_start + (gint64) self->buffer_frames - next_start);

      segment->pcm = g_memdup2 (self->buffer, segment->n_frames * ch * sizeof (float));
      memmove (self->buffer, self->buffer + (gsize) (next_start - self->buffer_start) * ch,
               carried * ch * sizeof (float));
      self->buffer_start = next_start;
      self->buffer_frames = carried;
      self->segment_start = keep_until;
      g_array_append_val (self->cuts, keep_until);
    }
  self->n_segments++;
  g_queue_push_tail (&self->pending, segment);
  if (!g_thread_pool_push (self->pool, segment, error))
    {
      /* Never started: the queue holds it, freed with the encoder. */
      g_mutex_lock (&self->lock);
      segment->done = TRUE;
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  return deliver (self, g_queue_get_length (&self->pending) >= self->max_pending, error);
}

/* Where the stream can be cut now, or -1: in the current run of silence,
 * or, past the forced-cut length, wherever the post-roll is at hand. */
static gint64
cut_point (const AcSegmentedEncoder *self)
{
  gint64 f = self->frame_size;

  if (self->zeros_from >= 0)
    {
      gint64 s = (self->zeros_from + SILENCE_BEFORE_FRAMES * f + f - 1) / f * f;

      if (s - self->segment_start >= self->min_frames &&
          self->position >= s + SILENCE_AFTER_FRAMES * f)
        return s;
    }
  if (self->position - self->segment_start >=
      FORCED_CUT_FACTOR * self->min_frames + POST_ROLL_FRAMES * f)
    return (self->position - POST_ROLL_FRAMES * f) / f * f;
  return -1;
}

gboolean
ac_segmented_encoder_write (gpointer encoder, const float *frames, gsize n_frames, GError **error)
{
  AcSegmentedEncoder *self = encoder;
  gsize ch = (gsize) self->channels;
  gsize appended = 0;

  if (self->min_frames == 0)
    return ac_encoder_write (self->first, frames, n_frames, error);
  for (gsize i = 0; i < n_frames; i++)
    {
      const float *frame = frames + i * ch;
      gboolean silent = TRUE;
      gint64 s;

      for (gsize c = 0; c < ch && silent; c++)
        silent = frame[c] == 0.0f;
      if (!silent)
        self->zeros_from = -1;
      else if (self->zeros_from < 0)
        self->zeros_from = self->position;
      self->position++;
      s = cut_point (self);
      if (s < 0)
        continue;
      buffer_append (self, frames + appended * ch, i + 1 - appended);
      appended = i + 1;
      if (!submit (self, s + POST_ROLL_FRAMES * self->frame_size, s, error))
        return FALSE;
    }
  buffer_append (self, frames + appended * ch, n_frames - appended);
  return TRUE;
}

gboolean
ac_segmented_encoder_finish (AcSegmentedEncoder *self, GError **error)
{
  if (self->n_segments == 0)
    {
      /* One segment: the first encoder, on this thread, streaming. */
      if (self->buffer_frames > 0 &&
          !ac_encoder_write (self->first, self->buffer, self->buffer_frames, error))
        return FALSE;
      g_clear_pointer (&self->buffer, g_free);
      return ac_encoder_finish (self->first, error);
    }
  if (!submit (self, self->position, G_MAXINT64, error))
    return FALSE;
  while (!g_queue_is_empty (&self->pending))
    if (!deliver (self, TRUE, error))
      return FALSE;
  return TRUE;
}
