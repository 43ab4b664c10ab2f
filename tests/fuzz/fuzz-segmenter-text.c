/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the segmenter's plain-text or Markdown path (FUZZ_MEDIA_TYPE). */

#include "fuzz.h"

/*
 * Input: FUZZ_SEGMENTER_PARAM_BYTES bytes that choose the parameters
 * (fuzz_segmenter_params()), then the book. Built twice, as
 * fuzz-segmenter-text (text/plain) and fuzz-segmenter-markdown.
 */

#ifndef FUZZ_MEDIA_TYPE
#error "FUZZ_MEDIA_TYPE must name the media type of the book"
#endif

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

  fuzz_run_segmenter (params, FUZZ_MEDIA_TYPE, data + n_param, size - n_param);
  return 0;
}
