/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Members joined in order with the silence that what ends each one asks
 * for. Nothing is kept: every member is converted and handed to the sink
 * as it arrives, so a book never sits in memory. */

#include "ac.h"

struct _AcConcat
{
  AcConcatConfig config;
  AcPcmSink sink;
  gpointer user_data;
  AcResampler *resampler;
  guint64 frames;
  gboolean has_previous;
  AcEnd previous_end;
};

static gboolean
counting_sink (gpointer user_data, const float *frames, gsize n_frames, GError **error)
{
  AcConcat *self = user_data;

  self->frames += n_frames;
  return self->sink (self->user_data, frames, n_frames, error);
}

AcConcat *
ac_concat_new (const AcConcatConfig *config, AcPcmSink sink, gpointer user_data)
{
  AcConcat *self = g_new0 (AcConcat, 1);

  self->config = *config;
  self->sink = sink;
  self->user_data = user_data;
  self->resampler = ac_resampler_new (config->sample_rate, config->channels);
  return self;
}

void
ac_concat_free (AcConcat *self)
{
  if (self == NULL)
    return;
  ac_resampler_free (self->resampler);
  g_free (self);
}

guint64
ac_concat_get_frames (const AcConcat *self)
{
  return self->frames;
}

static gboolean
write_silence (AcConcat *self, AcEnd end, GError **error)
{
  gint64 ms = end <= AC_END_CHAPTER ? self->config.gap_ms[end] : 0;
  guint64 n = (guint64) ms * (guint64) self->config.sample_rate / 1000;
  g_autofree float *zeros = NULL;
  gsize block = 4096;

  if (n == 0)
    return TRUE;
  /* The resampler's tail belongs before the silence. */
  if (!ac_resampler_flush (self->resampler, counting_sink, self, error))
    return FALSE;
  zeros = g_new0 (float, block *(gsize) self->config.channels);
  while (n > 0)
    {
      gsize slice = (gsize) MIN (n, (guint64) block);

      if (!counting_sink (self, zeros, slice, error))
        return FALSE;
      n -= slice;
    }
  return TRUE;
}

gboolean
ac_concat_separate (AcConcat *self, GError **error)
{
  if (!self->has_previous)
    return TRUE;
  self->has_previous = FALSE;
  return write_silence (self, self->previous_end, error);
}

gboolean
ac_concat_write (AcConcat *self,
                 const AcPcmFormat *format,
                 const guint8 *data,
                 gsize size,
                 GError **error)
{
  return ac_resampler_convert (self->resampler, format, data, size, counting_sink, self, error);
}

void
ac_concat_close_member (AcConcat *self, AcEnd end)
{
  self->has_previous = TRUE;
  self->previous_end = end;
}

/* A member whose PCM is in a file (a chapter from audio-encode, hours of
 * it): read and written a block at a time, in the resampler's slices, so
 * the samples are those of writing it whole. */
static gboolean
write_from_file (AcConcat *self, const AcPcmFormat *format, const SutraItem *member, GError **error)
{
  gsize frame_size =
    (gsize) av_get_bytes_per_sample (format->sample_format) * (gsize) format->channels;
  gsize block = AC_READ_BLOCK_FRAMES * frame_size;
  guint64 size = sutra_item_get_payload_size (member), offset = 0;
  g_autofree guint8 *buffer = g_malloc (block);

  if (!ac_pcm_check_size (format, (gsize) size, error))
    return FALSE;
  do
    {
      gssize n = sutra_item_read_payload (member, offset, buffer, block, error);

      if (n < 0 || !ac_concat_write (self, format, buffer, (gsize) n, error))
        return FALSE;
      offset += (guint64) n;
    }
  while (offset < size);
  return TRUE;
}

gboolean
ac_concat_add (AcConcat *self, const SutraItem *member, GError **error)
{
  AcPcmFormat format;
  const guint8 *data;
  gsize size;

  if (!ac_pcm_format_from_item (member, &format, error))
    return FALSE;
  if (!ac_concat_separate (self, error))
    return FALSE;
  if (sutra_item_payload_is_file (member))
    {
      if (!write_from_file (self, &format, member, error))
        return FALSE;
    }
  else
    {
      data = sutra_item_get_data (member, &size);
      if (!ac_concat_write (self, &format, data, size, error))
        return FALSE;
    }
  ac_concat_close_member (self, ac_member_end (member));
  return TRUE;
}

gboolean
ac_concat_end (AcConcat *self, AcEnd last_end, GError **error)
{
  self->has_previous = FALSE;
  if (!ac_resampler_flush (self->resampler, counting_sink, self, error))
    return FALSE;
  return write_silence (self, last_end, error);
}
