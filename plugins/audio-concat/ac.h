/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal interfaces shared by the files of the audio-concat plugin. Each
 * file is one concept; the stage table (audio-concat.c) ties them together,
 * and the tests call them directly on generated PCM. */

#pragma once

#include <sutra/sutra.h>

#include <stdio.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswresample/swresample.h>
#include <sndfile.h>

G_BEGIN_DECLS

/* Raw PCM as the speech stage makes it: sample_format, sample_rate and
 * channels in the item's metadata. */
#define AC_MEDIA_RAW "audio/x-raw"
/* A chapter encoded by audio-encode: the codec's packets with their real
 * timestamps (ac-packets.c), remuxed by audio-concat without encoding again. */
#define AC_MEDIA_PACKETS "application/x-sutra-audio-packets"

/* Internally every sample is a float, interleaved, at the output's rate and
 * channel count: the resampler makes it, the writers and encoders take it. */
typedef gboolean (*AcPcmSink) (gpointer user_data,
                               const float *frames,
                               gsize n_frames,
                               GError **error);

/* ac-format.c: output formats and input PCM descriptions */

typedef enum
{
  AC_FORMAT_WAV = 1, /* RIFF WAV, RF64 when it grows past 4 GB */
  AC_FORMAT_RF64,    /* RF64 always */
  AC_FORMAT_FLAC,
  AC_FORMAT_MP3,
  AC_FORMAT_OPUS, /* in Ogg */
  AC_FORMAT_M4A,  /* AAC-LC in MP4 */
  AC_FORMAT_M4B,  /* the same, an audiobook */
  AC_FORMAT_AAC,  /* audio-encode only: AAC packets for an m4a/m4b */
  AC_FORMAT_PCM,  /* audio-encode only: the chapter's PCM, for wav/flac */
} AcFormat;

gboolean ac_format_parse (const char *name, const char *path, AcFormat *format, GError **error);
const char *ac_format_name (AcFormat format);
gboolean ac_format_is_sndfile (AcFormat format);
/* The codec a container format holds (AV_CODEC_ID_NONE for sndfile ones). */
enum AVCodecID ac_format_codec (AcFormat format);
/* The rate the format's encoder will take nearest to @wanted (Opus: 48000;
 * MP3: the MPEG rates). */
int ac_format_pick_rate (AcFormat format, int wanted);

typedef struct
{
  enum AVSampleFormat sample_format; /* packed: U8, S16, S32, FLT, DBL */
  int sample_rate;
  int channels;
} AcPcmFormat;

gboolean ac_pcm_format_from_item (const SutraItem *item, AcPcmFormat *format, GError **error);
const char *ac_pcm_format_name (enum AVSampleFormat sample_format);

/* What ends a member: the silence that follows it. */
typedef enum
{
  AC_END_SENTENCE = 0,
  AC_END_PARAGRAPH,
  AC_END_CHAPTER,
  AC_END_NONE, /* the member carries its own silence (an encoded chapter) */
} AcEnd;

AcEnd ac_member_end (const SutraItem *item);
gboolean ac_meta_bool (const SutraItem *item, const char *name, gboolean fallback);

/* ac-resample.c: any packed PCM to float at the output's rate/channels */

typedef struct _AcResampler AcResampler;

AcResampler *ac_resampler_new (int out_rate, int out_channels);
void ac_resampler_free (AcResampler *resampler);
gboolean ac_resampler_convert (AcResampler *resampler,
                               const AcPcmFormat *in,
                               const guint8 *data,
                               gsize size,
                               AcPcmSink sink,
                               gpointer user_data,
                               GError **error);
/* Fails unless @size bytes are a whole number of @in's frames. */
gboolean ac_pcm_check_size (const AcPcmFormat *in, gsize size, GError **error);
/* Drains what the resampler still holds (its filter's delay). */
gboolean ac_resampler_flush (AcResampler *resampler,
                             AcPcmSink sink,
                             gpointer user_data,
                             GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcResampler, ac_resampler_free)

/* ac-concat.c: members in order, with the silences between them */

typedef struct _AcConcat AcConcat;

typedef struct
{
  int sample_rate;
  int channels;
  gint64 gap_ms[3]; /* after a sentence, a paragraph, a chapter */
} AcConcatConfig;

AcConcat *ac_concat_new (const AcConcatConfig *config, AcPcmSink sink, gpointer user_data);
void ac_concat_free (AcConcat *concat);
/* Writes the silence the previous member asked for (once): after it,
 * ac_concat_get_frames() is where the next member starts. */
gboolean ac_concat_separate (AcConcat *concat, GError **error);
/* Writes the silence the previous member asked for, then @member. */
/* Frames of PCM read back at once from a spool or a payload file: the
 * resampler's slice, so it is handed the PCM in the slices it would cut
 * from the whole member, and the samples are the same. */
#define AC_READ_BLOCK_FRAMES 65536
gboolean ac_concat_add (AcConcat *concat, const SutraItem *member, GError **error);
/* A member in pieces (read back from a spool): ac_concat_separate(), then
 * each piece of its PCM in order with ac_concat_write(), then
 * ac_concat_close_member() with what ends it. The same calls as
 * ac_concat_add() makes, so the same PCM. */
gboolean ac_concat_write (AcConcat *concat,
                          const AcPcmFormat *format,
                          const guint8 *data,
                          gsize size,
                          GError **error);
void ac_concat_close_member (AcConcat *concat, AcEnd end);
/* Flushes the resampler and writes the last member's silence, as @last_end
 * says (AC_END_CHAPTER for a chapter, AC_END_NONE for none). */
gboolean ac_concat_end (AcConcat *concat, AcEnd last_end, GError **error);
/* Frames written so far: where the next member starts. */
guint64 ac_concat_get_frames (const AcConcat *concat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcConcat, ac_concat_free)

/* ac-loudness.c: EBU R128 measurement and the presets' gain */

typedef struct _AcLoudness AcLoudness;

typedef enum
{
  AC_LOUDNESS_NONE = 0,
  AC_LOUDNESS_R128,
  AC_LOUDNESS_PODCAST,
  AC_LOUDNESS_ACX,
} AcLoudnessPreset;

typedef struct
{
  double integrated_lufs; /* -HUGE_VAL for silence */
  double range_lu;
  double true_peak_dbtp; /* NAN where not measured */
  double sample_peak_dbfs;
  double rms_dbfs;
} AcLoudnessResult;

gboolean ac_loudness_preset_parse (const char *name, AcLoudnessPreset *preset, GError **error);
/* Whether @preset's gain is limited by the true peak, the one value that
 * costs: measure it only then. */
gboolean ac_loudness_preset_limits_true_peak (AcLoudnessPreset preset);
/* A meter; without @true_peak, the result's true_peak_dbtp is NAN (not
 * measured: null in the metadata). */
AcLoudness *ac_loudness_new (int sample_rate, int channels, gboolean true_peak, GError **error);
void ac_loudness_free (AcLoudness *loudness);
gboolean ac_loudness_add (AcLoudness *loudness,
                          const float *frames,
                          gsize n_frames,
                          GError **error);
void ac_loudness_result (AcLoudness *loudness, AcLoudnessResult *result);
/* The one gain (dB) the preset applies to a book measured as @measured. */
double ac_loudness_gain_db (AcLoudnessPreset preset,
                            int channels,
                            const AcLoudnessResult *measured);
void ac_loudness_to_meta (const AcLoudnessResult *result, const char *prefix, JsonObject *meta);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcLoudness, ac_loudness_free)

/* ac-writer-sndfile.c: WAV, RF64 and FLAC */

typedef struct
{
  const char *title;
  const char *artist;
  const char *album;
  const char *narrator;
  const char *genre;
  const char *description;
  const char *date;
  const char *cover; /* a JPEG or PNG file, or NULL */
} AcTags;

typedef struct _AcSndWriter AcSndWriter;

AcSndWriter *ac_snd_writer_open (const char *path,
                                 AcFormat format,
                                 int sample_rate,
                                 int channels,
                                 const AcTags *tags,
                                 GError **error);
gboolean ac_snd_writer_write (gpointer writer, const float *frames, gsize n_frames, GError **error);
gboolean ac_snd_writer_close (AcSndWriter *writer, GError **error);
void ac_snd_writer_free (AcSndWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcSndWriter, ac_snd_writer_free)

/* ac-encoder-av.c: float PCM to AAC, MP3 or Opus packets */

typedef gboolean (*AcPacketSink) (gpointer user_data, const AVPacket *packet, GError **error);

typedef struct _AcEncoder AcEncoder;

typedef struct
{
  enum AVCodecID codec;
  int sample_rate;
  int channels;
  gint64 bit_rate;
  const char *aac_coder; /* fast, twoloop, anmr */
} AcEncoderConfig;

AcEncoder *ac_encoder_new (const AcEncoderConfig *config,
                           AcPacketSink sink,
                           gpointer user_data,
                           GError **error);
gboolean ac_encoder_write (gpointer encoder, const float *frames, gsize n_frames, GError **error);
gboolean ac_encoder_finish (AcEncoder *encoder, GError **error);
const AVCodecContext *ac_encoder_get_context (const AcEncoder *encoder);
/* The frames the encoder was given: the content, without its priming. */
gint64 ac_encoder_get_frames (const AcEncoder *encoder);
/* The duration a chapter's packet takes in a book: a whole frame, whatever
 * the packet says (the encoder shortens the last one). */
gint64 ac_encoder_packet_duration (const AcEncoder *encoder, const AVPacket *packet);
void ac_encoder_free (AcEncoder *encoder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcEncoder, ac_encoder_free)

/* ac-encode-segments.c: one stream encoded as segments in parallel, cut in
 * its silences, into the packets of one timeline (AAC; other codecs, or
 * @segment_seconds 0, get one encoder fed as the PCM comes). */

typedef struct _AcSegmentedEncoder AcSegmentedEncoder;

/* Segments are at least @segment_seconds long; @n_threads encode them (0:
 * one per processor). @sink gets the packets in order, on the thread that
 * writes and finishes. The bytes do not depend on @n_threads. */
AcSegmentedEncoder *ac_segmented_encoder_new (const AcEncoderConfig *config,
                                              double segment_seconds,
                                              guint n_threads,
                                              AcPacketSink sink,
                                              gpointer user_data,
                                              GError **error);
gboolean ac_segmented_encoder_write (gpointer encoder,
                                     const float *frames,
                                     gsize n_frames,
                                     GError **error);
gboolean ac_segmented_encoder_finish (AcSegmentedEncoder *encoder, GError **error);
/* The stream's parameters: those of an encoder with its configuration. */
const AVCodecContext *ac_segmented_encoder_get_context (const AcSegmentedEncoder *encoder);
/* ac_encoder_packet_duration() of the stream's packets. */
gint64 ac_segmented_encoder_packet_duration (const AcSegmentedEncoder *encoder,
                                             const AVPacket *packet);
/* Where the second and later segments start, in frames of the stream. */
const gint64 *ac_segmented_encoder_get_cuts (const AcSegmentedEncoder *encoder, guint *n_cuts);
void ac_segmented_encoder_free (AcSegmentedEncoder *encoder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcSegmentedEncoder, ac_segmented_encoder_free)

/* ac-spool.c: unlinked temporary files in the work directory */

FILE *ac_spool_open (const char *work_dir, GError **error);
gboolean ac_spool_write (FILE *spool, const void *data, gsize size, GError **error);
gboolean ac_spool_rewind (FILE *spool, GError **error);

/* ac-packets.c: the encoded-chapter intermediate (little-endian records) */

typedef struct
{
  enum AVCodecID codec;
  int sample_rate;
  int channels;
  int frame_size;
  int initial_padding; /* the encoder's priming, in samples */
  gint64 bit_rate;
  guint64 content_frames; /* PCM frames fed to the encoder */
  GBytes *extradata;      /* nullable */
} AcStreamInfo;

void ac_stream_info_clear (AcStreamInfo *info);
void ac_stream_info_from_context (AcStreamInfo *info, const AVCodecContext *context);
void ac_packets_append_header (GByteArray *out, const AcStreamInfo *info);
void ac_packets_append_packet (GByteArray *out,
                               const guint8 *data,
                               gsize size,
                               gint64 pts,
                               gint64 duration);
typedef struct
{
  const guint8 *data;
  gsize size;
  gint64 pts;
  gint64 duration;
} AcPacket;
/* Where the header's content_frames lies: audio-encode writes the header
 * before the chapter's packets, and the chapter's length once it is known. */
#define AC_PACKETS_CONTENT_FRAMES_AT 36
gboolean ac_packets_set_content_frames (int fd, guint64 content_frames, GError **error);
/* Reads an encoded chapter, an item's payload in memory or in a file, a
 * block at a time: the chapter is never whole in memory. */
#define AC_PACKET_READER_BLOCK (1u << 20)
typedef struct
{
  SutraItem *item;
  gsize block;
  guint64 read;       /* bytes of the payload read into the window */
  GByteArray *window; /* what was read and not yet consumed, from start */
  gsize start;
} AcPacketReader;
/* Reads the header into @info. */
gboolean ac_packet_reader_open (AcPacketReader *reader,
                                SutraItem *item,
                                gsize block,
                                AcStreamInfo *info,
                                GError **error);
/* The next packet, pointing into the reader until the next call. Returns
 * FALSE at the end (error unset) or on damage (error set). */
gboolean ac_packet_reader_next (AcPacketReader *reader, AcPacket *packet, GError **error);
void ac_packet_reader_clear (AcPacketReader *reader);
/* A packet of a spool file (the payload is read into @buffer); FALSE at
 * the end (error unset) or on damage (error set). */
gboolean ac_packets_read_packet (FILE *file, GByteArray *buffer, AcPacket *packet, GError **error);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AcStreamInfo, ac_stream_info_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (AcPacketReader, ac_packet_reader_clear)

/* ac-mux.c: packets into a container with tags, chapters and a cover */

typedef struct
{
  gint64 start; /* in samples of the stream's rate */
  gint64 end;
  char *title;
} AcChapter;

typedef struct _AcMuxer AcMuxer;

AcMuxer *ac_muxer_open (const char *path,
                        AcFormat format,
                        const AcStreamInfo *info,
                        const AcTags *tags,
                        const AcChapter *chapters,
                        guint n_chapters,
                        GError **error);
/* @pts and @duration in samples; pts as the encoder made it (negative
 * for the priming). */
gboolean ac_muxer_write (AcMuxer *muxer,
                         const guint8 *data,
                         gsize size,
                         gint64 pts,
                         gint64 duration,
                         GError **error);
gboolean ac_muxer_close (AcMuxer *muxer, GError **error);
void ac_muxer_free (AcMuxer *muxer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcMuxer, ac_muxer_free)

/* ac-chapter-pool.c: a book's spooled float PCM, with one gain, encoded
 * one chapter per encoder on a few threads */

typedef struct
{
  const AcEncoderConfig *encoder;
  FILE *pcm;  /* interleaved float at the encoder's rate and channels, from byte 0 */
  float gain; /* linear */
  const char *work_dir;
  guint n_threads; /* 0: one per processor */
} AcChapterPoolConfig;

typedef struct _AcChapterPool AcChapterPool;

/* Encodes chapter k = frames [@bounds[k], @bounds[k + 1]) of the PCM, for
 * k < @n_chapters, and returns when all are done. */
AcChapterPool *ac_chapter_pool_encode (const AcChapterPoolConfig *config,
                                       const gint64 *bounds,
                                       guint n_chapters,
                                       GError **error);
const AcStreamInfo *ac_chapter_pool_get_info (const AcChapterPool *pool);
/* The file to read chapter @index's packets from with
 * ac_packets_read_packet, positioned at the first of its @n_packets. */
FILE *ac_chapter_pool_chapter (AcChapterPool *pool,
                               guint index,
                               guint64 *n_packets,
                               GError **error);
void ac_chapter_pool_free (AcChapterPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcChapterPool, ac_chapter_pool_free)

/* ac-encode-group.c: one chapter's members into one encoded chapter (the
 * audio-encode stage's group) */

typedef struct
{
  const char *format; /* auto, aac, mp3, opus, pcm */
  gint64 sample_rate; /* 0: the first member's */
  gint64 channels;    /* 0: the first member's */
  gint64 bitrate_kbps;
  const char *aac_coder;
  gint64 sentence_gap_ms;
  gint64 paragraph_gap_ms;
  gint64 chapter_gap_ms;
  const char *loudness;      /* with format auto: none gives aac, a preset pcm */
  gint64 segment_s;          /* AAC: encoded as segments of at least this; 0: one encoder */
  gint64 threads;            /* encoding the segments; 0: one per processor */
  gboolean measure_loudness; /* the chapter's loudness into its metadata */
} AcEncodeSettings;

typedef struct _AcEncodeGroup AcEncodeGroup;

/* A streaming gather: add spools the member's PCM to an unlinked file in
 * @work_dir (cheap, in the order the engine drives); end reads it back and
 * does the converting, measuring and encoding (on any worker). */
AcEncodeGroup *ac_encode_begin (const AcEncodeSettings *settings,
                                const char *work_dir,
                                SutraItem *first,
                                GError **error);
gboolean ac_encode_add (AcEncodeGroup *group, SutraItem *member, GError **error);
/* Returns: (transfer full): the chapter item */
SutraItem *ac_encode_end (AcEncodeGroup *group, GError **error);
void ac_encode_free (AcEncodeGroup *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcEncodeGroup, ac_encode_free)

/* ac-book-group.c: a book's members (encoded chapters, or PCM) into the
 * output file (the audio-concat stage's group) */

typedef struct
{
  const char *output;
  const char *format; /* auto or a format name */
  gint64 sample_rate;
  gint64 channels;
  gint64 bitrate_kbps;
  const char *aac_coder;
  gint64 sentence_gap_ms;
  gint64 paragraph_gap_ms;
  gint64 chapter_gap_ms;
  const char *loudness;
  const char *title;
  const char *author;
  const char *narrator;
  const char *genre;
  const char *description;
  const char *date;
  const char *cover;
  gint64 encode_threads; /* loudness into an encoded format: 0 = one per processor */
} AcBookSettings;

typedef struct _AcBookGroup AcBookGroup;

AcBookGroup *ac_book_begin (const AcBookSettings *settings,
                            const char *work_dir,
                            SutraItem *first,
                            GError **error);
gboolean ac_book_add (AcBookGroup *group, SutraItem *member, GError **error);
/* Returns: (transfer full): the book item, describing the written file */
SutraItem *ac_book_end (AcBookGroup *group, GError **error);
void ac_book_free (AcBookGroup *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AcBookGroup, ac_book_free)

G_END_DECLS
