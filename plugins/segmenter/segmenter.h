/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal interfaces shared by the files of the segmenter plugin. */

#pragma once

#include <sutra/sutra.h>

G_BEGIN_DECLS

/* The stage's parameters, filled by the engine from the table in
 * segmenter.c. */
typedef struct
{
  gint64 max_chars;
  const char *language;
  gboolean strip_boilerplate;
  const char *front_matter;
  const char *heading_pattern;
  gint64 markdown_level;
  gboolean repair_utf8;
  gint64 max_expanded_bytes;
  const char *emit;
  const char *epub_chapters;
  gboolean caps_headings;
} SegmenterSettings;

/* Heading levels of plain text: a smaller number is a larger division. */
enum
{
  SEGMENTER_LEVEL_VOLUME = 0,
  SEGMENTER_LEVEL_BOOK = 1,
  SEGMENTER_LEVEL_PART = 2,
  SEGMENTER_LEVEL_CHAPTER = 3,
};

/*
 * Where a chapter begins. @offset is where its heading starts in the
 * document's text and @body where its text starts (after the heading lines,
 * which are not part of the text: the title carries them). For an EPUB the
 * two differ only when the TOC target starts with a heading equal to the
 * TOC label.
 */
typedef struct
{
  gsize offset;
  gsize body;
  char *title;
  guint level;
} SegmenterHeading;

/* A chapter as emitted: its text is [start, end) of the document's text,
 * after [lead_start, lead_end) when a short front matter (a title page)
 * leads it. */
typedef struct
{
  gsize start;
  gsize end;
  gsize lead_start;
  gsize lead_end;
  char *title;
  char *part_title; /* nullable: the enclosing book, part or TOC entry */
  gboolean is_front_matter;
} SegmenterChapter;

/*
 * A book reduced to text. Every reader (plain text, Markdown, EPUB) fills
 * one: @text is valid UTF-8 with '\n' line ends, paragraphs are separated by
 * blank lines (lines of ASCII white space only), and @headings marks where
 * chapters start (EPUB; plain text and Markdown fill it from the text).
 */
typedef struct
{
  const char *where; /* the file's path or the item's id, for messages */
  GString *text;
  gsize body_start; /* the body: what is left after boilerplate */
  gsize body_end;
  char *title;
  char *author;
  char *language;
  GArray *headings; /* of SegmenterHeading */
  /* The headings were found in the text (EPUB: epub_chapters "headings",
   * or a degenerate TOC): one with no text before the next of its rank is
   * a line of a table of contents, not a chapter. */
  gboolean headings_from_text;
  /* EPUB: the cover image (JPEG or PNG) and its file extension, or why the
   * cover the book names is not used (nullable, both). */
  GBytes *cover;
  const char *cover_extension;
  char *cover_note;
  char *cover_path; /* where segmenter_cover_save wrote @cover */
} SegmenterDocument;

SegmenterDocument *segmenter_document_new (const char *where);
void segmenter_document_free (SegmenterDocument *doc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SegmenterDocument, segmenter_document_free)

void segmenter_document_add_heading (SegmenterDocument *doc,
                                     gsize offset,
                                     gsize body,
                                     const char *title,
                                     guint level);

void segmenter_chapter_clear (SegmenterChapter *chapter);
void segmenter_chapter_free (SegmenterChapter *chapter);

/* document.c: decoding and text helpers */

gboolean segmenter_decode_text (const guint8 *data,
                                gsize size,
                                gboolean repair_utf8,
                                const char *where,
                                GString *out,
                                GError **error);
gboolean segmenter_is_blank (const char *start, const char *end);
gboolean segmenter_is_space (char c);
const char *segmenter_line_end (const char *p, const char *end);
void segmenter_trim (const char **start, const char **end);
void segmenter_fold_append (GString *out, const char *start, const char *end);
char *segmenter_fold (const char *start, const char *end);
gboolean segmenter_is_title_like (const char *start, const char *end);
char *segmenter_alnum_key (const char *start, const char *end);
GPtrArray *segmenter_build_chapters (SegmenterDocument *doc,
                                     const char *front_matter,
                                     gboolean demote_empty,
                                     GError **error);

/* gutenberg.c */

void segmenter_gutenberg_scan (SegmenterDocument *doc, gboolean strip);

/* headings.c: chapter headings of plain text */

gboolean segmenter_headings_detect (SegmenterDocument *doc,
                                    GRegex *custom,
                                    gboolean caps_headings,
                                    GError **error);
gboolean segmenter_parse_heading_line (const char *start,
                                       const char *end,
                                       guint *level,
                                       gboolean *has_title,
                                       gint64 *number,
                                       gboolean *is_bare);

/* markdown.c */

void segmenter_markdown_read (SegmenterDocument *doc, gint64 level);

/* epub.c */

void segmenter_epub_init (void);

/* Reads the EPUB, removes the Gutenberg boilerplate (segmenter_gutenberg_scan
 * included) and chooses the chapters: @custom and the settings' caps_headings
 * are the plain-text heading rules, for chapters found in the text. */
gboolean segmenter_epub_read (SegmenterDocument *doc,
                              const guint8 *data,
                              gsize size,
                              const SegmenterSettings *settings,
                              GRegex *custom,
                              GError **error);

/* cover.c */

char *segmenter_cover_save (const char *work_dir,
                            GBytes *image,
                            const char *extension,
                            GError **error);

/* chunker.c: sentences (ICU) and chunks */

typedef struct _SegmenterChunker SegmenterChunker;

SegmenterChunker *segmenter_chunker_new (void);
void segmenter_chunker_free (SegmenterChunker *chunker);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SegmenterChunker, segmenter_chunker_free)

/* Called once per chunk, with a piece of the paragraph given to
 * segmenter_chunker_split (no white space at either end). */
typedef void (*SegmenterChunkFunc) (const char *start,
                                    gsize length,
                                    gboolean paragraph_end,
                                    gpointer user_data);

/* Splits one folded paragraph (single spaces, no space at either end) into
 * chunks of at most @max_chars characters. */
gboolean segmenter_chunker_split (SegmenterChunker *chunker,
                                  const char *language,
                                  const char *text,
                                  gsize length,
                                  gsize max_chars,
                                  SegmenterChunkFunc func,
                                  gpointer user_data,
                                  GError **error);

G_END_DECLS
