/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Output formats by name or extension, and the PCM an input item holds. */

#include "ac.h"

#include <string.h>

static const struct
{
  const char *name;
  AcFormat format;
} format_names[] = {
  { "wav", AC_FORMAT_WAV }, { "rf64", AC_FORMAT_RF64 }, { "flac", AC_FORMAT_FLAC },
  { "mp3", AC_FORMAT_MP3 }, { "opus", AC_FORMAT_OPUS }, { "ogg", AC_FORMAT_OPUS },
  { "m4a", AC_FORMAT_M4A }, { "m4b", AC_FORMAT_M4B },   { "mp4", AC_FORMAT_M4A },
  { "aac", AC_FORMAT_AAC }, { "pcm", AC_FORMAT_PCM },
};

const char *
ac_format_name (AcFormat format)
{
  for (gsize i = 0; i < G_N_ELEMENTS (format_names); i++)
    if (format_names[i].format == format)
      return format_names[i].name;
  return "?";
}

/* @name "auto" (or NULL) takes the format from @path's extension. */
gboolean
ac_format_parse (const char *name, const char *path, AcFormat *format, GError **error)
{
  const char *key = name;
  const char *dot = NULL;

  if (key == NULL || strcmp (key, "auto") == 0)
    {
      dot = path != NULL ? strrchr (path, '.') : NULL;
      if (dot == NULL || strchr (dot, '/') != NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "cannot tell the audio format of “%s” from its name: give the file an "
                       "extension (.m4b, .m4a, .mp3, .opus, .flac, .wav) or set format",
                       path != NULL ? path : "");
          return FALSE;
        }
      key = dot + 1;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (format_names); i++)
    if (g_ascii_strcasecmp (format_names[i].name, key) == 0)
      {
        *format = format_names[i].format;
        return TRUE;
      }
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
               "unknown audio format “%s”%s%s%s: use m4b, m4a, mp3, opus, flac, wav or rf64", key,
               dot != NULL ? " (the extension of “" : "", dot != NULL ? path : "",
               dot != NULL ? "”)" : "");
  return FALSE;
}

gboolean
ac_format_is_sndfile (AcFormat format)
{
  return format == AC_FORMAT_WAV || format == AC_FORMAT_RF64 || format == AC_FORMAT_FLAC;
}

enum AVCodecID
ac_format_codec (AcFormat format)
{
  switch (format)
    {
    case AC_FORMAT_MP3:
      return AV_CODEC_ID_MP3;
    case AC_FORMAT_OPUS:
      return AV_CODEC_ID_OPUS;
    case AC_FORMAT_M4A:
    case AC_FORMAT_M4B:
    case AC_FORMAT_AAC:
      return AV_CODEC_ID_AAC;
    default:
      return AV_CODEC_ID_NONE;
    }
}

int
ac_format_pick_rate (AcFormat format, int wanted)
{
  static const int mp3_rates[] = { 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000 };
  const int *rates;
  gsize n;

  /* Opus works at 48 kHz inside, and players decode it at that rate. */
  if (format == AC_FORMAT_OPUS)
    return 48000;
  if (format == AC_FORMAT_MP3)
    rates = mp3_rates, n = G_N_ELEMENTS (mp3_rates);
  else
    return wanted;
  /* The smallest rate that keeps the input's bandwidth, else the largest. */
  for (gsize i = 0; i < n; i++)
    if (rates[i] >= wanted)
      return rates[i];
  return rates[n - 1];
}

static const struct
{
  const char *name;
  enum AVSampleFormat format;
} sample_formats[] = {
  { "s16le", AV_SAMPLE_FMT_S16 }, { "s16", AV_SAMPLE_FMT_S16 },   { "f32le", AV_SAMPLE_FMT_FLT },
  { "f32", AV_SAMPLE_FMT_FLT },   { "s32le", AV_SAMPLE_FMT_S32 }, { "s32", AV_SAMPLE_FMT_S32 },
  { "f64le", AV_SAMPLE_FMT_DBL }, { "u8", AV_SAMPLE_FMT_U8 },
};

const char *
ac_pcm_format_name (enum AVSampleFormat sample_format)
{
  for (gsize i = 0; i < G_N_ELEMENTS (sample_formats); i++)
    if (sample_formats[i].format == sample_format)
      return sample_formats[i].name;
  return "?";
}

/* audio/x-raw carries its format in metadata (sample_format, sample_rate,
 * channels); audio/x-raw-f32 is float by its name. The samples are
 * little-endian: the hosts sutra runs on are. */
gboolean
ac_pcm_format_from_item (const SutraItem *item, AcPcmFormat *format, GError **error)
{
  const char *media_type = sutra_item_get_media_type (item);
  gboolean is_f32 = strcmp (media_type, SUTRA_MEDIA_AUDIO_F32) == 0;
  const char *name;
  gint64 rate, channels;
  gsize i;

  if (!is_f32 && strcmp (media_type, AC_MEDIA_RAW) != 0)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
                   "media type %s is not raw audio: feed this stage the speech stage's "
                   "audio/x-raw items",
                   media_type);
      return FALSE;
    }
  name = sutra_item_get_meta_string (item, "sample_format", is_f32 ? "f32le" : "s16le");
  for (i = 0; i < G_N_ELEMENTS (sample_formats); i++)
    if (strcmp (sample_formats[i].name, name) == 0)
      break;
  if (i == G_N_ELEMENTS (sample_formats))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "metadata sample_format “%s” is not one of s16le, s32le, f32le, f64le, u8",
                   name);
      return FALSE;
    }
  rate = sutra_item_get_meta_int (item, "sample_rate", 0);
  channels = sutra_item_get_meta_int (item, "channels", 1);
  if (rate < 1000 || rate > 768000 || channels < 1 || channels > 8)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "metadata sample_rate %" G_GINT64_FORMAT " / channels %" G_GINT64_FORMAT
                   " is missing or out of range (1000 to 768000 Hz, 1 to 8 channels)",
                   rate, channels);
      return FALSE;
    }
  format->sample_format = sample_formats[i].format;
  format->sample_rate = (int) rate;
  format->channels = (int) channels;
  return TRUE;
}

gboolean
ac_meta_bool (const SutraItem *item, const char *name, gboolean fallback)
{
  JsonObject *meta = sutra_item_get_meta (item);
  JsonNode *node = meta != NULL ? json_object_get_member (meta, name) : NULL;

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return fallback;
  return json_node_get_boolean (node);
}

/* The segmenter ends every chunk at a sentence (or a clause of a long one)
 * and marks the last chunk of a paragraph with paragraph_end. An encoded or
 * assembled chapter carries its silence already (gap_included). */
AcEnd
ac_member_end (const SutraItem *item)
{
  if (ac_meta_bool (item, "gap_included", FALSE))
    return AC_END_NONE;
  if (ac_meta_bool (item, "chapter_end", FALSE))
    return AC_END_CHAPTER;
  if (ac_meta_bool (item, "paragraph_end", FALSE))
    return AC_END_PARAGRAPH;
  return AC_END_SENTENCE;
}
