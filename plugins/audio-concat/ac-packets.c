/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The encoded-chapter intermediate: the stream's parameters, then every
 * packet with its real timestamp and duration, as little-endian records.
 * It is what audio-encode pushes for a chapter and what audio-concat spools
 * while a book's chapters arrive; it keeps what a remux needs and nothing
 * a muxer would add (no times, no tool names), so it is deterministic. */

#include "ac.h"

#include <string.h>

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

static gboolean
get (const guint8 *base, gsize size, gsize *offset, gsize n, const guint8 **p)
{
  if (size - *offset < n)
    return FALSE;
  *p = base + *offset;
  *offset += n;
  return TRUE;
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
damaged (GError **error, gsize offset, const char *what)
{
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
               "the encoded chapter is damaged at byte %" G_GSIZE_FORMAT " (%s): encode it "
               "again with audio-encode",
               offset, what);
  return FALSE;
}

gboolean
ac_packets_read_header (GBytes *bytes, AcStreamInfo *info, gsize *offset, GError **error)
{
  gsize size;
  const guint8 *base = g_bytes_get_data (bytes, &size);
  const guint8 *p;
  guint32 extra_size;

  *offset = 0;
  if (!get (base, size, offset, 8 + 5 * 4 + 2 * 8 + 4, &p) || memcmp (p, MAGIC, 8) != 0)
    return damaged (error, 0, "no " MAGIC " header");
  info->codec = (enum AVCodecID) le32 (p + 8);
  info->sample_rate = (int) le32 (p + 12);
  info->channels = (int) le32 (p + 16);
  info->frame_size = (int) le32 (p + 20);
  info->initial_padding = (int) le32 (p + 24);
  info->bit_rate = (gint64) le64 (p + 28);
  info->content_frames = le64 (p + 36);
  extra_size = le32 (p + 44);
  if (info->sample_rate <= 0 || info->channels <= 0)
    return damaged (error, 12, "no sample rate or channels");
  if (!get (base, size, offset, extra_size, &p))
    return damaged (error, *offset, "short extradata");
  g_clear_pointer (&info->extradata, g_bytes_unref);
  if (extra_size > 0)
    info->extradata = g_bytes_new_from_bytes (bytes, (gsize) (p - base), extra_size);
  return TRUE;
}

gboolean
ac_packets_next (GBytes *bytes, gsize *offset, AcPacket *packet, GError **error)
{
  gsize size;
  const guint8 *base = g_bytes_get_data (bytes, &size);
  const guint8 *p;
  gsize at = *offset;
  guint32 n;

  if (*offset == size)
    return FALSE;
  if (!get (base, size, offset, 20, &p))
    return damaged (error, at, "short packet header");
  n = le32 (p);
  packet->pts = (gint64) le64 (p + 4);
  packet->duration = (gint64) le64 (p + 12);
  if (!get (base, size, offset, n, &packet->data))
    return damaged (error, at, "short packet");
  packet->size = n;
  return TRUE;
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
