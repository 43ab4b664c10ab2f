/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tts: a map that speaks text chunks with espeak-ng, one raw PCM item per chunk. */

#include "speech.h"

#include <sutra/sutra.h>

#include <string.h>

/* Raw PCM; sample_format, sample_rate and channels in the metadata say how. */
#define TTS_MEDIA_AUDIO_RAW "audio/x-raw"

/* The longest language tag `auto` takes from an item (BCP 47's longest
 * useful tags are shorter). */
#define TTS_MAX_TAG_LENGTH 35

typedef struct
{
  const char *voice;
  const char *default_voice;
  gint64 rate;
  gint64 pitch;
  gint64 pitch_range;
  gint64 volume;
} TtsSettings;

/* espeak-ng's ranges (speak_lib.h: espeakRATE_MINIMUM..espeakRATE_MAXIMUM,
 * pitch and range 0-100, volume 0-200) and its defaults. */
static const SutraParamInfo tts_params[] = {
  SUTRA_PARAM_ROW_STRING (
    "voice",
    TtsSettings,
    voice,
    "auto",
    0,
    "The espeak-ng voice or language (en, es, en-us, roa/es, en+f3 with a "
    "variant), or auto: each item's `language` metadata, else default_voice."),
  SUTRA_PARAM_ROW_STRING ("default_voice",
                          TtsSettings,
                          default_voice,
                          "en",
                          0,
                          "The voice for items whose `language` metadata is missing or names a "
                          "language espeak-ng has no voice for (with voice auto)."),
  SUTRA_PARAM_ROW_INT ("rate",
                       TtsSettings,
                       rate,
                       175,
                       80,
                       450,
                       0,
                       "Speaking rate in words per minute."),
  SUTRA_PARAM_ROW_INT ("pitch",
                       TtsSettings,
                       pitch,
                       50,
                       0,
                       100,
                       0,
                       "Base pitch, 0 to 100 (50 is the voice's own)."),
  SUTRA_PARAM_ROW_INT ("pitch_range",
                       TtsSettings,
                       pitch_range,
                       50,
                       0,
                       100,
                       0,
                       "Pitch variation, 0 (monotone) to 100 (50 is the voice's own)."),
  SUTRA_PARAM_ROW_INT ("volume",
                       TtsSettings,
                       volume,
                       100,
                       0,
                       200,
                       0,
                       "Volume, 0 (silence) to 200 (100 is espeak-ng's normal level)."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  const TtsSettings *settings;
  gboolean is_auto;
  TtsProsody prosody;
  int sample_rate;
  /* `auto`: language tag as the item has it -> the voice that speaks it
   * (owned strings). Only read and written by process, which the engine
   * calls from one worker (SUTRA_THREADING_SINGLE). */
  GHashTable *voice_for_tag;
} Tts;

static void
tts_destroy (gpointer instance)
{
  Tts *self = instance;

  g_clear_pointer (&self->voice_for_tag, g_hash_table_unref);
  tts_speech_release ();
  g_free (self);
}

/* Checks a voice the pipeline names, so that a misspelt one fails the run
 * before anything is spoken, with what is installed. */
static gboolean
check_voice (const char *param, const char *name, GError **error)
{
  g_autofree char *installed = NULL;

  if (name != NULL && name[0] != '\0' && tts_speech_select_voice (name, NULL))
    return TRUE;
  installed = tts_speech_dup_voice_list ();
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
               "parameter “%s”: espeak-ng has no voice “%s”; installed voices: %s (a voice may "
               "take a variant after “+”, as en+f3; `espeak-ng --voices` lists them with their "
               "names)",
               param, name != NULL ? name : "", installed);
  return FALSE;
}

static gpointer
tts_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const TtsSettings *s = settings;
  Tts *self;

  /* Every process that loads the plugin initialises espeak-ng itself: with
   * `isolation: "process"` each worker process gets its own. */
  if (!tts_speech_acquire (error))
    return NULL;
  self = g_new0 (Tts, 1);
  self->settings = s;
  self->is_auto = s->voice == NULL || strcmp (s->voice, "auto") == 0;
  self->sample_rate = tts_speech_get_sample_rate ();
  self->prosody = (TtsProsody){
    .rate_wpm = (int) s->rate,
    .pitch = (int) s->pitch,
    .pitch_range = (int) s->pitch_range,
    .volume = (int) s->volume,
  };
  self->voice_for_tag = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (self->is_auto ? !check_voice ("default_voice", s->default_voice, error)
                    : !check_voice ("voice", s->voice, error))
    {
      tts_destroy (self);
      return NULL;
    }
  return self;
}

/* A language tag from the book is untrusted text: espeak-ng would take a
 * path (`../../x`) as a voice file to load. Only letters, digits, `-` and
 * `_` pass. */
static gboolean
is_plain_tag (const char *tag)
{
  gsize length = strlen (tag);

  if (length == 0 || length > TTS_MAX_TAG_LENGTH)
    return FALSE;
  for (const char *p = tag; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/* The voice for a language tag: the tag itself in espeak-ng's spelling
 * (fr_CA -> fr-ca), then its primary language (fr), then default_voice. */
static const char *
voice_for_tag (Tts *self, const char *tag)
{
  const char *known = g_hash_table_lookup (self->voice_for_tag, tag);
  g_autofree char *full = NULL;
  char *voice = NULL;

  if (known != NULL)
    return known;
  if (is_plain_tag (tag))
    {
      char *dash;

      full = g_ascii_strdown (tag, -1);
      g_strdelimit (full, "_", '-');
      if (tts_speech_select_voice (full, NULL))
        voice = g_strdup (full);
      else if ((dash = strchr (full, '-')) != NULL && dash != full)
        {
          *dash = '\0';
          if (tts_speech_select_voice (full, NULL))
            voice = g_strdup (full);
        }
    }
  if (voice == NULL)
    voice = g_strdup (self->settings->default_voice);
  g_hash_table_insert (self->voice_for_tag, g_strdup (tag), voice);
  return voice;
}

/* The text as espeak-ng gets it: NUL-terminated, with control characters
 * (C0, DEL, C1) as spaces: U+0000 would end the text early, and espeak-ng
 * reads U+0001 as the start of an embedded command. Sets @has_text to
 * whether anything but white space is left. */
static char *
prepare_text (const char *data, gsize size, gboolean *has_text)
{
  char *text = g_malloc (size + 1);
  const char *end = data + size;
  char *out = text;

  *has_text = FALSE;
  for (const char *p = data; p < end; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      gsize length = (gsize) (g_utf8_next_char (p) - p);

      if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        *out++ = ' ';
      else
        {
          memcpy (out, p, length);
          out += length;
          if (!g_unichar_isspace (c))
            *has_text = TRUE;
        }
    }
  *out = '\0';
  return text;
}

/* g_utf8_validate with U+0000 allowed: a payload may hold it. */
static gboolean
validate_utf8 (const char *data, gsize size, const char **invalid)
{
  const char *end = data + size;
  const char *p = data;

  while (!g_utf8_validate_len (p, (gsize) (end - p), invalid))
    {
      if (**invalid != '\0')
        return FALSE;
      p = *invalid + 1;
    }
  return TRUE;
}

static gboolean
is_silent (GBytes *samples)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (samples, &size);

  for (gsize i = 0; i < size; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

static SutraItem *
speak_item (Tts *self, SutraItem *item, GError **error)
{
  const char *media_type = sutra_item_get_media_type (item);
  const char *voice = self->settings->voice;
  g_autoptr (GBytes) samples = NULL;
  g_autofree char *text = NULL;
  const char *invalid;
  gboolean has_text;
  const guint8 *data;
  SutraItem *out;
  JsonObject *meta;
  gsize size;
  guint64 n_samples;

  if (!g_str_has_prefix (media_type, "text/"))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
                   "tts speaks text, not “%s”: put a stage that makes text before it", media_type);
      return NULL;
    }
  data = sutra_item_get_data (item, &size);
  if (!validate_utf8 ((const char *) data, size, &invalid))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "the text is not valid UTF-8 (byte %" G_GSIZE_FORMAT
                   "); the segmenter's repair_utf8 replaces such bytes",
                   (gsize) (invalid - (const char *) data));
      return NULL;
    }
  if (self->is_auto)
    {
      const char *tag = sutra_item_get_meta_string (item, "language", NULL);

      voice = tag != NULL ? voice_for_tag (self, tag) : self->settings->default_voice;
    }

  text = prepare_text ((const char *) data, size, &has_text);
  /* Empty and white-space chunks, and text espeak-ng speaks as silence
   * (punctuation alone), give an item of no samples: the gaps between
   * chunks are the concatenation's to make. */
  if (has_text)
    {
      samples = tts_speech_speak (voice, text, &self->prosody, error);
      if (samples == NULL)
        return NULL;
      if (is_silent (samples))
        g_clear_pointer (&samples, g_bytes_unref);
    }
  if (samples == NULL)
    samples = g_bytes_new (NULL, 0);
  n_samples = g_bytes_get_size (samples) / 2;

  out = sutra_item_new_derived (item, TTS_MEDIA_AUDIO_RAW, g_steal_pointer (&samples));
  /* The input's metadata (chapter, paragraph_end, language, title...) is
   * carried over: the concatenation reads what ends each chunk from it. */
  meta = sutra_item_ensure_meta (out);
  json_object_set_string_member (meta, "sample_format", "s16le");
  json_object_set_int_member (meta, "sample_rate", self->sample_rate);
  json_object_set_int_member (meta, "channels", 1);
  json_object_set_int_member (meta, "n_samples", (gint64) n_samples);
  json_object_set_int_member (meta, "duration_ms",
                              (gint64) ((n_samples * 1000 + (guint64) self->sample_rate / 2) /
                                        (guint64) self->sample_rate));
  json_object_set_string_member (meta, "voice", voice);
  return out;
}

static gboolean
tts_process (gpointer instance,
             SutraItem *const *items,
             guint n_items,
             SutraOutput *output,
             GError **error)
{
  Tts *self = instance;

  for (guint i = 0; i < n_items; i++)
    {
      SutraItem *out = speak_item (self, items[i], error);

      if (out == NULL)
        return FALSE;
      sutra_output_push (output, out);
    }
  return TRUE;
}

static const char *const tts_input_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
static const char *const tts_output_types[] = { TTS_MEDIA_AUDIO_RAW, NULL };
/* speak_item's members, and "*": the input's are carried over. */
static const char *const tts_meta_keys[] = {
  "sample_format", "sample_rate", "channels", "n_samples", "duration_ms", "voice", "*", NULL
};

static const SutraStageInfo tts_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "tts",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Speaks text with espeak-ng: one raw PCM item (s16le, mono) per text item",
    .params = tts_params,
    .settings_size = sizeof (TtsSettings),
    /* espeak-ng keeps its state in globals: one worker per process; parallel
     * workers come from `isolation: "process"`. */
    .threading = SUTRA_THREADING_SINGLE,
    .devices = SUTRA_DEVICE_CPU,
    .create = tts_create,
    .process = tts_process,
    .destroy = tts_destroy,
    .input_media_types = tts_input_types,
    .output_media_types = tts_output_types,
    .meta_keys = tts_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo tts_plugin = {
  .name = "tts",
  .version = "1.0.0",
  .summary = "Text to speech with the espeak-ng library",
  .stages = tts_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (tts_plugin)
