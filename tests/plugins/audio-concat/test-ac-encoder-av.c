/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-encoder-av.c and ac-packets.c: AAC, MP3 and Opus packets
 * with their real timestamps (the priming first), in whole frames;
 * deterministic; the intermediate written and read back; damage refused. */

#include "ac-test.h"

static gboolean
keep (gpointer user_data, const AVPacket *packet, GError **error)
{
  GByteArray *out = user_data;

  ac_packets_append_packet (out, packet->data, (gsize) packet->size, packet->pts, packet->duration);
  return TRUE;
}

static GBytes *
encode (enum AVCodecID codec, int rate, gsize frames, AcStreamInfo *info)
{
  AcEncoderConfig config = {
    .codec = codec,
    .sample_rate = rate,
    .channels = 1,
    .bit_rate = 64000,
    .aac_coder = "fast",
  };
  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (GByteArray) all = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (AcEncoder) encoder = ac_encoder_new (&config, keep, body, &error);
  g_autofree float *pcm = g_new (float, frames);

  g_assert_no_error (error);
  for (gsize i = 0; i < frames; i++)
    pcm[i] = (float) (0.3 * sin (2 * G_PI * 300 * (double) i / rate));
  /* In odd slices, so the frame buffering is exercised. */
  for (gsize done = 0; done < frames;)
    {
      gsize n = MIN (frames - done, (gsize) 777);

      g_assert_true (ac_encoder_write (encoder, pcm + done, n, &error));
      done += n;
    }
  g_assert_true (ac_encoder_finish (encoder, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ac_encoder_get_frames (encoder), ==, (gint64) frames);
  ac_stream_info_from_context (info, ac_encoder_get_context (encoder));
  info->content_frames = frames;
  ac_packets_append_header (all, info);
  g_byte_array_append (all, body->data, body->len);
  return g_byte_array_free_to_bytes (g_steal_pointer (&all));
}

static void
test_codecs (void)
{
  static const struct
  {
    enum AVCodecID codec;
    int rate;
    int priming;
  } cases[] = {
    { AV_CODEC_ID_AAC, 22050, 1024 },
    { AV_CODEC_ID_MP3, 22050, 0 },
    { AV_CODEC_ID_OPUS, 48000, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (AcStreamInfo) info = { 0 };
      g_auto (AcStreamInfo) back = { 0 };
      g_autoptr (GBytes) a = encode (cases[i].codec, cases[i].rate, 30000, &info);
      g_auto (AcStreamInfo) info2 = { 0 };
      g_autoptr (GBytes) b = encode (cases[i].codec, cases[i].rate, 30000, &info2);
      g_autoptr (GError) error = NULL;
      gsize offset;
      AcPacket packet;
      gint64 first = G_MININT64, total = 0, next = 0;

      /* Deterministic. */
      g_assert_true (g_bytes_equal (a, b));
      g_assert_true (ac_packets_read_header (a, &back, &offset, &error));
      g_assert_cmpint (back.codec, ==, cases[i].codec);
      g_assert_cmpint (back.sample_rate, ==, cases[i].rate);
      g_assert_cmpint (back.channels, ==, 1);
      g_assert_cmpuint (back.content_frames, ==, 30000);
      g_assert_cmpint (back.initial_padding, ==, info.initial_padding);
      if (cases[i].priming > 0)
        g_assert_cmpint (back.initial_padding, ==, cases[i].priming);
      while (ac_packets_next (a, &offset, &packet, &error))
        {
          if (first == G_MININT64)
            {
              first = packet.pts;
              next = first;
              /* The priming comes first: the input starts at pts 0. */
              g_assert_cmpint (first, ==, -back.initial_padding);
            }
          g_assert_cmpint (packet.pts, ==, next);
          next += packet.duration;
          total += packet.duration;
        }
      g_assert_no_error (error);
      g_assert_cmpint (total, >=, 30000);
    }
}

static void
test_damaged (void)
{
  g_auto (AcStreamInfo) info = { 0 };
  g_autoptr (GBytes) good = encode (AV_CODEC_ID_AAC, 22050, 5000, &info);
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (good, 0, g_bytes_get_size (good) - 3);
  g_autoptr (GBytes) junk = g_bytes_new_static ("not packets at all, sorry", 25);
  g_auto (AcStreamInfo) back = { 0 };
  g_autoptr (GError) error = NULL;
  gsize offset;
  AcPacket packet;

  g_assert_false (ac_packets_read_header (junk, &back, &offset, &error));
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "encode it again"));
  g_clear_error (&error);
  g_assert_true (ac_packets_read_header (cut, &back, &offset, &error));
  while (ac_packets_next (cut, &offset, &packet, &error))
    ;
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "short packet"));
}

static void
test_bad_coder (void)
{
  AcEncoderConfig config = {
    .codec = AV_CODEC_ID_AAC,
    .sample_rate = 22050,
    .channels = 1,
    .bit_rate = 64000,
    .aac_coder = "bogus",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AcEncoder) encoder = ac_encoder_new (&config, keep, NULL, &error);

  g_assert_null (encoder);
  g_assert_nonnull (strstr (error->message, "aac_coder “bogus”"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  av_log_set_level (AV_LOG_ERROR);
  g_test_add_func ("/audio-concat/encoder/codecs", test_codecs);
  g_test_add_func ("/audio-concat/encoder/damaged", test_damaged);
  g_test_add_func ("/audio-concat/encoder/bad-coder", test_bad_coder);
  return g_test_run ();
}
