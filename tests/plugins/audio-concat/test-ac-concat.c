/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-concat.c and ac-resample.c: members joined with the
 * silences their ends ask for, to the frame; other rates and formats
 * converted; damaged payloads refused. */

#include "ac-test.h"

typedef struct
{
  GArray *pcm; /* float, interleaved */
  int channels;
} Collect;

static gboolean
collect (gpointer user_data, const float *frames, gsize n_frames, GError **error)
{
  Collect *c = user_data;

  g_array_append_vals (c->pcm, frames, (guint) (n_frames * (gsize) c->channels));
  return TRUE;
}

static SutraItem *
chunk (SutraItem *parent,
       guint index,
       GBytes *pcm,
       const char *format,
       int rate,
       int channels,
       const char *end)
{
  SutraItem *item = ac_test_chunk (parent, index, pcm, format, rate, channels, FALSE);

  if (end != NULL)
    json_object_set_boolean_member (sutra_item_ensure_meta (item), end, TRUE);
  return item;
}

static void
test_gaps (void)
{
  AcConcatConfig config = { .sample_rate = 1000, .channels = 1, .gap_ms = { 10, 50, 200 } };
  Collect c = { g_array_new (FALSE, FALSE, sizeof (float)), 1 };
  g_autoptr (AcConcat) concat = ac_concat_new (&config, collect, &c);
  g_autoptr (SutraItem) parent = sutra_item_new_root ("p", 0, NULL, NULL);
  g_autoptr (GError) error = NULL;
  const char *ends[] = { NULL, "paragraph_end", NULL };
  guint64 expected = 0;

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (SutraItem) item =
        chunk (parent, i, ac_test_sine_s16 (100, 1000, 1, 50, 0.5), "s16le", 1000, 1, ends[i]);

      g_assert_true (ac_concat_add (concat, item, &error));
      g_assert_no_error (error);
    }
  g_assert_true (ac_concat_end (concat, AC_END_CHAPTER, &error));
  /* 100 + 10 (sentence) + 100 + 50 (paragraph) + 100 + 200 (chapter) */
  expected = 100 + 10 + 100 + 50 + 100 + 200;
  g_assert_cmpuint (ac_concat_get_frames (concat), ==, expected);
  g_assert_cmpuint (c.pcm->len, ==, expected);
  /* The silences are silent and the members where they belong. */
  for (guint i = 100; i < 110; i++)
    g_assert_cmpfloat (g_array_index (c.pcm, float, i), ==, 0);
  g_assert_cmpfloat (fabs (g_array_index (c.pcm, float, 110 + 5)), >, 0.1);
  for (guint i = 210; i < 260; i++)
    g_assert_cmpfloat (g_array_index (c.pcm, float, i), ==, 0);
  /* s16 to float: 0.5 * 32767 / 32768 */
  g_assert_cmpfloat (fabs (g_array_index (c.pcm, float, 5) -
                           0.5 * sin (2 * G_PI * 50 * 5 / 1000.0)),
                     <, 1e-3);
  g_array_unref (c.pcm);
}

/* Members at other rates, formats and channel counts come out at the
 * output's, with the length their duration says. */
static void
test_convert (void)
{
  AcConcatConfig config = { .sample_rate = 22050, .channels = 1 };
  Collect c = { g_array_new (FALSE, FALSE, sizeof (float)), 1 };
  g_autoptr (AcConcat) concat = ac_concat_new (&config, collect, &c);
  g_autoptr (SutraItem) parent = sutra_item_new_root ("p", 0, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraItem) a =
    chunk (parent, 0, ac_test_sine_s16 (16000, 16000, 1, 440, 0.5), "s16le", 16000, 1, NULL);
  g_autoptr (SutraItem) b =
    chunk (parent, 1, ac_test_sine_s16 (44100, 44100, 2, 440, 0.5), "s16le", 44100, 2, NULL);
  float *f32 = g_new (float, 22050);
  g_autoptr (SutraItem) d = NULL;

  for (guint i = 0; i < 22050; i++)
    f32[i] = 0.25f;
  d = chunk (parent, 2, g_bytes_new_take (f32, 22050 * sizeof (float)), "f32le", 22050, 1, NULL);
  g_assert_true (ac_concat_add (concat, a, &error));
  g_assert_true (ac_concat_add (concat, b, &error));
  g_assert_true (ac_concat_add (concat, d, &error));
  g_assert_true (ac_concat_end (concat, AC_END_NONE, &error));
  g_assert_no_error (error);
  /* One second each (the gaps are 0 ms here), give or take the
   * resamplers' rounding. */
  g_assert_cmpint (ABS ((gint64) c.pcm->len - 3 * 22050), <=, 4);
  g_assert_cmpfloat (g_array_index (c.pcm, float, c.pcm->len - 100), ==, 0.25f);
  g_array_unref (c.pcm);
}

static void
test_member_in_file (void)
{
  AcConcatConfig config = { .sample_rate = 22050, .channels = 1, .gap_ms = { 10, 50, 200 } };
  g_autoptr (SutraItem) parent = sutra_item_new_root ("p", 0, NULL, NULL);
  /* Longer than a block, at another rate: the resampler sees the slices. */
  g_autoptr (SutraItem) memory =
    chunk (parent, 0, ac_test_sine_s16 (200000, 44100, 2, 330, 0.4), "s16le", 44100, 2, NULL);
  g_autoptr (SutraItem) file = ac_test_item_in_file (memory);
  g_autoptr (GError) error = NULL;
  GArray *outputs[2];

  g_test_summary ("A member whose PCM is a payload file, longer than a block and resampled, "
                  "joins to exactly the samples of the same member in memory");
  g_assert_true (sutra_item_payload_is_file (file));
  for (guint i = 0; i < 2; i++)
    {
      Collect c = { g_array_new (FALSE, FALSE, sizeof (float)), 1 };
      g_autoptr (AcConcat) concat = ac_concat_new (&config, collect, &c);

      g_assert_true (ac_concat_add (concat, i == 0 ? memory : file, &error));
      g_assert_true (ac_concat_end (concat, AC_END_CHAPTER, &error));
      g_assert_no_error (error);
      outputs[i] = c.pcm;
    }
  g_assert_cmpuint (outputs[0]->len, >, 100000);
  g_assert_cmpmem (outputs[0]->data, outputs[0]->len * sizeof (float), outputs[1]->data,
                   outputs[1]->len * sizeof (float));
  /* Still in the file: it was read a block at a time, never whole. */
  g_assert_true (sutra_item_payload_is_file (file));
  g_array_unref (outputs[0]);
  g_array_unref (outputs[1]);
}

static void
test_damaged (void)
{
  AcConcatConfig config = { .sample_rate = 22050, .channels = 1 };
  Collect c = { g_array_new (FALSE, FALSE, sizeof (float)), 1 };
  g_autoptr (AcConcat) concat = ac_concat_new (&config, collect, &c);
  g_autoptr (SutraItem) parent = sutra_item_new_root ("p", 0, NULL, NULL);
  g_autoptr (SutraItem) odd = chunk (parent, 0, g_bytes_new ("abc", 3), "s16le", 22050, 1, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (ac_concat_add (concat, odd, &error));
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "3 bytes"));
  g_array_unref (c.pcm);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-concat/concat/gaps", test_gaps);
  g_test_add_func ("/audio-concat/concat/convert", test_convert);
  g_test_add_func ("/audio-concat/concat/member-in-file", test_member_in_file);
  g_test_add_func ("/audio-concat/concat/damaged", test_damaged);
  return g_test_run ();
}
