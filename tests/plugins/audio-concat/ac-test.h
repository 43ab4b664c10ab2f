/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the audio-concat tests: PCM items made from generated
 * signals (sines, silence) or from espeak-ng's speech, and files read back
 * with libavformat. */

#pragma once

#include "ac.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* An item with @memory's id, metadata and payload, the payload in an
 * unlinked file (what audio-encode pushes for a chapter). */
static inline SutraItem *
ac_test_item_in_file (SutraItem *memory)
{
  SutraItem *item = sutra_item_new_derived (memory, NULL, NULL);
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("sutra-test-audio-XXXXXX", &path, NULL);
  gsize size;
  const guint8 *data = sutra_item_get_data (memory, &size);

  g_assert_cmpint (fd, >=, 0);
  g_unlink (path);
  g_assert_cmpint (write (fd, data, size), ==, (gssize) size);
  g_assert_true (sutra_item_take_payload_fd (item, fd, NULL));
  return item;
}

/* A 4x4 red PNG: a cover. */
static const guint8 ac_test_png[] =
  "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x04\x00\x00\x00"
  "\x04\x08\x02\x00\x00\x00\x26\x93\x09\x29\x00\x00\x00\x10\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf"
  "\xc0\x00\x47\x0c\xc4\x71\x00\xae\x93\x0f\xf1\xd0\x5f\x23\x9e\x00\x00\x00\x00\x49\x45\x4e\x44"
  "\xae\x42\x60\x82";

/* @frames of a sine (@hz, peak @amplitude) as s16le, @channels alike. */
static inline GBytes *
ac_test_sine_s16 (gsize frames, int rate, int channels, double hz, double amplitude)
{
  gint16 *pcm = g_new (gint16, frames * (gsize) channels);

  for (gsize i = 0; i < frames; i++)
    for (int c = 0; c < channels; c++)
      pcm[i * (gsize) channels + (gsize) c] =
        (gint16) lrint (amplitude * 32767 * sin (2 * G_PI * hz * (double) i / rate));
  return g_bytes_new_take (pcm, frames * (gsize) channels * 2);
}

/* A chunk as the speech stage makes it: child @index of @chapter. */
static inline SutraItem *
ac_test_chunk (SutraItem *chapter,
               guint index,
               GBytes *pcm,
               const char *sample_format,
               int rate,
               int channels,
               gboolean paragraph_end)
{
  SutraItem *item = sutra_item_new_child (chapter, index, AC_MEDIA_RAW, pcm);
  JsonObject *meta = sutra_item_ensure_meta (item);
  JsonObject *chapter_meta = sutra_item_get_meta (chapter);

  json_object_set_string_member (meta, "sample_format", sample_format);
  json_object_set_int_member (meta, "sample_rate", rate);
  json_object_set_int_member (meta, "channels", channels);
  json_object_set_boolean_member (meta, "paragraph_end", paragraph_end);
  if (chapter_meta != NULL)
    {
      GList *names = json_object_get_members (chapter_meta);

      for (GList *l = names; l != NULL; l = l->next)
        json_object_set_member (meta, l->data,
                                json_node_copy (json_object_get_member (chapter_meta, l->data)));
      g_list_free (names);
    }
  return item;
}

/* Speech from espeak-ng's CLI as s16le (22050 Hz mono), or NULL when it
 * is not installed. */
static inline GBytes *
ac_test_speech (const char *text)
{
  g_autofree char *dir = g_dir_make_tmp ("ac-test-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "speech.wav", NULL);
  const char *argv[] = { "espeak-ng", "-w", path, text, NULL };
  SF_INFO info = { 0 };
  SNDFILE *file;
  gint16 *pcm;
  sf_count_t got;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_rmdir (dir);
      return NULL;
    }
  file = sf_open (path, SFM_READ, &info);
  g_assert_nonnull (file);
  g_assert_cmpint (info.samplerate, ==, 22050);
  g_assert_cmpint (info.channels, ==, 1);
  pcm = g_new (gint16, (gsize) info.frames);
  got = sf_readf_short (file, pcm, info.frames);
  g_assert_cmpint (got, ==, info.frames);
  sf_close (file);
  g_unlink (path);
  g_rmdir (dir);
  return g_bytes_new_take (pcm, (gsize) info.frames * 2);
}

/* A file read back with libavformat. */
static inline AVFormatContext *
ac_test_open (const char *path)
{
  AVFormatContext *s = NULL;

  g_assert_cmpint (avformat_open_input (&s, path, NULL, NULL), ==, 0);
  g_assert_cmpint (avformat_find_stream_info (s, NULL), >=, 0);
  return s;
}

static inline const char *
ac_test_tag (AVDictionary *dict, const char *key)
{
  AVDictionaryEntry *e = av_dict_get (dict, key, NULL, 0);

  return e != NULL ? e->value : NULL;
}

/* Samples decoded from the first audio stream (all of them, as float
 * mono: the first channel), with the container's start skipping applied. */
static inline GArray *
ac_test_decode (const char *path, int *rate)
{
  AVFormatContext *s = ac_test_open (path);
  const AVCodec *codec = NULL;
  int index = av_find_best_stream (s, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
  AVCodecContext *c = avcodec_alloc_context3 (codec);
  AVPacket *pkt = av_packet_alloc ();
  AVFrame *frame = av_frame_alloc ();
  GArray *out = g_array_new (FALSE, FALSE, sizeof (float));
  SwrContext *swr = NULL;
  AVChannelLayout mono;

  g_assert_cmpint (index, >=, 0);
  avcodec_parameters_to_context (c, s->streams[index]->codecpar);
  c->pkt_timebase = s->streams[index]->time_base;
  g_assert_cmpint (avcodec_open2 (c, codec, NULL), ==, 0);
  av_channel_layout_default (&mono, 1);
  for (gboolean eof = FALSE; !eof;)
    {
      int ret = av_read_frame (s, pkt);

      if (ret < 0)
        {
          eof = TRUE;
          avcodec_send_packet (c, NULL);
        }
      else if (pkt->stream_index == index)
        avcodec_send_packet (c, pkt);
      av_packet_unref (pkt);
      while (avcodec_receive_frame (c, frame) == 0)
        {
          float *buf;
          int n;

          if (swr == NULL)
            {
              swr_alloc_set_opts2 (&swr, &mono, AV_SAMPLE_FMT_FLT, frame->sample_rate,
                                   &frame->ch_layout, frame->format, frame->sample_rate, 0, NULL);
              swr_init (swr);
            }
          buf = g_new (float, (gsize) frame->nb_samples + 64);
          n = swr_convert (swr, (uint8_t **) &buf, frame->nb_samples + 64,
                           (const uint8_t **) frame->extended_data, frame->nb_samples);
          g_array_append_vals (out, buf, (guint) MAX (n, 0));
          g_free (buf);
          *rate = frame->sample_rate;
        }
    }
  swr_free (&swr);
  av_frame_free (&frame);
  av_packet_free (&pkt);
  avcodec_free_context (&c);
  avformat_close_input (&s);
  return out;
}

static inline gboolean
ac_test_files_equal (const char *a, const char *b)
{
  g_autofree char *da = NULL, *db = NULL;
  gsize na, nb;

  g_assert_true (g_file_get_contents (a, &da, &na, NULL));
  g_assert_true (g_file_get_contents (b, &db, &nb, NULL));
  return na == nb && memcmp (da, db, na) == 0;
}
