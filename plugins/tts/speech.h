/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* speech: espeak-ng behind one lock, each utterance spoken in a fresh fork. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How an utterance is spoken, in espeak-ng's own units and ranges. */
typedef struct
{
  int rate_wpm;
  int pitch;
  int pitch_range;
  int volume;
} TtsProsody;

/* Initialises espeak-ng for this process (its data from the default path or
 * ESPEAK_DATA_PATH) on the first call; later calls only count. Each
 * successful call is paired with tts_speech_release(). espeak-ng stays
 * initialised until the process exits (see speech.c). */
gboolean tts_speech_acquire (GError **error);
void tts_speech_release (void);

/* espeak-ng's output rate in Hz (22050 with its standard data). */
int tts_speech_get_sample_rate (void);

/* Makes @name the voice the next utterances use (an espeak voice or
 * language name: "en", "es", "en-us", "roa/es", "en+f3"). Loading a voice
 * speaks nothing, so it leaves the synthesiser's state as it was. Returns
 * FALSE with @error set when espeak-ng has no such voice. */
gboolean tts_speech_select_voice (const char *name, GError **error);

/* The installed voices' language names, sorted, separated by ", ". */
char *tts_speech_dup_voice_list (void);

/* The version of the espeak-ng library in use ("1.51"). */
const char *tts_speech_get_version (void);

/* Speaks @text (UTF-8, NUL-terminated) with @voice (one that
 * tts_speech_select_voice accepted) in a fresh process. Returns (transfer
 * full) the samples, signed 16-bit little-endian mono at the sample rate
 * above; or NULL with @error set. */
GBytes *tts_speech_speak (const char *voice,
                          const char *text,
                          const TtsProsody *prosody,
                          GError **error);

G_END_DECLS
