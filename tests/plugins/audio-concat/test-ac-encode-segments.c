/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for ac-encode-segments.c: a stream cut into segments where it is
 * silent (or, without silence, at the forced length), encoded on several
 * threads, gives one encoder's timeline (the same packet count and
 * timestamps), the same bytes for any thread count, silence at every join
 * when decoded, and audio as faithful as one encoder's. */

#include "ac-test.h"

#define RATE 22050
#define F 1024

typedef struct
{
  GPtrArray *packets; /* AVPacket */
  GArray *cuts;       /* gint64 */
  GBytes *extradata;
  guint n_segments;
} Encoded;

static void
encoded_clear (Encoded *e)
{
  g_clear_pointer (&e->packets, g_ptr_array_unref);
  g_clear_pointer (&e->cuts, g_array_unref);
  g_clear_pointer (&e->extradata, g_bytes_unref);
}

static void
packet_free (gpointer packet)
{
  AVPacket *p = packet;

  av_packet_free (&p);
}

static gboolean
collect (gpointer user_data, const AVPacket *packet, GError **error)
{
  GPtrArray *packets = user_data;

  g_ptr_array_add (packets, av_packet_clone (packet));
  return TRUE;
}

static void
encode_at (enum AVCodecID codec,
           int rate,
           const float *pcm,
           gsize frames,
           double segment_seconds,
           guint threads,
           Encoded *out)
{
  AcEncoderConfig config = {
    .codec = codec,
    .sample_rate = rate,
    .channels = 1,
    .bit_rate = 64000,
    .aac_coder = "fast",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AcSegmentedEncoder) encoder = NULL;
  const AVCodecContext *context;
  const gint64 *cuts;
  guint n_cuts;

  memset (out, 0, sizeof *out);
  out->packets = g_ptr_array_new_with_free_func (packet_free);
  encoder =
    ac_segmented_encoder_new (&config, segment_seconds, threads, collect, out->packets, &error);
  g_assert_no_error (error);
  /* In odd slices, so cuts fall inside and across writes. */
  for (gsize done = 0; done < frames;)
    {
      gsize n = MIN (frames - done, (gsize) 7919);

      g_assert_true (ac_segmented_encoder_write (encoder, pcm + done, n, &error));
      g_assert_no_error (error);
      done += n;
    }
  g_assert_true (ac_segmented_encoder_finish (encoder, &error));
  g_assert_no_error (error);
  cuts = ac_segmented_encoder_get_cuts (encoder, &n_cuts);
  out->cuts = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_array_append_vals (out->cuts, cuts, n_cuts);
  out->n_segments = n_cuts + 1;
  context = ac_segmented_encoder_get_context (encoder);
  out->extradata = g_bytes_new (context->extradata, (gsize) context->extradata_size);
}

static void
encode (enum AVCodecID codec,
        const float *pcm,
        gsize frames,
        double segment_seconds,
        guint threads,
        Encoded *out)
{
  encode_at (codec, RATE, pcm, frames, segment_seconds, threads, out);
}

/* "Sentences": tones of changing pitch and length, with silences between
 * them of 120 ms (too short to cut in) or 400 ms (long enough). */
static float *
make_speechlike (gsize *frames)
{
  GArray *pcm = g_array_new (FALSE, TRUE, sizeof (float));
  GRand *rand = g_rand_new_with_seed (7);

  while (pcm->len < (guint) RATE * 90)
    {
      gsize n = (gsize) g_rand_int_range (rand, RATE / 2, RATE * 3);
      double hz = g_rand_double_range (rand, 150, 900);
      gsize gap = g_rand_int_range (rand, 0, 3) == 0 ? RATE * 400 / 1000 : RATE * 120 / 1000;
      guint at = pcm->len;

      g_array_set_size (pcm, pcm->len + (guint) n);
      for (gsize i = 0; i < n; i++)
        g_array_index (pcm, float, at + i) =
          (float) (0.3 * sin (2 * G_PI * hz * (double) i / RATE) * sin (G_PI * (double) i / n));
      g_array_set_size (pcm, pcm->len + (guint) gap); /* zeroed */
    }
  g_rand_free (rand);
  *frames = pcm->len;
  return (float *) (gpointer) g_array_free (pcm, FALSE);
}

/* Decodes AAC packets; decoded[i] plays at stream frame i - F (the
 * priming). */
static float *
decode (const Encoded *e, gsize *n_decoded)
{
  const AVCodec *codec = avcodec_find_decoder (AV_CODEC_ID_AAC);
  AVCodecContext *c = avcodec_alloc_context3 (codec);
  AVFrame *frame = av_frame_alloc ();
  GArray *out = g_array_new (FALSE, FALSE, sizeof (float));
  gsize size = g_bytes_get_size (e->extradata);

  c->sample_rate = RATE;
  av_channel_layout_default (&c->ch_layout, 1);
  c->extradata = av_mallocz (size + AV_INPUT_BUFFER_PADDING_SIZE);
  memcpy (c->extradata, g_bytes_get_data (e->extradata, NULL), size);
  c->extradata_size = (int) size;
  g_assert_cmpint (avcodec_open2 (c, codec, NULL), ==, 0);
  for (guint i = 0; i <= e->packets->len; i++)
    {
      g_assert_cmpint (avcodec_send_packet (c, i < e->packets->len
                                                 ? g_ptr_array_index (e->packets, i)
                                                 : NULL),
                       ==, 0);
      while (avcodec_receive_frame (c, frame) == 0)
        {
          g_assert_cmpint (frame->format, ==, AV_SAMPLE_FMT_FLTP);
          g_array_append_vals (out, frame->data[0], (guint) frame->nb_samples);
          av_frame_unref (frame);
        }
    }
  av_frame_free (&frame);
  avcodec_free_context (&c);
  *n_decoded = out->len;
  return (float *) (gpointer) g_array_free (out, FALSE);
}

static void
assert_same_timeline (const Encoded *a, const Encoded *b)
{
  g_assert_cmpuint (a->packets->len, ==, b->packets->len);
  for (guint i = 0; i < a->packets->len; i++)
    {
      const AVPacket *pa = g_ptr_array_index (a->packets, i);
      const AVPacket *pb = g_ptr_array_index (b->packets, i);

      g_assert_cmpint (pa->pts, ==, pb->pts);
    }
}

static void
assert_same_bytes (const Encoded *a, const Encoded *b)
{
  assert_same_timeline (a, b);
  g_assert_true (g_bytes_equal (a->extradata, b->extradata));
  for (guint i = 0; i < a->packets->len; i++)
    {
      const AVPacket *pa = g_ptr_array_index (a->packets, i);
      const AVPacket *pb = g_ptr_array_index (b->packets, i);

      g_assert_cmpmem (pa->data, pa->size, pb->data, pb->size);
    }
}

/* The worst error of a 1024-frame window against @pcm, as RMS, over
 * windows whose start lies in [@from, @to). */
static double
worst_window_error (const float *pcm,
                    gsize frames,
                    const float *decoded,
                    gsize n_decoded,
                    gint64 from,
                    gint64 to)
{
  double worst = 0;

  for (gint64 w = MAX (from, 0); w < to && w + F <= (gint64) frames; w += F / 4)
    {
      double sum = 0;

      g_assert_cmpint (w + F + F, <=, (gint64) n_decoded);
      for (gint64 i = w; i < w + F; i++)
        {
          double d = (double) decoded[i + F] - (double) pcm[i];

          sum += d * d;
        }
      worst = MAX (worst, sqrt (sum / F));
    }
  return worst;
}

static void
test_silence_cuts (void)
{
  gsize frames, n_one, n_cut;
  g_autofree float *pcm = make_speechlike (&frames);
  Encoded one, cut;
  g_autofree float *decoded_one = NULL;
  g_autofree float *decoded_cut = NULL;
  double worst_one, worst_cut;

  encode (AV_CODEC_ID_AAC, pcm, frames, 0, 1, &one);
  encode (AV_CODEC_ID_AAC, pcm, frames, 10, 2, &cut);
  g_assert_cmpuint (one.n_segments, ==, 1);
  /* 90 s in segments of at least 10 s. */
  g_assert_cmpuint (cut.n_segments, >=, 5);
  g_assert_cmpuint (cut.n_segments, <=, 9);
  assert_same_timeline (&one, &cut);

  decoded_one = decode (&one, &n_one);
  decoded_cut = decode (&cut, &n_cut);
  g_assert_cmpuint (n_one, ==, n_cut);
  for (guint k = 0; k < cut.cuts->len; k++)
    {
      gint64 s = g_array_index (cut.cuts, gint64, k);
      gint64 previous = k == 0 ? 0 : g_array_index (cut.cuts, gint64, k - 1);

      g_test_message ("cut %u at frame %" G_GINT64_FORMAT, k, s);
      g_assert_cmpint (s % F, ==, 0);
      g_assert_cmpint (s - previous, >=, 10 * RATE);
      /* Cut in silence: zeros over [S - 2F, S + 3F) ... */
      for (gint64 i = s - 2 * F; i < s + 3 * F; i++)
        g_assert_cmpfloat (pcm[i], ==, 0.0f);
      /* ... and the join decodes to silence exactly. */
      for (gint64 i = s - F; i < s + F; i++)
        g_assert_cmpfloat (decoded_cut[i + F], ==, 0.0f);
    }
  /* As faithful as one encoder everywhere (the segments' rate control
   * starts afresh, so the bytes differ). */
  worst_one = worst_window_error (pcm, frames, decoded_one, n_one, 0, (gint64) frames);
  worst_cut = worst_window_error (pcm, frames, decoded_cut, n_cut, 0, (gint64) frames);
  g_test_message ("worst window error: one encoder %.5f, segments %.5f", worst_one, worst_cut);
  g_assert_cmpfloat (worst_one, <, 0.05);
  g_assert_cmpfloat (worst_cut, <, 1.5 * worst_one);
  encoded_clear (&one);
  encoded_clear (&cut);
}

/* The thread count changes nothing. */
static void
test_threads (void)
{
  gsize frames;
  g_autofree float *pcm = make_speechlike (&frames);
  Encoded reference;

  encode (AV_CODEC_ID_AAC, pcm, frames, 8, 1, &reference);
  g_assert_cmpuint (reference.n_segments, >, 3);
  for (guint threads = 2; threads <= 8; threads *= 2)
    {
      Encoded other;

      encode (AV_CODEC_ID_AAC, pcm, frames, 8, threads, &other);
      assert_same_bytes (&reference, &other);
      g_assert_cmpuint (other.cuts->len, ==, reference.cuts->len);
      encoded_clear (&other);
    }
  encoded_clear (&reference);
}

/* A stream without silence is cut anyway, at four segments' length, and
 * the joins are as good as any other frame boundary: on steady tones, and
 * on the "sentences" under a faint noise (so with onsets at any join). */
static void
check_forced_cuts (const float *pcm, gsize frames, double tolerance)
{
  gsize n_one, n_cut;
  g_autofree float *decoded_one = NULL;
  g_autofree float *decoded_cut = NULL;
  Encoded one, cut;
  double worst_one, worst_join = 0;

  encode (AV_CODEC_ID_AAC, pcm, frames, 0, 1, &one);
  encode (AV_CODEC_ID_AAC, pcm, frames, 2, 2, &cut);
  g_assert_cmpuint (cut.n_segments, >=, 4);
  assert_same_timeline (&one, &cut);
  decoded_one = decode (&one, &n_one);
  decoded_cut = decode (&cut, &n_cut);
  worst_one = worst_window_error (pcm, frames, decoded_one, n_one, F, (gint64) frames - 2 * F);
  for (guint k = 0; k < cut.cuts->len; k++)
    {
      gint64 s = g_array_index (cut.cuts, gint64, k);
      gint64 previous = k == 0 ? 0 : g_array_index (cut.cuts, gint64, k - 1);

      g_assert_cmpint (s - previous, >, 4 * 2 * RATE - F);
      g_assert_cmpint (s - previous, <=, 4 * 2 * RATE + 3 * F);
      worst_join = MAX (worst_join,
                        worst_window_error (pcm, frames, decoded_cut, n_cut, s - 2 * F, s + 2 * F));
    }
  g_test_message ("worst window error: one encoder %.5f, at the joins %.5f", worst_one, worst_join);
  g_assert_cmpfloat (worst_one, <, 0.05);
  g_assert_cmpfloat (worst_join, <, tolerance * worst_one);
  encoded_clear (&one);
  encoded_clear (&cut);
}

static void
test_forced_cuts (void)
{
  gsize frames = RATE * 40;
  g_autofree float *tones = g_new (float, frames);
  g_autofree float *noisy = make_speechlike (&frames);
  GRand *rand = g_rand_new_with_seed (11);

  for (gsize i = 0; i < RATE * 40; i++)
    tones[i] = (float) (0.25 * sin (2 * G_PI * 440 * (double) i / RATE) +
                        0.1 * sin (2 * G_PI * 1234.5 * (double) i / RATE));
  check_forced_cuts (tones, RATE * 40, 2);
  for (gsize i = 0; i < frames; i++)
    noisy[i] += (float) g_rand_double_range (rand, -0.001, 0.001);
  g_rand_free (rand);
  check_forced_cuts (noisy, frames, 1.5);
}

/* Shorter than a segment, or a codec whose frames are not joined this
 * way: one encoder, byte for byte ac_encoder's. */
static void
test_one_encoder (void)
{
  static const enum AVCodecID codecs[] = { AV_CODEC_ID_AAC, AV_CODEC_ID_MP3, AV_CODEC_ID_OPUS };
  static const char *const names[] = { "aac", "libmp3lame", "libopus" };
  static const int rates[] = { RATE, RATE, 48000 };
  gsize frames;
  g_autofree float *pcm = make_speechlike (&frames);

  for (guint i = 0; i < G_N_ELEMENTS (codecs); i++)
    {
      Encoded one, segmented;
      double seconds = codecs[i] == AV_CODEC_ID_AAC ? 1000 : 5;

      if (avcodec_find_encoder_by_name (names[i]) == NULL)
        {
          g_test_message ("skipping %s: this FFmpeg has no such encoder", names[i]);
          continue;
        }
      encode_at (codecs[i], rates[i], pcm, frames, 0, 1, &one);
      encode_at (codecs[i], rates[i], pcm, frames, seconds, 2, &segmented);
      g_assert_cmpuint (segmented.n_segments, ==, 1);
      assert_same_bytes (&one, &segmented);
      encoded_clear (&one);
      encoded_clear (&segmented);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audio-concat/encode-segments/silence-cuts", test_silence_cuts);
  g_test_add_func ("/audio-concat/encode-segments/threads", test_threads);
  g_test_add_func ("/audio-concat/encode-segments/forced-cuts", test_forced_cuts);
  g_test_add_func ("/audio-concat/encode-segments/one-encoder", test_one_encoder);
  return g_test_run ();
}
