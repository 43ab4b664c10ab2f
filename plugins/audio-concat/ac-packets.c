/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The encoded-chapter intermediate: the stream's parameters, then every
 * packet with its real timestamp and duration, as little-endian records.
 * It is what audio-encode pushes for a chapter and what audio-concat spools
 * while a book's chapters arrive; it keeps what a remux needs and nothing
 * a muxer would add (no times, no tool names), so it is deterministic. */

#include "ac.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "SACPKT01"

void
ac_stream_info_clear (AcStreamInfo *info)
{
  g_clear_pointer (&info->extradata, g_bytes_unref);
}

void
ac_stream_info_from_context (AcStreamInfo *info, const AVCodecContext *c)
{
  info->codec = c->codec_id;
  info->sample_rate = c->sample_rate;
  info->channels = c->ch_layout.nb_channels;
  info->frame_size = c->frame_size;
  info->initial_padding = c->initial_padding;
  info->bit_rate = c->bit_rate;
  g_clear_pointer (&info->extradata, g_bytes_unref);
  if (c->extradata_size > 0)
    info->extradata = g_bytes_new (c->extradata, (gsize) c->extradata_size);
}

static void
put_u32 (GByteArray *out, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 4);
}

static void
put_u64 (GByteArray *out, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (out, (const guint8 *) &v, 8);
}

void
ac_packets_append_header (GByteArray *out, const AcStreamInfo *info)
{
  gsize extra_size = info->extradata != NULL ? g_bytes_get_size (info->extradata) : 0;

  g_byte_array_append (out, (const guint8 *) MAGIC, 8);
  put_u32 (out, (guint32) info->codec);
  put_u32 (out, (guint32) info->sample_rate);
  put_u32 (out, (guint32) info->channels);
  put_u32 (out, (guint32) info->frame_size);
  put_u32 (out, (guint32) info->initial_padding);
  put_u64 (out, (guint64) info->bit_rate);
  put_u64 (out, info->content_frames);
  put_u32 (out, (guint32) extra_size);
  if (extra_size > 0)
    g_byte_array_append (out, g_bytes_get_data (info->extradata, NULL), (guint) extra_size);
}

void
ac_packets_append_packet (GByteArray *out,
                          const guint8 *data,
                          gsize size,
                          gint64 pts,
                          gint64 duration)
{
  put_u32 (out, (guint32) size);
  put_u64 (out, (guint64) pts);
  put_u64 (out, (guint64) duration);
  g_byte_array_append (out, data, (guint) size);
}

static guint32
le32 (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static guint64
le64 (const guint8 *p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

static gboolean
damaged (GError **error, guint64 offset, const char *what)
{
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
               "the encoded chapter is damaged at byte %" G_GUINT64_FORMAT " (%s): encode it "
               "again with audio-encode",
               offset, what);
  return FALSE;
}

gboolean
ac_packets_set_content_frames (int fd, guint64 content_frames, GError **error)
{
  guint64 le = GUINT64_TO_LE (content_frames);

  if (pwrite (fd, &le, sizeof le, AC_PACKETS_CONTENT_FRAMES_AT) != (ssize_t) sizeof le)
    {
      int saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write the encoded chapter's length: %s", g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Where the reader is in the payload: the first byte not yet consumed. */
static guint64
reader_position (const AcPacketReader *reader)
{
  return reader->read - (reader->window->len - reader->start);
}

/* Makes the window hold at least @n unconsumed bytes, reading a block (or
 * @n, if more) from the payload when it does not. Returns 1 when it does,
 * 0 when the payload ends first, -1 with @error set when it cannot be
 * read. */
static int
reader_fill (AcPacketReader *reader, gsize n, GError **error)
{
  gsize have = reader->window->len - reader->start;
  gsize want;
  gssize got;

  if (have >= n)
    return 1;
  /* A length no payload this size can hold is damage, not a read: no
   * buffer of a damaged length's size is ever made. */
  if (n - have > sutra_item_get_payload_size (reader->item) - reader->read)
    return 0;
  /* Keep what is left, at the front. */
  if (reader->start > 0)
    {
      memmove (reader->window->data, reader->window->data + reader->start, have);
      g_byte_array_set_size (reader->window, (guint) have);
      reader->start = 0;
    }
  want = MAX (n - have, reader->block);
  g_byte_array_set_size (reader->window, (guint) (have + want));
  got =
    sutra_item_read_payload (reader->item, reader->read, reader->window->data + have, want, error);
  g_byte_array_set_size (reader->window, (guint) (have + MAX (got, 0)));
  if (got < 0)
    return -1;
  reader->read += (guint64) got;
  return reader->window->len >= n ? 1 : 0;
}

static const guint8 *
reader_take (AcPacketReader *reader, gsize n)
{
  const guint8 *p = reader->window->data + reader->start;

  reader->start += n;
  return p;
}

gboolean
ac_packet_reader_open (AcPacketReader *reader,
                       SutraItem *item,
                       gsize block,
                       AcStreamInfo *info,
                       GError **error)
{
  const gsize fixed = 8 + 5 * 4 + 2 * 8 + 4;
  const guint8 *p;
  guint32 extra_size;
  int filled;

  reader->item = item;
  reader->block = MAX (block, 1);
  reader->read = 0;
  reader->start = 0;
  reader->window = g_byte_array_new ();
  if ((filled = reader_fill (reader, fixed, error)) <= 0)
    return filled < 0 ? FALSE : damaged (error, 0, "no " MAGIC " header");
  p = reader_take (reader, fixed);
  if (memcmp (p, MAGIC, 8) != 0)
    return damaged (error, 0, "no " MAGIC " header");
  info->codec = (enum AVCodecID) le32 (p + 8);
  info->sample_rate = (int) le32 (p + 12);
  info->channels = (int) le32 (p + 16);
  info->frame_size = (int) le32 (p + 20);
  info->initial_padding = (int) le32 (p + 24);
  info->bit_rate = (gint64) le64 (p + 28);
  info->content_frames = le64 (p + AC_PACKETS_CONTENT_FRAMES_AT);
  extra_size = le32 (p + 44);
  if (info->sample_rate <= 0 || info->channels <= 0)
    return damaged (error, 12, "no sample rate or channels");
  if ((filled = reader_fill (reader, extra_size, error)) <= 0)
    return filled < 0 ? FALSE : damaged (error, reader_position (reader), "short extradata");
  p = reader_take (reader, extra_size);
  g_clear_pointer (&info->extradata, g_bytes_unref);
  if (extra_size > 0)
    info->extradata = g_bytes_new (p, extra_size);
  return TRUE;
}

gboolean
ac_packet_reader_next (AcPacketReader *reader, AcPacket *packet, GError **error)
{
  guint64 at = reader_position (reader);
  const guint8 *p;
  guint32 n;
  int filled;

  if ((filled = reader_fill (reader, 20, error)) <= 0)
    {
      if (filled < 0 || reader->window->len == reader->start)
        return FALSE; /* unreadable, or the end between packets */
      return damaged (error, at, "short packet header");
    }
  p = reader_take (reader, 20);
  n = le32 (p);
  packet->pts = (gint64) le64 (p + 4);
  packet->duration = (gint64) le64 (p + 12);
  if ((filled = reader_fill (reader, n, error)) <= 0)
    return filled < 0 ? FALSE : damaged (error, at, "short packet");
  packet->data = reader_take (reader, n);
  packet->size = n;
  return TRUE;
}

void
ac_packet_reader_clear (AcPacketReader *reader)
{
  g_clear_pointer (&reader->window, g_byte_array_unref);
}

gboolean
ac_packets_read_packet (FILE *file, GByteArray *buffer, AcPacket *packet, GError **error)
{
  guint8 head[20];
  size_t got = fread (head, 1, sizeof head, file);
  guint32 n;

  if (got == 0 && feof (file))
    return FALSE;
  if (got != sizeof head)
    return damaged (error, (gsize) ftell (file), "short packet header in the spool");
  n = le32 (head);
  packet->pts = (gint64) le64 (head + 4);
  packet->duration = (gint64) le64 (head + 12);
  g_byte_array_set_size (buffer, n);
  if (n > 0 && fread (buffer->data, 1, n, file) != n)
    return damaged (error, (gsize) ftell (file), "short packet in the spool");
  packet->data = buffer->data;
  packet->size = n;
  return TRUE;
}
