/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Encoded packets into a container with libavformat: M4A/M4B (the ipod
 * muxer: iTunes tags, a QuickTime chapter track and Nero chpl), MP3 (ID3v2
 * with CHAP frames) or Opus in Ogg (chapters as comments). The muxer is
 * opened when every chapter is known, because MP3 and Ogg write them in
 * the header. Bit-exact flags keep tool versions and times out of the file. */

#include "ac.h"

#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <string.h>

struct _AcMuxer
{
  AVFormatContext *context;
  AVStream *audio;
  AVPacket *packet;
  char *path;
  gboolean header_written;
};

static gboolean
set_av_error (GError **error, int code, const char *what, const char *path)
{
  char message[AV_ERROR_MAX_STRING_SIZE] = "";

  av_strerror (code, message, sizeof message);
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED, "%s %s: %s", what, path,
               message);
  return FALSE;
}

void
ac_muxer_free (AcMuxer *self)
{
  if (self == NULL)
    return;
  if (self->context != NULL)
    {
      if (self->context->pb != NULL)
        avio_closep (&self->context->pb);
      avformat_free_context (self->context);
    }
  av_packet_free (&self->packet);
  g_free (self->path);
  g_free (self);
}

/* A cover's codec and size, from its first bytes: PNG's IHDR, or the
 * JPEG frame header (SOFn). */
static gboolean
probe_picture (const guint8 *p, gsize n, enum AVCodecID *codec, int *width, int *height)
{
  if (n > 24 && memcmp (p, "\x89PNG\r\n\x1a\n", 8) == 0)
    {
      *codec = AV_CODEC_ID_PNG;
      *width = (int) ((guint32) p[16] << 24 | (guint32) p[17] << 16 | (guint32) p[18] << 8 | p[19]);
      *height =
        (int) ((guint32) p[20] << 24 | (guint32) p[21] << 16 | (guint32) p[22] << 8 | p[23]);
      return *width > 0 && *height > 0;
    }
  if (n > 4 && p[0] == 0xff && p[1] == 0xd8)
    {
      gsize i = 2;

      *codec = AV_CODEC_ID_MJPEG;
      while (i + 9 < n)
        {
          guint8 marker;
          gsize length;

          if (p[i] != 0xff)
            return FALSE;
          marker = p[i + 1];
          length = (gsize) (p[i + 2] << 8 | p[i + 3]);
          if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
              marker != 0xcc)
            {
              *height = p[i + 5] << 8 | p[i + 6];
              *width = p[i + 7] << 8 | p[i + 8];
              return *width > 0 && *height > 0;
            }
          i += 2 + length;
        }
    }
  return FALSE;
}

static void
set_tag (AVDictionary **dict, const char *key, const char *value)
{
  if (value != NULL && value[0] != '\0')
    av_dict_set (dict, key, value, 0);
}

static void
set_tags (AVFormatContext *s, AcFormat format, const AcTags *tags)
{
  set_tag (&s->metadata, "title", tags->title);
  set_tag (&s->metadata, "artist", tags->artist);
  set_tag (&s->metadata, "album_artist", tags->artist);
  set_tag (&s->metadata, "album", tags->album);
  /* The narrator: MP4 and ID3 have no field of their own for it; the
   * composer field is what audiobook players (Apple Books, Smart
   * AudioBook Player) show as the narrator. */
  set_tag (&s->metadata, "composer", tags->narrator);
  set_tag (&s->metadata, "genre", tags->genre);
  set_tag (&s->metadata, "date", tags->date);
  if (format == AC_FORMAT_M4A || format == AC_FORMAT_M4B)
    set_tag (&s->metadata, "description", tags->description);
  else
    set_tag (&s->metadata, "comment", tags->description);
}

static gboolean
add_chapters (AVFormatContext *s, const AcChapter *chapters, guint n, int rate)
{
  for (guint i = 0; i < n; i++)
    {
      /* Freed by avformat_free_context, as the demuxers' chapters are. */
      AVChapter *c = av_mallocz (sizeof (AVChapter));
      AVChapter **grown = av_realloc_array (s->chapters, s->nb_chapters + 1, sizeof (AVChapter *));

      if (c == NULL || grown == NULL)
        {
          av_free (c);
          return FALSE;
        }
      s->chapters = grown;
      s->chapters[s->nb_chapters++] = c;
      c->id = i + 1;
      c->time_base = (AVRational){ 1, rate };
      c->start = chapters[i].start;
      c->end = chapters[i].end;
      set_tag (&c->metadata, "title", chapters[i].title);
    }
  return TRUE;
}

/* Ogg chapters are comments (CHAPTER000=HH:MM:SS.mmm, CHAPTER000NAME=),
 * written here rather than by FFmpeg's writer, which (in 5.1) rounds the
 * seconds and then appends the milliseconds: 5.820 s came out 6.820. */
static void
add_ogg_chapters (AVDictionary **dict, const AcChapter *chapters, guint n, int rate)
{
  for (guint i = 0; i < n; i++)
    {
      gint64 ms = av_rescale_rnd (chapters[i].start, 1000, rate, AV_ROUND_NEAR_INF);
      char key[32], value[64];

      g_snprintf (key, sizeof key, "CHAPTER%03u", i);
      g_snprintf (value, sizeof value, "%02" G_GINT64_FORMAT ":%02d:%02d.%03d", ms / 3600000,
                  (int) (ms / 60000 % 60), (int) (ms / 1000 % 60), (int) (ms % 1000));
      av_dict_set (dict, key, value, 0);
      g_snprintf (key, sizeof key, "CHAPTER%03uNAME", i);
      set_tag (dict, key, chapters[i].title);
    }
}

AcMuxer *
ac_muxer_open (const char *path,
               AcFormat format,
               const AcStreamInfo *info,
               const AcTags *tags,
               const AcChapter *chapters,
               guint n_chapters,
               GError **error)
{
  const char *muxer = format == AC_FORMAT_MP3 ? "mp3" : format == AC_FORMAT_OPUS ? "ogg" : "ipod";
  g_autoptr (AcMuxer) self = g_new0 (AcMuxer, 1);
  g_autofree guint8 *cover = NULL;
  gsize cover_size = 0;
  AVDictionary *options = NULL;
  AVCodecParameters *par;
  AVFormatContext *s;
  int ret;

  self->path = g_strdup (path);
  self->packet = av_packet_alloc ();
  ret = avformat_alloc_output_context2 (&self->context, NULL, muxer, path);
  if (ret < 0 || self->packet == NULL)
    {
      set_av_error (error, ret < 0 ? ret : AVERROR (ENOMEM), "cannot set up", path);
      return NULL;
    }
  s = self->context;
  s->flags |= AVFMT_FLAG_BITEXACT;
  self->audio = avformat_new_stream (s, NULL);
  if (self->audio == NULL)
    {
      set_av_error (error, AVERROR (ENOMEM), "cannot set up", path);
      return NULL;
    }
  par = self->audio->codecpar;
  par->codec_type = AVMEDIA_TYPE_AUDIO;
  par->codec_id = info->codec;
  par->sample_rate = info->sample_rate;
  av_channel_layout_default (&par->ch_layout, info->channels);
  par->frame_size = info->frame_size;
  par->initial_padding = info->initial_padding;
  par->bit_rate = info->bit_rate;
  if (info->extradata != NULL)
    {
      gsize n = g_bytes_get_size (info->extradata);

      par->extradata = av_mallocz (n + AV_INPUT_BUFFER_PADDING_SIZE);
      memcpy (par->extradata, g_bytes_get_data (info->extradata, NULL), n);
      par->extradata_size = (int) n;
    }
  self->audio->time_base = (AVRational){ 1, info->sample_rate };
  if (tags != NULL)
    set_tags (s, format, tags);
  /* Ogg writes the comments of each stream, not the file's. */
  if (format == AC_FORMAT_OPUS)
    av_dict_copy (&self->audio->metadata, s->metadata, 0);
  if (format == AC_FORMAT_OPUS)
    add_ogg_chapters (&self->audio->metadata, chapters, n_chapters, info->sample_rate);
  else if (!add_chapters (s, chapters, n_chapters, info->sample_rate))
    {
      set_av_error (error, AVERROR (ENOMEM), "cannot set up", path);
      return NULL;
    }

  /* The cover: an attached picture (MP4 covr, ID3 APIC). Ogg has no such
   * stream in FFmpeg's muxer: an Opus book goes without. */
  if (tags != NULL && tags->cover != NULL && format != AC_FORMAT_OPUS)
    {
      g_autoptr (GError) local = NULL;
      AVStream *st;
      enum AVCodecID codec;
      int width, height;

      if (!g_file_get_contents (tags->cover, (char **) &cover, &cover_size, &local))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot read the cover: %s",
                       local->message);
          return NULL;
        }
      if (!probe_picture (cover, cover_size, &codec, &width, &height))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "the cover %s is not a JPEG or PNG image: convert it to one", tags->cover);
          return NULL;
        }
      st = avformat_new_stream (s, NULL);
      st->disposition |= AV_DISPOSITION_ATTACHED_PIC;
      st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
      st->codecpar->codec_id = codec;
      st->codecpar->width = width;
      st->codecpar->height = height;
      st->time_base = (AVRational){ 1, 90000 };
    }

  if (format == AC_FORMAT_M4A || format == AC_FORMAT_M4B)
    {
      /* Nero chpl holds at most 255 chapters (a count byte): past that,
       * the QuickTime chapter track alone, which shows them all. */
      if (n_chapters > 255)
        av_dict_set (&options, "movflags", "+disable_chpl", 0);
      /* The ipod muxer brands every file M4A; Apple's players take an
       * M4B for an audiobook (bookmarks, chapters in the player). */
      if (format == AC_FORMAT_M4B)
        av_dict_set (&options, "brand", "M4B ", 0);
    }
  ret = avio_open (&s->pb, path, AVIO_FLAG_WRITE);
  if (ret < 0)
    {
      av_dict_free (&options);
      set_av_error (error, ret, "cannot write", path);
      return NULL;
    }
  ret = avformat_write_header (s, &options);
  av_dict_free (&options);
  if (ret < 0)
    {
      set_av_error (error, ret, "cannot start", path);
      return NULL;
    }
  self->header_written = TRUE;
  if (cover != NULL)
    {
      AVPacket *pkt = self->packet;

      ret = av_new_packet (pkt, (int) cover_size);
      if (ret < 0)
        {
          set_av_error (error, ret, "cannot write the cover of", path);
          return NULL;
        }
      memcpy (pkt->data, cover, cover_size);
      pkt->stream_index = 1;
      pkt->flags |= AV_PKT_FLAG_KEY;
      pkt->pts = pkt->dts = 0;
      ret = av_write_frame (s, pkt);
      av_packet_unref (pkt);
      if (ret < 0)
        {
          set_av_error (error, ret, "cannot write the cover of", path);
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

gboolean
ac_muxer_write (AcMuxer *self,
                const guint8 *data,
                gsize size,
                gint64 pts,
                gint64 duration,
                GError **error)
{
  AVPacket *pkt = self->packet;
  int ret = av_new_packet (pkt, (int) size);

  if (ret < 0)
    return set_av_error (error, ret, "cannot write", self->path);
  memcpy (pkt->data, data, size);
  pkt->stream_index = 0;
  pkt->pts = pkt->dts = pts;
  pkt->duration = duration;
  pkt->flags |= AV_PKT_FLAG_KEY;
  av_packet_rescale_ts (pkt, (AVRational){ 1, self->audio->codecpar->sample_rate },
                        self->audio->time_base);
  ret = av_write_frame (self->context, pkt);
  av_packet_unref (pkt);
  if (ret < 0)
    return set_av_error (error, ret, "cannot write", self->path);
  return TRUE;
}

gboolean
ac_muxer_close (AcMuxer *self, GError **error)
{
  int ret = av_write_trailer (self->context);

  if (ret < 0)
    return set_av_error (error, ret, "cannot finish", self->path);
  ret = avio_closep (&self->context->pb);
  if (ret < 0)
    return set_av_error (error, ret, "cannot close", self->path);
  return TRUE;
}
