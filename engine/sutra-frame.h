/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraFrame: the framed protocol between sutra and its worker processes.
 *
 * A frame is an 8-byte header (a type byte, three zero bytes, the body's
 * length as a little-endian 32-bit integer) and the body. Bodies of items
 * are record bodies (sutra-record.h); the others are built from a few
 * fields (little-endian integers, strings with a 32-bit length first).
 * The parent trusts nothing a child sends: every length is checked
 * against the frame's limit and against what is left of the body before
 * anything is allocated or read, so a broken or hostile child can at worst
 * fail its own call. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SUTRA_FRAME_ERROR (sutra_frame_error_quark ())
GQuark sutra_frame_error_quark (void);

typedef enum
{
  SUTRA_FRAME_ERROR_MALFORMED, /* a header or body that breaks the format */
  SUTRA_FRAME_ERROR_TOO_LARGE, /* a body longer than SUTRA_FRAME_MAX_BODY */
  SUTRA_FRAME_ERROR_CLOSED,    /* the other end closed the channel */
  SUTRA_FRAME_ERROR_TIMED_OUT, /* no whole frame before the deadline */
  SUTRA_FRAME_ERROR_IO,        /* reading or writing the channel failed */
} SutraFrameError;

/* Who sends which frame is fixed: a frame of the other side's kind is a
 * protocol error. */
typedef enum
{
  /* parent -> child */
  SUTRA_FRAME_INIT = 1, /* JSON object: plugin, stage, params, context */
  SUTRA_FRAME_PROCESS,  /* record body: the batch (empty for a source) */
  SUTRA_FRAME_FINISH,   /* empty */
  SUTRA_FRAME_SYNC,     /* empty */
  /* child -> parent */
  SUTRA_FRAME_PUSH = 16, /* record body: items pushed, borrowing from the batch */
  SUTRA_FRAME_TOTAL,     /* u64: sutra_output_set_total() */
  SUTRA_FRAME_MISUSE,    /* string function, string rule, u32 count */
  SUTRA_FRAME_FAILED,    /* string domain, i32 code, string message: the call failed */
  SUTRA_FRAME_DONE,      /* the call succeeded; after SYNC: u8 has_state, string state */
} SutraFrameType;

#define SUTRA_FRAME_HEADER_SIZE 8

/* The longest body either side accepts: a batch of encoded audio fits, a
 * length read from a corrupt header does not make the parent reserve
 * gigabytes (and bodies are read as they arrive, never reserved up front
 * beyond SUTRA_FRAME_CHUNK). */
#define SUTRA_FRAME_MAX_BODY (256u * 1024 * 1024)
#define SUTRA_FRAME_CHUNK (64u * 1024)

/* The longest string field (a domain, a rule, a message, a state). */
#define SUTRA_FRAME_MAX_STRING (1u * 1024 * 1024)

typedef struct
{
  SutraFrameType type;
  GBytes *body; /* never NULL; may be empty */
} SutraFrame;

void sutra_frame_free (SutraFrame *frame);

/* Whether @type is a known frame type. */
gboolean sutra_frame_type_is_valid (guint type);

const char *sutra_frame_type_to_string (SutraFrameType type);

/* Checks a header: a known type, zero padding, a length within the limit. */
gboolean sutra_frame_parse_header (const guint8 *header,
                                   SutraFrameType *type,
                                   guint32 *length,
                                   GError **error);

/* Writes one frame (header and body) to @fd, all of it, retrying short
 * writes and EINTR. Never raises SIGPIPE (a socket is written with
 * MSG_NOSIGNAL; a pipe is written after the caller ignored SIGPIPE). */
gboolean sutra_frame_write (int fd,
                            SutraFrameType type,
                            const void *body,
                            gsize length,
                            GError **error);

/* Appends one frame to @stream, to be written with others in one go by
 * sutra_frame_write_stream() (which empties @stream). */
void sutra_frame_append (GByteArray *stream, SutraFrameType type, const void *body, gsize length);
gboolean sutra_frame_write_stream (int fd, GByteArray *stream, GError **error);

/* SutraFrameReader: cuts frames out of a byte stream, fed in pieces of any
 * size; what it holds is bounded by one frame. */
typedef struct _SutraFrameReader SutraFrameReader;

SutraFrameReader *sutra_frame_reader_new (void);
void sutra_frame_reader_free (SutraFrameReader *reader);

/* Adds bytes read from the stream. */
void sutra_frame_reader_feed (SutraFrameReader *reader, const guint8 *data, gsize length);

/* Returns: (transfer full) (nullable): the next whole frame; NULL with
 * @error unset when more bytes are needed, NULL with @error set when the
 * stream is malformed (the reader is then unusable). */
SutraFrame *sutra_frame_reader_next (SutraFrameReader *reader, GError **error);

/* Whether bytes of an unfinished frame are waiting. */
gboolean sutra_frame_reader_has_partial (SutraFrameReader *reader);

/* Reads from @fd until a whole frame is in, polling so that the wait ends
 * at @deadline_us (g_get_monotonic_time (); 0: none) with
 * SUTRA_FRAME_ERROR_TIMED_OUT, or, every 50 ms, when @check (nullable)
 * returns FALSE (then with SUTRA_FRAME_ERROR_TIMED_OUT too; the caller
 * knows why). End of stream is SUTRA_FRAME_ERROR_CLOSED. */
typedef gboolean (*SutraFrameCheckFunc) (gpointer user_data);

SutraFrame *sutra_frame_read (int fd,
                              SutraFrameReader *reader,
                              gint64 deadline_us,
                              SutraFrameCheckFunc check,
                              gpointer check_data,
                              GError **error);

/* Building bodies. */
void sutra_frame_put_u32 (GByteArray *body, guint32 value);
void sutra_frame_put_u64 (GByteArray *body, guint64 value);
void sutra_frame_put_string (GByteArray *body, const char *value);

/* Reading bodies: a cursor that fails (and stays failed) on the first
 * field that does not fit. */
typedef struct
{
  const guint8 *data;
  gsize length;
  gsize offset;
  gboolean bad;
} SutraFrameCursor;

void sutra_frame_cursor_init (SutraFrameCursor *cursor, GBytes *body);
guint8 sutra_frame_get_u8 (SutraFrameCursor *cursor);
guint32 sutra_frame_get_u32 (SutraFrameCursor *cursor);
guint64 sutra_frame_get_u64 (SutraFrameCursor *cursor);
/* Returns: (transfer full) (nullable): a NUL-free UTF-8 string, or NULL
 * (cursor marked bad) for one too long, not valid UTF-8 or cut short. */
char *sutra_frame_get_string (SutraFrameCursor *cursor);
/* Fails the cursor with @error unless it read its whole body. */
gboolean sutra_frame_cursor_end (SutraFrameCursor *cursor, SutraFrameType type, GError **error);

/* The bodies of the child's small frames. */
typedef struct
{
  char *domain;
  gint32 code;
  char *message;
} SutraFrameFailure;

GBytes *sutra_frame_encode_failure (const char *domain, gint code, const char *message);
gboolean sutra_frame_decode_failure (GBytes *body, SutraFrameFailure *failure, GError **error);
void sutra_frame_failure_clear (SutraFrameFailure *failure);

typedef struct
{
  char *function;
  char *rule;
  guint32 count;
} SutraFrameMisuse;

GBytes *sutra_frame_encode_misuse (const char *function, const char *rule, guint32 count);
gboolean sutra_frame_decode_misuse (GBytes *body, SutraFrameMisuse *misuse, GError **error);
void sutra_frame_misuse_clear (SutraFrameMisuse *misuse);

/* DONE after SYNC: @state nullable. */
GBytes *sutra_frame_encode_sync_done (const char *state);
gboolean sutra_frame_decode_sync_done (GBytes *body, char **state, GError **error);

GBytes *sutra_frame_encode_total (guint64 total);
gboolean sutra_frame_decode_total (GBytes *body, guint64 *total, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraFrame, sutra_frame_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraFrameReader, sutra_frame_reader_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SutraFrameFailure, sutra_frame_failure_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SutraFrameMisuse, sutra_frame_misuse_clear)

G_END_DECLS
