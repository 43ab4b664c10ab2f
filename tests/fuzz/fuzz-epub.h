/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small valid EPUB, written in memory, with one document replaceable. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The XML documents of the book: chapter1.xhtml is FUZZ_EPUB_XHTML, which
 * both tables of contents point into (#c1, #c2); chapter2.xhtml is fixed. */
typedef enum
{
  FUZZ_EPUB_NONE = -1,
  FUZZ_EPUB_CONTAINER,
  FUZZ_EPUB_OPF,
  FUZZ_EPUB_NCX,
  FUZZ_EPUB_NAV,
  FUZZ_EPUB_XHTML,
  FUZZ_EPUB_N_PARTS,
} FuzzEpubPart;

/* Which table of contents the package document names. */
typedef enum
{
  FUZZ_EPUB_BOTH, /* EPUB 3 with a nav document and an NCX */
  FUZZ_EPUB_2,    /* the NCX only */
  FUZZ_EPUB_3,    /* the nav document only */
} FuzzEpubFlavour;

/* Returns: (transfer none): the fixed text of @part in a book of @flavour. */
const char *fuzz_epub_get_document (FuzzEpubFlavour flavour, FuzzEpubPart part);

/* Writes the EPUB of @flavour into @out, with [@document, @document +
 * @size) in place of @part (FUZZ_EPUB_NONE: every document is the fixed
 * one), its documents deflated or (@deflate FALSE) stored. FALSE only when
 * libarchive fails, which it says on stderr. */
gboolean fuzz_epub_write (FuzzEpubFlavour flavour,
                          FuzzEpubPart part,
                          const guint8 *document,
                          gsize size,
                          gboolean deflate,
                          GByteArray *out);

G_END_DECLS
