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

/* An item holding @bytes: in memory, or in an unlinked file. */
static SutraItem *
packets_item (GBytes *bytes, gboolean in_file)
{
  g_autoptr (SutraItem) memory =
    sutra_item_new_root ("c", 0, AC_MEDIA_PACKETS, g_bytes_ref (bytes));

  return in_file ? ac_test_item_in_file (memory) : g_steal_pointer (&memory);
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
      g_autoptr (SutraItem) item = packets_item (a, i % 2 == 1);
      g_auto (AcPacketReader) reader = { 0 };
      AcPacket packet;
      gint64 first = G_MININT64, total = 0, next = 0;

      /* Deterministic. */
      g_assert_true (g_bytes_equal (a, b));
      g_assert_true (ac_packet_reader_open (&reader, item, AC_PACKET_READER_BLOCK, &back, &error));
      g_assert_cmpint (back.codec, ==, cases[i].codec);
      g_assert_cmpint (back.sample_rate, ==, cases[i].rate);
      g_assert_cmpint (back.channels, ==, 1);
      g_assert_cmpuint (back.content_frames, ==, 30000);
      g_assert_cmpint (back.initial_padding, ==, info.initial_padding);
      if (cases[i].priming > 0)
        g_assert_cmpint (back.initial_padding, ==, cases[i].priming);
      while (ac_packet_reader_next (&reader, &packet, &error))
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

/* Every packet of @item, read in blocks of @block bytes, as records. */
static GBytes *
read_all_packets (SutraItem *item, gsize block)
{
  g_auto (AcPacketReader) reader = { 0 };
  g_auto (AcStreamInfo) info = { 0 };
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  AcPacket packet;

  g_assert_true (ac_packet_reader_open (&reader, item, block, &info, &error));
  ac_packets_append_header (out, &info);
  while (ac_packet_reader_next (&reader, &packet, &error))
    ac_packets_append_packet (out, packet.data, packet.size, packet.pts, packet.duration);
  g_assert_no_error (error);
  /* The window holds a block or a packet, not the chapter. */
  g_assert_cmpuint (reader.window->len, <=, MAX (block, 20 + 4096) * 2);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static void
test_reader_blocks (void)
{
  g_auto (AcStreamInfo) info = { 0 };
  g_autoptr (GBytes) whole = encode (AV_CODEC_ID_AAC, 22050, 200000, &info);

  g_test_summary ("An encoded chapter reads back the same, packet for packet, whatever the "
                  "block it is read by (one byte, odd sizes, a packet's header, the default) "
                  "and wherever it lies (memory, a file)");
  for (guint in_file = 0; in_file < 2; in_file++)
    {
      static const gsize blocks[] = { 1, 7, 20, 333, 4096, AC_PACKET_READER_BLOCK };
      g_autoptr (SutraItem) item = packets_item (whole, in_file);

      for (guint b = 0; b < G_N_ELEMENTS (blocks); b++)
        {
          g_autoptr (GBytes) back = read_all_packets (item, blocks[b]);

          g_assert_true (g_bytes_equal (back, whole));
        }
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
  g_autoptr (SutraItem) junk_item = packets_item (junk, FALSE);
  g_autoptr (SutraItem) cut_item = packets_item (cut, TRUE);
  g_auto (AcPacketReader) junk_reader = { 0 };
  g_auto (AcPacketReader) cut_reader = { 0 };
  AcPacket packet;

  g_assert_false (ac_packet_reader_open (&junk_reader, junk_item, 64, &back, &error));
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "encode it again"));
  g_clear_error (&error);
  g_assert_true (ac_packet_reader_open (&cut_reader, cut_item, 64, &back, &error));
  while (ac_packet_reader_next (&cut_reader, &packet, &error))
    ;
  g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "short packet"));
  g_clear_error (&error);
  {
    /* A packet whose length says 4 GiB: damage, found without a buffer
     * of that size. */
    g_autoptr (GByteArray) huge = g_byte_array_new ();
    g_autoptr (SutraItem) huge_item = NULL;
    g_autoptr (GBytes) huge_bytes = NULL;
    g_auto (AcPacketReader) huge_reader = { 0 };
    guint8 record[20] = { 0xf0, 0xff, 0xff, 0xff };

    ac_packets_append_header (huge, &info);
    g_byte_array_append (huge, record, sizeof record);
    g_byte_array_append (huge, (const guint8 *) "abc", 3);
    huge_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&huge));
    huge_item = packets_item (huge_bytes, TRUE);
    g_assert_true (ac_packet_reader_open (&huge_reader, huge_item, 64, &back, &error));
    g_assert_false (ac_packet_reader_next (&huge_reader, &packet, &error));
    g_assert_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT);
    g_assert_nonnull (strstr (error->message, "short packet"));
    g_assert_cmpuint (huge_reader.window->len, <, 4096);
  }
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
  g_test_add_func ("/audio-concat/encoder/reader-blocks", test_reader_blocks);
  g_test_add_func ("/audio-concat/encoder/damaged", test_damaged);
  g_test_add_func ("/audio-concat/encoder/bad-coder", test_bad_coder);
  return g_test_run ();
}
