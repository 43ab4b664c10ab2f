/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A book: its members, in order, into one file. Two kinds of members:
 *
 * - encoded chapters (audio-encode's packets): remuxed, not encoded again.
 *   Each chapter's packets keep their durations and are laid end to end;
 *   a chapter starts where its encoder's input started, which the packet
 *   timestamps say exactly (the first packet of every chapter holds the
 *   encoder's priming, 1024 samples for AAC, so its pts is negative), and
 *   the chapter mark goes there, to the sample.
 * - PCM (chunks, or audio-encode's pcm chapters): joined with their
 *   silences, measured, then written (WAV, RF64, FLAC) or encoded.
 *
 * Nothing is held in memory. WAV/RF64/FLAC are written as members arrive.
 * Everything else goes through a spool, an unlinked file in the work
 * directory: encoded packets (remuxed chapters, or PCM encoded as it
 * arrives), because the muxer is opened at the end, when every chapter is
 * known (MP3 and Ogg write chapters in their header); or, with a loudness
 * preset, the float PCM itself, which gets the gain measured over the
 * whole book on its way out of the spool: the two passes of EBU R128.
 * Into WAV/FLAC it is then written; into an encoded format each chapter is
 * encoded on its own, several at once (ac-chapter-pool.c), and the book is
 * remuxed from their packets exactly as from audio-encode's chapters.
 */

#include "ac.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

struct _AcBookGroup
{
  const AcBookSettings *settings;
  AcFormat format;
  AcLoudnessPreset preset;
  char *part_path;
  char *work_dir;
  SutraItem *parent; /* made from the first member, payload-less */
  gboolean packets;
  FILE *spool;
  GByteArray *record;
  guint n_members;
  GArray *chapters; /* of AcChapter */
  gint64 chapter_key;
  AcTags tags;
  char *tag_title, *tag_author, *tag_narrator, *tag_cover;
  /* encoded chapters */
  AcStreamInfo info;
  gint64 offset; /* where the next chapter's packets go */
  gint64 first_pts;
  double energy_sum, weight_sum; /* chapters' loudness, weighted by length */
  double true_peak, sample_peak;
  guint n_true_peaks; /* chapters that said theirs */
  /* PCM */
  AcConcat *concat;
  AcLoudness *loudness;
  int sample_rate;
  int channels;
  /* PCM without a loudness preset needs no second pass: WAV/FLAC are
   * written as members arrive, and an encoded format is encoded as they
   * arrive, its packets spooled until the chapters are known. */
  AcSndWriter *writer;
  AcEncoder *encoder;
};

static void
chapter_clear (gpointer data)
{
  AcChapter *c = data;

  g_free (c->title);
}

void
ac_book_free (AcBookGroup *self)
{
  if (self == NULL)
    return;
  if (self->part_path != NULL)
    g_unlink (self->part_path);
  g_free (self->part_path);
  g_free (self->work_dir);
  g_clear_pointer (&self->parent, sutra_item_unref);
  if (self->spool != NULL)
    fclose (self->spool);
  if (self->record != NULL)
    g_byte_array_unref (self->record);
  if (self->chapters != NULL)
    g_array_unref (self->chapters);
  g_free (self->tag_title);
  g_free (self->tag_author);
  g_free (self->tag_narrator);
  g_free (self->tag_cover);
  ac_stream_info_clear (&self->info);
  ac_concat_free (self->concat);
  ac_loudness_free (self->loudness);
  ac_snd_writer_free (self->writer);
  ac_encoder_free (self->encoder);
  g_free (self);
}

static const char *
media_type_of (AcFormat format)
{
  switch (format)
    {
    case AC_FORMAT_MP3:
      return "audio/mpeg";
    case AC_FORMAT_OPUS:
      return "audio/ogg";
    case AC_FORMAT_FLAC:
      return "audio/flac";
    case AC_FORMAT_WAV:
    case AC_FORMAT_RF64:
      return "audio/wav";
    default:
      return "audio/mp4";
    }
}

static gboolean
spool_write (AcBookGroup *self, const void *data, gsize size, GError **error)
{
  return ac_spool_write (self->spool, data, size, error);
}

static gboolean
on_pcm (gpointer user_data, const float *frames, gsize n_frames, GError **error)
{
  AcBookGroup *self = user_data;

  if (!ac_loudness_add (self->loudness, frames, n_frames, error))
    return FALSE;
  if (self->writer != NULL)
    return ac_snd_writer_write (self->writer, frames, n_frames, error);
  if (self->encoder != NULL)
    return ac_encoder_write (self->encoder, frames, n_frames, error);
  return spool_write (self, frames, n_frames * (gsize) self->channels * sizeof (float), error);
}

static gboolean
on_encoded_spool (gpointer user_data, const AVPacket *packet, GError **error)
{
  AcBookGroup *self = user_data;

  g_byte_array_set_size (self->record, 0);
  ac_packets_append_packet (self->record, packet->data, (gsize) packet->size, packet->pts,
                            packet->duration);
  return spool_write (self, self->record->data, self->record->len, error);
}

static const char *
first_nonempty (const char *a, const char *b)
{
  return a != NULL && a[0] != '\0' ? a : b;
}

AcBookGroup *
ac_book_begin (const AcBookSettings *settings,
               const char *work_dir,
               SutraItem *first,
               GError **error)
{
  g_autoptr (AcBookGroup) self = g_new0 (AcBookGroup, 1);
  JsonObject *meta;

  self->settings = settings;
  if (!ac_format_parse (settings->format, settings->output, &self->format, error))
    return NULL;
  if (self->format == AC_FORMAT_AAC || self->format == AC_FORMAT_PCM)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "audio-concat writes m4b, m4a, mp3, opus, flac, wav or rf64, not %s "
                   "(that is audio-encode's)",
                   ac_format_name (self->format));
      return NULL;
    }
  if (!ac_loudness_preset_parse (settings->loudness, &self->preset, error))
    return NULL;
  self->packets = strcmp (sutra_item_get_media_type (first), AC_MEDIA_PACKETS) == 0;
  if (self->packets && self->preset != AC_LOUDNESS_NONE)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "loudness “%s” needs one gain before encoding, and these chapters are "
                   "encoded already: set audio-encode's format to pcm, or to auto with its "
                   "loudness “%s” too (audio-concat then encodes the chapters after the gain), "
                   "or loudness to none (the measured values are in the book's metadata either "
                   "way)",
                   settings->loudness, settings->loudness);
      return NULL;
    }
  self->work_dir = g_strdup (work_dir);
  self->spool = ac_spool_open (work_dir, error);
  if (self->spool == NULL)
    return NULL;
  self->record = g_byte_array_new ();
  self->chapters = g_array_new (FALSE, TRUE, sizeof (AcChapter));
  g_array_set_clear_func (self->chapters, chapter_clear);
  self->chapter_key = G_MININT64;
  self->part_path = g_strconcat (settings->output, ".part", NULL);

  self->parent = sutra_item_new_parent (first, media_type_of (self->format), NULL);
  meta = sutra_item_get_meta (first);
  if (meta != NULL)
    {
      JsonObject *own = sutra_item_ensure_meta (self->parent);
      static const char *const book_keys[] = { "title", "author", "language", NULL };

      for (guint i = 0; book_keys[i] != NULL; i++)
        if (json_object_has_member (meta, book_keys[i]))
          json_object_set_member (own, book_keys[i],
                                  json_node_copy (json_object_get_member (meta, book_keys[i])));
    }
  self->tag_title =
    g_strdup (first_nonempty (settings->title, sutra_item_get_meta_string (first, "title", NULL)));
  self->tag_author = g_strdup (
    first_nonempty (settings->author, sutra_item_get_meta_string (first, "author", NULL)));
  self->tag_narrator = g_strdup (
    first_nonempty (settings->narrator, sutra_item_get_meta_string (first, "voice", NULL)));
  self->tag_cover =
    g_strdup (first_nonempty (settings->cover, sutra_item_get_meta_string (first, "cover", NULL)));
  self->tags = (AcTags){
    .title = self->tag_title,
    .artist = self->tag_author,
    .album = self->tag_title,
    .narrator = self->tag_narrator,
    .genre = first_nonempty (settings->genre, NULL),
    .description = first_nonempty (settings->description, NULL),
    .date = first_nonempty (settings->date, NULL),
    .cover = self->tag_cover,
  };

  if (!self->packets)
    {
      AcConcatConfig config = { 0 };
      AcPcmFormat in;

      if (!ac_pcm_format_from_item (first, &in, error))
        return NULL;
      self->sample_rate =
        ac_format_pick_rate (self->format, settings->sample_rate > 0 ? (int) settings->sample_rate
                                                                     : in.sample_rate);
      self->channels = settings->channels > 0 ? (int) settings->channels : in.channels;
      config.sample_rate = self->sample_rate;
      config.channels = self->channels;
      config.gap_ms[AC_END_SENTENCE] = settings->sentence_gap_ms;
      config.gap_ms[AC_END_PARAGRAPH] = settings->paragraph_gap_ms;
      config.gap_ms[AC_END_CHAPTER] = settings->chapter_gap_ms;
      self->concat = ac_concat_new (&config, on_pcm, self);
      self->loudness = ac_loudness_new (self->sample_rate, self->channels,
                                        ac_loudness_preset_limits_true_peak (self->preset), error);
      if (self->loudness == NULL)
        return NULL;
      if (self->preset == AC_LOUDNESS_NONE && ac_format_is_sndfile (self->format))
        {
          self->writer = ac_snd_writer_open (self->part_path, self->format, self->sample_rate,
                                             self->channels, &self->tags, error);
          if (self->writer == NULL)
            return NULL;
        }
      else if (self->preset == AC_LOUDNESS_NONE)
        {
          AcEncoderConfig ec = {
            .codec = ac_format_codec (self->format),
            .sample_rate = self->sample_rate,
            .channels = self->channels,
            .bit_rate = settings->bitrate_kbps * 1000,
            .aac_coder = settings->aac_coder,
          };

          self->encoder = ac_encoder_new (&ec, on_encoded_spool, self, error);
          if (self->encoder == NULL)
            return NULL;
          ac_stream_info_from_context (&self->info, ac_encoder_get_context (self->encoder));
        }
    }
  return g_steal_pointer (&self);
}

/* A member opens a chapter when its chapter_index differs from the one
 * before; an encoded chapter (gap_included) without one is a chapter. */
static void
maybe_open_chapter (AcBookGroup *self, SutraItem *member, gint64 start)
{
  gint64 key = sutra_item_get_meta_int (member, "chapter_index", G_MININT64);
  AcChapter chapter = { 0 };
  const char *title;

  if (key == G_MININT64)
    key = ac_meta_bool (member, "gap_included", FALSE) ? -(gint64) self->n_members : -1;
  if (key == self->chapter_key)
    return;
  self->chapter_key = key;
  if (self->chapters->len > 0)
    g_array_index (self->chapters, AcChapter, self->chapters->len - 1).end = start;
  title = sutra_item_get_meta_string (member, "chapter_title", NULL);
  chapter.start = start;
  chapter.end = start;
  chapter.title = title != NULL && title[0] != '\0'
                    ? g_strdup (title)
                    : g_strdup_printf ("Chapter %u", self->chapters->len + 1);
  g_array_append_val (self->chapters, chapter);
}

/* One packet of a chapter whose first packet has @chapter_first_pts, laid
 * at the end of the book so far (self->offset): its timestamps shifted so
 * that every chapter's priming is where its first packet is. */
static gboolean
spool_packet (AcBookGroup *self, const AcPacket *packet, gint64 chapter_first_pts, GError **error)
{
  g_byte_array_set_size (self->record, 0);
  ac_packets_append_packet (self->record, packet->data, packet->size,
                            self->offset + (packet->pts - chapter_first_pts) + self->first_pts,
                            packet->duration);
  return spool_write (self, self->record->data, self->record->len, error);
}

static gboolean
add_packets (AcBookGroup *self, SutraItem *member, GError **error)
{
  g_auto (AcPacketReader) reader = { 0 };
  g_auto (AcStreamInfo) info = { 0 };
  AcPacket packet;
  gint64 first_pts = 0, total = 0;
  gboolean first = TRUE;
  g_autoptr (GError) local = NULL;
  double loudness;
  JsonObject *meta;
  JsonNode *node;

  if (strcmp (sutra_item_get_media_type (member), AC_MEDIA_PACKETS) != 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "a book mixes encoded chapters and %s: encode every chapter the same way",
                   sutra_item_get_media_type (member));
      return FALSE;
    }
  /* A block at a time: a chapter of hours is hundreds of MB, in a file. */
  if (!ac_packet_reader_open (&reader, member, AC_PACKET_READER_BLOCK, &info, error))
    return FALSE;
  if (self->n_members == 1)
    {
      if (info.codec != ac_format_codec (self->format))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "the chapters are encoded as %s, which a %s file does not hold: set "
                       "audio-encode's format to match (aac for m4b/m4a)",
                       avcodec_get_name (info.codec), ac_format_name (self->format));
          return FALSE;
        }
      self->info = info;
      self->info.extradata = info.extradata != NULL ? g_bytes_ref (info.extradata) : NULL;
    }
  else if (info.codec != self->info.codec || info.sample_rate != self->info.sample_rate ||
           info.channels != self->info.channels)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "this chapter is %s at %d Hz, %d channels, the book's first %s at %d Hz, %d "
                   "channels: encode every chapter with the same settings",
                   avcodec_get_name (info.codec), info.sample_rate, info.channels,
                   avcodec_get_name (self->info.codec), self->info.sample_rate,
                   self->info.channels);
      return FALSE;
    }
  while (ac_packet_reader_next (&reader, &packet, &local))
    {
      if (first)
        {
          first_pts = packet.pts;
          if (self->n_members == 1)
            self->first_pts = first_pts;
          /* The chapter's input starts at its pts 0: after its priming. */
          maybe_open_chapter (self, member, self->offset + self->first_pts - first_pts);
          first = FALSE;
        }
      if (!spool_packet (self, &packet, first_pts, error))
        return FALSE;
      total += packet.duration;
    }
  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  self->offset += total;

  /* The book's loudness from its chapters' (an approximation: power
   * mean by length, which ignores the gating across chapters). */
  meta = sutra_item_get_meta (member);
  node = meta != NULL ? json_object_get_member (meta, "loudness_integrated_lufs") : NULL;
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    {
      double weight = (double) info.content_frames;

      loudness = json_node_get_double (node);
      self->energy_sum += weight * pow (10, loudness / 10);
      self->weight_sum += weight;
    }
  node = meta != NULL ? json_object_get_member (meta, "loudness_true_peak_dbtp") : NULL;
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    self->true_peak = self->n_true_peaks++ == 0
                        ? json_node_get_double (node)
                        : MAX (self->true_peak, json_node_get_double (node));
  return TRUE;
}

gboolean
ac_book_add (AcBookGroup *self, SutraItem *member, GError **error)
{
  self->n_members++;
  if (self->packets)
    return add_packets (self, member, error);
  if (!ac_concat_separate (self->concat, error))
    return FALSE;
  maybe_open_chapter (self, member, (gint64) ac_concat_get_frames (self->concat));
  return ac_concat_add (self->concat, member, error);
}

static gboolean
rewind_spool (AcBookGroup *self, GError **error)
{
  return ac_spool_rewind (self->spool, error);
}

/* The second pass into WAV/RF64/FLAC: the spooled PCM, with the book's
 * gain, into the file. */
static gboolean
write_pcm (AcBookGroup *self, double gain_db, gint64 total, GError **error)
{
  const gsize block = 8192;
  g_autofree float *buffer = g_new (float, block *(gsize) self->channels);
  float gain = (float) pow (10, gain_db / 20);
  g_autoptr (AcSndWriter) writer = NULL;
  gint64 left = total;

  if (!rewind_spool (self, error))
    return FALSE;
  writer = ac_snd_writer_open (self->part_path, self->format, self->sample_rate, self->channels,
                               &self->tags, error);
  if (writer == NULL)
    return FALSE;
  while (left > 0)
    {
      gsize n = (gsize) MIN ((gint64) block, left);
      gsize count = n * (gsize) self->channels;

      if (fread (buffer, sizeof (float), count, self->spool) != count)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "the spool file is short");
          return FALSE;
        }
      if (gain_db != 0)
        for (gsize i = 0; i < count; i++)
          buffer[i] *= gain;
      if (!ac_snd_writer_write (writer, buffer, n, error))
        return FALSE;
      left -= (gint64) n;
    }
  return ac_snd_writer_close (writer, error);
}

/* The second pass into an encoded format: the chapters encoded after the
 * gain, in parallel, and their packets spooled in chapter order as
 * audio-encode's chapters are, with the chapter marks where each chapter's
 * input starts. Returns the book's length as it plays, in samples. */
static gboolean
encode_chapters (AcBookGroup *self, double gain_db, gint64 *total, GError **error)
{
  AcEncoderConfig ec = {
    .codec = ac_format_codec (self->format),
    .sample_rate = self->sample_rate,
    .channels = self->channels,
    .bit_rate = self->settings->bitrate_kbps * 1000,
    .aac_coder = self->settings->aac_coder,
  };
  AcChapterPoolConfig config = {
    .encoder = &ec,
    .pcm = self->spool,
    .gain = (float) pow (10, gain_db / 20),
    .work_dir = self->work_dir,
    .n_threads = (guint) MAX (self->settings->encode_threads, 0),
  };
  guint n = self->chapters->len;
  g_autofree gint64 *bounds = g_new (gint64, n + 1);
  g_autoptr (AcChapterPool) pool = NULL;
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  gboolean have_first = FALSE;

  for (guint i = 0; i < n; i++)
    bounds[i] = g_array_index (self->chapters, AcChapter, i).start;
  bounds[n] = *total;
  pool = ac_chapter_pool_encode (&config, bounds, n, error);
  if (pool == NULL)
    return FALSE;

  /* The PCM is spent: the spool now takes the book's packets. */
  fclose (self->spool);
  self->spool = ac_spool_open (self->work_dir, error);
  if (self->spool == NULL)
    return FALSE;
  ac_stream_info_clear (&self->info);
  self->info = *ac_chapter_pool_get_info (pool);
  if (self->info.extradata != NULL)
    g_bytes_ref (self->info.extradata);
  self->offset = 0;
  self->first_pts = 0;
  for (guint i = 0; i < n; i++)
    {
      AcChapter *chapter = &g_array_index (self->chapters, AcChapter, i);
      guint64 n_packets;
      FILE *file = ac_chapter_pool_chapter (pool, i, &n_packets, error);
      gint64 first_pts = 0, length = 0;

      if (file == NULL)
        return FALSE;
      chapter->start = self->offset;
      for (guint64 k = 0; k < n_packets; k++)
        {
          g_autoptr (GError) local = NULL;
          AcPacket packet;

          if (!ac_packets_read_packet (file, buffer, &packet, &local))
            {
              if (local == NULL)
                g_set_error (&local, G_FILE_ERROR, G_FILE_ERROR_IO,
                             "the encoded chapters' spool file is short");
              g_propagate_error (error, g_steal_pointer (&local));
              return FALSE;
            }
          if (k == 0)
            {
              first_pts = packet.pts;
              if (!have_first)
                self->first_pts = first_pts;
              have_first = TRUE;
              /* The chapter's input starts at its pts 0: after its priming. */
              chapter->start = self->offset + self->first_pts - first_pts;
            }
          if (!spool_packet (self, &packet, first_pts, error))
            return FALSE;
          length += packet.duration;
        }
      if (i > 0)
        g_array_index (self->chapters, AcChapter, i - 1).end = chapter->start;
      self->offset += length;
    }
  /* What plays: every packet, less the first chapter's priming. */
  *total = self->offset + self->first_pts;
  if (n > 0)
    g_array_index (self->chapters, AcChapter, n - 1).end = *total;
  return TRUE;
}

static gboolean
write_packets (AcBookGroup *self, GError **error)
{
  g_autoptr (AcMuxer) muxer = NULL;
  g_autoptr (GByteArray) buffer = g_byte_array_new ();
  g_autoptr (GError) local = NULL;
  AcPacket packet;

  if (!rewind_spool (self, error))
    return FALSE;
  muxer =
    ac_muxer_open (self->part_path, self->format, &self->info, &self->tags,
                   (const AcChapter *) (gpointer) self->chapters->data, self->chapters->len, error);
  if (muxer == NULL)
    return FALSE;
  while (ac_packets_read_packet (self->spool, buffer, &packet, &local))
    if (!ac_muxer_write (muxer, packet.data, packet.size, packet.pts, packet.duration, error))
      return FALSE;
  if (local != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return ac_muxer_close (muxer, error);
}

static const char *const preset_names[] = { "none", "r128", "podcast", "acx" };

SutraItem *
ac_book_end (AcBookGroup *self, GError **error)
{
  JsonObject *meta = sutra_item_ensure_meta (self->parent);
  JsonArray *chapters = json_array_new ();
  AcLoudnessResult measured;
  gint64 total;
  int rate, channels;
  double gain_db = 0;

  if (self->packets)
    {
      rate = self->info.sample_rate;
      channels = self->info.channels;
      /* What plays: every packet, less the first chapter's priming. */
      total = self->offset + self->first_pts;
      memset (&measured, 0, sizeof measured);
      measured.integrated_lufs =
        self->weight_sum > 0 ? 10 * log10 (self->energy_sum / self->weight_sum) : -HUGE_VAL;
      measured.range_lu = NAN;
      measured.true_peak_dbtp = self->n_true_peaks > 0 ? self->true_peak : NAN;
      measured.sample_peak_dbfs = NAN;
      measured.rms_dbfs = NAN;
    }
  else
    {
      rate = self->sample_rate;
      channels = self->channels;
      if (!ac_concat_end (self->concat, AC_END_NONE, error))
        {
          json_array_unref (chapters);
          return NULL;
        }
      total = (gint64) ac_concat_get_frames (self->concat);
      ac_loudness_result (self->loudness, &measured);
      gain_db = ac_loudness_gain_db (self->preset, channels, &measured);
    }
  if (self->chapters->len > 0)
    g_array_index (self->chapters, AcChapter, self->chapters->len - 1).end = total;

  if (self->writer != NULL ? !ac_snd_writer_close (self->writer, error)
      : self->encoder != NULL
        ? !ac_encoder_finish (self->encoder, error) || !write_packets (self, error)
      : self->packets ? !write_packets (self, error)
      : ac_format_is_sndfile (self->format)
        ? !write_pcm (self, gain_db, total, error)
        : !encode_chapters (self, gain_db, &total, error) || !write_packets (self, error))
    {
      json_array_unref (chapters);
      return NULL;
    }
  if (g_rename (self->part_path, self->settings->output) != 0)
    {
      int saved = errno;

      json_array_unref (chapters);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot rename %s: %s",
                   self->part_path, g_strerror (saved));
      return NULL;
    }
  g_clear_pointer (&self->part_path, g_free);

  json_object_set_string_member (meta, "path", self->settings->output);
  json_object_set_string_member (meta, "format", ac_format_name (self->format));
  json_object_set_int_member (meta, "sample_rate", rate);
  json_object_set_int_member (meta, "channels", channels);
  json_object_set_int_member (meta, "duration_frames", total);
  json_object_set_double_member (meta, "duration_s", (double) total / rate);
  for (guint i = 0; i < self->chapters->len; i++)
    {
      const AcChapter *c = &g_array_index (self->chapters, AcChapter, i);
      JsonObject *o = json_object_new ();

      json_object_set_string_member (o, "title", c->title);
      json_object_set_int_member (o, "start_frames", c->start);
      json_object_set_int_member (o, "end_frames", c->end);
      json_array_add_object_element (chapters, o);
    }
  json_object_set_int_member (meta, "chapter_count", self->chapters->len);
  json_object_set_array_member (meta, "chapters", chapters);
  json_object_set_string_member (meta, "loudness_preset", preset_names[self->preset]);
  json_object_set_double_member (meta, "loudness_gain_db", round (gain_db * 100) / 100);
  ac_loudness_to_meta (&measured, "loudness_", meta);
  if (self->preset != AC_LOUDNESS_NONE)
    {
      /* What the book measures after the gain (a gain shifts every
       * measure by itself). */
      AcLoudnessResult after = measured;

      after.integrated_lufs += gain_db;
      after.true_peak_dbtp += gain_db;
      after.sample_peak_dbfs += gain_db;
      after.rms_dbfs += gain_db;
      ac_loudness_to_meta (&after, "output_loudness_", meta);
    }
  return g_steal_pointer (&self->parent);
}
