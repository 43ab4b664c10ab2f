/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-loudness.c: BS.1770 on sines of known level, and the gain
 * each preset picks. */

#include "ac-test.h"

static void
measure_sine_with (double amplitude, int channels, gboolean true_peak, AcLoudnessResult *result)
{
  const int rate = 48000;
  gsize frames = (gsize) rate * 5;
  g_autofree float *pcm = g_new (float, frames *(gsize) channels);
  g_autoptr (GError) error = NULL;
  g_autoptr (AcLoudness) meter = ac_loudness_new (rate, channels, true_peak, &error);

  g_assert_no_error (error);
  for (gsize i = 0; i < frames; i++)
    for (int c = 0; c < channels; c++)
      pcm[i * (gsize) channels + (gsize) c] =
        (float) (amplitude * sin (2 * G_PI * 997 * (double) i / rate));
  g_assert_true (ac_loudness_add (meter, pcm, frames, &error));
  ac_loudness_result (meter, result);
}

static void
measure_sine (double amplitude, int channels, AcLoudnessResult *result)
{
  measure_sine_with (amplitude, channels, TRUE, result);
}

/* EBU Tech 3341: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LUFS. */
static void
test_sine (void)
{
  AcLoudnessResult r;

  measure_sine (0.1, 1, &r);
  g_assert_cmpfloat (fabs (r.integrated_lufs - (-23.01)), <, 0.1);
  g_assert_cmpfloat (fabs (r.sample_peak_dbfs - (-20)), <, 0.01);
  g_assert_cmpfloat (fabs (r.rms_dbfs - (-23.01)), <, 0.05);
  g_assert_cmpfloat (r.true_peak_dbtp, >=, -20.01);
  /* Two channels: 3 dB more. */
  measure_sine (0.1, 2, &r);
  g_assert_cmpfloat (fabs (r.integrated_lufs - (-20.0)), <, 0.1);
  /* Silence has no loudness. */
  measure_sine (0, 1, &r);
  g_assert_false (isfinite (r.integrated_lufs));
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_R128, 1, &r), ==, 0);
}

/* Without the true peak (what no preset limits), the rest is the same and
 * the true peak is not measured: NAN, null in the metadata. */
static void
test_without_true_peak (void)
{
  AcLoudnessResult with, without;
  g_autoptr (JsonObject) meta = json_object_new ();

  measure_sine_with (0.1, 1, TRUE, &with);
  measure_sine_with (0.1, 1, FALSE, &without);
  g_assert_cmpfloat (with.integrated_lufs, ==, without.integrated_lufs);
  g_assert_cmpfloat (with.range_lu, ==, without.range_lu);
  g_assert_cmpfloat (with.sample_peak_dbfs, ==, without.sample_peak_dbfs);
  g_assert_cmpfloat (with.rms_dbfs, ==, without.rms_dbfs);
  g_assert_true (isfinite (with.true_peak_dbtp));
  g_assert_true (isnan (without.true_peak_dbtp));
  ac_loudness_to_meta (&without, "", meta);
  g_assert_true (json_object_get_null_member (meta, "true_peak_dbtp"));
  g_assert_true (ac_loudness_preset_limits_true_peak (AC_LOUDNESS_R128));
  g_assert_true (ac_loudness_preset_limits_true_peak (AC_LOUDNESS_PODCAST));
  g_assert_false (ac_loudness_preset_limits_true_peak (AC_LOUDNESS_ACX));
  g_assert_false (ac_loudness_preset_limits_true_peak (AC_LOUDNESS_NONE));
}

static void
test_gain (void)
{
  AcLoudnessResult quiet = {
    .integrated_lufs = -30,
    .true_peak_dbtp = -15,
    .sample_peak_dbfs = -15,
    .rms_dbfs = -31,
  };
  AcLoudnessResult peaky = {
    .integrated_lufs = -30,
    .true_peak_dbtp = -4,
    .sample_peak_dbfs = -4.5,
    .rms_dbfs = -31,
  };

  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_NONE, 1, &quiet), ==, 0);
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_R128, 1, &quiet), ==, 7);
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_PODCAST, 1, &quiet), ==, 11);
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_PODCAST, 2, &quiet), ==, 14);
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_ACX, 1, &quiet), ==, 11);
  /* The peak limit wins: true peak -1 dBTP, ACX's peak -3 dB. */
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_R128, 1, &peaky), ==, 3);
  g_assert_cmpfloat (ac_loudness_gain_db (AC_LOUDNESS_ACX, 1, &peaky), ==, 1.5);
}

static void
test_presets (void)
{
  g_autoptr (GError) error = NULL;
  AcLoudnessPreset preset;

  g_assert_true (ac_loudness_preset_parse ("acx", &preset, &error));
  g_assert_cmpint (preset, ==, AC_LOUDNESS_ACX);
  g_assert_false (ac_loudness_preset_parse ("loud", &preset, &error));
  g_assert_nonnull (strstr (error->message, "none, r128, podcast or acx"));
}

static void
test_meta (void)
{
  AcLoudnessResult r = { .integrated_lufs = -23.456, .range_lu = 4, .true_peak_dbtp = -HUGE_VAL };
  g_autoptr (JsonObject) meta = json_object_new ();

  ac_loudness_to_meta (&r, "x_", meta);
  g_assert_cmpfloat (json_object_get_double_member (meta, "x_integrated_lufs"), ==, -23.46);
  g_assert_true (json_object_get_null_member (meta, "x_true_peak_dbtp"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-concat/loudness/sine", test_sine);
  g_test_add_func ("/audio-concat/loudness/without-true-peak", test_without_true_peak);
  g_test_add_func ("/audio-concat/loudness/gain", test_gain);
  g_test_add_func ("/audio-concat/loudness/presets", test_presets);
  g_test_add_func ("/audio-concat/loudness/meta", test_meta);
  return g_test_run ();
}
