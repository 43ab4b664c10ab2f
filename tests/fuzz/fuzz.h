/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the fuzz harnesses share: the entry points and a few helpers. */

#pragma once

#include "sutra-registry.h"

G_BEGIN_DECLS

/*
 * Every harness defines LLVMFuzzerTestOneInput(), and may define
 * LLVMFuzzerInitialize(). With -Dfuzzing=true libFuzzer calls them; in
 * every other build fuzz-main.c does, once per file of the seed corpus, so
 * that the corpora are regression tests everywhere.
 */
int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* Makes GLib's criticals and warnings fatal: a g_return_if_fail() that
 * fails is a bug the fuzzer must report, not a line in a log. */
void fuzz_init (void);

/* Says what happened to an input on stderr, when SUTRA_FUZZ_VERBOSE is
 * set: a harness run by hand on one file shows whether it got far. */
void fuzz_say (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Returns: (transfer none): the plugins built beside the harness, loaded
 * once (the harness aborts, naming the problem, when they cannot be). */
SutraRegistry *fuzz_get_registry (void);

/* Returns: (transfer none): a directory of this process's own for files
 * the harness writes, removed at exit. */
const char *fuzz_get_work_dir (void);

/*
 * The segmenter's `params` object as JSON, chosen by @n_bytes bytes of the
 * input (fewer than FUZZ_SEGMENTER_PARAM_BYTES: the missing ones are 0), so
 * that the fuzzer varies the parameters along with the book.
 * @max_expanded_bytes: the zip-bomb limit (0: the default).
 */
#define FUZZ_SEGMENTER_PARAM_BYTES 3
char *fuzz_segmenter_params (const guint8 *bytes, gsize n_bytes, gint64 max_expanded_bytes);

/* Runs the segmenter stage with @params_json on one book item made of
 * [@data, @data + @size) with @media_type. Failing is fine (bad input is
 * refused with an error); crashing, leaking or a broken item is not: the
 * outputs are checked for what every split promises (descendant paths,
 * valid UTF-8 text payloads). */
void fuzz_run_segmenter (const char *params_json,
                         const char *media_type,
                         const guint8 *data,
                         gsize size);

G_END_DECLS
