/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the segmenter's EPUB path with whole archives. */

#include "fuzz.h"

/*
 * Input: FUZZ_SEGMENTER_PARAM_BYTES bytes that choose the parameters, then
 * the EPUB (a zip archive). The zip layer is libarchive's; this harness is
 * for what the segmenter does with the archive's entries (names, sizes, the
 * zip-bomb limit, which documents are there). fuzz-segmenter-epub-part
 * reaches each XML parser without the fuzzer having to learn zip.
 */

/* Small enough that an input the fuzzer inflates costs little time, large
 * enough for any seed. */
#define FUZZ_MAX_EXPANDED_BYTES (4 << 20)

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
  g_autofree char *params = fuzz_segmenter_params (data, n_param, FUZZ_MAX_EXPANDED_BYTES);

  fuzz_run_segmenter (params, SUTRA_MEDIA_EPUB, data + n_param, size - n_param);
  return 0;
}
