/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stages that declare media types, for the pipeline's media type check. */

/*
 * An audio source, a map that takes only audio (and pushes what it takes),
 * and a map that turns audio into text. Nothing runs them: test-pipeline
 * validates pipelines that connect them to the core text stages.
 */

#include <sutra/sutra.h>

static const char *const media_audio[] = { SUTRA_MEDIA_AUDIO_F32, NULL };
static const char *const media_any_audio[] = { "audio/*", NULL };
static const char *const media_text[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
static const char *const media_no_keys[] = { NULL };

static const SutraParamInfo media_params[] = { SUTRA_PARAM_ROW_END };

static gboolean
media_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  for (guint i = 0; i < n_items; i++)
    sutra_output_push (output, sutra_item_ref (items[i]));
  return TRUE;
}

#define MEDIA_STAGE(stage_name, stage_kind, summary_text)                                 \
  SUTRA_STAGE_INFO_INIT, .name = stage_name, .kind = stage_kind, .summary = summary_text, \
                         .params = media_params, .threading = SUTRA_THREADING_SHARED,     \
                         .devices = SUTRA_DEVICE_CPU, .process = media_process

static const SutraStageInfo media_stages[] = {
  {
    MEDIA_STAGE ("media-audio-source", SUTRA_STAGE_SOURCE, "Pushes audio"),
    .output_media_types = media_audio,
    .meta_keys = media_no_keys,
  },
  {
    MEDIA_STAGE ("media-audio-map", SUTRA_STAGE_MAP, "Takes audio, pushes what it takes"),
    .input_media_types = media_any_audio,
    .meta_keys = media_no_keys,
  },
  {
    MEDIA_STAGE ("media-transcribe", SUTRA_STAGE_MAP, "Takes audio, pushes text"),
    .input_media_types = media_any_audio,
    .output_media_types = media_text,
    .meta_keys = media_no_keys,
  },
  SUTRA_STAGE_INFO_END,
};

static const SutraPluginInfo media_plugin = {
  .name = "media",
  .version = "0.0.1",
  .summary = "Stages that declare media types",
  .stages = media_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (media_plugin)
