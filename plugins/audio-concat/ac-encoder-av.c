/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Float PCM into AAC-LC, MP3 or Opus packets with libavcodec. The packets
 * go to a sink with their real timestamps (the encoder's priming makes the
 * first negative), so whoever muxes them puts chapter marks where the
 * audio really is. */

#include "ac.h"

#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <string.h>

struct _AcEncoder
{
  AVCodecContext *context;
  AVFrame *frame;
  AVPacket *packet;
  AcPacketSink sink;
  gpointer user_data;
  int channels;
  int frame_size;
  float *pending; /* interleaved, fewer than frame_size frames */
  int n_pending;
  gint64 next_pts;
};

static gboolean
set_av_error (GError **error, int code, const char *what)
{
  char message[AV_ERROR_MAX_STRING_SIZE] = "";

  av_strerror (code, message, sizeof message);
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED, "%s: %s", what, message);
  return FALSE;
}

static const char *
encoder_name (enum AVCodecID codec)
{
  switch (codec)
    {
    case AV_CODEC_ID_AAC:
      return "aac";
    case AV_CODEC_ID_MP3:
      return "libmp3lame";
    case AV_CODEC_ID_OPUS:
      return "libopus";
    default:
      return NULL;
    }
}

/* The first of the encoder's sample formats that this file converts to,
 * float ones first. */
static enum AVSampleFormat
pick_sample_format (const AVCodec *codec)
{
  static const enum AVSampleFormat ours[] = {
    AV_SAMPLE_FMT_FLTP,
    AV_SAMPLE_FMT_FLT,
    AV_SAMPLE_FMT_S16P,
    AV_SAMPLE_FMT_S16,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (ours); i++)
    for (const enum AVSampleFormat *f = codec->sample_fmts; f != NULL && *f != -1; f++)
      if (*f == ours[i])
        return ours[i];
  return AV_SAMPLE_FMT_NONE;
}

void
ac_encoder_free (AcEncoder *self)
{
  if (self == NULL)
    return;
  avcodec_free_context (&self->context);
  av_frame_free (&self->frame);
  av_packet_free (&self->packet);
  g_free (self->pending);
  g_free (self);
}

AcEncoder *
ac_encoder_new (const AcEncoderConfig *config,
                AcPacketSink sink,
                gpointer user_data,
                GError **error)
{
  const char *name = encoder_name (config->codec);
  const AVCodec *codec = name != NULL ? avcodec_find_encoder_by_name (name) : NULL;
  g_autoptr (AcEncoder) self = NULL;
  AVCodecContext *c;
  int ret;

  if (codec == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "this FFmpeg has no %s encoder: install one built with it",
                   name != NULL ? name : avcodec_get_name (config->codec));
      return NULL;
    }
  self = g_new0 (AcEncoder, 1);
  self->sink = sink;
  self->user_data = user_data;
  self->channels = config->channels;
  self->context = c = avcodec_alloc_context3 (codec);
  self->frame = av_frame_alloc ();
  self->packet = av_packet_alloc ();
  if (c == NULL || self->frame == NULL || self->packet == NULL)
    {
      set_av_error (error, AVERROR (ENOMEM), "cannot set up the encoder");
      return NULL;
    }
  c->sample_fmt = pick_sample_format (codec);
  if (c->sample_fmt == AV_SAMPLE_FMT_NONE)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the %s encoder takes no float or 16-bit samples", name);
      return NULL;
    }
  c->sample_rate = config->sample_rate;
  av_channel_layout_default (&c->ch_layout, config->channels);
  c->bit_rate = config->bit_rate;
  c->time_base = (AVRational){ 1, config->sample_rate };
  /* One thread and bit-exact: the same PCM gives the same bytes. */
  c->flags |= AV_CODEC_FLAG_BITEXACT | AV_CODEC_FLAG_GLOBAL_HEADER;
  c->thread_count = 1;
  if (config->codec == AV_CODEC_ID_AAC)
    {
      c->profile = FF_PROFILE_AAC_LOW;
      if (config->aac_coder != NULL &&
          (ret = av_opt_set (c->priv_data, "aac_coder", config->aac_coder, 0)) < 0)
        {
          set_av_error (error, ret, "cannot set the AAC coder");
          g_prefix_error (error, "aac_coder “%s”: ", config->aac_coder);
          return NULL;
        }
    }
  ret = avcodec_open2 (c, codec, NULL);
  if (ret < 0)
    {
      set_av_error (error, ret, "cannot open the encoder");
      g_prefix_error (error, "%s at %d Hz, %d channels, %" G_GINT64_FORMAT " b/s: ", name,
                      config->sample_rate, config->channels, config->bit_rate);
      return NULL;
    }
  self->frame_size = c->frame_size > 0 ? c->frame_size : 1024;
  self->pending = g_new (float, (gsize) self->frame_size *(gsize) config->channels);
  return g_steal_pointer (&self);
}

const AVCodecContext *
ac_encoder_get_context (const AcEncoder *self)
{
  return self->context;
}

static gboolean
drain (AcEncoder *self, GError **error)
{
  for (;;)
    {
      int ret = avcodec_receive_packet (self->context, self->packet);

      if (ret == AVERROR (EAGAIN) || ret == AVERROR_EOF)
        return TRUE;
      if (ret < 0)
        return set_av_error (error, ret, "the encoder failed");
      if (!self->sink (self->user_data, self->packet, error))
        {
          av_packet_unref (self->packet);
          return FALSE;
        }
      av_packet_unref (self->packet);
    }
}

/* Sends @n frames of @pcm (interleaved float) as one encoder frame. */
static gboolean
send_frame (AcEncoder *self, const float *pcm, int n, GError **error)
{
  AVFrame *frame = self->frame;
  int ch = self->channels;
  int ret;

  av_frame_unref (frame);
  frame->format = self->context->sample_fmt;
  frame->sample_rate = self->context->sample_rate;
  frame->nb_samples = n;
  av_channel_layout_copy (&frame->ch_layout, &self->context->ch_layout);
  ret = av_frame_get_buffer (frame, 0);
  if (ret < 0)
    return set_av_error (error, ret, "cannot allocate a frame");
  switch (frame->format)
    {
    case AV_SAMPLE_FMT_FLTP:
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < n; i++)
          ((float *) frame->data[c])[i] = pcm[i * ch + c];
      break;
    case AV_SAMPLE_FMT_FLT:
      memcpy (frame->data[0], pcm, sizeof (float) * (gsize) n * (gsize) ch);
      break;
    case AV_SAMPLE_FMT_S16P:
    case AV_SAMPLE_FMT_S16:
      for (int c = 0; c < ch; c++)
        for (int i = 0; i < n; i++)
          {
            float v = CLAMP (pcm[i * ch + c], -1.0f, 1.0f) * 32767.0f;
            gint16 s = (gint16) lrintf (v);

            if (frame->format == AV_SAMPLE_FMT_S16P)
              ((gint16 *) frame->data[c])[i] = s;
            else
              ((gint16 *) frame->data[0])[i * ch + c] = s;
          }
      break;
    default:
      g_assert_not_reached ();
    }
  frame->pts = self->next_pts;
  self->next_pts += n;
  ret = avcodec_send_frame (self->context, frame);
  if (ret < 0)
    return set_av_error (error, ret, "the encoder refused a frame");
  return drain (self, error);
}

gboolean
ac_encoder_write (gpointer encoder, const float *frames, gsize n_frames, GError **error)
{
  AcEncoder *self = encoder;
  gsize ch = (gsize) self->channels;

  while (n_frames > 0)
    {
      if (self->n_pending == 0 && n_frames >= (gsize) self->frame_size)
        {
          if (!send_frame (self, frames, self->frame_size, error))
            return FALSE;
          frames += (gsize) self->frame_size * ch;
          n_frames -= (gsize) self->frame_size;
          continue;
        }
      {
        gsize take = MIN (n_frames, (gsize) (self->frame_size - self->n_pending));

        memcpy (self->pending + (gsize) self->n_pending * ch, frames, take * ch * sizeof (float));
        self->n_pending += (int) take;
        frames += take * ch;
        n_frames -= take;
        if (self->n_pending == self->frame_size)
          {
            self->n_pending = 0;
            if (!send_frame (self, self->pending, self->frame_size, error))
              return FALSE;
          }
      }
    }
  return TRUE;
}

gboolean
ac_encoder_finish (AcEncoder *self, GError **error)
{
  int ret;

  if (self->n_pending > 0)
    {
      int n = self->n_pending;

      /* An encoder that cannot take a short last frame gets silence to
       * fill it: the padding the muxer's duration then includes. */
      if (!(self->context->codec->capabilities &
            (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE)))
        {
          memset (self->pending + (gsize) n * (gsize) self->channels, 0,
                  sizeof (float) * (gsize) (self->frame_size - n) * (gsize) self->channels);
          n = self->frame_size;
        }
      self->n_pending = 0;
      if (!send_frame (self, self->pending, n, error))
        return FALSE;
    }
  ret = avcodec_send_frame (self->context, NULL);
  if (ret < 0 && ret != AVERROR_EOF)
    return set_av_error (error, ret, "cannot flush the encoder");
  return drain (self, error);
}

gint64
ac_encoder_get_frames (const AcEncoder *self)
{
  return self->next_pts;
}

/* A packet decodes to a whole frame whatever its duration says: the
 * encoder shortens the last one to trim the padding, which is right at
 * the end of a file but would shift every later chapter in a book. The
 * padding stays, as silence at the chapter's end, and the book's
 * timestamps are what players decode. */
gint64
ac_encoder_packet_duration (const AcEncoder *self, const AVPacket *packet)
{
  return self->context->frame_size > 0 ? self->context->frame_size : packet->duration;
}
