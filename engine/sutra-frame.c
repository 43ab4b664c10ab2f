/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frames over a pipe or socket: writing them, cutting them out of a byte
 * stream, and the small bodies the worker protocol sends. */

#include "sutra-frame.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

G_DEFINE_QUARK (sutra - frame - error - quark, sutra_frame_error)

void
sutra_frame_free (SutraFrame *frame)
{
  if (frame == NULL)
    return;
  g_bytes_unref (frame->body);
  g_free (frame);
}

gboolean
sutra_frame_type_is_valid (guint type)
{
  return (type >= SUTRA_FRAME_INIT && type <= SUTRA_FRAME_SYNC) ||
         (type >= SUTRA_FRAME_PUSH && type <= SUTRA_FRAME_DONE);
}

const char *
sutra_frame_type_to_string (SutraFrameType type)
{
  switch (type)
    {
    case SUTRA_FRAME_INIT:
      return "init";
    case SUTRA_FRAME_PROCESS:
      return "process";
    case SUTRA_FRAME_FINISH:
      return "finish";
    case SUTRA_FRAME_SYNC:
      return "sync";
    case SUTRA_FRAME_PUSH:
      return "push";
    case SUTRA_FRAME_TOTAL:
      return "total";
    case SUTRA_FRAME_MISUSE:
      return "misuse";
    case SUTRA_FRAME_FAILED:
      return "failed";
    case SUTRA_FRAME_DONE:
      return "done";
    }
  return "unknown";
}

gboolean
sutra_frame_parse_header (const guint8 *header,
                          SutraFrameType *type,
                          guint32 *length,
                          GError **error)
{
  guint32 value;

  if (!sutra_frame_type_is_valid (header[0]))
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "malformed frame header: unknown frame type %u", header[0]);
      return FALSE;
    }
  /* The padding is zero: a stream that is off by a few bytes, or is not
   * this protocol at all (a plugin printing to the channel), is caught at
   * its first header rather than read as a huge length. */
  if (header[1] != 0 || header[2] != 0 || header[3] != 0)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "malformed frame header: padding bytes are not zero (%02x %02x %02x)", header[1],
                   header[2], header[3]);
      return FALSE;
    }
  memcpy (&value, header + 4, sizeof value);
  value = GUINT32_FROM_LE (value);
  if (value > SUTRA_FRAME_MAX_BODY)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TOO_LARGE,
                   "frame “%s” announces a body of %u bytes, over the limit of %u",
                   sutra_frame_type_to_string (header[0]), value, SUTRA_FRAME_MAX_BODY);
      return FALSE;
    }
  *type = header[0];
  *length = value;
  return TRUE;
}

/* Writes @n_vectors pieces, all of them, in as few system calls as the
 * socket allows: one, usually. */
static gboolean
write_vectors (int fd, struct iovec *vectors, int n_vectors, GError **error)
{
  while (n_vectors > 0)
    {
      struct msghdr message = { .msg_iov = vectors, .msg_iovlen = (size_t) n_vectors };
      ssize_t n = sendmsg (fd, &message, MSG_NOSIGNAL);

      if (n < 0 && errno == ENOTSOCK)
        n = writev (fd, vectors, n_vectors);
      if (n < 0)
        {
          int saved = errno;

          if (saved == EINTR)
            continue;
          g_set_error (error, SUTRA_FRAME_ERROR,
                       saved == EPIPE || saved == ECONNRESET ? SUTRA_FRAME_ERROR_CLOSED
                                                             : SUTRA_FRAME_ERROR_IO,
                       "cannot write a frame: %s", g_strerror (saved));
          return FALSE;
        }
      /* Skip what was written: whole pieces, then part of one. */
      while (n_vectors > 0 && (gsize) n >= vectors->iov_len)
        {
          n -= (ssize_t) vectors->iov_len;
          vectors++;
          n_vectors--;
        }
      if (n_vectors > 0)
        {
          vectors->iov_base = (guint8 *) vectors->iov_base + n;
          vectors->iov_len -= (gsize) n;
        }
    }
  return TRUE;
}

void
sutra_frame_append (GByteArray *stream, SutraFrameType type, const void *body, gsize length)
{
  guint8 header[SUTRA_FRAME_HEADER_SIZE] = { (guint8) type, 0, 0, 0 };
  guint32 le = GUINT32_TO_LE ((guint32) length);

  g_return_if_fail (length <= SUTRA_FRAME_MAX_BODY);
  memcpy (header + 4, &le, sizeof le);
  g_byte_array_append (stream, header, sizeof header);
  if (length > 0)
    g_byte_array_append (stream, body, (guint) length);
}

gboolean
sutra_frame_write_stream (int fd, GByteArray *stream, GError **error)
{
  struct iovec vector = { stream->data, stream->len };
  gboolean ok = stream->len == 0 || write_vectors (fd, &vector, 1, error);

  g_byte_array_set_size (stream, 0);
  return ok;
}

gboolean
sutra_frame_write (int fd, SutraFrameType type, const void *body, gsize length, GError **error)
{
  guint8 header[SUTRA_FRAME_HEADER_SIZE] = { (guint8) type, 0, 0, 0 };
  struct iovec vectors[2];
  guint32 le;

  if (length > SUTRA_FRAME_MAX_BODY)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TOO_LARGE,
                   "a “%s” frame of %" G_GSIZE_FORMAT " bytes is over the limit of %u bytes",
                   sutra_frame_type_to_string (type), length, SUTRA_FRAME_MAX_BODY);
      return FALSE;
    }
  le = GUINT32_TO_LE ((guint32) length);
  memcpy (header + 4, &le, sizeof le);
  /* Header and body in one system call: fewer calls, and a reader never
   * wakes for a header alone. */
  vectors[0] = (struct iovec){ header, sizeof header };
  vectors[1] = (struct iovec){ (void *) body, length };
  return write_vectors (fd, vectors, length > 0 ? 2 : 1, error);
}

struct _SutraFrameReader
{
  GByteArray *buffer;
  gsize start; /* bytes before this are consumed */
  gboolean failed;
};

SutraFrameReader *
sutra_frame_reader_new (void)
{
  SutraFrameReader *reader = g_new0 (SutraFrameReader, 1);

  reader->buffer = g_byte_array_new ();
  return reader;
}

void
sutra_frame_reader_free (SutraFrameReader *reader)
{
  if (reader == NULL)
    return;
  g_byte_array_unref (reader->buffer);
  g_free (reader);
}

/* Drops consumed bytes before the buffer grows, so that it holds one frame
 * and the start of the next at most. */
static void
reader_compact (SutraFrameReader *reader)
{
  if (reader->start > 0 && reader->start == reader->buffer->len)
    {
      g_byte_array_set_size (reader->buffer, 0);
      reader->start = 0;
    }
  else if (reader->start > 0 && reader->start >= reader->buffer->len / 2)
    {
      g_byte_array_remove_range (reader->buffer, 0, (guint) reader->start);
      reader->start = 0;
    }
}

void
sutra_frame_reader_feed (SutraFrameReader *reader, const guint8 *data, gsize length)
{
  reader_compact (reader);
  g_byte_array_append (reader->buffer, data, (guint) length);
}

gboolean
sutra_frame_reader_has_partial (SutraFrameReader *reader)
{
  return reader->buffer->len > reader->start;
}

SutraFrame *
sutra_frame_reader_next (SutraFrameReader *reader, GError **error)
{
  gsize available = reader->buffer->len - reader->start;
  const guint8 *data = reader->buffer->data + reader->start;
  SutraFrameType type;
  guint32 length;
  SutraFrame *frame;

  if (reader->failed)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "the frame stream broke earlier");
      return NULL;
    }
  if (available < SUTRA_FRAME_HEADER_SIZE)
    return NULL;
  if (!sutra_frame_parse_header (data, &type, &length, error))
    {
      reader->failed = TRUE;
      return NULL;
    }
  if (available - SUTRA_FRAME_HEADER_SIZE < length)
    return NULL;
  frame = g_new0 (SutraFrame, 1);
  frame->type = type;
  frame->body = g_bytes_new (data + SUTRA_FRAME_HEADER_SIZE, length);
  reader->start += SUTRA_FRAME_HEADER_SIZE + (gsize) length;
  return frame;
}

SutraFrame *
sutra_frame_read (int fd,
                  SutraFrameReader *reader,
                  gint64 deadline_us,
                  SutraFrameCheckFunc check,
                  gpointer check_data,
                  GError **error)
{
  for (;;)
    {
      GError *local = NULL;
      SutraFrame *frame = sutra_frame_reader_next (reader, &local);
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int timeout_ms = 50;
      ssize_t n;
      guint old_length;
      int ready;

      if (frame != NULL)
        return frame;
      if (local != NULL)
        {
          g_propagate_error (error, local);
          return NULL;
        }
      if (deadline_us > 0)
        {
          gint64 left = deadline_us - g_get_monotonic_time ();

          if (left <= 0)
            {
              g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TIMED_OUT,
                           "no reply before the deadline");
              return NULL;
            }
          timeout_ms = (int) MIN ((gint64) timeout_ms, (left + 999) / 1000);
        }
      /* With no deadline and nothing to check, a blocking read is the
       * wait: one system call fewer per frame (the worker's case). */
      if (deadline_us == 0 && check == NULL)
        ready = 1;
      else
        ready = poll (&pfd, 1, timeout_ms);
      if (ready < 0 && errno != EINTR)
        {
          int saved = errno;

          g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_IO,
                       "cannot wait for a frame: %s", g_strerror (saved));
          return NULL;
        }
      if (ready <= 0)
        {
          if (check != NULL && !check (check_data))
            {
              g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TIMED_OUT,
                           "the wait for a frame was called off");
              return NULL;
            }
          continue;
        }
      /* Straight into the reader's buffer: no copy, and its memory is
       * reused from call to call. The buffer grows by what arrives, never
       * by what a header announces. */
      reader_compact (reader);
      old_length = reader->buffer->len;
      g_byte_array_set_size (reader->buffer, old_length + SUTRA_FRAME_CHUNK);
      n = read (fd, reader->buffer->data + old_length, SUTRA_FRAME_CHUNK);
      g_byte_array_set_size (reader->buffer, old_length + (guint) MAX (n, 0));
      if (n < 0)
        {
          int saved = errno;

          if (saved == EINTR || saved == EAGAIN)
            continue;
          g_set_error (error, SUTRA_FRAME_ERROR,
                       saved == ECONNRESET ? SUTRA_FRAME_ERROR_CLOSED : SUTRA_FRAME_ERROR_IO,
                       "cannot read a frame: %s", g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        {
          g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_CLOSED,
                       sutra_frame_reader_has_partial (reader)
                         ? "the channel closed in the middle of a frame"
                         : "the channel closed");
          return NULL;
        }
    }
}

void
sutra_frame_put_u32 (GByteArray *body, guint32 value)
{
  guint32 le = GUINT32_TO_LE (value);

  g_byte_array_append (body, (const guint8 *) &le, sizeof le);
}

void
sutra_frame_put_u64 (GByteArray *body, guint64 value)
{
  guint64 le = GUINT64_TO_LE (value);

  g_byte_array_append (body, (const guint8 *) &le, sizeof le);
}

void
sutra_frame_put_string (GByteArray *body, const char *value)
{
  gsize length = strlen (value);

  /* Our own strings are cut, never refused: a long plugin message must
   * not turn into a protocol error. The cut stays valid UTF-8. */
  if (length > SUTRA_FRAME_MAX_STRING)
    {
      const char *end = value + SUTRA_FRAME_MAX_STRING;

      while (end > value && ((guint8) *end & 0xc0) == 0x80)
        end--;
      length = (gsize) (end - value);
    }
  sutra_frame_put_u32 (body, (guint32) length);
  g_byte_array_append (body, (const guint8 *) value, (guint) length);
}

void
sutra_frame_cursor_init (SutraFrameCursor *cursor, GBytes *body)
{
  *cursor = (SutraFrameCursor){ 0 };
  cursor->data = g_bytes_get_data (body, &cursor->length);
}

static const guint8 *
cursor_take (SutraFrameCursor *cursor, gsize n)
{
  const guint8 *p;

  if (cursor->bad || n > cursor->length - cursor->offset)
    {
      cursor->bad = TRUE;
      return NULL;
    }
  p = cursor->data + cursor->offset;
  cursor->offset += n;
  return p;
}

guint8
sutra_frame_get_u8 (SutraFrameCursor *cursor)
{
  const guint8 *p = cursor_take (cursor, 1);

  return p != NULL ? *p : 0;
}

guint32
sutra_frame_get_u32 (SutraFrameCursor *cursor)
{
  const guint8 *p = cursor_take (cursor, 4);
  guint32 value;

  if (p == NULL)
    return 0;
  memcpy (&value, p, sizeof value);
  return GUINT32_FROM_LE (value);
}

guint64
sutra_frame_get_u64 (SutraFrameCursor *cursor)
{
  const guint8 *p = cursor_take (cursor, 8);
  guint64 value;

  if (p == NULL)
    return 0;
  memcpy (&value, p, sizeof value);
  return GUINT64_FROM_LE (value);
}

char *
sutra_frame_get_string (SutraFrameCursor *cursor)
{
  guint32 length = sutra_frame_get_u32 (cursor);
  const guint8 *p;

  /* The length is checked against the limit and the body before the
   * string is copied: it comes from the other process. */
  if (cursor->bad || length > SUTRA_FRAME_MAX_STRING)
    {
      cursor->bad = TRUE;
      return NULL;
    }
  p = cursor_take (cursor, length);
  if (p == NULL || memchr (p, '\0', length) != NULL ||
      !g_utf8_validate ((const char *) p, length, NULL))
    {
      cursor->bad = TRUE;
      return NULL;
    }
  return g_strndup ((const char *) p, length);
}

gboolean
sutra_frame_cursor_end (SutraFrameCursor *cursor, SutraFrameType type, GError **error)
{
  if (cursor->bad || cursor->offset != cursor->length)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "malformed “%s” frame: %s at byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT,
                   sutra_frame_type_to_string (type),
                   cursor->bad ? "a field is cut short, too long or not UTF-8" : "trailing bytes",
                   cursor->offset, cursor->length);
      return FALSE;
    }
  return TRUE;
}

GBytes *
sutra_frame_encode_failure (const char *domain, gint code, const char *message)
{
  GByteArray *body = g_byte_array_new ();

  sutra_frame_put_string (body, domain);
  sutra_frame_put_u32 (body, (guint32) code);
  sutra_frame_put_string (body, message);
  return g_byte_array_free_to_bytes (body);
}

gboolean
sutra_frame_decode_failure (GBytes *body, SutraFrameFailure *failure, GError **error)
{
  SutraFrameCursor cursor;

  *failure = (SutraFrameFailure){ 0 };
  sutra_frame_cursor_init (&cursor, body);
  failure->domain = sutra_frame_get_string (&cursor);
  failure->code = (gint32) sutra_frame_get_u32 (&cursor);
  failure->message = sutra_frame_get_string (&cursor);
  if (!sutra_frame_cursor_end (&cursor, SUTRA_FRAME_FAILED, error))
    {
      sutra_frame_failure_clear (failure);
      return FALSE;
    }
  if (failure->domain[0] == '\0')
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "malformed “failed” frame: the error domain is empty");
      sutra_frame_failure_clear (failure);
      return FALSE;
    }
  return TRUE;
}

void
sutra_frame_failure_clear (SutraFrameFailure *failure)
{
  g_clear_pointer (&failure->domain, g_free);
  g_clear_pointer (&failure->message, g_free);
}

GBytes *
sutra_frame_encode_misuse (const char *function, const char *rule, guint32 count)
{
  GByteArray *body = g_byte_array_new ();

  sutra_frame_put_string (body, function);
  sutra_frame_put_string (body, rule);
  sutra_frame_put_u32 (body, count);
  return g_byte_array_free_to_bytes (body);
}

gboolean
sutra_frame_decode_misuse (GBytes *body, SutraFrameMisuse *misuse, GError **error)
{
  SutraFrameCursor cursor;

  *misuse = (SutraFrameMisuse){ 0 };
  sutra_frame_cursor_init (&cursor, body);
  misuse->function = sutra_frame_get_string (&cursor);
  misuse->rule = sutra_frame_get_string (&cursor);
  misuse->count = sutra_frame_get_u32 (&cursor);
  if (!sutra_frame_cursor_end (&cursor, SUTRA_FRAME_MISUSE, error))
    {
      sutra_frame_misuse_clear (misuse);
      return FALSE;
    }
  if (misuse->count == 0)
    {
      g_set_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED,
                   "malformed “misuse” frame: a count of zero");
      sutra_frame_misuse_clear (misuse);
      return FALSE;
    }
  return TRUE;
}

void
sutra_frame_misuse_clear (SutraFrameMisuse *misuse)
{
  g_clear_pointer (&misuse->function, g_free);
  g_clear_pointer (&misuse->rule, g_free);
}

GBytes *
sutra_frame_encode_sync_done (const char *state)
{
  GByteArray *body = g_byte_array_new ();
  guint8 has_state = state != NULL;

  g_byte_array_append (body, &has_state, 1);
  if (state != NULL)
    sutra_frame_put_string (body, state);
  return g_byte_array_free_to_bytes (body);
}

gboolean
sutra_frame_decode_sync_done (GBytes *body, char **state, GError **error)
{
  SutraFrameCursor cursor;
  guint8 has_state;
  g_autofree char *value = NULL;

  sutra_frame_cursor_init (&cursor, body);
  has_state = sutra_frame_get_u8 (&cursor);
  if (has_state > 1)
    cursor.bad = TRUE;
  else if (has_state == 1)
    value = sutra_frame_get_string (&cursor);
  if (!sutra_frame_cursor_end (&cursor, SUTRA_FRAME_DONE, error))
    return FALSE;
  *state = g_steal_pointer (&value);
  return TRUE;
}

GBytes *
sutra_frame_encode_total (guint64 total)
{
  guint64 le = GUINT64_TO_LE (total);

  return g_bytes_new (&le, sizeof le);
}

gboolean
sutra_frame_decode_total (GBytes *body, guint64 *total, GError **error)
{
  SutraFrameCursor cursor;
  guint64 value;

  sutra_frame_cursor_init (&cursor, body);
  value = sutra_frame_get_u64 (&cursor);
  if (!sutra_frame_cursor_end (&cursor, SUTRA_FRAME_TOTAL, error))
    return FALSE;
  *total = value;
  return TRUE;
}
