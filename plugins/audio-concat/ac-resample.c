/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any packed PCM to interleaved float at the output's rate and channel
 * count, with libswresample. One converter per run of members of the same
 * input format: when the format changes, the old one is drained first, so
 * nothing is lost and the result depends only on the input. */

#include "ac.h"

#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>

struct _AcResampler
{
  int out_rate;
  int out_channels;
  SwrContext *swr;
  AcPcmFormat in; /* what swr converts from */
  float *buffer;
  int buffer_frames;
};

AcResampler *
ac_resampler_new (int out_rate, int out_channels)
{
  AcResampler *self = g_new0 (AcResampler, 1);

  self->out_rate = out_rate;
  self->out_channels = out_channels;
  return self;
}

void
ac_resampler_free (AcResampler *self)
{
  if (self == NULL)
    return;
  swr_free (&self->swr);
  g_free (self->buffer);
  g_free (self);
}

static gboolean
set_av_error (GError **error, int code, const char *what)
{
  char message[AV_ERROR_MAX_STRING_SIZE] = "";

  av_strerror (code, message, sizeof message);
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED, "%s: %s", what, message);
  return FALSE;
}

static float *
reserve (AcResampler *self, int frames)
{
  if (frames > self->buffer_frames)
    {
      self->buffer_frames = frames;
      self->buffer =
        g_realloc_n (self->buffer, (gsize) frames * (gsize) self->out_channels, sizeof (float));
    }
  return self->buffer;
}

/* Converts @n_in frames at @in (NULL: drain) and hands the output on. */
static gboolean
run (AcResampler *self,
     const guint8 *in,
     int n_in,
     AcPcmSink sink,
     gpointer user_data,
     GError **error)
{
  int capacity = swr_get_out_samples (self->swr, n_in);
  float *out;
  int n_out;

  if (capacity < 0)
    return set_av_error (error, capacity, "cannot size the resampler's output");
  if (capacity == 0)
    return TRUE;
  out = reserve (self, capacity);
  n_out = swr_convert (self->swr, (uint8_t **) &out, capacity, in != NULL ? &in : NULL, n_in);
  if (n_out < 0)
    return set_av_error (error, n_out, "cannot convert the samples");
  return n_out == 0 || sink (user_data, out, (gsize) n_out, error);
}

static gboolean
open_swr (AcResampler *self, const AcPcmFormat *in, GError **error)
{
  AVChannelLayout in_layout, out_layout;
  int ret;

  av_channel_layout_default (&in_layout, in->channels);
  av_channel_layout_default (&out_layout, self->out_channels);
  ret = swr_alloc_set_opts2 (&self->swr, &out_layout, AV_SAMPLE_FMT_FLT, self->out_rate, &in_layout,
                             in->sample_format, in->sample_rate, 0, NULL);
  av_channel_layout_uninit (&in_layout);
  av_channel_layout_uninit (&out_layout);
  if (ret < 0)
    return set_av_error (error, ret, "cannot set up the resampler");
  /* No dither: the same input gives the same samples on every run. */
  av_opt_set_int (self->swr, "dither_method", 0, 0);
  ret = swr_init (self->swr);
  if (ret < 0)
    {
      swr_free (&self->swr);
      return set_av_error (error, ret, "cannot set up the resampler");
    }
  self->in = *in;
  return TRUE;
}

gboolean
ac_resampler_flush (AcResampler *self, AcPcmSink sink, gpointer user_data, GError **error)
{
  gboolean ok = TRUE;

  if (self->swr != NULL)
    {
      ok = run (self, NULL, 0, sink, user_data, error);
      swr_free (&self->swr);
    }
  return ok;
}

gboolean
ac_pcm_check_size (const AcPcmFormat *in, gsize size, GError **error)
{
  gsize frame_size = (gsize) av_get_bytes_per_sample (in->sample_format) * (gsize) in->channels;

  if (size % frame_size != 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "the payload (%" G_GSIZE_FORMAT " bytes) is not a whole number of %s frames "
                   "of %d channels",
                   size, ac_pcm_format_name (in->sample_format), in->channels);
      return FALSE;
    }
  return TRUE;
}

gboolean
ac_resampler_convert (AcResampler *self,
                      const AcPcmFormat *in,
                      const guint8 *data,
                      gsize size,
                      AcPcmSink sink,
                      gpointer user_data,
                      GError **error)
{
  gsize frame_size = (gsize) av_get_bytes_per_sample (in->sample_format) * (gsize) in->channels;
  gsize n_frames = size / frame_size;

  if (!ac_pcm_check_size (in, size, error))
    return FALSE;
  if (self->swr != NULL &&
      (self->in.sample_format != in->sample_format || self->in.sample_rate != in->sample_rate ||
       self->in.channels != in->channels) &&
      !ac_resampler_flush (self, sink, user_data, error))
    return FALSE;
  if (self->swr == NULL && !open_swr (self, in, error))
    return FALSE;
  /* In slices, so the output buffer stays small whatever the member. */
  while (n_frames > 0)
    {
      int slice = (int) MIN (n_frames, (gsize) 65536);

      if (!run (self, data, slice, sink, user_data, error))
        return FALSE;
      data += (gsize) slice * frame_size;
      n_frames -= (gsize) slice;
    }
  return TRUE;
}
