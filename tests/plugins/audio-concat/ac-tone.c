/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ac-tone: a stand-in for the speech stage in the audio-concat tests, so
 * that a whole audiobook pipeline runs through the engine here: a map that
 * turns each text chunk into a tone (4 ms per byte of text by default), as the speech
 * stage's audio/x-raw (s16le, 22050 Hz, mono) with the chunk's metadata.
 * Deterministic, and not installed. */

#include <sutra/sutra.h>

#include <math.h>

#define RATE 22050

typedef struct
{
  gint64 ms_per_byte;
} ToneSettings;

static const SutraParamInfo tone_params[] = {
  SUTRA_PARAM_ROW_INT ("ms_per_byte",
                       ToneSettings,
                       ms_per_byte,
                       4,
                       1,
                       1000,
                       0,
                       "Milliseconds of tone per byte of text (speech is about 55)."),
  SUTRA_PARAM_ROW_END
};

static gpointer
tone_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  return (gpointer) settings;
}

static gboolean
tone_process (gpointer instance,
              SutraItem *const *items,
              guint n_items,
              SutraOutput *output,
              GError **error)
{
  const ToneSettings *settings = instance;

  for (guint i = 0; i < n_items; i++)
    {
      gsize size;
      const guint8 *text = sutra_item_get_data (items[i], &size);
      gsize frames = size * RATE * (gsize) settings->ms_per_byte / 1000;
      gint16 *pcm = g_new (gint16, frames + 1);
      double hz = 200 + (size > 0 ? text[0] % 64 : 0) * 5;
      SutraItem *out;
      JsonObject *meta;

      for (gsize k = 0; k < frames; k++)
        pcm[k] = (gint16) lrint (8000 * sin (2 * G_PI * hz * (double) k / RATE));
      out = sutra_item_new_derived (items[i], "audio/x-raw", g_bytes_new_take (pcm, frames * 2));
      meta = sutra_item_ensure_meta (out);
      json_object_set_string_member (meta, "sample_format", "s16le");
      json_object_set_int_member (meta, "sample_rate", RATE);
      json_object_set_int_member (meta, "channels", 1);
      json_object_set_string_member (meta, "voice", "tone");
      sutra_output_push (output, out);
    }
  return TRUE;
}

static const char *const tone_input_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
static const char *const tone_output_types[] = { "audio/x-raw", NULL };

static const SutraStageInfo tone_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "ac-tone",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Test stand-in for speech: a tone as long as the text",
    .params = tone_params,
    .settings_size = sizeof (ToneSettings),
    .create = tone_create,
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .process = tone_process,
    .input_media_types = tone_input_types,
    .output_media_types = tone_output_types,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo tone_plugin = {
  SUTRA_PLUGIN_INFO_INIT, .name = "ac-tone",
  .version = "1.0.0",     .summary = "Test stand-in for the speech stage",
  .stages = tone_stages,
};

SUTRA_PLUGIN_DEFINE (tone_plugin)
