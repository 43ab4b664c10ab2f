/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the worker protocol's frame decoder (engine/sutra-frame.c): what
 * the parent reads from a worker process, which it must not trust. */

#include "fuzz-record.h"
#include "fuzz.h"

#include "sutra-frame.h"
#include "sutra-record.h"

/*
 * Input: one byte choosing how the stream is cut (0: fed whole; n: in
 * pieces of n bytes), then the bytes a worker would send. Frames are cut
 * out as the parent cuts them, and each body is decoded as the parent
 * decodes a frame of its type: a push against the batch the record seeds
 * were made with (fuzz_record_get_inputs()), the small bodies by their own
 * decoders. A malformed stream or body must be refused with the frame
 * error domain (or the record's), never crash or read out of bounds; a body
 * that decodes must encode back to the same bytes.
 */

static void
decode_body (SutraFrame *frame, GPtrArray *inputs)
{
  g_autoptr (GError) error = NULL;

  switch (frame->type)
    {
    case SUTRA_FRAME_PUSH:
    case SUTRA_FRAME_PROCESS:
      {
        g_autoptr (GPtrArray) items = sutra_record_decode (frame->body, inputs, &error);

        if (items == NULL)
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        fuzz_say ("%s: %s", sutra_frame_type_to_string (frame->type),
                  items != NULL ? "decoded" : error->message);
      }
      break;
    case SUTRA_FRAME_TOTAL:
      {
        guint64 total;

        if (sutra_frame_decode_total (frame->body, &total, &error))
          {
            g_autoptr (GBytes) again = sutra_frame_encode_total (total);

            g_assert_true (g_bytes_equal (again, frame->body));
          }
        else
          g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
      }
      break;
    case SUTRA_FRAME_MISUSE:
      {
        g_auto (SutraFrameMisuse) misuse = { 0 };

        if (sutra_frame_decode_misuse (frame->body, &misuse, &error))
          {
            g_autoptr (GBytes) again =
              sutra_frame_encode_misuse (misuse.function, misuse.rule, misuse.count);

            g_assert_true (g_bytes_equal (again, frame->body));
          }
        else
          g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
      }
      break;
    case SUTRA_FRAME_FAILED:
      {
        g_auto (SutraFrameFailure) failure = { 0 };

        if (sutra_frame_decode_failure (frame->body, &failure, &error))
          {
            g_autoptr (GBytes) again =
              sutra_frame_encode_failure (failure.domain, failure.code, failure.message);

            g_assert_true (g_bytes_equal (again, frame->body));
          }
        else
          g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
      }
      break;
    case SUTRA_FRAME_DONE:
      {
        g_autofree char *state = NULL;

        /* A done after process has an empty body; after sync, a state. */
        if (g_bytes_get_size (frame->body) == 0)
          break;
        if (sutra_frame_decode_sync_done (frame->body, &state, &error))
          {
            g_autoptr (GBytes) again = sutra_frame_encode_sync_done (state);

            g_assert_true (g_bytes_equal (again, frame->body));
          }
        else
          g_assert_error (error, SUTRA_FRAME_ERROR, SUTRA_FRAME_ERROR_MALFORMED);
      }
      break;
    case SUTRA_FRAME_INIT:
    case SUTRA_FRAME_FINISH:
    case SUTRA_FRAME_SYNC:
      /* The parent refuses these from a worker by their type alone. */
      break;
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr (SutraFrameReader) reader = sutra_frame_reader_new ();
  g_autoptr (GPtrArray) inputs = fuzz_record_get_inputs ();
  gsize piece;
  guint n_frames = 0;

  if (size < 1)
    return 0;
  piece = data[0] == 0 ? size : data[0];
  data++;
  size--;
  for (gsize at = 0; at < size;)
    {
      gsize n = MIN (piece, size - at);
      SutraFrame *frame;
      g_autoptr (GError) error = NULL;

      sutra_frame_reader_feed (reader, data + at, n);
      at += n;
      while ((frame = sutra_frame_reader_next (reader, &error)) != NULL)
        {
          g_assert_true (sutra_frame_type_is_valid (frame->type));
          g_assert_cmpuint (g_bytes_get_size (frame->body), <=, SUTRA_FRAME_MAX_BODY);
          decode_body (frame, inputs);
          sutra_frame_free (frame);
          n_frames++;
        }
      if (error != NULL)
        {
          g_assert_true (error->domain == SUTRA_FRAME_ERROR);
          fuzz_say ("stream refused after %u frames: %s", n_frames, error->message);
          return 0;
        }
    }
  fuzz_say ("%u frames%s", n_frames,
            sutra_frame_reader_has_partial (reader) ? ", and a partial one" : "");
  return 0;
}
