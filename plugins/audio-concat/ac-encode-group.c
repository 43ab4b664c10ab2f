/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One chapter: its chunks' PCM joined with their silences, measured, and
 * encoded (AAC, MP3, Opus) or kept as 16-bit PCM, into one item. Chapters
 * are groups of their own, so the engine encodes them in parallel; the
 * book is then assembled from the packets without encoding again.
 *
 * A streaming gather: the engine drives one group at a time through add
 * but runs the ends in parallel, so add only copies the member's PCM, as
 * it came, to a spool file and notes its format and what ends it; end
 * reads the members back a block at a time and joins, measures and
 * encodes them. A chapter of hours is then on disk, not in memory, and
 * the bytes are those of joining the members as they arrive: end makes
 * the same calls with the same PCM. */

#include "ac.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  AcPcmFormat format;
  gsize size; /* bytes of PCM in the spool */
  AcEnd end;
} SpooledMember;

struct _AcEncodeGroup
{
  AcFormat format;
  SutraItem *first;
  FILE *spool;
  GArray *members; /* SpooledMember, in order */
  AcConcat *concat;
  AcSegmentedEncoder *encoder;
  AcLoudness *loudness;
  FILE *body;         /* the header and packet records, or s16le PCM */
  GByteArray *record; /* one packet's record, or a block of PCM */
  int sample_rate;
  int channels;
  gint64 encoded_frames;
  gint64 first_pts;
  gboolean has_first_pts;
  guint n_members;
};

void
ac_encode_free (AcEncodeGroup *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->first, sutra_item_unref);
  g_clear_pointer (&self->spool, fclose);
  g_clear_pointer (&self->members, g_array_unref);
  ac_concat_free (self->concat);
  ac_segmented_encoder_free (self->encoder);
  ac_loudness_free (self->loudness);
  g_clear_pointer (&self->body, fclose);
  if (self->record != NULL)
    g_byte_array_unref (self->record);
  g_free (self);
}

static gboolean
on_packet (gpointer user_data, const AVPacket *packet, GError **error)
{
  AcEncodeGroup *self = user_data;
  gint64 duration = ac_segmented_encoder_packet_duration (self->encoder, packet);

  if (!self->has_first_pts)
    {
      self->first_pts = packet->pts;
      self->has_first_pts = TRUE;
    }
  self->encoded_frames += duration;
  g_byte_array_set_size (self->record, 0);
  ac_packets_append_packet (self->record, packet->data, (gsize) packet->size, packet->pts,
                            duration);
  return ac_spool_write (self->body, self->record->data, self->record->len, error);
}

static gboolean
on_pcm (gpointer user_data, const float *frames, gsize n_frames, GError **error)
{
  AcEncodeGroup *self = user_data;
  gsize n = n_frames * (gsize) self->channels;

  if (self->loudness != NULL && !ac_loudness_add (self->loudness, frames, n_frames, error))
    return FALSE;
  if (self->encoder != NULL)
    return ac_segmented_encoder_write (self->encoder, frames, n_frames, error);
  g_byte_array_set_size (self->record, (guint) (n * 2));
  for (gsize i = 0; i < n; i++)
    {
      gint16 s = GINT16_TO_LE ((gint16) lrintf (CLAMP (frames[i], -1.0f, 1.0f) * 32767.0f));

      memcpy (self->record->data + 2 * i, &s, 2);
    }
  return ac_spool_write (self->body, self->record->data, self->record->len, error);
}

/* The chapter's format: auto follows the loudness the book will get. A
 * preset's gain is measured over the whole book and must come before
 * encoding, so the chapter stays PCM and audio-concat encodes it after the
 * gain (chapters still in parallel); without one it is encoded here. */
static gboolean
encode_format (const AcEncodeSettings *settings,
               AcFormat *format,
               AcLoudnessPreset *preset_out,
               GError **error)
{
  AcLoudnessPreset preset;

  if (!ac_loudness_preset_parse (settings->loudness != NULL ? settings->loudness : "none", &preset,
                                 error))
    return FALSE;
  *preset_out = preset;
  if (settings->format == NULL || strcmp (settings->format, "auto") == 0)
    {
      *format = preset == AC_LOUDNESS_NONE ? AC_FORMAT_AAC : AC_FORMAT_PCM;
      return TRUE;
    }
  if (!ac_format_parse (settings->format, NULL, format, error))
    return FALSE;
  if (preset != AC_LOUDNESS_NONE && *format != AC_FORMAT_PCM)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "loudness “%s” is one gain over the whole book, applied by audio-concat "
                   "before encoding: set audio-encode's format to auto or pcm, not %s",
                   settings->loudness, settings->format);
      return FALSE;
    }
  return TRUE;
}

AcEncodeGroup *
ac_encode_begin (const AcEncodeSettings *settings,
                 const char *work_dir,
                 SutraItem *first,
                 GError **error)
{
  g_autoptr (AcEncodeGroup) self = g_new0 (AcEncodeGroup, 1);
  AcConcatConfig config = { 0 };
  AcLoudnessPreset preset;
  AcPcmFormat in;

  if (!encode_format (settings, &self->format, &preset, error))
    return NULL;
  if (self->format != AC_FORMAT_AAC && self->format != AC_FORMAT_MP3 &&
      self->format != AC_FORMAT_OPUS && self->format != AC_FORMAT_PCM)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "audio-encode makes aac, mp3, opus or pcm chapters, not %s", settings->format);
      return NULL;
    }
  if (!ac_pcm_format_from_item (first, &in, error))
    return NULL;
  self->spool = ac_spool_open (work_dir, error);
  if (self->spool == NULL)
    return NULL;
  self->members = g_array_new (FALSE, FALSE, sizeof (SpooledMember));
  self->first = sutra_item_ref (first);
  self->sample_rate =
    ac_format_pick_rate (self->format,
                         settings->sample_rate > 0 ? (int) settings->sample_rate : in.sample_rate);
  self->channels = settings->channels > 0 ? (int) settings->channels : in.channels;
  /* The chapter goes to a file, which becomes its item's payload: hours
   * of audio are hundreds of MB, and the engine stores a payload file a
   * block at a time. */
  self->body = ac_spool_open (work_dir, error);
  if (self->body == NULL)
    return NULL;
  self->record = g_byte_array_new ();
  /* Nothing reads a chapter's loudness but its metadata (audio-concat
   * measures the book itself for a preset): 4 % of an audiobook's CPU,
   * spent only when asked for. */
  if (settings->measure_loudness)
    {
      self->loudness = ac_loudness_new (self->sample_rate, self->channels,
                                        ac_loudness_preset_limits_true_peak (preset), error);
      if (self->loudness == NULL)
        return NULL;
    }
  if (self->format != AC_FORMAT_PCM)
    {
      AcEncoderConfig ec = {
        .codec = ac_format_codec (self->format),
        .sample_rate = self->sample_rate,
        .channels = self->channels,
        .bit_rate = settings->bitrate_kbps * 1000,
        .aac_coder = settings->aac_coder,
      };

      AcStreamInfo info = { 0 };

      self->encoder = ac_segmented_encoder_new (&ec, (double) settings->segment_s,
                                                (guint) settings->threads, on_packet, self, error);
      if (self->encoder == NULL)
        return NULL;
      /* The stream's parameters are set when the encoder opens; the
       * chapter's length goes into the header at the end. */
      ac_stream_info_from_context (&info, ac_segmented_encoder_get_context (self->encoder));
      g_byte_array_set_size (self->record, 0);
      ac_packets_append_header (self->record, &info);
      ac_stream_info_clear (&info);
      if (!ac_spool_write (self->body, self->record->data, self->record->len, error))
        return NULL;
    }
  config.sample_rate = self->sample_rate;
  config.channels = self->channels;
  config.gap_ms[AC_END_SENTENCE] = settings->sentence_gap_ms;
  config.gap_ms[AC_END_PARAGRAPH] = settings->paragraph_gap_ms;
  config.gap_ms[AC_END_CHAPTER] = settings->chapter_gap_ms;
  self->concat = ac_concat_new (&config, on_pcm, self);
  return g_steal_pointer (&self);
}

gboolean
ac_encode_add (AcEncodeGroup *self, SutraItem *member, GError **error)
{
  SpooledMember spooled = { 0 };
  const guint8 *data;

  /* What joining would refuse is refused now, while the member is at
   * hand, not hours later in end. */
  if (!ac_pcm_format_from_item (member, &spooled.format, error))
    return FALSE;
  data = sutra_item_get_data (member, &spooled.size);
  if (!ac_pcm_check_size (&spooled.format, spooled.size, error))
    return FALSE;
  if (spooled.size > 0 && !ac_spool_write (self->spool, data, spooled.size, error))
    return FALSE;
  spooled.end = ac_member_end (member);
  g_array_append_val (self->members, spooled);
  self->n_members++;
  return TRUE;
}

/* Joins the spooled members, as ac_concat_add() would have as they came,
 * reading each back a block at a time. */
static gboolean
join_spooled (AcEncodeGroup *self, GError **error)
{
  g_autofree guint8 *buffer = NULL;
  gsize buffer_size = 0;

  if (!ac_spool_rewind (self->spool, error))
    return FALSE;
  for (guint i = 0; i < self->members->len; i++)
    {
      const SpooledMember *m = &g_array_index (self->members, SpooledMember, i);
      gsize frame_size =
        (gsize) av_get_bytes_per_sample (m->format.sample_format) * (gsize) m->format.channels;
      gsize block = AC_READ_BLOCK_FRAMES * frame_size;
      gsize left = m->size;

      if (block > buffer_size)
        {
          buffer = g_realloc (buffer, block);
          buffer_size = block;
        }
      if (!ac_concat_separate (self->concat, error))
        return FALSE;
      /* At least one write, empty or not: an empty member still opens or
       * switches the resampler, as it does when added whole. */
      do
        {
          gsize n = MIN (left, block);

          if (n > 0 && fread (buffer, 1, n, self->spool) != n)
            {
              g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO,
                           "the spool file is short (member %u of the chapter)", i + 1);
              return FALSE;
            }
          if (!ac_concat_write (self->concat, &m->format, buffer, n, error))
            return FALSE;
          left -= n;
        }
      while (left > 0);
      ac_concat_close_member (self->concat, m->end);
    }
  /* The spool is done with: its disk space goes back now. */
  g_clear_pointer (&self->spool, fclose);
  return TRUE;
}

/* The members' metadata that describes the chapter and the book, not one
 * chunk of it. */
static const char *const chapter_keys[] = {
  "chapter_index", "chapter_title", "part_title", "front_matter", "language",
  "title",         "author",        "voice",      "cover",        NULL,
};

SutraItem *
ac_encode_end (AcEncodeGroup *self, GError **error)
{
  g_autoptr (SutraItem) chapter = NULL;
  JsonObject *first_meta = sutra_item_get_meta (self->first);
  AcLoudnessResult loudness;
  JsonObject *meta;
  guint64 content_frames;
  int fd;

  if (!join_spooled (self, error))
    return NULL;
  if (!ac_concat_end (self->concat, AC_END_CHAPTER, error))
    return NULL;
  content_frames = ac_concat_get_frames (self->concat);
  if (self->encoder != NULL && !ac_segmented_encoder_finish (self->encoder, error))
    return NULL;
  if (fflush (self->body) != 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write the encoded chapter's file: %s", g_strerror (saved));
      return NULL;
    }
  if (self->encoder != NULL &&
      !ac_packets_set_content_frames (fileno (self->body), content_frames, error))
    return NULL;
  chapter = sutra_item_new_parent (self->first,
                                   self->encoder != NULL ? AC_MEDIA_PACKETS : AC_MEDIA_RAW, NULL);
  /* The item takes a descriptor of its own; the spool's goes with it. */
  fd = fcntl (fileno (self->body), F_DUPFD_CLOEXEC, 0);
  g_clear_pointer (&self->body, fclose);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot keep the encoded chapter's file: %s", g_strerror (saved));
      return NULL;
    }
  if (!sutra_item_take_payload_fd (chapter, fd, error))
    return NULL;
  meta = sutra_item_ensure_meta (chapter);
  for (guint i = 0; chapter_keys[i] != NULL; i++)
    {
      JsonNode *node =
        first_meta != NULL ? json_object_get_member (first_meta, chapter_keys[i]) : NULL;

      if (node != NULL)
        json_object_set_member (meta, chapter_keys[i], json_node_copy (node));
    }
  /* The chapter's silence is in its audio: the book adds none. */
  json_object_set_boolean_member (meta, "gap_included", TRUE);
  json_object_set_string_member (meta, "codec", ac_format_name (self->format));
  json_object_set_int_member (meta, "sample_rate", self->sample_rate);
  json_object_set_int_member (meta, "channels", self->channels);
  if (self->encoder == NULL)
    json_object_set_string_member (meta, "sample_format", "s16le");
  json_object_set_int_member (meta, "content_frames", (gint64) content_frames);
  if (self->encoder != NULL)
    json_object_set_int_member (meta, "encoded_frames", self->encoded_frames);
  json_object_set_int_member (meta, "members", self->n_members);
  if (self->loudness != NULL)
    {
      ac_loudness_result (self->loudness, &loudness);
      ac_loudness_to_meta (&loudness, "loudness_", meta);
    }
  return g_steal_pointer (&chapter);
}
