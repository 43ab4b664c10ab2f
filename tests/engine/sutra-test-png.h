/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A PNG image made by the test itself: covers for EPUBs and audiobooks. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

static inline guint32
sutra_test_png_crc (const guint8 *data, gsize size, guint32 crc)
{
  crc = ~crc;
  for (gsize i = 0; i < size; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  return ~crc;
}

static inline void
sutra_test_png_be32 (GByteArray *out, guint32 value)
{
  guint8 b[4] = { value >> 24, value >> 16, value >> 8, value };

  g_byte_array_append (out, b, 4);
}

static inline void
sutra_test_png_chunk (GByteArray *out, const char *type, const guint8 *data, gsize size)
{
  guint32 crc;

  sutra_test_png_be32 (out, (guint32) size);
  g_byte_array_append (out, (const guint8 *) type, 4);
  if (size > 0)
    g_byte_array_append (out, data, (guint) size);
  crc = sutra_test_png_crc ((const guint8 *) type, 4, 0);
  crc = sutra_test_png_crc (data, size, crc);
  sutra_test_png_be32 (out, crc);
}

/* A @width × @height PNG of one colour (RGB, 8 bits), its pixels in one
 * stored (uncompressed) deflate block: valid for any decoder, and made
 * without zlib. @width × @height must stay under 21,000 pixels. */
static inline GBytes *
sutra_test_png (guint width, guint height, guint8 red, guint8 green, guint8 blue)
{
  GByteArray *png = g_byte_array_new ();
  GByteArray *raw = g_byte_array_new ();
  GByteArray *zlib = g_byte_array_new ();
  guint8 ihdr[13] = {
    width >> 24, width >> 16, width >> 8, width, height >> 24, height >> 16, height >> 8, height, 8,
    2,           0,           0,          0
  };
  guint32 a = 1, b = 0;
  guint8 header[5];

  for (guint y = 0; y < height; y++)
    {
      guint8 filter = 0;

      g_byte_array_append (raw, &filter, 1);
      for (guint x = 0; x < width; x++)
        {
          guint8 pixel[3] = { red, green, blue };

          g_byte_array_append (raw, pixel, 3);
        }
    }
  g_assert_cmpuint (raw->len, <=, 65535);
  for (guint i = 0; i < raw->len; i++)
    {
      a = (a + raw->data[i]) % 65521;
      b = (b + a) % 65521;
    }
  g_byte_array_append (zlib, (const guint8 *) "\x78\x01", 2);
  header[0] = 1; /* the final block, stored */
  header[1] = raw->len & 0xff;
  header[2] = raw->len >> 8;
  header[3] = ~raw->len & 0xff;
  header[4] = (~raw->len >> 8) & 0xff;
  g_byte_array_append (zlib, header, 5);
  g_byte_array_append (zlib, raw->data, raw->len);
  sutra_test_png_be32 (zlib, (b << 16) | a);

  g_byte_array_append (png, (const guint8 *) "\x89PNG\r\n\x1a\n", 8);
  sutra_test_png_chunk (png, "IHDR", ihdr, sizeof ihdr);
  sutra_test_png_chunk (png, "IDAT", zlib->data, zlib->len);
  sutra_test_png_chunk (png, "IEND", NULL, 0);
  g_byte_array_unref (raw);
  g_byte_array_unref (zlib);
  return g_byte_array_free_to_bytes (png);
}

G_END_DECLS
