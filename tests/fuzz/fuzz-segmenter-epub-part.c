/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes one XML document of an EPUB (FUZZ_EPUB_PART), wrapped in a valid book. */

#include "fuzz-epub.h"
#include "fuzz.h"

#include <stdlib.h>

/*
 * Input: FUZZ_SEGMENTER_PARAM_BYTES bytes that choose the parameters, then
 * one XML document, which becomes the FUZZ_EPUB_PART document of a small
 * valid EPUB whose other documents are fixed (fuzz-epub.c): the fuzzer
 * works on the XML, and every run reaches that document's parser. Built
 * five times:
 *   container  META-INF/container.xml
 *   opf        OEBPS/content.opf (the book has a nav document, an NCX and
 *              two chapters for it to name)
 *   ncx        OEBPS/toc.ncx of an EPUB 2 book
 *   nav        OEBPS/nav.xhtml of an EPUB 3 book
 *   xhtml      OEBPS/chapter1.xhtml of an EPUB 2 book, which the NCX
 *              points into (#c1, #c2)
 */

#ifndef FUZZ_EPUB_PART
#error "FUZZ_EPUB_PART must name a FuzzEpubPart"
#endif

static FuzzEpubFlavour
flavour_for (FuzzEpubPart part)
{
  switch (part)
    {
    case FUZZ_EPUB_NCX:
    case FUZZ_EPUB_XHTML:
      return FUZZ_EPUB_2;
    case FUZZ_EPUB_NAV:
      return FUZZ_EPUB_3;
    default:
      return FUZZ_EPUB_BOTH;
    }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  fuzz_get_registry ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  gsize n_param = MIN (size, FUZZ_SEGMENTER_PARAM_BYTES);
  g_autofree char *params = fuzz_segmenter_params (data, n_param, 0);
  g_autoptr (GByteArray) epub = g_byte_array_new ();

  /* Stored, not deflated: zlib's set-up per entry would cost more than the
   * rest of an input's run (fuzz-segmenter-epub has deflated seeds).
   * Writing a zip in memory of a known size cannot fail: if it does, the
   * harness is broken, and has said why. */
  if (!fuzz_epub_write (flavour_for (FUZZ_EPUB_PART), FUZZ_EPUB_PART, data + n_param,
                        size - n_param, FALSE, epub))
    abort ();
  fuzz_run_segmenter (params, SUTRA_MEDIA_EPUB, epub->data, epub->len);
  return 0;
}
