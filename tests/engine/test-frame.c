/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for engine/sutra-frame.c: frames written and read back, bodies
 * encoded and decoded, and every malformed frame refused. */

#include "sutra-frame.h"
#include "sutra-test-util.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
make_pair (int fds[2])
{
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
}

typedef struct
{
  int fd;
  const guint8 *big;
} WriterArgs;

static gpointer
write_three_frames (gpointer data)
{
  WriterArgs *args = data;

  g_assert_true (sutra_frame_write (args->fd, SUTRA_FRAME_FINISH, NULL, 0, NULL));
  g_assert_true (sutra_frame_write (args->fd, SUTRA_FRAME_PUSH, "abc", 3, NULL));
  g_assert_true (sutra_frame_write (args->fd, SUTRA_FRAME_PROCESS, args->big, 200000, NULL));
  return NULL;
}

static void
test_frame_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autofree guint8 *big = g_malloc (200000);
  WriterArgs args;
  GThread *writer;
  int fds[2];

  g_test_summary ("Frames of every size come back with their type and body, in order");
  for (gsize i = 0; i < 200000; i++)
    big[i] = (guint8) (i * 7);
  make_pair (fds);
  /* A writer thread: the big body does not fit in the socket's buffer. */
  args = (WriterArgs){ fds[0], big };
  writer = g_thread_new ("writer", write_three_frames, &args);
  for (guint n = 0; n < 3; n++)
    {
      g_autoptr (SutraFrame) frame = sutra_frame_read (fds[1], reader, 0, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (frame);
      if (n == 0)
        {
          g_assert_cmpint (frame->type, ==, SUTRA_FRAME_FINISH);
          g_assert_cmpuint (g_bytes_get_size (frame->body), ==, 0);
        }
      else if (n == 1)
        {
          g_assert_cmpint (frame->type, ==, SUTRA_FRAME_PUSH);
          g_assert_cmpmem (g_bytes_get_data (frame->body, NULL), 3, "abc", 3);
        }
      else
        {
          g_assert_cmpint (frame->type, ==, SUTRA_FRAME_PROCESS);
          g_assert_cmpmem (g_bytes_get_data (frame->body, NULL), g_bytes_get_size (frame->body),
                           big, 200000);
        }
    }
  g_thread_join (writer);
  close (fds[0]);
  close (fds[1]);
}

static void
test_frame_reader_byte_by_byte (void)
{
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GError) error = NULL;
  const guint8 stream[] = { SUTRA_FRAME_PUSH, 0, 0, 0, 2, 0, 0, 0, 'h', 'i',
                            SUTRA_FRAME_DONE, 0, 0, 0, 0, 0, 0, 0 };
  guint n_frames = 0;

  g_test_summary ("A stream fed one byte at a time yields each frame once it is whole");
  for (gsize i = 0; i < sizeof stream; i++)
    {
      SutraFrame *frame;

      sutra_frame_reader_feed (reader, stream + i, 1);
      while ((frame = sutra_frame_reader_next (reader, &error)) != NULL)
        {
          n_frames++;
          if (n_frames == 1)
            {
              g_assert_cmpuint (i, ==, 9);
              g_assert_cmpint (frame->type, ==, SUTRA_FRAME_PUSH);
            }
          else
            {
              g_assert_cmpuint (i, ==, sizeof stream - 1);
              g_assert_cmpint (frame->type, ==, SUTRA_FRAME_DONE);
            }
          sutra_frame_free (frame);
        }
      g_assert_no_error (error);
    }
  g_assert_cmpuint (n_frames, ==, 2);
  g_assert_false (sutra_frame_reader_has_partial (reader));
}

static const struct
{
  const char *name;
  guint8 header[8];
  gint code;
  const char *message;
} bad_headers[] = {
  { "type-zero", { 0, 0, 0, 0, 0, 0, 0, 0 }, SUTRA_FRAME_ERROR_MALFORMED, "unknown frame type 0" },
  { "type-gap", { 5, 0, 0, 0, 0, 0, 0, 0 }, SUTRA_FRAME_ERROR_MALFORMED, "unknown frame type 5" },
  { "type-after-done", { 21, 0, 0, 0, 0, 0, 0, 0 }, SUTRA_FRAME_ERROR_MALFORMED, "type 21" },
  { "type-text", { '{', '"', 'i', 'd', 0, 0, 0, 0 }, SUTRA_FRAME_ERROR_MALFORMED, "type 123" },
  { "padding", { SUTRA_FRAME_PUSH, 0, 1, 0, 0, 0, 0, 0 }, SUTRA_FRAME_ERROR_MALFORMED, "padding" },
  { "too-large",
    { SUTRA_FRAME_PUSH, 0, 0, 0, 1, 0, 0, 0x10 },
    SUTRA_FRAME_ERROR_TOO_LARGE,
    "over the limit" },
  { "huge",
    { SUTRA_FRAME_PUSH, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
    SUTRA_FRAME_ERROR_TOO_LARGE,
    "4294967295 bytes" },
};

static void
test_frame_refuses_header (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) again = NULL;
  SutraFrame *frame;

  g_test_summary ("A malformed header is refused at once, before any body is awaited, and the "
                  "reader stays refused");
  sutra_frame_reader_feed (reader, bad_headers[i].header, 8);
  frame = sutra_frame_reader_next (reader, &error);
  g_assert_null (frame);
  g_assert_error (error, SUTRA_FRAME_ERROR, bad_headers[i].code);
  sutra_assert_contains (error->message, bad_headers[i].message);
  g_assert_null (sutra_frame_reader_next (reader, &again));
  g_assert_error (again, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
}

static void
test_frame_write_refuses_too_large (void)
{
  g_autoptr (GError) error = NULL;

  g_test_summary ("A body over the limit is refused before anything is written");
  /* The body is never read: the length alone is refused. */
  g_assert_false (sutra_frame_write (-1, SUTRA_FRAME_PUSH, "", SUTRA_FRAME_MAX_BODY + 1ul, &error));
  g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TOO_LARGE);
}

static void
test_frame_closed_mid_frame (void)
{
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GError) error = NULL;
  const guint8 part[] = { SUTRA_FRAME_PUSH, 0, 0, 0, 10, 0, 0, 0, 'a' };
  int fds[2];

  g_test_summary ("End of stream inside a frame is a closed channel, said as such");
  make_pair (fds);
  g_assert_cmpint (write (fds[0], part, sizeof part), ==, sizeof part);
  close (fds[0]);
  g_assert_null (sutra_frame_read (fds[1], reader, 0, NULL, NULL, &error));
  g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_CLOSED);
  sutra_assert_contains (error->message, "middle of a frame");
  close (fds[1]);
}

static void
test_frame_read_deadline (void)
{
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GError) error = NULL;
  int fds[2];

  g_test_summary ("A read with a deadline gives up when it passes, with nothing sent");
  make_pair (fds);
  g_assert_null (
    sutra_frame_read (fds[1], reader, g_get_monotonic_time () + 20000, NULL, NULL, &error));
  g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TIMED_OUT);
  close (fds[0]);
  close (fds[1]);
}

static gboolean
stop_now (gpointer data)
{
  return FALSE;
}

static void
test_frame_read_check (void)
{
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GError) error = NULL;
  int fds[2];

  g_test_summary ("A read whose check says stop gives up");
  make_pair (fds);
  g_assert_null (sutra_frame_read (fds[1], reader, 0, stop_now, NULL, &error));
  g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_TIMED_OUT);
  close (fds[0]);
  close (fds[1]);
}

static void
test_frame_bodies_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) failure_body =
    sutra_frame_encode_failure ("g-file-error-quark", 4, "no such file “x”");
  g_autoptr (GBytes) misuse_body =
    sutra_frame_encode_misuse ("sutra_output_push", "item != NULL", 3);
  g_autoptr (GBytes) state_body = sutra_frame_encode_sync_done ("1234");
  g_autoptr (GBytes) none_body = sutra_frame_encode_sync_done (NULL);
  g_autoptr (GBytes) total_body = sutra_frame_encode_total (G_GUINT64_CONSTANT (1) << 40);
  g_auto (SutraFrameFailure) failure = { 0 };
  g_auto (SutraFrameMisuse) misuse = { 0 };
  g_autofree char *state = NULL;
  char *none = (char *) "unset";
  guint64 total = 0;

  g_test_summary ("The small bodies come back as they were sent");
  g_assert_true (sutra_frame_decode_failure (failure_body, &failure, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (failure.domain, ==, "g-file-error-quark");
  g_assert_cmpint (failure.code, ==, 4);
  g_assert_cmpstr (failure.message, ==, "no such file “x”");
  g_assert_true (sutra_frame_decode_misuse (misuse_body, &misuse, &error));
  g_assert_cmpstr (misuse.function, ==, "sutra_output_push");
  g_assert_cmpstr (misuse.rule, ==, "item != NULL");
  g_assert_cmpuint (misuse.count, ==, 3);
  g_assert_true (sutra_frame_decode_sync_done (state_body, &state, &error));
  g_assert_cmpstr (state, ==, "1234");
  g_assert_true (sutra_frame_decode_sync_done (none_body, &none, &error));
  g_assert_null (none);
  g_assert_true (sutra_frame_decode_total (total_body, &total, &error));
  g_assert_cmpuint (total, ==, G_GUINT64_CONSTANT (1) << 40);
}

/* Bodies as bytes: a u32 length is little-endian. */
static const struct
{
  const char *name;
  SutraFrameType type;
  const char *body;
  gsize length;
} bad_bodies[] = {
  { "failure-empty", SUTRA_FRAME_FAILED, "", 0 },
  { "failure-cut-length", SUTRA_FRAME_FAILED, "\x03\x00", 2 },
  { "failure-cut-string", SUTRA_FRAME_FAILED,
    "\x05\x00\x00\x00"
    "ab",
    6 },
  { "failure-huge-string", SUTRA_FRAME_FAILED,
    "\xff\xff\xff\x7f"
    "ab",
    6 },
  { "failure-empty-domain", SUTRA_FRAME_FAILED,
    "\x00\x00\x00\x00"
    "\x01\x00\x00\x00"
    "\x00\x00\x00\x00",
    12 },
  { "failure-not-utf8", SUTRA_FRAME_FAILED,
    "\x01\x00\x00\x00"
    "d"
    "\x01\x00\x00\x00"
    "\x01\x00\x00\x00"
    "\xff",
    14 },
  { "failure-nul", SUTRA_FRAME_FAILED,
    "\x02\x00\x00\x00"
    "d\x00"
    "\x01\x00\x00\x00"
    "\x00\x00\x00\x00",
    14 },
  { "failure-trailing", SUTRA_FRAME_FAILED,
    "\x01\x00\x00\x00"
    "d"
    "\x01\x00\x00\x00"
    "\x00\x00\x00\x00"
    "x",
    14 },
  { "misuse-zero-count", SUTRA_FRAME_MISUSE,
    "\x01\x00\x00\x00"
    "f"
    "\x01\x00\x00\x00"
    "r"
    "\x00\x00\x00\x00",
    14 },
  { "misuse-cut", SUTRA_FRAME_MISUSE,
    "\x01\x00\x00\x00"
    "f"
    "\x01\x00\x00\x00"
    "r"
    "\x01",
    11 },
  { "sync-bad-flag", SUTRA_FRAME_DONE, "\x02", 1 },
  { "sync-no-flag", SUTRA_FRAME_DONE, "", 0 },
  { "sync-flag-no-state", SUTRA_FRAME_DONE, "\x01", 1 },
  { "sync-trailing", SUTRA_FRAME_DONE,
    "\x00"
    "x",
    2 },
  { "total-short", SUTRA_FRAME_TOTAL, "\x01\x02\x03", 3 },
  { "total-long", SUTRA_FRAME_TOTAL, "\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9 },
};

static void
test_frame_refuses_body (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  g_autoptr (GBytes) body = g_bytes_new_static (bad_bodies[i].body, bad_bodies[i].length);
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;

  g_test_summary ("Every malformed body is refused with a malformed-frame error");
  switch (bad_bodies[i].type)
    {
    case SUTRA_FRAME_FAILED:
      {
        g_auto (SutraFrameFailure) failure = { 0 };

        ok = sutra_frame_decode_failure (body, &failure, &error);
        g_assert_null (failure.domain);
      }
      break;
    case SUTRA_FRAME_MISUSE:
      {
        g_auto (SutraFrameMisuse) misuse = { 0 };

        ok = sutra_frame_decode_misuse (body, &misuse, &error);
        g_assert_null (misuse.function);
      }
      break;
    case SUTRA_FRAME_DONE:
      {
        g_autofree char *state = NULL;

        ok = sutra_frame_decode_sync_done (body, &state, &error);
      }
      break;
    case SUTRA_FRAME_TOTAL:
      {
        guint64 total;

        ok = sutra_frame_decode_total (body, &total, &error);
      }
      break;
    default:
      g_assert_not_reached ();
    }
  g_assert_false (ok);
  g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/frame/round-trip", test_frame_round_trip);
  g_test_add_func ("/engine/frame/reader-byte-by-byte", test_frame_reader_byte_by_byte);
  for (guint i = 0; i < G_N_ELEMENTS (bad_headers); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/frame/refuses-header/%s", bad_headers[i].name);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_frame_refuses_header);
    }
  g_test_add_func ("/engine/frame/write-refuses-too-large", test_frame_write_refuses_too_large);
  g_test_add_func ("/engine/frame/closed-mid-frame", test_frame_closed_mid_frame);
  g_test_add_func ("/engine/frame/read-deadline", test_frame_read_deadline);
  g_test_add_func ("/engine/frame/read-check", test_frame_read_check);
  g_test_add_func ("/engine/frame/bodies-round-trip", test_frame_bodies_round_trip);
  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/frame/refuses-body/%s", bad_bodies[i].name);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_frame_refuses_body);
    }
  return g_test_run ();
}
