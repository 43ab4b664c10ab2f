/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * audio-concat: speech into an audiobook, in two gathers.
 *
 * - audio-encode (chunks to a chapter): joins a chapter's PCM chunks with
 *   their silences and encodes the chapter (AAC by default). Chapters are
 *   groups of their own, so workers encode them in parallel.
 * - audio-concat (chapters to a book): remuxes the encoded chapters into
 *   one file (M4B, M4A, MP3, Opus) with chapter marks, tags and a cover, or
 *   joins PCM (from audio-encode's pcm format, or chunks straight from the
 *   speech stage) into WAV/RF64/FLAC or an encoded file, with loudness
 *   normalised over the whole book.
 *
 * Both are streaming gathers (begin, add each member, end; abort on
 * failure: the ABI 2 contract) over the cores in ac-*-group.c.
 */

#include "ac.h"

static const char *const encode_format_choices[] = { "auto", "aac", "mp3", "opus", "pcm", NULL };
static const char *const loudness_choices[] = { "none", "r128", "podcast", "acx", NULL };
static const char *const aac_coder_choices[] = { "fast", "twoloop", "anmr", NULL };
static const char *const book_format_choices[] = {
  "auto", "m4b", "m4a", "mp3", "opus", "flac", "wav", "rf64", NULL,
};

#define GAP_ROWS(S, sentence, paragraph, chapter)                                              \
  SUTRA_PARAM_ROW_INT ("sentence_gap_ms", S, sentence_gap_ms, sentence, 0, 60000, 0,           \
                       "Silence after a chunk that ends a sentence (ms)."),                    \
    SUTRA_PARAM_ROW_INT ("paragraph_gap_ms", S, paragraph_gap_ms, paragraph, 0, 60000, 0,      \
                         "Silence after a chunk that ends a paragraph (paragraph_end) (ms)."), \
    SUTRA_PARAM_ROW_INT ("chapter_gap_ms", S, chapter_gap_ms, chapter, 0, 60000, 0,            \
                         "Silence at the end of a chapter (ms).")

#define CODEC_ROWS(S)                                                                           \
  SUTRA_PARAM_ROW_INT ("sample_rate", S, sample_rate, 0, 0, 192000, 0,                          \
                       "Output sample rate in Hz; 0 keeps the speech's (Opus and MP3 round up " \
                       "to a rate their encoder takes)."),                                      \
    SUTRA_PARAM_ROW_INT ("channels", S, channels, 1, 0, 8, 0,                                   \
                         "Output channels; 1 (mono) suits speech; 0 keeps the input's."),       \
    SUTRA_PARAM_ROW_INT ("bitrate_kbps", S, bitrate_kbps, 64, 6, 512, 0,                        \
                         "Encoder bit rate in kb/s (AAC, MP3, Opus)."),                         \
    SUTRA_PARAM_ROW_ENUM ("aac_coder", S, aac_coder, "fast", aac_coder_choices, 0,              \
                          "FFmpeg's AAC coder: fast (about 6x faster than twoloop, plenty "     \
                          "for speech), twoloop or anmr.")

static const SutraParamInfo encode_params[] = {
  SUTRA_PARAM_ROW_ENUM ("format",
                        AcEncodeSettings,
                        format,
                        "auto",
                        encode_format_choices,
                        0,
                        "What a chapter becomes: aac (for m4b/m4a), mp3, opus, pcm (16-bit, "
                        "for wav/flac or for loudness normalisation in audio-concat), or auto: "
                        "aac, or pcm when loudness names a preset."),
  CODEC_ROWS (AcEncodeSettings),
  GAP_ROWS (AcEncodeSettings, 250, 700, 2000),
  SUTRA_PARAM_ROW_ENUM ("loudness",
                        AcEncodeSettings,
                        loudness,
                        "none",
                        loudness_choices,
                        0,
                        "The preset audio-concat normalises the book to (set both stages alike): "
                        "with format auto, a preset keeps the chapter as PCM, to be encoded "
                        "after the book's gain; none encodes it here."),
  SUTRA_PARAM_ROW_INT ("segment_s",
                       AcEncodeSettings,
                       segment_s,
                       30,
                       0,
                       86400,
                       0,
                       "AAC: a chapter is encoded as segments of at least this many seconds, "
                       "cut in a silence between sentences (or at four times this length where "
                       "there is none), on several threads, and joined into one stream with the "
                       "timestamps of one encoder; 0 encodes a chapter with one encoder."),
  SUTRA_PARAM_ROW_INT ("threads",
                       AcEncodeSettings,
                       threads,
                       0,
                       0,
                       1024,
                       0,
                       "Threads encoding a chapter's segments; 0 is one per processor. The "
                       "bytes do not depend on it."),
  SUTRA_PARAM_ROW_BOOL ("measure_loudness",
                        AcEncodeSettings,
                        measure_loudness,
                        FALSE,
                        0,
                        "Measure each chapter's loudness (EBU R128: integrated, range, sample "
                        "peak, RMS; the true peak too with r128 or podcast) into its loudness_* "
                        "metadata, and so the book's. Nothing else reads it (a preset is "
                        "measured over the whole book by audio-concat): about 4 % of an "
                        "audiobook's CPU."),
  SUTRA_PARAM_ROW_END
};

static const SutraParamInfo book_params[] = {
  SUTRA_PARAM_ROW_STRING ("output",
                          AcBookSettings,
                          output,
                          NULL,
                          SUTRA_PARAM_REQUIRED | SUTRA_PARAM_OUTPUT_PATH,
                          "The audiobook file to write."),
  SUTRA_PARAM_ROW_ENUM ("format",
                        AcBookSettings,
                        format,
                        "auto",
                        book_format_choices,
                        0,
                        "The file's format; auto takes it from output's extension."),
  CODEC_ROWS (AcBookSettings),
  GAP_ROWS (AcBookSettings, 250, 700, 2000),
  SUTRA_PARAM_ROW_ENUM ("loudness",
                        AcBookSettings,
                        loudness,
                        "none",
                        loudness_choices,
                        0,
                        "Normalise the whole book with one gain: r128 (-23 LUFS), podcast (-19 "
                        "LUFS mono, -16 stereo, true peak -1 dBTP) or acx (RMS -20 dB, peak "
                        "-3 dB); needs PCM members (audio-encode's format auto with the same "
                        "loudness, or pcm)."),
  SUTRA_PARAM_ROW_INT ("encode_threads",
                       AcBookSettings,
                       encode_threads,
                       0,
                       0,
                       1024,
                       0,
                       "With a loudness preset into m4b, m4a, mp3 or opus: chapters encoded at "
                       "once, one thread each; 0 is one per processor. The bytes do not depend "
                       "on it."),
  SUTRA_PARAM_ROW_STRING ("title",
                          AcBookSettings,
                          title,
                          NULL,
                          0,
                          "Title and album tag; by default the book's title metadata."),
  SUTRA_PARAM_ROW_STRING ("author",
                          AcBookSettings,
                          author,
                          NULL,
                          0,
                          "Artist and album artist tags; by default the author metadata."),
  SUTRA_PARAM_ROW_STRING ("narrator",
                          AcBookSettings,
                          narrator,
                          NULL,
                          0,
                          "Narrator, written as the composer tag; by default the voice "
                          "metadata."),
  SUTRA_PARAM_ROW_STRING ("genre", AcBookSettings, genre, "Audiobook", 0, "Genre tag."),
  SUTRA_PARAM_ROW_STRING ("description",
                          AcBookSettings,
                          description,
                          NULL,
                          0,
                          "Description tag (comment in MP3 and Opus)."),
  SUTRA_PARAM_ROW_STRING ("date", AcBookSettings, date, NULL, 0, "Date tag (2026 or 2026-12-02)."),
  SUTRA_PARAM_ROW_STRING ("cover",
                          AcBookSettings,
                          cover,
                          NULL,
                          0,
                          "A JPEG or PNG cover image; by default the cover metadata, if any."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  gconstpointer settings;
  char *work_dir;
} AudioConcat;

/* FFmpeg prints to stderr (the AAC encoder's statistics, the muxer's
 * advice about extensions). Its failures come back to us as error codes,
 * which become GErrors with a message; the rest is debug output, through
 * GLib's log like all of sutra's (G_MESSAGES_DEBUG=audio-concat shows it). */
static void log_ffmpeg (void *avcl, int level, const char *format, va_list args)
  G_GNUC_PRINTF (3, 0);

static void
log_ffmpeg (void *avcl, int level, const char *format, va_list args)
{
  g_autofree char *message = NULL;

  if (level > av_log_get_level ())
    return;
  message = g_strdup_vprintf (format, args);
  g_strchomp (message);
  g_log_structured ("audio-concat", G_LOG_LEVEL_DEBUG, "MESSAGE", "ffmpeg: %s", message);
}

static gpointer
ac_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  static gsize logging = 0;
  AudioConcat *self = g_new0 (AudioConcat, 1);

  if (g_once_init_enter (&logging))
    {
      av_log_set_callback (log_ffmpeg);
      g_once_init_leave (&logging, 1);
    }

  self->settings = settings;
  self->work_dir = g_strdup (context->work_dir);
  return self;
}

static void
ac_destroy (gpointer instance)
{
  AudioConcat *self = instance;

  g_free (self->work_dir);
  g_free (self);
}

/* The streaming gather entry points (ABI 2). */

static gpointer
encode_gather_begin (gpointer instance, SutraItem *first, GError **error)
{
  AudioConcat *self = instance;

  return ac_encode_begin (self->settings, self->work_dir, first, error);
}

static gboolean
encode_gather_add (gpointer instance, gpointer group, SutraItem *member, GError **error)
{
  return ac_encode_add (group, member, error);
}

static gboolean
encode_gather_end (gpointer instance,
                   gpointer group,
                   guint n_members,
                   SutraOutput *output,
                   GError **error)
{
  SutraItem *chapter = ac_encode_end (group, error);

  ac_encode_free (group);
  if (chapter == NULL)
    return FALSE;
  sutra_output_push (output, chapter);
  return TRUE;
}

static void
encode_gather_abort (gpointer instance, gpointer group)
{
  ac_encode_free (group);
}

static gpointer
book_gather_begin (gpointer instance, SutraItem *first, GError **error)
{
  AudioConcat *self = instance;

  return ac_book_begin (self->settings, self->work_dir, first, error);
}

static gboolean
book_gather_add (gpointer instance, gpointer group, SutraItem *member, GError **error)
{
  return ac_book_add (group, member, error);
}

static gboolean
book_gather_end (gpointer instance,
                 gpointer group,
                 guint n_members,
                 SutraOutput *output,
                 GError **error)
{
  SutraItem *book = ac_book_end (group, error);

  ac_book_free (group);
  if (book == NULL)
    return FALSE;
  sutra_output_push (output, book);
  return TRUE;
}

static void
book_gather_abort (gpointer instance, gpointer group)
{
  ac_book_free (group);
}

static const char *const raw_types[] = { AC_MEDIA_RAW, SUTRA_MEDIA_AUDIO_F32, NULL };
static const char *const encode_output_types[] = { AC_MEDIA_PACKETS, AC_MEDIA_RAW, NULL };
static const char *const book_input_types[] = {
  AC_MEDIA_PACKETS,
  AC_MEDIA_RAW,
  SUTRA_MEDIA_AUDIO_F32,
  NULL,
};
static const char *const book_output_types[] = {
  "audio/mp4", "audio/mpeg", "audio/ogg", "audio/flac", "audio/wav", NULL,
};
static const char *const encode_meta_keys[] = {
  "chapter_index",
  "chapter_title",
  "part_title",
  "front_matter",
  "language",
  "title",
  "author",
  "voice",
  "cover",
  "gap_included",
  "codec",
  "sample_rate",
  "channels",
  "sample_format",
  "content_frames",
  "encoded_frames",
  "members",
  "loudness_integrated_lufs",
  "loudness_range_lu",
  "loudness_true_peak_dbtp",
  "loudness_sample_peak_dbfs",
  "loudness_rms_dbfs",
  NULL,
};
static const char *const book_meta_keys[] = {
  "title",
  "author",
  "language",
  "path",
  "format",
  "sample_rate",
  "channels",
  "duration_frames",
  "duration_s",
  "chapter_count",
  "chapters",
  "loudness_preset",
  "loudness_gain_db",
  "loudness_integrated_lufs",
  "loudness_range_lu",
  "loudness_true_peak_dbtp",
  "loudness_sample_peak_dbfs",
  "loudness_rms_dbfs",
  "output_loudness_integrated_lufs",
  "output_loudness_range_lu",
  "output_loudness_true_peak_dbtp",
  "output_loudness_sample_peak_dbfs",
  "output_loudness_rms_dbfs",
  NULL,
};

/* Both stages stream (ABI 2's gather_begin and the rest). The book
 * stage's one group is the whole book, whose encoded chapters it copies
 * into the output as they arrive, so it never holds the book. The engine
 * drives one chapter at a time through audio-encode's add, which only
 * spools the speech to disk, and runs the ends, where the encoding is, in
 * parallel on the workers: no chapter's speech is held in memory. */
static const SutraStageInfo ac_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "audio-encode",
    .kind = SUTRA_STAGE_GATHER,
    .summary = "Joins a chapter's speech with its silences and encodes it (AAC, MP3, Opus) "
               "or keeps it as PCM",
    .params = encode_params,
    .settings_size = sizeof (AcEncodeSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = ac_create,
    .gather_begin = encode_gather_begin,
    .gather_add = encode_gather_add,
    .gather_end = encode_gather_end,
    .gather_abort = encode_gather_abort,
    .destroy = ac_destroy,
    .input_media_types = raw_types,
    .output_media_types = encode_output_types,
    .meta_keys = encode_meta_keys,
  },
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "audio-concat",
    .kind = SUTRA_STAGE_GATHER,
    .summary = "Assembles a book's chapters into one audio file (M4B with chapters, tags and "
               "cover; MP3; Opus; FLAC; WAV/RF64)",
    .params = book_params,
    .settings_size = sizeof (AcBookSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = ac_create,
    .gather_begin = book_gather_begin,
    .gather_add = book_gather_add,
    .gather_end = book_gather_end,
    .gather_abort = book_gather_abort,
    .destroy = ac_destroy,
    .input_media_types = book_input_types,
    .output_media_types = book_output_types,
    .meta_keys = book_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo ac_plugin = {
  SUTRA_PLUGIN_INFO_INIT,
  .name = "audio-concat",
  .version = "1.0.0",
  .summary = "Speech into audiobooks: chapters encoded in parallel, one file with chapters",
  .stages = ac_stages,
};

SUTRA_PLUGIN_DEFINE (ac_plugin)
