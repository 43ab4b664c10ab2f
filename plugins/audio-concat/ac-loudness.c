/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loudness: EBU R128 (ITU-R BS.1770) with libebur128, plus the RMS and
 * peaks ACX asks for, and the one gain each preset applies to a book. */

#include "ac.h"

#include <ebur128.h>
#include <math.h>
#include <string.h>

struct _AcLoudness
{
  ebur128_state *state;
  int channels;
  gboolean true_peak;
  double sum_squares;
  guint64 samples;
};

gboolean
ac_loudness_preset_parse (const char *name, AcLoudnessPreset *preset, GError **error)
{
  static const char *const names[] = { "none", "r128", "podcast", "acx" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (name != NULL && strcmp (name, names[i]) == 0)
      {
        *preset = (AcLoudnessPreset) i;
        return TRUE;
      }
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
               "unknown loudness preset “%s”: use none, r128, podcast or acx",
               name != NULL ? name : "");
  return FALSE;
}

gboolean
ac_loudness_preset_limits_true_peak (AcLoudnessPreset preset)
{
  return preset == AC_LOUDNESS_R128 || preset == AC_LOUDNESS_PODCAST;
}

AcLoudness *
ac_loudness_new (int sample_rate, int channels, gboolean true_peak, GError **error)
{
  AcLoudness *self = g_new0 (AcLoudness, 1);

  /* The true peak oversamples the audio four times: 80 % of the meter's
   * work, an eighth of a whole audiobook's CPU. Only a preset that limits
   * it pays for it. */
  self->state = ebur128_init ((unsigned) channels, (unsigned long) sample_rate,
                              EBUR128_MODE_I | EBUR128_MODE_LRA | EBUR128_MODE_SAMPLE_PEAK |
                                EBUR128_MODE_HISTOGRAM | (true_peak ? EBUR128_MODE_TRUE_PEAK : 0));
  if (self->state == NULL)
    {
      g_free (self);
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "cannot set up the loudness meter for %d Hz, %d channels", sample_rate,
                   channels);
      return NULL;
    }
  self->channels = channels;
  self->true_peak = true_peak;
  return self;
}

void
ac_loudness_free (AcLoudness *self)
{
  if (self == NULL)
    return;
  ebur128_destroy (&self->state);
  g_free (self);
}

gboolean
ac_loudness_add (AcLoudness *self, const float *frames, gsize n_frames, GError **error)
{
  gsize n = n_frames * (gsize) self->channels;

  if (ebur128_add_frames_float (self->state, frames, n_frames) != EBUR128_SUCCESS)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the loudness meter failed (out of memory)");
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    self->sum_squares += (double) frames[i] * (double) frames[i];
  self->samples += n;
  return TRUE;
}

static double
to_db (double linear)
{
  return linear > 0 ? 20 * log10 (linear) : -HUGE_VAL;
}

void
ac_loudness_result (AcLoudness *self, AcLoudnessResult *result)
{
  double value, peak = 0, true_peak = 0;

  result->integrated_lufs = -HUGE_VAL;
  if (ebur128_loudness_global (self->state, &value) == EBUR128_SUCCESS)
    result->integrated_lufs = value;
  result->range_lu = 0;
  if (ebur128_loudness_range (self->state, &value) == EBUR128_SUCCESS)
    result->range_lu = value;
  for (int c = 0; c < self->channels; c++)
    {
      if (ebur128_sample_peak (self->state, (unsigned) c, &value) == EBUR128_SUCCESS)
        peak = MAX (peak, value);
      if (self->true_peak &&
          ebur128_true_peak (self->state, (unsigned) c, &value) == EBUR128_SUCCESS)
        true_peak = MAX (true_peak, value);
    }
  result->sample_peak_dbfs = to_db (peak);
  result->true_peak_dbtp = self->true_peak ? to_db (true_peak) : NAN;
  result->rms_dbfs =
    self->samples > 0 ? to_db (sqrt (self->sum_squares / (double) self->samples)) : -HUGE_VAL;
}

/*
 * r128: -23 LUFS, true peak at most -1 dBTP. podcast: -19 LUFS mono, -16
 * stereo, true peak -1 dBTP. acx: RMS -20 dB (the middle of ACX's -23 to
 * -18), sample peak at most -3 dB. The peak limit wins over the target:
 * a gain never clips, and the measured values say where the book landed.
 * Silence gets no gain.
 */
double
ac_loudness_gain_db (AcLoudnessPreset preset, int channels, const AcLoudnessResult *m)
{
  double gain, limit;

  switch (preset)
    {
    case AC_LOUDNESS_R128:
    case AC_LOUDNESS_PODCAST:
      if (!isfinite (m->integrated_lufs))
        return 0;
      gain = (preset == AC_LOUDNESS_R128 ? -23.0
              : channels >= 2            ? -16.0
                                         : -19.0) -
             m->integrated_lufs;
      limit = isfinite (m->true_peak_dbtp) ? -1.0 - m->true_peak_dbtp : gain;
      return MIN (gain, limit);
    case AC_LOUDNESS_ACX:
      if (!isfinite (m->rms_dbfs))
        return 0;
      gain = -20.0 - m->rms_dbfs;
      limit = isfinite (m->sample_peak_dbfs) ? -3.0 - m->sample_peak_dbfs : gain;
      return MIN (gain, limit);
    case AC_LOUDNESS_NONE:
    default:
      return 0;
    }
}

static void
set_db (JsonObject *meta, const char *prefix, const char *name, double value)
{
  g_autofree char *key = g_strconcat (prefix, name, NULL);

  /* JSON has no -infinity: silence is null. Rounded to 0.01 so that the
   * metadata does not carry the last bits of a float sum. */
  if (isfinite (value))
    json_object_set_double_member (meta, key, round (value * 100) / 100);
  else
    json_object_set_null_member (meta, key);
}

void
ac_loudness_to_meta (const AcLoudnessResult *r, const char *prefix, JsonObject *meta)
{
  set_db (meta, prefix, "integrated_lufs", r->integrated_lufs);
  set_db (meta, prefix, "range_lu", r->range_lu);
  set_db (meta, prefix, "true_peak_dbtp", r->true_peak_dbtp);
  set_db (meta, prefix, "sample_peak_dbfs", r->sample_peak_dbfs);
  set_db (meta, prefix, "rms_dbfs", r->rms_dbfs);
}
