/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-format.c: format names and extensions, the PCM an item
 * holds, and what ends a member. */

#include "ac-test.h"

static void
test_parse (void)
{
  g_autoptr (GError) error = NULL;
  AcFormat format = 0;

  g_assert_true (ac_format_parse ("auto", "/x/book.M4B", &format, &error));
  g_assert_cmpint (format, ==, AC_FORMAT_M4B);
  g_assert_true (ac_format_parse (NULL, "a.b/book.opus", &format, &error));
  g_assert_cmpint (format, ==, AC_FORMAT_OPUS);
  g_assert_true (ac_format_parse ("rf64", "book.wav", &format, &error));
  g_assert_cmpint (format, ==, AC_FORMAT_RF64);
  g_assert_cmpstr (ac_format_name (AC_FORMAT_FLAC), ==, "flac");

  g_assert_false (ac_format_parse ("auto", "dir.d/book", &format, &error));
  g_assert_nonnull (strstr (error->message, "give the file an extension"));
  g_clear_error (&error);
  g_assert_false (ac_format_parse ("auto", "book.aiff", &format, &error));
  g_assert_nonnull (strstr (error->message, "unknown audio format “aiff”"));
  g_assert_nonnull (strstr (error->message, "book.aiff"));
  g_clear_error (&error);
  g_assert_false (ac_format_parse ("vorbis", NULL, &format, &error));
  g_assert_nonnull (strstr (error->message, "use m4b, m4a, mp3, opus, flac, wav or rf64"));
}

static void
test_rates (void)
{
  g_assert_cmpint (ac_format_pick_rate (AC_FORMAT_OPUS, 22050), ==, 48000);
  g_assert_cmpint (ac_format_pick_rate (AC_FORMAT_MP3, 22050), ==, 22050);
  g_assert_cmpint (ac_format_pick_rate (AC_FORMAT_MP3, 20000), ==, 22050);
  g_assert_cmpint (ac_format_pick_rate (AC_FORMAT_MP3, 96000), ==, 48000);
  g_assert_cmpint (ac_format_pick_rate (AC_FORMAT_M4B, 22050), ==, 22050);
  g_assert_cmpint (ac_format_codec (AC_FORMAT_M4A), ==, AV_CODEC_ID_AAC);
  g_assert_cmpint (ac_format_codec (AC_FORMAT_WAV), ==, AV_CODEC_ID_NONE);
}

static SutraItem *
raw_item (const char *media_type, const char *sample_format, gint64 rate, gint64 channels)
{
  SutraItem *item = sutra_item_new_root ("x", 0, media_type, NULL);
  JsonObject *meta = sutra_item_ensure_meta (item);

  if (sample_format != NULL)
    json_object_set_string_member (meta, "sample_format", sample_format);
  if (rate > 0)
    json_object_set_int_member (meta, "sample_rate", rate);
  if (channels > 0)
    json_object_set_int_member (meta, "channels", channels);
  return item;
}

static void
test_pcm_format (void)
{
  g_autoptr (GError) error = NULL;
  AcPcmFormat pcm;
  SutraItem *item;

  item = raw_item (AC_MEDIA_RAW, "s16le", 22050, 1);
  g_assert_true (ac_pcm_format_from_item (item, &pcm, &error));
  g_assert_cmpint (pcm.sample_format, ==, AV_SAMPLE_FMT_S16);
  g_assert_cmpint (pcm.sample_rate, ==, 22050);
  g_assert_cmpint (pcm.channels, ==, 1);
  sutra_item_unref (item);

  item = raw_item (SUTRA_MEDIA_AUDIO_F32, NULL, 48000, 2);
  g_assert_true (ac_pcm_format_from_item (item, &pcm, &error));
  g_assert_cmpint (pcm.sample_format, ==, AV_SAMPLE_FMT_FLT);
  g_assert_cmpint (pcm.channels, ==, 2);
  sutra_item_unref (item);

  item = raw_item (AC_MEDIA_RAW, "s16le", 0, 1);
  g_assert_false (ac_pcm_format_from_item (item, &pcm, &error));
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "sample_rate"));
  g_clear_error (&error);
  sutra_item_unref (item);

  item = raw_item (AC_MEDIA_RAW, "s24be", 22050, 1);
  g_assert_false (ac_pcm_format_from_item (item, &pcm, &error));
  g_assert_nonnull (strstr (error->message, "“s24be”"));
  g_clear_error (&error);
  sutra_item_unref (item);

  item = raw_item (SUTRA_MEDIA_TEXT_PLAIN, NULL, 22050, 1);
  g_assert_false (ac_pcm_format_from_item (item, &pcm, &error));
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED);
  sutra_item_unref (item);
}

static void
test_member_end (void)
{
  const char *keys[] = { NULL, "paragraph_end", "chapter_end", "gap_included" };
  const AcEnd ends[] = { AC_END_SENTENCE, AC_END_PARAGRAPH, AC_END_CHAPTER, AC_END_NONE };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr (SutraItem) item = raw_item (AC_MEDIA_RAW, "s16le", 22050, 1);

      if (keys[i] != NULL)
        json_object_set_boolean_member (sutra_item_ensure_meta (item), keys[i], TRUE);
      g_assert_cmpint (ac_member_end (item), ==, ends[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-concat/format/parse", test_parse);
  g_test_add_func ("/audio-concat/format/rates", test_rates);
  g_test_add_func ("/audio-concat/format/pcm-format", test_pcm_format);
  g_test_add_func ("/audio-concat/format/member-end", test_member_end);
  return g_test_run ();
}
